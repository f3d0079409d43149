"""OpenSearchConfig (code + environment) and the OpenSearchProvider lifecycle / readiness check."""

from __future__ import annotations

import decimal
import importlib.util
import socket
import uuid

import pytest
from opensearch_server import server as fake_cluster
from opensearch_server.server import Target
from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import SerializationError

from armature import App
from armature.health import HealthCheck
from armature.testing import TestClient
from armature_ext.opensearch import (
    ConfigError,
    NotStartedError,
    OpenSearchConfig,
    OpenSearchProvider,
)
from armature_ext.opensearch._serializer import OrjsonSerializer
from armature_ext.opensearch.config import parse_host

opensearch_target = fake_cluster.opensearch_target


@pytest.fixture
def anyio_backend() -> str:
    """opensearch-py's async client runs on asyncio only."""
    return "asyncio"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- hosts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("localhost", {"host": "localhost", "port": 9200, "use_ssl": False, "url_prefix": ""}),
        ("http://db:9201", {"host": "db", "port": 9201, "use_ssl": False, "url_prefix": ""}),
        (
            "https://search.example",
            {"host": "search.example", "port": 443, "use_ssl": True, "url_prefix": ""},
        ),
        ("https://h:9200/os/", {"host": "h", "port": 9200, "use_ssl": True, "url_prefix": "/os"}),
    ],
)
def test_parse_host(url: str, expected: dict[str, object]) -> None:
    assert parse_host(url) == expected


def test_parse_host_credentials_are_split_out() -> None:
    host = parse_host("https://admin:s%40cret@node1:9200")
    assert host["username"] == "admin"
    assert host["password"] == "s@cret"
    assert host["host"] == "node1"


@pytest.mark.parametrize("url", ["", "ftp://x", "http://", "http://h:99999", "http://h?x=1"])
def test_parse_host_rejects_bad_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_host(url)


# -- config from code ----------------------------------------------------------------------------


def test_defaults() -> None:
    config = OpenSearchConfig()
    assert config.hosts == ("http://localhost:9200",)
    kwargs = config.client_kwargs()
    assert kwargs["hosts"] == [
        {"host": "localhost", "port": 9200, "use_ssl": False, "url_prefix": ""}
    ]
    assert "http_auth" not in kwargs
    assert kwargs["timeout"] == 10.0
    assert kwargs["max_retries"] == 3
    assert kwargs["retry_on_timeout"] is False


def test_basic_auth_and_tls_options() -> None:
    config = OpenSearchConfig(
        hosts=("https://a:9200", "https://b:9200"),
        username="admin",
        password="pw",
        verify_certs=False,
        ca_certs="/etc/ca.pem",
        client_cert="/etc/client.pem",
        client_key="/etc/client.key",
        ssl_show_warn=False,
        timeout=3.5,
        max_retries=5,
        retry_on_timeout=True,
    )
    kwargs = config.client_kwargs()
    assert kwargs["http_auth"] == ("admin", "pw")
    assert [h["host"] for h in kwargs["hosts"]] == ["a", "b"]
    assert all(h["use_ssl"] for h in kwargs["hosts"])
    assert kwargs["verify_certs"] is False
    assert kwargs["ca_certs"] == "/etc/ca.pem"
    assert kwargs["client_cert"] == "/etc/client.pem"
    assert kwargs["client_key"] == "/etc/client.key"
    assert kwargs["ssl_show_warn"] is False
    assert kwargs["timeout"] == 3.5
    assert kwargs["max_retries"] == 5
    assert kwargs["retry_on_timeout"] is True


def test_credentials_in_url_move_to_http_auth_and_are_not_repr() -> None:
    config = OpenSearchConfig(hosts=("https://admin:secret@node:9200",))
    kwargs = config.client_kwargs()
    assert kwargs["http_auth"] == ("admin", "secret")
    assert "username" not in kwargs["hosts"][0]
    assert config.describe()["hosts"] == ["https://node:9200"]
    assert config.describe()["auth"] == "basic"
    assert "pw" not in repr(OpenSearchConfig(username="u", password="pw"))


def test_single_string_host_is_accepted() -> None:
    config = OpenSearchConfig(hosts="http://a:9200,http://b:9200")  # type: ignore[arg-type]
    assert config.hosts == ("http://a:9200", "http://b:9200")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hosts": ()}, "at least one"),
        ({"password": "x"}, "username is not"),
        ({"client_key": "k"}, "client_cert"),
        ({"timeout": 0}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"retry_on_status": (999,)}, "retry_on_status"),
        ({"aws_service": "s3"}, "aws_service"),
        ({"aws_sigv4": True}, "aws_region"),
        ({"aws_sigv4": True, "aws_region": "eu-west-1", "username": "u"}, "exclusive"),
        ({"hosts": ("https://a:1@h",), "username": "b"}, "differ"),
    ],
)
def test_invalid_combinations(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OpenSearchConfig(**options)  # type: ignore[arg-type]


def test_with_options_revalidates() -> None:
    config = OpenSearchConfig()
    assert config.with_options(timeout=2).timeout == 2
    with pytest.raises(ConfigError):
        config.with_options(timeout=-1)


@pytest.mark.skipif(importlib.util.find_spec("botocore") is not None, reason="botocore installed")
def test_sigv4_without_botocore_is_a_clear_error() -> None:
    config = OpenSearchConfig(
        hosts=("https://search-x.eu-west-1.es.amazonaws.com",),
        aws_sigv4=True,
        aws_region="eu-west-1",
    )
    with pytest.raises(ConfigError, match="botocore"):
        config.client_kwargs()
    assert config.describe()["auth"] == "sigv4"


# -- config from the environment -------------------------------------------------------------


def test_from_env_reads_every_variable() -> None:
    env = {
        "OPENSEARCH_URL": "https://n1:9200, https://n2:9200",
        "OPENSEARCH_USERNAME": "admin",
        "OPENSEARCH_PASSWORD": "pw",
        "OPENSEARCH_VERIFY_CERTS": "false",
        "OPENSEARCH_CA_CERTS": "/ca.pem",
        "OPENSEARCH_CLIENT_CERT": "/c.pem",
        "OPENSEARCH_CLIENT_KEY": "/c.key",
        "OPENSEARCH_SSL_SHOW_WARN": "no",
        "OPENSEARCH_TIMEOUT": "2.5",
        "OPENSEARCH_MAX_RETRIES": "7",
        "OPENSEARCH_RETRY_ON_TIMEOUT": "yes",
        "OPENSEARCH_RETRY_ON_STATUS": "503,504",
        "OPENSEARCH_HTTP_COMPRESS": "1",
        "OPENSEARCH_POOL_MAXSIZE": "4",
        "OPENSEARCH_INDEX_PREFIX": "test-",
    }
    config = OpenSearchConfig.from_env(env)
    assert config.hosts == ("https://n1:9200", "https://n2:9200")
    assert (config.username, config.password) == ("admin", "pw")
    assert config.verify_certs is False
    assert (config.ca_certs, config.client_cert, config.client_key) == (
        "/ca.pem",
        "/c.pem",
        "/c.key",
    )
    assert config.ssl_show_warn is False
    assert config.timeout == 2.5
    assert config.max_retries == 7
    assert config.retry_on_timeout is True
    assert config.retry_on_status == (503, 504)
    assert config.http_compress is True
    assert config.pool_maxsize == 4
    assert config.index_prefix == "test-"


def test_from_env_hosts_alias_user_and_defaults() -> None:
    config = OpenSearchConfig.from_env({"OPENSEARCH_HOSTS": "a:9200", "OPENSEARCH_USER": "u"})
    assert config.hosts == ("a:9200",)
    assert config.username == "u"
    assert OpenSearchConfig.from_env({}).hosts == ("http://localhost:9200",)


def test_from_env_custom_prefix_and_overrides() -> None:
    env = {"SEARCH_URL": "http://s:1", "SEARCH_TIMEOUT": "4"}
    config = OpenSearchConfig.from_env(env, prefix="SEARCH_", timeout=9.0)
    assert config.hosts == ("http://s:1",)
    assert config.timeout == 9.0


def test_from_env_aws_region_fallback() -> None:
    env = {
        "OPENSEARCH_URL": "https://x",
        "OPENSEARCH_AWS_SIGV4": "true",
        "AWS_REGION": "us-east-2",
        "OPENSEARCH_AWS_SERVICE": "aoss",
    }
    config = OpenSearchConfig.from_env(env)
    assert (config.aws_sigv4, config.aws_region, config.aws_service) == (True, "us-east-2", "aoss")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OPENSEARCH_TIMEOUT": "soon"}, "OPENSEARCH_TIMEOUT='soon': expected a number"),
        ({"OPENSEARCH_MAX_RETRIES": "1.5"}, "OPENSEARCH_MAX_RETRIES='1.5': expected an integer"),
        ({"OPENSEARCH_VERIFY_CERTS": "maybe"}, "OPENSEARCH_VERIFY_CERTS='maybe': expected a bool"),
        ({"OPENSEARCH_URL": "http://a", "OPENSEARCH_HOSTS": "http://b"}, "not both"),
        ({"OPENSEARCH_URL": "gopher://a"}, "scheme"),
    ],
)
def test_from_env_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        OpenSearchConfig.from_env(env)
    assert message in str(info.value)


def test_require_url() -> None:
    assert not OpenSearchConfig.url_configured({})
    assert OpenSearchConfig.url_configured({"OPENSEARCH_URL": "http://x"})
    with pytest.raises(ConfigError, match="OPENSEARCH_URL is not set"):
        OpenSearchConfig.from_env({}, require_url=True)


def test_from_env_uses_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENSEARCH_URL", "http://from-env:9299")
    assert OpenSearchConfig.from_env().hosts == ("http://from-env:9299",)
    assert OpenSearchConfig.url_configured()


# -- provider --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_provider_lifecycle() -> None:
    provider = OpenSearchProvider(OpenSearchConfig(hosts=(f"http://127.0.0.1:{_closed_port()}",)))
    assert not provider.started
    with pytest.raises(NotStartedError, match="not started"):
        _ = provider.client
    client = await provider.start()
    assert isinstance(client, AsyncOpenSearch)
    assert await provider.start() is client  # idempotent
    assert provider.client is client
    await provider.close()
    await provider.close()  # idempotent
    assert not provider.started
    async with provider as entered:
        assert entered is provider
        assert provider.started
    assert not provider.started


@pytest.mark.anyio
async def test_provider_lifespan_yields_state() -> None:
    provider = OpenSearchProvider(OpenSearchConfig(hosts=(f"http://127.0.0.1:{_closed_port()}",)))
    async with provider.lifespan(object()) as state:
        assert state == {"opensearch": provider}
        assert provider.started
    assert not provider.started


@pytest.mark.anyio
async def test_check_reports_unreachable_cluster() -> None:
    config = OpenSearchConfig(hosts=(f"http://127.0.0.1:{_closed_port()}",), max_retries=0)
    provider = OpenSearchProvider(config)
    assert (await provider.check())["status"] == "down"  # not started
    async with provider:
        report = await provider.check(timeout=1.0)
    assert report["status"] == "down"
    assert "ConnectionError" in report["error"]


def test_index_prefix() -> None:
    provider = OpenSearchProvider(OpenSearchConfig(index_prefix="t1-"))
    assert provider.index_name("products") == "t1-products"
    assert provider.index_name("t1-products") == "t1-products"
    assert OpenSearchProvider(OpenSearchConfig()).index_name("products") == "products"


def test_check_is_an_armature_health_indicator(opensearch_target: Target) -> None:
    up = OpenSearchProvider(opensearch_target.config)
    down = OpenSearchProvider(
        OpenSearchConfig(hosts=(f"http://127.0.0.1:{_closed_port()}",), max_retries=0)
    )
    health = HealthCheck()
    health.add("search", up.check)
    app = App(lifespan=up.lifespan)
    app.include_router(health.router())
    with TestClient(app) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["search"]["details"]["status"] == "up"
    health.add("search-down", down.check)
    app = App(lifespan=up.lifespan)
    app.include_router(health.router())
    with TestClient(app) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["search-down"]["status"] == "down"


@pytest.mark.anyio
async def test_client_uses_the_orjson_serializer() -> None:
    async with OpenSearchProvider(OpenSearchConfig()) as provider:
        serializer = provider.client.transport.serializer
    assert isinstance(serializer, OrjsonSerializer)
    assert serializer.dumps({"a": decimal.Decimal("1.5"), 2: uuid.UUID(int=0)}) == (
        b'{"a":1.5,"2":"00000000-0000-0000-0000-000000000000"}'
    )
    assert serializer.dumps(b'{"raw":1}') == b'{"raw":1}'
    assert serializer.dumps("text") == "text"
    assert serializer.loads('{"x": [1, 2.5, null]}') == {"x": [1, 2.5, None]}
    with pytest.raises(SerializationError):
        serializer.dumps({"x": object()})
    with pytest.raises(SerializationError):
        serializer.loads("{not json")
