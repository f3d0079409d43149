"""BCP 47 language tags: normalisation, truncation, Accept-Language parsing and RFC 4647 lookup."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Final

from babel.core import Locale, UnknownLocaleError

__all__ = [
    "babel_locale",
    "lookup",
    "normalize_tag",
    "parse_accept_language",
    "truncations",
]

#: Longest Accept-Language value that is parsed; the rest is ignored (cut at a comma).
MAX_HEADER_LENGTH: Final = 4096
#: Most language ranges taken from one Accept-Language value.
MAX_RANGES: Final = 64
#: Most subtags in one tag or range; longer ones are rejected.
MAX_SUBTAGS: Final = 16

_QVALUE = re.compile(r"(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)\Z")


def normalize_tag(value: str) -> str | None:
    """Return the canonical form of a language tag, or ``None`` if it is not a valid tag.

    ``fr_ca``, ``FR-ca`` and ``fr-CA`` all become ``fr-CA``; scripts are title-cased
    (``zh-Hant-TW``). Underscores are accepted as separators (POSIX/Babel style).

    Args:
        value: A tag such as ``"pt_BR"``.

    Returns:
        The tag with hyphens and canonical casing, or ``None``.
    """
    parts = value.strip().replace("_", "-").split("-")
    if len(parts) > MAX_SUBTAGS:
        return None
    first = parts[0]
    if not (2 <= len(first) <= 8 and first.isascii() and first.isalpha()):
        return None
    out = [first.lower()]
    private = False
    for part in parts[1:]:
        if not (1 <= len(part) <= 8 and part.isascii() and part.isalnum()):
            return None
        if private or len(part) == 1:
            # NOTE: after a singleton (extension or private use) subtags have no casing rules.
            private = True
            out.append(part.lower())
        elif len(part) == 4 and part.isalpha():
            out.append(part.title())
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            out.append(part.upper())
        else:
            out.append(part.lower())
    return "-".join(out)


def truncations(tag: str) -> list[str]:
    """Return ``tag`` and its RFC 4647 lookup fallbacks, most specific first.

    ``zh-Hant-TW`` gives ``["zh-Hant-TW", "zh-Hant", "zh"]``; a singleton left at the end
    by a truncation is removed with it (``en-a-bbb-x-a-ccc`` gives ``en-a-bbb-x-a-ccc``,
    ``en-a-bbb``, ``en``).

    Args:
        tag: A language tag or range (any case).

    Returns:
        The list of progressively shorter tags.
    """
    parts = tag.split("-")
    out = [tag]
    while len(parts) > 1:
        parts.pop()
        while len(parts) > 1 and len(parts[-1]) == 1:
            parts.pop()
        out.append("-".join(parts))
    return out


@lru_cache(maxsize=256)
def babel_locale(tag: str) -> Locale | None:
    """Return the Babel locale for ``tag`` or for its closest truncation Babel has data for.

    Args:
        tag: A canonical language tag.

    Returns:
        The locale, or ``None`` if Babel knows none of the truncations.
    """
    for candidate in truncations(tag):
        try:
            return Locale.parse(candidate, sep="-")
        except (UnknownLocaleError, ValueError, TypeError):
            continue
    return None


def parse_accept_language(header: str) -> list[tuple[str, float]]:
    """Parse an Accept-Language value into ``(range, q)`` pairs, highest q first.

    Ranges are lower-cased; ``*`` is kept. Invalid ranges or q-values are skipped rather than
    failing the whole header, so any input (including garbage) yields a list, possibly empty.
    Only the first :data:`MAX_HEADER_LENGTH` characters and :data:`MAX_RANGES` ranges are used.

    Args:
        header: The header value, e.g. ``"fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5"``.

    Returns:
        The ranges sorted by descending quality (stable for equal q).
    """
    if len(header) > MAX_HEADER_LENGTH:
        cut = header.rfind(",", 0, MAX_HEADER_LENGTH)
        header = header[:cut] if cut > 0 else ""
    result: list[tuple[str, float]] = []
    for item in header.split(",", MAX_RANGES)[:MAX_RANGES]:
        name, _, params = item.partition(";")
        name = name.strip()
        if not name:
            continue
        q = 1.0
        if params:
            key, eq, raw = params.partition("=")
            raw = raw.strip()
            if key.strip().lower() != "q" or not eq or not _QVALUE.match(raw):
                continue
            q = float(raw)
        if name == "*":
            result.append(("*", q))
            continue
        parts = name.split("-")
        if len(parts) > MAX_SUBTAGS or not all(
            1 <= len(p) <= 8 and p.isascii() and p.isalnum() for p in parts
        ):
            continue
        if not parts[0].isalpha():
            continue
        result.append((name.lower(), q))
    result.sort(key=lambda pair: -pair[1])
    return result


def _matches(range_: str, tag: str) -> bool:
    """RFC 4647 basic filtering: ``range_`` equals ``tag`` or is a prefix ending at a ``-``."""
    return range_ == "*" or tag == range_ or tag.startswith(range_ + "-")


def _excluded(tag: str, ranges: list[tuple[str, float]]) -> bool:
    """True if the most specific range matching ``tag`` has q=0 (``fr;q=0`` refuses fr-CA)."""
    best_len = -1
    best_q = 1.0
    for range_, q in ranges:
        if _matches(range_, tag):
            length = 0 if range_ == "*" else range_.count("-") + 1
            # NOTE: on a tie (the same range listed twice) the refusal wins.
            if length > best_len or (length == best_len and q == 0.0):
                best_len, best_q = length, q
    return best_len >= 0 and best_q == 0.0


def lookup(ranges: list[tuple[str, float]], available: Mapping[str, str]) -> str | None:
    """RFC 4647 section 3.4 lookup of the best available tag for a priority list.

    Each range with q > 0 is tried in order and progressively truncated; the first available
    tag that is not refused by a q=0 range wins. ``*`` conveys no preference in lookup and is
    skipped (when nothing else matches the caller uses its default).

    Args:
        ranges: Output of :func:`parse_accept_language` (lower-case, sorted by q).
        available: Lower-cased tag -> canonical tag of every locale that can be served.

    Returns:
        The canonical available tag, or ``None`` if nothing matched.
    """
    refusals = any(q == 0.0 for _, q in ranges)
    for range_, q in ranges:
        if q == 0.0 or range_ == "*":
            continue
        for candidate in truncations(range_):
            hit = available.get(candidate)
            if hit is not None and not (refusals and _excluded(candidate, ranges)):
                return hit
    return None


def available_map(tags: Iterable[str]) -> dict[str, str]:
    """Return ``{lower-case tag: tag}`` for the canonical tags given.

    Args:
        tags: Canonical tags.

    Returns:
        The mapping used by :func:`lookup`.
    """
    return {tag.lower(): tag for tag in tags}
