"""Aggregations: terms, date_histogram, histogram, range, avg/sum/min/max, cardinality, value_count,
with sub-aggregations; unsupported types answer 400 so a test notices."""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

from ._core import (
    NUMERIC_TYPES,
    Doc,
    FieldDef,
    Index,
    bad_request,
    field_values,
    format_date_pattern,
    normalize,
    parse_date,
)
from ._query import TEXT_TYPES, parsing_error, unsupported

Hits = list[tuple[Index, Doc]]
_CALENDAR = {
    "minute": "minute",
    "1m": "minute",
    "hour": "hour",
    "1h": "hour",
    "day": "day",
    "1d": "day",
    "week": "week",
    "1w": "week",
    "month": "month",
    "1M": "month",
    "quarter": "quarter",
    "1q": "quarter",
    "year": "year",
    "1y": "year",
}
_FIXED = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def fielddata_error(name: str) -> Exception:
    return bad_request(
        "Text fields are not optimised for operations that require per-document field data like "
        "aggregations and sorting, so these operations are disabled by default. Please use a "
        f"keyword field instead. Alternatively, set fielddata=true on [{name}] in order to load "
        "field data by uninverting the inverted index. Note that this can use significant memory."
    )


def _fdef(hits: Hits, name: str) -> FieldDef | None:
    for index, _ in hits:
        fdef = index.field(name)
        if fdef is not None:
            return fdef
    return None


def _values(index: Index, doc: Doc, name: str) -> list[Any]:
    fdef = index.field(name)
    if fdef is None or fdef.nested_path is not None:
        return []
    return field_values(doc.source, fdef)


def run_aggs(spec: Mapping[str, Any], hits: Hits, all_indices: list[Index]) -> dict[str, Any]:
    """Compute every aggregation of ``spec`` over ``hits``."""
    out: dict[str, Any] = {}
    for name, body in spec.items():
        kinds = [k for k in body if k not in ("aggs", "aggregations", "meta")]
        if len(kinds) != 1:
            raise parsing_error(f"Expected exactly one aggregation type for [{name}], got {kinds}")
        kind = kinds[0]
        subs = body.get("aggs") or body.get("aggregations") or {}
        handler = globals().get(f"_agg_{kind}")
        if handler is None:
            raise unsupported(f"the [{kind}] aggregation")
        out[name] = handler(body[kind], hits, subs, all_indices)
    return out


def _check_type(fdef: FieldDef | None, name: str, kind: str, allowed: set[str]) -> None:
    if fdef is None:
        return
    if fdef.type in TEXT_TYPES and not fdef.mapping.get("fielddata"):
        raise fielddata_error(name)
    if fdef.type not in allowed:
        raise bad_request(
            f"Field [{name}] of type [{fdef.type}] is not supported for aggregation [{kind}]"
        )


def _bucket(
    key: Any, members: Hits, subs: Mapping[str, Any], all_indices: list[Index], **extra: Any
) -> dict[str, Any]:
    bucket: dict[str, Any] = {"key": key, **extra, "doc_count": len(members)}
    if subs:
        bucket.update(run_aggs(subs, members, all_indices))
    return bucket


# -- bucket aggregations ---------------------------------------------------------------------


def _agg_terms(
    body: Mapping[str, Any], hits: Hits, subs: Mapping[str, Any], all_indices: list[Index]
) -> dict[str, Any]:
    name = body["field"]
    fdef = _fdef(hits, name)
    _check_type(
        fdef,
        name,
        "terms",
        {"keyword", "constant_keyword", "boolean", "date", "ip", *NUMERIC_TYPES, "text"},
    )
    groups: dict[Any, Hits] = {}
    for index, doc in hits:
        values = set(_values(index, doc, name))
        if not values and body.get("missing") is not None and fdef is not None:
            values = {normalize(fdef.type, body["missing"])}
        for value in values:
            groups.setdefault(value, []).append((index, doc))
    include, exclude = body.get("include"), body.get("exclude")
    if include is not None:
        groups = {k: v for k, v in groups.items() if _included(k, include)}
    if exclude is not None:
        groups = {k: v for k, v in groups.items() if not _included(k, exclude)}
    min_count = int(body.get("min_doc_count", 1))
    buckets = []
    for value, members in groups.items():
        if len(members) < min_count:
            continue
        extra = {}
        key: Any = value
        if fdef is not None and fdef.type == "boolean":
            key, extra = (1 if value else 0), {"key_as_string": "true" if value else "false"}
        elif fdef is not None and fdef.type in ("date", "date_nanos"):
            extra = {"key_as_string": format_date_pattern(value, body.get("format"))}
        buckets.append(_bucket(key, members, subs, all_indices, **extra))
    orders = body.get("order", [{"_count": "desc"}, {"_key": "asc"}])
    orders = [orders] if isinstance(orders, Mapping) else list(orders)
    if not any("_key" in o for o in orders):
        orders = [*orders, {"_key": "asc"}]
    for order in reversed(orders):
        ((target, direction),) = order.items()
        buckets.sort(key=lambda b, t=target: _order_value(b, t), reverse=direction == "desc")
    size = int(body.get("size", 10))
    shown = buckets[:size]
    other = sum(b["doc_count"] for b in buckets[size:])
    return {"doc_count_error_upper_bound": 0, "sum_other_doc_count": other, "buckets": shown}


def _included(value: Any, rule: Any) -> bool:
    if isinstance(rule, str):
        return re.fullmatch(rule, str(value)) is not None
    return value in rule or str(value) in [str(r) for r in rule]


def _order_value(bucket: Mapping[str, Any], target: str) -> Any:
    if target == "_count":
        return bucket["doc_count"]
    if target == "_key":
        return bucket["key"]
    name, _, prop = target.partition(".")
    sub = bucket.get(name)
    if sub is None:
        raise bad_request(f"Invalid aggregation order path [{target}]")
    value = sub.get(prop or "value")
    return -math.inf if value is None else value


def _zone(body: Mapping[str, Any]) -> dt.tzinfo:
    name = body.get("time_zone")
    if not name or name in ("UTC", "Z", "+00:00"):
        return dt.UTC
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", name)
    if match:
        sign = 1 if match.group(1) == "+" else -1
        delta = dt.timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
        return dt.timezone(sign * delta)
    return zoneinfo.ZoneInfo(name)


def _calendar_floor(millis: int, unit: str, zone: dt.tzinfo) -> int:
    moment = (_EPOCH + dt.timedelta(milliseconds=millis)).astimezone(zone)
    if unit == "minute":
        moment = moment.replace(second=0, microsecond=0)
    elif unit == "hour":
        moment = moment.replace(minute=0, second=0, microsecond=0)
    else:
        moment = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        if unit == "week":
            moment -= dt.timedelta(days=moment.weekday())
        elif unit == "month":
            moment = moment.replace(day=1)
        elif unit == "quarter":
            moment = moment.replace(day=1, month=(moment.month - 1) // 3 * 3 + 1)
        elif unit == "year":
            moment = moment.replace(day=1, month=1)
    return int((moment - _EPOCH) / dt.timedelta(milliseconds=1))


def _calendar_next(millis: int, unit: str, zone: dt.tzinfo) -> int:
    moment = (_EPOCH + dt.timedelta(milliseconds=millis)).astimezone(zone)
    step = {
        "minute": dt.timedelta(minutes=1),
        "hour": dt.timedelta(hours=1),
        "day": dt.timedelta(days=1),
        "week": dt.timedelta(weeks=1),
    }.get(unit)
    if step is not None:
        nxt = moment + step
    else:
        months = {"month": 1, "quarter": 3, "year": 12}[unit]
        index = moment.month - 1 + months
        nxt = moment.replace(year=moment.year + index // 12, month=index % 12 + 1)
    return _calendar_floor(int((nxt - _EPOCH) / dt.timedelta(milliseconds=1)), unit, zone)


def _agg_date_histogram(
    body: Mapping[str, Any], hits: Hits, subs: Mapping[str, Any], all_indices: list[Index]
) -> dict[str, Any]:
    name = body["field"]
    fdef = _fdef(hits, name)
    _check_type(fdef, name, "date_histogram", {"date", "date_nanos", *NUMERIC_TYPES})
    zone = _zone(body)
    calendar = body.get("calendar_interval")
    fixed = body.get("fixed_interval")
    if (calendar is None) == (fixed is None):
        raise bad_request(
            "Required one of fields [interval, calendar_interval, fixed_interval], "
            "but none were specified."
        )
    if calendar is not None:
        unit = _CALENDAR.get(calendar)
        if unit is None:
            raise bad_request(
                f"The supplied interval [{calendar}] could not be parsed as a calendar interval."
            )

        def floor(v: int) -> int:
            return _calendar_floor(v, unit, zone)

        def step(v: int) -> int:
            return _calendar_next(v, unit, zone)
    else:
        match = re.fullmatch(r"(\d+)(ms|s|m|h|d)", str(fixed))
        if match is None:
            raise bad_request(
                f"failed to parse setting [date_histogram.fixedInterval] with value "
                f"[{fixed}] as a time value"
            )
        width = int(match.group(1)) * _FIXED[match.group(2)]
        shift = (
            int((zone.utcoffset(None) or dt.timedelta()) / dt.timedelta(milliseconds=1))
            if (isinstance(zone, dt.timezone))
            else 0
        )

        def floor(v: int) -> int:
            return (v + shift) // width * width - shift

        def step(v: int) -> int:
            return v + width

    groups: dict[int, Hits] = {}
    for index, doc in hits:
        for value in {floor(int(v)) for v in _values(index, doc, name)}:
            groups.setdefault(value, []).append((index, doc))
    min_count = int(body.get("min_doc_count", 0))
    keys = sorted(groups)
    bounds = body.get("extended_bounds")
    if min_count == 0 and (keys or bounds):
        low = keys[0] if keys else None
        high = keys[-1] if keys else None
        if bounds:
            lo_b, hi_b = floor(parse_date(bounds["min"])), floor(parse_date(bounds["max"]))
            low = lo_b if low is None else min(low, lo_b)
            high = hi_b if high is None else max(high, hi_b)
        assert low is not None and high is not None
        keys, current = [], low
        while current <= high:
            keys.append(current)
            current = step(current)
    fmt = body.get("format")
    buckets = [
        _bucket(
            key, groups.get(key, []), subs, all_indices, key_as_string=format_date_pattern(key, fmt)
        )
        for key in keys
        if len(groups.get(key, [])) >= min_count
    ]
    for bucket in buckets:  # NOTE: OpenSearch puts key_as_string before key
        bucket["key_as_string"] = bucket.pop("key_as_string")
    if body.get("order"):
        ((target, direction),) = dict(body["order"]).items()
        buckets.sort(key=lambda b: _order_value(b, target), reverse=direction == "desc")
    return {"buckets": buckets}


def _agg_histogram(
    body: Mapping[str, Any], hits: Hits, subs: Mapping[str, Any], all_indices: list[Index]
) -> dict[str, Any]:
    name = body["field"]
    fdef = _fdef(hits, name)
    _check_type(fdef, name, "histogram", {*NUMERIC_TYPES, "date"})
    interval = float(body["interval"])
    if interval <= 0:
        raise bad_request(f"[interval] must be >0 for histogram aggregation [{name}]")
    offset = float(body.get("offset", 0))
    # NOTE: buckets are grouped by integer bucket number so float keys never drift.
    groups: dict[int, Hits] = {}
    for index, doc in hits:
        for number in {
            math.floor((float(v) - offset) / interval) for v in _values(index, doc, name)
        }:
            groups.setdefault(number, []).append((index, doc))
    min_count = int(body.get("min_doc_count", 0))
    numbers = sorted(groups)
    bounds = body.get("extended_bounds")
    if min_count == 0 and (numbers or bounds):
        low = numbers[0] if numbers else None
        high = numbers[-1] if numbers else None
        if bounds:
            lo_b = math.floor((float(bounds["min"]) - offset) / interval)
            hi_b = math.floor((float(bounds["max"]) - offset) / interval)
            low = lo_b if low is None else min(low, lo_b)
            high = hi_b if high is None else max(high, hi_b)
        assert low is not None and high is not None
        numbers = list(range(low, high + 1))
    buckets = [
        _bucket(number * interval + offset, groups.get(number, []), subs, all_indices)
        for number in numbers
        if len(groups.get(number, [])) >= min_count
    ]
    return {"buckets": buckets}


def _num(value: float) -> str:
    return repr(float(value))


def _agg_range(
    body: Mapping[str, Any], hits: Hits, subs: Mapping[str, Any], all_indices: list[Index]
) -> dict[str, Any]:
    name = body["field"]
    fdef = _fdef(hits, name)
    _check_type(fdef, name, "range", {*NUMERIC_TYPES, "date"})
    buckets = []
    for spec in body["ranges"]:
        low, high = spec.get("from"), spec.get("to")
        low = None if low is None else float(low)
        high = None if high is None else float(high)
        members = [
            (index, doc)
            for index, doc in hits
            if any(
                (low is None or v >= low) and (high is None or v < high)
                for v in _values(index, doc, name)
            )
        ]
        key = spec.get("key") or (
            f"{'*' if low is None else _num(low)}-{'*' if high is None else _num(high)}"
        )
        extra = {}
        if low is not None:
            extra["from"] = low
        if high is not None:
            extra["to"] = high
        buckets.append(_bucket(key, members, subs, all_indices, **extra))
    if body.get("keyed"):
        return {"buckets": {b.pop("key"): b for b in buckets}}
    return {"buckets": buckets}


# -- metrics ---------------------------------------------------------------------------------


def _metric_values(
    body: Mapping[str, Any], hits: Hits, kind: str
) -> tuple[list[float], FieldDef | None]:
    name = body["field"]
    fdef = _fdef(hits, name)
    _check_type(fdef, name, kind, {*NUMERIC_TYPES, "date", "date_nanos", "boolean"})
    values: list[float] = []
    for index, doc in hits:
        found = _values(index, doc, name)
        if not found and body.get("missing") is not None:
            found = [body["missing"]]
        values += [float(v) for v in found]
    return values, fdef


def _with_string(value: float | None, fdef: FieldDef | None) -> dict[str, Any]:
    out: dict[str, Any] = {"value": value}
    if value is not None and fdef is not None and fdef.type in ("date", "date_nanos"):
        out["value_as_string"] = format_date_pattern(value, None)
    return out


def _agg_avg(body: Any, hits: Hits, subs: Any, all_indices: list[Index]) -> dict[str, Any]:
    values, _ = _metric_values(body, hits, "avg")
    return {"value": sum(values) / len(values) if values else None}


def _agg_sum(body: Any, hits: Hits, subs: Any, all_indices: list[Index]) -> dict[str, Any]:
    values, _ = _metric_values(body, hits, "sum")
    return {"value": float(sum(values))}


def _agg_min(body: Any, hits: Hits, subs: Any, all_indices: list[Index]) -> dict[str, Any]:
    values, fdef = _metric_values(body, hits, "min")
    return _with_string(min(values) if values else None, fdef)


def _agg_max(body: Any, hits: Hits, subs: Any, all_indices: list[Index]) -> dict[str, Any]:
    values, fdef = _metric_values(body, hits, "max")
    return _with_string(max(values) if values else None, fdef)


def _agg_cardinality(body: Any, hits: Hits, subs: Any, all_indices: list[Index]) -> dict[str, Any]:
    name = body["field"]
    fdef = _fdef(hits, name)
    _check_type(
        fdef,
        name,
        "cardinality",
        {"keyword", "constant_keyword", "boolean", "date", "ip", *NUMERIC_TYPES},
    )
    distinct = {v for index, doc in hits for v in _values(index, doc, name)}
    return {"value": len(distinct)}


def _agg_value_count(body: Any, hits: Hits, subs: Any, all_indices: list[Index]) -> dict[str, Any]:
    name = body["field"]
    fdef = _fdef(hits, name)
    _check_type(
        fdef,
        name,
        "value_count",
        {"keyword", "constant_keyword", "boolean", "date", "ip", *NUMERIC_TYPES},
    )
    return {"value": sum(len(_values(index, doc, name)) for index, doc in hits)}
