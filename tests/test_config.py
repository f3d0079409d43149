"""Configuration: environment, .env and TOML sources, and injection."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from armature import App
from armature.config import Settings
from armature.testing import TestClient


class AppSettings(Settings):
    database_url: str = "sqlite:///default.db"
    debug: bool = False
    workers: int = 1

    model_config = Settings.config(env_prefix="APP_", toml_file="app.toml")


def test_sources_in_priority_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert AppSettings().database_url == "sqlite:///default.db"
    (tmp_path / "app.toml").write_text('database_url = "postgresql://toml"\nworkers = 2\n')
    assert (AppSettings().database_url, AppSettings().workers) == ("postgresql://toml", 2)
    (tmp_path / ".env").write_text("APP_DATABASE_URL=postgresql://dotenv\n")
    assert AppSettings().database_url == "postgresql://dotenv"
    monkeypatch.setenv("APP_DATABASE_URL", "postgresql://env")
    monkeypatch.setenv("APP_DEBUG", "true")
    settings = AppSettings()
    assert (settings.database_url, settings.debug, settings.workers) == (
        "postgresql://env",
        True,
        2,
    )
    assert AppSettings(workers=8).workers == 8


def test_invalid_values_name_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("APP_WORKERS", "many")
    with pytest.raises(ValidationError, match="workers"):
        AppSettings()


def test_settings_are_injectable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("APP_DEBUG", "1")
    app = App()
    app.provide(AppSettings)

    @app.get("/config")
    async def config(settings: AppSettings) -> dict:
        return {"debug": settings.debug}

    with TestClient(app) as client:
        assert client.get("/config").json() == {"debug": True}
