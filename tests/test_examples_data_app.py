"""examples/data_app.py: seaorm records, a diesel report and OpenSearch search in one app.

In-process on a SQLite file in tmp_path (the module's ``app`` built from the environment), with
the fake OpenSearch for the search path, and once for real on uvicorn with the defaults.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from _servers import REPO_ROOT, TESTS_DIR, run_server
from opensearch_server import server as fake_cluster
from opensearch_server.server import Target

from armature.testing import TestClient
from armature_ext.opensearch import OpenSearchConfig

opensearch_target = fake_cluster.opensearch_target

ARTICLES = [
    {"title": "Hello data", "body": "Three integrations in one app", "category": "intro"},
    {
        "title": "Raw SQL reports",
        "body": "Hand-written SQL through the diesel pool",
        "category": "sql",
    },
    {"title": "Keyset pages", "body": "Pagination that stays fast", "category": "sql"},
    {"title": "Search basics", "body": "Full-text search on OpenSearch", "category": "search"},
]


@pytest.fixture
def data_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The example module, imported with DATABASE_URL on a tmp_path file and no cluster."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/data.db")
    monkeypatch.delenv("OPENSEARCH_URL", raising=False)
    monkeypatch.delenv("OPENSEARCH_HOSTS", raising=False)
    yield importlib.reload(importlib.import_module("examples.data_app"))


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def create_all(client: TestClient) -> list[dict[str, Any]]:
    created = []
    for article in ARTICLES:
        response = client.post("/articles", json=article)
        assert response.status_code == 201, response.text
        created.append(response.json())
    return created


def test_records_report_and_health_without_a_cluster(data_app: ModuleType) -> None:
    with TestClient(data_app.app) as client:
        created = create_all(client)  # the schema was created at startup
        assert [a["id"] for a in created] == [1, 2, 3, 4]
        assert created[0]["title"] == "Hello data" and created[0]["created_at"]

        page = client.get("/articles", params={"sort": "title", "per_page": 2}).json()
        assert (page["total"], page["total_pages"], page["has_next"]) == (4, 2, True)
        assert [a["title"] for a in page["items"]] == ["Hello data", "Keyset pages"]
        found = client.get("/articles", params={"q": "sql"}).json()["items"]
        assert [a["id"] for a in found] == [2]  # title or body, case-insensitive
        problem(client.get("/articles", params={"sort": "nope"}), 422)
        assert client.get("/articles/3").json()["title"] == "Keyset pages"
        problem(client.get("/articles/99"), 404)
        problem(client.post("/articles", json={"title": "no category"}), 422)

        changed = client.patch("/articles/3", json={"category": "intro"})
        assert changed.json()["category"] == "intro"
        assert client.delete("/articles/4").status_code == 204
        problem(client.delete("/articles/4"), 404)

        report = client.get("/reports/categories").json()
        # articles 1 and 3 are "intro" now, 2 is "sql", 4 is gone
        chars = [len(a["body"]) for a in ARTICLES]
        assert report == [
            {"category": "intro", "articles": 2, "characters": chars[0] + chars[2]},
            {"category": "sql", "articles": 1, "characters": chars[1]},
        ]
        assert client.get("/reports/categories", params={"min_articles": 2}).json() == report[:1]
        problem(client.get("/reports/categories", params={"min_articles": 0}), 422)

        for path, method in (("/search", "GET"), ("/search/reindex", "POST")):
            body = problem(client.request(method, path, params={"q": "data"}), 503)
            assert body["detail"] == data_app.NOT_CONFIGURED

        ready = client.get("/health/ready")
        assert ready.status_code == 200
        checks = ready.json()["checks"]
        assert checks["seaorm"]["status"] == checks["diesel"]["status"] == "up"
        assert checks["seaorm"]["details"]["dialect"] == "sqlite"
        assert checks["opensearch"]["details"] == {
            "status": "disabled",
            "detail": data_app.NOT_CONFIGURED,
        }

        spec = client.get("/openapi.json").json()
        assert {"/articles", "/articles/{id}", "/reports/categories", "/search"} <= set(
            spec["paths"]
        )
        assert set(spec["paths"]["/articles"]) == {"get", "post"}


def test_full_text_search(data_app: ModuleType, opensearch_target: Target, tmp_path: Path) -> None:
    app = data_app.create_app(f"sqlite:///{tmp_path}/search.db", opensearch_target.config)
    with TestClient(app) as client:
        create_all(client)  # each write is copied to the index
        found = client.get("/search", params={"q": "search"}).json()
        assert found["total"] == 1
        hit = found["hits"][0]
        assert (hit["id"], hit["category"]) == (4, "search")
        assert hit["highlight"]["title"] == ["<em>Search</em> basics"]
        sql = client.get("/search", params={"category": "sql"}).json()
        assert [h["id"] for h in sql["hits"]] == [2, 3]
        second = client.get("/search", params={"page": 2, "per_page": 3}).json()
        assert (second["total"], [h["id"] for h in second["hits"]]) == (4, [4])
        problem(client.get("/search", params={"per_page": 500}), 422)

        client.patch("/articles/1", json={"title": "Goodbye data"})
        assert client.get("/search", params={"q": "goodbye"}).json()["total"] == 1
        client.delete("/articles/4")
        assert client.get("/search", params={"q": "search"}).json()["total"] == 0

        ready = client.get("/health/ready").json()
        assert ready["checks"]["opensearch"]["status"] == "up"


def test_reindex_copies_the_database_to_the_index(
    data_app: ModuleType, opensearch_target: Target, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/reindex.db"
    with TestClient(data_app.create_app(url)) as client:  # written while search was off
        create_all(client)
    with TestClient(data_app.create_app(url, opensearch_target.config)) as client:
        assert client.get("/search").json()["total"] == 0
        assert client.post("/search/reindex").json() == {"indexed": 4, "failed": 0}
        assert client.get("/search", params={"q": "pagination"}).json()["hits"][0]["id"] == 3


def test_an_unreachable_cluster_answers_503_and_writes_still_work(
    data_app: ModuleType, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = OpenSearchConfig(hosts=(f"http://127.0.0.1:{port}",), max_retries=0, timeout=2)
    with (
        caplog.at_level(logging.WARNING, "examples.data_app"),
        TestClient(data_app.create_app(f"sqlite:///{tmp_path}/down.db", config)) as client,
    ):
        assert client.post("/articles", json=ARTICLES[0]).status_code == 201
        assert "article 1 not indexed" in caplog.text
        assert client.get("/articles/1").status_code == 200
        assert "unreachable" in problem(client.get("/search"), 503)["detail"]
        ready = problem(client.get("/health/ready"), 503)
        assert ready["checks"]["opensearch"]["status"] == "down"
        assert ready["checks"]["seaorm"]["status"] == "up"


@pytest.mark.servers
def test_on_uvicorn_with_the_defaults(tmp_path: Path) -> None:
    """Like ``granian --interface asgi examples.data_app:app``: nothing configured."""
    env = {
        "DATABASE_URL": "",
        "OPENSEARCH_URL": "",
        "OPENSEARCH_HOSTS": "",
        # NOTE: the server runs in tmp_path (where the default ./data_app.db goes).
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(TESTS_DIR)]),
    }
    with run_server("uvicorn", "examples.data_app:app", env=env, cwd=tmp_path) as url:
        with httpx.Client(base_url=url, timeout=10) as client:
            created = client.post("/articles", json=ARTICLES[1])
            assert created.status_code == 201, created.text
            listing = client.get("/articles").json()
            assert [a["title"] for a in listing["items"]] == ["Raw SQL reports"]
            report = client.get("/reports/categories").json()
            chars = len(ARTICLES[1]["body"])
            assert report == [{"category": "sql", "articles": 1, "characters": chars}]
            problem(client.get("/search", params={"q": "sql"}), 503)
            ready = client.get("/health/ready").json()
            assert sorted(ready["checks"]) == ["diesel", "opensearch", "seaorm"]
            assert ready["status"] == "up"
            assert "/search" in client.get("/openapi.json").json()["paths"]
    assert (tmp_path / "data_app.db").is_file()
