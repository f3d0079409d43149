"""In-process test clients for any ASGI 3 app: :class:`TestClient` and :class:`AsyncTestClient`.

Both are real :mod:`httpx` clients whose transport calls the application directly, without a
socket. The bridge uses httpx's public transport API and does not buffer: a streamed response is
readable while the application is still producing it, and closing it early delivers
``http.disconnect`` to the application. ``with TestClient(app)`` / ``async with
AsyncTestClient(app)`` also run the ASGI lifespan protocol around the block.

Install with ``pip install armature[testing]``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    ExitStack,
    asynccontextmanager,
)
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any, Literal, NoReturn, Self
from urllib.parse import unquote

import anyio
from anyio.abc import TaskGroup
from anyio.from_thread import BlockingPortal, start_blocking_portal

from armature.types import ASGIApp, Message, Scope

try:
    import httpx
except ModuleNotFoundError as _exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "armature.testing needs httpx; install it with: pip install armature[testing]"
    ) from _exc

__all__ = ["AsyncTestClient", "ClientDisconnected", "LifespanFailed", "TestClient"]

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
class _Options:
    app: ASGIApp
    root_path: str
    client: tuple[str, int] | None
    raise_server_exceptions: bool
    disconnect_grace: float


class _Runtime:
    """State shared by a client and its transport: where app tasks run, and the lifespan state."""

    __slots__ = ("options", "portal", "state", "task_group")

    def __init__(self, options: _Options) -> None:
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


def _http_scope(request: httpx.Request, options: _Options, state: Mapping[str, Any]) -> Scope:
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


class _BodySource:
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


class _Exchange:
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
        options: _Options,
        scope: Scope,
        request: httpx.Request,
        source: _BodySource,
        owned_task_group: TaskGroup | None = None,
    ) -> None:
        self._options = options
        self._scope = scope
        self._request = request
        self._source: _BodySource | None = source
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


class _Lifespan:
    """Drives the ASGI lifespan protocol for one client session."""

    def __init__(self, options: _Options, state: dict[str, Any]) -> None:
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
async def _serve(
    options: _Options, state: dict[str, Any], *, lifespan: bool
) -> AsyncIterator[TaskGroup]:
    """Own the task group app tasks run in, with the lifespan around it when asked.

    Errors are raised outside the task group so tests see them unwrapped (no ExceptionGroup).
    """
    error: BaseException | None = None
    async with anyio.create_task_group() as task_group:
        session = _Lifespan(options, state) if lifespan else None
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


def _check_thread(backend: str) -> None:
    if backend == "trio":
        import trio.lowlevel

        if trio.lowlevel.in_trio_run():
            # NOTE: anyio cannot call a trio portal from a trio thread (it would hang on exit).
            raise RuntimeError(
                "TestClient(backend='trio') cannot run inside a trio event loop; "
                "use AsyncTestClient in async tests."
            )


def _response(
    exchange: _Exchange, stream: httpx.SyncByteStream | httpx.AsyncByteStream
) -> httpx.Response:
    return httpx.Response(
        exchange.status,
        headers=exchange.headers,
        stream=stream,
        extensions={"http_version": b"HTTP/1.1"},
    )


class _AsyncResponseStream(httpx.AsyncByteStream):
    __slots__ = ("_exchange",)

    def __init__(self, exchange: _Exchange) -> None:
        self._exchange = exchange

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self._exchange.next_chunk()) is not None:
            yield chunk

    async def aclose(self) -> None:
        await self._exchange.aclose()


class _SyncResponseStream(httpx.SyncByteStream):
    __slots__ = ("_exchange", "_portal", "_stack")

    def __init__(self, portal: BlockingPortal, exchange: _Exchange, stack: ExitStack) -> None:
        self._portal = portal
        self._exchange = exchange
        self._stack = stack

    def __iter__(self) -> Iterator[bytes]:
        while (chunk := self._portal.call(self._exchange.next_chunk)) is not None:
            yield chunk

    def close(self) -> None:
        try:
            self._portal.call(self._exchange.aclose)
        finally:
            self._stack.close()


class _AsyncTransport(httpx.AsyncBaseTransport):
    """httpx transport that hands each request to the ASGI app on the caller's event loop."""

    def __init__(self, runtime: _Runtime) -> None:
        self._runtime = runtime

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        runtime = self._runtime
        options = runtime.options
        task_group = runtime.task_group
        owned: TaskGroup | None = None
        scope = _http_scope(request, options, runtime.state if task_group else {})
        if task_group is None:
            # NOTE: outside ``async with`` each request gets its own task group, entered here and
            # exited when the response closes (same task, as httpx always does).
            owned = anyio.create_task_group()
            task_group = await owned.__aenter__()
        exchange = await _open_exchange(
            options, scope, request, task_group, use_async=True, owned=owned
        )
        return _response(exchange, _AsyncResponseStream(exchange))


async def _open_exchange(
    options: _Options,
    scope: Scope,
    request: httpx.Request,
    task_group: TaskGroup,
    *,
    use_async: bool,
    owned: TaskGroup | None = None,
) -> _Exchange:
    """Create an exchange and run it until the response starts (or fails)."""
    exchange = _Exchange(options, scope, request, _BodySource(request.stream, use_async), owned)
    try:
        await exchange.start(task_group)
    except BaseException:
        await exchange.aclose()
        raise
    return exchange


class _SyncTransport(httpx.BaseTransport):
    """httpx transport that runs the ASGI app in an anyio blocking portal (an event loop thread)."""

    def __init__(self, runtime: _Runtime, backend: str, backend_options: dict[str, Any]) -> None:
        self._runtime = runtime
        self._backend = backend
        self._backend_options = backend_options

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        runtime = self._runtime
        _check_thread(self._backend)
        stack = ExitStack()
        try:
            portal, task_group, state = runtime.portal, runtime.task_group, runtime.state
            if portal is None or task_group is None:
                state = {}
                # NOTE: outside ``with`` each request gets its own portal, closed with the response.
                portal = stack.enter_context(
                    start_blocking_portal(self._backend, self._backend_options)
                )
                task_group = stack.enter_context(
                    portal.wrap_async_context_manager(_serve(runtime.options, {}, lifespan=False))
                )
            scope = _http_scope(request, runtime.options, state)
            exchange = portal.call(
                partial(
                    _open_exchange, runtime.options, scope, request, task_group, use_async=False
                )
            )
        except BaseException:
            stack.close()
            raise
        return _response(exchange, _SyncResponseStream(portal, exchange, stack))


class _ClientBase:
    """What both clients share: options, the lifespan state and the WebSocket seam."""

    #: Seconds an app gets to finish after an early close before it is cancelled.
    disconnect_grace: float = 1.0
    _runtime: _Runtime

    def _setup(
        self,
        app: ASGIApp,
        root_path: str,
        raise_server_exceptions: bool,
        client: tuple[str, int] | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Headers:
        options = _Options(app, root_path, client, raise_server_exceptions, self.disconnect_grace)
        self._runtime = _Runtime(options)
        merged = httpx.Headers({"user-agent": "testclient"})
        if headers is not None:
            merged.update(headers)
        return merged

    @property
    def app(self) -> ASGIApp:
        """The application under test."""
        return self._runtime.options.app

    @property
    def app_state(self) -> dict[str, Any]:
        """The lifespan ``state`` dict of the last session (each request scope gets a copy)."""
        return self._runtime.state

    def websocket_connect(self, url: str, subprotocols: list[str] | None = None) -> NoReturn:
        """Open a WebSocket session with the app (seam: not implemented yet).

        The WebSocket session will run on the same task group / portal as HTTP exchanges
        (``self._runtime``) with a scope built like :func:`_http_scope`.

        Args:
            url: The WebSocket URL or path.
            subprotocols: Subprotocols to offer.

        Raises:
            NotImplementedError: Always, until WebSocket support lands.
        """
        raise NotImplementedError("websocket_connect is not implemented yet.")


class AsyncTestClient(_ClientBase, httpx.AsyncClient):
    """An :class:`httpx.AsyncClient` that sends its requests to an ASGI app in-process.

    ``async with AsyncTestClient(app) as client`` runs the lifespan protocol around the block;
    without ``async with`` requests still work but no lifespan events are sent.

    Args:
        app: Any ASGI 3 application.
        base_url: Base URL of the requests; its host and port become the scope's ``server``.
        root_path: Reported as the scope's ``root_path`` (the request path is passed as sent).
        raise_server_exceptions: Re-raise app exceptions in the test (default). When False, an app
            failing before it starts its response produces a plain ``500`` response instead.
        client: The scope's ``client`` (host, port) pair.
        headers: Default headers added to every request (``user-agent: testclient`` by default).
        cookies: Initial cookies of the cookie jar.
        follow_redirects: Follow redirects by default.
    """

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        root_path: str = "",
        raise_server_exceptions: bool = True,
        client: tuple[str, int] | None = ("testclient", 50000),
        headers: Mapping[str, str] | None = None,
        cookies: httpx.Cookies | dict[str, str] | None = None,
        follow_redirects: bool = True,
    ) -> None:
        merged = self._setup(app, root_path, raise_server_exceptions, client, headers)
        self._session: AbstractAsyncContextManager[TaskGroup] | None = None
        super().__init__(
            base_url=base_url,
            headers=merged,
            cookies=cookies,
            follow_redirects=follow_redirects,
            transport=_AsyncTransport(self._runtime),
        )

    async def __aenter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("This AsyncTestClient is already running; it is not reentrant.")
        state: dict[str, Any] = {}
        session = _serve(self._runtime.options, state, lifespan=True)
        self._runtime.task_group = await session.__aenter__()
        self._runtime.state = state
        self._session = session
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        # NOTE: like Starlette's client, the httpx client stays usable after the block.
        session, self._session = self._session, None
        self._runtime.task_group = None
        if session is not None:
            await session.__aexit__(exc_type, exc_value, traceback)


class TestClient(_ClientBase, httpx.Client):
    """An :class:`httpx.Client` for sync tests; the app runs in an anyio blocking portal.

    ``with TestClient(app) as client`` runs the lifespan protocol around the block on one event loop
    thread for the whole session; without ``with`` each request runs on a fresh portal and no
    lifespan events are sent.

    Args:
        app: Any ASGI 3 application.
        base_url: Base URL of the requests; its host and port become the scope's ``server``.
        root_path: Reported as the scope's ``root_path`` (the request path is passed as sent).
        raise_server_exceptions: Re-raise app exceptions in the test (default). When False, an app
            failing before it starts its response produces a plain ``500`` response instead.
        client: The scope's ``client`` (host, port) pair.
        headers: Default headers added to every request (``user-agent: testclient`` by default).
        cookies: Initial cookies of the cookie jar.
        follow_redirects: Follow redirects by default.
        backend: ``"asyncio"`` or ``"trio"``: the event loop the app runs on.
        backend_options: Passed to :func:`anyio.run` (e.g. ``{"use_uvloop": True}``).
    """

    __test__ = False  # NOTE: keeps pytest from collecting this class where tests import it.

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        root_path: str = "",
        raise_server_exceptions: bool = True,
        client: tuple[str, int] | None = ("testclient", 50000),
        headers: Mapping[str, str] | None = None,
        cookies: httpx.Cookies | dict[str, str] | None = None,
        follow_redirects: bool = True,
        backend: Literal["asyncio", "trio"] = "asyncio",
        backend_options: dict[str, Any] | None = None,
    ) -> None:
        merged = self._setup(app, root_path, raise_server_exceptions, client, headers)
        self._stack: ExitStack | None = None
        self.backend = backend
        self.backend_options = dict(backend_options or {})
        super().__init__(
            base_url=base_url,
            headers=merged,
            cookies=cookies,
            follow_redirects=follow_redirects,
            transport=_SyncTransport(self._runtime, backend, self.backend_options),
        )

    @property
    def portal(self) -> BlockingPortal | None:
        """The blocking portal of the ``with`` session: runs coroutines on the app's event loop."""
        return self._runtime.portal

    def __enter__(self) -> Self:
        if self._stack is not None:
            raise RuntimeError("This TestClient is already running; it is not reentrant.")
        _check_thread(self.backend)
        stack = ExitStack()
        state: dict[str, Any] = {}
        try:
            portal = stack.enter_context(start_blocking_portal(self.backend, self.backend_options))
            serve: AbstractContextManager[TaskGroup] = portal.wrap_async_context_manager(
                _serve(self._runtime.options, state, lifespan=True)
            )
            task_group = stack.enter_context(serve)
        except BaseException:
            stack.close()
            raise
        self._runtime.portal = portal
        self._runtime.task_group = task_group
        self._runtime.state = state
        self._stack = stack
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        # NOTE: like Starlette's client, the httpx client stays usable after the block.
        stack, self._stack = self._stack, None
        self._runtime.portal = None
        self._runtime.task_group = None
        if stack is not None:
            stack.__exit__(exc_type, exc_value, traceback)
