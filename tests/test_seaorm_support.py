"""Shared models and fixtures for the seaorm tests (imported by the test_seaorm_* modules).

The ``db`` fixture is parametrized over a real SQLite file in ``tmp_path`` and the local
PostgreSQL server (a dedicated ``armature_seaorm_test_<pid>`` database, created once per session;
the process id keeps concurrent runs of the suite from dropping each other's database).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest
from _services import ensure_postgres
from sqlalchemy import ForeignKey, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from armature_ext.seaorm import ActiveModel, Database

PG_DATABASE = f"armature_seaorm_test_{os.getpid()}"


class Base(DeclarativeBase):
    pass


class User(ActiveModel, Base):
    __tablename__ = "seaorm_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    age: Mapped[int | None] = mapped_column(default=None)
    score: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=Decimal("0"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        default=lambda: dt.datetime(2024, 1, 1, 12, 0, 0)
    )


class Post(ActiveModel, Base):
    __tablename__ = "seaorm_posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("seaorm_users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))


def _pg_admin_dsn() -> str:
    return ensure_postgres()


def _pg_dsn_for(database: str) -> str:
    base = _pg_admin_dsn().rsplit("/", 1)[0]
    return f"{base}/{database}"


async def _recreate_pg_database(name: str, *, drop_only: bool = False) -> None:
    import asyncpg

    conn = await asyncpg.connect(_pg_admin_dsn())
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped afterwards)."""
    asyncio.run(_recreate_pg_database(PG_DATABASE))
    yield _pg_dsn_for(PG_DATABASE)
    asyncio.run(_recreate_pg_database(PG_DATABASE, drop_only=True))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """The URL of an empty database: a SQLite file in tmp_path, or the PostgreSQL test database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/seaorm.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A started Database with the test tables created (and dropped afterwards)."""
    database = Database(db_url)
    async with database:
        await database.create_all(Base)
        try:
            yield database
        finally:
            await database.drop_all(Base)
