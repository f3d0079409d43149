"""The OpenSearch API specification validator used by the in-process test server."""

from __future__ import annotations

import orjson
import pytest
from opensearch_server._spec import SPEC_PATH, SpecValidator, SpecViolation
from opensearch_server.build_compact_spec import SOURCE, build

NDJSON = "application/x-ndjson"
JSON = "application/json"


@pytest.fixture(scope="module")
def spec() -> SpecValidator:
    return SpecValidator.load()


def test_compact_file_is_derived_from_the_vendored_yaml() -> None:
    """The committed compact JSON is exactly what build_compact_spec.py makes of the YAML."""
    import yaml

    with SOURCE.open("rb") as handle:
        document = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert build(document) == orjson.loads(SPEC_PATH.read_bytes())


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("GET", "/", "info.0"),
        ("HEAD", "/", "ping.0"),
        ("PUT", "/products", "indices.create.0"),
        ("HEAD", "/products", "indices.exists.0"),
        ("PUT", "/products/_doc/1", "index.2"),
        ("POST", "/products/_doc", "index.0"),
        ("PUT", "/products/_create/1", "create.1"),
        ("GET", "/products/_doc/a%2Fb", "get.0"),
        ("HEAD", "/products/_doc/1", "exists.0"),
        ("POST", "/products/_update/1", "update.0"),
        ("DELETE", "/products/_doc/1", "delete.0"),
        ("POST", "/_bulk", "bulk.0"),
        ("POST", "/products/_bulk", "bulk.2"),
        ("POST", "/products/_search", "search.3"),
        ("POST", "/_search", "search.1"),
        ("POST", "/products/_refresh", "indices.refresh.3"),
        ("POST", "/products/_count", "count.3"),
        ("POST", "/_aliases", "indices.update_aliases.0"),
        ("GET", "/_alias/products", "indices.get_alias.1"),
        ("PUT", "/_index_template/t1", "indices.put_index_template.1"),
        ("POST", "/_reindex", "reindex.0"),
        ("GET", "/_cluster/health", "cluster.health.0"),
        ("PUT", "/products/_mapping", "indices.put_mapping.1"),
    ],
)
def test_literal_segments_win_over_parameters(
    spec: SpecValidator, method: str, path: str, operation: str
) -> None:
    op, params = spec.match(method, path)
    assert op.id == operation
    if path == "/products/_doc/a%2Fb":
        assert params == {"index": "products", "id": "a/b"}


def test_unknown_path_or_method(spec: SpecValidator) -> None:
    with pytest.raises(SpecViolation, match="no operation"):
        spec.match("GET", "/products/_frobnicate/1/2/3")
    with pytest.raises(SpecViolation, match="the path exists for"):
        spec.match("PATCH", "/products/_doc/1")


def test_query_parameters(spec: SpecValidator) -> None:
    ok = [
        ("refresh", "wait_for"),
        ("routing", "r1"),
        ("if_seq_no", "3"),
        ("if_primary_term", "1"),
        ("op_type", "create"),
        ("timeout", "30s"),
        ("pretty", "true"),
    ]
    spec.validate_request("PUT", "/p/_doc/1", ok, JSON, b'{"a": 1}')
    spec.validate_request("GET", "/p/_doc/1", [("_source_includes", "a,b.c")])
    with pytest.raises(SpecViolation, match="'frob' is not defined for index.2"):
        spec.validate_request("PUT", "/p/_doc/1", [("frob", "1")], JSON, b"{}")
    with pytest.raises(SpecViolation, match="refresh='soon'"):
        spec.validate_request("PUT", "/p/_doc/1", [("refresh", "soon")], JSON, b"{}")
    with pytest.raises(SpecViolation, match="if_seq_no='x'"):
        spec.validate_request("PUT", "/p/_doc/1", [("if_seq_no", "x")], JSON, b"{}")
    with pytest.raises(SpecViolation, match="timeout='10'"):
        spec.validate_request("PUT", "/p/_doc/1", [("timeout", "10")], JSON, b"{}")


def test_request_bodies(spec: SpecValidator) -> None:
    spec.validate_request(
        "PUT",
        "/p",
        [],
        JSON,
        orjson.dumps(
            {
                "settings": {"number_of_shards": 1},
                "mappings": {"properties": {"a": {"type": "keyword"}}},
            }
        ),
    )
    with pytest.raises(SpecViolation, match="a request body is required"):
        spec.validate_request("PUT", "/p/_doc/1")
    with pytest.raises(SpecViolation, match="takes no request body"):
        spec.validate_request("DELETE", "/p/_doc/1", [], JSON, b"{}")
    with pytest.raises(SpecViolation, match="not JSON"):
        spec.validate_request("POST", "/p/_search", [], JSON, b"{nope")
    with pytest.raises(SpecViolation, match="media type"):
        spec.validate_request("POST", "/p/_search", [], "text/plain", b"{}")
    with pytest.raises(SpecViolation, match="body at from"):
        spec.validate_request("POST", "/p/_search", [], JSON, b'{"from": "x"}')
    with pytest.raises(SpecViolation, match="body at actions/0"):
        spec.validate_request("POST", "/_aliases", [], JSON, b'{"actions": [{"add": 1}]}')


def test_bulk_ndjson_lines(spec: SpecValidator) -> None:
    body = b"".join(
        orjson.dumps(line) + b"\n"
        for line in [
            {"index": {"_index": "p", "_id": "1"}},
            {"name": "x"},
            {"create": {"_index": "p", "_id": "2", "routing": "r"}},
            {"name": "y"},
            {"update": {"_index": "p", "_id": "1", "retry_on_conflict": 2}},
            {"doc": {"name": "z"}, "doc_as_upsert": True},
            {"delete": {"_index": "p", "_id": "2"}},
        ]
    )
    assert (
        spec.validate_request("POST", "/_bulk", [("refresh", "true")], NDJSON, body).id == "bulk.0"
    )
    bad = {
        b'{"index": {"_index": "p"}}\n': "without a source line",
        b'{"frob": {}}\n{"a": 1}\n': "unknown bulk action 'frob'",
        b'{"index": {"_index": "p"}, "delete": {"_index": "p"}}\n{}\n': "not an action",
        b'{"index": {"_index": 5}}\n{}\n': "bulk line 1 is not an action: at index/_index",
        b'{"update": {"_index": "p", "_id": "1"}}\n{"doc": 5}\n': "bulk line 2",
        b'{"index": {}}\n[1, 2]\n': "ndjson line 2",
        b'{"index": {}}\nnot json\n': "not JSON",
    }
    for payload, message in bad.items():
        with pytest.raises(SpecViolation, match=message):
            spec.validate_request("POST", "/_bulk", [], NDJSON, payload)


def test_responses(spec: SpecValidator) -> None:
    op, _ = spec.match("PUT", "/p/_doc/1")
    good = {
        "_index": "p",
        "_id": "1",
        "_version": 1,
        "result": "created",
        "_seq_no": 0,
        "_primary_term": 1,
        "_shards": {"total": 2, "successful": 1, "failed": 0},
    }
    spec.validate_response(op, 201, JSON, orjson.dumps(good))
    with pytest.raises(SpecViolation, match="response"):
        spec.validate_response(op, 201, JSON, orjson.dumps({**good, "result": "maybe"}))
    error = {"error": {"type": "version_conflict_engine_exception", "reason": "x"}, "status": 409}
    spec.validate_response(op, 409, JSON, orjson.dumps(error))
    with pytest.raises(SpecViolation):
        spec.validate_response(op, 409, JSON, b'{"oops": true}')
    get, _ = spec.match("GET", "/p/_doc/1")
    spec.validate_response(get, 404, JSON, b'{"_index": "p", "_id": "1", "found": false}')
    head, _ = spec.match("HEAD", "/p/_doc/1")
    spec.validate_response(head, 404, None, b"")
