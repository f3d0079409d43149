"""Typed errors raised by :mod:`armature_ext.diesel`.

Every error derives from :class:`DieselError`. The two availability errors,
:class:`DatabaseUnavailable` and :class:`PoolTimeout`, also derive from
:class:`armature.exceptions.ServiceUnavailable`, so a handler that lets one escape produces a
``503`` ``application/problem+json`` response with a ``Retry-After`` header and no traceback.

Errors reported by a driver are wrapped in :class:`QueryError` (or a subclass chosen from the
SQLSTATE); the driver's exception stays available as ``__cause__`` and its SQLSTATE as
:attr:`DieselError.sqlstate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from armature.exceptions import HTTPException, ServiceUnavailable

__all__ = [
    "ConfigError",
    "DatabaseUnavailable",
    "DieselError",
    "IntegrityError",
    "ParameterError",
    "PoolClosed",
    "PoolTimeout",
    "QueryError",
    "SerializationFailure",
    "TransactionError",
]


class DieselError(Exception):
    """Base class of every error raised by ``armature_ext.diesel``.

    Args:
        message: A human-readable description.
        sqlstate: The five-character SQLSTATE reported by the database, when there is one.
    """

    sqlstate: str | None

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate


class ConfigError(DieselError, ValueError):
    """A database setting is missing or invalid; the message names the setting."""


class ParameterError(DieselError, ValueError):
    """The arguments given do not match the query's ``$n`` placeholders."""


class TransactionError(DieselError):
    """A transaction was used incorrectly (for example options on a nested transaction)."""


class QueryError(DieselError):
    """The database rejected a statement; :attr:`sqlstate` holds the SQLSTATE when known."""


class IntegrityError(QueryError):
    """A constraint was violated (SQLSTATE class ``23``: unique, foreign key, not null, check)."""


class SerializationFailure(QueryError):
    """A transaction lost a serialization race or deadlocked (SQLSTATE ``40001`` / ``40P01``).

    Retrying the whole transaction is the correct response; see
    :func:`armature_ext.diesel.retry_serializable`.
    """


class _Unavailable(DieselError, ServiceUnavailable):
    """Shared constructor for the errors that render as ``503 Service Unavailable``.

    ``str(exc)`` / :attr:`message` carry the full reason for logs; the HTTP ``detail`` is the
    generic :attr:`public_detail`, so host names and driver messages never reach clients.
    """

    retry_after: ClassVar[int] = 1
    public_detail: ClassVar[str] = "The service is temporarily unavailable."

    def __init__(
        self,
        message: str,
        *,
        sqlstate: str | None = None,
        retry_after: int | None = None,
        detail: str | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        seconds = self.retry_after if retry_after is None else retry_after
        HTTPException.__init__(
            self,
            503,
            detail or self.public_detail,
            {"Retry-After": str(seconds)},
            extensions=extensions,
        )
        self.args = (message,)
        self.message = message
        self.sqlstate = sqlstate


class DatabaseUnavailable(_Unavailable):
    """The database cannot be reached: connection refused, lost, or rejected at startup.

    Renders as ``503`` with ``Retry-After: 5`` and a generic ``detail``.

    Args:
        message: What failed, without credentials (``str(exc)``, for logs).
        sqlstate: The SQLSTATE when the server reported one (``57P01`` admin shutdown, ...).
        retry_after: Overrides the ``Retry-After`` seconds.
        detail: Overrides the client-facing problem ``detail``.
        extensions: Extra members for the problem document (e.g. a health report).
    """

    retry_after: ClassVar[int] = 5
    public_detail: ClassVar[str] = "The database is temporarily unavailable."


class PoolClosed(DatabaseUnavailable):
    """The pool is closing or closed; no new connections are handed out."""

    retry_after: ClassVar[int] = 5


class PoolTimeout(_Unavailable):
    """No connection became free within the acquire timeout (the pool is exhausted).

    Renders as ``503`` with ``Retry-After: 1`` and a generic ``detail``.

    Args:
        message: The timeout and pool that were involved (``str(exc)``, for logs).
        sqlstate: Always ``None``.
        retry_after: Overrides the ``Retry-After`` seconds.
        detail: Overrides the client-facing problem ``detail``.
        extensions: Extra members for the problem document.
    """

    retry_after: ClassVar[int] = 1
    public_detail: ClassVar[str] = "All database connections are busy; retry shortly."
