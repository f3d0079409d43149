"""CompressionMiddleware on the response side, driven through raw ASGI apps.

Every compressed body is decoded with the reference decoders (zlib/gzip, brotli, zstd); streamed
bodies are decoded incrementally, chunk by chunk, as the client would.
"""

from __future__ import annotations

import gzip
import os
import sys
import tracemalloc
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import brotli
import orjson
import pytest

from armature_ext.compression import CompressionMiddleware, no_compression

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

CODINGS = ["gzip", "br", "zstd"]
JSON_BODY = orjson.dumps(
    [{"id": i, "name": f"user {i}", "email": f"user{i}@example.org"} for i in range(200)]
)


def decode(coding: str, data: bytes) -> bytes:
    """Decode a whole body with the reference decoder."""
    if coding == "gzip":
        return gzip.decompress(data)
    if coding == "br":
        return brotli.decompress(data)
    if coding == "zstd":
        return zstd.decompress(data)
    raise AssertionError(coding)


class IncrementalDecoder:
    """What a browser does: feed each received chunk and read what it decodes to right away."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        if coding == "gzip":
            self._d: Any = zlib.decompressobj(31)
        elif coding == "br":
            self._d = brotli.Decompressor()
        else:
            self._d = zstd.ZstdDecompressor()

    def feed(self, chunk: bytes) -> bytes:
        if self.coding == "br":
            return self._d.process(chunk)
        return self._d.decompress(chunk)

    @property
    def finished(self) -> bool:
        if self.coding == "br":
            return self._d.is_finished()
        return self._d.eof


@dataclass
class Result:
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        values = [v.decode() for k, v in self.headers if k.decode().lower() == name]
        assert len(values) <= 1, f"duplicate {name}: {values}"
        return values[0] if values else None

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def decoded(self) -> bytes:
        coding = self.header("content-encoding")
        return self.body if coding is None else decode(coding, self.body)


def http_scope(
    method: str = "GET", path: str = "/", headers: Sequence[tuple[str, str]] = ()
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }


async def call(
    app: Any,
    *,
    method: str = "GET",
    path: str = "/",
    headers: Sequence[tuple[str, str]] = (),
    on_chunk: Callable[[bytes], None] | None = None,
    scope_extra: dict[str, Any] | None = None,
    result: Result | None = None,
) -> Result:
    scope = http_scope(method, path, headers)
    if scope_extra:
        scope.update(scope_extra)
    result = Result() if result is None else result
    sent_request = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        result.messages.append(message)
        if message["type"] == "http.response.start":
            assert result.status == 0, "response started twice"
            result.status = message["status"]
            result.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            result.chunks.append(chunk)
            if on_chunk is not None:
                on_chunk(chunk)

    await app(scope, receive, send)
    return result


def make_app(
    body: bytes | list[bytes] = JSON_BODY,
    *,
    status: int = 200,
    content_type: str | None = "application/json",
    headers: Sequence[tuple[str, str]] = (),
    content_length: bool = True,
) -> Any:
    """A raw ASGI app sending ``body`` in one message (bytes) or several (list)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        raw = [(k.lower().encode(), v.encode()) for k, v in headers]
        if content_type is not None:
            raw.append((b"content-type", content_type.encode()))
        if content_length and isinstance(body, bytes):
            raw.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        if isinstance(body, bytes):
            await send({"type": "http.response.body", "body": body})
            return
        for i, chunk in enumerate(body):
            await send(
                {"type": "http.response.body", "body": chunk, "more_body": i < len(body) - 1}
            )

    return app


pytestmark = pytest.mark.anyio


# --- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("coding", CODINGS)
async def test_one_shot_body_round_trip(coding: str) -> None:
    app = CompressionMiddleware(make_app())
    result = await call(app, headers=[("Accept-Encoding", coding)])
    assert result.status == 200
    assert result.header("content-encoding") == coding
    assert result.header("vary") == "Accept-Encoding"
    assert result.header("content-length") == str(len(result.body))
    assert len(result.body) < len(JSON_BODY) // 3
    assert result.decoded() == JSON_BODY
    assert len(result.chunks) == 1


@pytest.mark.parametrize("coding", CODINGS)
async def test_streamed_body_is_decodable_after_every_chunk(coding: str) -> None:
    parts = [orjson.dumps({"chunk": i, "data": "x" * (50 + i * 37)}) + b"\n" for i in range(40)]
    client = IncrementalDecoder(coding)
    decoded: list[bytes] = []
    app = CompressionMiddleware(make_app(parts, content_type="application/x-ndjson"))
    result = await call(
        app,
        headers=[("Accept-Encoding", coding)],
        on_chunk=lambda c: decoded.append(client.feed(c)),
    )
    assert result.header("content-encoding") == coding
    assert result.header("content-length") is None
    assert result.header("vary") == "Accept-Encoding"
    # one encoded message per application message, each decoding to exactly what was sent
    assert decoded[: len(parts) - 1] == parts[:-1]
    assert b"".join(decoded) == b"".join(parts)
    assert client.finished
    assert result.decoded() == b"".join(parts)


@pytest.mark.parametrize("coding", CODINGS)
async def test_sse_events_are_decodable_as_soon_as_they_are_sent(coding: str) -> None:
    client = IncrementalDecoder(coding)
    seen: list[bytes] = []

    result = Result()

    async def sse(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        # the client gets the headers before any event exists (EventSource "open")
        assert result.status == 200
        for i in range(10):
            event = f'id: {i}\nevent: tick\ndata: {{"n": {i}}}\n\n'.encode()
            await send({"type": "http.response.body", "body": event, "more_body": True})
            # the client has already decoded this event before the next one is produced
            assert b"".join(seen).endswith(event), (i, seen)
            await anyio.sleep(0)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    await call(
        CompressionMiddleware(sse),
        headers=[("Accept-Encoding", coding)],
        on_chunk=lambda c: seen.append(client.feed(c)),
        result=result,
    )
    assert result.header("content-encoding") == coding
    assert result.header("content-type") == "text/event-stream"
    assert b"".join(seen).count(b"event: tick") == 10
    assert client.finished


async def test_event_stream_with_a_single_tiny_message_is_still_valid() -> None:
    app = CompressionMiddleware(
        make_app(b"data: 1\n\n", content_type="text/event-stream", content_length=False)
    )
    result = await call(app, headers=[("Accept-Encoding", "br")])
    assert result.header("content-encoding") == "br"
    assert result.header("content-length") is None
    assert result.decoded() == b"data: 1\n\n"


@pytest.mark.parametrize("coding", CODINGS)
async def test_large_streamed_response_keeps_memory_bounded(coding: str) -> None:
    chunk = (b'{"k": "' + os.urandom(24).hex().encode() + b'", "v": [1, 2, 3]}\n') * 700
    count = 150  # ~ 8 MB streamed
    sizes = {"in": 0, "out": 0}
    client = IncrementalDecoder(coding)

    async def big(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"application/x-ndjson")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i in range(count):
            sizes["in"] += len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": i < count - 1})

    def on_chunk(c: bytes) -> None:
        sizes["out"] += len(client.feed(c))

    tracemalloc.start()
    try:
        result = await call(
            CompressionMiddleware(big), headers=[("Accept-Encoding", coding)], on_chunk=on_chunk
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.header("content-encoding") == coding
    assert sizes["out"] == sizes["in"] == count * len(chunk)
    assert client.finished
    # NOTE: the body is ~8 MB; holding it (or its encoded form) would exceed this by far.
    assert peak < 2 * 1024 * 1024, peak


# --- negotiation through the middleware ----------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("gzip, deflate, br, zstd", "zstd"),
        ("gzip, br", "br"),
        ("gzip", "gzip"),
        ("x-gzip", "gzip"),
        ("GZIP", "gzip"),
        ("gzip;q=0.5, br;q=0.8", "br"),
        ("zstd;q=0.1, gzip;q=0.2", "gzip"),
        ("*", "zstd"),
        ("*;q=0.5, zstd;q=0", "br"),
        ("br;q=0, zstd;q=0, *", "gzip"),
        ("gzip;q=0", None),
        ("deflate, compress", None),
        ("identity", None),
        ("", None),
        ("gzip;q=0.4, identity;q=0.9", None),
    ],
)
async def test_accept_encoding_selects_coding(accept: str, expected: str | None) -> None:
    result = await call(CompressionMiddleware(make_app()), headers=[("Accept-Encoding", accept)])
    assert result.header("content-encoding") == expected
    assert result.header("vary") == "Accept-Encoding"
    assert result.decoded() == JSON_BODY


async def test_no_accept_encoding_sends_identity_with_vary() -> None:
    result = await call(CompressionMiddleware(make_app()))
    assert result.header("content-encoding") is None
    assert result.header("vary") == "Accept-Encoding"
    assert result.body == JSON_BODY
    assert result.header("content-length") == str(len(JSON_BODY))


async def test_server_preference_breaks_ties() -> None:
    app = CompressionMiddleware(make_app(), encodings=("gzip", "br"))
    result = await call(app, headers=[("Accept-Encoding", "zstd, br, gzip")])
    assert result.header("content-encoding") == "gzip"
    result = await call(app, headers=[("Accept-Encoding", "zstd")])
    assert result.header("content-encoding") is None
    result = await call(app, headers=[("Accept-Encoding", "gzip;q=0.5, br")])
    assert result.header("content-encoding") == "br"


async def test_several_accept_encoding_lines_are_combined() -> None:
    app = CompressionMiddleware(make_app())
    result = await call(app, headers=[("Accept-Encoding", "gzip;q=0.1"), ("Accept-Encoding", "br")])
    assert result.header("content-encoding") == "br"


async def test_refused_identity_compresses_even_small_bodies() -> None:
    app = CompressionMiddleware(make_app(b'{"ok": true}'))
    result = await call(app, headers=[("Accept-Encoding", "gzip, identity;q=0")])
    assert result.header("content-encoding") == "gzip"
    assert result.decoded() == b'{"ok": true}'
    result = await call(app, headers=[("Accept-Encoding", "br, *;q=0")])
    assert result.header("content-encoding") == "br"
    # a lone "*;q=0" with nothing acceptable: the body goes out unencoded (no 406 from here)
    result = await call(app, headers=[("Accept-Encoding", "*;q=0")])
    assert result.header("content-encoding") is None
    assert result.body == b'{"ok": true}'


# --- when not to compress ------------------------------------------------------------------------

ALL = [("Accept-Encoding", "gzip, br, zstd")]


@pytest.mark.parametrize(
    ("app_kwargs", "vary"),
    [
        ({"headers": [("Content-Encoding", "gzip")]}, None),
        ({"headers": [("Cache-Control", "public, No-Transform")]}, None),
        (
            {"status": 206, "headers": [("Content-Range", f"bytes 0-{len(JSON_BODY) - 1}/99999")]},
            None,
        ),
        ({"status": 416, "headers": [("Content-Range", "bytes */99999")]}, None),
        ({"content_type": "image/png"}, None),
        ({"content_type": "application/octet-stream"}, None),
        ({"content_type": None}, None),
        ({"body": b'{"small": "body"}'}, "Accept-Encoding"),
        ({"body": b""}, "Accept-Encoding"),
        ({"body": os.urandom(4096), "content_type": "text/plain"}, "Accept-Encoding"),
    ],
)
async def test_responses_left_alone(app_kwargs: dict[str, Any], vary: str | None) -> None:
    app = make_app(**app_kwargs)
    direct = await call(app, headers=ALL)
    result = await call(CompressionMiddleware(app), headers=ALL)
    assert result.header("vary") == vary
    assert result.status == direct.status
    assert result.body == direct.body
    assert [h for h in result.headers if h[0] != b"vary"] == direct.headers


@pytest.mark.parametrize("status", [204, 304])
async def test_bodyless_statuses_pass_through(status: int) -> None:
    app = make_app(b"", status=status, headers=[("ETag", '"abc"')], content_length=False)
    result = await call(CompressionMiddleware(app), headers=ALL)
    assert result.status == status
    assert result.header("content-encoding") is None
    assert result.header("etag") == '"abc"'


async def test_head_request_is_not_compressed_but_varies() -> None:
    result = await call(CompressionMiddleware(make_app()), method="HEAD", headers=ALL)
    assert result.header("content-encoding") is None
    assert result.header("vary") == "Accept-Encoding"
    assert result.header("content-length") == str(len(JSON_BODY))


async def test_range_request_is_not_compressed() -> None:
    result = await call(CompressionMiddleware(make_app()), headers=[*ALL, ("Range", "bytes=0-99")])
    assert result.header("content-encoding") is None
    assert result.body == JSON_BODY


async def test_small_declared_content_length_is_not_compressed() -> None:
    app = CompressionMiddleware(make_app(), minimum_size=len(JSON_BODY) + 1)
    result = await call(app, headers=ALL)
    assert result.header("content-encoding") is None
    assert result.header("vary") == "Accept-Encoding"
    assert result.body == JSON_BODY
    app = CompressionMiddleware(make_app(), minimum_size=len(JSON_BODY))
    assert (await call(app, headers=ALL)).header("content-encoding") == "zstd"


async def test_minimum_size_applies_to_single_message_without_content_length() -> None:
    small = b"x" * 500
    app = CompressionMiddleware(make_app(small, content_type="text/plain", content_length=False))
    result = await call(app, headers=ALL)
    assert result.header("content-encoding") is None
    assert result.body == small
    app = CompressionMiddleware(
        make_app(small, content_type="text/plain", content_length=False), minimum_size=100
    )
    result = await call(app, headers=ALL)
    assert result.header("content-encoding") == "zstd"
    assert result.decoded() == small


async def test_streamed_body_is_compressed_even_when_first_chunk_is_small() -> None:
    app = CompressionMiddleware(make_app([b"a", b"b" * 10, b"c"], content_type="text/plain"))
    result = await call(app, headers=[("Accept-Encoding", "gzip")])
    assert result.header("content-encoding") == "gzip"
    assert result.decoded() == b"a" + b"b" * 10 + b"c"


@pytest.mark.parametrize(
    ("prefixes", "path", "compressed"),
    [
        (["/static"], "/static", False),
        (["/static"], "/static/app.js", False),
        (["/static/"], "/static/app.js", False),
        (["/static"], "/staticky", True),
        (["/static"], "/api/static", True),
        (["/"], "/anything", False),
        ([], "/static", True),
    ],
)
async def test_exclude_paths(prefixes: list[str], path: str, compressed: bool) -> None:
    app = CompressionMiddleware(make_app(), exclude_paths=prefixes)
    result = await call(app, path=path, headers=ALL)
    assert (result.header("content-encoding") == "zstd") is compressed
    assert (result.header("vary") is not None) is compressed
    assert result.decoded() == JSON_BODY


class _Route:
    def __init__(self, endpoint: Callable[..., Any]) -> None:
        self.endpoint = endpoint


async def test_no_compression_handler_read_from_scope_route() -> None:
    @no_compression
    async def raw_handler() -> None: ...

    async def plain_handler() -> None: ...

    inner = make_app()

    def routed(endpoint: Callable[..., Any]) -> Any:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            scope["route"] = _Route(endpoint)  # what the router does after matching
            await inner(scope, receive, send)

        return app

    opted_out = await call(CompressionMiddleware(routed(raw_handler)), headers=ALL)
    assert opted_out.header("content-encoding") is None
    assert opted_out.header("vary") is None
    assert opted_out.body == JSON_BODY
    normal = await call(CompressionMiddleware(routed(plain_handler)), headers=ALL)
    assert normal.header("content-encoding") == "zstd"


async def test_non_http_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        message = await receive()
        await send({"type": f"{message['type']}.echo"})

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    for kind, first in [("lifespan", "lifespan.startup"), ("websocket", "websocket.connect")]:

        async def receive(first: str = first) -> dict[str, Any]:
            return {"type": first}

        await CompressionMiddleware(app)({"type": kind, "headers": ALL}, receive, send)
    assert seen == ["lifespan", "websocket"]
    assert sent == [{"type": "lifespan.startup.echo"}, {"type": "websocket.connect.echo"}]


# --- header rewriting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("etag", "expected"),
    [('"v1"', 'W/"v1"'), ('W/"v1"', 'W/"v1"')],
)
async def test_etag_is_weakened_when_compressed(etag: str, expected: str) -> None:
    app = CompressionMiddleware(make_app(headers=[("ETag", etag)]))
    assert (await call(app, headers=ALL)).header("etag") == expected
    assert (await call(app)).header("etag") == etag


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ([("Vary", "Origin")], "Origin, Accept-Encoding"),
        ([("Vary", "accept-encoding")], "accept-encoding"),
        ([("Vary", "Origin, Accept-Encoding")], "Origin, Accept-Encoding"),
        ([("Vary", "*")], "*"),
        ([("Vary", "Origin"), ("Vary", "Cookie")], "Origin, Cookie, Accept-Encoding"),
    ],
)
async def test_vary_is_merged(existing: list[tuple[str, str]], expected: str) -> None:
    for headers in (ALL, []):
        result = await call(CompressionMiddleware(make_app(headers=existing)), headers=headers)
        assert result.header("vary") == expected


async def test_accept_ranges_is_dropped_and_other_headers_kept() -> None:
    app = make_app(
        headers=[("Accept-Ranges", "bytes"), ("X-Request-Id", "42"), ("Set-Cookie", "a=1")]
    )
    result = await call(CompressionMiddleware(app), headers=ALL)
    assert result.header("accept-ranges") is None
    assert result.header("x-request-id") == "42"
    assert result.header("set-cookie") == "a=1"
    assert result.header("content-type") == "application/json"


async def test_streamed_response_drops_declared_content_length() -> None:
    parts = [JSON_BODY[:1000], JSON_BODY[1000:]]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(JSON_BODY)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": parts[0], "more_body": True})
        await send({"type": "http.response.body", "body": parts[1], "more_body": False})

    result = await call(CompressionMiddleware(app), headers=[("Accept-Encoding", "br")])
    assert result.header("content-length") is None
    assert result.decoded() == JSON_BODY


async def test_empty_chunks_in_a_stream_are_not_sent() -> None:
    parts = [b"x" * 2000, b"", b"", b"y" * 2000, b""]
    result = await call(
        CompressionMiddleware(make_app(parts, content_type="text/plain")),
        headers=[("Accept-Encoding", "gzip")],
    )
    assert all(result.chunks)
    assert len(result.chunks) == 3
    assert result.decoded() == b"x" * 2000 + b"y" * 2000


async def test_incompressible_one_shot_body_goes_out_as_is() -> None:
    noise = os.urandom(20_000)
    result = await call(
        CompressionMiddleware(make_app(noise, content_type="text/plain")), headers=ALL
    )
    assert result.header("content-encoding") is None
    assert result.header("content-length") == str(len(noise))
    assert result.body == noise


# --- options -------------------------------------------------------------------------------------


async def test_gzip_level_reaches_zlib() -> None:
    # RFC 1952 XFL byte: 2 = slowest/best compression, 4 = fastest
    fast = await call(
        CompressionMiddleware(make_app(), gzip_level=1), headers=[("Accept-Encoding", "gzip")]
    )
    best = await call(
        CompressionMiddleware(make_app(), gzip_level=9), headers=[("Accept-Encoding", "gzip")]
    )
    assert fast.header("content-encoding") == best.header("content-encoding") == "gzip"
    assert fast.body[8] == 4
    assert best.body[8] == 2
    assert fast.decoded() == best.decoded() == JSON_BODY


@pytest.mark.parametrize(("coding", "option"), [("br", "brotli_level"), ("zstd", "zstd_level")])
async def test_levels_change_output(coding: str, option: str) -> None:
    low, high = (0, 11) if coding == "br" else (1, 19)
    text = b" ".join(b"token%d" % (i * 7919 % 1013) for i in range(20000))
    bodies = []
    for level in (low, high):
        app = CompressionMiddleware(make_app(text, content_type="text/plain"), **{option: level})
        result = await call(app, headers=[("Accept-Encoding", coding)])
        assert result.decoded() == text
        bodies.append(result.body)
    assert len(bodies[1]) < len(bodies[0])


async def test_custom_media_types() -> None:
    app = CompressionMiddleware(make_app(content_type="application/x-custom"))
    assert (await call(app, headers=ALL)).header("content-encoding") is None
    app = CompressionMiddleware(
        make_app(content_type="application/x-custom"), media_types=["application/x-custom"]
    )
    assert (await call(app, headers=ALL)).header("content-encoding") == "zstd"
    app = CompressionMiddleware(make_app(), media_types=["application/x-custom"])
    result = await call(app, headers=ALL)
    assert result.header("content-encoding") is None
    assert result.header("vary") is None


@pytest.mark.parametrize(
    ("content_type", "compressed"),
    [
        ("text/html; charset=utf-8", True),
        ("TEXT/CSS", True),
        ("text/event-stream", True),
        ("application/problem+json", True),
        ("application/vnd.api+json", True),
        ("application/atom+xml", True),
        ("image/svg+xml", True),
        ("application/javascript; charset=utf-8", True),
        ("application/wasm", True),
        ("font/ttf", True),
        ("font/woff2", False),
        ("image/jpeg", False),
        ("application/zip", False),
        ("video/mp4", False),
        ("nonsense", False),
    ],
)
async def test_default_media_types(content_type: str, compressed: bool) -> None:
    result = await call(CompressionMiddleware(make_app(content_type=content_type)), headers=ALL)
    assert (result.header("content-encoding") == "zstd") is compressed
    assert result.decoded() == JSON_BODY


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"encodings": ("gzip", "deflate")}, "unknown content coding 'deflate'"),
        ({"encodings": "gzip"}, "sequence of codings"),
        ({"encodings": ("gzip", "GZIP")}, "duplicate"),
        ({"gzip_level": 10}, r"gzip level must be an integer in \[1, 9\]"),
        ({"brotli_level": 12}, "br level"),
        ({"zstd_level": 22}, "zstd level"),
        ({"gzip_level": True}, "gzip level"),
        ({"minimum_size": -1}, "minimum_size"),
        ({"exclude_paths": ["static"]}, "must start with '/'"),
        ({"media_types": ["text"]}, "invalid media type pattern 'text'"),
        ({"media_types": ["te*t/html"]}, "invalid media type pattern"),
        ({"media_types": "text/*"}, "not a string"),
        ({"max_decompressed_size": -5}, "max_decompressed_size"),
    ],
)
def test_invalid_options_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CompressionMiddleware(make_app(), **kwargs)


# --- unusual message flows -----------------------------------------------------------------------


async def test_pathsend_after_start_passes_through_uncompressed() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"5000")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.pathsend", "path": "/tmp/x.txt"})

    result = await call(CompressionMiddleware(app), headers=ALL)
    assert [m["type"] for m in result.messages] == [
        "http.response.start",
        "http.response.pathsend",
    ]
    assert result.header("content-encoding") is None
    assert result.header("content-length") == "5000"


async def test_headers_given_as_a_generator() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        pairs = [(b"content-type", b"application/json"), (b"etag", b'"g"')]
        await send({"type": "http.response.start", "status": 200, "headers": (p for p in pairs)})
        await send({"type": "http.response.body", "body": JSON_BODY})

    compressed = await call(CompressionMiddleware(app), headers=[("Accept-Encoding", "gzip")])
    assert compressed.header("content-encoding") == "gzip"
    assert compressed.header("etag") == 'W/"g"'
    assert compressed.decoded() == JSON_BODY
    small = await call(CompressionMiddleware(app, minimum_size=10**6), headers=ALL)
    assert small.header("content-type") == "application/json"
    assert small.header("etag") == '"g"'
    assert small.header("vary") == "Accept-Encoding"


async def test_trailers_follow_the_compressed_body() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/plain")]
        await send(
            {"type": "http.response.start", "status": 200, "headers": headers, "trailers": True}
        )
        await send({"type": "http.response.body", "body": b"a" * 3000, "more_body": True})
        await send({"type": "http.response.body", "body": b"b" * 3000, "more_body": False})
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"1")]})

    result = await call(CompressionMiddleware(app), headers=[("Accept-Encoding", "zstd")])
    assert result.messages[0]["trailers"] is True
    assert result.messages[-1]["type"] == "http.response.trailers"
    assert result.messages[-2]["more_body"] is False
    assert result.decoded() == b"a" * 3000 + b"b" * 3000


async def test_error_mid_stream_propagates() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"a" * 3000, "more_body": True})
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await call(CompressionMiddleware(app), headers=ALL)
