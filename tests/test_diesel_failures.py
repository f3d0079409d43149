"""Failure behaviour against real databases: down at startup, lost while serving, exhausted
pools, cancelled requests and statement timeouts, through the pool and through an armature app.
"""
# ruff: noqa: F811 - pytest fixtures imported from test_diesel_support are parameters here

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest
from test_diesel_support import (  # noqa: F401 - fixtures
    TcpProxy,
    anyio_backend,
    backend,
    config_for,
    pg_backend,
    table_ddl,
    unique_name,
    url_for,
)

from armature import App
from armature.testing import AsyncTestClient, LifespanFailed
from armature_ext.diesel import (
    DatabaseConfig,
    DatabaseProvider,
    DatabaseUnavailable,
    Pool,
    QueryError,
)

pytestmark = pytest.mark.anyio


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_url(pg_backend: str, tmp_path: Path, *, port: int | None = None, db: str = "test") -> str:
    base = url_for(pg_backend, tmp_path)
    scheme = base.split("://", 1)[0]
    return f"{scheme}://postgres:s3cret@127.0.0.1:{port or 5432}/{db}"


def assert_problem_503(response: Any, retry_after: str) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == retry_after
    problem: dict[str, Any] = response.json()
    assert problem["status"] == 503
    assert "Traceback" not in response.text
    return problem


# -- down at startup ------------------------------------------------------------------------


async def test_startup_fails_clearly_when_nothing_listens(pg_backend: str, tmp_path: Path) -> None:
    port = free_port()
    config = DatabaseConfig(url=pg_url(pg_backend, tmp_path, port=port), connect_timeout=3)
    provider = DatabaseProvider(config)
    with anyio.fail_after(20), pytest.raises(DatabaseUnavailable) as info:
        await provider.startup()
    message = str(info.value)
    assert f"could not connect to {config.redacted_url}" in message
    assert f"127.0.0.1:{port}" in message
    assert "refused" in message.lower() or "connect call failed" in message.lower()
    assert "s3cret" not in message
    assert not provider.started


async def test_startup_fails_clearly_for_a_missing_database(
    pg_backend: str, tmp_path: Path
) -> None:
    config = DatabaseConfig(url=pg_url(pg_backend, tmp_path, db="diesel_no_such_db"))
    with anyio.fail_after(20), pytest.raises(DatabaseUnavailable) as info:
        async with DatabaseProvider(config):
            pass
    assert 'database "diesel_no_such_db" does not exist' in str(info.value)
    if pg_backend == "asyncpg":  # libpq reports no SQLSTATE for a failed connection
        assert info.value.sqlstate == "3D000"


def sqlite_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name}


async def test_startup_fails_clearly_for_an_unopenable_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'app.db'}"
    before = sqlite_threads()
    with pytest.raises(DatabaseUnavailable, match="could not open SQLite database"):
        await DatabaseProvider(url).startup()
    # The failed connection's worker thread is gone (it would otherwise report to a closed loop).
    assert sqlite_threads() <= before


async def test_app_lifespan_fails_when_the_database_is_down(
    pg_backend: str, tmp_path: Path
) -> None:
    db = DatabaseProvider(pg_url(pg_backend, tmp_path, port=free_port()))
    app = App(lifespan=db.lifespan)
    with anyio.fail_after(20), pytest.raises(LifespanFailed, match="could not connect"):
        async with AsyncTestClient(app):
            pass


# -- lost while serving ---------------------------------------------------------------------


def serving_app(db: DatabaseProvider) -> App:
    app = App(lifespan=db.lifespan)

    @app.get("/value")
    async def value() -> dict[str, Any]:
        async with db.connection() as conn:
            return {"value": await conn.fetchval("SELECT CAST($1 AS INTEGER)", 7)}

    @app.get("/slow")
    async def slow() -> dict[str, Any]:
        async with db.transaction() as conn:
            await conn.fetchval("SELECT pg_sleep(30)")
        return {"slept": True}

    @app.get("/ready")
    async def ready() -> dict[str, Any]:
        return await db.check()

    return app


async def wait_for_backend(pool: Pool, app_name: str) -> int:
    """Return the pid of the session running pg_sleep for ``app_name``."""
    with anyio.fail_after(10):
        while True:
            pid = await pool.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1 "
                "AND query LIKE 'SELECT pg_sleep%' AND state = 'active'",
                app_name,
            )
            if pid is not None:
                return int(pid)
            await anyio.sleep(0.02)


async def test_connection_terminated_mid_request_gives_503(pg_backend: str, tmp_path: Path) -> None:
    app_name = unique_name("diesel-lost")
    db = DatabaseProvider(config_for(pg_backend, tmp_path, application_name=app_name))
    app = serving_app(db)
    async with Pool(config_for(pg_backend, tmp_path, pool_size=1)) as admin:
        async with AsyncTestClient(app) as client:
            responses: list[Any] = []

            async def call() -> None:
                responses.append(await client.get("/slow"))

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(call)
                    pid = await wait_for_backend(admin, app_name)
                    assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid) is True
            problem = assert_problem_503(responses[0], "5")
            assert problem["detail"] == "The database is temporarily unavailable."
            # The broken connection was discarded: the next request gets a fresh one.
            with anyio.fail_after(20):
                assert (await client.get("/value")).json() == {"value": 7}
            assert db.pool.status().in_use == 0


async def test_idle_connections_killed_never_give_500(pg_backend: str, tmp_path: Path) -> None:
    app_name = unique_name("diesel-idle")
    db = DatabaseProvider(config_for(pg_backend, tmp_path, application_name=app_name, pool_min=2))
    app = serving_app(db)
    async with Pool(config_for(pg_backend, tmp_path, pool_size=1)) as admin:
        async with AsyncTestClient(app) as client:
            assert (await client.get("/value")).status_code == 200
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = $1",
                app_name,
            )
            assert killed >= 1
            with anyio.fail_after(30):
                statuses = [(await client.get("/value")).status_code for _ in range(4)]
            # A dead pooled connection costs at most a 503 (asyncpg notices the closed socket
            # and reconnects; psycopg reports it on first use), never a 500, and the pool heals.
            assert set(statuses) <= {200, 503}
            assert statuses[-1] == 200


async def test_database_host_down_gives_503_then_recovers(pg_backend: str, tmp_path: Path) -> None:
    proxy = TcpProxy()
    port = await proxy.start()
    config = DatabaseConfig(
        url=pg_url(pg_backend, tmp_path, port=port).replace("postgres:s3cret@", "postgres@"),
        pool_size=2,
        acquire_timeout=0.5,
        connect_timeout=2,
    )
    db = DatabaseProvider(config, health_timeout=3)
    app = serving_app(db)
    try:
        async with AsyncTestClient(app) as client:
            assert (await client.get("/value")).json() == {"value": 7}
            ready = (await client.get("/ready")).json()
            assert ready["status"] == "up" and ready["pool"]["max"] == 2
            await proxy.stop()
            with anyio.fail_after(30):
                for _ in range(3):
                    assert_problem_503(await client.get("/value"), "5")
                problem = assert_problem_503(await client.get("/ready"), "5")
            report = problem["checks"]["database"]
            assert report["status"] == "down"
            assert report["pool"]["max"] == 2
            await proxy.start()
            with anyio.fail_after(30):
                while (await client.get("/value")).status_code != 200:
                    await anyio.sleep(0.1)
            assert (await client.get("/ready")).json()["status"] == "up"
    finally:
        await proxy.stop()


# -- exhausted pool -------------------------------------------------------------------------


async def test_exhausted_pool_gives_503_after_acquire_timeout(backend: str, tmp_path: Path) -> None:
    db = DatabaseProvider(config_for(backend, tmp_path, pool_size=1, acquire_timeout=0.2))
    app = App(lifespan=db.lifespan)
    holding = anyio.Event()
    release = anyio.Event()

    @app.get("/hold")
    async def hold() -> dict[str, bool]:
        async with db.connection():
            holding.set()
            await release.wait()
        return {"held": True}

    @app.get("/value")
    async def value() -> dict[str, Any]:
        return {"value": await db.pool.fetchval("SELECT 1")}

    async with AsyncTestClient(app) as client:
        results: list[Any] = []

        async def hold_call() -> None:
            results.append(await client.get("/hold"))

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(hold_call)
                await holding.wait()
                assert db.pool.status().under_pressure
                problem = assert_problem_503(await client.get("/value"), "1")
                assert problem["detail"] == "All database connections are busy; retry shortly."
                release.set()
        assert results[0].json() == {"held": True}
        assert (await client.get("/value")).json() == {"value": 1}


# -- cancelled requests ---------------------------------------------------------------------


def http_scope(method: str, path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def test_cancelled_request_returns_its_connection_clean(backend: str, tmp_path: Path) -> None:
    db = DatabaseProvider(config_for(backend, tmp_path, pool_size=1))
    table = unique_name()
    app = App()
    inside = anyio.Event()

    @app.post("/work")
    async def work() -> None:
        async with db.transaction() as conn:
            await conn.execute(f"INSERT INTO {table} (name) VALUES ($1)", "ghost")
            inside.set()
            await anyio.sleep_forever()

    @app.get("/state")
    async def state() -> dict[str, Any]:
        async with db.connection() as conn:
            txid = None
            if backend != "sqlite":
                txid = await conn.fetchval("SELECT txid_current_if_assigned()")
            return {
                "in_transaction": conn.is_in_transaction(),
                "txid": txid,
                "rows": await conn.fetchval(f"SELECT count(*) FROM {table}"),
            }

    async with db:
        await db.pool.execute(table_ddl(backend, table))
        try:
            sent: list[dict[str, Any]] = []
            request_sent = False

            async def receive() -> dict[str, Any]:
                nonlocal request_sent
                if not request_sent:
                    request_sent = True
                    return {"type": "http.request", "body": b"", "more_body": False}
                await anyio.sleep_forever()
                raise AssertionError

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(app, http_scope("POST", "/work"), receive, send)
                    await inside.wait()
                    tg.cancel_scope.cancel()  # what a server does when the client goes away
            assert sent == []
            assert db.pool.status().in_use == 0
            async with AsyncTestClient(app) as client:
                response = await client.get("/state")
            assert response.json() == {"in_transaction": False, "txid": None, "rows": 0}
        finally:
            await db.pool.execute(f"DROP TABLE {table}")


# -- statement timeout ----------------------------------------------------------------------


async def test_statement_timeout_cancels_the_query(backend: str, tmp_path: Path) -> None:
    slow = (
        "SELECT pg_sleep(10)"
        if backend != "sqlite"
        else "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT count(*) FROM c"
    )
    async with Pool(config_for(backend, tmp_path, pool_size=1, statement_timeout=0.2)) as pool:
        with anyio.fail_after(20):
            with pytest.raises(QueryError) as info:
                await pool.fetchval(slow)
        assert info.value.sqlstate == "57014"
        assert not isinstance(info.value, DatabaseUnavailable)
        assert await pool.fetchval("SELECT 1") == 1  # the same connection keeps working
        assert pool.status().size == 1
