"""Input limits in one place: body, forms, uploads, URL, headers and JSON nesting.

:class:`Limits` is a frozen dataclass of safe defaults; change a few with :meth:`Limits.with_`. A
breach raises a :class:`LimitExceeded` subclass (413 for sizes and counts of content, 400 for
malformed-by-limit input, 414 for the URL, 431 for the headers) whose problem+json body names the
limit (``{"limit": "max_files", "max": 10}``).

:func:`check_request_limits` (URL length, header count) and :func:`check_json_depth` (nesting
depth of a JSON body, a linear scan without recursion) are cheap checks meant to run before the
request is routed or its body decoded.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, ClassVar, Final

from armature.exceptions import BadRequest, HTTPException, PayloadTooLarge
from armature.types import Scope

__all__ = [
    "ContentLimitExceeded",
    "HeaderLimitExceeded",
    "InputLimitExceeded",
    "LimitExceeded",
    "Limits",
    "URLLimitExceeded",
    "check_json_depth",
    "check_request_limits",
    "limit_error",
]

KIB: Final = 1024
MIB: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits on what a request may contain; every default is meant to be safe to expose.

    Sizes are in bytes and measured on the wire (encoded form fields count their percent-encoded
    length; multipart parts count their raw body).

    Attributes:
        max_body_size: The whole request body (1 MiB). Raise it for uploads.
        max_form_fields: Fields of a form, files included (1000).
        max_files: File parts of a multipart form (10).
        max_part_size: One file part of a multipart form (10 MiB).
        max_field_size: One non-file field: a multipart part without a filename, or one
            ``name=value`` pair of a url-encoded form (64 KiB).
        max_part_headers: Header lines of one multipart part (16).
        max_part_header_size: The header block of one multipart part (8 KiB).
        max_boundary_length: The multipart boundary (70, the RFC 2046 maximum).
        max_url_length: The request target, path plus query (8 KiB).
        max_header_count: Request header lines (100).
        max_json_depth: Nesting of arrays and objects in a JSON body (64).
        spool_threshold: Upload bytes kept in memory before spilling to a temporary file (1 MiB).
    """

    max_body_size: int = 1 * MIB
    max_form_fields: int = 1000
    max_files: int = 10
    max_part_size: int = 10 * MIB
    max_field_size: int = 64 * KIB
    max_part_headers: int = 16
    max_part_header_size: int = 8 * KIB
    max_boundary_length: int = 70
    max_url_length: int = 8 * KIB
    max_header_count: int = 100
    max_json_depth: int = 64
    spool_threshold: int = 1 * MIB

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Limits.{field.name} must be an int, got {value!r}")
            if value < 0 or (value == 0 and field.name not in _MAY_BE_ZERO):
                raise ValueError(f"Limits.{field.name} must be positive, got {value}")

    def with_(self, **changes: int) -> Limits:
        """Return a copy with some limits changed.

        Args:
            **changes: New values by attribute name (``max_files=50``).

        Returns:
            The new :class:`Limits`.

        Raises:
            TypeError: An unknown limit name, or a value that is not an int.
            ValueError: A negative (or, where it makes no sense, zero) value.
        """
        unknown = set(changes) - _NAMES
        if unknown:
            raise TypeError(f"unknown limits: {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)


# NOTE: zero files (no uploads at all) is a meaningful setting; zero of anything else is not.
_MAY_BE_ZERO: Final = frozenset({"max_files"})
_NAMES: Final = frozenset(f.name for f in dataclasses.fields(Limits))


class LimitExceeded(HTTPException):
    """A request went over one of the :class:`Limits`.

    Not raised itself: one of its subclasses is, so the status fits the limit (see
    :func:`limit_error`). ``limit`` names the attribute of :class:`Limits`; the problem document
    carries it as ``limit`` and the configured maximum as ``max``.

    Args:
        limit: The limit's name (``"max_files"``).
        detail: The explanation; a default naming the limit is used when omitted.
        maximum: The configured value of the limit.
    """

    status_code: ClassVar[int] = 400

    def __init__(
        self, limit: str, detail: str | None = None, *, maximum: int | None = None
    ) -> None:
        extensions: dict[str, Any] = {"limit": limit}
        if maximum is not None:
            extensions["max"] = maximum
        if detail is None:
            detail = f"The request is over the limit {limit}"
            if maximum is not None:
                detail += f" ({maximum})"
        HTTPException.__init__(self, None, detail, extensions=extensions)
        self.limit = limit
        self.maximum = maximum

    def __repr__(self) -> str:
        return f"{type(self).__name__}(limit={self.limit!r}, status_code={self.status_code})"


class ContentLimitExceeded(LimitExceeded, PayloadTooLarge):
    """413: the body, a part, a field, or the number of fields or files is over a limit."""

    status_code: ClassVar[int] = 413


class InputLimitExceeded(LimitExceeded, BadRequest):
    """400: input refused by a structural limit (boundary length, JSON nesting)."""

    status_code: ClassVar[int] = 400


class URLLimitExceeded(InputLimitExceeded):
    """414 URI Too Long: the request target is over ``max_url_length``."""

    status_code: ClassVar[int] = 414


class HeaderLimitExceeded(InputLimitExceeded):
    """431 Request Header Fields Too Large: more than ``max_header_count`` header lines."""

    status_code: ClassVar[int] = 431


_ERRORS: Final[dict[str, type[LimitExceeded]]] = {
    "max_body_size": ContentLimitExceeded,
    "max_form_fields": ContentLimitExceeded,
    "max_files": ContentLimitExceeded,
    "max_part_size": ContentLimitExceeded,
    "max_field_size": ContentLimitExceeded,
    "max_part_headers": ContentLimitExceeded,
    "max_part_header_size": ContentLimitExceeded,
    "max_boundary_length": InputLimitExceeded,
    "max_url_length": URLLimitExceeded,
    "max_header_count": HeaderLimitExceeded,
    "max_json_depth": InputLimitExceeded,
}


def limit_error(limit: str, maximum: int | None = None, detail: str | None = None) -> LimitExceeded:
    """Build the error for a breached limit, with the status that fits it.

    Args:
        limit: The :class:`Limits` attribute name.
        maximum: Its configured value (shown in the problem document).
        detail: The explanation; a default naming the limit when omitted.

    Returns:
        A :class:`ContentLimitExceeded` (413), :class:`InputLimitExceeded` (400),
        :class:`URLLimitExceeded` (414) or :class:`HeaderLimitExceeded` (431).
    """
    return _ERRORS.get(limit, InputLimitExceeded)(limit, detail, maximum=maximum)


def check_request_limits(scope: Scope, limits: Limits) -> None:
    """Check the request target length and the number of header lines; cheap, no parsing.

    The target is ``raw_path`` (or the path) plus ``?`` and the query string, as sent.

    Args:
        scope: The ASGI http scope.
        limits: The limits to apply.

    Raises:
        URLLimitExceeded: The target is over ``max_url_length`` (414).
        HeaderLimitExceeded: More than ``max_header_count`` header lines (431).
    """
    raw_path = scope.get("raw_path")
    length = len(raw_path) if raw_path else len(scope.get("path", "").encode("utf-8"))
    query = scope.get("query_string")
    if query:
        length += 1 + len(query)
    if length > limits.max_url_length:
        raise limit_error(
            "max_url_length",
            limits.max_url_length,
            f"The request target is {length} bytes, over the limit of {limits.max_url_length}",
        )
    count = len(scope.get("headers") or ())
    if count > limits.max_header_count:
        raise limit_error(
            "max_header_count",
            limits.max_header_count,
            f"The request has {count} header lines, over the limit of {limits.max_header_count}",
        )


# NOTE: a JSON string, from its opening quote to the closing one, or to the end of the input when
# it is unterminated. Every position after the quote is consumed by exactly one branch, so the
# match never fails and never backtracks: removing strings is one linear pass in C.
_JSON_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)
# Keep only brackets: openers become +1, closers -1 (as signed bytes).
_KEEP: Final = b"[]{}"
_DELETE: Final = bytes(b for b in range(256) if b not in _KEEP)
_SIGNS: Final = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def check_json_depth(body: bytes, max_depth: int) -> None:
    """Refuse a JSON document nested deeper than ``max_depth`` arrays/objects.

    A linear scan without recursion, meant to run before the parser: strings (with their escapes)
    are skipped, then the nesting is the running sum of ``[``/``{`` (+1) and ``]``/``}`` (-1). The
    document is not validated; malformed input is left for the JSON parser to refuse.

    Args:
        body: The raw JSON bytes.
        max_depth: The deepest nesting allowed (``[[1]]`` has depth 2; scalars have 0).

    Raises:
        InputLimitExceeded: The nesting is deeper than ``max_depth`` (400, limit
            ``max_json_depth``).
    """
    # PERF: a document cannot nest deeper than it has openers; most bodies stop here.
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return
    outside = _JSON_STRING.sub(b"", body) if b'"' in body else body
    brackets = outside.translate(_SIGNS, _DELETE)
    if len(brackets) <= max_depth:
        return
    # PERF: the running sum is computed in C over signed bytes; no Python-level loop per byte.
    deepest = max(accumulate(memoryview(brackets).cast("b")), default=0)
    if deepest > max_depth:
        raise limit_error(
            "max_json_depth",
            max_depth,
            f"The JSON document nests deeper than {max_depth} levels",
        )
