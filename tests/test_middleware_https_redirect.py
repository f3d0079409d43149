"""HTTPSRedirectMiddleware: 308 to https/wss keeping path and query; https passes."""

from __future__ import annotations

from typing import Any

import pytest

from armature import App
from armature.middleware.https_redirect import HTTPSRedirectMiddleware
from armature.middleware.proxy_headers import ProxyHeadersMiddleware
from armature.testing import TestClient
from armature.types import Message


def make_app(**options: Any) -> App:
    app = App()

    @app.post("/submit")
    async def submit() -> str:
        return "submitted"

    @app.get("/page")
    async def page() -> str:
        return "page"

    app.add_middleware(HTTPSRedirectMiddleware, **options)
    return app


def test_http_is_redirected_with_308_keeping_path_and_query() -> None:
    with TestClient(make_app(), base_url="http://example.com") as client:
        response = client.post("/submit/%C3%A9?a=1&b=%2F", follow_redirects=False)
    assert response.status_code == 308
    assert response.headers["location"] == "https://example.com/submit/%C3%A9?a=1&b=%2F"
    assert response.content == b""


def test_https_passes_through() -> None:
    with TestClient(make_app(), base_url="https://example.com") as client:
        response = client.post("/submit")
    assert response.status_code == 200
    assert response.text == "submitted"


def test_following_the_redirect_keeps_the_method() -> None:
    with TestClient(make_app(), base_url="http://example.com") as client:
        response = client.post("/submit")
    assert response.status_code == 200
    assert response.text == "submitted"
    assert str(response.url) == "https://example.com/submit"


def test_port_option_and_host_port_dropped() -> None:
    with TestClient(make_app(https_port=8443), base_url="http://example.com:8080") as client:
        response = client.get("/page", follow_redirects=False)
    assert response.headers["location"] == "https://example.com:8443/page"


def test_malformed_host_falls_back_to_server() -> None:
    with TestClient(make_app(), base_url="http://internal:8000") as client:
        response = client.get("/page", headers={"host": "evil.test/phish?"}, follow_redirects=False)
    assert response.headers["location"] == "https://internal/page"


def test_behind_tls_proxy_no_loop() -> None:
    app = make_app()
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=["127.0.0.1"])
    with TestClient(app, base_url="http://example.com", client=("127.0.0.1", 1)) as client:
        proxied = client.get("/page", headers={"x-forwarded-proto": "https"})
        direct = client.get("/page", follow_redirects=False)
    assert proxied.status_code == 200
    assert direct.status_code == 308


def test_status_code_option() -> None:
    with TestClient(make_app(status_code=301), base_url="http://example.com") as client:
        assert client.get("/page", follow_redirects=False).status_code == 301
    with pytest.raises(ValueError, match="redirect status"):
        HTTPSRedirectMiddleware(_never, status_code=200)
    with pytest.raises(ValueError, match="port"):
        HTTPSRedirectMiddleware(_never, https_port=0)


@pytest.mark.anyio
async def test_websocket_ws_gets_wss_redirect_or_close() -> None:
    middleware = HTTPSRedirectMiddleware(_never)
    scope: dict[str, Any] = {
        "type": "websocket",
        "scheme": "ws",
        "path": "/live",
        "raw_path": b"/live",
        "query_string": b"room=1",
        "headers": [(b"host", b"example.com")],
        "server": ("example.com", 80),
    }
    sent = await _call(middleware, scope)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "Use wss://"}]
    scope["extensions"] = {"websocket.http.response": {}}
    sent = await _call(middleware, scope)
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == 308
    assert (b"location", b"wss://example.com/live?room=1") in sent[0]["headers"]


@pytest.mark.anyio
async def test_wss_and_lifespan_pass_through() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    middleware = HTTPSRedirectMiddleware(inner)
    await middleware({"type": "websocket", "scheme": "wss", "headers": []}, _never, _never)
    await middleware({"type": "lifespan"}, _never, _never)
    assert seen == ["websocket", "lifespan"]


async def _never(*args: Any) -> Any:
    raise AssertionError("must not be called")


async def _call(app: Any, scope: dict[str, Any]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent
