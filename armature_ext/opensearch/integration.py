"""Wire OpenSearch into armature: dependency injection, lifespan and readiness, in both styles.

Micro style::

    from armature import App
    from armature.health import HealthCheck
    from armature_ext.opensearch import Repository, install_opensearch

    app = App()
    health = HealthCheck()
    install_opensearch(app, config, documents=[Product], health=health)
    app.include_router(health.router())

    @app.get("/products/{sku}")
    async def product(sku: str, products: Repository[Product]) -> Product | None:
        return await products.get(sku)

Module style: ``OpenSearchModule.register(config, documents=[Product])`` returns a ``@module``
providing the same keys.

What gets registered (every one a singleton, so injecting it is one dict read):

- :class:`~armature_ext.opensearch.OpenSearchConfig`: the settings (a value). Overriding it in
  tests (``app.dependency_overrides[OpenSearchConfig] = test_config``) redirects everything below.
- :class:`~armature_ext.opensearch.OpenSearchProvider`: from an async-generator factory; the
  container starts it at lifespan startup (no network I/O, so a cluster that is down does not stop
  the app from starting) and closes its client at shutdown.
- ``opensearchpy.AsyncOpenSearch``: the provider's client.
- ``Repository[Model]`` for every model of ``documents``; :func:`repository` builds the same
  factory for ``Depends`` or for your own provider declarations.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from opensearchpy import AsyncOpenSearch
from opensearchpy import ConnectionError as OpenSearchConnectionError

from armature.di import DependencyError
from armature.modules import module, provide

from .client import OpenSearchProvider
from .config import OpenSearchConfig
from .documents import Document, Repository

if TYPE_CHECKING:
    from armature.app import App
    from armature.health import HealthCheck

__all__ = ["OpenSearchModule", "install_opensearch", "repository"]

logger = logging.getLogger("armature_ext.opensearch")

D = TypeVar("D", bound=Document)

# NOTE: one factory per (model, index), so ``Depends(repository(Product))`` is the same
# dependency wherever it is written: one result per request, and one key for overrides.
_REPOSITORY_FACTORIES: dict[tuple[type[Document], str | None], Callable[..., Any]] = {}


def repository(
    model: type[D], *, index: str | None = None
) -> Callable[[OpenSearchProvider], Repository[D]]:
    """The factory of a :class:`Repository` for ``model`` over the injected provider.

    Use it with ``Depends`` (``products: Annotated[Repository[Product],
    Depends(repository(Product))]``), as a provider factory
    (``app.provide(repository(Product), key=Repository[Product])`` or
    ``provide(Repository[Product], use_factory=repository(Product))`` in a module), or list the
    model in ``documents=`` of :func:`install_opensearch` / :meth:`OpenSearchModule.register`,
    which does the latter.

    Args:
        model: A :class:`Document` subclass with an ``index_config``.
        index: Read and write this index or alias instead of the model's (used as is).

    Returns:
        The same function for the same ``(model, index)``, so it can be overridden with
        ``app.dependency_overrides[repository(Product)] = ...``.

    Raises:
        TypeError: ``model`` is not a document model with an ``index_config``.
    """
    _check_model(model)
    factory = _REPOSITORY_FACTORIES.get((model, index))
    if factory is None:

        def make(provider: OpenSearchProvider) -> Repository[D]:
            return Repository(provider, model, index=index)

        suffix = f", index={index!r}" if index is not None else ""
        make.__name__ = make.__qualname__ = f"repository({model.__name__}{suffix})"
        factory = _REPOSITORY_FACTORIES[(model, index)] = make
    return cast("Callable[[OpenSearchProvider], Repository[D]]", factory)


def _check_model(model: object) -> None:
    if not (isinstance(model, type) and issubclass(model, Document)):
        raise TypeError(f"expected a Document subclass, got {model!r}")
    model.config()  # NOTE: raises a TypeError naming the model when index_config is missing


def _repository_key(model: type[Document]) -> Any:
    # NOTE: ``Repository[Product]`` built at runtime is equal to (and hashes like) the one in a
    # handler's annotation, so it is the provider key.
    return Repository[model]  # type: ignore[valid-type]


class _Wiring:
    """The providers for one cluster, shared by both styles."""

    __slots__ = ("config", "documents", "ensure_indices", "provider")

    def __init__(
        self,
        config: OpenSearchConfig | None,
        documents: Iterable[type[Document]],
        ensure_indices: bool,
    ) -> None:
        self.config = config if config is not None else OpenSearchConfig.from_env()
        self.documents = list(dict.fromkeys(documents))
        for model in self.documents:
            _check_model(model)
        self.ensure_indices = ensure_indices
        # NOTE: the provider in effect (the one built here, or an override of it); the
        # readiness indicator reports on it, and nothing before startup / after shutdown.
        self.provider: OpenSearchProvider | None = None

    def keys(self) -> list[Any]:
        """Every provided key (what a module exports)."""
        return [
            OpenSearchConfig,
            OpenSearchProvider,
            AsyncOpenSearch,
            *(_repository_key(model) for model in self.documents),
        ]

    def providers(self) -> list[tuple[Any, Callable[..., Any] | None, Any]]:
        """``(key, factory, value)`` for every provided key (``factory`` None for a value)."""
        wiring = self

        async def open_opensearch(config: OpenSearchConfig) -> AsyncIterator[OpenSearchProvider]:
            provider = OpenSearchProvider(config)
            await provider.start()
            try:
                if wiring.ensure_indices:
                    await wiring.create_indices(provider)
                yield provider
            finally:
                await provider.close()

        def client(provider: OpenSearchProvider) -> AsyncOpenSearch:
            return provider.client

        async def bind(provider: OpenSearchProvider) -> AsyncIterator[_Wiring]:
            # NOTE: runs at startup with the provider in effect, overridden or not, so the
            # readiness indicator reports on what the handlers use.
            wiring.provider = provider
            try:
                yield wiring
            finally:
                wiring.provider = None

        return [
            (OpenSearchConfig, None, self.config),
            (OpenSearchProvider, open_opensearch, None),
            (AsyncOpenSearch, client, None),
            (_Wiring, bind, None),
            *((_repository_key(model), repository(model), None) for model in self.documents),
        ]

    async def create_indices(self, provider: OpenSearchProvider) -> None:
        """Create the missing indices of the document models (an unreachable cluster is logged)."""
        for model in self.documents:
            try:
                await provider.indices.ensure(model)
            except OpenSearchConnectionError as exc:
                # NOTE: the app starts anyway (readiness says the cluster is down); requests
                # fail until it is back, and the next start creates the indices.
                logger.warning("OpenSearch is unreachable at startup, indices not checked: %s", exc)
                return

    def add_indicator(self, health: HealthCheck, name: str, timeout: float) -> None:
        """Register a readiness indicator reporting the provider in effect (never raises)."""

        async def check() -> dict[str, Any]:
            provider = self.provider
            if provider is None:
                return {"status": "down", "error": "OpenSearch client not started"}
            return await provider.check(timeout=timeout)

        # NOTE: a second more than the probe's own timeout, so /health/ready shows the probe's
        # report (the cluster's answer or the connection error) rather than a bare timeout.
        health.add(name, check, kind="ready", timeout=timeout + 1)


def install_opensearch(
    app: App,
    config: OpenSearchConfig | None = None,
    *,
    documents: Iterable[type[Document]] = (),
    health: HealthCheck | None = None,
    name: str = "opensearch",
    health_timeout: float = 2.0,
    ensure_indices: bool = False,
) -> None:
    """Provide ``OpenSearchConfig``, ``OpenSearchProvider``, ``AsyncOpenSearch`` and repositories.

    The client is created at lifespan startup (without contacting the cluster, so the app starts
    while it is down) and closed at shutdown.

    Args:
        app: The application (before it starts).
        config: The settings, or ``None`` to read ``OPENSEARCH_*`` from the environment now.
        documents: Document models to provide ``Repository[Model]`` for.
        health: Register a readiness indicator named ``name`` on this health check; it reports
            ``OpenSearchProvider.check()`` (503 from ``/health/ready`` while the cluster is down).
        name: The indicator's name.
        health_timeout: Seconds the readiness probe waits for the cluster.
        ensure_indices: Create the missing indices of ``documents`` at startup (an unreachable
            cluster is logged and skipped; any other error fails the startup).

    Raises:
        DependencyError: The app already has OpenSearch installed.
        ConfigError: ``config`` is ``None`` and the environment holds invalid settings.
        TypeError: A ``documents`` entry is not a document model with an ``index_config``.
    """
    if app.container.has(OpenSearchProvider):
        raise DependencyError(
            "install_opensearch() was already called for this app; a second cluster needs its "
            "own OpenSearchProvider under another key (see docs/opensearch.md)"
        )
    wiring = _Wiring(config, documents, ensure_indices)
    for key, factory, value in wiring.providers():
        if factory is None:
            app.container.add_value(key, value)
        else:
            app.container.add_factory(factory, key=key)
    if health is not None:
        wiring.add_indicator(health, name, health_timeout)


class OpenSearchModule:
    """The module style: ``OpenSearchModule.register(config)`` returns a ``@module`` class.

    The module provides and exports ``OpenSearchConfig``, ``OpenSearchProvider``,
    ``AsyncOpenSearch`` and ``Repository[Model]`` for every model of ``documents`` (see
    :func:`install_opensearch`). The returned class carries ``config``.
    """

    config: ClassVar[OpenSearchConfig]

    @classmethod
    def register(
        cls,
        config: OpenSearchConfig | None = None,
        *,
        documents: Iterable[type[Document]] = (),
        global_: bool = True,
        health: HealthCheck | None = None,
        name: str = "opensearch",
        health_timeout: float = 2.0,
        ensure_indices: bool = False,
    ) -> type[OpenSearchModule]:
        """Build the module for one cluster.

        Args:
            config: The settings, or ``None`` to read ``OPENSEARCH_*`` from the environment now.
            documents: Document models to provide ``Repository[Model]`` for.
            global_: Export to every module without importing it.
            health: Register a readiness indicator named ``name`` on this health check.
            name: The indicator's name.
            health_timeout: Seconds the readiness probe waits for the cluster.
            ensure_indices: Create the missing indices of ``documents`` at startup.

        Returns:
            A new ``@module`` class (a subclass of :class:`OpenSearchModule`).

        Raises:
            ConfigError: ``config`` is ``None`` and the environment holds invalid settings.
            TypeError: A ``documents`` entry is not a document model with an ``index_config``.
        """
        wiring = _Wiring(config, documents, ensure_indices)
        providers = [
            provide(key, use_value=value) if factory is None else provide(key, use_factory=factory)
            for key, factory, value in wiring.providers()
        ]
        hosts = ", ".join(wiring.config.describe()["hosts"])
        namespace = {
            "__doc__": f"OpenSearch cluster at {hosts}.",
            "__module__": cls.__module__,
            "config": wiring.config,
        }
        created: type[OpenSearchModule] = type(cls.__name__, (cls,), namespace)
        if health is not None:
            wiring.add_indicator(health, name, health_timeout)
        return module(providers=providers, exports=wiring.keys(), global_=global_)(created)
