"""RequestIdMiddleware: state, response header, contextvar, validation of incoming ids."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from armature import App, HTTPException, Request, Response
from armature.middleware.request_id import (
    RequestIdLogFilter,
    RequestIdMiddleware,
    current_request_id,
    get_request_id,
    is_valid_request_id,
)
from armature.testing import AsyncTestClient, TestClient
from armature.types import Message


def make_app(**options: Any) -> App:
    app = App()

    @app.get("/id")
    async def show(request: Request) -> dict[str, Any]:
        return {"state": request.state.request_id, "context": get_request_id()}

    @app.get("/fail")
    async def fail() -> None:
        raise HTTPException(409, "conflicting")

    @app.get("/own")
    async def own() -> Response:
        return Response("x", headers={"x-request-id": "set-by-app"})

    app.add_middleware(RequestIdMiddleware, **options)
    return app


def test_generated_id_in_state_context_and_header() -> None:
    with TestClient(make_app()) as client:
        first = client.get("/id")
        second = client.get("/id")
    body = first.json()
    assert body["state"] == body["context"] == first.headers["x-request-id"]
    assert len(body["state"]) == 32 and int(body["state"], 16) >= 0
    assert second.json()["state"] != body["state"]
    assert current_request_id.get() is None  # reset after the request


def test_valid_incoming_id_is_reused() -> None:
    with TestClient(make_app()) as client:
        response = client.get("/id", headers={"x-request-id": "req-42.abc:def/1+2=@x"})
    assert response.json()["state"] == "req-42.abc:def/1+2=@x"
    assert response.headers["x-request-id"] == "req-42.abc:def/1+2=@x"


@pytest.mark.parametrize(
    "incoming",
    [
        "a" * 129,
        "has space",
        "semi;colon",
        "<script>",
        'quote"d',
        "",
        "new\tline",
        "caf\u00e9",
    ],
)
def test_invalid_incoming_id_is_replaced(incoming: str) -> None:
    with TestClient(make_app()) as client:
        response = client.get("/id", headers={"x-request-id": incoming.encode("utf-8")})
    assert response.status_code == 200
    assert response.json()["state"] != incoming
    assert len(response.json()["state"]) == 32


def test_untrusted_incoming_is_ignored() -> None:
    with TestClient(make_app(trust_incoming=False)) as client:
        response = client.get("/id", headers={"x-request-id": "from-client"})
    assert response.json()["state"] != "from-client"


def test_custom_header_and_generator() -> None:
    counter = iter(range(100))
    app = make_app(header="X-Correlation-ID", generator=lambda: f"n{next(counter)}")
    with TestClient(app) as client:
        response = client.get("/id")
    assert response.headers["x-correlation-id"] == "n0"
    assert "x-request-id" not in response.headers


def test_bad_generator_value_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(generator=lambda: "evil\r\nSet-Cookie: a=b")
    with TestClient(app) as client, caplog.at_level(logging.ERROR, "armature.error"):
        response = client.get("/id")
    assert response.status_code == 500
    assert "set-cookie" not in response.headers
    assert "CR, LF" in caplog.text


def test_problem_json_carries_the_request_id() -> None:
    with TestClient(make_app()) as client:
        response = client.get("/fail", headers={"x-request-id": "trace-1"})
        missing = client.get("/nowhere", headers={"x-request-id": "trace-2"})
    assert response.status_code == 409
    assert response.json()["request_id"] == "trace-1"
    assert response.headers["x-request-id"] == "trace-1"
    assert missing.status_code == 404
    assert missing.headers["x-request-id"] == "trace-2"


def test_app_set_header_is_not_duplicated() -> None:
    with TestClient(make_app()) as client:
        response = client.get("/own")
    assert response.headers.get_list("x-request-id") == ["set-by-app"]


def test_log_filter(caplog: pytest.LogCaptureFixture) -> None:
    app = App()
    logger = logging.getLogger("tests.request_id")

    @app.get("/log")
    async def log() -> str:
        logger.warning("inside")
        return "ok"

    app.add_middleware(RequestIdMiddleware)
    log_filter = RequestIdLogFilter()
    caplog.handler.addFilter(log_filter)
    try:
        with TestClient(app) as client, caplog.at_level(logging.WARNING, "tests.request_id"):
            response = client.get("/log", headers={"x-request-id": "log-me"})
            logger.warning("outside")
    finally:
        caplog.handler.removeFilter(log_filter)
    assert response.status_code == 200
    ids = [getattr(r, "request_id", None) for r in caplog.records]
    assert ids == ["log-me", "-"]


@pytest.mark.anyio
async def test_concurrent_requests_keep_their_own_ids() -> None:
    import anyio

    app = App()

    @app.get("/slow")
    async def slow(request: Request) -> dict[str, Any]:
        await anyio.sleep(0.01)
        return {"context": get_request_id(), "state": request.state.request_id}

    app.add_middleware(RequestIdMiddleware)
    results: dict[str, Any] = {}
    async with AsyncTestClient(app) as client:

        async def one(name: str) -> None:
            response = await client.get("/slow", headers={"x-request-id": name})
            results[name] = response.json()

        async with anyio.create_task_group() as group:
            for index in range(10):
                group.start_soon(one, f"r{index}")
    assert results == {f"r{i}": {"context": f"r{i}", "state": f"r{i}"} for i in range(10)}


@pytest.mark.anyio
async def test_websocket_gets_id_in_state_and_accept_headers() -> None:
    seen: dict[str, Any] = {}

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen["state"] = dict(scope["state"])
        seen["context"] = get_request_id()
        await send({"type": "websocket.accept"})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = RequestIdMiddleware(inner)
    await middleware({"type": "websocket", "headers": [(b"x-request-id", b"ws-1")]}, _never, send)
    assert seen == {"state": {"request_id": "ws-1"}, "context": "ws-1"}
    assert sent == [{"type": "websocket.accept", "headers": [(b"x-request-id", b"ws-1")]}]


def test_is_valid_request_id() -> None:
    assert is_valid_request_id("abc")
    assert not is_valid_request_id("abc", max_length=2)
    assert not is_valid_request_id("a\x00b")


async def _never(*args: Any) -> Any:
    raise AssertionError("must not be called")
