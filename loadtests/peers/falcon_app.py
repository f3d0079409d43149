"""The benchmark app written with Falcon's ASGI app (a peer).

Falcon has no route-level pure-ASGI middleware and no mounting, so the ``mw`` row is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import falcon
import falcon.asgi
from pydantic import ValidationError

from loadtests.models import Item

__all__ = ["FEATURES", "SKIP_CASES", "VERSION", "make_app"]

VERSION = falcon.__version__
FEATURES: frozenset[str] = frozenset()
SKIP_CASES: Mapping[str, str] = {"mw": "no route-level ASGI middleware in Falcon"}


class Plaintext:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "Hello, World!"


class Json:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {"message": "Hello, World!"}


class User:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: int) -> None:
        resp.media = {"id": id}


class Search:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        q = req.get_param("q", required=True)
        limit = req.get_param_as_int("limit", default=20)
        resp.media = {"q": q, "limit": limit}


class Items:
    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        body = await req.stream.read()
        try:
            item = Item.model_validate_json(body)
        except ValidationError as exc:
            resp.status = 422
            resp.media = {"detail": exc.errors(include_url=False, include_context=False)}
            return
        resp.status = 201
        resp.content_type = falcon.MEDIA_JSON
        resp.data = item.model_dump_json().encode()


class Text:
    def __init__(self, text: str) -> None:
        self.text = text

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = self.text


def make_app(n_routes: int = 100) -> Any:
    """Build the Falcon app with ``n_routes`` numbered routes ``/r/a{i}/b{i}``."""
    app = falcon.asgi.App()
    app.add_route("/plaintext", Plaintext())
    app.add_route("/json", Json())
    app.add_route("/users/{id:int}", User())
    app.add_route("/search", Search())
    app.add_route("/items", Items())
    for i in range(n_routes):
        app.add_route(f"/r/a{i}/b{i}", Text(f"a{i}/b{i}"))
    return app
