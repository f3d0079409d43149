"""``Accept-Encoding`` parsing and content-coding selection (RFC 9110 §12.5.3).

Rules implemented:

* codings are case-insensitive; ``x-gzip`` is read as ``gzip`` (RFC 9110 §8.4.1.3);
* a missing ``q`` means ``q=1``; ``q=0`` means "not acceptable"; an element with a malformed
  ``q`` is ignored; when a coding is listed twice the lower weight wins (the safer reading);
* ``*`` gives its weight to every coding not listed explicitly;
* ``identity`` is acceptable unless refused by ``identity;q=0`` or by ``*;q=0`` without an explicit
  ``identity`` entry; an explicitly listed ``identity`` with a higher weight than the best coding
  wins (the client prefers the uncompressed form);
* ties between codings are broken by the server's preference order;
* a missing header selects no coding (the conservative choice, since clients that can decode
  always say so), and an empty header means "identity only".
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

__all__ = ["Selection", "parse_accept_encoding", "select_encoding"]

_QVALUE = re.compile(r"(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)\Z")
_ALIASES = {"x-gzip": "gzip"}


class Selection(NamedTuple):
    """The outcome of content-coding negotiation.

    Attributes:
        coding: The chosen coding (``"gzip"``, ``"br"``, ``"zstd"``...) or ``None`` for identity.
        identity_refused: ``True`` when the client marked ``identity`` as unacceptable; the
            middleware then compresses even small or unlisted media types when it can.
    """

    coding: str | None
    identity_refused: bool


_NO_CODING = Selection(None, False)


def parse_accept_encoding(value: str) -> dict[str, float]:
    """Parse an ``Accept-Encoding`` field value into ``{coding: weight}``.

    Args:
        value: The field value (several header lines may be joined with ``","``).

    Returns:
        Lower-cased codings mapped to their ``q`` weight in ``[0, 1]``; malformed elements are
        left out.
    """
    weights: dict[str, float] = {}
    for element in value.split(","):
        coding, _, params = element.partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        weight = 1.0
        valid = True
        if params:
            for param in params.split(";"):
                key, _, raw = param.partition("=")
                if key.strip().lower() != "q":
                    continue
                raw = raw.strip()
                if _QVALUE.match(raw) is None:
                    valid = False
                    break
                weight = float(raw)
        if not valid:
            continue
        coding = _ALIASES.get(coding, coding)
        previous = weights.get(coding)
        weights[coding] = weight if previous is None else min(previous, weight)
    return weights


def _select(header: bytes, preference: tuple[str, ...]) -> Selection:
    weights = parse_accept_encoding(header.decode("latin-1"))
    star = weights.get("*")
    best: str | None = None
    best_q = 0.0
    for coding in preference:
        q = weights.get(coding, star if star is not None else 0.0)
        if q > best_q:  # NOTE: strict ">" keeps the earlier (preferred) coding on ties
            best, best_q = coding, q
    if "identity" in weights:
        identity_q = weights["identity"]
        if best is not None and identity_q > best_q:
            return _NO_CODING
        return Selection(best, identity_q == 0.0)
    return Selection(best, star == 0.0)


_select_cached = lru_cache(maxsize=1024)(_select)
_CACHEABLE_LENGTH = 256  # NOTE: real browsers send < 100 bytes; odd long values are not cached


def select_encoding(header: bytes | None, preference: tuple[str, ...]) -> Selection:
    """Choose the response coding for an ``Accept-Encoding`` request header.

    Args:
        header: The raw header value (``None`` when the request has none).
        preference: The codings the server offers, most preferred first (breaks ties).

    Returns:
        The chosen coding (or ``None`` for identity) and whether identity was refused.
    """
    if header is None:
        return _NO_CODING
    if len(header) > _CACHEABLE_LENGTH:
        return _select(header, preference)
    # PERF: browsers send a handful of distinct header values; parse each one once.
    return _select_cached(header, preference)
