"""``RequestIdMiddleware``: one id per request, in the scope, the response, the logs and errors.

The id is stored in ``scope["state"]["request_id"]`` (so ``request.state.request_id`` works and
armature's problem+json errors carry it), echoed in a response header, and set in the
:data:`current_request_id` context variable for the duration of the request, which
:class:`RequestIdLogFilter` copies onto log records.
"""

from __future__ import annotations

import logging
import string
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Final

from armature.datastructures import encode_header
from armature.middleware._security_common import first_header
from armature.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "RequestIdLogFilter",
    "RequestIdMiddleware",
    "current_request_id",
    "get_request_id",
    "is_valid_request_id",
]

#: The id of the request being handled in this context, or ``None`` outside a request.
current_request_id: ContextVar[str | None] = ContextVar("armature_request_id", default=None)

MAX_LENGTH: Final = 128
_STARTS = frozenset({"http.response.start", "websocket.accept", "websocket.http.response.start"})
_SAFE = frozenset(string.ascii_letters + string.digits + "-_.:+/=@")


def _uuid4_hex() -> str:
    return uuid.uuid4().hex


def get_request_id() -> str | None:
    """Return the current request's id (``None`` outside a request or without the middleware)."""
    return current_request_id.get()


def is_valid_request_id(value: str, max_length: int = MAX_LENGTH) -> bool:
    """Tell whether an incoming id is safe to trust and echo.

    Args:
        value: The candidate.
        max_length: The longest accepted id.

    Returns:
        True for 1..``max_length`` characters of ``A-Z a-z 0-9 - _ . : + / = @``.
    """
    return 0 < len(value) <= max_length and all(c in _SAFE for c in value)


class RequestIdLogFilter(logging.Filter):
    """A logging filter that sets ``record.request_id`` (``"-"`` outside a request).

    Attach it to a handler and use ``%(request_id)s`` in the format.

    Args:
        name: As for :class:`logging.Filter`.
        default: The value used outside a request.
    """

    def __init__(self, name: str = "", default: str = "-") -> None:
        super().__init__(name)
        self.default = default

    def filter(self, record: logging.LogRecord) -> bool:
        """Add ``request_id`` to ``record``; never drops a record."""
        request_id = current_request_id.get()
        record.request_id = request_id if request_id is not None else self.default
        return True


class RequestIdMiddleware:
    """Give each http request and websocket connection an id.

    An incoming id (in ``header``) is reused when ``trust_incoming`` is on and it passes
    :func:`is_valid_request_id`; otherwise, or when it is missing, ``generator()`` makes one. A
    malformed incoming id is replaced, never refused. The id is echoed on the response (and on
    the websocket accept) unless the app already set that header.

    Args:
        app: The wrapped ASGI app.
        header: The request and response header name.
        generator: Makes a new id (a uuid4 in hex by default).
        trust_incoming: Reuse a valid id sent by the client or a proxy.
        max_length: The longest incoming id accepted (at most 128 by default).

    Raises:
        ValueError: ``header`` is not a valid header name.
    """

    __slots__ = ("app", "generator", "header", "max_length", "trust_incoming")

    def __init__(
        self,
        app: ASGIApp,
        header: str = "x-request-id",
        generator: Callable[[], str] = _uuid4_hex,
        trust_incoming: bool = True,
        max_length: int = MAX_LENGTH,
    ) -> None:
        self.app = app
        self.header = encode_header(header, "")[0]
        self.generator = generator
        self.trust_incoming = trust_incoming
        self.max_length = max_length

    def _request_id(self, scope: Scope) -> str:
        if self.trust_incoming:
            incoming = first_header(scope, self.header)
            if incoming is not None:
                text = incoming.decode("latin-1")
                if is_valid_request_id(text, self.max_length):
                    return text
        generated = self.generator()
        # NOTE: the generator is user code; its value goes into a header, so check it once here.
        encode_header(self.header, generated)
        return generated

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        request_id = self._request_id(scope)
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["request_id"] = request_id
        header = self.header
        pair = (header, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] in _STARTS:
                raw = list(message.get("headers") or ())
                if all(name != header for name, _ in raw):
                    raw.append(pair)
                message["headers"] = raw
            await send(message)

        token = current_request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_request_id.reset(token)
