"""The request/response model every benchmark app validates for ``POST /items``."""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["Item"]


class Item(BaseModel):
    """The ``POST /items`` body: echoed back with status 201 when valid, 422 when not."""

    name: str
    price: float
    tags: list[str]
