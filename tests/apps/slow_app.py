"""An app whose handlers outlive impatient clients; outcomes are written to ARMATURE_EVENTS."""

from __future__ import annotations

import os
from pathlib import Path

import anyio

from armature import App

app = App()
EVENTS = Path(os.environ.get("ARMATURE_EVENTS", "/tmp/armature-events.log"))


def record(line: str) -> None:
    with EVENTS.open("a") as handle:
        handle.write(line + "\n")


@app.get("/slow")
async def slow(tag: str) -> str:
    try:
        await anyio.sleep(30)
    except anyio.get_cancelled_exc_class():
        record(f"cancelled {tag}")
        raise
    record(f"finished {tag}")
    return "done"


@app.get("/fire", cancel_on_disconnect=False)
async def fire(tag: str) -> str:
    await anyio.sleep(0.5)
    record(f"finished {tag}")
    return "done"
