"""What property-based testing against the OpenAPI document found in the core (xfail until fixed).

Each test is ``xfail(strict=True)``: it must keep failing until the behaviour changes, then the
marker must go. Found by schemathesis' ``negative_data_rejection`` check on ``examples/app.py``.
"""

from __future__ import annotations

import pytest

from armature.openapi import build_openapi
from armature.testing import TestClient
from examples.app import app


@pytest.mark.xfail(
    strict=True,
    reason=(
        "JSON bodies are validated in pydantic's lax mode, which accepts JSON booleans for "
        "number fields; the document (from pydantic's own JSON Schema) says 'number', so a "
        "request the document calls invalid gets 201. Strict JSON validation (or a strict "
        "float type) would make behaviour and document agree."
    ),
)
def test_a_boolean_for_a_number_field_is_rejected() -> None:
    price = build_openapi(app)["components"]["schemas"]["ItemIn"]["properties"]["price"]
    assert price["type"] == "number"
    with TestClient(app) as client:
        response = client.post("/items", json={"name": "saw", "price": False})
    assert response.status_code == 422
