"""The module-style example app, in-process and on a real server."""

from __future__ import annotations

import httpx
import pytest
from _servers import run_server

from armature.testing import TestClient
from examples.modular_app import app

KEY = {"x-api-key": "demo-key"}


def test_modular_example_in_process() -> None:
    with TestClient(app) as client:
        assert client.get("/users").json() == {"users": {"1": "ada", "2": "grace"}}
        assert client.post("/items", json={"name": "pen", "owner_id": 1}).status_code == 401
        created = client.post("/items", json={"name": "pen", "owner_id": 1}, headers=KEY)
        assert created.status_code == 201
        item_id = created.json()["id"]
        assert client.get(f"/items/{item_id}").json()["name"] == "pen"
        missing = client.get("/items/999")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert (
            client.post("/items", json={"name": "x", "owner_id": 42}, headers=KEY).json()["detail"]
            == "no item or owner with id 42"
        )
        assert client.delete(f"/items/{item_id}").status_code == 401
        assert client.delete(f"/items/{item_id}", headers=KEY).status_code == 204


@pytest.mark.servers
def test_modular_example_on_uvicorn() -> None:
    with (
        run_server("uvicorn", "examples.modular_app:app") as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        created = client.post("/items", json={"name": "cup", "owner_id": 2}, headers=KEY)
        assert created.status_code == 201
        assert client.get(f"/items/{created.json()['id']}").json()["owner_id"] == 2
        assert client.post("/items", json={"name": "cup", "owner_id": 2}).status_code == 401
