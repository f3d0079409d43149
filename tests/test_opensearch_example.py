"""examples/search_app.py end to end (fake OpenSearch, or a real cluster via OPENSEARCH_URL), and
its behaviour without a cluster: it starts, search answers 503 problem+json, and so does
/health/ready; the config override a test of the app would use."""

from __future__ import annotations

import importlib
import socket

import pytest
from opensearch_server import server as fake_cluster
from opensearch_server.server import Target

from armature.testing import TestClient
from armature_ext.opensearch import OpenSearchConfig

opensearch_target = fake_cluster.opensearch_target

ARTICLES = [
    {
        "slug": "hello-search",
        "title": "Hello search",
        "body": "Full text search with armature",
        "tags": ["intro", "search"],
        "published": "2024-05-01T10:00:00Z",
    },
    {
        "slug": "bulk-loading",
        "title": "Bulk loading",
        "body": "Index many documents at once",
        "tags": ["search", "performance"],
        "published": "2024-06-15T08:00:00Z",
    },
    {
        "slug": "asgi-basics",
        "title": "ASGI basics",
        "body": "How servers talk to apps",
        "tags": ["intro"],
        "published": "2024-06-20T08:00:00Z",
    },
]


def _problem(response: object, *, health: bool = False) -> dict[str, object]:
    assert response.status_code == 503, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith(  # type: ignore[attr-defined]
        "application/problem+json"
    )
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == 503  # RFC 9457: the HTTP status
    if health:
        assert body["health"] == "down"
    return body


def test_search_api(opensearch_target: Target) -> None:
    from examples.search_app import create_app

    with TestClient(create_app(opensearch_target.config)) as client:
        first = client.post("/articles", json=ARTICLES[0])
        assert first.status_code == 200, first.text
        assert first.json() == {"id": "hello-search", "result": "created", "version": 1}
        bulk = client.post("/articles/bulk", json={"articles": ARTICLES[1:]})
        assert bulk.json() == {"succeeded": 2, "failed": 0, "errors": []}

        found = client.get("/search", params={"q": "search"}).json()
        assert found["total"] == 1
        assert found["hits"][0]["slug"] == "hello-search"
        assert found["hits"][0]["highlight"]["title"] == ["Hello <em>search</em>"]
        assert found["hits"][0]["highlight"]["body"] == ["Full text <em>search</em> with armature"]
        both = client.get("/search", params={"q": "many documents"}).json()
        assert [h["slug"] for h in both["hits"]] == ["bulk-loading"]

        everything = client.get("/search").json()
        assert everything["total"] == 3
        assert {f["key"]: f["count"] for f in everything["facets"]["tags"]} == {
            "search": 2,
            "intro": 2,
            "performance": 1,
        }
        assert [h["slug"] for h in everything["hits"]] == [
            "asgi-basics",
            "bulk-loading",
            "hello-search",
        ]  # newest first
        assert everything["facets"]["per_month"] == [
            {"month": "2024-05", "count": 1},
            {"month": "2024-06", "count": 2},
        ]
        filtered = client.get("/search", params={"tags": "intro", "since": "2024-06-01"}).json()
        assert [h["slug"] for h in filtered["hits"]] == ["asgi-basics"]
        paged = client.get("/search", params={"page": 2, "per_page": 2}).json()
        assert [h["slug"] for h in paged["hits"]] == ["hello-search"]

        article = client.get("/articles/bulk-loading")
        assert article.status_code == 200
        assert article.json()["title"] == "Bulk loading"
        assert client.get("/articles/nope").status_code == 404
        assert client.post("/articles", json={**ARTICLES[0], "slug": "Bad Slug"}).status_code == 422
        assert client.delete("/articles/asgi-basics").json() == {"deleted": True}
        assert client.delete("/articles/asgi-basics").status_code == 404
        ready = client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"]["opensearch"]["status"] == "up"


def test_without_a_cluster_the_app_starts_and_answers_503(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENSEARCH_URL", raising=False)
    monkeypatch.delenv("OPENSEARCH_HOSTS", raising=False)
    module = importlib.reload(importlib.import_module("examples.search_app"))
    with TestClient(module.app) as client:
        body = _problem(client.get("/search", params={"q": "x"}))
        assert body["detail"] == module.NOT_CONFIGURED
        assert "OPENSEARCH_URL" in str(body["detail"])
        _problem(client.post("/articles", json=ARTICLES[0]))
        ready = _problem(client.get("/health/ready"), health=True)
        check = ready["checks"]["opensearch"]  # type: ignore[index]
        assert check["details"]["error"] == module.NOT_CONFIGURED


def test_unreachable_cluster_answers_503() -> None:
    from examples.search_app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = OpenSearchConfig(hosts=(f"http://127.0.0.1:{port}",), max_retries=0, timeout=2)
    with TestClient(create_app(config)) as client:  # startup survives the failed index check
        body = _problem(client.get("/search", params={"q": "x"}))
        assert "unreachable" in str(body["detail"])
        ready = _problem(client.get("/health/ready"), health=True)
        check = ready["checks"]["opensearch"]  # type: ignore[index]
        assert check["status"] == "down"
        assert check["details"]["error"].startswith("ConnectionError")


def test_a_test_points_the_app_at_its_own_cluster(opensearch_target: Target) -> None:
    from examples.search_app import create_app

    app = create_app(OpenSearchConfig(hosts=("https://search.internal:9200",)))
    app.dependency_overrides[OpenSearchConfig] = opensearch_target.config
    with TestClient(app) as client:  # the index is created on the test's cluster, with its prefix
        assert client.post("/articles", json=ARTICLES[2]).json()["result"] == "created"
        found = client.get("/search", params={"q": "servers"}).json()
        assert [h["slug"] for h in found["hits"]] == ["asgi-basics"]
        assert client.get("/health/ready").status_code == 200
