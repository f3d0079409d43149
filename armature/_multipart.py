"""Private: a streaming ``multipart/form-data`` parser and header parameter parsing.

The parser is a push state machine: :meth:`MultipartParser.feed` takes whatever bytes arrived and
returns the events they complete. It never holds more than one part's header block, or the few
bytes at the end of a chunk that could be the start of a delimiter. Every search is a
``bytes.find`` that resumes where the previous one stopped, so the work is linear in the input
whatever its shape (megabytes of CR/LF, one byte per chunk, near-delimiters in a part body).
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote_to_bytes

from armature.exceptions import BadRequest
from armature.limits import Limits, limit_error

__all__ = [
    "DATA",
    "END",
    "PART",
    "Event",
    "MultipartParser",
    "Part",
    "decode_urlencoded",
    "get_boundary",
    "parse_header_params",
]

PART: Final = 0
DATA: Final = 1
END: Final = 2

_PREAMBLE: Final = 0
_AFTER_DELIMITER: Final = 1
_HEADERS: Final = 2
_BODY: Final = 3
_DONE: Final = 4

# NOTE: transport padding allowed after a delimiter (RFC 2046 LWSP); more is not a real client.
_MAX_PADDING: Final = 256
_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 2046 bchars; a space is allowed but not as the last character.
_BCHARS: Final = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]*[0-9A-Za-z'()+_,\-./:=?]")
# NOTE: one parameter: name, optional value (quoted-string or token-ish), then ';' or the end.
# Possessive quantifiers: a failed match gives up at once instead of backtracking.
_PARAM: Final = re.compile(
    r"[ \t]*+([!#$%&'*+\-.^_`|~0-9A-Za-z]*+)[ \t]*+"
    r'(?:=[ \t]*+("(?:[^"\\]|\\.)*+"|[^;]*+))?[ \t]*+(?:;|\Z)',
    re.DOTALL,
)
_QUOTED_PAIR: Final = re.compile(r'\\(["\\])')
_CONTINUATION: Final = re.compile(r"(.+)\*([0-9]{1,3})(\*?)")
_MAX_CONTINUATIONS: Final = 64


class Part:
    """The headers of one multipart part, as parsed.

    Attributes:
        name: The form field name (``Content-Disposition`` ``name``).
        filename: The client's file name, or ``None`` for a plain field.
        content_type: The part's ``Content-Type`` (``text/plain`` when absent, per RFC 7578).
        headers: All header lines as lower-cased ``(name, value)`` byte pairs.
    """

    __slots__ = ("content_type", "filename", "headers", "name")

    def __init__(
        self,
        name: str,
        filename: str | None,
        content_type: str,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self.headers = headers

    def __repr__(self) -> str:
        return f"Part(name={self.name!r}, filename={self.filename!r})"


#: ``(PART, Part)``, ``(DATA, bytes)`` or ``(END, None)``.
Event = tuple[int, "Part | bytes | None"]


def _unquote_value(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
        inner = raw[1:-1]
        # NOTE: only \" and \\ are escapes; other backslashes stay, as in Windows file names that
        # browsers send unescaped (C:\files\a.txt).
        return _QUOTED_PAIR.sub(r"\1", inner) if "\\" in inner else inner
    return raw.strip()


def _decode_extended(value: str) -> str | None:
    """Decode an RFC 2231/5987 ``charset'language'pct-encoded`` value, or None if invalid."""
    charset, sep, rest = value.partition("'")
    if not sep:
        return None
    _, sep, encoded = rest.partition("'")
    if not sep:
        return None
    charset = charset.strip().lower() or "us-ascii"
    if charset not in ("utf-8", "iso-8859-1", "us-ascii"):
        return None
    try:
        return unquote_to_bytes(encoded).decode(charset)
    except UnicodeDecodeError:
        return None


def _merge_extended(params: dict[str, str]) -> None:
    """Apply ``name*`` (RFC 5987) and ``name*0``/``name*1*`` continuations (RFC 2231) in place."""
    pieces: dict[str, dict[int, tuple[str, bool]]] = {}
    for key in [k for k in params if "*" in k]:
        value = params.pop(key)
        if key.endswith("*") and key.count("*") == 1:
            decoded = _decode_extended(value)
            if decoded is not None:
                params[key[:-1]] = decoded  # NOTE: the extended form wins over the plain one.
            continue
        match = _CONTINUATION.fullmatch(key)
        if match is not None and int(match[2]) < _MAX_CONTINUATIONS:
            pieces.setdefault(match[1], {})[int(match[2])] = (value, bool(match[3]))
    for base, parts in pieces.items():
        if 0 not in parts:
            continue
        charset = "utf-8"
        chunks: list[bytes] = []
        for index in range(len(parts)):
            if index not in parts:
                break
            value, encoded = parts[index]
            if index == 0 and encoded:
                found, sep, rest = value.partition("'")
                _, sep2, value = rest.partition("'")
                if not (sep and sep2):
                    break
                charset = found.strip().lower() or "us-ascii"
            chunks.append(unquote_to_bytes(value) if encoded else value.encode(charset, "replace"))
        if not chunks or charset not in ("utf-8", "iso-8859-1", "us-ascii"):
            continue
        try:
            params[base] = b"".join(chunks).decode(charset)
        except UnicodeDecodeError:
            continue


def parse_header_params(value: str) -> tuple[str, dict[str, str]]:
    """Split a header value like ``form-data; name="a"; filename*=UTF-8''%E2%82%AC`` into parts.

    Linear in the length of ``value`` whatever it holds (thousands of ``;`` included): each
    parameter is one anchored regex match with possessive quantifiers.

    Args:
        value: The header value.

    Returns:
        The lower-cased main value and the parameters (names lower-cased; quoted values unquoted;
        ``name*`` extended values decoded and preferred; the first of repeated names kept).
    """
    end = value.find(";")
    if end < 0:
        return value.strip().lower(), {}
    main = value[:end].strip().lower()
    params: dict[str, str] = {}
    position = end + 1
    length = len(value)
    extended = False
    while position < length:
        match = _PARAM.match(value, position)
        if match is None:
            # NOTE: junk up to the next ';' (an unterminated quote, say): skip it.
            following = value.find(";", position)
            if following < 0:
                break
            position = following + 1
            continue
        position = match.end()
        name = match[1].lower()
        if not name or name in params:
            continue
        raw = match[2]
        params[name] = "" if raw is None else _unquote_value(raw)
        extended = extended or "*" in name
    if extended:
        _merge_extended(params)
    return main, params


def get_boundary(params: dict[str, str], limits: Limits) -> bytes:
    """Return the validated boundary of a ``multipart/form-data`` content type.

    Args:
        params: The content type's parameters.
        limits: For ``max_boundary_length``.

    Returns:
        The boundary as bytes.

    Raises:
        BadRequest: No boundary, or characters outside RFC 2046 ``bchars``.
        InputLimitExceeded: Longer than ``max_boundary_length``.
    """
    boundary = params.get("boundary")
    if not boundary:
        raise BadRequest("multipart/form-data without a boundary parameter")
    if len(boundary) > limits.max_boundary_length:
        raise limit_error(
            "max_boundary_length",
            limits.max_boundary_length,
            f"The multipart boundary is longer than {limits.max_boundary_length} characters",
        )
    if _BCHARS.fullmatch(boundary) is None:
        raise BadRequest("The multipart boundary has characters RFC 2046 does not allow")
    return boundary.encode("ascii")


def _decode_header(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class MultipartParser:
    """Incremental ``multipart/form-data`` parser enforcing the part limits.

    Args:
        boundary: The boundary (from :func:`get_boundary`).
        limits: Field, file, part size and part header limits.
    """

    __slots__ = (
        "_buffer",
        "_delimiter",
        "_fields",
        "_files",
        "_limit",
        "_limit_name",
        "_limits",
        "_part_size",
        "_scan",
        "_state",
    )

    def __init__(self, boundary: bytes, limits: Limits) -> None:
        self._limits = limits
        self._delimiter = b"\r\n--" + boundary
        # NOTE: the first delimiter may open the body without a CRLF before it; pretend one.
        self._buffer = bytearray(b"\r\n")
        self._state = _PREAMBLE
        self._scan = 0
        self._fields = 0
        self._files = 0
        self._part_size = 0
        self._limit = 0
        self._limit_name = ""

    @property
    def done(self) -> bool:
        """Whether the closing delimiter was seen."""
        return self._state == _DONE

    def feed(self, data: bytes) -> list[Event]:
        """Parse the next bytes of the body.

        Args:
            data: Any number of bytes.

        Returns:
            The events these bytes completed, in order.

        Raises:
            BadRequest: The body is not valid multipart.
            LimitExceeded: A part, header, field or file limit was breached.
        """
        events: list[Event] = []
        state = self._state
        if state == _DONE:
            return events  # NOTE: the epilogue is ignored (the body limit still counts it).
        buffer = self._buffer
        buffer += data
        # NOTE: consumed bytes are deleted from the front of the bytearray as we go; CPython does
        # that in O(1) (it moves the start offset), so many parts in one chunk stay linear.
        delimiter = self._delimiter
        keep = len(delimiter) - 1
        while True:
            if state == _BODY:
                index = buffer.find(delimiter)
                if index < 0:
                    # PERF: everything but a possible partial delimiter at the end goes out now.
                    ready = len(buffer) - keep
                    if ready > 0:
                        self._emit(events, bytes(buffer[:ready]))
                        del buffer[:ready]
                    break
                if index:
                    self._emit(events, bytes(buffer[:index]))
                events.append((END, None))
                del buffer[: index + len(delimiter)]
                state = _AFTER_DELIMITER
            elif state == _AFTER_DELIMITER:
                if len(buffer) < 2:
                    break
                if buffer[0] == 0x2D and buffer[1] == 0x2D:  # "--": the close delimiter
                    state = _DONE
                    buffer.clear()
                    break
                index = buffer.find(b"\r\n")
                if index < 0:
                    if len(buffer) > _MAX_PADDING or buffer.strip(b" \t"):
                        raise BadRequest("Malformed multipart body: junk after a boundary")
                    break
                if buffer[:index].strip(b" \t"):
                    raise BadRequest("Malformed multipart body: junk after a boundary")
                del buffer[: index + 2]
                state = _HEADERS
                self._scan = 0
            elif state == _HEADERS:
                if len(buffer) < 2:
                    break
                if buffer[0] == 0x0D and buffer[1] == 0x0A:
                    raise BadRequest("Malformed multipart body: a part without headers")
                index = buffer.find(b"\r\n\r\n", self._scan)
                limit = self._limits.max_part_header_size
                if index > limit or (index < 0 and len(buffer) > limit + 3):
                    raise limit_error(
                        "max_part_header_size",
                        limit,
                        f"A multipart part's headers are over {limit} bytes",
                    )
                if index < 0:
                    self._scan = max(0, len(buffer) - 3)
                    break
                block = bytes(buffer[:index])
                del buffer[: index + 4]
                events.append((PART, self._start_part(block)))
                state = _BODY
            elif state == _PREAMBLE:
                index = buffer.find(delimiter)
                if index < 0:
                    if len(buffer) > keep:
                        del buffer[: len(buffer) - keep]
                    break
                del buffer[: index + len(delimiter)]
                state = _AFTER_DELIMITER
            else:
                break
        self._state = state
        return events

    def close(self) -> None:
        """Declare the end of the body.

        Raises:
            BadRequest: The closing delimiter was never seen (a truncated body).
        """
        if self._state != _DONE:
            raise BadRequest("Malformed multipart body: it ends before the closing boundary")

    def _emit(self, events: list[Event], chunk: bytes) -> None:
        self._part_size += len(chunk)
        if self._part_size > self._limit:
            raise limit_error(
                self._limit_name,
                self._limit,
                f"A multipart part is over the limit {self._limit_name} ({self._limit} bytes)",
            )
        events.append((DATA, chunk))

    def _start_part(self, block: bytes) -> Part:
        limits = self._limits
        lines = block.split(b"\r\n")
        if len(lines) > limits.max_part_headers:
            raise limit_error(
                "max_part_headers",
                limits.max_part_headers,
                f"A multipart part has more than {limits.max_part_headers} header lines",
            )
        headers: list[tuple[bytes, bytes]] = []
        for line in lines:
            if line[:1] in (b" ", b"\t"):
                if not headers:
                    raise BadRequest("Malformed multipart part header")
                # NOTE: obsolete line folding: the line continues the previous value.
                name, value = headers[-1]
                headers[-1] = (name, value + b" " + line.strip(b" \t"))
                continue
            name, sep, value = line.partition(b":")
            if not sep or _TOKEN.fullmatch(name) is None:
                raise BadRequest("Malformed multipart part header")
            headers.append((name.lower(), value.strip(b" \t")))
        disposition: bytes | None = None
        content_type: bytes | None = None
        for name, value in headers:
            if name == b"content-disposition" and disposition is None:
                disposition = value
            elif name == b"content-type" and content_type is None:
                content_type = value
        if disposition is None:
            raise BadRequest("A multipart part has no Content-Disposition header")
        kind, params = parse_header_params(_decode_header(disposition))
        if kind != "form-data" or "name" not in params:
            raise BadRequest("A multipart part's Content-Disposition is not form-data with a name")
        filename = params.get("filename")
        self._fields += 1
        if self._fields > limits.max_form_fields:
            raise limit_error(
                "max_form_fields",
                limits.max_form_fields,
                f"The form has more than {limits.max_form_fields} fields",
            )
        if filename is not None:
            self._files += 1
            if self._files > limits.max_files:
                raise limit_error(
                    "max_files",
                    limits.max_files,
                    f"The form has more than {limits.max_files} files",
                )
            self._limit, self._limit_name = limits.max_part_size, "max_part_size"
        else:
            self._limit, self._limit_name = limits.max_field_size, "max_field_size"
        self._part_size = 0
        media = _decode_header(content_type) if content_type is not None else "text/plain"
        return Part(params["name"], filename, media, headers)


def decode_urlencoded(raw: bytes) -> str:
    """Decode one ``application/x-www-form-urlencoded`` name or value (``+`` and ``%XX``).

    Args:
        raw: The encoded bytes.

    Returns:
        The text, as UTF-8 with invalid sequences replaced (as browsers and query strings do).
    """
    if b"%" in raw or b"+" in raw:
        raw = unquote_to_bytes(raw.replace(b"+", b" "))
    return raw.decode("utf-8", "replace")
