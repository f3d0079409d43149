"""asyncpg backend: a wrapper over ``asyncpg.Pool``.

asyncpg takes ``$1`` placeholders natively, so queries go through untouched (the argument count
is still checked first for a uniform error). ``max_lifetime`` is enforced on release from the
birth time recorded when each connection is made.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import anyio
import asyncpg

from armature_ext.diesel._driver import Driver
from armature_ext.diesel._pg import begin_statement, classify, connect_error
from armature_ext.diesel._sql import check_arguments, param_count
from armature_ext.diesel.config import DatabaseConfig
from armature_ext.diesel.connection import Connection, Isolation, Row
from armature_ext.diesel.errors import DatabaseUnavailable, DieselError, PoolClosed, PoolTimeout


class _PgConnection(asyncpg.Connection):  # type: ignore[misc]
    """asyncpg connection carrying its creation time (for ``max_lifetime``)."""

    __slots__ = ("_diesel_born",)


async def _record_birth(conn: _PgConnection) -> None:
    conn._diesel_born = time.monotonic()


async def _no_reset(conn: asyncpg.Connection) -> None:
    # PERF: replaces asyncpg's default release-time "RESET ALL; UNLISTEN *; CLOSE ALL; ..." round
    # trip. Open transactions are still rolled back (by diesel first, and by asyncpg itself).
    return None


def _rowcount(status: str) -> int:
    # asyncpg returns the command tag: "INSERT 0 3", "UPDATE 2", "CREATE TABLE"...
    tail = status.rpartition(" ")[2]
    return int(tail) if tail.isdigit() else 0


def translate_asyncpg(raw: Any, exc: Exception) -> DieselError:
    """Wrap an asyncpg (or socket) exception in the matching :class:`DieselError`.

    Args:
        raw: The connection the error happened on (``None`` when connecting).
        exc: The driver exception.

    Returns:
        The typed error, SQLSTATE kept.
    """
    if isinstance(exc, asyncpg.PostgresError):
        return classify(exc.sqlstate, str(exc))
    if isinstance(exc, OSError | ConnectionError) or (
        raw is not None and isinstance(exc, asyncpg.InterfaceError) and raw.is_closed()
    ):
        return DatabaseUnavailable(f"database connection lost: {exc}")
    if isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc):
        return DatabaseUnavailable(f"database connection lost: {exc}")
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        # NOTE: seen when the server killed an idle session (57P01 arrives unsolicited and the
        # protocol state is left inconsistent before the EOF is processed): the connection is
        # unusable, so it is reported (and discarded) as lost.
        return DatabaseUnavailable(f"database connection lost: {exc}")
    return classify(None, str(exc))


class AsyncpgConnection(Connection):
    """A pooled asyncpg connection (``raw`` is the pool's connection proxy)."""

    __slots__ = ()
    backend = "asyncpg"

    def _driver_connection(self, raw: Any) -> Any:
        return raw

    def _prepare(self, query: str, nargs: int) -> str:
        check_arguments(param_count(query, "postgres"), nargs)
        return query

    async def _fetch(self, raw: Any, sql: str, args: Sequence[Any]) -> list[Row]:
        return [dict(record) for record in await raw.fetch(sql, *args)]

    async def _fetchrow(self, raw: Any, sql: str, args: Sequence[Any]) -> Row | None:
        record = await raw.fetchrow(sql, *args)
        return None if record is None else dict(record)

    async def _execute(self, raw: Any, sql: str, args: Sequence[Any]) -> int:
        return _rowcount(await raw.execute(sql, *args))

    async def _executemany(self, raw: Any, sql: str, args: list[tuple[Any, ...]]) -> None:
        await raw.executemany(sql, args)

    async def _run_control(self, raw: Any, sql: str) -> None:
        await raw.execute(sql)

    def _in_transaction(self, raw: Any) -> bool:
        return bool(raw.is_in_transaction())

    def _translate(self, raw: Any, exc: Exception) -> DieselError:
        return translate_asyncpg(raw, exc)

    def _begin_statements(
        self, isolation: Isolation | None, readonly: bool, deferrable: bool
    ) -> list[str]:
        return [begin_statement(isolation, readonly, deferrable)]


class AsyncpgDriver(Driver):
    """``asyncpg.Pool`` behind the :class:`Driver` interface."""

    def __init__(self, config: DatabaseConfig) -> None:
        super().__init__(config)
        self._pool: Any = None

    @property
    def max_size(self) -> int:
        return self.config.pool_size

    def size(self) -> int:
        return 0 if self._pool is None else int(self._pool.get_size())

    def idle(self) -> int:
        return 0 if self._pool is None else int(self._pool.get_idle_size())

    async def open(self) -> None:
        config = self.config
        kwargs: dict[str, Any] = {
            "min_size": config.pool_min,
            "max_size": config.pool_size,
            "max_inactive_connection_lifetime": config.idle_timeout or 0.0,
            "timeout": config.connect_timeout,
            "connection_class": _PgConnection,
            "init": _record_birth,
            "reset": _no_reset,
        }
        settings = config.server_settings()
        if settings:
            kwargs["server_settings"] = settings
        if config.ssl_mode is not None:
            kwargs["ssl"] = config.ssl_mode
        try:
            # NOTE: asyncpg's own timeout covers each connection attempt; this bounds the whole
            # min_size warm-up (connections are opened concurrently).
            with anyio.fail_after(config.connect_timeout * 2):
                self._pool = await asyncpg.create_pool(config.driver_url(), **kwargs)
        except Exception as exc:
            sqlstate = exc.sqlstate if isinstance(exc, asyncpg.PostgresError) else None
            raise connect_error(config, exc, sqlstate) from exc

    async def acquire(self, timeout: float) -> Connection:
        pool = self._pool
        if pool is None or pool.is_closing():
            raise PoolClosed("the asyncpg pool is closed")
        try:
            proxy = await pool.acquire(timeout=timeout)
        except TimeoutError:
            raise PoolTimeout(
                f"no PostgreSQL connection became free within {timeout:g}s "
                f"(pool size {self.config.pool_size})"
            ) from None
        except asyncpg.InterfaceError as exc:
            if pool.is_closing():
                raise PoolClosed("the asyncpg pool is closed") from exc
            raise connect_error(self.config, exc) from exc
        except Exception as exc:
            sqlstate = exc.sqlstate if isinstance(exc, asyncpg.PostgresError) else None
            raise connect_error(self.config, exc, sqlstate) from exc
        return AsyncpgConnection(proxy)

    async def release(self, conn: Connection, raw: object, reusable: bool) -> None:
        proxy: Any = raw
        pool = self._pool
        if pool is None or pool.is_closing():
            return  # close() already terminated every connection, this one included
        lifetime = self.config.max_lifetime
        if not reusable:
            proxy.terminate()
        elif lifetime is not None:
            born = getattr(proxy, "_diesel_born", None)
            if born is not None and time.monotonic() - born >= lifetime:
                # Retired gracefully; asyncpg opens a replacement on a later acquire.
                with anyio.move_on_after(self.config.connect_timeout):
                    await proxy.close()
                if not proxy.is_closed():
                    proxy.terminate()
        await pool.release(proxy, timeout=self.config.connect_timeout)

    async def close(self) -> None:
        pool = self._pool
        if pool is None:
            return
        if pool.get_size() > pool.get_idle_size():
            pool.terminate()  # NOTE: still lent out after Pool.close's drain: cut them off
            return
        with anyio.move_on_after(self.config.connect_timeout) as scope:
            await pool.close()
        if scope.cancelled_caught:
            pool.terminate()
