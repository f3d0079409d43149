"""The benchmark app written with armature's public API, the way a user would write it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Annotated, Any

from armature import App, Form, Router, StaticFiles, UploadFile
from armature.middleware.cors import CORSMiddleware
from armature.sse import EventSourceResponse, ServerSentEvent
from armature.types import ASGIApp, Receive, Scope, Send
from loadtests.cases import STATIC_DIR
from loadtests.models import Item

__all__ = ["FEATURES", "VERSION", "make_app"]

VERSION = version("armature")
FEATURES: frozenset[str] = frozenset({"cors", "di", "multipart", "sse", "static"})


class Settings:
    """A singleton injected by the DI rows."""

    greeting = "Hello, World!"


class Repository:
    """A singleton that itself depends on a singleton."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings


class Metrics:
    """A third singleton."""


class Session:
    """A request-scoped resource with cleanup."""

    __slots__ = ("open",)

    def __init__(self) -> None:
        self.open = True


async def session_factory() -> AsyncIterator[Session]:
    """Open a session per request; close it after the response."""
    session = Session()
    try:
        yield session
    finally:
        session.open = False


class NoopMiddleware:
    """A pure-ASGI middleware that does nothing but pass the call on."""

    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


@asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
    yield {"app": "armature"}


def text_route(text: str) -> Callable[[], Awaitable[str]]:
    async def handler() -> str:
        return text

    return handler


def make_app(n_routes: int = 100) -> App:
    """Build the armature app with ``n_routes`` numbered routes ``/r/a{i}/b{i}``."""
    app = App(lifespan=lifespan)

    @app.get("/plaintext")
    async def plaintext() -> str:
        return "Hello, World!"

    @app.get("/json")
    async def json_hello() -> dict[str, str]:
        return {"message": "Hello, World!"}

    @app.get("/users/{id:int}")
    async def user(id: int) -> dict[str, int]:
        return {"id": id}

    @app.get("/search")
    async def search(q: str, limit: int = 20) -> dict[str, Any]:
        return {"q": q, "limit": limit}

    @app.post("/items", status_code=201)
    async def create(item: Item) -> Item:
        return item

    # Dependency injection rows (issue: DI): compared with the plain /json handler.
    app.provide(Settings)
    app.provide(Repository)
    app.provide(Metrics)
    app.provide(session_factory, scope="request")

    @app.get("/di/singletons")
    async def di_singletons(
        settings: Settings, repo: Repository, metrics: Metrics
    ) -> dict[str, str]:
        return {"message": repo.settings.greeting}

    @app.get("/di/request")
    async def di_request(session: Session) -> dict[str, str]:
        return {"message": "Hello, World!" if session.open else "closed"}

    # Server-sent events (issue: Batteries): 100 JSON events with ids, default keep-alive.
    @app.get("/sse")
    async def sse() -> EventSourceResponse:
        async def events() -> AsyncIterator[ServerSentEvent]:
            for i in range(100):
                yield ServerSentEvent({"n": i}, id=str(i))

        return EventSourceResponse(events())

    # Batteries rows: a directory of static files, a multipart form with an upload, and CORS on a
    # router of its own (route-level middleware, so the other rows do not pay for it).
    app.mount("/static", StaticFiles(directory=STATIC_DIR))

    @app.post("/upload")
    async def upload_form(field: Annotated[str, Form()], upload: UploadFile) -> dict[str, Any]:
        return {"field": field, "filename": upload.filename, "size": upload.size}

    cors = Router(prefix="/cors")
    cors.add_middleware(CORSMiddleware, allow_origins=["https://example.com"])

    @cors.get("/plaintext")
    async def cors_plaintext() -> str:
        return "Hello, World!"

    app.include_router(cors)

    # Route-level middleware: only the /mw routes pay for the three wrappers.
    mw = Router(prefix="/mw")
    for _ in range(3):
        mw.add_middleware(NoopMiddleware)

    @mw.get("/plaintext")
    async def mw_plaintext() -> str:
        return "Hello, World!"

    app.include_router(mw)

    for i in range(n_routes):
        app.get(f"/r/a{i}/b{i}")(text_route(f"a{i}/b{i}"))
    return app
