"""``build_openapi``: an app's OpenAPI 3.1 document, from its compiled routes and handler plans.

Nothing here runs per request: the document is built once (lazily, by the served route, or by
``armature openapi``) from what startup compilation already decided for every handler.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, create_model
from pydantic.fields import FieldInfo

from armature._param_binding import ParamSpec, plan_call
from armature.exceptions import status_title
from armature.openapi._config import CONFIG_KEY, OpenAPIConfig
from armature.openapi._schemas import (
    PROBLEM_MEDIA_TYPE,
    REF_PREFIX,
    SchemaCollector,
    jsonable,
    problem_schemas,
)
from armature.params import UNSET, Body
from armature.requests import DEFAULT_MAX_BODY_SIZE
from armature.responses import Response

if TYPE_CHECKING:
    from armature.app import App, CompiledRoute

__all__ = ["OPENAPI_VERSION", "build_openapi", "openapi_path"]

OPENAPI_VERSION = "3.1.0"
# NOTE: the Path Item fields of OpenAPI 3.1, in the order the spec lists them; CONNECT has none.
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_LOCATIONS = {"path": "path", "query": "query", "header": "header", "cookie": "cookie"}
_REQUEST_SOURCES = frozenset({"path", "query", "query_model", "header", "cookie", "body"})
_UNIONS = (Union, types.UnionType)
_OP_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


class _ProblemRef:
    """Placeholder for a reference to one of the problem schemas (named once all are known)."""

    __slots__ = ("validation",)

    def __init__(self, validation: bool) -> None:
        self.validation = validation


def build_openapi(app: App, config: OpenAPIConfig | None = None) -> dict[str, Any]:
    """Build the OpenAPI 3.1 document of ``app`` (compiling the app first if needed).

    Args:
        app: The application.
        config: Metadata (title, version, servers, tags...); defaults to what
            :func:`~armature.openapi.setup_openapi` stored on the app, else app defaults.

    Returns:
        The document as plain JSON data; the same app always gives the same document.

    Raises:
        ValueError: Two guards declare different security schemes under the same name.
    """
    if config is None:
        stored = app.extra.get(CONFIG_KEY)
        config = stored if isinstance(stored, OpenAPIConfig) else OpenAPIConfig()
    app.compile()
    return _Builder(app, config).build()


def openapi_path(route: CompiledRoute) -> str:
    """The OpenAPI path template of a route: converters dropped (``/users/{uid}``).

    Args:
        route: A compiled route.

    Returns:
        The path template.
    """
    return "/" + "/".join(
        "{" + segment.name + "}" if segment.name else segment.text for segment in route.segments
    )


def _strip_annotated(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _is_optional(tp: Any) -> bool:
    tp = _strip_annotated(tp)
    return get_origin(tp) in _UNIONS and type(None) in get_args(tp)


def _docstring(func: Any) -> tuple[str | None, str | None]:
    """Summary (first line) and description (the rest) of a handler's own docstring."""
    if not isinstance(func, types.FunctionType | types.MethodType):
        # NOTE: a partial or a callable instance would give the docs of its class.
        func = getattr(func, "__func__", None)
        if func is None:
            return None, None
    doc = inspect.getdoc(func)
    if not doc:
        return None, None
    first, _, rest = doc.strip().partition("\n")
    return first.strip() or None, rest.strip() or None


def _return_hint(func: Any) -> Any:
    """The handler's resolved return annotation, or ``inspect.Parameter.empty``."""
    try:
        return typing.get_type_hints(func, include_extras=True).get(
            "return", inspect.Parameter.empty
        )
    except Exception:
        # NOTE: postponed annotations naming a function's locals cannot be resolved here; the
        # plan already resolved what mattered (parameters, pydantic response models).
        raw = getattr(func, "__annotations__", {}).get("return", inspect.Parameter.empty)
        return inspect.Parameter.empty if isinstance(raw, str) else raw


def _renders_as_json(tp: Any) -> bool:
    """Whether the default renderer turns every value of ``tp`` into JSON (str is text, etc.)."""
    base = _strip_annotated(tp)
    members = get_args(base) if get_origin(base) in _UNIONS else (base,)
    for member in members:
        member = _strip_annotated(member)
        if member in (str, bytes, bytearray, memoryview, Any, inspect.Parameter.empty):
            return False
        if member is None or member is type(None):
            continue
        if inspect.isclass(member) and issubclass(member, str | bytes | Response):
            return False
    return not all(m is None or m is type(None) for m in members)


def _operation_id(name: str) -> str:
    return _OP_ID_UNSAFE.sub("_", name).strip("_") or "operation"


def _is_json(media_type: str) -> bool:
    media = media_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class _Builder:
    """One document build: collects schemas, operation ids, tags and security schemes."""

    def __init__(self, app: App, config: OpenAPIConfig) -> None:
        self.app = app
        self.config = config
        self.schemas = SchemaCollector()
        self.security_schemes: dict[str, dict[str, Any]] = {}
        self.scheme_owners: dict[str, Any] = {}
        self.operation_ids: set[str] = set()
        self.tags: set[str] = set()

    # -- document ----------------------------------------------------------------------------

    def build(self) -> dict[str, Any]:
        app, config = self.app, self.config
        routes = [r for r in app.compiled_routes if r.flat.route.include_in_schema]
        order = {method: index for index, method in enumerate(_METHODS)}
        entries = sorted(
            (
                (openapi_path(route), method.lower(), route)
                for route in routes
                for method in route.methods
                if method.lower() in order
            ),
            key=lambda entry: (entry[0], order[entry[1]]),
        )
        paths: dict[str, dict[str, Any]] = {}
        route_ops: dict[int, list[tuple[str, str]]] = {}
        for path, method, route in entries:
            item = paths.setdefault(path, {})
            if method in item:
                continue  # NOTE: two routes that differ only by converter share one template.
            route_ops.setdefault(id(route), []).append((path, method))
            item[method] = {}
        for route in routes:
            placed = route_ops.get(id(route))
            if placed:
                self._fill(route, [(m, paths[p][m]) for p, m in placed])
        document: dict[str, Any] = {
            "openapi": OPENAPI_VERSION,
            "info": self._info(),
        }
        if config.servers is not None:
            document["servers"] = [dict(server) for server in config.servers]
        document["paths"] = paths
        resolved: dict[str, Any] = self.schemas.resolve(document)
        schemas = self.schemas.definitions
        problem = self._free_name(schemas, "Problem")
        validation = self._free_name(schemas, "ValidationProblem")
        problem_schema, validation_schema = problem_schemas(problem)
        schemas[problem] = problem_schema
        schemas[validation] = validation_schema
        resolved = _replace_problem_refs(resolved, problem, validation)
        components: dict[str, Any] = {"schemas": {k: schemas[k] for k in sorted(schemas)}}
        if self.security_schemes:
            components["securitySchemes"] = {
                k: self.security_schemes[k] for k in sorted(self.security_schemes)
            }
        resolved["components"] = components
        tags = self._tags()
        if tags:
            resolved["tags"] = tags
        return resolved

    def _info(self) -> dict[str, Any]:
        config = self.config
        info: dict[str, Any] = {
            "title": config.title if config.title is not None else self.app.title,
            "version": config.version if config.version is not None else self.app.version,
        }
        if config.summary:
            info["summary"] = config.summary
        if config.description:
            info["description"] = config.description
        for key, value in config.info.items():
            info.setdefault(key, value)
        return info

    def _tags(self) -> list[dict[str, Any]]:
        declared = [dict(tag) for tag in self.config.tags]
        named = {tag.get("name") for tag in declared}
        return declared + [{"name": name} for name in sorted(self.tags - named)]

    @staticmethod
    def _free_name(schemas: Mapping[str, Any], name: str) -> str:
        # NOTE: a user model may already be called "Problem"; ours then moves aside.
        candidate = name
        while candidate in schemas:
            candidate = "armature." + candidate
        return candidate

    # -- operations --------------------------------------------------------------------------

    def _fill(self, route: CompiledRoute, targets: list[tuple[str, dict[str, Any]]]) -> None:
        declared = route.flat.route
        op_ids = [self._unique_id(route, method, len(targets)) for method, _ in targets]
        parameters, body_specs, validates = self._parameters(route)
        request_body = self._request_body(body_specs, "Body_" + op_ids[0]) if body_specs else None
        responses = self._responses(route, validates)
        security = self._security(route)
        summary, description = _docstring(declared.endpoint)
        tags = list(dict.fromkeys(route.flat.tags))
        self.tags.update(tags)
        for (_, operation), op_id in zip(targets, op_ids, strict=True):
            if tags:
                operation["tags"] = tags
            if declared.summary or summary:
                operation["summary"] = declared.summary or summary
            if declared.description or description:
                operation["description"] = declared.description or description
            operation["operationId"] = op_id
            if declared.deprecated:
                operation["deprecated"] = True
            if parameters:
                operation["parameters"] = parameters
            if request_body is not None:
                # NOTE: OpenAPI 3.1 allows a body on every method; the handler reads one.
                operation["requestBody"] = request_body
            operation["responses"] = responses
            if security:
                operation["security"] = security
            extra = declared.extra.get("openapi")
            if isinstance(extra, Mapping):
                operation.update(extra)

    def _unique_id(self, route: CompiledRoute, method: str, count: int) -> str:
        declared = route.flat.route
        base = _operation_id(declared.operation_id or route.name)
        if count > 1:
            base = f"{base}_{method}"
        candidate, n = base, 2
        while candidate in self.operation_ids:
            candidate, n = f"{base}_{n}", n + 1
        self.operation_ids.add(candidate)
        return candidate

    # -- parameters --------------------------------------------------------------------------

    def _functions(self, route: CompiledRoute) -> Iterator[list[ParamSpec]]:
        """The handler's parameters, then those of its ``Depends`` dependencies (depth first)."""
        path_names = frozenset(s.name for s in route.segments if s.name)
        seen: set[int] = set()

        def walk(specs: Sequence[ParamSpec]) -> Iterator[list[ParamSpec]]:
            yield [s for s in specs if s.source in _REQUEST_SOURCES]
            for spec in specs:
                if spec.source != "custom":
                    continue
                nested = self._dependency_specs(spec, path_names, seen)
                if nested is not None:
                    yield from walk(nested)

        yield from walk(route.plan.params)

    def _dependency_specs(
        self, spec: ParamSpec, path_names: frozenset[str], seen: set[int]
    ) -> list[ParamSpec] | None:
        declared = getattr(spec.resolver, "param_specs", None)
        if isinstance(declared, list):
            if id(spec.resolver) in seen:
                return None
            seen.add(id(spec.resolver))
            return declared
        markers = [*get_args(spec.annotation)[1:], spec.default]
        for marker in markers:
            dependency = getattr(marker, "dependency", None)
            if not callable(dependency) or id(dependency) in seen:
                continue
            seen.add(id(dependency))
            try:
                _, specs = plan_call(
                    dependency,
                    path_names=path_names,
                    resolvers=self.app.param_resolvers,
                    max_body_size=self.app.max_body_size or DEFAULT_MAX_BODY_SIZE,
                    app=self.app,
                )
            except (TypeError, ValueError, NameError):
                return None
            return specs
        return None

    def _parameters(
        self, route: CompiledRoute
    ) -> tuple[list[dict[str, Any]], list[ParamSpec], bool]:
        converters = {s.name: s.converter for s in route.segments if s.name}
        params: dict[tuple[str, str], dict[str, Any]] = {}
        for name, converter in converters.items():
            schema = dict(converter.json_schema) if converter is not None else {"type": "string"}
            params[("path", name)] = {
                "name": name,
                "in": "path",
                "required": True,
                "schema": schema,
            }
        body_specs: list[ParamSpec] = []
        validates = False
        for specs in self._functions(route):
            bodies = [s for s in specs if s.source == "body"]
            if bodies and not body_specs:
                body_specs = bodies
            for spec in specs:
                if spec.source != "path" or spec.adapter is not None:
                    validates = True
                if spec.marker is not None and not spec.marker.include_in_schema:
                    continue
                if spec.source == "query_model":
                    for obj in self._query_model(spec):
                        params.setdefault(("query", obj["name"]), obj)
                elif spec.source in _LOCATIONS:
                    key = (_LOCATIONS[spec.source], spec.wire_name)
                    if spec.source == "path" or key not in params:
                        params[key] = self._parameter(spec, converters)
        return list(params.values()), body_specs, validates

    def _parameter(self, spec: ParamSpec, converters: Mapping[str, Any]) -> dict[str, Any]:
        location = _LOCATIONS[spec.source]
        obj: dict[str, Any] = {"name": spec.wire_name, "in": location}
        if location == "path" or (spec.required and not _is_optional(spec.annotation)):
            obj["required"] = True
        marker = spec.marker
        if marker is not None and marker.description:
            obj["description"] = marker.description
        if marker is not None and marker.deprecated:
            obj["deprecated"] = True
        extra: dict[str, Any] = {}
        if not spec.required:
            ok, default = jsonable(spec.default)
            if ok:
                extra["default"] = default
        converter = converters.get(spec.wire_name)
        if location == "path" and converter is not None:
            base = _strip_annotated(spec.annotation)
            if base is converter.python_type or base is Any:
                # NOTE: the converter's constraints (int: minimum 0) hold on top of the type's.
                extra.update({k: v for k, v in converter.json_schema.items() if k not in extra})
        obj["schema"] = self.schemas.add(spec.annotation, "validation", extra)
        return obj

    def _query_model(self, spec: ParamSpec) -> list[dict[str, Any]]:
        model = _strip_annotated(spec.annotation)
        out: list[dict[str, Any]] = []
        if not (inspect.isclass(model) and issubclass(model, BaseModel)):
            return out
        for name, field in model.model_fields.items():
            obj: dict[str, Any] = {"name": field.alias or name, "in": "query"}
            if field.is_required() and not _is_optional(field.annotation):
                obj["required"] = True
            if field.description:
                obj["description"] = field.description
            if field.deprecated:
                obj["deprecated"] = True
            extra: dict[str, Any] = {}
            if not field.is_required() and field.default_factory is None:
                ok, default = jsonable(field.default)
                if ok:
                    extra["default"] = default
            tp = (
                Annotated[(field.annotation, *field.metadata)]
                if field.metadata
                else field.annotation
            )
            obj["schema"] = self.schemas.add(tp, "validation", extra)
            out.append(obj)
        return out

    def _request_body(self, specs: list[ParamSpec], model_name: str) -> dict[str, Any]:
        markers = [s.marker for s in specs if isinstance(s.marker, Body)]
        media = markers[0].media_type if markers else "application/json"
        embed = len(specs) > 1 or any(marker.embed for marker in markers)
        if embed:
            fields: dict[str, Any] = {
                spec.name: (
                    spec.annotation,
                    FieldInfo(default=... if spec.required else spec.default, alias=spec.wire_name),
                )
                for spec in specs
            }
            tp: Any = create_model(model_name, **fields)
            required = any(spec.required for spec in specs)
        else:
            tp = specs[0].annotation
            required = specs[0].required
        body: dict[str, Any] = {"content": {media: {"schema": self.schemas.add(tp, "validation")}}}
        if not embed and markers and markers[0].description:
            body["description"] = markers[0].description
        if required:
            body["required"] = True
        return body

    # -- responses ---------------------------------------------------------------------------

    def _responses(self, route: CompiledRoute, validates: bool) -> dict[str, Any]:
        status = route.plan.status_code
        responses: dict[str, Any] = {}
        success: dict[str, Any] = {"description": status_title(status)}
        content = self._success_content(route)
        if content:
            success["content"] = content
        responses[str(status)] = success
        if validates:
            responses["422"] = {
                "description": "The request failed validation",
                "content": {PROBLEM_MEDIA_TYPE: {"schema": _ProblemRef(validation=True)}},
            }
        for code, spec in route.flat.route.responses.items():
            responses[str(code)] = self._declared_response(str(code), spec)
        responses.setdefault(
            "default",
            {
                "description": "An error, as RFC 9457 problem details",
                "content": {PROBLEM_MEDIA_TYPE: {"schema": _ProblemRef(validation=False)}},
            },
        )
        return {k: responses[k] for k in sorted(responses, key=lambda k: (k == "default", k))}

    def _success_content(self, route: CompiledRoute) -> dict[str, Any] | None:
        plan = route.plan
        status = plan.status_code
        if status < 200 or status in (204, 304):
            return None
        model = plan.response_model if plan.response_model is not UNSET else None
        hint = _return_hint(plan.handler)
        response_class = route.flat.route.response_class
        if response_class is not None:
            media = response_class.default_media_type
            if media is None:
                return None
            if not _is_json(media):
                return {media: {"schema": {"type": "string"}}}
            typed = model if model is not None else self._plain_json_type(hint)
            if typed is None:
                return {media: {}}
            return {media: {"schema": self.schemas.add(typed, "serialization")}}
        if model is not None:
            return {"application/json": {"schema": self.schemas.add(model, "serialization")}}
        base = _strip_annotated(hint)
        if inspect.isclass(base) and issubclass(base, Response):
            media = base.default_media_type
            return {media: {}} if media else None
        if base is str:
            return {"text/plain": {"schema": {"type": "string"}}}
        if base is bytes:
            return {"application/octet-stream": {}}
        typed = self._plain_json_type(hint)
        if typed is None:
            return None
        return {"application/json": {"schema": self.schemas.add(typed, "serialization")}}

    @staticmethod
    def _plain_json_type(hint: Any) -> Any:
        """``hint`` when the default renderer always turns it into JSON, else ``None``."""
        return hint if _renders_as_json(hint) else None

    def _declared_response(self, code: str, spec: Any) -> dict[str, Any]:
        error = code[:1] in ("4", "5") or code == "default"
        described = status_title(int(code)) if code.isdigit() else "Response"
        if spec is None or isinstance(spec, str):
            out: dict[str, Any] = {"description": spec or described}
        elif isinstance(spec, Mapping):
            out = {k: v for k, v in spec.items() if k != "model"}
            out.setdefault("description", described)
            if "model" in spec and "content" not in out:
                out["content"] = {
                    "application/json": {"schema": self.schemas.add(spec["model"], "serialization")}
                }
        else:
            out = {
                "description": described,
                "content": {
                    "application/json": {"schema": self.schemas.add(spec, "serialization")}
                },
            }
        if error and "content" not in out:
            out["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _ProblemRef(validation=False)}}
        return out

    # -- security ----------------------------------------------------------------------------

    def _guards(self, route: CompiledRoute) -> list[Any]:
        sources: list[Mapping[str, Any]] = [self.app.extra]
        sources += [owner.extra for owner in route.flat.owners if owner is not self.app]
        sources.append(route.flat.route.extra)
        guards: list[Any] = []
        seen: set[int] = set()
        for source in sources:
            for guard in source.get("guards", ()) or ():
                if id(guard) not in seen:
                    seen.add(id(guard))
                    guards.append(guard)
        return guards

    def _security(self, route: CompiledRoute) -> list[dict[str, list[str]]]:
        requirement: dict[str, list[str]] = {}
        for guard in self._guards(route):
            declared = getattr(guard, "openapi_security_scheme", None)
            if declared is None:
                continue
            try:
                name, scheme = declared
            except (TypeError, ValueError):
                raise ValueError(
                    f"guard {guard!r}: openapi_security_scheme must be (name, scheme dict)"
                ) from None
            if not isinstance(name, str) or not isinstance(scheme, Mapping):
                raise ValueError(
                    f"guard {guard!r}: openapi_security_scheme must be (name, scheme dict)"
                )
            known = self.security_schemes.get(name)
            if known is None:
                self.security_schemes[name] = dict(scheme)
                self.scheme_owners[name] = guard
            elif known != dict(scheme):
                raise ValueError(
                    f"security scheme {name!r} is declared differently by "
                    f"{self.scheme_owners[name]!r} and {guard!r}"
                )
            scopes = [str(s) for s in (getattr(guard, "openapi_scopes", None) or ())]
            requirement[name] = sorted({*requirement.get(name, ()), *scopes})
        return [{name: requirement[name] for name in sorted(requirement)}] if requirement else []


def _replace_problem_refs(value: Any, problem: str, validation: str) -> Any:
    if isinstance(value, _ProblemRef):
        return {"$ref": REF_PREFIX + (validation if value.validation else problem)}
    if isinstance(value, dict):
        return {k: _replace_problem_refs(v, problem, validation) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_problem_refs(v, problem, validation) for v in value]
    return value
