"""In-process benchmark of CompressionMiddleware on a ~10 KB JSON response.

For each coding: CPU microseconds per response through the middleware, throughput (uncompressed
MB per CPU second) and compression ratio, for a one-shot body and for the same body streamed in
ten chunks (flush per chunk, as for SSE). The ASGI coroutines never suspend here, so they are
driven without an event loop: the figures are the middleware and codec cost only.

Run:  .venv/bin/python loadtests/bench_compression.py [--iterations N] [--size BYTES]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Coroutine
from typing import Any

import orjson

from armature_ext.compression import CompressionMiddleware


def make_json(size: int) -> bytes:
    """A realistic JSON document of about ``size`` bytes (API-style list of records)."""
    rng = random.Random(42)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]
    items: list[dict[str, Any]] = []
    while len(orjson.dumps(items)) < size:
        n = len(items)
        items.append(
            {
                "id": n,
                "uuid": f"{rng.getrandbits(128):032x}",
                "name": " ".join(rng.choice(words) for _ in range(2)).title(),
                "email": f"user{n}@example.org",
                "active": rng.random() > 0.3,
                "score": round(rng.random() * 100, 3),
                "tags": rng.sample(words, 3),
                "created": f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T12:00:00Z",
            }
        )
    return orjson.dumps(items)


def run(coro: Coroutine[Any, Any, None]) -> None:
    """Drive a coroutine that never suspends (no event loop needed)."""
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
    raise RuntimeError("the benchmark app suspended; it must not")


def make_app(body: bytes, chunks: int) -> Any:
    headers = [(b"content-type", b"application/json")]
    if chunks == 1:
        headers.append((b"content-length", str(len(body)).encode()))
    step = -(-len(body) // chunks)
    parts = [body[i : i + step] for i in range(0, len(body), step)]
    start = {"type": "http.response.start", "status": 200, "headers": headers}
    messages = [
        {"type": "http.response.body", "body": p, "more_body": i < len(parts) - 1}
        for i, p in enumerate(parts)
    ]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start)
        for message in messages:
            await send(message)

    return app


def bench(body: bytes, accept: bytes | None, chunks: int, iterations: int) -> tuple[float, int]:
    """Return (CPU seconds per response, bytes on the wire per response)."""
    middleware = CompressionMiddleware(make_app(body, chunks))
    headers = [] if accept is None else [(b"accept-encoding", accept)]
    scope = {"type": "http", "method": "GET", "path": "/data", "headers": headers}
    wire = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal wire
        if message["type"] == "http.response.body":
            wire += len(message["body"])

    for _ in range(max(iterations // 10, 10)):  # warm-up
        run(middleware(scope, receive, send))
    wire = 0
    started = time.process_time()
    for _ in range(iterations):
        run(middleware(scope, receive, send))
    elapsed = time.process_time() - started
    return elapsed / iterations, wire // iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--size", type=int, default=10_000, help="JSON body size in bytes")
    args = parser.parse_args()
    body = make_json(args.size)
    rows = [("identity", None), ("gzip", b"gzip"), ("br", b"br"), ("zstd", b"zstd")]
    levels = {"identity": "-", "gzip": "6", "br": "4", "zstd": "3"}
    print(f"body: {len(body)} bytes of JSON, {args.iterations} responses per row, CPU time\n")
    header = (
        f"{'coding':<9} {'level':>5} {'mode':<10} {'us/resp':>9} {'MB/s':>9} {'bytes':>7} "
        f"{'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for chunks, mode in ((1, "one-shot"), (10, "10 chunks")):
        for name, accept in rows:
            per, wire = bench(body, accept, chunks, args.iterations)
            mbps = len(body) / per / 1e6
            ratio = len(body) / wire
            print(
                f"{name:<9} {levels[name]:>5} {mode:<10} {per * 1e6:>9.1f} {mbps:>9.1f} "
                f"{wire:>7} {ratio:>6.2f}"
            )


if __name__ == "__main__":
    main()
