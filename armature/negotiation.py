"""Content negotiation: ``Accept``, ``Accept-Language``, ``Accept-Encoding`` and ``Accept-Charset``.

Parsing never raises on client input: a malformed entry is skipped, and a header with no usable
entry is treated as absent (RFC 9110 lets a server disregard it). Parsed headers are memoised,
so negotiating the same header value again costs a dict lookup.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from armature.exceptions import NotAcceptable

__all__ = [
    "MediaRange",
    "best_charset",
    "best_encoding",
    "best_language",
    "best_match",
    "parse_accept",
    "parse_qlist",
    "quality",
    "select_media_type",
]

_Rank = Callable[[str, str], int]
_MAX_ENTRIES: Final = 64
_MAX_HEADER: Final = 8192
_TCHARS: Final = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")


def _split(value: str, separator: str) -> list[str]:
    """Split on ``separator`` outside double-quoted strings."""
    if '"' not in value:
        return value.split(separator)
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _token(value: str) -> str | None:
    value = value.strip().lower()
    return value if value and set(value) <= _TCHARS else None


def _qvalue(text: str) -> float | None:
    """RFC 9110 qvalue: ``0``..``1`` with at most three decimals; anything else is invalid."""
    text = text.strip()
    if not text or len(text) > 5 or text[0] not in "01":
        return None
    decimals = text[2:]
    if len(text) > 1 and (text[1] != "." or (decimals and not decimals.isdigit())):
        return None
    value = float(text)
    return value if value <= 1.0 else None


def _params(chunks: Sequence[str]) -> tuple[tuple[tuple[str, str], ...], float] | None:
    """Parse ``;name=value`` parameters up to ``q`` (accept-ext after it is ignored)."""
    params: list[tuple[str, str]] = []
    for chunk in chunks:
        name, sep, value = chunk.partition("=")
        key = _token(name)
        if key is None or not sep:
            return None
        value = value.strip()
        if key == "q":
            q = _qvalue(value)
            return None if q is None else (tuple(params), q)
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        elif _token(value) is None:
            return None
        params.append((key, value.lower()))
    return tuple(params), 1.0


@dataclass(frozen=True, slots=True)
class MediaRange:
    """One entry of an ``Accept`` header.

    Attributes:
        type: The main type, lower case (``*`` for any).
        subtype: The subtype, lower case (``*`` for any).
        params: Media type parameters (before ``q``), names and values lower case.
        q: The quality, 0 to 1.
    """

    type: str
    subtype: str
    params: tuple[tuple[str, str], ...] = ()
    q: float = 1.0

    @property
    def specificity(self) -> int:
        """0 for ``*/*``, 1 for ``type/*``, 2 for ``type/subtype``, 3 with parameters."""
        if self.type == "*":
            return 0
        if self.subtype == "*":
            return 1
        return 3 if self.params else 2

    def matches(self, media_type: str, subtype: str, params: dict[str, str]) -> bool:
        """Tell whether this range covers a (parsed, lower-case) media type.

        Args:
            media_type: The offer's main type.
            subtype: The offer's subtype.
            params: The offer's parameters.

        Returns:
            True when it matches.
        """
        if self.type != "*" and self.type != media_type:
            return False
        if self.subtype != "*" and self.subtype != subtype:
            return False
        return all(params.get(k) == v for k, v in self.params)

    def __str__(self) -> str:
        text = f"{self.type}/{self.subtype}" + "".join(f";{k}={v}" for k, v in self.params)
        return text if self.q == 1.0 else f"{text};q={self.q:g}"


@functools.lru_cache(maxsize=512)
def _parse_accept_cached(header: str) -> tuple[MediaRange, ...]:
    ranges: list[MediaRange] = []
    for entry in _split(header[:_MAX_HEADER], ",")[: _MAX_ENTRIES * 2]:
        if not entry.strip():
            continue
        head, *rest = _split(entry, ";")
        main, slash, sub = head.strip().lower().partition("/")
        main_t, sub_t = _token(main), _token(sub)
        if not slash or main_t is None or sub_t is None or (main_t == "*" and sub_t != "*"):
            continue
        parsed = _params(rest)
        if parsed is None:
            continue
        ranges.append(MediaRange(main_t, sub_t, parsed[0], parsed[1]))
        if len(ranges) >= _MAX_ENTRIES:
            break
    return tuple(ranges)


def parse_accept(header: str | None) -> list[MediaRange]:
    """Parse an ``Accept`` header, most preferred first.

    Args:
        header: The header value (``None`` or empty for none).

    Returns:
        The valid media ranges sorted by quality, then specificity, then header order.
    """
    if not header:
        return []
    indexed = sorted(
        enumerate(_parse_accept_cached(header)), key=lambda p: (-p[1].q, -p[1].specificity, p[0])
    )
    return [media_range for _, media_range in indexed]


def _parse_media_type(offer: str) -> tuple[str, str, dict[str, str]]:
    head, *rest = offer.split(";")
    main, _, sub = head.strip().lower().partition("/")
    params: dict[str, str] = {}
    for chunk in rest:
        name, _, value = chunk.partition("=")
        params[name.strip().lower()] = value.strip().strip('"').lower()
    return main, sub, params


def _media_quality(ranges: Sequence[MediaRange], offer: str) -> tuple[float, int]:
    main, sub, params = _parse_media_type(offer)
    best: MediaRange | None = None
    for candidate in ranges:
        if candidate.matches(main, sub, params) and (
            best is None or candidate.specificity > best.specificity
        ):
            best = candidate
    return (0.0, -1) if best is None else (best.q, best.specificity)


def quality(accept: str | None, offer: str) -> float:
    """The quality an ``Accept`` header gives to one media type.

    Args:
        accept: The header value (absent: everything is acceptable, quality 1).
        offer: A media type such as ``application/json``.

    Returns:
        The q of the most specific matching range (0 when none matches).
    """
    ranges = _parse_accept_cached(accept) if accept else ()
    if not ranges:
        return 1.0
    return _media_quality(ranges, offer)[0]


def best_match(accept: str | None, offers: Sequence[str]) -> str | None:
    """Choose the offered media type the client prefers.

    Each offer takes the quality of the most specific range that matches it (RFC 9110 §12.5.1).
    The highest quality wins; ties go to the offer matched by the more specific range, then to
    the earlier offer (list your preferred type first).

    Args:
        accept: The ``Accept`` header value (absent or unusable: the first offer).
        offers: The media types the server can produce.

    Returns:
        The chosen offer, or ``None`` when the client accepts none of them (406).
    """
    if not offers:
        return None
    ranges = _parse_accept_cached(accept) if accept else ()
    if not ranges:
        return offers[0]
    best: str | None = None
    best_key = (0.0, -1)
    for offer in offers:
        key = _media_quality(ranges, offer)
        if key[0] > 0 and key > best_key:
            best, best_key = offer, key
    return best


@functools.lru_cache(maxsize=512)
def _parse_qlist_cached(header: str) -> tuple[tuple[str, float], ...]:
    items: list[tuple[str, float]] = []
    for entry in _split(header[:_MAX_HEADER], ",")[: _MAX_ENTRIES * 2]:
        if not entry.strip():
            continue
        head, *rest = _split(entry, ";")
        value = _token(head)
        if value is None:
            continue
        parsed = _params(rest)
        if parsed is None:
            continue
        items.append((value, parsed[1]))
        if len(items) >= _MAX_ENTRIES:
            break
    return tuple(items)


def parse_qlist(header: str | None) -> list[tuple[str, float]]:
    """Parse a ``token;q=x`` list (``Accept-Language``, ``-Encoding``, ``-Charset``).

    Args:
        header: The header value.

    Returns:
        ``(token, q)`` pairs, tokens lower case, sorted by quality (stable for ties); malformed
        entries are skipped.
    """
    if not header:
        return []
    return sorted(_parse_qlist_cached(header), key=lambda item: -item[1])


def _language_rank(language_range: str, tag: str) -> int:
    if language_range == tag:
        return 3
    if language_range == "*":
        return 0
    if tag.startswith(language_range + "-"):
        return 2
    if language_range.startswith(tag + "-"):
        return 1
    return -1


def best_language(accept_language: str | None, offers: Sequence[str]) -> str | None:
    """Choose the offered language tag the client prefers.

    A range matches a tag exactly, as a prefix (``en`` covers ``en-GB``, RFC 4647 basic
    filtering), by truncation (``en-GB`` falls back to an offered ``en``) or as ``*``; an offer
    takes the quality of its closest matching range. Comparison is case-insensitive.

    Args:
        accept_language: The ``Accept-Language`` header (absent or unusable: the first offer).
        offers: The available tags, preferred first.

    Returns:
        The chosen offer as given, or ``None`` when every match has q=0 or none matches.
    """
    return _best_token(accept_language, offers, _language_rank)


def _token_rank(item: str, offer: str) -> int:
    if item == offer:
        return 1
    return 0 if item == "*" else -1


def best_charset(accept_charset: str | None, offers: Sequence[str]) -> str | None:
    """Choose the offered charset the client prefers (``Accept-Charset``, ``*`` supported).

    Args:
        accept_charset: The header value (absent or unusable: the first offer).
        offers: Charset names, preferred first.

    Returns:
        The chosen offer, or ``None``.
    """
    return _best_token(accept_charset, offers, _token_rank)


def best_encoding(accept_encoding: str | None, offers: Sequence[str]) -> str | None:
    """Choose the offered content coding the client prefers (``Accept-Encoding``).

    ``identity`` is acceptable unless refused by ``identity;q=0`` (or by ``*;q=0`` without an
    ``identity`` entry), as RFC 9110 §12.5.3 says; other codings need a matching entry or ``*``.

    Args:
        accept_encoding: The header value (absent or unusable: the first offer).
        offers: Codings such as ``"br"``, ``"gzip"``, ``"identity"``, preferred first.

    Returns:
        The chosen offer, or ``None`` when none is acceptable.
    """
    items = _parse_qlist_cached(accept_encoding) if accept_encoding else ()
    if not items:
        return offers[0] if offers else None
    if any(offer.lower() == "identity" for offer in offers) and all(
        token != "identity" and token != "*" for token, _ in items
    ):
        # NOTE: not mentioned at all: acceptable, but after every coding the client listed.
        items = (*items, ("identity", 0.001))
    return _pick(items, offers, _token_rank)


def _best_token(header: str | None, offers: Sequence[str], rank: _Rank) -> str | None:
    items = _parse_qlist_cached(header) if header else ()
    if not items:
        return offers[0] if offers else None
    return _pick(items, offers, rank)


def _pick(items: Sequence[tuple[str, float]], offers: Sequence[str], rank: _Rank) -> str | None:
    best: str | None = None
    best_key = (0.0, -1)
    for offer in offers:
        tag = offer.lower()
        closest = -1
        q = 0.0
        for item, item_q in items:
            score = rank(item, tag)
            if score > closest:
                closest, q = score, item_q
        key = (q, closest)
        if closest >= 0 and q > 0 and key > best_key:
            best, best_key = offer, key
    return best


def select_media_type(connection: Any, offers: Sequence[str]) -> str:
    """Choose a media type for a request, or refuse it with 406.

    Args:
        connection: A :class:`~armature.requests.Request` (anything with ``.headers``) or an
            ``Accept`` header value.
        offers: The media types the handler can produce, preferred first.

    Returns:
        The chosen offer.

    Raises:
        NotAcceptable: The client accepts none of the offers (a 406 problem+json listing them).
    """
    header = connection if isinstance(connection, str) else connection.headers.get("accept")
    chosen = best_match(header, offers)
    if chosen is None:
        raise NotAcceptable(
            f"None of the available media types is acceptable: {', '.join(offers)}",
            extensions={"available": list(offers)},
        )
    return chosen
