"""Internals of :mod:`armature.testing`: the ASGI side of the in-process test clients.

An :class:`Exchange` runs one request/response cycle of the app as a task and hands the response
to httpx chunk by chunk; :class:`Lifespan` drives the lifespan protocol; :func:`serve` owns the
task group app tasks run in. Nothing here is buffered and nothing here knows about threads: the
sync client reaches it through an anyio blocking portal.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal, NoReturn
from urllib.parse import unquote

import anyio
import httpx
from anyio.abc import TaskGroup
from anyio.from_thread import BlockingPortal

from armature.types import ASGIApp, Message, Scope

__all__ = [
    "BodySource",
    "ClientDisconnected",
    "Exchange",
    "Lifespan",
    "LifespanFailed",
    "Options",
    "Runtime",
    "http_scope",
    "open_exchange",
    "serve",
]

# NOTE: servers hand request bodies to the app in socket-sized pieces; large in-memory bodies are
# split the same way so apps are exercised on multi-chunk bodies.
_BODY_CHUNK = 64 * 1024
_ASGI = {"version": "3.0", "spec_version": "2.4"}
_LIFESPAN_ASGI = {"version": "3.0", "spec_version": "2.0"}
_ERROR_BODY = b"Internal Server Error"


class ClientDisconnected(OSError):
    """Raised by ``send()`` when the test closed the response before the app finished it.

    ASGI 2.4 asks servers to raise an ``OSError`` subclass when an app sends on a closed connection.
    """


class LifespanFailed(RuntimeError):
    """The application reported ``lifespan.startup.failed`` or ``lifespan.shutdown.failed``.

    Args:
        phase: ``"startup"`` or ``"shutdown"``.
        message: The ``message`` the application sent (may be empty).
    """

    def __init__(self, phase: Literal["startup", "shutdown"], message: str) -> None:
        detail = f": {message}" if message else ""
        super().__init__(f"ASGI lifespan {phase} failed{detail}")
        self.phase = phase
        self.message = message


@dataclass(slots=True, frozen=True)
class Options:
    """The client options the ASGI side needs (see the clients' arguments)."""

    app: ASGIApp
    root_path: str
    client: tuple[str, int] | None
    raise_server_exceptions: bool
    disconnect_grace: float


class Runtime:
    """State shared by a client and its transport: where app tasks run, and the lifespan state."""

    __slots__ = ("options", "portal", "state", "task_group")

    def __init__(self, options: Options) -> None:
        self.options = options
        self.task_group: TaskGroup | None = None
        self.portal: BlockingPortal | None = None
        self.state: dict[str, Any] = {}


def _is_disconnect(error: BaseException) -> bool:
    if isinstance(error, ClientDisconnected):
        return True
    if isinstance(error, BaseExceptionGroup):
        return error.split(ClientDisconnected)[1] is None
    return False


def http_scope(request: httpx.Request, options: Options, state: Mapping[str, Any]) -> Scope:
    """Build the ASGI ``http`` connection scope a server would build for ``request``."""
    url = request.url
    raw_path, _, query_string = url.raw_path.partition(b"?")
    port = url.port or (443 if url.scheme in ("https", "wss") else 80)
    return {
        "type": "http",
        "asgi": dict(_ASGI),
        "http_version": "1.1",
        "method": request.method,
        "scheme": url.scheme,
        # NOTE: httpx always percent-encodes the target, so latin-1 never fails here.
        "path": unquote(raw_path.decode("latin-1")),
        "raw_path": raw_path,
        "query_string": query_string,
        "root_path": options.root_path,
        "headers": [(name.lower(), value) for name, value in request.headers.raw],
        "client": options.client,
        "server": (url.host, port),
        "state": dict(state),
        "extensions": {},
    }


class BodySource:
    """Reads the request body from httpx's sync or async byte stream, one chunk at a time."""

    __slots__ = ("_aiter", "_iter", "_stream", "_use_async")

    def __init__(
        self, stream: httpx.SyncByteStream | httpx.AsyncByteStream, use_async: bool
    ) -> None:
        self._stream = stream
        self._use_async = use_async
        self._aiter: AsyncIterator[bytes] | None = None
        self._iter: Iterator[bytes] | None = None

    async def read(self) -> bytes | None:
        """Return the next chunk, or ``None`` at the end of the body."""
        if self._use_async:
            if self._aiter is None:
                assert isinstance(self._stream, httpx.AsyncByteStream)
                self._aiter = aiter(self._stream)
            try:
                return await anext(self._aiter)
            except StopAsyncIteration:
                return None
        if self._iter is None:
            assert isinstance(self._stream, httpx.SyncByteStream)
            # NOTE: a sync body (TestClient) is iterated on the event loop thread: it is in memory
            # or a user iterator, which httpx itself would iterate while writing to a socket.
            self._iter = iter(self._stream)
        return next(self._iter, None)

    async def aclose(self) -> None:
        """Finalize a partially read body iterator."""
        aclose = getattr(self._aiter, "aclose", None)
        if aclose is not None:
            await aclose()
        close = getattr(self._iter, "close", None)
        if close is not None:
            close()


class Exchange:
    """One request/response cycle between the test and the application, run as a task.

    The application's ``send`` hands body chunks to the reader through a zero-buffer channel, so the
    app waits for the test to read each chunk (backpressure) and nothing is buffered.
    """

    __slots__ = (
        "_body_recv",
        "_body_send",
        "_cancel_scope",
        "_closed",
        "_complete",
        "_delivered",
        "_disconnected",
        "_end",
        "_error",
        "_error_reported",
        "_finished",
        "_head_ready",
        "_is_head",
        "_options",
        "_owned_task_group",
        "_pieces",
        "_receive_lock",
        "_remaining",
        "_request",
        "_request_done",
        "_scope",
        "_source",
        "_started",
        "_synthetic",
        "headers",
        "status",
    )

    def __init__(
        self,
        options: Options,
        scope: Scope,
        request: httpx.Request,
        source: BodySource,
        owned_task_group: TaskGroup | None = None,
    ) -> None:
        self._options = options
        self._scope = scope
        self._request = request
        self._source: BodySource | None = source
        self._owned_task_group = owned_task_group
        self._pieces: deque[bytes] = deque()
        self._request_done = False
        self._is_head = request.method == "HEAD"
        self._started = False
        self._complete = False
        self._delivered = False
        self._disconnected = False
        self._closed = False
        self._error: Exception | None = None
        self._error_reported = False
        self._remaining: int | None = None  # NOTE: bytes still due per Content-Length.
        self._synthetic: bytes | None = None
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self._finished = anyio.Event()
        self._head_ready = anyio.Event()
        self._end = anyio.Event()
        self._receive_lock = anyio.Lock()
        self._cancel_scope = anyio.CancelScope()
        self._body_send, self._body_recv = anyio.create_memory_object_stream[tuple[bytes, bool]](0)

    # -- test side -------------------------------------------------------------------------------

    async def start(self, task_group: TaskGroup) -> None:
        """Run the app in ``task_group`` and wait for ``http.response.start`` (or the app's end)."""
        task_group.start_soon(self._run)
        await self._head_ready.wait()
        if self._started:
            return
        self._error_reported = True
        if self._options.raise_server_exceptions:
            if self._error is not None:
                raise self._error
            raise RuntimeError("The ASGI app returned without starting a response.")
        # NOTE: what uvicorn does when an app fails before starting its response.
        self.status = 500
        self.headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(_ERROR_BODY)).encode()),
        ]
        self._synthetic = _ERROR_BODY

    async def next_chunk(self) -> bytes | None:
        """Return the next non-empty body chunk, or ``None`` once the response is complete."""
        if self._synthetic is not None:
            chunk, self._synthetic, self._delivered = self._synthetic, None, True
            return chunk
        while not self._delivered:
            try:
                body, more_body = await self._body_recv.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                await self._finished.wait()
                self._raise_incomplete()
            if not more_body:
                self._delivered = True
            if body:
                return body
        return None

    def _raise_incomplete(self) -> NoReturn:
        self._error_reported = True
        if self._options.raise_server_exceptions:
            if self._error is not None:
                raise self._error
            raise RuntimeError("The ASGI app returned without completing its response.")
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body", request=self._request
        )

    async def aclose(self) -> None:
        """Finish the exchange: on an early close, disconnect the app and stop it if it lingers."""
        if self._closed:
            return
        self._closed = True
        try:
            with anyio.CancelScope(shield=True):
                if not self._delivered and not self._finished.is_set():
                    self._disconnected = True
                    self._end.set()
                    self._body_recv.close()
                    with anyio.move_on_after(self._options.disconnect_grace):
                        await self._finished.wait()
                    self._cancel_scope.cancel()
                await self._finished.wait()
                if self._source is not None:
                    source, self._source = self._source, None
                    await source.aclose()
        finally:
            self._body_recv.close()
            if self._owned_task_group is not None:
                owned, self._owned_task_group = self._owned_task_group, None
                await owned.__aexit__(None, None, None)
        error = self._error
        if (
            error is not None
            and self._options.raise_server_exceptions
            and not self._error_reported
            and not _is_disconnect(error)
        ):
            # NOTE: the response is complete (or abandoned) but the app failed afterwards, e.g. in a
            # background task; the test should still learn about it.
            self._error_reported = True
            raise error

    # -- app side --------------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            with self._cancel_scope:
                try:
                    await self._options.app(self._scope, self._receive, self._send)
                except Exception as exc:
                    # NOTE: app errors go to the test through the client, never into the task group
                    # (which would cancel unrelated work and wrap them in an ExceptionGroup).
                    self._error = exc
        finally:
            self._finished.set()
            self._head_ready.set()
            self._end.set()
            self._body_send.close()

    async def _receive(self) -> Message:
        if not self._request_done and not self._disconnected:
            async with self._receive_lock:
                if not self._request_done and not self._disconnected:
                    return await self._next_request_message()
        await self._end.wait()
        return {"type": "http.disconnect"}

    async def _fill(self) -> None:
        while not self._pieces and self._source is not None:
            chunk = await self._source.read()
            if chunk is None:
                source, self._source = self._source, None
                await source.aclose()
                return
            if len(chunk) <= _BODY_CHUNK:
                if chunk:
                    self._pieces.append(chunk)
            else:
                self._pieces.extend(
                    chunk[i : i + _BODY_CHUNK] for i in range(0, len(chunk), _BODY_CHUNK)
                )

    async def _next_request_message(self) -> Message:
        await self._fill()
        body = self._pieces.popleft() if self._pieces else b""
        await self._fill()  # NOTE: look ahead so the last piece carries more_body=False.
        more_body = bool(self._pieces)
        if not more_body:
            self._request_done = True
        return {"type": "http.request", "body": body, "more_body": more_body}

    async def _send(self, message: Message) -> None:
        if self._disconnected:
            raise ClientDisconnected("the client closed the connection")
        kind = message["type"]
        if not self._started:
            if kind != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', got {kind!r}.")
            self._start_response(message)
            return
        if self._complete:
            raise RuntimeError(f"Unexpected ASGI message {kind!r} sent after the response ended.")
        if kind != "http.response.body":
            raise RuntimeError(f"Expected ASGI message 'http.response.body', got {kind!r}.")
        body = message.get("body", b"")
        if not isinstance(body, bytes | bytearray | memoryview):
            raise TypeError(
                f"'body' of http.response.body must be bytes, got {type(body).__name__}"
            )
        body = bytes(body)
        more_body = bool(message.get("more_body", False))
        if self._remaining is not None:
            self._remaining -= len(body)
            if self._remaining < 0 or (self._remaining and not more_body):
                word = "longer" if self._remaining < 0 else "shorter"
                raise RuntimeError(f"Response content {word} than Content-Length.")
        if self._is_head:
            body = b""  # NOTE: servers never send a body for HEAD.
        if not more_body:
            self._complete = True
        try:
            await self._body_send.send((body, more_body))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise ClientDisconnected("the client closed the connection") from None
        if not more_body:
            self._body_send.close()
            self._end.set()

    def _start_response(self, message: Message) -> None:
        status = message.get("status")
        if type(status) is not int or not 100 <= status <= 999:
            raise TypeError(f"'status' of http.response.start must be an int, got {status!r}")
        headers: list[tuple[bytes, bytes]] = []
        for pair in message.get("headers", ()):
            name, value = pair
            if not isinstance(name, bytes) or not isinstance(value, bytes):
                raise TypeError(f"ASGI header names and values must be bytes, got {pair!r}")
            headers.append((name, value))
            if name.lower() == b"content-length":
                self._remaining = int(value)
        if self._is_head or status in (204, 304):
            self._remaining = None
        self.status = status
        self.headers = headers
        self._started = True
        self._head_ready.set()


class Lifespan:
    """Drives the ASGI lifespan protocol for one client session."""

    def __init__(self, options: Options, state: dict[str, Any]) -> None:
        self._options = options
        self._scope: Scope = {"type": "lifespan", "asgi": dict(_LIFESPAN_ASGI), "state": state}
        self._to_app, self._to_app_recv = anyio.create_memory_object_stream[Message](2)
        self._from_app, self._replies = anyio.create_memory_object_stream[Message](2)
        self._finished = anyio.Event()
        self._cancel_scope = anyio.CancelScope()
        self._error: Exception | None = None
        self._received = False
        self._phase = "startup"
        self.supported = True

    async def startup(self, task_group: TaskGroup) -> None:
        """Send ``lifespan.startup`` and wait for the answer.

        Raises:
            LifespanFailed: The app answered ``lifespan.startup.failed``.
        """
        task_group.start_soon(self._run)
        await self._to_app.send({"type": "lifespan.startup"})
        reply = await self._reply()
        if reply is None:
            # NOTE: per the ASGI spec an app that raises (or returns) instead of answering does not
            # support lifespan and the server carries on. An error raised after the app read the
            # startup event is a crash in its startup code, though, and is re-raised.
            self.supported = False
            if self._error is not None and self._received and self._options.raise_server_exceptions:
                raise self._error
            return
        if reply["type"] == "lifespan.startup.failed":
            self.supported = False
            await self._stop()
            raise LifespanFailed("startup", str(reply.get("message", "")))

    async def shutdown(self) -> None:
        """Send ``lifespan.shutdown``, wait for the answer and for the app to return.

        Raises:
            LifespanFailed: The app answered ``lifespan.shutdown.failed``.
        """
        if not self.supported:
            return
        self._phase = "shutdown"
        await self._to_app.send({"type": "lifespan.shutdown"})
        reply = await self._reply()
        await self._stop()
        if reply is not None and reply["type"] == "lifespan.shutdown.failed":
            raise LifespanFailed("shutdown", str(reply.get("message", "")))
        if self._error is not None and self._options.raise_server_exceptions:
            raise self._error

    async def _reply(self) -> Message | None:
        try:
            return await self._replies.receive()
        except anyio.EndOfStream:
            return None

    async def _stop(self) -> None:
        with anyio.move_on_after(self._options.disconnect_grace):
            await self._finished.wait()
        self._cancel_scope.cancel()
        await self._finished.wait()

    async def _run(self) -> None:
        try:
            with self._cancel_scope:
                try:
                    await self._options.app(self._scope, self._receive, self._send)
                except Exception as exc:
                    self._error = exc
        finally:
            self._finished.set()
            self._from_app.close()

    async def _receive(self) -> Message:
        message = await self._to_app_recv.receive()
        self._received = True
        return message

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        allowed = (f"lifespan.{self._phase}.complete", f"lifespan.{self._phase}.failed")
        if kind not in allowed:
            raise RuntimeError(
                f"Expected one of {allowed} during lifespan {self._phase}, got {kind!r}."
            )
        await self._from_app.send(message)


@asynccontextmanager
async def serve(
    options: Options, state: dict[str, Any], *, lifespan: bool
) -> AsyncIterator[TaskGroup]:
    """Own the task group app tasks run in, with the lifespan around it when asked.

    Errors are raised outside the task group so tests see them unwrapped (no ExceptionGroup).
    """
    error: BaseException | None = None
    async with anyio.create_task_group() as task_group:
        session = Lifespan(options, state) if lifespan else None
        try:
            if session is not None:
                await session.startup(task_group)
        except BaseException as exc:
            error = exc
        if error is None:
            try:
                yield task_group
            except BaseException as exc:
                error = exc
            try:
                if session is not None:
                    await session.shutdown()
            except BaseException as exc:
                exc.__context__ = error
                error = exc
        # NOTE: streams the test never closed must not keep the session alive.
        task_group.cancel_scope.cancel()
    if error is not None:
        raise error


async def open_exchange(
    options: Options,
    scope: Scope,
    request: httpx.Request,
    task_group: TaskGroup,
    *,
    use_async: bool,
    owned: TaskGroup | None = None,
) -> Exchange:
    """Create an exchange and run it until the response starts (or fails)."""
    exchange = Exchange(options, scope, request, BodySource(request.stream, use_async), owned)
    try:
        await exchange.start(task_group)
    except BaseException:
        await exchange.aclose()
        raise
    return exchange
