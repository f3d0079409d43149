"""WebSockets: routing and binding through the ASGI entry point, and over real servers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Annotated, Any

import anyio
import pytest
import websockets
from _servers import SERVERS, run_server

from armature import App, Depends, WebSocket
from armature.websockets import WebSocketDisconnect


class Conversation:
    """Drive one websocket connection with raw ASGI messages."""

    def __init__(self, app: App, path: str, query: bytes = b"", extensions: Any = None) -> None:
        self.app = app
        self.scope = {
            "type": "websocket",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": query,
            "headers": [(b"host", b"test")],
            "subprotocols": [],
            "extensions": extensions or {},
        }
        self.inbox: list[dict[str, Any]] = [{"type": "websocket.connect"}]
        self.sent: list[dict[str, Any]] = []
        self.event = anyio.Event()

    async def receive(self) -> dict[str, Any]:
        while not self.inbox:
            await anyio.sleep(0)
        return self.inbox.pop(0)

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def run(self, *client_messages: dict[str, Any]) -> list[dict[str, Any]]:
        self.inbox.extend(client_messages)
        with anyio.fail_after(5):
            await self.app(self.scope, self.receive, self.send)
        return self.sent


def make_app(cleanups: list[str]) -> App:
    app = App()

    def resource() -> Iterator[str]:
        yield "db"
        cleanups.append("closed")

    @app.websocket("/rooms/{room_id:int}")
    async def room(
        websocket: WebSocket, room_id: int, name: str, res: Annotated[str, Depends(resource)]
    ) -> None:
        await websocket.accept()
        async for message in websocket.iter_json():
            await websocket.send_json({"room": room_id, "from": name, "msg": message, "res": res})

    @app.websocket("/boom")
    async def boom(websocket: WebSocket) -> None:
        await websocket.accept()
        raise RuntimeError("handler bug")

    @app.websocket("/silent")
    async def silent(websocket: WebSocket) -> None:
        return None

    @app.websocket("/gone")
    async def gone(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await websocket.receive_text()
        except WebSocketDisconnect as exc:
            cleanups.append(f"disconnect {exc.code}")
            raise

    return app


@pytest.mark.anyio
async def test_binding_di_and_cleanup() -> None:
    cleanups: list[str] = []
    app = make_app(cleanups)
    sent = await Conversation(app, "/rooms/7", b"name=ada").run(
        {"type": "websocket.receive", "text": '{"hi": 1}'},
        {"type": "websocket.disconnect", "code": 1000},
    )
    assert sent[0]["type"] == "websocket.accept"
    assert sent[1] == {
        "type": "websocket.send",
        "text": '{"room":7,"from":"ada","msg":{"hi":1},"res":"db"}',
    }
    assert cleanups == ["closed"]


@pytest.mark.anyio
async def test_validation_error_denies_handshake() -> None:
    app = make_app([])
    plain = await Conversation(app, "/rooms/7").run()
    assert plain == [{"type": "websocket.close", "code": 1008}]
    extended = await Conversation(app, "/rooms/7", extensions={"websocket.http.response": {}}).run()
    assert extended[0]["type"] == "websocket.http.response.start"
    assert extended[0]["status"] == 422
    assert b'"loc":["query","name"]' in extended[1]["body"]


@pytest.mark.anyio
async def test_errors_unknown_routes_and_unaccepted() -> None:
    app = make_app([])
    boom = await Conversation(app, "/boom").run()
    assert boom[-1] == {"type": "websocket.close", "code": 1011}
    assert await Conversation(app, "/nope").run() == [{"type": "websocket.close", "code": 1008}]
    assert await Conversation(app, "/silent").run() == [{"type": "websocket.close", "code": 1008}]


@pytest.mark.anyio
async def test_client_going_away_ends_handler_cleanly() -> None:
    cleanups: list[str] = []
    app = make_app(cleanups)
    sent = await Conversation(app, "/gone").run({"type": "websocket.disconnect", "code": 1001})
    assert sent == [{"type": "websocket.accept", "subprotocol": None}]
    assert cleanups == ["disconnect 1001"]


@pytest.fixture(scope="module", params=SERVERS)
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    with run_server(request.param, "apps.ws_app:app") as url:
        yield url.replace("http://", "ws://")


@pytest.mark.servers
def test_real_server_websockets(server: str) -> None:
    async def scenario() -> None:
        async with websockets.connect(
            f"{server}/echo/lobby?upper=true", subprotocols=["chat"]
        ) as ws:
            assert ws.subprotocol == "chat"
            await ws.send("hello")
            assert await ws.recv() == "lobby:HELLO"
        async with websockets.connect(f"{server}/json") as ws:
            await ws.send('{"a": [1, 2]}')
            assert await ws.recv() == '{"got":{"a":[1,2]}}'
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"{server}/private"):
                pass
        assert refused.value.response.status_code == 403
        async with websockets.connect(f"{server}/private?token=secret") as ws:
            assert await ws.recv() == "welcome"

    asyncio.run(scenario())


@pytest.mark.anyio
async def test_websockets_reach_mounted_apps() -> None:
    inner = App()

    @inner.websocket("/ping")
    async def ping(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(f"pong from {websocket.scope['root_path']}")

    outer = App()
    outer.mount("/inner", inner)
    sent = await Conversation(outer, "/inner/ping").run()
    assert sent[1] == {"type": "websocket.send", "text": "pong from /inner"}
