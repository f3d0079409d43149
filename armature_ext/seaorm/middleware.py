"""Per-request sessions: :class:`DatabaseSessionMiddleware` binds one session to each request."""

from __future__ import annotations

from collections.abc import Collection

from armature.types import ASGIApp, Message, Receive, Scope, Send

from ._context import LazySession, _current, enter_unit_of_work
from .database import Database

__all__ = ["DatabaseSessionMiddleware"]


class DatabaseSessionMiddleware:
    """Open one session per request, bind it as the current session, close it afterwards.

    By default the middleware only *binds and closes*: active-record writes (``create``,
    ``save``, ``update``, ``delete``) commit themselves, ``db.transaction()`` groups several
    writes, and anything left uncommitted is rolled back when the session closes. The session is
    created on first use, and a pooled connection is only checked out by the first query.

    With ``commit_on_success=True`` the request is one unit of work instead: active-record
    writes only flush, and the middleware commits *just before* the response starts when its
    status is below 400 (so a failed commit still becomes a 500), and rolls back otherwise or when
    the app raises. Writes made after the response started (streaming bodies, background tasks)
    are not committed in that mode.

    Args:
        app: The wrapped ASGI application.
        database: The :class:`~armature_ext.seaorm.Database` to open sessions from.
        commit_on_success: Make each request a unit of work committed on status < 400.
        scope_types: Scope types that get a session (``"http"``; add ``"websocket"`` if wanted).
    """

    __slots__ = ("app", "commit_on_success", "database", "scope_types")

    def __init__(
        self,
        app: ASGIApp,
        database: Database,
        *,
        commit_on_success: bool = False,
        scope_types: Collection[str] = ("http",),
    ) -> None:
        if not isinstance(database, Database):
            raise TypeError(f"database must be a Database, got {database!r}")
        self.app = app
        self.database = database
        self.commit_on_success = commit_on_success
        self.scope_types = frozenset(scope_types)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in self.scope_types:
            await self.app(scope, receive, send)
            return
        # PERF: the session is created on first use; requests that never query skip it entirely.
        lazy = LazySession(
            self.database.sessionmaker, enter_unit_of_work if self.commit_on_success else None
        )
        token = _current.set(lazy)
        try:
            if not self.commit_on_success:
                await self.app(scope, receive, send)
                return
            decided = False

            async def send_committing(message: Message) -> None:
                nonlocal decided
                if not decided and message["type"] == "http.response.start":
                    decided = True
                    session = lazy.session
                    if session is not None:
                        if message["status"] < 400:
                            await session.commit()
                        else:
                            await session.rollback()
                await send(message)

            try:
                await self.app(scope, receive, send_committing)
            except BaseException:
                if not decided and lazy.session is not None:
                    await lazy.session.rollback()
                raise
        finally:
            _current.reset(token)
            session = lazy.session
            # PERF: closing costs a greenlet round trip; skip it when there is nothing to release.
            if session is not None and (
                session.in_transaction() or session.identity_map or session.new
            ):
                # NOTE: close() rolls back whatever is still uncommitted and returns the connection.
                await session.close()
