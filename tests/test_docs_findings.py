"""Core behaviours found wrong while writing the docs, pinned as strict xfails for the lead.

Each test states the documented (intended) behaviour. When the core is fixed the test starts
passing, ``strict=True`` turns that into a failure, and the marker (and the "Known issue" note on
the docs page named in the reason) must be removed.
"""

from __future__ import annotations

import pytest

from armature import (
    App,
    HTTPException,
    JSONResponse,
    Middleware,
    Request,
    Response,
    Router,
)
from armature.exceptions import Unauthorized
from armature.middleware import CallNext
from armature.testing import TestClient
from armature.types import ASGIApp, Receive, Scope, Send


class RequireToken:
    """Route-level middleware that refuses requests without the right bearer token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (b"authorization", b"Bearer t") not in scope["headers"]:
            raise Unauthorized("token required")
        await self.app(scope, receive, send)


class Crash:
    """Route-level middleware that fails."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("middleware bug")


def _app_with_router_middleware(middleware: Middleware) -> App:
    app = App()
    admin = Router("/admin", middleware=[middleware])

    @admin.get("/stats")
    async def stats() -> dict[str, int]:
        return {"users": 1}

    app.include_router(admin)
    return app


@pytest.mark.xfail(
    strict=True,
    reason="core: an HTTPException raised by router/route middleware escapes to the server "
    "(plain 500) unless the app has app-level middleware (App._error_guard is only applied "
    "when app_middleware is non-empty); docs/middleware.md notes it as a known issue",
)
def test_http_exception_from_router_middleware_is_a_problem_response() -> None:
    app = _app_with_router_middleware(Middleware(RequireToken))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/admin/stats")
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "token required"
        ok = client.get("/admin/stats", headers={"authorization": "Bearer t"})
        assert ok.json() == {"users": 1}


def test_http_exception_from_router_middleware_with_app_middleware_present() -> None:
    # The same middleware works once any app-level middleware exists: the contrast above.
    app = _app_with_router_middleware(Middleware(RequireToken))
    app.add_middleware(lambda inner: inner)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/admin/stats")
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.xfail(
    strict=True,
    reason="core: an unexpected exception raised by router/route middleware escapes to the "
    "server (plain-text 500) instead of a problem+json 500 when the app has no app-level "
    "middleware",
)
def test_error_in_route_middleware_is_a_problem_500() -> None:
    app = _app_with_router_middleware(Middleware(Crash))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/admin/stats")
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.xfail(
    strict=True,
    reason="core: a route declared after the app has started is silently ignored (404); "
    "add_middleware raises RuntimeError in that case, add_route/get/post should too",
)
def test_route_declared_after_startup_is_refused_or_served() -> None:
    app = App()

    @app.get("/early")
    async def early() -> str:
        return "early"

    with TestClient(app) as client:
        assert client.get("/early").text == "early"
        try:

            @app.get("/late")
            async def late() -> str:
                return "late"

        except RuntimeError:
            return  # refusing the late declaration is the fix add_middleware already has
        assert client.get("/late").status_code == 200


@pytest.mark.xfail(
    strict=True,
    reason="core: Router.add_middleware on an included router after startup is silently ignored "
    "(App.add_middleware raises RuntimeError in that case)",
)
def test_router_middleware_added_after_startup_is_refused_or_applied() -> None:
    app = App()
    api = Router("/api")

    @api.get("/x")
    async def x() -> str:
        return "x"

    app.include_router(api)
    with TestClient(app) as client:
        assert client.get("/api/x").text == "x"
        try:
            api.add_middleware(Crash)
        except RuntimeError:
            return
        assert client.get("/api/x").status_code == 500


@pytest.mark.xfail(
    strict=True,
    reason="core: the router's own 404 (no route matched) only consults a handler registered for "
    "status 404, not one registered for HTTPException (App._not_found); raised HTTPExceptions do "
    "reach it; docs/errors.md notes it as a known issue",
)
def test_routing_404_uses_the_http_exception_handler() -> None:
    app = App()

    @app.exception_handler(HTTPException)
    async def any_http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.status_code}, exc.status_code)

    with TestClient(app) as client:
        response = client.get("/nowhere")
        assert (response.status_code, response.json()) == (404, {"error": 404})


@pytest.mark.xfail(
    strict=True,
    reason="core: the router's own 405 is a pre-built responder that never consults exception "
    "handlers (neither a 405 status handler nor an HTTPException handler); docs/errors.md notes "
    "it as a known issue",
)
def test_routing_405_uses_a_405_handler() -> None:
    app = App()

    @app.exception_handler(405)
    async def not_allowed(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": "wrong method"}, 405, headers=exc.headers)

    @app.get("/only-get")
    async def only_get() -> str:
        return "ok"

    with TestClient(app) as client:
        response = client.post("/only-get")
        assert response.status_code == 405
        assert response.json() == {"error": "wrong method"}


@pytest.mark.xfail(
    strict=True,
    reason="core: HTTPException accepts a non-int status (e.g. a subclass raised as "
    "MyError('message'), where the message lands in status_code) and only fails when the "
    "response starts, with a TypeError from the server; it should refuse it when constructed",
)
def test_http_exception_refuses_a_non_integer_status() -> None:
    class OutOfCredit(HTTPException):
        status_code = 402

    with pytest.raises(TypeError):
        OutOfCredit("your balance is 0")  # type: ignore[arg-type]


@pytest.mark.xfail(
    strict=True,
    reason="core: the Request given to function middleware is not bound to the app "
    "(FunctionMiddleware builds Request(scope, receive) without app=), so request.app is None "
    "and request.url_for raises there, while handlers and exception handlers get the app",
)
def test_function_middleware_request_knows_the_app() -> None:
    app = App()
    seen: dict[str, object] = {}

    @app.middleware
    async def remember(request: Request, call_next: CallNext) -> Response:
        seen["app"] = request.app
        seen["home"] = str(request.url_for("home"))
        return await call_next(request)

    @app.get("/", name="home")
    async def home() -> str:
        return "home"

    with TestClient(app) as client:
        assert client.get("/").text == "home"
    assert seen == {"app": app, "home": "http://testserver/"}
