"""Server-sent events: the wire format, the response, keep-alive pings and disconnects, in process.

What the browser sees is checked with a parser that follows the HTML "event stream" interpretation
rules, so the encoder is tested against the reading side, not against its own output.
"""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from armature import App, Request, WebSocket
from armature.sse import EventSourceResponse, ServerSentEvent, encode_item, last_event_id
from armature.testing import AsyncTestClient, TestClient

# -- a reference parser (HTML Living Standard, 9.2.6 "Interpreting an event stream") -------------


def parse_stream(text: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Return the dispatched events and the final parser state (last id, retry, comments)."""
    events: list[dict[str, Any]] = []
    data: list[str] | None = None
    event_type = ""
    last_id = ""
    state: dict[str, Any] = {"retry": None, "comments": []}
    lines = re.split(r"\r\n|\r|\n", text)
    for line in lines[:-1]:  # NOTE: an unterminated last line is never processed.
        if line == "":
            if data is not None:
                events.append({"data": "\n".join(data), "event": event_type or "message",
                               "id": last_id})  # fmt: skip
            data, event_type = None, ""
            continue
        if line.startswith(":"):
            state["comments"].append(line[1:].removeprefix(" "))
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data = [*(data or []), value]
        elif name == "event":
            event_type = value
        elif name == "id" and "\x00" not in value:
            last_id = value
        elif name == "retry" and value.isdigit():
            state["retry"] = int(value)
    state["last_id"] = last_id
    return events, state


def parse(raw: bytes) -> list[dict[str, Any]]:
    return parse_stream(raw.decode("utf-8"))[0]


# -- encoding ------------------------------------------------------------------------------------


def test_event_fields_in_wire_order() -> None:
    event = ServerSentEvent("hi", event="greeting", id="7", retry=2500, comment="c")
    assert event.encode() == b": c\nevent: greeting\nid: 7\nretry: 2500\ndata: hi\n\n"


def test_multiline_data_becomes_several_data_lines() -> None:
    assert ServerSentEvent("a\nb\r\nc\rd").encode() == b"data: a\ndata: b\ndata: c\ndata: d\n\n"
    assert parse(ServerSentEvent("a\nb\r\nc\rd").encode()) == [
        {"data": "a\nb\nc\nd", "event": "message", "id": ""}
    ]
    # only CR and LF end lines in SSE: other Unicode line separators stay inside the data
    odd = "x\u2028y\x0bz\x1c"
    assert ServerSentEvent(odd).encode() == f"data: {odd}\n\n".encode()
    assert parse(ServerSentEvent(odd).encode())[0]["data"] == odd


def test_non_string_data_is_json() -> None:
    class Point(BaseModel):
        x: int
        y: int

    assert ServerSentEvent({"a": [1, 2]}).encode() == b'data: {"a":[1,2]}\n\n'
    assert ServerSentEvent(3).encode() == b"data: 3\n\n"
    assert ServerSentEvent(Point(x=1, y=2)).encode() == b'data: {"x":1,"y":2}\n\n'
    assert ServerSentEvent("ünï".encode()).encode() == "data: ünï\n\n".encode()
    with pytest.raises(UnicodeDecodeError):
        ServerSentEvent(b"\xff").encode()


def test_comment_only_retry_only_and_empty_values() -> None:
    assert ServerSentEvent(comment="one\ntwo").encode() == b": one\n: two\n\n"
    assert ServerSentEvent(comment="").encode() == b":\n\n"
    assert ServerSentEvent(retry=0).encode() == b"retry: 0\n\n"
    # an empty id resets the client's last event id; empty data is still an event
    events, state = parse_stream(
        (ServerSentEvent("x", id="1").encode() + ServerSentEvent("", id="").encode()).decode()
    )
    assert events == [{"data": "x", "event": "message", "id": "1"},
                      {"data": "", "event": "message", "id": ""}]  # fmt: skip
    assert state["last_id"] == ""


@pytest.mark.parametrize("sep", ["\n", "\r\n", "\r"])
def test_separators(sep: str) -> None:
    raw = ServerSentEvent("a\nb", event="e", id="1").encode(sep)
    assert raw == f"event: e{sep}id: 1{sep}data: a{sep}data: b{sep}{sep}".encode()
    assert parse(raw) == [{"data": "a\nb", "event": "e", "id": "1"}]


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\x00b"])
def test_event_and_id_refuse_line_breaks_and_nul(bad: str) -> None:
    with pytest.raises(ValueError, match="event must not contain"):
        ServerSentEvent("x", event=bad)
    with pytest.raises(ValueError, match="id must not contain"):
        ServerSentEvent("x", id=bad)


def test_invalid_events() -> None:
    with pytest.raises(ValueError, match="retry"):
        ServerSentEvent("x", retry=-1)
    with pytest.raises(ValueError, match="retry"):
        ServerSentEvent("x", retry=True)
    with pytest.raises(ValueError, match="at least one"):
        ServerSentEvent()


def test_items_of_every_kind() -> None:
    assert encode_item("plain") == b"data: plain\n\n"
    assert encode_item("two\nlines") == b"data: two\ndata: lines\n\n"
    assert encode_item(b"raw") == b"data: raw\n\n"
    assert encode_item([1, "a"]) == b'data: [1,"a"]\n\n'
    assert encode_item({"data": {"k": 1}, "event": "e", "id": "9"}) == (
        b'event: e\nid: 9\ndata: {"k":1}\n\n'
    )
    assert encode_item({"comment": "hi"}, "\r\n") == b": hi\r\n\r\n"
    with pytest.raises(ValueError, match=r"unknown SSE event fields \['price'\]"):
        encode_item({"price": 3})
    with pytest.raises(ValueError, match="id must not contain"):
        encode_item({"data": "x", "id": "1\n2"})
    with pytest.raises(TypeError, match="yielded None"):
        encode_item(None)


def test_event_equality_and_repr() -> None:
    assert ServerSentEvent("a", id="1") == ServerSentEvent("a", id="1")
    assert ServerSentEvent("a", id="1") != ServerSentEvent("a", id="2")
    assert repr(ServerSentEvent("a", id="1")) == "ServerSentEvent(data='a', id='1')"


_field = st.text(st.characters(exclude_characters="\r\n\x00", exclude_categories=("Cs",)))


@given(
    data=st.text(st.characters(exclude_categories=("Cs",))),
    event=st.none() | _field.filter(bool),
    id=st.none() | _field,
    sep=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_browser_reads_back_what_was_sent(
    data: str, event: str | None, id: str | None, sep: str
) -> None:
    raw = ServerSentEvent(data, event=event, id=id).encode(sep)
    events, state = parse_stream(raw.decode("utf-8"))
    assert events == [{"data": re.sub(r"\r\n|\r", "\n", data), "event": event or "message",
                       "id": id or ""}]  # fmt: skip
    assert state["last_id"] == (id or "")


class PatientClient(AsyncTestClient):
    """Waits a minute for an app to finish after an early close: only the response's own
    disconnect handling can end the stream in time for the tests' hang guard."""

    disconnect_grace = 60.0


class PatientSyncClient(TestClient):
    disconnect_grace = 60.0


# -- the response --------------------------------------------------------------------------------


def test_response_headers_and_validation() -> None:
    response = EventSourceResponse(iter(()))
    headers = dict(response.raw_headers)
    assert headers[b"content-type"] == b"text/event-stream; charset=utf-8"
    assert headers[b"cache-control"] == b"no-cache"
    assert headers[b"x-accel-buffering"] == b"no"
    assert b"content-length" not in headers
    custom = EventSourceResponse(iter(()), headers={"Cache-Control": "no-store", "X-A": "1"})
    assert dict(custom.raw_headers)[b"cache-control"] == b"no-store"
    assert [k for k, _ in custom.raw_headers].count(b"cache-control") == 1
    with pytest.raises(ValueError, match="sep"):
        EventSourceResponse(iter(()), sep="\n\n")
    with pytest.raises(ValueError, match="ping_interval"):
        EventSourceResponse(iter(()), ping_interval=0)


def make_app(log: list[str], gate: dict[str, Any] | None = None) -> App:
    app = App()

    @app.get("/mixed")
    async def mixed() -> EventSourceResponse:
        async def events() -> AsyncIterator[Any]:
            yield ServerSentEvent({"n": 1}, event="tick", id="1")
            yield {"data": "dict", "id": "2", "retry": 1000}
            yield "text\nwith lines"
            yield b"bytes"
            yield [1, 2]

        return EventSourceResponse(events(), background=lambda: log.append("background"))

    @app.get("/sync")
    async def sync_events() -> EventSourceResponse:
        def events() -> Iterator[str]:
            log.append(f"thread {threading.current_thread() is threading.main_thread()}")
            yield "one"
            yield "two"

        return EventSourceResponse(events(), sep="\r\n")

    @app.get("/list")
    async def listed() -> EventSourceResponse:
        return EventSourceResponse([ServerSentEvent("a", id="1"), ServerSentEvent("b", id="2")])

    @app.get("/endless")
    async def endless(idle: bool = False) -> EventSourceResponse:
        async def events() -> AsyncIterator[ServerSentEvent]:
            n = 0
            try:
                while True:
                    n += 1
                    yield ServerSentEvent(n, id=str(n))
                    if idle:
                        await anyio.sleep(3600)
            finally:
                log.append(f"finally after {n}")

        return EventSourceResponse(events())

    @app.get("/endless-sync")
    async def endless_sync() -> EventSourceResponse:
        def events() -> Iterator[str]:
            try:
                while True:
                    yield "tick"
            finally:
                log.append("sync finally")

        return EventSourceResponse(events())

    @app.get("/async-cleanup")
    async def async_cleanup() -> EventSourceResponse:
        async def events() -> AsyncIterator[str]:
            try:
                while True:
                    yield "tick"
            finally:
                # suspended at a yield when the client leaves: awaits in finally still run
                await anyio.sleep(0.01)
                log.append("async cleanup done")

        return EventSourceResponse(events())

    @app.get("/broken")
    async def broken() -> EventSourceResponse:
        async def events() -> AsyncIterator[str]:
            yield "fine"
            raise RuntimeError("feed failed")

        return EventSourceResponse(events())

    @app.get("/idle")
    async def idle(ping: float | None = None) -> EventSourceResponse:
        assert gate is not None

        async def events() -> AsyncIterator[str]:
            yield "first"
            await gate["release"].wait()
            yield "last"

        return EventSourceResponse(events(), ping_interval=ping)

    @app.get("/resume")
    async def resume(request: Request) -> EventSourceResponse:
        start = int(last_event_id(request) or 0)
        return EventSourceResponse(
            ServerSentEvent(n, id=str(n)) for n in range(start + 1, start + 3)
        )

    return app


@pytest.mark.anyio
async def test_events_of_every_kind_through_the_app() -> None:
    log: list[str] = []
    async with AsyncTestClient(make_app(log)) as client:
        response = await client.get("/mixed")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    events, state = parse_stream(response.text)
    assert events == [
        {"data": '{"n":1}', "event": "tick", "id": "1"},
        {"data": "dict", "event": "message", "id": "2"},
        {"data": "text\nwith lines", "event": "message", "id": "2"},
        {"data": "bytes", "event": "message", "id": "2"},
        {"data": "[1,2]", "event": "message", "id": "2"},
    ]
    assert state["retry"] == 1000
    assert log == ["background"]


@pytest.mark.anyio
async def test_sync_iterators_run_in_a_worker_thread() -> None:
    log: list[str] = []
    async with AsyncTestClient(make_app(log)) as client:
        sync = await client.get("/sync")
        listed = await client.get("/list")
    assert sync.content == b"data: one\r\n\r\ndata: two\r\n\r\n"
    assert log == ["thread False"]
    assert [e["id"] for e in parse(listed.content)] == ["1", "2"]


@pytest.mark.anyio
async def test_last_event_id_resumes() -> None:
    async with AsyncTestClient(make_app([])) as client:
        fresh = await client.get("/resume")
        resumed = await client.get("/resume", headers={"Last-Event-ID": "41"})
    assert [e["id"] for e in parse(fresh.content)] == ["1", "2"]
    assert [e["data"] for e in parse(resumed.content)] == ["42", "43"]


def test_last_event_id_helper() -> None:
    def scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
        return {"type": "http", "headers": list(headers)}

    assert last_event_id(Request(scope((b"last-event-id", b"17")))) == "17"
    assert last_event_id(Request(scope())) is None
    assert last_event_id(Request(scope((b"last-event-id", b"  ")))) is None
    assert last_event_id(scope((b"last-event-id", "é-1".encode()))) == "é-1"
    assert last_event_id(scope((b"last-event-id", b"\xe9"))) == "é"  # not UTF-8: latin-1
    websocket_scope = {**scope((b"last-event-id", b"3")), "type": "websocket"}
    assert last_event_id(WebSocket(websocket_scope, None, None)) == "3"  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_pings_while_idle_only(anyio_backend: str) -> None:
    gate: dict[str, Any] = {}
    async with AsyncTestClient(make_app([], gate)) as client:
        gate["release"] = anyio.Event()
        body = b""
        async with client.stream("GET", "/idle", params={"ping": 0.02}) as response:
            async for chunk in response.aiter_bytes():
                body += chunk
                if body.count(b": ping\n\n") == 2:
                    gate["release"].set()
        assert body.startswith(b"data: first\n\n: ping\n\n: ping\n\n")
        assert body.endswith(b"data: last\n\n")
        assert [e["data"] for e in parse(body)] == ["first", "last"]
        assert parse_stream(body.decode())[1]["comments"][:2] == ["ping", "ping"]

        # no pings at all with ping_interval=None, however long the iterator idles
        gate["release"] = anyio.Event()
        body = b""
        async with client.stream("GET", "/idle") as response:
            async for chunk in response.aiter_bytes():
                body += chunk
                if body == b"data: first\n\n":
                    await anyio.sleep(0.1)
                    gate["release"].set()
        assert body == b"data: first\n\ndata: last\n\n"


@pytest.mark.anyio
@pytest.mark.parametrize("idle", [False, True])
async def test_async_generator_is_closed_when_the_client_leaves(
    anyio_backend: str, idle: bool
) -> None:
    log: list[str] = []
    with anyio.fail_after(10):
        async with PatientClient(make_app(log)) as client:
            async with client.stream("GET", "/endless", params={"idle": idle}) as response:
                async for line in response.aiter_lines():
                    if line == "data: 1":
                        break
            # NOTE: closing the response delivers http.disconnect; the generator's finally has run
            # by the time the close returns (both when suspended at a yield and inside an await).
            assert len(log) == 1 and log[0].startswith("finally after")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sync_client_early_close_runs_finally(backend: str) -> None:
    log: list[str] = []
    with PatientSyncClient(make_app(log), backend=backend) as client:
        for path in ("/endless", "/endless-sync", "/async-cleanup"):
            with client.stream("GET", path) as response:
                for _ in response.iter_lines():
                    break
            assert len(log) == 1 + ("/endless", "/endless-sync", "/async-cleanup").index(path)
    assert [entry.split(" after")[0] for entry in log] == [
        "finally",
        "sync finally",
        "async cleanup done",
    ]


@pytest.mark.anyio
async def test_errors_in_the_iterator_reach_the_test() -> None:
    async with AsyncTestClient(make_app([])) as client:
        with pytest.raises(RuntimeError, match="feed failed"):
            await client.get("/broken")
    async with AsyncTestClient(make_app([]), raise_server_exceptions=False) as client:
        body = b""
        with pytest.raises(Exception, match="incomplete|peer closed"):
            async with client.stream("GET", "/broken") as response:
                async for chunk in response.aiter_bytes():
                    body += chunk
        assert body == b"data: fine\n\n"
