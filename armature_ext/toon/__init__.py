"""TOON (Token-Oriented Object Notation) codec, targeting ``toon-spec: 4.1``.

TOON is a compact, line-oriented encoding of the JSON data model meant for LLM prompts and
responses: arrays declare their length (and, for uniform objects, their fields) once; objects use
indentation instead of braces; strings are quoted only when needed.

The codec is pure Python with no third-party dependencies and imports nothing from armature's
web layer; the HTTP integration (responses, content negotiation, request bodies) lives in
:mod:`armature_ext.toon.web`.

Example:
    >>> from armature_ext.toon import decode, encode
    >>> text = encode({"users": [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Bob"}]})
    >>> print(text)
    users[2]{id,name}:
      1,Ada
      2,Bob
    >>> decode(text)
    {'users': [{'id': 1, 'name': 'Ada'}, {'id': 2, 'name': 'Bob'}]}
"""

from __future__ import annotations

from typing import Any

from . import _decoder, _encoder
from ._errors import ToonDecodeError, ToonEncodeError, ToonError
from ._normalize import Default
from ._size import SizeReport, estimate_tokens, size_report

__all__ = [
    "MEDIA_TYPE",
    "SPEC_VERSION",
    "SizeReport",
    "ToonDecodeError",
    "ToonEncodeError",
    "ToonError",
    "decode",
    "encode",
    "estimate_tokens",
    "size_report",
]

SPEC_VERSION = "4.1"
"""The TOON specification version this codec targets (v4.0 and v4.1.1 fixtures pass)."""

MEDIA_TYPE = "application/toon"
"""The media type armature uses for TOON bodies (the spec's provisional one is ``text/toon``)."""


def encode(
    value: Any, *, indent: int = 2, delimiter: str = ",", default: Default | None = None
) -> str:
    """Encode a Python value as a TOON document.

    Host types are normalised first (spec §3): mappings -> objects (keys must be ``str``),
    lists/tuples/sets -> arrays, NaN/inf -> ``null``, ``-0.0`` -> ``0``, ``Decimal`` -> its exact
    digits, ``datetime``/``date``/``time`` -> ISO 8601 strings, ``UUID`` -> string, ``Enum`` ->
    its value, dataclasses and pydantic models -> objects. Anything else goes to ``default``.

    Args:
        value: The value to encode.
        indent: Spaces per indentation level (spec ``indentSize``), >= 1.
        delimiter: The document delimiter: ``","`` (default), ``"\\t"`` or ``"|"``.
        default: Called with any otherwise unsupported object; must return an encodable value
            (like ``json.dumps(default=...)``).

    Returns:
        The TOON text: LF line endings, no trailing newline, no trailing spaces.

    Raises:
        ToonEncodeError: For unsupported values, non-string keys or circular references.
        ValueError: For an invalid ``indent`` or ``delimiter``.
    """
    return _encoder.encode(value, indent=indent, delimiter=delimiter, default=default)


def decode(
    text: str | bytes | bytearray | memoryview, *, indent: int = 2, strict: bool = True
) -> Any:
    """Decode a TOON document into Python values.

    Objects become ``dict``, arrays ``list``; integer tokens become ``int`` (any size),
    other numbers ``float``. Comment lines (``# ...``) are ignored.

    Args:
        text: The document; bytes are decoded as UTF-8 (ill-formed UTF-8 is an error in strict
            mode, replaced with U+FFFD otherwise).
        indent: Spaces per indentation level (spec ``indentSize``), >= 1.
        strict: Enforce every strict-mode rule of spec §14 (counts, widths, indentation,
            blank lines in arrays, duplicate keys, malformed headers). Non-strict mode accepts
            the documented leniencies instead (see ``docs/toon.md``).

    Returns:
        The decoded value.

    Raises:
        ToonDecodeError: The document is malformed; ``.line`` and ``.column`` are 1-based.
        ValueError: For an invalid ``indent``.
    """
    return _decoder.decode(text, indent=indent, strict=strict)
