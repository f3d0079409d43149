"""Middleware: pure ASGI on app/router/route, composition order, function middleware semantics."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from armature import App, Middleware, Request, Response, Router, StreamingResponse
from armature.middleware.function import CallNext
from armature.testing import AsyncTestClient, TestClient
from armature.types import ASGIApp, Message, Receive, Scope, Send


class Tag:
    """Appends its name to an ``x-trace`` response header."""

    def __init__(self, app: ASGIApp, name: str) -> None:
        self.app = app
        self.name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message["headers"])
                headers.append((b"x-trace", self.name.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, tagged)


def traces(response: Any) -> list[str]:
    return response.headers.get_list("x-trace")


def test_order_and_levels() -> None:
    app = App(middleware=[Middleware(Tag, name="app-first"), Middleware(Tag, name="app-second")])
    app.add_middleware(Tag, name="app-added")
    router = Router(prefix="/r", middleware=[Middleware(Tag, name="router")])

    @router.get("/x", middleware=[Middleware(Tag, name="route")])
    async def x() -> str:
        return "x"

    @app.get("/plain")
    async def plain() -> str:
        return "plain"

    app.include_router(router)
    with TestClient(app) as client:
        # headers are appended on the way out: innermost first
        assert traces(client.get("/r/x")) == [
            "route",
            "router",
            "app-second",
            "app-first",
            "app-added",
        ]
        assert traces(client.get("/plain")) == ["app-second", "app-first", "app-added"]
        assert traces(client.get("/missing")) == ["app-second", "app-first", "app-added"]


def test_route_without_middleware_has_no_wrapper() -> None:
    app = App()

    @app.get("/x")
    async def x() -> str:
        return "x"

    app.compile()
    route = app.compiled_routes[0]
    assert route.endpoint is route.plan.endpoint


request_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_var", default="unset")


def make_function_app() -> tuple[App, list[str]]:
    log: list[str] = []
    app = App()

    @app.middleware("http")
    async def timing(request: Request, call_next: CallNext) -> Response:
        request_var.set("from-middleware")
        response = await call_next(request)
        response.headers["x-seen-var"] = request_var.get()
        log.append(f"status {response.status_code}")
        return response

    @app.get("/var")
    async def var() -> dict:
        inherited = request_var.get()
        request_var.set("from-endpoint")
        return {"inherited": inherited}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"chunk{i};".encode()
                await anyio.sleep(0)

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        return Response(await request.body())

    return app, log


def test_function_middleware_contextvars_flow_both_ways() -> None:
    app, log = make_function_app()
    with TestClient(app) as client:
        response = client.get("/var")
    assert response.json() == {"inherited": "from-middleware"}
    assert response.headers["x-seen-var"] == "from-endpoint"
    assert log == ["status 200"]


def test_function_middleware_streams_without_buffering() -> None:
    app, _ = make_function_app()
    with TestClient(app) as client, client.stream("GET", "/stream") as response:
        chunks = list(response.iter_bytes())
    assert b"".join(chunks) == b"chunk0;chunk1;chunk2;"


def test_function_middleware_body_read_is_replayed() -> None:
    app = App()

    @app.middleware
    async def reads_body(request: Request, call_next: CallNext) -> Response:
        body = await request.body()
        response = await call_next(request)
        response.headers["x-body-length"] = str(len(body))
        return response

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        return Response(await request.body())

    with TestClient(app) as client:
        response = client.post("/echo", content=b"hello")
    assert response.content == b"hello"
    assert response.headers["x-body-length"] == "5"


def test_function_middleware_can_short_circuit_and_catch() -> None:
    app = App()

    @app.middleware
    async def guard(request: Request, call_next: CallNext) -> Response:
        if request.headers.get("x-block"):
            return Response("blocked", status_code=403)
        try:
            return await call_next(request)
        except RuntimeError as exc:
            return Response(f"caught {exc}", status_code=502)

    @app.get("/ok")
    async def ok() -> str:
        return "ok"

    @app.get("/fail")
    async def fail() -> None:
        raise RuntimeError("upstream")

    async def raw_fail(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("raw app")

    app.mount("/raw", raw_fail)
    with TestClient(app) as client:
        assert client.get("/ok", headers={"x-block": "1"}).status_code == 403
        assert client.get("/ok").text == "ok"
        assert client.get("/fail").status_code == 500
        caught = client.get("/raw/x")
        assert (caught.status_code, caught.text) == (502, "caught raw app")


@pytest.mark.anyio
async def test_function_middleware_disconnect_reaches_endpoint() -> None:
    app = App()
    seen: list[str] = []

    @app.middleware
    async def passthrough(request: Request, call_next: CallNext) -> Response:
        return await call_next(request)

    @app.get("/wait")
    async def wait(request: Request) -> str:
        message = await request.receive()
        seen.append(message["type"])
        return "done"

    messages = [{"type": "http.disconnect"}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/wait", "headers": [], "query_string": b""}
    await app(scope, receive, send)
    assert seen == ["http.disconnect"]
    assert sent[0]["status"] == 200


@pytest.mark.anyio
async def test_function_middleware_with_async_client() -> None:
    app, _ = make_function_app()
    async with AsyncTestClient(app) as client:
        response = await client.get("/stream")
    assert response.text == "chunk0;chunk1;chunk2;"
