"""CompressionMiddleware inside a real ``armature.App``, through ``armature.testing`` clients.

Bodies are read raw (``iter_raw``) and decoded with the reference decoders, never by httpx.
"""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import brotli
import httpx
import orjson
import pytest
from pydantic import BaseModel

from armature import App, Request, Response, StreamingResponse
from armature.sse import EventSourceResponse, ServerSentEvent
from armature.testing import AsyncTestClient, TestClient
from armature_ext.compression import CompressionMiddleware, no_compression

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

CODINGS = ["gzip", "br", "zstd"]
ITEMS = [{"id": i, "name": f"item {i}", "tags": ["a", "b", "c"]} for i in range(300)]
ITEMS_JSON = orjson.dumps(ITEMS)


def decode(coding: str | None, data: bytes) -> bytes:
    if coding is None:
        return data
    if coding == "gzip":
        return gzip.decompress(data)
    if coding == "br":
        return brotli.decompress(data)
    return zstd.decompress(data)


def incremental(coding: str) -> Any:
    """A callable feeding one received chunk to a fresh streaming decoder and returning output."""
    if coding == "gzip":
        return zlib.decompressobj(31).decompress
    if coding == "br":
        return brotli.Decompressor().process
    return zstd.ZstdDecompressor().decompress


class Payload(BaseModel):
    items: list[dict[str, Any]]


def build_app(gates: list[anyio.Event] | None = None, **options: Any) -> App:
    app = App(max_body_size=200_000)

    @app.get("/items")
    async def items() -> list[dict[str, Any]]:
        return ITEMS

    @app.get("/small")
    async def small() -> dict[str, bool]:
        return {"ok": True}

    @no_compression
    @app.get("/raw")
    async def raw() -> list[dict[str, Any]]:
        return ITEMS

    @app.get("/events")
    async def events() -> StreamingResponse:
        async def feed() -> AsyncIterator[str]:
            for i, gate in enumerate(gates or []):
                await gate.wait()
                yield f'id: {i}\ndata: {{"n": {i}}}\n\n'

        return StreamingResponse(feed(), media_type="text/event-stream")

    @app.get("/sse")
    async def sse() -> EventSourceResponse:
        async def feed() -> AsyncIterator[ServerSentEvent]:
            for i, gate in enumerate(gates or []):
                await gate.wait()
                yield ServerSentEvent({"n": i}, event="tick", id=str(i))

        return EventSourceResponse(feed(), ping_interval=None)

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        body = await request.body()
        return Response(body, media_type="application/octet-stream")

    @app.post("/model")
    async def model(payload: Payload) -> dict[str, int]:
        return {"count": len(payload.items)}

    app.add_middleware(CompressionMiddleware, **options)
    return app


def raw_get(client: TestClient, path: str, accept: str) -> tuple[httpx.Response, bytes]:
    with client.stream("GET", path, headers={"accept-encoding": accept}) as response:
        return response, b"".join(response.iter_raw())


@pytest.mark.parametrize("coding", CODINGS)
def test_json_handler_is_compressed(coding: str) -> None:
    with TestClient(build_app()) as client:
        response, raw = raw_get(client, "/items", coding)
    assert response.status_code == 200
    assert response.headers["content-encoding"] == coding
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["content-length"] == str(len(raw))
    assert decode(coding, raw) == ITEMS_JSON


def test_small_and_opted_out_responses() -> None:
    with TestClient(build_app()) as client:
        response, raw = raw_get(client, "/small", "gzip, br, zstd")
        assert "content-encoding" not in response.headers
        assert response.headers["vary"] == "Accept-Encoding"
        assert orjson.loads(raw) == {"ok": True}
        response, raw = raw_get(client, "/items", "identity")
        assert "content-encoding" not in response.headers
        assert raw == ITEMS_JSON
        response = client.head("/items", headers={"accept-encoding": "gzip"})
        assert "content-encoding" not in response.headers
        # 404 problem documents are small: untouched
        response, raw = raw_get(client, "/nope", "gzip")
        assert response.status_code == 404
        assert "content-encoding" not in response.headers


def _core_sets_scope_route() -> bool:
    seen: dict[str, Any] = {}
    app = App()

    @app.get("/")
    async def index(request: Request) -> None:
        seen.update(request.scope)

    with TestClient(app) as client:
        client.get("/")
    return "route" in seen


@pytest.mark.skipif(
    not _core_sets_scope_route(), reason="the core does not expose scope['route'] yet"
)
def test_no_compression_decorator_through_the_router() -> None:
    with TestClient(build_app()) as client:
        response, raw = raw_get(client, "/raw", "gzip, br, zstd")
        assert "content-encoding" not in response.headers
        assert raw == ITEMS_JSON
        response, raw = raw_get(client, "/items", "gzip, br, zstd")
        assert response.headers["content-encoding"] == "zstd"


def test_exclude_paths_option() -> None:
    with TestClient(build_app(exclude_paths=["/items"])) as client:
        response, raw = raw_get(client, "/items", "gzip")
    assert "content-encoding" not in response.headers
    assert raw == ITEMS_JSON


@pytest.mark.anyio
@pytest.mark.parametrize("coding", CODINGS)
async def test_sse_events_arrive_decodable_one_by_one(coding: str) -> None:
    gates = [anyio.Event() for _ in range(5)]
    feed = incremental(coding)
    async with AsyncTestClient(build_app(gates)) as client:
        headers = {"accept-encoding": coding}
        with anyio.fail_after(5):  # headers must not wait for the first event
            stream = client.stream("GET", "/events", headers=headers)
            response = await stream.__aenter__()
        try:
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["content-encoding"] == coding
            assert "content-length" not in response.headers
            chunks = response.aiter_raw()
            text = b""
            for i, gate in enumerate(gates):
                gate.set()  # let the app produce event i only now
                event = f'id: {i}\ndata: {{"n": {i}}}\n\n'.encode()
                with anyio.fail_after(5):  # a held-back event would hang here
                    while not text.endswith(event):
                        text += feed(await chunks.__anext__())
            rest = b"".join([feed(c) async for c in chunks])
        finally:
            await stream.__aexit__(None, None, None)
    assert rest == b""
    assert text.count(b"data: ") == 5


@pytest.mark.anyio
@pytest.mark.parametrize("coding", CODINGS)
async def test_event_source_response_events_are_flushed(coding: str) -> None:
    gates = [anyio.Event() for _ in range(4)]
    feed = incremental(coding)
    text = b""
    async with AsyncTestClient(build_app(gates)) as client:
        with anyio.fail_after(5):
            stream = client.stream("GET", "/sse", headers={"accept-encoding": coding})
            response = await stream.__aenter__()
        try:
            assert response.headers["content-encoding"] == coding
            assert response.headers["vary"] == "Accept-Encoding"
            chunks = response.aiter_raw()
            for i, gate in enumerate(gates):
                gate.set()
                marker = b'{"n":%d}\n\n' % i
                with anyio.fail_after(5):
                    while not text.endswith(marker):
                        text += feed(await chunks.__anext__())
            text += b"".join([feed(c) async for c in chunks])
        finally:
            await stream.__aexit__(None, None, None)
    assert text.count(b"event: tick") == 4


@pytest.mark.parametrize("coding", CODINGS)
def test_request_bodies_are_decoded_for_handlers(coding: str) -> None:
    payload = orjson.dumps({"items": ITEMS})
    body = {
        "gzip": gzip.compress,
        "br": brotli.compress,
        "zstd": zstd.compress,
    }[coding](payload)
    with TestClient(build_app(decompress_requests=True)) as client:
        response = client.post(
            "/model",
            content=body,
            headers={"content-type": "application/json", "content-encoding": coding},
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"count": len(ITEMS)}


def test_zip_bomb_gets_413_through_the_app() -> None:
    bomb = gzip.compress(bytes(50 * 1024 * 1024), 9)
    with TestClient(build_app(decompress_requests=True)) as client:
        response = client.post("/echo", content=bomb, headers={"content-encoding": "gzip"})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 413


def test_app_body_limit_applies_to_decoded_bytes() -> None:
    # the middleware allows 1 MiB decoded; the app allows 200 000 bytes
    body = gzip.compress(b"x" * 300_000)
    with TestClient(build_app(decompress_requests=True)) as client:
        response = client.post("/echo", content=body, headers={"content-encoding": "gzip"})
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        ok = client.post(
            "/echo",
            content=gzip.compress(b"y" * 150_000),
            headers={"content-encoding": "gzip", "accept-encoding": "identity"},
        )
        assert ok.status_code == 200
        assert ok.content == b"y" * 150_000


def test_corrupt_and_unsupported_request_bodies() -> None:
    with TestClient(build_app(decompress_requests=True)) as client:
        response = client.post("/echo", content=b"nope", headers={"content-encoding": "gzip"})
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        response = client.post("/echo", content=b"nope", headers={"content-encoding": "deflate"})
        assert response.status_code == 415
        assert response.headers["accept-encoding"] == "br, gzip, zstd"


def test_example_app() -> None:
    from examples.compression_app import CATALOG
    from examples.compression_app import app as example

    with TestClient(example) as client:
        response, raw = raw_get(client, "/catalog", "br")
        assert response.headers["content-encoding"] == "br"
        assert orjson.loads(decode("br", raw)) == CATALOG
        assert len(raw) * 10 < len(orjson.dumps(CATALOG))
        response, raw = raw_get(client, "/events?count=3&interval=0", "gzip")
        assert response.headers["content-encoding"] == "gzip"
        assert decode("gzip", raw).count(b"event: price") == 3
        response, raw = raw_get(client, "/health", "gzip")
        assert "content-encoding" not in response.headers
        assert orjson.loads(raw) == {"status": "ok"}
        ingested = client.post(
            "/ingest",
            content=zstd.compress(orjson.dumps(CATALOG)),
            headers={"content-encoding": "zstd", "content-type": "application/json"},
        )
        assert ingested.json() == {
            "items": len(CATALOG),
            "decoded_bytes": len(orjson.dumps(CATALOG)),
        }
        assert client.get("/events?count=0").status_code == 400
