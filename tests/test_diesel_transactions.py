"""Transactions on every backend: commit, rollback, savepoints, options, cancellation, retry."""
# ruff: noqa: F811 - pytest fixtures imported from test_diesel_support are parameters here

from __future__ import annotations

import asyncio
from pathlib import Path

import anyio
import pytest
from test_diesel_support import (  # noqa: F401 - fixtures
    anyio_backend,
    backend,
    config_for,
    pg_backend,
    pool,
    table,
    table_ddl,
    unique_name,
)

from armature_ext.diesel import (
    Pool,
    QueryError,
    SerializationFailure,
    TransactionError,
    retry_serializable,
)

pytestmark = pytest.mark.anyio


class Boom(Exception):
    pass


async def names(pool: Pool, table: str) -> list[str]:
    return [row["name"] for row in await pool.fetch(f"SELECT name FROM {table} ORDER BY name")]


async def test_commit_on_success(pool: Pool, table: str) -> None:
    async with pool.transaction() as conn:
        assert conn.is_in_transaction()
        await conn.execute(f"INSERT INTO {table} (name) VALUES ($1)", "a")
        await conn.execute(f"INSERT INTO {table} (name) VALUES ($1)", "b")
    assert await names(pool, table) == ["a", "b"]
    assert pool.status().in_use == 0


async def test_rollback_on_exception(pool: Pool, table: str) -> None:
    with pytest.raises(Boom):
        async with pool.transaction() as conn:
            await conn.execute(f"INSERT INTO {table} (name) VALUES ($1)", "a")
            raise Boom
    assert await names(pool, table) == []


async def test_rollback_after_a_failed_statement(pool: Pool, table: str) -> None:
    await pool.execute(f"INSERT INTO {table} (name) VALUES ($1)", "dup")
    with pytest.raises(QueryError):
        async with pool.transaction() as conn:
            await conn.execute(f"INSERT INTO {table} (name) VALUES ($1)", "new")
            await conn.execute(f"INSERT INTO {table} (name) VALUES ($1)", "dup")
    assert await names(pool, table) == ["dup"]


async def test_uncommitted_rows_are_invisible_to_other_connections(pool: Pool, table: str) -> None:
    async with pool.transaction() as conn:
        await conn.execute(f"INSERT INTO {table} (name) VALUES ($1)", "pending")
        async with pool.acquire() as other:
            assert await other.fetchval(f"SELECT count(*) FROM {table}") == 0
    assert await pool.fetchval(f"SELECT count(*) FROM {table}") == 1


async def test_nested_transaction_is_a_savepoint(pool: Pool, table: str) -> None:
    async with pool.transaction() as conn:
        await conn.execute(f"INSERT INTO {table} (name) VALUES ($1)", "outer")
        with pytest.raises(Boom):
            async with conn.transaction():
                await conn.execute(f"INSERT INTO {table} (name) VALUES ($1)", "inner-lost")
                raise Boom
        async with conn.transaction():
            await conn.execute(f"INSERT INTO {table} (name) VALUES ($1)", "inner-kept")
            async with conn.transaction():
                await conn.execute(f"INSERT INTO {table} (name) VALUES ($1)", "deepest")
        assert conn.is_in_transaction()
    assert await names(pool, table) == ["deepest", "inner-kept", "outer"]


async def test_failed_statement_inside_savepoint_keeps_outer_work(pool: Pool, table: str) -> None:
    await pool.execute(f"INSERT INTO {table} (name) VALUES ($1)", "dup")
    async with pool.transaction() as conn:
        await conn.execute(f"INSERT INTO {table} (name) VALUES ($1)", "kept")
        with pytest.raises(QueryError):
            async with conn.transaction():
                await conn.execute(f"INSERT INTO {table} (name) VALUES ($1)", "dup")
        await conn.execute(f"INSERT INTO {table} (name) VALUES ($1)", "after")
    assert await names(pool, table) == ["after", "dup", "kept"]


async def test_outer_rollback_discards_released_savepoints(pool: Pool, table: str) -> None:
    with pytest.raises(Boom):
        async with pool.transaction() as conn:
            async with conn.transaction():
                await conn.execute(f"INSERT INTO {table} (name) VALUES ($1)", "inner")
            raise Boom
    assert await names(pool, table) == []


async def test_options_on_a_nested_transaction_are_an_error(pool: Pool) -> None:
    async with pool.transaction() as conn:
        with pytest.raises(TransactionError, match="outermost"):
            async with conn.transaction(isolation="serializable"):
                pass
        with pytest.raises(TransactionError):
            async with conn.transaction(readonly=True):
                pass
        assert await conn.fetchval("SELECT 1") == 1


async def test_unknown_isolation_is_an_error(pool: Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(TransactionError, match="unknown isolation 'snapshot'"):
            conn.transaction(isolation="snapshot")  # type: ignore[arg-type]


async def test_foreign_transaction_is_detected(pool: Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("BEGIN")
        with pytest.raises(TransactionError, match="did not start"):
            async with conn.transaction():
                pass
    # Released with a transaction open: the pool rolled it back.
    async with pool.acquire() as conn:
        assert not conn.is_in_transaction()


@pytest.mark.parametrize(
    "isolation", ["serializable", "repeatable_read", "read_committed", "read_uncommitted"]
)
async def test_isolation_levels(pool: Pool, table: str, isolation: str) -> None:
    async with pool.transaction(isolation=isolation) as conn:  # type: ignore[arg-type]
        await conn.execute(f"INSERT INTO {table} (name) VALUES ($1)", isolation)
        if pool.backend != "sqlite":
            level = await conn.fetchval("SHOW transaction_isolation")
            # PostgreSQL runs READ UNCOMMITTED as READ COMMITTED but reports what was asked.
            assert level == isolation.replace("_", " ")
    assert await names(pool, table) == [isolation]


async def test_readonly_rejects_writes_then_connection_writes_again(pool: Pool, table: str) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(QueryError) as info:
            async with conn.transaction(readonly=True):
                assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0
                await conn.execute(f"INSERT INTO {table} (name) VALUES ($1)", "nope")
        assert info.value.sqlstate == "25006"
        assert not conn.is_in_transaction()
        await conn.execute(f"INSERT INTO {table} (name) VALUES ($1)", "yes")
    assert await names(pool, table) == ["yes"]


async def test_serializable_readonly_deferrable(pool: Pool) -> None:
    async with pool.transaction("serializable", readonly=True, deferrable=True) as conn:
        if pool.backend != "sqlite":
            assert await conn.fetchval("SHOW transaction_deferrable") == "on"
            assert await conn.fetchval("SHOW transaction_read_only") == "on"
        assert await conn.fetchval("SELECT 1") == 1


# -- cancellation ---------------------------------------------------------------------------


async def assert_clean_next_acquire(pool: Pool) -> None:
    async with pool.acquire() as conn:
        assert not conn.is_in_transaction()
        if pool.backend != "sqlite":
            assert await conn.fetchval("SELECT txid_current_if_assigned()") is None
        assert await conn.fetchval("SELECT 1") == 1


async def test_cancelled_transaction_rolls_back_and_returns_clean(
    backend: str, tmp_path: Path
) -> None:
    async with Pool(config_for(backend, tmp_path, pool_size=1)) as pool:
        name = unique_name()
        await pool.execute(table_ddl(backend, name))
        try:
            with anyio.move_on_after(0.2) as scope:
                async with pool.transaction() as conn:
                    await conn.execute(f"INSERT INTO {name} (name) VALUES ($1)", "ghost")
                    await anyio.sleep(30)
            assert scope.cancelled_caught
            assert pool.status().in_use == 0
            await assert_clean_next_acquire(pool)
            assert await pool.fetchval(f"SELECT count(*) FROM {name}") == 0
        finally:
            await pool.execute(f"DROP TABLE {name}")


async def test_query_cancelled_mid_flight_returns_clean(backend: str, tmp_path: Path) -> None:
    slow = (
        "SELECT pg_sleep(30)"
        if backend != "sqlite"
        else "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT count(*) FROM c"
    )
    async with Pool(config_for(backend, tmp_path, pool_size=1)) as pool:
        with anyio.fail_after(20):  # hang guard only
            with anyio.move_on_after(0.3) as scope:
                async with pool.transaction() as conn:
                    await conn.fetchval(slow)
            assert scope.cancelled_caught
            await assert_clean_next_acquire(pool)


async def test_native_asyncio_cancellation_returns_clean(backend: str, tmp_path: Path) -> None:
    async with Pool(config_for(backend, tmp_path, pool_size=1)) as pool:

        async def work() -> None:
            async with pool.transaction() as conn:
                await conn.fetchval("SELECT 1")
                await asyncio.sleep(30)

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(work(), 0.2)
        with anyio.fail_after(10):
            while pool.status().in_use:  # a release may finish in the background
                await asyncio.sleep(0.01)
        await assert_clean_next_acquire(pool)


# -- serialization failures and retry --------------------------------------------------------


async def write_skew(pool: Pool, table: str, me: str, interfere: bool) -> None:
    """Insert ``me`` if no row has n = 1, optionally racing a committed concurrent writer."""
    async with pool.acquire() as other:
        async with pool.transaction(isolation="serializable") as conn:
            seen = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE n = 1")
            if interfere:
                async with other.transaction(isolation="serializable"):
                    await other.fetchval(f"SELECT count(*) FROM {table} WHERE n = 1")
                    await other.execute(f"INSERT INTO {table} (name, n) VALUES ($1, 1)", "rival")
            if seen == 0:
                await conn.execute(f"INSERT INTO {table} (name, n) VALUES ($1, 1)", me)


async def test_serialization_failure_is_typed(pg_backend: str, tmp_path: Path) -> None:
    async with Pool(config_for(pg_backend, tmp_path)) as pool:
        name = unique_name()
        await pool.execute(table_ddl(pg_backend, name))
        try:
            with pytest.raises(SerializationFailure) as info:
                await write_skew(pool, name, "me", interfere=True)
            assert info.value.sqlstate == "40001"
            assert await names(pool, name) == ["rival"]
            await assert_clean_next_acquire(pool)
        finally:
            await pool.execute(f"DROP TABLE {name}")


async def test_retry_serializable_reruns_the_transaction(pg_backend: str, tmp_path: Path) -> None:
    async with Pool(config_for(pg_backend, tmp_path)) as pool:
        name = unique_name()
        await pool.execute(table_ddl(pg_backend, name))
        attempts = 0

        async def unit() -> str:
            nonlocal attempts
            attempts += 1
            # The first attempt loses the race; the second sees the rival's row and skips.
            await write_skew(pool, name, "me", interfere=attempts == 1)
            return "done"

        try:
            assert await retry_serializable(unit, attempts=3, backoff=0.001) == "done"
            assert attempts == 2
            assert await names(pool, name) == ["rival"]
        finally:
            await pool.execute(f"DROP TABLE {name}")


async def test_retry_gives_up_after_attempts() -> None:
    calls = 0

    async def always_conflicts() -> None:
        nonlocal calls
        calls += 1
        raise SerializationFailure("could not serialize access", sqlstate="40001")

    with pytest.raises(SerializationFailure):
        await retry_serializable(always_conflicts, attempts=3, backoff=0.0)
    assert calls == 3


async def test_retry_does_not_retry_other_errors() -> None:
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise QueryError("syntax error", sqlstate="42601")

    with pytest.raises(QueryError):
        await retry_serializable(broken, attempts=5, backoff=0.0)
    assert calls == 1


async def test_retry_deadlock_sqlstate_and_validation() -> None:
    outcomes: list[BaseException | str] = [
        SerializationFailure("deadlock detected", sqlstate="40P01"),
        "ok",
    ]

    async def flaky() -> str:
        item = outcomes.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    assert await retry_serializable(flaky, backoff=0.0, jitter=False) == "ok"
    with pytest.raises(ValueError, match="attempts"):
        await retry_serializable(flaky, attempts=0)
    with pytest.raises(ValueError, match="negative"):
        await retry_serializable(flaky, backoff=-1)
