"""Validate OpenSearch HTTP requests and responses against the official OpenSearch API spec.

The data is ``tests/data/opensearch/opensearch-api-compact.json``, derived from the vendored
``opensearch-openapi.yaml`` by ``build_compact_spec.py`` (same directory as this module). Checks:

* the method and path match an operation of the spec (literal segments win over ``{param}``
  segments, like the server's own router) and path parameters validate against their schemas;
* every query parameter is declared by that operation and its value validates against the
  parameter schema (query strings are text, so ``"true"``, ``"10"`` and ``"a,b"`` are also tried as
  boolean, number and comma-separated list);
* the body is allowed/required as declared and validates (jsonschema, Draft 2020-12, ``$ref``s
  resolved through a ``referencing`` registry) against the ``requestBody`` schema of its media
  type; ``application/x-ndjson`` bodies (bulk, msearch) are validated line by line against the
  array's item schema, and bulk bodies additionally as action/source pairs (each action line is an
  ``OperationContainer``; ``index``/``create``/``update`` actions are followed by a source line);
* responses validate against the schema declared for their status.

Deviation, on purpose: ``oneOf`` is evaluated like ``anyOf``. The spec's ``oneOf`` branches overlap
in many places (for instance every single-key sort object such as ``{"price": {"order": "desc"}}``
matches both ``SortOptions`` and ``FieldWithOrder`` of ``SortCombinations``), so a strict "exactly
one" reading would reject requests OpenSearch accepts; its parsers pick a branch by key name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema
import orjson
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SPEC_PATH = (
    Path(__file__).resolve().parent.parent / "data" / "opensearch" / "opensearch-api-compact.json"
)
_BASE = "urn:opensearch-api-spec"
_NDJSON = "application/x-ndjson"
_JSON = "application/json"
_ERROR_SCHEMA = {"$ref": "#/components/schemas/_common___ErrorResponseBase"}

# NOTE: see the module docstring: oneOf is checked as anyOf.
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    {"oneOf": jsonschema.Draft202012Validator.VALIDATORS["anyOf"]},
)


class SpecViolation(AssertionError):
    """A request or response that the OpenSearch API specification does not allow."""


@dataclass(slots=True)
class Operation:
    """One operation of the spec (one method on one path template)."""

    id: str
    group: str
    method: str
    path: str
    segments: tuple[str | None, ...]
    param_names: tuple[str | None, ...]
    path_params: dict[str, Any]
    query: dict[str, Any]
    body: dict[str, Any] | None
    responses: dict[str, dict[str, Any]]
    literal_mask: tuple[bool, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.literal_mask = tuple(seg is not None for seg in self.segments)


def _absolutize(node: Any) -> Any:
    """Rewrite document-relative ``$ref``s of an inline schema to the registry URI."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
                out[key] = _BASE + value
            else:
                out[key] = _absolutize(value)
        return out
    if isinstance(node, list):
        return [_absolutize(item) for item in node]
    return node


def _candidates(raw: str) -> list[Any]:
    """Typed readings of a query-string/path value, most literal first."""
    out: list[Any] = [raw]
    if raw in ("true", "false"):
        out.append(raw == "true")
    if re.fullmatch(r"-?\d+", raw):
        out.append(int(raw))
    elif re.fullmatch(r"-?\d+\.\d*(?:[eE][-+]?\d+)?", raw):
        out.append(float(raw))
    # NOTE: list-valued parameters are comma-separated in a query string.
    parts = raw.split(",")
    out.append(parts)
    out.append([int(p) if re.fullmatch(r"-?\d+", p) else p for p in parts])
    return out


class SpecValidator:
    """Match and validate requests/responses; build once with :meth:`load` (cached)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._registry: Registry[Any] = Registry().with_resource(
            _BASE, DRAFT202012.create_resource({"components": document["components"]})
        )
        self._components: Mapping[str, Any] = document["components"]
        self._by_method: dict[str, dict[int, list[Operation]]] = {}
        for raw in document["operations"]:
            segments: list[str | None] = []
            names: list[str | None] = []
            for seg in raw["path"].strip("/").split("/") if raw["path"] != "/" else []:
                match = re.fullmatch(r"\{(\w+)\}", seg)
                segments.append(None if match else seg)
                names.append(match.group(1) if match else None)
            op = Operation(
                id=raw["id"],
                group=raw["group"],
                method=raw["method"],
                path=raw["path"],
                segments=tuple(segments),
                param_names=tuple(names),
                path_params=raw["path_params"],
                query=raw["query"],
                body=raw["body"],
                responses=raw["responses"],
            )
            by_len = self._by_method.setdefault(op.method, {})
            by_len.setdefault(len(segments), []).append(op)
        self._validators: dict[int, jsonschema.protocols.Validator] = {}
        self._keepalive: list[Any] = []

    @classmethod
    @functools.cache
    def load(cls, path: Path = SPEC_PATH) -> SpecValidator:
        """Return the (process-wide, cached) validator for the compact spec file at ``path``."""
        return cls(orjson.loads(path.read_bytes()))

    # -- schemas -------------------------------------------------------------------------------
    def _validator(self, schema: Any) -> jsonschema.protocols.Validator:
        # PERF: schema dicts are long-lived (owned by the loaded document), so id() is a stable key.
        key = id(schema)
        validator = self._validators.get(key)
        if validator is None:
            self._keepalive.append(schema)
            validator = _Validator(_absolutize(schema), registry=self._registry)
            self._validators[key] = validator
        return validator

    def _errors(self, schema: Any, value: Any) -> list[str]:
        errors = sorted(self._validator(schema).iter_errors(value), key=lambda e: e.path)
        out = []
        for error in errors[:3]:
            where = "/".join(str(p) for p in error.absolute_path) or "<root>"
            best = jsonschema.exceptions.best_match([error])
            out.append(f"at {where}: {best.message[:300]}")
        return out

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            return schema
        return self._resolve(self._components["schemas"][ref.rsplit("/", 1)[-1]])

    def _value_ok(self, schema: Any, raw: str) -> bool:
        validator = self._validator(schema)
        return any(validator.is_valid(value) for value in _candidates(raw))

    # -- matching ------------------------------------------------------------------------------
    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]]:
        """Return the spec operation for ``method path`` and the decoded path parameters.

        Raises:
            SpecViolation: no operation matches.
        """
        parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
        candidates = self._by_method.get(method.upper(), {}).get(len(parts), [])
        best: tuple[tuple[bool, ...], Operation] | None = None
        for op in candidates:
            if all(
                seg is None or seg == part for seg, part in zip(op.segments, parts, strict=True)
            ):
                if best is None or op.literal_mask > best[0]:
                    best = (op.literal_mask, op)
        if best is None:
            methods = sorted(
                m
                for m, by_len in self._by_method.items()
                if any(
                    all(s is None or s == p for s, p in zip(op.segments, parts, strict=True))
                    for op in by_len.get(len(parts), [])
                )
            )
            hint = f" (the path exists for {', '.join(methods)})" if methods else ""
            raise SpecViolation(f"{method} {path}: no operation in the OpenSearch spec{hint}")
        op = best[1]
        params = {
            name: part for name, part in zip(op.param_names, parts, strict=True) if name is not None
        }
        return op, params

    # -- requests ------------------------------------------------------------------------------
    def validate_request(
        self,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]] = (),
        content_type: str | None = None,
        body: bytes = b"",
    ) -> Operation:
        """Validate one HTTP request; return its operation.

        Raises:
            SpecViolation: describing every problem found.
        """
        op, path_params = self.match(method, path)
        problems: list[str] = []
        for name, value in path_params.items():
            schema = op.path_params.get(name)
            if schema is not None and not self._value_ok(schema, value):
                problems.append(f"path parameter {name}={value!r} does not match its schema")
        for name, value in query:
            schema = op.query.get(name)
            if schema is None:
                problems.append(f"query parameter {name!r} is not defined for {op.id}")
            elif not self._value_ok(schema, value):
                problems.append(f"query parameter {name}={value!r} does not match its schema")
        problems.extend(self._body_problems(op, content_type, body))
        if problems:
            raise SpecViolation(f"{method} {path} ({op.id}): " + "; ".join(problems))
        return op

    def _body_problems(self, op: Operation, content_type: str | None, body: bytes) -> list[str]:
        if not body:
            if op.body is not None and op.body["required"]:
                return ["a request body is required"]
            return []
        if op.body is None:
            return [f"{op.id} takes no request body"]
        media = (content_type or _JSON).split(";")[0].strip().lower()
        content = op.body["content"]
        if media not in content:
            # NOTE: opensearch-py labels every body application/json, and OpenSearch reads an
            # NDJSON endpoint's body as NDJSON regardless; other media types are violations.
            if media == _JSON and _NDJSON in content:
                media = _NDJSON
            elif media == _NDJSON and _JSON in content:
                media = _JSON
            else:
                return [f"media type {media!r} not accepted (spec: {sorted(content)})"]
        schema = content[media]
        if media == _NDJSON:
            return self._ndjson_problems(op, schema, body)
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return [f"body is not JSON: {exc}"]
        return [f"body {e}" for e in self._errors(schema, value)]

    def _ndjson_problems(self, op: Operation, schema: Any, body: bytes) -> list[str]:
        lines = [line for line in body.split(b"\n") if line.strip()]
        values = []
        for number, line in enumerate(lines, 1):
            try:
                values.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                return [f"ndjson line {number} is not JSON: {exc}"]
        item_schema = schema.get("items", {})
        problems = []
        for number, value in enumerate(values, 1):
            problems += [f"ndjson line {number} {e}" for e in self._errors(item_schema, value)]
        if op.group == "bulk" and not problems:
            problems += self._bulk_pairs(item_schema, values)
        return problems

    def _bulk_pairs(self, item_schema: Mapping[str, Any], values: list[Any]) -> list[str]:
        # NOTE: the spec describes the bulk body as "action-data pairs": its item schema is
        # anyOf[OperationContainer, UpdateAction, object]. Structure is checked here: an action line
        # must be an OperationContainer; index/create need a source object; update needs an
        # UpdateAction; delete has no source line.
        branches = item_schema.get("anyOf", [])
        action_schema = branches[0] if branches else {}
        update_schema = branches[1] if len(branches) > 1 else {}
        problems: list[str] = []
        i = 0
        while i < len(values):
            action = values[i]
            errors = self._errors(action_schema, action)
            if errors or not isinstance(action, dict):
                problems.append(f"bulk line {i + 1} is not an action: {'; '.join(errors)}")
                break
            kind = next(iter(action))
            if kind not in self._resolve(action_schema).get("properties", {}):
                problems.append(f"bulk line {i + 1}: unknown bulk action {kind!r}")
                break
            if kind == "delete":
                i += 1
                continue
            if i + 1 >= len(values):
                problems.append(f"bulk line {i + 1}: {kind} action without a source line")
                break
            source = values[i + 1]
            if not isinstance(source, dict):
                problems.append(f"bulk line {i + 2}: source must be an object")
            elif kind == "update":
                problems += [f"bulk line {i + 2} {e}" for e in self._errors(update_schema, source)]
            i += 2
        return problems

    # -- responses -----------------------------------------------------------------------------
    def validate_response(
        self, op: Operation, status: int, content_type: str | None, body: bytes
    ) -> None:
        """Validate a response to ``op``.

        Raises:
            SpecViolation: when the body does not have the shape the spec declares for ``status``.
        """
        if op.method == "HEAD" or not body:
            return
        declared = op.responses.get(str(status))
        if declared is None and 200 <= status < 300:
            # NOTE: the spec lists one success status for some operations whose servers also answer
            # with another (e.g. update answers 201 when doc_as_upsert creates the document); the
            # success body shape is the same, so the documented 2xx schema applies.
            declared = next((v for k, v in sorted(op.responses.items()) if k.startswith("2")), None)
            if declared is None:
                raise SpecViolation(f"{op.id}: undocumented status {status}")
        media = (content_type or _JSON).split(";")[0].strip().lower()
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise SpecViolation(f"{op.id} {status}: response is not JSON: {exc}") from None
        schemas: list[Any] = []
        if declared is not None and media in declared:
            schemas.append(declared[media])
        if status >= 400:
            # NOTE: the spec often declares only one error shape per status (e.g. get 404 is a
            # GetResult), while OpenSearch answers missing indices etc. with the generic error body.
            schemas.append(_ERROR_SCHEMA)
            if declared is None:
                # NOTE: by-query operations (reindex...) report failures with the highest failure
                # status and their success body, which the spec documents under 200 only.
                schemas += [
                    v[media]
                    for k, v in sorted(op.responses.items())
                    if k.startswith("2") and media in v
                ]
        if not schemas:
            raise SpecViolation(f"{op.id} {status}: media type {media!r} not declared")
        failures: list[str] = []
        for schema in schemas:
            errors = self._errors(schema, value)
            if not errors:
                return
            failures += errors
        raise SpecViolation(f"{op.id} {status} response: " + "; ".join(failures))


__all__ = ["SPEC_PATH", "Operation", "SpecValidator", "SpecViolation"]
