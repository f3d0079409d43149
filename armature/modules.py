"""The module front door: ``@injectable``, ``@controller``, ``@module`` and ``Application.create``.

```python
from armature.modules import Application, controller, get, injectable, module

@injectable
class Greeter:
    def greet(self, name: str) -> str:
        return f"Hello, {name}!"

@controller("/greet")
class GreetController:
    def __init__(self, greeter: Greeter) -> None:
        self.greeter = greeter

    @get("/{name}")
    async def greet(self, name: str) -> dict:
        return {"message": self.greeter.greet(name)}

@module(providers=[Greeter], controllers=[GreetController])
class AppModule:
    pass

app = Application.create(AppModule)
```

``Application.create`` returns the same :class:`~armature.App` the micro style builds, so
middleware, mounting, the test client and servers work unchanged; controller methods become routes
compiled exactly like ``@app.get`` handlers.

Module boundaries are real: a provider is visible to another module only when a module it imports
exports it (or it comes from a ``global_=True`` module); a violation is a startup error naming both
modules.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from armature.app import App
from armature.di.container import DependencyError, Provider, Scope, key_name
from armature.middleware.base import Middleware
from armature.routing.routes import declaring_locals

__all__ = [
    "Application",
    "controller",
    "delete",
    "get",
    "injectable",
    "module",
    "patch",
    "post",
    "provide",
    "put",
    "websocket",
]

logger = logging.getLogger("armature.modules")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

LIFECYCLE_STARTUP = ("on_module_init", "on_application_bootstrap")
LIFECYCLE_SHUTDOWN = (
    "before_application_shutdown",
    "on_application_shutdown",
    "on_module_destroy",
)


@overload
def injectable(cls: type[T], /) -> type[T]: ...


@overload
def injectable(*, scope: str = "singleton") -> Callable[[type[T]], type[T]]: ...


def injectable(cls: Any = None, /, *, scope: str = "singleton") -> Any:
    """Mark a class as a provider (``@injectable`` or ``@injectable(scope="request")``).

    Args:
        cls: The class (when used without arguments).
        scope: ``singleton`` (default), ``request`` or ``transient``.

    Returns:
        The class, unchanged apart from the marker.
    """

    def decorator(target: type[T]) -> type[T]:
        target.__armature_scope__ = Scope(scope)  # type: ignore[attr-defined]
        return target

    return decorator(cls) if cls is not None else decorator


@dataclass(slots=True)
class ProviderSpec:
    """A provider declared with :func:`provide` (for keys that are not the class itself)."""

    key: Any
    use_class: type[Any] | None = None
    use_factory: Callable[..., Any] | None = None
    use_value: Any = None
    has_value: bool = False
    scope: Scope = Scope.SINGLETON


def provide(
    key: Any,
    *,
    use_class: type[Any] | None = None,
    use_factory: Callable[..., Any] | None = None,
    use_value: Any = ...,
    scope: str = "singleton",
) -> ProviderSpec:
    """Declare a provider for ``key`` in a module's ``providers`` list.

    Args:
        key: What consumers ask for (an abstract class, a protocol, a NewType...).
        use_class: Build this class.
        use_factory: Call this factory (sync, async, generator or async generator).
        use_value: Use this instance.
        scope: ``singleton``, ``request`` or ``transient``.

    Returns:
        The declaration.
    """
    chosen = [use_class is not None, use_factory is not None, use_value is not ...]
    if sum(chosen) != 1:
        raise DependencyError(
            f"provide({key_name(key)}): give exactly one of use_class, use_factory or use_value"
        )
    return ProviderSpec(
        key=key,
        use_class=use_class,
        use_factory=use_factory,
        use_value=None if use_value is ... else use_value,
        has_value=use_value is not ...,
        scope=Scope(scope),
    )


@dataclass(slots=True)
class ControllerMeta:
    """What ``@controller`` recorded."""

    prefix: str
    tags: list[str] = field(default_factory=list)
    middleware: list[Middleware] = field(default_factory=list)


def controller(
    prefix: str = "",
    *,
    tags: Sequence[str] | None = None,
    middleware: Sequence[Middleware] | None = None,
) -> Callable[[type[T]], type[T]]:
    """Declare a controller: a class whose ``@get``/``@post``... methods are routes.

    Constructor parameters are injected. Guards, interceptors and filters attach with
    ``@use_guards(...)`` etc. on the class (every route) or on a method.

    Args:
        prefix: Path prefix, e.g. ``/users``.
        tags: OpenAPI tags for every route (defaults to the prefix's first segment).
        middleware: Pure ASGI middleware around every route of the controller.

    Returns:
        The decorator.
    """
    if prefix and not prefix.startswith("/"):
        prefix = "/" + prefix
    prefix = prefix.rstrip("/")

    def decorator(cls: type[T]) -> type[T]:
        default_tags = [prefix.strip("/").split("/")[0]] if prefix else []
        cls.__armature_controller__ = ControllerMeta(  # type: ignore[attr-defined]
            prefix, list(tags if tags is not None else default_tags), list(middleware or [])
        )
        return cls

    return decorator


def _route(methods: tuple[str, ...]) -> Callable[..., Callable[[F], F]]:
    def factory(path: str = "", **options: Any) -> Callable[[F], F]:
        def decorator(func: F) -> F:
            routes = list(getattr(func, "__armature_routes__", ()))
            localns = declaring_locals(1)
            if localns is not None:
                options.setdefault("localns", localns)
            routes.append((methods, path, options))
            func.__armature_routes__ = routes  # type: ignore[attr-defined]
            return func

        return decorator

    factory.__doc__ = f"Declare a controller method as a {'/'.join(methods)} route."
    return factory


websocket = _route(("WEBSOCKET",))
get = _route(("GET",))
post = _route(("POST",))
put = _route(("PUT",))
patch = _route(("PATCH",))
delete = _route(("DELETE",))


@dataclass(slots=True)
class ModuleMeta:
    """What ``@module`` recorded."""

    imports: list[Any]
    providers: list[Any]
    controllers: list[Any]
    exports: list[Any]
    is_global: bool
    guards: list[Any]
    interceptors: list[Any]
    filters: list[Any]


def module(
    *,
    imports: Sequence[Any] = (),
    providers: Sequence[Any] = (),
    controllers: Sequence[Any] = (),
    exports: Sequence[Any] = (),
    global_: bool = False,
    guards: Sequence[Any] = (),
    interceptors: Sequence[Any] = (),
    filters: Sequence[Any] = (),
) -> Callable[[type[T]], type[T]]:
    """Declare a module.

    Args:
        imports: Modules whose exports this module uses.
        providers: Classes (``@injectable`` or plain) and :func:`provide` declarations.
        controllers: ``@controller`` classes.
        exports: Provider keys (or imported modules, to re-export them) other modules may use.
        global_: Make the exports visible to every module without importing.
        guards: Guards for every route of the module's controllers.
        interceptors: Interceptors for every route of the module's controllers.
        filters: Exception filters for every route of the module's controllers.

    Returns:
        The decorator.
    """

    def decorator(cls: type[T]) -> type[T]:
        cls.__armature_module__ = ModuleMeta(  # type: ignore[attr-defined]
            list(imports),
            list(providers),
            list(controllers),
            list(exports),
            global_,
            list(guards),
            list(interceptors),
            list(filters),
        )
        return cls

    return decorator


def _meta(mod: Any) -> ModuleMeta:
    meta = getattr(mod, "__armature_module__", None)
    if meta is None:
        raise DependencyError(f"{key_name(mod)} is not a @module")
    return meta  # type: ignore[no-any-return]


def _name(mod: Any) -> str:
    """A module's short name for messages."""
    return str(getattr(mod, "__name__", mod))


class _Graph:
    """The module graph: which keys each module declares, exports and can see."""

    def __init__(self, root: Any) -> None:
        self.order: list[Any] = []
        self._visit(root, [])
        self.declared: dict[Any, set[Any]] = {m: set() for m in self.order}
        self.owner_of: dict[Any, Any] = {}

    def _visit(self, mod: Any, chain: list[Any]) -> None:
        if mod in self.order:
            return
        if mod in chain:
            cycle = " -> ".join(_name(m) for m in [*chain, mod])
            raise DependencyError(f"module import cycle: {cycle}")
        for imported in _meta(mod).imports:
            self._visit(imported, [*chain, mod])
        self.order.append(mod)

    def exported(self, mod: Any) -> set[Any]:
        keys: set[Any] = set()
        for item in _meta(mod).exports:
            if hasattr(item, "__armature_module__"):
                keys |= self.exported(item)
            else:
                keys.add(item)
        return keys

    def visible(self, mod: Any) -> set[Any]:
        keys = set(self.declared[mod])
        for imported in _meta(mod).imports:
            keys |= self.exported(imported)
        for other in self.order:
            if _meta(other).is_global:
                keys |= self.exported(other)
        return keys

    def check(self, owner: Any, dependency: Provider) -> None:
        if owner is None or dependency.owner is None or owner is dependency.owner:
            return
        if dependency.key in self.visible(owner):
            return
        provider_module = dependency.owner
        if dependency.key not in self.exported(provider_module):
            reason = f"{_name(provider_module)} does not export it"
        else:
            reason = f"{_name(owner)} does not import {_name(provider_module)}"
        raise DependencyError(
            f"{key_name(dependency.key)} is provided by {_name(provider_module)} but "
            f"{_name(owner)} cannot use it: {reason}"
        )


class Application:
    """Builds an :class:`~armature.App` from a root module."""

    @staticmethod
    def create(root_module: type[Any], **app_options: Any) -> App:
        """Create the app: providers to the container, controllers to routes, hooks to lifespan.

        Args:
            root_module: The ``@module`` class at the root of the graph.
            **app_options: Passed to :class:`~armature.App` (``debug``, ``middleware``...).

        Returns:
            The application.
        """
        app = App(**app_options)
        graph = _Graph(root_module)
        container = app.container
        for mod in graph.order:
            meta = _meta(mod)
            for item in meta.providers:
                provider = _provider_for(item, mod)
                previous = graph.owner_of.get(provider.key)
                if previous is not None and previous is not mod:
                    raise DependencyError(
                        f"{key_name(provider.key)} is provided by both {_name(previous)} "
                        f"and {_name(mod)}"
                    )
                graph.owner_of[provider.key] = mod
                graph.declared[mod].add(provider.key)
                container.register(provider)
            for cls in meta.controllers:
                container.add_class(cls, owner=mod)
                graph.declared[mod].add(cls)
        for mod in graph.order:
            meta = _meta(mod)
            for item in meta.exports:
                if hasattr(item, "__armature_module__"):
                    if item not in meta.imports:
                        raise DependencyError(
                            f"{_name(mod)} re-exports {_name(item)} without importing it"
                        )
                elif item not in graph.visible(mod):
                    raise DependencyError(
                        f"{_name(mod)} exports {key_name(item)}, which it neither provides "
                        "nor imports"
                    )
        container.visibility_check = graph.check
        for mod in graph.order:
            meta = _meta(mod)
            for cls in meta.controllers:
                _add_controller_routes(app, mod, meta, cls)
        _bind_lifecycle(app, graph)
        return app


def _provider_for(item: Any, owner: Any) -> Provider:
    if isinstance(item, ProviderSpec):
        if item.has_value:
            return Provider(item.key, None, value=item.use_value, owner=owner)
        factory = item.use_class or item.use_factory
        return Provider(item.key, factory, scope=item.scope, owner=owner)
    if inspect.isclass(item):
        scope = getattr(item, "__armature_scope__", Scope.SINGLETON)
        return Provider(item, item, scope=scope, owner=owner)
    raise DependencyError(f"{_name(owner)}: {item!r} is not a class or provide(...) declaration")


def _add_controller_routes(app: App, mod: Any, meta: ModuleMeta, cls: type[Any]) -> None:
    info: ControllerMeta | None = getattr(cls, "__armature_controller__", None)
    if info is None:
        raise DependencyError(f"{key_name(cls)} in {key_name(mod)} is not a @controller")
    for name, func in inspect.getmembers(cls, inspect.isfunction):
        for methods, path, options in getattr(func, "__armature_routes__", ()):
            full = info.prefix + (path if not path or path.startswith("/") else "/" + path)
            options = dict(options)
            if methods == ("WEBSOCKET",):
                app.add_websocket_route(
                    full or "/",
                    func,
                    name=options.pop("name", f"{cls.__name__}.{name}"),
                    middleware=[*info.middleware, *options.pop("middleware", ())],
                    localns=options.pop("localns", None),
                    extra={"controller": cls, "module": mod, "hints": {"self": cls}},
                )
                continue
            extra = dict(options.pop("extra", {}) or {})
            extra.update(
                {
                    "controller": cls,
                    "module": mod,
                    "hints": {"self": cls},
                    "guards": [
                        *meta.guards,
                        *getattr(cls, "__armature_guards__", ()),
                        *options.pop("guards", ()),
                    ],
                    "interceptors": [
                        *meta.interceptors,
                        *getattr(cls, "__armature_interceptors__", ()),
                        *options.pop("interceptors", ()),
                    ],
                    "filters": [
                        *options.pop("filters", ()),
                        *getattr(cls, "__armature_filters__", ()),
                        *meta.filters,
                    ],
                }
            )
            app.add_route(
                full or "/",
                func,
                methods,
                name=options.pop("name", f"{cls.__name__}.{name}"),
                tags=[*info.tags, *options.pop("tags", ())],
                middleware=[*info.middleware, *options.pop("middleware", ())],
                extra=extra,
                **options,
            )


def _bind_lifecycle(app: App, graph: _Graph) -> None:
    def instances() -> list[Any]:
        found: list[Any] = []
        for mod in graph.order:
            for key in sorted(graph.declared[mod], key=key_name):
                instance = app.container.singletons.get(key)
                if instance is not None and instance not in found:
                    found.append(instance)
        return found

    async def call(instance: Any, hook: str) -> None:
        method = getattr(instance, hook, None)
        if method is None:
            return
        result = method()
        if inspect.isawaitable(result):
            await result

    async def startup() -> None:
        # NOTE: a failing startup hook propagates: the lifespan reports startup.failed with it.
        for hook in LIFECYCLE_STARTUP:
            for instance in instances():
                await call(instance, hook)

    async def shutdown() -> None:
        failures: list[str] = []
        for hook in LIFECYCLE_SHUTDOWN:
            for instance in reversed(instances()):
                try:
                    await call(instance, hook)
                except Exception as exc:
                    logger.exception("%s.%s failed", type(instance).__name__, hook)
                    failures.append(f"{type(instance).__name__}.{hook}: {exc!r}")
        if failures:
            raise RuntimeError("shutdown hooks failed: " + "; ".join(failures))

    app.on_startup.append(startup)
    app.on_shutdown.insert(0, shutdown)
