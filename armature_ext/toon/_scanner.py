"""Lexical layer of the TOON decoder: lines, quoted strings, delimited cells and primitives.

Low-level helpers raise :class:`LocalError` with an index into the string they were given; the
structural decoder turns it into a :class:`ToonDecodeError` with the line and column.
"""

from __future__ import annotations

import re
from typing import Any

from ._errors import ToonDecodeError
from ._numbers import NUMBER_RE

__all__ = [
    "Line",
    "LocalError",
    "find_unquoted",
    "parse_primitive",
    "parse_quoted",
    "scan_lines",
    "split_cells",
    "split_spans",
]

_SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}
_HEX = frozenset("0123456789abcdefABCDEF")
# §7.1 ``unescaped-char`` excludes raw C0 controls other than HTAB.
_RAW_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}
_NUMBER_START = frozenset("-0123456789")
_MISSING = object()


class LocalError(Exception):
    """A lexical error at ``index`` in the string being scanned (converted by the decoder)."""

    def __init__(self, msg: str, index: int) -> None:
        super().__init__(msg)
        self.msg = msg
        self.index = index


class Line:
    """One significant (non-blank, non-comment) line of the document."""

    __slots__ = ("blank_before", "col", "depth", "no", "text")

    def __init__(self, no: int, depth: int, col: int, text: str, blank_before: int) -> None:
        self.no = no  # 1-based line number in the original text
        self.depth = depth  # indentation level
        self.col = col  # 0-based column where ``text`` starts
        self.text = text  # content after indentation, trailing spaces removed
        self.blank_before = blank_before  # line number of a blank line just before, or 0


def scan_lines(text: str, indent: int, strict: bool) -> list[Line]:
    """Split ``text`` into significant lines (§5.1 comment pre-pass, §12 indentation).

    Args:
        text: The whole document.
        indent: Spaces per indentation level.
        strict: Whether strict indentation rules apply.

    Returns:
        The non-blank, non-comment lines with their depth.

    Raises:
        ToonDecodeError: On tabs in indentation or non-multiple indentation (strict mode).
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    out: list[Line] = []
    append = out.append
    blank = 0
    for no, raw in enumerate(text.split("\n"), 1):
        if raw.endswith("\r"):
            raw = raw[:-1]  # §12: a final CR belongs to the line terminator
        body = raw.lstrip(" ")
        if not body:
            blank = blank or no
            continue
        if body[0] == "#":
            continue  # §5.1 comment line: only spaces may precede the '#'
        spaces = len(raw) - len(body)
        if body[0] == "\t":
            rest = body.lstrip(" \t")
            if not rest.strip(" \t"):
                blank = blank or no
                continue
            if strict:
                raise ToonDecodeError("tab character used in indentation", no, spaces + 1)
            # NOTE: non-strict tab policy: each indentation tab counts as ``indent`` spaces.
            lead = body[: len(body) - len(rest)]
            width = spaces + lead.count(" ") + lead.count("\t") * indent
            spaces += len(lead)
            body = rest
        else:
            width = spaces
        if strict and width % indent:
            raise ToonDecodeError(
                f"indentation of {width} spaces is not a multiple of the indent size {indent}",
                no,
                1,
            )
        append(Line(no, width // indent, spaces, body.rstrip(" "), blank))
        blank = 0
    return out


def parse_quoted(s: str, start: int, strict: bool) -> tuple[str, int]:
    """Parse the quoted string opening at ``s[start]``; return (value, index after it)."""
    end = s.find('"', start + 1)
    if end == -1:
        raise LocalError("unterminated string", start)
    slash = s.find("\\", start + 1, end)
    if slash == -1:
        value = s[start + 1 : end]
        if strict:
            bad = _RAW_CONTROL.search(value)
            if bad:
                raise LocalError("raw control character in quoted string", start + 1 + bad.start())
        return value, end + 1
    # Slow path: escapes present.
    parts: list[str] = []
    pos = start + 1
    n = len(s)
    quote = end
    while True:
        if quote < pos:
            quote = s.find('"', pos)
            if quote == -1:
                raise LocalError("unterminated string", start)
        slash = s.find("\\", pos, quote)
        if slash == -1:
            parts.append(s[pos:quote])
            value = "".join(parts)
            if strict:
                bad = _RAW_CONTROL.search(s, start + 1, quote)
                if bad:
                    raise LocalError("raw control character in quoted string", bad.start())
            return value, quote + 1
        parts.append(s[pos:slash])
        esc = s[slash + 1] if slash + 1 < n else ""
        simple = _SIMPLE_ESCAPES.get(esc)
        if simple is not None:
            parts.append(simple)
            pos = slash + 2
        elif esc == "u":
            hex4 = s[slash + 2 : slash + 6]
            if len(hex4) != 4 or not _HEX.issuperset(hex4):
                raise LocalError("invalid \\u escape: expected four hex digits", slash)
            code = int(hex4, 16)
            if 0xD800 <= code <= 0xDFFF:
                raise LocalError(f"invalid \\u escape: lone surrogate U+{code:04X}", slash)
            parts.append(chr(code))
            pos = slash + 6
        else:
            shown = repr(esc)[1:-1] if esc else "end of line"
            raise LocalError(f"invalid escape sequence \\{shown}", slash)


def skip_quoted(s: str, start: int) -> int:
    """Return the index after the quoted string opening at ``s[start]`` (len(s) if open)."""
    pos = start + 1
    while True:
        q = s.find('"', pos)
        if q == -1:
            return len(s)
        back = q - 1
        while back > start and s[back] == "\\":
            back -= 1
        if (q - 1 - back) % 2 == 0:  # an even number of backslashes: the quote is real
            return q + 1
        pos = q + 1


def find_unquoted(s: str, ch: str, start: int = 0) -> int:
    """Index of the first ``ch`` outside double quotes at or after ``start``, or -1."""
    if '"' not in s:
        return s.find(ch, start)
    pos = start
    while True:
        hit = s.find(ch, pos)
        if hit == -1:
            return -1
        q = s.find('"', pos, hit)
        if q == -1:
            return hit
        pos = skip_quoted(s, q)


def split_cells(s: str, delim: str) -> list[str]:
    """Split on unquoted ``delim`` and trim U+0020 around every token (§11.2, §12)."""
    if '"' not in s:
        return [t.strip(" ") for t in s.split(delim)]
    return [s[a:b] for a, b in split_spans(s, delim)]


def split_spans(s: str, delim: str) -> list[tuple[int, int]]:
    """Like :func:`split_cells` but returns (start, end) spans of the trimmed tokens."""
    spans: list[tuple[int, int]] = []
    start = pos = 0
    n = len(s)
    while True:
        hit = s.find(delim, pos)
        q = s.find('"', pos, n if hit == -1 else hit)
        if q != -1:
            pos = skip_quoted(s, q)
            continue
        end = n if hit == -1 else hit
        a, b = start, end
        while a < b and s[a] == " ":
            a += 1
        while b > a and s[b - 1] == " ":
            b -= 1
        spans.append((a, b))
        if hit == -1:
            return spans
        start = pos = hit + 1


def parse_primitive(tok: str, strict: bool) -> Any:
    """Decode one trimmed value token (§4): quoted string, literal, number or string."""
    if not tok:
        return ""
    first = tok[0]
    if first == '"':
        value, end = parse_quoted(tok, 0, strict)
        if end != len(tok):
            raise LocalError("unexpected characters after closing quote", end)
        return value
    if first in _NUMBER_START:
        m = NUMBER_RE.fullmatch(tok)
        if m is not None:
            return _number(tok, m.lastindex is None, strict)
        return tok
    lit = _LITERALS.get(tok, _MISSING)
    return tok if lit is _MISSING else lit


def _number(tok: str, integer: bool, strict: bool) -> Any:
    """Decode a token matching the number grammar (documented out-of-range policy)."""
    if integer:
        try:
            return int(tok)
        except ValueError:  # more digits than sys.get_int_max_str_digits()
            if strict:
                raise LocalError("integer has too many digits to decode", 0) from None
            return tok
    value = float(tok)
    if value == 0.0:
        return 0.0  # NOTE: -0 normalises to 0 (§4).
    if value in (float("inf"), float("-inf")):
        if strict:
            raise LocalError("number is out of the float range", 0)
        return tok
    return value
