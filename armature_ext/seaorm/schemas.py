"""pydantic schemas derived from mapped models, for request and response bodies.

```python
UserOut = schema_for(User)                                     # every column, from_attributes
UserIn = schema_for(User, exclude={"id", "created_at"}, name="UserIn")
UserPatch = schema_for(User, exclude={"id"}, partial=True, name="UserPatch")
```
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy import Column, Enum, String, inspect
from sqlalchemy.orm import ColumnProperty

__all__ = ["column_python_type", "field_definitions", "schema_for"]

_cache: dict[tuple[Any, ...], type[BaseModel]] = {}


def _none() -> None:
    return None


def _omitted() -> Any:
    """An optional non-nullable field: omitted it reads as ``None``, but (unlike ``default=None``)
    the JSON schema shows no contradictory ``"default": null`` and an explicit null is rejected."""
    return Field(default_factory=_none)


_lock = threading.Lock()


def column_python_type(column: Column[Any]) -> Any:
    """Return the Python type a column holds (``Any`` when SQLAlchemy cannot tell).

    ``String(n)`` becomes ``Annotated[str, Field(max_length=n)]``; a non-native ``Enum`` of
    strings becomes a ``Literal`` of its values.

    Args:
        column: A table column.

    Returns:
        A type usable as a pydantic annotation.
    """
    sql_type = column.type
    if isinstance(sql_type, Enum):
        if sql_type.enum_class is not None:
            return sql_type.enum_class
        return Literal[tuple(sql_type.enums)] if sql_type.enums else str
    try:
        python_type: Any = sql_type.python_type
    except NotImplementedError:
        return Any
    if python_type is object:  # JSON and other free-form types
        return Any
    if isinstance(sql_type, String) and sql_type.length:
        return Annotated[python_type, Field(max_length=sql_type.length)]
    return python_type


def _is_generated(column: Column[Any]) -> bool:
    """Whether the database fills the column when omitted (autoincrement key, server default)."""
    if column.server_default is not None or column.computed is not None:
        return True
    if column.identity is not None:
        return True
    table = column.table
    return (
        column.primary_key
        and column is getattr(table, "autoincrement_column", None)
        and column.autoincrement in (True, "auto")
    )


def field_definitions(
    model: type[Any],
    *,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    partial: bool = False,
) -> dict[str, Any]:
    """Return ``create_model`` field definitions for the column attributes of ``model``.

    Args:
        model: A mapped class.
        include: Only these attribute names (default: every column attribute).
        exclude: Attribute names to leave out.
        partial: Make every field optional with default ``None`` (for PATCH bodies).

    Returns:
        Attribute name to ``(annotation, default)``.

    Raises:
        ValueError: When ``include``/``exclude`` names something that is not a column.
    """
    props: dict[str, ColumnProperty[Any]] = {p.key: p for p in inspect(model).column_attrs}
    wanted = list(include) if include is not None else list(props)
    excluded = set(exclude)
    unknown = [n for n in (*wanted, *excluded) if n not in props]
    if unknown:
        raise ValueError(f"{model.__name__} has no column attribute(s) {', '.join(unknown)}")
    fields: dict[str, Any] = {}
    for key in wanted:
        if key in excluded:
            continue
        column = props[key].columns[0]
        annotation = column_python_type(column)  # type: ignore[arg-type]
        if column.nullable:
            annotation = annotation | None
        default: Any = ...
        if column.nullable:
            default = None
        elif partial or _is_generated(column):  # type: ignore[arg-type]
            default = _omitted()
        elif column.default is not None:
            scalar = column.default
            # NOTE: a literal Python default becomes the schema default (visible in OpenAPI);
            # callable defaults stay unset so the ORM computes them at INSERT time.
            default = scalar.arg if getattr(scalar, "is_scalar", False) else _omitted()
        fields[key] = (annotation, default)
    return fields


def schema_for(
    model: type[Any],
    *,
    name: str | None = None,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    partial: bool = False,
    base: type[BaseModel] = BaseModel,
) -> type[BaseModel]:
    """Build (once, then cached) a pydantic model from the columns of ``model``.

    Types come from the column types (``String(120)`` -> ``str`` with ``max_length=120``,
    ``Numeric`` -> ``Decimal``, ``Enum(MyEnum)`` -> ``MyEnum`` ...); nullable columns accept
    ``None``. Columns that have a default or that the database generates (autoincrement keys,
    server defaults) are optional; dump request bodies with ``model_dump(exclude_unset=True)`` so
    omitted fields get the column default. Schemas read ORM objects (``from_attributes=True``).

    Args:
        model: A mapped class.
        name: The schema class name (default ``"<Model>Schema"``/``"<Model>PatchSchema"``);
            give distinct names to distinct schemas of one model, they appear in OpenAPI.
        include: Only these column attributes.
        exclude: Column attributes to leave out (e.g. ``{"id", "created_at"}`` for input).
        partial: Every field optional, default ``None`` (PATCH bodies).
        base: The base class (for shared config or validators).

    Returns:
        The pydantic model class.

    Raises:
        ValueError: When ``include``/``exclude`` names a non-column.
    """
    inc = tuple(include) if include is not None else None
    exc = tuple(sorted(set(exclude)))
    schema_name = name or f"{model.__name__}{'Patch' if partial else ''}Schema"
    key = (model, schema_name, inc, exc, partial, base)
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        fields = field_definitions(model, include=inc, exclude=exc, partial=partial)
        config = ConfigDict(from_attributes=True) if base is BaseModel else None
        schema: type[BaseModel]
        if config is not None:
            schema = create_model(schema_name, __config__=config, **fields)
        else:
            schema = create_model(schema_name, __base__=base, **fields)
            schema.model_config["from_attributes"] = True
            schema.model_rebuild(force=True)
        schema.__module__ = model.__module__
        _cache[key] = schema
        return schema
