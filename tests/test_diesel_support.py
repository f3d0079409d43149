"""Shared fixtures for the diesel suites (imported by the test_diesel_* modules).

``backend_url`` is parametrized over the three backends: asyncpg and psycopg against the local
PostgreSQL ``test`` database, and aiosqlite against a real file in ``tmp_path``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from _services import ensure_postgres

from armature_ext.diesel import DatabaseConfig, Pool

BACKENDS = ["asyncpg", "psycopg", "sqlite"]
PG_BACKENDS = ["asyncpg", "psycopg"]


def url_for(backend: str, tmp_path: Path) -> str:
    """Return a database URL for ``backend`` (PostgreSQL is started if needed)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'diesel.db'}"
    dsn = ensure_postgres()
    rest = dsn.split("://", 1)[1]
    return f"postgresql://{rest}" if backend == "asyncpg" else f"postgresql+psycopg://{rest}"


def config_for(backend: str, tmp_path: Path, **options: Any) -> DatabaseConfig:
    """Return a small-pool config for ``backend``; ``options`` override fields."""
    values: dict[str, Any] = {
        "pool_size": 3,
        "pool_min": 1,
        "acquire_timeout": 5.0,
        "connect_timeout": 5.0,
        "close_timeout": 2.0,
        "application_name": "diesel-tests",
    }
    values.update(options)
    if backend == "sqlite":
        values.pop("application_name", None)
    return DatabaseConfig(url=url_for(backend, tmp_path), **values)


def table_ddl(backend: str, name: str) -> str:
    """A ``(id, name UNIQUE, n)`` table with a generated integer key on every backend."""
    key = "INTEGER PRIMARY KEY" if backend == "sqlite" else "SERIAL PRIMARY KEY"
    return f"CREATE TABLE {name} (id {key}, name TEXT NOT NULL UNIQUE, n INTEGER)"


def unique_name(prefix: str = "diesel") -> str:
    """A table name no other test (or engineer) uses."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def anyio_backend() -> str:
    """asyncpg, psycopg's async pool and aiosqlite are asyncio-only."""
    return "asyncio"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each shared behaviour runs on asyncpg, psycopg and SQLite."""
    return str(request.param)


@pytest.fixture(params=PG_BACKENDS)
def pg_backend(request: pytest.FixtureRequest) -> str:
    """PostgreSQL-only behaviour runs on both drivers."""
    return str(request.param)


@pytest.fixture
async def pool(backend: str, tmp_path: Path) -> AsyncIterator[Pool]:
    """An open pool (size 3) on the parametrized backend."""
    async with Pool(config_for(backend, tmp_path)) as opened:
        yield opened


@pytest.fixture
async def table(pool: Pool) -> AsyncIterator[str]:
    """A fresh ``(id, name, n)`` table, dropped afterwards."""
    name = unique_name()
    await pool.execute(table_ddl(pool.backend, name))
    yield name
    if not pool.closed:
        await pool.execute(f"DROP TABLE IF EXISTS {name}")
    else:  # the test closed its pool: drop with a fresh one
        async with Pool(pool.config) as cleanup:
            await cleanup.execute(f"DROP TABLE IF EXISTS {name}")


class TcpProxy:
    """A TCP forwarder to PostgreSQL that a test can take down like a crashed database host.

    :meth:`stop` closes the listening socket (new connections are refused) and cuts every open
    connection; :meth:`start` brings it back on the same port.
    """

    def __init__(self, target_port: int = 5432) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        ensure_postgres()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()
