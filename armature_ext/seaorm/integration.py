"""Wire seaorm into armature: dependency injection, lifespan and readiness, in both styles.

Micro style::

    from sqlalchemy.ext.asyncio import AsyncSession

    from armature import App
    from armature.health import HealthCheck
    from armature_ext.seaorm import install_seaorm

    app = App()
    health = HealthCheck()
    db = install_seaorm(app, "sqlite:///app.db", health=health)
    app.include_router(health.router())

    @app.post("/users", status_code=201)
    async def create_user(data: UserIn, session: AsyncSession) -> UserOut:
        return UserOut.model_validate(await User.create(**data.model_dump()))

Module style: ``SeaOrmModule.register(config)`` returns a ``@module`` providing the same keys.

What gets registered:

- :class:`~armature_ext.seaorm.Database`: a singleton from an async-generator factory. The
  container starts it at lifespan startup (creating the engine and, with ``ping_on_startup``,
  running ``SELECT 1`` so a wrong URL fails the startup with the reason) and disposes of the
  engine at shutdown.
- :class:`~sqlalchemy.ext.asyncio.AsyncEngine`: the engine of the ``Database`` in effect.
- :class:`~sqlalchemy.ext.asyncio.AsyncSession`: request-scoped. The request's session, bound as
  the *current* session while the request runs (so active-record calls such as
  ``await User.get(1)`` use it) and closed after the response. With ``commit_on_success`` the
  request is one unit of work that :class:`SessionCommitMiddleware` commits just before the
  response starts when its status is below 400, and rolls back otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from armature.di import DependencyError, Scope
from armature.middleware.base import Middleware
from armature.modules import module, provide
from armature.types import ASGIApp, Receive, Send
from armature.types import Scope as ASGIScope
from armature_ext._unit_of_work import ResponseStartUnit
from armature_ext.diesel.config import DatabaseConfig

from ._context import _current, enter_unit_of_work
from .database import Database

if TYPE_CHECKING:
    from armature.app import App
    from armature.health import HealthCheck

__all__ = ["SeaOrmModule", "SessionCommitMiddleware", "install_seaorm"]

logger = logging.getLogger("armature_ext.seaorm")

DatabaseArgument = Database | DatabaseConfig | str | URL | None
"""What :func:`install_seaorm` accepts: a ready ``Database``, a config, a URL or ``None`` (env)."""


class _RequestUnit(ResponseStartUnit):
    """:class:`SessionCommitMiddleware`'s per-request state: the session's unit of work."""

    __slots__ = ()

    def __init__(self, scope: ASGIScope, receive: Receive, send: Send, app: App | None) -> None:
        super().__init__(scope, receive, send, app, logger)

    def begin(self, session: AsyncSession) -> None:
        """Make ``session`` the request's unit of work (active-record writes only flush)."""
        enter_unit_of_work(session)
        self.unit = session

    async def _commit(self, unit: AsyncSession) -> None:
        if not unit.in_transaction():
            # PERF: nothing began (the handler never used the session, or committed it
            # itself): nothing to end, and no greenlet round trip (~40 us) for it.
            return
        try:
            await unit.commit()
        except Exception:
            await _rollback_quietly(unit)
            raise

    async def _rollback(self, unit: AsyncSession) -> None:
        if unit.in_transaction():
            await _rollback_quietly(unit)


async def _rollback_quietly(session: AsyncSession) -> None:
    """Roll back; a failure is logged (closing the session discards the connection state)."""
    try:
        await session.rollback()
    except Exception:
        logger.warning("ROLLBACK of the request's session failed", exc_info=True)


class _NoUnit:
    """The middleware ran but this scope has no unit of work (websocket connections)."""


_NO_UNIT = _NoUnit()

_unit: ContextVar[_RequestUnit | _NoUnit | None] = ContextVar(
    "armature_ext_seaorm_request_unit", default=None
)


class SessionCommitMiddleware:
    """Pure ASGI middleware that ends the unit of work of ``commit_on_success`` sessions.

    When a handler injected the request's :class:`~sqlalchemy.ext.asyncio.AsyncSession`, it
    commits the session just before the response starts if the status is below 400 (a failing
    ``COMMIT`` becomes the error response instead), and rolls it back for any other status or when
    no response starts. :func:`install_seaorm` adds it with ``commit_on_success=True``; in the
    module style pass ``SeaOrmModule.register(...).middleware`` to
    ``Application.create(..., middleware=[...])``.

    Args:
        app: The wrapped ASGI app.
        armature_app: The armature app whose exception handlers render a failed ``COMMIT``;
            without it (the module style) the error is logged and answered with a problem+json
            500.
    """

    __slots__ = ("app", "armature_app")

    def __init__(self, app: ASGIApp, *, armature_app: App | None = None) -> None:
        self.app = app
        self.armature_app = armature_app

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection.

        Args:
            scope: The connection scope.
            receive: The ASGI receive callable.
            send: The ASGI send callable.
        """
        kind = scope["type"]
        if kind != "http":
            if kind != "websocket":
                await self.app(scope, receive, send)
                return
            token = _unit.set(_NO_UNIT)
            try:
                await self.app(scope, receive, send)
            finally:
                _unit.reset(token)
            return
        state = _RequestUnit(scope, receive, send, self.armature_app)
        token = _unit.set(state)
        try:
            await self.app(scope, receive, state.send)
        finally:
            _unit.reset(token)


class _Wiring:
    """The providers for one database, shared by both styles."""

    __slots__ = ("commit_on_success", "current", "database")

    def __init__(self, database: DatabaseArgument, commit_on_success: bool) -> None:
        self.database = database if isinstance(database, Database) else Database(database)
        self.commit_on_success = commit_on_success
        # NOTE: the Database in effect (the one built here, or an override of it) while the app
        # runs; the readiness indicator reports on it, and on nothing before startup.
        self.current: Database | None = None

    @staticmethod
    def keys() -> list[Any]:
        """Every exported key."""
        return [Database, AsyncEngine, AsyncSession]

    def providers(self) -> list[tuple[Any, Callable[..., Any], Scope]]:
        """``(key, factory, scope)`` for every provided key."""
        database = self.database
        commit_on_success = self.commit_on_success
        wiring = self

        async def open_database() -> AsyncIterator[Database]:
            if database.started:
                # NOTE: started by its owner (`async with Database(url) as db`, or another app
                # running from the same module class): borrowed, so not disposed of here either.
                yield database
                return
            await database.startup()
            try:
                yield database
            finally:
                await database.shutdown()

        async def bind(db: Database) -> AsyncIterator[_Wiring]:
            # NOTE: created at startup with the Database in effect, overridden or not.
            wiring.current = db
            try:
                yield wiring
            finally:
                wiring.current = None

        def engine(db: Database) -> AsyncEngine:
            return db.engine

        async def request_session(db: Database) -> AsyncIterator[AsyncSession]:
            unit = _unit.get() if commit_on_success else None
            if commit_on_success and unit is None:
                raise DependencyError(
                    "AsyncSession with commit_on_success needs SessionCommitMiddleware around the "
                    "app: install_seaorm() adds it; with modules pass "
                    "SeaOrmModule.register(...).middleware to Application.create(..., "
                    "middleware=[...])"
                )
            session = db.sessionmaker()
            if isinstance(unit, _RequestUnit):
                unit.begin(session)
            else:
                unit = None
            token = _current.set(session)
            try:
                yield session
            finally:
                _current.reset(token)
                if unit is not None:
                    # NOTE: no response started when the unit is still open (the client went
                    # away): it is never committed; closing the session rolls it back.
                    unit.unit = None
                # PERF: closing costs a greenlet round trip; skip it when there is nothing to
                # release (a handler that asked for the session but never queried).
                if session.in_transaction() or session.identity_map or session.new:
                    await session.close()

        return [
            (Database, open_database, Scope.SINGLETON),
            (_Wiring, bind, Scope.SINGLETON),
            (AsyncEngine, engine, Scope.SINGLETON),
            (AsyncSession, request_session, Scope.REQUEST),
        ]

    async def check(self, timeout: float) -> dict[str, Any]:
        """The readiness indicator: ``SELECT 1`` on the database in effect (never raises).

        Args:
            timeout: Seconds to wait for a connection and the answer.

        Returns:
            ``{"status": "up"|"down", "dialect", "url", ...}`` with ``pool`` or ``error``.
        """
        db = self.current
        if db is None:
            return {"status": "down", "error": "the database is not started"}
        report: dict[str, Any] = {
            "dialect": db.dialect,
            "url": db.url.render_as_string(hide_password=True),
        }
        try:
            with anyio.fail_after(timeout):
                async with db.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except TimeoutError:
            return {"status": "down", **report, "error": f"no answer within {timeout}s"}
        except Exception as exc:
            first_line = (str(exc).strip().splitlines() or [""])[0]
            return {"status": "down", **report, "error": f"{type(exc).__name__}: {first_line}"}
        pool = db.engine.pool
        size, checked_out = getattr(pool, "size", None), getattr(pool, "checkedout", None)
        if callable(size) and callable(checked_out):
            report["pool"] = {"size": size(), "checked_out": checked_out()}
        return {"status": "up", **report}

    def add_indicator(self, health: HealthCheck, name: str, timeout: float) -> None:
        """Register :meth:`check` as a readiness indicator called ``name``."""

        async def check() -> dict[str, Any]:
            return await self.check(timeout)

        # NOTE: a second more than the probe's own timeout, so /health/ready shows the probe's
        # report (dialect, URL, the error) rather than a bare timeout.
        health.add(name, check, kind="ready", timeout=timeout + 1)


def install_seaorm(
    app: App,
    config: DatabaseArgument = None,
    *,
    health: HealthCheck | None = None,
    commit_on_success: bool = False,
    name: str = "seaorm",
    health_timeout: float = 2.0,
) -> Database:
    """Provide ``Database``, ``AsyncEngine`` and the request's ``AsyncSession``.

    The engine is created at lifespan startup (a database that does not answer fails the startup
    with the reason, unless the ``Database`` was built with ``ping_on_startup=False``) and
    disposed of at shutdown. A ``Database`` already started by its owner is used as it is and
    left running.

    Args:
        app: The application (before it starts).
        config: A ready :class:`Database`, a ``DatabaseConfig``, a URL, or ``None`` to read
            ``DATABASE_*`` from the environment now.
        health: Register a readiness indicator named ``name`` on this health check.
        commit_on_success: Make each request that injects ``AsyncSession`` one unit of work:
            writes only flush, and :class:`SessionCommitMiddleware` (added here) commits before
            the response starts when its status is below 400, and rolls back otherwise.
        name: The indicator's name.
        health_timeout: Seconds the readiness probe waits for the database.

    Returns:
        The :class:`Database` (started with the app): for ``crud_router(..., database=db)``,
        ``db.transaction()`` or ``await db.create_all(Base)`` in a startup hook.

    Raises:
        DependencyError: The app already has a seaorm database installed.
        ConfigError: ``config`` is ``None`` and ``DATABASE_URL`` is unset or invalid.
        ValueError: The URL is invalid.
    """
    if app.container.has(Database):
        raise DependencyError(
            "install_seaorm() was already called for this app (one Database per app; open a "
            "second one yourself with Database(url) and its lifespan)"
        )
    wiring = _Wiring(config, commit_on_success)
    if commit_on_success:
        app.add_middleware(SessionCommitMiddleware, armature_app=app)
    for key, factory, scope in wiring.providers():
        app.container.add_factory(factory, scope=scope, key=key)
    if health is not None:
        wiring.add_indicator(health, name, health_timeout)
    return wiring.database


class SeaOrmModule:
    """The module style: ``SeaOrmModule.register(config)`` returns a ``@module`` class.

    The module provides and exports ``Database``, ``AsyncEngine`` and ``AsyncSession`` (see
    :func:`install_seaorm`). The returned class also carries ``database`` (the
    :class:`Database`) and ``middleware`` (the :class:`SessionCommitMiddleware` declaration that
    ``commit_on_success=True`` needs in ``Application.create(..., middleware=[...])``).
    """

    database: ClassVar[Database]
    middleware: ClassVar[Middleware]

    @classmethod
    def register(
        cls,
        config: DatabaseArgument = None,
        *,
        global_: bool = True,
        health: HealthCheck | None = None,
        commit_on_success: bool = False,
        name: str = "seaorm",
        health_timeout: float = 2.0,
    ) -> type[SeaOrmModule]:
        """Build the module for one database.

        Args:
            config: A ready :class:`Database`, a ``DatabaseConfig``, a URL, or ``None`` to read
                ``DATABASE_*`` from the environment now.
            global_: Export to every module without importing it.
            health: Register a readiness indicator named ``name`` on this health check.
            commit_on_success: Make each request that injects ``AsyncSession`` one unit of work
                (needs ``middleware`` in ``Application.create``).
            name: The indicator's name.
            health_timeout: Seconds the readiness probe waits for the database.

        Returns:
            A new ``@module`` class (a subclass of :class:`SeaOrmModule`).
        """
        wiring = _Wiring(config, commit_on_success)
        providers = [
            provide(key, use_factory=factory, scope=scope.value)
            for key, factory, scope in wiring.providers()
        ]
        namespace = {
            "__doc__": (
                f"seaorm database {wiring.database.url.render_as_string(hide_password=True)}."
            ),
            "__module__": cls.__module__,
            "database": wiring.database,
            "middleware": Middleware(SessionCommitMiddleware),
        }
        created: type[SeaOrmModule] = type(cls.__name__, (cls,), namespace)
        if health is not None:
            wiring.add_indicator(health, name, health_timeout)
        return module(providers=providers, exports=_Wiring.keys(), global_=global_)(created)
