"""The benchmark app written with Litestar (a peer)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

from litestar import Litestar, MediaType, Router, get, post

from loadtests.models import Item
from loadtests.peers._noop import NoopMiddleware

__all__ = ["FEATURES", "VERSION", "make_app"]

VERSION = version("litestar")
FEATURES: frozenset[str] = frozenset()


def text_route(path: str, text: str) -> Any:
    async def handler() -> str:
        return text

    return get(path, media_type=MediaType.TEXT, name=f"r-{text}")(handler)


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    app.state.app = "litestar"
    yield


def make_app(n_routes: int = 100) -> Litestar:
    """Build the Litestar app with ``n_routes`` numbered routes ``/r/a{i}/b{i}``."""

    @get("/plaintext", media_type=MediaType.TEXT)
    async def plaintext() -> str:
        return "Hello, World!"

    @get("/json")
    async def json_hello() -> dict[str, str]:
        return {"message": "Hello, World!"}

    @get("/users/{id:int}")
    async def user(id: int) -> dict[str, int]:
        return {"id": id}

    @get("/search")
    async def search(q: str, limit: int = 20) -> dict[str, Any]:
        return {"q": q, "limit": limit}

    @post("/items")
    async def create(data: Item) -> Item:
        return data

    mw_plaintext = get("/plaintext", media_type=MediaType.TEXT, name="mw-plaintext")(plaintext.fn)
    mw = Router("/mw", route_handlers=[mw_plaintext], middleware=[NoopMiddleware] * 3)
    handlers: list[Any] = [plaintext, json_hello, user, search, create, mw]
    handlers += [text_route(f"/r/a{i}/b{i}", f"a{i}/b{i}") for i in range(n_routes)]
    return Litestar(route_handlers=handlers, lifespan=[lifespan], openapi_config=None)
