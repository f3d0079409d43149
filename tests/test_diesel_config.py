"""DatabaseConfig: URL -> backend, environment parsing with named errors, redaction."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from armature.exceptions import ServiceUnavailable
from armature_ext.diesel import (
    ConfigError,
    DatabaseConfig,
    DatabaseUnavailable,
    DieselError,
    PoolTimeout,
)


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("postgresql://u:p@localhost:5432/app", "asyncpg"),
        ("postgres://localhost/app", "asyncpg"),
        ("postgresql+asyncpg://localhost/app", "asyncpg"),
        ("postgresql+psycopg://localhost/app", "psycopg"),
        ("POSTGRESQL+PSYCOPG://localhost/app", "psycopg"),
        ("sqlite:///app.db", "sqlite"),
        ("sqlite+aiosqlite:///app.db", "sqlite"),
        ("sqlite:///:memory:", "sqlite"),
    ],
)
def test_url_selects_backend(url: str, backend: str) -> None:
    assert DatabaseConfig(url=url).backend == backend


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///app.db", "app.db"),
        ("sqlite:///data/app.db", "data/app.db"),
        ("sqlite:////var/lib/app.db", "/var/lib/app.db"),
        ("sqlite+aiosqlite:////tmp/x%20y.db", "/tmp/x y.db"),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite://", ":memory:"),
    ],
)
def test_sqlite_paths(url: str, path: str) -> None:
    config = DatabaseConfig(url=url)
    assert config.sqlite_path == path
    assert config.is_memory is (path == ":memory:")


def test_postgres_has_no_sqlite_path() -> None:
    assert DatabaseConfig(url="postgresql://localhost/app").sqlite_path is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgres://h/db?sslmode=require", "postgresql+asyncpg://h/db?sslmode=require"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///app.db", "sqlite+aiosqlite:///app.db"),
        ("sqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
    ],
)
def test_sqlalchemy_url(url: str, expected: str) -> None:
    assert DatabaseConfig(url=url).sqlalchemy_url() == expected


def test_driver_url_strips_driver_suffix() -> None:
    assert DatabaseConfig(url="postgresql+psycopg://u@h/db").driver_url() == "postgresql://u@h/db"
    assert DatabaseConfig(url="sqlite+aiosqlite:///a.db").driver_url() == "sqlite:///a.db"


def test_password_is_redacted_everywhere() -> None:
    config = DatabaseConfig(url="postgresql://app:s3cr%40t@db.internal:5432/app")
    assert "s3cr" not in repr(config)
    assert "s3cr" not in str(config)
    assert config.redacted_url == "postgresql://app:***@db.internal:5432/app"
    assert config.sqlalchemy_url(hide_password=True) == (
        "postgresql+asyncpg://app:***@db.internal:5432/app"
    )
    # The real URL is still available to the drivers.
    assert "s3cr%40t" in config.driver_url()


def test_validation_errors_do_not_echo_the_url() -> None:
    with pytest.raises(ValidationError) as info:
        DatabaseConfig(url="mysql://root:hunter2@db/app")
    assert "hunter2" not in str(info.value)
    assert "unsupported URL scheme 'mysql'" in str(info.value)


@pytest.mark.parametrize(
    "url",
    ["not a url", "mysql://h/db", "postgresql://h:notaport/db", "sqlite://host/x.db"],
)
def test_bad_urls_are_rejected(url: str) -> None:
    with pytest.raises(ValidationError):
        DatabaseConfig(url=url)


def test_defaults() -> None:
    config = DatabaseConfig(url="sqlite:///:memory:")
    assert config.pool_size == 10
    assert config.pool_min == 1
    assert config.statement_timeout is None
    assert config.ssl_mode is None


def test_config_is_frozen() -> None:
    config = DatabaseConfig(url="sqlite:///:memory:")
    with pytest.raises(ValidationError):
        config.pool_size = 3  # type: ignore[misc]


def test_pool_min_above_size_is_rejected() -> None:
    with pytest.raises(ValidationError, match="pool_min"):
        DatabaseConfig(url="sqlite:///:memory:", pool_size=2, pool_min=3)


def test_ssl_mode_on_sqlite_is_rejected() -> None:
    with pytest.raises(ValidationError, match="ssl_mode does not apply to SQLite"):
        DatabaseConfig(url="sqlite:///a.db", ssl_mode="require")


def test_server_settings_and_libpq_options() -> None:
    config = DatabaseConfig(
        url="postgresql://h/db",
        application_name="billing",
        statement_timeout=2.5,
        connect_timeout=0.5,
        ssl_mode="require",
    )
    assert config.server_settings() == {"application_name": "billing", "statement_timeout": "2500"}
    assert config.libpq_options() == {
        "connect_timeout": 1,
        "application_name": "billing",
        "sslmode": "require",
        "options": "-c statement_timeout=2500",
    }
    args = config.sqlalchemy_connect_args()
    assert args["ssl"] == "require"
    assert args["server_settings"]["statement_timeout"] == "2500"
    psy = DatabaseConfig(url="postgresql+psycopg://h/db", statement_timeout=1)
    assert psy.sqlalchemy_connect_args()["options"] == "-c statement_timeout=1000"


# -- environment ------------------------------------------------------------------------------


def test_from_env_reads_every_variable() -> None:
    env = {
        "DATABASE_URL": "postgresql+psycopg://app:pw@db/app",
        "DATABASE_POOL_SIZE": "20",
        "DATABASE_POOL_MIN": "2",
        "DATABASE_CONNECT_TIMEOUT": "3",
        "DATABASE_ACQUIRE_TIMEOUT": "250ms",
        "DATABASE_MAX_LIFETIME": "1h",
        "DATABASE_IDLE_TIMEOUT": "5m",
        "DATABASE_STATEMENT_TIMEOUT": "1.5s",
        "DATABASE_CLOSE_TIMEOUT": "0",
        "DATABASE_APPLICATION_NAME": "api",
        "DATABASE_SSL_MODE": "Verify-Full",
    }
    config = DatabaseConfig.from_env(env)
    assert config.backend == "psycopg"
    assert config.pool_size == 20
    assert config.pool_min == 2
    assert config.connect_timeout == 3.0
    assert config.acquire_timeout == pytest.approx(0.25)
    assert config.max_lifetime == 3600.0
    assert config.idle_timeout == 300.0
    assert config.statement_timeout == 1.5
    assert config.close_timeout == 0.0
    assert config.application_name == "api"
    assert config.ssl_mode == "verify-full"


def test_from_env_defaults_and_empty_values() -> None:
    config = DatabaseConfig.from_env(
        {"DATABASE_URL": "sqlite:///:memory:", "DATABASE_POOL_SIZE": "  "}
    )
    assert config.pool_size == 10


def test_from_env_disables_optional_durations() -> None:
    config = DatabaseConfig.from_env(
        {
            "DATABASE_URL": "postgresql://h/db",
            "DATABASE_MAX_LIFETIME": "off",
            "DATABASE_IDLE_TIMEOUT": "0",
            "DATABASE_STATEMENT_TIMEOUT": "none",
        }
    )
    assert config.max_lifetime is None
    assert config.idle_timeout is None
    assert config.statement_timeout is None


def test_from_env_prefix_default_url_and_overrides() -> None:
    env = {"ANALYTICS_DB_POOL_SIZE": "3"}
    config = DatabaseConfig.from_env(
        env, prefix="ANALYTICS_DB_", default_url="sqlite:///analytics.db", pool_min=0
    )
    assert config.pool_size == 3
    assert config.pool_min == 0
    assert config.sqlite_path == "analytics.db"


def test_from_env_uses_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite:///from-env.db")
    monkeypatch.setenv("DATABASE_POOL_SIZE", "4")
    config = DatabaseConfig.from_env()
    assert config.sqlite_path == "from-env.db"
    assert config.pool_size == 4


def test_from_env_missing_url_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        DatabaseConfig.from_env({})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATABASE_POOL_SIZE", "ten", "DATABASE_POOL_SIZE must be an integer, got 'ten'"),
        ("DATABASE_POOL_SIZE", "0", "DATABASE_POOL_SIZE: Input should be greater than or equal"),
        ("DATABASE_POOL_MIN", "-1", "DATABASE_POOL_MIN: Input should be greater than or equal"),
        ("DATABASE_CONNECT_TIMEOUT", "soon", "DATABASE_CONNECT_TIMEOUT must be a duration"),
        ("DATABASE_ACQUIRE_TIMEOUT", "0", "DATABASE_ACQUIRE_TIMEOUT must be greater than zero"),
        ("DATABASE_IDLE_TIMEOUT", "5 days", "DATABASE_IDLE_TIMEOUT must be a duration"),
        ("DATABASE_SSL_MODE", "maybe", "DATABASE_SSL_MODE must be one of disable"),
        ("DATABASE_URL", "mysql://root:pw@h/db", "DATABASE_URL: unsupported URL scheme 'mysql'"),
    ],
)
def test_from_env_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    env = {"DATABASE_URL": "postgresql://h/db", name: value}
    with pytest.raises(ConfigError) as info:
        DatabaseConfig.from_env(env)
    assert message in str(info.value)
    assert "pw@" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_from_env_cross_field_error_names_the_variables() -> None:
    env = {"DATABASE_URL": "sqlite:///a.db", "DATABASE_POOL_SIZE": "2", "DATABASE_POOL_MIN": "5"}
    with pytest.raises(
        ConfigError,
        match=r"DATABASE_POOL_MIN \(5\) must not exceed "
        r"DATABASE_POOL_SIZE \(2\)",
    ):
        DatabaseConfig.from_env(env)
    env = {"DATABASE_URL": "sqlite:///a.db", "DATABASE_SSL_MODE": "require"}
    with pytest.raises(ConfigError, match="DATABASE_SSL_MODE does not apply to SQLite"):
        DatabaseConfig.from_env(env)


def test_error_hierarchy_maps_availability_to_503() -> None:
    unavailable = DatabaseUnavailable("could not connect to db.internal:5432: refused")
    timeout = PoolTimeout("no connection within 0.2s")
    for exc, retry in ((unavailable, "5"), (timeout, "1")):
        assert isinstance(exc, DieselError)
        assert isinstance(exc, ServiceUnavailable)
        assert exc.status_code == 503
        assert exc.headers["Retry-After"] == retry
        problem = exc.to_problem()
        assert problem["status"] == 503
        # The full reason is for logs; clients get a generic detail without host names.
        assert str(exc) == exc.message
        assert problem["detail"] == exc.public_detail
        assert "db.internal" not in problem["detail"]
    assert DatabaseUnavailable("x", retry_after=30).headers == {"Retry-After": "30"}
    assert DatabaseUnavailable("x", detail="maintenance").to_problem()["detail"] == "maintenance"
