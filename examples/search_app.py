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
    curl localhost:8000/ready                  # 503 problem+json when the cluster is down

Every ``OPENSEARCH_*`` variable of docs/opensearch.md applies (auth, TLS, timeouts, SigV4...).
The index is created at startup when missing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from opensearchpy import ConnectionError as OpenSearchConnectionError
from pydantic import BaseModel, Field

from armature import App, JSONResponse, Request
from armature.exceptions import NotFound, ServiceUnavailable
from armature_ext.opensearch import (
    A,
    Document,
    IndexConfig,
    Keyword,
    OpenSearchConfig,
    OpenSearchProvider,
    Q,
    Repository,
    Search,
    Text,
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


def _unavailable(detail: str, request: Request, **extensions: Any) -> JSONResponse:
    problem = ServiceUnavailable(detail, extensions=extensions).to_problem(request.path)
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
    provider = OpenSearchProvider(config) if config is not None else None

    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        if provider is None:
            logger.warning(NOT_CONFIGURED)
            yield
            return
        async with provider:
            try:
                await provider.indices.ensure(Article)
            except OpenSearchConnectionError as exc:
                # NOTE: the app starts anyway; requests answer 503 until the cluster is back.
                logger.warning("OpenSearch is unreachable at startup: %s", exc)
            yield

    async def unreachable(request: Request, exc: Exception) -> JSONResponse:
        return _unavailable(f"OpenSearch is unreachable: {exc}", request)

    app = App(
        lifespan=lifespan,
        title="article search",
        exception_handlers={OpenSearchConnectionError: unreachable},
    )

    def articles() -> Repository[Article]:
        if provider is None:
            raise ServiceUnavailable(NOT_CONFIGURED)
        return provider.repository(Article)

    @app.get("/search")
    async def search(
        q: str = "", tags: str = "", since: str = "", page: int = 1, per_page: int = 10
    ) -> dict[str, Any]:
        repo = articles()
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
        results = await repo.search(request)
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
    async def index_article(article: Article) -> dict[str, Any]:
        result = await articles().index(article, refresh="wait_for")
        return {"id": result.id, "result": result.result, "version": result.version}

    @app.post("/articles/bulk")
    async def bulk_articles(bulk: BulkIn) -> dict[str, Any]:
        result = await articles().bulk(bulk.articles, refresh=True)
        return {
            "succeeded": result.succeeded,
            "failed": result.failed,
            "errors": [
                {"id": e.id, "status": e.status, "reason": e.error.reason if e.error else None}
                for e in result.errors
            ],
        }

    @app.get("/articles/{slug}")
    async def get_article(slug: str) -> Article:
        article = await articles().get(slug)
        if article is None:
            raise NotFound(f"no article {slug!r}")
        return article

    @app.delete("/articles/{slug}")
    async def delete_article(slug: str) -> dict[str, bool]:
        if not await articles().delete(slug, refresh=True):
            raise NotFound(f"no article {slug!r}")
        return {"deleted": True}

    @app.get("/ready")
    async def ready(request: Request) -> Any:
        if provider is None:
            raise ServiceUnavailable(NOT_CONFIGURED)
        report = await provider.check()
        if report["status"] != "up":
            return _unavailable(
                f"OpenSearch is not ready: {report.get('error')}", request, check=report
            )
        return report

    return app


app = create_app()
