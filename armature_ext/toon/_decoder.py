"""TOON decoder: TOON text -> JSON-model values (spec v4.x, §4-§12, §14 strict mode).

A recursive-descent parser over the significant lines produced by :func:`scan_lines`. Every
scope knows the depth its content must stand at; lines are consumed once, so decoding is linear
in the input size.
"""

from __future__ import annotations

from typing import Any, NoReturn

from ._errors import ToonDecodeError
from ._header import Fields, Header, KeyValue, classify, fallthrough, leaf_count, split_key
from ._scanner import (
    Line,
    LocalError,
    find_unquoted,
    parse_primitive,
    scan_lines,
    split_cells,
    split_spans,
)

__all__ = ["decode"]


def decode(
    text: str | bytes | bytearray | memoryview, *, indent: int = 2, strict: bool = True
) -> Any:
    """Decode a TOON document (see the package docstring)."""
    if type(indent) is not int or indent < 1:
        raise ValueError(f"indent must be a positive int, got {indent!r}")
    if not isinstance(text, str):
        text = _utf8(bytes(text), strict)
    lines = scan_lines(text, indent, strict)
    try:
        return _Parser(lines, strict).root()
    except RecursionError:
        raise ToonDecodeError("document is nested too deeply", 1, 1) from None


def _utf8(data: bytes, strict: bool) -> str:
    """§4: byte input is UTF-8; ill-formed sequences are an error in strict mode."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not strict:
            return data.decode("utf-8", errors="replace")
        head = data[: exc.start]
        line = head.count(b"\n") + 1
        column = len(head[head.rfind(b"\n") + 1 :].decode("utf-8", errors="replace")) + 1
        raise ToonDecodeError(f"invalid UTF-8: {exc.reason}", line, column) from None


class _Parser:
    __slots__ = ("lines", "n", "pos", "span", "strict")

    def __init__(self, lines: list[Line], strict: bool) -> None:
        self.lines = lines
        self.n = len(lines)
        self.pos = 0
        self.strict = strict
        # Number of open array scopes that already hold an item: a blank line before a line
        # consumed while this is > 0 lies inside an array span (§12).
        self.span = 0

    # -- helpers ----------------------------------------------------------------------------

    def fail(self, msg: str, line: Line, index: int = 0) -> NoReturn:
        raise ToonDecodeError(msg, line.no, line.col + index + 1)

    def local(self, exc: LocalError, line: Line, base: int) -> NoReturn:
        raise ToonDecodeError(exc.msg, line.no, line.col + base + exc.index + 1) from None

    def peek(self) -> Line | None:
        return self.lines[self.pos] if self.pos < self.n else None

    def take(self, line: Line) -> None:
        """Consume ``line`` (the current one), enforcing the blank-line rule of §12."""
        if line.blank_before and self.span and self.strict:
            raise ToonDecodeError("blank line inside an array", line.blank_before, 1)
        self.pos += 1

    def child_depth(self, depth: int) -> int:
        """Content depth of a scope opened by a line standing at ``depth``."""
        nxt = self.peek()
        if nxt is None or nxt.depth <= depth + 1:
            return depth + 1
        if self.strict:
            self.fail("indentation jumps more than one level", nxt)
        return nxt.depth  # NOTE: non-strict accepts a depth jump (v3 behaviour).

    def stray(self, line: Line) -> None:
        """A line deeper than its scope's content depth that no scope claims (§8, §14.2)."""
        if self.strict:
            self.fail("line is indented deeper than its scope", line)
        self.pos += 1  # non-strict: skip it

    def primitive(self, tok: str, line: Line, base: int) -> Any:
        try:
            return parse_primitive(tok, self.strict)
        except LocalError as exc:
            self.local(exc, line, base)

    def classify(self, s: str, line: Line, base: int) -> Header | KeyValue | None:
        try:
            return classify(s, self.strict)
        except LocalError as exc:
            self.local(exc, line, base)

    def put(self, obj: dict[str, Any], key: str, value: Any, line: Line, base: int) -> None:
        if key in obj and self.strict:
            self.fail(f"duplicate key {key!r}", line, base)
        obj[key] = value  # §14.3: non-strict is last-write-wins

    # -- root -------------------------------------------------------------------------------

    def root(self) -> Any:
        if not self.lines:
            return {}
        first = self.lines[0]
        if first.depth == 0 or not self.strict:
            kind = self.classify(first.text, first, 0)
            if isinstance(kind, Header) and kind.key is None:
                self.take(first)
                value = self.header_value(kind, first, 0, first.depth)
                self.trailing("array" if not kind.keyed else "keyed object")
                return value
            if kind is None and first.text == "[]":
                self.take(first)
                self.trailing("array")
                return []
            if kind is None and self.n == 1:
                self.take(first)
                return self.primitive(first.text, first, 0)
        depth = 0 if self.strict else min(line.depth for line in self.lines)
        return self.fields({}, depth)

    def trailing(self, what: str) -> None:
        nxt = self.peek()
        if nxt is not None and self.strict:
            self.fail(f"unexpected content after the root {what}", nxt)
        self.pos = self.n

    # -- objects ----------------------------------------------------------------------------

    def fields(self, obj: dict[str, Any], depth: int) -> dict[str, Any]:
        """Read the fields standing at ``depth`` into ``obj``."""
        while self.pos < self.n:
            line = self.lines[self.pos]
            if line.depth < depth:
                break
            if line.depth > depth:
                self.stray(line)
                continue
            self.take(line)
            self.field(obj, line, line.text, 0, depth)
        return obj

    def field(self, obj: dict[str, Any], line: Line, s: str, base: int, depth: int) -> None:
        """Decode one field whose text ``s`` starts at ``base`` and stands at ``depth``."""
        kind = self.classify(s, line, base)
        if isinstance(kind, Header):
            if kind.key is None:
                if self.strict:
                    self.fail("a keyless array header is only valid at the root", line, base)
                try:
                    kind = fallthrough(s)  # non-strict: a literal key, e.g. "[2]"
                except LocalError as exc:
                    self.local(exc, line, base)
            else:
                self.put(obj, kind.key, self.header_value(kind, line, base, depth), line, base)
                return
        if isinstance(kind, KeyValue):
            value = kind.value
            if not value:
                nested: dict[str, Any] = {}
                nxt = self.peek()
                if nxt is not None and nxt.depth > depth:
                    self.fields(nested, self.child_depth(depth))
                self.put(obj, kind.key, nested, line, base)
            elif value == "[]":
                self.put(obj, kind.key, [], line, base)
            else:
                self.put(
                    obj, kind.key, self.primitive(value, line, base + kind.value_col), line, base
                )
            return
        self.fail("expected 'key: value' or an array header (missing ':')", line, base)

    # -- arrays and keyed objects -----------------------------------------------------------

    def header_value(self, h: Header, line: Line, base: int, depth: int) -> Any:
        """Decode the value opened by header ``h`` standing at ``depth``."""
        if h.keyed:
            assert h.fields is not None
            return self.entries(h, line, base, depth)
        if h.fields is not None:
            return self.rows(h, line, base, depth)
        if h.rest:
            return self.inline(h, line, base)
        return self.items(h, line, base, depth)

    def count_error(self, h: Header, got: int, what: str, line: Line, base: int) -> NoReturn:
        self.fail(f"expected {h.length} {what}, found {got}", line, base)

    def inline(self, h: Header, line: Line, base: int) -> list[Any]:
        start = base + h.rest_col
        cells = split_cells(h.rest, h.delim)
        try:
            values = [parse_primitive(c, self.strict) for c in cells]
        except LocalError:
            self.cell_error(h.rest, h.delim, line, start)
        if len(values) != h.length and self.strict:
            self.count_error(h, len(values), "inline values", line, base)
        return values

    def cell_error(self, s: str, delim: str, line: Line, base: int) -> NoReturn:
        """Re-scan a failing delimited line with positions, to report the bad cell's column."""
        for a, b in split_spans(s, delim):
            try:
                parse_primitive(s[a:b], self.strict)
            except LocalError as exc:
                self.local(exc, line, base + a)
        raise AssertionError("cell_error called for a valid line")  # pragma: no cover

    def items(self, h: Header, line: Line, base: int, depth: int) -> list[Any]:
        """§9.4 expanded list: ``- item`` lines at the child depth."""
        out: list[Any] = []
        nxt = self.peek()
        if nxt is None or nxt.depth <= depth:
            if h.length and self.strict:
                self.count_error(h, 0, "list items", line, base)
            return out
        item_depth = self.child_depth(depth)
        opened = False
        strict = self.strict
        while self.pos < self.n:
            cur = self.lines[self.pos]
            if cur.depth < item_depth:
                break
            if cur.depth > item_depth:
                self.stray(cur)
                continue
            s = cur.text
            if s != "-" and not s.startswith("- "):
                self.fail("expected a list item ('- ') in array", cur)
            if strict and len(out) == h.length:
                self.count_error(h, len(out) + 1, "list items", cur, 0)
            self.take(cur)
            if not opened:
                opened = True
                self.span += 1
            out.append(self.item(cur, item_depth))
        if opened:
            self.span -= 1
        if len(out) != h.length and strict:
            self.count_error(h, len(out), "list items", line, base)
        return out

    def item(self, line: Line, depth: int) -> Any:
        """Decode one list item whose hyphen stands at ``depth``."""
        s = line.text
        if s == "-":
            obj: dict[str, Any] = {}
            nxt = self.peek()
            if nxt is not None and nxt.depth > depth:
                self.fields(obj, self.child_depth(depth))
            return obj
        base = 2
        while base < len(s) and s[base] == " ":
            base += 1
        body = s[base:]
        if body == "[]":
            return []
        kind = self.classify(body, line, base)
        if kind is None:
            return self.primitive(body, line, base)
        if isinstance(kind, Header) and kind.key is None:
            if kind.fields is None:
                return self.header_value(kind, line, base, depth)
            if self.strict:
                self.fail("a keyless tabular header is only valid at the root", line, base)
        # §10: an object whose first field rides on the hyphen line, standing at depth + 1.
        obj = {}
        self.field(obj, line, body, base, depth + 1)
        return self.fields(obj, depth + 1)

    def rows(self, h: Header, line: Line, base: int, depth: int) -> list[Any]:
        """§9.3 tabular rows at the child depth."""
        fields = h.fields
        assert fields is not None
        width = leaf_count(fields)
        flat = [name for name, sub in fields] if all(sub is None for _, sub in fields) else None
        delim = h.delim
        strict = self.strict
        out: list[Any] = []
        nxt = self.peek()
        if nxt is None or nxt.depth <= depth:
            if h.length and strict:
                self.count_error(h, 0, "rows", line, base)
            return out
        row_depth = self.child_depth(depth)
        opened = False
        while self.pos < self.n:
            cur = self.lines[self.pos]
            if cur.depth < row_depth:
                break
            if cur.depth > row_depth:
                self.stray(cur)
                continue
            s = cur.text
            colon = find_unquoted(s, ":")
            if colon != -1:
                sep = find_unquoted(s, delim)
                if sep == -1 or colon < sep:
                    break  # §9.3 disambiguation: a key-value line ends the rows
            if strict and len(out) == h.length:
                self.count_error(h, len(out) + 1, "rows", cur, 0)
            self.take(cur)
            if not opened:
                opened = True
                self.span += 1
            cells = self.cells(s, delim, width, cur, 0)
            if flat is not None:
                out.append(dict(zip(flat, cells, strict=False)))
            else:
                out.append(_materialize(fields, iter(cells)))
        if opened:
            self.span -= 1
        if len(out) != h.length and strict:
            self.count_error(h, len(out), "rows", line, base)
        return out

    def cells(self, s: str, delim: str, width: int, line: Line, base: int) -> list[Any]:
        """Split and decode one row's cells, checking the width against the field list."""
        strict = self.strict
        try:
            values = [parse_primitive(c, strict) for c in split_cells(s, delim)] if s else []
        except LocalError:
            self.cell_error(s, delim, line, base)
        if len(values) != width:
            if strict:
                self.fail(f"row has {len(values)} values, expected {width}", line, base)
            # NOTE: non-strict: missing trailing cells become null, extra cells are dropped.
            values = values[:width] + [None] * (width - len(values))
        return values

    def entries(self, h: Header, line: Line, base: int, depth: int) -> dict[str, Any]:
        """§9.5 keyed entry rows at the child depth."""
        fields = h.fields
        assert fields is not None
        width = leaf_count(fields)
        strict = self.strict
        out: dict[str, Any] = {}
        count = 0
        nxt = self.peek()
        if nxt is None or nxt.depth <= depth:
            if h.length and strict:
                self.count_error(h, 0, "entries", line, base)
            return out
        entry_depth = self.child_depth(depth)
        opened = False
        while self.pos < self.n:
            cur = self.lines[self.pos]
            if cur.depth < entry_depth:
                break
            if cur.depth > entry_depth:
                self.stray(cur)
                continue
            s = cur.text
            try:
                split = split_key(s, strict)
            except LocalError as exc:
                self.local(exc, cur, 0)
            if split is None:
                if strict:
                    self.fail("expected 'key: values' entry row in keyed object", cur)
                self.pos += 1
                continue
            if strict and count == h.length:
                self.count_error(h, count + 1, "entries", cur, 0)
            self.take(cur)
            if not opened:
                opened = True
                self.span += 1
            key, after = split
            start = after
            while start < len(s) and s[start] == " ":
                start += 1
            cells = self.cells(s[start:], h.delim, width, cur, start)
            self.put(out, key, _materialize(fields, iter(cells)), cur, 0)
            count += 1
        if opened:
            self.span -= 1
        if count != h.length and strict:
            self.count_error(h, count, "entries", line, base)
        return out


def _materialize(fields: Fields, cells: Any) -> dict[str, Any]:
    """Build one row object from its leaf cells in depth-first header order (§9.3)."""
    obj: dict[str, Any] = {}
    for name, sub in fields:
        obj[name] = next(cells) if sub is None else _materialize(sub, cells)
    return obj
