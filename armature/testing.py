"""In-process test clients for any ASGI 3 app: :class:`TestClient` and :class:`AsyncTestClient`.

Both are real :mod:`httpx` clients whose transport calls the application directly, without a
socket. The bridge uses httpx's public transport API and does not buffer: a streamed response is
readable while the application is still producing it, and closing it early delivers
``http.disconnect`` to the application. ``with TestClient(app)`` / ``async with
AsyncTestClient(app)`` also run the ASGI lifespan protocol around the block.

Install with ``pip install armature[testing]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager, ExitStack
from functools import partial
from types import TracebackType
from typing import Any, Literal, NoReturn, Self

import anyio
from anyio.abc import TaskGroup
from anyio.from_thread import BlockingPortal, start_blocking_portal

from armature.types import ASGIApp

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

__all__ = ["AsyncTestClient", "ClientDisconnected", "LifespanFailed", "TestClient"]


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

    def websocket_connect(self, url: str, subprotocols: list[str] | None = None) -> NoReturn:
        """Open a WebSocket session with the app (seam: not implemented yet).

        The WebSocket session will run on the same task group / portal as HTTP exchanges
        (``self._runtime``) with a scope built like :func:`http_scope`.

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
