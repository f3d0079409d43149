"""Read-optimized application state: lock-free consistent reads, atomic copy-on-write updates.

The Rust original's last open item was a read-optimized shared state. In Python the same
guarantee comes from publishing immutable snapshots: readers take the current snapshot reference
(one attribute read, no lock) and always see a consistent set of values; writers build a new dict
under a lock and publish it with a single reference assignment, which is atomic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

__all__ = ["AppState"]


class AppState:
    """Application state for read-heavy use.

    Reads: ``app.state.db_url``, ``app.state["db_url"]``, or ``snap = app.state.snapshot()`` to read
    several values from one consistent version. Writes: ``app.state.db_url = ...``,
    ``app.state.update(a=1, b=2)`` (atomic for all keys), or ``with app.state.edit() as draft:``.

    Args:
        initial: The first snapshot's contents.
    """

    __slots__ = ("_lock", "_snapshot", "_version")

    def __init__(self, initial: Mapping[str, Any] | None = None) -> None:
        object.__setattr__(self, "_lock", threading.Lock())
        object.__setattr__(self, "_snapshot", MappingProxyType(dict(initial or {})))
        object.__setattr__(self, "_version", 0)

    def snapshot(self) -> Mapping[str, Any]:
        """Return the current immutable snapshot (never changes after it is returned)."""
        snapshot: Mapping[str, Any] = self._snapshot
        return snapshot

    def revision(self) -> int:
        """A counter bumped on every published write.

        NOTE: a method, not a property, so a state key named ``version`` stays readable as
        ``app.state.version``; keys named like the methods are read with ``app.state["get"]``.
        """
        version: int = self._version
        return version

    def __getattr__(self, name: str) -> Any:
        try:
            return self._snapshot[name]
        except KeyError:
            raise AttributeError(f"app state has no attribute {name!r}") from None

    def __getitem__(self, name: str) -> Any:
        return self._snapshot[name]

    def __contains__(self, name: object) -> bool:
        return name in self._snapshot

    def __iter__(self) -> Iterator[str]:
        return iter(self._snapshot)

    def get(self, name: str, default: Any = None) -> Any:
        """Return ``name`` from the current snapshot, or ``default``."""
        return self._snapshot.get(name, default)

    def __setattr__(self, name: str, value: Any) -> None:
        self.update({name: value})

    def __setitem__(self, name: str, value: Any) -> None:
        self.update({name: value})

    def __delattr__(self, name: str) -> None:
        self.replace(lambda data: {k: v for k, v in data.items() if k != name})

    def update(self, values: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        """Publish a new snapshot with ``values`` and ``kwargs`` merged in, atomically.

        Args:
            values: Keys to set.
            **kwargs: More keys to set.
        """
        changes = {**(values or {}), **kwargs}
        self.replace(lambda data: {**data, **changes})

    def replace(self, build: Callable[[dict[str, Any]], Mapping[str, Any]]) -> None:
        """Publish ``build(copy_of_current)`` as the new snapshot, serialized against other writers.

        Args:
            build: Receives a private copy of the current data and returns the new data.
        """
        with self._lock:
            new = MappingProxyType(dict(build(dict(self._snapshot))))
            # NOTE: one reference assignment: readers see the old or the new snapshot, never a mix.
            object.__setattr__(self, "_snapshot", new)
            object.__setattr__(self, "_version", self._version + 1)

    @contextmanager
    def edit(self) -> Iterator[dict[str, Any]]:
        """Edit a private draft; it is published when the block exits without an error."""
        with self._lock:
            draft = dict(self._snapshot)
            yield draft
            object.__setattr__(self, "_snapshot", MappingProxyType(draft))
            object.__setattr__(self, "_version", self._version + 1)

    def __repr__(self) -> str:
        return f"AppState({dict(self._snapshot)!r})"
