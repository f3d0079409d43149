"""examples/chat_app.py: rooms over websockets, in process and on granian, uvicorn and hypercorn."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from _servers import SERVERS, run_server

from armature.testing import AsyncTestClient, TestClient, WebSocketDenied
from examples.chat_app import MAX_MESSAGE, app


def test_page_is_served() -> None:
    with TestClient(app) as client:
        page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "new WebSocket(" in page.text


def test_two_sessions_in_the_same_room(anyio_backend: str) -> None:
    with TestClient(app, backend=anyio_backend) as client:
        with client.websocket_connect("/ws/lobby", params={"name": "ada"}) as ada:
            assert ada.receive_json() == {"type": "join", "user": "ada", "members": 1}
            with client.websocket_connect("/ws/lobby", params={"name": "bob"}) as bob:
                joined = {"type": "join", "user": "bob", "members": 2}
                assert ada.receive_json() == joined
                assert bob.receive_json() == joined
                assert client.get("/rooms/lobby").json() == {"room": "lobby", "members": 2}

                ada.send_text("hello bob")
                said = {"type": "message", "user": "ada", "text": "hello bob"}
                assert bob.receive_json() == said
                assert ada.receive_json() == said  # the sender sees its own message too
                bob.send_text("hi ada")
                replied = {"type": "message", "user": "bob", "text": "hi ada"}
                assert ada.receive_json() == replied
                assert bob.receive_json() == replied
            assert ada.receive_json() == {"type": "leave", "user": "bob", "members": 1}
        assert client.get("/rooms/lobby").json() == {"room": "lobby", "members": 0}


def test_rooms_are_separate_and_long_messages_are_refused(anyio_backend: str) -> None:
    with TestClient(app, backend=anyio_backend) as client:
        with (
            client.websocket_connect("/ws/lobby?name=ada") as ada,
            client.websocket_connect("/ws/attic?name=cy") as cy,
        ):
            assert ada.receive_json()["type"] == "join"
            assert cy.receive_json()["type"] == "join"
            cy.send_text("x" * (MAX_MESSAGE + 1))
            assert cy.receive_json() == {"type": "error", "detail": "message too long"}
            cy.send_text("upstairs only")
            assert cy.receive_json()["text"] == "upstairs only"
            ada.send_text("downstairs only")
            # nothing from the attic reached ada: her next frame is her own message
            assert ada.receive_json()["text"] == "downstairs only"


def test_bad_room_or_name_is_refused() -> None:
    with TestClient(app) as client:
        for path in ("/ws/no%20spaces?name=ada", "/ws/lobby?name="):
            with pytest.raises(WebSocketDenied) as denied:
                with client.websocket_connect(path):
                    pass
            assert denied.value.status_code == 422
            assert denied.value.json()["status"] == 422


@pytest.mark.anyio
async def test_async_sessions() -> None:
    async with AsyncTestClient(app) as client:
        async with (
            client.websocket_connect("/ws/r1?name=a") as a,
            client.websocket_connect("/ws/r1?name=b") as b,
        ):
            await a.receive_json()
            assert (await a.receive_json())["user"] == "b"
            assert (await b.receive_json())["user"] == "b"
            await b.send_text("from b")
            assert (await a.receive_json())["text"] == "from b"


@pytest.mark.servers
@pytest.mark.parametrize("kind", SERVERS)
def test_room_over_real_servers(kind: str) -> None:
    # NOTE: room messages are sent by the broadcast's sender tasks, not by the handler's task.
    async def scenario(base: str) -> None:
        async with websockets.connect(f"{base}/ws/lobby?name=ada") as ada:
            assert json.loads(await ada.recv())["user"] == "ada"
            async with websockets.connect(f"{base}/ws/lobby?name=bob") as bob:
                assert json.loads(await ada.recv()) == json.loads(await bob.recv())
                await ada.send("hi")
                said = {"type": "message", "user": "ada", "text": "hi"}
                assert json.loads(await bob.recv()) == said
                assert json.loads(await ada.recv()) == said
            left = await asyncio.wait_for(ada.recv(), 10)
            assert json.loads(left) == {"type": "leave", "user": "bob", "members": 1}

    with run_server(kind, "examples.chat_app:app") as url:
        asyncio.run(scenario(url.replace("http://", "ws://")))
