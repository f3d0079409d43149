"""A chat with rooms: websockets fanned out through :class:`armature.broadcast.Broadcast`.

Run it, then open http://127.0.0.1:8000/ in two browser tabs::

    granian --interface asgi examples.chat_app:app
    uvicorn examples.chat_app:app

A client joins a room by its path, ``/ws/{room}?name=ada``, and every text message it sends goes
to everyone in that room as JSON: ``{"type": "message", "user": "ada", "text": "hi"}``; joins and
departures are announced with ``{"type": "join"|"leave", "user": ..., "members": n}``. The
broadcast uses the in-memory backend, so one worker process; a backend over Redis pub/sub would
let several workers share rooms without changing the handlers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from armature import App, HTMLResponse, Path, Query, Request, WebSocket
from armature.broadcast import Broadcast

MAX_MESSAGE = 1000
Room = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
Name = Annotated[str, Query(min_length=1, max_length=32)]


@asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
    # NOTE: one Broadcast per app run, connected for the app's lifetime.
    async with Broadcast(max_buffer=100) as broadcast:
        yield {"broadcast": broadcast}


app = App(lifespan=lifespan, title="armature chat")


@app.get("/")
async def index() -> HTMLResponse:
    return HTMLResponse(PAGE)


@app.get("/rooms/{room}")
async def room_info(room: Room, request: Request) -> dict[str, Any]:
    broadcast: Broadcast = request.state.broadcast
    return {"room": room, "members": len(broadcast.members(room))}


@app.websocket("/ws/{room}")
async def chat(websocket: WebSocket, room: Room, name: Name = "anonymous") -> None:
    broadcast: Broadcast = websocket.state.broadcast
    await websocket.accept()
    broadcast.join(room, websocket)
    try:
        members = len(broadcast.members(room))
        await broadcast.publish_to_room(room, {"type": "join", "user": name, "members": members})
        async for text in websocket.iter_text():
            if len(text) > MAX_MESSAGE:
                # NOTE: only the sender hears about its mistake.
                await websocket.send_json({"type": "error", "detail": "message too long"})
                continue
            await broadcast.publish_to_room(room, {"type": "message", "user": name, "text": text})
    finally:
        broadcast.leave(room, websocket)
        if broadcast.connected:  # NOTE: not when the server is shutting down
            members = len(broadcast.members(room))
            event = {"type": "leave", "user": name, "members": members}
            await broadcast.publish_to_room(room, event)


PAGE = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>armature chat</title>
<style>
  body { font: 16px system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
  #log { border: 1px solid #ccc; height: 20rem; overflow-y: auto; padding: .5rem; }
  .note { color: #777; }
</style>
<form id="join">
  <input id="room" value="lobby" pattern="[A-Za-z0-9_-]{1,32}" required>
  <input id="name" placeholder="your name" maxlength="32" required>
  <button>Join</button>
</form>
<div id="log"></div>
<form id="say"><input id="text" autocomplete="off" maxlength="1000"> <button>Send</button></form>
<script>
let socket = null;
const log = document.getElementById("log");
function show(text, note) {
  const line = document.createElement("div");
  line.textContent = text;
  if (note) line.className = "note";
  log.append(line);
  log.scrollTop = log.scrollHeight;
}
document.getElementById("join").onsubmit = (event) => {
  event.preventDefault();
  if (socket) socket.close();
  const room = document.getElementById("room").value;
  const name = encodeURIComponent(document.getElementById("name").value);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/${room}?name=${name}`);
  socket.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.type === "message") show(`${data.user}: ${data.text}`);
    else if (data.type === "error") show(data.detail, true);
    else show(`${data.user} ${data.type === "join" ? "joined" : "left"} (${data.members})`, true);
  };
  socket.onclose = () => show("disconnected", true);
};
document.getElementById("say").onsubmit = (event) => {
  event.preventDefault();
  const input = document.getElementById("text");
  if (socket && input.value) socket.send(input.value);
  input.value = "";
};
</script>
</html>
"""
