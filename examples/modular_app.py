"""A module-style armature app: services, controllers, a guard, an interceptor and a filter.

Serve it like the micro example::

    granian --interface asgi examples.modular_app:app
    uvicorn examples.modular_app:app

Writes need the API key ``demo-key`` in ``X-API-Key``; reads are cached by an interceptor.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, Field

from armature import JSONResponse
from armature.modules import (
    Application,
    controller,
    delete,
    get,
    injectable,
    module,
    post,
    provide,
)
from armature.pipeline import APIKeyGuard, ExecutionContext, catch, use_guards, use_interceptors


class Settings(BaseModel):
    """Configuration shared by every module."""

    api_keys: list[str] = ["demo-key"]
    cache_seconds: float = 2.0


class ItemIn(BaseModel):
    """A new item."""

    name: str = Field(min_length=1)
    owner_id: int


class ItemNotFound(LookupError):
    """Raised by the items service; turned into a 404 by ``ItemNotFoundFilter``."""

    def __init__(self, item_id: int) -> None:
        super().__init__(item_id)
        self.item_id = item_id


@injectable
class UsersService:
    """Users, kept in memory."""

    def __init__(self) -> None:
        self.users = {1: "ada", 2: "grace"}

    def exists(self, user_id: int) -> bool:
        """Whether the user exists."""
        return user_id in self.users


@injectable
class ItemsService:
    """Items belong to users; the users service is injected from the users module."""

    def __init__(self, users: UsersService) -> None:
        self.users = users
        self.items: dict[int, dict[str, Any]] = {}

    def create(self, data: ItemIn) -> dict[str, Any]:
        """Store an item for an existing user."""
        if not self.users.exists(data.owner_id):
            raise ItemNotFound(data.owner_id)
        item = {"id": len(self.items) + 1, **data.model_dump()}
        self.items[item["id"]] = item
        return item

    def get(self, item_id: int) -> dict[str, Any]:
        """Fetch one item."""
        try:
            return self.items[item_id]
        except KeyError:
            raise ItemNotFound(item_id) from None


class ReadCache:
    """An interceptor caching GET results for a few seconds (short-circuits the handler)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.entries: dict[str, tuple[float, Any]] = {}

    async def intercept(self, context: ExecutionContext, call_next: Any) -> Any:
        """Serve from the cache when fresh, else call the handler and remember its result."""
        request = context.request
        if request.method != "GET":
            self.entries.clear()
            return await call_next()
        key = str(request.url)
        hit = self.entries.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.seconds:
            return hit[1]
        result = await call_next()
        self.entries[key] = (time.monotonic(), result)
        return result


@catch(ItemNotFound)
class ItemNotFoundFilter:
    """Turn ``ItemNotFound`` into a problem+json 404."""

    def catch(self, exc: ItemNotFound, context: ExecutionContext) -> JSONResponse:
        """Render the 404."""
        return JSONResponse(
            {
                "type": "https://armature.example/problems/item-not-found",
                "title": "Not Found",
                "status": 404,
                "detail": f"no item or owner with id {exc.item_id}",
            },
            status_code=404,
            media_type="application/problem+json",
        )


settings = Settings()
write_guard = APIKeyGuard(settings.api_keys)


@controller("/users")
class UsersController:
    """Read-only users."""

    def __init__(self, users: UsersService) -> None:
        self.users = users

    @get("")
    async def list_users(self) -> dict[str, Any]:
        """List users."""
        return {"users": self.users.users}


@controller("/items")
@use_interceptors(ReadCache(settings.cache_seconds))
class ItemsController:
    """Items: reads cached, writes guarded."""

    def __init__(self, items: ItemsService) -> None:
        self.items = items

    @get("/{item_id:int}")
    async def get_item(self, item_id: int) -> dict[str, Any]:
        """Fetch an item."""
        return self.items.get(item_id)

    @post("", status_code=201)
    @use_guards(write_guard)
    async def create_item(self, data: ItemIn) -> dict[str, Any]:
        """Create an item (needs the API key)."""
        return self.items.create(data)

    @delete("/{item_id:int}", status_code=204)
    @use_guards(write_guard)
    async def delete_item(self, item_id: int) -> None:
        """Delete an item (needs the API key)."""
        self.items.get(item_id)
        del self.items.items[item_id]


@module(providers=[provide(Settings, use_value=settings)], exports=[Settings], global_=True)
class ConfigModule:
    """Configuration, visible everywhere."""


@module(providers=[UsersService], controllers=[UsersController], exports=[UsersService])
class UsersModule:
    """Users and their controller; exports the service for other modules."""


@module(
    imports=[UsersModule],
    providers=[ItemsService],
    controllers=[ItemsController],
    filters=[ItemNotFoundFilter],
)
class ItemsModule:
    """Items; uses the users service exported by the users module."""


@module(imports=[ConfigModule, UsersModule, ItemsModule])
class AppModule:
    """The root module."""


app = Application.create(AppModule, title="armature modular example")
