"""A notes API on plain SQL with armature_ext.diesel (SQLite by default, PostgreSQL by URL).

Run it (SQLite file ./diesel_example.db unless DATABASE_URL is set)::

    pip install armature[diesel,granian]
    granian --interface asgi examples.diesel_app:app
    DATABASE_URL=postgresql://app@127.0.0.1/app granian --interface asgi examples.diesel_app:app

    curl -X POST localhost:8000/notes -H 'content-type: application/json' \\
         -d '{"title": "first", "body": "hello"}'
    curl -X POST localhost:8000/notes/bulk -H 'content-type: application/json' \\
         -d '{"notes": [{"title": "a"}, {"title": "b"}]}'    # all or nothing (one transaction)
    curl 'localhost:8000/notes?limit=10'
    curl localhost:8000/health/ready                  # 503 problem+json when the db is down

Handlers take what they need by type (``install_database`` wires the container): ``Connection``
for the request, ``TransactionConnection`` for all-or-nothing writes (committed before the
response starts, rolled back on an error status). Every ``DATABASE_*`` variable of docs/diesel.md
applies (pool size, timeouts...). The table is created at startup for the demo; a real project
uses migrations.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import BaseModel, Field

from armature import App
from armature.exceptions import Conflict
from armature.health import HealthCheck
from armature_ext.diesel import (
    Connection,
    DatabaseConfig,
    DatabaseProvider,
    IntegrityError,
    TransactionConnection,
    install_database,
)

DEFAULT_URL = "sqlite:///diesel_example.db"

_DDL = {
    "sqlite": (
        "CREATE TABLE IF NOT EXISTS notes ("
        " id INTEGER PRIMARY KEY,"
        " title TEXT NOT NULL UNIQUE,"
        " body TEXT NOT NULL DEFAULT '',"
        " created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    ),
    "postgres": (
        "CREATE TABLE IF NOT EXISTS notes ("
        " id BIGSERIAL PRIMARY KEY,"
        " title TEXT NOT NULL UNIQUE,"
        " body TEXT NOT NULL DEFAULT '',"
        " created_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    ),
}


class NoteIn(BaseModel):
    """A note to create."""

    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=10_000)


class BulkIn(BaseModel):
    """Several notes, created together or not at all."""

    notes: list[NoteIn] = Field(min_length=1, max_length=100)


def create_app(config: DatabaseConfig | None = None) -> App:
    """Build the notes app.

    Args:
        config: The database settings; ``DATABASE_*`` environment variables by default, with a
            local SQLite file when ``DATABASE_URL`` is unset.

    Returns:
        The application (the container opens the pool at startup and drains it at shutdown).
    """

    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        # The pool is already open here: the container starts before the lifespan.
        await db.pool.execute(_DDL["sqlite" if db.config.is_sqlite else "postgres"])
        yield

    app = App(lifespan=lifespan, title="diesel notes")
    health = HealthCheck()
    db = install_database(
        app, config or DatabaseConfig.from_env(default_url=DEFAULT_URL), health=health
    )
    app.include_router(health.router())

    @app.post("/notes")
    async def create_note(note: NoteIn, conn: Connection) -> dict[str, Any]:
        try:
            row = await conn.fetchrow(
                "INSERT INTO notes (title, body) VALUES ($1, $2) RETURNING id, title, body",
                note.title,
                note.body,
            )
        except IntegrityError as exc:
            raise Conflict(f"a note titled {note.title!r} already exists") from exc
        assert row is not None
        return row

    @app.post("/notes/bulk")
    async def create_notes(bulk: BulkIn, tx: TransactionConnection) -> dict[str, Any]:
        # One transaction for the request: the 409 below rolls back every insert made so far.
        ids = []
        for note in bulk.notes:
            try:
                ids.append(
                    await tx.fetchval(
                        "INSERT INTO notes (title, body) VALUES ($1, $2) RETURNING id",
                        note.title,
                        note.body,
                    )
                )
            except IntegrityError as exc:
                raise Conflict("a title already exists; nothing was created") from exc
        return {"created": ids}

    @app.get("/notes")
    async def list_notes(conn: Connection, limit: int = 50, after: int = 0) -> list[dict[str, Any]]:
        limit = max(1, min(limit, 500))
        return await conn.fetch(
            "SELECT id, title, body FROM notes WHERE id > $1 ORDER BY id LIMIT $2",
            after,
            limit,
        )

    @app.get("/ready")
    async def ready(database: DatabaseProvider) -> dict[str, Any]:
        # The bare report (503 problem+json when down); /health/ready is the HealthCheck view.
        return await database.check()

    return app


app = create_app()
