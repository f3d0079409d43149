"""Database settings: one validated, immutable object built from code or the environment.

The URL picks the backend:

================================================  ==========================================
URL                                               backend
================================================  ==========================================
``postgresql://`` / ``postgres://``               asyncpg (the default PostgreSQL driver)
``postgresql+asyncpg://``                         asyncpg
``postgresql+psycopg://``                         psycopg 3 with ``psycopg_pool``
``sqlite:///rel/path.db`` / ``sqlite:////abs``    aiosqlite (``sqlite+aiosqlite://`` too)
``sqlite:///:memory:`` / ``sqlite://``            aiosqlite, one shared in-memory connection
================================================  ==========================================

Passwords never appear in ``repr()``, ``str()`` or validation errors; use
:attr:`DatabaseConfig.redacted_url` when logging.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal, get_args
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from armature_ext.diesel.errors import ConfigError

__all__ = ["Backend", "DatabaseConfig", "SSLMode", "ENV_VARIABLES"]

Backend = Literal["asyncpg", "psycopg", "sqlite"]
SSLMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

_SCHEMES: dict[str, Backend] = {
    "postgresql": "asyncpg",
    "postgres": "asyncpg",
    "postgresql+asyncpg": "asyncpg",
    "postgres+asyncpg": "asyncpg",
    "postgresql+psycopg": "psycopg",
    "postgres+psycopg": "psycopg",
    "sqlite": "sqlite",
    "sqlite+aiosqlite": "sqlite",
}
_SUPPORTED = "postgresql://, postgres://, postgresql+asyncpg://, postgresql+psycopg://, sqlite://"

#: Environment variable suffix (after the prefix, ``DATABASE_`` by default) for each field.
ENV_VARIABLES: dict[str, str] = {
    "url": "URL",
    "pool_size": "POOL_SIZE",
    "pool_min": "POOL_MIN",
    "connect_timeout": "CONNECT_TIMEOUT",
    "acquire_timeout": "ACQUIRE_TIMEOUT",
    "max_lifetime": "MAX_LIFETIME",
    "idle_timeout": "IDLE_TIMEOUT",
    "statement_timeout": "STATEMENT_TIMEOUT",
    "close_timeout": "CLOSE_TIMEOUT",
    "application_name": "APPLICATION_NAME",
    "ssl_mode": "SSL_MODE",
}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DISABLED = frozenset({"none", "off", "disabled", "0"})


class DatabaseConfig(BaseModel):
    """Connection and pool settings for one database.

    Build it in code (``DatabaseConfig(url="postgresql://app@db/app", pool_size=20)``) or from
    the environment with :meth:`from_env`. Durations are seconds (floats).

    Args:
        url: The database URL; its scheme selects the backend (see the module docs). Query
            parameters (``?sslmode=require``) are passed to the driver unchanged.
        pool_size: Maximum number of connections in the pool.
        pool_min: Connections opened when the pool starts and kept open.
        connect_timeout: Seconds to wait for a new connection to be established.
        acquire_timeout: Seconds :meth:`Pool.acquire` waits for a free connection before raising
            ``PoolTimeout`` (503). On SQLite this is also the lock wait (``busy_timeout``).
        max_lifetime: Connections older than this are closed when returned (``None``: never).
        idle_timeout: Idle connections above ``pool_min`` are closed after this (``None``:
            never).
        statement_timeout: Server-side limit for each statement (``None``: the server default).
        close_timeout: Seconds :meth:`Pool.close` waits for connections in use to be returned.
        application_name: Shown in ``pg_stat_activity`` (PostgreSQL only; ignored by SQLite).
        ssl_mode: libpq ``sslmode`` (PostgreSQL only; an error with SQLite).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    url: str
    pool_size: int = Field(default=10, ge=1)
    pool_min: int = Field(default=1, ge=0)
    connect_timeout: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    acquire_timeout: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    max_lifetime: float | None = Field(default=3600.0, gt=0, allow_inf_nan=False)
    idle_timeout: float | None = Field(default=300.0, gt=0, allow_inf_nan=False)
    statement_timeout: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    close_timeout: float = Field(default=10.0, ge=0, allow_inf_nan=False)
    application_name: str | None = Field(default=None, max_length=63)
    ssl_mode: SSLMode | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip()
        if "://" not in value:
            raise ValueError(f"expected a database URL such as {_SUPPORTED.split(', ')[0]}...")
        scheme = value.split("://", 1)[0].lower()
        if scheme not in _SCHEMES:
            raise ValueError(f"unsupported URL scheme {scheme!r} (supported: {_SUPPORTED})")
        try:
            parts = urlsplit(value)
            _ = parts.port  # NOTE: raises ValueError for a non-numeric or out of range port
        except ValueError as exc:
            raise ValueError(f"malformed database URL: {exc}") from None
        if _SCHEMES[scheme] == "sqlite" and (parts.netloc or parts.query):
            raise ValueError(
                "SQLite URLs take no host or query: use sqlite:///relative.db, "
                "sqlite:////absolute/path.db or sqlite:///:memory:"
            )
        return value

    @model_validator(mode="after")
    def _check_combination(self) -> DatabaseConfig:
        if self.pool_min > self.pool_size:
            raise ValueError(
                f"pool_min ({self.pool_min}) must not exceed pool_size ({self.pool_size})"
            )
        if self.backend == "sqlite" and self.ssl_mode is not None:
            raise ValueError("ssl_mode does not apply to SQLite databases")
        return self

    # -- derived values ---------------------------------------------------------------------

    @property
    def backend(self) -> Backend:
        """The driver this URL selects: ``"asyncpg"``, ``"psycopg"`` or ``"sqlite"``."""
        return _SCHEMES[self.url.split("://", 1)[0].lower()]

    @property
    def is_sqlite(self) -> bool:
        """Whether the backend is SQLite."""
        return self.backend == "sqlite"

    @property
    def sqlite_path(self) -> str | None:
        """The SQLite database path (``":memory:"`` for in-memory), ``None`` for PostgreSQL."""
        if not self.is_sqlite:
            return None
        path = unquote(urlsplit(self.url).path)
        # NOTE: "sqlite:///x.db" has path "/x.db" (relative "x.db"); "sqlite:////abs.db" has
        # path "//abs.db" (absolute "/abs.db"), the SQLAlchemy convention.
        path = path[1:] if path.startswith("/") else path
        return path or ":memory:"

    @property
    def is_memory(self) -> bool:
        """Whether this is an in-memory SQLite database (served by one shared connection)."""
        return self.sqlite_path == ":memory:"

    @property
    def redacted_url(self) -> str:
        """The URL with any password replaced by ``***``, safe for logs and error messages."""
        return _with_password(self.url, "***")

    def driver_url(self) -> str:
        """Return the URL as the driver expects it (the ``+driver`` suffix removed).

        Returns:
            A ``postgresql://`` URL for asyncpg/psycopg, a ``sqlite://`` URL for SQLite.
        """
        scheme, rest = self.url.split("://", 1)
        base = "sqlite" if self.is_sqlite else "postgresql"
        del scheme
        return f"{base}://{rest}"

    def sqlalchemy_url(self, *, hide_password: bool = False) -> str:
        """Return the equivalent SQLAlchemy async URL.

        ``postgresql://`` becomes ``postgresql+asyncpg://``, ``postgresql+psycopg://`` stays,
        and SQLite becomes ``sqlite+aiosqlite:///...``.

        Args:
            hide_password: Replace the password with ``***`` (for logging).

        Returns:
            A URL for ``sqlalchemy.ext.asyncio.create_async_engine``.
        """
        rest = self.url.split("://", 1)[1]
        driver = {"asyncpg": "postgresql+asyncpg", "psycopg": "postgresql+psycopg"}.get(
            self.backend, "sqlite+aiosqlite"
        )
        url = f"{driver}://{rest}"
        return _with_password(url, "***") if hide_password else url

    def sqlalchemy_connect_args(self) -> dict[str, Any]:
        """Return driver ``connect_args`` carrying the explicit settings for SQLAlchemy.

        Returns:
            Keyword arguments for ``create_async_engine(url, connect_args=...)``: timeouts,
            ``application_name``, SSL mode and statement timeout in the driver's own spelling.
        """
        if self.backend == "asyncpg":
            args: dict[str, Any] = {"timeout": self.connect_timeout}
            settings = self.server_settings()
            if settings:
                args["server_settings"] = settings
            if self.ssl_mode is not None:
                args["ssl"] = self.ssl_mode
            return args
        if self.backend == "psycopg":
            return self.libpq_options()
        return {"timeout": self.acquire_timeout}

    def server_settings(self) -> dict[str, str]:
        """Return the PostgreSQL run-time parameters implied by this config.

        Returns:
            ``application_name`` and ``statement_timeout`` (milliseconds) when set.
        """
        settings: dict[str, str] = {}
        if self.application_name is not None:
            settings["application_name"] = self.application_name
        if self.statement_timeout is not None:
            settings["statement_timeout"] = str(max(1, math.ceil(self.statement_timeout * 1000)))
        return settings

    def libpq_options(self) -> dict[str, Any]:
        """Return libpq connection keywords (for psycopg) implied by this config.

        Returns:
            ``connect_timeout`` (whole seconds, at least 1), ``application_name``, ``sslmode`` and
            ``options`` carrying ``statement_timeout``, when set.
        """
        opts: dict[str, Any] = {"connect_timeout": max(1, math.ceil(self.connect_timeout))}
        if self.application_name is not None:
            opts["application_name"] = self.application_name
        if self.ssl_mode is not None:
            opts["sslmode"] = self.ssl_mode
        if self.statement_timeout is not None:
            ms = max(1, math.ceil(self.statement_timeout * 1000))
            opts["options"] = f"-c statement_timeout={ms}"
        return opts

    # -- redaction --------------------------------------------------------------------------

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, (self.redacted_url if name == "url" else value)

    # -- environment ------------------------------------------------------------------------

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        prefix: str = "DATABASE_",
        default_url: str | None = None,
        **overrides: Any,
    ) -> DatabaseConfig:
        """Build a config from environment variables.

        Reads ``{prefix}URL``, ``POOL_SIZE`` (default 10), ``POOL_MIN``, ``CONNECT_TIMEOUT``,
        ``ACQUIRE_TIMEOUT``, ``MAX_LIFETIME``, ``IDLE_TIMEOUT``, ``STATEMENT_TIMEOUT``,
        ``CLOSE_TIMEOUT``, ``APPLICATION_NAME`` and ``SSL_MODE``. Durations are seconds or carry a
        unit (``500ms``, ``30s``, ``5m``, ``1h``); the optional ones accept ``0``/``off``/``none``
        to disable. Empty variables count as unset.

        Args:
            environ: The mapping to read (``os.environ`` by default).
            prefix: The variable prefix, e.g. ``"ANALYTICS_DB_"`` for a second database.
            default_url: Used when ``{prefix}URL`` is unset (e.g. a local SQLite file).
            **overrides: Field values that win over the environment.

        Returns:
            The validated config.

        Raises:
            ConfigError: A variable is missing or invalid; the message names the variable.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field, suffix in ENV_VARIABLES.items():
            name = prefix + suffix
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                continue
            values[field] = _PARSERS[field](name, raw.strip())
        values.update(overrides)
        if "url" not in values:
            if default_url is None:
                raise ConfigError(f"{prefix}URL is not set (expected e.g. {_SUPPORTED})")
            values["url"] = default_url
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigError(_env_message(exc, prefix)) from None


def _with_password(url: str, replacement: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    netloc = f"{quote(unquote(user), safe='')}:{replacement}@{host}"
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _parse_int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _parse_duration(name: str, raw: str) -> float:
    match = _DURATION.match(raw)
    if match is None:
        raise ConfigError(
            f"{name} must be a duration in seconds or with a unit (500ms, 30s, 5m, 1h), got {raw!r}"
        )
    seconds = float(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()]
    if seconds <= 0:
        raise ConfigError(f"{name} must be greater than zero, got {raw!r}")
    return seconds


def _parse_optional_duration(name: str, raw: str) -> float | None:
    if raw.lower() in _DISABLED:
        return None
    return _parse_duration(name, raw)


def _parse_close_timeout(name: str, raw: str) -> float:
    if raw.strip() in {"0", "0.0"}:
        return 0.0
    return _parse_duration(name, raw)


def _parse_ssl_mode(name: str, raw: str) -> str:
    modes = get_args(SSLMode)
    if raw.lower() not in modes:
        raise ConfigError(f"{name} must be one of {', '.join(modes)}, got {raw!r}")
    return raw.lower()


def _parse_str(name: str, raw: str) -> str:
    del name
    return raw


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "url": _parse_str,
    "pool_size": _parse_int,
    "pool_min": _parse_int,
    "connect_timeout": _parse_duration,
    "acquire_timeout": _parse_duration,
    "max_lifetime": _parse_optional_duration,
    "idle_timeout": _parse_optional_duration,
    "statement_timeout": _parse_optional_duration,
    "close_timeout": _parse_close_timeout,
    "application_name": _parse_str,
    "ssl_mode": _parse_ssl_mode,
}


def _env_message(exc: ValidationError, prefix: str) -> str:
    """Rewrite pydantic's field errors so each names the environment variable."""
    messages = []
    for error in exc.errors(include_url=False, include_input=False):
        msg = str(error["msg"]).removeprefix("Value error, ")
        loc = error.get("loc") or ()
        if loc and isinstance(loc[0], str) and loc[0] in ENV_VARIABLES:
            messages.append(f"{prefix}{ENV_VARIABLES[loc[0]]}: {msg}")
        else:
            for field, suffix in ENV_VARIABLES.items():
                msg = re.sub(rf"\b{field}\b", prefix + suffix, msg)
            messages.append(msg)
    return "; ".join(messages)
