"""TimeoutMiddleware on asyncio and trio: 504 before start, dropped connection after, no cut-off
background tasks."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from armature import App, Response, StreamingResponse
from armature.background import BackgroundTasks
from armature.middleware.request_id import RequestIdMiddleware
from armature.middleware.timeout import ResponseTimeout, TimeoutMiddleware
from armature.testing import AsyncTestClient

pytestmark = pytest.mark.anyio


def make_app(events: list[str], timeout: float = 0.1) -> App:
    app = App()

    @app.get("/slow")
    async def slow() -> str:
        try:
            await anyio.sleep(30)
        finally:
            events.append("slow handler unwound")
        return "never"

    @app.get("/fast")
    async def fast() -> str:
        return "fast"

    @app.get("/stalled-stream")
    async def stalled_stream() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"first chunk\n"
            try:
                await anyio.sleep(30)
            finally:
                events.append("stream unwound")
            yield b"never"

        return StreamingResponse(body(), media_type="text/plain")

    @app.get("/with-background")
    async def with_background() -> Response:
        tasks = BackgroundTasks()

        async def after() -> None:
            await anyio.sleep(timeout * 3)
            events.append("background finished")

        tasks.add_task(after)
        return Response("sent", background=tasks)

    app.add_middleware(TimeoutMiddleware, timeout=timeout)
    app.add_middleware(RequestIdMiddleware)
    return app


async def test_slow_handler_is_cancelled_and_answered_504() -> None:
    events: list[str] = []
    async with AsyncTestClient(make_app(events)) as client:
        response = await client.get("/slow", headers={"x-request-id": "slow-1"})
    assert response.status_code == 504
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 504
    assert problem["title"] == "Gateway Timeout"
    assert problem["request_id"] == "slow-1"
    assert problem["instance"] == "/slow"
    assert events == ["slow handler unwound"]


async def test_fast_handler_is_untouched() -> None:
    async with AsyncTestClient(make_app([])) as client:
        response = await client.get("/fast")
    assert (response.status_code, response.text) == (200, "fast")


async def test_started_response_is_cut_off() -> None:
    events: list[str] = []
    async with AsyncTestClient(make_app(events)) as client:
        with pytest.raises(ResponseTimeout, match="response under way"):
            await client.get("/stalled-stream")
    assert events == ["stream unwound"]


async def test_started_response_without_raising_client_gets_protocol_error() -> None:
    events: list[str] = []
    async with AsyncTestClient(make_app(events), raise_server_exceptions=False) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/stalled-stream")


async def test_background_tasks_outlive_the_deadline() -> None:
    events: list[str] = []
    async with AsyncTestClient(make_app(events)) as client:
        response = await client.get("/with-background")
        assert response.text == "sent"
        with anyio.fail_after(5):
            while "background finished" not in events:
                await anyio.sleep(0.01)
    assert events == ["background finished"]


async def test_websocket_and_lifespan_pass_through() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await anyio.sleep(0.05)
        seen.append(scope["type"])

    middleware = TimeoutMiddleware(inner, timeout=0.01)
    await middleware({"type": "websocket"}, _never, _never)
    await middleware({"type": "lifespan"}, _never, _never)
    assert seen == ["websocket", "lifespan"]


@pytest.mark.parametrize("bad", [0, -1, math.inf, math.nan])
async def test_invalid_timeout(bad: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        TimeoutMiddleware(_never, timeout=bad)


async def _never(*args: Any) -> Any:
    raise AssertionError("must not be called")
