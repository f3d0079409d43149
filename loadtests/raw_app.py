"""The baseline: a hand-written raw ASGI app doing the benchmark's work by hand.

Every budget is a multiple of this app's time. It does what a careful hand-written app must do
and nothing more: a dict lookup on the path with a method check, pre-computed header lists for
fixed bodies, orjson for JSON, ``Item.model_validate_json`` for the POST body (a problem+json 422 on
``ValidationError``), a prefix check plus ``int()`` for ``/users/{id}``, a generic query-string
parse for ``/search``, and three nested no-op ASGI wrappers around the ``/mw/`` routes. The 404
is a pre-built problem+json response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote_plus

import orjson
from pydantic import TypeAdapter, ValidationError

from loadtests.models import Item

__all__ = ["FEATURES", "VERSION", "make_app"]

VERSION = "hand-written"
FEATURES: frozenset[str] = frozenset({"sse"})

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


async def not_found(send: Send) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": NOT_FOUND_HEADERS})
    await send({"type": "http.response.body", "body": NOT_FOUND_BODY})


class RawApp:
    """The ASGI callable: lifespan by hand, then a dict lookup on the path.

    Args:
        routes: ``path -> (method, handler)``.
    """

    __slots__ = ("routes",)

    def __init__(self, routes: dict[str, tuple[str, Handler]]) -> None:
        self.routes = routes

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
    }
    for i in range(n_routes):
        routes[f"/r/a{i}/b{i}"] = ("GET", text_route(f"a{i}/b{i}"))
    return RawApp(routes)
