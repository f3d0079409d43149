"""diesel wired into armature: injection, lifespan, request transactions, health, overrides.

Runs against the local PostgreSQL (asyncpg and psycopg) and SQLite files. Every table gets a
per-process unique name, so concurrent runs of this suite do not collide.
"""
# ruff: noqa: F811 - pytest fixtures imported from test_diesel_support are parameters here

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any

import pytest
from test_diesel_support import (  # noqa: F401 - fixtures
    TcpProxy,
    backend,
    config_for,
    table_ddl,
)

from armature import App, Depends
from armature.exceptions import Conflict, HTTPException
from armature.health import HealthCheck
from armature.modules import Application, controller, get, module, post
from armature.requests import ClientDisconnect, Request
from armature.responses import JSONResponse, Response
from armature.testing import AsyncTestClient, LifespanFailed
from armature.types import ASGIApp, Message, Receive, Scope, Send
from armature_ext.diesel import (
    Connection,
    DatabaseConfig,
    DatabaseModule,
    DatabaseProvider,
    IntegrityError,
    Pool,
    TransactionConnection,
    TransactionMiddleware,
    install_database,
)
from armature_ext.diesel.integration import _current

pytestmark = pytest.mark.anyio

Names = Callable[[], str]


@pytest.fixture
def anyio_backend() -> str:
    """asyncpg, psycopg's async pool and aiosqlite are asyncio-only."""
    return "asyncio"


@pytest.fixture
async def names(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Names]:
    """Hand out per-process unique table names; PostgreSQL tables are dropped afterwards."""
    created: list[str] = []
    callspec = getattr(request.node, "callspec", None)
    backend = callspec.params.get("backend", "sqlite") if callspec is not None else "sqlite"

    def name() -> str:
        created.append(f"dint_{os.getpid()}_{uuid.uuid4().hex[:10]}")
        return created[-1]

    yield name
    if created and backend != "sqlite":
        async with Pool(config_for(backend, tmp_path)) as pool:
            for table in reversed(created):  # children before parents
                await pool.execute(f"DROP TABLE IF EXISTS {table}")


def refused_url(scheme: str = "postgresql") -> str:
    """A PostgreSQL URL on a local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"{scheme}://postgres@127.0.0.1:{port}/test"


def assert_idle(pool: Pool) -> None:
    status = pool.status()
    assert status.in_use == 0, status
    assert status.waiting == 0, status


# -- micro style ---------------------------------------------------------------------------------


async def test_micro_handlers_get_pool_connection_and_provider(
    backend: str, tmp_path: Path, names: Names
) -> None:
    app = App()
    db = install_database(app, config_for(backend, tmp_path))
    table = names()
    seen: dict[str, Any] = {}

    async def count(conn: Connection) -> int:
        seen["dependency_conn"] = conn
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))

    @app.post("/items/{name}")
    async def add(name: str, conn: Connection, pool: Pool) -> dict[str, Any]:
        assert pool.status().in_use == 1  # acquired for this request
        await conn.execute(f"INSERT INTO {table} (name, n) VALUES ($1, $2)", name, len(name))
        return {"added": name}

    @app.get("/items")
    async def items(
        conn: Connection,
        again: Connection,
        total: Annotated[int, Depends(count)],
        provider: DatabaseProvider,
    ) -> dict[str, Any]:
        seen["conn"], seen["again"], seen["provider"] = conn, again, provider
        rows = await conn.fetch(f"SELECT name, n FROM {table} ORDER BY id")
        return {"rows": rows, "total": total, "in_use": provider.pool.status().in_use}

    @app.get("/none")
    async def none(pool: Pool) -> dict[str, int]:
        return {"in_use": pool.status().in_use}  # no Connection asked for: none acquired

    assert not db.started
    async with AsyncTestClient(app) as client:
        assert db.started  # opened by the container at lifespan startup
        assert app.container.singletons[Pool] is db.pool
        await db.pool.execute(table_ddl(backend, table))
        for name in ("bolt", "nut"):
            response = await client.post(f"/items/{name}")
            assert response.status_code == 200, response.text
            assert_idle(db.pool)
        body = (await client.get("/items")).json()
        assert body == {
            "rows": [{"name": "bolt", "n": 4}, {"name": "nut", "n": 3}],
            "total": 2,
            "in_use": 1,
        }
        # One connection per request, shared by every parameter and dependency asking for it.
        assert seen["conn"] is seen["again"] is seen["dependency_conn"]
        assert seen["conn"].released
        assert seen["provider"] is db
        assert_idle(db.pool)
        assert (await client.get("/none")).json() == {"in_use": 0}
        pool = db.pool
    assert not db.started
    assert pool.closed


async def test_request_transaction_commits_or_rolls_back(
    backend: str, tmp_path: Path, names: Names
) -> None:
    app = App()
    db = install_database(app, config_for(backend, tmp_path))
    table = names()

    @app.post("/items/{name}", status_code=201)
    async def add(name: str, tx: TransactionConnection, outcome: str = "ok") -> Any:
        assert tx.is_in_transaction()
        await tx.execute(f"INSERT INTO {table} (name, n) VALUES ($1, 1)", name)
        if outcome == "raise":
            raise RuntimeError("the handler failed after writing")
        if outcome == "http":
            raise Conflict("refused after writing")
        if outcome == "422":
            return JSONResponse({"error": "kept nothing"}, status_code=422)
        if outcome == "redirect":
            return Response(status_code=303, headers={"location": "/items"})
        return {"name": name}

    @app.get("/items")
    async def items(pool: Pool) -> list[str]:
        return [row["name"] for row in await pool.fetch(f"SELECT name FROM {table} ORDER BY id")]

    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        await db.pool.execute(table_ddl(backend, table))
        assert (await client.post("/items/kept")).status_code == 201
        assert (await client.post("/items/boom?outcome=raise")).status_code == 500
        conflict = await client.post("/items/refused?outcome=http")
        assert conflict.status_code == 409
        assert conflict.headers["content-type"] == "application/problem+json"
        assert (await client.post("/items/invalid?outcome=422")).status_code == 422
        moved = await client.post("/items/moved?outcome=redirect", follow_redirects=False)
        assert moved.status_code == 303
        assert (await client.get("/items")).json() == ["kept", "moved"]
        assert_idle(db.pool)


class ProbeAtStart:
    """Outer middleware: counts the table's rows from another connection as the response starts."""

    def __init__(self, app: ASGIApp, *, probe: Callable[[], Any], seen: list[Any]) -> None:
        self.app = app
        self.probe = probe
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def probing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.seen.append((message["status"], await self.probe()))
            await send(message)

        await self.app(scope, receive, probing_send)


async def test_commit_happens_before_the_response_starts(
    backend: str, tmp_path: Path, names: Names
) -> None:
    app = App()
    db = install_database(app, config_for(backend, tmp_path))
    table = names()
    seen: list[Any] = []

    async def rows_elsewhere() -> int:
        return int(await db.pool.fetchval(f"SELECT count(*) FROM {table}"))

    app.add_middleware(ProbeAtStart, probe=rows_elsewhere, seen=seen)  # outside the tx middleware

    @app.post("/items/{name}")
    async def add(name: str, tx: TransactionConnection, fail: bool = False) -> dict[str, str]:
        await tx.execute(f"INSERT INTO {table} (name, n) VALUES ($1, 1)", name)
        if fail:
            raise RuntimeError("rolled back")
        return {"name": name}

    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        await db.pool.execute(table_ddl(backend, table))
        assert (await client.post("/items/a")).status_code == 200
        assert (await client.post("/items/b?fail=true")).status_code == 500
    # Another connection already saw the committed row (and not the rolled-back one) when the
    # status line went out.
    assert seen == [(200, 1), (500, 1)]


async def test_failed_commit_becomes_the_error_response(
    backend: str, tmp_path: Path, names: Names
) -> None:
    app = App()
    db = install_database(app, config_for(backend, tmp_path))
    parent, child = names(), names()
    handled: list[str] = []

    @app.exception_handler(IntegrityError)
    async def integrity(request: Request, exc: Exception) -> Response:
        handled.append(str(getattr(exc, "sqlstate", "")))
        return JSONResponse({"error": "conflict"}, status_code=409)

    @app.post("/children/{parent_id:int}", status_code=201)
    async def add_child(parent_id: int, tx: TransactionConnection) -> dict[str, int]:
        # A deferred foreign key is only checked at COMMIT, after the handler returned.
        await tx.execute(f"INSERT INTO {child} (parent_id) VALUES ($1)", parent_id)
        return {"parent_id": parent_id}

    async with AsyncTestClient(app) as client:
        key = "INTEGER PRIMARY KEY" if backend == "sqlite" else "INT PRIMARY KEY"
        await db.pool.execute(f"CREATE TABLE {parent} (id {key})")
        await db.pool.execute(
            f"CREATE TABLE {child} (parent_id INTEGER NOT NULL REFERENCES {parent} (id) "
            "DEFERRABLE INITIALLY DEFERRED)"
        )
        await db.pool.execute(f"INSERT INTO {parent} (id) VALUES (1)")
        assert (await client.post("/children/1")).status_code == 201
        refused = await client.post("/children/2")
        assert refused.status_code == 409  # not the 201 the handler returned
        assert refused.json() == {"error": "conflict"}
        assert handled == ["23503"]
        assert await db.pool.fetch(f"SELECT parent_id FROM {child}") == [{"parent_id": 1}]
        assert_idle(db.pool)


async def test_response_that_never_starts_rolls_back(
    backend: str, tmp_path: Path, names: Names
) -> None:
    app = App()
    db = install_database(app, config_for(backend, tmp_path))
    table = names()
    outside: list[Any] = []

    @app.post("/gone")
    async def gone(tx: TransactionConnection) -> None:
        await tx.execute(f"INSERT INTO {table} (name, n) VALUES ('lost', 1)")
        outside.append(_current.get())
        raise ClientDisconnect()  # the client went away: no response is sent

    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        await db.pool.execute(table_ddl(backend, table))
        await client.post("/gone")
        assert await db.pool.fetchval(f"SELECT count(*) FROM {table}") == 0
        assert_idle(db.pool)
    assert outside[0] is not None and outside[0].tx is None
    assert _current.get() is None


async def test_explicit_transactions_through_the_injected_provider(
    tmp_path: Path, names: Names
) -> None:
    app = App()
    install_database(app, config_for("sqlite", tmp_path))
    table = names()

    @app.post("/setup")
    async def setup(pool: Pool) -> None:
        await pool.execute(table_ddl("sqlite", table))

    @app.post("/pair")
    async def pair(db: DatabaseProvider) -> dict[str, int]:
        try:
            async with db.transaction() as conn:
                await conn.execute(f"INSERT INTO {table} (name, n) VALUES ('x', 1)")
                await conn.execute(f"INSERT INTO {table} (name, n) VALUES ('x', 2)")
        except IntegrityError as exc:
            raise HTTPException(409, "duplicate") from exc
        return {}

    @app.get("/count")
    async def count(conn: Connection) -> int:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))

    async with AsyncTestClient(app) as client:
        await client.post("/setup")
        assert (await client.post("/pair")).status_code == 409
        assert (await client.get("/count")).json() == 0


# -- lifespan and health ------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncpg", "psycopg", "sqlite"])
async def test_startup_fails_with_the_reason_when_the_database_is_down(
    backend: str, tmp_path: Path
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'missing-dir' / 'app.db'}"
        reason = "could not open SQLite database"
    else:
        url = refused_url("postgresql" if backend == "asyncpg" else "postgresql+psycopg")
        reason = f"could not connect to {url}"
    app = App()
    db = install_database(app, DatabaseConfig(url=url, connect_timeout=2, acquire_timeout=2))

    @app.get("/")
    async def index(conn: Connection) -> int:
        return 1

    with pytest.raises(LifespanFailed) as info:
        async with AsyncTestClient(app):
            pass
    assert info.value.phase == "startup"
    assert "DatabaseUnavailable" in info.value.message
    assert reason in info.value.message
    assert not db.started


async def test_readiness_follows_the_database() -> None:
    proxy = TcpProxy()
    port = await proxy.start()
    health = HealthCheck()
    app = App()
    config = DatabaseConfig(
        url=f"postgresql://postgres@127.0.0.1:{port}/test",
        pool_size=2,
        connect_timeout=2,
        acquire_timeout=2,
    )
    install_database(app, config, health=health, name="primary", health_timeout=1.0)
    app.include_router(health.router())

    @app.get("/one")
    async def one(conn: Connection) -> int:
        return int(await conn.fetchval("SELECT 1"))

    try:
        async with AsyncTestClient(app) as client:
            ready = await client.get("/health/ready")
            assert ready.status_code == 200, ready.text
            check = ready.json()["checks"]["primary"]
            assert check["status"] == "up"
            assert check["details"]["backend"] == "asyncpg"
            assert check["details"]["pool"]["max"] == 2

            await proxy.stop()  # the database host goes away
            down = await client.get("/health/ready")
            assert down.status_code == 503
            assert down.headers["content-type"] == "application/problem+json"
            check = down.json()["checks"]["primary"]
            assert check["status"] == "down"
            assert check["details"]["status"] == "down"
            assert check["details"]["error"] == "DatabaseUnavailable"
            failed = await client.get("/one")  # a request needing a connection: 503 too
            assert failed.status_code == 503
            assert failed.headers["retry-after"] == "5"

            await proxy.start()  # back on the same port
            assert (await client.get("/health/ready")).status_code == 200
            assert (await client.get("/one")).json() == 1
    finally:
        await proxy.stop()


async def test_readiness_is_down_before_startup(tmp_path: Path) -> None:
    health = HealthCheck()
    install_database(App(), config_for("sqlite", tmp_path), health=health)
    report = await health.run(("ready",))
    assert report["status"] == "down"
    assert report["checks"]["database"]["details"]["error"] == "not started"


# -- overrides and misuse -----------------------------------------------------------------------


async def test_pool_override_replaces_the_database_everywhere(tmp_path: Path) -> None:
    health = HealthCheck()
    app = App()
    # The configured database is down: with Pool overridden it is never contacted.
    db = install_database(app, refused_url(), health=health)
    app.include_router(health.router())

    @app.get("/where")
    async def where(conn: Connection, provider: DatabaseProvider) -> dict[str, Any]:
        async with provider.connection() as other:
            other_backend = other.backend
        return {"conn": conn.backend, "provider": other_backend}

    async with Pool(f"sqlite:///{tmp_path / 'override.db'}") as test_pool:
        app.dependency_overrides[Pool] = test_pool
        async with AsyncTestClient(app) as client:
            assert (await client.get("/where")).json() == {"conn": "sqlite", "provider": "sqlite"}
            ready = await client.get("/health/ready")
            assert ready.status_code == 200
            assert ready.json()["checks"]["database"]["details"]["backend"] == "sqlite"
            assert_idle(test_pool)
        assert not test_pool.closed  # the test owns it; the app does not close it
        assert not db.started


async def test_connection_override(tmp_path: Path) -> None:
    app = App()
    install_database(app, config_for("sqlite", tmp_path))

    @app.get("/value")
    async def value(conn: Connection) -> int:
        return int(await conn.fetchval("SELECT 7"))

    async with Pool(f"sqlite:///{tmp_path / 'other.db'}") as other:

        async def fake_connection() -> AsyncIterator[Connection]:
            async with other.acquire() as conn:
                yield conn

        app.dependency_overrides[Connection] = fake_connection
        async with AsyncTestClient(app) as client:
            assert (await client.get("/value")).json() == 7
        assert_idle(other)


async def test_install_twice_or_after_start_is_refused(tmp_path: Path) -> None:
    app = App()
    install_database(app, config_for("sqlite", tmp_path))
    with pytest.raises(Exception, match="already called for this app"):
        install_database(app, config_for("sqlite", tmp_path))

    started = App()

    @started.get("/")
    async def index() -> int:
        return 1

    async with AsyncTestClient(started):
        with pytest.raises(RuntimeError, match="after the application has started"):
            install_database(started, config_for("sqlite", tmp_path))


# -- module style -------------------------------------------------------------------------------


async def test_module_style_controllers(backend: str, tmp_path: Path, names: Names) -> None:
    table = names()
    health = HealthCheck()
    Database = DatabaseModule.register(config_for(backend, tmp_path), health=health)

    @controller("/parts")
    class PartsController:
        def __init__(self, db: DatabaseProvider, pool: Pool) -> None:  # singletons: injected
            self.db = db
            self.pool = pool

        @post("/{name}", status_code=201)
        async def add(self, name: str, tx: TransactionConnection) -> dict[str, Any]:
            row = await tx.fetchrow(
                f"INSERT INTO {table} (name, n) VALUES ($1, $2) RETURNING name, n", name, 1
            )
            if name == "bad":
                raise Conflict("rolled back")
            return {"row": row, "in_use": self.pool.status().in_use}

        @get("")
        async def parts(self, conn: Connection) -> list[str]:
            return [r["name"] for r in await conn.fetch(f"SELECT name FROM {table} ORDER BY id")]

    @module(controllers=[PartsController])
    class PartsModule:
        pass

    @module(imports=[Database, PartsModule])
    class AppModule:
        pass

    app = Application.create(AppModule, middleware=[Database.middleware])
    app.include_router(health.router())
    assert issubclass(Database, DatabaseModule)
    db = Database.database
    async with AsyncTestClient(app) as client:
        assert db.started
        await db.pool.execute(table_ddl(backend, table))
        created = await client.post("/parts/gear")
        assert created.status_code == 201, created.text
        assert created.json() == {"row": {"name": "gear", "n": 1}, "in_use": 1}
        assert (await client.post("/parts/bad")).status_code == 409
        assert (await client.get("/parts")).json() == ["gear"]
        assert (await client.get("/health/ready")).json()["checks"]["database"]["status"] == "up"
        assert_idle(db.pool)
        controller_instance = app.container.singletons[PartsController]
        assert controller_instance.db is db and controller_instance.pool is db.pool
    assert not db.started


async def test_module_style_failed_commit_without_the_app(tmp_path: Path, names: Names) -> None:
    # Database.middleware has no app: a failed COMMIT is rendered as problem+json directly.
    parent, child = names(), names()
    Database = DatabaseModule.register(config_for("sqlite", tmp_path))

    @controller("/children")
    class Children:
        @post("/{parent_id:int}")
        async def add(self, parent_id: int, tx: TransactionConnection) -> dict[str, int]:
            await tx.execute(f"INSERT INTO {child} (parent_id) VALUES ($1)", parent_id)
            return {"parent_id": parent_id}

    @module(imports=[Database], controllers=[Children])
    class AppModule:
        pass

    app = Application.create(AppModule, middleware=[Database.middleware])
    async with AsyncTestClient(app) as client:
        pool = Database.database.pool
        await pool.execute(f"CREATE TABLE {parent} (id INTEGER PRIMARY KEY)")
        await pool.execute(
            f"CREATE TABLE {child} (parent_id INTEGER REFERENCES {parent} (id) "
            "DEFERRABLE INITIALLY DEFERRED)"
        )
        refused = await client.post("/children/9")
        assert refused.status_code == 500
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["instance"] == "/children/9"
        assert await pool.fetchval(f"SELECT count(*) FROM {child}") == 0
        assert_idle(pool)


async def test_module_style_transaction_needs_the_middleware(tmp_path: Path) -> None:
    Database = DatabaseModule.register(config_for("sqlite", tmp_path), global_=False)

    @controller("/tx")
    class TxController:
        @get("")
        async def use(self, tx: TransactionConnection) -> int:
            return 1

    @module(imports=[Database], controllers=[TxController])
    class AppModule:
        pass

    app = Application.create(AppModule, debug=True)  # no middleware given
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        response = await client.get("/tx")
        assert response.status_code == 500
        assert "TransactionConnection needs TransactionMiddleware" in response.json()["detail"]
        assert_idle(Database.database.pool)


async def test_module_style_visibility_and_duplicates(tmp_path: Path) -> None:
    Private = DatabaseModule.register(config_for("sqlite", tmp_path), global_=False)

    @controller("/c")
    class UsesPool:
        def __init__(self, pool: Pool) -> None:
            self.pool = pool

    @module(controllers=[UsesPool])
    class Feature:
        pass

    @module(imports=[Private, Feature])
    class Root:
        pass

    with pytest.raises(LifespanFailed, match="Feature does not import DatabaseModule"):
        async with AsyncTestClient(Application.create(Root)):
            pass

    Other = DatabaseModule.register(config_for("sqlite", tmp_path))

    @module(imports=[Private, Other])
    class Twice:
        pass

    with pytest.raises(Exception, match="provided by both DatabaseModule and DatabaseModule"):
        Application.create(Twice)


async def test_one_module_class_serves_apps_one_after_another(tmp_path: Path) -> None:
    Database = DatabaseModule.register(config_for("sqlite", tmp_path))

    @controller("/n")
    class N:
        @get("")
        async def n(self, conn: Connection) -> int:
            return int(await conn.fetchval("SELECT 5"))

    @module(imports=[Database], controllers=[N])
    class AppModule:
        pass

    for _ in range(2):  # e.g. a fresh app per test
        async with AsyncTestClient(Application.create(AppModule)) as client:
            assert (await client.get("/n")).json() == 5
        assert not Database.database.started


async def test_a_provider_started_by_its_owner_is_borrowed(tmp_path: Path) -> None:
    app = App()
    db = install_database(app, config_for("sqlite", tmp_path))

    @app.get("/n")
    async def n(pool: Pool) -> int:
        return int(await pool.fetchval("SELECT 6"))

    await db.startup()  # e.g. to run migrations before serving
    try:
        async with AsyncTestClient(app) as client:
            assert (await client.get("/n")).json() == 6
            assert app.container.singletons[Pool] is db.pool
        assert db.started  # the app did not close what it did not open
    finally:
        await db.shutdown()


async def test_transaction_middleware_passes_other_scopes() -> None:
    calls: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append(scope["type"])
        assert _current.get() is None

    async def receive() -> Message:
        raise AssertionError("not called")

    async def send(message: Message) -> None:
        raise AssertionError("not called")

    await TransactionMiddleware(inner)({"type": "lifespan"}, receive, send)
    assert calls == ["lifespan"]
