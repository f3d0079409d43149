"""examples/diesel_app.py end to end on a real SQLite file."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from armature.testing import TestClient
from armature_ext.diesel import DatabaseConfig


def test_notes_api(tmp_path: Path) -> None:
    from examples.diesel_app import create_app

    app = create_app(DatabaseConfig(url=f"sqlite:///{tmp_path / 'notes.db'}", pool_size=2))
    with TestClient(app) as client:
        first = client.post("/notes", json={"title": "first", "body": "hello"})
        assert first.status_code == 200, first.text
        assert first.json() == {"id": 1, "title": "first", "body": "hello"}

        duplicate = client.post("/notes", json={"title": "first"})
        assert duplicate.status_code == 409
        assert duplicate.headers["content-type"].startswith("application/problem+json")

        bulk = client.post("/notes/bulk", json={"notes": [{"title": "a"}, {"title": "b"}]})
        assert bulk.json() == {"created": [2, 3]}

        # "c" would be new but "a" exists: the whole request is rolled back.
        rejected = client.post("/notes/bulk", json={"notes": [{"title": "c"}, {"title": "a"}]})
        assert rejected.status_code == 409
        titles = [note["title"] for note in client.get("/notes").json()]
        assert titles == ["first", "a", "b"]

        assert [n["id"] for n in client.get("/notes", params={"after": 1, "limit": 1}).json()] == [
            2
        ]
        assert client.post("/notes", json={"title": ""}).status_code == 422

        ready = client.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] == "up"
        assert ready.json()["backend"] == "sqlite"
        assert ready.json()["pool"]["in_use"] == 0  # every request gave its connection back

        health = client.get("/health/ready")
        assert health.status_code == 200
        assert health.json()["checks"]["database"]["details"]["backend"] == "sqlite"


def test_module_app_uses_database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    module = importlib.reload(importlib.import_module("examples.diesel_app"))
    with TestClient(module.app) as client:
        assert client.post("/notes", json={"title": "env"}).status_code == 200
    assert (tmp_path / "env.db").exists()
