"""Parameter binding: where each handler parameter comes from, and the code that binds it.

A parameter is classified once, at startup (path, query, header, cookie, JSON body, form field or
upload, the ``Request``, or a resolver plugged in by dependency injection), gets its pydantic
``TypeAdapter`` when it needs validating, and contributes a few lines to the generated endpoint
(see :mod:`armature._handler_plan`) or to a dependency's binder (:func:`plan_call`).
"""

from __future__ import annotations

import contextvars
import enum
import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import PurePath
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from uuid import UUID

from pydantic import BaseModel, TypeAdapter, ValidationError, create_model
from pydantic.fields import FieldInfo

from armature.connection import parse_cookies
from armature.datastructures import parse_query
from armature.exceptions import (
    BadRequest,
    RequestValidationError,
    UnsupportedMediaType,
)
from armature.forms import UploadFile, parse_form
from armature.limits import check_json_depth
from armature.params import UNSET, Body, Header, Param
from armature.requests import Request, is_json_content_type, read_body
from armature.types import Receive, Scope

__all__ = ["ParamResolver", "ParamSpec", "plan_call"]

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
    return parse_cookies(v.decode("latin-1") for k, v in scope["headers"] if k == b"cookie")


def _headers_last(scope: Scope) -> dict[bytes, bytes]:
    return dict(scope["headers"])


async def _read_form(scope: Scope, receive: Receive, limits: Any) -> Any:
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


def binding_namespace(max_body_size: int, app: Any) -> dict[str, Any]:
    """The names generated binding code refers to (shared by handler plans and dependencies)."""
    return {
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
        "read_form": _read_form,
        "body_errors": _body_errors,
        "convert_errors": _convert_errors,
        "add_errors": _add_errors,
        "EMPTY": {},
        "LIMIT": max_body_size,
        "DEPTH": 64,
        "FORM_LIMITS": None,
        "APP": app,
    }


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
    ns = binding_namespace(max_body_size, app)
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
    if isinstance(value, UploadFile):
        error = {
            "loc": list(loc),
            "msg": "Expected a text field, got a file",
            "type": "string_type",
        }
        return None, _add_errors(errors, [error])
    return value, errors


def _emit_form(w: _Writer, ns: dict[str, Any], i: int, spec: ParamSpec) -> None:
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
    _emit_value(w, ns, i, spec)


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
    _emit_value(w, ns, i, spec)


def _emit_value(w: _Writer, ns: dict[str, Any], i: int, spec: ParamSpec) -> None:
    """Emit: ``v`` missing -> default or a "missing" error; otherwise convert and validate it."""
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
