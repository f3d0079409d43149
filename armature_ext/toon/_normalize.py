"""Host-type normalisation: Python values -> the JSON data model (TOON spec §3).

The encoder only ever sees ``dict`` (str keys), ``list``, ``str``, ``int``, ``float``, ``bool``
and ``None`` after this pass. Values that already have exactly those types are returned as they
are (no copy), so the common case costs one type check per value.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ._errors import ToonEncodeError

__all__ = ["Default", "normalize"]

Default = Callable[[Any], Any]
"""A fallback hook, like ``json.dumps(default=...)``: returns a JSON-model value or raises."""

_MAX_DEPTH = 2000
_TRACK_FROM = 64


def normalize(value: Any, default: Default | None) -> Any:
    """Return ``value`` mapped onto the JSON data model.

    Args:
        value: Any supported Python value (see ``docs/toon.md``, "Host types").
        default: Optional hook called for otherwise unsupported objects.

    Returns:
        The normalised value; containers are shared with the input when nothing changed.

    Raises:
        ToonEncodeError: For unsupported types, non-string keys or circular references.
    """
    return _Normalizer(default).run(value, 0)


class _Normalizer:
    __slots__ = ("active", "default")

    def __init__(self, default: Default | None) -> None:
        self.default = default
        # NOTE: ids of the containers on the current path below _TRACK_FROM, to report a
        # cycle as such (a cycle always gets that deep) without paying for it on every dict.
        self.active: set[int] = set()

    def run(self, value: Any, depth: int) -> Any:
        t = type(value)
        if t is dict:
            return self._dict(value, depth)
        if t is list:
            return self._list(value, depth)
        if t is str or t is int or t is bool or value is None:
            return value
        if t is float:
            return value if value - value == 0.0 else None  # NaN/inf -> null (§3)
        return self._other(value, depth)

    def _enter(self, value: Any, depth: int) -> int:
        if depth > _MAX_DEPTH:
            raise ToonEncodeError(f"value is nested more than {_MAX_DEPTH} levels deep")
        ident = id(value)
        if ident in self.active:
            raise ToonEncodeError(f"circular reference detected in {type(value).__name__}")
        self.active.add(ident)
        return ident

    def _dict(self, value: Mapping[Any, Any], depth: int) -> dict[str, Any]:
        ident = self._enter(value, depth) if depth > _TRACK_FROM else 0
        out: dict[str, Any] | None = None if type(value) is dict else {}
        depth += 1
        # PERF: values are checked inline and the dict is only rebuilt when something changes.
        for k, v in value.items():
            t = type(v)
            if t is str or t is int or t is bool or v is None:
                nv = v
            elif t is dict:
                nv = self._dict(v, depth)
            elif t is list:
                nv = self._list(v, depth)
            elif t is float:
                nv = v if v - v == 0.0 else None
            else:
                nv = self._other(v, depth)
            if out is None:
                if nv is v and type(k) is str:
                    continue
                out = {}
                for k2, v2 in value.items():
                    if k2 is k:
                        break
                    out[k2] = v2
            out[k if type(k) is str else _key(k)] = nv
        if ident:
            self.active.discard(ident)
        return value if out is None else out  # type: ignore[return-value]

    def _list(self, value: list[Any], depth: int) -> list[Any]:
        ident = self._enter(value, depth) if depth > _TRACK_FROM else 0
        out: list[Any] | None = None
        depth += 1
        i = 0
        for v in value:
            t = type(v)
            if t is str or t is int or t is bool or v is None:
                nv = v
            elif t is dict:
                nv = self._dict(v, depth)
            elif t is list:
                nv = self._list(v, depth)
            elif t is float:
                nv = v if v - v == 0.0 else None
            else:
                nv = self._other(v, depth)
            if out is None:
                if nv is v:
                    i += 1
                    continue
                out = value[:i]
            out.append(nv)
        if ident:
            self.active.discard(ident)
        return value if out is None else out

    def _seq(self, value: Any, depth: int) -> list[Any]:
        ident = self._enter(value, depth)
        out = [self.run(v, depth + 1) for v in value]
        self.active.discard(ident)
        return out

    def _other(self, value: Any, depth: int) -> Any:
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, enum.Enum):
            return self.run(value.value, depth + 1)
        if isinstance(value, str):
            return str(value)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            f = float(value)
            return f if f - f == 0.0 else None
        if isinstance(value, decimal.Decimal):
            # NOTE: kept as Decimal so the encoder can print its exact digits (see _numbers).
            return value if value.is_finite() else None
        if isinstance(value, Mapping):
            return self._dict(value, depth)
        if isinstance(value, (list, tuple, set, frozenset)):
            return self._seq(value, depth)
        if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
            return value.isoformat()
        if isinstance(value, uuid.UUID):
            return str(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            ident = self._enter(value, depth)
            out = {
                f.name: self.run(getattr(value, f.name), depth + 1)
                for f in dataclasses.fields(value)
            }
            self.active.discard(ident)
            return out
        dump = getattr(value, "model_dump", None)
        if callable(dump) and not isinstance(value, type):
            # NOTE: pydantic v2 models (duck-typed so the codec never imports pydantic).
            return self.run(dump(mode="json"), depth + 1)
        if self.default is not None:
            ident = self._enter(value, depth)
            replaced = self.default(value)
            out = self.run(replaced, depth + 1)
            self.active.discard(ident)
            return out
        raise ToonEncodeError(f"object of type {type(value).__name__} is not TOON serializable")


def _key(k: Any) -> str:
    if isinstance(k, str):
        return str(k)
    if isinstance(k, enum.Enum) and isinstance(k.value, str):
        return k.value
    raise ToonEncodeError(f"object keys must be str, not {type(k).__name__}")
