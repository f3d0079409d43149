"""Path parameter converters: ``{x}``, ``{x:int}``, ``{x:float}``, ``{x:uuid}``, ``{x:path}``.

A converter turns one path segment into a value (raising ``ValueError`` when the segment does not
fit, so the router tries the next candidate) and a value back into a segment for ``url_path_for``.
Register your own with :func:`register_converter`.
"""

from __future__ import annotations

import math
import uuid
from typing import Any, ClassVar
from urllib.parse import quote

__all__ = [
    "Converter",
    "FloatConverter",
    "IntConverter",
    "PathConverter",
    "StringConverter",
    "UUIDConverter",
    "get_converter",
    "register_converter",
]


class Converter:
    """Base class: subclass, set ``name``/``python_type``/``priority`` and implement both methods.

    ``priority`` orders candidates that share a position in the route tree: lower is tried first, so
    ``/users/{id:int}`` is tried before ``/users/{name}``.
    """

    name: ClassVar[str] = ""
    python_type: ClassVar[Any] = str
    priority: ClassVar[int] = 50
    json_schema: ClassVar[dict[str, Any]] = {"type": "string"}

    def convert(self, value: str) -> Any:
        """Turn a path segment into a value; raise ``ValueError`` when it does not fit."""
        raise NotImplementedError

    def to_string(self, value: Any) -> str:
        """Turn a value back into a path segment (percent-encoded)."""
        return quote(str(value), safe="")


class StringConverter(Converter):
    """Any non-empty segment (the default)."""

    name = "str"
    python_type = str
    priority = 90

    def convert(self, value: str) -> str:
        """Return the segment unchanged."""
        return value


class IntConverter(Converter):
    """ASCII digits only (no sign), converted to ``int``."""

    name = "int"
    python_type = int
    priority = 10
    json_schema = {"type": "integer", "minimum": 0}

    def convert(self, value: str) -> int:
        """Parse the digits."""
        # PERF: isdigit() alone accepts non-ASCII digits like '²'; isascii() keeps it strict.
        if value.isascii() and value.isdigit():
            return int(value)
        raise ValueError(value)

    def to_string(self, value: Any) -> str:
        """Format a non-negative integer."""
        number = int(value)
        if number < 0:
            raise ValueError("negative values are not supported by the int converter")
        return str(number)


class FloatConverter(Converter):
    """A decimal number such as ``3`` or ``2.5`` (no exponent, no sign, finite)."""

    name = "float"
    python_type = float
    priority = 20
    json_schema = {"type": "number"}

    def convert(self, value: str) -> float:
        """Parse the number."""
        whole, _, frac = value.partition(".")
        if (
            whole.isascii()
            and whole.isdigit()
            and (not frac or (frac.isascii() and frac.isdigit()))
        ):
            return float(value)
        raise ValueError(value)

    def to_string(self, value: Any) -> str:
        """Format a finite non-negative number."""
        number = float(value)
        if number < 0 or not math.isfinite(number):
            raise ValueError("the float converter takes finite non-negative numbers")
        return repr(number).rstrip("0").rstrip(".") if "." in repr(number) else repr(number)


class UUIDConverter(Converter):
    """A UUID in its canonical hyphenated form."""

    name = "uuid"
    python_type = uuid.UUID
    priority = 15
    json_schema = {"type": "string", "format": "uuid"}

    def convert(self, value: str) -> uuid.UUID:
        """Parse the UUID."""
        if len(value) != 36:
            raise ValueError(value)
        return uuid.UUID(value)

    def to_string(self, value: Any) -> str:
        """Format the UUID."""
        return str(value)


class PathConverter(Converter):
    """The rest of the path, slashes included; only allowed as the last segment."""

    name = "path"
    python_type = str
    priority = 100

    def convert(self, value: str) -> str:
        """Return the remainder unchanged."""
        return value

    def to_string(self, value: Any) -> str:
        """Percent-encode, keeping slashes."""
        return quote(str(value), safe="/")


_CONVERTERS: dict[str, Converter] = {
    c.name: c()
    for c in (StringConverter, IntConverter, FloatConverter, UUIDConverter, PathConverter)
}


def register_converter(name: str, converter: Converter) -> None:
    """Make ``{param:name}`` available in route paths.

    Args:
        name: The converter name used in paths.
        converter: An instance of a :class:`Converter` subclass.
    """
    if not name.isidentifier():
        raise ValueError(f"converter name {name!r} must be an identifier")
    _CONVERTERS[name] = converter


def get_converter(name: str) -> Converter:
    """Return the converter registered as ``name``.

    Raises:
        KeyError: No such converter.
    """
    return _CONVERTERS[name]
