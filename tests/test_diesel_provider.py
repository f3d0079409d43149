"""DatabaseProvider: lifecycle, per-request helpers, readiness check, armature app wiring."""
# ruff: noqa: F811 - pytest fixtures imported from test_diesel_support are parameters here

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_diesel_support import (  # noqa: F401 - fixtures
    anyio_backend,
    backend,
    config_for,
    table_ddl,
    unique_name,
)

from armature import App
from armature.requests import Request
from armature.testing import AsyncTestClient
from armature_ext.diesel import DatabaseProvider, DatabaseUnavailable, DieselError

pytestmark = pytest.mark.anyio


async def test_lifecycle(backend: str, tmp_path: Path) -> None:
    provider = DatabaseProvider(config_for(backend, tmp_path), name="main")
    assert not provider.started
    assert "main" in repr(provider) and "stopped" in repr(provider)
    with pytest.raises(DieselError, match="main provider is not started"):
        provider.pool  # noqa: B018
    await provider.startup()
    await provider.startup()  # idempotent
    try:
        assert provider.started
        assert provider.pool.backend == backend
        assert await provider.pool.fetchval("SELECT 1") == 1
    finally:
        await provider.shutdown()
    assert not provider.started
    await provider.shutdown()  # idempotent


async def test_context_manager_and_helpers(backend: str, tmp_path: Path) -> None:
    table = unique_name()
    async with DatabaseProvider(config_for(backend, tmp_path)) as db:
        await db.pool.execute(table_ddl(backend, table))
        async with db.transaction() as conn:
            await conn.execute(f"INSERT INTO {table} (name, n) VALUES ($1, $2)", "a", 1)
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute(f"INSERT INTO {table} (name, n) VALUES ($1, $2)", "b", 2)
                raise RuntimeError
        async with db.transaction(isolation="serializable", readonly=True) as conn:
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 1
        async with db.connection(timeout=1) as conn:
            assert await conn.fetch(f"SELECT name, n FROM {table}") == [{"name": "a", "n": 1}]
            await conn.execute(f"DROP TABLE {table}")
    assert not db.started


async def test_config_from_url_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.setenv("DATABASE_POOL_SIZE", "2")
    provider = DatabaseProvider()
    assert provider.config.pool_size == 2
    assert provider.config.sqlite_path == str(tmp_path / "env.db")
    assert DatabaseProvider("sqlite:///:memory:").config.is_memory


async def test_check_reports_up_and_pool_status(backend: str, tmp_path: Path) -> None:
    async with DatabaseProvider(config_for(backend, tmp_path), name="primary") as db:
        report = await db.check()
        assert report["name"] == "primary"
        assert report["status"] == "up"
        assert report["backend"] == backend
        assert report["latency_ms"] >= 0
        pool = report["pool"]
        assert pool["max"] == 3 and pool["in_use"] == 0 and pool["under_pressure"] is False
        assert set(pool) >= {"size", "idle", "in_use", "waiting", "max", "utilization"}


async def test_check_reports_degraded_under_pressure(backend: str, tmp_path: Path) -> None:
    async with DatabaseProvider(config_for(backend, tmp_path, pool_size=5)) as db:
        held = [await db.pool.acquire() for _ in range(4)]
        try:
            report = await db.check()
            assert report["status"] == "degraded"
            assert report["pool"]["utilization"] == 0.8
            assert report["pool"]["under_pressure"] is True
        finally:
            for conn in held:
                await db.pool.release(conn)
        assert (await db.check())["status"] == "up"


async def test_check_when_down_raises_503_with_report(tmp_path: Path) -> None:
    db = DatabaseProvider(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(DatabaseUnavailable) as info:
        await db.check()
    problem = info.value.to_problem()
    assert problem["status"] == 503
    assert problem["checks"]["database"]["status"] == "down"
    report = await db.check(raise_on_failure=False)
    assert report == {
        "name": "database",
        "backend": "sqlite",
        "status": "down",
        "error": "not started",
    }


async def test_check_times_out_when_pool_is_exhausted(backend: str, tmp_path: Path) -> None:
    config = config_for(backend, tmp_path, pool_size=1, acquire_timeout=5)
    async with DatabaseProvider(config, health_timeout=0.2) as db:
        async with db.connection():
            report = await db.check(raise_on_failure=False)
        assert report["status"] == "down"
        assert report["error"] == "TimeoutError"
        assert report["pool"]["in_use"] == 1


async def test_app_wiring_with_lifespan_state(backend: str, tmp_path: Path) -> None:
    db = DatabaseProvider(config_for(backend, tmp_path), state_key="db")
    app = App(lifespan=db.lifespan)
    table = unique_name()

    @app.post("/items")
    async def create(request: Request) -> dict[str, Any]:
        body = await request.json()
        provider: DatabaseProvider = request.state.db
        async with provider.transaction() as conn:
            row = await conn.fetchrow(
                f"INSERT INTO {table} (name, n) VALUES ($1, $2) RETURNING id, name, n",
                body["name"],
                body["n"],
            )
        assert row is not None
        return row

    @app.get("/items")
    async def items() -> list[dict[str, Any]]:
        async with db.connection() as conn:
            return await conn.fetch(f"SELECT name, n FROM {table} ORDER BY id")

    @app.get("/ready")
    async def ready() -> dict[str, Any]:
        return await db.check()

    async with AsyncTestClient(app) as client:
        assert db.started
        await db.pool.execute(table_ddl(backend, table))
        try:
            created = await client.post("/items", json={"name": "bolt", "n": 3})
            assert created.status_code == 200, created.text
            assert created.json()["name"] == "bolt" and isinstance(created.json()["id"], int)
            assert (await client.get("/items")).json() == [{"name": "bolt", "n": 3}]
            ready = await client.get("/ready")
            assert ready.status_code == 200
            assert ready.json()["status"] == "up"
        finally:
            await db.pool.execute(f"DROP TABLE {table}")
    assert not db.started


async def test_app_wiring_with_startup_hooks(backend: str, tmp_path: Path) -> None:
    db = DatabaseProvider(config_for(backend, tmp_path))
    app = App(on_startup=[db.startup], on_shutdown=[db.shutdown])

    @app.get("/one")
    async def one() -> dict[str, Any]:
        return {"one": await db.pool.fetchval("SELECT 1")}

    async with AsyncTestClient(app) as client:
        assert (await client.get("/one")).json() == {"one": 1}
    assert not db.started
