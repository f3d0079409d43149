"""HTML forms and file uploads: ``application/x-www-form-urlencoded`` and ``multipart/form-data``.

:func:`parse_form` reads the body from the ASGI ``receive`` channel and parses it while it
streams: the whole body is never buffered, the body size is counted on the raw bytes as they
arrive, and every limit of :class:`~armature.limits.Limits` is enforced at the moment it is
breached. Files become :class:`UploadFile` objects backed by a ``SpooledTemporaryFile`` that moves
to disk past ``spool_threshold``; disk I/O runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import codecs
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from typing import IO, Any

import anyio
import anyio.to_thread

from armature._multipart import (
    DATA,
    END,
    PART,
    MultipartParser,
    Part,
    decode_urlencoded,
    get_boundary,
    parse_header_params,
)
from armature.datastructures import Headers
from armature.exceptions import BadRequest, UnsupportedMediaType
from armature.limits import Limits, limit_error
from armature.requests import ClientDisconnect
from armature.types import Receive, Scope

__all__ = ["FormData", "UploadFile", "parse_form", "parse_form_stream"]

_URLENCODED = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"
# PERF: upload bytes are gathered into writes of this size, so a stream of tiny chunks does not
# cost one worker-thread hop per chunk once the file is on disk.
_WRITE_SIZE = 64 * 1024
_DEFAULT_LIMITS = Limits()


class UploadFile:
    """An uploaded file: its metadata and an async file API over a spooled temporary file.

    While the content fits in ``spool_threshold`` bytes it stays in memory and calls are direct;
    past it, the file lives on disk and every call runs in a worker thread.

    Args:
        file: The underlying binary file; a new ``SpooledTemporaryFile`` when omitted.
        filename: The file name the client sent (untrusted: never use it as a path as is).
        content_type: The part's media type.
        headers: The part's headers.
        size: The size of ``file``'s content when one is given.
        spool_threshold: In-memory bytes before the temporary file moves to disk.

    Attributes:
        file: The underlying binary file object.
        filename: The client's file name (``""`` when a file input was left empty).
        content_type: The media type the client declared.
        headers: All headers of the part.
        size: Bytes written so far.
    """

    __slots__ = ("_threshold", "content_type", "file", "filename", "headers", "size")

    def __init__(
        self,
        file: IO[bytes] | None = None,
        *,
        filename: str | None = None,
        content_type: str = "application/octet-stream",
        headers: Headers | None = None,
        size: int = 0,
        spool_threshold: int = _DEFAULT_LIMITS.spool_threshold,
    ) -> None:
        if file is None:
            # NOTE: owned by this object and closed by close(); not a with-block resource.
            file = tempfile.SpooledTemporaryFile(max_size=spool_threshold)  # noqa: SIM115
        self.file: IO[bytes] = file
        self.filename = filename
        self.content_type = content_type
        self.headers = headers if headers is not None else Headers()
        self.size = size
        self._threshold = spool_threshold

    @property
    def in_memory(self) -> bool:
        """Whether the content is still held in memory (not yet rolled over to disk)."""
        # NOTE: SpooledTemporaryFile exposes no public flag; other file objects count as disk.
        rolled = getattr(self.file, "_rolled", True)
        return rolled is False

    async def write(self, data: bytes) -> int:
        """Append ``data`` (at the current position) and count it in :attr:`size`.

        Args:
            data: The bytes to write.

        Returns:
            The number of bytes written.
        """
        file = self.file
        if self.in_memory and file.tell() + len(data) <= self._threshold:
            written = file.write(data)
        else:
            # NOTE: this write may be the one that rolls the spool over to disk.
            written = await anyio.to_thread.run_sync(file.write, data)
        self.size += written
        return written

    async def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all that is left when negative).

        Args:
            size: The maximum number of bytes.

        Returns:
            The bytes read; empty at the end of the file.
        """
        if self.in_memory:
            return self.file.read(size)
        return await anyio.to_thread.run_sync(self.file.read, size)

    async def seek(self, offset: int, whence: int = 0) -> int:
        """Move the file position.

        Args:
            offset: The offset.
            whence: ``0`` from the start, ``1`` from the current position, ``2`` from the end.

        Returns:
            The new absolute position.
        """
        if self.in_memory:
            return self.file.seek(offset, whence)
        return await anyio.to_thread.run_sync(self.file.seek, offset, whence)

    async def close(self) -> None:
        """Close the file; a temporary file on disk is deleted."""
        if self.file.closed:
            return
        if self.in_memory:
            self.file.close()
        else:
            await anyio.to_thread.run_sync(self.file.close)

    async def __aenter__(self) -> UploadFile:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (
            f"UploadFile(filename={self.filename!r}, content_type={self.content_type!r}, "
            f"size={self.size})"
        )


FormValue = str | UploadFile


class FormData(Mapping[str, FormValue]):
    """A parsed form: a read-only multi-value mapping of fields to ``str`` or :class:`UploadFile`.

    ``form["tag"]`` is the last value given for ``tag``; :meth:`getlist` returns all of them in
    order. Close the form (``await form.close()`` or ``async with form``) to delete the
    temporary files of its uploads.

    Args:
        items: ``(name, value)`` pairs in the order they were sent.
    """

    __slots__ = ("_dict", "_list")

    def __init__(self, items: Iterable[tuple[str, FormValue]] = ()) -> None:
        self._list: list[tuple[str, FormValue]] = list(items)
        self._dict: dict[str, FormValue] = dict(self._list)

    def __getitem__(self, key: str) -> FormValue:
        return self._dict[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def getlist(self, key: str) -> list[FormValue]:
        """Return every value given for ``key``, in order (an empty list when absent).

        Args:
            key: The field name.

        Returns:
            The values.
        """
        return [value for name, value in self._list if name == key]

    def multi_items(self) -> list[tuple[str, FormValue]]:
        """Return all ``(name, value)`` pairs in their original order."""
        return list(self._list)

    def files(self) -> list[tuple[str, UploadFile]]:
        """Return the ``(name, upload)`` pairs of the file fields, in order."""
        return [(name, value) for name, value in self._list if isinstance(value, UploadFile)]

    async def close(self) -> None:
        """Close every upload of the form (temporary files are deleted)."""
        for _, upload in self.files():
            await upload.close()

    async def __aenter__(self) -> FormData:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"FormData({self._list!r})"


async def _receive_chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        body: bytes = message.get("body", b"")
        if body:
            yield body
        if not message.get("more_body", False):
            return


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value)
    return None


async def parse_form(scope: Scope, receive: Receive, limits: Limits | None = None) -> FormData:
    """Read and parse a form body from an ASGI request, while it streams.

    Args:
        scope: The ASGI http scope (its ``Content-Type`` and ``Content-Length`` are used).
        receive: The ASGI receive callable; the body must not have been read yet.
        limits: The limits to enforce (``Limits()`` when omitted).

    Returns:
        The form. Its uploads hold temporary files: close it when done.

    Raises:
        UnsupportedMediaType: Not a url-encoded or multipart form (415).
        BadRequest: A malformed body, boundary or field (400).
        LimitExceeded: A limit was breached (413, or 400 for the boundary length); the problem
            document names the limit.
        ClientDisconnect: The client left before the body ended.
    """
    limits = limits if limits is not None else _DEFAULT_LIMITS
    declared = _header(scope, b"content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise BadRequest("Content-Length is not a number") from None
        if length > limits.max_body_size:
            raise _body_too_large(limits)
    content_type = _header(scope, b"content-type")
    return await parse_form_stream(content_type, _receive_chunks(receive), limits)


def _body_too_large(limits: Limits) -> Exception:
    return limit_error(
        "max_body_size",
        limits.max_body_size,
        f"The request body is over the limit of {limits.max_body_size} bytes",
    )


async def parse_form_stream(
    content_type: str | bytes | None,
    chunks: AsyncIterable[bytes],
    limits: Limits | None = None,
) -> FormData:
    """Parse a form from any stream of body chunks (for example ``request.stream()``).

    Args:
        content_type: The request's ``Content-Type`` value.
        chunks: The body, in chunks of any size.
        limits: The limits to enforce (``Limits()`` when omitted).

    Returns:
        The form (close it when done: it may hold temporary files).

    Raises:
        UnsupportedMediaType: Not a url-encoded or multipart form (415).
        BadRequest: A malformed body, boundary or field (400).
        LimitExceeded: A limit was breached; the problem document names it.
    """
    limits = limits if limits is not None else _DEFAULT_LIMITS
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    media, params = parse_header_params(content_type or "")
    if media == _URLENCODED:
        return await _parse_urlencoded(chunks, limits)
    if media == _MULTIPART:
        return await _parse_multipart(get_boundary(params, limits), chunks, limits)
    raise UnsupportedMediaType(
        "Expected a form body (application/x-www-form-urlencoded or multipart/form-data)"
    )


class _UrlEncodedParser:
    """Splits ``name=value&...`` on ``&`` as chunks arrive; holds at most one partial field."""

    __slots__ = ("_count", "_limits", "_pending", "items")

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._pending = bytearray()
        self._count = 0
        self.items: list[tuple[str, FormValue]] = []

    def feed(self, data: bytes) -> None:
        pending = self._pending
        index = data.find(b"&")
        if index < 0:
            pending += data
            self._check_pending()
            return
        pending += data[:index]
        self._field(bytes(pending))
        pending.clear()
        # PERF: one C-level split per chunk; only the last piece can be incomplete.
        pieces = data[index + 1 :].split(b"&")
        last = pieces.pop()
        for piece in pieces:
            if piece:
                self._field(piece)
        pending += last
        self._check_pending()

    def close(self) -> None:
        self._field(bytes(self._pending))
        self._pending.clear()

    def _check_pending(self) -> None:
        if len(self._pending) > self._limits.max_field_size:
            raise self._field_too_large()

    def _field_too_large(self) -> Exception:
        limit = self._limits.max_field_size
        return limit_error("max_field_size", limit, f"A form field is over {limit} bytes")

    def _field(self, raw: bytes) -> None:
        if not raw:
            return
        limits = self._limits
        if len(raw) > limits.max_field_size:
            raise self._field_too_large()
        self._count += 1
        if self._count > limits.max_form_fields:
            raise limit_error(
                "max_form_fields",
                limits.max_form_fields,
                f"The form has more than {limits.max_form_fields} fields",
            )
        name, _, value = raw.partition(b"=")
        if name:
            self.items.append((decode_urlencoded(name), decode_urlencoded(value)))


async def _parse_urlencoded(chunks: AsyncIterable[bytes], limits: Limits) -> FormData:
    parser = _UrlEncodedParser(limits)
    received = 0
    maximum = limits.max_body_size
    async for chunk in chunks:
        received += len(chunk)
        if received > maximum:
            raise _body_too_large(limits)
        parser.feed(chunk)
    parser.close()
    return FormData(parser.items)


def _decode_field(part: Part, data: bytes) -> str:
    _, params = parse_header_params(part.content_type)
    charset = params.get("charset", "utf-8")
    try:
        codecs.lookup(charset)
    except LookupError:
        raise BadRequest(f"Form field {part.name!r} has an unknown charset {charset!r}") from None
    try:
        return data.decode(charset)
    except UnicodeDecodeError:
        raise BadRequest(f"Form field {part.name!r} is not valid {charset} text") from None


class _MultipartReader:
    """Turns parser events into form items: text fields and spooled uploads."""

    __slots__ = ("field", "items", "limits", "part", "pending", "upload")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.items: list[tuple[str, FormValue]] = []
        self.part: Part | None = None
        self.upload: UploadFile | None = None
        self.field = bytearray()
        self.pending = bytearray()

    async def handle(self, kind: int, payload: Any) -> None:
        if kind == DATA:
            if self.upload is not None:
                self.pending += payload
                if len(self.pending) >= _WRITE_SIZE:
                    await self.flush()
            else:
                self.field += payload
        elif kind == PART:
            part: Part = payload
            self.part = part
            if part.filename is not None:
                self.upload = UploadFile(
                    filename=part.filename,
                    content_type=part.content_type,
                    headers=Headers(part.headers),
                    spool_threshold=self.limits.spool_threshold,
                )
        elif kind == END:
            assert self.part is not None
            upload = self.upload
            if upload is not None:
                await self.flush()
                self.items.append((self.part.name, upload))
                self.upload = None
                await upload.seek(0)
            else:
                self.items.append((self.part.name, _decode_field(self.part, bytes(self.field))))
                self.field.clear()
            self.part = None

    async def flush(self) -> None:
        if self.pending and self.upload is not None:
            data = bytes(self.pending)
            self.pending.clear()
            await self.upload.write(data)

    async def discard(self) -> None:
        uploads = [value for _, value in self.items if isinstance(value, UploadFile)]
        if self.upload is not None:
            uploads.append(self.upload)
        for upload in uploads:
            await upload.close()


async def _parse_multipart(
    boundary: bytes, chunks: AsyncIterable[bytes], limits: Limits
) -> FormData:
    parser = MultipartParser(boundary, limits)
    reader = _MultipartReader(limits)
    received = 0
    maximum = limits.max_body_size
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > maximum:
                raise _body_too_large(limits)
            for kind, payload in parser.feed(chunk):
                await reader.handle(kind, payload)
        parser.close()
    except BaseException:
        # NOTE: a refused or cancelled upload must not leave temporary files behind.
        with anyio.CancelScope(shield=True):
            await reader.discard()
        raise
    return FormData(reader.items)
