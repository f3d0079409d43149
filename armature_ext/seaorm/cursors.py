"""Opaque, tamper-evident pagination cursors: HMAC-SHA256 signed, base64url encoded.

A cursor is ``base64url(json payload) "." base64url(hmac_sha256(secret, payload))``. The payload
holds the sort key and the primary-key tiebreaker of the row it points at, the sort field and
order it was made for and the direction of travel. Decoding checks the signature in constant time;
a cursor that was altered, truncated or made with another secret raises :class:`InvalidCursor`,
which renders as a 400 problem+json.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import os
import secrets
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from armature.exceptions import BadRequest

__all__ = ["CursorSigner", "InvalidCursor", "decode_value", "default_signer", "encode_value"]

_ENV_KEYS = ("ARMATURE_CURSOR_SECRET", "ARMATURE_SECRET_KEY")


class InvalidCursor(BadRequest):
    """400: the pagination cursor is malformed, tampered with or made for another query."""

    title = "Invalid cursor"

    def __init__(self, detail: str = "The pagination cursor is invalid") -> None:
        super().__init__(detail)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


def encode_value(value: Any) -> Any:
    """Turn a sort-key value into JSON-safe data that :func:`decode_value` restores exactly.

    Args:
        value: ``None``, ``bool``, ``int``, ``float``, ``str``, ``datetime``, ``date``, ``time``,
            ``Decimal``, ``UUID`` or ``bytes``.

    Returns:
        The value itself for JSON scalars, else a one-key tagged mapping.

    Raises:
        TypeError: For other types.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    # NOTE: datetime is a subclass of date, so it must be tested first.
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$d": value.isoformat()}
    if isinstance(value, dt.time):
        return {"$t": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, bytes):
        return {"$b": _b64encode(value)}
    raise TypeError(f"cannot use a {type(value).__name__} value as a cursor key")


_DECODERS: dict[str, Any] = {
    "$dt": dt.datetime.fromisoformat,
    "$d": dt.date.fromisoformat,
    "$t": dt.time.fromisoformat,
    "$dec": Decimal,
    "$uuid": uuid.UUID,
    "$b": _b64decode,
}


def decode_value(data: Any) -> Any:
    """Restore a value encoded by :func:`encode_value`.

    Args:
        data: The JSON-decoded data.

    Returns:
        The original value.

    Raises:
        InvalidCursor: When the data is not a known encoding.
    """
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, dict) and len(data) == 1:
        ((tag, raw),) = data.items()
        decoder = _DECODERS.get(tag)
        if decoder is not None and isinstance(raw, str):
            try:
                return decoder(raw)
            except (ValueError, ArithmeticError, binascii.Error) as exc:
                raise InvalidCursor() from exc
    raise InvalidCursor()


class CursorSigner:
    """Signs and verifies cursor payloads with HMAC-SHA256.

    Args:
        secret: The signing key (at least 16 bytes/characters). Every process serving the same
            API must use the same secret, or cursors from one worker fail on another.

    Raises:
        ValueError: When the secret is too short.
    """

    __slots__ = ("_key",)

    def __init__(self, secret: str | bytes) -> None:
        key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if len(key) < 16:
            raise ValueError("the cursor secret must be at least 16 bytes long")
        # NOTE: derive a dedicated key so the same app secret can safely serve other purposes.
        self._key = hmac.new(key, b"armature.seaorm.cursor", hashlib.sha256).digest()

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def encode(self, payload: Mapping[str, Any]) -> str:
        """Serialize and sign ``payload``.

        Args:
            payload: JSON-serializable data (use :func:`encode_value` for rich values).

        Returns:
            The opaque cursor string (URL-safe, no padding).
        """
        raw = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
        return f"{_b64encode(raw)}.{_b64encode(self._sign(raw))}"

    def decode(self, token: str) -> dict[str, Any]:
        """Verify and deserialize a cursor made by :meth:`encode`.

        Args:
            token: The cursor string from the client.

        Returns:
            The payload mapping.

        Raises:
            InvalidCursor: When the token is malformed or its signature does not match.
        """
        if not isinstance(token, str) or token.count(".") != 1 or len(token) > 4096:
            raise InvalidCursor()
        body, signature = token.split(".")
        try:
            raw = _b64decode(body)
            given = _b64decode(signature)
        except (ValueError, binascii.Error) as exc:
            raise InvalidCursor() from exc
        if not hmac.compare_digest(given, self._sign(raw)):
            raise InvalidCursor("The pagination cursor has been tampered with")
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:  # pragma: no cover - signed payloads are valid
            raise InvalidCursor() from exc
        if not isinstance(payload, dict):
            raise InvalidCursor()
        return payload


_default: CursorSigner | None = None


def default_signer() -> CursorSigner:
    """Return the process-wide signer.

    The key comes from ``ARMATURE_CURSOR_SECRET`` (or ``ARMATURE_SECRET_KEY``); without either,
    a random key is generated once per process, so cursors do not survive a restart and are not
    shared between workers: set the variable in production.

    Returns:
        The shared :class:`CursorSigner`.
    """
    global _default
    if _default is None:
        secret = next((os.environ[k] for k in _ENV_KEYS if os.environ.get(k)), None)
        _default = CursorSigner(secret if secret is not None else secrets.token_bytes(32))
    return _default
