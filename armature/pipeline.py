"""Pipeline stages around a handler: guards, interceptors and exception filters.

Order per request: middleware -> guards -> interceptors -> parameter binding and validation ->
handler -> interceptors -> exception filters. Each stage is composed into the route's generated
endpoint at startup; a route with no guards, interceptors or filters pays nothing for them.

Stages attach at four levels: globally (``app.use_global_guards(...)``), per module, per
controller or router, and per route (``@use_guards(...)`` or ``guards=[...]`` on the route).
"""

from __future__ import annotations

import hmac
import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from armature.exceptions import Forbidden, Unauthorized
from armature.requests import Request
from armature.responses import Response
from armature.types import Receive, Scope

__all__ = [
    "APIKeyGuard",
    "ExecutionContext",
    "Guard",
    "Interceptor",
    "RolesGuard",
    "catch",
    "use_filters",
    "use_guards",
    "use_interceptors",
]

T = TypeVar("T")
CallNext = Callable[[], Awaitable[Any]]


class ExecutionContext:
    """What a guard, interceptor or filter knows about the current request.

    Attributes:
        scope: The ASGI scope.
        route: The route declaration (path, name, options).
        handler: The handler function.
        controller: The controller class for module-style routes, else None.
    """

    __slots__ = ("_request", "app", "controller", "handler", "receive", "route", "scope")

    def __init__(self, scope: Scope, receive: Receive, route: Any, app: Any) -> None:
        self.scope = scope
        self.receive = receive
        self.route = route
        self.app = app
        self.handler = route.endpoint
        self.controller = route.extra.get("controller")
        self._request: Request | None = None

    @property
    def request(self) -> Request:
        """The request (built on first use)."""
        if self._request is None:
            self._request = Request(self.scope, self.receive, app=self.app)
        return self._request

    def get_handler(self) -> Callable[..., Any]:
        """The handler function (NestJS naming)."""
        handler: Callable[..., Any] = self.handler
        return handler

    def get_class(self) -> type[Any] | None:
        """The controller class, if any (NestJS naming)."""
        controller: type[Any] | None = self.controller
        return controller

    def metadata(self, key: str, default: Any = None) -> Any:
        """Route metadata set with ``set_metadata`` (handler first, then controller)."""
        for owner in (self.handler, self.controller):
            data = getattr(owner, "__armature_metadata__", None)
            if data and key in data:
                return data[key]
        return default


@runtime_checkable
class Guard(Protocol):
    """``can_activate(context) -> bool`` (sync or async); False gives 403 problem+json."""

    def can_activate(self, context: ExecutionContext) -> bool | Awaitable[bool]:
        """Decide whether the request may proceed."""
        ...


@runtime_checkable
class Interceptor(Protocol):
    """``async def intercept(context, call_next)``: around-advice for the handler call."""

    async def intercept(self, context: ExecutionContext, call_next: CallNext) -> Any:
        """Run code around ``await call_next()`` (which returns the handler's result)."""
        ...


def _attach(target: T, attribute: str, items: Sequence[Any]) -> T:
    existing = list(getattr(target, attribute, ()))
    setattr(target, attribute, [*existing, *items])
    return target


def use_guards(*guards: Any) -> Callable[[T], T]:
    """Attach guards to a handler function or a controller class."""
    return lambda target: _attach(target, "__armature_guards__", guards)


def use_interceptors(*interceptors: Any) -> Callable[[T], T]:
    """Attach interceptors to a handler function or a controller class."""
    return lambda target: _attach(target, "__armature_interceptors__", interceptors)


def use_filters(*filters: Any) -> Callable[[T], T]:
    """Attach exception filters to a handler function or a controller class."""
    return lambda target: _attach(target, "__armature_filters__", filters)


def set_metadata(key: str, value: Any) -> Callable[[T], T]:
    """Attach metadata that guards and interceptors can read with ``context.metadata(key)``."""

    def decorator(target: T) -> T:
        data = dict(getattr(target, "__armature_metadata__", {}))
        data[key] = value
        target.__armature_metadata__ = data  # type: ignore[attr-defined]
        return target

    return decorator


def catch(*exception_types: type[BaseException]) -> Callable[[type[T]], type[T]]:
    """Declare which exceptions a filter class handles (none given: every exception).

    The class implements ``catch(exc, context) -> Response`` (sync or async).
    """

    def decorator(cls: type[T]) -> type[T]:
        cls.__armature_catch__ = exception_types or (Exception,)  # type: ignore[attr-defined]
        return cls

    return decorator


# -- composition (startup) ---------------------------------------------------------------------


def _as_callable(stage: Any, method: str) -> Callable[..., Any]:
    if inspect.isclass(stage):
        stage = stage()
    bound = getattr(stage, method, None)
    if bound is not None:
        return bound  # type: ignore[no-any-return]
    if callable(stage):
        return stage  # type: ignore[no-any-return]
    raise TypeError(f"{stage!r} has no {method}() and is not callable")


def compose_guards(guards: Iterable[Any]) -> Callable[[ExecutionContext], Awaitable[None]] | None:
    """One callable running every guard in order (None when there are none)."""
    checks = [(_as_callable(g, "can_activate"), _name(g)) for g in guards]
    if not checks:
        return None

    async def run_guards(context: ExecutionContext) -> None:
        for check, name in checks:
            allowed = check(context)
            if inspect.isawaitable(allowed):
                allowed = await allowed
            if not allowed:
                raise Forbidden(f"Access denied by {name}")

    return run_guards


def compose_interceptors(
    interceptors: Iterable[Any],
) -> Callable[[ExecutionContext, CallNext], Awaitable[Any]] | None:
    """One callable running the interceptors around ``inner`` (None when there are none)."""
    chain = [_as_callable(i, "intercept") for i in interceptors]
    if not chain:
        return None

    async def run_interceptors(context: ExecutionContext, inner: CallNext) -> Any:
        def step(index: int) -> CallNext:
            if index == len(chain):
                return inner
            current = chain[index]
            following = step(index + 1)

            async def call() -> Any:
                return await current(context, following)

            return call

        return await step(0)()

    return run_interceptors


def compose_filters(
    filters: Sequence[Any],
) -> Callable[[BaseException, ExecutionContext], Awaitable[Response | None]] | None:
    """Pick and run the filter for an exception: the first level that matches, most specific type.

    Args:
        filters: Filter classes or instances, most specific level first (route, controller,
            module, global).

    Returns:
        A callable giving a Response, or None when no filter applies; None when there are none.
    """
    entries = []
    for item in filters:
        instance: Any = item() if inspect.isclass(item) else item
        types = getattr(instance, "__armature_catch__", (Exception,))
        entries.append((tuple(types), instance.catch))
    if not entries:
        return None

    async def run_filters(exc: BaseException, context: ExecutionContext) -> Response | None:
        best = None
        best_distance = 1 << 30
        for types, handler in entries:
            for exc_type in types:
                if isinstance(exc, exc_type):
                    distance = type(exc).__mro__.index(exc_type)
                    if distance < best_distance:
                        best, best_distance = handler, distance
            if best is not None:
                break
        if best is None:
            return None
        result = best(exc, context)
        if inspect.isawaitable(result):
            result = await result
        return result  # type: ignore[no-any-return]

    return run_filters


def _name(stage: Any) -> str:
    return getattr(stage, "__name__", None) or type(stage).__name__


# -- shipped guards ----------------------------------------------------------------------------


class RolesGuard:
    """Allow the request when the user's roles include one the route requires.

    Roles required: ``@set_metadata("roles", ["admin"])`` on the handler or controller, or the
    ``roles`` argument. The user's roles come from ``roles_of(context)`` (default: the
    comma-separated ``X-Roles`` header, set by an authenticating proxy or middleware; replace it
    with your own lookup).

    Args:
        roles: Roles required when the route sets none.
        roles_of: Returns the current user's roles.
    """

    def __init__(
        self,
        roles: Sequence[str] = (),
        roles_of: Callable[[ExecutionContext], Iterable[str]] | None = None,
    ) -> None:
        self.roles = tuple(roles)
        self.roles_of = roles_of or self._roles_from_header

    @staticmethod
    def _roles_from_header(context: ExecutionContext) -> Iterable[str]:
        header = context.request.headers.get("x-roles") or ""
        return [r.strip() for r in header.split(",") if r.strip()]

    def can_activate(self, context: ExecutionContext) -> bool:
        """True when no role is required or the user has one of them."""
        required = context.metadata("roles", self.roles)
        if not required:
            return True
        return bool(set(required) & set(self.roles_of(context)))


class APIKeyGuard:
    """Require an API key in a header (constant-time comparison); 401 with ``WWW-Authenticate``.

    Args:
        keys: The accepted keys.
        header: The header carrying the key.
        scheme_name: The OpenAPI security scheme name.
    """

    def __init__(
        self, keys: Iterable[str], *, header: str = "x-api-key", scheme_name: str = "ApiKeyAuth"
    ) -> None:
        self.keys = [k.encode() for k in keys]
        self.header = header.lower()
        self.openapi_security_scheme = (
            scheme_name,
            {"type": "apiKey", "in": "header", "name": header},
        )

    def can_activate(self, context: ExecutionContext) -> bool:
        """True for a known key; raises 401 otherwise."""
        supplied = (context.request.headers.get(self.header) or "").encode()
        # NOTE: compare against every key, so timing does not reveal which key was close.
        matched = False
        for key in self.keys:
            matched |= hmac.compare_digest(supplied, key)
        if not matched:
            raise Unauthorized(
                "A valid API key is required",
                headers={"WWW-Authenticate": f'ApiKey header="{self.header}"'},
            )
        return True
