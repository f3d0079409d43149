"""HMAC-SHA256 signing with key rotation, shared by sessions and CSRF tokens.

Each use ("purpose") derives its own key from every secret, so a value signed for one purpose
never verifies for another even when the application uses one secret for both.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import string
from collections.abc import Sequence

__all__ = ["Signer", "b64decode", "b64encode", "normalize_keys"]

_B64_CHARS = frozenset(string.ascii_letters + string.digits + "-_")


def b64encode(data: bytes) -> str:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes | None:
    """Decode canonical URL-safe base64 without padding; ``None`` for anything else.

    Only the canonical encoding is accepted (no stray characters, padding or unused bits set),
    so a signed value has exactly one valid spelling.
    """
    if not set(text) <= _B64_CHARS:
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return data if b64encode(data) == text else None


def normalize_keys(
    secret_key: str | bytes | None, secret_keys: Sequence[str | bytes] | None, owner: str
) -> list[bytes]:
    """Turn ``secret_key``/``secret_keys`` options into a non-empty list of byte keys.

    Args:
        secret_key: One key.
        secret_keys: Keys, newest first (for rotation).
        owner: The middleware name, for error messages.

    Returns:
        The keys as bytes, the signing key first.

    Raises:
        ValueError: None or both given, or an empty key.
    """
    if (secret_key is None) == (secret_keys is None):
        raise ValueError(f"{owner}: give exactly one of secret_key= or secret_keys=")
    if isinstance(secret_keys, str | bytes):
        raise ValueError(f"{owner}: secret_keys must be a sequence of keys, not one key")
    raw = [secret_key] if secret_key is not None else list(secret_keys or ())
    keys = [k.encode("utf-8") if isinstance(k, str) else bytes(k) for k in raw if k is not None]
    if not keys or any(not k for k in keys):
        raise ValueError(f"{owner}: secret keys must be non-empty")
    return keys


class Signer:
    """Signs with the first key, verifies with any (key rotation).

    Args:
        keys: The secrets, newest first.
        purpose: A label separating this use's derived keys from other uses.
    """

    __slots__ = ("_keys",)

    def __init__(self, keys: Sequence[bytes], purpose: str) -> None:
        label = b"armature:" + purpose.encode("ascii")
        self._keys = [hmac.new(key, label, hashlib.sha256).digest() for key in keys]

    def signature(self, data: bytes) -> str:
        """The base64url signature of ``data`` with the newest key."""
        return b64encode(hmac.new(self._keys[0], data, hashlib.sha256).digest())

    def verify(self, data: bytes, signature: str) -> int | None:
        """Check ``signature`` against every key in constant time per key.

        Args:
            data: The signed bytes.
            signature: The base64url signature to check.

        Returns:
            The index of the key that verified it (0 is the newest), or ``None``.
        """
        given = b64decode(signature)
        if given is None or len(given) != hashlib.sha256().digest_size:
            return None
        for index, key in enumerate(self._keys):
            expected = hmac.new(key, data, hashlib.sha256).digest()
            if hmac.compare_digest(expected, given):
                return index
        return None
