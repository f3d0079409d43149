"""JSON Schema generation for the document: one pydantic pass over every type, models in components.

Types are registered while operations are built and replaced by :class:`Pending` placeholders;
:meth:`SchemaCollector.resolve` then generates every schema at once with
``TypeAdapter.json_schemas`` (so one model used by many routes becomes one component, and two
models with the same name get distinct component names) and swaps the placeholders for the results.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import CoreSchema, PydanticSerializationError, to_jsonable_python

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "REF_PREFIX",
    "Pending",
    "SchemaCollector",
    "jsonable",
    "problem_schemas",
]

REF_PREFIX = "#/components/schemas/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
Mode = Literal["validation", "serialization"]


class _Generator(GenerateJsonSchema):
    """pydantic's generator, except that a type with no JSON Schema becomes ``{}`` (any value).

    NOTE: a handler may take or return a type pydantic cannot describe (a callable, an arbitrary
    class with ``arbitrary_types_allowed``); the document should still be produced.
    """

    def handle_invalid_for_json_schema(
        self, schema: CoreSchema, error_info: str
    ) -> JsonSchemaValue:
        return {}


class Pending:
    """A placeholder for a schema that :class:`SchemaCollector` has not generated yet."""

    __slots__ = ("extra", "key")

    def __init__(self, key: int, extra: Mapping[str, Any] | None = None) -> None:
        self.key = key
        self.extra = dict(extra or {})


class SchemaCollector:
    """Collects the types of a document and generates their schemas in one pass."""

    def __init__(self) -> None:
        self._inputs: list[tuple[int, Mode, TypeAdapter[Any]]] = []
        self._adapters: dict[Any, TypeAdapter[Any]] = {}
        self.definitions: dict[str, Any] = {}

    def add(self, tp: Any, mode: Mode, extra: Mapping[str, Any] | None = None) -> Pending:
        """Register ``tp``; return the placeholder its schema will replace.

        Args:
            tp: Any type pydantic can validate (``Annotated`` constraints included).
            mode: ``"validation"`` for request data, ``"serialization"`` for responses.
            extra: Keywords merged into the generated schema (missing keys only).

        Returns:
            The placeholder to put in the document.
        """
        adapter = self._adapter(tp)
        key = len(self._inputs)
        self._inputs.append((key, mode, adapter))
        return Pending(key, extra)

    def _adapter(self, tp: Any) -> TypeAdapter[Any]:
        try:
            cached = self._adapters.get(tp)
        except TypeError:  # NOTE: Annotated[..., FieldInfo] may be unhashable.
            return TypeAdapter(tp)
        if cached is None:
            cached = self._adapters[tp] = TypeAdapter(tp)
        return cached

    def resolve(self, document: Any) -> Any:
        """Generate every registered schema and replace the placeholders in ``document``.

        Args:
            document: Any JSON-like structure holding :class:`Pending` placeholders.

        Returns:
            The same structure with schemas in place; ``definitions`` holds the components.
        """
        if self._inputs:
            schemas, defs = TypeAdapter.json_schemas(
                self._inputs,
                ref_template=REF_PREFIX + "{model}",
                schema_generator=_Generator,
            )
            self.definitions = dict(defs.get("$defs", {}))
        else:
            schemas = {}
        by_key = {key: schema for (key, _mode), schema in schemas.items()}
        return _substitute(document, by_key)

    def lookup(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        """Follow a ``$ref`` into the generated definitions (after :meth:`resolve`).

        Args:
            schema: A schema, possibly ``{"$ref": "#/components/schemas/Name"}``.

        Returns:
            The referenced definition, or ``schema`` itself.
        """
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            found = self.definitions.get(ref[len(REF_PREFIX) :])
            if isinstance(found, Mapping):
                return found
        return schema


def _substitute(value: Any, schemas: Mapping[int, Any]) -> Any:
    if isinstance(value, Pending):
        schema = dict(schemas[value.key])
        for name, extra in value.extra.items():
            schema.setdefault(name, extra)
        return schema
    if isinstance(value, dict):
        return {k: _substitute(v, schemas) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, schemas) for v in value]
    return value


def jsonable(value: Any) -> tuple[bool, Any]:
    """Convert ``value`` to JSON data when it has a JSON form.

    Args:
        value: A default value or example.

    Returns:
        ``(True, json_value)``, or ``(False, None)`` when it cannot be represented.
    """
    try:
        return True, to_jsonable_python(value)
    except (PydanticSerializationError, TypeError, ValueError):
        return False, None


def problem_schemas(problem_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The RFC 9457 problem details schemas armature's errors follow.

    Args:
        problem_name: The component name the ``Problem`` schema is stored under.

    Returns:
        ``(problem, validation_problem)``; the second refers to the first.
    """
    problem = {
        "type": "object",
        "title": "Problem",
        "description": "An RFC 9457 problem details document (application/problem+json).",
        "properties": {
            "type": {
                "type": "string",
                "description": "A URI reference identifying the problem type.",
                "default": "about:blank",
            },
            "title": {"type": "string", "description": "A short summary of the problem type."},
            "status": {
                "type": "integer",
                "minimum": 100,
                "maximum": 599,
                "description": "The HTTP status code.",
            },
            "detail": {"type": "string", "description": "What went wrong this time."},
            "instance": {"type": "string", "description": "The request path."},
        },
        "required": ["type", "title", "status"],
    }
    validation_problem = {
        "title": "ValidationProblem",
        "description": "A 422 problem listing every field that failed validation.",
        "allOf": [
            {"$ref": REF_PREFIX + problem_name},
            {
                "type": "object",
                "properties": {
                    "errors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "loc": {
                                    "type": "array",
                                    "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                                    "description": "Where: the source, then the field path.",
                                },
                                "msg": {"type": "string"},
                                "type": {"type": "string"},
                            },
                            "required": ["loc", "msg", "type"],
                        },
                    }
                },
                "required": ["errors"],
            },
        ],
    }
    return problem, validation_problem
