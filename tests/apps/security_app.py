"""An armature app behind the security middleware, for the real-server tests.

Middleware, outermost first: request ids, trusted hosts (127.0.0.1, localhost, *.example.com),
CORS for ``https://*.example.com`` with credentials, security headers, a 0.5 s timeout, and
signed-cookie sessions.

Routes:
    ``GET /``               ``ok``.
    ``GET /api/items``      JSON with the request id the handler saw.
    ``POST /api/items``     201 JSON.
    ``GET /slow``           sleeps past the timeout (504).
    ``GET /stalled``        streams one chunk, then stalls past the timeout (connection dropped).
    ``POST /counter``       increments a session counter.

Serve it with ``uvicorn apps.security_app:app`` from the ``tests`` directory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio

from armature import App, Request, StreamingResponse
from armature.middleware.cors import CORSMiddleware
from armature.middleware.request_id import RequestIdMiddleware, get_request_id
from armature.middleware.security_headers import SecurityHeadersMiddleware
from armature.middleware.sessions import SessionMiddleware, get_session
from armature.middleware.timeout import TimeoutMiddleware
from armature.middleware.trusted_host import TrustedHostMiddleware

app = App()


@app.get("/")
async def index() -> str:
    return "ok"


@app.get("/api/items")
async def list_items(request: Request) -> dict[str, object]:
    return {"items": [1, 2], "request_id": request.state.request_id, "context": get_request_id()}


@app.post("/api/items")
async def create_item() -> dict[str, bool]:
    return {"created": True}


@app.get("/slow")
async def slow() -> str:
    await anyio.sleep(10)
    return "too late"


@app.get("/stalled")
async def stalled() -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        yield b"first\n"
        await anyio.sleep(10)
        yield b"never\n"

    return StreamingResponse(body(), media_type="text/plain")


@app.post("/counter")
async def counter(request: Request) -> dict[str, int]:
    session = get_session(request)
    session["count"] = int(session.get("count", 0)) + 1
    return {"count": session["count"]}


# NOTE: add_middleware makes the last added the outermost layer.
app.add_middleware(SessionMiddleware, secret_key="security-app-test-key-0123456789")
app.add_middleware(TimeoutMiddleware, timeout=0.5)
app.add_middleware(SecurityHeadersMiddleware)
app.add_middleware(
    CORSMiddleware,
    allow_origins=["https://*.example.com"],
    allow_methods=["GET", "POST"],
    allow_headers=["X-Token"],
    allow_credentials=True,
    expose_headers=["X-Request-ID"],
)
app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost", "*.example.com"])
app.add_middleware(RequestIdMiddleware)
