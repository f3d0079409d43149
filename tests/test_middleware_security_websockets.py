"""The security middleware on websocket routes, through armature.App and websocket_connect."""

from __future__ import annotations

from typing import Any

import pytest

from armature import App, WebSocket
from armature.middleware.https_redirect import HTTPSRedirectMiddleware
from armature.middleware.proxy_headers import ProxyHeadersMiddleware
from armature.middleware.request_id import RequestIdMiddleware, get_request_id
from armature.middleware.sessions import SessionMiddleware, get_session
from armature.middleware.trusted_host import TrustedHostMiddleware
from armature.testing import TestClient, WebSocketDenied

KEY = "websocket-session-key-0123456789"


def make_app() -> App:
    app = App()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        client = websocket.client
        await websocket.send_json(
            {
                "request_id": websocket.state.request_id,
                "context": get_request_id(),
                "user": get_session(websocket).get("user"),
                "client": client.host if client else None,
                "scheme": websocket.scope["scheme"],
            }
        )

    app.add_middleware(SessionMiddleware, secret_key=KEY)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["testserver", "example.com"])
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=["10.0.0.0/8"])
    return app


def test_allowed_handshake_sees_id_session_and_real_client() -> None:
    cookie = SessionMiddleware(_never, secret_key=KEY).encode({"user": "ada"})
    with (
        TestClient(make_app(), client=("10.0.0.3", 1)) as client,
        client.websocket_connect(
            "/ws",
            headers={
                "x-request-id": "ws-42",
                "cookie": f"session={cookie}",
                "x-forwarded-for": "198.51.100.7",
                "x-forwarded-proto": "https",
            },
        ) as ws,
    ):
        assert ws.receive_json() == {
            "request_id": "ws-42",
            "context": "ws-42",
            "user": "ada",
            "client": "198.51.100.7",
            "scheme": "wss",
        }


def test_untrusted_host_is_refused_with_a_problem() -> None:
    with TestClient(make_app()) as client:
        with (
            pytest.raises(WebSocketDenied) as denied,
            client.websocket_connect("/ws", headers={"host": "evil.test", "x-request-id": "r1"}),
        ):
            pass
    assert denied.value.status_code == 400
    assert denied.value.headers["content-type"] == "application/problem+json"
    assert denied.value.json()["request_id"] == "r1"
    assert denied.value.json()["detail"] == "Invalid Host header"


def test_ws_is_redirected_to_wss() -> None:
    app = App()

    @app.websocket("/live")
    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("secure")

    app.add_middleware(HTTPSRedirectMiddleware)
    with TestClient(app, base_url="http://example.com") as client:
        with pytest.raises(WebSocketDenied) as denied, client.websocket_connect("/live?x=1"):
            pass
        assert denied.value.status_code == 308
        assert denied.value.headers["location"] == "wss://example.com/live?x=1"
    with (
        TestClient(app, base_url="https://example.com") as client,
        client.websocket_connect("/live") as ws,
    ):
        assert ws.receive_text() == "secure"


async def _never(*args: Any) -> Any:
    raise AssertionError("must not be called")
