"""Configuration: a settings class on pydantic-settings reading the environment, ``.env`` and TOML.

```python
from armature.config import Settings

class AppSettings(Settings):
    database_url: str = "sqlite:///app.db"
    debug: bool = False

    model_config = Settings.config(env_prefix="APP_", toml_file="app.toml")
```

Sources, highest priority first: constructor arguments, environment variables, the ``.env`` file,
the TOML file, then field defaults. Settings are injectable like any provider:
``app.provide(AppSettings)`` builds one at startup (a singleton) and handlers take
``settings: AppSettings``.
"""

from __future__ import annotations

from typing import Any

from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["Settings", "SettingsConfigDict"]


class Settings(BaseSettings):
    """Base class for application settings (pydantic-settings with TOML support)."""

    model_config = SettingsConfigDict(extra="ignore", env_file=".env", env_file_encoding="utf-8")

    @staticmethod
    def config(**options: Any) -> SettingsConfigDict:
        """Build a ``model_config`` (``env_prefix``, ``env_file``, ``toml_file``...).

        Returns:
            The configuration dict, with this class's defaults.
        """
        merged: dict[str, Any] = {
            "extra": "ignore",
            "env_file": ".env",
            "env_file_encoding": "utf-8",
        }
        merged.update(options)
        config: SettingsConfigDict = SettingsConfigDict(**merged)  # type: ignore[typeddict-item]
        return config

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, environment, ``.env``, TOML (when ``toml_file`` is set), secrets."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        sources.append(file_secret_settings)
        return tuple(sources)
