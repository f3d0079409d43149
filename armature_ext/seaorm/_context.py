"""The contextvar-bound "current session" used by active-record calls, and unit-of-work depth.

A session is *bound* for the duration of ``async with db.session()``, ``db.transaction()`` or one
HTTP request under :class:`~armature_ext.seaorm.DatabaseSessionMiddleware`. Active-record calls
resolve their session as: explicit ``session=`` argument, else the bound one, else an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "LazySession",
    "NoSessionError",
    "bind_session",
    "bound_session",
    "current_session",
    "in_unit_of_work",
    "resolve_session",
]


class LazySession:
    """A request's session, created on first use (requests that never touch the DB pay nothing).

    Args:
        factory: Makes the session (an ``async_sessionmaker``).
        on_create: Called with the new session (e.g. to open a unit of work on it).
    """

    __slots__ = ("factory", "on_create", "session")

    def __init__(
        self,
        factory: Callable[[], AsyncSession],
        on_create: Callable[[AsyncSession], object] | None = None,
    ) -> None:
        self.factory = factory
        self.on_create = on_create
        self.session: AsyncSession | None = None

    def get(self) -> AsyncSession:
        """Return the session, creating it the first time.

        Returns:
            The session.
        """
        session = self.session
        if session is None:
            session = self.session = self.factory()
            if self.on_create is not None:
                self.on_create(session)
        return session


_current: ContextVar[AsyncSession | LazySession | None] = ContextVar(
    "armature_seaorm_session", default=None
)


def bound_session() -> AsyncSession | None:
    """Return the session bound to the current context (creating a lazy one), or ``None``.

    Returns:
        The bound session or ``None``.
    """
    bound = _current.get()
    if isinstance(bound, LazySession):
        return bound.get()
    return bound


# NOTE: stored in ``session.info`` (a per-session dict) rather than a contextvar so that the flag
# follows the session object, whichever task happens to use it.
_UOW_KEY = "armature.seaorm.uow_depth"


class NoSessionError(RuntimeError):
    """Raised when an active-record call finds neither ``session=`` nor a bound session."""


def current_session() -> AsyncSession:
    """Return the session bound to the current context.

    Returns:
        The bound :class:`~sqlalchemy.ext.asyncio.AsyncSession`.

    Raises:
        NoSessionError: When no session is bound (use ``async with db.session():``, the
            ``DatabaseSessionMiddleware`` or pass ``session=`` explicitly).
    """
    session = bound_session()
    if session is None:
        raise NoSessionError(
            "no database session is bound to this context: wrap the code in "
            "`async with db.session():` (or db.transaction()), add DatabaseSessionMiddleware "
            "to the app, or pass session=... explicitly"
        )
    return session


def resolve_session(session: AsyncSession | None) -> AsyncSession:
    """Return ``session`` when given, else the bound session (see :func:`current_session`).

    Args:
        session: An explicit session, or ``None``.

    Returns:
        The session to use.
    """
    # PERF: the explicit-session path avoids the ContextVar lookup entirely.
    return session if session is not None else current_session()


@contextmanager
def bind_session(session: AsyncSession) -> Iterator[AsyncSession]:
    """Bind ``session`` as the current session for the enclosed block.

    Args:
        session: The session to bind.

    Returns:
        A context manager yielding ``session``; the previous binding is restored on exit.
    """
    token = _current.set(session)
    try:
        yield session
    finally:
        _current.reset(token)


def in_unit_of_work(session: AsyncSession) -> bool:
    """Tell whether ``session`` is inside ``db.transaction()`` or a committing request scope.

    Active-record writes only *flush* inside a unit of work (the owner commits or rolls back at
    its end); outside one they commit straight away.

    Args:
        session: The session to inspect.

    Returns:
        ``True`` when a unit of work is open on the session.
    """
    return bool(session.info.get(_UOW_KEY, 0))


def enter_unit_of_work(session: AsyncSession) -> int:
    """Increase the unit-of-work depth of ``session`` and return the depth before the call."""
    depth: int = session.info.get(_UOW_KEY, 0)
    session.info[_UOW_KEY] = depth + 1
    return depth


def exit_unit_of_work(session: AsyncSession) -> None:
    """Decrease the unit-of-work depth of ``session``."""
    depth: int = session.info.get(_UOW_KEY, 0)
    session.info[_UOW_KEY] = max(depth - 1, 0)
