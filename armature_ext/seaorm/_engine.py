"""Engine construction from a ``DatabaseConfig``: async driver, pool, timeouts, SQLite hooks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from armature_ext.diesel.config import DatabaseConfig

__all__ = [
    "DatabaseSource",
    "build_engine",
    "engine_url",
    "install_sqlite_hooks",
    "resolve_config",
]

DatabaseSource = DatabaseConfig | str | URL
"""What ``Database(...)`` accepts: a ``DatabaseConfig``, or a URL (string or SQLAlchemy URL)."""

# Schemes DatabaseConfig understands: such URLs get the config's validation and defaults.
_CONFIG_SCHEMES = frozenset(
    {
        "postgresql",
        "postgres",
        "postgresql+asyncpg",
        "postgres+asyncpg",
        "postgresql+psycopg",
        "postgres+psycopg",
        "sqlite",
        "sqlite+aiosqlite",
    }
)


def resolve_config(source: DatabaseSource | None) -> DatabaseConfig | URL:
    """Turn what the user passed into a ``DatabaseConfig`` (or a raw URL for other dialects).

    Args:
        source: A config, a URL, or ``None`` for ``DatabaseConfig.from_env()``.

    Returns:
        The config; URLs with a scheme ``DatabaseConfig`` does not know (another SQLAlchemy
        async dialect) are returned parsed, to be used with SQLAlchemy's defaults.

    Raises:
        ConfigError: When ``source`` is ``None`` and ``DATABASE_URL`` is unset or invalid.
        ValueError: When the URL is invalid.
    """
    if source is None:
        return DatabaseConfig.from_env()
    if isinstance(source, DatabaseConfig):
        return source
    text = source.render_as_string(hide_password=False) if isinstance(source, URL) else source
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in _CONFIG_SCHEMES:
        return DatabaseConfig(url=text)
    try:
        return make_url(text)
    except Exception as exc:  # sqlalchemy raises ArgumentError for junk
        raise ValueError(f"invalid database URL {text!r}") from exc


def engine_url(config: DatabaseConfig | URL) -> URL:
    """Return the async SQLAlchemy URL for ``config``."""
    return make_url(config.sqlalchemy_url()) if isinstance(config, DatabaseConfig) else config


def _engine_options(config: DatabaseConfig) -> dict[str, Any]:
    """Translate the config's pool and timeout settings into ``create_async_engine`` kwargs."""
    options: dict[str, Any] = {"connect_args": config.sqlalchemy_connect_args()}
    if config.is_memory:
        # NOTE: in-memory SQLite runs on one shared connection (SQLAlchemy's StaticPool); pool
        # sizing does not apply and create_engine would reject pool_size/max_overflow.
        return options
    # NOTE: DatabaseConfig.pool_size is the hard maximum, so no overflow beyond it; SQLAlchemy
    # opens connections lazily and keeps up to pool_size of them (pool_min has no equivalent).
    options["pool_size"] = config.pool_size
    options["max_overflow"] = 0
    options["pool_timeout"] = config.acquire_timeout
    options["pool_recycle"] = int(config.max_lifetime) if config.max_lifetime else -1
    return options


_NEEDS_ROLLBACK = "armature.seaorm.needs_rollback"


def install_sqlite_hooks(engine: AsyncEngine, *, foreign_keys: bool = True) -> None:
    """Make SQLite transactional the way SQLAlchemy expects (SAVEPOINT works) and enforce FKs.

    The sqlite3 module's legacy transaction handling does not emit ``BEGIN`` before SAVEPOINT and
    commits implicitly around DDL; SQLAlchemy's documented fix is to disable it on connect and emit
    ``BEGIN`` from the ``begin`` event.

    Args:
        engine: An engine on a SQLite database.
        foreign_keys: Turn on ``PRAGMA foreign_keys`` (migrations leave it off: batch table
            rebuilds must not cascade).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        if foreign_keys:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    # NOTE: a COMMIT that SQLite refuses (a deferred foreign key) leaves SQLite's transaction
    # open, while SQLAlchemy considers it ended and skips the rollback-on-return: the pooled
    # connection would keep its write lock and fail the next BEGIN. Remember such failures
    # (commit/rollback errors are the ones without a statement) and roll back on check-in.
    @event.listens_for(engine.sync_engine, "handle_error")
    def _on_error(context: Any) -> None:
        if context.statement is None and context.connection is not None:
            context.connection.info[_NEEDS_ROLLBACK] = True

    @event.listens_for(engine.sync_engine.pool, "reset")
    def _on_reset(dbapi_connection: Any, record: Any, state: Any) -> None:
        if record is not None and record.info.pop(_NEEDS_ROLLBACK, False) and state.asyncio_safe:
            dbapi_connection.rollback()


def build_engine(
    config: DatabaseConfig | URL, *, echo: bool = False, **overrides: Any
) -> AsyncEngine:
    """Create the :class:`~sqlalchemy.ext.asyncio.AsyncEngine` described by ``config``.

    Args:
        config: A ``DatabaseConfig`` or a raw SQLAlchemy async URL.
        echo: Log every SQL statement.
        **overrides: Extra ``create_async_engine`` keyword arguments; they win over the config.

    Returns:
        The engine (no connection is opened yet).
    """
    url = engine_url(config)
    options: dict[str, Any] = {"echo": echo}
    if isinstance(config, DatabaseConfig):
        options.update(_engine_options(config))
    options.update(overrides)
    engine = create_async_engine(url, **options)
    if url.get_backend_name() == "sqlite":
        install_sqlite_hooks(engine)
    return engine
