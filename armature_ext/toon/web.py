"""armature integration for TOON: responses, content negotiation and request bodies.

Import this module explicitly (``from armature_ext.toon.web import ToonResponse``); the codec in
:mod:`armature_ext.toon` never imports armature.

Example:
    >>> from armature import App, Request
    >>> from armature_ext.toon.web import negotiate
    >>> app = App()
    >>> @app.get("/users")
    ... async def users(request: Request):
    ...     return negotiate(request, [{"id": 1, "name": "Ada"}])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from armature.exceptions import (
    BadRequest,
    NotAcceptable,
    RequestValidationError,
    UnsupportedMediaType,
)
from armature.requests import Request, is_json_content_type
from armature.responses import JSONResponse, Response

from . import MEDIA_TYPE, ToonDecodeError, decode, encode
from ._accept import parse_accept, select_media_type

__all__ = [
    "AVAILABLE",
    "MEDIA_TYPE",
    "ToonResponse",
    "is_toon_content_type",
    "negotiate",
    "parse_accept",
    "read_toon",
    "read_toon_or_json",
    "select_media_type",
]

T = TypeVar("T")

JSON_MEDIA_TYPE = "application/json"
AVAILABLE = (JSON_MEDIA_TYPE, MEDIA_TYPE)
"""What :func:`negotiate` can produce, in the default order of preference."""

_TOON_TYPES = frozenset({MEDIA_TYPE, "text/toon"})
_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


class ToonResponse(Response):
    """A response whose body is ``content`` encoded as TOON (``application/toon``).

    ``content`` is any value :func:`armature_ext.toon.encode` accepts: dicts, lists, primitives,
    pydantic models, dataclasses, datetimes, ... A ``str`` is encoded as a TOON string value; to
    send text that is already TOON, use ``Response(text, media_type="application/toon")``.

    Args:
        content: The value to encode.
        status_code: The HTTP status.
        headers: Extra headers.
        media_type: Defaults to ``application/toon``.
        background: Run after sending.
        indent: TOON indentation (spaces per level).
        delimiter: TOON document delimiter (``","``, ``"\\t"`` or ``"|"``).
    """

    __slots__ = ("delimiter", "indent")
    default_media_type = MEDIA_TYPE

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: Any = None,
        *,
        indent: int = 2,
        delimiter: str = ",",
    ) -> None:
        # NOTE: set before super().__init__, which calls render().
        self.indent = indent
        self.delimiter = delimiter
        super().__init__(content, status_code, headers, media_type, background)

    def render(self, content: Any) -> bytes:
        """Encode ``content`` as UTF-8 TOON bytes.

        Args:
            content: The value given to the constructor.

        Returns:
            The body.
        """
        return encode(content, indent=self.indent, delimiter=self.delimiter).encode("utf-8")


def negotiate(
    request: Request,
    data: Any,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    prefer: str = JSON_MEDIA_TYPE,
    indent: int = 2,
    delimiter: str = ",",
) -> Response:
    """Answer with JSON or TOON, whichever the request's ``Accept`` header prefers.

    q-values are honoured (``application/toon;q=0.9, application/json;q=0.5`` gives TOON);
    ties and wildcards (``*/*``, ``application/*``) go to ``prefer``; a missing ``Accept`` gives
    ``prefer``. The response carries ``Vary: Accept``.

    Args:
        request: The current request.
        data: The value to send (anything both encoders accept).
        status_code: The HTTP status.
        headers: Extra headers.
        prefer: The server's preferred type: ``application/json`` or ``application/toon``.
        indent: TOON indentation.
        delimiter: TOON delimiter.

    Returns:
        A :class:`~armature.responses.JSONResponse` or a :class:`ToonResponse`.

    Raises:
        NotAcceptable: Neither type is acceptable (406, rendered as problem+json).
    """
    if prefer not in AVAILABLE:
        raise ValueError(f"prefer must be one of {AVAILABLE}, got {prefer!r}")
    order = AVAILABLE if prefer == JSON_MEDIA_TYPE else (MEDIA_TYPE, JSON_MEDIA_TYPE)
    accept_values = request.headers.getlist("accept")
    accept = ", ".join(accept_values) if accept_values else None
    chosen = select_media_type(accept, order)
    if chosen is None:
        raise NotAcceptable(
            f"Cannot produce any of the accepted media types; available: {', '.join(order)}",
            headers={"vary": "Accept"},
            extensions={"available": list(order)},
        )
    out_headers = {"vary": "Accept"}
    if headers:
        out_headers.update(headers)
    if chosen == MEDIA_TYPE:
        return ToonResponse(data, status_code, out_headers, indent=indent, delimiter=delimiter)
    return JSONResponse(data, status_code, out_headers)


def is_toon_content_type(value: str | None) -> bool:
    """Whether a ``Content-Type`` value names TOON (``application/toon`` or ``text/toon``).

    Args:
        value: The header value (parameters such as ``charset`` are ignored).

    Returns:
        True for a TOON media type.
    """
    if not value:
        return False
    return value.split(";", 1)[0].strip().lower() in _TOON_TYPES


def _adapter(model: Any) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        # PERF: building a TypeAdapter is expensive; keep one per target type.
        adapter = _ADAPTERS[model] = TypeAdapter(model)
    return adapter


def _validate(model: type[T] | Any, data: Any) -> Any:
    try:
        return _adapter(model).validate_python(data)
    except ValidationError as exc:
        errors = [
            {"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise RequestValidationError(errors) from None


async def read_toon(
    request: Request, model: type[T] | Any, *, strict: bool = True, indent: int = 2
) -> Any:
    """Read an ``application/toon`` request body and validate it into ``model`` with pydantic.

    Args:
        request: The current request (the body size limit of the request applies).
        model: A pydantic model or any type pydantic can validate (``list[Item]``, ...).
        strict: Decode in TOON strict mode (the default).
        indent: The indentation the client uses.

    Returns:
        The validated value (an instance of ``model`` for a model class).

    Raises:
        UnsupportedMediaType: The body is not TOON (415).
        BadRequest: The body is not valid TOON (400); ``line`` and ``column`` are added to the
            problem document.
        RequestValidationError: The data does not fit ``model`` (422, with ``errors``).
    """
    if not is_toon_content_type(request.content_type):
        raise UnsupportedMediaType("Expected a TOON body (Content-Type: application/toon)")
    body = await request.body()
    try:
        data = decode(body, strict=strict, indent=indent)
    except ToonDecodeError as exc:
        raise BadRequest(
            f"Malformed TOON: {exc}", extensions={"line": exc.line, "column": exc.column}
        ) from None
    return _validate(model, data)


async def read_toon_or_json(request: Request, model: type[T] | Any) -> Any:
    """Read a TOON or JSON body (by ``Content-Type``) and validate it into ``model``.

    Args:
        request: The current request.
        model: A pydantic model or any type pydantic can validate.

    Returns:
        The validated value.

    Raises:
        UnsupportedMediaType: The body is neither TOON nor JSON (415).
        BadRequest: Malformed TOON or JSON (400).
        RequestValidationError: The data does not fit ``model`` (422).
    """
    content_type = request.content_type
    if is_toon_content_type(content_type):
        return await read_toon(request, model)
    if content_type is not None and is_json_content_type(content_type.encode("latin-1")):
        return _validate(model, await request.json())
    raise UnsupportedMediaType(
        "Expected a TOON or JSON body (Content-Type: application/toon or application/json)"
    )
