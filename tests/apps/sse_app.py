"""An SSE app for real-server tests; what happens to each stream is appended to ARMATURE_SSE_LOG."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from armature import App, Request
from armature.sse import EventSourceResponse, ServerSentEvent, last_event_id

app = App()
LOG = Path(os.environ.get("ARMATURE_SSE_LOG", "/tmp/armature-sse.log"))


def record(line: str) -> None:
    with LOG.open("a") as handle:
        handle.write(line + "\n")


@app.get("/stream")
async def stream(
    request: Request, tag: str, idle: float = 60.0, ping: float | None = None
) -> EventSourceResponse:
    start = int(last_event_id(request) or 0)

    async def events() -> AsyncIterator[ServerSentEvent]:
        record(f"start {tag}")
        try:
            for n in range(start + 1, start + 4):
                yield ServerSentEvent({"n": n}, id=str(n))
            # NOTE: then silence; only keep-alive pings go out until the client leaves.
            await anyio.sleep(idle)
            yield ServerSentEvent("late", event="late")
        finally:
            record(f"finally {tag}")

    return EventSourceResponse(events(), ping_interval=ping)


@app.get("/finite")
async def finite() -> EventSourceResponse:
    return EventSourceResponse(
        [ServerSentEvent(f"event {n}\nsecond line", id=str(n)) for n in range(3)],
        headers={"x-feed": "finite"},
    )
