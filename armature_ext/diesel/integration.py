"""Wire diesel into armature: dependency injection, lifespan and readiness, in both styles.

Micro style::

    from armature import App
    from armature.health import HealthCheck
    from armature_ext.diesel import Connection, TransactionConnection, install_database

    app = App()
    health = HealthCheck()
    install_database(app, "sqlite:///app.db", health=health)
    app.include_router(health.router())

    @app.get("/users")
    async def users(conn: Connection) -> list[dict[str, object]]:
        return await conn.fetch("SELECT id, name FROM users ORDER BY id")

Module style: ``DatabaseModule.register(config)`` returns a ``@module`` providing the same keys.

What gets registered:

- :class:`~armature_ext.diesel.Pool`: a singleton from an async-generator factory. The container
  creates it at lifespan startup (opening the pool, so a database that is down fails the startup
  with the reason) and finishes it at shutdown (draining, then closing the pool).
- :class:`~armature_ext.diesel.DatabaseProvider`: a singleton bound to the pool in effect
  (``connection()``, ``transaction()``, ``check()``); an override of ``Pool`` redirects it too.
- :class:`~armature_ext.diesel.Connection`: request-scoped, acquired when a request first asks
  for it and returned to the pool after the response.
- :data:`TransactionConnection`: request-scoped, the request's connection inside a transaction
  that :class:`TransactionMiddleware` commits *before* the response starts when its status is
  below 400 (a failed commit becomes the error response), and rolls back otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from typing import Any, ClassVar, NewType

from armature.app import App
from armature.di import DependencyError, Scope
from armature.health import HealthCheck
from armature.middleware.base import Middleware
from armature.modules import module, provide
from armature.types import ASGIApp, Receive, Send
from armature.types import Scope as ASGIScope
from armature_ext._unit_of_work import ResponseStartUnit
from armature_ext.diesel.config import DatabaseConfig
from armature_ext.diesel.connection import Connection, Transaction
from armature_ext.diesel.pool import Pool
from armature_ext.diesel.provider import DatabaseProvider

__all__ = [
    "DatabaseModule",
    "TransactionConnection",
    "TransactionMiddleware",
    "install_database",
]

logger = logging.getLogger("armature_ext.diesel")

TransactionConnection = NewType("TransactionConnection", Connection)
"""Inject the request's :class:`Connection` inside a transaction (a ``NewType`` of it).

The transaction begins when the handler's parameters are bound. :class:`TransactionMiddleware`
commits it just before the response starts when the status is below 400 (so the client never
sees a success that was not committed; a failing ``COMMIT`` becomes the error response instead)
and rolls it back for any other status, including the 500 of a handler that raised, or when no
response started at all (the client went away). It ends when the response *starts*: a streaming
body must not write through it.
"""


class _ResponseFailed(Exception):
    """Handed to ``Transaction.__aexit__`` to make it roll back (status >= 400, no response)."""


class _RequestTransaction(ResponseStartUnit):
    """:class:`TransactionMiddleware`'s per-request state: the injected transaction, if any."""

    __slots__ = ()

    def __init__(self, scope: ASGIScope, receive: Receive, send: Send, app: App | None) -> None:
        super().__init__(scope, receive, send, app, logger)

    @property
    def tx(self) -> Transaction | None:
        """The injected transaction still to be ended, if any."""
        tx: Transaction | None = self.unit
        return tx

    async def begin(self, conn: Connection) -> None:
        """Open the request's transaction on ``conn``."""
        if self.unit is not None:
            raise DependencyError("this request already has an injected transaction")
        tx = conn.transaction()
        await tx.__aenter__()
        self.unit = tx

    async def _commit(self, unit: Transaction) -> None:
        await unit.__aexit__(None, None, None)

    async def _rollback(self, unit: Transaction) -> None:
        # NOTE: Transaction.__aexit__ with an exception rolls back and never raises; a
        # connection whose ROLLBACK failed is marked broken and discarded on release.
        await unit.__aexit__(_ResponseFailed, _ResponseFailed(), None)


_current: ContextVar[_RequestTransaction | None] = ContextVar(
    "armature_ext_diesel_request_transaction", default=None
)


class TransactionMiddleware:
    """Pure ASGI middleware that ends injected :data:`TransactionConnection` transactions.

    It commits the request's transaction when the response starts with a status below 400 and
    rolls it back otherwise (or when no response starts). :func:`install_database` adds it; in
    the module style pass ``DatabaseModule.register(...).middleware`` to
    ``Application.create(..., middleware=[...])`` or call
    ``app.add_middleware(TransactionMiddleware, armature_app=app)``.

    Args:
        app: The wrapped ASGI app.
        armature_app: The armature app whose exception handlers render a failed ``COMMIT``;
            without it the error is rendered as problem+json directly (an ``HTTPException``
            keeps its status, anything else is a 500).
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
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = _RequestTransaction(scope, receive, send, self.armature_app)
        token = _current.set(state)
        try:
            await self.app(scope, receive, state.send)
        finally:
            _current.reset(token)
            if state.unit is not None:
                # NOTE: no response started (the client went away, an error escaped the app).
                await state.rollback()


# -- providers ---------------------------------------------------------------------------------


async def _request_connection(pool: Pool) -> AsyncIterator[Connection]:
    async with pool.acquire() as conn:
        yield conn


async def _request_transaction(conn: Connection) -> AsyncIterator[TransactionConnection]:
    state = _current.get()
    if state is None:
        raise DependencyError(
            "TransactionConnection needs TransactionMiddleware around the app: install_database() "
            "adds it; with modules pass DatabaseModule.register(...).middleware to "
            "Application.create(..., middleware=[...]) (or inject Connection/DatabaseProvider and "
            "use `async with db.transaction()`)"
        )
    await state.begin(conn)
    try:
        yield TransactionConnection(conn)
    finally:
        # NOTE: normally the middleware ended it when the response started; this covers a
        # response that never started, before the connection goes back to the pool.
        if state.unit is not None:
            await state.rollback()


class _Wiring:
    """The providers for one database, shared by both styles."""

    __slots__ = ("current", "database")

    def __init__(self, database: DatabaseProvider) -> None:
        self.database = database
        self.current = database

    def providers(self) -> list[tuple[Any, Callable[..., Any], Scope]]:
        """``(key, factory, scope)`` for every provided key."""
        database = self.database

        async def open_pool() -> AsyncIterator[Pool]:
            if database.started:
                # NOTE: started by its owner (your own `await db.startup()`, or another running
                # app built from the same module class): borrowed, so not closed here either.
                yield database.pool
                return
            await database.startup()
            try:
                yield database.pool
            finally:
                await database.shutdown()

        def bound_provider(pool: Pool) -> DatabaseProvider:
            if database.started and database.pool is pool:
                chosen = database
            else:
                # NOTE: Pool is overridden (tests): a provider over the pool in effect, so
                # connection()/transaction()/check() use it too. It never owns that pool.
                chosen = DatabaseProvider(
                    pool.config, name=database.name, health_timeout=database.health_timeout
                )
                chosen._pool = pool
            self.current = chosen
            return chosen

        return [
            (Pool, open_pool, Scope.SINGLETON),
            (DatabaseProvider, bound_provider, Scope.SINGLETON),
            (Connection, _request_connection, Scope.REQUEST),
            (TransactionConnection, _request_transaction, Scope.REQUEST),
        ]

    async def check(self) -> dict[str, Any]:
        """The readiness indicator: the report of ``DatabaseProvider.check`` (never raises)."""
        return await self.current.check(raise_on_failure=False)

    def add_indicator(self, health: HealthCheck) -> None:
        """Register :meth:`check` as a readiness indicator named after the database."""
        # NOTE: a second longer than diesel's own probe timeout, so its report (with the pool
        # status) is what /health/ready shows rather than a bare timeout.
        health.add(
            self.database.name, self.check, kind="ready", timeout=self.database.health_timeout + 1
        )


def install_database(
    app: App,
    config: DatabaseConfig | str | None = None,
    *,
    health: HealthCheck | None = None,
    name: str = "database",
    health_timeout: float = 2.0,
) -> DatabaseProvider:
    """Provide ``Pool``, ``DatabaseProvider``, ``Connection`` and ``TransactionConnection``.

    The pool opens at lifespan startup (a database that is down fails the startup with the
    reason) and is drained and closed at shutdown. Adds :class:`TransactionMiddleware`.

    Args:
        app: The application (before it starts).
        config: The settings, a URL, or ``None`` to read ``DATABASE_*`` from the environment.
        health: Register a readiness indicator named ``name`` on this health check.
        name: The database's name in logs and health reports.
        health_timeout: Seconds the readiness probe waits for the database.

    Returns:
        The :class:`DatabaseProvider` (started with the app), e.g. for ``db.pool`` in a lifespan.

    Raises:
        DependencyError: The app already has a database installed.
        RuntimeError: The app has already started.
    """
    if app.container.has(Pool):
        raise DependencyError(
            "install_database() was already called for this app; a second database needs its "
            "own DatabaseProvider (see docs/diesel.md)"
        )
    wiring = _Wiring(DatabaseProvider(config, name=name, health_timeout=health_timeout))
    app.add_middleware(TransactionMiddleware, armature_app=app)
    for key, factory, scope in wiring.providers():
        app.container.add_factory(factory, scope=scope, key=key)
    if health is not None:
        wiring.add_indicator(health)
    return wiring.database


class DatabaseModule:
    """The module style: ``DatabaseModule.register(config)`` returns a ``@module`` class.

    The module provides and exports ``Pool``, ``DatabaseProvider``, ``Connection`` and
    ``TransactionConnection`` (see :func:`install_database`). The returned class also carries
    ``database`` (the :class:`DatabaseProvider`) and ``middleware`` (the
    :class:`TransactionMiddleware` declaration that ``TransactionConnection`` needs).
    """

    database: ClassVar[DatabaseProvider]
    middleware: ClassVar[Middleware]

    @classmethod
    def register(
        cls,
        config: DatabaseConfig | str | None = None,
        *,
        global_: bool = True,
        health: HealthCheck | None = None,
        name: str = "database",
        health_timeout: float = 2.0,
    ) -> type[DatabaseModule]:
        """Build the module for one database.

        Args:
            config: The settings, a URL, or ``None`` to read ``DATABASE_*`` from the environment.
            global_: Export to every module without importing it.
            health: Register a readiness indicator named ``name`` on this health check.
            name: The database's name in logs and health reports.
            health_timeout: Seconds the readiness probe waits for the database.

        Returns:
            A new ``@module`` class (a subclass of :class:`DatabaseModule`).
        """
        wiring = _Wiring(DatabaseProvider(config, name=name, health_timeout=health_timeout))
        providers = [
            provide(key, use_factory=factory, scope=scope.value)
            for key, factory, scope in wiring.providers()
        ]
        namespace = {
            "__doc__": f"diesel database {name!r} ({wiring.database.config.redacted_url}).",
            "__module__": cls.__module__,
            "database": wiring.database,
            "middleware": Middleware(TransactionMiddleware),
        }
        created: type[DatabaseModule] = type(cls.__name__, (cls,), namespace)
        if health is not None:
            wiring.add_indicator(health)
        return module(
            providers=providers,
            exports=[Pool, DatabaseProvider, Connection, TransactionConnection],
            global_=global_,
        )(created)
