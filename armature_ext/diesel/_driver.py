"""The interface each backend's pool driver implements for :class:`~armature_ext.diesel.Pool`."""

from __future__ import annotations

from abc import ABC, abstractmethod

from armature_ext.diesel.config import DatabaseConfig
from armature_ext.diesel.connection import Connection


class Driver(ABC):
    """A backend pool: hands out :class:`Connection` wrappers and takes their raw objects back."""

    def __init__(self, config: DatabaseConfig) -> None:
        self.config = config

    @property
    @abstractmethod
    def max_size(self) -> int:
        """The most connections this pool will open."""

    @property
    def min_size(self) -> int:
        """The connections kept open while idle."""
        return self.config.pool_min

    @abstractmethod
    async def open(self) -> None:
        """Open the pool; raise ``DatabaseUnavailable`` with the reason when it cannot connect."""

    @abstractmethod
    async def acquire(self, timeout: float) -> Connection:
        """Return a connection, raising ``PoolTimeout`` after ``timeout`` seconds."""

    @abstractmethod
    async def release(self, conn: Connection, raw: object, reusable: bool) -> None:
        """Take back ``raw`` (detached from ``conn``); close it unless ``reusable``."""

    @abstractmethod
    async def close(self) -> None:
        """Close every connection, including any still in use."""

    @abstractmethod
    def size(self) -> int:
        """Connections currently open (idle and in use)."""

    @abstractmethod
    def idle(self) -> int:
        """Connections open and not in use."""

    def release_now(self, raw: object) -> bool:
        """Take back a clean, reusable ``raw`` synchronously when possible.

        Returns:
            ``True`` when done; ``False`` means :meth:`release` must be awaited instead.
        """
        return False
