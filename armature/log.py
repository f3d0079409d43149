"""Logging for armature apps, on the standard ``logging`` module so users' handlers keep working.

``configure_logging()`` installs one stderr handler on the ``armature`` logger with the chosen
format: ``json`` (default: one JSON object per line with timestamp, level, logger, message, the
request id and any ``extra=`` fields), ``pretty`` or ``compact`` for development. It reads
``ARMATURE_LOG_LEVEL`` and ``ARMATURE_LOG_FORMAT`` and can be called again at run time.

:class:`AccessLogMiddleware` logs method, path, status, duration and request id for each request
to ``armature.access``; when that logger is disabled the middleware passes requests straight
through after one cached level check.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import orjson

from armature.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "AccessLogMiddleware",
    "CompactFormatter",
    "JSONFormatter",
    "PrettyFormatter",
    "configure_logging",
    "request_id_var",
]

LogFormat = Literal["json", "pretty", "compact"]

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "armature_request_id", default=None
)
"""The current request id; set by ``RequestIdMiddleware`` (or your own code) for log lines."""

# NOTE: the attributes every LogRecord has; anything else came from ``extra=`` and is logged.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName"}
)


def _request_id(record: logging.LogRecord) -> str | None:
    explicit = getattr(record, "request_id", None)
    if explicit is not None:
        return str(explicit)
    current = request_id_var.get()
    if current is not None:
        return current
    try:
        from armature.middleware.request_id import current_request_id
    except ImportError:
        return None
    value = current_request_id.get()
    return None if value is None else str(value)


def _extra(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and k != "request_id"}


class JSONFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a JSON line."""
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = _request_id(record)
        if request_id is not None:
            entry["request_id"] = request_id
        entry.update(_extra(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class PrettyFormatter(logging.Formatter):
    """Readable multi-field lines for development."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` for a terminal."""
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        parts = [f"{stamp} {record.levelname:<8} {record.name}: {record.getMessage()}"]
        request_id = _request_id(record)
        if request_id is not None:
            parts.append(f"request_id={request_id}")
        parts.extend(f"{k}={v!r}" for k, v in _extra(record).items())
        text = "  ".join(parts)
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class CompactFormatter(logging.Formatter):
    """``LEVEL logger message`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` tersely."""
        text = f"{record.levelname[0]} {record.name} {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


_FORMATTERS: dict[str, type[logging.Formatter]] = {
    "json": JSONFormatter,
    "pretty": PrettyFormatter,
    "compact": CompactFormatter,
}


def configure_logging(
    level: str | int | None = None,
    format: LogFormat | None = None,
    *,
    stream: TextIO | None = None,
    logger_name: str = "armature",
) -> logging.Handler:
    """Install (or replace) armature's log handler.

    Args:
        level: A level name or number (default ``ARMATURE_LOG_LEVEL`` or ``INFO``).
        format: ``json``, ``pretty`` or ``compact`` (default ``ARMATURE_LOG_FORMAT`` or ``json``).
        stream: Where to write (stderr by default).
        logger_name: The logger to configure (``""`` for the root logger).

    Returns:
        The handler installed.

    Raises:
        ValueError: An unknown level or format.
    """
    chosen_level = level if level is not None else os.environ.get("ARMATURE_LOG_LEVEL", "INFO")
    if isinstance(chosen_level, str):
        number = logging.getLevelName(chosen_level.upper())
        if not isinstance(number, int):
            raise ValueError(f"unknown log level {chosen_level!r}")
        chosen_level = number
    chosen_format = format or os.environ.get("ARMATURE_LOG_FORMAT", "json")
    if chosen_format not in _FORMATTERS:
        raise ValueError(f"unknown log format {chosen_format!r}: use json, pretty or compact")
    logger = logging.getLogger(logger_name)
    for handler in list(logger.handlers):
        if getattr(handler, "_armature", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_FORMATTERS[chosen_format]())
    handler._armature = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(chosen_level)
    return handler


class AccessLogMiddleware:
    """Log one line per HTTP request to ``armature.access`` (pure ASGI).

    Args:
        app: The wrapped app.
        logger: The logger to write to.
    """

    __slots__ = ("app", "logger")

    def __init__(self, app: ASGIApp, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.logger = logger or logging.getLogger("armature.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # PERF: isEnabledFor is cached by logging; a disabled access log costs this one check.
        if scope["type"] != "http" or not self.logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 3)
            state = scope.get("state") or {}
            self.logger.info(
                "%s %s %d %.3fms",
                scope.get("method"),
                scope.get("path"),
                status,
                duration_ms,
                extra={
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": duration_ms,
                    "request_id": state.get("request_id"),
                },
            )
