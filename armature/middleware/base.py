"""Middleware declarations and their one-time composition.

Any pure ASGI middleware works: a class (or factory) called as ``cls(app, **options)`` that returns
an ASGI callable. Chains are composed once, at startup; an app or route without middleware pays
nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from armature.types import ASGIApp

__all__ = ["Middleware", "compose"]


class Middleware:
    """A middleware class (or factory) with the options to build it with.

    Args:
        cls: Called as ``cls(app, *args, **options)`` to wrap an ASGI app.
        *args: Positional options.
        **options: Keyword options.
    """

    __slots__ = ("args", "cls", "options")

    def __init__(self, cls: Callable[..., ASGIApp], *args: Any, **options: Any) -> None:
        self.cls = cls
        self.args = args
        self.options = options

    def __iter__(self) -> Iterator[Any]:
        return iter((self.cls, self.args, self.options))

    def build(self, app: ASGIApp) -> ASGIApp:
        """Wrap ``app``."""
        return self.cls(app, *self.args, **self.options)

    @property
    def name(self) -> str:
        """The middleware's class or function name (for route listings)."""
        return getattr(self.cls, "__name__", repr(self.cls))

    def __repr__(self) -> str:
        return f"Middleware({self.name})"


def compose(middleware: Sequence[Middleware], app: ASGIApp) -> ASGIApp:
    """Wrap ``app`` so that ``middleware[0]`` is the outermost layer.

    Args:
        middleware: The layers, outermost first.
        app: The innermost ASGI app.

    Returns:
        The composed ASGI app (``app`` itself when there is no middleware).
    """
    for layer in reversed(middleware):
        app = layer.build(app)
    return app
