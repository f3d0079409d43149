"""OpenSearch connection settings, from code or from ``OPENSEARCH_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import ConfigError

__all__ = ["ENV_VARS", "OpenSearchConfig", "parse_host"]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_AWS_SERVICES = ("es", "aoss")

#: Environment variable suffix (after the prefix, ``OPENSEARCH_`` by default) -> config field.
ENV_VARS: dict[str, str] = {
    "URL": "hosts",
    "HOSTS": "hosts",
    "USERNAME": "username",
    "USER": "username",
    "PASSWORD": "password",
    "VERIFY_CERTS": "verify_certs",
    "CA_CERTS": "ca_certs",
    "CLIENT_CERT": "client_cert",
    "CLIENT_KEY": "client_key",
    "SSL_SHOW_WARN": "ssl_show_warn",
    "SSL_ASSERT_HOSTNAME": "ssl_assert_hostname",
    "TIMEOUT": "timeout",
    "MAX_RETRIES": "max_retries",
    "RETRY_ON_TIMEOUT": "retry_on_timeout",
    "RETRY_ON_STATUS": "retry_on_status",
    "HTTP_COMPRESS": "http_compress",
    "POOL_MAXSIZE": "pool_maxsize",
    "AWS_SIGV4": "aws_sigv4",
    "AWS_REGION": "aws_region",
    "AWS_SERVICE": "aws_service",
    "INDEX_PREFIX": "index_prefix",
}


def parse_host(url: str) -> dict[str, Any]:
    """Turn ``"https://user:pw@host:9200/prefix"`` into an opensearch-py host dict.

    A missing scheme means ``http``; a missing port is 9200 for ``http`` and 443 for ``https``.
    Credentials embedded in the URL are returned under ``"username"``/``"password"`` (the caller
    moves them to the config, so they never end up in connection logs).

    Args:
        url: One node URL.

    Returns:
        ``{"host", "port", "use_ssl", "url_prefix"}``, plus ``"username"``/``"password"`` when
        the URL has them.

    Raises:
        ConfigError: The URL is empty, has an unsupported scheme, a query/fragment or a bad port.
    """
    text = url.strip()
    if not text:
        raise ConfigError("empty OpenSearch host URL")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"OpenSearch URL {url!r}: scheme must be http or https")
    if not parts.hostname:
        raise ConfigError(f"OpenSearch URL {url!r} has no host name")
    if parts.query or parts.fragment:
        raise ConfigError(f"OpenSearch URL {url!r} must not have a query string or fragment")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"OpenSearch URL {url!r} has an invalid port") from None
    use_ssl = parts.scheme == "https"
    host: dict[str, Any] = {
        "host": parts.hostname,
        "port": port if port is not None else (443 if use_ssl else 9200),
        "use_ssl": use_ssl,
        "url_prefix": parts.path.rstrip("/"),
    }
    if parts.username is not None:
        host["username"] = unquote(parts.username)
        host["password"] = unquote(parts.password or "")
    return host


def _env_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r}: expected a boolean (true/false, 1/0, yes/no, on/off)")


def _env_number(name: str, raw: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(raw.strip())
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"{name}={raw!r}: expected {what}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenSearchConfig:
    """How to reach an OpenSearch cluster (immutable; build with keywords or :meth:`from_env`).

    Args:
        hosts: Node URLs (``http(s)://[user:password@]host[:port][/prefix]``).
        username: Basic-auth user (also taken from a host URL's userinfo).
        password: Basic-auth password.
        verify_certs: Verify the server's TLS certificate.
        ca_certs: Path to a CA bundle (file or directory) used to verify the server.
        client_cert: Path to a client certificate (PEM) for mutual TLS.
        client_key: Path to the client certificate's private key (when not inside ``client_cert``).
        ssl_show_warn: Warn when TLS verification is disabled.
        ssl_assert_hostname: Check that the certificate matches the host name.
        timeout: Per-request timeout in seconds.
        max_retries: Retries of a request on another node after a connection error / retry status.
        retry_on_timeout: Also retry requests that timed out.
        retry_on_status: HTTP statuses that are retried.
        http_compress: gzip request bodies.
        pool_maxsize: Connections kept open per node.
        aws_sigv4: Sign requests with AWS SigV4 (Amazon OpenSearch Service / Serverless); needs
            ``botocore`` (``pip install boto3``), credentials come from the standard AWS chain.
        aws_region: AWS region for SigV4 (falls back to ``AWS_REGION``/``AWS_DEFAULT_REGION`` in
            :meth:`from_env`).
        aws_service: ``"es"`` (managed domains) or ``"aoss"`` (Serverless).
        index_prefix: Prepended to every document model's index name (e.g. ``"test-"``).

    Raises:
        ConfigError: Any inconsistent combination (see :meth:`validate`).
    """

    hosts: tuple[str, ...] = ("http://localhost:9200",)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    verify_certs: bool = True
    ca_certs: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    ssl_show_warn: bool = True
    ssl_assert_hostname: bool = True
    timeout: float = 10.0
    max_retries: int = 3
    retry_on_timeout: bool = False
    retry_on_status: tuple[int, ...] = (502, 503, 504)
    http_compress: bool = False
    pool_maxsize: int = 10
    aws_sigv4: bool = False
    aws_region: str | None = None
    aws_service: str = "es"
    index_prefix: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.hosts, str):
            # NOTE: a lone string is a common slip (hosts="http://..."); accept it as one host.
            object.__setattr__(self, "hosts", tuple(h for h in self.hosts.split(",") if h.strip()))
        else:
            object.__setattr__(self, "hosts", tuple(self.hosts))
        object.__setattr__(self, "retry_on_status", tuple(self.retry_on_status))
        self.validate()

    def validate(self) -> None:
        """Check the settings for consistency.

        Raises:
            ConfigError: With a message naming the offending setting.
        """
        if not self.hosts:
            raise ConfigError("at least one OpenSearch host is required")
        embedded = None
        for url in self.hosts:
            parsed = parse_host(url)
            if "username" in parsed:
                embedded = (parsed["username"], parsed["password"])
        if embedded and self.username is not None and self.username != embedded[0]:
            raise ConfigError("username given both in a host URL and as username, and they differ")
        if self.password is not None and self.username is None and embedded is None:
            raise ConfigError("password is set but username is not")
        if self.client_key and not self.client_cert:
            raise ConfigError("client_key is set but client_cert is not")
        if not self.timeout > 0:
            raise ConfigError(f"timeout must be > 0 seconds, got {self.timeout!r}")
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {self.max_retries!r}")
        if self.pool_maxsize < 1:
            raise ConfigError(f"pool_maxsize must be >= 1, got {self.pool_maxsize!r}")
        for status in self.retry_on_status:
            if not 100 <= status <= 599:
                raise ConfigError(f"retry_on_status has an invalid HTTP status {status!r}")
        if self.aws_service not in _AWS_SERVICES:
            raise ConfigError(
                f"aws_service must be one of {_AWS_SERVICES}, got {self.aws_service!r}"
            )
        if self.aws_sigv4:
            if not self.aws_region:
                raise ConfigError("aws_sigv4 needs aws_region (or AWS_REGION in the environment)")
            if self.username is not None or embedded:
                raise ConfigError("aws_sigv4 and basic auth (username/password) are exclusive")

    # -- construction ------------------------------------------------------------------------
    @staticmethod
    def url_configured(
        environ: Mapping[str, str] | None = None, prefix: str = "OPENSEARCH_"
    ) -> bool:
        """Return whether ``{prefix}URL`` or ``{prefix}HOSTS`` is set (non-empty).

        Args:
            environ: Mapping to read (default ``os.environ``).
            prefix: Variable name prefix.

        Returns:
            ``True`` when a cluster address is configured.
        """
        env = os.environ if environ is None else environ
        return bool(env.get(prefix + "URL", "").strip() or env.get(prefix + "HOSTS", "").strip())

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        prefix: str = "OPENSEARCH_",
        require_url: bool = False,
        **overrides: Any,
    ) -> OpenSearchConfig:
        """Read the configuration from environment variables (see :data:`ENV_VARS`).

        ``{prefix}URL`` (one URL or a comma-separated list) and ``{prefix}HOSTS`` are alternatives;
        setting both to different values is an error. Unset variables keep the defaults.

        Args:
            environ: Mapping to read (default ``os.environ``).
            prefix: Variable name prefix.
            require_url: Raise when neither ``URL`` nor ``HOSTS`` is set instead of defaulting to
                ``http://localhost:9200``.
            **overrides: Field values that win over the environment.

        Returns:
            The validated configuration.

        Raises:
            ConfigError: A variable has an invalid value, or ``require_url`` and no URL is set.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        url = env.get(prefix + "URL", "").strip()
        hosts = env.get(prefix + "HOSTS", "").strip()
        if url and hosts and url != hosts:
            raise ConfigError(f"set either {prefix}URL or {prefix}HOSTS, not both")
        if url or hosts:
            values["hosts"] = tuple(h.strip() for h in (url or hosts).split(",") if h.strip())
        elif require_url and "hosts" not in overrides:
            raise ConfigError(f"{prefix}URL is not set: no OpenSearch cluster is configured")
        user = env.get(prefix + "USERNAME") or env.get(prefix + "USER")
        if user:
            values["username"] = user
        types = {f.name: f.type for f in fields(cls)}
        for suffix, name in ENV_VARS.items():
            raw = env.get(prefix + suffix)
            if raw is None or name in ("hosts", "username"):
                continue
            var = prefix + suffix
            kind = types[name]
            if kind == "bool":
                values[name] = _env_bool(var, raw)
            elif kind == "float":
                values[name] = _env_number(var, raw, float)
            elif kind == "int":
                values[name] = _env_number(var, raw, int)
            elif name == "retry_on_status":
                values[name] = tuple(
                    int(_env_number(var, part, int)) for part in raw.split(",") if part.strip()
                )
            elif raw.strip():
                values[name] = raw.strip()
        if values.get("aws_sigv4") and not values.get("aws_region"):
            region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
            if region:
                values["aws_region"] = region
        values.update(overrides)
        return cls(**values)

    def with_options(self, **changes: Any) -> OpenSearchConfig:
        """Return a copy with some fields changed (validated again).

        Args:
            **changes: Field values to replace.

        Returns:
            The new configuration.
        """
        return replace(self, **changes)

    # -- opensearch-py ----------------------------------------------------------------------
    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``opensearchpy.AsyncOpenSearch`` implementing this configuration.

        Returns:
            ``hosts``, auth, TLS, timeout and retry options; with ``aws_sigv4`` an
            ``AWSV4SignerAsyncAuth`` and the matching ``AsyncHttpConnection`` class.

        Raises:
            ConfigError: SigV4 is requested but ``botocore`` is not installed or finds no
                credentials.
        """
        hosts: list[dict[str, Any]] = []
        username, password = self.username, self.password
        for url in self.hosts:
            host = parse_host(url)
            if "username" in host:
                username = username or host.pop("username")
                password = password if password is not None else host.pop("password", None)
                host.pop("username", None)
                host.pop("password", None)
            hosts.append(host)
        kwargs: dict[str, Any] = {
            "hosts": hosts,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "retry_on_timeout": self.retry_on_timeout,
            "retry_on_status": self.retry_on_status,
            "http_compress": self.http_compress,
            "maxsize": self.pool_maxsize,
            "verify_certs": self.verify_certs,
            "ssl_show_warn": self.ssl_show_warn,
            "ssl_assert_hostname": self.ssl_assert_hostname,
        }
        if self.ca_certs:
            kwargs["ca_certs"] = self.ca_certs
        if self.client_cert:
            kwargs["client_cert"] = self.client_cert
        if self.client_key:
            kwargs["client_key"] = self.client_key
        if self.aws_sigv4:
            kwargs.update(self._sigv4_kwargs())
        elif username is not None:
            kwargs["http_auth"] = (username, password or "")
        return kwargs

    def _sigv4_kwargs(self) -> dict[str, Any]:
        try:
            import botocore.session  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise ConfigError(
                "aws_sigv4=True needs botocore, which is not installed: pip install boto3 "
                "(or botocore)"
            ) from None
        from opensearchpy import AsyncHttpConnection, AWSV4SignerAsyncAuth

        credentials = botocore.session.get_session().get_credentials()
        if credentials is None:
            raise ConfigError(
                "aws_sigv4=True but botocore found no AWS credentials (set AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY, AWS_PROFILE or an instance role)"
            )
        assert self.aws_region is not None  # NOTE: checked in validate()
        return {
            "http_auth": AWSV4SignerAsyncAuth(credentials, self.aws_region, self.aws_service),
            "connection_class": AsyncHttpConnection,
        }

    def describe(self) -> dict[str, Any]:
        """Return a loggable summary with secrets removed.

        Returns:
            Host URLs without credentials, auth kind and the main options.
        """
        urls = []
        for url in self.hosts:
            host = parse_host(url)
            scheme = "https" if host["use_ssl"] else "http"
            urls.append(f"{scheme}://{host['host']}:{host['port']}{host['url_prefix']}")
        auth = "sigv4" if self.aws_sigv4 else ("basic" if self._has_basic_auth() else None)
        return {
            "hosts": urls,
            "auth": auth,
            "verify_certs": self.verify_certs,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
        }

    def _has_basic_auth(self) -> bool:
        return self.username is not None or any("username" in parse_host(h) for h in self.hosts)
