"""Line classification (§5.2) and array/keyed header parsing (§6) for the TOON decoder."""

from __future__ import annotations

from ._scanner import LocalError, find_unquoted, parse_quoted

__all__ = [
    "Header",
    "HeaderSyntax",
    "KeyValue",
    "classify",
    "fallthrough",
    "leaf_count",
    "split_key",
]

# A parsed field list: (name, nested fields or None for a leaf), in header order.
Fields = list[tuple[str, "Fields | None"]]

_DELIMS = ",\t|"


class HeaderSyntax(LocalError):
    """A malformed header: a strict-mode error, a key-value fall-through in non-strict mode."""


class Header:
    """A parsed array or keyed header line."""

    __slots__ = ("delim", "fields", "key", "keyed", "length", "rest", "rest_col")

    def __init__(
        self,
        key: str | None,
        length: int,
        keyed: bool,
        delim: str,
        fields: Fields | None,
        rest: str,
        rest_col: int,
    ) -> None:
        self.key = key  # None for a keyless header
        self.length = length
        self.keyed = keyed
        self.delim = delim
        self.fields = fields
        self.rest = rest  # text after the header colon, spaces trimmed
        self.rest_col = rest_col  # index of ``rest`` in the classified string


class KeyValue:
    """A ``key: value`` line; ``value`` is the trimmed text after the colon."""

    __slots__ = ("key", "value", "value_col")

    def __init__(self, key: str, value: str, value_col: int) -> None:
        self.key = key
        self.value = value
        self.value_col = value_col


def classify(s: str, strict: bool) -> Header | KeyValue | None:
    """Classify a line's content as a header, a key-value line, or None (a scalar line).

    Raises:
        HeaderSyntax: A malformed header in strict mode.
        LocalError: Other lexical errors (bad quoted key, missing colon after a quoted key).
    """
    if s[0] == '"':
        key, end = parse_quoted(s, 0, strict)
        if end < len(s) and s[end] == "[":
            try:
                return _header(s, key, end, strict)
            except HeaderSyntax:
                if strict:
                    raise
                return fallthrough(s)
        pos = end
        while pos < len(s) and s[pos] == " ":
            pos += 1
        if pos < len(s) and s[pos] == ":":
            return _key_value(key, s, pos)
        if pos < len(s) and s[pos] == "[" and strict:
            raise HeaderSyntax("whitespace between a key and its bracket segment", end)
        if find_unquoted(s, ":", end) == -1:
            return None  # a quoted scalar (possibly malformed: parse_primitive reports it)
        raise LocalError("missing ':' after key", end)
    colon = s.find(":")
    if colon == -1:
        return None
    bracket = s.find("[", 0, colon)
    if bracket != -1:
        try:
            if s[bracket - 1 : bracket] == " ":
                raise HeaderSyntax("whitespace between a key and its bracket segment", bracket)
            return _header(s, s[:bracket] or None, bracket, strict)
        except HeaderSyntax:
            if strict:
                raise
            return fallthrough(s)
    return _key_value(s[:colon].strip(" "), s, colon)


def _key_value(key: str, s: str, colon: int) -> KeyValue:
    start = colon + 1
    n = len(s)
    while start < n and s[start] == " ":
        start += 1
    return KeyValue(key, s[start:], start)


def fallthrough(s: str) -> KeyValue:
    """Non-strict §6 fall-through: split at the first unquoted colon, key taken literally."""
    colon = find_unquoted(s, ":")
    if colon == -1:
        raise LocalError("missing ':' after key", len(s))
    return _key_value(s[:colon].strip(" "), s, colon)


def _header(s: str, key: str | None, bracket: int, strict: bool) -> Header:
    """Parse ``key[...]...:`` with the bracket segment starting at ``s[bracket]``."""
    n = len(s)
    pos = bracket + 1
    digits_end = pos
    while digits_end < n and "0" <= s[digits_end] <= "9":
        digits_end += 1
    if digits_end == pos:
        raise HeaderSyntax("bracket segment has no valid length", pos)
    if digits_end - pos > 1 and s[pos] == "0":
        raise HeaderSyntax("bracket length has leading zeros", pos)
    length = int(s[pos:digits_end])
    pos = digits_end
    keyed = pos < n and s[pos] == ":"
    if keyed:
        pos += 1
    delim = ","
    if pos < n and s[pos] in "\t|":
        delim = s[pos]
        pos += 1
    if pos >= n or s[pos] != "]":
        raise HeaderSyntax("malformed bracket segment", pos)
    pos += 1
    fields: Fields | None = None
    if pos < n and s[pos] == "{":
        fields, pos = _fields(s, pos, delim, strict)
    if pos >= n:
        raise LocalError("missing ':' after array header", pos)
    if s[pos] != ":":
        raise HeaderSyntax("unexpected content between the bracket segment and ':'", pos)
    if keyed and fields is None:
        raise HeaderSyntax("a keyed header requires a field list", pos)
    rest_col = pos + 1
    while rest_col < n and s[rest_col] == " ":
        rest_col += 1
    rest = s[rest_col:]
    if fields is not None and rest:
        raise HeaderSyntax("unexpected content after a tabular header", rest_col)
    return Header(key, length, keyed, delim, fields, rest, rest_col)


def _fields(s: str, pos: int, delim: str, strict: bool) -> tuple[Fields, int]:
    """Parse a ``{...}`` field list opening at ``s[pos]``; return (fields, index after '}')."""
    n = len(s)
    open_at = pos
    pos += 1
    out: Fields = []
    seen: set[str] = set()
    while True:
        while pos < n and s[pos] == " ":
            pos += 1
        if pos >= n:
            raise HeaderSyntax("unmatched '{' in field list", open_at)
        start = pos
        if s[pos] == '"':
            name, pos = parse_quoted(s, pos, strict)
        else:
            while pos < n and s[pos] not in ',\t|{}":':
                pos += 1
            name = s[start:pos].strip(" ")
            if not name:
                if pos < n and s[pos] == "}" and not out:
                    raise HeaderSyntax("empty field list", open_at)
                if pos < n and s[pos] in _DELIMS and s[pos] != delim:
                    raise HeaderSyntax("field list delimiter does not match the header", pos)
                raise HeaderSyntax("empty field name in field list", start)
        while pos < n and s[pos] == " ":
            pos += 1
        sub: Fields | None = None
        if pos < n and s[pos] == "{":
            sub, pos = _fields(s, pos, delim, strict)
            while pos < n and s[pos] == " ":
                pos += 1
        if name in seen and strict:
            # NOTE: non-strict keeps duplicates; rows then resolve last-write-wins (§14.3).
            raise HeaderSyntax(f"duplicate field name {name!r}", start)
        seen.add(name)
        out.append((name, sub))
        if pos >= n:
            raise HeaderSyntax("unmatched '{' in field list", open_at)
        ch = s[pos]
        if ch == delim:
            pos += 1
            continue
        if ch == "}":
            return out, pos + 1
        if ch in _DELIMS:
            raise HeaderSyntax("field list delimiter does not match the header", pos)
        raise HeaderSyntax(f"unexpected {ch!r} in field list", pos)


def leaf_count(fields: Fields) -> int:
    """Number of leaf fields (row cells) declared by a field list."""
    return sum(1 if sub is None else leaf_count(sub) for _, sub in fields)


def split_key(s: str, strict: bool) -> tuple[str, int] | None:
    """Split an entry row at its first unquoted colon: (entry key, index after the colon).

    Returns None when the line has no unquoted colon.
    """
    if s[0] == '"':
        key, end = parse_quoted(s, 0, strict)
        pos = end
        while pos < len(s) and s[pos] == " ":
            pos += 1
        if pos < len(s) and s[pos] == ":":
            return key, pos + 1
        colon = find_unquoted(s, ":", end)
        if colon == -1:
            return None
        return s[:colon].strip(" "), colon + 1
    colon = find_unquoted(s, ":")
    if colon == -1:
        return None
    return s[:colon].strip(" "), colon + 1
