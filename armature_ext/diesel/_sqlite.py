"""SQLite backend: a small pool over aiosqlite connections.

Each aiosqlite connection owns a worker thread; every query here is one hop into that thread
(execute, fetch and build the dict rows in a single call). Files are opened in WAL mode so
readers do not block the writer; ``:memory:`` databases are served by one shared connection
(a second connection would see a different, empty database). Connections run in autocommit
mode and transactions are explicit: ``BEGIN IMMEDIATE`` for read-write blocks (the write lock
is taken up front, waiting up to ``acquire_timeout`` for it), ``BEGIN DEFERRED`` plus
``PRAGMA query_only`` for read-only ones.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import aiosqlite
import anyio

from armature_ext.diesel._driver import Driver
from armature_ext.diesel._sql import check_arguments, to_sqlite
from armature_ext.diesel.config import DatabaseConfig
from armature_ext.diesel.connection import Connection, Isolation, Row
from armature_ext.diesel.errors import (
    DatabaseUnavailable,
    DieselError,
    IntegrityError,
    PoolClosed,
    PoolTimeout,
    QueryError,
)

_T = TypeVar("_T")

# SQLite extended result codes mapped to the PostgreSQL SQLSTATE with the same meaning, so code
# that inspects ``exc.sqlstate`` works on both.
_SQLSTATES = {
    "SQLITE_CONSTRAINT_UNIQUE": "23505",
    "SQLITE_CONSTRAINT_PRIMARYKEY": "23505",
    "SQLITE_CONSTRAINT_FOREIGNKEY": "23503",
    "SQLITE_CONSTRAINT_NOTNULL": "23502",
    "SQLITE_CONSTRAINT_CHECK": "23514",
    "SQLITE_INTERRUPT": "57014",
    "SQLITE_READONLY": "25006",
    "SQLITE_BUSY": "55P03",
    "SQLITE_BUSY_SNAPSHOT": "40001",
    "SQLITE_LOCKED": "55P03",
}
_UNAVAILABLE = {"SQLITE_CANTOPEN", "SQLITE_NOTADB", "SQLITE_CORRUPT"}


class _Record:
    """One open SQLite connection and its pool bookkeeping."""

    __slots__ = ("born", "conn", "db", "idle_since", "query_only", "statement_timeout")

    def __init__(self, conn: aiosqlite.Connection, statement_timeout: float | None) -> None:
        self.conn = conn
        # NOTE: the sqlite3 connection itself, used inside the worker thread (one hop per call)
        # and for interrupt(), which SQLite allows from any thread.
        self.db: sqlite3.Connection = conn._conn
        self.born = time.monotonic()
        self.idle_since = self.born
        self.query_only = False
        self.statement_timeout = statement_timeout


async def _in_thread(conn: aiosqlite.Connection, fn: Callable[..., _T], *args: Any) -> _T:
    """Run ``fn(*args)`` on the connection's worker thread (one queue hop)."""
    # NOTE: aiosqlite's (untyped) _execute queues one callable on the connection thread: one
    # hop for execute + fetch + row building instead of three with the cursor API.
    return await conn._execute(fn, *args)  # type: ignore[no-untyped-call,no-any-return]


# -- functions run inside the connection's worker thread --------------------------------------


def _run_fetch(db: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[Row]:
    cursor = db.execute(sql, args)
    try:
        description = cursor.description
        if description is None:
            return []
        names = [column[0] for column in description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        cursor.close()


def _run_fetchrow(db: sqlite3.Connection, sql: str, args: Sequence[Any]) -> Row | None:
    cursor = db.execute(sql, args)
    try:
        row = cursor.fetchone()
        if row is None or cursor.description is None:
            return None
        return dict(zip([column[0] for column in cursor.description], row, strict=True))
    finally:
        cursor.close()


def _run_execute(db: sqlite3.Connection, sql: str, args: Sequence[Any]) -> int:
    cursor = db.execute(sql, args)
    try:
        return max(cursor.rowcount, 0)
    finally:
        cursor.close()


def _run_executemany(db: sqlite3.Connection, sql: str, args: list[tuple[Any, ...]]) -> None:
    db.executemany(sql, args).close()


def _run_control(db: sqlite3.Connection, sql: str, args: Sequence[Any] = ()) -> None:
    db.execute(sql, args).close()


def _run_setup(db: sqlite3.Connection, wal: bool) -> None:
    if wal:
        db.execute("PRAGMA journal_mode = WAL").close()
        db.execute("PRAGMA synchronous = NORMAL").close()
    db.execute("PRAGMA foreign_keys = ON").close()


def translate_sqlite(exc: Exception) -> DieselError:
    """Wrap a sqlite3/aiosqlite exception in the matching :class:`DieselError`.

    Args:
        exc: The driver exception.

    Returns:
        ``IntegrityError`` for constraint violations, ``DatabaseUnavailable`` for a closed or
        unopenable database, ``QueryError`` otherwise; ``sqlstate`` carries the PostgreSQL
        equivalent of the SQLite result code where there is one.
    """
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", None) or ""
        sqlstate = _SQLSTATES.get(name)
        if isinstance(exc, sqlite3.IntegrityError):
            return IntegrityError(str(exc), sqlstate=sqlstate or "23000")
        if name == "SQLITE_INTERRUPT":
            return QueryError("statement interrupted (statement timeout)", sqlstate="57014")
        if name in _UNAVAILABLE or "closed database" in str(exc):
            return DatabaseUnavailable(f"SQLite database unavailable: {exc}")
        return QueryError(f"{exc} ({name})" if name else str(exc), sqlstate=sqlstate)
    if isinstance(exc, ValueError) and "onnection" in str(exc):
        # aiosqlite raises ValueError("Connection closed") / ("no active connection").
        return DatabaseUnavailable(f"SQLite connection is closed: {exc}")
    return QueryError(f"{type(exc).__name__}: {exc}")


class SqliteConnection(Connection):
    """A pooled aiosqlite connection (``raw`` is the ``aiosqlite.Connection``)."""

    __slots__ = ()
    backend = "sqlite"

    def _driver_connection(self, raw: _Record) -> aiosqlite.Connection:
        return raw.conn

    def _prepare(self, query: str, nargs: int) -> str:
        sql, expected = to_sqlite(query)
        check_arguments(expected, nargs)
        return sql

    async def _call(self, raw: _Record, fn: Callable[..., _T], *args: Any) -> _T:
        if raw.statement_timeout is None:
            return await _in_thread(raw.conn, fn, raw.db, *args)
        timer = asyncio.get_running_loop().call_later(raw.statement_timeout, raw.db.interrupt)
        try:
            return await _in_thread(raw.conn, fn, raw.db, *args)
        finally:
            timer.cancel()

    async def _fetch(self, raw: _Record, sql: str, args: Sequence[Any]) -> list[Row]:
        return await self._call(raw, _run_fetch, sql, args)

    async def _fetchrow(self, raw: _Record, sql: str, args: Sequence[Any]) -> Row | None:
        return await self._call(raw, _run_fetchrow, sql, args)

    async def _execute(self, raw: _Record, sql: str, args: Sequence[Any]) -> int:
        return await self._call(raw, _run_execute, sql, args)

    async def _executemany(self, raw: _Record, sql: str, args: list[tuple[Any, ...]]) -> None:
        await self._call(raw, _run_executemany, sql, args)

    async def _run_control(self, raw: _Record, sql: str) -> None:
        await _in_thread(raw.conn, _run_control, raw.db, sql)

    def _in_transaction(self, raw: _Record) -> bool:
        return raw.db.in_transaction

    def _translate(self, raw: _Record, exc: Exception) -> DieselError:
        return translate_sqlite(exc)

    def _begin_statements(
        self, isolation: Isolation | None, readonly: bool, deferrable: bool
    ) -> list[str]:
        # NOTE: SQLite transactions are always serializable, which every requested isolation
        # level permits; DEFERRABLE (wait for a snapshot that cannot fail) is what a SQLite read
        # transaction already is. Both are documented no-ops here.
        del isolation, deferrable
        if readonly:
            self._raw.query_only = True
            return ["PRAGMA query_only = ON", "BEGIN DEFERRED"]
        return ["BEGIN IMMEDIATE"]

    def _end_statements(self) -> list[str]:
        return ["PRAGMA query_only = OFF"] if self._raw.query_only else []

    def _is_clean(self, raw: _Record) -> bool:
        return not raw.query_only and not raw.db.in_transaction

    async def _reset(self, raw: _Record) -> None:
        if raw.query_only:
            await _in_thread(raw.conn, _run_control, raw.db, "PRAGMA query_only = OFF")
            raw.query_only = False

    def _on_cancel(self, raw: _Record) -> None:
        # Stop the statement the worker thread is running instead of letting it finish unseen.
        raw.db.interrupt()


class SqliteDriver(Driver):
    """The SQLite pool: idle connections in a LIFO, waiters served first come, first served."""

    def __init__(self, config: DatabaseConfig) -> None:
        super().__init__(config)
        self._path = config.sqlite_path or ":memory:"
        self._memory = config.is_memory
        self._max = 1 if self._memory else config.pool_size
        self._min = 1 if self._memory else config.pool_min
        self._idle: deque[_Record] = deque()
        self._all: set[_Record] = set()
        self._size = 0  # open connections plus slots reserved for connections being opened
        self._waiters: deque[asyncio.Future[_Record | None]] = deque()
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def max_size(self) -> int:
        return self._max

    @property
    def min_size(self) -> int:
        return self._min

    def size(self) -> int:
        return len(self._all)

    def idle(self) -> int:
        return len(self._idle)

    async def open(self) -> None:
        for _ in range(self._min):
            self._size += 1
            try:
                record = await self._connect()
            except BaseException:
                self._size -= 1
                raise
            self._idle.append(record)

    async def _connect(self) -> _Record:
        conn = aiosqlite.connect(
            self._path, timeout=self.config.acquire_timeout, isolation_level=None
        )
        try:
            with anyio.fail_after(self.config.connect_timeout):
                await conn
        except BaseException as exc:
            # NOTE: a failed aiosqlite connect queues its worker thread's stop without waiting;
            # wait for the thread so it does not report to an event loop that has closed.
            thread = conn._thread
            if thread.ident is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(thread.join, 5.0)
            if isinstance(exc, TimeoutError):
                raise DatabaseUnavailable(
                    f"opening SQLite database {self._path!r} timed out after "
                    f"{self.config.connect_timeout:g}s"
                ) from None
            if isinstance(exc, sqlite3.Error | OSError):
                raise DatabaseUnavailable(
                    f"could not open SQLite database {self._path!r}: {exc}"
                ) from exc
            raise
        try:
            await _in_thread(conn, _run_setup, conn._conn, not self._memory)
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await conn.close()
            if isinstance(exc, sqlite3.Error):
                raise DatabaseUnavailable(
                    f"could not set up SQLite database {self._path!r}: {exc}"
                ) from exc
            raise
        record = _Record(conn, self.config.statement_timeout)
        self._all.add(record)
        return record

    def _expired(self, record: _Record, now: float) -> bool:
        if self._memory:
            return False
        lifetime = self.config.max_lifetime
        if lifetime is not None and now - record.born >= lifetime:
            return True
        idle = self.config.idle_timeout
        return idle is not None and len(self._all) > self._min and now - record.idle_since >= idle

    async def acquire(self, timeout: float) -> Connection:
        if self._closed:
            raise PoolClosed("the SQLite pool is closed")
        record = self._take_idle()
        if record is None:
            if self._size < self._max and not self._waiters:
                self._size += 1
                record = await self._open_slot()
            else:
                record = await self._wait(timeout)
        return SqliteConnection(record)

    def _take_idle(self) -> _Record | None:
        now = time.monotonic()
        while self._idle:
            record = self._idle.pop()  # LIFO: the warmest connection; cold ones age out
            if self._expired(record, now):
                self._discard(record)
                continue
            return record
        return None

    async def _open_slot(self) -> _Record:
        """Open a connection for a slot already counted in ``_size``."""
        try:
            return await self._connect()
        except BaseException:
            self._size -= 1
            self._grant_slot()
            raise

    async def _wait(self, timeout: float) -> _Record:
        future: asyncio.Future[_Record | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            with anyio.fail_after(timeout):
                record = await future
        except BaseException as exc:
            if future.done() and not future.cancelled() and future.exception() is None:
                self._give_back(future.result())  # handed over just as we gave up
            if isinstance(exc, TimeoutError):
                raise PoolTimeout(
                    f"no SQLite connection became free within {timeout:g}s (pool size {self._max})"
                ) from None
            raise
        finally:
            if future in self._waiters:
                self._waiters.remove(future)
        if record is None:  # a slot was freed for us: open a fresh connection in it
            return await self._open_slot()
        return record

    def _give_back(self, record: _Record | None) -> None:
        if record is None:
            self._size -= 1
            self._grant_slot()
        else:
            self._hand_off(record)

    def _hand_off(self, record: _Record) -> None:
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(record)
                return
        record.idle_since = time.monotonic()
        self._idle.append(record)

    def _grant_slot(self) -> None:
        """Let the first waiter open a new connection in a free slot."""
        while self._waiters and self._size < self._max:
            future = self._waiters.popleft()
            if not future.done():
                self._size += 1
                future.set_result(None)
                return

    def _discard(self, record: _Record) -> None:
        self._all.discard(record)
        self._size -= 1
        task = asyncio.get_running_loop().create_task(self._close_record(record))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_record(self, record: _Record) -> None:
        try:
            await record.conn.close()
        except Exception:  # pragma: no cover - closing a broken connection
            pass

    def release_now(self, raw: object) -> bool:
        # PERF: the common case (clean, unexpired, pool open) is synchronous: no await, so no
        # cancellation shield or cleanup timeout is needed around it.
        assert isinstance(raw, _Record)
        if self._closed or self._expired(raw, time.monotonic()):
            return False
        self._hand_off(raw)
        return True

    async def release(self, conn: Connection, raw: object, reusable: bool) -> None:
        assert isinstance(raw, _Record)
        if self._closed:
            if raw in self._all:
                self._all.discard(raw)
                await self._close_record(raw)
            return
        if not reusable and self._memory:
            reusable = await self._salvage(raw)
        if not reusable or self._expired(raw, time.monotonic()):
            self._discard(raw)
            self._grant_slot()
            return
        self._hand_off(raw)

    async def _salvage(self, record: _Record) -> bool:
        """Try to make the single in-memory connection usable again (closing it loses the data)."""
        try:
            with anyio.fail_after(self.config.acquire_timeout):
                if record.db.in_transaction:
                    await _in_thread(record.conn, _run_control, record.db, "ROLLBACK")
                await _in_thread(record.conn, _run_control, record.db, "PRAGMA query_only = OFF")
                record.query_only = False
        except Exception:
            return False
        return True

    async def close(self) -> None:
        self._closed = True
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_exception(PoolClosed("the SQLite pool was closed"))
        records = list(self._all)
        self._all.clear()
        self._idle.clear()
        for record in records:
            record.db.interrupt()  # in-use connections: stop whatever they are running
        await asyncio.gather(*(self._close_record(r) for r in records), *self._closing)
        self._size = 0
