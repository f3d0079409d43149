"""The benchmark app written with BlackSheep (a peer)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.metadata import version
from typing import Any

from blacksheep import Application, Content, Response, Router, json, text

from loadtests.models import Item
from loadtests.peers._noop import NoopMiddleware

__all__ = ["FEATURES", "VERSION", "make_app"]

VERSION = version("blacksheep")
FEATURES: frozenset[str] = frozenset()


def text_route(value: str) -> Callable[[], Awaitable[Response]]:
    async def handler() -> Response:
        return text(value)

    return handler


async def plaintext() -> Response:
    return text("Hello, World!")


def make_app(n_routes: int = 100) -> Application:
    """Build the BlackSheep app with ``n_routes`` numbered routes ``/r/a{i}/b{i}``."""
    app = Application(router=Router())
    get, post = app.router.get, app.router.post

    get("/plaintext")(plaintext)

    @get("/json")
    async def json_hello() -> Response:
        return json({"message": "Hello, World!"})

    @get("/users/{int:id}")
    async def user(id: int) -> Response:
        return json({"id": id})

    @get("/search")
    async def search(q: str, limit: int = 20) -> Response:
        return json({"q": q, "limit": limit})

    @post("/items")
    async def create(item: Item) -> Response:
        return Response(201, content=Content(b"application/json", item.model_dump_json().encode()))

    # NOTE: BlackSheep middlewares are app-wide; a mounted sub-app carries the three ASGI ones.
    sub = Application(router=Router())
    sub.router.get("/plaintext")(plaintext)
    wrapped: Any = NoopMiddleware(NoopMiddleware(NoopMiddleware(sub)))
    app.mount("/mw", wrapped)

    for i in range(n_routes):
        get(f"/r/a{i}/b{i}")(text_route(f"a{i}/b{i}"))

    async def on_start(application: Application) -> None:
        await sub.start()

    app.on_start += on_start
    return app
