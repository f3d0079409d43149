"""Canonical number text (TOON spec §2) and the decoder's number grammar (§4)."""

from __future__ import annotations

import decimal
import re

__all__ = ["NUMBER_RE", "format_decimal", "format_float"]

# §4: a token is a number iff it matches this (ASCII digits, no forbidden leading zeros).
# Group 1/2 (fraction/exponent) are captured so ``m.lastindex is None`` means "integer".
NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")

_LOW = 1e-6
_HIGH = 1e21


def format_float(value: float) -> str:
    """Return the canonical TOON text of a finite ``float`` (``null`` for NaN/inf).

    Inside ``1e-6 <= |x| < 1e21`` the shortest round-tripping digits are written in plain
    decimal (no exponent, no trailing zeros, integers without ``.0``); outside it the JSON
    exponent form with a lowercase ``e`` and an explicit sign (``1e-7``, ``1.5e+21``).

    Args:
        value: The float.

    Returns:
        The number text.
    """
    if value == 0.0:
        return "0"  # NOTE: also maps -0.0 to 0 (§2).
    if value - value != 0.0:
        return "null"  # NaN and +-inf (§3)
    text = repr(value)  # the shortest digits that round-trip
    if "e" not in text:
        # PERF: repr is plain and canonical for 1e-4 <= |x| < 1e16, except a trailing ".0".
        return text[:-2] if text.endswith(".0") else text
    if value.is_integer() and -_HIGH < value < _HIGH:
        # NOTE: the exact integer digits, not the shortest repr digits padded with zeros:
        # 3.383314384494573e16 must print as 33833143844945728 (its exact value), because
        # Python decoders read integer tokens as exact ints (JS decoders get the same double).
        return str(int(value))
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text)
    neg = mantissa.startswith("-")
    if neg:
        mantissa = mantissa[1:]
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    point = len(whole) + exponent
    if _LOW <= abs(value) < _HIGH:
        return _plain(neg, digits, point)
    return _exponent(neg, digits, point)


def format_decimal(value: decimal.Decimal) -> str:
    """Return the exact canonical text of a finite :class:`decimal.Decimal`.

    Args:
        value: A finite decimal.

    Returns:
        Plain decimal inside ``1e-6 <= |x| < 1e21``, exponent form outside (all digits kept).
    """
    if value.is_zero():
        return "0"
    sign, digit_tuple, exp = value.normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    assert isinstance(exp, int)
    point = len(digits) + exp
    mag = abs(value)
    if decimal.Decimal("1e-6") <= mag < decimal.Decimal("1e21"):
        return _plain(bool(sign), digits, point)
    return _exponent(bool(sign), digits, point)


def _plain(neg: bool, digits: str, point: int) -> str:
    """Render ``0.digits * 10**point`` as plain decimal text (``digits`` has no leading 0)."""
    if point <= 0:
        body = "0." + "0" * (-point) + digits
    elif point >= len(digits):
        body = digits + "0" * (point - len(digits))
    else:
        body = digits[:point] + "." + digits[point:]
    if "." in body:
        body = body.rstrip("0").rstrip(".")
    return "-" + body if neg else body


def _exponent(neg: bool, digits: str, point: int) -> str:
    """Render ``0.digits * 10**point`` as ``d.ddde±x``."""
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    stripped = stripped.rstrip("0") or "0"
    exponent = point - 1
    body = stripped[0] + ("." + stripped[1:] if len(stripped) > 1 else "")
    body += ("e+" if exponent >= 0 else "e-") + str(abs(exponent))
    return "-" + body if neg else body
