"""Client disconnects cancel running handlers (unless the route opts out), in process and live."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from _servers import SERVERS, run_server

from armature import App, Request


def make_app(log: list[str]) -> App:
    app = App()

    @app.get("/wait")
    async def wait() -> str:
        try:
            await anyio.sleep(10)
        finally:
            log.append("finally")
        return "late"

    @app.get("/keep", cancel_on_disconnect=False)
    async def keep() -> str:
        await anyio.sleep(0.05)
        log.append("kept")
        return "kept"

    @app.get("/quick")
    async def quick() -> str:
        return "quick"

    @app.get("/poll")
    async def poll(request: Request) -> str:
        for _ in range(100):
            if await request.is_disconnected():
                log.append("noticed")
                return "gone"
            await anyio.sleep(0.01)
        return "never noticed"

    return app


async def call(app: App, path: str, disconnect_after: float) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    first = True
    # NOTE: like a server's queue, a cancelled receive() loses nothing: the disconnect happens
    # at a fixed time whoever is waiting.
    disconnect_at = anyio.current_time() + disconnect_after

    async def receive() -> dict[str, Any]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"", "more_body": False}
        remaining = disconnect_at - anyio.current_time()
        if remaining > 0:  # a server answers at once once the client is gone
            await anyio.sleep(remaining)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}
    with anyio.fail_after(5):
        await app(scope, receive, send)
    return sent


@pytest.mark.anyio
async def test_disconnect_cancels_running_handler() -> None:
    log: list[str] = []
    sent = await call(make_app(log), "/wait", 0.05)
    assert log == ["finally"]
    assert sent == []  # nobody to answer


@pytest.mark.anyio
async def test_opt_out_finishes_and_quick_handlers_have_no_watcher() -> None:
    log: list[str] = []
    app = make_app(log)
    sent = await call(app, "/keep", 0.0)
    assert log == ["kept"] and sent[0]["status"] == 200
    app.compile()
    sources = {r.path: r.plan.source for r in app.compiled_routes}
    assert "run_watched" in sources["/wait"]
    assert "run_watched" not in sources["/quick"]  # cannot suspend: nothing to watch for
    assert "run_watched" not in sources["/keep"]


@pytest.mark.anyio
async def test_request_handlers_can_poll_for_disconnect() -> None:
    log: list[str] = []
    await call(make_app(log), "/poll", 0.05)
    assert log == ["noticed"]


def _abandon(url: str, path: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        time.sleep(0.3)  # the handler is running now; hang up without reading


def _wait_for(events: Path, line: str, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if events.exists() and line in events.read_text().splitlines():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.servers
@pytest.mark.parametrize("kind", SERVERS)
def test_real_servers_cancel_on_disconnect(kind: str, tmp_path: Path) -> None:
    events = tmp_path / "events.log"
    with run_server(kind, "apps.slow_app:app", env={"ARMATURE_EVENTS": str(events)}) as url:
        _abandon(url, "/slow?tag=a")
        assert _wait_for(events, "cancelled a"), events.read_text() if events.exists() else ""
        _abandon(url, "/fire?tag=b")
        assert _wait_for(events, "finished b")


def test_errors_after_an_await_keep_their_status_and_handlers() -> None:
    from armature import JSONResponse
    from armature.exceptions import NotFound
    from armature.testing import TestClient

    class Teapot(Exception):
        pass

    app = App()

    @app.exception_handler(Teapot)
    async def teapot(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"teapot": True}, status_code=418)

    @app.get("/missing")
    async def missing() -> None:
        await anyio.sleep(0)
        raise NotFound("gone after an await")

    @app.get("/teapot")
    async def brew() -> None:
        await anyio.sleep(0)
        raise Teapot()

    app.compile()
    assert all("run_watched" in r.plan.source for r in app.compiled_routes)
    with TestClient(app) as client:
        response = client.get("/missing")
        assert (response.status_code, response.json()["detail"]) == (404, "gone after an await")
        assert client.get("/teapot").status_code == 418
