"""JSON-vs-TOON size comparison with a documented, tokenizer-free token *estimate*."""

from __future__ import annotations

import dataclasses
import decimal
import json
import re
from typing import Any

from ._encoder import encode
from ._normalize import Default, normalize

__all__ = ["SizeReport", "estimate_tokens", "size_report"]

# One match per lexical run: ASCII letters, ASCII digits, whitespace, or any other character.
_RUNS = re.compile(r"[A-Za-z]+|[0-9]+|\s+|.", re.DOTALL)


def estimate_tokens(text: str) -> int:
    """Estimate how many LLM tokens ``text`` costs. This is a heuristic, not a tokenizer.

    The rule approximates common byte-pair-encoding tokenizers on structured data:

    - a run of ASCII letters costs ``ceil(len / 4)`` tokens;
    - a run of ASCII digits costs ``ceil(len / 3)`` tokens;
    - a single space costs nothing (it merges into the following word); any other whitespace
      run (a newline plus indentation, several spaces, a tab) costs 1;
    - every other character (punctuation, quotes, braces, non-ASCII) costs 1.

    Real counts depend on the model's tokenizer; use the estimate to compare formats, not to
    budget exactly.

    Args:
        text: The text to measure.

    Returns:
        The estimated token count.
    """
    total = 0
    for m in _RUNS.finditer(text):
        run = m.group()
        first = run[0]
        if first.isascii() and first.isalpha():
            total += -(-len(run) // 4)
        elif "0" <= first <= "9":
            total += -(-len(run) // 3)
        elif first.isspace():
            total += 0 if run == " " else 1
        else:
            total += 1
    return total


@dataclasses.dataclass(frozen=True, slots=True)
class SizeReport:
    """Sizes of one value as compact JSON and as TOON.

    Attributes:
        json_chars: Characters of ``json.dumps(value, separators=(",", ":"),
            ensure_ascii=False)``.
        toon_chars: Characters of ``encode(value)``.
        json_tokens: :func:`estimate_tokens` of the JSON text (an estimate).
        toon_tokens: :func:`estimate_tokens` of the TOON text (an estimate).
    """

    json_chars: int
    toon_chars: int
    json_tokens: int
    toon_tokens: int

    @property
    def char_savings(self) -> float:
        """Fraction of characters TOON saves against JSON (negative when TOON is larger)."""
        return 1.0 - self.toon_chars / self.json_chars if self.json_chars else 0.0

    @property
    def token_savings(self) -> float:
        """Fraction of estimated tokens TOON saves against JSON (an estimate)."""
        return 1.0 - self.toon_tokens / self.json_tokens if self.json_tokens else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Return the report as a plain dict (savings rounded to 4 places).

        Returns:
            ``json_chars``, ``toon_chars``, ``json_tokens``, ``toon_tokens``,
            ``char_savings``, ``token_savings`` and ``tokens_are_estimates`` (always true).
        """
        return {
            "json_chars": self.json_chars,
            "toon_chars": self.toon_chars,
            "json_tokens": self.json_tokens,
            "toon_tokens": self.toon_tokens,
            "char_savings": round(self.char_savings, 4),
            "token_savings": round(self.token_savings, 4),
            "tokens_are_estimates": True,
        }


def size_report(
    value: Any, *, indent: int = 2, delimiter: str = ",", default: Default | None = None
) -> SizeReport:
    """Compare the size of ``value`` as compact JSON and as TOON.

    Args:
        value: Any value :func:`~armature_ext.toon.encode` accepts.
        indent: TOON indentation (spaces per level).
        delimiter: TOON document delimiter.
        default: Fallback hook for unsupported objects (used for both formats).

    Returns:
        A :class:`SizeReport` with character counts and estimated token counts.
    """
    plain = normalize(value, default)
    json_text = json.dumps(plain, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    toon_text = encode(plain, indent=indent, delimiter=delimiter)
    return SizeReport(
        json_chars=len(json_text),
        toon_chars=len(toon_text),
        json_tokens=estimate_tokens(json_text),
        toon_tokens=estimate_tokens(toon_text),
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):  # normalize() keeps Decimals exact
        return float(value)
    raise TypeError(f"unexpected {type(value).__name__}")  # pragma: no cover
