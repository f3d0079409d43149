"""The no-op pure-ASGI middleware every peer app stacks three times for the ``mw`` row."""

from __future__ import annotations

from typing import Any

__all__ = ["NoopMiddleware"]


class NoopMiddleware:
    """A pure-ASGI middleware that does nothing but pass the call on."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
