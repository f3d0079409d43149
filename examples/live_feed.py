"""A live feed over server-sent events, with event ids and ``Last-Event-ID`` resume.

Run it, open http://127.0.0.1:8000/ and post events from another terminal::

    granian --interface asgi examples.live_feed:app
    curl -X POST localhost:8000/events -H 'content-type: application/json' \\
         -d '{"kind": "deploy", "text": "v2 is live"}'

``GET /events/stream`` is an ``EventSource`` endpoint. Every event carries its id; a browser that
loses the connection reconnects by itself and sends the last id it saw as ``Last-Event-ID``, and
the stream first replays what it missed (from the last ``KEEP`` events) before going live. Clients
that cannot set headers may pass ``?last_event_id=`` instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from pydantic import BaseModel, Field

from armature import App, HTMLResponse, Query, Request
from armature.broadcast import Broadcast
from armature.sse import EventSourceResponse, ServerSentEvent, last_event_id

KEEP = 100
CHANNEL = "feed"
RETRY_MS = 2000
EVENT = "feed"  # the EventSource event type: addEventListener("feed", ...)


class EventIn(BaseModel):
    """What a publisher posts."""

    kind: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_-]+$")
    text: str = Field(min_length=1, max_length=500)


class Feed:
    """The recent events (for replays) and the broadcast that carries new ones."""

    def __init__(self, broadcast: Broadcast, keep: int = KEEP) -> None:
        self.broadcast = broadcast
        self.recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self.last_id = 0

    async def add(self, event: EventIn) -> dict[str, Any]:
        """Number the event, keep it, and publish it to the live streams."""
        self.last_id += 1
        record = {"id": self.last_id, "kind": event.kind, "text": event.text}
        self.recent.append(record)
        await self.broadcast.publish(CHANNEL, record)
        return record

    def since(self, last_id: int | None) -> list[dict[str, Any]]:
        """The kept events after ``last_id`` (all of them when ``None``)."""
        return [e for e in self.recent if last_id is None or e["id"] > last_id]


def to_event(record: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(record, event=EVENT, id=str(record["id"]))


def parse_id(value: str | None) -> int | None:
    # NOTE: an id this server never issued is ignored: the client gets what is kept.
    return int(value) if value is not None and value.isdigit() else None


@asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
    async with Broadcast() as broadcast:
        yield {"feed": Feed(broadcast)}


app = App(lifespan=lifespan, title="armature live feed")


@app.post("/events", status_code=201)
async def publish(event: EventIn, request: Request) -> dict[str, Any]:
    feed: Feed = request.state.feed
    return await feed.add(event)


@app.get("/events")
async def recent(request: Request) -> list[dict[str, Any]]:
    feed: Feed = request.state.feed
    return feed.since(None)


@app.get("/events/stream")
async def stream(
    request: Request,
    last_event_id_param: Annotated[str | None, Query(alias="last_event_id")] = None,
) -> EventSourceResponse:
    feed: Feed = request.state.feed
    resume = parse_id(last_event_id(request) or last_event_id_param)

    async def events() -> AsyncIterator[ServerSentEvent]:
        # NOTE: subscribe before reading the backlog, so nothing published in between is lost;
        # ids already replayed are skipped when they come through the subscription.
        async with feed.broadcast.subscribe(CHANNEL) as subscriber:
            yield ServerSentEvent(retry=RETRY_MS)
            sent = resume or 0
            for record in feed.since(resume):
                yield to_event(record)
                sent = record["id"]
            async for record in subscriber:
                if record["id"] > sent:
                    yield to_event(record)
                    sent = record["id"]

    return EventSourceResponse(events())


@app.get("/")
async def index() -> HTMLResponse:
    return HTMLResponse(PAGE)


PAGE = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>armature live feed</title>
<style>body { font: 16px system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }</style>
<h1>Live feed</h1>
<p id="status">connecting...</p>
<ul id="events"></ul>
<script>
const list = document.getElementById("events");
const status = document.getElementById("status");
const source = new EventSource("/events/stream");
source.onopen = () => { status.textContent = "live"; };
source.onerror = () => { status.textContent = "reconnecting..."; };
source.addEventListener("feed", (message) => {
  const record = JSON.parse(message.data);
  const item = document.createElement("li");
  item.textContent = `#${record.id} [${record.kind}] ${record.text}`;
  list.prepend(item);
});
</script>
</html>
"""
