"""The example app, in-process and on granian, uvicorn and hypercorn over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from _servers import SERVERS, run_server

from armature.testing import TestClient
from examples.app import app


def test_index_lists_routes() -> None:
    with TestClient(app) as client:
        body = client.get("/").json()
    paths = {(r["method"], r["path"]) for r in body["routes"]}
    assert {("GET", "/"), ("GET", "/items/{item_id:int}"), ("POST", "/items")} <= paths


def test_items_flow_in_process() -> None:
    with TestClient(app) as client:
        created = client.post("/items", json={"name": "saw", "price": 12})
        assert created.status_code == 201
        item_id = created.json()["id"]
        assert client.get(f"/items/{item_id}").json()["name"] == "saw"
        assert client.get("/items/999").status_code == 404
        assert client.post("/items", json={"name": "", "price": -1}).status_code == 422


@pytest.fixture(scope="module", params=SERVERS)
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    with run_server(request.param, "examples.app:app") as url:
        yield url


@pytest.mark.servers
def test_real_server_round_trip(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        index = client.get("/")
        assert index.status_code == 200
        assert any(r["path"] == "/hello" for r in index.json()["routes"])
        assert client.get("/hello?name=ada").text == "Hello, ada!"
        assert client.get("/page").headers["content-type"] == "text/html; charset=utf-8"
        created = client.post("/items", json={"name": "drill", "price": 30, "tags": ["x"]})
        assert created.status_code == 201
        assert client.get(f"/items/{created.json()['id']}").json()["name"] == "drill"
        invalid = client.post("/items", json={"name": "x"})
        assert invalid.status_code == 422
        assert invalid.headers["content-type"] == "application/problem+json"
        assert invalid.json()["errors"][0]["loc"] == ["body", "price"]
        wrong_type = client.post("/items", content=b"a=b", headers={"content-type": "text/plain"})
        assert wrong_type.status_code == 415
        too_big = client.post(
            "/items", content=b"x" * (2 * 1024 * 1024), headers={"content-type": "application/json"}
        )
        assert too_big.status_code == 413
        assert client.get("/openapi.json").json()["info"]["title"] == "armature example"
        assert "swagger" in client.get("/docs").text.lower()
        missing = client.get("/nowhere")
        assert missing.status_code == 404
        assert missing.json()["title"] == "Not Found"
        not_allowed = client.delete("/hello")
        assert (not_allowed.status_code, not_allowed.headers["allow"]) == (
            405,
            "GET, HEAD, OPTIONS",
        )
        head = client.head("/hello")
        assert head.status_code == 200 and head.content == b""
        redirect = client.get("/items/1/", follow_redirects=False)
        assert redirect.status_code == 308 and redirect.headers["location"] == "/items/1"


@pytest.mark.servers
def test_real_server_streams_incrementally(server: str) -> None:
    with (
        httpx.Client(base_url=server, timeout=10) as client,
        client.stream("GET", "/stream?count=5") as response,
    ):
        chunks = [chunk for chunk in response.iter_text() if chunk]
    assert "".join(chunks) == "".join(f"line {i}\n" for i in range(5))
