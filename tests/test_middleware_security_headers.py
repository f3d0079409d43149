"""SecurityHeadersMiddleware: defaults, HSTS on https only, CSP/Permissions-Policy rendering."""

from __future__ import annotations

from typing import Any

import pytest

from armature import App, Request, Response
from armature.middleware.security_headers import (
    SecurityHeadersMiddleware,
    render_csp,
    render_permissions_policy,
)
from armature.testing import TestClient


def make_app(**options: Any) -> App:
    app = App()

    @app.get("/")
    async def index() -> str:
        return "ok"

    @app.get("/embeddable")
    async def embeddable() -> Response:
        return Response(
            "frame me",
            headers={"x-frame-options": "SAMEORIGIN", "referrer-policy": "no-referrer"},
        )

    @app.get("/nonce")
    async def nonce(request: Request) -> str:
        return str(request.state.csp_nonce)

    app.add_middleware(SecurityHeadersMiddleware, **options)
    return app


def test_defaults_on_http() -> None:
    with TestClient(make_app()) as client:
        response = client.get("/")
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert "strict-transport-security" not in headers  # plain http: browsers ignore it anyway
    assert "content-security-policy" not in headers
    assert "permissions-policy" not in headers


def test_hsts_on_https_only() -> None:
    app = make_app(hsts_max_age=63072000, hsts_include_subdomains=True, hsts_preload=True)
    with TestClient(app, base_url="https://example.com") as client:
        response = client.get("/")
    assert (
        response.headers["strict-transport-security"]
        == "max-age=63072000; includeSubDomains; preload"
    )


def test_errors_and_404_get_headers_too() -> None:
    with TestClient(make_app()) as client:
        response = client.get("/missing")
    assert response.status_code == 404
    assert response.headers["x-content-type-options"] == "nosniff"


def test_headers_set_by_the_app_are_kept() -> None:
    with TestClient(make_app()) as client:
        response = client.get("/embeddable")
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert response.headers.get_list("referrer-policy") == ["no-referrer"]


def test_csp_mapping_with_frame_ancestors_and_quoted_keywords() -> None:
    app = make_app(
        content_security_policy={
            "default-src": "self",
            "img-src": ["'self'", "data:", "https://img.example.com"],
            "upgrade-insecure-requests": True,
            "report-uri": None,
        },
    )
    with TestClient(app) as client:
        response = client.get("/")
    assert response.headers["content-security-policy"] == (
        "default-src 'self'; img-src 'self' data: https://img.example.com; "
        "upgrade-insecure-requests; frame-ancestors 'none'"
    )


def test_csp_report_only_and_sameorigin_frames() -> None:
    app = make_app(
        content_security_policy={"default-src": ["'self'"]},
        csp_report_only=True,
        frame_options="SAMEORIGIN",
    )
    with TestClient(app) as client:
        response = client.get("/")
    assert "content-security-policy" not in response.headers
    assert response.headers["content-security-policy-report-only"] == (
        "default-src 'self'; frame-ancestors 'self'"
    )


def test_csp_nonce_is_fresh_per_request_and_in_state() -> None:
    app = make_app(content_security_policy={"script-src": ["'self'", "'nonce-{nonce}'"]})
    with TestClient(app) as client:
        first = client.get("/nonce")
        second = client.get("/nonce")
    assert first.text != second.text
    assert len(first.text) >= 22
    for response in (first, second):
        csp = response.headers["content-security-policy"]
        assert csp == f"script-src 'self' 'nonce-{response.text}'; frame-ancestors 'none'"


def test_permissions_policy_and_extra_headers() -> None:
    app = make_app(
        permissions_policy={
            "geolocation": [],
            "camera": "self",
            "fullscreen": ["self", "https://player.example.com"],
            "autoplay": "*",
        },
        cross_origin_resource_policy="same-site",
        cross_origin_embedder_policy="require-corp",
        extra_headers={"X-Permitted-Cross-Domain-Policies": "none"},
    )
    with TestClient(app) as client:
        headers = client.get("/").headers
    assert headers["permissions-policy"] == (
        'geolocation=(), camera=(self), fullscreen=(self "https://player.example.com"), autoplay=*'
    )
    assert headers["cross-origin-resource-policy"] == "same-site"
    assert headers["cross-origin-embedder-policy"] == "require-corp"
    assert headers["x-permitted-cross-domain-policies"] == "none"


def test_everything_can_be_disabled() -> None:
    app = make_app(
        hsts_max_age=None,
        content_type_options=False,
        frame_options=None,
        referrer_policy=None,
        cross_origin_opener_policy=None,
    )
    with TestClient(app, base_url="https://example.com") as client:
        headers = client.get("/").headers
    assert set(headers) == {"content-type", "content-length"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hsts_preload": True}, "hsts_preload"),
        ({"hsts_max_age": -1}, "hsts_max_age"),
        ({"frame_options": "ALLOW-FROM x"}, "frame_options"),
        ({"referrer_policy": "everything"}, "referrer-policy"),
        ({"cross_origin_opener_policy": "same-origin, unsafe-none"}, "cross-origin-opener"),
        ({"content_security_policy": {"default-src": "'self'; script-src *"}}, "must not"),
        ({"content_security_policy": {"bad name": "x"}}, "directive name"),
        ({"content_security_policy": "default-src 'self'\r\nX-Evil: 1"}, "single line"),
        ({"content_security_policy": {"report-uri": None}, "frame_options": None}, "no directives"),
        ({"permissions_policy": {"camera": ["self) evil=(*"]}}, "allowlist"),
        ({"extra_headers": {"X-A": "b\r\nSet-Cookie: x=y"}}, "CR, LF"),
    ],
)
def test_invalid_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SecurityHeadersMiddleware(_never, **options)


def test_referrer_policy_fallback_list() -> None:
    middleware = SecurityHeadersMiddleware(_never, referrer_policy="no-referrer, strict-origin")
    assert (b"referrer-policy", b"no-referrer, strict-origin") in middleware.headers


def test_render_helpers() -> None:
    assert render_csp("default-src 'self'") == "default-src 'self'"
    assert render_csp({"script-src": "self unsafe-inline https://cdn.test"}) == (
        "script-src 'self' 'unsafe-inline' https://cdn.test"
    )
    assert render_permissions_policy({"usb": []}) == "usb=()"


@pytest.mark.anyio
async def test_non_http_passes_through() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    middleware = SecurityHeadersMiddleware(inner)
    await middleware({"type": "websocket"}, _never, _never)
    await middleware({"type": "lifespan"}, _never, _never)
    assert seen == ["websocket", "lifespan"]


async def _never(*args: Any) -> Any:
    raise AssertionError("must not be called")
