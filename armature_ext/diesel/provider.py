"""``DatabaseProvider``: a lifespan-managed pool with per-request helpers and a health check.

.. code-block:: python

    from armature import App
    from armature_ext.diesel import DatabaseConfig, DatabaseProvider

    db = DatabaseProvider(DatabaseConfig.from_env(default_url="sqlite:///app.db"))
    app = App(lifespan=db.lifespan)

    @app.get("/users")
    async def users() -> list[dict[str, object]]:
        async with db.connection() as conn:
            return await conn.fetch("SELECT id, name FROM users ORDER BY id")

    @app.get("/ready")
    async def ready() -> dict[str, object]:
        return await db.check()  # 503 problem+json when the database is down

When the database is unreachable at startup, :meth:`DatabaseProvider.startup` raises
:class:`~armature_ext.diesel.errors.DatabaseUnavailable` with the reason, which fails the ASGI
lifespan startup (the server refuses to start instead of serving errors).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

import anyio

from armature_ext.diesel.config import DatabaseConfig
from armature_ext.diesel.connection import Isolation
from armature_ext.diesel.errors import DatabaseUnavailable, DieselError
from armature_ext.diesel.pool import Pool, _Acquire, _PoolTransaction

__all__ = ["DatabaseProvider"]

logger = logging.getLogger("armature_ext.diesel")


class DatabaseProvider:
    """Owns one :class:`Pool` for an application's lifetime.

    Start it with :meth:`startup` (or ``async with provider``, or ``App(lifespan=provider.
    lifespan)``) and stop it with :meth:`shutdown`, which drains connections in use.

    Args:
        config: The settings, a URL, or ``None`` to read ``DATABASE_*`` from the environment.
        name: A label for logs and health reports (``"database"``).
        health_timeout: Seconds :meth:`check` waits for its probe query (connection included).
        state_key: When set, :meth:`lifespan` yields ``{state_key: provider}`` as lifespan state
            (available as ``request.state.<state_key>``).
    """

    def __init__(
        self,
        config: DatabaseConfig | str | None = None,
        *,
        name: str = "database",
        health_timeout: float = 2.0,
        state_key: str | None = None,
    ) -> None:
        if config is None:
            config = DatabaseConfig.from_env()
        elif isinstance(config, str):
            config = DatabaseConfig(url=config)
        self.config = config
        self.name = name
        self.health_timeout = health_timeout
        self.state_key = state_key
        self._pool: Pool | None = None

    def __repr__(self) -> str:
        state = "started" if self.started else "stopped"
        return f"<DatabaseProvider {self.name} {self.config.redacted_url} {state}>"

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether :meth:`startup` succeeded and :meth:`shutdown` has not run."""
        return self._pool is not None and not self._pool.closed

    @property
    def pool(self) -> Pool:
        """The open pool.

        Raises:
            DieselError: The provider is not started.
        """
        if self._pool is None:
            raise DieselError(
                f"{self.name} provider is not started; run it in the app lifespan "
                "(App(lifespan=provider.lifespan)) or call `await provider.startup()`"
            )
        return self._pool

    async def startup(self) -> None:
        """Open the pool and check that the database answers.

        Raises:
            DatabaseUnavailable: The database cannot be reached; the message names the redacted
                URL and the driver's reason (refused, unknown database, authentication...).
        """
        if self.started:
            return
        pool = Pool(self.config)
        try:
            await pool.open()
        except DatabaseUnavailable as exc:
            logger.error("%s startup failed: %s", self.name, exc)
            raise
        self._pool = pool
        status = pool.status()
        logger.info(
            "%s ready: %s (%s, pool %d/%d)",
            self.name,
            self.config.redacted_url,
            self.config.backend,
            status.size,
            status.max,
        )

    async def shutdown(self, timeout: float | None = None) -> None:
        """Drain and close the pool (a no-op when not started).

        Args:
            timeout: Seconds to wait for connections in use (``config.close_timeout``).
        """
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close(timeout)

    async def __aenter__(self) -> DatabaseProvider:
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
    async def lifespan(self, app: object = None) -> AsyncIterator[Mapping[str, Any] | None]:
        """An ASGI lifespan context: ``App(lifespan=provider.lifespan)``.

        Args:
            app: The application (unused; accepted so this fits ``App(lifespan=...)``).

        Yields:
            ``{state_key: provider}`` when ``state_key`` is set, else ``None``.
        """
        del app
        await self.startup()
        try:
            yield {self.state_key: self} if self.state_key else None
        finally:
            await self.shutdown()

    # -- per-request helpers ----------------------------------------------------------------

    def connection(self, timeout: float | None = None) -> _Acquire:
        """Borrow a connection for the duration of a block: ``async with db.connection() as c``.

        Args:
            timeout: Acquire timeout override (``PoolTimeout``, a 503, when it expires).

        Returns:
            An async context manager yielding a :class:`~armature_ext.diesel.Connection`.
        """
        return self.pool.acquire(timeout)

    def transaction(
        self,
        isolation: Isolation | None = None,
        *,
        readonly: bool = False,
        deferrable: bool = False,
        timeout: float | None = None,
    ) -> _PoolTransaction:
        """Borrow a connection and run a transaction: ``async with db.transaction() as c``.

        Args:
            isolation: The isolation level (``None``: the database default).
            readonly: Reject writes.
            deferrable: PostgreSQL ``DEFERRABLE``.
            timeout: Acquire timeout override.

        Returns:
            An async context manager yielding the connection; commits on success, rolls back
            on an exception or cancellation.
        """
        return self.pool.transaction(
            isolation, readonly=readonly, deferrable=deferrable, timeout=timeout
        )

    # -- health -----------------------------------------------------------------------------

    async def check(self, *, raise_on_failure: bool = True) -> dict[str, Any]:
        """Readiness probe: run ``SELECT 1`` through the pool and report pool occupancy.

        Args:
            raise_on_failure: Raise :class:`DatabaseUnavailable` (a 503 whose problem document
                carries this report) when the database does not answer; with ``False`` the
                report is returned with ``status == "down"``.

        Returns:
            ``{"name", "status": "up" | "degraded" | "down", "backend", "latency_ms", "pool"}``;
            ``degraded`` means the query worked but the pool is under pressure.

        Raises:
            DatabaseUnavailable: The probe failed and ``raise_on_failure`` is true.
        """
        report: dict[str, Any] = {"name": self.name, "backend": self.config.backend}
        if self._pool is None or self._pool.closed:
            report.update(status="down", error="not started")
            return self._fail(report, "the database provider is not started", raise_on_failure)
        pool = self._pool
        started = time.perf_counter()
        try:
            with anyio.fail_after(self.health_timeout):
                await pool.fetchval("SELECT 1")
        except (DieselError, TimeoutError) as exc:
            reason = str(exc) or f"no answer within {self.health_timeout:g}s"
            report.update(status="down", error=type(exc).__name__, pool=pool.status().as_dict())
            return self._fail(
                report, f"{self.name} health check failed: {reason}", raise_on_failure
            )
        status = pool.status()
        report.update(
            status="degraded" if status.under_pressure else "up",
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            pool=status.as_dict(),
        )
        return report

    def _fail(self, report: dict[str, Any], message: str, raise_it: bool) -> dict[str, Any]:
        if raise_it:
            raise DatabaseUnavailable(message, extensions={"checks": {self.name: report}})
        return report
