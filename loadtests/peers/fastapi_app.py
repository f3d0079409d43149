"""The benchmark app written with FastAPI (a peer)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import fastapi
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from loadtests.models import Item
from loadtests.peers._noop import NoopMiddleware

__all__ = ["FEATURES", "VERSION", "make_app"]

VERSION = fastapi.__version__
FEATURES: frozenset[str] = frozenset()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    yield {"app": "fastapi"}


def text_route(text: str) -> Callable[[], Awaitable[str]]:
    async def handler() -> str:
        return text

    return handler


def make_app(n_routes: int = 100) -> FastAPI:
    """Build the FastAPI app with ``n_routes`` numbered routes ``/r/a{i}/b{i}``."""
    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/plaintext", response_class=PlainTextResponse)
    async def plaintext() -> str:
        return "Hello, World!"

    @app.get("/json")
    async def json_hello() -> dict[str, str]:
        return {"message": "Hello, World!"}

    @app.get("/users/{id}")
    async def user(id: int) -> dict[str, int]:
        return {"id": id}

    @app.get("/search")
    async def search(q: str, limit: int = 20) -> dict[str, Any]:
        return {"q": q, "limit": limit}

    @app.post("/items", status_code=201)
    async def create(item: Item) -> Item:
        return item

    # NOTE: FastAPI has no route-level ASGI middleware; a mounted sub-app carries the three.
    sub = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    sub.add_api_route("/plaintext", plaintext, response_class=PlainTextResponse)
    for _ in range(3):
        sub.add_middleware(NoopMiddleware)
    app.mount("/mw", sub)

    for i in range(n_routes):
        app.add_api_route(
            f"/r/a{i}/b{i}", text_route(f"a{i}/b{i}"), response_class=PlainTextResponse
        )
    return app
