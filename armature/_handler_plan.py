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

import dataclasses
import dis
import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

import anyio
import anyio.to_thread
import orjson
from pydantic import BaseModel, TypeAdapter

from armature._param_binding import (
    _LOCALNS,
    ParamResolver,
    ParamSpec,
    _emit_bindings,
    _inspect,
    _read_form,
    _strip_annotated,
    _Writer,
    binding_namespace,
)
from armature.exceptions import (
    HTTPException,
    InternalServerError,
)
from armature.params import UNSET
from armature.requests import ClientDisconnect
from armature.responses import JSONResponse, Response, json_default
from armature.types import ASGIApp, Receive, Scope, Send

__all__ = ["HandlerPlan", "ParamSpec", "ParamResolver", "plan_handler"]

CT_JSON = b"application/json"
CT_TEXT = b"text/plain; charset=utf-8"
CT_OCTET = b"application/octet-stream"


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

    ns = binding_namespace(max_body_size, app)
    ns.update(
        {
            "handler": handler,
            "on_error": on_error,
            "after_response": after_response,
            "HTTPException": HTTPException,
            "dumps": orjson.dumps,
            "NON_STR_KEYS": orjson.OPT_NON_STR_KEYS,
            "json_default": json_default,
            "to_response": _to_response,
            "Response": Response,
            "run_sync": anyio.to_thread.run_sync,
            "partial": functools.partial,
            "CT_JSON": CT_JSON,
            "CT_TEXT": CT_TEXT,
            "STATUS": status_code,
            "RESPONSE_CLASS": response_class,
            "ResponseError": InternalServerError,
        }
    )
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
