"""A small, typed builder for the OpenSearch Query DSL.

Every constructor on :class:`Q` validates its arguments and returns an immutable :class:`Query`;
``to_dict()`` gives the DSL. Queries combine with ``&`` (bool ``must``), ``|`` (bool ``should``
with ``minimum_should_match=1``) and ``~`` (bool ``must_not``)::

    q = Q.match("name", "red shoes") & Q.range("price", lt=100) & ~Q.term("brand", "acme")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from ._values import check_field, json_value
from .errors import QueryError

__all__ = ["BoolQuery", "Q", "Query"]

_OPERATORS = ("and", "or")
_CLAUSES = ("must", "should", "must_not", "filter")


def _opt(out: dict[str, Any], **options: Any) -> dict[str, Any]:
    for key, value in options.items():
        if value is not None:
            out[key] = json_value(value)
    return out


def _copy_dict(value: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) for k, v in value.items()}


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


class Query:
    """One Query DSL clause (immutable).

    Args:
        body: The clause as a single-key mapping, e.g. ``{"match_all": {}}``.

    Raises:
        QueryError: ``body`` is not a mapping with exactly one key.
    """

    __slots__ = ("_body",)

    def __init__(self, body: Mapping[str, Any]) -> None:
        if not isinstance(body, Mapping) or len(body) != 1:
            raise QueryError(f"a query is a mapping with exactly one key, got {body!r}")
        self._body: dict[str, Any] = json_value(body)

    @property
    def name(self) -> str:
        """The query type (``"match"``, ``"bool"``, ...)."""
        return next(iter(self.to_dict()))

    def to_dict(self) -> dict[str, Any]:
        """Return the Query DSL (a fresh copy the caller may modify).

        Returns:
            The clause.
        """
        return _copy_dict(self._body)

    def __and__(self, other: Query) -> BoolQuery:
        if not isinstance(other, Query):
            return NotImplemented
        return BoolQuery(must=[*_clauses_of(self, "must"), *_clauses_of(other, "must")])

    def __or__(self, other: Query) -> BoolQuery:
        if not isinstance(other, Query):
            return NotImplemented
        return BoolQuery(
            should=[*_clauses_of(self, "should"), *_clauses_of(other, "should")],
            minimum_should_match=1,
        )

    def __invert__(self) -> Query:
        if isinstance(self, BoolQuery) and self.only("must_not") and len(self.must_not) == 1:
            return self.must_not[0]
        return BoolQuery(must_not=[self])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Query) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))

    def __repr__(self) -> str:
        return f"Query({self.to_dict()!r})"


def _clauses_of(query: Query, clause: str) -> list[Query]:
    """Flatten a bool query that only has ``clause`` clauses (so ``a & b & c`` stays flat)."""
    if (
        isinstance(query, BoolQuery)
        and query.only(clause)
        and (clause != "should" or query.minimum_should_match in (None, 1))
    ):
        return list(getattr(query, clause))
    return [query]


def _queries(value: Query | Iterable[Query] | None, clause: str) -> tuple[Query, ...]:
    if value is None:
        return ()
    items = (value,) if isinstance(value, Query) else tuple(value)
    for item in items:
        if not isinstance(item, Query):
            raise QueryError(
                f"bool {clause} takes Query objects (use Q.raw for dicts), got {item!r}"
            )
    return items


class BoolQuery(Query):
    """A ``bool`` query; build with :meth:`Q.bool` or the ``& | ~`` operators.

    Args:
        must: Clauses that must match (and score).
        should: Clauses of which ``minimum_should_match`` must match (and score).
        must_not: Clauses that must not match.
        filter: Clauses that must match, without scoring (cacheable).
        minimum_should_match: Number or percentage (``"75%"``) of ``should`` clauses required.
        boost: Score multiplier.

    Raises:
        QueryError: A clause is not a :class:`Query`.
    """

    __slots__ = ("boost", "filter", "minimum_should_match", "must", "must_not", "should")

    def __init__(
        self,
        *,
        must: Query | Iterable[Query] | None = None,
        should: Query | Iterable[Query] | None = None,
        must_not: Query | Iterable[Query] | None = None,
        filter: Query | Iterable[Query] | None = None,
        minimum_should_match: int | str | None = None,
        boost: float | None = None,
    ) -> None:
        self.must = _queries(must, "must")
        self.should = _queries(should, "should")
        self.must_not = _queries(must_not, "must_not")
        self.filter = _queries(filter, "filter")
        if minimum_should_match is not None and not isinstance(minimum_should_match, int | str):
            raise QueryError("minimum_should_match must be an int or a string like '75%'")
        self.minimum_should_match = minimum_should_match
        self.boost = boost
        body: dict[str, Any] = {}
        for clause in _CLAUSES:
            items = getattr(self, clause)
            if items:
                body[clause] = [q.to_dict() for q in items]
        _opt(body, minimum_should_match=minimum_should_match, boost=boost)
        super().__init__({"bool": body})

    def only(self, clause: str) -> bool:
        """Return whether this bool has clauses of kind ``clause`` only, and no options.

        Args:
            clause: ``"must"``, ``"should"``, ``"must_not"`` or ``"filter"``.

        Returns:
            ``True`` when it can be flattened into an enclosing bool of the same kind.
        """
        others = [c for c in _CLAUSES if c != clause and getattr(self, c)]
        options = self.boost is not None or (
            clause != "should" and self.minimum_should_match is not None
        )
        return bool(getattr(self, clause)) and not others and not options


class Q:
    """Constructors for Query DSL clauses (all keyword options are optional)."""

    __slots__ = ()

    @staticmethod
    def match(
        field: str,
        query: Any,
        *,
        operator: Literal["and", "or"] | None = None,
        minimum_should_match: int | str | None = None,
        fuzziness: int | str | None = None,
        analyzer: str | None = None,
        boost: float | None = None,
    ) -> Query:
        """Full-text match: the query text is analyzed and matched against ``field``.

        Args:
            field: Field name.
            query: Text (or number/date/bool) to match.
            operator: ``"or"`` (default: any term) or ``"and"`` (all terms).
            minimum_should_match: Terms that must match.
            fuzziness: ``"AUTO"`` or max edit distance.
            analyzer: Query-time analyzer.
            boost: Score multiplier.

        Returns:
            ``{"match": {field: {"query": ...}}}``.
        """
        check_field(field)
        if operator is not None and operator not in _OPERATORS:
            raise QueryError(f"operator must be 'and' or 'or', got {operator!r}")
        if query is None or query == "":
            raise QueryError(f"match on {field!r} needs a non-empty query")
        body = _opt(
            {"query": json_value(query)},
            operator=operator,
            minimum_should_match=minimum_should_match,
            fuzziness=fuzziness,
            analyzer=analyzer,
            boost=boost,
        )
        return Query({"match": {field: body}})

    @staticmethod
    def match_phrase(field: str, query: str, *, slop: int | None = None) -> Query:
        """Match the terms of ``query`` as a phrase (in order, within ``slop`` positions).

        Args:
            field: Field name.
            query: Phrase text.
            slop: Allowed distance between terms.

        Returns:
            ``{"match_phrase": {field: {"query": ...}}}``.
        """
        check_field(field)
        if not isinstance(query, str) or not query:
            raise QueryError("match_phrase needs a non-empty string")
        return Query({"match_phrase": {field: _opt({"query": query}, slop=slop)}})

    @staticmethod
    def multi_match(
        query: str,
        fields: Sequence[str],
        *,
        type: Literal[
            "best_fields", "most_fields", "cross_fields", "phrase", "phrase_prefix", "bool_prefix"
        ]
        | None = None,
        operator: Literal["and", "or"] | None = None,
        minimum_should_match: int | str | None = None,
        fuzziness: int | str | None = None,
        tie_breaker: float | None = None,
        boost: float | None = None,
    ) -> Query:
        """Match ``query`` against several fields (``"name^3"`` boosts a field).

        Args:
            query: Text to match.
            fields: Field names, optionally with ``^boost``.
            type: How field scores combine (default ``best_fields``).
            operator: ``"or"`` or ``"and"`` between terms.
            minimum_should_match: Terms that must match.
            fuzziness: ``"AUTO"`` or max edit distance.
            tie_breaker: Weight of non-best fields' scores.
            boost: Score multiplier.

        Returns:
            ``{"multi_match": {...}}``.
        """
        if isinstance(fields, str) or not fields:
            raise QueryError("multi_match needs a non-empty list of fields")
        for name in fields:
            check_field(name)
        if operator is not None and operator not in _OPERATORS:
            raise QueryError(f"operator must be 'and' or 'or', got {operator!r}")
        if not isinstance(query, str) or not query:
            raise QueryError("multi_match needs a non-empty query string")
        body = _opt(
            {"query": query, "fields": list(fields)},
            type=type,
            operator=operator,
            minimum_should_match=minimum_should_match,
            fuzziness=fuzziness,
            tie_breaker=tie_breaker,
            boost=boost,
        )
        return Query({"multi_match": body})

    @staticmethod
    def term(
        field: str, value: Any, *, boost: float | None = None, case_insensitive: bool | None = None
    ) -> Query:
        """Exact value match (not analyzed: use on ``keyword``, numeric, date, boolean fields).

        Args:
            field: Field name (``"name.keyword"`` for the keyword sub-field of a text field).
            value: The exact value.
            boost: Score multiplier.
            case_insensitive: Compare ASCII case-insensitively.

        Returns:
            ``{"term": {field: {"value": ...}}}``.
        """
        check_field(field)
        if value is None or isinstance(value, list | tuple | set | dict):
            raise QueryError(f"term on {field!r} needs a single value (use Q.terms for several)")
        body = _opt({"value": json_value(value)}, boost=boost, case_insensitive=case_insensitive)
        return Query({"term": {field: body}})

    @staticmethod
    def terms(field: str, values: Iterable[Any], *, boost: float | None = None) -> Query:
        """Match any of several exact values.

        Args:
            field: Field name.
            values: The values (an empty list matches nothing).
            boost: Score multiplier.

        Returns:
            ``{"terms": {field: [...]}}``.
        """
        check_field(field)
        if isinstance(values, str | bytes) or not isinstance(values, Iterable):
            raise QueryError(f"terms on {field!r} needs a list of values, got {values!r}")
        items = [json_value(v) for v in values]
        if any(v is None or isinstance(v, list | dict) for v in items):
            raise QueryError(f"terms on {field!r}: values must be scalars")
        return Query({"terms": _opt({field: items}, boost=boost)})

    @staticmethod
    def prefix(field: str, value: str, *, case_insensitive: bool | None = None) -> Query:
        """Match terms starting with ``value`` (not analyzed).

        Args:
            field: Field name (usually keyword).
            value: The prefix.
            case_insensitive: Compare ASCII case-insensitively.

        Returns:
            ``{"prefix": {field: {"value": ...}}}``.
        """
        check_field(field)
        if not isinstance(value, str) or not value:
            raise QueryError(f"prefix on {field!r} needs a non-empty string")
        body = _opt({"value": value}, case_insensitive=case_insensitive)
        return Query({"prefix": {field: body}})

    @staticmethod
    def wildcard(field: str, pattern: str, *, case_insensitive: bool | None = None) -> Query:
        """Match terms against a pattern with ``*`` (any run) and ``?`` (one character).

        Args:
            field: Field name (usually keyword).
            pattern: The wildcard pattern.
            case_insensitive: Compare ASCII case-insensitively.

        Returns:
            ``{"wildcard": {field: {"value": ...}}}``.
        """
        check_field(field)
        if not isinstance(pattern, str) or not pattern:
            raise QueryError(f"wildcard on {field!r} needs a non-empty pattern")
        body = _opt({"value": pattern}, case_insensitive=case_insensitive)
        return Query({"wildcard": {field: body}})

    @staticmethod
    def exists(field: str) -> Query:
        """Match documents with a non-null value in ``field``.

        Args:
            field: Field name.

        Returns:
            ``{"exists": {"field": ...}}``.
        """
        return Query({"exists": {"field": check_field(field)}})

    @staticmethod
    def nested(
        path: str,
        query: Query,
        *,
        score_mode: Literal["avg", "max", "min", "none", "sum"] | None = None,
        ignore_unmapped: bool | None = None,
    ) -> Query:
        """Match ``query`` against each object of a ``nested`` field on its own.

        Args:
            path: The nested field (sub-field names in ``query`` are full paths: ``path.field``).
            query: Query run per nested object.
            score_mode: How child scores combine.
            ignore_unmapped: Match nothing instead of failing when ``path`` is not mapped.

        Returns:
            ``{"nested": {"path": ..., "query": ...}}``.
        """
        check_field(path, "nested path")
        if not isinstance(query, Query):
            raise QueryError("nested needs a Query")
        body = _opt(
            {"path": path, "query": query.to_dict()},
            score_mode=score_mode,
            ignore_unmapped=ignore_unmapped,
        )
        return Query({"nested": body})

    @staticmethod
    def ids(values: Iterable[str]) -> Query:
        """Match documents by ``_id``.

        Args:
            values: Document ids.

        Returns:
            ``{"ids": {"values": [...]}}``.
        """
        if isinstance(values, str):
            raise QueryError("ids needs a list of ids")
        return Query({"ids": {"values": [str(v) for v in values]}})

    @staticmethod
    def match_all(*, boost: float | None = None) -> Query:
        """Match every document (score 1.0 x boost).

        Args:
            boost: Score multiplier.

        Returns:
            ``{"match_all": {}}``.
        """
        return Query({"match_all": _opt({}, boost=boost)})

    @staticmethod
    def match_none() -> Query:
        """Match no document.

        Returns:
            ``{"match_none": {}}``.
        """
        return Query({"match_none": {}})

    @staticmethod
    def raw(body: Mapping[str, Any]) -> Query:
        """Wrap a hand-written clause (any query type the builder does not cover).

        Args:
            body: A single-key mapping, e.g. ``{"geo_distance": {...}}``.

        Returns:
            The query.
        """
        return Query(body)

    # NOTE: `range` and `bool` shadow builtins inside the class body; they come last so no
    # annotation above refers to them.
    @staticmethod
    def range(
        field: str,
        *,
        gt: Any = None,
        gte: Any = None,
        lt: Any = None,
        lte: Any = None,
        format: str | None = None,
        time_zone: str | None = None,
        boost: float | None = None,
    ) -> Query:
        """Match values within bounds (numbers, dates, strings).

        Args:
            field: Field name.
            gt: Greater than.
            gte: Greater than or equal.
            lt: Less than.
            lte: Less than or equal.
            format: Date format of the bounds.
            time_zone: Time zone of date bounds.
            boost: Score multiplier.

        Returns:
            ``{"range": {field: {...}}}``.

        Raises:
            QueryError: No bound, or both ``gt`` and ``gte`` (or ``lt`` and ``lte``).
        """
        check_field(field)
        if gt is None and gte is None and lt is None and lte is None:
            raise QueryError(f"range on {field!r} needs at least one of gt, gte, lt, lte")
        if gt is not None and gte is not None:
            raise QueryError(f"range on {field!r}: give gt or gte, not both")
        if lt is not None and lte is not None:
            raise QueryError(f"range on {field!r}: give lt or lte, not both")
        body = _opt({}, gt=gt, gte=gte, lt=lt, lte=lte)
        _opt(body, format=format, time_zone=time_zone, boost=boost)
        return Query({"range": {field: body}})

    @staticmethod
    def bool(
        *,
        must: Query | Iterable[Query] | None = None,
        should: Query | Iterable[Query] | None = None,
        must_not: Query | Iterable[Query] | None = None,
        filter: Query | Iterable[Query] | None = None,
        minimum_should_match: int | str | None = None,
        boost: float | None = None,
    ) -> BoolQuery:
        """Combine clauses; see :class:`BoolQuery`.

        Args:
            must: Clauses that must match (and score).
            should: Optional clauses (score; see ``minimum_should_match``).
            must_not: Clauses that must not match.
            filter: Clauses that must match, without scoring.
            minimum_should_match: ``should`` clauses required.
            boost: Score multiplier.

        Returns:
            The bool query.
        """
        return BoolQuery(
            must=must,
            should=should,
            must_not=must_not,
            filter=filter,
            minimum_should_match=minimum_should_match,
            boost=boost,
        )
