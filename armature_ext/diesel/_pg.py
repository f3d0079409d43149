"""Pieces shared by the two PostgreSQL backends: SQLSTATE classification and BEGIN options."""

from __future__ import annotations

from armature_ext.diesel.config import DatabaseConfig
from armature_ext.diesel.connection import ISOLATION_LEVELS, Isolation
from armature_ext.diesel.errors import (
    DatabaseUnavailable,
    DieselError,
    IntegrityError,
    QueryError,
    SerializationFailure,
)

# Server states meaning "the database is not there for us right now" rather than "your query is
# wrong": shutdown/crash (57P0x), too many connections, unknown database, failed authentication.
_UNAVAILABLE = frozenset({"57P01", "57P02", "57P03", "57P05", "53300", "3D000", "28000", "28P01"})


def classify(sqlstate: str | None, message: str) -> DieselError:
    """Pick the :class:`DieselError` subclass for a PostgreSQL SQLSTATE.

    Args:
        sqlstate: The five-character code, or ``None`` when the driver has none.
        message: The driver's message.

    Returns:
        ``SerializationFailure`` (40001/40P01), ``IntegrityError`` (class 23),
        ``DatabaseUnavailable`` (class 08 and the shutdown/connection codes) or ``QueryError``.
    """
    if sqlstate in ("40001", "40P01"):
        return SerializationFailure(message, sqlstate=sqlstate)
    if sqlstate is not None and sqlstate.startswith("23"):
        return IntegrityError(message, sqlstate=sqlstate)
    if sqlstate is not None and (sqlstate.startswith("08") or sqlstate in _UNAVAILABLE):
        return DatabaseUnavailable(f"database connection lost: {message}", sqlstate=sqlstate)
    return QueryError(message, sqlstate=sqlstate)


def connect_error(
    config: DatabaseConfig, exc: BaseException, sqlstate: str | None = None
) -> DatabaseUnavailable:
    """Build the error for a failed connection attempt, naming the (redacted) target.

    Args:
        config: The settings (for the redacted URL and timeout).
        exc: What the driver raised.
        sqlstate: The server's SQLSTATE, when it answered.

    Returns:
        A :class:`DatabaseUnavailable` with a message such as ``could not connect to
        postgresql://app:***@db:5432/app: [Errno 111] Connection refused``.
    """
    if isinstance(exc, TimeoutError):
        reason = f"no answer within {config.connect_timeout:g}s"
    else:
        reason = str(exc) or type(exc).__name__
    return DatabaseUnavailable(
        f"could not connect to {config.redacted_url}: {reason}", sqlstate=sqlstate
    )


def begin_statement(isolation: Isolation | None, readonly: bool, deferrable: bool) -> str:
    """Return the ``BEGIN`` statement for the given transaction options.

    Args:
        isolation: The isolation level name, or ``None`` for the server default.
        readonly: Add ``READ ONLY``.
        deferrable: Add ``DEFERRABLE``.

    Returns:
        E.g. ``BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE``.
    """
    modes = []
    if isolation is not None:
        modes.append(f"ISOLATION LEVEL {ISOLATION_LEVELS[isolation]}")
    if readonly:
        modes.append("READ ONLY")
    if deferrable:
        modes.append("DEFERRABLE")
    return "BEGIN " + ", ".join(modes) if modes else "BEGIN"
