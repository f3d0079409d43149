"""The baseline: a hand-written raw ASGI app doing the benchmark's work by hand.

Every budget is a multiple of this app's time. It does what a careful hand-written app must do
and nothing more: a dict lookup on the path with a method check, pre-computed header lists for
fixed bodies, orjson for JSON, ``Item.model_validate_json`` for the POST body (a problem+json 422 on
``ValidationError``), a prefix check plus ``int()`` for ``/users/{id}``, a generic query-string
parse for ``/search``, and three nested no-op ASGI wrappers around the ``/mw/`` routes. The 404
is a pre-built problem+json response.

The Batteries rows do the same by hand: ``/static/...`` checks the path segments, then opens,
stats and reads the file in one worker-thread call and answers with content type, length, ETag
and Last-Modified (304 on a matching ``If-None-Match``); ``/upload`` splits the multipart body on
the boundary from the content type and reads each part's ``Content-Disposition``; ``/cors/`` sits
behind a small wrapper that adds ``Access-Control-Allow-Origin`` and ``Vary: Origin`` for an
allowed ``Origin``.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import stat
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote_plus

import orjson
from pydantic import TypeAdapter, ValidationError

from loadtests.cases import STATIC_DIR
from loadtests.models import Item

__all__ = ["FEATURES", "VERSION", "make_app"]

VERSION = "hand-written"
FEATURES: frozenset[str] = frozenset({"cors", "multipart", "sse", "static"})

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]

HELLO = b"Hello, World!"
PLAIN_TYPE = (b"content-type", b"text/plain; charset=utf-8")
JSON_TYPE = (b"content-type", b"application/json")
PROBLEM_TYPE = (b"content-type", b"application/problem+json")
HELLO_HEADERS = [PLAIN_TYPE, (b"content-length", b"13")]
ITEM_ADAPTER: TypeAdapter[Item] = TypeAdapter(Item)

NOT_FOUND_BODY = orjson.dumps({"type": "about:blank", "title": "Not Found", "status": 404})
NOT_FOUND_HEADERS = [PROBLEM_TYPE, (b"content-length", str(len(NOT_FOUND_BODY)).encode())]
NOT_ALLOWED_BODY = orjson.dumps(
    {"type": "about:blank", "title": "Method Not Allowed", "status": 405}
)


async def send_json(send: Send, body: bytes, status: int = 200, kind: Any = JSON_TYPE) -> None:
    """Send ``body`` (already JSON bytes) with its content-length."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [kind, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def plaintext(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": HELLO_HEADERS})
    await send({"type": "http.response.body", "body": HELLO})


async def json_hello(scope: Scope, receive: Receive, send: Send) -> None:
    await send_json(send, orjson.dumps({"message": "Hello, World!"}))


def parse_query(raw: bytes) -> dict[str, str]:
    """Parse a query string: first value wins, ``+`` and percent-escapes decoded when present."""
    params: dict[str, str] = {}
    for part in raw.decode("latin-1").split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        if "%" in part or "+" in part:
            key, value = unquote_plus(key), unquote_plus(value)
        params.setdefault(key, value)
    return params


async def search(scope: Scope, receive: Receive, send: Send) -> None:
    params = parse_query(scope["query_string"])
    q = params.get("q")
    try:
        limit = int(params["limit"]) if "limit" in params else 20
    except ValueError:
        limit = None
    if q is None or limit is None:
        problem = {"type": "about:blank", "title": "Unprocessable Content", "status": 422}
        await send_json(send, orjson.dumps(problem), 422, PROBLEM_TYPE)
        return
    await send_json(send, orjson.dumps({"q": q, "limit": limit}))


async def read_body(receive: Receive) -> bytes:
    """Read the whole request body."""
    message = await receive()
    body: bytes = message.get("body", b"")
    if message.get("more_body", False):
        chunks = [body]
        while message.get("more_body", False):
            message = await receive()
            chunks.append(message.get("body", b""))
        body = b"".join(chunks)
    return body


async def create_item(scope: Scope, receive: Receive, send: Send) -> None:
    body = await read_body(receive)
    try:
        item = Item.model_validate_json(body)
    except ValidationError as exc:
        problem = {
            "type": "about:blank",
            "title": "Unprocessable Content",
            "status": 422,
            "detail": "Request validation failed",
            "instance": scope["path"],
            "errors": exc.errors(include_url=False, include_context=False),
        }
        await send_json(send, orjson.dumps(problem), 422, PROBLEM_TYPE)
        return
    await send_json(send, ITEM_ADAPTER.dump_json(item), 201)


async def user(scope: Scope, receive: Receive, send: Send, raw_id: str) -> None:
    await send_json(send, orjson.dumps({"id": int(raw_id)}))


def text_route(text: str) -> Handler:
    """Return a handler answering ``text`` as text/plain (the numbered routes)."""
    body = text.encode()
    headers = [PLAIN_TYPE, (b"content-length", str(len(body)).encode())]

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return handler


class NoopMiddleware:
    """A pure-ASGI middleware that does nothing but pass the call on."""

    __slots__ = ("app",)

    def __init__(self, app: Handler) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


async def sse(scope: Scope, receive: Receive, send: Send) -> None:
    """100 events formatted by hand (orjson for the data), one body chunk each."""
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    for i in range(100):
        event = b"id: %d\ndata: %s\n\n" % (i, orjson.dumps({"n": i}))
        await send({"type": "http.response.body", "body": event, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def unprocessable(detail: str) -> bytes:
    """A problem+json 422 body."""
    problem = {"type": "about:blank", "title": "Unprocessable Content", "status": 422}
    return orjson.dumps({**problem, "detail": detail})


# --- /static/{path}: a file below one directory ------------------------------------------------

# NOTE: O_NOFOLLOW refuses a symlink as the last component; the segment check below keeps the
# path inside the directory (a baseline, not a hardened file server: links inside the tree are
# not inspected).
O_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)


def read_file(path: str) -> tuple[os.stat_result, bytes] | None:
    """Open, stat and read a regular file in one call (run in a worker thread); None if absent."""
    try:
        fd = os.open(path, O_FLAGS)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        chunks = []
        left = st.st_size
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return st, b"".join(chunks)
    finally:
        os.close(fd)


def media_type(name: str) -> bytes:
    """The content type for a file name (text types with ``charset=utf-8``)."""
    guessed, coding = mimetypes.guess_type(name, strict=False)
    if guessed is None or coding is not None:
        return b"application/octet-stream"
    if guessed.startswith("text/"):
        guessed += "; charset=utf-8"
    return guessed.encode("latin-1")


class StaticDir:
    """Serve the files below ``directory``: path check, one thread hop, headers, body.

    Args:
        directory: The directory served.
    """

    __slots__ = ("root",)

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.root = os.path.realpath(directory)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, rel: str) -> None:
        segments = rel.split("/")
        if "\\" in rel or "\x00" in rel or any(s in ("", ".", "..") for s in segments):
            await not_found(send)
            return
        path = os.path.join(self.root, *segments)
        # PERF: one worker-thread call opens, stats and reads the (small) file.
        found = await asyncio.get_running_loop().run_in_executor(None, read_file, path)
        if found is None:
            await not_found(send)
            return
        st, data = found
        etag = b'"%x-%x-%x"' % (st.st_ino, st.st_size, st.st_mtime_ns)
        headers = [
            (b"content-type", media_type(segments[-1])),
            (b"etag", etag),
            (b"last-modified", formatdate(st.st_mtime, usegmt=True).encode("latin-1")),
            (b"cache-control", b"no-cache"),
        ]
        for name, value in scope["headers"]:
            if name == b"if-none-match" and value == etag:
                await send({"type": "http.response.start", "status": 304, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
                return
        headers.append((b"content-length", b"%d" % len(data)))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data})


# --- POST /upload: multipart/form-data parsed by hand -------------------------------------------

MAX_UPLOAD_BODY = 1024 * 1024


def header_value(scope: Scope, wanted: bytes) -> bytes | None:
    """The first value of request header ``wanted`` (lower-case bytes)."""
    for name, value in scope["headers"]:
        if name == wanted:
            return bytes(value)
    return None


def split_params(value: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    """``a; k=v; k2="v2"`` -> ``(b"a", {b"k": b"v", b"k2": b"v2"})`` (keys lower-cased)."""
    main, *rest = value.split(b";")
    params: dict[bytes, bytes] = {}
    for item in rest:
        key, _, raw = item.partition(b"=")
        raw = raw.strip()
        if len(raw) >= 2 and raw[:1] == b'"' and raw[-1:] == b'"':
            raw = raw[1:-1]
        params[key.strip().lower()] = raw
    return main.strip().lower(), params


def parse_multipart(content_type: bytes, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Split a multipart/form-data body into ``name -> (filename or None, content)``.

    Raises:
        ValueError: Not multipart, no boundary, or a malformed part.
    """
    media, params = split_params(content_type)
    boundary = params.get(b"boundary")
    if media != b"multipart/form-data" or not boundary:
        raise ValueError("expected multipart/form-data with a boundary")
    # NOTE: every delimiter is CRLF "--" boundary; a leading CRLF makes the first one alike.
    parts = (b"\r\n" + body).split(b"\r\n--" + boundary)
    if len(parts) < 3 or not parts[-1].startswith(b"--"):
        raise ValueError("no closing boundary")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in parts[1:-1]:
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("a part without a blank line after its headers")
        name: bytes | None = None
        filename: bytes | None = None
        for line in head.split(b"\r\n"):
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-disposition":
                kind, disposition = split_params(value)
                if kind != b"form-data":
                    raise ValueError("a part that is not form-data")
                name = disposition.get(b"name")
                filename = disposition.get(b"filename")
        if name is None:
            raise ValueError("a part without a name")
        fields[name.decode()] = (None if filename is None else filename.decode(), content)
    return fields


async def upload(scope: Scope, receive: Receive, send: Send) -> None:
    body = await read_body(receive)
    if len(body) > MAX_UPLOAD_BODY:
        problem = {"type": "about:blank", "title": "Content Too Large", "status": 413}
        await send_json(send, orjson.dumps(problem), 413, PROBLEM_TYPE)
        return
    try:
        fields = parse_multipart(header_value(scope, b"content-type") or b"", body)
    except (ValueError, UnicodeDecodeError) as exc:
        await send_json(send, unprocessable(str(exc)), 422, PROBLEM_TYPE)
        return
    field = fields.get("field")
    file = fields.get("upload")
    if field is None or field[0] is not None or file is None or file[0] is None:
        await send_json(send, unprocessable("expected a field and an upload"), 422, PROBLEM_TYPE)
        return
    try:
        text = field[1].decode()
    except UnicodeDecodeError:
        await send_json(send, unprocessable("field is not UTF-8"), 422, PROBLEM_TYPE)
        return
    reply = {"field": text, "filename": file[0], "size": len(file[1])}
    await send_json(send, orjson.dumps(reply))


# --- /cors/...: CORS on simple requests ---------------------------------------------------------

ALLOWED_ORIGINS = frozenset({b"https://example.com"})
VARY_ORIGIN = (b"vary", b"Origin")


class SimpleCORS:
    """Add ``Access-Control-Allow-Origin`` + ``Vary: Origin`` to responses for allowed origins.

    Only simple (non-preflight) requests: the raw routes check the method before this runs.
    """

    __slots__ = ("app",)

    def __init__(self, app: Handler) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = header_value(scope, b"origin")
        if origin is not None and origin in ALLOWED_ORIGINS:
            extra = [(b"access-control-allow-origin", origin), VARY_ORIGIN]
        else:
            extra = [VARY_ORIGIN]

        async def send_with_cors(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_cors)


async def not_found(send: Send) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": NOT_FOUND_HEADERS})
    await send({"type": "http.response.body", "body": NOT_FOUND_BODY})


class RawApp:
    """The ASGI callable: lifespan by hand, then a dict lookup on the path.

    Args:
        routes: ``path -> (method, handler)``.
        static: The files served below ``/static/``.
    """

    __slots__ = ("routes", "static")

    def __init__(self, routes: dict[str, tuple[str, Handler]], static: StaticDir) -> None:
        self.routes = routes
        self.static = static

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            route = self.routes.get(path)
            if route is not None:
                if route[0] == scope["method"]:
                    await route[1](scope, receive, send)
                else:
                    await send_json(send, NOT_ALLOWED_BODY, 405, PROBLEM_TYPE)
                return
            if path.startswith("/users/") and scope["method"] == "GET":
                raw_id = path[7:]
                if raw_id.isdigit():
                    await user(scope, receive, send, raw_id)
                    return
            if path.startswith("/static/") and scope["method"] == "GET":
                await self.static(scope, receive, send, path[8:])
                return
            await not_found(send)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    scope["state"]["app"] = "raw"
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return


def make_app(n_routes: int = 100) -> RawApp:
    """Build the raw app with ``n_routes`` numbered routes ``/r/a{i}/b{i}``.

    Args:
        n_routes: How many numbered routes to register.

    Returns:
        The ASGI app.
    """
    routes: dict[str, tuple[str, Handler]] = {
        "/plaintext": ("GET", plaintext),
        "/json": ("GET", json_hello),
        "/search": ("GET", search),
        "/items": ("POST", create_item),
        "/mw/plaintext": ("GET", NoopMiddleware(NoopMiddleware(NoopMiddleware(plaintext)))),
        "/sse": ("GET", sse),
        "/upload": ("POST", upload),
        "/cors/plaintext": ("GET", SimpleCORS(plaintext)),
    }
    for i in range(n_routes):
        routes[f"/r/a{i}/b{i}"] = ("GET", text_route(f"a{i}/b{i}"))
    return RawApp(routes, StaticDir(STATIC_DIR))
