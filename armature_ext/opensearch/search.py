"""Search request builder (:class:`Search`) and typed search results.

::

    search = (
        Search()
        .query(Q.match("name", "shoe"))
        .filter(Q.range("price", lt=100))
        .sort("-price", "sku")
        .size(20)
        .source(includes=["name", "price"])
        .highlight("name")
        .aggregate("brands", A.terms("brand"))
    )
    results = await repo.search(search)
    results.total.value, [hit.score for hit in results.hits], results.next_search_after
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import ValidationError

from ._values import check_field, json_value
from .aggs import Agg, Aggregations, parse_aggregations
from .errors import QueryError
from .query import BoolQuery, Query

if TYPE_CHECKING:
    from .documents import Document

__all__ = ["Hit", "Search", "SearchResults", "SortSpec", "Total"]

D = TypeVar("D", bound="Document")

#: ``"price"`` (asc), ``"-price"`` (desc), ``("price", "desc")`` or a raw sort mapping.
SortSpec = str | tuple[str, Literal["asc", "desc"]] | Mapping[str, Any]


def _sort_entry(spec: SortSpec) -> dict[str, Any] | str:
    if isinstance(spec, str):
        check_field(spec.lstrip("-"), "sort field")
        if spec.startswith("-"):
            return {spec[1:]: {"order": "desc"}}
        if spec in ("_score", "_doc"):
            return spec
        return {spec: {"order": "asc"}}
    if isinstance(spec, tuple):
        name, order = spec
        check_field(name, "sort field")
        if order not in ("asc", "desc"):
            raise QueryError(f"sort order must be 'asc' or 'desc', got {order!r}")
        return {name: {"order": order}}
    if isinstance(spec, Mapping) and len(spec) == 1:
        return dict(json_value(spec))
    raise QueryError(f"invalid sort specification {spec!r}")


class Search:
    """An immutable search request; every method returns a modified copy.

    ``query()`` sets the scoring query; ``filter()`` and ``exclude()`` add non-scoring clauses,
    combined with it into one ``bool`` query by :meth:`to_dict`.
    """

    __slots__ = (
        "_aggs",
        "_excludes",
        "_filters",
        "_from",
        "_highlight",
        "_query",
        "_search_after",
        "_seq_no",
        "_size",
        "_sort",
        "_source",
        "_track_total_hits",
    )

    def __init__(self) -> None:
        self._query: Query | None = None
        self._filters: tuple[Query, ...] = ()
        self._excludes: tuple[Query, ...] = ()
        self._sort: tuple[dict[str, Any] | str, ...] = ()
        self._from: int | None = None
        self._size: int | None = None
        self._search_after: list[Any] | None = None
        self._source: bool | dict[str, list[str]] | None = None
        self._highlight: dict[str, Any] | None = None
        self._aggs: dict[str, Agg] = {}
        self._track_total_hits: bool | int | None = None
        self._seq_no = False

    def _copy(self) -> Search:
        new = Search.__new__(Search)
        for name in Search.__slots__:
            setattr(new, name, getattr(self, name))
        new._aggs = dict(self._aggs)
        return new

    # -- query ---------------------------------------------------------------------------------
    def query(self, query: Query) -> Search:
        """Set the (scoring) query, replacing the previous one.

        Args:
            query: The query.

        Returns:
            The new search.
        """
        if not isinstance(query, Query):
            raise QueryError(f"query must be a Query (use Q.raw for dicts), got {query!r}")
        new = self._copy()
        new._query = query
        return new

    def filter(self, *queries: Query) -> Search:
        """Add clauses that must match, without affecting scores.

        Args:
            *queries: Filter clauses.

        Returns:
            The new search.
        """
        for query in queries:
            if not isinstance(query, Query):
                raise QueryError(f"filter takes Query objects, got {query!r}")
        new = self._copy()
        new._filters = (*self._filters, *queries)
        return new

    def exclude(self, *queries: Query) -> Search:
        """Add clauses that must not match.

        Args:
            *queries: ``must_not`` clauses.

        Returns:
            The new search.
        """
        for query in queries:
            if not isinstance(query, Query):
                raise QueryError(f"exclude takes Query objects, got {query!r}")
        new = self._copy()
        new._excludes = (*self._excludes, *queries)
        return new

    def combined_query(self) -> Query | None:
        """Return the query that :meth:`to_dict` sends (query + filters + excludes).

        Returns:
            ``None`` when nothing was set (OpenSearch then matches all documents).
        """
        if not self._filters and not self._excludes:
            return self._query
        return BoolQuery(
            must=self._query, filter=self._filters or None, must_not=self._excludes or None
        )

    # -- paging / sorting ------------------------------------------------------------------------
    def sort(self, *specs: SortSpec) -> Search:
        """Replace the sort order: ``"price"``, ``"-price"``, ``("price", "desc")``, ``"_score"``.

        Args:
            *specs: Sort keys, most significant first (none: sort by score).

        Returns:
            The new search.
        """
        new = self._copy()
        new._sort = tuple(_sort_entry(spec) for spec in specs)
        return new

    def size(self, size: int) -> Search:
        """Set the number of hits to return (default 10).

        Args:
            size: 0 or more.

        Returns:
            The new search.
        """
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise QueryError(f"size must be an int >= 0, got {size!r}")
        new = self._copy()
        new._size = size
        return new

    def from_(self, offset: int) -> Search:
        """Skip the first ``offset`` hits (``from`` + ``size`` is limited to 10,000 by default).

        Args:
            offset: 0 or more.

        Returns:
            The new search.
        """
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise QueryError(f"from must be an int >= 0, got {offset!r}")
        new = self._copy()
        new._from = offset
        return new

    def page(self, number: int, per_page: int = 10) -> Search:
        """Set ``from``/``size`` for 1-based page ``number``.

        Args:
            number: Page number (>= 1).
            per_page: Hits per page.

        Returns:
            The new search.
        """
        if number < 1:
            raise QueryError(f"page number must be >= 1, got {number!r}")
        return self.size(per_page).from_((number - 1) * per_page)

    def search_after(self, values: Sequence[Any] | None) -> Search:
        """Continue after a hit's sort values (deep pagination; needs :meth:`sort`).

        Args:
            values: ``hit.sort`` of the last hit of the previous page (or
                :attr:`SearchResults.next_search_after`); ``None`` clears it.

        Returns:
            The new search.
        """
        new = self._copy()
        new._search_after = None if values is None else list(json_value(list(values)))
        return new

    # -- response shaping ----------------------------------------------------------------------
    def source(
        self,
        enabled: bool | None = None,
        *,
        includes: Sequence[str] | None = None,
        excludes: Sequence[str] | None = None,
    ) -> Search:
        """Choose which ``_source`` fields are returned (wildcards allowed).

        Args:
            enabled: ``False`` returns no source at all.
            includes: Fields to return.
            excludes: Fields to leave out.

        Returns:
            The new search.
        """
        new = self._copy()
        if enabled is False:
            new._source = False
        elif includes is None and excludes is None:
            new._source = None
        else:
            spec: dict[str, list[str]] = {}
            if includes is not None:
                spec["includes"] = [check_field(f) for f in includes]
            if excludes is not None:
                spec["excludes"] = [check_field(f) for f in excludes]
            new._source = spec
        return new

    def highlight(
        self,
        *fields: str,
        pre_tags: Sequence[str] | None = None,
        post_tags: Sequence[str] | None = None,
        fragment_size: int | None = None,
        number_of_fragments: int | None = None,
    ) -> Search:
        """Return highlighted snippets for ``fields`` (matches wrapped in ``<em>`` by default).

        Args:
            *fields: Fields to highlight.
            pre_tags: Opening tags.
            post_tags: Closing tags.
            fragment_size: Characters per fragment.
            number_of_fragments: Fragments per field (0: the whole value).

        Returns:
            The new search.
        """
        if not fields:
            raise QueryError("highlight needs at least one field")
        body: dict[str, Any] = {"fields": {check_field(f): {} for f in fields}}
        for key, value in (
            ("pre_tags", pre_tags),
            ("post_tags", post_tags),
        ):
            if value is not None:
                body[key] = list(value)
        if fragment_size is not None:
            body["fragment_size"] = fragment_size
        if number_of_fragments is not None:
            body["number_of_fragments"] = number_of_fragments
        new = self._copy()
        new._highlight = body
        return new

    def aggregate(self, name: str, agg: Agg) -> Search:
        """Add a named aggregation.

        Args:
            name: Result name.
            agg: The aggregation (see :class:`~armature_ext.opensearch.aggs.A`).

        Returns:
            The new search.
        """
        check_field(name, "aggregation name")
        if not isinstance(agg, Agg):
            raise QueryError(f"aggregation {name!r} must be an Agg, got {agg!r}")
        new = self._copy()
        new._aggs[name] = agg
        return new

    def track_total_hits(self, value: bool | int) -> Search:
        """Count all matches exactly (``True``) or up to ``value`` (default 10,000).

        Args:
            value: ``True``, ``False`` or a limit.

        Returns:
            The new search.
        """
        new = self._copy()
        new._track_total_hits = value
        return new

    def seq_no_primary_term(self, enabled: bool = True) -> Search:
        """Return each hit's ``_seq_no``/``_primary_term``.

        Documents read from such hits carry them in ``document_meta``, so a later
        ``Repository.update`` is refused if the document changed since the search.

        Args:
            enabled: Ask for them (``False`` turns it off again).

        Returns:
            The new search.
        """
        new = self._copy()
        new._seq_no = enabled
        return new

    @property
    def aggregations(self) -> Mapping[str, Agg]:
        """The aggregations added so far."""
        return dict(self._aggs)

    def to_dict(self) -> dict[str, Any]:
        """Return the request body.

        Returns:
            The Query DSL search body.

        Raises:
            QueryError: ``search_after`` without ``sort``, or with ``from``.
        """
        body: dict[str, Any] = {}
        query = self.combined_query()
        if query is not None:
            body["query"] = query.to_dict()
        if self._from is not None:
            body["from"] = self._from
        if self._size is not None:
            body["size"] = self._size
        if self._sort:
            body["sort"] = [
                entry if isinstance(entry, str) else dict(entry) for entry in self._sort
            ]
        if self._search_after is not None:
            if not self._sort:
                raise QueryError("search_after needs an explicit sort")
            if self._from:
                raise QueryError("search_after cannot be combined with from")
            body["search_after"] = list(self._search_after)
        if self._source is not None:
            body["_source"] = self._source
        if self._highlight is not None:
            body["highlight"] = self._highlight
        if self._aggs:
            body["aggs"] = {name: agg.to_dict() for name, agg in self._aggs.items()}
        if self._track_total_hits is not None:
            body["track_total_hits"] = self._track_total_hits
        if self._seq_no:
            body["seq_no_primary_term"] = True
        return body

    def __repr__(self) -> str:
        return f"Search({self.to_dict()!r})"


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Total:
    """Number of matching documents; ``relation`` is ``"gte"`` when counting stopped early."""

    value: int
    relation: Literal["eq", "gte"] = "eq"


@dataclass(slots=True)
class Hit(Generic[D]):
    """One search hit.

    ``source`` is the returned ``_source`` (possibly filtered); ``document`` parses it into the
    repository's model (with ``document_meta`` filled in).
    """

    id: str
    index: str
    score: float | None
    source: dict[str, Any]
    model: type[D] | None = None
    highlight: dict[str, list[str]] = field(default_factory=dict)
    sort: list[Any] | None = None
    routing: str | None = None
    seq_no: int | None = None
    primary_term: int | None = None
    _document: D | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def document(self) -> D:
        """The hit as a model instance.

        Raises:
            TypeError: The search was not made through a repository (no model).
            ValueError: ``_source`` filtering removed fields the model requires; use ``source``.
        """
        if self._document is None:
            if self.model is None:
                raise TypeError("this hit has no document model; use hit.source")
            try:
                self._document = self.model.from_source(
                    self.source,
                    id=self.id,
                    index=self.index,
                    routing=self.routing,
                    seq_no=self.seq_no,
                    primary_term=self.primary_term,
                )
            except ValidationError as exc:
                raise ValueError(
                    f"hit {self.id!r} cannot be read as {self.model.__name__} (was _source "
                    f"filtered?); use hit.source instead: {exc}"
                ) from exc
        return self._document


@dataclass(slots=True)
class SearchResults(Generic[D]):
    """A search response: hits, total, aggregations and timing."""

    took: int
    timed_out: bool
    total: Total
    max_score: float | None
    hits: list[Hit[D]]
    aggregations: Aggregations
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_response(
        cls,
        response: Mapping[str, Any],
        *,
        model: type[D] | None = None,
        aggs: Mapping[str, Agg] | None = None,
    ) -> SearchResults[D]:
        """Parse a search response.

        Args:
            response: The decoded JSON response.
            model: Document model for :attr:`Hit.document`.
            aggs: The requested aggregations (decide how results are typed).

        Returns:
            The results.
        """
        hits_part = response.get("hits", {})
        raw_total = hits_part.get("total")
        if isinstance(raw_total, Mapping):
            total = Total(int(raw_total["value"]), raw_total.get("relation", "eq"))
        elif raw_total is not None:  # rest_total_hits_as_int
            total = Total(int(raw_total))
        else:
            total = Total(len(hits_part.get("hits", [])))
        hits = [
            Hit(
                id=h["_id"],
                index=h["_index"],
                score=h.get("_score"),
                source=h.get("_source") or {},
                model=model,
                highlight=h.get("highlight") or {},
                sort=h.get("sort"),
                routing=h.get("_routing"),
                seq_no=h.get("_seq_no"),
                primary_term=h.get("_primary_term"),
            )
            for h in hits_part.get("hits", [])
        ]
        return cls(
            took=int(response.get("took", 0)),
            timed_out=bool(response.get("timed_out", False)),
            total=total,
            max_score=hits_part.get("max_score"),
            hits=hits,
            aggregations=parse_aggregations(aggs or {}, response.get("aggregations")),
            raw=dict(response),
        )

    @property
    def documents(self) -> list[D]:
        """The hits as model instances (see :attr:`Hit.document`)."""
        return [hit.document for hit in self.hits]

    @property
    def next_search_after(self) -> list[Any] | None:
        """Sort values of the last hit: pass to :meth:`Search.search_after` for the next page."""
        return self.hits[-1].sort if self.hits else None

    def __iter__(self) -> Iterator[Hit[D]]:
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)
