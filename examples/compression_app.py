"""Example: compressed JSON, a compressed SSE feed and gzip/br/zstd request bodies.

Needs ``pip install armature[compression]``. Run it with any ASGI server::

    granian --interface asgi examples.compression_app:app
    uvicorn examples.compression_app:app

Then, for instance::

    curl -s -o /dev/null -w '%{size_download}\\n' -H 'Accept-Encoding: zstd' localhost:8000/catalog
    curl -sN --compressed localhost:8000/events?count=5
    gzip -c data.json | curl -s -H 'Content-Encoding: gzip' -H 'Content-Type: application/json' \\
        --data-binary @- localhost:8000/ingest
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson

from armature import App, Request, StreamingResponse
from armature.exceptions import BadRequest
from armature_ext.compression import CompressionMiddleware, no_compression

#: A ~100 KB JSON document: the kind of response compression pays off on.
CATALOG: list[dict[str, Any]] = [
    {
        "sku": f"SKU-{n:05d}",
        "name": f"Widget {n}",
        "description": "A sturdy widget for everyday tasks. " * 2,
        "price": round(3.5 + n * 0.25, 2),
        "tags": ["tools", "hardware", "widgets"][: 1 + n % 3],
        "in_stock": n % 7 != 0,
    }
    for n in range(600)
]

app = App(title="compression example")
app.add_middleware(
    CompressionMiddleware,
    minimum_size=860,  # smaller bodies are not worth it
    decompress_requests=True,  # accept gzip/br/zstd request bodies
    max_decompressed_size=4 * 1024 * 1024,  # zip bombs get 413 past 4 MiB of decoded bytes
    exclude_paths=["/health"],
)


@app.get("/")
async def index() -> dict[str, Any]:
    """List the routes of this example."""
    return {
        "routes": ["/catalog", "/catalog/raw", "/events?count=10&interval=0.5", "/ingest"],
        "try": "curl -s --compressed -H 'Accept-Encoding: br' localhost:8000/catalog",
    }


@app.get("/health")
async def health() -> dict[str, str]:
    """Never compressed (excluded by path)."""
    return {"status": "ok"}


@app.get("/catalog")
async def catalog() -> list[dict[str, Any]]:
    """The large JSON document, compressed with whatever the client prefers."""
    return CATALOG


@no_compression
@app.get("/catalog/raw")
async def catalog_raw() -> list[dict[str, Any]]:
    """The same document, opted out of compression for this route."""
    return CATALOG


@app.get("/events")
async def events(count: int = 10, interval: float = 0.5) -> StreamingResponse:
    """A server-sent events feed; every event is flushed through the compressor at once."""
    if not 1 <= count <= 1000 or not 0 <= interval <= 10:
        raise BadRequest(detail="count must be in [1, 1000] and interval in [0, 10] seconds")

    async def feed() -> AsyncIterator[bytes]:
        for n in range(count):
            payload = orjson.dumps({"n": n, "price": CATALOG[n % len(CATALOG)]["price"]})
            yield b"id: %d\nevent: price\ndata: %s\n\n" % (n, payload)
            if n < count - 1:
                await anyio.sleep(interval)

    return StreamingResponse(
        feed(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
    )


@app.post("/ingest")
async def ingest(request: Request) -> dict[str, int]:
    """Accept a JSON array, possibly sent with ``Content-Encoding: gzip``, ``br`` or ``zstd``."""
    body = await request.body()
    data = orjson.loads(body) if body else []
    if not isinstance(data, list):
        raise BadRequest(detail="expected a JSON array")
    return {"items": len(data), "decoded_bytes": len(body)}
