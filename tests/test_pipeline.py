"""Guards, interceptors and exception filters: levels, order, short-circuits, no cost if absent."""

from __future__ import annotations

from typing import Any

from armature import App, JSONResponse, Router
from armature.exceptions import Unauthorized
from armature.pipeline import (
    APIKeyGuard,
    ExecutionContext,
    RolesGuard,
    catch,
    set_metadata,
    use_filters,
    use_guards,
    use_interceptors,
)
from armature.testing import TestClient

order: list[str] = []


class Recorder:
    """A guard and an interceptor that record when they run."""

    def __init__(self, name: str, allow: bool = True) -> None:
        self.name = name
        self.allow = allow

    def can_activate(self, context: ExecutionContext) -> bool:
        order.append(f"guard:{self.name}")
        return self.allow

    async def intercept(self, context: ExecutionContext, call_next: Any) -> Any:
        order.append(f"before:{self.name}")
        result = await call_next()
        order.append(f"after:{self.name}")
        return result


class Envelope:
    """Wraps the handler's result: {"data": ...}."""

    async def intercept(self, context: ExecutionContext, call_next: Any) -> Any:
        return {"data": await call_next()}


class Cache:
    """A response cache keyed by path: the second call short-circuits the handler."""

    def __init__(self) -> None:
        self.store: dict[str, Any] = {}

    async def intercept(self, context: ExecutionContext, call_next: Any) -> Any:
        key = context.request.path
        if key not in self.store:
            self.store[key] = await call_next()
        return self.store[key]


class OutOfStock(Exception):
    pass


@catch(OutOfStock)
class OutOfStockFilter:
    def catch(self, exc: Exception, context: ExecutionContext) -> JSONResponse:
        return JSONResponse({"filtered": "route", "path": context.request.path}, status_code=409)


@catch(LookupError)
class LookupFilter:
    def catch(self, exc: Exception, context: ExecutionContext) -> JSONResponse:
        return JSONResponse({"filtered": "lookup"}, status_code=404)


@catch(KeyError)
class KeyFilter:
    async def catch(self, exc: Exception, context: ExecutionContext) -> JSONResponse:
        return JSONResponse({"filtered": "key"}, status_code=404)


def make_app() -> tuple[App, Cache]:
    app = App()
    app.use_guards(Recorder("global"))
    app.use_interceptors(Recorder("global"))
    router = Router(prefix="/r")
    router.use_guards(Recorder("router"))
    router.use_filters(LookupFilter)
    cache = Cache()
    calls = {"n": 0}

    @router.get("/ok", guards=[Recorder("route")], interceptors=[Recorder("route")])
    async def ok() -> dict:
        order.append("handler")
        return {"ok": True}

    @router.get("/denied", guards=[Recorder("route", allow=False)])
    async def denied() -> dict:
        order.append("handler")
        return {}

    @router.get("/wrapped")
    @use_interceptors(Envelope())
    async def wrapped(q: int) -> dict:
        return {"q": q}

    @router.get("/cached", interceptors=[cache])
    async def cached() -> dict:
        calls["n"] += 1
        return {"calls": calls["n"]}

    @router.get("/stock")
    @use_filters(OutOfStockFilter, KeyFilter)
    async def stock() -> None:
        raise OutOfStock()

    @router.get("/key")
    @use_filters(KeyFilter)
    async def key() -> None:
        raise KeyError("k")

    @router.get("/index")
    async def index() -> None:
        raise IndexError("i")

    @router.get("/other")
    async def other() -> None:
        raise Unauthorized("who are you")

    app.include_router(router)

    @app.get("/admin")
    @use_guards(RolesGuard())
    @set_metadata("roles", ["admin"])
    async def admin() -> str:
        return "welcome"

    @app.get("/keyed", guards=[APIKeyGuard(["k1", "k2"])])
    async def keyed() -> str:
        return "in"

    return app, cache


def test_order_of_stages() -> None:
    app, _ = make_app()
    order.clear()
    with TestClient(app) as client:
        assert client.get("/r/ok").json() == {"ok": True}
    assert order == [
        "guard:global",
        "guard:router",
        "guard:route",
        "before:global",
        "before:route",
        "handler",
        "after:route",
        "after:global",
    ]


def test_guard_false_is_403_and_handler_not_run() -> None:
    app, _ = make_app()
    order.clear()
    with TestClient(app) as client:
        response = client.get("/r/denied")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert "handler" not in order


def test_interceptors_transform_and_short_circuit() -> None:
    app, cache = make_app()
    with TestClient(app) as client:
        assert client.get("/r/wrapped?q=4").json() == {"data": {"q": 4}}
        invalid = client.get("/r/wrapped?q=x")
        assert invalid.status_code == 422  # binding happens inside the interceptors
        assert client.get("/r/cached").json() == {"calls": 1}
        assert client.get("/r/cached").json() == {"calls": 1}


def test_filters_most_specific_level_and_type() -> None:
    app, _ = make_app()
    with TestClient(app) as client:
        assert client.get("/r/stock").json() == {"filtered": "route", "path": "/r/stock"}
        assert client.get("/r/key").json() == {"filtered": "key"}  # route level wins
        assert client.get("/r/index").json() == {"filtered": "lookup"}  # router level
        fallback = client.get("/r/other")  # no filter matches: the app's problem+json
        assert fallback.status_code == 401
        assert fallback.json()["detail"] == "who are you"


def test_shipped_guards() -> None:
    app, _ = make_app()
    with TestClient(app) as client:
        assert client.get("/admin").status_code == 403
        assert client.get("/admin", headers={"x-roles": "user, admin"}).text == "welcome"
        missing = client.get("/keyed")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == 'ApiKey header="x-api-key"'
        assert client.get("/keyed", headers={"x-api-key": "k2"}).text == "in"


def test_routes_without_stages_pay_nothing() -> None:
    app = App()

    @app.get("/plain")
    async def plain() -> str:
        return "x"

    app.compile()
    source = app.compiled_routes[0].plan.source
    assert "GUARDS" not in source and "ctx" not in source and "FILTERS" not in source
