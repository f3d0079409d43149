"""The dependency injection container: providers keyed by type, three scopes, planned at startup.

Providers are classes (constructor parameters resolved by annotation), factories (sync, async,
generator and async-generator; code after ``yield`` is cleanup) or values. The graph is resolved
at startup whatever order providers were declared in; a missing provider or a cycle is an error
that names the whole chain. Singletons are created at startup and cost nothing to inject; request
scoped providers are resolved by a plan made once per route and cleaned up after the response.
"""

from __future__ import annotations

import enum
import inspect
import logging
import typing
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from contextlib import contextmanager
from types import AsyncGeneratorType
from typing import Annotated, Any, get_args, get_origin

__all__ = [
    "Container",
    "DependencyError",
    "Inject",
    "Provider",
    "Scope",
]

logger = logging.getLogger("armature.di")

_SCOPE_CACHE = "armature.di.cache"
_SCOPE_CLEANUP = "armature.di.cleanup"


class Scope(enum.Enum):
    """How long a provided instance lives."""

    SINGLETON = "singleton"
    REQUEST = "request"
    TRANSIENT = "transient"


class DependencyError(Exception):
    """The dependency graph cannot be satisfied (missing provider, cycle, bad declaration)."""


class Inject:
    """Mark a parameter for injection, optionally by another key: ``Annotated[Repo, Inject()]``.

    Args:
        key: The provider key to use instead of the annotation.
    """

    __slots__ = ("key",)

    def __init__(self, key: Any = None) -> None:
        self.key = key

    def __repr__(self) -> str:
        return f"Inject({self.key!r})"


def key_name(key: Any) -> str:
    """A readable name for a provider key (``Repository[Product]`` for generic aliases)."""
    origin = get_origin(key)
    if origin is not None and origin is not Annotated:
        inner = ", ".join(key_name(arg) for arg in get_args(key))
        return f"{key_name(origin)}[{inner}]"
    return getattr(key, "__qualname__", None) or getattr(key, "__name__", None) or repr(key)


class Provider:
    """How to build the instance for one key.

    Args:
        key: What consumers ask for (usually a class).
        factory: A class or function that builds it (None for a value).
        scope: Its lifetime.
        value: The instance, for value providers.
        owner: The module that declared it (for visibility checks), if any.
    """

    __slots__ = (
        "dependencies",
        "factory",
        "is_async",
        "is_async_gen",
        "is_gen",
        "key",
        "owner",
        "scope",
        "value",
    )

    def __init__(
        self,
        key: Any,
        factory: Callable[..., Any] | None = None,
        *,
        scope: Scope = Scope.SINGLETON,
        value: Any = None,
        owner: Any = None,
    ) -> None:
        self.key = key
        self.factory = factory
        self.scope = scope if factory is not None else Scope.SINGLETON
        self.value = value
        self.owner = owner
        self.dependencies: dict[str, Any] = {}
        target = factory.__init__ if inspect.isclass(factory) else factory
        self.is_async_gen = inspect.isasyncgenfunction(factory)
        self.is_gen = inspect.isgeneratorfunction(factory)
        self.is_async = inspect.iscoroutinefunction(target) and not inspect.isclass(factory)

    @property
    def is_value(self) -> bool:
        """True for a provider holding a ready instance."""
        return self.factory is None

    def __repr__(self) -> str:
        return f"Provider({key_name(self.key)}, {self.scope.value})"


def _declared_dependencies(factory: Callable[..., Any]) -> dict[str, tuple[Any, bool]]:
    """Map parameter name -> (key, optional) from a factory's annotations."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception as exc:
        raise DependencyError(f"cannot resolve annotations of {key_name(factory)}: {exc}") from exc
    deps: dict[str, tuple[Any, bool]] = {}
    signature = inspect.signature(target)
    for index, (name, parameter) in enumerate(signature.parameters.items()):
        if index == 0 and inspect.isclass(factory):
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        annotation = hints.get(name, inspect.Parameter.empty)
        optional = parameter.default is not inspect.Parameter.empty
        if annotation is inspect.Parameter.empty:
            if optional:
                continue
            raise DependencyError(
                f"{key_name(factory)}: parameter {name!r} has no annotation to inject by"
            )
        deps[name] = (injection_key(annotation), optional)
    return deps


def injection_key(annotation: Any) -> Any:
    """The provider key for an annotation (``Annotated[T, Inject(K)]`` gives ``K``, else ``T``)."""
    if get_origin(annotation) is Annotated:
        base, *extras = get_args(annotation)
        for extra in extras:
            if isinstance(extra, Inject):
                return extra.key if extra.key is not None else base
        return base
    return annotation


class Container:
    """Providers keyed by type, resolved and checked once at startup."""

    def __init__(self) -> None:
        self.providers: dict[Any, Provider] = {}
        self.overrides: dict[Any, Provider] = {}
        self.singletons: dict[Any, Any] = {}
        self._singleton_cleanups: list[Generator[Any, None, None] | AsyncGenerator[Any, None]] = []
        self._compiled = False
        self.visibility_check: Callable[[Any, Provider], None] | None = None

    # -- registration ------------------------------------------------------------------------

    def register(self, provider: Provider) -> Provider:
        """Add a provider; a second provider for the same key replaces the first."""
        self.providers[provider.key] = provider
        self._compiled = False
        return provider

    def add_class(
        self, cls: type[Any], *, scope: Scope = Scope.SINGLETON, key: Any = None, owner: Any = None
    ) -> Provider:
        """Provide ``cls`` (or ``key``) by constructing ``cls`` with injected arguments."""
        return self.register(Provider(key or cls, cls, scope=scope, owner=owner))

    def add_factory(
        self,
        factory: Callable[..., Any],
        *,
        scope: Scope = Scope.SINGLETON,
        key: Any = None,
        owner: Any = None,
    ) -> Provider:
        """Provide the return value of ``factory`` (key defaults to its return annotation).

        Generator factories provide what they yield; the code after ``yield`` runs as cleanup
        (after the response for request scope, at shutdown for singletons).
        """
        if key is None:
            key = _return_key(factory)
        return self.register(Provider(key, factory, scope=scope, owner=owner))

    def add_value(self, key: Any, value: Any, *, owner: Any = None) -> Provider:
        """Provide a ready instance."""
        return self.register(Provider(key, None, value=value, owner=owner))

    def has(self, key: Any) -> bool:
        """Whether ``key`` is provided."""
        return key in self.providers or key in self.overrides

    def provider(self, key: Any) -> Provider:
        """The provider in effect for ``key`` (an override wins)."""
        found = self.overrides.get(key) or self.providers.get(key)
        if found is None:
            raise DependencyError(f"no provider for {key_name(key)}")
        return found

    # -- overrides ---------------------------------------------------------------------------

    def set_override(self, key: Any, replacement: Any) -> None:
        """Replace ``key``'s provider: a class or function (same scope as the original) or a value.

        Takes effect without re-planning: singleton values are swapped in place and request plans
        look providers up through the same table, so an overridden app runs as fast.
        """
        original = self.providers.get(key)
        scope = original.scope if original is not None else Scope.SINGLETON
        # NOTE: an instance of the key is a value even when it is callable; any other class or
        # callable is a factory.
        is_instance = isinstance(key, type) and isinstance(replacement, key)
        if not is_instance and callable(replacement):
            provider = Provider(key, replacement, scope=scope)
        else:
            provider = Provider(key, None, value=replacement)
        provider.dependencies = {
            name: dep
            for name, (dep, _) in (
                _declared_dependencies(replacement).items() if provider.factory else ()
            )
        }
        self.overrides[key] = provider
        if self._compiled and provider.is_value:
            self.singletons[key] = provider.value
        elif self._compiled and provider.scope is Scope.SINGLETON and key in self.singletons:
            # NOTE: the app is running and handlers read singletons from this dict; build the
            # replacement now (synchronously) so the next request sees it.
            if provider.is_async or provider.is_async_gen:
                del self.overrides[key]
                raise DependencyError(
                    f"cannot install the async factory override for {key_name(key)} while the "
                    "app is running: override it before startup, or with an instance"
                )
            kwargs = {name: self.singletons[dep] for name, dep in provider.dependencies.items()}
            assert provider.factory is not None
            instance = provider.factory(**kwargs)
            if provider.is_gen:
                generator = instance
                instance = next(generator)
                self._singleton_cleanups.append(generator)
            self.singletons[key] = instance

    def clear_override(self, key: Any) -> None:
        """Remove an override."""
        self.overrides.pop(key, None)
        self.singletons.pop(key, None)

    @contextmanager
    def override(self, key: Any, replacement: Any) -> Iterator[None]:
        """Temporarily replace a provider (for tests)."""
        previous = self.overrides.get(key)
        previous_value = self.singletons.get(key, _MISSING)
        self.set_override(key, replacement)
        try:
            yield
        finally:
            if previous is None:
                self.overrides.pop(key, None)
            else:
                self.overrides[key] = previous
            if previous_value is _MISSING:
                self.singletons.pop(key, None)
            else:
                self.singletons[key] = previous_value

    # -- planning ----------------------------------------------------------------------------

    def compile(self) -> None:
        """Resolve every provider's dependencies; raise on a missing provider or a cycle."""
        for provider in [*self.providers.values(), *self.overrides.values()]:
            if provider.factory is None:
                continue
            provider.dependencies = {}
            for name, (key, optional) in _declared_dependencies(provider.factory).items():
                if self.has(key):
                    provider.dependencies[name] = key
                elif not optional:
                    raise DependencyError(
                        f"no provider for {key_name(key)} (parameter {name!r} of "
                        f"{key_name(provider.key)}); chain: "
                        + " -> ".join(key_name(k) for k in (provider.key, key))
                    )
        for key in list(self.providers):
            self._check_cycles(key, [])
        for provider in self.providers.values():
            if self.visibility_check is not None:
                for dep in provider.dependencies.values():
                    self.visibility_check(provider.owner, self.provider(dep))
            for dep in provider.dependencies.values():
                dep_provider = self.provider(dep)
                if provider.scope is Scope.SINGLETON and dep_provider.scope is Scope.REQUEST:
                    raise DependencyError(
                        f"singleton {key_name(provider.key)} depends on request-scoped "
                        f"{key_name(dep)}; a singleton outlives every request"
                    )
        self._compiled = True

    def _check_cycles(self, key: Any, chain: list[Any]) -> None:
        if key in chain:
            cycle = [*chain[chain.index(key) :], key]
            raise DependencyError("dependency cycle: " + " -> ".join(key_name(k) for k in cycle))
        provider = self.provider(key)
        for dep in provider.dependencies.values():
            self._check_cycles(dep, [*chain, key])

    def order(self, key: Any) -> list[Provider]:
        """Providers needed to build ``key``, dependencies first (singletons excluded)."""
        seen: dict[Any, Provider] = {}

        def visit(current: Any) -> None:
            provider = self.provider(current)
            if provider.scope is Scope.SINGLETON or current in seen:
                return
            for dep in provider.dependencies.values():
                visit(dep)
            seen[current] = provider

        visit(key)
        return list(seen.values())

    # -- lifecycle ---------------------------------------------------------------------------

    async def startup(self) -> None:
        """Create every singleton, dependencies first."""
        if not self._compiled:
            self.compile()
        for key in list(self.providers):
            await self._singleton(key)

    async def _singleton(self, key: Any) -> Any:
        if key in self.singletons:
            return self.singletons[key]
        provider = self.provider(key)
        if provider.scope is not Scope.SINGLETON:
            return None
        if provider.is_value:
            self.singletons[key] = provider.value
            return provider.value
        kwargs = {}
        for name, dep in provider.dependencies.items():
            kwargs[name] = await self._singleton(dep)
        instance = await self._build(provider, kwargs, self._singleton_cleanups)
        self.singletons[key] = instance
        return instance

    async def shutdown(self) -> None:
        """Run singleton cleanups in reverse creation order; failures are logged."""
        cleanups, self._singleton_cleanups = self._singleton_cleanups, []
        await run_cleanups(cleanups)
        self.singletons.clear()

    @staticmethod
    async def _build(
        provider: Provider,
        kwargs: dict[str, Any],
        cleanups: list[Generator[Any, None, None] | AsyncGenerator[Any, None]],
    ) -> Any:
        factory = provider.factory
        assert factory is not None
        if provider.is_async_gen:
            agen = factory(**kwargs)
            value = await agen.__anext__()
            cleanups.append(agen)
            return value
        if provider.is_gen:
            gen = factory(**kwargs)
            value = next(gen)
            cleanups.append(gen)
            return value
        result = factory(**kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def resolve(self, key: Any, scope: dict[str, Any] | None = None) -> Any:
        """Resolve ``key`` outside a handler (request scope needs the ASGI ``scope``)."""
        provider = self.provider(key)
        if provider.scope is Scope.SINGLETON:
            return await self._singleton(key)
        return await self.request_resolver(key)(scope if scope is not None else {}, None)

    def request_resolver(self, key: Any) -> Callable[[Any, Any], Any]:
        """Plan, once, how to build a request-scoped or transient ``key`` within a request."""
        steps = self.order(key)
        container = self
        if len(steps) == 1 and all(
            self.provider(dep).scope is Scope.SINGLETON for dep in steps[0].dependencies.values()
        ):
            return self._single_step_resolver(key, steps[0])

        async def resolve(scope: Any, receive: Any) -> Any:
            cache = scope.get(_SCOPE_CACHE)
            if cache is None:
                cache = scope[_SCOPE_CACHE] = {}
                scope[_SCOPE_CLEANUP] = []
            elif key in cache:
                return cache[key]
            cleanups = scope[_SCOPE_CLEANUP]
            singletons = container.singletons
            built: dict[Any, Any] = {}
            for step in steps:
                if step.scope is Scope.REQUEST and step.key in cache:
                    continue
                # NOTE: an override installed after planning is honoured: look the provider up.
                current = container.overrides.get(step.key, step)
                kwargs = {}
                for name, dep in current.dependencies.items():
                    if dep in singletons:
                        kwargs[name] = singletons[dep]
                    elif dep in built:
                        kwargs[name] = built[dep]
                    elif dep in cache:
                        kwargs[name] = cache[dep]
                    else:
                        kwargs[name] = await container.resolve(dep, scope)
                if current.is_value:
                    instance = current.value
                else:
                    instance = await Container._build(current, kwargs, cleanups)
                if step.scope is Scope.REQUEST:
                    cache[step.key] = instance
                built[step.key] = instance
            return built.get(key, cache.get(key))

        resolve.request_scoped = True  # type: ignore[attr-defined]
        return resolve

    def _single_step_resolver(self, key: Any, step: Provider) -> Callable[[Any, Any], Any]:
        # PERF: the common case (one request-scoped provider whose dependencies are singletons)
        # skips the general loop: no per-step dicts, one cache probe.
        overrides = self.overrides
        singletons = self.singletons
        dependencies = tuple(step.dependencies.items())
        cache_it = step.scope is Scope.REQUEST
        build = Container._build
        factory: Callable[..., Any] = step.factory or (lambda: None)
        is_async_gen = step.is_async_gen

        async def resolve(scope: Any, receive: Any) -> Any:
            cache = scope.get(_SCOPE_CACHE)
            if cache is None:
                cache = scope[_SCOPE_CACHE] = {}
                cleanups: list[Any] = []
                scope[_SCOPE_CLEANUP] = cleanups
            else:
                if key in cache:
                    return cache[key]
                cleanups = scope[_SCOPE_CLEANUP]
            current = overrides.get(key, step) if overrides else step
            if current.is_value:
                value = current.value
            elif current is step:
                kwargs = {name: singletons[dep] for name, dep in dependencies}
                if is_async_gen:
                    # PERF: inlined _build for the usual generator factory: one frame less.
                    agen = factory(**kwargs)
                    value = await agen.__anext__()
                    cleanups.append(agen)
                else:
                    value = await build(step, kwargs, cleanups)
            else:
                kwargs = {n: await self.resolve(d, scope) for n, d in current.dependencies.items()}
                value = await build(current, kwargs, cleanups)
            if cache_it:
                cache[key] = value
            return value

        resolve.request_scoped = True  # type: ignore[attr-defined]
        return resolve

    def singleton_getter(self, key: Any) -> Callable[[Any, Any], Any]:
        """A synchronous binder returning the singleton for ``key`` (one dict lookup)."""
        singletons = self.singletons

        def get(scope: Any, receive: Any) -> Any:
            return singletons[key]

        get.is_async = False  # type: ignore[attr-defined]
        return get


async def run_cleanups(
    cleanups: list[Generator[Any, None, None] | AsyncGenerator[Any, None]],
) -> None:
    """Finish generator providers in reverse order; errors are logged, never raised."""
    for gen in reversed(cleanups):
        try:
            # PERF: a concrete type check; isinstance() against the ABC costs a registry lookup.
            if type(gen) is AsyncGeneratorType:
                await gen.__anext__()
            else:
                next(gen)
        except (StopIteration, StopAsyncIteration):
            continue
        except Exception:
            logger.exception("cleanup of a dependency failed")
        else:
            logger.error("dependency generator yielded more than once: %r", gen)


async def request_cleanup(scope: Any) -> None:
    """Run the request's dependency cleanups (the endpoint awaits this after the response)."""
    cleanups = scope.get(_SCOPE_CLEANUP)
    if not cleanups:
        return
    scope[_SCOPE_CLEANUP] = []
    if len(cleanups) == 1 and type(cleanups[0]) is AsyncGeneratorType:
        # PERF: the usual single async generator, finished without another coroutine frame.
        try:
            await cleanups[0].__anext__()
        except StopAsyncIteration:
            return
        except Exception:
            logger.exception("cleanup of a dependency failed")
            return
        logger.error("dependency generator yielded more than once: %r", cleanups[0])
        return
    await run_cleanups(cleanups)


def _return_key(factory: Callable[..., Any]) -> Any:
    try:
        hints = typing.get_type_hints(factory, include_extras=True)
    except Exception as exc:
        raise DependencyError(f"cannot resolve annotations of {key_name(factory)}: {exc}") from exc
    annotation = hints.get("return")
    if annotation is None:
        raise DependencyError(
            f"factory {key_name(factory)} needs a return annotation (or pass key=...)"
        )
    origin = get_origin(annotation)
    if origin is not None and getattr(origin, "__name__", "") in _GENERATOR_NAMES:
        annotation = get_args(annotation)[0]
    return injection_key(annotation)


_GENERATOR_NAMES = frozenset({"Iterator", "AsyncIterator", "Generator", "AsyncGenerator"})


class _Missing:
    pass


_MISSING = _Missing()
