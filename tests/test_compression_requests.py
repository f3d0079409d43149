"""Opt-in request body decompression: round trips, limits, zip bombs, bad input."""

from __future__ import annotations

import gzip
import sys
import tracemalloc
import zlib
from collections.abc import Sequence
from typing import Any

import anyio
import brotli
import orjson
import pytest

from armature.exceptions import status_title
from armature_ext.compression import CompressionMiddleware

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

pytestmark = pytest.mark.anyio

CODINGS = ["gzip", "br", "zstd"]
PAYLOAD = orjson.dumps({"items": [{"n": i, "text": "hello world " * 3} for i in range(500)]})
MiB = 1024 * 1024


def encode(coding: str, data: bytes) -> bytes:
    if coding in ("gzip", "x-gzip"):
        return gzip.compress(data)
    if coding == "br":
        return brotli.compress(data)
    return zstd.compress(data)


def gzip_bomb(size_mib: int) -> bytes:
    """A single gzip member of ``size_mib`` MiB of zeros (~1 KiB per MiB), built cheaply.

    Deflate blocks ending in a full flush do not reference earlier data, so the block for one MiB
    of zeros can simply be repeated.
    """
    zeros = bytes(MiB)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(size_mib):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    end = b"\x03\x00"  # an empty final fixed-Huffman block
    trailer = crc.to_bytes(4, "little") + ((size_mib * MiB) & 0xFFFFFFFF).to_bytes(4, "little")
    return header + block * size_mib + end + trailer


def zeros_stream(coding: str, size_mib: int) -> bytes:
    zeros = bytes(MiB)
    if coding == "gzip":
        return gzip_bomb(size_mib)
    if coding == "br":
        c: Any = brotli.Compressor(quality=1)
        parts = [c.process(zeros) for _ in range(size_mib)]
        return b"".join(parts) + c.finish()
    z = zstd.ZstdCompressor(level=1)
    return b"".join(z.compress(zeros) for _ in range(size_mib)) + z.flush()


class Echo:
    """Reads the whole request body and answers with what it saw."""

    def __init__(self) -> None:
        self.scope: dict[str, Any] = {}
        self.chunks: list[bytes] = []
        self.messages: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        while True:
            message = await receive()
            self.messages.append(message)
            if message["type"] != "http.request":
                return
            self.chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(self.chunks)
        info = orjson.dumps({"length": len(body), "chunks": len(self.chunks)})
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": info})

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


async def post(
    app: Any,
    body: bytes,
    headers: Sequence[tuple[str, str]],
    *,
    piece: int = 1 << 16,
    after: Sequence[dict[str, Any]] = (),
    complete: bool = True,
) -> tuple[int, dict[str, str], bytes]:
    """POST ``body`` in ``piece``-byte messages; returns status, headers and response body."""
    pieces = [body[i : i + piece] for i in range(0, len(body), piece)] or [b""]
    queue: list[dict[str, Any]] = [
        {"type": "http.request", "body": p, "more_body": i < len(pieces) - 1 or not complete}
        for i, p in enumerate(pieces)
    ]
    queue.extend(after)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/upload",
        "raw_path": b"/upload",
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    status = 0
    response_headers: dict[str, str] = {}
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        await anyio.sleep_forever()
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            response_headers.update({k.decode(): v.decode() for k, v in message["headers"]})
        else:
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, response_headers, b"".join(chunks)


@pytest.mark.parametrize("coding", CODINGS)
@pytest.mark.parametrize("piece", [1, 7, 1 << 16])
async def test_round_trip(coding: str, piece: int) -> None:
    echo = Echo()
    app = CompressionMiddleware(echo, decompress_requests=True)
    data = encode(coding, PAYLOAD)
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Encoding", coding),
        ("Content-Length", str(len(data))),
    ]
    status, _, _ = await post(app, data, headers, piece=piece)
    assert status == 200
    assert echo.body == PAYLOAD
    names = [k for k, _ in echo.scope["headers"]]
    assert b"content-encoding" not in names
    assert b"content-length" not in names
    assert (b"content-type", b"application/json") in echo.scope["headers"]
    assert echo.messages[-1] == {"type": "http.request", "body": b"", "more_body": False}


async def test_x_gzip_and_case_insensitive_coding() -> None:
    for value in ("x-gzip", "GZIP", " gzip "):
        echo = Echo()
        app = CompressionMiddleware(echo, decompress_requests=True)
        status, _, _ = await post(app, gzip.compress(PAYLOAD), [("Content-Encoding", value)])
        assert status == 200
        assert echo.body == PAYLOAD


async def test_large_body_is_handed_over_in_bounded_chunks() -> None:
    echo = Echo()
    data = bytes(range(256)) * 4096  # 1 MiB
    app = CompressionMiddleware(echo, decompress_requests=True, max_decompressed_size=None)
    status, _, _ = await post(app, gzip.compress(data), [("Content-Encoding", "gzip")])
    assert status == 200
    assert echo.body == data
    assert max(len(c) for c in echo.chunks) <= 64 * 1024
    assert len(echo.chunks) > 16


async def test_multi_member_gzip_and_multi_frame_zstd() -> None:
    first, second = PAYLOAD[:1000], PAYLOAD[1000:]
    for coding, data in [
        ("gzip", gzip.compress(first) + gzip.compress(second)),
        ("zstd", zstd.compress(first) + zstd.compress(second)),
    ]:
        echo = Echo()
        app = CompressionMiddleware(echo, decompress_requests=True)
        status, _, _ = await post(app, data, [("Content-Encoding", coding)], piece=333)
        assert status == 200, coding
        assert echo.body == PAYLOAD


async def test_identity_only_drops_the_header_and_keeps_content_length() -> None:
    echo = Echo()
    app = CompressionMiddleware(echo, decompress_requests=True)
    headers = [("Content-Encoding", "identity"), ("Content-Length", str(len(PAYLOAD)))]
    status, _, _ = await post(app, PAYLOAD, headers)
    assert status == 200
    assert echo.body == PAYLOAD
    assert echo.scope["headers"] == [(b"content-length", str(len(PAYLOAD)).encode())]


async def test_decompression_is_off_by_default() -> None:
    echo = Echo()
    data = gzip.compress(PAYLOAD)
    headers = [("Content-Encoding", "gzip"), ("Content-Length", str(len(data)))]
    status, _, _ = await post(CompressionMiddleware(echo), data, headers)
    assert status == 200
    assert echo.body == data
    assert (b"content-encoding", b"gzip") in echo.scope["headers"]


@pytest.mark.parametrize("coding", CODINGS)
async def test_limit_is_exact(coding: str) -> None:
    limit = 10_000
    for size, expected in [(limit, 200), (limit + 1, 413)]:
        echo = Echo()
        app = CompressionMiddleware(echo, decompress_requests=True, max_decompressed_size=limit)
        status, _, _ = await post(app, encode(coding, b"a" * size), [("Content-Encoding", coding)])
        assert status == expected, (coding, size)


@pytest.mark.parametrize("coding", CODINGS)
async def test_zip_bomb_gets_413_with_bounded_memory(coding: str) -> None:
    bomb = zeros_stream(coding, 1024)  # 1 GiB of zeros
    assert len(bomb) < 2 * MiB
    echo = Echo()
    app = CompressionMiddleware(echo, decompress_requests=True)
    tracemalloc.start()
    try:
        status, headers, body = await post(app, bomb, [("Content-Encoding", coding)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 413
    assert headers["content-type"] == "application/problem+json"
    problem = orjson.loads(body)
    assert problem["status"] == 413
    assert problem["title"] == status_title(413)
    assert "1048576 bytes" in problem["detail"]
    assert problem["instance"] == "/upload"
    assert sum(len(c) for c in echo.chunks) <= MiB
    # NOTE: the bomb itself is held by the test (< 2 MiB); decoding 1 GiB would blow far past this.
    assert peak < 6 * MiB, peak


def test_gzip_bomb_builder_is_valid_gzip() -> None:
    assert gzip.decompress(gzip_bomb(3)) == bytes(3 * MiB)


@pytest.mark.parametrize(
    ("coding", "data", "detail"),
    [
        ("gzip", b"definitely not gzip", "invalid gzip data"),
        ("gzip", gzip.compress(PAYLOAD)[:-20], "truncated gzip data"),
        ("gzip", gzip.compress(PAYLOAD) + b"\x00\x00junk", "invalid gzip data"),
        ("br", b"\xff\xff\xff\xff not brotli", "invalid br data"),
        ("br", brotli.compress(PAYLOAD)[:-10], "truncated br data"),
        ("br", brotli.compress(PAYLOAD) + b"tail", "invalid br data"),
        ("zstd", b"\x28\xb5\x2f\xfd garbage", "invalid zstd data"),
        ("zstd", zstd.compress(PAYLOAD)[:-10], "truncated zstd data"),
    ],
)
async def test_corrupt_body_gets_400(coding: str, data: bytes, detail: str) -> None:
    app = CompressionMiddleware(Echo(), decompress_requests=True)
    status, headers, body = await post(app, data, [("Content-Encoding", coding)], piece=100)
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    problem = orjson.loads(body)
    assert problem["status"] == 400
    assert detail in problem["detail"]


async def test_zstd_frame_with_oversized_window_is_refused() -> None:
    options = {zstd.CompressionParameter.window_log: 27}
    c = zstd.ZstdCompressor(options=options)
    data = c.compress(b"x" * 5000) + c.flush()
    app = CompressionMiddleware(Echo(), decompress_requests=True)
    status, _, body = await post(app, data, [("Content-Encoding", "zstd")])
    assert status == 400
    assert "invalid zstd data" in orjson.loads(body)["detail"]


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("deflate", "Unsupported request Content-Encoding 'deflate'"),
        ("compress", "Unsupported request Content-Encoding 'compress'"),
        ("gzip, br", "Stacked content codings"),
    ],
)
async def test_unsupported_coding_gets_415(value: str, detail: str) -> None:
    echo = Echo()
    app = CompressionMiddleware(echo, decompress_requests=True)
    status, headers, body = await post(app, b"whatever", [("Content-Encoding", value)])
    assert status == 415
    assert headers["content-type"] == "application/problem+json"
    assert headers["accept-encoding"] == "br, gzip, zstd"
    problem = orjson.loads(body)
    assert problem["status"] == 415
    assert problem["detail"].startswith(detail)
    assert echo.scope == {}  # the application never ran


async def test_empty_encoded_body_is_an_empty_body() -> None:
    echo = Echo()
    app = CompressionMiddleware(echo, decompress_requests=True)
    status, _, _ = await post(app, b"", [("Content-Encoding", "gzip")])
    assert status == 200
    assert echo.body == b""


async def test_disconnect_passes_through() -> None:
    data = gzip.compress(PAYLOAD)
    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            seen.append(message)
            if message["type"] == "http.disconnect":
                return

    middleware = CompressionMiddleware(app, decompress_requests=True)
    status, _, _ = await post(
        middleware,
        data[:50],
        [("Content-Encoding", "gzip")],
        after=[{"type": "http.disconnect"}],
        complete=False,
    )
    # the body was cut short (more_body stays True) and the client went away
    assert status == 0
    assert seen[-1] == {"type": "http.disconnect"}


async def test_error_after_response_started_is_not_swallowed() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"streaming", "more_body": True})
        while (await receive()).get("more_body"):
            pass

    middleware = CompressionMiddleware(app, decompress_requests=True, max_decompressed_size=10)
    with pytest.raises(Exception, match="exceeds 10 bytes") as info:
        await post(middleware, gzip.compress(PAYLOAD), [("Content-Encoding", "gzip")])
    assert getattr(info.value, "status_code", None) == 413


async def test_response_is_still_compressed_while_decoding_the_request() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    middleware = CompressionMiddleware(app, decompress_requests=True)
    status, headers, body = await post(
        middleware,
        encode("br", PAYLOAD),
        [("Content-Encoding", "br"), ("Accept-Encoding", "gzip")],
    )
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == PAYLOAD


async def test_excluded_paths_still_decode_request_bodies() -> None:
    echo = Echo()
    app = CompressionMiddleware(echo, decompress_requests=True, exclude_paths=["/upload"])
    status, headers, _ = await post(
        app, gzip.compress(PAYLOAD), [("Content-Encoding", "gzip"), ("Accept-Encoding", "gzip")]
    )
    assert status == 200
    assert echo.body == PAYLOAD
    assert "vary" not in headers  # the response side is off for this path
    status, headers, _ = await post(
        CompressionMiddleware(Echo(), decompress_requests=True),
        gzip.compress(PAYLOAD),
        [("Content-Encoding", "gzip")],
    )
    assert headers["vary"] == "Accept-Encoding"
