"""The security middleware over real HTTP on granian, uvicorn and hypercorn (apps/security_app)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from _servers import SERVERS, run_server

pytestmark = pytest.mark.servers

ORIGIN = "https://app.example.com"


@pytest.fixture(scope="module", params=SERVERS)
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    with run_server(request.param, "apps.security_app:app") as url:
        yield url


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=10) as http:
        yield http


def test_cors_preflight_allowed_and_refused(client: httpx.Client) -> None:
    allowed = client.options(
        "/api/items",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-token, content-type",
        },
    )
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert allowed.headers["access-control-allow-methods"] == "GET, POST"
    assert "x-token" in allowed.headers["access-control-allow-headers"]
    assert allowed.headers["access-control-max-age"] == "600"
    refused = client.options(
        "/api/items",
        headers={"origin": "https://evil.test", "access-control-request-method": "POST"},
    )
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == "Disallowed CORS origin"


def test_cors_actual_request(client: httpx.Client) -> None:
    response = client.post("/api/items", headers={"origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-expose-headers"] == "x-request-id"
    assert response.headers["vary"] == "Origin"
    other = client.get("/api/items", headers={"origin": "https://example.com"})
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("host", ["evil.test", "127.0.0.1.evil.test", "example.org"])
def test_trusted_host_rejection(client: httpx.Client, host: str) -> None:
    response = client.get("/api/items", headers={"host": host, "x-request-id": "host-check"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["detail"] == "Invalid Host header"
    assert problem["request_id"] == "host-check"


def test_allowed_hosts_pass(client: httpx.Client, server: str) -> None:
    port = server.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", "api.example.com"):
        assert client.get("/", headers={"host": host}).text == "ok"


def test_www_redirect(client: httpx.Client) -> None:
    # example.com is not allowed but www.example.com is (by *.example.com)
    response = client.get("/api/items?a=1", headers={"host": "example.com"})
    assert response.status_code == 308
    assert response.headers["location"] == "http://www.example.com/api/items?a=1"


def test_malformed_host_is_refused(client: httpx.Client) -> None:
    # NOTE: the server may refuse it itself; either way it never reaches the app.
    response = client.get("/", headers={"host": "127.0.0.1/evil"})
    assert response.status_code == 400


def test_request_ids(client: httpx.Client) -> None:
    given = client.get("/api/items", headers={"x-request-id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    assert given.json()["request_id"] == given.json()["context"] == "abc-123"
    generated = client.get("/api/items", headers={"x-request-id": "bad id;"})
    new_id = generated.headers["x-request-id"]
    assert new_id != "bad id;" and len(new_id) == 32
    assert generated.json()["request_id"] == new_id
    assert client.get("/api/items").headers["x-request-id"] != new_id


def test_security_headers(client: httpx.Client) -> None:
    headers = client.get("/").headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in headers  # plain http


def test_timeout_before_and_after_the_response_started(client: httpx.Client) -> None:
    slow = client.get("/slow", headers={"x-request-id": "slow-1"})
    assert slow.status_code == 504
    assert slow.json()["request_id"] == "slow-1"
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("GET", "/stalled") as response,
    ):
        assert response.status_code == 200
        for _ in response.iter_raw():
            pass


def test_sessions_over_real_cookies(client: httpx.Client) -> None:
    counts = [client.post("/counter").json()["count"] for _ in range(3)]
    assert counts == [1, 2, 3]
    cookie = client.cookies["session"]
    client.cookies.clear()
    assert client.post("/counter").json() == {"count": 1}
    tampered = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
    client.cookies.clear()
    response = client.post("/counter", headers={"cookie": f"session={tampered}"})
    assert response.json() == {"count": 1}
