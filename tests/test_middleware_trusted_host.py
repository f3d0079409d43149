"""TrustedHostMiddleware: exact/wildcard/port matching, malformed hosts, www redirect, websocket."""

from __future__ import annotations

from typing import Any

import pytest

from armature import App, Request
from armature.middleware._security_common import HostPattern, parse_host
from armature.middleware.trusted_host import TrustedHostMiddleware
from armature.testing import TestClient
from armature.types import Message


def make_app(**options: Any) -> App:
    app = App()

    @app.get("/where")
    async def where(request: Request) -> dict[str, str]:
        return {"host": request.headers["host"]}

    app.add_middleware(TrustedHostMiddleware, **options)
    return app


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("example.com", 200),
        ("EXAMPLE.com", 200),
        ("example.com.", 200),
        ("example.com:8080", 200),
        ("api.example.com", 200),
        ("a.b.example.com", 200),
        ("example.org", 400),
        ("evilexample.com", 400),
        ("example.com.evil.net", 400),
        ("api.example.com.evil.net", 400),
        ("internal.test:9000", 200),
        ("internal.test:9001", 400),
        ("internal.test", 400),
        ("[::1]", 200),
        ("[0:0:0:0:0:0:0:1]:8000", 200),
    ],
)
def test_matching(host: str, status: int) -> None:
    app = make_app(
        allowed_hosts=["example.com", "*.example.com", "internal.test:9000", "[::1]"],
        www_redirect=False,
    )
    with TestClient(app) as client:
        response = client.get("/where", headers={"host": host})
    assert response.status_code == status
    if status == 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "Invalid Host header"


@pytest.mark.parametrize(
    "host",
    [
        "example.com/evil",
        "example.com?x",
        "example.com#frag",
        "user@example.com",
        "evil.com@example.com",
        "example .com",
        " example.com",
        "example.com\tx",
        "example.com:",
        "example.com:99999",
        "example.com:80:80",
        "example.com:abc",
        "-example.com",
        "example..com",
        "exämple.com",
        "[::1",
        "[zz::1]",
        "example.com\\evil",
        "a" * 300 + ".example.com",
        "",
    ],
)
def test_malformed_hosts_are_refused_even_with_star(host: str) -> None:
    # NOTE: bytes so that non-ASCII reaches the app raw, as a server would pass it.
    app = make_app(allowed_hosts=["*"])
    with TestClient(app) as client:
        response = client.get("/where", headers={"host": host.encode("utf-8")})
    assert response.status_code == 400
    assert response.json()["title"] == "Bad Request"


def test_star_allows_any_well_formed_host() -> None:
    app = make_app()
    with TestClient(app) as client:
        response = client.get("/where", headers={"host": "whatever.test:1234"})
    assert response.json() == {"host": "whatever.test:1234"}


@pytest.mark.anyio
async def test_missing_and_duplicate_host_are_refused() -> None:
    middleware = TrustedHostMiddleware(_never, allowed_hosts=["*"])
    for headers, detail in (
        ([], "Missing Host header"),
        ([(b"host", b"a.test"), (b"host", b"b.test")], "Several Host headers"),
    ):
        sent = await _call(middleware, {"type": "http", "path": "/", "headers": headers})
        assert sent[0]["status"] == 400
        assert detail.encode() in sent[1]["body"]


def test_www_redirect_keeps_scheme_port_path_and_query() -> None:
    app = make_app(allowed_hosts=["www.example.com"])
    with TestClient(app, base_url="https://example.com") as client:
        response = client.get(
            "/where/%20x?q=1&r=%2F", headers={"host": "example.com:8443"}, follow_redirects=False
        )
    assert response.status_code == 308
    assert response.headers["location"] == "https://www.example.com:8443/where/%20x?q=1&r=%2F"


def test_www_redirect_disabled_refuses() -> None:
    app = make_app(allowed_hosts=["www.example.com"], www_redirect=False)
    with TestClient(app) as client:
        response = client.get("/where", headers={"host": "example.com"}, follow_redirects=False)
    assert response.status_code == 400


def test_www_redirect_only_when_www_host_is_allowed() -> None:
    app = make_app(allowed_hosts=["www.example.com"])
    with TestClient(app) as client:
        response = client.get("/where", headers={"host": "other.com"}, follow_redirects=False)
    assert response.status_code == 400


def test_request_id_is_in_the_refusal_when_known() -> None:
    from armature.middleware.request_id import RequestIdMiddleware

    app = make_app(allowed_hosts=["example.com"])
    app.add_middleware(RequestIdMiddleware)
    with TestClient(app) as client:
        response = client.get("/where", headers={"host": "evil.test", "x-request-id": "abc-123"})
    assert response.status_code == 400
    assert response.json()["request_id"] == "abc-123"


@pytest.mark.anyio
async def test_websocket_refused_before_accept() -> None:
    middleware = TrustedHostMiddleware(_never, allowed_hosts=["example.com"])
    scope = {"type": "websocket", "path": "/ws", "headers": [(b"host", b"evil.test")]}
    sent = await _call(middleware, scope, [{"type": "websocket.connect"}])
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "Invalid Host header"}]


@pytest.mark.anyio
async def test_websocket_refused_with_http_response_extension() -> None:
    middleware = TrustedHostMiddleware(_never, allowed_hosts=["example.com"])
    scope = {
        "type": "websocket",
        "path": "/ws",
        "headers": [(b"host", b"evil.test")],
        "extensions": {"websocket.http.response": {}},
    }
    sent = await _call(middleware, scope, [{"type": "websocket.connect"}])
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == 400
    assert b"Invalid Host header" in sent[1]["body"]


@pytest.mark.anyio
async def test_websocket_and_lifespan_allowed_pass_through() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    middleware = TrustedHostMiddleware(inner, allowed_hosts=["example.com"])
    await middleware({"type": "websocket", "headers": [(b"host", b"example.com")]}, _never, _never)
    await middleware({"type": "lifespan"}, _never, _never)
    assert seen == ["websocket", "lifespan"]


@pytest.mark.parametrize(
    "pattern", ["", "example.com/", "*.", "*", "a.*.com", "*example.com", "ex ample.com", "*.[::1]"]
)
def test_pattern_validation(pattern: str) -> None:
    if pattern == "*":
        assert HostPattern(pattern).any
        return
    with pytest.raises(ValueError, match="invalid host pattern"):
        HostPattern(pattern)


def test_options_validation() -> None:
    with pytest.raises(ValueError, match="not a string"):
        TrustedHostMiddleware(_never, allowed_hosts="example.com")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        TrustedHostMiddleware(_never, allowed_hosts=[])


def test_parse_host() -> None:
    assert parse_host("Example.COM.:80") == ("example.com", 80)
    assert parse_host("[::FFFF:10.0.0.1]") == ("[::ffff:a00:1]", None)
    assert parse_host("my_service:8000") == ("my_service", 8000)
    assert parse_host("10.0.0.1:65535") == ("10.0.0.1", 65535)
    assert parse_host("10.0.0.1:65536") is None


async def _never(*args: Any) -> Any:
    raise AssertionError("must not be called")


async def _call(
    app: Any, scope: dict[str, Any], incoming: list[Message] | None = None
) -> list[Message]:
    sent: list[Message] = []
    queue = list(incoming or [])

    async def receive() -> Message:
        return queue.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent
