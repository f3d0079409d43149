"""A raw ASGI 3 app (no framework) for the test-client tests and the real-server harness.

Routes:
    ``GET /``               ``hello`` as text/plain.
    ``GET /scope[/...]``    JSON description of the connection scope.
    ``POST /echo``          the request body; ``x-body-chunks`` lists the size of each
                            ``http.request`` message, ``x-more-body`` their ``more_body`` flags.
    ``GET /stream``         three chunks ``chunk-1..3`` with short sleeps; with ``?gate=NAME``
                            the app waits for ``/release?gate=NAME`` before chunks 2 and 3.
    ``POST /release?gate=N``  releases a waiting ``/stream``.
    ``GET /set-cookie?k=v`` sets the cookies given in the query string.
    ``GET /state``          the lifespan state copied into the scope (values as ``repr``).
    ``GET /error``          raises ``RuntimeError("boom")``.

Run it on a server with ``uvicorn apps.raw_app:app`` from the ``tests`` directory.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import anyio

from armature.types import Receive, Scope, Send

#: Lifespan events seen by this process, in order.
LIFESPAN_EVENTS: list[str] = []
#: Number of the chunk ``/stream?gate=NAME`` is sending (or last sent), per gate name.
STREAM_PROGRESS: dict[str, int] = {}
_GATES: dict[str, anyio.Event] = {}


def _gate(name: str) -> anyio.Event:
    event = _GATES.get(name)
    if event is None:
        event = _GATES[name] = anyio.Event()
    return event


def _query(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))


async def _respond(
    send: Send, status: int, body: bytes, content_type: bytes, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + extra})
    await send({"type": "http.response.body", "body": body})


async def _text(send: Send, text: str, status: int = 200, extra: Any = ()) -> None:
    await _respond(send, status, text.encode(), b"text/plain; charset=utf-8", list(extra))


async def _json(send: Send, data: Any) -> None:
    await _respond(send, 200, json.dumps(data).encode(), b"application/json", [])


async def _read_body(receive: Receive) -> tuple[bytes, list[int], list[bool]]:
    body, sizes, flags = b"", [], []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise OSError("client disconnected while sending the body")
        body += message.get("body", b"")
        sizes.append(len(message.get("body", b"")))
        flags.append(bool(message.get("more_body", False)))
        if not message.get("more_body", False):
            return body, sizes, flags


def _describe(scope: Scope) -> dict[str, Any]:
    return {
        "type": scope["type"],
        "asgi": scope.get("asgi"),
        "http_version": scope["http_version"],
        "method": scope["method"],
        "scheme": scope["scheme"],
        "path": scope["path"],
        "raw_path": scope["raw_path"].decode("latin-1"),
        "query_string": scope["query_string"].decode("latin-1"),
        "root_path": scope.get("root_path", ""),
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
        "client": list(scope["client"]) if scope.get("client") else None,
        "server": list(scope["server"]) if scope.get("server") else None,
        "state_keys": sorted(scope.get("state", {})),
        "extensions": sorted(scope.get("extensions") or {}),
    }


async def _stream(scope: Scope, send: Send) -> None:
    gate = _query(scope).get("gate")
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    for number in (1, 2, 3):
        if gate is not None:
            STREAM_PROGRESS[gate] = number
        chunk = b"chunk-%d\n" % number
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if gate is not None and number == 1:
            await _gate(gate).wait()
            _GATES.pop(gate, None)
        await anyio.sleep(0.01)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            LIFESPAN_EVENTS.append("startup")
            scope["state"]["started"] = True
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            LIFESPAN_EVENTS.append("shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI entry point."""
    if scope["type"] == "lifespan":
        await _lifespan(scope, receive, send)
        return
    if scope["type"] != "http":
        raise RuntimeError(f"unsupported scope type {scope['type']!r}")
    path = scope["path"]
    if path == "/":
        await _text(send, "hello")
    elif path == "/scope" or path.startswith("/scope/"):
        await _json(send, _describe(scope))
    elif path == "/echo":
        body, sizes, flags = await _read_body(receive)
        extra = [
            (b"x-body-chunks", ",".join(map(str, sizes)).encode()),
            (b"x-more-body", ",".join("1" if flag else "0" for flag in flags).encode()),
        ]
        await _respond(send, 200, body, b"application/octet-stream", extra)
    elif path == "/stream":
        await _stream(scope, send)
    elif path == "/release":
        _gate(_query(scope)["gate"]).set()
        await _text(send, "released")
    elif path == "/set-cookie":
        cookies = [(b"set-cookie", f"{k}={v}; Path=/".encode()) for k, v in _query(scope).items()]
        await _text(send, "ok", extra=cookies)
    elif path == "/state":
        await _json(send, {key: repr(value) for key, value in scope.get("state", {}).items()})
    elif path == "/error":
        raise RuntimeError("boom")
    else:
        await _text(send, "not found", status=404)
