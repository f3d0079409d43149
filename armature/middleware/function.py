"""Function-form middleware: ``async def mw(request, call_next) -> Response``.

``call_next(request)`` runs the rest of the app *in the current task*, stepping its coroutine until
it sends ``http.response.start``, and returns a response that, when sent, resumes that same
coroutine so its body flows straight to the server. Consequences, and the reasons for this design:

- context variables set by the endpoint are visible to the middleware after ``call_next`` (no
  child task with a copied context, the known pitfall of Starlette's ``BaseHTTPMiddleware``);
- streaming responses are not buffered: the body is sent chunk by chunk as the endpoint yields it;
- the endpoint receives the server's own ``receive``, so ``http.disconnect`` reaches it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
from typing import Any

from armature.datastructures import MutableHeaders
from armature.requests import Request
from armature.responses import Response
from armature.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CallNext", "FunctionMiddleware", "StreamedResponse"]


class _Outbound:
    """Yielded up the coroutine chain by the inner ``send``: seen only by our own stepper."""

    __slots__ = ("message",)

    def __init__(self, message: Message) -> None:
        self.message = message

    def __await__(self) -> Generator[Any, Any, None]:
        yield self


class _Inner:
    """The rest of the app, run as a coroutine we step ourselves."""

    __slots__ = ("coro", "done", "passthrough", "send")

    def __init__(self) -> None:
        self.coro: Coroutine[Any, Any, None] | None = None
        self.done = False
        self.passthrough: Send | None = None

    async def inner_send(self, message: Message) -> None:
        if self.passthrough is not None:
            await self.passthrough(message)
        else:
            await _Outbound(message)

    def step(self) -> _Step:
        return _Step(self)


class _Step:
    """Await: run the inner coroutine until it sends a message (returned) or ends (None)."""

    __slots__ = ("inner",)

    def __init__(self, inner: _Inner) -> None:
        self.inner = inner

    def __await__(self) -> Generator[Any, Any, Message | None]:
        coro = self.inner.coro
        assert coro is not None
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                if error is not None:
                    yielded = coro.throw(error)
                    error = None
                else:
                    yielded = coro.send(value)
            except StopIteration:
                self.inner.done = True
                return None
            except BaseException:
                self.inner.done = True
                raise
            if isinstance(yielded, _Outbound):
                return yielded.message
            # NOTE: anything else is the event loop's business (an asyncio future, a trio trap):
            # pass it up unchanged and hand the loop's answer (or exception) back down.
            try:
                value = yield yielded
            except BaseException as exc:
                error = exc
                value = None


class StreamedResponse(Response):
    """The response ``call_next`` returns: status and headers are known, the body is still coming.

    Edit ``status_code`` or ``headers`` before returning it. Iterating ``body_iterator`` consumes
    the body chunk by chunk (to rewrite it, return a new response built from the chunks).
    """

    __slots__ = ("_inner", "_pending", "_start")

    def __init__(self, inner: _Inner, start: Message) -> None:
        self._inner = inner
        self._start = start
        self._pending: list[Message] = []
        self.status_code = int(start["status"])
        self.raw_headers = list(start.get("headers", []))
        self.media_type = None
        self.background = None
        self.body = b""

    @property
    def headers(self) -> MutableHeaders:
        """The response headers, editable."""
        return MutableHeaders(self.raw_headers)

    @property
    def body_iterator(self) -> AsyncIterator[bytes]:
        """The body chunks, read from the endpoint as it produces them."""
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while not self._inner.done:
            message = await self._inner.step()
            if message is None:
                break
            if message["type"] == "http.response.body":
                yield message.get("body", b"")
                if not message.get("more_body", False):
                    break
            elif message["type"] == "http.response.pathsend":
                import anyio

                async with await anyio.open_file(message["path"], "rb") as handle:
                    yield await handle.read()
                break

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = dict(self._start)
        start["status"] = self.status_code
        start["headers"] = self.raw_headers
        await send(start)
        if self._inner.done:
            return
        # PERF: from here the endpoint writes straight to the server's send, in its own stack.
        self._inner.passthrough = send
        while not self._inner.done:
            await self._inner.step()


class CallNext:
    """The ``call_next`` given to a function middleware: call it once with the request."""

    __slots__ = ("_app", "_inner", "_receive", "_scope")

    def __init__(self, app: ASGIApp, scope: Scope, receive: Receive) -> None:
        self._app = app
        self._scope = scope
        self._receive = receive
        self._inner: _Inner | None = None

    async def __call__(self, request: Request) -> Response:
        if self._inner is not None:
            raise RuntimeError("call_next() may only be called once")
        inner = self._inner = _Inner()
        receive = self._receive
        cached = request._body
        if cached is not None:
            replayed = False

            async def replay_receive() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": cached, "more_body": False}
                return await self._receive()

            receive = replay_receive
        inner.coro = self._app(request.scope, receive, inner.inner_send)  # type: ignore[assignment]
        message = await inner.step()
        if message is None:
            raise RuntimeError("the application returned without sending a response")
        if message["type"] != "http.response.start":
            raise RuntimeError(f"expected http.response.start, got {message['type']!r}")
        return StreamedResponse(inner, message)

    def close(self) -> None:
        """Close the inner coroutine if the middleware never sent its response."""
        inner = self._inner
        if inner is not None and not inner.done and inner.coro is not None:
            inner.done = True
            inner.coro.close()


Dispatch = Callable[[Request, CallNext], Awaitable[Response]]


class FunctionMiddleware:
    """Pure ASGI middleware running ``dispatch(request, call_next)`` for http requests.

    Args:
        app: The wrapped app.
        dispatch: ``async def dispatch(request, call_next) -> Response``.
        armature_app: The application the requests belong to (for ``request.url_for``).
    """

    __slots__ = ("app", "armature_app", "dispatch")

    def __init__(self, app: ASGIApp, dispatch: Dispatch, armature_app: Any = None) -> None:
        self.app = app
        self.dispatch = dispatch
        self.armature_app = armature_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        call_next = CallNext(self.app, scope, receive)
        try:
            request = Request(scope, receive, app=self.armature_app)
            response = await self.dispatch(request, call_next)
            await response(scope, receive, send)
        finally:
            call_next.close()
