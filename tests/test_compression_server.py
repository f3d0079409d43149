"""CompressionMiddleware behind real servers (uvicorn, granian) over real HTTP/1.1.

The servers import this module as ``test_compression_server:app`` (``tests`` is on their path).
The SSE route waits for the client to acknowledge each event (``POST /ack/{n}``) before producing
the next one, so a compressor that held an event back would stall the stream instead of passing.
"""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import brotli
import httpx
import orjson
import pytest
from _servers import run_server

from armature import App, Request, Response, StreamingResponse
from armature_ext.compression import CompressionMiddleware

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

EVENTS = 5
DOC = orjson.dumps([{"id": i, "label": f"row {i}", "ok": i % 2 == 0} for i in range(2000)])

app = App()
app.add_middleware(CompressionMiddleware, decompress_requests=True)
_acks: dict[int, anyio.Event] = {}


@app.get("/doc")
async def doc() -> Response:
    return Response(DOC, media_type="application/json", headers={"etag": '"doc-1"'})


@app.post("/ack/{n:int}")
async def ack(n: int) -> dict[str, int]:
    _acks.setdefault(n, anyio.Event()).set()
    return {"acked": n}


@app.get("/events")
async def events() -> StreamingResponse:
    _acks.clear()

    async def feed() -> AsyncIterator[str]:
        for n in range(EVENTS):
            yield f"id: {n}\ndata: event number {n}\n\n"
            with anyio.move_on_after(10) as timeout:
                await _acks.setdefault(n, anyio.Event()).wait()
            if timeout.cancelled_caught:
                yield f"event: stalled\ndata: no ack for event {n}\n\n"
                return

    return StreamingResponse(feed(), media_type="text/event-stream")


@app.post("/count")
async def count(request: Request) -> dict[str, int]:
    return {"length": len(await request.body())}


def _decoder(coding: str) -> Any:
    if coding == "gzip":
        return zlib.decompressobj(31).decompress
    if coding == "br":
        return brotli.Decompressor().process
    return zstd.ZstdDecompressor().decompress


def _decode(coding: str, data: bytes) -> bytes:
    if coding == "gzip":
        return gzip.decompress(data)
    if coding == "br":
        out: bytes = brotli.decompress(data)
        return out
    return zstd.decompress(data)


@pytest.fixture(scope="module", params=["uvicorn", "granian"])
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    with run_server(request.param, "test_compression_server:app") as url:
        yield url


pytestmark = pytest.mark.servers


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_json_round_trip(server: str, coding: str) -> None:
    with (
        httpx.Client(base_url=server, timeout=10) as client,
        client.stream("GET", "/doc", headers={"accept-encoding": coding}) as response,
    ):
        raw = b"".join(response.iter_raw())
    assert response.status_code == 200
    assert response.headers["content-encoding"] == coding
    assert response.headers["content-length"] == str(len(raw))
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["etag"] == 'W/"doc-1"'
    assert _decode(coding, raw) == DOC


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_sse_events_are_flushed_one_at_a_time(server: str, coding: str) -> None:
    feed = _decoder(coding)
    text = b""
    with (
        httpx.Client(base_url=server, timeout=15) as client,
        httpx.Client(base_url=server, timeout=15) as acker,
        client.stream("GET", "/events", headers={"accept-encoding": coding}) as response,
    ):
        assert response.headers["content-encoding"] == coding
        assert "content-length" not in response.headers
        chunks = response.iter_raw()
        for n in range(EVENTS):
            event = f"id: {n}\ndata: event number {n}\n\n".encode()
            while event not in text:
                text += feed(next(chunks))
                assert b"stalled" not in text, text
            assert acker.post(f"/ack/{n}").status_code == 200
        text += b"".join(feed(c) for c in chunks)
    assert text.count(b"data: event number") == EVENTS
    assert b"stalled" not in text


def test_uncompressed_when_not_accepted(server: str) -> None:
    with (
        httpx.Client(base_url=server, timeout=10) as client,
        client.stream("GET", "/doc", headers={"accept-encoding": "identity"}) as response,
    ):
        raw = b"".join(response.iter_raw())
    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["etag"] == '"doc-1"'
    assert raw == DOC


def test_request_decompression_and_zip_bomb(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        ok = client.post("/count", content=gzip.compress(DOC), headers={"content-encoding": "gzip"})
        assert ok.status_code == 200
        assert ok.json() == {"length": len(DOC)}
        bomb = zstd.compress(bytes(64 * 1024 * 1024))
        refused = client.post("/count", content=bomb, headers={"content-encoding": "zstd"})
        assert refused.status_code == 413
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["status"] == 413
