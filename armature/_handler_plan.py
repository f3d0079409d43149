"""Handler plans: a handler's signature is inspected once, at startup, into an ASGI endpoint.

The plan decides where every parameter comes from (path, query, header, cookie, JSON body, the
request, or a resolver plugged in by the dependency injection layer), builds the pydantic
``TypeAdapter`` for each one that needs validating, and picks how the return value becomes bytes.
It then generates the source of one ``async def endpoint(scope, receive, send)`` that does exactly
those steps and nothing else.

PERF: generated code (as Falcon does for its router) avoids a per-parameter loop, per-request
dicts of binders and ``**kwargs`` building: a handler with no parameters runs a dozen lines; one
with a query parameter adds a dict lookup and a conversion.
"""

from __future__ import annotations

import contextvars
import dataclasses
import dis
import enum
import functools
import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import PurePath
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from uuid import UUID

import anyio
import anyio.to_thread
import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError, create_model
from pydantic.fields import FieldInfo

from armature.datastructures import parse_query
from armature.exceptions import (
    BadRequest,
    HTTPException,
    InternalServerError,
    RequestValidationError,
    UnsupportedMediaType,
)
from armature.limits import check_json_depth
from armature.params import UNSET, Body, Header, Param
from armature.requests import ClientDisconnect, Request, is_json_content_type, read_body
from armature.responses import JSONResponse, Response, json_default
from armature.types import ASGIApp, Receive, Scope, Send

__all__ = ["HandlerPlan", "ParamSpec", "ParamResolver", "plan_handler"]

_SCALAR_TYPES: tuple[type, ...] = (
    str,
    int,
    float,
    bool,
    bytes,
    Decimal,
    UUID,
    date,
    datetime,
    time,
    timedelta,
    enum.Enum,
    PurePath,
)
_SEQUENCE_ORIGINS = (list, set, frozenset, tuple, Sequence, typing.Sequence)
_UNION_ORIGINS = (Union, types.UnionType)
NoneType = type(None)
# NOTE: the declaring scope's locals while a route is planned, so dependency functions planned on
# the way (Depends) resolve their postponed annotations with them too.
_LOCALNS: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "armature_localns", default=None
)

CT_JSON = b"application/json"
CT_TEXT = b"text/plain; charset=utf-8"
CT_OCTET = b"application/octet-stream"


def _strip_annotated(tp: Any) -> tuple[Any, list[Any]]:
    if get_origin(tp) is Annotated:
        base, *extras = get_args(tp)
        return base, extras
    return tp, []


def is_scalar_type(tp: Any) -> bool:
    """Tell whether ``tp`` is a simple type read from a single string (query, header, cookie)."""
    tp, _ = _strip_annotated(tp)
    if tp is Any or tp is inspect.Parameter.empty:
        return True
    origin = get_origin(tp)
    if origin in _UNION_ORIGINS:
        return all(arg is NoneType or is_scalar_type(arg) for arg in get_args(tp))
    if origin is Literal:
        return True
    return isinstance(tp, type) and issubclass(tp, _SCALAR_TYPES)


def is_sequence_type(tp: Any) -> bool:
    """Tell whether ``tp`` is a sequence of scalars (``list[int]`` from repeated query keys)."""
    tp, _ = _strip_annotated(tp)
    origin = get_origin(tp)
    if origin in _UNION_ORIGINS:
        args = [a for a in get_args(tp) if a is not NoneType]
        return len(args) == 1 and is_sequence_type(args[0])
    if origin in _SEQUENCE_ORIGINS or tp in (list, set, tuple):
        return all(is_scalar_type(a) for a in get_args(tp) if a is not Ellipsis)
    return False


def _is_optional(tp: Any) -> bool:
    tp, _ = _strip_annotated(tp)
    return get_origin(tp) in _UNION_ORIGINS and NoneType in get_args(tp)


def _convert_errors(exc: ValidationError, prefix: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [
        {"loc": [*prefix, *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


def _add_errors(
    errors: list[dict[str, Any]] | None, new: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    if errors is None:
        return new
    errors.extend(new)
    return errors


def _missing(errors: list[dict[str, Any]] | None, loc: tuple[str, ...]) -> list[dict[str, Any]]:
    return _add_errors(errors, [{"loc": list(loc), "msg": "Field required", "type": "missing"}])


def _fast_int(value: str) -> int:
    # PERF: int() directly, but only on plain ASCII digits, so '1_000' or ' 7' go to pydantic.
    if value.isascii() and (value.isdigit() or (value[:1] == "-" and value[1:].isdigit())):
        return int(value)
    raise ValueError(value)


def _fast_float(value: str) -> float:
    if value.isascii() and value and value.strip() == value and "_" not in value:
        result = float(value)
        if result == result and result not in (float("inf"), float("-inf")):
            return result
    raise ValueError(value)


def _fast_str(value: str) -> str:
    return value


_FAST_CONVERTERS: dict[Any, Callable[[str], Any]] = {
    str: _fast_str,
    int: _fast_int,
    float: _fast_float,
}


def _slow(
    adapter: TypeAdapter[Any],
    value: Any,
    loc: tuple[str, ...],
    errors: list[dict[str, Any]] | None,
) -> tuple[Any, list[dict[str, Any]] | None]:
    try:
        return adapter.validate_python(value), errors
    except ValidationError as exc:
        return None, _add_errors(errors, _convert_errors(exc, loc))


def _parse_last(query_string: bytes) -> dict[str, str]:
    return dict(parse_query(query_string))


def _parse_multi(query_string: bytes) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in parse_query(query_string):
        out.setdefault(name, []).append(value)
    return out


def _cookies(scope: Scope) -> dict[str, str]:
    return Request(scope).cookies


def _headers_last(scope: Scope) -> dict[bytes, bytes]:
    return dict(scope["headers"])


async def _read_form(scope: Scope, receive: Receive, limits: Any) -> Any:
    from armature.forms import parse_form

    return await parse_form(scope, receive, limits)


async def read_json_body(scope: Scope, receive: Receive, limit: int, depth: int = 64) -> bytes:
    """Check the content type is JSON, then read the body within ``limit`` (413 while streaming).

    Args:
        scope: The http scope.
        receive: The receive callable.
        limit: The maximum body size.

    Returns:
        The raw body (possibly empty).
    """
    raw_headers = scope["headers"]
    content_type = None
    for name, value in raw_headers:
        if name == b"content-type":
            content_type = value
            break
    body = await read_body(receive, raw_headers, limit)
    if body and not is_json_content_type(content_type):
        raise UnsupportedMediaType("Expected a JSON body (Content-Type: application/json)")
    # PERF: check_json_depth returns after two bytes.count() calls for ordinary bodies.
    check_json_depth(body, depth)
    return body


def _body_errors(
    exc: ValidationError, prefix: tuple[str, ...], errors: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    converted = []
    # PERF: one pass over the errors: detect malformed JSON and convert at the same time.
    for err in exc.errors(include_url=False, include_input=False):
        if err["type"] == "json_invalid":
            raise BadRequest(f"Malformed JSON: {err['msg']}")
        converted.append({"loc": [*prefix, *err["loc"]], "msg": err["msg"], "type": err["type"]})
    return _add_errors(errors, converted)


def _to_response(result: Any, status: int) -> Response:
    """Turn any other handler result into a Response (the slow, rare path)."""
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(b"", status)
    if isinstance(result, BaseModel):
        return Response(
            result.__pydantic_serializer__.to_json(result), status, media_type="application/json"
        )
    if isinstance(result, bytes | bytearray | memoryview):
        return Response(bytes(result), status, media_type="application/octet-stream")
    if isinstance(result, str):
        return Response(result, status, media_type="text/plain")
    return JSONResponse(result, status)


@dataclass(slots=True)
class ParamSpec:
    """How one handler parameter is bound (kept for OpenAPI and the route listing)."""

    name: str
    source: str
    wire_name: str
    annotation: Any
    default: Any = UNSET
    marker: Param | None = None
    multi: bool = False
    adapter: TypeAdapter[Any] | None = None
    resolver: Any = None
    upload: bool = False

    @property
    def required(self) -> bool:
        """True when the parameter has no default."""
        return self.default is UNSET


ParamResolver = Callable[["ParamSpec", Any, frozenset[str]], Any]
"""A hook: given a parameter (its spec, its bare type and the route's path parameter names),
return a binder or None.

A binder is called as ``bind(scope, receive)`` and returns the value; it is awaited unless it has
``is_async = False``. A binder with ``request_scoped = True`` makes the endpoint await its
``after_response(scope)`` hook once the response is sent (request-scoped cleanup). The dependency
injection layer plugs in here.
"""


@dataclass(slots=True)
class HandlerPlan:
    """What was decided for one handler, and the generated endpoint."""

    handler: Callable[..., Any]
    params: list[ParamSpec]
    status_code: int
    response_adapter: TypeAdapter[Any] | None
    response_model: Any
    endpoint: ASGIApp
    source: str
    body_model: Any = None
    extras: dict[str, Any] = field(default_factory=dict)


def _classify(
    name: str,
    annotation: Any,
    default: Any,
    path_names: frozenset[str],
    resolvers: Sequence[ParamResolver],
) -> ParamSpec:
    base, extras = _strip_annotated(annotation)
    marker: Param | None = next((e for e in extras if isinstance(e, Param)), None)
    if marker is None and isinstance(default, Param):
        marker = default
    if marker is not None:
        default = (
            marker.default
            if marker.default is not UNSET
            else (UNSET if isinstance(default, Param) else default)
        )
    if default is inspect.Parameter.empty:
        default = UNSET
    field_infos = [e for e in extras if isinstance(e, FieldInfo)]
    if marker is None and not field_infos and inspect.isclass(base) and issubclass(base, Request):
        return ParamSpec(name, "request", name, base)
    if marker is None:
        for resolver in resolvers:
            binder = resolver(
                ParamSpec(name, "custom", name, annotation, default), base, path_names
            )
            if binder is not None:
                return ParamSpec(name, "custom", name, annotation, default, resolver=binder)
    constraints = dict(marker.constraints) if marker is not None else {}
    adapted: Any = base
    if constraints:
        from pydantic import Field

        adapted = Annotated[base, Field(**constraints)]
    elif field_infos:
        adapted = Annotated[(base, *field_infos)]
    upload, upload_list = _upload_kind(base)
    if marker is not None:
        source = marker.source
    elif upload:
        source = "form"
    elif name in path_names:
        source = "path"
    elif is_scalar_type(base) or is_sequence_type(base):
        source = "query"
    else:
        source = "body"
    wire = (marker.alias if marker is not None and marker.alias else None) or name
    if source == "header" and marker is not None and marker.alias is None:
        assert isinstance(marker, Header)
        wire = name.replace("_", "-") if marker.convert_underscores else name
    if source == "header":
        wire = wire.lower()
    if source == "path" and name not in path_names and wire not in path_names:
        raise TypeError(f"parameter {name!r} is marked Path() but the route path has no {{{wire}}}")
    multi = (source in ("query", "header", "form") and is_sequence_type(base)) or upload_list
    spec = ParamSpec(name, source, wire, adapted, default, marker, multi, upload=upload)
    if source == "query" and inspect.isclass(base) and issubclass(base, BaseModel):
        spec.source = "query_model"
    if source == "form" and inspect.isclass(base) and issubclass(base, BaseModel):
        spec.source = "form_model"
    if upload:
        spec.adapter = None
    elif source != "path" or adapted is not base or base not in (str, Any):
        spec.adapter = TypeAdapter(adapted)
    return spec


def _upload_kind(tp: Any) -> tuple[bool, bool]:
    """(is an upload, is a list of uploads) for ``UploadFile``, ``UploadFile | None``, lists."""
    from armature.forms import UploadFile

    tp, _ = _strip_annotated(tp)
    origin = get_origin(tp)
    if origin in _UNION_ORIGINS:
        args = [a for a in get_args(tp) if a is not NoneType]
        return _upload_kind(args[0]) if len(args) == 1 else (False, False)
    if origin in _SEQUENCE_ORIGINS:
        items = get_args(tp)
        return (True, True) if items and _upload_kind(items[0]) == (True, False) else (False, False)
    return (inspect.isclass(tp) and issubclass(tp, UploadFile), False)


class _Writer:
    __slots__ = ("lines", "offset")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.offset = 0

    def __call__(self, indent: int, line: str) -> None:
        self.lines.append("    " * (indent + self.offset) + line)


def plan_handler(
    handler: Callable[..., Any],
    *,
    path_names: frozenset[str] = frozenset(),
    path_converter_types: dict[str, Any] | None = None,
    status_code: int = 200,
    response_model: Any = UNSET,
    response_class: type[Response] | None = None,
    max_body_size: int,
    on_error: Callable[[BaseException, Scope, Receive, Send], Awaitable[None]],
    resolvers: Sequence[ParamResolver] = (),
    after_response: Callable[[Scope], Awaitable[None]] | None = None,
    app: Any = None,
    extra_hints: dict[str, Any] | None = None,
    localns: dict[str, Any] | None = None,
    limits: Any = None,
    route: Any = None,
    cancel_on_disconnect: bool = True,
    guards: Callable[[Any], Awaitable[None]] | None = None,
    interceptors: Callable[[Any, Any], Awaitable[Any]] | None = None,
    filters: Callable[[BaseException, Any], Awaitable[Any]] | None = None,
    context_factory: Callable[[Scope, Receive], Any] | None = None,
) -> HandlerPlan:
    """Inspect ``handler`` and generate its endpoint.

    Args:
        handler: The user's function (``async def``, or ``def`` run in a worker thread).
        path_names: Parameter names the route path declares.
        path_converter_types: Python type each path converter produces (to skip re-validation).
        status_code: The success status.
        response_model: Filters and serializes the result (defaults to the return annotation when
            that is a pydantic model or contains one; ``None`` disables it).
        response_class: Wraps non-Response results in this class instead of the built-in rendering.
        max_body_size: The body limit for this route.
        on_error: Turns an exception raised while binding or handling into a response.
        resolvers: Hooks for parameters no built-in source claims (dependency injection).
        after_response: Awaited after the response is sent when a binder is request-scoped.
        app: The application, given to ``Request`` objects the handler asks for.
        extra_hints: Annotations that override the handler's (e.g. ``self`` of a controller).
        localns: Extra names for resolving postponed annotations (the declaring scope's locals).
        limits: The route's ``armature.Limits`` (forms, JSON depth).
        route: The route declaration, published as ``scope["route"]`` for outer middleware.
        cancel_on_disconnect: Cancel the handler when the client disconnects (only armed for
            async handlers that can suspend and do not read the request channel themselves).
        guards: The composed guards (``await guards(context)`` raises to refuse), if any.
        interceptors: The composed interceptors (``await interceptors(context, inner)``), if any.
        filters: The composed exception filters (``await filters(exc, context)``), if any.
        context_factory: Builds the execution context; required when any stage is given.

    Returns:
        The plan, whose ``endpoint`` is an ASGI callable.
    """
    token = _LOCALNS.set(localns)
    try:
        specs, positional, hints = _inspect(
            handler, path_names, path_converter_types or {}, resolvers, extra_hints
        )
    finally:
        _LOCALNS.reset(token)
    if not any(getattr(s.resolver, "request_scoped", False) for s in specs):
        after_response = None

    return_hint = hints.get("return", inspect.Parameter.empty)
    if response_model is UNSET:
        response_model = _model_from_return(return_hint)
    response_adapter = TypeAdapter(response_model) if response_model not in (None, UNSET) else None

    ns: dict[str, Any] = {
        "handler": handler,
        "on_error": on_error,
        "after_response": after_response,
        "RequestValidationError": RequestValidationError,
        "HTTPException": HTTPException,
        "ValidationError": ValidationError,
        "Request": Request,
        "dumps": orjson.dumps,
        "NON_STR_KEYS": orjson.OPT_NON_STR_KEYS,
        "json_default": json_default,
        "to_response": _to_response,
        "Response": Response,
        "missing": _missing,
        "slow": _slow,
        "parse_last": _parse_last,
        "parse_multi": _parse_multi,
        "cookies_of": _cookies,
        "headers_of": _headers_last,
        "read_json_body": read_json_body,
        "body_errors": _body_errors,
        "convert_errors": _convert_errors,
        "add_errors": _add_errors,
        "run_sync": anyio.to_thread.run_sync,
        "partial": functools.partial,
        "CT_JSON": CT_JSON,
        "CT_TEXT": CT_TEXT,
        "LIMIT": max_body_size,
        "STATUS": status_code,
        "EMPTY": {},
        "RESPONSE_CLASS": response_class,
        "ResponseError": InternalServerError,
        "APP": app,
    }
    w = _Writer()
    uses_form = any(s.source in ("form", "form_model") for s in specs)
    ns["FORM_LIMITS"] = limits
    ns["read_form"] = _read_form
    ns["DEPTH"] = limits.max_json_depth if limits is not None else 64
    ns["GUARDS"] = guards
    ns["INTERCEPTORS"] = interceptors
    ns["FILTERS"] = filters
    ns["CONTEXT"] = context_factory
    ns["ROUTE"] = route
    w(0, "async def endpoint(scope, receive, send):")
    if route is not None:
        # NOTE: outer middleware (compression opt-out, access logs) learns the matched route here.
        w(1, 'scope["route"] = ROUTE')
    w(1, "response = None")
    if uses_form:
        # NOTE: uploads hold temporary files: the form is closed once the response is sent.
        w(1, "form = None")
    if context_factory is not None:
        w(1, "ctx = CONTEXT(scope, receive)")
    w(1, "try:")
    if guards is not None:
        w(2, "await GUARDS(ctx)")
    if interceptors is not None:
        # NOTE: binding and the handler call run inside the interceptors (they may short-circuit
        # before any parameter is read), so they move into a nested function.
        w(2, "async def inner():")
        w.offset = 1
    needs_errors = any(s.source not in ("request", "custom") for s in specs)
    if needs_errors:
        w(2, "errors = None")
    body_model = _emit_bindings(w, ns, specs)
    if needs_errors and interceptors is not None:
        w(2, "if errors is not None:")
        w(3, "raise RequestValidationError(errors)")
    elif needs_errors:
        # PERF: hand the error to on_error directly; raising and catching it costs a microsecond.
        w(2, "if errors is not None:")
        w(3, "await on_error(RequestValidationError(errors), scope, receive, send)")
        if after_response is not None:
            w(3, "await after_response(scope)")
        w(3, "return")
    args = [f"p_{i}" for i, s in enumerate(specs) if s.name in positional]
    args += [f"{s.name}=p_{i}" for i, s in enumerate(specs) if s.name not in positional]
    call = f"handler({', '.join(args)})"
    is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004
    )
    watch = (
        cancel_on_disconnect
        and is_async
        and can_suspend(handler)
        and not any(s.source == "request" for s in specs)
    )
    if watch:
        # NOTE: a disconnect watcher costs a task group, so it is armed only where it can matter:
        # handlers that can suspend (a handler without await finishes before any disconnect).
        ns["run_watched"] = run_watched
        w(2, f"result = await run_watched({call}, receive)")
    elif is_async:
        w(2, f"result = await {call}")
    else:
        w(2, f"result = await run_sync(partial({call.replace('handler(', 'handler, ', 1)})")
    if interceptors is not None:
        w(2, "return result")
        w.offset = 0
        w(2, "result = await INTERCEPTORS(ctx, inner)")
    _emit_render(w, ns, status_code, response_adapter, response_model, response_class, return_hint)
    w(1, "except Exception as exc:")
    if filters is not None:
        w(2, "response = await FILTERS(exc, ctx)")
        w(2, "if response is None:")
        w(3, "await on_error(exc, scope, receive, send)")
        if after_response is not None:
            w(3, "await after_response(scope)")
        w(3, "return")
    else:
        w(2, "await on_error(exc, scope, receive, send)")
        if after_response is not None:
            w(2, "await after_response(scope)")
        if uses_form:
            w(2, "if form is not None:")
            w(3, "await form.close()")
        w(2, "return")
    cleanup = after_response is not None or uses_form
    if cleanup:
        # NOTE: request-scoped cleanup (and closing uploads) must run even when sending fails,
        # e.g. a streaming body raising or the client gone: otherwise a pooled connection leaks.
        w(1, "try:")
        w.offset = 1
    w(1, "if response is not None:")
    w(2, "await response(scope, receive, send)")
    if status_code < 200 or status_code in (204, 304):
        w(1, "else:")
        w(2, 'await send({"type": "http.response.start", "status": STATUS, "headers": []})')
        w(2, 'await send({"type": "http.response.body", "body": b""})')
    else:
        w(1, "else:")
        w(2, "await send({")
        w(3, '"type": "http.response.start", "status": STATUS,')
        w(3, '"headers": [(b"content-type", ctype), (b"content-length", b"%d" % len(body))],')
        w(2, "})")
        w(2, 'await send({"type": "http.response.body", "body": body})')
    if cleanup:
        w.offset = 0
        w(1, "finally:")
        if after_response is not None:
            w(2, "await after_response(scope)")
        if uses_form:
            w(2, "if form is not None:")
            w(3, "await form.close()")
    source = "\n".join(w.lines)
    filename = f"<armature endpoint {getattr(handler, '__qualname__', handler)!s}>"
    exec(compile(source, filename, "exec"), ns)
    endpoint = ns["endpoint"]
    endpoint.__qualname__ = f"endpoint[{getattr(handler, '__qualname__', repr(handler))}]"
    return HandlerPlan(
        handler=handler,
        params=specs,
        status_code=status_code,
        response_adapter=response_adapter,
        response_model=response_model,
        endpoint=endpoint,
        source=source,
        body_model=body_model,
    )


def _inspect(
    func: Callable[..., Any],
    path_names: frozenset[str],
    converter_types: dict[str, Any],
    resolvers: Sequence[ParamResolver],
    extra_hints: dict[str, Any] | None,
) -> tuple[list[ParamSpec], list[str], dict[str, Any]]:
    signature = inspect.signature(func)
    try:
        hints = typing.get_type_hints(func, localns=_LOCALNS.get(), include_extras=True)
    except Exception as exc:
        raise TypeError(f"cannot resolve type hints of {func!r}: {exc}") from exc
    if extra_hints:
        hints.update(extra_hints)
    specs: list[ParamSpec] = []
    positional: list[str] = []
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        annotation = hints.get(name, parameter.annotation)
        if annotation is inspect.Parameter.empty:
            annotation = converter_types.get(name, str)
        spec = _classify(name, annotation, parameter.default, path_names, resolvers)
        if spec.source == "path" and spec.adapter is not None:
            produced = converter_types.get(spec.wire_name)
            if produced is not None and spec.annotation is produced:
                spec.adapter = None
        specs.append(spec)
        if parameter.kind is parameter.POSITIONAL_ONLY:
            positional.append(name)
    return specs, positional, hints


def plan_call(
    func: Callable[..., Any],
    *,
    path_names: frozenset[str] = frozenset(),
    resolvers: Sequence[ParamResolver] = (),
    max_body_size: int,
    app: Any = None,
    localns: dict[str, Any] | None = None,
    extra_hints: dict[str, Any] | None = None,
) -> tuple[Callable[[Scope, Receive], Awaitable[dict[str, Any]]], list[ParamSpec]]:
    """Plan only the binding of ``func``'s parameters (for dependency functions).

    Args:
        func: A function whose parameters come from the request or from resolvers.
        path_names: The route's path parameter names.
        resolvers: Hooks for parameters no built-in source claims.
        max_body_size: The body limit.
        app: The application, given to ``Request`` objects.
        localns: Extra names for resolving postponed annotations.
        extra_hints: Annotations that override the function's (``self`` of a controller).

    Returns:
        ``(bind, specs)``: ``await bind(scope, receive)`` returns the keyword arguments, or raises
        ``RequestValidationError``.
    """
    token = _LOCALNS.set(localns) if localns is not None else None
    try:
        specs, _, _ = _inspect(func, path_names, {}, resolvers, extra_hints)
    finally:
        if token is not None:
            _LOCALNS.reset(token)
    ns: dict[str, Any] = {
        "RequestValidationError": RequestValidationError,
        "ValidationError": ValidationError,
        "Request": Request,
        "missing": _missing,
        "slow": _slow,
        "parse_last": _parse_last,
        "parse_multi": _parse_multi,
        "cookies_of": _cookies,
        "headers_of": _headers_last,
        "read_json_body": read_json_body,
        "body_errors": _body_errors,
        "convert_errors": _convert_errors,
        "add_errors": _add_errors,
        "EMPTY": {},
        "LIMIT": max_body_size,
        "DEPTH": 64,
        "APP": app,
    }
    if any(s.source in ("form", "form_model") for s in specs):
        raise TypeError("form parameters belong on the handler, not in a dependency function")
    w = _Writer()
    w(0, "async def bind(scope, receive):")
    w(1, "if True:")
    w(2, "errors = None")
    _emit_bindings(w, ns, specs)
    w(2, "if errors is not None:")
    w(3, "raise RequestValidationError(errors)")
    w(2, "return {" + ", ".join(f"{s.name!r}: p_{i}" for i, s in enumerate(specs)) + "}")
    source = "\n".join(w.lines)
    exec(compile(source, f"<armature binder {getattr(func, '__qualname__', func)!s}>", "exec"), ns)
    return ns["bind"], specs


_SUSPENDING_OPS = frozenset(
    {"GET_AWAITABLE", "GET_AITER", "GET_ANEXT", "BEFORE_ASYNC_WITH", "YIELD_VALUE", "SEND"}
)


def can_suspend(func: Callable[..., Any]) -> bool:
    """Whether an ``async def`` can suspend (its own code awaits or iterates asynchronously)."""
    code = getattr(inspect.unwrap(func), "__code__", None)
    if code is None:
        return True
    return any(instr.opname in _SUSPENDING_OPS for instr in dis.get_instructions(code))


async def run_watched(coro: Awaitable[Any], receive: Receive) -> Any:
    """Await ``coro`` while watching for ``http.disconnect``; cancel it when the client leaves.

    Raises:
        ClientDisconnect: The client went away and the handler was cancelled.
    """
    disconnected = False
    result: Any = None
    failure: Exception | None = None
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            nonlocal disconnected
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    disconnected = True
                    group.cancel_scope.cancel()
                    return

        group.start_soon(watch)
        try:
            result = await coro
        except Exception as exc:
            # NOTE: raised out of the task group it would arrive wrapped in an ExceptionGroup;
            # keep it, and raise it as itself below, so HTTPExceptions keep their status.
            failure = exc
        finally:
            group.cancel_scope.cancel()
    if disconnected:
        raise ClientDisconnect()
    if failure is not None:
        raise failure
    return result


def _model_from_return(return_hint: Any) -> Any:
    """Use the return annotation as the response model when it involves a pydantic model."""
    if return_hint is inspect.Parameter.empty or return_hint is None:
        return None
    base, _ = _strip_annotated(return_hint)
    if inspect.isclass(base) and issubclass(base, Response):
        return None
    if _mentions_model(base):
        return return_hint
    return None


def _mentions_model(tp: Any) -> bool:
    if inspect.isclass(tp):
        if issubclass(tp, Response):
            return False
        return issubclass(tp, BaseModel) or dataclasses.is_dataclass(tp)
    return any(_mentions_model(arg) for arg in get_args(tp))


def _emit_bindings(w: _Writer, ns: dict[str, Any], specs: list[ParamSpec]) -> Any:
    sources = {s.source for s in specs}
    if "path" in sources:
        w(2, 'pp = scope["path_params"]')
    if sources & {"query", "query_model"}:
        w(2, 'qs = scope["query_string"]')
        if any(s.multi for s in specs if s.source == "query") or "query_model" in sources:
            w(2, "query = parse_multi(qs) if qs else EMPTY")
            multi_query = True
        else:
            w(2, "query = parse_last(qs) if qs else EMPTY")
            multi_query = False
    if sources & {"form", "form_model"}:
        w(2, "form = await read_form(scope, receive, FORM_LIMITS)")
    if "header" in sources:
        w(2, "hdrs = headers_of(scope)")
    if "cookie" in sources:
        w(2, "cks = cookies_of(scope)")
    request_index = next((i for i, s in enumerate(specs) if s.source == "request"), None)
    if request_index is not None:
        w(2, f"p_{request_index} = Request(scope, receive, LIMIT, APP)")
        if sources & {"form", "form_model"}:
            w(2, f"p_{request_index}._form = form")
            w(2, f"p_{request_index}._stream_consumed = True")
    body_specs = [(i, s) for i, s in enumerate(specs) if s.source == "body"]
    for i, spec in enumerate(specs):
        ns[f"D_{i}"] = spec.default
        ns[f"A_{i}"] = spec.adapter
        loc = (
            "query" if spec.source == "query_model" else spec.source,
            spec.wire_name,
        )
        ns[f"L_{i}"] = loc
        if spec.source == "path":
            w(2, f"p_{i} = pp[{spec.wire_name!r}]")
            if spec.adapter is not None:
                w(2, f"p_{i}, errors = slow(A_{i}, p_{i}, L_{i}, errors)")
        elif spec.source in ("query", "header", "cookie"):
            _emit_scalar(w, ns, i, spec, multi_query if spec.source == "query" else False)
        elif spec.source == "query_model":
            model = _strip_annotated(spec.annotation)[0]
            list_fields = {
                (f.alias or n)
                for n, f in model.model_fields.items()
                if is_sequence_type(f.annotation)
            }
            ns[f"LF_{i}"] = frozenset(list_fields)
            w(2, f"qd = {{k: (v if k in LF_{i} else v[-1]) for k, v in query.items()}}")
            w(2, "try:")
            w(3, f"p_{i} = A_{i}.validate_python(qd)")
            w(2, "except ValidationError as exc:")
            w(3, f"p_{i} = None")
            w(3, 'errors = add_errors(errors, convert_errors(exc, ("query",)))')
        elif spec.source in ("form", "form_model"):
            _emit_form(w, ns, i, spec)
        elif spec.source == "custom":
            ns[f"R_{i}"] = spec.resolver
            if getattr(spec.resolver, "is_async", True):
                w(2, f"p_{i} = await R_{i}(scope, receive)")
            else:
                # PERF: singletons resolve synchronously: one call, no coroutine.
                w(2, f"p_{i} = R_{i}(scope, receive)")
    body_model: Any = None
    if body_specs:
        w(2, "raw = await read_json_body(scope, receive, LIMIT, DEPTH)")
        if request_index is not None:
            w(2, f"p_{request_index}._body = raw")
            w(2, f"p_{request_index}._stream_consumed = True")
        embed = len(body_specs) > 1 or any(
            isinstance(s.marker, Body) and s.marker.embed for _, s in body_specs
        )
        if not embed:
            i, spec = body_specs[0]
            body_model = spec.annotation
            w(2, "if raw:")
            w(3, "try:")
            w(4, f"p_{i} = A_{i}.validate_json(raw)")
            w(3, "except ValidationError as exc:")
            w(4, f"p_{i} = None")
            w(4, 'errors = body_errors(exc, ("body",), errors)')
            w(2, "else:")
            if spec.required:
                w(3, f"p_{i} = None")
                w(3, 'errors = missing(errors, ("body",))')
            else:
                w(3, f"p_{i} = D_{i}")
        else:
            fields: dict[str, Any] = {}
            for _, spec in body_specs:
                default = ... if spec.required else spec.default
                fields[spec.name] = (
                    spec.annotation,
                    FieldInfo(default=default, alias=spec.wire_name),
                )
            body_model = create_model("EmbeddedBody", **fields)
            ns["A_body"] = TypeAdapter(body_model)
            w(2, "if raw:")
            w(3, "try:")
            w(4, "embedded = A_body.validate_json(raw)")
            w(3, "except ValidationError as exc:")
            w(4, "embedded = None")
            w(4, 'errors = body_errors(exc, ("body",), errors)')
            w(2, "else:")
            w(3, "embedded = None")
            if any(s.required for _, s in body_specs):
                w(3, 'errors = missing(errors, ("body",))')
            for i, spec in body_specs:
                w(2, f"p_{i} = getattr(embedded, {spec.name!r}, D_{i})")
    return body_model


def _form_value(value: Any, loc: tuple[str, ...], errors: Any) -> tuple[Any, Any]:
    from armature.forms import UploadFile

    if isinstance(value, UploadFile):
        error = {
            "loc": list(loc),
            "msg": "Expected a text field, got a file",
            "type": "string_type",
        }
        return None, _add_errors(errors, [error])
    return value, errors


def _emit_form(w: _Writer, ns: dict[str, Any], i: int, spec: ParamSpec) -> None:
    from armature.forms import UploadFile

    ns["UploadFile"] = UploadFile
    ns["form_value"] = _form_value
    key = repr(spec.wire_name)
    required = spec.required and not _is_optional(spec.annotation)
    if spec.source == "form_model":
        model = _strip_annotated(spec.annotation)[0]
        ns[f"LF_{i}"] = frozenset(
            (f.alias or n) for n, f in model.model_fields.items() if is_sequence_type(f.annotation)
        )
        w(2, f"fd = {{k: (form.getlist(k) if k in LF_{i} else form[k]) for k in form}}")
        w(2, "try:")
        w(3, f"p_{i} = A_{i}.validate_python(fd)")
        w(2, "except ValidationError as exc:")
        w(3, f"p_{i} = None")
        w(3, 'errors = add_errors(errors, convert_errors(exc, ("form",)))')
        return
    if spec.upload and spec.multi:
        w(2, f"p_{i} = [f for f in form.getlist({key}) if isinstance(f, UploadFile)]")
        if required:
            w(2, f"if not p_{i}:")
            w(3, f"errors = missing(errors, L_{i})")
        return
    if spec.upload:
        w(2, f"v = form.get({key})")
        w(2, "if isinstance(v, UploadFile):")
        w(3, f"p_{i} = v")
        w(2, "elif v is None:")
        if required:
            w(3, f"p_{i} = None")
            w(3, f"errors = missing(errors, L_{i})")
        else:
            w(3, f"p_{i} = D_{i}")
        w(2, "else:")
        w(3, f"p_{i} = None")
        w(
            3,
            f'errors = add_errors(errors, [{{"loc": list(L_{i}), '
            '"msg": "Expected a file", "type": "file_type"}])',
        )
        return
    if spec.multi:
        w(2, f"v = [x for x in form.getlist({key}) if not isinstance(x, UploadFile)] or None")
    else:
        w(2, f"v = form.get({key})")
        w(2, "if v is not None:")
        w(3, f"v, errors = form_value(v, L_{i}, errors)")
    w(2, "if v is None:")
    if required:
        w(3, f"p_{i} = None")
        w(3, f"errors = missing(errors, L_{i})")
    elif spec.required:
        w(3, f"p_{i} = None")
    else:
        w(3, f"p_{i} = D_{i}")
    w(2, "else:")
    fast = _FAST_CONVERTERS.get(spec.annotation) if not spec.multi else None
    if fast is _fast_str:
        w(3, f"p_{i} = v")
    else:
        w(3, f"p_{i}, errors = slow(A_{i}, v, L_{i}, errors)")


def _emit_scalar(w: _Writer, ns: dict[str, Any], i: int, spec: ParamSpec, multi: bool) -> None:
    if spec.source == "query":
        container, key = "query", repr(spec.wire_name)
    elif spec.source == "header":
        container, key = "hdrs", repr(spec.wire_name.encode("latin-1"))
    else:
        container, key = "cks", repr(spec.wire_name)
    if spec.source == "header" and spec.multi:
        ns[f"HN_{i}"] = spec.wire_name.encode("latin-1")
        w(2, f'v = [hv.decode("latin-1") for hk, hv in scope["headers"] if hk == HN_{i}] or None')
    elif spec.source == "header":
        w(2, f"v = {container}.get({key})")
        w(2, "if v is not None:")
        w(3, 'v = v.decode("latin-1")')
    elif spec.source == "query" and multi and not spec.multi:
        w(2, f"v = {container}.get({key})")
        w(2, "if v is not None:")
        w(3, "v = v[-1]")
    else:
        w(2, f"v = {container}.get({key})")
    w(2, "if v is None:")
    if spec.required and not _is_optional(spec.annotation):
        w(3, f"p_{i} = None")
        w(3, f"errors = missing(errors, L_{i})")
    elif spec.required:
        w(3, f"p_{i} = None")
    else:
        w(3, f"p_{i} = D_{i}")
    w(2, "else:")
    fast = _FAST_CONVERTERS.get(spec.annotation) if not spec.multi else None
    if fast is _fast_str:
        w(3, f"p_{i} = v")
    elif fast is not None:
        ns[f"F_{i}"] = fast
        w(3, "try:")
        w(4, f"p_{i} = F_{i}(v)")
        w(3, "except ValueError:")
        w(4, f"p_{i}, errors = slow(A_{i}, v, L_{i}, errors)")
    else:
        w(3, f"p_{i}, errors = slow(A_{i}, v, L_{i}, errors)")


def _emit_dumps(w: _Writer) -> None:
    # NOTE: orjson refuses non-str dict keys (json.dumps accepts them); retry with the option
    # only when that happens, so the common case keeps orjson's fastest path.
    w(3, "try:")
    w(4, "body = dumps(result, default=json_default)")
    w(3, "except TypeError:")
    w(4, "body = dumps(result, default=json_default, option=NON_STR_KEYS)")
    w(3, "ctype = CT_JSON")


def _emit_render(
    w: _Writer,
    ns: dict[str, Any],
    status_code: int,
    response_adapter: TypeAdapter[Any] | None,
    response_model: Any,
    response_class: type[Response] | None,
    return_hint: Any,
) -> None:
    if status_code < 200 or status_code in (204, 304):
        w(2, "if isinstance(result, Response):")
        w(3, "response = result")
        return
    if response_class is not None:
        w(2, "if isinstance(result, Response):")
        w(3, "response = result")
        w(2, "else:")
        w(3, "response = RESPONSE_CLASS(result, status_code=STATUS)")
        return
    if response_adapter is not None:
        model = _strip_annotated(response_model)[0]
        ns["RA"] = response_adapter
        ns["RMODEL"] = model if inspect.isclass(model) else None
        w(2, "if isinstance(result, Response):")
        w(3, "response = result")
        w(2, "else:")
        w(3, "if type(result) is not RMODEL:")
        w(4, "try:")
        w(5, "result = RA.validate_python(result, from_attributes=True)")
        w(4, "except ValidationError as exc:")
        w(
            5,
            'raise ResponseError("The handler returned data that does not match its response'
            ' model") from exc',
        )
        w(3, "body = RA.dump_json(result)")
        w(3, "ctype = CT_JSON")
        return
    # PERF: the commonest results are tested first, by exact type, before any isinstance().
    base = _strip_annotated(return_hint)[0]
    if base is str:
        w(2, "if type(result) is str:")
        w(3, "body = result.encode()")
        w(3, "ctype = CT_TEXT")
        w(2, "elif type(result) is dict or type(result) is list:")
        _emit_dumps(w)
    else:
        w(2, "if type(result) is dict or type(result) is list:")
        _emit_dumps(w)
        w(2, "elif type(result) is str:")
        w(3, "body = result.encode()")
        w(3, "ctype = CT_TEXT")
    w(2, "else:")
    w(3, "response = to_response(result, STATUS)")
