"""``Accept`` header parsing and server-driven media type selection (RFC 9110 §12.5.1)."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["parse_accept", "select_media_type"]

# (type, subtype, q, specificity) per media range; specificity: 0 "*/*", 1 "type/*", 2 exact.
_Range = tuple[str, str, float, int]

_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
_CACHE: dict[str, tuple[_Range, ...]] = {}
_CACHE_MAX = 256


def parse_accept(header: str) -> tuple[_Range, ...]:
    """Parse an ``Accept`` value into media ranges; malformed ranges are skipped.

    Args:
        header: The (comma-joined) header value.

    Returns:
        ``(type, subtype, q, specificity)`` tuples, lower-cased, in header order.
    """
    cached = _CACHE.get(header)
    if cached is not None:
        return cached
    out: list[_Range] = []
    for part in header.split(","):
        media, *params = part.split(";")
        media = media.strip().lower()
        kind, slash, sub = media.partition("/")
        if not slash or not kind or not sub or (kind == "*" and sub != "*"):
            continue
        q = 1.0
        valid = True
        for param in params:
            name, eq, value = param.partition("=")
            if name.strip().lower() == "q":
                q_value = _qvalue(value.strip()) if eq else None
                if q_value is None:
                    valid = False
                    break
                q = q_value
        if valid:
            specificity = 0 if kind == "*" else 1 if sub == "*" else 2
            out.append((kind, sub, q, specificity))
    result = tuple(out)
    # PERF: clients send the same few Accept values over and over; keep a small cache.
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[header] = result
    return result


def _qvalue(text: str) -> float | None:
    """RFC 9110 qvalue: ``0[.ddd]`` or ``1[.000]``; None when malformed."""
    return float(text) if _QVALUE.fullmatch(text) else None


def select_media_type(accept: str | None, available: Sequence[str]) -> str | None:
    """Pick the best of ``available`` for an ``Accept`` header.

    Each available type gets the q-value of the most specific matching range; the highest
    q > 0 wins, ties go to the earlier entry of ``available`` (the server's preference).

    Args:
        accept: The ``Accept`` header value, or None when absent (anything is acceptable).
        available: The media types the server can produce, most preferred first.

    Returns:
        The chosen media type, or None when none is acceptable (answer 406).
    """
    if accept is None or not accept.strip():
        return available[0] if available else None
    ranges = parse_accept(accept)
    best: str | None = None
    best_q = 0.0
    for media in available:
        kind, _, sub = media.lower().partition("/")
        q = 0.0
        specificity = -1
        for r_kind, r_sub, r_q, r_spec in ranges:
            if r_spec <= specificity:
                continue
            if r_spec == 0 or (r_kind == kind and (r_spec == 1 or r_sub == sub)):
                q, specificity = r_q, r_spec
        if q > best_q:
            best, best_q = media, q
    return best
