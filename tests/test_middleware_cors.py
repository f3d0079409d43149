"""CORSMiddleware through armature.App and the real ASGI entry point."""

from __future__ import annotations

from typing import Any

import pytest

from armature import App, Response
from armature.middleware.cors import CORSMiddleware, OriginPattern
from armature.testing import TestClient


def make_app(**options: Any) -> App:
    app = App()

    @app.get("/items")
    async def items() -> dict[str, int]:
        return {"count": 1}

    @app.post("/items")
    async def create() -> dict[str, bool]:
        return {"created": True}

    @app.get("/own-cors")
    async def own_cors() -> Response:
        return Response(
            "x",
            headers={
                "access-control-allow-origin": "https://wrong.example",
                "vary": "Accept-Encoding",
            },
        )

    app.add_middleware(CORSMiddleware, **options)
    return app


def preflight(
    client: TestClient, origin: str, method: str = "POST", headers: str | None = None
) -> Any:
    request_headers = {"origin": origin, "access-control-request-method": method}
    if headers is not None:
        request_headers["access-control-request-headers"] = headers
    return client.options("/items", headers=request_headers)


def test_simple_request_from_allowed_origin_gets_headers() -> None:
    app = make_app(allow_origins=["https://app.example.com"], expose_headers=["X-Total"])
    with TestClient(app) as client:
        response = client.get("/items", headers={"origin": "https://app.example.com"})
    assert response.status_code == 200
    assert response.json() == {"count": 1}
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    assert response.headers["access-control-expose-headers"] == "x-total"
    assert response.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in response.headers


def test_disallowed_origin_gets_no_cors_headers_but_still_vary() -> None:
    app = make_app(allow_origins=["https://app.example.com"])
    with TestClient(app) as client:
        response = client.get("/items", headers={"origin": "https://evil.example.net"})
        no_origin = client.get("/items")
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["vary"] == "Origin"
    # NOTE: a cache must not serve the no-Origin response to a cross-origin request blindly.
    assert no_origin.headers["vary"] == "Origin"
    assert "access-control-allow-origin" not in no_origin.headers


def test_wildcard_without_credentials_is_a_literal_star_everywhere() -> None:
    app = make_app(allow_origins=["*"])
    with TestClient(app) as client:
        cross = client.get("/items", headers={"origin": "https://anything.test"})
        plain = client.get("/items")
    assert cross.headers["access-control-allow-origin"] == "*"
    assert plain.headers["access-control-allow-origin"] == "*"
    assert "vary" not in cross.headers


def test_credentials_reflect_the_origin_never_star() -> None:
    app = make_app(
        allow_origins=["*"], allow_credentials=True, allow_methods=["*"], allow_headers=["*"]
    )
    with TestClient(app) as client:
        response = client.get("/items", headers={"origin": "https://a.test"})
        pre = preflight(client, "https://a.test", "PATCH", "X-Custom, Content-Type")
        null = client.get("/items", headers={"origin": "null"})
    assert response.headers["access-control-allow-origin"] == "https://a.test"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["vary"] == "Origin"
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "https://a.test"
    # NOTE: with credentials "*" is literal to browsers, so the request is reflected.
    assert pre.headers["access-control-allow-methods"] == "PATCH"
    assert pre.headers["access-control-allow-headers"] == "x-custom, content-type"
    assert pre.headers["access-control-allow-credentials"] == "true"
    # "null" (sandboxed frames, file: pages) must be listed explicitly when credentials are on.
    assert "access-control-allow-origin" not in null.headers


def test_null_origin_when_listed() -> None:
    app = make_app(allow_origins=["null"], allow_credentials=True)
    with TestClient(app) as client:
        response = client.get("/items", headers={"origin": "null"})
    assert response.headers["access-control-allow-origin"] == "null"


def test_preflight_allowed() -> None:
    app = make_app(
        allow_origins=["https://app.example.com"],
        allow_methods=["GET", "POST"],
        allow_headers=["X-Token"],
        max_age=321,
    )
    with TestClient(app) as client:
        response = preflight(client, "https://app.example.com", "POST", "x-token, content-type")
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    assert response.headers["access-control-allow-methods"] == "GET, POST"
    allowed = {h.strip() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"x-token", "content-type"} <= allowed
    assert response.headers["access-control-max-age"] == "321"
    assert "Origin" in response.headers["vary"]
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize(
    ("origin", "method", "headers", "reason"),
    [
        ("https://evil.example.net", "POST", None, "origin"),
        ("https://app.example.com", "DELETE", None, "method"),
        ("https://app.example.com", "POST", "X-Secret", "headers"),
        ("https://app.example.com", "PO ST", None, "method"),
        ("https://app.example.com", "POST", "X-Token\r\nX-Injected: 1", "headers"),
    ],
)
def test_preflight_refused_with_400_problem(
    origin: str, method: str, headers: str | None, reason: str
) -> None:
    app = make_app(
        allow_origins=["https://app.example.com"],
        allow_methods=["GET", "POST"],
        allow_headers=["X-Token"],
    )
    with TestClient(app) as client:
        request_headers = {"origin": origin, "access-control-request-method": method}
        if headers is not None:
            request_headers["access-control-request-headers"] = headers
        # NOTE: in-process, httpx hands CR/LF through untouched: the middleware must refuse it.
        response = client.options("/items", headers=request_headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400
    assert reason in problem["detail"]
    assert "access-control-allow-origin" not in response.headers


def test_options_without_request_method_is_not_a_preflight() -> None:
    app = make_app(allow_origins=["https://app.example.com"])
    with TestClient(app) as client:
        response = client.options("/items", headers={"origin": "https://app.example.com"})
    # the app's own automatic OPTIONS answer, with CORS headers added
    assert response.status_code == 204
    assert "GET" in response.headers["allow"]
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"


def test_preflight_for_unknown_path_is_answered_before_routing() -> None:
    app = make_app(allow_origins=["https://app.example.com"], allow_methods=["GET"])
    with TestClient(app) as client:
        response = client.options(
            "/nowhere",
            headers={"origin": "https://app.example.com", "access-control-request-method": "GET"},
        )
    assert response.status_code == 204


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://a.example.com", True),
        ("https://a.b.example.com", True),
        ("https://A.Example.COM", True),
        ("https://a.example.com:443", True),
        ("https://example.com", False),  # the bare suffix is not a subdomain
        ("http://a.example.com", False),  # scheme must match
        ("https://a.example.com:8443", False),  # port must match
        ("https://a.example.com.evil.net", False),
        ("https://evilexample.com", False),
        ("https://a.example.com/path", False),
        ("https://user@a.example.com", False),
        ("https://a.example.com#.example.com", False),
        ("https://a.example.com%2f.example.com", False),
        ("https://.example.com", False),
        ("https://*.example.com", False),
        ("", False),
        ("garbage", False),
    ],
)
def test_wildcard_origin_patterns(origin: str, allowed: bool) -> None:
    middleware = CORSMiddleware(_noop, allow_origins=["https://*.example.com"])
    assert middleware.is_allowed_origin(origin) is allowed


def test_exact_origin_with_port_and_default_port_normalization() -> None:
    middleware = CORSMiddleware(
        _noop, allow_origins=["http://localhost:3000", "https://shop.test:443"]
    )
    assert middleware.is_allowed_origin("http://localhost:3000")
    assert not middleware.is_allowed_origin("http://localhost:3001")
    assert not middleware.is_allowed_origin("http://localhost")
    assert middleware.is_allowed_origin("https://shop.test")


@pytest.mark.parametrize(
    "pattern",
    [
        "example.com",
        "https://example.com/",
        "https://example.com/path",
        "https://*",
        "*.a.com",
        "https://a.*.com",
        "https://exa mple.com",
        "https://[::1",
    ],
)
def test_invalid_origin_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="invalid origin"):
        OriginPattern(pattern)


def test_invalid_options() -> None:
    with pytest.raises(ValueError, match="sequence"):
        CORSMiddleware(_noop, allow_origins="https://a.test")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="invalid method or header"):
        CORSMiddleware(_noop, allow_headers=["X Bad"])
    with pytest.raises(ValueError, match="max_age"):
        CORSMiddleware(_noop, max_age=-1)


def test_app_set_cors_headers_are_replaced_and_vary_merged() -> None:
    app = make_app(allow_origins=["https://app.example.com"])
    with TestClient(app) as client:
        response = client.get("/own-cors", headers={"origin": "https://app.example.com"})
    assert response.headers.get_list("access-control-allow-origin") == ["https://app.example.com"]
    assert response.headers["vary"] == "Accept-Encoding, Origin"


def test_error_responses_carry_cors_headers() -> None:
    app = make_app(allow_origins=["https://app.example.com"])
    with TestClient(app) as client:
        response = client.get("/missing", headers={"origin": "https://app.example.com"})
    assert response.status_code == 404
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"


async def _noop(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("not called")


@pytest.mark.anyio
async def test_websocket_and_lifespan_pass_through() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    middleware = CORSMiddleware(inner, allow_origins=["https://a.test"])
    await middleware(
        {"type": "websocket", "headers": [(b"origin", b"https://x.test")]}, _noop, _noop
    )
    await middleware({"type": "lifespan"}, _noop, _noop)
    assert seen == ["websocket", "lifespan"]
