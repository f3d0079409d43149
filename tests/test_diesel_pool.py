"""Pool and Connection behaviour shared by asyncpg, psycopg and SQLite (real databases)."""
# ruff: noqa: F811 - pytest fixtures imported from test_diesel_support are parameters here

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio
import pytest
from test_diesel_support import (  # noqa: F401 - fixtures
    anyio_backend,
    backend,
    config_for,
    pool,
    table,
)

from armature_ext.diesel import (
    DatabaseConfig,
    DieselError,
    IntegrityError,
    ParameterError,
    Pool,
    PoolClosed,
    PoolTimeout,
    QueryError,
    create_pool,
)

pytestmark = pytest.mark.anyio


async def test_query_helpers_round_trip(pool: Pool, table: str) -> None:
    assert await pool.execute(f"INSERT INTO {table} (name, n) VALUES ($1, $2)", "a", 1) == 1
    await pool.executemany(
        f"INSERT INTO {table} (name, n) VALUES ($1, $2)", [("b", 2), ("c", 3), ("d", None)]
    )
    rows = await pool.fetch(f"SELECT name, n FROM {table} ORDER BY name")
    assert rows == [
        {"name": "a", "n": 1},
        {"name": "b", "n": 2},
        {"name": "c", "n": 3},
        {"name": "d", "n": None},
    ]
    assert all(type(row) is dict for row in rows)
    assert await pool.fetchrow(f"SELECT name, n FROM {table} WHERE n = $1", 2) == {
        "name": "b",
        "n": 2,
    }
    assert await pool.fetchrow(f"SELECT name FROM {table} WHERE n = $1", 99) is None
    assert await pool.fetchval(f"SELECT count(*) FROM {table}") == 4
    assert await pool.fetchval(f"SELECT name, n FROM {table} WHERE n = $1", 3, column=1) == 3
    assert await pool.fetchval(f"SELECT n FROM {table} WHERE name = $1", "zz") is None
    assert await pool.fetch(f"SELECT * FROM {table} WHERE n > $1", 100) == []
    assert await pool.execute(f"UPDATE {table} SET n = n + 10 WHERE n >= $1", 2) == 2
    assert await pool.execute(f"DELETE FROM {table} WHERE name = $1", "nobody") == 0


async def test_returning_and_generated_keys(pool: Pool, table: str) -> None:
    row = await pool.fetchrow(
        f"INSERT INTO {table} (name, n) VALUES ($1, $2) RETURNING id, name", "x", 5
    )
    assert row is not None and row["name"] == "x" and isinstance(row["id"], int)


async def test_connection_helpers(pool: Pool, table: str) -> None:
    async with pool.acquire() as conn:
        assert conn.backend == pool.backend
        assert not conn.is_in_transaction()
        await conn.execute(f"INSERT INTO {table} (name, n) VALUES ($1, $2)", "a", 1)
        await conn.executemany(f"INSERT INTO {table} (name, n) VALUES ($1, $2)", [("b", 2)])
        assert await conn.fetchval(f"SELECT sum(n) FROM {table}") == 3
        assert [r["name"] for r in await conn.fetch(f"SELECT name FROM {table} ORDER BY n")] == [
            "a",
            "b",
        ]
        assert conn.raw is not None


async def test_placeholders_skip_strings_and_repeat(pool: Pool) -> None:
    row = await pool.fetchrow(
        "SELECT '$1' AS lit, \"x\" AS q, CAST($1 AS INTEGER) AS a, CAST($1 AS INTEGER) + "
        'CAST($2 AS INTEGER) AS b /* $3 */ -- $4\n FROM (SELECT 1 AS "x") AS s',
        20,
        22,
    )
    assert row == {"lit": "$1", "q": 1, "a": 20, "b": 42}


async def test_percent_and_question_mark_literals(pool: Pool) -> None:
    assert await pool.fetchval("SELECT '100% sure?' || CAST($1 AS TEXT)", "!") == "100% sure?!"


async def test_wrong_argument_count_is_a_parameter_error(pool: Pool) -> None:
    with pytest.raises(ParameterError, match=r"needs 2 argument\(s\), got 1"):
        await pool.fetch("SELECT CAST($1 AS INTEGER) + CAST($2 AS INTEGER)", 1)
    with pytest.raises(ParameterError, match="no \\$n placeholders"):
        await pool.execute("SELECT 1", 1)
    async with pool.acquire() as conn:
        with pytest.raises(ParameterError):
            await conn.executemany("SELECT CAST($1 AS INTEGER)", [(1,), (1, 2)])


async def test_unique_violation_is_integrity_error_with_sqlstate(pool: Pool, table: str) -> None:
    await pool.execute(f"INSERT INTO {table} (name) VALUES ($1)", "dup")
    with pytest.raises(IntegrityError) as info:
        await pool.execute(f"INSERT INTO {table} (name) VALUES ($1)", "dup")
    assert info.value.sqlstate == "23505"
    assert info.value.__cause__ is not None  # the driver's exception is kept
    with pytest.raises(IntegrityError) as info:
        await pool.execute(f"INSERT INTO {table} (name) VALUES ($1)", None)
    assert info.value.sqlstate == "23502"


async def test_bad_sql_is_query_error(pool: Pool) -> None:
    with pytest.raises(QueryError) as info:
        await pool.fetch("SELEC nonsense")
    assert not isinstance(info.value, IntegrityError)
    if pool.backend != "sqlite":
        assert info.value.sqlstate == "42601"
    # The connection is still usable after the error.
    assert await pool.fetchval("SELECT 1") == 1


async def test_released_connection_is_unusable(pool: Pool) -> None:
    async with pool.acquire() as conn:
        pass
    assert conn.released
    with pytest.raises(DieselError, match="returned to the pool"):
        await conn.fetch("SELECT 1")


async def test_acquire_can_be_awaited_and_released(pool: Pool) -> None:
    conn = await pool.acquire()
    try:
        assert pool.status().in_use == 1
        assert await conn.fetchval("SELECT 7") == 7
    finally:
        await pool.release(conn)
    await pool.release(conn)  # second release is a no-op
    assert pool.status().in_use == 0


async def test_status_reports_usage_and_pressure(pool: Pool) -> None:
    status = pool.status()
    assert status.backend == pool.backend
    assert (status.max, status.in_use, status.waiting) == (3, 0, 0)
    assert status.size >= 1 and status.idle >= 1
    assert status.utilization == 0.0 and not status.under_pressure
    assert not status.closed
    async with pool.acquire(), pool.acquire():
        status = pool.status()
        assert status.in_use == 2
        assert status.utilization == pytest.approx(2 / 3, abs=1e-3)
        assert not status.under_pressure
        async with pool.acquire():
            status = pool.status()
            assert status.in_use == 3 and status.idle == 0
            assert status.utilization == 1.0 and status.under_pressure
            assert status.as_dict()["under_pressure"] is True


async def test_waiters_are_counted_and_served(pool: Pool) -> None:
    held = [await pool.acquire() for _ in range(3)]
    got: list[int] = []

    async def waiter() -> None:
        async with pool.acquire() as conn:
            got.append(await conn.fetchval("SELECT 1"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        with anyio.fail_after(5):
            while pool.status().waiting == 0:
                await anyio.sleep(0.01)
        assert pool.status().under_pressure
        await pool.release(held.pop())
    assert got == [1]
    for conn in held:
        await pool.release(conn)
    assert pool.status().waiting == 0 and pool.status().in_use == 0


async def test_acquire_times_out_when_exhausted(backend: str, tmp_path: Path) -> None:
    async with Pool(config_for(backend, tmp_path, pool_size=1, acquire_timeout=0.2)) as pool:
        async with pool.acquire():
            with pytest.raises(PoolTimeout) as info:
                async with pool.acquire():
                    pass
            assert info.value.status_code == 503
            assert pool.status().waiting == 0
            with pytest.raises(PoolTimeout):
                await pool.fetchval("SELECT 1")
        # Once returned, the connection is available again.
        assert await pool.fetchval("SELECT 1") == 1


async def test_close_drains_in_use_connections(backend: str, tmp_path: Path) -> None:
    pool = await create_pool(config_for(backend, tmp_path))
    results: list[object] = []

    async def slow_user() -> None:
        async with pool.acquire() as conn:
            await anyio.sleep(0.2)
            results.append(await conn.fetchval("SELECT 42"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(slow_user)
        with anyio.fail_after(5):
            while pool.status().in_use == 0:
                await anyio.sleep(0.01)
        await pool.close(timeout=5)
        # close() returned only after the user finished its query.
        assert results == [42]
    assert pool.closed and pool.status().closed
    with pytest.raises(PoolClosed) as info:
        await pool.fetchval("SELECT 1")
    assert info.value.status_code == 503
    await pool.close()  # idempotent


async def test_close_gives_up_on_stuck_connections(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pool = await create_pool(config_for(backend, tmp_path))
    conn = await pool.acquire()
    with anyio.fail_after(10):
        await pool.close(timeout=0.1)
    assert pool.closed
    assert "1 connection(s) still in use" in caplog.text
    await pool.release(conn)  # releasing after close neither raises nor logs an error
    assert pool.status().in_use == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_unopened_pool_refuses_to_serve(backend: str, tmp_path: Path) -> None:
    pool = Pool(config_for(backend, tmp_path))
    with pytest.raises(DieselError, match="not open"):
        await pool.fetchval("SELECT 1")
    await pool.close()
    with pytest.raises(PoolClosed):
        await pool.open()


async def test_create_pool_from_url_with_overrides(backend: str, tmp_path: Path) -> None:
    url = config_for(backend, tmp_path).url
    pool = await create_pool(url, pool_size=2, pool_min=0)
    try:
        assert pool.status().max == 2
        assert await pool.fetchval("SELECT CAST($1 AS INTEGER)", 5) == 5
    finally:
        await pool.close()
    pool = await create_pool(config_for(backend, tmp_path), pool_size=4)
    try:
        assert pool.status().max == (4 if backend != "sqlite" else 4)
    finally:
        await pool.close()


async def connection_identity(conn: Any) -> object:
    if conn.backend == "sqlite":
        return id(conn.raw)
    return await conn.fetchval("SELECT pg_backend_pid()")


async def test_max_lifetime_replaces_old_connections(backend: str, tmp_path: Path) -> None:
    config = config_for(backend, tmp_path, pool_size=1, max_lifetime=0.1)
    async with Pool(config) as pool:
        async with pool.acquire() as conn:
            first = await connection_identity(conn)
        async with pool.acquire() as conn:
            assert await connection_identity(conn) == first  # young: reused
        await anyio.sleep(0.2)
        async with pool.acquire():
            pass  # returned past its lifetime: retired
        with anyio.fail_after(10):
            async with pool.acquire() as conn:
                assert await connection_identity(conn) != first


async def test_sqlite_idle_connections_above_min_are_closed(tmp_path: Path) -> None:
    config = config_for("sqlite", tmp_path, pool_size=3, pool_min=1, idle_timeout=0.1)
    async with Pool(config) as pool:
        async with pool.acquire(), pool.acquire(), pool.acquire():
            pass
        assert pool.status().size == 3
        await anyio.sleep(0.2)
        async with pool.acquire():
            assert pool.status().size == 1  # two idled out, the minimum stays
        assert pool.status().idle == 1


async def test_sqlite_file_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    async with Pool(config_for("sqlite", tmp_path)) as pool:
        assert await pool.fetchval("PRAGMA journal_mode") == "wal"
        assert await pool.fetchval("PRAGMA foreign_keys") == 1


async def test_sqlite_memory_is_one_shared_connection() -> None:
    config = DatabaseConfig(url="sqlite:///:memory:", pool_size=10, acquire_timeout=0.1)
    async with Pool(config) as pool:
        status = pool.status()
        assert (status.max, status.size) == (1, 1)
        await pool.execute("CREATE TABLE t (x INTEGER)")
        await pool.execute("INSERT INTO t VALUES ($1)", 1)
        assert await pool.fetchval("SELECT count(*) FROM t") == 1  # same database every time
        async with pool.acquire():
            with pytest.raises(PoolTimeout):
                await pool.fetchval("SELECT 1")
        # A failed transaction does not cost the (only) connection and its data.
        with pytest.raises(RuntimeError):
            async with pool.transaction() as conn:
                await conn.execute("INSERT INTO t VALUES ($1)", 2)
                raise RuntimeError
        assert await pool.fetchval("SELECT count(*) FROM t") == 1
