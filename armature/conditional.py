"""Conditional requests (RFC 9110 §13): ETags, ``If-*`` preconditions, 304 and 412.

- :func:`etag_for` and :class:`ETag` make and compare entity tags (strong and weak comparison).
- :func:`evaluate_preconditions` is the RFC 9110 §13.2.2 algorithm on its own.
- :func:`check_preconditions` guards an unsafe handler (PUT/PATCH/DELETE) *before* it changes
  anything: a stale ``If-Match`` gets 412 instead of a lost update.
- :func:`conditional_response` and :class:`ConditionalMiddleware` turn a finished GET/HEAD
  response carrying ``ETag``/``Last-Modified`` into a 304 (or 412) when the client's copy is
  current.
"""

from __future__ import annotations

import email.utils
import hashlib
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from armature.exceptions import PreconditionFailed
from armature.middleware._security_common import first_header, problem_bytes, send_problem
from armature.responses import FileResponse, Response, StreamingResponse
from armature.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ANY",
    "ETag",
    "ConditionalMiddleware",
    "check_preconditions",
    "conditional_response",
    "etag_for",
    "evaluate_preconditions",
    "http_date",
    "parse_etag",
    "parse_etags",
    "parse_http_date",
]

#: What :func:`parse_etags` returns for ``*``.
ANY: Final = "*"
_SAFE: Final = frozenset({"GET", "HEAD"})
_CONDITIONAL: Final = (b"if-match", b"if-none-match", b"if-modified-since", b"if-unmodified-since")
_MAX_TAGS: Final = 64
_FAILED: Final = "A precondition of this request does not hold"


@dataclass(frozen=True, slots=True)
class ETag:
    """An entity tag.

    Attributes:
        tag: The opaque value, without quotes.
        weak: True for ``W/"..."`` tags.
    """

    tag: str
    weak: bool = False

    def __str__(self) -> str:
        return f'{"W/" if self.weak else ""}"{self.tag}"'

    def strong_equals(self, other: ETag) -> bool:
        """Strong comparison: both strong and the same opaque value."""
        return not self.weak and not other.weak and self.tag == other.tag

    def weak_equals(self, other: ETag) -> bool:
        """Weak comparison: the same opaque value, weakness ignored."""
        return self.tag == other.tag


def _valid_etagc(value: str) -> bool:
    # NOTE: etagc is %x21 / %x23-7E / obs-text: no spaces, no quotes, no controls.
    return all(c == "!" or "#" <= c <= "~" or "\x80" <= c <= "\xff" for c in value)


def parse_etag(value: str) -> ETag | None:
    """Parse one entity tag (``"abc"`` or ``W/"abc"``).

    Args:
        value: The text.

    Returns:
        The tag, or ``None`` when malformed.
    """
    text = value.strip()
    weak = text.startswith("W/")
    if weak:
        text = text[2:]
    if len(text) < 2 or text[0] != '"' or text[-1] != '"' or not _valid_etagc(text[1:-1]):
        return None
    return ETag(text[1:-1], weak)


def parse_etags(header: str | None) -> list[ETag] | Literal["*"]:
    """Parse an ``If-Match``/``If-None-Match`` value.

    Args:
        header: The header value.

    Returns:
        :data:`ANY` for ``*``; otherwise the valid tags (malformed entries are skipped).
    """
    if not header:
        return []
    if header.strip() == "*":
        return ANY
    tags: list[ETag] = []
    # NOTE: etagc excludes '"' but allows ','; split on quotes rather than on commas.
    rest = header
    while rest and len(tags) < _MAX_TAGS:
        rest = rest.lstrip(" \t,")
        if not rest:
            break
        start = 2 if rest.startswith("W/") else 0
        end = rest.find('"', start + 1) if rest[start : start + 1] == '"' else -1
        if end < 0:
            break
        parsed = parse_etag(rest[: end + 1])
        if parsed is not None:
            tags.append(parsed)
        rest = rest[end + 1 :]
    return tags


def etag_for(body: bytes, *, weak: bool = False) -> str:
    """Make an entity tag for a body: a quoted BLAKE2b digest.

    Args:
        body: The representation's bytes.
        weak: Make a weak tag (``W/"..."``), for semantically equivalent representations.

    Returns:
        The ``ETag`` header value.
    """
    digest = hashlib.blake2b(body, digest_size=16).hexdigest()
    return str(ETag(digest, weak))


def http_date(value: datetime | float) -> str:
    """Format a datetime (naive means UTC) or POSIX timestamp as an HTTP date.

    Args:
        value: The moment.

    Returns:
        ``Sun, 06 Nov 1994 08:49:37 GMT`` style text.
    """
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        value = moment.timestamp()
    return email.utils.formatdate(value, usegmt=True)


def parse_http_date(value: str | None) -> float | None:
    """Parse an HTTP date into a POSIX timestamp.

    Args:
        value: The header value.

    Returns:
        Seconds since the epoch, or ``None`` when absent or malformed.
    """
    if not value or len(value) > 64:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _to_timestamp(value: datetime | float | str | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_http_date(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.timestamp()
    return float(value)


def _to_etag(value: ETag | str | None) -> ETag | None:
    if value is None or isinstance(value, ETag):
        return value
    parsed = parse_etag(value)
    if parsed is None:
        raise ValueError(f"invalid ETag {value!r}: expected '\"opaque\"' or 'W/\"opaque\"'")
    return parsed


def _header(headers: Mapping[str, str], name: str) -> str | None:
    getlist = getattr(headers, "getlist", None)
    if getlist is not None:
        # NOTE: repeated If-Match / If-None-Match lines form one list.
        values: list[str] = getlist(name)
        return ", ".join(values) if values else None
    return headers.get(name)


def evaluate_preconditions(
    method: str,
    headers: Mapping[str, str],
    *,
    etag: ETag | str | None = None,
    last_modified: datetime | float | str | None = None,
    exists: bool = True,
) -> Literal[304, 412] | None:
    """Evaluate ``If-Match``, ``If-Unmodified-Since``, ``If-None-Match``, ``If-Modified-Since``.

    In the order of RFC 9110 §13.2.2: a failed ``If-Match`` (strong comparison), or without it a
    failed ``If-Unmodified-Since``, gives 412; a matching ``If-None-Match`` (weak comparison)
    gives 304 for GET/HEAD and 412 otherwise; without ``If-None-Match``, an unmodified
    ``If-Modified-Since`` gives 304 for GET/HEAD. Malformed dates, and dates in the future, are
    ignored; dates compare at one-second resolution.

    Args:
        method: The request method.
        headers: The request headers (case-insensitive lookups, e.g. ``request.headers``).
        etag: The current representation's entity tag.
        last_modified: Its modification time (datetime, timestamp or HTTP date).
        exists: Whether the resource currently has a representation (for ``*``).

    Returns:
        304, 412, or ``None`` to proceed normally.
    """
    current = _to_etag(etag)
    modified = _to_timestamp(last_modified)
    if modified is not None:
        modified = float(int(modified))
    safe = method.upper() in _SAFE
    if_match = _header(headers, "if-match")
    if if_match is not None:
        tags = parse_etags(if_match)
        if tags == ANY:
            ok = exists
        else:
            ok = current is not None and any(current.strong_equals(t) for t in tags)
        if not ok:
            return 412
    else:
        since = parse_http_date(headers.get("if-unmodified-since"))
        if since is not None and modified is not None and modified > since:
            return 412
    if_none_match = _header(headers, "if-none-match")
    if if_none_match is not None:
        tags = parse_etags(if_none_match)
        if tags == ANY:
            matched = exists
        else:
            matched = current is not None and any(current.weak_equals(t) for t in tags)
        if matched:
            return 304 if safe else 412
    elif safe and modified is not None:
        since = parse_http_date(headers.get("if-modified-since"))
        if since is not None and since <= time.time() and modified <= since:
            return 304
    return None


def check_preconditions(
    request: Any,
    *,
    etag: ETag | str | None = None,
    last_modified: datetime | float | str | None = None,
    exists: bool = True,
) -> bool:
    """Check a request's preconditions before acting on it.

    Call it at the top of a PUT/PATCH/DELETE handler with the resource's *current* ETag or
    modification time, before changing anything.

    Args:
        request: The :class:`~armature.requests.Request`.
        etag: The current entity tag.
        last_modified: The current modification time.
        exists: Whether the resource exists now (``If-None-Match: *`` create-only requests).

    Returns:
        True when a GET/HEAD should be answered 304 Not Modified; False to proceed.

    Raises:
        PreconditionFailed: A precondition failed (412 problem+json).
    """
    result = evaluate_preconditions(
        request.method, request.headers, etag=etag, last_modified=last_modified, exists=exists
    )
    if result == 412:
        raise PreconditionFailed(_FAILED)
    return result == 304


def _not_modified_headers(raw: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    # NOTE: a 304 repeats the validators and caching fields, not the content metadata.
    return [(k, v) for k, v in raw if not k.startswith(b"content-") or k == b"content-location"]


def conditional_response(request: Any, response: Response, *, add_etag: bool = True) -> Response:
    """Answer a request's preconditions from a finished response.

    Args:
        request: The :class:`~armature.requests.Request`.
        response: The response the handler built (its ``ETag`` and ``Last-Modified`` count).
        add_etag: Give a 200 response with an in-memory body and no ``ETag`` a strong one.

    Returns:
        A 304 or 412 response when a precondition decides it, else ``response`` itself.
    """
    if not 200 <= response.status_code < 300:
        return response
    headers = response.headers
    if (
        add_etag
        and response.status_code == 200
        and "etag" not in headers
        and not isinstance(response, StreamingResponse | FileResponse)
    ):
        headers["etag"] = etag_for(response.body)
    try:
        result = evaluate_preconditions(
            request.method,
            request.headers,
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
        )
    except ValueError:
        # NOTE: the handler set a malformed ETag; preconditions cannot be judged on it.
        return response
    if result is None:
        return response
    if result == 304:
        replacement = Response(b"", 304)
        replacement.raw_headers = _not_modified_headers(response.raw_headers)
        return replacement
    body = problem_bytes(request.scope, 412, _FAILED)
    return Response(body, 412, media_type="application/problem+json")


class ConditionalMiddleware:
    """Apply conditional GET/HEAD to every response that carries ``ETag`` or ``Last-Modified``.

    Only GET and HEAD (by default) are handled: for unsafe methods the handler has already acted
    when its response is seen, so those must call :func:`check_preconditions` first. With
    ``add_etag=True``, 200 responses with a ``Content-Length`` up to ``max_buffer`` and no
    ``ETag`` are buffered to compute one. The app's body is discarded when a 304/412 replaces it.

    Args:
        app: The wrapped ASGI app.
        methods: The methods handled.
        add_etag: Compute ETags for small responses without one.
        max_buffer: The largest body buffered for ``add_etag``.

    Raises:
        ValueError: ``methods`` includes an unsafe method.
    """

    __slots__ = ("add_etag", "app", "max_buffer", "methods")

    def __init__(
        self,
        app: ASGIApp,
        methods: Collection[str] = ("GET", "HEAD"),
        add_etag: bool = False,
        max_buffer: int = 1024 * 1024,
    ) -> None:
        upper = frozenset(m.upper() for m in methods)
        if not upper <= _SAFE:
            raise ValueError(
                "ConditionalMiddleware handles GET/HEAD only; guard unsafe methods with "
                "check_preconditions() before they change anything"
            )
        self.app = app
        self.methods = upper
        self.add_etag = add_etag
        self.max_buffer = max_buffer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in self.methods:
            await self.app(scope, receive, send)
            return
        conditional = any(first_header(scope, name) is not None for name in _CONDITIONAL)
        if not conditional and not self.add_etag:
            # PERF: nothing to decide: no wrapper at all.
            await self.app(scope, receive, send)
            return
        await _Exchange(self, scope, send, conditional).run(receive)


class _Exchange:
    """One request through :class:`ConditionalMiddleware`."""

    __slots__ = ("body", "conditional", "expected", "mode", "owner", "scope", "send", "start")

    def __init__(
        self, owner: ConditionalMiddleware, scope: Scope, send: Send, conditional: bool
    ) -> None:
        self.owner = owner
        self.scope = scope
        self.send = send
        self.conditional = conditional
        self.mode = "start"
        self.start: Message | None = None
        self.body: list[bytes] = []
        self.expected = 0

    async def run(self, receive: Receive) -> None:
        await self.owner.app(self.scope, receive, self.on_send)
        if self.mode == "buffer" and self.start is not None:
            # NOTE: the app ended without finishing its body: pass on what it sent.
            await self.send(self.start)
            await self.send({"type": "http.response.body", "body": b"".join(self.body)})

    async def on_send(self, message: Message) -> None:
        mode = self.mode
        if mode == "pass":
            await self.send(message)
        elif mode == "start":
            await self._on_start(message)
        elif mode == "buffer":
            await self._on_buffered(message)
        # NOTE: mode "drop": a 304/412 went out instead; the app's body goes nowhere.

    async def _on_start(self, message: Message) -> None:
        if message["type"] != "http.response.start":
            self.mode = "pass"
            await self.send(message)
            return
        status = int(message["status"])
        headers = list(message.get("headers") or ())
        names = dict(reversed(headers))  # NOTE: the first value of each name wins
        if not 200 <= status < 300:
            self.mode = "pass"
            await self.send(message)
            return
        length = names.get(b"content-length")
        if (
            self.owner.add_etag
            and status == 200
            and b"etag" not in names
            and length is not None
            and length.isdigit()
            and int(length) <= self.owner.max_buffer
        ):
            self.mode = "buffer"
            self.start = message
            self.expected = int(length)
            return
        await self._decide(message, headers, names.get(b"etag"), names.get(b"last-modified"))

    async def _on_buffered(self, message: Message) -> None:
        assert self.start is not None
        if message["type"] != "http.response.body":
            self.mode = "pass"
            await self.send(self.start)
            await self.send(message)
            return
        self.body.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(self.body)
        start, self.start = self.start, None
        headers = list(start.get("headers") or ())
        etag: bytes | None = None
        if len(body) == self.expected:
            etag = etag_for(body).encode("latin-1")
            headers.append((b"etag", etag))
            start["headers"] = headers
        last_modified = next((v for k, v in headers if k == b"last-modified"), None)
        await self._decide(start, headers, etag, last_modified, body)

    async def _decide(
        self,
        start: Message,
        headers: list[tuple[bytes, bytes]],
        etag: bytes | None,
        last_modified: bytes | None,
        body: bytes | None = None,
    ) -> None:
        result: int | None = None
        if self.conditional and (etag is not None or last_modified is not None):
            try:
                result = evaluate_preconditions(
                    self.scope["method"],
                    _RequestHeaders(self.scope),
                    etag=etag.decode("latin-1") if etag is not None else None,
                    last_modified=last_modified.decode("latin-1") if last_modified else None,
                )
            except ValueError:
                # NOTE: the app sent a malformed ETag; preconditions cannot be judged on it.
                result = None
        if result is None:
            self.mode = "pass"
            await self.send(start)
            if body is not None:
                await self.send({"type": "http.response.body", "body": body})
            return
        self.mode = "drop"
        if result == 304:
            await self.send(
                {
                    "type": "http.response.start",
                    "status": 304,
                    "headers": _not_modified_headers(headers),
                }
            )
            await self.send({"type": "http.response.body", "body": b""})
            return
        await send_problem(self.scope, self.send, 412, _FAILED)


class _RequestHeaders(Mapping[str, str]):
    """Just enough of a header mapping over the scope for :func:`evaluate_preconditions`."""

    __slots__ = ("scope",)

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def __getitem__(self, key: str) -> str:
        values = [
            v.decode("latin-1") for k, v in self.scope["headers"] if k == key.lower().encode()
        ]
        if not values:
            raise KeyError(key)
        # NOTE: repeated If-Match / If-None-Match lines form one list.
        return ", ".join(values)

    def __iter__(self) -> Any:
        return iter({k.decode("latin-1") for k, _ in self.scope["headers"]})

    def __len__(self) -> int:
        return len({k for k, _ in self.scope["headers"]})
