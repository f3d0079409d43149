"""The response family; each is an ASGI callable: ``await response(scope, receive, send)``.

Headers are kept as pre-encoded byte pairs and checked once, when set: a name or value containing
CR, LF or NUL raises ``ValueError`` instead of splitting the response.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import mimetypes
import os
import stat as stat_module
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from http.cookies import SimpleCookie
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import anyio
import orjson
from anyio.abc import TaskGroup
from pydantic import BaseModel

from armature.datastructures import MutableHeaders, encode_header
from armature.exceptions import problem_body
from armature.types import Receive, Scope, Send

__all__ = [
    "FileResponse",
    "HTMLResponse",
    "JSONResponse",
    "PlainTextResponse",
    "RedirectResponse",
    "Response",
    "StreamingResponse",
    "json_default",
]

logger = logging.getLogger("armature.error")

_NO_BODY_STATUS = frozenset({204, 304})
BackgroundCallable = Callable[[], Awaitable[None] | None]


def json_default(value: Any) -> Any:
    """``orjson`` fallback: pydantic models, sets and objects with ``__json__``.

    Args:
        value: A value orjson cannot serialize natively.

    Returns:
        A serializable stand-in.
    """
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset):
        return list(value)
    to_json = getattr(value, "__json__", None)
    if to_json is not None:
        return to_json()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _status_has_body(status: int) -> bool:
    return status >= 200 and status not in _NO_BODY_STATUS


class Response:
    """A complete response with a body known up front.

    Args:
        content: The body: bytes, or a str encoded with the charset.
        status_code: The HTTP status.
        headers: Extra headers; values are checked for CR/LF/NUL.
        media_type: The ``Content-Type`` (``charset`` is added for ``text/*``).
        background: A callable (sync or async) run after the response is sent.
    """

    __slots__ = ("background", "body", "media_type", "raw_headers", "status_code")
    default_media_type: ClassVar[str | None] = None
    charset: ClassVar[str] = "utf-8"

    def __init__(
        self,
        content: Any = b"",
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundCallable | None = None,
    ) -> None:
        self.status_code = status_code
        self.media_type = media_type if media_type is not None else self.default_media_type
        self.background = background
        self.body = self.render(content)
        self.raw_headers = self._build_headers(headers)

    def render(self, content: Any) -> bytes:
        """Turn ``content`` into body bytes.

        Args:
            content: The value given to the constructor.

        Returns:
            The encoded body.
        """
        if content is None:
            return b""
        if isinstance(content, bytes):
            return content
        if isinstance(content, str):
            return content.encode(self.charset)
        if isinstance(content, bytearray | memoryview):
            return bytes(content)
        raise TypeError(f"{type(self).__name__} cannot render {type(content).__name__}")

    def _content_type(self) -> bytes | None:
        media_type = self.media_type
        if media_type is None:
            return None
        if media_type.startswith("text/") and "charset=" not in media_type:
            media_type = f"{media_type}; charset={self.charset}"
        return media_type.encode("latin-1")

    def _build_headers(self, headers: Mapping[str, str] | None) -> list[tuple[bytes, bytes]]:
        raw: list[tuple[bytes, bytes]] = []
        has_type = has_length = False
        if headers:
            for name, value in headers.items():
                pair = encode_header(name, value)
                raw.append(pair)
                has_type = has_type or pair[0] == b"content-type"
                has_length = has_length or pair[0] == b"content-length"
        if _status_has_body(self.status_code):
            if not has_length and self.body is not None:
                raw.append((b"content-length", b"%d" % len(self.body)))
            if not has_type:
                content_type = self._content_type()
                if content_type is not None:
                    raw.append((b"content-type", content_type))
        return raw

    def _headers_without_length(
        self, headers: Mapping[str, str] | None
    ) -> list[tuple[bytes, bytes]]:
        raw = [encode_header(k, v) for k, v in (headers or {}).items()]
        if not any(k == b"content-type" for k, _ in raw):
            content_type = self._content_type()
            if content_type is not None:
                raw.append((b"content-type", content_type))
        return raw

    @property
    def headers(self) -> MutableHeaders:
        """The response headers, editable (changes are checked for header injection)."""
        return MutableHeaders(self.raw_headers)

    def set_cookie(
        self,
        key: str,
        value: str = "",
        *,
        max_age: int | None = None,
        expires: datetime | str | int | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Add a ``Set-Cookie`` header.

        Args:
            key: Cookie name.
            value: Cookie value (quoted if needed).
            max_age: Lifetime in seconds.
            expires: Expiry as a datetime, an HTTP date string, or seconds from now.
            path: Cookie path.
            domain: Cookie domain.
            secure: Send only over HTTPS.
            httponly: Hide from JavaScript.
            samesite: ``lax``, ``strict`` or ``none`` (``none`` requires ``secure``).
            partitioned: CHIPS partitioned cookie (requires ``secure``).
        """
        cookie: SimpleCookie = SimpleCookie()
        cookie[key] = value
        morsel = cookie[key]
        if max_age is not None:
            morsel["max-age"] = max_age
        if expires is not None:
            if isinstance(expires, datetime):
                morsel["expires"] = email.utils.format_datetime(expires, usegmt=True)
            else:
                morsel["expires"] = expires
        if path is not None:
            morsel["path"] = path
        if domain is not None:
            morsel["domain"] = domain
        if secure:
            morsel["secure"] = True
        if httponly:
            morsel["httponly"] = True
        if samesite is not None:
            if samesite.lower() not in ("strict", "lax", "none"):
                raise ValueError("samesite must be 'strict', 'lax' or 'none'")
            morsel["samesite"] = samesite
        output = morsel.OutputString()
        if partitioned:
            output += "; Partitioned"
        self.raw_headers.append(encode_header(b"set-cookie", output))

    def delete_cookie(
        self,
        key: str,
        *,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
    ) -> None:
        """Expire a cookie on the client.

        Args:
            key: Cookie name.
            path: The path it was set with.
            domain: The domain it was set with.
            secure: As when set.
            httponly: As when set.
            samesite: As when set.
        """
        self.set_cookie(
            key,
            "",
            max_age=0,
            expires=0,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if _status_has_body(self.status_code):
            await send({"type": "http.response.body", "body": self.body})
        else:
            await send({"type": "http.response.body", "body": b""})
        if self.background is not None:
            await run_background(self.background)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code})"


async def run_background(task: BackgroundCallable) -> None:
    """Run a background callable after the response; errors are logged, never raised.

    Args:
        task: A sync or async callable taking no arguments.
    """
    try:
        result = task()
        if result is not None and hasattr(result, "__await__"):
            await result
    except Exception:
        logger.exception("background task %r failed", task)


class PlainTextResponse(Response):
    """A ``text/plain; charset=utf-8`` response."""

    __slots__ = ()
    default_media_type = "text/plain"


class HTMLResponse(Response):
    """A ``text/html; charset=utf-8`` response."""

    __slots__ = ()
    default_media_type = "text/html"


class JSONResponse(Response):
    """A JSON response encoded with orjson (pydantic models, datetimes, UUIDs and dataclasses work).

    Args:
        content: Any orjson-serializable value, or pydantic models.
        status_code: The HTTP status.
        headers: Extra headers.
        media_type: Defaults to ``application/json``.
        background: Run after sending.
    """

    __slots__ = ()
    default_media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Encode ``content`` as JSON bytes."""
        if isinstance(content, BaseModel):
            return content.__pydantic_serializer__.to_json(content)
        try:
            return orjson.dumps(content, default=json_default)
        except TypeError:
            # NOTE: non-str dict keys (json.dumps accepts them); only then pay for the option.
            return orjson.dumps(content, default=json_default, option=orjson.OPT_NON_STR_KEYS)


class RedirectResponse(Response):
    """A redirect (307 by default, so the method and body are kept).

    Args:
        url: The target; non-ASCII characters are percent-encoded.
        status_code: 301, 302, 303, 307 or 308.
        headers: Extra headers.
        background: Run after sending.
    """

    __slots__ = ()

    def __init__(
        self,
        url: str,
        status_code: int = 307,
        headers: Mapping[str, str] | None = None,
        background: BackgroundCallable | None = None,
    ) -> None:
        super().__init__(b"", status_code=status_code, headers=headers, background=background)
        location = quote(str(url), safe=":/%#?=@[]!$&'()*+,;~")
        self.raw_headers.append(encode_header(b"location", location))


ContentStream = AsyncIterable[str | bytes] | Iterable[str | bytes]


class StreamingResponse(Response):
    """A response whose body comes from a sync or async iterator, sent chunk by chunk.

    Sync iterators are advanced in a worker thread so they never block the event loop. When the
    client disconnects the iteration stops and the iterator is closed.

    Args:
        content: An async or sync iterable of ``bytes``/``str`` chunks.
        status_code: The HTTP status.
        headers: Extra headers.
        media_type: The content type.
        background: Run after the stream ends.
    """

    __slots__ = ("body_iterator",)

    def __init__(
        self,
        content: ContentStream,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundCallable | None = None,
    ) -> None:
        self.body_iterator = content
        super().__init__(None, status_code, headers, media_type, background)
        self.body = b""

    def render(self, content: Any) -> bytes:
        """Streaming responses have no up-front body."""
        return b""

    def _build_headers(self, headers: Mapping[str, str] | None) -> list[tuple[bytes, bytes]]:
        # NOTE: no content-length: the length is unknown up front (set later for files).
        return self._headers_without_length(headers)

    async def _chunks(self) -> AsyncIterable[bytes]:
        iterator = self.body_iterator
        charset = self.charset
        if isinstance(iterator, AsyncIterable):
            async for chunk in iterator:
                yield chunk if isinstance(chunk, bytes) else chunk.encode(charset)
            return
        sync_iter = iter(iterator)
        sentinel: Any = object()

        def advance() -> Any:
            return next(sync_iter, sentinel)

        while True:
            chunk = await anyio.to_thread.run_sync(advance)
            if chunk is sentinel:
                break
            yield chunk if isinstance(chunk, bytes) else chunk.encode(charset)

    async def _stream(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        chunks = self._chunks()
        try:
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
            close = getattr(self.body_iterator, "aclose", None) or getattr(
                self.body_iterator, "close", None
            )
            if close is not None:
                result = close()
                if hasattr(result, "__await__"):
                    await result
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await stream_until_disconnect(receive, lambda group: self._stream(send))
        if self.background is not None:
            await run_background(self.background)


async def _watch_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return


async def stream_until_disconnect(
    receive: Receive, produce: Callable[[TaskGroup], Awaitable[None]]
) -> None:
    """Run ``produce(group)`` while a sibling task watches for ``http.disconnect``.

    A client that goes away cancels the producer instead of leaving it running for nobody. The
    producer may start more tasks in ``group`` (SSE keep-alive pings).

    Args:
        receive: The ASGI receive callable.
        produce: Sends the body; given the task group.

    Raises:
        Exception: Whatever the producer raised, as itself (not wrapped in an ExceptionGroup).
    """
    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(_watch_disconnect, receive, group.cancel_scope)
        try:
            await produce(group)
        except OSError:
            # NOTE: ASGI 2.4 servers raise OSError from send() once the client is gone.
            pass
        except Exception as exc:
            failure = exc
        group.cancel_scope.cancel()
    if failure is not None:
        raise failure


class FileResponse(Response):
    """Send a file: ASGI ``pathsend`` when the server offers it, else chunked reads off the loop.

    Args:
        path: The file to send.
        status_code: The HTTP status.
        headers: Extra headers.
        media_type: The content type (guessed from the name when omitted).
        filename: Sets ``Content-Disposition: attachment`` with this name.
        content_disposition_type: ``attachment`` or ``inline``.
        stat_result: A precomputed ``os.stat`` result.
        chunk_size: Read size when streaming.
        background: Run after sending.
    """

    __slots__ = ("_absolute_path", "chunk_size", "path", "stat_result")

    def __init__(
        self,
        path: str | os.PathLike[str],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        filename: str | None = None,
        content_disposition_type: str = "attachment",
        stat_result: os.stat_result | None = None,
        chunk_size: int = 64 * 1024,
        background: BackgroundCallable | None = None,
    ) -> None:
        self.path = os.fspath(path)
        # NOTE: pathsend needs an absolute path; resolved here, at construction, not on the loop.
        self._absolute_path = os.path.abspath(self.path)
        self.chunk_size = chunk_size
        self.stat_result = stat_result
        if media_type is None:
            guessed, _ = mimetypes.guess_type(filename or self.path)
            media_type = guessed or "application/octet-stream"
        super().__init__(None, status_code, headers, media_type, background)
        if filename is not None:
            quoted = quote(filename)
            if quoted != filename:
                value = f"{content_disposition_type}; filename*=utf-8''{quoted}"
            else:
                value = f'{content_disposition_type}; filename="{filename}"'
            self.raw_headers.append(encode_header(b"content-disposition", value))
        if stat_result is not None:
            self._add_stat_headers(stat_result)

    def render(self, content: Any) -> bytes:
        """File responses have no up-front body."""
        return b""

    def _build_headers(self, headers: Mapping[str, str] | None) -> list[tuple[bytes, bytes]]:
        # NOTE: no content-length: the length is unknown up front (set later for files).
        return self._headers_without_length(headers)

    def _add_stat_headers(self, st: os.stat_result) -> None:
        names = {k for k, _ in self.raw_headers}
        if b"content-length" not in names:
            self.raw_headers.append((b"content-length", b"%d" % st.st_size))
        if b"last-modified" not in names:
            modified = email.utils.formatdate(st.st_mtime, usegmt=True)
            self.raw_headers.append((b"last-modified", modified.encode("latin-1")))
        if b"etag" not in names:
            tag = hashlib.md5(
                f"{st.st_mtime_ns}-{st.st_size}".encode(), usedforsecurity=False
            ).hexdigest()
            self.raw_headers.append((b"etag", f'"{tag}"'.encode("latin-1")))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.stat_result is None:
            try:
                st = await anyio.to_thread.run_sync(os.stat, self.path)
            except FileNotFoundError:
                body = problem_body(404, "File not found", instance=scope.get("path"))
                await Response(body, 404, media_type="application/problem+json")(
                    scope, receive, send
                )
                return
            if not stat_module.S_ISREG(st.st_mode):
                raise RuntimeError(f"{self.path} is not a regular file")
            self.stat_result = st
            self._add_stat_headers(st)
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if scope.get("method") == "HEAD" or not _status_has_body(self.status_code):
            await send({"type": "http.response.body", "body": b""})
        elif "http.response.pathsend" in scope.get("extensions", {}):
            # PERF: the server sends the file itself (zero-copy where it can).
            await send({"type": "http.response.pathsend", "path": self._absolute_path})
        else:
            async with await anyio.open_file(self.path, "rb") as handle:
                more = True
                while more:
                    chunk = await handle.read(self.chunk_size)
                    more = len(chunk) == self.chunk_size
                    await send({"type": "http.response.body", "body": chunk, "more_body": more})
        if self.background is not None:
            await run_background(self.background)
