"""``App``: the ASGI 3 entry point, its startup compilation, lifespan, errors and mounts.

At startup (ASGI lifespan startup, or the first request when a server sends no lifespan) every
route declaration is compiled into the route table, every handler into its plan, and every
middleware chain is composed. After that a request costs a dict lookup (or a short tree walk), one
pre-built callable and two ``send`` calls.
"""

from __future__ import annotations

import inspect
import logging
import threading
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import orjson

from armature._handler_plan import HandlerPlan, plan_handler
from armature._param_binding import ParamResolver
from armature._websocket_routes import build_websocket_dispatch, plan_websocket
from armature.datastructures import encode_header
from armature.di._resolver import DependencyOverrides, make_resolver
from armature.di.container import Container, request_cleanup
from armature.di.container import Scope as DIScope
from armature.exceptions import HTTPException, MethodNotAllowed, NotFound, problem_body
from armature.limits import Limits, check_request_limits
from armature.middleware.base import Middleware, compose
from armature.middleware.function import FunctionMiddleware
from armature.pipeline import (
    ExecutionContext,
    compose_filters,
    compose_guards,
    compose_interceptors,
)
from armature.requests import ClientDisconnect, Request
from armature.responses import Response
from armature.routing._table import RouteTable
from armature.routing.routes import (
    FlatRoute,
    Mount,
    RouteDefinitionError,
    Router,
    Segment,
    normalize_path,
    parse_path,
)
from armature.state import AppState
from armature.types import ASGIApp, Message, Receive, Scope, Send
from armature.websockets import WebSocket

__all__ = ["App", "CompiledRoute", "NoMatchFound"]

logger = logging.getLogger("armature.error")
F = TypeVar("F", bound=Callable[..., Any])
ExceptionHandler = Callable[[Request, Exception], Awaitable[Response] | Response]
Lifespan = Callable[["App"], AbstractAsyncContextManager[Mapping[str, Any] | None]]

_PROBLEM = b"application/problem+json"
_PROBLEM_TYPE = "application/problem+json"


def _current_websocket(scope: Scope, receive: Receive) -> WebSocket:
    websocket: WebSocket = scope["armature.websocket"]
    return websocket


_current_websocket.is_async = False  # type: ignore[attr-defined]


def _websocket_resolver(spec: Any, base: Any, path_names: frozenset[str]) -> Any:
    """Bind a parameter annotated ``WebSocket`` to the connection."""
    if inspect.isclass(base) and issubclass(base, WebSocket):
        return _current_websocket
    return None


class NoMatchFound(LookupError):
    """``url_path_for`` found no route with that name and those parameters."""


@dataclass(slots=True, eq=False)
class CompiledRoute:
    """A route as compiled: where it answers, its plan and its composed endpoint."""

    flat: FlatRoute
    path: str
    segments: list[Segment]
    plan: HandlerPlan
    endpoint: ASGIApp
    name: str

    @property
    def methods(self) -> frozenset[str]:
        """The declared methods."""
        return self.flat.route.methods

    @property
    def handler(self) -> Callable[..., Any]:
        """The user's function."""
        return self.flat.route.endpoint


def _problem_message(
    status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", _PROBLEM), (b"content-length", b"%d" % len(body)), *headers],
    }
    return start, {"type": "http.response.body", "body": body}


class App(Router):
    """An armature application: an ASGI 3 callable.

    Args:
        debug: Show exception details in 500 responses (never in production).
        middleware: App-level middleware, outermost first (wraps routing, 404s and mounts too).
        exception_handlers: Handlers by exception class or status code.
        on_startup: Callables (sync or async) run at lifespan startup, after compilation.
        on_shutdown: Callables run at lifespan shutdown.
        lifespan: ``app -> async context manager``; what it yields becomes lifespan state.
        max_body_size: Default request body limit in bytes (1 MiB; overrides ``limits``).
        limits: Input limits for every route (``armature.Limits``; routers and routes may set
            their own).
        trailing_slash: ``"strict"`` (``/a/`` and ``/a`` are different) or ``"redirect"`` (308 to
            the declared form, so a POST stays a POST).
        automatic_options: Answer OPTIONS with ``Allow`` on every path.
        state: Initial application state (see :class:`~armature.state.AppState`).
        title: The API title (OpenAPI).
        version: The API version (OpenAPI).
    """

    def __init__(
        self,
        *,
        debug: bool = False,
        middleware: Sequence[Middleware] | None = None,
        exception_handlers: Mapping[type[BaseException] | int, ExceptionHandler] | None = None,
        on_startup: Sequence[Callable[[], Any]] = (),
        on_shutdown: Sequence[Callable[[], Any]] = (),
        lifespan: Lifespan | None = None,
        max_body_size: int | None = None,
        limits: Limits | None = None,
        trailing_slash: Literal["strict", "redirect"] = "strict",
        automatic_options: bool = True,
        state: Mapping[str, Any] | None = None,
        title: str = "armature",
        version: str = "0.1.0",
    ) -> None:
        super().__init__()
        base_limits = limits if limits is not None else Limits()
        if max_body_size is not None:
            base_limits = base_limits.with_(max_body_size=max_body_size)
        self.limits = base_limits
        self.max_body_size = base_limits.max_body_size
        if trailing_slash not in ("strict", "redirect"):
            raise ValueError("trailing_slash must be 'strict' or 'redirect'")
        self.debug = debug
        self.app_middleware: list[Middleware] = list(middleware or [])
        self.exception_handlers: dict[type[BaseException] | int, ExceptionHandler] = dict(
            exception_handlers or {}
        )
        self.on_startup = list(on_startup)
        self.on_shutdown = list(on_shutdown)
        self.lifespan_context = lifespan
        self.trailing_slash = trailing_slash
        self.automatic_options = automatic_options
        self.state = AppState(state)
        self.title = title
        self.version = version
        self.container = Container()
        self.dependency_overrides = DependencyOverrides(self.container)
        self.param_resolvers: list[ParamResolver] = [_websocket_resolver, make_resolver(self)]
        self._started = False
        self.compile_hooks: list[Callable[[App], None]] = []
        self.compiled_routes: list[CompiledRoute] = []
        self._names: dict[str, CompiledRoute] = {}
        self._mounts: list[Mount] = []
        self._handler_cache: dict[type[BaseException], ExceptionHandler | None] = {}
        self._compile_lock = threading.Lock()
        self._compiled = False
        self._entry: ASGIApp = self._compile_then_dispatch
        self._ws_entry: ASGIApp = self._compile_then_websocket

    # -- ASGI entry --------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI 3 entry point."""
        # PERF: http first; everything else is rare.
        if scope["type"] == "http":
            await self._entry(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._ws_entry(scope, receive, send)
        else:
            raise RuntimeError(f"armature does not handle {scope['type']!r} scopes")

    async def _compile_then_dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        # NOTE: some servers run without lifespan (uvicorn --lifespan off): compile on first use.
        self.compile()
        if not self._started:
            self._started = True
            await self.container.startup()
        await self._entry(scope, receive, send)

    # -- dependency injection ----------------------------------------------------------------

    def provide(
        self,
        provider: Any,
        *,
        scope: Literal["singleton", "request", "transient"] = "singleton",
        key: Any = None,
    ) -> Any:
        """Register a class or factory with the app's container (usable as a decorator).

        Args:
            provider: A class (constructor parameters are injected) or a factory function (sync,
                async, generator or async generator; its return annotation is the key).
            scope: ``singleton`` (default), ``request`` or ``transient``.
            key: What handlers ask for, when not the class or the return annotation.

        Returns:
            ``provider`` unchanged.
        """
        lifetime = DIScope(scope)
        if isinstance(provider, type):
            self.container.add_class(provider, scope=lifetime, key=key)
        else:
            self.container.add_factory(provider, scope=lifetime, key=key)
        return provider

    def provide_value(self, key: Any, value: Any) -> None:
        """Register a ready instance under ``key``."""
        self.container.add_value(key, value)

    async def _compile_then_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.compile()
        if not self._started:
            self._started = True
            await self.container.startup()
        await self._ws_entry(scope, receive, send)

    # -- declaration helpers -----------------------------------------------------------------

    def add_middleware(self, middleware_class: Callable[..., ASGIApp], **options: Any) -> None:
        """Wrap the whole app in ``middleware_class(app, **options)``; the last added is outermost.

        Args:
            middleware_class: Any pure ASGI middleware class or factory.
            **options: Passed to it.
        """
        self._check_not_compiled("add middleware")
        self.app_middleware.insert(0, Middleware(middleware_class, **options))

    def middleware(self, kind: str | Callable[..., Any] = "http") -> Any:
        """Register ``async def mw(request, call_next) -> Response`` as app-level middleware.

        Usable as ``@app.middleware`` or ``@app.middleware("http")``. ``call_next(request)`` runs
        the rest of the app in the same task (context variables flow both ways), returns as soon as
        the response starts (streaming is not buffered) and passes disconnects through.
        """
        if callable(kind):
            self.add_middleware(FunctionMiddleware, dispatch=kind, armature_app=self)
            return kind
        if kind != "http":
            raise ValueError("only 'http' function middleware is supported")

        def decorator(func: F) -> F:
            self.add_middleware(FunctionMiddleware, dispatch=func, armature_app=self)
            return func

        return decorator

    def add_exception_handler(
        self, key: type[BaseException] | int, handler: ExceptionHandler
    ) -> None:
        """Handle an exception class (and its subclasses) or an HTTP status code.

        Args:
            key: An exception class, or a status code matched against ``HTTPException``.
            handler: ``(request, exc) -> Response`` (sync or async).
        """
        self.exception_handlers[key] = handler
        self._handler_cache.clear()

    def exception_handler(self, key: type[BaseException] | int) -> Callable[[F], F]:
        """Decorator form of :meth:`add_exception_handler`."""

        def decorator(func: F) -> F:
            self.add_exception_handler(key, func)
            return func

        return decorator

    def _check_not_compiled(self, what: str) -> None:
        if self._compiled:
            raise RuntimeError(f"cannot {what} after the application has started")

    # -- compilation -------------------------------------------------------------------------

    def compile(self) -> None:
        """Compile routes, handler plans and middleware chains (idempotent, thread-safe)."""
        if self._compiled:
            return
        with self._compile_lock:
            if self._compiled:
                return
            for hook in self.compile_hooks:
                hook(self)
            self.container.compile()
            table = RouteTable()
            ws_table = RouteTable()
            compiled: list[CompiledRoute] = []
            names: dict[str, CompiledRoute] = {}
            for flat in self.flatten():
                route = flat.route
                label = (
                    f"route {'|'.join(sorted(route.methods))} {flat.path} "
                    f"({getattr(route.endpoint, '__qualname__', route.endpoint)!s})"
                )
                segments = parse_path(flat.path, where=label)
                path_names = frozenset(s.name for s in segments if s.name)
                converter_types = {
                    s.name: s.converter.python_type for s in segments if s.name and s.converter
                }
                if "WEBSOCKET" in route.methods:
                    ws_endpoint = compose(
                        flat.middleware, plan_websocket(self, flat, path_names, label)
                    )
                    ws_table.leaf_for(normalize_path(flat.path), segments).add(
                        "WEBSOCKET", ws_endpoint, tuple(s.name for s in segments if s.name), label
                    )
                    continue
                try:
                    plan = plan_handler(
                        route.endpoint,
                        path_names=path_names,
                        path_converter_types=converter_types,
                        status_code=route.status_code,
                        response_model=route.response_model,
                        response_class=route.response_class,
                        max_body_size=(
                            flat.max_body_size
                            if flat.max_body_size is not None
                            else (flat.limits or self.limits).max_body_size
                        ),
                        limits=flat.limits or self.limits,
                        route=route,
                        on_error=self.handle_exception,
                        resolvers=self.param_resolvers,
                        after_response=request_cleanup,
                        app=self,
                        extra_hints=route.extra.get("hints"),
                        localns=route.localns,
                        cancel_on_disconnect=route.extra.get("cancel_on_disconnect", True),
                        **self._stages(flat),
                    )
                except (TypeError, ValueError) as exc:
                    raise RouteDefinitionError(f"{label}: {exc}") from exc
                endpoint = compose(flat.middleware, plan.endpoint)
                if flat.middleware:
                    # NOTE: route/router middleware runs outside the endpoint's own error
                    # handling; guard it so its exceptions become problem+json too.
                    endpoint = self._error_guard(endpoint)
                template = normalize_path(flat.path)
                leaf = table.leaf_for(template, segments)
                param_names = tuple(s.name for s in segments if s.name)
                for method in sorted(route.methods):
                    leaf.add(method, endpoint, param_names, label)
                prefix = ":".join(o.name for o in flat.owners if o.name)
                name = f"{prefix}:{route.name}" if prefix else route.name
                entry = CompiledRoute(flat, template, segments, plan, endpoint, name)
                compiled.append(entry)
                names.setdefault(name, entry)
            table.finish(self.automatic_options)
            ws_table.finish(automatic_options=False)
            for table_leaf in table.leaves:
                table_leaf.not_allowed = self._not_allowed(table_leaf.not_allowed, table_leaf.allow)
            for flat_route in self.flatten():
                for owner in flat_route.owners:
                    owner.frozen = True
            self.frozen = True
            self._mounts = sorted(self.flatten_mounts(), key=lambda m: len(m.path), reverse=True)
            self.compiled_routes = compiled
            self._names = names
            dispatch = self._build_dispatch(table)
            entry_app = compose(self.app_middleware, dispatch)
            if self.app_middleware:
                entry_app = self._error_guard(entry_app)
            self._entry = entry_app
            self._ws_entry = compose(self.app_middleware, build_websocket_dispatch(self, ws_table))
            self._compiled = True

    def _stages(self, flat: FlatRoute) -> dict[str, Any]:
        """Compose the route's guards, interceptors and filters (outer levels first)."""
        route = flat.route
        levels = [owner.extra for owner in flat.owners] + [route.extra]
        guards = compose_guards(g for level in levels for g in level.get("guards", ()))
        interceptors = compose_interceptors(
            i for level in levels for i in level.get("interceptors", ())
        )
        # NOTE: filters are tried most specific level first: route, then routers, then global.
        filters = compose_filters(
            [f for level in reversed(levels) for f in level.get("filters", ())]
        )
        if guards is None and interceptors is None and filters is None:
            return {}

        def context_factory(scope: Scope, receive: Receive) -> ExecutionContext:
            return ExecutionContext(scope, receive, route, self)

        return {
            "guards": guards,
            "interceptors": interceptors,
            "filters": filters,
            "context_factory": context_factory,
        }

    def _build_dispatch(self, table: RouteTable) -> ASGIApp:
        static = table.static
        match = table.match
        # PERF: each mount's "prefix/" is built once here, not on every routing miss.
        mounts = [(m.path, m.path + "/", m.app) for m in self._mounts]
        not_found = self._not_found
        redirect_slash = self.trailing_slash == "redirect"
        max_headers = self.limits.max_header_count
        max_target = self.limits.max_url_length
        too_large = self._request_too_large

        async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
            path: str = scope["path"]
            # PERF: three len() calls on what the server already parsed (the raw target, as sent).
            if (
                len(scope["headers"]) > max_headers
                or len(scope.get("raw_path") or path) + len(scope["query_string"]) > max_target
            ):
                await too_large(scope, receive, send)
                return
            root = scope.get("root_path")
            if root and path.startswith(root):
                # NOTE: ASGI 3: path includes root_path; route on what is below the mount point.
                rest = path[len(root) :]
                if not rest:
                    path = "/"
                elif rest[0] == "/":
                    path = rest
            leaf = static.get(path)
            if leaf is not None:
                endpoint = leaf.methods.get(scope["method"])
                if endpoint is None:
                    endpoint = leaf.not_allowed
                await endpoint(scope, receive, send)
                return
            found = match(path)
            if found is not None:
                leaf, values = found
                method = scope["method"]
                endpoint = leaf.methods.get(method)
                if endpoint is None:
                    await leaf.not_allowed(scope, receive, send)
                    return
                scope["path_params"] = dict(zip(leaf.names[method], values, strict=True))
                await endpoint(scope, receive, send)
                return
            for prefix, prefix_slash, app in mounts:
                if not prefix or path == prefix or path.startswith(prefix_slash):
                    child = dict(scope)
                    child["root_path"] = (root or "") + prefix
                    await app(child, receive, send)
                    return
            if redirect_slash and path != "/":
                alternative = path[:-1] if path.endswith("/") else path + "/"
                if alternative in static or match(alternative) is not None:
                    location = (root or "") + alternative
                    if scope.get("query_string"):
                        location += "?" + scope["query_string"].decode("latin-1")
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 308,
                            "headers": [
                                (b"location", location.encode("utf-8")),
                                (b"content-length", b"0"),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": b""})
                    return
            await not_found(scope, receive, send)

        return dispatch

    _NOT_FOUND_BODY = problem_body(404, "No route matches this path")

    async def _request_too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            check_request_limits(scope, self.limits)
        except HTTPException as exc:
            await self.handle_exception(exc, scope, receive, send)
            return
        # NOTE: unreachable in practice: the precise count (which adds the "?") is never lower.
        await self.handle_exception(HTTPException(414), scope, receive, send)

    def _not_allowed(self, prebuilt: ASGIApp, allow: bytes) -> ASGIApp:
        allowed = allow.decode("latin-1")

        async def not_allowed(scope: Scope, receive: Receive, send: Send) -> None:
            # PERF: the pre-built 405 unless the app registered exception handlers.
            if self.exception_handlers:
                error = MethodNotAllowed(
                    "Method not allowed; see the Allow header", headers={"Allow": allowed}
                )
                await self.handle_exception(error, scope, receive, send)
            else:
                await prebuilt(scope, receive, send)

        return not_allowed

    async def _not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.exception_handlers:
            error = NotFound("No route matches this path")
            await self.handle_exception(error, scope, receive, send)
            return
        body = self._NOT_FOUND_BODY
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [(b"content-type", _PROBLEM), (b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _error_guard(self, app: ASGIApp) -> ASGIApp:
        handle = self.handle_exception

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            started = False

            async def tracking_send(message: Message) -> None:
                nonlocal started
                if message["type"] == "http.response.start":
                    started = True
                await send(message)

            try:
                await app(scope, receive, tracking_send)
            except Exception as exc:
                if started:
                    logger.exception(
                        "error after the response started: %s %s",
                        scope.get("method"),
                        scope.get("path"),
                    )
                    raise
                await handle(exc, scope, receive, send)

        return guarded

    # -- errors ------------------------------------------------------------------------------

    def _lookup_handler(self, exc: BaseException) -> ExceptionHandler | None:
        cls = type(exc)
        try:
            handler = self._handler_cache[cls]
        except KeyError:
            handler = None
            for klass in cls.__mro__:
                if klass in self.exception_handlers:
                    handler = self.exception_handlers[klass]
                    break
            self._handler_cache[cls] = handler
        if isinstance(exc, HTTPException):
            by_status = self.exception_handlers.get(exc.status_code)
            if by_status is not None and (
                handler is None or handler is self.exception_handlers.get(HTTPException)
            ):
                return by_status
        return handler

    async def handle_exception(
        self, exc: BaseException, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Turn an exception into a response: a registered handler, or problem+json.

        Args:
            exc: The exception raised while binding, validating or handling.
            scope: The http scope.
            receive: The receive callable.
            send: The send callable.
        """
        if isinstance(exc, ClientDisconnect):
            return
        # PERF: most apps register no handlers; skip the MRO walk entirely then.
        handler = self._lookup_handler(exc) if self.exception_handlers else None
        if handler is not None:
            result = handler(Request(scope, receive, app=self), exc)  # type: ignore[arg-type]
            if inspect.isawaitable(result):
                result = await result
            await result(scope, receive, send)
            return
        path = scope.get("path")
        if isinstance(exc, HTTPException):
            problem = exc.to_problem(instance=path)
            state = scope.get("state")
            if state:
                request_id = state.get("request_id")
                if request_id is not None:
                    problem.setdefault("request_id", request_id)
            headers = [encode_header(k, v) for k, v in exc.headers.items()] if exc.headers else ()
            start, body = _problem_message(exc.status_code, orjson.dumps(problem), headers)
            await send(start)
            await send(body)
            return
        logger.error("unhandled error in %s %s", scope.get("method"), path, exc_info=exc)
        extensions: dict[str, Any] = {}
        detail = "The server failed to handle this request"
        if self.debug:
            detail = f"{type(exc).__name__}: {exc}"
            extensions["traceback"] = traceback.format_exception(exc)
        start, body = _problem_message(
            500, problem_body(500, detail, instance=path, extensions=extensions)
        )
        await send(start)
        await send(body)

    # -- lifespan ----------------------------------------------------------------------------

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        context: AbstractAsyncContextManager[Mapping[str, Any] | None] | None = None
        try:
            self.compile()
            self._started = True
            await self.container.startup()
            for hook in self.on_startup:
                result = hook()
                if inspect.isawaitable(result):
                    await result
            if self.lifespan_context is not None:
                context = self.lifespan_context(self)
                state = await context.__aenter__()
                if state:
                    if "state" not in scope:
                        raise RuntimeError(
                            "the server does not support lifespan state; yield nothing instead"
                        )
                    scope["state"].update(state)
        except BaseException as exc:
            logger.exception("application startup failed")
            # NOTE: singletons created before the failure (pools, clients) must not stay open.
            try:
                await self.container.shutdown()
            except Exception:
                logger.exception("cleanup after the failed startup failed")
            text = "".join(traceback.format_exception_only(exc)).strip()
            await send({"type": "lifespan.startup.failed", "message": text})
            if not isinstance(exc, Exception):
                raise
            return
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        errors: list[str] = []
        if context is not None:
            try:
                await context.__aexit__(None, None, None)
            except Exception as exc:
                logger.exception("lifespan shutdown failed")
                errors.append(repr(exc))
        for hook in self.on_shutdown:
            try:
                result = hook()
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                logger.exception("shutdown hook %r failed", hook)
                errors.append(repr(exc))
        try:
            await self.container.shutdown()
        except Exception as exc:
            logger.exception("dependency shutdown failed")
            errors.append(repr(exc))
        if errors:
            await send({"type": "lifespan.shutdown.failed", "message": "; ".join(errors)})
        else:
            await send({"type": "lifespan.shutdown.complete"})

    # -- introspection -----------------------------------------------------------------------

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """Build the path of the route called ``name`` (without ``root_path``).

        Args:
            name: The route name (``router_name:route_name`` for named routers), or a mount name
                with a ``path`` parameter.
            **params: The route's path parameters.

        Returns:
            The path.

        Raises:
            NoMatchFound: No such route, or the parameters do not fit it.
        """
        self.compile()
        route = self._names.get(name)
        if route is None:
            for mount in self._mounts:
                if mount.name == name and set(params) <= {"path"}:
                    tail = str(params.get("path", ""))
                    return mount.path + ("/" + tail.lstrip("/") if tail else "")
            raise NoMatchFound(f"no route named {name!r}")
        wanted = {s.name for s in route.segments if s.name}
        if set(params) != wanted:
            raise NoMatchFound(
                f"route {name!r} takes parameters {sorted(wanted)}, got {sorted(params)}"
            )
        parts: list[str] = []
        for segment in route.segments:
            if segment.name is None or segment.converter is None:
                parts.append(segment.text)
            else:
                try:
                    parts.append(segment.converter.to_string(params[segment.name]))
                except (TypeError, ValueError) as exc:
                    raise NoMatchFound(
                        f"route {name!r}: bad value for {segment.name}: {exc}"
                    ) from exc
        return "/" + "/".join(parts)

    def route_table(self) -> list[dict[str, Any]]:
        """List the compiled routes: method, path, name, handler and middleware.

        Returns:
            One dict per method of every route, sorted by path then method, then the mounts.
        """
        self.compile()
        rows: list[dict[str, Any]] = [
            {
                "method": method,
                "path": route.path,
                "name": route.name,
                "handler": f"{route.handler.__module__}.{route.handler.__qualname__}",
                "middleware": [m.name for m in route.flat.middleware],
                "extra": dict(route.flat.route.extra),
            }
            for route in self.compiled_routes
            for method in sorted(route.methods)
        ]
        rows.sort(key=lambda row: (row["path"], row["method"]))
        rows.extend(
            {
                "method": "*",
                "path": (mount.path or "") + "/*",
                "name": mount.name,
                "handler": repr(mount.app),
                "middleware": [],
                "extra": {},
            }
            for mount in self._mounts
        )
        return rows
