"""An article search API on OpenSearch with armature_ext.opensearch.

Run it against a cluster (without ``OPENSEARCH_URL`` the app still starts, and the search
endpoints answer 503 problem+json saying that no cluster is configured)::

    pip install armature[opensearch,granian]
    OPENSEARCH_URL=http://127.0.0.1:9200 granian --interface asgi examples.search_app:app

    curl -X POST localhost:8000/articles -H 'content-type: application/json' \\
         -d '{"slug": "hello", "title": "Hello search", "body": "Full-text search with armature",
              "tags": ["intro"], "published": "2024-05-01T10:00:00Z"}'
    curl 'localhost:8000/search?q=search&tags=intro&per_page=5'
    curl localhost:8000/articles/hello
    curl localhost:8000/health/ready           # 503 problem+json when the cluster is down

Every ``OPENSEARCH_*`` variable of docs/opensearch.md applies (auth, TLS, timeouts, SigV4...).
``install_opensearch`` starts the client with the app, closes it at shutdown, creates the index
when missing and injects ``Repository[Article]`` into the handlers; in tests,
``app.dependency_overrides[OpenSearchConfig] = test_config`` points it all at another cluster.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any

from opensearchpy import ConnectionError as OpenSearchConnectionError
from pydantic import BaseModel, Field

from armature import App, JSONResponse, Request
from armature.exceptions import NotFound, ServiceUnavailable
from armature.health import HealthCheck
from armature_ext.opensearch import (
    A,
    Document,
    IndexConfig,
    Keyword,
    OpenSearchConfig,
    Q,
    Repository,
    Search,
    Text,
    install_opensearch,
)

logger = logging.getLogger("examples.search_app")

NOT_CONFIGURED = "search is not configured: set OPENSEARCH_URL to an OpenSearch cluster"


class Article(Document):
    """A searchable article (the slug is its id)."""

    index_config = IndexConfig(name="articles", id_field="slug")

    slug: Annotated[str, Keyword()] = Field(pattern=r"^[a-z0-9-]{1,80}$")
    title: str = Field(min_length=1, max_length=300)
    body: Annotated[str, Text(analyzer="english", keyword=False)] = ""
    tags: Annotated[list[str], Keyword()] = []
    published: dt.datetime
    views: int = 0


class BulkIn(BaseModel):
    """Articles to index in one bulk request."""

    articles: list[Article] = Field(min_length=1, max_length=1000)


async def _not_configured() -> Repository[Article]:
    """Stands in for the repository without a cluster: every search endpoint answers 503."""
    raise ServiceUnavailable(NOT_CONFIGURED)


async def _not_configured_check() -> dict[str, str]:
    return {"status": "down", "error": NOT_CONFIGURED}


async def _unreachable(request: Request, exc: Exception) -> JSONResponse:
    problem = ServiceUnavailable(f"OpenSearch is unreachable: {exc}").to_problem(request.path)
    return JSONResponse(problem, status_code=503, media_type="application/problem+json")


def create_app(config: OpenSearchConfig | None = None) -> App:
    """Build the search app.

    Args:
        config: The cluster settings; by default read from ``OPENSEARCH_*`` environment variables,
            and no cluster at all when ``OPENSEARCH_URL``/``OPENSEARCH_HOSTS`` is unset.

    Returns:
        The application.
    """
    if config is None and OpenSearchConfig.url_configured():
        config = OpenSearchConfig.from_env()
    app = App(
        title="article search",
        exception_handlers={OpenSearchConnectionError: _unreachable},
    )
    health = HealthCheck()
    if config is not None:
        # NOTE: the client starts with the app (even while the cluster is down: requests then
        # answer 503 and /health/ready says why), the index is created when missing.
        install_opensearch(app, config, documents=[Article], health=health, ensure_indices=True)
    else:
        app.on_startup.append(lambda: logger.warning(NOT_CONFIGURED))
        app.provide(_not_configured, scope="request", key=Repository[Article])
        health.add("opensearch", _not_configured_check)
    app.include_router(health.router())

    @app.get("/search")
    async def search(
        articles: Repository[Article],
        q: str = "",
        tags: str = "",
        since: str = "",
        page: int = 1,
        per_page: int = 10,
    ) -> dict[str, Any]:
        query = (
            Q.multi_match(q, ["title^3", "body"], operator="and") if q.strip() else Q.match_all()
        )
        request = (
            Search()
            .query(query)
            .sort("_score", "-published")
            .page(max(page, 1), per_page=max(1, min(per_page, 100)))
            .source(excludes=["body"])
            .highlight("title", "body", number_of_fragments=1, fragment_size=150)
            .aggregate("tags", A.terms("tags", size=20))
            .aggregate(
                "per_month",
                A.date_histogram("published", calendar_interval="month", format="yyyy-MM"),
            )
        )
        wanted = [t for t in tags.split(",") if t]
        if wanted:
            request = request.filter(Q.terms("tags", wanted))
        if since:
            request = request.filter(Q.range("published", gte=since))
        results = await articles.search(request)
        return {
            "total": results.total.value,
            "hits": [
                {
                    "slug": hit.id,
                    "title": hit.source.get("title"),
                    "score": hit.score,
                    "highlight": hit.highlight,
                }
                for hit in results.hits
            ],
            "facets": {
                "tags": [
                    {"key": b.key, "count": b.doc_count}
                    for b in results.aggregations.buckets("tags")
                ],
                "per_month": [
                    {"month": b.key_as_string, "count": b.doc_count}
                    for b in results.aggregations.buckets("per_month")
                ],
            },
        }

    @app.post("/articles")
    async def index_article(article: Article, articles: Repository[Article]) -> dict[str, Any]:
        result = await articles.index(article, refresh="wait_for")
        return {"id": result.id, "result": result.result, "version": result.version}

    @app.post("/articles/bulk")
    async def bulk_articles(bulk: BulkIn, articles: Repository[Article]) -> dict[str, Any]:
        result = await articles.bulk(bulk.articles, refresh=True)
        return {
            "succeeded": result.succeeded,
            "failed": result.failed,
            "errors": [
                {"id": e.id, "status": e.status, "reason": e.error.reason if e.error else None}
                for e in result.errors
            ],
        }

    @app.get("/articles/{slug}")
    async def get_article(slug: str, articles: Repository[Article]) -> Article:
        article = await articles.get(slug)
        if article is None:
            raise NotFound(f"no article {slug!r}")
        return article

    @app.delete("/articles/{slug}")
    async def delete_article(slug: str, articles: Repository[Article]) -> dict[str, bool]:
        if not await articles.delete(slug, refresh=True):
            raise NotFound(f"no article {slug!r}")
        return {"deleted": True}

    return app


app = create_app()
