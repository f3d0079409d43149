"""``SessionMiddleware``: sessions stored client-side in a signed cookie.

The cookie is ``<payload>.<timestamp>.<signature>``: the session dict as JSON in URL-safe
base64, the time it was signed (seconds), and an HMAC-SHA256 of both. The client can read the
session (do not store secrets in it) but cannot change it: a cookie whose signature does not verify,
or that is older than ``max_age``, yields an empty session.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Literal

import orjson

from armature.middleware._security_common import cookie_values, is_token
from armature.middleware._signing import Signer, b64decode, b64encode, normalize_keys
from armature.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SessionMiddleware", "SessionTooLarge", "get_session"]

logger = logging.getLogger("armature.sessions")

_EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"


class SessionTooLarge(ValueError):
    """The signed session cookie is bigger than browsers store (``max_cookie_size``)."""


def get_session(connection: Any) -> dict[str, Any]:
    """Return the session of a request, websocket or scope.

    Args:
        connection: A :class:`~armature.requests.Request` (anything with ``.scope``) or a scope.

    Returns:
        The mutable session dict.

    Raises:
        RuntimeError: ``SessionMiddleware`` is not installed.
    """
    scope = getattr(connection, "scope", connection)
    try:
        session: dict[str, Any] = scope["session"]
    except KeyError:
        raise RuntimeError("no session: add SessionMiddleware to the app") from None
    return session


class SessionMiddleware:
    """Load ``scope["session"]`` from a signed cookie; write the cookie back when it changes.

    The session is a plain dict of JSON-serializable values. The cookie is rewritten only when
    the session changed (compared by content, so nested edits count), when it was verified with
    an older key (so rotation completes), or on every response with ``rolling=True``; an emptied
    session deletes the cookie. Websocket connections get the session too (read-only: a handshake
    cannot set cookies).

    Args:
        app: The wrapped ASGI app.
        secret_key: The signing key. Use a long random value (``secrets.token_urlsafe(32)``).
        secret_keys: Instead of ``secret_key``: keys newest first. The first signs, all verify,
            so a new key can be introduced without logging everyone out.
        cookie_name: The cookie name.
        max_age: Session lifetime in seconds since the cookie was last written (also the cookie's
            ``Max-Age``); ``None`` for a browser-session cookie that never expires server-side.
        path: The cookie ``Path``.
        domain: The cookie ``Domain`` (``None``: this host only).
        same_site: ``"lax"``, ``"strict"`` or ``"none"`` (``"none"`` requires ``https_only``).
        https_only: Add ``Secure``: the browser sends the cookie over HTTPS only.
        rolling: Re-sign the cookie on every response with a non-empty session, so ``max_age``
            counts from the last request instead of the last change.
        max_cookie_size: The largest ``name=value`` browsers reliably keep (4096 bytes).
        on_oversize: ``"error"`` raises :class:`SessionTooLarge` (a 500: the session would be
            silently lost otherwise); ``"warn"`` logs a warning and sends the cookie anyway.

    Raises:
        ValueError: An invalid option.
    """

    __slots__ = (
        "app",
        "cookie_attributes",
        "cookie_name",
        "delete_attributes",
        "max_age",
        "max_cookie_size",
        "on_oversize",
        "rolling",
        "signer",
    )

    def __init__(
        self,
        app: ASGIApp,
        secret_key: str | bytes | None = None,
        *,
        secret_keys: Sequence[str | bytes] | None = None,
        cookie_name: str = "session",
        max_age: int | None = 14 * 24 * 3600,
        path: str = "/",
        domain: str | None = None,
        same_site: Literal["lax", "strict", "none"] = "lax",
        https_only: bool = False,
        rolling: bool = False,
        max_cookie_size: int = 4096,
        on_oversize: Literal["error", "warn"] = "error",
    ) -> None:
        keys = normalize_keys(secret_key, secret_keys, "SessionMiddleware")
        if not is_token(cookie_name):
            raise ValueError(f"invalid cookie name {cookie_name!r}")
        if max_age is not None and max_age <= 0:
            raise ValueError("max_age must be positive (or None)")
        same = same_site.lower()
        if same not in ("lax", "strict", "none"):
            raise ValueError("same_site must be 'lax', 'strict' or 'none'")
        if same == "none" and not https_only:
            raise ValueError("same_site='none' requires https_only=True (browsers insist)")
        if on_oversize not in ("error", "warn"):
            raise ValueError("on_oversize must be 'error' or 'warn'")
        for label, value in (("path", path), ("domain", domain or "")):
            if any(c in value for c in ";,\r\n\x00 "):
                raise ValueError(f"invalid cookie {label} {value!r}")
        self.app = app
        self.signer = Signer(keys, "session")
        self.cookie_name = cookie_name
        self.max_age = max_age
        self.rolling = rolling
        self.max_cookie_size = max_cookie_size
        self.on_oversize = on_oversize
        attributes = f"; Path={path}"
        if domain:
            attributes += f"; Domain={domain}"
        tail = "; HttpOnly; SameSite=" + same.capitalize() + ("; Secure" if https_only else "")
        self.delete_attributes = f"{attributes}; Max-Age=0; Expires={_EPOCH}{tail}"
        if max_age is not None:
            attributes += f"; Max-Age={max_age}"
        self.cookie_attributes = attributes + tail

    # -- encoding ------------------------------------------------------------------------------

    def encode(self, session: dict[str, Any], timestamp: float | None = None) -> str:
        """Sign ``session`` into a cookie value.

        Args:
            session: The session dict (JSON-serializable).
            timestamp: The signing time in seconds (now by default).

        Returns:
            The cookie value.

        Raises:
            TypeError: The session holds a value JSON cannot represent.
        """
        try:
            payload = orjson.dumps(session, option=orjson.OPT_SORT_KEYS)
        except TypeError as exc:
            raise TypeError(f"the session must hold JSON-serializable values: {exc}") from None
        return self._sign(payload, timestamp)

    def _sign(self, payload: bytes, timestamp: float | None) -> str:
        stamp = int(time.time() if timestamp is None else timestamp)
        body = f"{b64encode(payload)}.{stamp}"
        return f"{body}.{self.signer.signature(body.encode('ascii'))}"

    def decode(self, value: str) -> tuple[dict[str, Any], bytes, int] | None:
        """Verify and decode a cookie value.

        Args:
            value: The cookie value as sent (any content).

        Returns:
            ``(session, canonical payload, key index)``, or ``None`` when the value is malformed,
            tampered with, signed by an unknown key, or expired.
        """
        if len(value) > 2 * self.max_cookie_size:
            return None
        parts = value.split(".")
        if len(parts) != 3:
            return None
        encoded, stamp, signature = parts
        if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
            return None
        index = self.signer.verify(f"{encoded}.{stamp}".encode("ascii", "replace"), signature)
        if index is None:
            return None
        if self.max_age is not None and time.time() - int(stamp) > self.max_age:
            return None
        payload = b64decode(encoded)
        if payload is None:
            return None
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        return data, payload, index

    # -- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        values = cookie_values(scope, self.cookie_name)
        session: dict[str, Any] = {}
        original: bytes | None = None
        key_index = 0
        for value in values:
            decoded = self.decode(value)
            if decoded is not None:
                session, original, key_index = decoded
                break
        scope["session"] = session
        if kind == "websocket":
            await self.app(scope, receive, send)
            return
        had_cookie = bool(values)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                header = self._cookie_header(scope, original, key_index, had_cookie)
                if header is not None:
                    message["headers"] = [*message.get("headers", ()), (b"set-cookie", header)]
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _cookie_header(
        self, scope: Scope, original: bytes | None, key_index: int, had_cookie: bool
    ) -> bytes | None:
        current = scope.get("session")
        if not isinstance(current, dict):
            raise TypeError("scope['session'] must stay a dict")
        if not current:
            if had_cookie:
                return f"{self.cookie_name}={self.delete_attributes}".encode("latin-1")
            return None
        try:
            payload = orjson.dumps(current, option=orjson.OPT_SORT_KEYS)
        except TypeError as exc:
            raise TypeError(f"the session must hold JSON-serializable values: {exc}") from None
        if payload == original and key_index == 0 and not self.rolling:
            return None
        pair = f"{self.cookie_name}={self._sign(payload, None)}"
        if len(pair) > self.max_cookie_size:
            message = (
                f"the session cookie is {len(pair)} bytes, over the {self.max_cookie_size}-byte "
                "limit browsers keep; store less in the session (an id pointing to server-side "
                "data)"
            )
            if self.on_oversize == "error":
                raise SessionTooLarge(message)
            logger.warning(message)
        return (pair + self.cookie_attributes).encode("latin-1")
