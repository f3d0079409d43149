"""Query DSL, aggregation and search builders: exact DSL output, argument checks, and every built
body validated against the search operation of the OpenSearch API specification."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

import orjson
import pytest
from opensearch_server._spec import SpecValidator, SpecViolation

from armature_ext.opensearch import A, BoolQuery, Q, Query, QueryError, Search


def assert_valid_search(body: dict[str, Any]) -> None:
    """The body is a valid POST /{index}/_search request per the spec."""
    SpecValidator.load().validate_request(
        "POST", "/products/_search", [], "application/json", orjson.dumps(body)
    )


# -- leaf queries ----------------------------------------------------------------------------


def test_match() -> None:
    q = Q.match("name", "red shoe", operator="and", fuzziness="AUTO", boost=2)
    assert q.to_dict() == {
        "match": {"name": {"query": "red shoe", "operator": "and", "fuzziness": "AUTO", "boost": 2}}
    }
    assert q.name == "match"
    assert_valid_search({"query": q.to_dict()})


def test_multi_match() -> None:
    q = Q.multi_match("shoe", ["name^3", "description"], type="most_fields", tie_breaker=0.3)
    assert q.to_dict() == {
        "multi_match": {
            "query": "shoe",
            "fields": ["name^3", "description"],
            "type": "most_fields",
            "tie_breaker": 0.3,
        }
    }
    assert_valid_search({"query": q.to_dict()})


class Color(enum.Enum):
    RED = "red"


def test_term_terms_values_are_json_ready() -> None:
    when = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    uid = uuid.UUID(int=1)
    assert Q.term("color", Color.RED).to_dict() == {"term": {"color": {"value": "red"}}}
    assert Q.term("at", when).to_dict() == {"term": {"at": {"value": when.isoformat()}}}
    assert Q.terms("id", [uid, 2]).to_dict() == {"terms": {"id": [str(uid), 2]}}
    assert Q.term("tag", "x", case_insensitive=True).to_dict() == {
        "term": {"tag": {"value": "x", "case_insensitive": True}}
    }
    for q in (Q.term("color", "red"), Q.terms("brand", ["a", "b"], boost=1.5)):
        assert_valid_search({"query": q.to_dict()})


def test_range() -> None:
    q = Q.range("price", gte=10, lt=100)
    assert q.to_dict() == {"range": {"price": {"gte": 10, "lt": 100}}}
    d = Q.range("created", gt=dt.date(2024, 1, 1), format="yyyy-MM-dd", time_zone="+01:00")
    assert d.to_dict() == {
        "range": {"created": {"gt": "2024-01-01", "format": "yyyy-MM-dd", "time_zone": "+01:00"}}
    }
    assert_valid_search({"query": q.to_dict()})
    assert_valid_search({"query": d.to_dict()})


def test_prefix_wildcard_exists_ids_nested_all_none() -> None:
    cases = {
        Q.prefix("sku", "AB", case_insensitive=True): {
            "prefix": {"sku": {"value": "AB", "case_insensitive": True}}
        },
        Q.wildcard("sku", "A?-*"): {"wildcard": {"sku": {"value": "A?-*"}}},
        Q.exists("tags"): {"exists": {"field": "tags"}},
        Q.ids(["1", "2"]): {"ids": {"values": ["1", "2"]}},
        Q.nested("variants", Q.term("variants.color", "red"), score_mode="max"): {
            "nested": {
                "path": "variants",
                "query": {"term": {"variants.color": {"value": "red"}}},
                "score_mode": "max",
            }
        },
        Q.match_all(): {"match_all": {}},
        Q.match_none(): {"match_none": {}},
        Q.match_phrase("name", "red shoe", slop=1): {
            "match_phrase": {"name": {"query": "red shoe", "slop": 1}}
        },
        Q.raw({"geo_distance": {"distance": "10km", "loc": {"lat": 1, "lon": 2}}}): {
            "geo_distance": {"distance": "10km", "loc": {"lat": 1, "lon": 2}}
        },
    }
    for query, expected in cases.items():
        assert query.to_dict() == expected
        assert_valid_search({"query": query.to_dict()})


# -- bool and operators ----------------------------------------------------------------------


def test_bool_clauses_and_minimum_should_match() -> None:
    q = Q.bool(
        must=Q.match("name", "shoe"),
        should=[Q.term("brand", "a"), Q.term("brand", "b")],
        must_not=[Q.term("discontinued", True)],
        filter=[Q.range("price", lte=50)],
        minimum_should_match=1,
        boost=1.2,
    )
    assert q.to_dict() == {
        "bool": {
            "must": [{"match": {"name": {"query": "shoe"}}}],
            "should": [{"term": {"brand": {"value": "a"}}}, {"term": {"brand": {"value": "b"}}}],
            "must_not": [{"term": {"discontinued": {"value": True}}}],
            "filter": [{"range": {"price": {"lte": 50}}}],
            "minimum_should_match": 1,
            "boost": 1.2,
        }
    }
    assert_valid_search({"query": q.to_dict()})


def test_operators_flatten() -> None:
    a, b, c = Q.term("x", 1), Q.term("y", 2), Q.term("z", 3)
    assert (a & b & c).to_dict() == Q.bool(must=[a, b, c]).to_dict()
    assert (a | b | c).to_dict() == Q.bool(should=[a, b, c], minimum_should_match=1).to_dict()
    assert (~a).to_dict() == {"bool": {"must_not": [a.to_dict()]}}
    assert ~~a == a
    mixed = (a | b) & ~c
    assert mixed.to_dict() == {
        "bool": {
            "must": [
                {"bool": {"should": [a.to_dict(), b.to_dict()], "minimum_should_match": 1}},
                {"bool": {"must_not": [c.to_dict()]}},
            ]
        }
    }
    assert isinstance(mixed, BoolQuery)
    assert_valid_search({"query": mixed.to_dict()})


def test_to_dict_returns_a_copy() -> None:
    q = Q.terms("tags", ["a"])
    q.to_dict()["terms"]["tags"].append("b")
    assert q.to_dict() == {"terms": {"tags": ["a"]}}


@pytest.mark.parametrize(
    "build",
    [
        lambda: Q.match("", "x"),
        lambda: Q.match("f", ""),
        lambda: Q.match("f", "x", operator="xor"),  # type: ignore[arg-type]
        lambda: Q.multi_match("x", []),
        lambda: Q.multi_match("x", "name"),
        lambda: Q.term("f", None),
        lambda: Q.term("f", [1, 2]),
        lambda: Q.terms("f", "abc"),
        lambda: Q.terms("f", [None]),
        lambda: Q.range("f"),
        lambda: Q.range("f", gt=1, gte=1),
        lambda: Q.range("f", lt=1, lte=1),
        lambda: Q.prefix("f", ""),
        lambda: Q.wildcard("f", ""),
        lambda: Q.nested("p", {"term": {}}),  # type: ignore[arg-type]
        lambda: Q.ids("abc"),
        lambda: Q.bool(must=[{"match_all": {}}]),  # type: ignore[list-item]
        lambda: Q.raw({"a": {}, "b": {}}),
        lambda: Q.term("f", object()),
    ],
)
def test_bad_arguments_raise_query_error(build: Any) -> None:
    with pytest.raises(QueryError):
        build()


# -- aggregations ----------------------------------------------------------------------------


def test_aggregations_dsl() -> None:
    agg = (
        A.terms("brand", size=5, order={"_count": "desc"}, min_doc_count=1)
        .sub("avg_price", A.avg("price"))
        .sub(
            "per_month",
            A.date_histogram("created", calendar_interval="month", format="yyyy-MM").sub(
                "revenue", A.sum("price")
            ),
        )
    )
    assert agg.to_dict() == {
        "terms": {"field": "brand", "size": 5, "min_doc_count": 1, "order": {"_count": "desc"}},
        "aggs": {
            "avg_price": {"avg": {"field": "price"}},
            "per_month": {
                "date_histogram": {
                    "field": "created",
                    "calendar_interval": "month",
                    "format": "yyyy-MM",
                },
                "aggs": {"revenue": {"sum": {"field": "price"}}},
            },
        },
    }
    search = (
        Search()
        .aggregate("brands", agg)
        .aggregate("prices", A.histogram("price", 10, min_doc_count=0))
        .aggregate("bands", A.range("price", [(None, 10), (10, 50), {"from": 50, "key": "hi"}]))
        .aggregate("lo", A.min("price"))
        .aggregate("hi", A.max("price", missing=0))
        .aggregate("n", A.cardinality("brand", precision_threshold=100))
        .aggregate("c", A.value_count("sku"))
        .aggregate("fixed", A.date_histogram("created", fixed_interval="12h"))
        .size(0)
    )
    body = search.to_dict()
    assert body["aggs"]["bands"] == {
        "range": {
            "field": "price",
            "ranges": [{"to": 10}, {"from": 10, "to": 50}, {"from": 50, "key": "hi"}],
        }
    }
    assert body["aggs"]["n"] == {"cardinality": {"field": "brand", "precision_threshold": 100}}
    assert_valid_search(body)


@pytest.mark.parametrize(
    "build",
    [
        lambda: A.avg("price").sub("x", A.sum("price")),
        lambda: A.terms("f", size=0),
        lambda: A.terms("f", order={"_count": "up"}),  # type: ignore[dict-item]
        lambda: A.date_histogram("d"),
        lambda: A.date_histogram("d", calendar_interval="day", fixed_interval="1d"),
        lambda: A.histogram("p", 0),
        lambda: A.range("p", []),
        lambda: A.range("p", [(None, None)]),
        lambda: A.range("p", [{"from": 1, "bogus": 2}]),
        lambda: A.terms("b").sub("x", {"avg": {}}),  # type: ignore[arg-type]
    ],
)
def test_bad_aggregations(build: Any) -> None:
    with pytest.raises(QueryError):
        build()


# -- search ----------------------------------------------------------------------------------


def test_search_body() -> None:
    base = Search().query(Q.match("name", "shoe"))
    search = (
        base.filter(Q.term("brand", "acme"))
        .exclude(Q.term("discontinued", True))
        .sort(
            "-price", ("sku", "asc"), "_score", {"created": {"order": "desc", "missing": "_last"}}
        )
        .size(20)
        .from_(40)
        .source(includes=["name", "price"], excludes=["internal*"])
        .highlight(
            "name", "description", pre_tags=["<b>"], post_tags=["</b>"], number_of_fragments=0
        )
        .track_total_hits(True)
    )
    body = search.to_dict()
    assert body == {
        "query": {
            "bool": {
                "must": [{"match": {"name": {"query": "shoe"}}}],
                "filter": [{"term": {"brand": {"value": "acme"}}}],
                "must_not": [{"term": {"discontinued": {"value": True}}}],
            }
        },
        "from": 40,
        "size": 20,
        "sort": [
            {"price": {"order": "desc"}},
            {"sku": {"order": "asc"}},
            "_score",
            {"created": {"order": "desc", "missing": "_last"}},
        ],
        "_source": {"includes": ["name", "price"], "excludes": ["internal*"]},
        "highlight": {
            "fields": {"name": {}, "description": {}},
            "pre_tags": ["<b>"],
            "post_tags": ["</b>"],
            "number_of_fragments": 0,
        },
        "track_total_hits": True,
    }
    assert base.to_dict() == {"query": {"match": {"name": {"query": "shoe"}}}}  # immutable
    assert_valid_search(body)


def test_search_after_and_paging() -> None:
    search = Search().sort("price", "sku").search_after([10.0, "a"]).size(5)
    assert search.to_dict()["search_after"] == [10.0, "a"]
    assert_valid_search(search.to_dict())
    assert Search().page(3, per_page=25).to_dict() == {"from": 50, "size": 25}
    assert Search().source(False).to_dict() == {"_source": False}
    assert Search().to_dict() == {}
    with pytest.raises(QueryError, match="explicit sort"):
        Search().search_after([1]).to_dict()
    with pytest.raises(QueryError, match="from"):
        Search().sort("a").from_(10).search_after([1]).to_dict()


@pytest.mark.parametrize(
    "build",
    [
        lambda: Search().size(-1),
        lambda: Search().from_(-5),
        lambda: Search().size(True),  # type: ignore[arg-type]
        lambda: Search().page(0),
        lambda: Search().sort(("price", "up")),  # type: ignore[arg-type]
        lambda: Search().sort(""),
        lambda: Search().highlight(),
        lambda: Search().query({"match_all": {}}),  # type: ignore[arg-type]
        lambda: Search().filter("x"),  # type: ignore[arg-type]
        lambda: Search().aggregate("x", {"avg": {}}),  # type: ignore[arg-type]
    ],
)
def test_bad_search_arguments(build: Any) -> None:
    with pytest.raises(QueryError):
        build()


def test_spec_catches_a_wrong_body() -> None:
    """The validator used above really rejects bodies the spec does not allow."""
    with pytest.raises(SpecViolation):
        assert_valid_search({"query": {"match": {"a": "x", "b": "y"}}})
    with pytest.raises(SpecViolation):
        assert_valid_search({"size": "ten"})
    assert isinstance(Query({"match_all": {}}), Query)
