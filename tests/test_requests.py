"""Request: lazy accessors, body limits while streaming, JSON content types and errors."""

from __future__ import annotations

from typing import Any

import pytest

from armature import App, Request, Router
from armature.exceptions import PayloadTooLarge
from armature.requests import read_body
from armature.testing import TestClient


def make_app() -> App:
    app = App(max_body_size=1024)

    @app.post("/inspect/{item}")
    async def inspect(request: Request) -> dict[str, Any]:
        return {
            "method": request.method,
            "path": request.path,
            "url": str(request.url),
            "query": request.query_params.getlist("a"),
            "last_a": request.query_params.get("a"),
            "header": request.headers.get("X-Custom"),
            "headers": request.headers.getlist("x-multi"),
            "cookies": request.cookies,
            "client": list(request.client) if request.client else None,
            "params": request.path_params,
            "body": (await request.body()).decode(),
        }

    @app.post("/json")
    async def json_body(request: Request) -> Any:
        return await request.json()

    @app.post("/stream")
    async def stream(request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    big = Router(max_body_size=10 * 1024)

    @big.post("/big")
    async def big_body(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.post("/route-limit", max_body_size=8)
    async def small(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    app.include_router(big)
    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    with TestClient(make_app()) as c:
        yield c


def test_accessors(client: TestClient) -> None:
    response = client.post(
        "/inspect/7?a=1&a=2",
        content=b"hi",
        headers=[
            ("x-custom", "v"),
            ("x-multi", "1"),
            ("x-multi", "2"),
            ("cookie", 'a=1; b="quoted"; bad; =x'),
        ],
    )
    body = response.json()
    assert body["method"] == "POST"
    assert body["path"] == "/inspect/7"
    assert body["url"] == "http://testserver/inspect/7?a=1&a=2"
    assert body["query"] == ["1", "2"]
    assert body["last_a"] == "2"
    assert body["header"] == "v"
    assert body["headers"] == ["1", "2"]
    assert body["cookies"] == {"a": "1", "b": "quoted"}
    assert body["params"] == {"item": "7"}
    assert body["body"] == "hi"


def test_json(client: TestClient) -> None:
    assert client.post("/json", json={"a": [1, 2]}).json() == {"a": [1, 2]}
    assert client.post(
        "/json", content=b"[1]", headers={"content-type": "application/vnd.api+json"}
    ).json() == [1]
    wrong = client.post("/json", content=b"{}", headers={"content-type": "text/plain"})
    assert wrong.status_code == 415
    bad = client.post("/json", content=b"{nope", headers={"content-type": "application/json"})
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"


def test_body_limits_app_router_route(client: TestClient) -> None:
    assert client.post("/inspect/1", content=b"x" * 1024).status_code == 200
    too_big = client.post("/inspect/1", content=b"x" * 1025)
    assert too_big.status_code == 413
    assert too_big.headers["content-type"] == "application/problem+json"
    assert client.post("/big", content=b"x" * 5000).json() == {"size": 5000}
    assert client.post("/route-limit", content=b"x" * 9).status_code == 413


def test_limit_enforced_while_streaming_without_content_length(client: TestClient) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b"x" * 100

    assert client.post("/stream", content=chunks()).status_code == 413
    assert client.post("/stream", content=iter([b"a" * 10, b"b" * 10])).json() == {"size": 20}


@pytest.mark.anyio
async def test_limit_stops_reading_early() -> None:
    received = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b"x" * 600, "more_body": True}

    with pytest.raises(PayloadTooLarge):
        await read_body(receive, [], 1000)
    assert received == 2  # refused as soon as the limit was crossed, not after buffering it all


@pytest.mark.anyio
async def test_declared_length_refused_before_reading() -> None:
    async def receive() -> dict[str, Any]:
        raise AssertionError("the body must not be read")

    with pytest.raises(PayloadTooLarge):
        await read_body(receive, [(b"content-length", b"5000")], 1000)


def test_url_is_built_from_scope_not_host_header() -> None:
    app = App()

    @app.get("/where")
    async def where(request: Request) -> str:
        return str(request.url)

    with TestClient(app) as client:
        assert client.get("/where", headers={"host": "evil.example"}).text.startswith(
            "http://testserver/where"
        )
