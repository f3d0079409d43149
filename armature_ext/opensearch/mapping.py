"""Derive OpenSearch field mappings from pydantic model field types.

Defaults: ``str`` -> ``text`` with a ``keyword`` sub-field (``name.keyword``, for sorting, terms
aggregations and exact matches), ``int`` -> ``long``, ``float``/``Decimal`` -> ``double``,
``bool`` -> ``boolean``, ``datetime``/``date`` -> ``date``, ``UUID``/``Enum``/``Literal`` ->
``keyword``, IP addresses -> ``ip``, nested pydantic models -> ``object`` (or ``nested`` with
:class:`Nested`), ``dict`` -> dynamic ``object``; ``list[X]``, ``set[X]``, ``tuple[X, ...]`` and
``X | None`` map like ``X``. ``Annotated`` markers override the default::

    sku: Annotated[str, Keyword()]
    body: Annotated[str, Text(analyzer="english", keyword=False)]
    variants: Annotated[list[Variant], Nested()]
    location: Annotated[dict[str, float], Mapped("geo_point")]
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import ipaddress
import types
import typing
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from .errors import MappingError

__all__ = [
    "FieldMarker",
    "Keyword",
    "Mapped",
    "Nested",
    "Object",
    "Text",
    "field_mapping",
    "model_properties",
]


class FieldMarker:
    """Base class of the ``Annotated`` markers that override a field's derived mapping."""

    __slots__ = ()

    def mapping(self, inner: type[BaseModel] | None) -> dict[str, Any]:
        """Return the mapping for a field carrying this marker.

        Args:
            inner: The pydantic model inside the annotation, when there is one.

        Returns:
            The OpenSearch field mapping.
        """
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Keyword(FieldMarker):
    """Map a string as ``keyword`` (exact values: filters, sorting, terms aggregations).

    Args:
        ignore_above: Do not index values longer than this.
        normalizer: Name of a normalizer (e.g. a lowercase one defined in the index settings).
    """

    ignore_above: int | None = None
    normalizer: str | None = None

    def mapping(self, inner: type[BaseModel] | None) -> dict[str, Any]:
        """See :meth:`FieldMarker.mapping`."""
        out: dict[str, Any] = {"type": "keyword"}
        if self.ignore_above is not None:
            out["ignore_above"] = self.ignore_above
        if self.normalizer is not None:
            out["normalizer"] = self.normalizer
        return out


@dataclass(frozen=True, slots=True)
class Text(FieldMarker):
    """Map a string as analyzed ``text``.

    Args:
        analyzer: Index-time analyzer name.
        search_analyzer: Query-time analyzer name.
        keyword: Add the ``<field>.keyword`` sub-field.
    """

    analyzer: str | None = None
    search_analyzer: str | None = None
    keyword: bool = True

    def mapping(self, inner: type[BaseModel] | None) -> dict[str, Any]:
        """See :meth:`FieldMarker.mapping`."""
        out: dict[str, Any] = {"type": "text"}
        if self.analyzer is not None:
            out["analyzer"] = self.analyzer
        if self.search_analyzer is not None:
            out["search_analyzer"] = self.search_analyzer
        if self.keyword:
            out["fields"] = {"keyword": {"type": "keyword", "ignore_above": 256}}
        return out


@dataclass(frozen=True, slots=True)
class Nested(FieldMarker):
    """Map a (list of) pydantic model(s) as ``nested``: each element is matched on its own.

    Args:
        include_in_parent: Also index the fields in the parent document.
    """

    include_in_parent: bool = False

    def mapping(self, inner: type[BaseModel] | None) -> dict[str, Any]:
        """See :meth:`FieldMarker.mapping`."""
        if inner is None:
            raise MappingError("Nested() needs a pydantic model (or a list of them) as field type")
        out: dict[str, Any] = {"type": "nested", "properties": model_properties(inner)}
        if self.include_in_parent:
            out["include_in_parent"] = True
        return out


@dataclass(frozen=True, slots=True)
class Object(FieldMarker):
    """Map a field as ``object``; ``enabled=False`` stores it without indexing.

    Args:
        enabled: Index the object's fields.
    """

    enabled: bool = True

    def mapping(self, inner: type[BaseModel] | None) -> dict[str, Any]:
        """See :meth:`FieldMarker.mapping`."""
        out: dict[str, Any] = {"type": "object"}
        if not self.enabled:
            out["enabled"] = False
        elif inner is not None:
            out["properties"] = model_properties(inner)
        return out


class Mapped(FieldMarker):
    """Use an explicit mapping, e.g. ``Mapped("integer")`` or ``Mapped("geo_point")``.

    Args:
        field_type: The OpenSearch field type.
        **options: Further mapping parameters (``format="epoch_millis"``, ...).
    """

    __slots__ = ("field_type", "options")

    def __init__(self, field_type: str, /, **options: Any) -> None:
        if not isinstance(field_type, str) or not field_type:
            raise MappingError("Mapped() needs the OpenSearch field type as a string")
        self.field_type = field_type
        self.options = dict(options)

    def mapping(self, inner: type[BaseModel] | None) -> dict[str, Any]:
        """See :meth:`FieldMarker.mapping`."""
        return {**self.options, "type": self.field_type}

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Mapped)
            and other.field_type == self.field_type
            and other.options == self.options
        )

    def __hash__(self) -> int:
        return hash((self.field_type, tuple(sorted(self.options))))

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"Mapped({self.field_type!r}{extra})"


_DEFAULT_TEXT: dict[str, Any] = {
    "type": "text",
    "fields": {"keyword": {"type": "keyword", "ignore_above": 256}},
}
_SCALARS: tuple[tuple[type, dict[str, Any]], ...] = (
    # NOTE: bool before int (bool is an int subclass); datetime before date (same reason).
    (bool, {"type": "boolean"}),
    (enum.Enum, {"type": "keyword"}),
    (int, {"type": "long"}),
    (float, {"type": "double"}),
    (decimal.Decimal, {"type": "double"}),
    (dt.datetime, {"type": "date"}),
    (dt.date, {"type": "date"}),
    (uuid.UUID, {"type": "keyword"}),
    (ipaddress.IPv4Address, {"type": "ip"}),
    (ipaddress.IPv6Address, {"type": "ip"}),
    (str, _DEFAULT_TEXT),
    (bytes, {"type": "binary"}),
)
_SEQUENCES = (list, set, frozenset, tuple, Sequence, typing.Sequence)
_IP_TYPES = {"IPvAnyAddress", "IPv4Address", "IPv6Address"}


def _strip_optional(tp: Any) -> Any:
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _inner_model(tp: Any) -> type[BaseModel] | None:
    tp = _strip_optional(tp)
    if get_origin(tp) is Annotated:
        return _inner_model(get_args(tp)[0])
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    if get_origin(tp) in _SEQUENCES:
        args = [a for a in get_args(tp) if a is not Ellipsis]
        if len(args) == 1:
            return _inner_model(args[0])
    return None


def field_mapping(
    annotation: Any, metadata: Sequence[Any] = (), *, where: str = "field"
) -> dict[str, Any] | None:
    """Return the OpenSearch mapping for one annotated type.

    Args:
        annotation: The field's type (``Annotated`` allowed).
        metadata: Extra ``Annotated`` metadata (pydantic moves it to ``FieldInfo.metadata``).
        where: Field path, for error messages.

    Returns:
        The mapping, or ``None`` for ``Any`` (left to dynamic mapping).

    Raises:
        MappingError: The type has no obvious mapping; annotate it with :class:`Mapped`.
    """
    tp = _strip_optional(annotation)
    markers = [m for m in metadata if isinstance(m, FieldMarker)]
    while get_origin(tp) is Annotated:
        base, *extra = get_args(tp)
        markers += [m for m in extra if isinstance(m, FieldMarker)]
        tp = _strip_optional(base)
    if markers:
        return markers[-1].mapping(_inner_model(tp))
    if tp is Any or tp is object:
        return None
    origin = get_origin(tp)
    if origin in _SEQUENCES:
        args = [a for a in get_args(tp) if a is not Ellipsis]
        if not args:
            return None
        mapped = [field_mapping(a, where=where) for a in args]
        if any(m != mapped[0] for m in mapped):
            raise MappingError(f"{where}: tuple items of different types need Mapped(...)")
        return mapped[0]
    if origin in (dict, Mapping, typing.Mapping) or tp in (dict, Mapping):
        return {"type": "object"}
    if origin is Literal:
        values = get_args(tp)
        if all(isinstance(v, str) for v in values):
            return {"type": "keyword"}
        if all(isinstance(v, bool) for v in values):
            return {"type": "boolean"}
        if all(isinstance(v, int) for v in values):
            return {"type": "long"}
        raise MappingError(f"{where}: Literal of mixed types needs Mapped(...)")
    if origin is Union or origin is types.UnionType:
        raise MappingError(
            f"{where}: union type {tp!r} has no single OpenSearch type; "
            "annotate it with Mapped(...)"
        )
    if isinstance(tp, type):
        if issubclass(tp, BaseModel):
            return {"type": "object", "properties": model_properties(tp)}
        if tp.__name__ in _IP_TYPES:
            return {"type": "ip"}
        for base, mapping in _SCALARS:
            if issubclass(tp, base):
                return _copy(mapping)
    raise MappingError(
        f"{where}: no OpenSearch mapping for type {tp!r}; annotate it with Mapped(...)"
    )


def _copy(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: (_copy(v) if isinstance(v, dict) else v) for k, v in mapping.items()}


def model_properties(model: type[BaseModel]) -> dict[str, Any]:
    """Return the ``properties`` mapping of a pydantic model (keys are serialization aliases).

    Args:
        model: The model class.

    Returns:
        ``{field_name: mapping}``; fields typed ``Any`` are left out (dynamic mapping).

    Raises:
        MappingError: A field type cannot be mapped.
    """
    properties: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.serialization_alias or info.alias or name
        mapping = field_mapping(info.annotation, info.metadata, where=f"{model.__name__}.{name}")
        if mapping is not None:
            properties[key] = mapping
    return properties
