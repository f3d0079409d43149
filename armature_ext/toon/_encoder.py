"""TOON encoder: JSON-model values -> TOON text (spec v4.x, §2-§3, §5-§12).

The output is built as a list of lines joined once at the end (linear in the output size).
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Callable
from typing import Any

from ._errors import ToonEncodeError
from ._normalize import Default, normalize
from ._numbers import format_decimal, format_float

__all__ = ["DELIMITERS", "encode"]

DELIMITERS = (",", "\t", "|")

# §7.3: keys matching this may be written unquoted.
_SAFE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")

# §7.1 escapes: \\ \" \n \r \t, other C0 controls as lowercase \u00xx.
_ESCAPES: dict[int, str] = {i: f"\\u{i:04x}" for i in range(0x20)}
_ESCAPES.update({0x5C: "\\\\", 0x22: '\\"', 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"})


def _needs_quotes_re(delimiter: str) -> re.Pattern[str]:
    """One regex per delimiter covering every §7.2 quoting trigger."""
    delim = re.escape(delimiter)
    return re.compile(
        r"\A\Z"  # empty
        r"|\A[ \t#-]"  # leading whitespace, comment marker or hyphen
        r"|[ \t]\Z"  # trailing whitespace
        rf'|[:"\\\[\]{{}}\x00-\x1f{delim}]'  # structural characters, controls, delimiter
        r"|\A(?:true|false|null)\Z"
        r"|\A[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z"  # numeric-like
    )


_NEEDS_QUOTES = {d: _needs_quotes_re(d) for d in DELIMITERS}

# A tabular shape: (field name, nested shape or None for a primitive leaf) in header order.
_Shape = list[tuple[str, "_Shape | None"]]


def encode(
    value: Any, *, indent: int = 2, delimiter: str = ",", default: Default | None = None
) -> str:
    """Encode ``value`` as a TOON document (see the package docstring)."""
    if delimiter not in _NEEDS_QUOTES:
        raise ValueError(f"delimiter must be one of ',', '\\t' or '|', got {delimiter!r}")
    if type(indent) is not int or indent < 1:
        raise ValueError(f"indent must be a positive int, got {indent!r}")
    try:
        return _Encoder(indent, delimiter).root(normalize(value, default))
    except RecursionError:
        raise ToonEncodeError("value is nested too deeply to encode") from None


def quote(text: str) -> str:
    """Return ``text`` as a quoted, escaped TOON string (§7.1)."""
    return '"' + text.translate(_ESCAPES) + '"'


def encode_key(key: str) -> str:
    """Return ``key`` unquoted when §7.3 allows it, else quoted."""
    return key if _SAFE_KEY.match(key) else quote(key)


class _Encoder:
    __slots__ = ("delim", "indent", "keys", "lines", "marker", "pads", "prim", "strings")

    def __init__(self, indent: int, delimiter: str) -> None:
        self.indent = indent
        self.delim = delimiter
        self.marker = "" if delimiter == "," else delimiter
        self.lines: list[str] = []
        self.pads: list[str] = [""]
        # PERF: per-call caches; table cells and keys repeat a lot.
        self.keys: dict[str, str] = {}
        self.strings: dict[str, str] = {}
        self.prim = self._make_prim()

    def _make_prim(self) -> Callable[[Any], str]:
        search = _NEEDS_QUOTES[self.delim].search
        cache = self.strings

        def prim(v: Any) -> str:
            t = type(v)
            if t is str:
                out = cache.get(v)
                if out is None:
                    out = quote(v) if search(v) else v
                    cache[v] = out
                return out
            if v is None:
                return "null"
            if t is bool:
                return "true" if v else "false"
            if t is int:
                try:
                    return str(v)
                except ValueError as exc:  # beyond sys.get_int_max_str_digits()
                    raise ToonEncodeError(f"integer too large to encode: {exc}") from None
            if t is float:
                return format_float(v)
            if t is decimal.Decimal:
                return format_decimal(v)
            raise ToonEncodeError(f"cannot encode {t.__name__} as a primitive")  # unreachable

        return prim

    def pad(self, depth: int) -> str:
        pads = self.pads
        while len(pads) <= depth:
            pads.append(" " * (self.indent * len(pads)))
        return pads[depth]

    def key(self, key: str) -> str:
        out = self.keys.get(key)
        if out is None:
            out = self.keys[key] = encode_key(key)
        return out

    # -- document ---------------------------------------------------------------------------

    def root(self, value: Any) -> str:
        t = type(value)
        if t is dict:
            if not value:
                return ""  # §8: an empty root object is an empty document.
            shape = _keyed_shape(value)
            if shape is not None:
                self.keyed("", value, shape, 0, "")
            else:
                self.fields(value, 0)
        elif t is list:
            if not value:
                return "[]"
            self.array("", value, 0, "", tabular=True)
        else:
            return self.prim(value)
        return "\n".join(self.lines)

    def fields(self, obj: dict[str, Any], depth: int) -> None:
        pad = self.pad(depth)
        for k, v in obj.items():
            self.field(k, v, depth, pad)

    def field(self, key: str, value: Any, depth: int, prefix: str) -> None:
        """Emit one object field standing at ``depth``; ``prefix`` starts its first line."""
        k = self.key(key)
        t = type(value)
        if t is dict:
            if not value:
                self.lines.append(f"{prefix}{k}:")
                return
            shape = _keyed_shape(value)
            if shape is not None:
                self.keyed(k, value, shape, depth, prefix)
            else:
                self.lines.append(f"{prefix}{k}:")
                self.fields(value, depth + 1)
        elif t is list:
            if value:
                self.array(k, value, depth, prefix, tabular=True)
            else:
                self.lines.append(f"{prefix}{k}: []")
        else:
            self.lines.append(f"{prefix}{k}: {self.prim(value)}")

    def array(self, k: str, arr: list[Any], depth: int, prefix: str, *, tabular: bool) -> None:
        """Emit a non-empty array whose header (key ``k``, maybe "") stands at ``depth``."""
        n = len(arr)
        head = f"{prefix}{k}[{n}{self.marker}]"
        for item in arr:
            t = type(item)
            if t is dict or t is list:
                break
        else:
            # §9.1: all primitives -> inline.
            self.lines.append(f"{head}: {self.delim.join(map(self.prim, arr))}")
            return
        shape = _tabular_shape(arr) if tabular else None
        if shape is not None:
            self.lines.append(f"{head}{{{self.header_fields(shape)}}}:")
            self.rows(arr, shape, self.pad(depth + 1), None)
            return
        self.lines.append(f"{head}:")
        for item in arr:
            self.item(item, depth + 1)

    def item(self, value: Any, depth: int) -> None:
        """Emit one expanded-list item whose hyphen stands at ``depth`` (§9.4, §10)."""
        pad = self.pad(depth)
        t = type(value)
        if t is dict:
            if not value:
                self.lines.append(pad + "-")
                return
            items = iter(value.items())
            k0, v0 = next(items)
            # §10: the first field rides on the hyphen line and stands at depth + 1.
            self.field(k0, v0, depth + 1, pad + "- ")
            inner = self.pad(depth + 1)
            for k, v in items:
                self.field(k, v, depth + 1, inner)
        elif t is list:
            if value:
                # §9.4: a keyless fields header is root-only, so nested arrays stay lists.
                self.array("", value, depth, pad + "- ", tabular=False)
            else:
                self.lines.append(f"{pad}- [0{self.marker}]:")
        else:
            self.lines.append(pad + "- " + self.prim(value))

    def keyed(self, k: str, obj: dict[str, Any], shape: _Shape, depth: int, prefix: str) -> None:
        """Emit an object in keyed tabular form (§9.5)."""
        self.lines.append(f"{prefix}{k}[{len(obj)}:{self.marker}]{{{self.header_fields(shape)}}}:")
        self.rows(list(obj.values()), shape, self.pad(depth + 1), list(obj))

    def header_fields(self, shape: _Shape) -> str:
        parts = []
        for name, sub in shape:
            enc = self.key(name)
            parts.append(enc if sub is None else f"{enc}{{{self.header_fields(sub)}}}")
        return self.delim.join(parts)

    def rows(
        self, objs: list[dict[str, Any]], shape: _Shape, pad: str, entry_keys: list[str] | None
    ) -> None:
        prim = self.prim
        join = self.delim.join
        append = self.lines.append
        if entry_keys is None and all(sub is None for _, sub in shape):
            # PERF: flat rows (the common case) skip the recursive walk and the key column.
            names = [name for name, _ in shape]
            for o in objs:
                append(pad + join([prim(o[n]) for n in names]))
            return
        key = self.key
        for i, o in enumerate(objs):
            cells: list[str] = []
            _flatten(o, shape, prim, cells)
            if entry_keys is None:
                append(pad + join(cells))
            else:
                append(f"{pad}{key(entry_keys[i])}: {join(cells)}")


def _flatten(
    obj: dict[str, Any], shape: _Shape, prim: Callable[[Any], str], out: list[str]
) -> None:
    for name, sub in shape:
        if sub is None:
            out.append(prim(obj[name]))
        else:
            _flatten(obj[name], sub, prim, out)


def _tabular_shape(objs: list[Any]) -> _Shape | None:
    """Return the header shape if ``objs`` qualifies for tabular form (§9.3), else None."""
    first = objs[0]
    if type(first) is not dict or not first:
        return None
    keys = first.keys()
    for o in objs:
        # NOTE: dict key views compare as sets, so per-object key order may vary.
        if type(o) is not dict or o.keys() != keys:
            return None
    return _columns(objs, list(first))


def _columns(objs: list[dict[str, Any]], names: list[str]) -> _Shape | None:
    shape: _Shape = []
    for name in names:
        head = objs[0][name]
        if type(head) is dict:
            column = [o[name] for o in objs]
            sub = _tabular_shape(column)  # nested-uniform: same rules, one level down
            if sub is None:
                return None
            shape.append((name, sub))
        else:
            for o in objs:
                t = type(o[name])
                if t is dict or t is list:
                    return None
            shape.append((name, None))
    return shape


def _keyed_shape(obj: dict[str, Any]) -> _Shape | None:
    """Return the header shape if ``obj`` qualifies for keyed tabular form (§9.5), else None."""
    if len(obj) < 2:
        return None
    return _tabular_shape(list(obj.values()))
