"""The ``Request``: a lazy view over the ASGI scope and the ``receive`` channel.

Nothing is parsed until it is read. The body is refused with 413 while it streams, as soon as it is
known to be over the limit (from ``Content-Length`` or by counting), before it is buffered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson

from armature.connection import HTTPConnection
from armature.exceptions import BadRequest, PayloadTooLarge, UnsupportedMediaType
from armature.limits import Limits, check_json_depth
from armature.types import Receive, Scope

__all__ = ["DEFAULT_MAX_BODY_SIZE", "ClientDisconnect", "Request", "is_json_content_type"]

DEFAULT_MAX_BODY_SIZE = 1024 * 1024


class ClientDisconnect(Exception):
    """The client went away before the request body was fully received."""


async def _empty_receive() -> dict[str, Any]:
    raise RuntimeError("this request has no receive channel")


def is_json_content_type(value: bytes | None) -> bool:
    """Tell whether a ``Content-Type`` value is JSON (``application/json`` or ``*/*+json``).

    Args:
        value: The raw header value, or None.

    Returns:
        True for JSON media types.
    """
    if not value:
        return False
    media = value.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


def _content_length(raw_headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in raw_headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                raise BadRequest("Content-Length is not a number") from None
    return None


async def read_body(receive: Receive, raw_headers: list[tuple[bytes, bytes]], limit: int) -> bytes:
    """Read a whole request body, refusing it with 413 as soon as it is known to exceed ``limit``.

    Args:
        receive: The ASGI receive callable.
        raw_headers: The scope's header pairs (for ``Content-Length``).
        limit: The maximum body size in bytes.

    Returns:
        The body bytes.

    Raises:
        PayloadTooLarge: The body is over the limit.
        ClientDisconnect: The client left before the body ended.
    """
    _check_declared_length(raw_headers, limit)
    message = await receive()
    if message["type"] != "http.request":
        raise ClientDisconnect()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        # PERF: the common case, one message, no joining and no generator.
        if len(body) > limit:
            raise _too_large(limit)
        return body
    rest = [chunk async for chunk in _more_body(receive, limit, len(body))]
    return body + b"".join(rest)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Request body is over the limit of {limit} bytes")


def _check_declared_length(raw_headers: list[tuple[bytes, bytes]], limit: int) -> None:
    declared = _content_length(raw_headers)
    if declared is not None and declared > limit:
        raise _too_large(limit)


async def _more_body(receive: Receive, limit: int, size: int = 0) -> AsyncIterator[bytes]:
    """Yield body chunks until the last one, refusing the body once ``size`` passes ``limit``."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        yield chunk
        if not message.get("more_body", False):
            return


class Request(HTTPConnection):
    """An HTTP request.

    Args:
        scope: The ASGI http scope.
        receive: The ASGI receive callable.
        max_body_size: The body limit for :meth:`body`, :meth:`json` and :meth:`stream`.
        app: The armature app serving the request (for :meth:`url_for`).
    """

    __slots__ = ("_body", "_form", "_json", "_stream_consumed", "max_body_size", "receive")

    def __init__(
        self,
        scope: Scope,
        receive: Receive = _empty_receive,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        app: Any = None,
    ) -> None:
        super().__init__(scope, app)
        self.receive = receive
        self.max_body_size = max_body_size
        self._body: bytes | None = None
        self._json: Any = _UNSET
        self._form: Any = None
        self._stream_consumed = False

    @property
    def method(self) -> str:
        """The request method, upper case."""
        return str(self.scope["method"])

    @property
    def session(self) -> dict[str, Any]:
        """The session dict kept by ``SessionMiddleware`` (``scope["session"]``).

        Raises:
            RuntimeError: ``SessionMiddleware`` is not installed.
        """
        session = self.scope.get("session")
        if session is None:
            raise RuntimeError("request.session needs SessionMiddleware (armature.middleware)")
        data: dict[str, Any] = session
        return data

    @property
    def content_type(self) -> str | None:
        """The ``Content-Type`` header, if any."""
        value = self.headers.get("content-type")
        return None if value is None else str(value)

    async def is_disconnected(self) -> bool:
        """Whether the client has gone away (checks without waiting).

        NOTE: handlers that take the ``Request`` own the receive channel, so armature does not
        watch it for them; long-running ones can poll this.
        """
        if self._stream_consumed and self._body is None:
            return False
        with anyio.move_on_after(0):
            message = await self.receive()
            if message["type"] == "http.disconnect":
                return True
            if message["type"] == "http.request" and self._body is None:
                # NOTE: keep what was read, so body() still returns it.
                self._body = message.get("body", b"")
                self._stream_consumed = True
                if message.get("more_body", False):
                    rest = await read_body(self.receive, [], self.max_body_size - len(self._body))
                    self._body += rest
        return False

    async def stream(self) -> AsyncIterator[bytes]:
        """Yield the body as it arrives, enforcing the body limit while streaming.

        Yields:
            Body chunks.

        Raises:
            PayloadTooLarge: The body went over the limit.
            ClientDisconnect: The client left mid-body.
        """
        if self._body is not None:
            yield self._body
            return
        if self._stream_consumed:
            raise RuntimeError("the request body was already streamed")
        self._stream_consumed = True
        _check_declared_length(self.scope["headers"], self.max_body_size)
        async for chunk in _more_body(self.receive, self.max_body_size):
            if chunk:
                yield chunk

    async def body(self) -> bytes:
        """Read and return the whole body (cached; limited to ``max_body_size``)."""
        if self._body is None:
            if self._stream_consumed:
                raise RuntimeError("the request body was already streamed")
            self._stream_consumed = True
            self._body = await read_body(self.receive, self.scope["headers"], self.max_body_size)
        return self._body

    async def form(self, limits: Any = None) -> Any:
        """Parse a url-encoded or multipart form body, while it streams (cached).

        Args:
            limits: The ``armature.Limits`` to enforce (default ``Limits()`` with this request's
                body limit).

        Returns:
            The ``armature.forms.FormData``; close it (``await form.close()``) when done with
            uploads; forms bound to handler parameters are closed for you.
        """
        if self._form is None:
            # NOTE: imported here: armature.forms imports this module.
            from armature.forms import parse_form, parse_form_stream

            if limits is None:
                limits = Limits(max_body_size=self.max_body_size)
            if self._body is not None:
                body = self._body

                async def one_chunk() -> AsyncIterator[bytes]:
                    yield body

                self._form = await parse_form_stream(self.content_type, one_chunk(), limits)
            else:
                if self._stream_consumed:
                    raise RuntimeError("the request body was already streamed")
                self._stream_consumed = True
                self._form = await parse_form(self.scope, self.receive, limits)
        return self._form

    async def json(self) -> Any:
        """Parse the body as JSON with orjson.

        Returns:
            The decoded value.

        Raises:
            UnsupportedMediaType: The content type is not JSON (415).
            BadRequest: The body is not valid JSON (400).
        """
        if self._json is _UNSET:
            content_type = None
            for name, value in self.scope["headers"]:
                if name == b"content-type":
                    content_type = value
                    break
            if not is_json_content_type(content_type):
                raise UnsupportedMediaType("Expected a JSON body (Content-Type: application/json)")
            body = await self.body()
            check_json_depth(body, 64)
            try:
                self._json = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise BadRequest(f"Malformed JSON: {exc}") from None
        return self._json

    def __repr__(self) -> str:
        return f"Request({self.method} {self.path})"


class _Unset:
    __slots__ = ()


_UNSET: Any = _Unset()
