"""A websocket app for real-server tests."""

from __future__ import annotations

from typing import Annotated

from armature import App, Query, WebSocket

app = App()
events: list[str] = []


@app.websocket("/echo/{room}")
async def echo(websocket: WebSocket, room: str, upper: bool = False) -> None:
    await websocket.accept(subprotocol="chat" if "chat" in websocket.subprotocols else None)
    async for text in websocket.iter_text():
        await websocket.send_text(f"{room}:{text.upper() if upper else text}")


@app.websocket("/json")
async def json_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    data = await websocket.receive_json()
    await websocket.send_json({"got": data})
    await websocket.close(4001, "done")


@app.websocket("/private")
async def private(websocket: WebSocket, token: Annotated[str | None, Query()] = None) -> None:
    if token != "secret":
        await websocket.deny(403, b"no entry")
        return
    await websocket.accept()
    await websocket.send_text("welcome")
