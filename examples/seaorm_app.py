"""A CRUD API on SQLAlchemy 2 async with armature_ext.seaorm.

Run it (SQLite file ./seaorm_example.db by default; DATABASE_URL wins, e.g. a PostgreSQL URL)::

    pip install armature[seaorm,granian]
    granian --interface asgi examples.seaorm_app:app

    curl -X POST localhost:8000/authors -H 'content-type: application/json' \\
         -d '{"name": "Ursula K. Le Guin", "email": "ursula@example.com"}'
    curl 'localhost:8000/authors?q=ursula&sort=name'
    curl -X POST localhost:8000/authors/1/books -H 'content-type: application/json' \\
         -d '[{"title": "The Dispossessed", "year": 1974}, {"title": "Always Coming Home"}]'
    curl 'localhost:8000/books/feed?per_page=2'          # keyset pages: follow next_cursor

The tables are created at startup for the demo; a real project uses migrations
(``python -m armature_ext.seaorm db init|revision|upgrade``, see docs/seaorm.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from pydantic import BaseModel
from sqlalchemy import DateTime, ForeignKey, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from armature import App, Query
from armature_ext.diesel.config import DatabaseConfig
from armature_ext.seaorm import (
    ActiveModel,
    CursorPage,
    Database,
    DatabaseSessionMiddleware,
    SearchFilters,
    crud_router,
    schema_for,
)


class Base(DeclarativeBase):
    pass


class Author(ActiveModel, Base):
    __tablename__ = "authors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(200), unique=True)
    # NOTE: timezone=True is TIMESTAMPTZ on PostgreSQL (asyncpg refuses aware datetimes for a
    # plain TIMESTAMP); SQLite stores the text and hands back naive datetimes.
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=lambda: dt.datetime.now(dt.UTC)
    )


class Book(ActiveModel, Base):
    __tablename__ = "books"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    year: Mapped[int | None] = mapped_column(default=None)


class AuthorFilters(SearchFilters):
    sortable = ("name", "created_at")
    searchable = ("name", "email")
    default_sort = "name"
    max_per_page = 50


BookOut = schema_for(Book, name="BookOut")
BookIn = schema_for(Book, exclude={"id", "author_id"}, name="BookIn")


class AuthorStats(BaseModel):
    authors: int
    books: int
    books_with_year: int


db = Database(DatabaseConfig.from_env(default_url="sqlite:///./seaorm_example.db"))


@asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
    async with db.lifespan(app) as state:
        await db.create_all(Base)  # demo only: use migrations in a real project
        yield state


app = App(lifespan=lifespan, title="seaorm example")
app.add_middleware(DatabaseSessionMiddleware, database=db)
app.include_router(crud_router(Author, prefix="/authors", filters=AuthorFilters))
app.include_router(crud_router(Book, prefix="/books", operations=("get", "update", "delete")))


@app.post("/authors/{author_id:int}/books", status_code=201)
async def add_books(author_id: int, books: list[BookIn]) -> list[BookOut]:  # type: ignore[valid-type]
    """Add several books at once: all or nothing, in one transaction."""
    await Author.get(author_id)  # 404 when the author does not exist
    async with db.transaction():
        rows = [book.model_dump(exclude_unset=True) for book in books]  # type: ignore[attr-defined]
        created = await Book.bulk_create({**row, "author_id": author_id} for row in rows)
    return [BookOut.model_validate(book) for book in created]


@app.get("/books/feed")
async def book_feed(
    cursor: str | None = None,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
) -> CursorPage[BookOut]:  # type: ignore[valid-type]
    """Newest books first, with opaque signed cursors (a tampered cursor is a 400)."""
    page = await Book.keyset("id", order=order, per_page=per_page, cursor=cursor)
    return page.map(BookOut)


@app.get("/stats")
async def stats(since_year: Annotated[int, Query(ge=0)] = 0) -> AuthorStats:
    """Counts through the query helpers."""
    return AuthorStats(
        authors=await Author.count(),
        books=await Book.count(),
        books_with_year=await Book.where_is_null("year", False)
        .where_gte("year", since_year)
        .count(),
    )


@app.get("/authors/{author_id:int}/books")
async def author_books(author_id: int) -> list[BookOut]:  # type: ignore[valid-type]
    """An author's books, oldest first (books without a year last)."""
    await Author.get(author_id)
    query = Book.filter(author_id=author_id).order_by(func.coalesce(Book.year, 9999), Book.id)
    return [BookOut.model_validate(book) for book in await query.all()]
