"""The benchmark app written with Starlette (a peer, measured with ``--with starlette``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import starlette
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from loadtests.cases import STATIC_DIR
from loadtests.models import Item

__all__ = ["FEATURES", "VERSION", "make_app"]

VERSION = starlette.__version__
# NOTE: no "multipart": Starlette's form parsing needs python-multipart, not in the project venv.
FEATURES: frozenset[str] = frozenset({"cors", "static"})

Scope = dict[str, Any]
ASGI = Callable[[Scope, Any, Any], Awaitable[None]]


class NoopMiddleware:
    """A pure-ASGI middleware that does nothing but pass the call on."""

    def __init__(self, app: ASGI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


async def plaintext(request: Request) -> Response:
    return PlainTextResponse("Hello, World!")


async def json_hello(request: Request) -> Response:
    return JSONResponse({"message": "Hello, World!"})


async def user(request: Request) -> Response:
    return JSONResponse({"id": request.path_params["id"]})


async def search(request: Request) -> Response:
    params = request.query_params
    q = params.get("q")
    try:
        limit = int(params["limit"]) if "limit" in params else 20
    except ValueError:
        return JSONResponse({"detail": "limit must be an integer"}, 422)
    if q is None:
        return JSONResponse({"detail": "q is required"}, 422)
    return JSONResponse({"q": q, "limit": limit})


async def create_item(request: Request) -> Response:
    try:
        item = Item.model_validate_json(await request.body())
    except ValidationError as exc:
        return JSONResponse({"detail": exc.errors(include_url=False, include_context=False)}, 422)
    return Response(item.model_dump_json(), 201, media_type="application/json")


def text_route(text: str) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        return PlainTextResponse(text)

    return handler


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    yield {"app": "starlette"}


def make_app(n_routes: int = 100) -> Starlette:
    """Build the Starlette app with ``n_routes`` numbered routes ``/r/a{i}/b{i}``."""
    routes: list[BaseRoute] = [
        Route("/plaintext", plaintext),
        Route("/json", json_hello),
        Route("/users/{id:int}", user),
        Route("/search", search),
        Route("/items", create_item, methods=["POST"]),
        Mount(
            "/mw",
            routes=[Route("/plaintext", plaintext)],
            middleware=[Middleware(NoopMiddleware) for _ in range(3)],
        ),
        Mount(
            "/cors",
            routes=[Route("/plaintext", plaintext)],
            middleware=[Middleware(CORSMiddleware, allow_origins=["https://example.com"])],
        ),
        Mount("/static", StaticFiles(directory=STATIC_DIR)),
    ]
    routes += [Route(f"/r/a{i}/b{i}", text_route(f"a{i}/b{i}")) for i in range(n_routes)]
    return Starlette(routes=routes, lifespan=lifespan)
