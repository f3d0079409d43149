"""Background tasks: work that runs after the response has been sent.

``Response(..., background=tasks)`` runs ``tasks`` once the body is out, in the same request task,
so the client does not wait for it. Sync functions run in a worker thread; async ones are awaited.
A failing task is logged and does not stop the tasks after it.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec

import anyio.to_thread

__all__ = ["BackgroundTask", "BackgroundTasks"]

logger = logging.getLogger("armature.background")

P = ParamSpec("P")


def _is_async(func: Callable[..., Any]) -> bool:
    while isinstance(func, functools.partial):
        func = func.func
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(func, "__call__", None)  # noqa: B004 - callable objects with async __call__
    return call is not None and inspect.iscoroutinefunction(call)


class BackgroundTask:
    """One call to make after the response: ``BackgroundTask(send_email, to, subject=...)``.

    Pass an async function itself (or a ``functools.partial`` of it), not a lambda calling it:
    a lambda is a sync function and would run in a worker thread.

    Args:
        func: A sync or async callable.
        *args: Its positional arguments.
        **kwargs: Its keyword arguments.
    """

    __slots__ = ("args", "func", "is_async", "kwargs")

    def __init__(self, func: Callable[P, Any], /, *args: P.args, **kwargs: P.kwargs) -> None:
        if not callable(func):
            raise TypeError(f"background task {func!r} is not callable")
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.is_async = _is_async(func)

    async def __call__(self) -> None:
        """Run the task: awaited when async, in a worker thread when sync.

        Raises:
            Exception: Whatever the task raises (:class:`BackgroundTasks` logs it instead).
        """
        if self.is_async:
            await self.func(*self.args, **self.kwargs)
            return
        await anyio.to_thread.run_sync(functools.partial(self.func, *self.args, **self.kwargs))

    def __repr__(self) -> str:
        name = getattr(self.func, "__qualname__", repr(self.func))
        return f"BackgroundTask({name})"


class BackgroundTasks:
    """An ordered collection of tasks, itself a no-argument async callable.

    Pass it as ``background=`` to any response; add tasks with :meth:`add_task` before or after
    building the response (they run when the response has been sent, in order). A task that
    raises is logged on the ``armature.background`` logger and the next one still runs.

    Args:
        tasks: Initial tasks.
    """

    __slots__ = ("tasks",)

    def __init__(self, tasks: Iterable[BackgroundTask] | None = None) -> None:
        self.tasks: list[BackgroundTask] = list(tasks or ())

    def add_task(self, func: Callable[P, Any], /, *args: P.args, **kwargs: P.kwargs) -> None:
        """Queue ``func(*args, **kwargs)`` to run after the response.

        Args:
            func: A sync or async callable.
            *args: Its positional arguments.
            **kwargs: Its keyword arguments.
        """
        self.tasks.append(BackgroundTask(func, *args, **kwargs))

    async def __call__(self) -> None:
        """Run every task in order; log failures and go on."""
        for task in self.tasks:
            try:
                await task()
            except Exception:
                logger.exception("background task %r failed", task)

    def __len__(self) -> int:
        return len(self.tasks)

    def __repr__(self) -> str:
        return f"BackgroundTasks({self.tasks!r})"
