"""The raw test app on real servers (granian, uvicorn, hypercorn), checked with httpx over TCP.

Each server starts once for the module. The scope test also pins the in-process TestClient to what
the real servers report.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from _servers import RunningServer, run_server, server_command, server_fixture
from apps import raw_app

from armature.testing import TestClient

pytestmark = pytest.mark.servers

server = server_fixture("apps.raw_app:app")

TRICKY_TARGET = "/scope/caf%C3%A9/a%20b?q=x+y&z=%2F&empty="


def test_serves_plain_responses(server: RunningServer) -> None:
    response = httpx.get(server.url + "/")
    assert response.status_code == 200
    assert response.text == "hello"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert httpx.get(server.url + "/missing").status_code == 404


def test_scope_matches_the_test_client(server: RunningServer) -> None:
    real = httpx.get(server.url + TRICKY_TARGET).json()
    with TestClient(raw_app.app) as client:
        local = client.get(TRICKY_TARGET).json()
    for key in ("type", "http_version", "method", "scheme", "path", "raw_path", "query_string"):
        assert real[key] == local[key], key
    assert real["path"] == "/scope/café/a b"
    assert real["query_string"] == "q=x+y&z=%2F&empty="
    assert real["state_keys"] == local["state_keys"] == ["started"]
    real_headers = dict(real["headers"])
    assert real_headers["host"] == server.url.removeprefix("http://")
    assert all(name == name.lower() for name, _ in real["headers"])


def test_request_body_round_trip(server: RunningServer) -> None:
    payload = bytes(range(256)) * 800
    response = httpx.post(server.url + "/echo", content=payload)
    assert response.content == payload
    sizes = [int(size) for size in response.headers["x-body-chunks"].split(",")]
    flags = response.headers["x-more-body"].split(",")
    assert sum(sizes) == len(payload)
    assert flags[-1] == "0"
    assert set(flags[:-1]) <= {"1"}


def test_streaming_is_incremental(server: RunningServer) -> None:
    gate = uuid.uuid4().hex
    with httpx.Client(base_url=server.url, timeout=10) as client:
        with client.stream("GET", "/stream", params={"gate": gate}) as response:
            chunks = response.iter_raw()
            # NOTE: the app now waits for the release: a buffering server would time out here.
            first = next(chunks)
            assert first.startswith(b"chunk-1\n")
            client.post("/release", params={"gate": gate})
            body = first + b"".join(chunks)
    assert body == b"chunk-1\nchunk-2\nchunk-3\n"


def test_app_errors_become_500(server: RunningServer) -> None:
    assert httpx.get(server.url + "/error").status_code == 500
    assert httpx.get(server.url + "/").status_code == 200


def test_cookies_round_trip(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        client.get("/set-cookie", params={"session": "abc"})
        headers = dict(client.get("/scope").json()["headers"])
    assert headers["cookie"] == "session=abc"


def test_lifespan_state_reaches_requests(server: RunningServer) -> None:
    assert httpx.get(server.url + "/state").json() == {"started": "True"}


def test_a_server_that_cannot_start_fails_with_its_output() -> None:
    with pytest.raises(pytest.fail.Exception, match="(?s)exited with .*Could not import module"):
        with run_server("uvicorn", "apps.does_not_exist:app"):
            pytest.fail("the server must not start")


def test_server_commands_use_each_cli() -> None:
    assert server_command("hypercorn", "m:app", 8001)[-3:] == ["--bind", "127.0.0.1:8001", "m:app"]
    uvicorn = server_command("uvicorn", "m:app", 8002, ["--root-path", "/api"])
    assert uvicorn[uvicorn.index("--lifespan") + 1] == "on"
    assert uvicorn[-3:] == ["--root-path", "/api", "m:app"]
    granian = server_command("granian", "m:app", 8003)
    assert granian[granian.index("--interface") + 1] == "asgi"
    with pytest.raises(ValueError, match="unknown server kind"):
        server_command("daphne", "m:app", 8004)  # type: ignore[arg-type]
