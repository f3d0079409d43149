"""In-process test clients for any ASGI 3 app: :class:`TestClient` and :class:`AsyncTestClient`.

Both are real :mod:`httpx` clients whose transport calls the application directly, without a
socket. The bridge uses httpx's public transport API and does not buffer: a streamed response is
readable while the application is still producing it, and closing it early delivers
``http.disconnect`` to the application. ``with TestClient(app)`` / ``async with
AsyncTestClient(app)`` also run the ASGI lifespan protocol around the block.

``client.websocket_connect(path)`` opens an in-process websocket session (``with`` on
:class:`TestClient`, ``async with`` on :class:`AsyncTestClient`): a refused handshake raises
:class:`WebSocketDenied`, a close from the app raises
:class:`~armature.websockets.WebSocketDisconnect` on receive.

Install with ``pip install armature[testing]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager, ExitStack
from functools import partial
from types import TracebackType
from typing import Any, Literal, Self

import anyio
import orjson
from anyio.abc import TaskGroup
from anyio.from_thread import BlockingPortal, start_blocking_portal

from armature.types import ASGIApp, Message, Scope

try:
    import httpx
except ModuleNotFoundError as _exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "armature.testing needs httpx; install it with: pip install armature[testing]"
    ) from _exc

from armature._testclient import (
    ClientDisconnected,
    Exchange,
    LifespanFailed,
    Options,
    Runtime,
    http_scope,
    open_exchange,
    serve,
)
from armature._testclient_ws import (
    WebSocketConnection,
    WebSocketDenied,
    open_websocket,
    websocket_scope,
)
from armature.websockets import WebSocketDisconnect

__all__ = [
    "AsyncTestClient",
    "AsyncWebSocketSession",
    "ClientDisconnected",
    "LifespanFailed",
    "TestClient",
    "WebSocketDenied",
    "WebSocketDisconnect",
    "WebSocketSession",
]

QueryParams = Mapping[str, Any] | httpx.QueryParams | str | None


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
    exchange: Exchange, stream: httpx.SyncByteStream | httpx.AsyncByteStream
) -> httpx.Response:
    return httpx.Response(
        exchange.status,
        headers=exchange.headers,
        stream=stream,
        extensions={"http_version": b"HTTP/1.1"},
    )


class _AsyncResponseStream(httpx.AsyncByteStream):
    __slots__ = ("_exchange",)

    def __init__(self, exchange: Exchange) -> None:
        self._exchange = exchange

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self._exchange.next_chunk()) is not None:
            yield chunk

    async def aclose(self) -> None:
        await self._exchange.aclose()


class _SyncResponseStream(httpx.SyncByteStream):
    __slots__ = ("_exchange", "_portal", "_stack")

    def __init__(self, portal: BlockingPortal, exchange: Exchange, stack: ExitStack) -> None:
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

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        runtime = self._runtime
        options = runtime.options
        task_group = runtime.task_group
        owned: TaskGroup | None = None
        scope = http_scope(request, options, runtime.state if task_group else {})
        if task_group is None:
            # NOTE: outside ``async with`` each request gets its own task group, entered here and
            # exited when the response closes (same task, as httpx always does).
            owned = anyio.create_task_group()
            task_group = await owned.__aenter__()
        exchange = await open_exchange(
            options, scope, request, task_group, use_async=True, owned=owned
        )
        return _response(exchange, _AsyncResponseStream(exchange))


class _SyncTransport(httpx.BaseTransport):
    """httpx transport that runs the ASGI app in an anyio blocking portal (an event loop thread)."""

    def __init__(self, runtime: Runtime, backend: str, backend_options: dict[str, Any]) -> None:
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
                    portal.wrap_async_context_manager(serve(runtime.options, {}, lifespan=False))
                )
            scope = http_scope(request, runtime.options, state)
            exchange = portal.call(
                partial(open_exchange, runtime.options, scope, request, task_group, use_async=False)
            )
        except BaseException:
            stack.close()
            raise
        return _response(exchange, _SyncResponseStream(portal, exchange, stack))


class _ClientBase:
    """What both clients share: options, the lifespan state and the WebSocket seam."""

    #: Seconds an app gets to finish after an early close before it is cancelled.
    disconnect_grace: float = 1.0
    _runtime: Runtime

    def _setup(
        self,
        app: ASGIApp,
        root_path: str,
        raise_server_exceptions: bool,
        client: tuple[str, int] | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Headers:
        options = Options(app, root_path, client, raise_server_exceptions, self.disconnect_grace)
        self._runtime = Runtime(options)
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

    def _handshake_scope(
        self,
        url: str,
        subprotocols: Sequence[str] | None,
        headers: Mapping[str, str] | None,
        params: QueryParams,
        state: Mapping[str, Any],
    ) -> Scope:
        # NOTE: built like an HTTP request, so base_url, default headers, cookies and params apply.
        assert isinstance(self, httpx.Client | httpx.AsyncClient)
        request = self.build_request("GET", url, params=params, headers=headers)
        return websocket_scope(request, self._runtime.options, state, subprotocols or ())


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

    def websocket_connect(
        self,
        url: str,
        subprotocols: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        params: QueryParams = None,
    ) -> AsyncWebSocketSession:
        """Open a websocket session with the app: ``async with client.websocket_connect(...)``.

        Args:
            url: The path (or a full ``ws://``/``http://`` URL); ``base_url`` applies.
            subprotocols: Subprotocols to offer (``Sec-WebSocket-Protocol``).
            headers: Extra handshake headers (the client's default headers and cookies apply).
            params: Query parameters.

        Returns:
            The session; the handshake runs when the ``async with`` block is entered.
        """
        return AsyncWebSocketSession(self, url, subprotocols, headers, params)

    async def __aenter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("This AsyncTestClient is already running; it is not reentrant.")
        state: dict[str, Any] = {}
        session = serve(self._runtime.options, state, lifespan=True)
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

    def websocket_connect(
        self,
        url: str,
        subprotocols: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        params: QueryParams = None,
    ) -> WebSocketSession:
        """Open a websocket session with the app: ``with client.websocket_connect(...) as ws``.

        Args:
            url: The path (or a full ``ws://``/``http://`` URL); ``base_url`` applies.
            subprotocols: Subprotocols to offer (``Sec-WebSocket-Protocol``).
            headers: Extra handshake headers (the client's default headers and cookies apply).
            params: Query parameters.

        Returns:
            The session; the handshake runs when the ``with`` block is entered.
        """
        return WebSocketSession(self, url, subprotocols, headers, params)

    def __enter__(self) -> Self:
        if self._stack is not None:
            raise RuntimeError("This TestClient is already running; it is not reentrant.")
        _check_thread(self.backend)
        stack = ExitStack()
        state: dict[str, Any] = {}
        try:
            portal = stack.enter_context(start_blocking_portal(self.backend, self.backend_options))
            session: AbstractContextManager[TaskGroup] = portal.wrap_async_context_manager(
                serve(self._runtime.options, state, lifespan=True)
            )
            task_group = stack.enter_context(session)
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


# -- websocket sessions -----------------------------------------------------------------------


def _text(message: Message) -> str:
    text = message.get("text")
    if text is None:
        raise TypeError("expected a text message, got a binary one")
    return str(text)


def _bytes(message: Message) -> bytes:
    data = message.get("bytes")
    if data is None:
        raise TypeError("expected a binary message, got a text one")
    return bytes(data)


def _json(message: Message, mode: Literal["text", "binary"]) -> Any:
    raw = _text(message) if mode == "text" else _bytes(message)
    return orjson.loads(raw)


def _frame(data: str | bytes) -> Message:
    if isinstance(data, str):
        return {"type": "websocket.receive", "text": data}
    return {"type": "websocket.receive", "bytes": bytes(data)}


class _SessionBase:
    """What both websocket sessions share: the connection and what the handshake returned."""

    _connection: WebSocketConnection | None

    def _conn(self) -> WebSocketConnection:
        if self._connection is None:
            raise RuntimeError("use the websocket session as a context manager (with/async with)")
        return self._connection

    @property
    def accepted_subprotocol(self) -> str | None:
        """The subprotocol the app chose in ``websocket.accept`` (``None`` if none)."""
        return self._conn().accepted_subprotocol

    @property
    def extra_headers(self) -> httpx.Headers:
        """The extra handshake response headers the app sent with ``websocket.accept``."""
        return httpx.Headers(self._conn().extra_headers)


class AsyncWebSocketSession(_SessionBase):
    """An in-process websocket session of :class:`AsyncTestClient` (``async with`` it).

    Raises:
        WebSocketDenied: On entering, when the app refuses the handshake.
    """

    def __init__(
        self,
        client: AsyncTestClient,
        url: str,
        subprotocols: Sequence[str] | None,
        headers: Mapping[str, str] | None,
        params: QueryParams,
    ) -> None:
        self._client = client
        self._args = (url, subprotocols, headers, params)
        self._connection = None

    async def __aenter__(self) -> Self:
        if self._connection is not None:
            raise RuntimeError("this websocket session was already opened")
        runtime = self._client._runtime
        task_group = runtime.task_group
        owned: TaskGroup | None = None
        state = runtime.state if task_group is not None else {}
        scope = self._client._handshake_scope(*self._args, state)
        if task_group is None:
            # NOTE: outside ``async with client`` the session owns a task group, exited on close.
            owned = anyio.create_task_group()
            task_group = await owned.__aenter__()
        self._connection = await open_websocket(runtime.options, scope, task_group, owned)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self._conn().aclose()

    async def send(self, message: Message) -> None:
        """Send a raw ``websocket.receive`` message to the app."""
        await self._conn().send(message)

    async def send_text(self, data: str) -> None:
        """Send a text frame."""
        await self._conn().send(_frame(data))

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary frame."""
        await self._conn().send(_frame(bytes(data)))

    async def send_json(self, data: Any, mode: Literal["text", "binary"] = "text") -> None:
        """Send ``data`` as JSON, in a text frame (or a binary one with ``mode="binary"``)."""
        encoded = orjson.dumps(data)
        await self._conn().send(_frame(encoded.decode() if mode == "text" else encoded))

    async def receive(self, timeout: float | None = None) -> Message:
        """Receive the app's next message: ``{"type": "websocket.send", "text"|"bytes": ...}``.

        Args:
            timeout: Seconds to wait before ``TimeoutError`` (forever by default).

        Raises:
            WebSocketDisconnect: The app closed the connection (``code``, ``reason``).
        """
        with anyio.fail_after(timeout):
            return await self._conn().receive()

    async def receive_text(self, timeout: float | None = None) -> str:
        """Receive a text frame (``TypeError`` for a binary one)."""
        return _text(await self.receive(timeout))

    async def receive_bytes(self, timeout: float | None = None) -> bytes:
        """Receive a binary frame (``TypeError`` for a text one)."""
        return _bytes(await self.receive(timeout))

    async def receive_json(
        self, mode: Literal["text", "binary"] = "text", timeout: float | None = None
    ) -> Any:
        """Receive a JSON message from a text frame (or a binary one with ``mode="binary"``)."""
        return _json(await self.receive(timeout), mode)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection (the app receives ``websocket.disconnect``) and wait for the app.

        Args:
            code: The close code.
            reason: The close reason.
        """
        await self._conn().close(code, reason)


class WebSocketSession(_SessionBase):
    """An in-process websocket session of :class:`TestClient` (``with`` it).

    Raises:
        WebSocketDenied: On entering, when the app refuses the handshake.
    """

    __test__ = False

    def __init__(
        self,
        client: TestClient,
        url: str,
        subprotocols: Sequence[str] | None,
        headers: Mapping[str, str] | None,
        params: QueryParams,
    ) -> None:
        self._client = client
        self._args = (url, subprotocols, headers, params)
        self._connection = None
        self._portal: BlockingPortal | None = None
        self._stack = ExitStack()

    def __enter__(self) -> Self:
        if self._connection is not None:
            raise RuntimeError("this websocket session was already opened")
        client = self._client
        _check_thread(client.backend)
        runtime = client._runtime
        stack = self._stack
        try:
            portal, task_group, state = runtime.portal, runtime.task_group, runtime.state
            if portal is None or task_group is None:
                state = {}
                # NOTE: outside ``with client`` the session runs on its own portal.
                portal = stack.enter_context(
                    start_blocking_portal(client.backend, client.backend_options)
                )
                task_group = stack.enter_context(
                    portal.wrap_async_context_manager(serve(runtime.options, {}, lifespan=False))
                )
            scope = client._handshake_scope(*self._args, state)
            connection = portal.call(open_websocket, runtime.options, scope, task_group)
        except BaseException:
            stack.close()
            raise
        self._portal = portal
        self._connection = connection
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        try:
            self._call(self._conn().aclose)
        finally:
            self._stack.close()

    def _call(self, func: Any, *args: Any) -> Any:
        portal = self._portal
        if portal is None:
            raise RuntimeError("use the websocket session as a context manager (with)")
        return portal.call(func, *args)

    def send(self, message: Message) -> None:
        """Send a raw ``websocket.receive`` message to the app."""
        self._call(self._conn().send, message)

    def send_text(self, data: str) -> None:
        """Send a text frame."""
        self._call(self._conn().send, _frame(data))

    def send_bytes(self, data: bytes) -> None:
        """Send a binary frame."""
        self._call(self._conn().send, _frame(bytes(data)))

    def send_json(self, data: Any, mode: Literal["text", "binary"] = "text") -> None:
        """Send ``data`` as JSON, in a text frame (or a binary one with ``mode="binary"``)."""
        encoded = orjson.dumps(data)
        self._call(self._conn().send, _frame(encoded.decode() if mode == "text" else encoded))

    def receive(self, timeout: float | None = None) -> Message:
        """Receive the app's next message: ``{"type": "websocket.send", "text"|"bytes": ...}``.

        Args:
            timeout: Seconds to wait before ``TimeoutError`` (forever by default).

        Raises:
            WebSocketDisconnect: The app closed the connection (``code``, ``reason``).
        """
        connection = self._conn()

        async def receive() -> Message:
            with anyio.fail_after(timeout):
                return await connection.receive()

        message: Message = self._call(receive)
        return message

    def receive_text(self, timeout: float | None = None) -> str:
        """Receive a text frame (``TypeError`` for a binary one)."""
        return _text(self.receive(timeout))

    def receive_bytes(self, timeout: float | None = None) -> bytes:
        """Receive a binary frame (``TypeError`` for a text one)."""
        return _bytes(self.receive(timeout))

    def receive_json(
        self, mode: Literal["text", "binary"] = "text", timeout: float | None = None
    ) -> Any:
        """Receive a JSON message from a text frame (or a binary one with ``mode="binary"``)."""
        return _json(self.receive(timeout), mode)

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection (the app receives ``websocket.disconnect``) and wait for the app.

        Args:
            code: The close code.
            reason: The close reason.
        """
        self._call(self._conn().close, code, reason)
