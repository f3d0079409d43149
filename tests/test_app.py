"""The App: lifespan, errors, exception handlers, mounting both ways, state, websocket refusal."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse as StarlettePlainText
from starlette.routing import Mount as StarletteMount
from starlette.routing import Route as StarletteRoute

from armature import App, HTTPException, JSONResponse, Request
from armature.exceptions import NotFound, Unauthorized
from armature.testing import AsyncTestClient, LifespanFailed, TestClient


def test_lifespan_hooks_and_state() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        events.append("enter")
        yield {"db": "connected"}
        events.append("exit")

    app = App(
        lifespan=lifespan,
        on_startup=[lambda: events.append("startup")],
        on_shutdown=[lambda: events.append("shutdown")],
    )

    @app.get("/db")
    async def db(request: Request) -> dict:
        return {"db": request.state.db}

    with TestClient(app) as client:
        assert events == ["startup", "enter"]
        assert client.get("/db").json() == {"db": "connected"}
    assert events == ["startup", "enter", "exit", "shutdown"]


def test_startup_failure_is_reported() -> None:
    async def boom() -> None:
        raise RuntimeError("database unreachable")

    app = App(on_startup=[boom])
    with pytest.raises(LifespanFailed, match="database unreachable"), TestClient(app):
        pass


def test_route_errors_fail_startup_not_requests() -> None:
    app = App()

    @app.get("/x")
    async def handler(q: UndefinedType) -> None:  # type: ignore[name-defined]  # noqa: F821
        return None

    with pytest.raises(LifespanFailed, match="route GET /x"), TestClient(app):
        pass


def test_http_exception_is_problem_json() -> None:
    app = App()

    @app.get("/secret")
    async def secret() -> None:
        raise Unauthorized("token missing", headers={"WWW-Authenticate": 'Bearer realm="api"'})

    @app.get("/custom")
    async def custom() -> None:
        raise HTTPException(
            409,
            "already exists",
            type="https://example.com/conflict",
            extensions={"resource": "user"},
        )

    with TestClient(app) as client:
        response = client.get("/secret")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="api"'
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == {
            "type": "about:blank",
            "title": "Unauthorized",
            "status": 401,
            "detail": "token missing",
            "instance": "/secret",
        }
        body = client.get("/custom").json()
        assert body["type"] == "https://example.com/conflict"
        assert body["resource"] == "user"
        assert body["status"] == 409


def test_unhandled_errors_are_500_without_internals_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()

    @app.get("/crash")
    async def crash() -> None:
        raise ValueError("secret internal detail")

    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        response = client.get("/crash")
    assert response.status_code == 500
    assert "secret internal detail" not in response.text
    assert response.json()["title"] == "Internal Server Error"
    assert any("secret internal detail" in (r.exc_text or str(r.exc_info)) for r in caplog.records)


def test_debug_shows_details() -> None:
    app = App(debug=True)

    @app.get("/crash")
    async def crash() -> None:
        raise ValueError("visible in debug")

    with TestClient(app, raise_server_exceptions=False) as client:
        body = client.get("/crash").json()
    assert "visible in debug" in body["detail"]
    assert body["traceback"]


def test_exception_handlers_by_class_and_status() -> None:
    class OutOfStock(Exception):
        pass

    app = App()

    @app.exception_handler(OutOfStock)
    async def out_of_stock(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": "out of stock", "path": request.path}, status_code=409)

    @app.exception_handler(404)
    def not_found(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"missing": request.path}, status_code=404)

    @app.get("/buy")
    async def buy() -> None:
        raise OutOfStock()

    @app.get("/gone")
    async def gone() -> None:
        raise NotFound("no such thing")

    with TestClient(app) as client:
        assert client.get("/buy").json() == {"error": "out of stock", "path": "/buy"}
        assert client.get("/gone").json() == {"missing": "/gone"}
        assert client.get("/unrouted").json() == {"missing": "/unrouted"}


def test_armature_mounted_inside_starlette_honours_root_path() -> None:
    inner = App()

    @inner.get("/users/{uid:int}", name="user")
    async def user(uid: int, request: Request) -> dict:
        return {
            "uid": uid,
            "path": request.path,
            "root": request.root_path,
            "url": str(request.url_for("user", uid=uid)),
        }

    outer = Starlette(routes=[StarletteMount("/api", app=inner)])
    with TestClient(outer) as client:
        body = client.get("/api/users/5").json()
    assert body["uid"] == 5
    assert body["path"] == "/users/5"
    assert body["root"] == "/api"
    assert body["url"].endswith("/api/users/5")


def test_starlette_mounted_inside_armature() -> None:
    async def hello(request: Any) -> StarlettePlainText:
        return StarlettePlainText(f"starlette at {request.url.path}")

    legacy = Starlette(routes=[StarletteRoute("/hello", hello)])
    app = App()
    app.mount("/legacy", legacy, name="legacy")

    @app.get("/native")
    async def native() -> str:
        return "armature"

    with TestClient(app) as client:
        assert client.get("/legacy/hello").text == "starlette at /legacy/hello"
        assert client.get("/native").text == "armature"
        assert client.get("/legacy/missing").status_code == 404
    assert app.url_path_for("legacy", path="/hello") == "/legacy/hello"


def test_armature_in_armature_mount_and_server_root_path() -> None:
    inner = App()

    @inner.get("/ping")
    async def ping(request: Request) -> dict:
        return {"root": request.root_path, "path": request.path}

    outer = App()
    outer.mount("/v2", inner)
    with TestClient(outer) as client:
        assert client.get("/v2/ping").json() == {"root": "/v2", "path": "/ping"}
    with TestClient(outer, root_path="/prefix") as client:
        assert client.get("/prefix/v2/ping").json() == {"root": "/prefix/v2", "path": "/ping"}


def test_app_state_is_copy_on_write() -> None:
    app = App(state={"version": 1})
    snapshot = app.state.snapshot()
    app.state.version = 2
    app.state.update(flag=True, version=3)
    assert snapshot["version"] == 1
    assert (app.state.version, app.state.flag) == (3, True)

    def writer(n: int) -> None:
        for _ in range(200):
            app.state.replace(lambda d: {**d, "count": d.get("count", 0) + 1})

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert app.state.count == 800


@pytest.mark.anyio
async def test_async_client_and_websocket_refusal() -> None:
    app = App()

    @app.get("/")
    async def index() -> str:
        return "ok"

    async with AsyncTestClient(app) as client:
        assert (await client.get("/")).text == "ok"

    sent: list[dict[str, Any]] = []
    messages = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "websocket", "path": "/", "headers": []}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_middleware_cannot_be_added_after_start() -> None:
    app = App()
    app.compile()
    with pytest.raises(RuntimeError, match="after the application has started"):
        app.add_middleware(lambda a: a)
