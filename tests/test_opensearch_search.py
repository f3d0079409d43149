"""Search semantics end to end: queries, sorting, paging, search_after, _source filtering,
highlighting, aggregations and typed results (fake server, or a real cluster via OPENSEARCH_URL)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import pytest
from opensearch_server import server as fake_cluster
from opensearch_server.server import Target
from opensearchpy import RequestError
from pydantic import BaseModel

from armature_ext.opensearch import (
    A,
    Document,
    IndexConfig,
    Keyword,
    Nested,
    OpenSearchProvider,
    Q,
    Query,
    QueryError,
    Repository,
    Search,
    SearchResults,
    Total,
    VersionConflictError,
)

pytestmark = pytest.mark.anyio
opensearch_target = fake_cluster.opensearch_target
provider = fake_cluster.provider


@pytest.fixture
def anyio_backend() -> str:
    """opensearch-py's async client runs on asyncio only."""
    return "asyncio"


class Variant(BaseModel):
    color: Annotated[str, Keyword()]
    size: int


class Product(Document):
    index_config = IndexConfig(name="catalog", id_field="sku")

    sku: Annotated[str, Keyword()]
    name: str
    description: str
    brand: Annotated[str, Keyword()]
    price: float
    tags: Annotated[list[str], Keyword()]
    created: dt.datetime
    rating: float | None = None
    variants: Annotated[list[Variant], Nested()] = []


def _day(month: int, day: int) -> dt.datetime:
    return dt.datetime(2024, month, day, 12, 0, tzinfo=dt.UTC)


CATALOG = [
    Product(
        sku="p1",
        name="Red running shoe",
        description="Lightweight shoe for running on roads",
        brand="acme",
        price=59.5,
        tags=["shoes", "running", "red"],
        created=_day(1, 15),
        rating=4.5,
        variants=[Variant(color="red", size=42), Variant(color="blue", size=43)],
    ),
    Product(
        sku="p2",
        name="Blue running shoe",
        description="A running shoe in blue",
        brand="acme",
        price=79.0,
        tags=["shoes", "running", "blue"],
        created=_day(1, 20),
        rating=4.0,
        variants=[Variant(color="blue", size=42)],
    ),
    Product(
        sku="p3",
        name="Trail shoe",
        description="Rugged trail running shoe with grip",
        brand="zed",
        price=120.0,
        tags=["shoes", "trail"],
        created=_day(3, 2),
        variants=[Variant(color="green", size=44)],
    ),
    Product(
        sku="p4",
        name="Wool socks",
        description="Warm socks for winter",
        brand="zed",
        price=12.0,
        tags=["socks"],
        created=_day(3, 10),
        rating=3.5,
    ),
    Product(
        sku="p5",
        name="Running socks",
        description="Thin socks for running",
        brand="acme",
        price=9.5,
        tags=["socks", "running"],
        created=_day(4, 1),
        rating=4.8,
        variants=[Variant(color="red", size=40)],
    ),
    Product(
        sku="p6",
        name="Rain jacket",
        description="Waterproof jacket",
        brand="north",
        price=150.0,
        tags=["jackets"],
        created=_day(6, 30),
        rating=4.1,
        variants=[Variant(color="red", size=50), Variant(color="black", size=52)],
    ),
]


@pytest.fixture
async def catalog(provider: OpenSearchProvider) -> Repository[Product]:
    await provider.indices.create(Product)
    repo = provider.repository(Product)
    result = await repo.bulk([p.model_copy(deep=True) for p in CATALOG], refresh=True)
    assert result.ok
    return repo


async def ids(repo: Repository[Product], query: Query) -> set[str]:
    results = await repo.search(Search().query(query).size(100))
    return {hit.id for hit in results.hits}


# -- queries ---------------------------------------------------------------------------------


async def test_full_text(catalog: Repository[Product]) -> None:
    assert await ids(catalog, Q.match("name", "running shoe")) == {"p1", "p2", "p3", "p5"}
    assert await ids(catalog, Q.match("name", "RUNNING, Shoe!", operator="and")) == {"p1", "p2"}
    assert await ids(catalog, Q.match("name", "running shoe", minimum_should_match="100%")) == {
        "p1",
        "p2",
    }
    assert await ids(catalog, Q.match("name", "runing", fuzziness="AUTO")) == {"p1", "p2", "p5"}
    assert await ids(catalog, Q.match_phrase("description", "running shoe")) == {"p2", "p3"}
    assert await ids(catalog, Q.multi_match("trail grip", ["name^2", "description"])) == {"p3"}
    ranked = await catalog.search(Search().query(Q.match("name", "running shoe")))
    assert {hit.id for hit in ranked.hits[:2]} == {"p1", "p2"}  # both terms beat one term
    assert all(hit.score is not None and hit.score > 0 for hit in ranked.hits)
    assert ranked.max_score == ranked.hits[0].score


async def test_term_level(catalog: Repository[Product]) -> None:
    assert await ids(catalog, Q.term("brand", "acme")) == {"p1", "p2", "p5"}
    assert await ids(catalog, Q.term("name", "Red")) == set()  # text is analyzed (lowercased)
    assert await ids(catalog, Q.term("name", "red")) == {"p1"}
    assert await ids(catalog, Q.term("name.keyword", "Red running shoe")) == {"p1"}
    assert await ids(catalog, Q.terms("brand", ["zed", "north"])) == {"p3", "p4", "p6"}
    assert await ids(catalog, Q.range("price", gte=50, lt=120)) == {"p1", "p2"}
    assert await ids(catalog, Q.range("created", gte="2024-03-01", lt=dt.date(2024, 4, 1))) == {
        "p3",
        "p4",
    }
    assert await ids(catalog, Q.prefix("brand", "ac")) == {"p1", "p2", "p5"}
    assert await ids(catalog, Q.wildcard("name.keyword", "*socks")) == {"p4", "p5"}
    assert await ids(catalog, Q.wildcard("sku", "p?")) == {f"p{i}" for i in range(1, 7)}
    assert await ids(catalog, Q.exists("rating")) == {"p1", "p2", "p4", "p5", "p6"}
    assert await ids(catalog, Q.ids(["p2", "p4", "zz"])) == {"p2", "p4"}
    assert await ids(catalog, Q.match_none()) == set()


async def test_bool_and_operators(catalog: Repository[Product]) -> None:
    query = Q.bool(
        must=Q.match("description", "running"),
        filter=[Q.term("brand", "acme")],
        must_not=[Q.term("tags", "socks")],
    )
    assert await ids(catalog, query) == {"p1", "p2"}
    both = Q.bool(should=[Q.term("tags", "red"), Q.term("tags", "running")], minimum_should_match=2)
    assert await ids(catalog, both) == {"p1"}
    either = Q.bool(
        should=[Q.term("tags", "red"), Q.term("tags", "trail")],
        filter=Q.term("tags", "shoes"),
        minimum_should_match=1,
    )
    assert await ids(catalog, either) == {"p1", "p3"}
    combined = (Q.term("brand", "acme") | Q.term("brand", "north")) & ~Q.term("tags", "socks")
    assert await ids(catalog, combined) == {"p1", "p2", "p6"}
    only_filter = await catalog.search(Search().filter(Q.term("brand", "zed")))
    assert {h.id for h in only_filter} == {"p3", "p4"}
    assert all(h.score == 0.0 for h in only_filter)  # filter context does not score


async def test_nested(catalog: Repository[Product]) -> None:
    same_object = Q.nested(
        "variants", Q.term("variants.color", "red") & Q.term("variants.size", 42)
    )
    assert await ids(catalog, same_object) == {"p1"}
    across = Q.nested("variants", Q.term("variants.color", "red") & Q.term("variants.size", 43))
    assert await ids(catalog, across) == set()  # red and 43 are in different variants of p1
    assert await ids(catalog, Q.term("variants.color", "red")) == set()  # needs a nested query
    assert await ids(catalog, Q.nested("variants", Q.range("variants.size", gte=50))) == {"p6"}


async def test_count(catalog: Repository[Product]) -> None:
    assert await catalog.count() == 6
    assert await catalog.count(Q.term("tags", "shoes")) == 3


# -- sorting and paging ----------------------------------------------------------------------


async def test_sort(catalog: Repository[Product]) -> None:
    by_price = await catalog.search(Search().sort("-price"))
    assert [h.id for h in by_price] == ["p6", "p3", "p2", "p1", "p4", "p5"]
    assert by_price.hits[0].sort == [150.0]
    assert by_price.hits[0].score is None and by_price.max_score is None
    two_keys = await catalog.search(Search().sort("brand", ("price", "desc")))
    assert [h.id for h in two_keys] == ["p2", "p1", "p5", "p6", "p3", "p4"]
    assert two_keys.hits[0].sort == ["acme", 79.0]
    by_name = await catalog.search(Search().sort("name.keyword"))
    assert [h.id for h in by_name] == ["p2", "p6", "p1", "p5", "p3", "p4"]
    missing_last = await catalog.search(Search().sort("-rating").size(6))
    assert missing_last.hits[-1].id == "p3"
    with pytest.raises(RequestError) as info:
        await catalog.search(Search().sort("name"))  # text fields cannot be sorted on
    assert info.value.status_code == 400


async def test_from_size_pages(catalog: Repository[Product]) -> None:
    base = Search().sort("price")
    pages = [await catalog.search(base.page(n, per_page=2)) for n in (1, 2, 3, 4)]
    assert [[h.id for h in page] for page in pages] == [
        ["p5", "p4"],
        ["p1", "p2"],
        ["p3", "p6"],
        [],
    ]
    assert {page.total for page in pages} == {Total(6, "eq")}


async def test_search_after_walks_everything(catalog: Repository[Product]) -> None:
    search = Search().sort("-price", "sku").size(4)
    seen: list[str] = []
    after = None
    while True:
        results = await catalog.search(search.search_after(after))
        if not results.hits:
            break
        seen += [hit.id for hit in results]
        after = results.next_search_after
    assert seen == ["p6", "p3", "p2", "p1", "p4", "p5"]


async def test_total_hits_tracking(catalog: Repository[Product]) -> None:
    assert (await catalog.search(Search().track_total_hits(3))).total == Total(3, "gte")
    assert (await catalog.search(Search().track_total_hits(True))).total == Total(6, "eq")


# -- response shaping ------------------------------------------------------------------------


async def test_source_filtering(catalog: Repository[Product]) -> None:
    results = await catalog.search(Search().query(Q.ids(["p1"])).source(includes=["name", "price"]))
    hit = results.hits[0]
    assert hit.source == {"name": "Red running shoe", "price": 59.5}
    with pytest.raises(ValueError, match="use hit.source"):
        _ = hit.document
    trimmed = await catalog.search(
        Search().query(Q.ids(["p1"])).source(excludes=["variants", "desc*"])
    )
    assert set(trimmed.hits[0].source) == {
        "sku",
        "name",
        "brand",
        "price",
        "tags",
        "created",
        "rating",
    }
    nested_part = await catalog.search(
        Search().query(Q.ids(["p1"])).source(includes=["variants.color"])
    )
    assert nested_part.hits[0].source == {"variants": [{"color": "red"}, {"color": "blue"}]}
    none = await catalog.search(Search().query(Q.ids(["p1"])).source(False))
    assert none.hits[0].source == {}


async def test_documents_are_typed(catalog: Repository[Product]) -> None:
    results = await catalog.search(Search().query(Q.term("sku", "p2")))
    assert isinstance(results, SearchResults)
    product = results.documents[0]
    assert product == CATALOG[1]
    assert product.document_meta.id == "p2"
    assert product.document_meta.index == catalog.index_name
    assert len(results) == 1 and next(iter(results)).id == "p2"
    assert results.took >= 0 and results.timed_out is False


async def test_highlight(catalog: Repository[Product]) -> None:
    results = await catalog.search(
        Search().query(Q.match("description", "running")).highlight("description").sort("sku")
    )
    first = results.hits[0]
    assert first.id == "p1"
    assert first.highlight == {"description": ["Lightweight shoe for <em>running</em> on roads"]}
    custom = await catalog.search(
        Search()
        .query(Q.match("name", "socks"))
        .highlight("name", pre_tags=["<b>"], post_tags=["</b>"])
        .sort("sku")
    )
    assert [h.highlight["name"] for h in custom] == [
        ["Wool <b>socks</b>"],
        ["Running <b>socks</b>"],
    ]


# -- aggregations ----------------------------------------------------------------------------


async def test_bucket_and_metric_aggregations(catalog: Repository[Product]) -> None:
    search = (
        Search()
        .size(0)
        .aggregate("brands", A.terms("brand").sub("avg_price", A.avg("price")))
        .aggregate("top_tags", A.terms("tags", size=2))
        .aggregate(
            "months", A.date_histogram("created", calendar_interval="month", format="yyyy-MM")
        )
        .aggregate("bands", A.histogram("price", 50))
        .aggregate("ranges", A.range("price", [(None, 50), (50, 100), (100, None)]))
        .aggregate("cheapest", A.min("price"))
        .aggregate("dearest", A.max("price"))
        .aggregate("revenue", A.sum("price"))
        .aggregate("avg_rating", A.avg("rating"))
        .aggregate("distinct_tags", A.cardinality("tags"))
        .aggregate("tag_values", A.value_count("tags"))
        .aggregate("first", A.min("created"))
    )
    results = await catalog.search(search)
    assert results.hits == []
    assert results.total == Total(6, "eq")
    aggs = results.aggregations
    brands = aggs.buckets("brands")
    assert [(b.key, b.doc_count) for b in brands] == [("acme", 3), ("zed", 2), ("north", 1)]
    assert brands[0].aggregations.value("avg_price") == pytest.approx((59.5 + 79 + 9.5) / 3)
    assert brands[1].aggregations.value("avg_price") == pytest.approx(66.0)
    top = aggs["top_tags"]
    assert [(b.key, b.doc_count) for b in aggs.buckets("top_tags")] == [
        ("running", 3),
        ("shoes", 3),
    ]
    assert getattr(top, "sum_other_doc_count") == 6
    months = aggs.buckets("months")
    assert [(b.key_as_string, b.doc_count) for b in months] == [
        ("2024-01", 2),
        ("2024-02", 0),
        ("2024-03", 2),
        ("2024-04", 1),
        ("2024-05", 0),
        ("2024-06", 1),
    ]
    assert months[0].key == int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
    assert [(b.key, b.doc_count) for b in aggs.buckets("bands")] == [
        (0.0, 2),
        (50.0, 2),
        (100.0, 1),
        (150.0, 1),
    ]
    ranges = aggs.buckets("ranges")
    assert [(b.key, b.doc_count) for b in ranges] == [
        ("*-50.0", 2),
        ("50.0-100.0", 2),
        ("100.0-*", 2),
    ]
    assert (ranges[1].from_, ranges[1].to) == (50.0, 100.0)
    assert aggs.value("cheapest") == 9.5
    assert aggs.value("dearest") == 150.0
    assert aggs.value("revenue") == pytest.approx(430.0)
    assert aggs.value("avg_rating") == pytest.approx((4.5 + 4.0 + 3.5 + 4.8 + 4.1) / 5)
    assert aggs.value("distinct_tags") == 7
    assert aggs.value("tag_values") == 12
    first = aggs["first"]
    assert getattr(first, "value_as_string") == "2024-01-15T12:00:00.000Z"
    with pytest.raises(TypeError):
        aggs.value("brands")
    with pytest.raises(KeyError, match="no aggregation 'nope'"):
        aggs["nope"]


async def test_aggregations_follow_the_query(catalog: Repository[Product]) -> None:
    search = (
        Search()
        .query(Q.term("brand", "zed"))
        .size(0)
        .aggregate("avg", A.avg("price"))
        .aggregate("weekly", A.date_histogram("created", fixed_interval="7d", min_doc_count=1))
        .aggregate("empty", A.avg("rating"))
        .filter(Q.range("price", gt=100))
    )
    aggs = (await catalog.search(search)).aggregations
    assert aggs.value("avg") == 120.0
    assert sum(b.doc_count for b in aggs.buckets("weekly")) == 1
    assert aggs.value("empty") is None  # p3 has no rating


async def test_aggregation_on_text_field_is_refused(catalog: Repository[Product]) -> None:
    with pytest.raises(RequestError) as info:
        await catalog.search(Search().size(0).aggregate("names", A.terms("name")))
    assert info.value.status_code == 400


async def test_seq_no_from_search_protects_updates(catalog: Repository[Product]) -> None:
    hits = (await catalog.search(Search().query(Q.ids(["p4"])).seq_no_primary_term())).hits
    assert hits[0].seq_no is not None and hits[0].primary_term == 1
    product = hits[0].document
    assert product.document_meta.seq_no == hits[0].seq_no
    await catalog.partial_update("p4", {"price": 13.0})  # someone else changes it meanwhile
    product.price = 11.0
    with pytest.raises(VersionConflictError):
        await catalog.update(product)
    assert Search().seq_no_primary_term().seq_no_primary_term(False).to_dict() == {}


async def test_scan_pages_through_everything(
    catalog: Repository[Product], opensearch_target: Target
) -> None:
    seen = [hit.id async for hit in catalog.scan(page_size=2)]
    assert seen == ["p1", "p2", "p3", "p4", "p5", "p6"]  # sorted by the id field
    cheap = [
        hit.document.price
        async for hit in catalog.scan(
            Search().query(Q.range("price", lt=100)).sort("-price", "sku"), page_size=4
        )
    ]
    assert cheap == [79.0, 59.5, 12.0, 9.5]
    if opensearch_target.fake is not None:
        searches = [e for e in opensearch_target.fake.exchanges if e.operation.startswith("search")]
        # 2+2+2 then an empty page; 4 (a full page) then an empty one.
        assert len(searches) == 4 + 2
    with pytest.raises(QueryError):
        [h async for h in catalog.scan(page_size=0)]


class Untitled(Document):
    index_config = IndexConfig(name="untitled")
    text: str


async def test_scan_needs_a_sort_without_id_field(provider: OpenSearchProvider) -> None:
    repo = provider.repository(Untitled)
    with pytest.raises(QueryError, match="needs a sort"):
        [h async for h in repo.scan()]
