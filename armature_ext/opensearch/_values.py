"""Shared helpers: JSON-ready values and name checks (internal)."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from collections.abc import Mapping
from typing import Any

from .errors import QueryError

_INVALID_INDEX_CHARS = frozenset('\\/*?"<>| ,#:')


def json_value(value: Any) -> Any:
    """Convert a Python value used in a query to its JSON form (dates as ISO 8601 strings).

    Args:
        value: A scalar, list or mapping.

    Returns:
        The JSON-ready value.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return json_value(value.value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(v) for v in value]
    raise QueryError(f"value {value!r} of type {type(value).__name__} cannot be sent to OpenSearch")


def check_field(name: object, what: str = "field") -> str:
    """Return ``name`` if it is a usable field name.

    Raises:
        QueryError: It is not a non-empty string.
    """
    if not isinstance(name, str) or not name.strip():
        raise QueryError(f"{what} must be a non-empty string, got {name!r}")
    return name


def check_index_name(name: str) -> str:
    """Validate an index/alias name by OpenSearch's rules; return it.

    Raises:
        ValueError: With the rule that was broken.
    """
    if not name:
        raise ValueError("index name must not be empty")
    if name != name.lower():
        raise ValueError(f"index name {name!r} must be lowercase")
    if name in (".", "..") or name[0] in "_-+":
        raise ValueError(f"index name {name!r} must not be '.', '..' or start with '_', '-', '+'")
    bad = sorted(set(name) & _INVALID_INDEX_CHARS)
    if bad:
        raise ValueError(f"index name {name!r} contains invalid characters {bad}")
    if len(name.encode()) > 255:
        raise ValueError(f"index name {name!r} is longer than 255 bytes")
    return name
