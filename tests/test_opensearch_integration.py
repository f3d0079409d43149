"""install_opensearch / OpenSearchModule: injection into micro handlers and controllers, lifespan
(started at startup, closed at shutdown), readiness, overrides, through the real ASGI entry point
against the in-process fake OpenSearch (or a real cluster when OPENSEARCH_URL is set)."""

from __future__ import annotations

import logging
import socket
from typing import Annotated, Any

import pytest
from opensearch_server import server as fake_cluster
from opensearch_server.server import Target
from opensearchpy import AsyncOpenSearch
from pydantic import BaseModel

from armature import App, Depends
from armature.di import DependencyError
from armature.health import HealthCheck
from armature.modules import Application, controller, get, injectable, module, post
from armature.testing import AsyncTestClient, LifespanFailed, TestClient
from armature_ext.opensearch import (
    ConfigError,
    Document,
    IndexConfig,
    Keyword,
    OpenSearchConfig,
    OpenSearchModule,
    OpenSearchProvider,
    Repository,
    install_opensearch,
    repository,
)

opensearch_target = fake_cluster.opensearch_target
provider = fake_cluster.provider


@pytest.fixture
def anyio_backend() -> str:
    """opensearch-py's async client runs on asyncio only."""
    return "asyncio"


class Product(Document):
    index_config = IndexConfig(name="products", id_field="sku", settings={"number_of_shards": 1})

    sku: Annotated[str, Keyword()]
    name: str
    price: float = 0.0


class Review(Document):
    index_config = IndexConfig(name="reviews")

    product: Annotated[str, Keyword()]
    stars: int


class NoIndex(Document):
    title: str


def down_config() -> OpenSearchConfig:
    """A cluster address nothing listens on (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return OpenSearchConfig(hosts=(f"http://127.0.0.1:{port}",), max_retries=0, timeout=2)


def sessions_open(client: AsyncOpenSearch) -> list[bool]:
    """Whether each of the client's node connections holds an open HTTP session."""
    return [conn.session is not None for conn in client.transport.connection_pool.connections]


def micro_app(
    config: OpenSearchConfig | None, health: HealthCheck | None = None, **options: Any
) -> App:
    app = App()
    options.setdefault("ensure_indices", True)
    install_opensearch(app, config, documents=[Product], health=health, **options)
    if health is not None:
        app.include_router(health.router())

    @app.post("/products")
    async def create(product: Product, products: Repository[Product]) -> dict[str, Any]:
        result = await products.index(product, refresh=True)
        return {"id": result.id, "index": result.index}

    @app.get("/products/{sku}")
    async def read(
        sku: str,
        products: Annotated[Repository[Product], Depends(repository(Product))],
    ) -> dict[str, Any]:
        found = await products.get(sku)
        return {"product": found.to_source() if found is not None else None}

    @app.get("/wiring")
    async def wiring(client: AsyncOpenSearch, opensearch: OpenSearchProvider) -> dict[str, Any]:
        return {
            "same_client": client is opensearch.client,
            "prefix": opensearch.config.index_prefix,
            "count": (await client.count(index=opensearch.index_name("products")))["count"],
        }

    return app


# -- micro style -------------------------------------------------------------------------------


def test_handlers_get_repositories_the_client_and_the_provider(opensearch_target: Target) -> None:
    health = HealthCheck()
    app = micro_app(opensearch_target.config, health)
    prefix = opensearch_target.config.index_prefix
    with TestClient(app) as client:
        created = client.post("/products", json={"sku": "p1", "name": "Shoe", "price": 10})
        assert created.status_code == 200, created.text
        assert created.json() == {"id": "p1", "index": f"{prefix}products"}
        assert client.get("/products/p1").json() == {
            "product": {"sku": "p1", "name": "Shoe", "price": 10.0}
        }
        assert client.get("/products/nope").json() == {"product": None}
        assert client.get("/wiring").json() == {"same_client": True, "prefix": prefix, "count": 1}
        ready = client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        report = ready.json()["checks"]["opensearch"]
        assert report["status"] == "up"
        assert report["details"]["cluster_status"] in ("green", "yellow")


@pytest.mark.anyio
async def test_ensure_indices_creates_the_missing_indices_at_startup(
    opensearch_target: Target, provider: OpenSearchProvider
) -> None:
    app = App()
    install_opensearch(app, opensearch_target.config, documents=[Product, Review])
    async with AsyncTestClient(app):
        pass
    assert not await provider.indices.exists(Product)

    app = App()
    install_opensearch(
        app, opensearch_target.config, documents=[Product, Review], ensure_indices=True
    )
    async with AsyncTestClient(app):
        assert await provider.indices.exists(Product)
        assert await provider.indices.exists(Review)
    mapping = await provider.indices.get_mapping(Product)
    assert mapping["properties"]["sku"] == {"type": "keyword"}


def test_a_model_without_documents_registration_is_not_injected_by_type(
    opensearch_target: Target,
) -> None:
    app = App()
    install_opensearch(app, opensearch_target.config, documents=[Product])

    @app.get("/reviews")
    async def reviews(
        reviews: Annotated[Repository[Review], Depends(repository(Review))],
        products: Repository[Product],
    ) -> dict[str, str]:
        return {"reviews": reviews.index_name, "products": products.index_name}

    prefix = opensearch_target.config.index_prefix
    with TestClient(app) as client:
        assert client.get("/reviews").json() == {
            "reviews": f"{prefix}reviews",
            "products": f"{prefix}products",
        }


def test_config_from_the_environment(
    opensearch_target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENSEARCH_URL", ",".join(opensearch_target.config.hosts))
    monkeypatch.setenv("OPENSEARCH_INDEX_PREFIX", opensearch_target.config.index_prefix)
    monkeypatch.setenv("OPENSEARCH_MAX_RETRIES", "0")
    app = micro_app(config=None)
    with TestClient(app) as client:
        assert client.get("/wiring").json()["prefix"] == opensearch_target.config.index_prefix
    monkeypatch.setenv("OPENSEARCH_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="OPENSEARCH_TIMEOUT='soon'"):
        install_opensearch(App())


def test_bad_declarations_are_refused(opensearch_target: Target) -> None:
    app = App()
    install_opensearch(app, opensearch_target.config)
    with pytest.raises(DependencyError, match="already called"):
        install_opensearch(app, opensearch_target.config)
    with pytest.raises(TypeError, match="NoIndex has no index_config"):
        install_opensearch(App(), opensearch_target.config, documents=[NoIndex])
    with pytest.raises(TypeError, match="expected a Document subclass"):
        OpenSearchModule.register(opensearch_target.config, documents=[BaseModel])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="expected a Document subclass"):
        repository(dict)  # type: ignore[type-var]
    assert repository(Product) is repository(Product)
    assert repository(Product, index="other") is not repository(Product)
    assert repository(Product, index="other").__name__ == "repository(Product, index='other')"


# -- cluster down, readiness, lifespan ---------------------------------------------------------


def test_cluster_down_the_app_starts_and_readiness_answers_503(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = HealthCheck()
    app = micro_app(down_config(), health)
    with (
        caplog.at_level(logging.WARNING, logger="armature_ext.opensearch"),
        TestClient(app) as client,
    ):
        assert "OpenSearch is unreachable at startup" in caplog.text
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.headers["content-type"].startswith("application/problem+json")
        check = ready.json()["checks"]["opensearch"]
        assert check["status"] == "down"
        assert check["details"]["error"].startswith("ConnectionError")
        assert client.get("/health/live").status_code == 200
        assert client.get("/products/p1").status_code == 500  # the app maps errors itself


@pytest.mark.anyio
async def test_readiness_is_down_outside_the_lifespan_and_shutdown_closes_the_client(
    opensearch_target: Target,
) -> None:
    health = HealthCheck()
    app = micro_app(opensearch_target.config, health)
    seen: list[tuple[OpenSearchProvider, AsyncOpenSearch]] = []

    @app.get("/capture")
    async def capture(opensearch: OpenSearchProvider, client: AsyncOpenSearch) -> None:
        await client.info()  # opens the HTTP session
        seen.append((opensearch, client))

    before = await health.run(("ready",))
    assert before["checks"]["opensearch"]["details"]["error"] == "OpenSearch client not started"
    for _ in range(2):  # a second lifespan (e.g. a second test client) gets a fresh client
        async with AsyncTestClient(app) as client:
            assert (await client.get("/capture")).status_code == 200
            opensearch, os_client = seen[-1]
            assert opensearch.started
            assert any(sessions_open(os_client))
            assert (await health.run(("ready",)))["status"] == "up"
        assert not opensearch.started
        assert not any(sessions_open(os_client))
        after = await health.run(("ready",))
        assert after["status"] == "down"
    assert seen[0][0] is not seen[1][0]


# -- overrides ---------------------------------------------------------------------------------


def test_overriding_the_config_redirects_everything(opensearch_target: Target) -> None:
    health = HealthCheck()
    app = micro_app(down_config(), health)
    app.dependency_overrides[OpenSearchConfig] = opensearch_target.config
    with TestClient(app) as client:
        assert client.post("/products", json={"sku": "p2", "name": "Sock"}).status_code == 200
        assert client.get("/wiring").json()["prefix"] == opensearch_target.config.index_prefix
        assert client.get("/health/ready").status_code == 200


@pytest.mark.anyio
async def test_overriding_the_provider_uses_it_and_leaves_it_open(
    opensearch_target: Target, provider: OpenSearchProvider
) -> None:
    health = HealthCheck()
    app = micro_app(down_config(), health)
    app.dependency_overrides[OpenSearchProvider] = provider
    async with AsyncTestClient(app) as client:
        response = await client.post("/products", json={"sku": "p3", "name": "Hat"})
        assert response.status_code == 200, response.text
        assert (await client.get("/health/ready")).status_code == 200
    assert provider.started  # the app closes only what it created
    found = await provider.repository(Product).get("p3")
    assert found is not None and found.name == "Hat"


@pytest.mark.anyio
async def test_overriding_repositories(
    opensearch_target: Target, provider: OpenSearchProvider
) -> None:
    app = micro_app(opensearch_target.config)
    archive = Repository(provider, Product, index=provider.index_name("archive"))
    app.dependency_overrides[Repository[Product]] = archive
    app.dependency_overrides[repository(Product)] = lambda: archive
    async with AsyncTestClient(app) as client:
        created = await client.post("/products", json={"sku": "p4", "name": "Scarf"})
        assert created.json()["index"] == provider.index_name("archive")
        assert (await client.get("/products/p4")).json()["product"]["name"] == "Scarf"
        assert (await client.get("/wiring")).json()["count"] == 0  # nothing in "products"
    del app.dependency_overrides[repository(Product)]
    async with AsyncTestClient(app) as client:  # Depends(repository(Product)) is back
        assert (await client.get("/products/p4")).json() == {"product": None}
    assert (await archive.get("p4")) is not None


# -- module style ------------------------------------------------------------------------------


@injectable
class Catalog:
    def __init__(self, products: Repository[Product]) -> None:
        self.products = products

    async def price_of(self, sku: str) -> float | None:
        found = await self.products.get(sku)
        return found.price if found is not None else None


@controller("/catalog")
class CatalogController:
    def __init__(self, catalog: Catalog, products: Repository[Product]) -> None:
        self.catalog = catalog
        self.products = products

    @post("/")
    async def add(self, product: Product) -> dict[str, Any]:
        result = await self.products.index(product, refresh=True)
        return {"id": result.id}

    @get("/{sku}/price")
    async def price(self, sku: str) -> dict[str, Any]:
        return {"price": await self.catalog.price_of(sku)}

    @get("/count")
    async def count(self, client: AsyncOpenSearch) -> dict[str, Any]:
        response = await client.count(index=self.products.index_name)
        return {"count": response["count"]}


def catalog_app(opensearch: type[OpenSearchModule], *, imports: bool) -> App:
    @module(
        imports=[opensearch] if imports else [],
        providers=[Catalog],
        controllers=[CatalogController],
    )
    class CatalogModule:
        pass

    @module(imports=[CatalogModule, opensearch])
    class AppModule:
        pass

    return Application.create(AppModule)


def test_controllers_and_services_in_the_module_style(opensearch_target: Target) -> None:
    health = HealthCheck()
    opensearch = OpenSearchModule.register(
        opensearch_target.config, documents=[Product], health=health, ensure_indices=True
    )
    assert issubclass(opensearch, OpenSearchModule)
    assert opensearch.config is opensearch_target.config
    app = catalog_app(opensearch, imports=False)  # global_: no import needed
    app.include_router(health.router())
    with TestClient(app) as client:
        created = client.post("/catalog/", json={"sku": "p5", "name": "Belt", "price": 25})
        assert created.status_code == 200, created.text
        assert client.get("/catalog/p5/price").json() == {"price": 25.0}
        assert client.get("/catalog/missing/price").json() == {"price": None}
        assert client.get("/catalog/count").json() == {"count": 1}
        assert client.get("/health/ready").json()["checks"]["opensearch"]["status"] == "up"


def test_a_non_global_module_must_be_imported(opensearch_target: Target) -> None:
    opensearch = OpenSearchModule.register(
        opensearch_target.config, documents=[Product], global_=False, ensure_indices=True
    )
    with pytest.raises(LifespanFailed, match="CatalogModule does not import OpenSearchModule"):
        with TestClient(catalog_app(opensearch, imports=False)):
            pass
    with TestClient(catalog_app(opensearch, imports=True)) as client:
        assert client.get("/catalog/p6/price").json() == {"price": None}


def test_module_style_overrides_and_cluster_down(opensearch_target: Target) -> None:
    health = HealthCheck()
    opensearch = OpenSearchModule.register(
        down_config(), documents=[Product], health=health, ensure_indices=True
    )
    app = catalog_app(opensearch, imports=False)
    app.include_router(health.router())
    with TestClient(app) as client:
        assert client.get("/health/ready").status_code == 503
    app.dependency_overrides[OpenSearchConfig] = opensearch_target.config
    with TestClient(app) as client:
        assert client.get("/health/ready").status_code == 200
        assert client.get("/catalog/p7/price").json() == {"price": None}
