"""Alembic migrations and idempotent seeding, on async engines.

```python
from armature_ext.seaorm import migrations

migrations.init("migrations", metadata="app.models:Base")   # once: writes env.py etc.
migrations.revision("create users")                         # autogenerate from the models
migrations.upgrade()                                        # to "head"
migrations.downgrade("-1")
migrations.seed("app.seeds")                                # runs app/seeds.py `async def seed(db)`
```

The same commands are available as ``python -m armature_ext.seaorm db <command>`` (and as
``armature db <command>``). The database URL comes from ``url=`` or ``DATABASE_URL``; the models'
metadata from ``metadata=``, ``ARMATURE_DB_METADATA`` or the ``TARGET_METADATA`` line of the
generated ``env.py``; the directory from ``directory=``, ``ARMATURE_MIGRATIONS_DIR`` or
``"migrations"``.

These functions are synchronous (Alembic's API is); called from a running event loop they run
the migration in a helper thread with its own loop, blocking the caller until it is done.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import inspect
import os
import string
import threading
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, insert, select
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from armature_ext.diesel.config import DatabaseConfig

from ._engine import DatabaseSource, engine_url, install_sqlite_hooks, resolve_config
from .database import Database, _metadata_of

__all__ = [
    "DEFAULT_DIRECTORY",
    "current",
    "downgrade",
    "init",
    "load_metadata",
    "revision",
    "run_env",
    "run_seed",
    "seed",
    "upgrade",
]

DEFAULT_DIRECTORY = "migrations"
METADATA_ENV = "ARMATURE_DB_METADATA"
DIRECTORY_ENV = "ARMATURE_MIGRATIONS_DIR"
SEEDS_TABLE = "armature_seeds"

_TEMPLATES = Path(__file__).with_name("_alembic")
_ALEMBIC_INI = """\
# Lets the plain alembic CLI use this directory: alembic -c {directory}/alembic.ini upgrade head
[alembic]
script_location = %(here)s
"""

MetadataRef = MetaData | type | str
T = TypeVar("T")


def load_metadata(ref: MetadataRef) -> MetaData:
    """Resolve ``"package.module:Attr.path"`` (or a class / MetaData) to a :class:`MetaData`.

    Args:
        ref: A MetaData, a declarative class, or ``"module:attribute"`` naming either.

    Returns:
        The metadata.

    Raises:
        ValueError: When the string is not ``module:attribute`` or names nothing usable.
    """
    if not isinstance(ref, str):
        return _metadata_of(ref)
    module_name, _, attr_path = ref.partition(":")
    if not module_name or not attr_path:
        raise ValueError(f"expected 'module:attribute' for the metadata, got {ref!r}")
    target: Any = importlib.import_module(module_name)
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"{ref!r}: {module_name} has no attribute {attr_path!r}") from None
    try:
        return _metadata_of(target)
    except TypeError as exc:
        raise ValueError(f"{ref!r} is not a declarative class or MetaData") from exc


def _directory(directory: str | os.PathLike[str] | None) -> Path:
    return Path(directory or os.environ.get(DIRECTORY_ENV) or DEFAULT_DIRECTORY)


def init(directory: str | os.PathLike[str] | None = None, *, metadata: str | None = None) -> Path:
    """Create a migrations directory: ``env.py`` (async-ready), ``script.py.mako``, ``versions/``.

    Args:
        directory: Where to create it (default ``ARMATURE_MIGRATIONS_DIR`` or ``migrations``).
        metadata: ``"module:attribute"`` of the declarative base whose tables are migrated,
            written into ``env.py`` as ``TARGET_METADATA``.

    Returns:
        The directory path.

    Raises:
        FileExistsError: When the directory exists and is not empty.
    """
    path = _directory(directory)
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(f"{path} already exists and is not empty")
    (path / "versions").mkdir(parents=True, exist_ok=True)
    env_template = string.Template((_TEMPLATES / "env.py.tmpl").read_text(encoding="utf-8"))
    (path / "env.py").write_text(env_template.substitute(metadata=repr(metadata)), encoding="utf-8")
    mako = (_TEMPLATES / "script.py.mako").read_text(encoding="utf-8")
    (path / "script.py.mako").write_text(mako, encoding="utf-8")
    (path / "alembic.ini").write_text(_ALEMBIC_INI.format(directory=path), encoding="utf-8")
    return path


def _config(
    directory: str | os.PathLike[str] | None,
    url: DatabaseSource | None,
    metadata: MetadataRef | None,
) -> Config:
    path = _directory(directory)
    if not (path / "env.py").is_file():
        raise FileNotFoundError(f"{path}/env.py not found: create it with `db init` first")
    config = Config()
    config.set_main_option("script_location", str(path))
    # NOTE: attributes, not main options: config values go through configparser interpolation,
    # which chokes on the '%' of URL-encoded passwords.
    if url is not None:
        config.attributes["url"] = url
    if metadata is not None:
        config.attributes["target_metadata"] = metadata
    return config


def revision(
    message: str,
    autogenerate: bool = True,
    *,
    directory: str | os.PathLike[str] | None = None,
    url: DatabaseSource | None = None,
    metadata: MetadataRef | None = None,
    rev_id: str | None = None,
) -> str:
    """Create a revision file, by default autogenerated by diffing the models and the database.

    Args:
        message: The revision message (also part of the file name).
        autogenerate: Compare the metadata with the database (which should be at ``head``);
            ``False`` writes an empty revision to fill in by hand.
        directory: The migrations directory.
        url: The database (default ``DATABASE_URL``).
        metadata: Override the models' metadata (object or ``"module:attribute"``).
        rev_id: A fixed revision id instead of a random one.

    Returns:
        The new revision id.
    """
    config = _config(directory, url, metadata)
    script = command.revision(config, message=message, autogenerate=autogenerate, rev_id=rev_id)
    if isinstance(script, list):  # pragma: no cover - only with multiple version paths
        script = script[0]
    if script is None:  # pragma: no cover - alembic returns None only for --sql
        raise RuntimeError("alembic did not create a revision")
    return str(script.revision)


def upgrade(
    rev: str = "head",
    *,
    directory: str | os.PathLike[str] | None = None,
    url: DatabaseSource | None = None,
    sql: bool = False,
) -> None:
    """Upgrade the database to ``rev``.

    Args:
        rev: Target revision: ``"head"``, an id, or relative (``"+1"``).
        directory: The migrations directory.
        url: The database (default ``DATABASE_URL``).
        sql: Print the SQL instead of running it (offline mode).
    """
    command.upgrade(_config(directory, url, None), rev, sql=sql)


def downgrade(
    rev: str,
    *,
    directory: str | os.PathLike[str] | None = None,
    url: DatabaseSource | None = None,
    sql: bool = False,
) -> None:
    """Downgrade the database to ``rev``.

    Args:
        rev: Target revision: an id, ``"-1"``, or ``"base"`` (undo everything).
        directory: The migrations directory.
        url: The database (default ``DATABASE_URL``).
        sql: Print the SQL instead of running it (offline mode; needs ``from:to`` revisions).
    """
    command.downgrade(_config(directory, url, None), rev, sql=sql)


def current(*, url: DatabaseSource | None = None) -> tuple[str, ...]:
    """Return the revision id(s) the database is at (empty before the first upgrade).

    Args:
        url: The database (default ``DATABASE_URL``).

    Returns:
        The current head revision ids.
    """

    def read(connection: Connection) -> tuple[str, ...]:
        return tuple(MigrationContext.configure(connection).get_current_heads())

    async def run() -> tuple[str, ...]:
        engine = _migration_engine(url)
        try:
            async with engine.connect() as conn:
                heads: tuple[str, ...] = await conn.run_sync(read)
                return heads
        finally:
            await engine.dispose()

    return _run_coroutine(run)


# -- env.py ---------------------------------------------------------------------------------------


def _migration_engine(url: DatabaseSource | None) -> AsyncEngine:
    """A pool-less async engine for one migration run (no foreign-key pragma on SQLite)."""
    config = resolve_config(url)
    connect_args = config.sqlalchemy_connect_args() if isinstance(config, DatabaseConfig) else {}
    target = engine_url(config)
    engine = create_async_engine(target, poolclass=NullPool, connect_args=connect_args)
    if target.get_backend_name() == "sqlite":
        install_sqlite_hooks(engine, foreign_keys=False)
    return engine


def _run_coroutine(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even when this thread has a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    # NOTE: asyncio.run() refuses to nest; a helper thread gets its own event loop.
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(factory())
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="armature-seaorm-migrate")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    result: T = outcome["value"]
    return result


def _skip_seeds_table(user_filter: Callable[..., bool] | None) -> Callable[..., bool]:
    """Keep autogenerate from proposing to drop the seed bookkeeping table."""

    def include_object(
        obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if type_ == "table" and name == SEEDS_TABLE and reflected and compare_to is None:
            return False
        return user_filter(obj, name, type_, reflected, compare_to) if user_filter else True

    return include_object


def run_env(context: Any, *, metadata: MetadataRef | None = None, **options: Any) -> None:
    """The body of the generated ``env.py``: run Alembic's migrations on an async engine.

    Args:
        context: ``alembic.context``.
        metadata: The default target metadata (``TARGET_METADATA`` of ``env.py``).
        **options: Extra ``context.configure`` options (``include_object``,
            ``process_revision_directives`` ...).
    """
    config = context.config
    ref = config.attributes.get("target_metadata") or os.environ.get(METADATA_ENV) or metadata
    target_metadata = load_metadata(ref) if ref is not None else None
    source: DatabaseSource | None = config.attributes.get("url")
    if source is None:
        source = config.get_main_option("sqlalchemy.url") or None
    resolved = resolve_config(source)
    url: URL = engine_url(resolved)
    configure: dict[str, Any] = {
        "target_metadata": target_metadata,
        "compare_type": True,
        # NOTE: SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        "render_as_batch": url.get_backend_name() == "sqlite",
    }
    configure.update(options)
    configure["include_object"] = _skip_seeds_table(configure.get("include_object"))
    if context.is_offline_mode():
        context.configure(
            url=url.render_as_string(hide_password=False),
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
            **configure,
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    def migrate(connection: Connection) -> None:
        context.configure(connection=connection, **configure)
        with context.begin_transaction():
            context.run_migrations()

    given = config.attributes.get("connection")
    if given is not None:
        migrate(given)
        return

    async def run() -> None:
        engine = _migration_engine(resolved if isinstance(resolved, DatabaseConfig) else url)
        try:
            async with engine.connect() as conn:
                await conn.run_sync(migrate)
                await conn.commit()
        finally:
            await engine.dispose()

    _run_coroutine(run)


# -- seeds -----------------------------------------------------------------------------------------

_seeds_metadata = MetaData()
_seeds = Table(
    SEEDS_TABLE,
    _seeds_metadata,
    Column("name", String(255), primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)


def _seed_function(module: str | ModuleType) -> tuple[str, Callable[[Database], Awaitable[Any]]]:
    mod = importlib.import_module(module) if isinstance(module, str) else module
    fn = getattr(mod, "seed", None)
    if fn is None or not inspect.iscoroutinefunction(fn):
        raise TypeError(f"{mod.__name__} must define `async def seed(db)`")
    return mod.__name__, fn


async def run_seed(db: Database, module: str | ModuleType, *, force: bool = False) -> bool:
    """Run ``module.seed(db)`` once per database, recorded in the ``armature_seeds`` table.

    The seed function runs inside ``db.transaction()`` (its active-record writes join it) with
    the bookkeeping row, so a failing seed leaves nothing behind and can simply be run again.

    Args:
        db: The database.
        module: A module (or its import name) defining ``async def seed(db)``.
        force: Run even when already recorded as applied.

    Returns:
        ``True`` when the seed ran, ``False`` when it had already been applied.

    Raises:
        TypeError: When the module has no ``async def seed(db)``.
    """
    name, fn = _seed_function(module)
    async with db.engine.begin() as conn:
        await conn.run_sync(_seeds_metadata.create_all)
    async with db.transaction() as session:
        found = await session.execute(select(_seeds.c.name).where(_seeds.c.name == name))
        if found.first() is not None and not force:
            return False
        await fn(db)
        await session.execute(delete(_seeds).where(_seeds.c.name == name))
        now = dt.datetime.now(dt.UTC)
        await session.execute(insert(_seeds).values(name=name, applied_at=now))
    return True


def seed(
    module: str | ModuleType, *, url: DatabaseSource | None = None, force: bool = False
) -> bool:
    """Synchronous :func:`run_seed` on a fresh :class:`Database` (for the CLI and scripts).

    Args:
        module: A module (or its import name) defining ``async def seed(db)``.
        url: The database (default ``DATABASE_URL``).
        force: Run even when already applied.

    Returns:
        Whether the seed ran.
    """
    _seed_function(module)  # fail before connecting when the module is wrong

    async def run() -> bool:
        async with Database(url) as db:
            return await run_seed(db, module, force=force)

    return _run_coroutine(run)
