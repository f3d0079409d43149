"""The :class:`Database`: one async engine and session factory, lifespan-managed.

```python
db = Database("sqlite+aiosqlite:///app.db")      # or Database(DatabaseConfig.from_env())
async with db:                                     # startup() ... shutdown()
    await db.create_all(Base)
    async with db.session():                       # binds the session for active-record calls
        await User.create(name="ada")
```
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

from sqlalchemy import MetaData, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from armature_ext.diesel.config import DatabaseConfig

from ._context import (
    bind_session,
    bound_session,
    enter_unit_of_work,
    exit_unit_of_work,
)
from ._engine import DatabaseSource, build_engine, engine_url, resolve_config

__all__ = ["Database"]


def _metadata_of(target: Any) -> MetaData:
    """Return the MetaData of a declarative base/model class or a MetaData itself."""
    if isinstance(target, MetaData):
        return target
    metadata = getattr(target, "metadata", None)
    if not isinstance(metadata, MetaData):
        raise TypeError(
            f"expected a MetaData or a declarative class with .metadata, got {target!r}"
        )
    return metadata


class Database:
    """An :class:`AsyncEngine` plus an :class:`async_sessionmaker` built from one config.

    The engine is created on :meth:`startup` (or lazily on first use) and disposed by
    :meth:`shutdown`; ``async with db:`` does both. Sessions come from :meth:`session`, which also
    binds the session as the *current* one so that ``await User.get(1)`` finds it.

    Args:
        config: A :class:`~armature_ext.diesel.config.DatabaseConfig` or a URL. ``None`` reads
            ``DatabaseConfig.from_env()`` (``DATABASE_URL``, ``DATABASE_POOL_SIZE`` ...). URLs
            that ``DatabaseConfig`` understands (``postgresql://``, ``sqlite:///...``, with or
            without ``+asyncpg``/``+aiosqlite``/``+psycopg``) become one, so pool size, timeouts
            and driver selection are the same as for ``diesel``; other SQLAlchemy async URLs are
            used as-is with SQLAlchemy's pool defaults.
        echo: Log SQL statements.
        engine_options: Extra ``create_async_engine`` keyword arguments (override the config).
        session_options: Extra ``async_sessionmaker`` keyword arguments. By default
            ``expire_on_commit=False`` so that objects stay readable after a commit (lazy
            refreshes would need IO, which asyncio sessions cannot do implicitly).
        ping_on_startup: Run ``SELECT 1`` in :meth:`startup` so a wrong URL fails at boot.
    """

    def __init__(
        self,
        config: DatabaseSource | None = None,
        *,
        echo: bool = False,
        engine_options: Mapping[str, Any] | None = None,
        session_options: Mapping[str, Any] | None = None,
        ping_on_startup: bool = True,
    ) -> None:
        self.config: DatabaseConfig | URL = resolve_config(config)
        self.url: URL = engine_url(self.config)
        self.echo = echo
        self.ping_on_startup = ping_on_startup
        self._engine_options = dict(engine_options or {})
        self._session_options: dict[str, Any] = {"expire_on_commit": False}
        self._session_options.update(session_options or {})
        self._engine: AsyncEngine | None = None
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None

    def __repr__(self) -> str:
        state = "started" if self._engine is not None else "stopped"
        return f"Database({self.url.render_as_string(hide_password=True)!r}, {state})"

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether the engine currently exists."""
        return self._engine is not None

    @property
    def dialect(self) -> str:
        """The backend name: ``"sqlite"``, ``"postgresql"`` ..."""
        return self.url.get_backend_name()

    def _ensure_engine(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = build_engine(self.config, echo=self.echo, **self._engine_options)
            self._sessionmaker = async_sessionmaker(self._engine, **self._session_options)
        return self._engine

    @property
    def engine(self) -> AsyncEngine:
        """The :class:`AsyncEngine` (created on first access if :meth:`startup` was not run)."""
        return self._ensure_engine()

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        """The session factory bound to :attr:`engine`."""
        self._ensure_engine()
        assert self._sessionmaker is not None
        return self._sessionmaker

    async def startup(self) -> None:
        """Create the engine and, with ``ping_on_startup``, check that the database answers."""
        engine = self._ensure_engine()
        if self.ping_on_startup:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

    async def shutdown(self) -> None:
        """Dispose of the engine and close its pooled connections (idempotent)."""
        engine, self._engine, self._sessionmaker = self._engine, None, None
        if engine is not None:
            await engine.dispose()

    async def __aenter__(self) -> Database:
        await self.startup()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    @asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[dict[str, Any]]:
        """An app lifespan: start the database, yield ``{"db": self}`` as state, shut it down.

        Args:
            app: The application (ignored; accepted so this fits ``App(lifespan=db.lifespan)``).

        Returns:
            An async context manager yielding the lifespan state.
        """
        await self.startup()
        try:
            yield {"db": self}
        finally:
            await self.shutdown()

    async def ping(self) -> bool:
        """Run ``SELECT 1``; return whether it succeeded (for health checks).

        Returns:
            ``True`` when the database answered.
        """
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    # -- sessions ----------------------------------------------------------------------------

    @asynccontextmanager
    async def session(self, *, bind: bool = True) -> AsyncIterator[AsyncSession]:
        """Open a session, bind it as the current one, close it on exit.

        Nothing is committed implicitly: active-record writes commit themselves outside
        :meth:`transaction`; raw ``session.add()`` work needs ``await session.commit()``.
        Uncommitted changes are rolled back when the session closes.

        Args:
            bind: Bind the session as the current one (default) for the block.

        Returns:
            An async context manager yielding the :class:`AsyncSession`.
        """
        async with self.sessionmaker() as session:
            if not bind:
                yield session
                return
            with bind_session(session):
                yield session

    @asynccontextmanager
    async def transaction(self, session: AsyncSession | None = None) -> AsyncIterator[AsyncSession]:
        """Run the block in a transaction: commit on success, roll back on any exception.

        Uses ``session``, else the current session, else opens (and binds) a new one. Nested
        calls on the same session become SAVEPOINTs (``begin_nested``): an exception inside rolls
        back to the savepoint only, and re-raises. Active-record writes inside only flush; the
        outermost block commits.

        Args:
            session: The session to use instead of the current one.

        Returns:
            An async context manager yielding the session.
        """
        target = session if session is not None else bound_session()
        if target is None:
            async with self.session() as fresh, _transaction(fresh):
                yield fresh
            return
        with bind_session(target):
            async with _transaction(target):
                yield target

    # -- schema ------------------------------------------------------------------------------

    async def create_all(self, target: Any) -> None:
        """Create every table of ``target`` that does not exist yet (tests, examples, scripts).

        Args:
            target: A declarative base (or model) class, or a :class:`MetaData`.
        """
        metadata = _metadata_of(target)
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def drop_all(self, target: Any) -> None:
        """Drop every table of ``target`` that exists.

        Args:
            target: A declarative base (or model) class, or a :class:`MetaData`.
        """
        metadata = _metadata_of(target)
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)


@asynccontextmanager
async def _transaction(session: AsyncSession) -> AsyncIterator[None]:
    """Commit/rollback at depth 0, SAVEPOINT when nested inside another unit of work."""
    depth = enter_unit_of_work(session)
    try:
        if depth == 0:
            try:
                yield
            except BaseException:
                await session.rollback()
                raise
            await session.commit()
        else:
            nested = await session.begin_nested()
            try:
                yield
            except BaseException:
                if nested.is_active:
                    await nested.rollback()
                raise
            if nested.is_active:
                await nested.commit()
    finally:
        exit_unit_of_work(session)
