"""Route declarations and ``Router``: groups of routes with a prefix and their own middleware.

Declaring a route does no work beyond recording it; the app compiles every declaration at startup.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from armature.middleware.base import Middleware
from armature.params import UNSET
from armature.responses import Response
from armature.routing.converters import Converter, get_converter
from armature.types import ASGIApp

__all__ = ["Mount", "Route", "RouteDefinitionError", "Router", "parse_path"]

F = TypeVar("F", bound=Callable[..., Any])

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
_PARAM = re.compile(r"^\{(?P<name>[^{}:]*)(?::(?P<conv>[^{}]*))?\}$")


class RouteDefinitionError(ValueError):
    """A route is declared wrongly (bad path, unknown converter, duplicate or conflicting route)."""


@dataclass(slots=True, frozen=True)
class Segment:
    """One piece of a parsed path: static text, or a parameter with its converter."""

    text: str
    name: str | None = None
    converter: Converter | None = None


def parse_path(path: str, *, where: str = "") -> list[Segment]:
    """Parse a route path into segments, checking it.

    Args:
        path: The path template, e.g. ``/users/{id:int}`` or ``/users/:id``.
        where: A description of the route for error messages.

    Returns:
        The segments after the leading slash.

    Raises:
        RouteDefinitionError: Bad syntax, unknown converter, bad or repeated parameter names.
    """
    label = where or path
    if not path.startswith("/"):
        raise RouteDefinitionError(f"{label}: path {path!r} must start with '/'")
    segments: list[Segment] = []
    names: set[str] = set()
    parts = path[1:].split("/")
    for index, part in enumerate(parts):
        if part.startswith(":") and len(part) > 1:
            part = "{" + part[1:] + "}"
        if "{" in part or "}" in part:
            match = _PARAM.match(part)
            if match is None:
                raise RouteDefinitionError(
                    f"{label}: a path parameter must be a whole segment like {{name}} or "
                    f"{{name:int}}, got {part!r}"
                )
            name = match["name"]
            conv_name = match["conv"] or "str"
            if not name.isidentifier():
                raise RouteDefinitionError(
                    f"{label}: path parameter name {name!r} is not a valid identifier"
                )
            if name in names:
                raise RouteDefinitionError(f"{label}: path parameter {name!r} appears twice")
            try:
                converter = get_converter(conv_name)
            except KeyError:
                raise RouteDefinitionError(
                    f"{label}: unknown path converter {conv_name!r} in {part!r}"
                ) from None
            if converter.name == "path" and index != len(parts) - 1:
                raise RouteDefinitionError(
                    f"{label}: a {{{name}:path}} parameter must be the last segment"
                )
            names.add(name)
            segments.append(Segment(part, name, converter))
        else:
            segments.append(Segment(part))
    return segments


def declaring_locals(depth: int) -> dict[str, Any] | None:
    """The local names visible where a handler is declared (None at module level).

    Walks out from the caller ``depth`` frames up to module level (a class body inside a function
    sees neither the function's locals nor its own class namespace otherwise), innermost first.

    Args:
        depth: Frames between the declaring code and this call.

    Returns:
        A merged namespace, or None when the declaration is at module level.
    """
    frame = sys._getframe(depth + 1)
    merged: dict[str, Any] = {}
    found = False
    for _ in range(4):
        if frame is None or frame.f_locals is frame.f_globals:
            break
        found = True
        for name, value in frame.f_locals.items():
            merged.setdefault(name, value)
        frame = frame.f_back  # type: ignore[assignment]
    return merged if found else None


def normalize_path(path: str) -> str:
    """Rewrite ``:name`` parameters as ``{name}`` (the canonical form used in listings)."""
    return "/" + "/".join(
        "{" + p[1:] + "}" if p.startswith(":") and len(p) > 1 else p for p in path[1:].split("/")
    )


@dataclass(slots=True, eq=False)
class Route:
    """A declared HTTP route.

    Attributes:
        path: The path template (as declared, without prefixes of enclosing routers).
        endpoint: The handler function.
        methods: The HTTP methods it answers.
        name: The name used by ``url_path_for`` (defaults to the function name).
        status_code: The success status.
        response_class: Wraps non-Response results.
        response_model: Filters/serializes the result (defaults to the return annotation).
        middleware: Route-level middleware, innermost.
        max_body_size: The body limit (None: the router's or app's).
        include_in_schema: List the route in OpenAPI.
        tags: OpenAPI tags.
        summary: OpenAPI summary.
        description: OpenAPI description (defaults to the docstring).
        deprecated: Marks the operation deprecated.
        operation_id: The OpenAPI operationId.
        responses: Extra OpenAPI responses.
        extra: Free-form options for extensions (guards, interceptors, compression opt-out...).
    """

    path: str
    endpoint: Callable[..., Any]
    methods: frozenset[str]
    name: str
    status_code: int = 200
    response_class: type[Response] | None = None
    response_model: Any = UNSET
    middleware: list[Middleware] = field(default_factory=list)
    max_body_size: int | None = None
    include_in_schema: bool = True
    tags: list[str] = field(default_factory=list)
    summary: str | None = None
    description: str | None = None
    deprecated: bool = False
    operation_id: str | None = None
    responses: dict[int, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    localns: dict[str, Any] | None = None
    limits: Any = None


@dataclass(slots=True, eq=False)
class Mount:
    """Another ASGI app served below ``path``."""

    path: str
    app: ASGIApp
    name: str | None = None


@dataclass(slots=True, eq=False)
class FlatRoute:
    """A route with everything its enclosing routers add (full path, middleware, options)."""

    route: Route
    path: str
    middleware: list[Middleware]
    max_body_size: int | None
    tags: list[str]
    owners: list[Router]
    limits: Any = None


class Router:
    """A group of routes sharing a prefix, middleware, tags and limits.

    Args:
        prefix: Prepended to every route path (``/api``).
        middleware: Middleware wrapped around each route of this router (first is outermost).
        tags: OpenAPI tags added to every route.
        max_body_size: Body limit for the routes of this router.
        name: Prefix for route names (``name:route``) in ``url_path_for``.
        limits: ``armature.Limits`` for the routes of this router (forms, JSON depth, body).
    """

    def __init__(
        self,
        prefix: str = "",
        *,
        middleware: Sequence[Middleware] | None = None,
        tags: Sequence[str] | None = None,
        max_body_size: int | None = None,
        name: str | None = None,
        limits: Any = None,
    ) -> None:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise RouteDefinitionError(
                f"router prefix {prefix!r} must start with '/' and not end with '/'"
            )
        self.prefix = prefix
        self.route_middleware: list[Middleware] = list(middleware or [])
        self.tags = list(tags or [])
        self.max_body_size = max_body_size
        self.limits = limits
        self.name = name
        self.routes: list[Route] = []
        self.mounts: list[Mount] = []
        self.children: list[tuple[Router, str]] = []
        self.extra: dict[str, Any] = {}
        self.frozen = False

    def _check_open(self, what: str) -> None:
        # NOTE: routes are compiled once at startup; a late declaration would silently never be
        # served, so it is refused instead.
        if self.frozen:
            raise RuntimeError(f"cannot {what} after the application has started")

    def add_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        methods: Sequence[str] = ("GET",),
        *,
        name: str | None = None,
        status_code: int = 200,
        response_class: type[Response] | None = None,
        response_model: Any = UNSET,
        middleware: Sequence[Middleware] | None = None,
        max_body_size: int | None = None,
        include_in_schema: bool = True,
        tags: Sequence[str] | None = None,
        summary: str | None = None,
        description: str | None = None,
        deprecated: bool = False,
        operation_id: str | None = None,
        responses: dict[int, Any] | None = None,
        extra: dict[str, Any] | None = None,
        localns: dict[str, Any] | None = None,
        guards: Sequence[Any] = (),
        interceptors: Sequence[Any] = (),
        filters: Sequence[Any] = (),
        cancel_on_disconnect: bool = True,
        limits: Any = None,
    ) -> Route:
        """Declare a route.

        Args:
            path: The path template.
            endpoint: The handler.
            methods: HTTP methods (upper-cased).
            name: Route name (defaults to the handler's ``__name__``).
            status_code: The success status.
            response_class: Response class for non-Response results.
            response_model: Output model (``None`` disables the return-annotation default).
            middleware: Route-level middleware.
            max_body_size: Body limit in bytes.
            include_in_schema: Show in OpenAPI.
            tags: OpenAPI tags.
            summary: OpenAPI summary.
            description: OpenAPI description.
            deprecated: OpenAPI deprecated flag.
            operation_id: OpenAPI operationId.
            responses: Extra OpenAPI responses by status.
            extra: Options for extensions.
            localns: Names to resolve the handler's annotations with (the decorators pass the
                declaring function's locals, so handlers defined inside functions work).
            guards: Route-level guards (see :mod:`armature.pipeline`).
            interceptors: Route-level interceptors.
            filters: Route-level exception filters.
            cancel_on_disconnect: Cancel the handler if the client disconnects while it runs;
                False for fire-and-finish work.
            limits: ``armature.Limits`` for this route (overrides the router's and the app's).

        Returns:
            The declared route.
        """
        self._check_open("add a route")
        upper = frozenset(m.upper() for m in methods)
        unknown = upper - set(HTTP_METHODS)
        if unknown:
            raise RouteDefinitionError(f"{path}: unknown HTTP method(s) {sorted(unknown)}")
        parse_path(path, where=f"route {path!r}")
        extra = dict(extra or {})
        for key, items, attribute in (
            ("guards", guards, "__armature_guards__"),
            ("interceptors", interceptors, "__armature_interceptors__"),
            ("filters", filters, "__armature_filters__"),
        ):
            merged = [*extra.get(key, ()), *items, *getattr(endpoint, attribute, ())]
            if merged:
                extra[key] = merged
        if not cancel_on_disconnect:
            extra["cancel_on_disconnect"] = False
        route = Route(
            path=path,
            endpoint=endpoint,
            methods=upper,
            name=name or str(getattr(endpoint, "__name__", "route")),
            status_code=status_code,
            response_class=response_class,
            response_model=response_model,
            middleware=list(middleware or []),
            max_body_size=max_body_size,
            include_in_schema=include_in_schema,
            tags=list(tags or []),
            summary=summary,
            description=description,
            deprecated=deprecated,
            operation_id=operation_id,
            responses=dict(responses or {}),
            extra=extra,
            localns=localns,
            limits=limits,
        )
        self.routes.append(route)
        return route

    def route(
        self, path: str, methods: Sequence[str] = ("GET",), **options: Any
    ) -> Callable[[F], F]:
        """Decorator form of :meth:`add_route`."""

        def decorator(func: F) -> F:
            # NOTE: a handler declared inside a function may annotate with that function's
            # locals; with postponed annotations they are only resolvable with this namespace.
            localns = declaring_locals(1)
            if localns is not None:
                options.setdefault("localns", localns)
            self.add_route(path, func, methods, **options)
            return func

        return decorator

    def get(self, path: str, **options: Any) -> Callable[[F], F]:
        """Declare a GET route (HEAD is answered automatically)."""
        return self.route(path, ("GET",), **options)

    def post(self, path: str, **options: Any) -> Callable[[F], F]:
        """Declare a POST route."""
        return self.route(path, ("POST",), **options)

    def put(self, path: str, **options: Any) -> Callable[[F], F]:
        """Declare a PUT route."""
        return self.route(path, ("PUT",), **options)

    def patch(self, path: str, **options: Any) -> Callable[[F], F]:
        """Declare a PATCH route."""
        return self.route(path, ("PATCH",), **options)

    def delete(self, path: str, **options: Any) -> Callable[[F], F]:
        """Declare a DELETE route."""
        return self.route(path, ("DELETE",), **options)

    def head(self, path: str, **options: Any) -> Callable[[F], F]:
        """Declare a HEAD route."""
        return self.route(path, ("HEAD",), **options)

    def options(self, path: str, **options: Any) -> Callable[[F], F]:
        """Declare an OPTIONS route (otherwise OPTIONS is answered automatically)."""
        return self.route(path, ("OPTIONS",), **options)

    def add_websocket_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        name: str | None = None,
        middleware: Sequence[Middleware] | None = None,
        localns: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Route:
        """Declare a websocket route; the handler takes a ``WebSocket`` and bound parameters.

        Args:
            path: The path template.
            endpoint: ``async def handler(websocket: WebSocket, ...)``.
            name: Route name (defaults to the handler's ``__name__``).
            middleware: Route-level pure ASGI middleware.
            localns: Names to resolve the handler's annotations with.
            extra: Options for extensions.

        Returns:
            The declared route.
        """
        self._check_open("add a websocket route")
        parse_path(path, where=f"websocket route {path!r}")
        route = Route(
            path=path,
            endpoint=endpoint,
            methods=frozenset({"WEBSOCKET"}),
            name=name or str(getattr(endpoint, "__name__", "websocket")),
            middleware=list(middleware or []),
            include_in_schema=False,
            localns=localns,
            extra=dict(extra or {}),
        )
        self.routes.append(route)
        return route

    def websocket(self, path: str, **options: Any) -> Callable[[F], F]:
        """Decorator form of :meth:`add_websocket_route`."""

        def decorator(func: F) -> F:
            localns = declaring_locals(1)
            if localns is not None:
                options.setdefault("localns", localns)
            self.add_websocket_route(path, func, **options)
            return func

        return decorator

    def use_guards(self, *guards: Any) -> None:
        """Guard every route of this router (on an app: every route, globally)."""
        self._check_open("add guards")
        self.extra.setdefault("guards", []).extend(guards)

    def use_interceptors(self, *interceptors: Any) -> None:
        """Wrap every route of this router in these interceptors."""
        self._check_open("add interceptors")
        self.extra.setdefault("interceptors", []).extend(interceptors)

    def use_filters(self, *filters: Any) -> None:
        """Apply these exception filters to every route of this router."""
        self._check_open("add filters")
        self.extra.setdefault("filters", []).extend(filters)

    def include_router(self, router: Router, *, prefix: str = "") -> None:
        """Serve ``router``'s routes below this one (its prefix, middleware and tags apply).

        Args:
            router: The router to include; routes added to it later are included too.
            prefix: An extra prefix in front of the router's own.
        """
        self._check_open("include a router")
        if router is self:
            raise RouteDefinitionError("a router cannot include itself")
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise RouteDefinitionError(
                f"prefix {prefix!r} must start with '/' and not end with '/'"
            )
        self.children.append((router, prefix))

    def mount(self, path: str, app: ASGIApp, *, name: str | None = None) -> None:
        """Serve any ASGI app below ``path`` (its ``root_path`` becomes the mount point).

        Args:
            path: The mount point, e.g. ``/legacy`` (``""`` catches everything unmatched).
            app: Any ASGI 3 application.
            name: A name for ``url_path_for(name, path=...)``.
        """
        if path and (not path.startswith("/") or path.endswith("/")):
            raise RouteDefinitionError(
                f"mount path {path!r} must start with '/' and not end with '/'"
            )
        self._check_open("mount an app")
        self.mounts.append(Mount(path, app, name))

    def add_middleware(self, middleware_class: Callable[..., ASGIApp], **options: Any) -> None:
        """Wrap every route of this router in ``middleware_class(app, **options)``.

        The last one added is the outermost, as for the app.
        """
        self._check_open("add middleware")
        self.route_middleware.insert(0, Middleware(middleware_class, **options))

    def flatten(
        self,
        prefix: str = "",
        middleware: Sequence[Middleware] = (),
        tags: Sequence[str] = (),
        max_body_size: int | None = None,
        owners: Sequence[Router] = (),
        _seen: frozenset[int] = frozenset(),
        limits: Any = None,
    ) -> Iterator[FlatRoute]:
        """Yield every route with the full path, middleware and options its routers give it."""
        if id(self) in _seen:
            raise RouteDefinitionError("router inclusion forms a cycle")
        seen = _seen | {id(self)}
        full_prefix = prefix + self.prefix
        chain = [*middleware, *self.route_middleware]
        all_tags = [*tags, *self.tags]
        limit = self.max_body_size if self.max_body_size is not None else max_body_size
        router_limits = self.limits if self.limits is not None else limits
        path_owners = [*owners, self]
        for route in self.routes:
            path = full_prefix + route.path if route.path != "/" or not full_prefix else full_prefix
            yield FlatRoute(
                route=route,
                path=path,
                middleware=[*chain, *route.middleware],
                max_body_size=route.max_body_size if route.max_body_size is not None else limit,
                tags=[*all_tags, *route.tags],
                owners=path_owners,
                limits=route.limits if route.limits is not None else router_limits,
            )
        for child, extra_prefix in self.children:
            yield from child.flatten(
                full_prefix + extra_prefix, chain, all_tags, limit, path_owners, seen, router_limits
            )

    def flatten_mounts(self, prefix: str = "") -> Iterator[Mount]:
        """Yield every mount with its full path."""
        full_prefix = prefix + self.prefix
        for mount in self.mounts:
            yield Mount(full_prefix + mount.path, mount.app, mount.name)
        for child, extra_prefix in self.children:
            yield from child.flatten_mounts(full_prefix + extra_prefix)
