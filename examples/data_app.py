"""Working with data: seaorm models, a raw-SQL report through diesel, OpenSearch full-text search.

Run it from the repository root; nothing else to set up (SQLite file ./data_app.db, created at
startup; search disabled until a cluster is configured)::

    granian --interface asgi examples.data_app:app

    curl -X POST localhost:8000/articles -H 'content-type: application/json' \\
         -d '{"title": "Hello data", "body": "Three integrations, one app", "category": "intro"}'
    curl 'localhost:8000/articles?q=hello&sort=title&per_page=10'    # a Page, filters, sorting
    curl localhost:8000/reports/categories                           # raw SQL through diesel
    curl 'localhost:8000/search?q=integrations'                      # 503 until OPENSEARCH_URL
    curl localhost:8000/health/ready                                 # every integration
    open http://localhost:8000/docs                                  # OpenAPI (Swagger UI)

Environment: ``DATABASE_URL`` (e.g. ``postgresql://user@host/db``; the SQLite file otherwise) and
every ``DATABASE_*`` setting of docs/diesel.md; ``OPENSEARCH_URL`` and the ``OPENSEARCH_*``
settings of docs/opensearch.md. The database is the source of truth: writes go to it first and
are then copied to the search index (``POST /search/reindex`` rebuilds the index from it).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated

from opensearchpy import ConnectionError as OpenSearchConnectionError
from pydantic import BaseModel
from sqlalchemy import DateTime, String, Text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from armature import App, JSONResponse, Query, Request
from armature.exceptions import ServiceUnavailable
from armature.health import HealthCheck
from armature.openapi import setup_openapi
from armature_ext.diesel import Connection, DatabaseConfig, install_database
from armature_ext.opensearch import (
    Document,
    IndexConfig,
    Keyword,
    OpenSearchConfig,
    Q,
    Repository,
    Search,
    install_opensearch,
)
from armature_ext.opensearch import Text as FullText
from armature_ext.seaorm import (
    ActiveModel,
    SearchFilters,
    crud_router,
    install_seaorm,
    schema_for,
)

logger = logging.getLogger("examples.data_app")

DEFAULT_DATABASE_URL = "sqlite:///./data_app.db"
NOT_CONFIGURED = "search is not configured: set OPENSEARCH_URL to an OpenSearch cluster"


# -- the records: seaorm models -------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class Article(ActiveModel, Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(50), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=lambda: dt.datetime.now(dt.UTC)
    )


class ArticleFilters(SearchFilters):
    sortable = ("title", "category", "created_at")
    searchable = ("title", "body")
    default_sort = "created_at"
    max_per_page = 100


ArticleRead = schema_for(Article, name="ArticleRead")
ArticleIn = schema_for(Article, exclude={"id", "created_at"}, name="ArticleIn")
ArticlePatch = schema_for(Article, exclude={"id", "created_at"}, partial=True, name="ArticlePatch")


class CategoryReport(BaseModel):
    """One row of the report."""

    category: str
    articles: int
    characters: int


# -- the search side: an OpenSearch document and a small service ------------------------------


class ArticleDoc(Document):
    """What the search index holds for an article (its id is the database id)."""

    index_config = IndexConfig(name="data-articles", id_field="id")

    id: int
    title: Annotated[str, FullText(analyzer="english")]
    body: Annotated[str, FullText(analyzer="english", keyword=False)] = ""
    category: Annotated[str, Keyword()]

    @classmethod
    def of(cls, article: Article) -> ArticleDoc:
        return cls(id=article.id, title=article.title, body=article.body, category=article.category)


class SearchHit(BaseModel):
    id: int
    title: str
    category: str
    score: float | None
    highlight: dict[str, list[str]] = {}


class SearchPage(BaseModel):
    total: int
    hits: list[SearchHit]


class SearchIndex:
    """Copies articles to the index and searches it; every method knows search may be off.

    Args:
        articles: The repository, or ``None`` when no cluster is configured.
    """

    def __init__(self, articles: Repository[ArticleDoc] | None) -> None:
        self.articles = articles

    @property
    def repository(self) -> Repository[ArticleDoc]:
        """The repository; 503 problem+json when search is not configured."""
        if self.articles is None:
            raise ServiceUnavailable(NOT_CONFIGURED)
        return self.articles

    async def sync(self, article: Article) -> None:
        """Index ``article`` after it was committed (best effort: the database has it)."""
        if self.articles is None:
            return
        try:
            await self.articles.index(ArticleDoc.of(article), refresh="wait_for")
        except OpenSearchConnectionError as exc:
            logger.warning(
                "article %s not indexed (POST /search/reindex later): %s", article.id, exc
            )

    async def remove(self, article_id: int) -> None:
        """Delete an article from the index (best effort)."""
        if self.articles is None:
            return
        try:
            await self.articles.delete(str(article_id), refresh=True)
        except OpenSearchConnectionError as exc:
            logger.warning("article %s not removed from the index: %s", article_id, exc)


def search_index(articles: Repository[ArticleDoc]) -> SearchIndex:
    """The provider of :class:`SearchIndex` when a cluster is configured."""
    return SearchIndex(articles)


async def _unreachable(request: Request, exc: Exception) -> JSONResponse:
    problem = ServiceUnavailable(f"OpenSearch is unreachable: {exc}").to_problem(request.path)
    return JSONResponse(problem, status_code=503, media_type="application/problem+json")


async def _search_disabled() -> dict[str, str]:
    # NOTE: not a failure: search is off by configuration, the rest of the app is ready.
    return {"status": "disabled", "detail": NOT_CONFIGURED}


# -- the app ----------------------------------------------------------------------------------


def create_app(
    database: DatabaseConfig | str | None = None, search: OpenSearchConfig | None = None
) -> App:
    """Build the app.

    Args:
        database: The database; by default ``DATABASE_URL`` or the SQLite file ./data_app.db.
        search: The cluster; by default ``OPENSEARCH_*``, and no search at all when
            ``OPENSEARCH_URL``/``OPENSEARCH_HOSTS`` is unset.

    Returns:
        The application.
    """
    if database is None:
        database = DatabaseConfig.from_env(default_url=DEFAULT_DATABASE_URL)
    elif isinstance(database, str):
        database = DatabaseConfig(url=database)
    if search is None and OpenSearchConfig.url_configured():
        search = OpenSearchConfig.from_env()

    app = App(
        title="data example",
        exception_handlers={OpenSearchConnectionError: _unreachable},
    )
    health = HealthCheck()
    # One database, two ways in: seaorm's ORM sessions and diesel's pool for hand-written SQL.
    db = install_seaorm(app, database, health=health, name="seaorm")
    install_database(app, database, health=health, name="diesel")
    if search is not None:
        install_opensearch(app, search, documents=[ArticleDoc], health=health, ensure_indices=True)
        app.provide(search_index)
    else:
        app.provide_value(SearchIndex, SearchIndex(None))
        health.add("opensearch", _search_disabled)
        app.on_startup.append(lambda: logger.warning(NOT_CONFIGURED))
    app.include_router(health.router())

    async def create_schema() -> None:
        # NOTE: the container started the database before this hook; a real project migrates.
        await db.create_all(Base)

    app.on_startup.append(create_schema)

    # -- records (seaorm) ---------------------------------------------------------------------

    app.include_router(
        crud_router(
            Article,
            prefix="/articles",
            read_schema=ArticleRead,
            filters=ArticleFilters,
            database=db,
            operations=("list", "get"),
        )
    )

    @app.post("/articles", status_code=201, tags=["Article"])
    async def create_article(
        data: ArticleIn,  # type: ignore[valid-type]
        session: AsyncSession,
        index: SearchIndex,
    ) -> ArticleRead:  # type: ignore[valid-type]
        """Create an article (committed at once), then index it."""
        values = data.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        article = await Article.create(**values)
        await index.sync(article)
        return ArticleRead.model_validate(article)

    @app.patch("/articles/{article_id:int}", tags=["Article"])
    async def update_article(
        article_id: int,
        data: ArticlePatch,  # type: ignore[valid-type]
        session: AsyncSession,
        index: SearchIndex,
    ) -> ArticleRead:  # type: ignore[valid-type]
        """Change some fields of an article (404 when it does not exist)."""
        article = await Article.get(article_id)
        await article.update(**data.model_dump(exclude_unset=True))  # type: ignore[attr-defined]
        await index.sync(article)
        return ArticleRead.model_validate(article)

    @app.delete("/articles/{article_id:int}", status_code=204, tags=["Article"])
    async def delete_article(article_id: int, session: AsyncSession, index: SearchIndex) -> None:
        """Delete an article from the database and the index."""
        await (await Article.get(article_id)).delete()
        await index.remove(article_id)

    # -- a report in plain SQL (diesel) ---------------------------------------------------------

    @app.get("/reports/categories", tags=["reports"])
    async def category_report(
        conn: Connection, min_articles: Annotated[int, Query(ge=1)] = 1
    ) -> list[CategoryReport]:
        """Articles and characters per category, largest first ($1 works on every backend)."""
        rows = await conn.fetch(
            "SELECT category, count(*) AS articles, coalesce(sum(length(body)), 0) AS characters"
            " FROM articles GROUP BY category HAVING count(*) >= $1"
            " ORDER BY articles DESC, category",
            min_articles,
        )
        return [CategoryReport.model_validate(row) for row in rows]

    # -- full-text search (OpenSearch) --------------------------------------------------------

    @app.get("/search", tags=["search"])
    async def search_articles(
        index: SearchIndex,
        q: str = "",
        category: str = "",
        page: Annotated[int, Query(ge=1)] = 1,
        per_page: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> SearchPage:
        """Full-text search over titles and bodies (503 when search is off or unreachable)."""
        query = Q.multi_match(q, ["title^2", "body"]) if q.strip() else Q.match_all()
        request = (
            Search()
            .query(query)
            .sort("_score", "id")
            .page(page, per_page=per_page)
            .source(excludes=["body"])
            .highlight("title", "body", number_of_fragments=1, fragment_size=120)
        )
        if category:
            request = request.filter(Q.term("category", category))
        results = await index.repository.search(request)
        return SearchPage(
            total=results.total.value,
            hits=[
                SearchHit(
                    id=int(hit.id),
                    title=hit.source["title"],
                    category=hit.source["category"],
                    score=hit.score,
                    highlight=hit.highlight or {},
                )
                for hit in results.hits
            ],
        )

    @app.post("/search/reindex", tags=["search"])
    async def reindex(session: AsyncSession, index: SearchIndex) -> dict[str, int]:
        """Copy every article from the database to the index."""
        repository = index.repository
        articles = await Article.query().order_by("id").all()
        result = await repository.bulk((ArticleDoc.of(a) for a in articles), refresh=True)
        return {"indexed": result.succeeded, "failed": result.failed}

    setup_openapi(app, description="seaorm records, diesel reports, OpenSearch full-text search")
    return app


app = create_app()
