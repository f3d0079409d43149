"""The example app served by ``make run`` (granian on 127.0.0.1:8000).

Run it any of these ways::

    make run
    granian --interface asgi examples.app:app
    uvicorn examples.app:app
    hypercorn examples.app:app

``GET /`` answers with an index of the routes below.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
from pydantic import BaseModel, Field

from armature import (
    App,
    Header,
    HTMLResponse,
    Query,
    Request,
    Router,
    StreamingResponse,
)
from armature.exceptions import NotFound
from armature.openapi import setup_openapi


class ItemIn(BaseModel):
    """What a client sends to create an item."""

    name: str = Field(min_length=1, max_length=100)
    price: float = Field(ge=0)
    tags: list[str] = []


class Item(ItemIn):
    """An item as stored and returned."""

    id: int


@asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
    """Set up the in-memory store; its contents reach handlers as ``request.state.items``."""
    items: dict[int, Item] = {1: Item(id=1, name="hammer", price=9.5, tags=["tools"])}
    yield {"items": items}
    items.clear()


app = App(lifespan=lifespan, title="armature example", trailing_slash="redirect")
setup_openapi(app)  # /openapi.json, Swagger UI at /docs, ReDoc at /redoc


@app.get("/", name="index")
async def index(request: Request) -> dict[str, Any]:
    """List every route this app serves."""
    return {
        "app": app.title,
        "routes": [
            {"method": row["method"], "path": row["path"], "name": row["name"]}
            for row in app.route_table()
            if row["method"] not in ("HEAD", "OPTIONS")
        ],
    }


@app.get("/hello")
async def hello(name: str = "world") -> str:
    """Plain text."""
    return f"Hello, {name}!"


@app.get("/page", response_class=HTMLResponse)
async def page() -> str:
    """A small HTML page."""
    return "<!doctype html><title>armature</title><h1>It works.</h1>"


items = Router(prefix="/items", tags=["items"])


@items.get("/")
async def list_items(
    request: Request, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> list[Item]:
    """List items."""
    return list(request.state.items.values())[:limit]


@items.get("/{item_id:int}", name="item")
async def get_item(item_id: int, request: Request) -> Item:
    """Fetch one item (404 problem+json when it does not exist)."""
    try:
        item: Item = request.state.items[item_id]
    except KeyError:
        raise NotFound(f"item {item_id} does not exist") from None
    return item


@items.post("/", status_code=201)
async def create_item(data: ItemIn, request: Request) -> Item:
    """Create an item from a JSON body (422 problem+json when invalid)."""
    store: dict[int, Item] = request.state.items
    item = Item(id=max(store, default=0) + 1, **data.model_dump())
    store[item.id] = item
    return item


app.include_router(items)


@app.get("/stream")
async def stream(count: Annotated[int, Query(ge=1, le=50)] = 5) -> StreamingResponse:
    """Stream ``count`` lines, one every 10 ms."""

    async def lines() -> AsyncIterator[str]:
        for i in range(count):
            yield f"line {i}\n"
            await anyio.sleep(0.01)

    return StreamingResponse(lines(), media_type="text/plain")


@app.get("/whoami")
async def whoami(
    request: Request, user_agent: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
    """Echo what the server told us about this request."""
    client = request.client
    return {
        "client": client.host if client else None,
        "user_agent": user_agent,
        "url": str(request.url),
        "http_version": request.scope.get("http_version"),
    }
