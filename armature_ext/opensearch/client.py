"""A lifespan-managed ``AsyncOpenSearch`` client with a readiness check."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from opensearchpy import AsyncOpenSearch

from ._serializer import OrjsonSerializer
from .config import OpenSearchConfig
from .errors import NotStartedError

if TYPE_CHECKING:
    from .documents import Document, Repository
    from .indices import IndexManager

__all__ = ["OpenSearchProvider"]

D = TypeVar("D", bound="Document")

_HEALTHY = ("green", "yellow")


class OpenSearchProvider:
    """Owns one ``opensearchpy.AsyncOpenSearch`` for the lifetime of an application.

    ``start()`` builds the client with an orjson-based serializer (no network I/O, so an
    application starts even while the cluster is down); ``close()`` releases its connection pool.
    The provider is also an async context manager, and :meth:`lifespan` adapts it to an ASGI
    lifespan.

    Args:
        config: Connection settings (default: :meth:`OpenSearchConfig.from_env`).
        client_factory: Builds the client from keyword arguments (default ``AsyncOpenSearch``);
            useful to pass a subclass.

    Example:
        >>> provider = OpenSearchProvider(OpenSearchConfig(hosts=("http://127.0.0.1:9200",)))
        >>> provider.started
        False
    """

    __slots__ = ("_client", "_config", "_factory")

    def __init__(
        self,
        config: OpenSearchConfig | None = None,
        *,
        client_factory: Callable[..., AsyncOpenSearch] = AsyncOpenSearch,
    ) -> None:
        self._config = config if config is not None else OpenSearchConfig.from_env()
        self._factory = client_factory
        self._client: AsyncOpenSearch | None = None

    @property
    def config(self) -> OpenSearchConfig:
        """The configuration this provider connects with."""
        return self._config

    @property
    def started(self) -> bool:
        """Whether :meth:`start` has run and :meth:`close` has not."""
        return self._client is not None

    @property
    def client(self) -> AsyncOpenSearch:
        """The live client.

        Raises:
            NotStartedError: Before :meth:`start` or after :meth:`close`.
        """
        if self._client is None:
            raise NotStartedError(
                "the OpenSearch client is not started: call `await provider.start()` or use "
                "`async with provider:` (or the app lifespan)"
            )
        return self._client

    async def start(self) -> AsyncOpenSearch:
        """Create the client (idempotent).

        Returns:
            The client.

        Raises:
            ConfigError: The configuration cannot be turned into a client (e.g. SigV4 without
                botocore).
        """
        if self._client is None:
            kwargs = {"serializer": OrjsonSerializer(), **self._config.client_kwargs()}
            self._client = self._factory(**kwargs)
        return self._client

    async def close(self) -> None:
        """Close the client's connections (idempotent)."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def __aenter__(self) -> OpenSearchProvider:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[dict[str, Any]]:
        """ASGI lifespan: start on startup, close on shutdown, expose the provider as state.

        Args:
            app: The application (unused; accepted so this fits ``App(lifespan=...)``).

        Yields:
            ``{"opensearch": self}`` (merged into the application state by the framework).
        """
        await self.start()
        try:
            yield {"opensearch": self}
        finally:
            await self.close()

    async def check(self, *, timeout: float = 2.0) -> dict[str, Any]:
        """Readiness probe: ask the cluster for its health.

        Never raises for an unreachable or unhealthy cluster; the answer says so instead.

        Args:
            timeout: Seconds to wait for the cluster.

        Returns:
            ``{"status": "up", "cluster_name", "cluster_status", "number_of_nodes", "latency_ms"}``
            when the cluster answers green or yellow; otherwise ``{"status": "down", "error": ...}``
            (with ``cluster_status`` when the cluster answered red).
        """
        if self._client is None:
            return {"status": "down", "error": "OpenSearch client not started"}
        started = time.perf_counter()
        try:
            health = await self._client.cluster.health(
                params={"timeout": f"{max(int(timeout * 1000), 1)}ms"}, request_timeout=timeout
            )
        except Exception as exc:  # NOTE: a probe reports every failure instead of raising it
            return {"status": "down", "error": f"{type(exc).__name__}: {exc}"}
        latency = round((time.perf_counter() - started) * 1000, 2)
        status = str(health.get("status", "unknown"))
        report: dict[str, Any] = {
            "status": "up" if status in _HEALTHY else "down",
            "cluster_name": health.get("cluster_name"),
            "cluster_status": status,
            "number_of_nodes": health.get("number_of_nodes"),
            "latency_ms": latency,
        }
        if status not in _HEALTHY:
            report["error"] = f"cluster health is {status}"
        return report

    def repository(self, model: type[D]) -> Repository[D]:
        """Return a :class:`~armature_ext.opensearch.documents.Repository` for ``model``.

        Args:
            model: A :class:`~armature_ext.opensearch.documents.Document` subclass.

        Returns:
            The repository (cheap; create one per use or keep it).
        """
        from .documents import Repository

        return Repository(self, model)

    @property
    def indices(self) -> IndexManager:
        """Index management (create/delete/mappings/aliases/templates/reindex)."""
        from .indices import IndexManager

        return IndexManager(self)

    def index_name(self, name: str) -> str:
        """Apply the configured ``index_prefix`` to ``name``.

        Args:
            name: Logical index, alias or template name.

        Returns:
            The name used on the cluster.
        """
        prefix = self._config.index_prefix
        return name if not prefix or name.startswith(prefix) else prefix + name
