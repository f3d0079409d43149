"""The bridge between the container and handler plans: a ``ParamResolver`` for the app.

A parameter is injected when its annotation is a provided key, when it carries ``Inject()``, or
when it is ``Depends(fn)``. The binder for a singleton is a synchronous dict read; for request
scope it is the route's resolution plan, built here once.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Generator, MutableMapping
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin

from armature._param_binding import ParamSpec, plan_call
from armature.background import BackgroundTasks
from armature.di.container import (
    _SCOPE_CACHE,
    _SCOPE_CLEANUP,
    Container,
    DependencyError,
    Inject,
    Provider,
    Scope,
    injection_key,
    key_name,
)
from armature.di.depends import Depends

if TYPE_CHECKING:
    from armature.app import App

__all__ = ["DependencyOverrides", "make_resolver"]


def _marker(spec: ParamSpec) -> Depends | Inject | None:
    if isinstance(spec.default, Depends | Inject):
        return spec.default
    if get_origin(spec.annotation) is Annotated:
        for extra in get_args(spec.annotation)[1:]:
            if isinstance(extra, Depends | Inject):
                return extra
    return None


def _store(scope: Any) -> tuple[dict[Any, Any], list[Any]]:
    cache = scope.get(_SCOPE_CACHE)
    if cache is None:
        cache = scope[_SCOPE_CACHE] = {}
        cleanups: list[Any] = []
        scope[_SCOPE_CLEANUP] = cleanups
        return cache, cleanups
    return cache, scope[_SCOPE_CLEANUP]


def make_resolver(app: App) -> Any:
    """Build the app's parameter resolver (installed in ``app.param_resolvers``)."""
    container = app.container

    def resolve(spec: ParamSpec, base: Any, path_names: frozenset[str]) -> Any:
        if inspect.isclass(base) and issubclass(base, BackgroundTasks):
            return _background_tasks
        marker = _marker(spec)
        if isinstance(marker, Depends):
            return _depends_binder(app, marker, path_names)
        if isinstance(marker, Inject):
            key = marker.key if marker.key is not None else base
            if not container.has(key):
                raise DependencyError(
                    f"parameter {spec.name!r} asks to inject {key_name(key)}, which has no provider"
                )
        else:
            key = injection_key(spec.annotation)
            if not container.has(key):
                return None
        return binder_for(container, key)

    return resolve


async def _run_after_response() -> AsyncGenerator[BackgroundTasks, None]:
    tasks = BackgroundTasks()
    yield tasks
    # NOTE: request cleanup runs once the response has been sent: exactly when tasks should run.
    await tasks()


async def _background_tasks(scope: Any, receive: Any) -> BackgroundTasks:
    """One ``BackgroundTasks`` per request, run after the response is sent."""
    cache, cleanups = _store(scope)
    tasks: BackgroundTasks | None = cache.get(BackgroundTasks)
    if tasks is None:
        runner = _run_after_response()
        tasks = await runner.__anext__()
        cleanups.append(runner)
        cache[BackgroundTasks] = tasks
    return tasks


_background_tasks.request_scoped = True  # type: ignore[attr-defined]


def binder_for(container: Container, key: Any) -> Any:
    """The binder for a provided key: a dict read for singletons, a planned resolution otherwise."""
    provider: Provider = container.provider(key)
    if provider.scope is Scope.SINGLETON:
        return container.singleton_getter(key)
    return container.request_resolver(key)


def _depends_binder(app: App, marker: Depends, path_names: frozenset[str]) -> Any:
    plans: dict[Any, Any] = {}

    def plan_for(func: Any) -> Any:
        plan = plans.get(func)
        if plan is None:
            bind, _ = plan_call(
                func,
                path_names=path_names,
                resolvers=app.param_resolvers,
                max_body_size=app.limits.max_body_size,
                app=app,
            )
            plan = plans[func] = (
                bind,
                inspect.isasyncgenfunction(func),
                inspect.isgeneratorfunction(func),
            )
        return plan

    original = marker.dependency
    use_cache = marker.use_cache
    plan_for(original)
    overrides = app.dependency_overrides.functions

    async def resolve(scope: Any, receive: Any) -> Any:
        # PERF: one dict lookup to honour an override installed at any time; no re-planning.
        func = overrides.get(original, original) if overrides else original
        cache, cleanups = _store(scope)
        if use_cache and original in cache:
            return cache[original]
        bind, is_async_gen, is_gen = plan_for(func)
        kwargs = await bind(scope, receive)
        if is_async_gen:
            agen: AsyncGenerator[Any, None] = func(**kwargs)
            value = await agen.__anext__()
            cleanups.append(agen)
        elif is_gen:
            gen: Generator[Any, None, None] = func(**kwargs)
            value = next(gen)
            cleanups.append(gen)
        else:
            value = func(**kwargs)
            if inspect.isawaitable(value):
                value = await value
        if use_cache:
            cache[original] = value
        return value

    resolve.request_scoped = True  # type: ignore[attr-defined]
    return resolve


class DependencyOverrides(MutableMapping[Any, Any]):
    """``app.dependency_overrides[key] = replacement`` for provider keys and ``Depends`` functions.

    Args:
        container: The app's container (provider keys are overridden there).
    """

    def __init__(self, container: Container) -> None:
        self.container = container
        self.functions: dict[Any, Any] = {}

    def __setitem__(self, key: Any, value: Any) -> None:
        if self.container.has(key):
            self.container.set_override(key, value)
        else:
            self.functions[key] = value

    def __getitem__(self, key: Any) -> Any:
        if key in self.functions:
            return self.functions[key]
        provider = self.container.overrides[key]
        return provider.value if provider.is_value else provider.factory

    def __delitem__(self, key: Any) -> None:
        if key in self.functions:
            del self.functions[key]
        else:
            self.container.clear_override(key)

    def __iter__(self) -> Any:
        return iter([*self.functions, *self.container.overrides])

    def __len__(self) -> int:
        return len(self.functions) + len(self.container.overrides)
