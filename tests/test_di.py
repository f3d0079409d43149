"""Dependency injection: scopes, factories, cleanup, Depends, overrides and startup errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import anyio
import pytest

from armature import App, Depends, Header, Inject, Request
from armature.di import Container, DependencyError, Scope
from armature.testing import LifespanFailed, TestClient


class Settings:
    def __init__(self) -> None:
        self.dsn = "sqlite://"


class Database:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.queries = 0


class UserRepo:
    def __init__(self, db: Database) -> None:
        self.db = db


class Session:
    created = 0
    closed = 0

    def __init__(self) -> None:
        Session.created += 1
        self.open = True


async def session_factory(db: Database) -> AsyncIterator[Session]:
    session = Session()
    try:
        yield session
    finally:
        session.open = False
        Session.closed += 1


class Clock:
    pass


def make_app() -> App:
    app = App()
    # declared out of dependency order on purpose: the graph is resolved at startup
    app.provide(UserRepo)
    app.provide(Database)
    app.provide(Settings)
    app.provide(session_factory, scope="request")
    app.provide(Clock, scope="transient")

    @app.get("/repo")
    async def repo(users: UserRepo, db: Database, settings: Settings) -> dict:
        return {"same_db": users.db is db, "dsn": settings.dsn}

    @app.get("/session")
    async def session(a: Session, b: Annotated[Session, Inject()]) -> dict:
        return {"same": a is b, "open": a.open}

    @app.get("/clock")
    async def clock(a: Clock, b: Clock) -> dict:
        return {"same": a is b}

    return app


def test_singletons_request_scope_transient_and_cleanup() -> None:
    Session.created = Session.closed = 0
    app = make_app()
    with TestClient(app) as client:
        assert client.get("/repo").json() == {"same_db": True, "dsn": "sqlite://"}
        assert client.get("/session").json() == {"same": True, "open": True}
        assert client.get("/session").json() == {"same": True, "open": True}
        assert client.get("/clock").json() == {"same": False}
    assert Session.created == 2
    assert Session.closed == 2  # cleanup ran after each response


def test_singleton_generator_cleanup_at_shutdown() -> None:
    events: list[str] = []

    def resource() -> Iterator[Database]:
        events.append("open")
        yield Database(Settings())
        events.append("close")

    app = App()
    app.provide(resource)

    @app.get("/")
    async def index(db: Database) -> str:
        return "ok"

    with TestClient(app) as client:
        assert client.get("/").text == "ok"
        assert events == ["open"]
    assert events == ["open", "close"]


def test_missing_provider_names_the_chain() -> None:
    app = App()
    app.provide(UserRepo)

    @app.get("/")
    async def index(users: UserRepo) -> str:
        return "x"

    with pytest.raises(LifespanFailed, match=r"no provider for Database.*UserRepo -> Database"):
        with TestClient(app):
            pass


class A:
    def __init__(self, b: B) -> None:
        pass


class B:
    def __init__(self, a: A) -> None:
        pass


def test_cycle_names_the_chain() -> None:
    container = Container()
    container.add_class(A)
    container.add_class(B)
    with pytest.raises(DependencyError, match=r"cycle: .*A -> .*B -> .*A"):
        container.compile()


def test_singleton_cannot_depend_on_request_scope() -> None:
    container = Container()
    container.add_class(UserRepo)
    container.add_class(Database, scope=Scope.REQUEST)
    container.add_class(Settings)
    with pytest.raises(DependencyError, match="outlives"):
        container.compile()


def test_depends_binds_request_sources_and_caches_per_request() -> None:
    calls: list[str] = []
    cleanups: list[str] = []

    def current_user(x_user: Annotated[str, Header()]) -> str:
        calls.append(x_user)
        return x_user.upper()

    def audit(user: Annotated[str, Depends(current_user)]) -> Iterator[str]:
        yield f"audit:{user}"
        cleanups.append(user)

    app = App()

    @app.get("/items/{item_id:int}")
    async def item(
        item_id: int,
        user: Annotated[str, Depends(current_user)],
        log: Annotated[str, Depends(audit)],
    ) -> dict:
        return {"item": item_id, "user": user, "log": log}

    with TestClient(app) as client:
        response = client.get("/items/3", headers={"x-user": "ada"})
        assert response.json() == {"item": 3, "user": "ADA", "log": "audit:ADA"}
        assert calls == ["ada"]  # cached within the request
        assert cleanups == ["ADA"]
        missing = client.get("/items/3")
        assert missing.status_code == 422
        assert missing.json()["errors"][0]["loc"] == ["header", "x-user"]


def test_dependency_overrides_without_replanning() -> None:
    def real_user() -> str:
        return "real"

    app = make_app()

    @app.get("/who")
    async def who(user: Annotated[str, Depends(real_user)], settings: Settings) -> dict:
        return {"user": user, "dsn": settings.dsn}

    class FakeSettings(Settings):
        def __init__(self) -> None:
            self.dsn = "fake://"

    with TestClient(app) as client:
        endpoint = app.compiled_routes[-1].plan.endpoint
        assert client.get("/who").json() == {"user": "real", "dsn": "sqlite://"}
        app.dependency_overrides[real_user] = lambda: "fake"
        app.dependency_overrides[Settings] = FakeSettings()
        assert client.get("/who").json() == {"user": "fake", "dsn": "fake://"}
        del app.dependency_overrides[real_user]
        assert client.get("/who").json()["user"] == "real"
        assert app.compiled_routes[-1].plan.endpoint is endpoint


def test_container_override_context() -> None:
    container = Container()
    container.add_class(Settings)
    container.compile()

    class Other(Settings):
        pass

    with container.override(Settings, Other()):
        assert isinstance(container.provider(Settings).value, Other)
    assert not container.overrides


def test_request_is_injectable_into_dependencies() -> None:
    def path_of(request: Request) -> str:
        return request.path

    app = App()

    @app.get("/here")
    async def here(path: Annotated[str, Depends(path_of)]) -> str:
        return path

    with TestClient(app) as client:
        assert client.get("/here").text == "/here"


def test_injected_params_are_not_query_params() -> None:
    app = make_app()
    app.compile()
    route = next(r for r in app.compiled_routes if r.path == "/repo")
    assert {p.source for p in route.plan.params} == {"custom"}


def test_late_factory_override_of_a_singleton_takes_effect() -> None:
    app = make_app()

    class OtherSettings(Settings):
        def __init__(self) -> None:
            self.dsn = "late://"

    async def async_settings() -> Settings:
        return OtherSettings()

    with TestClient(app) as client:
        assert client.get("/repo").json()["dsn"] == "sqlite://"
        app.dependency_overrides[Settings] = OtherSettings  # a class: built right away
        response = client.get("/status-of-settings")
        assert response.status_code == 404
        assert app.container.singletons[Settings].dsn == "late://"
        with pytest.raises(DependencyError, match="before startup"):
            app.container.set_override(Settings, async_settings)


def test_generic_keys_have_readable_names() -> None:
    from armature.di.container import key_name

    assert key_name(list[Settings]) == "list[Settings]"


@pytest.mark.anyio
async def test_cleanup_runs_when_sending_fails() -> None:
    from armature import StreamingResponse

    Session.created = Session.closed = 0
    app = make_app()

    @app.get("/broken-stream")
    async def broken(session: Session) -> StreamingResponse:
        async def chunks():  # type: ignore[no-untyped-def]
            yield b"first"
            raise RuntimeError("stream failed")

        return StreamingResponse(chunks())

    first = True

    async def receive() -> dict:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"", "more_body": False}
        await anyio.sleep_forever()  # like a server: nothing more until the client leaves
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        pass

    app.compile()
    await app.container.startup()
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/broken-stream",
        "headers": [],
        "query_string": b"",
    }
    with pytest.raises(Exception, match="stream failed"):
        await app(scope, receive, send)
    assert Session.closed == Session.created == 1


def test_failed_startup_cleans_up_created_singletons() -> None:
    events: list[str] = []

    def first() -> Iterator[Database]:
        events.append("open first")
        yield Database(Settings())
        events.append("close first")

    class Broken:
        def __init__(self, db: Database) -> None:
            raise RuntimeError("second singleton failed")

    app = App()
    app.provide(Settings)
    app.provide(first)
    app.provide(Broken)
    with pytest.raises(LifespanFailed, match="second singleton failed"), TestClient(app):
        pass
    assert events == ["open first", "close first"]


def test_background_tasks_are_injected_and_run_after_the_response() -> None:
    from armature import BackgroundTasks

    ran: list[str] = []
    app = App()

    def send_mail(to: str) -> None:
        ran.append(f"mail {to}")

    async def audit(event: str) -> None:
        ran.append(f"audit {event}")

    @app.post("/signup/{email}")
    async def signup(email: str, tasks: BackgroundTasks) -> dict:
        tasks.add_task(send_mail, email)
        tasks.add_task(audit, "signup")
        assert ran == []  # nothing runs before the response
        return {"ok": True}

    with TestClient(app) as client:
        assert client.post("/signup/ada@example.com").json() == {"ok": True}
    assert ran == ["mail ada@example.com", "audit signup"]


def test_matched_route_is_published_in_the_scope() -> None:
    seen: list[str] = []

    class RouteSpy:
        def __init__(self, app: object) -> None:
            self.app = app

        async def __call__(self, scope: dict, receive: object, send: object) -> None:
            await self.app(scope, receive, send)  # type: ignore[operator]
            route = scope.get("route")
            seen.append(route.name if route is not None else "-")

    app = App()
    app.add_middleware(RouteSpy)

    @app.get("/items/{i:int}", name="item")
    async def item(i: int) -> dict:
        return {"i": i}

    with TestClient(app) as client:
        client.get("/items/1")
        client.get("/missing")
    assert seen == ["item", "-"]
