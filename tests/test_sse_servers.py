"""Server-sent events over granian, uvicorn and hypercorn: the wire format, resuming, and a client
that goes away (the event generator's ``finally`` must run, seen through the app's log file)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _servers import SERVERS, run_server
from test_sse import parse

pytestmark = pytest.mark.servers

# NOTE: a deadline for the app's log to show the generator's cleanup, not a speed assertion.
CLEANUP_DEADLINE = 5.0


@pytest.fixture(scope="module")
def log_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sse") / "events.log"


@pytest.fixture(scope="module", params=SERVERS)
def server(request: pytest.FixtureRequest, log_path: Path) -> Iterator[str]:
    log_path.write_text("")
    with run_server(
        request.param, "apps.sse_app:app", env={"ARMATURE_SSE_LOG": str(log_path)}
    ) as url:
        yield url


def wait_for_line(log_path: Path, line: str) -> list[str]:
    deadline = time.monotonic() + CLEANUP_DEADLINE
    while True:
        lines = log_path.read_text().splitlines()
        if line in lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def test_finite_stream_on_the_wire(server: str) -> None:
    response = httpx.get(f"{server}/finite", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["x-feed"] == "finite"
    assert parse(response.content) == [
        {"data": f"event {n}\nsecond line", "event": "message", "id": str(n)} for n in range(3)
    ]


@pytest.mark.parametrize("ping", ["0.1", "none"])
def test_client_leaving_runs_the_generators_finally(server: str, log_path: Path, ping: str) -> None:
    tag = f"{ping}-{time.monotonic_ns()}"
    params = {"tag": tag, "ping": ping} if ping != "none" else {"tag": tag}
    seen = b""
    with httpx.Client(timeout=10) as client:
        with client.stream(
            "GET", f"{server}/stream", params=params, headers={"Last-Event-ID": "10"}
        ) as response:
            assert response.status_code == 200
            for chunk in response.iter_raw():
                seen += chunk
                # the three events, then (with pings on) a keep-alive while the generator idles
                if b'"n":13' in seen and (ping == "none" or b": ping" in seen):
                    break
    # NOTE: leaving the client block closes the TCP connection.
    assert [event["id"] for event in parse(seen)] == ["11", "12", "13"]
    lines = wait_for_line(log_path, f"finally {tag}")
    assert f"start {tag}" in lines
    assert f"finally {tag}" in lines, f"the generator's finally did not run: {lines}"
