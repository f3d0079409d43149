"""The connection :class:`Pool`: one typed API over asyncpg, psycopg_pool and a SQLite pool.

.. code-block:: python

    async with Pool(DatabaseConfig(url="sqlite:///app.db")) as pool:
        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT id, name FROM users WHERE id > $1", 10)
        async with pool.transaction(isolation="serializable") as conn:
            await conn.execute("UPDATE accounts SET total = total - $1 WHERE id = $2", 5, 1)

The pool counts connections in use and acquirers waiting itself, so :meth:`Pool.status` reports
the same numbers on every backend, and :meth:`Pool.close` can drain (wait, bounded, for the
connections in use to come back) before closing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Generator, Iterable, Sequence
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any, Literal

import anyio

from armature_ext.diesel._driver import Driver
from armature_ext.diesel.config import Backend, DatabaseConfig
from armature_ext.diesel.connection import Connection, Isolation, Row, Transaction
from armature_ext.diesel.errors import DieselError, PoolClosed

__all__ = ["PRESSURE_THRESHOLD", "Pool", "PoolStatus", "create_pool"]

logger = logging.getLogger("armature_ext.diesel")

#: Utilization at or above which :attr:`PoolStatus.under_pressure` is set.
PRESSURE_THRESHOLD = 0.8

_State = Literal["new", "opening", "open", "closing", "closed"]


@dataclass(frozen=True, slots=True)
class PoolStatus:
    """A snapshot of a pool's occupancy.

    Args:
        backend: ``"asyncpg"``, ``"psycopg"`` or ``"sqlite"``.
        size: Connections open (idle plus in use).
        idle: Connections open and free.
        in_use: Connections handed out and not yet returned.
        waiting: Callers blocked in ``acquire()``.
        max: The pool's maximum size.
        min: Connections kept open while idle.
        utilization: ``in_use / max`` (0.0 to 1.0).
        under_pressure: ``utilization >= 0.8`` or anyone is waiting.
        closed: Whether the pool is closing or closed.
    """

    backend: Backend
    size: int
    idle: int
    in_use: int
    waiting: int
    max: int
    min: int
    utilization: float
    under_pressure: bool
    closed: bool

    def as_dict(self) -> dict[str, Any]:
        """Return the snapshot as a JSON-serializable dict.

        Returns:
            The fields by name.
        """
        return asdict(self)


def _make_driver(config: DatabaseConfig) -> Driver:
    # NOTE: imported lazily so that an app on SQLite does not need asyncpg or psycopg installed.
    if config.backend == "asyncpg":
        from armature_ext.diesel._asyncpg import AsyncpgDriver

        return AsyncpgDriver(config)
    if config.backend == "psycopg":
        from armature_ext.diesel._psycopg import PsycopgDriver

        return PsycopgDriver(config)
    from armature_ext.diesel._sqlite import SqliteDriver

    return SqliteDriver(config)


class Pool:
    """A pool of database connections for one :class:`DatabaseConfig`.

    Open it with ``await pool.open()`` (or ``async with Pool(config) as pool``, or
    ``await create_pool(config)``); opening checks connectivity with one round trip and raises
    :class:`~armature_ext.diesel.errors.DatabaseUnavailable` with the reason when the database
    cannot be reached. Everything here is asyncio-only (the drivers are).

    Args:
        config: The settings, or a URL string.
    """

    def __init__(self, config: DatabaseConfig | str) -> None:
        self.config = DatabaseConfig(url=config) if isinstance(config, str) else config
        self._driver = _make_driver(self.config)
        self._state: _State = "new"
        self._in_use = 0
        self._waiting = 0
        self._drained: anyio.Event | None = None
        self._closed_event: anyio.Event | None = None
        self._background: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"<Pool {self.config.redacted_url} {self._state} in_use={self._in_use}>"

    @property
    def backend(self) -> Backend:
        """The backend in use: ``"asyncpg"``, ``"psycopg"`` or ``"sqlite"``."""
        return self.config.backend

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._state in ("closing", "closed")

    # -- lifecycle --------------------------------------------------------------------------

    async def open(self) -> Pool:
        """Open the pool and verify the database answers.

        Returns:
            This pool, so ``pool = await Pool(config).open()`` works.

        Raises:
            DatabaseUnavailable: The database cannot be reached; the message says why.
            PoolClosed: The pool was already closed.
        """
        if self._state == "open":
            return self
        if self._state != "new":
            raise PoolClosed(f"the pool for {self.config.redacted_url} is {self._state}")
        self._state = "opening"
        try:
            await self._driver.open()
            self._state = "open"
            await self.fetchval("SELECT 1")
        except BaseException:
            self._state = "closed"
            with anyio.CancelScope(shield=True):
                await self._driver.close()
            raise
        return self

    async def close(self, timeout: float | None = None) -> None:
        """Drain and close the pool.

        New ``acquire()`` calls fail with :class:`PoolClosed` at once; connections in use get up
        to ``timeout`` seconds to come back, then every connection is closed.

        Args:
            timeout: Seconds to wait for connections in use (``config.close_timeout`` by
                default).
        """
        if self._state == "new":
            self._state = "closed"
            return
        if self._state in ("closing", "closed"):
            if self._closed_event is not None:
                await self._closed_event.wait()
            return
        self._state = "closing"
        self._closed_event = anyio.Event()
        wait = self.config.close_timeout if timeout is None else timeout
        try:
            with anyio.CancelScope(shield=True):
                if self._in_use:
                    self._drained = anyio.Event()
                    with anyio.move_on_after(wait):
                        await self._drained.wait()
                    if self._in_use:
                        logger.warning(
                            "closing the pool for %s with %d connection(s) still in use",
                            self.config.redacted_url,
                            self._in_use,
                        )
                await self._driver.close()
                if self._background:
                    with anyio.move_on_after(wait):
                        await asyncio.gather(*self._background, return_exceptions=True)
        finally:
            self._state = "closed"
            self._closed_event.set()

    async def __aenter__(self) -> Pool:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- connections ------------------------------------------------------------------------

    def acquire(self, timeout: float | None = None) -> _Acquire:
        """Borrow a connection: ``async with pool.acquire() as conn:``.

        Args:
            timeout: Seconds to wait for a free connection (``config.acquire_timeout`` by
                default) before raising :class:`~armature_ext.diesel.errors.PoolTimeout`.

        Returns:
            An async context manager yielding a :class:`Connection`; it can also be awaited
            (``conn = await pool.acquire()``), in which case call :meth:`release` yourself.
        """
        return _Acquire(self, timeout)

    async def release(self, conn: Connection) -> None:
        """Return a connection obtained with ``await pool.acquire()``.

        Args:
            conn: The connection; it is unusable afterwards. Releasing twice is a no-op.
        """
        await self._release(conn)

    def transaction(
        self,
        isolation: Isolation | None = None,
        *,
        readonly: bool = False,
        deferrable: bool = False,
        timeout: float | None = None,
    ) -> _PoolTransaction:
        """Borrow a connection and run a transaction on it.

        ``async with pool.transaction() as conn:`` commits on success and rolls back on an
        exception or cancellation, then returns the connection to the pool.

        Args:
            isolation: ``"serializable"``, ``"repeatable_read"``, ``"read_committed"`` or
                ``"read_uncommitted"`` (``None``: the database default).
            readonly: Reject writes.
            deferrable: PostgreSQL ``DEFERRABLE`` (with serializable read-only).
            timeout: The acquire timeout override.

        Returns:
            An async context manager yielding the :class:`Connection`.
        """
        return _PoolTransaction(self, timeout, isolation, readonly, deferrable)

    def status(self) -> PoolStatus:
        """Return a snapshot of the pool's occupancy.

        Returns:
            Size, idle, in use, waiting, max, utilization and the ``under_pressure`` flag.
        """
        max_size = self._driver.max_size
        in_use = self._in_use
        size = max(self._driver.size(), in_use)
        utilization = round(in_use / max_size, 4) if max_size else 0.0
        return PoolStatus(
            backend=self.backend,
            size=size,
            idle=max(0, min(self._driver.idle(), size - in_use)),
            in_use=in_use,
            waiting=self._waiting,
            max=max_size,
            min=min(self._driver.min_size, max_size),
            utilization=utilization,
            under_pressure=utilization >= PRESSURE_THRESHOLD or self._waiting > 0,
            closed=self.closed,
        )

    # -- one-shot helpers -------------------------------------------------------------------

    async def fetch(self, query: str, *args: Any) -> list[Row]:
        """Run a query on a pooled connection and return every row.

        Args:
            query: SQL with ``$1``-style placeholders.
            *args: One value per placeholder.

        Returns:
            The rows as dicts.
        """
        conn = await self._acquire(None)
        try:
            return await conn.fetch(query, *args)
        finally:
            await self._release(conn)

    async def fetchrow(self, query: str, *args: Any) -> Row | None:
        """Run a query on a pooled connection and return its first row.

        Args:
            query: SQL with ``$1``-style placeholders.
            *args: One value per placeholder.

        Returns:
            The first row as a dict, or ``None``.
        """
        conn = await self._acquire(None)
        try:
            return await conn.fetchrow(query, *args)
        finally:
            await self._release(conn)

    async def fetchval(self, query: str, *args: Any, column: int = 0) -> Any:
        """Run a query on a pooled connection and return one value of its first row.

        Args:
            query: SQL with ``$1``-style placeholders.
            *args: One value per placeholder.
            column: The zero-based column index.

        Returns:
            The value, or ``None`` when there are no rows.
        """
        conn = await self._acquire(None)
        try:
            return await conn.fetchval(query, *args, column=column)
        finally:
            await self._release(conn)

    async def execute(self, query: str, *args: Any) -> int:
        """Run one statement on a pooled connection.

        Args:
            query: SQL with ``$1``-style placeholders.
            *args: One value per placeholder.

        Returns:
            The number of rows affected (0 for statements such as DDL).
        """
        conn = await self._acquire(None)
        try:
            return await conn.execute(query, *args)
        finally:
            await self._release(conn)

    async def executemany(self, query: str, args: Iterable[Sequence[Any]]) -> None:
        """Run a statement once per argument sequence on one pooled connection.

        Args:
            query: SQL with ``$1``-style placeholders.
            args: One sequence of values per execution.
        """
        conn = await self._acquire(None)
        try:
            await conn.executemany(query, args)
        finally:
            await self._release(conn)

    # -- internals --------------------------------------------------------------------------

    async def _acquire(self, timeout: float | None) -> Connection:
        if self._state != "open":
            if self._state == "new":
                raise DieselError(
                    "the pool is not open: use `await pool.open()`, `async with Pool(...)` or "
                    "`await create_pool(...)`"
                )
            raise PoolClosed(f"the database pool is {self._state}")
        self._waiting += 1
        try:
            conn = await self._driver.acquire(
                self.config.acquire_timeout if timeout is None else timeout
            )
        finally:
            self._waiting -= 1
        self._in_use += 1
        return conn

    async def _release(self, conn: Connection) -> None:
        raw = conn._raw
        if raw is None:
            return
        try:
            fast = not conn._broken and conn._is_clean(raw) and self._driver.release_now(raw)
        except Exception:  # the driver connection is already closed (pool force-closed)
            fast = False
        if fast:
            conn._raw = None
            self._returned()
            return
        try:
            # NOTE: shielded so a cancelled request still rolls back and hands its connection
            # back; _cleanup bounds the time spent.
            with anyio.CancelScope(shield=True):
                reusable = await conn._cleanup()
                conn._raw = None
                await self._driver.release(conn, raw, reusable)
        except Exception:
            logger.exception("releasing a %s connection failed", self.backend)
        except BaseException:
            # A native cancellation got through the shield: finish the release in the background
            # so the pool does not lose the slot, and let the cancellation propagate.
            conn._raw = None
            self._spawn(self._driver.release(conn, raw, False))
            raise
        finally:
            self._returned()

    def _returned(self) -> None:
        self._in_use -= 1
        if self._in_use == 0 and self._drained is not None:
            self._drained.set()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


class _Acquire:
    """The object returned by :meth:`Pool.acquire`: an async context manager, or awaitable."""

    __slots__ = ("_conn", "_pool", "_timeout")

    def __init__(self, pool: Pool, timeout: float | None) -> None:
        self._pool = pool
        self._timeout = timeout
        self._conn: Connection | None = None

    async def __aenter__(self) -> Connection:
        self._conn = await self._pool._acquire(self._timeout)
        return self._conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await self._pool._release(conn)

    def __await__(self) -> Generator[Any, None, Connection]:
        return self._pool._acquire(self._timeout).__await__()


class _PoolTransaction:
    """The object returned by :meth:`Pool.transaction`."""

    __slots__ = ("_conn", "_deferrable", "_isolation", "_pool", "_readonly", "_timeout", "_tx")

    def __init__(
        self,
        pool: Pool,
        timeout: float | None,
        isolation: Isolation | None,
        readonly: bool,
        deferrable: bool,
    ) -> None:
        self._pool = pool
        self._timeout = timeout
        self._isolation: Isolation | None = isolation
        self._readonly = readonly
        self._deferrable = deferrable
        self._conn: Connection | None = None
        self._tx: Transaction | None = None

    async def __aenter__(self) -> Connection:
        conn = await self._pool._acquire(self._timeout)
        try:
            tx = conn.transaction(
                self._isolation, readonly=self._readonly, deferrable=self._deferrable
            )
            await tx.__aenter__()
        except BaseException:
            await self._pool._release(conn)
            raise
        self._conn, self._tx = conn, tx
        return conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, tx = self._conn, self._tx
        self._conn = self._tx = None
        if conn is None or tx is None:
            return
        try:
            await tx.__aexit__(exc_type, exc, tb)
        finally:
            await self._pool._release(conn)


async def create_pool(config: DatabaseConfig | str | None = None, **overrides: Any) -> Pool:
    """Create and open a pool.

    Args:
        config: The settings, a URL, or ``None`` to read ``DATABASE_*`` environment variables.
        **overrides: Field values applied on top of ``config`` (e.g. ``pool_size=4``).

    Returns:
        The open pool (close it with ``await pool.close()``).

    Raises:
        DatabaseUnavailable: The database cannot be reached.
    """
    if config is None:
        resolved = DatabaseConfig.from_env(**overrides)
    elif isinstance(config, str):
        resolved = DatabaseConfig(url=config, **overrides)
    else:
        # NOTE: rebuilt rather than model_copy(update=...) so the overrides are validated.
        resolved = DatabaseConfig(**{**config.model_dump(), **overrides}) if overrides else config
    return await Pool(resolved).open()
