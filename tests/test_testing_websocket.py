"""Websocket sessions of the in-process test clients: handshake, frames, closes, denials, errors.

Async tests run on asyncio and trio (anyio_backend); sync tests use the same fixture to pick the
TestClient's event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
import pytest
from apps import ws_app

from armature import App, Query, WebSocket
from armature.testing import (
    AsyncTestClient,
    TestClient,
    WebSocketDenied,
    WebSocketDisconnect,
)
from armature.types import Message, Receive, Scope, Send


class RawApp:
    """A raw ASGI app: records what it sees and does what ``script`` says."""

    def __init__(self, script: str = "echo") -> None:
        self.script = script
        self.scopes: list[Scope] = []
        self.received: list[Message] = []
        self.errors: list[BaseException] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            scope["state"]["db"] = "connected"
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            assert message["type"] == "lifespan.shutdown"
            await send({"type": "lifespan.shutdown.complete"})
            return
        self.scopes.append(scope)
        self.received.append(await receive())
        script = self.script
        if script == "close-first":
            await send({"type": "websocket.close", "code": 1000})
            return
        if script == "fail-first":
            raise ValueError("broken handshake")
        if script == "nothing":
            return
        if script == "send-first":
            await send({"type": "websocket.send", "text": "too early"})
            return
        if script == "bad-subprotocol":
            await send({"type": "websocket.accept", "subprotocol": "never-offered"})
            return
        await send(
            {
                "type": "websocket.accept",
                "subprotocol": scope["subprotocols"][0] if scope["subprotocols"] else None,
                "headers": [(b"x-room", b"lobby")],
            }
        )
        if script == "fail-after":
            raise ValueError("broken after accept")
        if script == "return-after":
            return
        if script == "chatty":
            # keeps sending after the client left: ASGI says send() raises OSError then
            try:
                while True:
                    await send({"type": "websocket.send", "text": "tick"})
                    await anyio.sleep(0.001)
            except OSError as exc:
                self.errors.append(exc)
                raise
        while True:
            message = await receive()
            self.received.append(message)
            if message["type"] == "websocket.disconnect":
                return
            if "text" in message and message["text"] is not None:
                await send({"type": "websocket.send", "text": message["text"].upper()})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"][::-1]})


def make_app(log: list[str]) -> App:
    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        yield {"greeting": "hello"}

    app = App(lifespan=lifespan)

    @app.websocket("/greet/{name}")
    async def greet(websocket: WebSocket, name: str, times: int = 1) -> None:
        await websocket.accept(headers={"x-greeting": "yes"})
        greeting = websocket.state.greeting
        for _ in range(times):
            await websocket.send_text(f"{greeting} {name}")
        try:
            async for data in websocket.iter_json():
                await websocket.send_json({"echo": data})
        finally:
            log.append("handler done")

    @app.websocket("/bytes")
    async def binary(websocket: WebSocket) -> None:
        await websocket.accept()
        async for data in websocket.iter_bytes():
            await websocket.send_bytes(data * 2)

    @app.websocket("/needs-token")
    async def needs_token(websocket: WebSocket, token: Annotated[int, Query()]) -> None:
        await websocket.accept()

    @app.websocket("/crash")
    async def crash(websocket: WebSocket) -> None:
        await websocket.accept()
        raise RuntimeError("handler bug")

    @app.websocket("/kick")
    async def kick(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        await websocket.close(4003, "kicked")

    @app.websocket("/goodbye")
    async def goodbye(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await websocket.receive_text()
        except WebSocketDisconnect as exc:
            log.append(f"client left {exc.code} {exc.reason}")

    return app


# -- sync client ---------------------------------------------------------------------------------


def test_sync_session_round_trip(anyio_backend: str) -> None:
    log: list[str] = []
    with TestClient(make_app(log), backend=anyio_backend) as client:
        with client.websocket_connect("/greet/ada", params={"times": 2}) as ws:
            assert ws.accepted_subprotocol is None
            assert ws.extra_headers["x-greeting"] == "yes"
            assert ws.receive_text() == "hello ada"
            assert ws.receive() == {"type": "websocket.send", "text": "hello ada", "bytes": None}
            ws.send_json({"n": 1})
            assert ws.receive_json() == {"echo": {"n": 1}}
            ws.send_json([1, 2], mode="binary")
            assert ws.receive_json() == {"echo": [1, 2]}
        # leaving the block closes the connection; the handler has finished by then
        assert log == ["handler done"]
        with client.websocket_connect("/bytes") as ws:
            ws.send_bytes(b"ab")
            assert ws.receive_bytes() == b"abab"
            ws.send_text("not bytes")
            # the app's receive_bytes refuses text, the handler fails, armature closes with 1011
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive()
            assert closed.value.code == 1011


def test_sync_session_without_lifespan_block(anyio_backend: str) -> None:
    raw = RawApp()
    client = TestClient(raw, backend=anyio_backend)
    with client.websocket_connect("/plain", subprotocols=["v2", "v1"]) as ws:
        assert ws.accepted_subprotocol == "v2"
        ws.send_text("shout")
        assert ws.receive_text() == "SHOUT"
    assert raw.scopes[0]["state"] == {}
    assert raw.received[-1] == {"type": "websocket.disconnect", "code": 1000}


def test_server_close_raises_websocket_disconnect(anyio_backend: str) -> None:
    with TestClient(ws_app.app, backend=anyio_backend) as client:
        with client.websocket_connect("/json") as ws:
            ws.send_json({"a": [1, 2]})
            assert ws.receive_json() == {"got": {"a": [1, 2]}}
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive()
            assert (closed.value.code, closed.value.reason) == (4001, "done")
            with pytest.raises(WebSocketDisconnect):  # and again: the connection stays closed
                ws.receive_text()
        with client.websocket_connect("/echo/lobby", ["chat"], params={"upper": True}) as ws:
            assert ws.accepted_subprotocol == "chat"
            ws.send_text("hi")
            assert ws.receive_text() == "lobby:HI"


def test_denials_carry_status_and_body(anyio_backend: str) -> None:
    with TestClient(ws_app.app, backend=anyio_backend) as client:
        with pytest.raises(WebSocketDenied) as denied:
            with client.websocket_connect("/private"):
                pytest.fail("the handshake should have been refused")
        assert denied.value.status_code == 403
        assert denied.value.body == b"no entry"
        assert denied.value.text == "no entry"
        assert denied.value.headers["content-type"] == "text/plain; charset=utf-8"
        with client.websocket_connect("/private", params={"token": "secret"}) as ws:
            assert ws.receive_text() == "welcome"
        with pytest.raises(WebSocketDenied) as unknown:
            with client.websocket_connect("/no-such-route"):
                pass
        assert (unknown.value.status_code, unknown.value.body) == (403, b"")

    with TestClient(make_app([]), backend=anyio_backend) as client:
        with pytest.raises(WebSocketDenied) as invalid:
            with client.websocket_connect("/needs-token", params={"token": "x"}):
                pass
        assert invalid.value.status_code == 422
        assert invalid.value.headers["content-type"] == "application/problem+json"
        problem = invalid.value.json()
        assert problem["status"] == 422
        assert problem["errors"][0]["loc"] == ["query", "token"]


def test_close_from_the_client_reaches_the_handler(anyio_backend: str) -> None:
    log: list[str] = []
    with TestClient(make_app(log), backend=anyio_backend) as client:
        with client.websocket_connect("/goodbye") as ws:
            ws.close(4000, "bye")
            assert log == ["client left 4000 bye"]
            with pytest.raises(RuntimeError, match="closed"):
                ws.send_text("too late")
        with client.websocket_connect("/kick") as ws:
            ws.send_text("anything")
            with pytest.raises(WebSocketDisconnect) as kicked:
                ws.receive_text()
            assert (kicked.value.code, kicked.value.reason) == (4003, "kicked")


def test_receive_timeout(anyio_backend: str) -> None:
    with TestClient(make_app([]), backend=anyio_backend) as client:
        with client.websocket_connect("/bytes") as ws:
            with pytest.raises(TimeoutError):
                ws.receive(timeout=0.05)
            ws.send_bytes(b"x")
            assert ws.receive_bytes(timeout=5) == b"xx"


def test_wrong_frame_kind_is_a_type_error(anyio_backend: str) -> None:
    with TestClient(RawApp(), backend=anyio_backend) as client:
        with client.websocket_connect("/") as ws:
            ws.send_bytes(b"ab")
            with pytest.raises(TypeError, match="expected a text message"):
                ws.receive_text()
            ws.send_text("ab")
            with pytest.raises(TypeError, match="expected a binary message"):
                ws.receive_bytes()


# -- scope ---------------------------------------------------------------------------------------


def test_websocket_scope_is_faithful(anyio_backend: str) -> None:
    raw = RawApp()
    with TestClient(
        raw, backend=anyio_backend, cookies={"session": "abc"}, headers={"x-default": "1"}
    ) as client:
        with client.websocket_connect(
            "/caf%C3%A9/room", ["chat", "superchat"], headers={"x-extra": "2"}, params={"q": "a b"}
        ) as ws:
            ws.send_text("x")
            ws.receive_text()
    scope = raw.scopes[0]
    assert scope["type"] == "websocket"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["scheme"] == "ws"
    assert scope["path"] == "/café/room"
    assert scope["raw_path"] == b"/caf%C3%A9/room"
    assert scope["query_string"] == b"q=a+b"
    assert scope["root_path"] == ""
    assert scope["client"] == ("testclient", 50000)
    assert scope["server"] == ("testserver", 80)
    assert scope["subprotocols"] == ["chat", "superchat"]
    assert scope["state"] == {"db": "connected"}
    assert scope["extensions"] == {"websocket.http.response": {}}
    headers = dict(scope["headers"])
    assert headers[b"host"] == b"testserver"
    assert headers[b"connection"] == b"upgrade"
    assert headers[b"upgrade"] == b"websocket"
    assert headers[b"sec-websocket-version"] == b"13"
    assert len(headers[b"sec-websocket-key"]) == 24
    assert headers[b"sec-websocket-protocol"] == b"chat, superchat"
    assert headers[b"cookie"] == b"session=abc"
    assert headers[b"x-default"] == b"1"
    assert headers[b"x-extra"] == b"2"
    assert headers[b"user-agent"] == b"testclient"
    assert b"content-length" not in headers
    assert all(k == k.lower() for k, _ in scope["headers"])
    assert raw.received[0] == {"type": "websocket.connect"}


def test_secure_base_url_gives_wss(anyio_backend: str) -> None:
    raw = RawApp()
    client = TestClient(raw, base_url="https://example.org", backend=anyio_backend)
    with client.websocket_connect("/") as ws:
        ws.send_text("x")
        ws.receive_text()
    with client.websocket_connect("ws://other.test:8080/abs") as ws:
        ws.send_text("x")
        ws.receive_text()
    assert raw.scopes[0]["scheme"] == "wss"
    assert raw.scopes[0]["server"] == ("example.org", 443)
    assert raw.scopes[1]["scheme"] == "ws"
    assert raw.scopes[1]["server"] == ("other.test", 8080)
    assert raw.scopes[1]["path"] == "/abs"


# -- app errors and protocol errors --------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "error", "match"),
    [
        ("fail-first", ValueError, "broken handshake"),
        ("nothing", RuntimeError, "returned without accepting"),
        ("send-first", RuntimeError, "'websocket.send' before the handshake"),
        ("bad-subprotocol", RuntimeError, "did not offer"),
    ],
)
def test_handshake_failures_are_raised(
    anyio_backend: str, script: str, error: type[Exception], match: str
) -> None:
    with TestClient(RawApp(script), backend=anyio_backend) as client:
        with pytest.raises(error, match=match):
            with client.websocket_connect("/"):
                pass


def test_handshake_failures_without_raising(anyio_backend: str) -> None:
    for script in ("fail-first", "nothing"):
        client = TestClient(RawApp(script), backend=anyio_backend, raise_server_exceptions=False)
        with pytest.raises(WebSocketDenied) as denied:
            with client.websocket_connect("/"):
                pass
        assert denied.value.status_code == 500
    closed = TestClient(RawApp("close-first"), backend=anyio_backend)
    with pytest.raises(WebSocketDenied) as refused:
        with closed.websocket_connect("/"):
            pass
    assert (refused.value.status_code, refused.value.body) == (403, b"")


def test_errors_after_accept(anyio_backend: str) -> None:
    with TestClient(RawApp("fail-after"), backend=anyio_backend) as client:
        with pytest.raises(ValueError, match="broken after accept"):
            with client.websocket_connect("/") as ws:
                ws.receive()
    quiet = TestClient(RawApp("fail-after"), backend=anyio_backend, raise_server_exceptions=False)
    with quiet.websocket_connect("/") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive()
        assert closed.value.code == 1011
    with TestClient(RawApp("return-after"), backend=anyio_backend) as client:
        with client.websocket_connect("/") as ws:
            with pytest.raises(WebSocketDisconnect) as returned:
                ws.receive()
            assert returned.value.code == 1006
    # an armature handler's error is caught by the app, which closes with 1011
    with TestClient(make_app([]), backend=anyio_backend) as client:
        with client.websocket_connect("/crash") as ws:
            with pytest.raises(WebSocketDisconnect) as crashed:
                ws.receive()
            assert crashed.value.code == 1011


def test_error_after_accept_is_raised_when_leaving_the_block(anyio_backend: str) -> None:
    with TestClient(RawApp("fail-after"), backend=anyio_backend) as client:
        with pytest.raises(ValueError, match="broken after accept"):
            with client.websocket_connect("/"):
                pass


def test_sending_after_the_client_left_raises_oserror_in_the_app(anyio_backend: str) -> None:
    raw = RawApp("chatty")
    with TestClient(raw, backend=anyio_backend) as client:
        with client.websocket_connect("/") as ws:
            assert ws.receive_text() == "tick"
    # the app's OSError is how ASGI 2.4 reports a gone client: not an error of the test
    assert len(raw.errors) == 1 and isinstance(raw.errors[0], OSError)


# -- async client --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_session_round_trip() -> None:
    log: list[str] = []
    async with AsyncTestClient(make_app(log)) as client:
        async with client.websocket_connect("/greet/bob") as ws:
            assert ws.extra_headers["x-greeting"] == "yes"
            assert await ws.receive_text() == "hello bob"
            await ws.send_json({"n": 2})
            assert await ws.receive_json() == {"echo": {"n": 2}}
            await ws.send_text('"text json"')
            assert await ws.receive_json() == {"echo": "text json"}
        assert log == ["handler done"]
        async with client.websocket_connect("/bytes") as ws:
            await ws.send_bytes(b"xy")
            assert await ws.receive_bytes() == b"xyxy"
            await ws.send({"type": "websocket.receive", "bytes": b"z"})
            assert await ws.receive() == {"type": "websocket.send", "text": None, "bytes": b"zz"}
            with pytest.raises(TimeoutError):
                await ws.receive(timeout=0.05)
        async with client.websocket_connect("/goodbye") as ws:
            await ws.close(4001, "later")
        assert log[-1] == "client left 4001 later"
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/needs-token"):
                pass
        assert denied.value.status_code == 422


@pytest.mark.anyio
async def test_async_session_without_lifespan_block() -> None:
    raw = RawApp()
    async with AsyncTestClient(raw).websocket_connect("/", subprotocols=["p"]) as ws:
        assert ws.accepted_subprotocol == "p"
        await ws.send_bytes(b"abc")
        assert await ws.receive_bytes() == b"cba"
        await ws.send_json({"k": 1}, mode="binary")
        assert await ws.receive_bytes() == b'}1:"k"{'
    assert raw.received[-1] == {"type": "websocket.disconnect", "code": 1000}
    with pytest.raises(ValueError, match="broken handshake"):
        async with AsyncTestClient(RawApp("fail-first")).websocket_connect("/"):
            pass


@pytest.mark.anyio
async def test_two_sessions_at_once() -> None:
    async with AsyncTestClient(ws_app.app) as client:
        async with client.websocket_connect("/echo/a") as first:
            async with client.websocket_connect("/echo/b") as second:
                await second.send_text("2")
                await first.send_text("1")
                assert await first.receive_text() == "a:1"
                assert await second.receive_text() == "b:2"


def test_sessions_must_be_entered(anyio_backend: str) -> None:
    session = TestClient(RawApp(), backend=anyio_backend).websocket_connect("/")
    with pytest.raises(RuntimeError, match="context manager"):
        session.send_text("x")
    with pytest.raises(RuntimeError, match="context manager"):
        _ = session.accepted_subprotocol
