"""Aggregation builder (:class:`A`) and typed aggregation results.

::

    by_brand = A.terms("brand", size=5).sub("avg_price", A.avg("price"))
    search = Search().aggregate("by_brand", by_brand)
    results = await repo.search(search)
    for bucket in results.aggregations.buckets("by_brand"):
        print(bucket.key, bucket.doc_count, bucket.aggregations.value("avg_price"))
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ._values import check_field, json_value
from .errors import QueryError

__all__ = [
    "A",
    "Agg",
    "AggResult",
    "Aggregations",
    "Bucket",
    "BucketsResult",
    "MetricResult",
    "RawResult",
]

BUCKET_KINDS = frozenset({"terms", "date_histogram", "histogram", "range"})
METRIC_KINDS = frozenset({"avg", "sum", "min", "max", "cardinality", "value_count"})


class Agg:
    """One aggregation (immutable): a kind, its body and named sub-aggregations.

    Args:
        kind: Aggregation type (``"terms"``, ``"avg"``, ...).
        body: Its parameters.
        subs: Named sub-aggregations (bucket aggregations only).
    """

    __slots__ = ("body", "kind", "subs")

    def __init__(
        self, kind: str, body: Mapping[str, Any], subs: Mapping[str, Agg] | None = None
    ) -> None:
        check_field(kind, "aggregation kind")
        self.kind = kind
        self.body: dict[str, Any] = json_value(body)
        self.subs: dict[str, Agg] = dict(subs or {})
        if self.subs and kind in METRIC_KINDS:
            raise QueryError(f"a {kind} aggregation is a metric and cannot have sub-aggregations")

    def sub(self, name: str, agg: Agg) -> Agg:
        """Return a copy with the sub-aggregation ``name`` added (computed per bucket).

        Args:
            name: Result name of the sub-aggregation.
            agg: The sub-aggregation.

        Returns:
            The new aggregation.
        """
        check_field(name, "aggregation name")
        if not isinstance(agg, Agg):
            raise QueryError(f"sub-aggregation {name!r} must be an Agg, got {agg!r}")
        return Agg(self.kind, self.body, {**self.subs, name: agg})

    def to_dict(self) -> dict[str, Any]:
        """Return the aggregation DSL.

        Returns:
            ``{kind: body}`` plus ``"aggs"`` when there are sub-aggregations.
        """
        out: dict[str, Any] = {self.kind: json_value(self.body)}
        if self.subs:
            out["aggs"] = {name: agg.to_dict() for name, agg in self.subs.items()}
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Agg) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))

    def __repr__(self) -> str:
        return f"Agg({self.to_dict()!r})"


def _opt(body: dict[str, Any], **options: Any) -> dict[str, Any]:
    body.update({key: value for key, value in options.items() if value is not None})
    return body


def _metric(kind: str, field_name: str, missing: Any) -> Agg:
    return Agg(kind, _opt({"field": check_field(field_name)}, missing=missing))


class A:
    """Constructors for aggregations."""

    __slots__ = ()

    @staticmethod
    def terms(
        field_name: str,
        *,
        size: int | None = None,
        min_doc_count: int | None = None,
        order: Mapping[str, Literal["asc", "desc"]] | None = None,
        missing: Any = None,
        include: str | Sequence[Any] | None = None,
        exclude: str | Sequence[Any] | None = None,
    ) -> Agg:
        """One bucket per distinct value (most frequent first by default).

        Args:
            field_name: A keyword, numeric, date or boolean field (``"name.keyword"`` for text).
            size: Number of buckets (default 10).
            min_doc_count: Leave out buckets with fewer documents.
            order: e.g. ``{"_count": "asc"}``, ``{"_key": "asc"}`` or ``{"avg_price": "desc"}``.
            missing: Bucket documents without the field under this value.
            include: Regex or list of values to keep.
            exclude: Regex or list of values to drop.

        Returns:
            The aggregation.
        """
        if size is not None and size < 1:
            raise QueryError("terms size must be >= 1")
        if order is not None:
            for direction in order.values():
                if direction not in ("asc", "desc"):
                    raise QueryError(f"order direction must be 'asc' or 'desc', got {direction!r}")
        body = _opt(
            {"field": check_field(field_name)},
            size=size,
            min_doc_count=min_doc_count,
            order=dict(order) if order is not None else None,
            missing=missing,
            include=include,
            exclude=exclude,
        )
        return Agg("terms", body)

    @staticmethod
    def date_histogram(
        field_name: str,
        *,
        calendar_interval: str | None = None,
        fixed_interval: str | None = None,
        format: str | None = None,
        time_zone: str | None = None,
        min_doc_count: int | None = None,
        extended_bounds: Mapping[str, Any] | None = None,
    ) -> Agg:
        """Buckets of dates by calendar (``"month"``, ``"1d"``) or fixed (``"90m"``) interval.

        Args:
            field_name: A date field.
            calendar_interval: ``minute``, ``hour``, ``day``, ``week``, ``month``, ``quarter``,
                ``year`` (or ``1m``/``1h``/``1d``/``1w``/``1M``/``1q``/``1y``).
            fixed_interval: A fixed duration such as ``"30m"``, ``"12h"``, ``"7d"``.
            format: Format of ``key_as_string``.
            time_zone: Time zone for bucketing.
            min_doc_count: ``0`` (default) returns empty buckets between the first and last.
            extended_bounds: ``{"min": ..., "max": ...}`` to extend the bucket range.

        Returns:
            The aggregation.

        Raises:
            QueryError: Not exactly one of ``calendar_interval``/``fixed_interval``.
        """
        if (calendar_interval is None) == (fixed_interval is None):
            raise QueryError(
                "date_histogram needs exactly one of calendar_interval, fixed_interval"
            )
        body = _opt(
            {"field": check_field(field_name)},
            calendar_interval=calendar_interval,
            fixed_interval=fixed_interval,
            format=format,
            time_zone=time_zone,
            min_doc_count=min_doc_count,
            extended_bounds=dict(extended_bounds) if extended_bounds is not None else None,
        )
        return Agg("date_histogram", body)

    @staticmethod
    def histogram(
        field_name: str,
        interval: float,
        *,
        min_doc_count: int | None = None,
        offset: float | None = None,
        extended_bounds: Mapping[str, float] | None = None,
    ) -> Agg:
        """Fixed-width numeric buckets.

        Args:
            field_name: A numeric field.
            interval: Bucket width (> 0).
            min_doc_count: ``0`` (default) returns empty buckets between the first and last.
            offset: Shift of the bucket boundaries.
            extended_bounds: ``{"min": ..., "max": ...}``.

        Returns:
            The aggregation.
        """
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
            raise QueryError(f"histogram interval must be a number > 0, got {interval!r}")
        body = _opt(
            {"field": check_field(field_name), "interval": interval},
            min_doc_count=min_doc_count,
            offset=offset,
            extended_bounds=dict(extended_bounds) if extended_bounds is not None else None,
        )
        return Agg("histogram", body)

    @staticmethod
    def range(
        field_name: str,
        ranges: Sequence[tuple[float | None, float | None] | Mapping[str, Any]],
    ) -> Agg:
        """Buckets for explicit ranges (``from`` inclusive, ``to`` exclusive).

        Args:
            field_name: A numeric field.
            ranges: ``(from, to)`` pairs (``None`` for an open end) or dicts with
                ``from``/``to``/``key``.

        Returns:
            The aggregation.
        """
        if not ranges:
            raise QueryError("range aggregation needs at least one range")
        out: list[dict[str, Any]] = []
        for item in ranges:
            if isinstance(item, Mapping):
                spec = {k: v for k, v in item.items() if k in ("from", "to", "key")}
                if set(item) - {"from", "to", "key"}:
                    raise QueryError(f"range entries take from/to/key, got {dict(item)!r}")
            else:
                low, high = item
                spec = _opt({}, **{"from": low, "to": high})
            if spec.get("from") is None and spec.get("to") is None:
                raise QueryError("each range needs a from or a to")
            out.append(spec)
        return Agg("range", {"field": check_field(field_name), "ranges": out})

    @staticmethod
    def avg(field_name: str, *, missing: float | None = None) -> Agg:
        """Average of a numeric field (``None`` when no document has it).

        Args:
            field_name: A numeric field.
            missing: Value used for documents without the field.

        Returns:
            The aggregation.
        """
        return _metric("avg", field_name, missing)

    @staticmethod
    def sum(field_name: str, *, missing: float | None = None) -> Agg:
        """Sum of a numeric field.

        Args:
            field_name: A numeric field.
            missing: Value used for documents without the field.

        Returns:
            The aggregation.
        """
        return _metric("sum", field_name, missing)

    @staticmethod
    def min(field_name: str, *, missing: float | None = None) -> Agg:
        """Minimum of a numeric or date field.

        Args:
            field_name: The field.
            missing: Value used for documents without the field.

        Returns:
            The aggregation.
        """
        return _metric("min", field_name, missing)

    @staticmethod
    def max(field_name: str, *, missing: float | None = None) -> Agg:
        """Maximum of a numeric or date field.

        Args:
            field_name: The field.
            missing: Value used for documents without the field.

        Returns:
            The aggregation.
        """
        return _metric("max", field_name, missing)

    @staticmethod
    def cardinality(field_name: str, *, precision_threshold: int | None = None) -> Agg:
        """(Approximate) number of distinct values.

        Args:
            field_name: A keyword, numeric, date or boolean field.
            precision_threshold: Below this count the result is (near) exact.

        Returns:
            The aggregation.
        """
        body = _opt({"field": check_field(field_name)}, precision_threshold=precision_threshold)
        return Agg("cardinality", body)

    @staticmethod
    def value_count(field_name: str) -> Agg:
        """Number of values of a field.

        Args:
            field_name: The field.

        Returns:
            The aggregation.
        """
        return Agg("value_count", {"field": check_field(field_name)})

    @staticmethod
    def raw(kind: str, body: Mapping[str, Any]) -> Agg:
        """Any other aggregation type (its result is a :class:`RawResult`).

        Args:
            kind: Aggregation type name.
            body: Its parameters.

        Returns:
            The aggregation.
        """
        return Agg(kind, body)


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetricResult:
    """A single-value metric (avg/sum/min/max/cardinality/value_count)."""

    value: float | None
    value_as_string: str | None = None


@dataclass(frozen=True, slots=True)
class Bucket:
    """One bucket of a bucket aggregation."""

    key: Any
    doc_count: int
    key_as_string: str | None = None
    from_: float | None = None
    to: float | None = None
    aggregations: Aggregations = field(default_factory=lambda: Aggregations({}))


@dataclass(frozen=True, slots=True)
class BucketsResult:
    """Result of terms/date_histogram/histogram/range aggregations."""

    buckets: list[Bucket]
    sum_other_doc_count: int | None = None
    doc_count_error_upper_bound: int | None = None


@dataclass(frozen=True, slots=True)
class RawResult:
    """Result of an aggregation built with :meth:`A.raw` (the response as is)."""

    data: dict[str, Any]


AggResult = MetricResult | BucketsResult | RawResult


class Aggregations(Mapping[str, AggResult]):
    """Typed aggregation results by name (a read-only mapping).

    Args:
        results: Parsed results.
    """

    __slots__ = ("_results",)

    def __init__(self, results: Mapping[str, AggResult]) -> None:
        self._results = dict(results)

    def __getitem__(self, name: str) -> AggResult:
        try:
            return self._results[name]
        except KeyError:
            raise KeyError(
                f"no aggregation {name!r} in the results (have: {sorted(self._results)})"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._results)

    def __len__(self) -> int:
        return len(self._results)

    def __repr__(self) -> str:
        return f"Aggregations({self._results!r})"

    def buckets(self, name: str) -> list[Bucket]:
        """Return the buckets of bucket aggregation ``name``.

        Args:
            name: The aggregation's result name.

        Returns:
            Its buckets, in the order OpenSearch returned them.

        Raises:
            KeyError: Unknown name.
            TypeError: ``name`` is not a bucket aggregation.
        """
        result = self[name]
        if not isinstance(result, BucketsResult):
            raise TypeError(f"aggregation {name!r} has no buckets ({type(result).__name__})")
        return result.buckets

    def value(self, name: str) -> float | None:
        """Return the value of metric aggregation ``name``.

        Args:
            name: The aggregation's result name.

        Returns:
            The value, ``None`` when no document had the field.

        Raises:
            KeyError: Unknown name.
            TypeError: ``name`` is not a metric aggregation.
        """
        result = self[name]
        if not isinstance(result, MetricResult):
            raise TypeError(f"aggregation {name!r} is not a metric ({type(result).__name__})")
        return result.value


def parse_aggregations(
    requested: Mapping[str, Agg], data: Mapping[str, Any] | None
) -> Aggregations:
    """Turn the ``aggregations`` part of a search response into typed results.

    Args:
        requested: The aggregations that were sent (they decide how each result is read).
        data: The response's ``aggregations`` object.

    Returns:
        The typed results (aggregations absent from ``data`` are left out).
    """
    if not data:
        return Aggregations({})
    out: dict[str, AggResult] = {}
    for name, agg in requested.items():
        raw = data.get(name)
        if raw is None:
            continue
        if agg.kind in METRIC_KINDS:
            value = raw.get("value")
            out[name] = MetricResult(
                value=float(value) if value is not None else None,
                value_as_string=raw.get("value_as_string"),
            )
        elif agg.kind in BUCKET_KINDS:
            raw_buckets = raw.get("buckets", [])
            if isinstance(raw_buckets, Mapping):  # keyed=True responses
                raw_buckets = [{"key": k, **v} for k, v in raw_buckets.items()]
            buckets = [
                Bucket(
                    key=b.get("key"),
                    doc_count=int(b.get("doc_count", 0)),
                    key_as_string=b.get("key_as_string"),
                    from_=b.get("from"),
                    to=b.get("to"),
                    aggregations=parse_aggregations(agg.subs, b),
                )
                for b in raw_buckets
            ]
            out[name] = BucketsResult(
                buckets=buckets,
                sum_other_doc_count=raw.get("sum_other_doc_count"),
                doc_count_error_upper_bound=raw.get("doc_count_error_upper_bound"),
            )
        else:
            out[name] = RawResult(dict(raw))
    return Aggregations(out)
