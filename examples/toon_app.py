"""A small catalogue API that speaks JSON and TOON (armature_ext.toon).

Run it with ``granian --interface asgi examples.toon_app:app`` (or uvicorn/hypercorn), then::

    curl http://127.0.0.1:8000/products                               # JSON (the default)
    curl -H 'Accept: application/toon' http://127.0.0.1:8000/products  # TOON table
    curl -H 'Accept: text/html' http://127.0.0.1:8000/products         # 406 problem+json
    curl -X POST -H 'Content-Type: application/toon' \\
         --data-binary $'[1]{sku,name,price}:\\n  C3,Cable,4.5' \\
         http://127.0.0.1:8000/products                               # create from a TOON body
    curl http://127.0.0.1:8000/products/size                          # JSON vs TOON size report

``GET /products`` answers JSON or TOON by the ``Accept`` header's q-values; ``POST /products``
accepts a TOON (or JSON) body validated by pydantic: malformed TOON is a 400 problem with
``line`` and ``column``, invalid data a 422 with field errors.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from armature import App, Request
from armature_ext.toon import size_report
from armature_ext.toon.web import negotiate, read_toon_or_json


class Product(BaseModel):
    """One catalogue entry."""

    sku: str = Field(min_length=1, max_length=20)
    name: str
    price: float = Field(ge=0)
    tags: list[str] = []


CATALOGUE: list[Product] = [
    Product(sku="A1", name="Widget", price=9.99, tags=["tools"]),
    Product(sku="B2", name="Gadget, deluxe", price=14.5, tags=["gifts", "new"]),
]

app = App()


def _listing() -> dict[str, Any]:
    # NOTE: tags are joined into one string so every column is primitive and the rows encode
    # as a single TOON table (an array-valued column would switch TOON to the list form).
    return {
        "count": len(CATALOGUE),
        "products": [
            {"sku": p.sku, "name": p.name, "price": p.price, "tags": " ".join(p.tags)}
            for p in CATALOGUE
        ],
    }


@app.get("/products")
async def list_products(request: Request) -> Any:
    """The catalogue as JSON or TOON, negotiated with the Accept header."""
    return negotiate(request, _listing())


@app.post("/products")
async def create_products(request: Request) -> Any:
    """Add products sent as a TOON (``application/toon``) or JSON array."""
    new = await read_toon_or_json(request, list[Product])
    CATALOGUE.extend(new)
    return negotiate(request, {"added": [p.sku for p in new]}, status_code=201)


@app.get("/products/size")
async def products_size() -> dict[str, Any]:
    """How much smaller the listing is as TOON (token counts are an estimate)."""
    return size_report(_listing()).as_dict()
