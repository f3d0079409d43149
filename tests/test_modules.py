"""Modules and controllers: routes, injection, boundaries, global modules, lifecycle hooks."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from armature import App, JSONResponse
from armature.di import DependencyError
from armature.modules import (
    Application,
    controller,
    delete,
    get,
    injectable,
    module,
    post,
    provide,
)
from armature.pipeline import ExecutionContext, catch, use_guards, use_interceptors
from armature.testing import LifespanFailed, TestClient

events: list[str] = []


class UserIn(BaseModel):
    name: str


@injectable
class UsersService:
    def __init__(self) -> None:
        self.users: dict[int, str] = {1: "ada"}

    def on_module_init(self) -> None:
        events.append("users:init")

    async def on_application_bootstrap(self) -> None:
        events.append("users:bootstrap")

    def before_application_shutdown(self) -> None:
        events.append("users:before_shutdown")

    def on_application_shutdown(self) -> None:
        events.append("users:shutdown")

    def on_module_destroy(self) -> None:
        events.append("users:destroy")


class Clock:
    def now(self) -> str:
        return "noon"


@injectable(scope="request")
class RequestCounter:
    instances = 0

    def __init__(self) -> None:
        RequestCounter.instances += 1


class DenyDelete:
    def can_activate(self, context: ExecutionContext) -> bool:
        return context.request.method != "DELETE"


class Stamp:
    async def intercept(self, context: ExecutionContext, call_next: Any) -> Any:
        result = await call_next()
        if isinstance(result, dict):
            result["controller"] = context.get_class().__name__  # type: ignore[union-attr]
        return result


class NotFoundError(Exception):
    pass


@catch(NotFoundError)
class NotFoundFilter:
    def catch(self, exc: Exception, context: ExecutionContext) -> JSONResponse:
        return JSONResponse({"error": "no such user"}, status_code=404)


@controller("/users")
@use_guards(DenyDelete())
@use_interceptors(Stamp())
class UsersController:
    def __init__(self, users: UsersService, clock: Clock) -> None:
        self.users = users
        self.clock = clock

    @get("")
    async def list_users(self) -> dict:
        return {"users": sorted(self.users.users.values()), "at": self.clock.now()}

    @get("/{user_id:int}")
    async def get_user(self, user_id: int, counter: RequestCounter) -> dict:
        if user_id not in self.users.users:
            raise NotFoundError()
        return {"name": self.users.users[user_id]}

    @post("", status_code=201)
    async def create(self, data: UserIn) -> dict:
        new_id = max(self.users.users) + 1
        self.users.users[new_id] = data.name
        return {"id": new_id}

    @delete("/{user_id:int}")
    async def remove(self, user_id: int) -> None:
        return None


@module(providers=[UsersService, RequestCounter], exports=[UsersService])
class UsersModule:
    pass


@module(providers=[provide(Clock, use_value=Clock())], exports=[Clock], global_=True)
class CoreModule:
    pass


@module(imports=[UsersModule], controllers=[UsersController], filters=[NotFoundFilter])
class ApiModule:
    pass


@module(imports=[CoreModule, ApiModule])
class AppModule:
    pass


def test_controller_routes_and_injection() -> None:
    app = Application.create(AppModule)
    assert isinstance(app, App)
    with TestClient(app) as client:
        listing = client.get("/users")
        assert listing.json() == {"users": ["ada"], "at": "noon", "controller": "UsersController"}
        assert client.post("/users", json={"name": "bob"}).json()["id"] == 2
        assert client.get("/users/2").json()["name"] == "bob"
        assert client.get("/users/99").json() == {"error": "no such user"}
        assert client.delete("/users/1").status_code == 403
        assert client.post("/users", json={}).status_code == 422


def test_lifecycle_hooks_in_order() -> None:
    events.clear()
    app = Application.create(AppModule)
    with TestClient(app):
        assert events == ["users:init", "users:bootstrap"]
    assert events == [
        "users:init",
        "users:bootstrap",
        "users:before_shutdown",
        "users:shutdown",
        "users:destroy",
    ]


def test_route_listing_shows_controller_routes() -> None:
    app = Application.create(AppModule)
    rows = app.route_table()
    names = {row["name"] for row in rows}
    assert "UsersController.get_user" in names
    row = next(r for r in rows if r["name"] == "UsersController.remove")
    assert row["method"] == "DELETE"
    assert [type(g).__name__ for g in row["extra"]["guards"]] == ["DenyDelete"]


# -- boundaries ------------------------------------------------------------------------------


@injectable
class Secret:
    pass


@module(providers=[Secret])
class PrivateModule:
    pass


@injectable
class NeedsSecret:
    def __init__(self, secret: Secret) -> None:
        self.secret = secret


@module(imports=[PrivateModule], providers=[NeedsSecret])
class ConsumerModule:
    pass


@module(providers=[NeedsSecret])
class NoImportModule:
    pass


@module(imports=[PrivateModule, NoImportModule])
class BrokenRoot:
    pass


def test_unexported_provider_is_a_startup_error_naming_both_modules() -> None:
    app = Application.create(ConsumerModule)
    with pytest.raises(
        LifespanFailed,
        match=r"Secret is provided by PrivateModule but "
        r"ConsumerModule cannot use it: PrivateModule does not "
        r"export it",
    ):
        with TestClient(app):
            pass


def test_not_imported_module_is_an_error() -> None:
    @module(providers=[Secret], exports=[Secret])
    class Exporter:
        pass

    @module(providers=[NeedsSecret])
    class Forgetful:
        pass

    @module(imports=[Exporter, Forgetful])
    class Root:
        pass

    app = Application.create(Root)
    with pytest.raises(LifespanFailed, match="Forgetful does not import Exporter"):
        with TestClient(app):
            pass


def test_double_provider_and_bad_export_are_errors() -> None:
    @module(providers=[Secret])
    class One:
        pass

    @module(providers=[Secret])
    class Two:
        pass

    @module(imports=[One, Two])
    class Both:
        pass

    with pytest.raises(DependencyError, match="provided by both"):
        Application.create(Both)

    @module(exports=[Secret])
    class Liar:
        pass

    with pytest.raises(DependencyError, match="neither provides nor imports"):
        Application.create(Liar)


def test_failing_startup_hook_fails_lifespan_and_shutdown_hooks_all_run() -> None:
    calls: list[str] = []

    @injectable
    class Flaky:
        def on_module_init(self) -> None:
            raise RuntimeError("cannot warm cache")

    @module(providers=[Flaky])
    class FlakyModule:
        pass

    with pytest.raises(LifespanFailed, match="cannot warm cache"):
        with TestClient(Application.create(FlakyModule)):
            pass

    @injectable
    class A:
        def on_application_shutdown(self) -> None:
            calls.append("a")
            raise RuntimeError("a failed")

    @injectable
    class B:
        def on_application_shutdown(self) -> None:
            calls.append("b")

    @module(providers=[A, B])
    class Pair:
        pass

    with pytest.raises(LifespanFailed, match="a failed"):
        with TestClient(Application.create(Pair)):
            pass
    assert sorted(calls) == ["a", "b"]


def test_overrides_work_for_module_apps() -> None:
    class FakeUsers(UsersService):
        def __init__(self) -> None:
            self.users = {1: "fake"}

    app = Application.create(AppModule)
    app.dependency_overrides[UsersService] = FakeUsers()
    with TestClient(app) as client:
        assert client.get("/users").json()["users"] == ["fake"]


def test_controller_websocket_routes() -> None:
    from armature import WebSocket
    from armature.modules import websocket

    @controller("/live")
    class LiveController:
        def __init__(self, users: UsersService) -> None:
            self.users = users

        @websocket("/{user_id:int}")
        async def feed(self, ws: WebSocket, user_id: int) -> None:
            await ws.accept()
            await ws.send_json({"hello": self.users.users.get(user_id, "?")})
            await ws.close()

    @module(imports=[UsersModule], controllers=[LiveController])
    class LiveModule:
        pass

    with (
        TestClient(Application.create(LiveModule)) as client,
        client.websocket_connect("/live/1") as ws,
    ):
        assert ws.receive_json() == {"hello": "ada"}
