"""HTTP errors and their RFC 9457 ``application/problem+json`` rendering.

Every error armature produces, and every :class:`HTTPException` a handler raises, reaches the
client as a problem details document: ``type``, ``title``, ``status``, ``detail``, ``instance`` and
any extension members (``errors`` for validation failures, ``request_id`` when one is known).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

import orjson

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "GatewayTimeout",
    "Gone",
    "HTTPException",
    "InternalServerError",
    "MethodNotAllowed",
    "NotAcceptable",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "RequestValidationError",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "UnprocessableEntity",
    "UnsupportedMediaType",
    "problem_body",
    "status_title",
]

PROBLEM_JSON = b"application/problem+json"


# PERF: reason phrases looked up once; HTTPStatus(code) costs an enum lookup on every error.
_TITLES = {status.value: status.phrase for status in HTTPStatus}


def status_title(status_code: int) -> str:
    """Return the standard reason phrase for ``status_code`` (``"Error"`` when unknown).

    Args:
        status_code: An HTTP status code.

    Returns:
        The IANA reason phrase, e.g. ``"Not Found"``.
    """
    return _TITLES.get(status_code, "Error")


class HTTPException(Exception):
    """An error that becomes an HTTP response with an RFC 9457 problem+json body.

    Subclasses set ``status_code`` (and optionally ``title``/``type``) as class attributes, so
    ``raise NotFound("no such user")`` works; the base class takes the status as first argument.

    Args:
        status_code: The HTTP status; defaults to the class attribute.
        detail: A human-readable explanation specific to this occurrence.
        headers: Extra response headers (for example ``WWW-Authenticate`` or ``Retry-After``).
        title: Overrides the short summary (defaults to the status reason phrase).
        type: A URI reference identifying the problem type (defaults to ``about:blank``).
        extensions: Extra members merged into the problem document.
    """

    status_code: ClassVar[int] = 500
    title: str | None = None
    type: str = "about:blank"

    def __init__(
        self,
        status_code: int | None = None,
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        title: str | None = None,
        type: str | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(status_code, str) and "status_code" in _own_attributes(self.__class__):
            # NOTE: a subclass with a fixed status called as MyError("message"): the message is
            # the detail, as for the built-in per-status classes.
            status_code, detail = None, status_code
        if status_code is not None:
            if not isinstance(status_code, int) or isinstance(status_code, bool):
                raise TypeError(
                    f"{self.__class__.__name__}: status_code must be an int, got {status_code!r}"
                )
            self.status_code = status_code  # type: ignore[misc]
        self.detail = detail
        self.headers: dict[str, str] = dict(headers) if headers else {}
        if title is not None:
            self.title = title
        if type is not None:
            self.type = type
        self.extensions: dict[str, Any] = dict(extensions) if extensions else {}
        super().__init__(detail or status_title(self.status_code))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code}, detail={self.detail!r})"

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """Return the problem details document as a dict.

        Args:
            instance: The request path the problem occurred on, if known.

        Returns:
            A JSON-serializable mapping with ``type``, ``title``, ``status`` and optional members.
        """
        problem: dict[str, Any] = {
            "type": self.type,
            "title": self.title or status_title(self.status_code),
            "status": self.status_code,
        }
        if self.detail is not None:
            problem["detail"] = self.detail
        if instance is not None:
            problem["instance"] = instance
        if self.extensions:
            problem.update(self.extensions)
        return problem


def _own_attributes(cls: type) -> set[str]:
    """Attribute names set by ``cls`` or its bases below ``HTTPException``."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is HTTPException:
            break
        names.update(vars(klass))
    return names


def problem_body(
    status_code: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    type: str = "about:blank",
    instance: str | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> bytes:
    """Encode a problem details document.

    Args:
        status_code: The HTTP status.
        detail: The occurrence-specific explanation.
        title: The short summary (defaults to the reason phrase).
        type: The problem type URI.
        instance: The request path.
        extensions: Extra members.

    Returns:
        The JSON bytes of the document.
    """
    problem: dict[str, Any] = {
        "type": type,
        "title": title or status_title(status_code),
        "status": status_code,
    }
    if detail is not None:
        problem["detail"] = detail
    if instance is not None:
        problem["instance"] = instance
    if extensions:
        problem.update(extensions)
    return orjson.dumps(problem)


class _StatusError(HTTPException):
    """Base of the per-status subclasses: their first argument is the detail, not the status.

    Args:
        detail: A human-readable explanation specific to this occurrence.
        headers: Extra response headers.
        **kwargs: ``title``, ``type`` or ``extensions``, as for :class:`HTTPException`.
    """

    def __init__(
        self, detail: str | None = None, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(None, detail, headers, **kwargs)


class BadRequest(_StatusError):
    """400 Bad Request."""

    status_code = 400


class Unauthorized(_StatusError):
    """401 Unauthorized (set a ``WWW-Authenticate`` header)."""

    status_code = 401


class Forbidden(_StatusError):
    """403 Forbidden."""

    status_code = 403


class NotFound(_StatusError):
    """404 Not Found."""

    status_code = 404


class MethodNotAllowed(_StatusError):
    """405 Method Not Allowed (set an ``Allow`` header)."""

    status_code = 405


class NotAcceptable(_StatusError):
    """406 Not Acceptable."""

    status_code = 406


class Conflict(_StatusError):
    """409 Conflict."""

    status_code = 409


class Gone(_StatusError):
    """410 Gone."""

    status_code = 410


class PreconditionFailed(_StatusError):
    """412 Precondition Failed."""

    status_code = 412


class PayloadTooLarge(_StatusError):
    """413 Content Too Large."""

    status_code = 413


class UnsupportedMediaType(_StatusError):
    """415 Unsupported Media Type."""

    status_code = 415


class UnprocessableEntity(_StatusError):
    """422 Unprocessable Content."""

    status_code = 422


class TooManyRequests(_StatusError):
    """429 Too Many Requests."""

    status_code = 429


class InternalServerError(_StatusError):
    """500 Internal Server Error."""

    status_code = 500


class ServiceUnavailable(_StatusError):
    """503 Service Unavailable."""

    status_code = 503


class GatewayTimeout(_StatusError):
    """504 Gateway Timeout."""

    status_code = 504


class RequestValidationError(_StatusError):
    """422: request data failed validation; ``errors`` lists each failure with loc, msg and type.

    Args:
        errors: Field-level errors, each ``{"loc": [...], "msg": str, "type": str}``.
        detail: The summary sentence.
    """

    status_code = 422

    def __init__(
        self, errors: Sequence[Mapping[str, Any]], detail: str = "Request validation failed"
    ) -> None:
        super().__init__(detail)
        self.errors = errors if isinstance(errors, list) else list(errors)
        self.extensions = {"errors": self.errors}
