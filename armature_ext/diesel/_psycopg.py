"""psycopg 3 backend: a wrapper over ``psycopg_pool.AsyncConnectionPool``.

Connections use psycopg's raw cursor (``AsyncRawCursor``), which takes PostgreSQL's native
``$1`` placeholders, so queries go through untouched and a literal ``%`` needs no escaping.
They run in autocommit mode; transactions are explicit ``BEGIN``/``COMMIT`` statements, exactly as
on asyncpg.

``psycopg_pool`` retries failed connection attempts in the background and lets ``getconn`` time
out; when that happens this driver makes one short direct connection attempt (at most once a
second) to tell "database down" (:class:`DatabaseUnavailable`) from "pool busy"
(:class:`PoolTimeout`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import anyio
import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from psycopg_pool import PoolClosed as _PsycopgPoolClosed
from psycopg_pool import PoolTimeout as _PsycopgPoolTimeout

from armature_ext.diesel._driver import Driver
from armature_ext.diesel._pg import begin_statement, classify, connect_error
from armature_ext.diesel._sql import check_arguments, param_count
from armature_ext.diesel.config import DatabaseConfig
from armature_ext.diesel.connection import Connection, Isolation, Row
from armature_ext.diesel.errors import DatabaseUnavailable, DieselError, PoolClosed, PoolTimeout

# The pool never lets a connection live longer than this when no limit is configured (10 years).
_FOREVER = 10 * 365 * 24 * 3600.0
_BUSY = (TransactionStatus.INTRANS, TransactionStatus.INERROR, TransactionStatus.ACTIVE)
_PROBE_INTERVAL = 1.0


def translate_psycopg(raw: Any, exc: Exception) -> DieselError:
    """Wrap a psycopg exception in the matching :class:`DieselError`.

    Args:
        raw: The connection the error happened on (``None`` when connecting).
        exc: The driver exception.

    Returns:
        The typed error, SQLSTATE kept.
    """
    if isinstance(exc, psycopg.Error):
        sqlstate = exc.sqlstate
        lost = raw is not None and (raw.closed or raw.broken)
        if sqlstate is None and (lost or isinstance(exc, psycopg.OperationalError)):
            return DatabaseUnavailable(f"database connection lost: {exc}")
        return classify(sqlstate, str(exc))
    if isinstance(exc, OSError):
        return DatabaseUnavailable(f"database connection lost: {exc}")
    return classify(None, str(exc))


class PsycopgConnection(Connection):
    """A pooled psycopg ``AsyncConnection`` (``raw``) with dict rows and ``$n`` placeholders."""

    __slots__ = ()
    backend = "psycopg"

    def _driver_connection(self, raw: Any) -> Any:
        return raw

    def _prepare(self, query: str, nargs: int) -> str:
        check_arguments(param_count(query, "postgres"), nargs)
        return query

    async def _fetch(self, raw: Any, sql: str, args: Sequence[Any]) -> list[Row]:
        async with raw.cursor() as cursor:
            # NOTE: no arguments -> None, so psycopg uses the simple protocol like asyncpg does.
            await cursor.execute(sql, args or None)
            if cursor.description is None:
                return []
            rows: list[Row] = await cursor.fetchall()
            return rows

    async def _fetchrow(self, raw: Any, sql: str, args: Sequence[Any]) -> Row | None:
        async with raw.cursor() as cursor:
            await cursor.execute(sql, args or None)
            if cursor.description is None:
                return None
            row: Row | None = await cursor.fetchone()
            return row

    async def _execute(self, raw: Any, sql: str, args: Sequence[Any]) -> int:
        async with raw.cursor() as cursor:
            await cursor.execute(sql, args or None)
            return max(int(cursor.rowcount), 0)

    async def _executemany(self, raw: Any, sql: str, args: list[tuple[Any, ...]]) -> None:
        async with raw.cursor() as cursor:
            await cursor.executemany(sql, args)

    async def _run_control(self, raw: Any, sql: str) -> None:
        await raw.execute(sql)

    def _in_transaction(self, raw: Any) -> bool:
        return raw.info.transaction_status in _BUSY

    def _translate(self, raw: Any, exc: Exception) -> DieselError:
        return translate_psycopg(raw, exc)

    def _begin_statements(
        self, isolation: Isolation | None, readonly: bool, deferrable: bool
    ) -> list[str]:
        return [begin_statement(isolation, readonly, deferrable)]


class PsycopgDriver(Driver):
    """``psycopg_pool.AsyncConnectionPool`` behind the :class:`Driver` interface."""

    def __init__(self, config: DatabaseConfig) -> None:
        super().__init__(config)
        self._pool: AsyncConnectionPool[Any] | None = None
        self._lent: set[Any] = set()
        self._probed_at = -_PROBE_INTERVAL
        self._probe_error: DatabaseUnavailable | None = None

    @property
    def max_size(self) -> int:
        return self.config.pool_size

    def size(self) -> int:
        return 0 if self._pool is None else int(self._pool.get_stats().get("pool_size", 0))

    def idle(self) -> int:
        return 0 if self._pool is None else int(self._pool.get_stats().get("pool_available", 0))

    def _connect_kwargs(self) -> dict[str, Any]:
        return {
            "autocommit": True,
            "row_factory": dict_row,
            "cursor_factory": psycopg.AsyncRawCursor,
            **self.config.libpq_options(),
        }

    async def _probe(self, timeout: float) -> DatabaseUnavailable | None:
        """Try one direct connection; return the error when the database cannot be reached."""
        try:
            with anyio.fail_after(timeout):
                conn = await psycopg.AsyncConnection.connect(
                    self.config.driver_url(), **self._connect_kwargs()
                )
        except Exception as exc:
            sqlstate = exc.sqlstate if isinstance(exc, psycopg.Error) else None
            return connect_error(self.config, exc, sqlstate)
        await conn.close()
        return None

    async def open(self) -> None:
        config = self.config
        # NOTE: psycopg_pool only reports "pool initialization incomplete" when the server is
        # down; a direct attempt first gives the real reason (refused, unknown database, auth).
        error = await self._probe(config.connect_timeout)
        if error is not None:
            raise error
        self._pool = AsyncConnectionPool(
            config.driver_url(),
            kwargs=self._connect_kwargs(),
            min_size=config.pool_min,
            max_size=config.pool_size,
            open=False,
            timeout=config.acquire_timeout,
            max_lifetime=config.max_lifetime or _FOREVER,
            max_idle=config.idle_timeout or _FOREVER,
            name="diesel",
        )
        try:
            await self._pool.open(wait=config.pool_min > 0, timeout=config.connect_timeout)
        except _PsycopgPoolTimeout as exc:
            await self._pool.close()
            raise connect_error(config, TimeoutError(), None) from exc

    async def acquire(self, timeout: float) -> Connection:
        pool = self._pool
        if pool is None or pool.closed:
            raise PoolClosed("the psycopg pool is closed")
        try:
            raw = await pool.getconn(timeout=timeout)
        except _PsycopgPoolTimeout:
            raise await self._timeout_error(timeout) from None
        except _PsycopgPoolClosed as exc:
            raise PoolClosed("the psycopg pool is closed") from exc
        self._lent.add(raw)
        return PsycopgConnection(raw)

    async def _timeout_error(self, timeout: float) -> DieselError:
        now = time.monotonic()
        if now - self._probed_at >= _PROBE_INTERVAL:
            self._probed_at = now
            self._probe_error = await self._probe(min(self.config.connect_timeout, 2.0))
        if self._probe_error is not None:
            return self._probe_error
        return PoolTimeout(
            f"no PostgreSQL connection became free within {timeout:g}s "
            f"(pool size {self.config.pool_size})"
        )

    async def release(self, conn: Connection, raw: object, reusable: bool) -> None:
        connection: Any = raw
        self._lent.discard(connection)
        if not reusable and not connection.closed:
            await connection.close()
        if self._pool is None or self._pool.closed:
            if not connection.closed:
                await connection.close()
            return
        await self._pool.putconn(connection)

    async def close(self) -> None:
        pool = self._pool
        if pool is None:
            return
        for connection in list(self._lent):  # still lent out after the drain: cut them off
            connection.pgconn.finish()
        self._lent.clear()
        await pool.close(timeout=self.config.connect_timeout)
