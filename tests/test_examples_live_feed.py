"""examples/live_feed.py: an SSE feed with ids, Last-Event-ID resume and live events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
from test_sse import parse_stream

from armature.testing import TestClient
from examples.live_feed import RETRY_MS, app


def read_events(response: httpx.Response, count: int) -> Iterator[dict[str, Any]]:
    """Parse ``count`` events off a streamed response (the stream stays open)."""
    buffer = ""
    seen = 0
    for text in response.iter_text():
        buffer += text
        events, _ = parse_stream(buffer)
        yield from events[seen:]
        seen = len(events)
        if seen >= count:
            return


def post(client: TestClient, kind: str, text: str) -> dict[str, Any]:
    response = client.post("/events", json={"kind": kind, "text": text})
    assert response.status_code == 201
    return dict(response.json())


def test_replay_then_live(anyio_backend: str) -> None:
    with TestClient(app, backend=anyio_backend) as client:
        for n in range(1, 4):
            assert post(client, "note", f"n{n}")["id"] == n
        with client.stream("GET", "/events/stream") as response:
            assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
            events = read_events(response, 4)
            replayed = [next(events) for _ in range(3)]
            assert [e["id"] for e in replayed] == ["1", "2", "3"]
            assert {e["event"] for e in replayed} == {"feed"}
            assert orjson.loads(replayed[0]["data"]) == {"id": 1, "kind": "note", "text": "n1"}
            post(client, "deploy", "v2 is live")  # arrives on the open stream
            live = next(events)
            assert live["id"] == "4"
            assert orjson.loads(live["data"])["text"] == "v2 is live"


def test_resume_from_last_event_id(anyio_backend: str) -> None:
    with TestClient(app, backend=anyio_backend) as client:
        for n in range(5):
            post(client, "note", f"n{n}")
        with client.stream("GET", "/events/stream", headers={"Last-Event-ID": "3"}) as response:
            first_two = list(read_events(response, 2))
        assert [e["id"] for e in first_two] == ["4", "5"]
        with client.stream("GET", "/events/stream", params={"last_event_id": "4"}) as response:
            assert [e["id"] for e in read_events(response, 1)] == ["5"]
        # an id this server never issued replays what it keeps
        with client.stream("GET", "/events/stream", headers={"Last-Event-ID": "x"}) as response:
            assert [e["id"] for e in read_events(response, 5)] == ["1", "2", "3", "4", "5"]


def test_retry_is_announced_and_bad_events_are_refused() -> None:
    with TestClient(app) as client:
        post(client, "note", "one")
        with client.stream("GET", "/events/stream") as response:
            buffer = b""
            for chunk in response.iter_bytes():
                buffer += chunk
                if b"data:" in buffer:
                    break
        assert buffer.startswith(f"retry: {RETRY_MS}\n\n".encode())
        assert parse_stream(buffer.decode())[1]["retry"] == RETRY_MS
        bad = client.post("/events", json={"kind": "Not Valid", "text": ""})
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
        assert client.get("/events").json() == [{"id": 1, "kind": "note", "text": "one"}]


def test_page_is_served() -> None:
    with TestClient(app) as client:
        page = client.get("/")
    assert page.status_code == 200
    assert 'new EventSource("/events/stream")' in page.text
