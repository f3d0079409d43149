"""The :class:`Connection` wrapper and its :class:`Transaction` context manager.

A :class:`Connection` is handed out by :meth:`Pool.acquire` and is only valid inside that block:
once returned to the pool every method raises :class:`~armature_ext.diesel.errors.DieselError`.
Queries use ``$1``-style placeholders on every backend and rows come back as plain ``dict``
objects (JSON-serializable as they are).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any, ClassVar, Literal

import anyio

from armature_ext.diesel.config import Backend
from armature_ext.diesel.errors import DatabaseUnavailable, DieselError, TransactionError

__all__ = ["ISOLATION_LEVELS", "Connection", "Isolation", "Row", "Transaction"]

#: A result row: column name to value.
Row = dict[str, Any]

Isolation = Literal["serializable", "repeatable_read", "read_committed", "read_uncommitted"]

#: The accepted ``isolation`` values and their SQL spelling.
ISOLATION_LEVELS: dict[str, str] = {
    "serializable": "SERIALIZABLE",
    "repeatable_read": "REPEATABLE READ",
    "read_committed": "READ COMMITTED",
    "read_uncommitted": "READ UNCOMMITTED",
}

# Upper bound for the shielded COMMIT/ROLLBACK/cleanup steps that must not be cancelled halfway.
CLEANUP_TIMEOUT = 10.0


class Connection(ABC):
    """One pooled database connection, valid inside its ``acquire()`` block.

    Use the query helpers with ``$1``, ``$2``... placeholders and positional arguments; never
    format values into SQL. The driver connection is available as :attr:`raw` for features this
    layer does not cover (``COPY``, ``LISTEN``...).
    """

    __slots__ = ("_broken", "_cleanup_timeout", "_raw", "_tx_depth")

    #: The backend this connection belongs to.
    backend: ClassVar[Backend]

    def __init__(self, raw: Any, cleanup_timeout: float = CLEANUP_TIMEOUT) -> None:
        self._raw: Any = raw
        self._tx_depth = 0
        self._broken = False
        self._cleanup_timeout = cleanup_timeout

    def __repr__(self) -> str:
        state = "released" if self._raw is None else ("broken" if self._broken else "open")
        return f"<{type(self).__name__} backend={self.backend} {state} depth={self._tx_depth}>"

    # -- public API -------------------------------------------------------------------------

    @property
    def raw(self) -> Any:
        """The driver's connection object (asyncpg, psycopg or aiosqlite)."""
        return self._driver_connection(self._live())

    async def fetch(self, query: str, *args: Any) -> list[Row]:
        """Run a query and return every row.

        Args:
            query: SQL with ``$1``-style placeholders.
            *args: One value per placeholder.

        Returns:
            The rows as dicts (an empty list when there are none).
        """
        raw = self._live()
        sql = self._prepare(query, len(args))
        try:
            return await self._fetch(raw, sql, args)
        except Exception as exc:
            raise self._wrap(raw, exc) from exc
        except BaseException:
            self._on_cancel(raw)
            raise

    async def fetchrow(self, query: str, *args: Any) -> Row | None:
        """Run a query and return its first row.

        Args:
            query: SQL with ``$1``-style placeholders.
            *args: One value per placeholder.

        Returns:
            The first row as a dict, or ``None`` when the query returned no rows.
        """
        raw = self._live()
        sql = self._prepare(query, len(args))
        try:
            return await self._fetchrow(raw, sql, args)
        except Exception as exc:
            raise self._wrap(raw, exc) from exc
        except BaseException:
            self._on_cancel(raw)
            raise

    async def fetchval(self, query: str, *args: Any, column: int = 0) -> Any:
        """Run a query and return one value of its first row.

        Args:
            query: SQL with ``$1``-style placeholders.
            *args: One value per placeholder.
            column: The zero-based column index to return.

        Returns:
            The value, or ``None`` when the query returned no rows.
        """
        row = await self.fetchrow(query, *args)
        if row is None:
            return None
        try:
            return list(row.values())[column]
        except IndexError:
            raise DieselError(f"column index {column} is out of range ({len(row)})") from None

    async def execute(self, query: str, *args: Any) -> int:
        """Run a statement.

        Args:
            query: SQL with ``$1``-style placeholders (one statement).
            *args: One value per placeholder.

        Returns:
            The number of rows inserted, updated or deleted (0 for statements such as DDL).
        """
        raw = self._live()
        sql = self._prepare(query, len(args))
        try:
            return await self._execute(raw, sql, args)
        except Exception as exc:
            raise self._wrap(raw, exc) from exc
        except BaseException:
            self._on_cancel(raw)
            raise

    async def executemany(self, query: str, args: Iterable[Sequence[Any]]) -> None:
        """Run a statement once per argument sequence.

        Args:
            query: SQL with ``$1``-style placeholders.
            args: One sequence of values per execution.
        """
        raw = self._live()
        batches = [tuple(item) for item in args]
        if not batches:
            return
        sql = self._prepare(query, len(batches[0]))
        for size in {len(item) for item in batches}:
            self._prepare(query, size)  # every batch must match the placeholders
        try:
            await self._executemany(raw, sql, batches)
        except Exception as exc:
            raise self._wrap(raw, exc) from exc
        except BaseException:
            self._on_cancel(raw)
            raise

    def transaction(
        self,
        isolation: Isolation | None = None,
        *,
        readonly: bool = False,
        deferrable: bool = False,
    ) -> Transaction:
        """Start a transaction (or a SAVEPOINT when one is already open on this connection).

        ``async with conn.transaction():`` commits when the block succeeds and rolls back when
        it raises or is cancelled. Options are only allowed on the outermost transaction.

        Args:
            isolation: ``"serializable"``, ``"repeatable_read"``, ``"read_committed"`` or
                ``"read_uncommitted"``; ``None`` keeps the database default.
            readonly: Reject writes inside the transaction.
            deferrable: PostgreSQL ``DEFERRABLE`` (meaningful with serializable read-only).

        Returns:
            An async context manager yielding this connection.
        """
        if isolation is not None and isolation not in ISOLATION_LEVELS:
            raise TransactionError(
                f"unknown isolation {isolation!r}; use one of {', '.join(ISOLATION_LEVELS)}"
            )
        return Transaction(self, isolation, readonly, deferrable)

    def is_in_transaction(self) -> bool:
        """Whether the server-side session is inside a transaction block right now.

        Returns:
            ``True`` between ``BEGIN`` and ``COMMIT``/``ROLLBACK``.
        """
        return self._in_transaction(self._live())

    @property
    def released(self) -> bool:
        """Whether the connection went back to the pool (and can no longer be used)."""
        return self._raw is None

    # -- plumbing shared by the backends ----------------------------------------------------

    def _live(self) -> Any:
        raw = self._raw
        if raw is None:
            raise DieselError("this connection was returned to the pool and cannot be used")
        return raw

    def _wrap(self, raw: Any, exc: Exception) -> DieselError:
        if isinstance(exc, DieselError):
            return exc
        error = self._translate(raw, exc)
        if isinstance(error, DatabaseUnavailable):
            self._broken = True
        return error

    async def _control(self, sql: str) -> None:
        """Run a transaction-control statement, translating driver errors."""
        raw = self._live()
        try:
            await self._run_control(raw, sql)
        except Exception as exc:
            raise self._wrap(raw, exc) from exc

    async def _cleanup(self) -> bool:
        """Bring the session back to a clean state before it returns to the pool.

        Returns:
            ``True`` when the connection can be reused, ``False`` when it must be discarded.
        """
        raw = self._raw
        if raw is None or self._broken:
            return False
        try:
            if self._is_clean(raw):
                return True
            with anyio.fail_after(self._cleanup_timeout):
                if self._in_transaction(raw):
                    await self._run_control(raw, "ROLLBACK")
                await self._reset(raw)
        except Exception:
            return False
        return not self._broken

    # -- backend hooks ----------------------------------------------------------------------

    @abstractmethod
    def _driver_connection(self, raw: Any) -> Any:
        """Return the driver connection object behind ``raw``."""

    @abstractmethod
    def _prepare(self, query: str, nargs: int) -> str:
        """Check the argument count and return the SQL the driver should receive."""

    @abstractmethod
    async def _fetch(self, raw: Any, sql: str, args: Sequence[Any]) -> list[Row]: ...

    @abstractmethod
    async def _fetchrow(self, raw: Any, sql: str, args: Sequence[Any]) -> Row | None: ...

    @abstractmethod
    async def _execute(self, raw: Any, sql: str, args: Sequence[Any]) -> int: ...

    @abstractmethod
    async def _executemany(self, raw: Any, sql: str, args: list[tuple[Any, ...]]) -> None: ...

    @abstractmethod
    async def _run_control(self, raw: Any, sql: str) -> None:
        """Run a parameterless control statement (BEGIN, COMMIT, SAVEPOINT...)."""

    @abstractmethod
    def _in_transaction(self, raw: Any) -> bool: ...

    @abstractmethod
    def _translate(self, raw: Any, exc: Exception) -> DieselError:
        """Turn a driver exception into the matching :class:`DieselError`."""

    @abstractmethod
    def _begin_statements(
        self, isolation: Isolation | None, readonly: bool, deferrable: bool
    ) -> list[str]:
        """Return the statements that open a top-level transaction with these options."""

    def _end_statements(self) -> list[str]:
        """Return statements to run after the top-level transaction ended (either way)."""
        return []

    def _is_clean(self, raw: Any) -> bool:
        """Whether the session needs no cleanup before reuse (no transaction, nothing to reset)."""
        return not self._in_transaction(raw)

    async def _reset(self, raw: Any) -> None:  # noqa: B027 - optional hook
        """Undo per-transaction session changes (SQLite's ``query_only``)."""

    def _on_cancel(self, raw: Any) -> None:  # noqa: B027 - optional hook
        """Called when a query is interrupted by cancellation (SQLite interrupts the statement)."""


class Transaction:
    """``async with`` block that commits on success and rolls back on error or cancellation.

    Created by :meth:`Connection.transaction`. The outermost block issues ``BEGIN``; nested
    blocks become ``SAVEPOINT``s, so an inner failure can be caught without losing the outer
    work. COMMIT and ROLLBACK run shielded from cancellation (bounded by a timeout); when they
    cannot complete the connection is discarded instead of being returned to the pool.
    """

    __slots__ = ("_conn", "_deferrable", "_isolation", "_readonly", "_savepoint")

    def __init__(
        self,
        conn: Connection,
        isolation: Isolation | None,
        readonly: bool,
        deferrable: bool,
    ) -> None:
        self._conn = conn
        self._isolation = isolation
        self._readonly = readonly
        self._deferrable = deferrable
        self._savepoint: str | None = None

    async def __aenter__(self) -> Connection:
        conn = self._conn
        raw = conn._live()
        if conn._tx_depth == 0:
            if conn._in_transaction(raw):
                raise TransactionError(
                    "the connection is already inside a transaction that diesel did not start; "
                    "COMMIT or ROLLBACK it before using transaction()"
                )
            statements = conn._begin_statements(self._isolation, self._readonly, self._deferrable)
            for sql in statements:
                await conn._control(sql)
        else:
            if self._isolation is not None or self._readonly or self._deferrable:
                raise TransactionError(
                    "isolation/readonly/deferrable can only be set on the outermost transaction; "
                    "a nested transaction is a SAVEPOINT inside it"
                )
            self._savepoint = f"diesel_sp_{conn._tx_depth}"
            await conn._control(f"SAVEPOINT {self._savepoint}")
        conn._tx_depth += 1
        return conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self._conn
        conn._tx_depth -= 1
        if conn._raw is None:
            return
        # NOTE: the shield keeps an outer cancel scope from interrupting COMMIT/ROLLBACK halfway,
        # which would leave the session in an unknown state; the timeout keeps it bounded.
        with anyio.CancelScope(shield=True):
            if exc_type is None:
                await self._finish_success(conn)
            else:
                await self._finish_failure(conn)

    async def _finish_success(self, conn: Connection) -> None:
        try:
            with anyio.fail_after(conn._cleanup_timeout):
                if self._savepoint is not None:
                    await conn._control(f"RELEASE SAVEPOINT {self._savepoint}")
                    return
                try:
                    await conn._control("COMMIT")
                finally:
                    await self._end(conn)
        except TimeoutError:
            conn._broken = True
            raise TransactionError("COMMIT did not complete in time; outcome unknown") from None

    async def _finish_failure(self, conn: Connection) -> None:
        raw = conn._raw
        try:
            with anyio.fail_after(conn._cleanup_timeout):
                if self._savepoint is not None:
                    if conn._in_transaction(raw):
                        await conn._control(f"ROLLBACK TO SAVEPOINT {self._savepoint}")
                        await conn._control(f"RELEASE SAVEPOINT {self._savepoint}")
                    return
                try:
                    if conn._in_transaction(raw):
                        await conn._control("ROLLBACK")
                finally:
                    await self._end(conn)
        except Exception:
            # NOTE: the original exception is what the caller must see; a connection whose
            # rollback failed is not trustworthy, so it is discarded on release.
            conn._broken = True

    async def _end(self, conn: Connection) -> None:
        for sql in conn._end_statements():
            await conn._control(sql)
