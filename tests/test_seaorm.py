"""Database, sessions, transactions and the active-record API on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import String, func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column
from test_seaorm_support import Base, Post, User

import armature.exceptions
from armature.testing import AsyncTestClient
from armature_ext.diesel.config import DatabaseConfig
from armature_ext.seaorm import (
    ActiveModel,
    Database,
    DatabaseSessionMiddleware,
    NoSessionError,
    NotFound,
    Query,
    bind_session,
    current_session,
)

pytest_plugins = ["test_seaorm_support"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


pytestmark = pytest.mark.anyio


async def _seed(n: int = 5) -> list[User]:
    return await User.bulk_create(
        {"email": f"u{i}@example.com", "name": f"user{i}", "age": 20 + i} for i in range(n)
    )


async def _emails(query: Query[User]) -> list[str]:
    return [u.email for u in await query.order_by(User.id).all()]


# -- Database object -----------------------------------------------------------------------------


async def test_database_lifecycle_and_repr(tmp_path: object) -> None:
    db = Database(f"sqlite:///{tmp_path}/life.db")
    assert not db.started
    assert db.dialect == "sqlite"
    await db.startup()
    assert db.started and "started" in repr(db)
    assert await db.ping()
    await db.shutdown()
    await db.shutdown()  # idempotent
    assert not db.started
    async with db.lifespan(object()) as state:
        assert state == {"db": db}
        assert db.started
    assert not db.started


def test_repr_hides_password() -> None:
    db = Database("postgresql://app:s3cret@127.0.0.1:5432/x")
    assert "s3cret" not in repr(db)
    assert db.url.drivername == "postgresql+asyncpg"


async def test_engine_uses_config_pool_settings(tmp_path: object) -> None:
    config = DatabaseConfig(url=f"sqlite:///{tmp_path}/p.db", pool_size=3, acquire_timeout=2.5)
    async with Database(config) as db:
        pool = db.engine.pool
        assert pool.size() == 3  # type: ignore[attr-defined]
        assert pool._timeout == 2.5  # type: ignore[attr-defined]
        assert pool._max_overflow == 0  # type: ignore[attr-defined]


def test_database_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    monkeypatch.setenv("DATABASE_POOL_SIZE", "4")
    db = Database()
    assert isinstance(db.config, DatabaseConfig)
    assert db.config.pool_size == 4
    assert db.url.drivername == "sqlite+aiosqlite"


def test_database_rejects_bad_url() -> None:
    with pytest.raises(ValueError):
        Database("postgresql://host:notaport/db")
    with pytest.raises(ValueError):
        Database("::::")


async def test_startup_fails_fast_on_unreachable_server() -> None:
    db = Database(DatabaseConfig(url="postgresql://nobody@127.0.0.1:1/none", connect_timeout=2))
    with pytest.raises(OSError):
        await db.startup()
    await db.shutdown()


async def test_create_all_accepts_metadata_and_drop_all(db: Database) -> None:
    await db.drop_all(Base.metadata)
    async with db.session() as session:
        with pytest.raises(Exception):
            await session.execute(select(func.count()).select_from(User))
    await db.create_all(Base.metadata)
    async with db.session():
        assert await User.count() == 0
    with pytest.raises(TypeError):
        await db.create_all(object())


# -- sessions and binding ------------------------------------------------------------------------


async def test_active_record_needs_a_session(db: Database) -> None:
    with pytest.raises(NoSessionError, match="db.session"):
        await User.get(1)
    with pytest.raises(NoSessionError):
        current_session()


async def test_explicit_session_argument(db: Database) -> None:
    async with db.session(bind=False) as session:
        with pytest.raises(NoSessionError):
            current_session()
        user = await User.create(email="e@x.io", name="E", session=session)
        assert await User.get(user.id, session=session) is user
        assert await User.count(session=session) == 1
        assert await User.query(session=session).first() is user


async def test_session_binding_is_per_task(db: Database) -> None:
    seen: list[object] = []

    async def worker() -> None:
        async with db.session() as session:
            await asyncio.sleep(0)
            assert current_session() is session
            seen.append(session)

    await asyncio.gather(worker(), worker())
    assert seen[0] is not seen[1]
    with pytest.raises(NoSessionError):
        current_session()


async def test_bind_session_restores_previous(db: Database) -> None:
    async with db.session() as outer:
        async with db.session(bind=False) as inner:
            with bind_session(inner):
                assert current_session() is inner
            assert current_session() is outer


# -- active record -------------------------------------------------------------------------------


async def test_create_get_and_defaults(db: Database) -> None:
    async with db.session():
        ada = await User.create(email="ada@example.com", name="Ada", age=36)
        assert isinstance(ada.id, int)
        assert ada.active is True
        assert ada.score == Decimal("0")
    async with db.session():
        loaded = await User.get(ada.id)
        assert loaded is not ada
        assert (loaded.email, loaded.age, loaded.active) == ("ada@example.com", 36, True)
        assert repr(loaded) == f"<User {ada.id}>"
        assert loaded.to_dict(exclude={"created_at"}) == {
            "id": ada.id,
            "email": "ada@example.com",
            "name": "Ada",
            "age": 36,
            "score": Decimal("0"),
            "active": True,
        }
        assert repr(User(email="x", name="y")) == "<User transient>"


async def test_get_missing_raises_404_not_found(db: Database) -> None:
    async with db.session():
        assert await User.get_or_none(999) is None
        with pytest.raises(NotFound) as info:
            await User.get(999)
    error = info.value
    assert isinstance(error, armature.exceptions.NotFound)
    assert error.status_code == 404
    problem = error.to_problem("/users/999")
    assert problem["status"] == 404
    assert problem["detail"] == "User 999 not found"
    assert problem["instance"] == "/users/999"


async def test_save_update_delete_refresh(db: Database) -> None:
    async with db.session():
        user = User(email="s@x.io", name="S")
        await user.save()
        assert user.id is not None
        await user.update(name="Renamed", age=40)
        with pytest.raises(AttributeError, match="nope"):
            await user.update(nope=1)
    async with db.session() as session:
        again = await User.get(user.id)
        assert (again.name, again.age) == ("Renamed", 40)
        await session.commit()  # end the read transaction (SQLite: release the shared lock)
        async with db.session(bind=False) as other:
            await other.execute(
                text("UPDATE seaorm_users SET name = 'Changed' WHERE id = :id"), {"id": user.id}
            )
            await other.commit()
        assert again.name == "Renamed"
        await again.refresh()
        assert again.name == "Changed"
        await again.delete()
        assert await User.get_or_none(user.id) is None
    async with db.session():
        assert await User.count() == 0


async def test_instance_writes_use_the_session_that_loaded_it(db: Database) -> None:
    async with db.session():
        user = await User.create(email="own@x.io", name="Own")
    async with db.session() as first:
        loaded = await User.get(user.id)
        async with db.session() as second:
            assert current_session() is second
            await loaded.update(name="via first")  # must not try to attach to `second`
            assert loaded in first
            assert loaded not in second
    async with db.session():
        assert (await User.get(user.id)).name == "via first"


async def test_integrity_error_propagates(db: Database) -> None:
    async with db.session() as session:
        await User.create(email="dup@x.io", name="A")
        with pytest.raises(IntegrityError):
            await User.create(email="dup@x.io", name="B")
        await session.rollback()
        assert await User.count() == 1


async def test_bulk_create_and_bulk_insert(db: Database) -> None:
    async with db.session():
        made = await _seed(3)
        assert [u.id for u in made] == sorted(u.id for u in made)
        assert all(isinstance(u.id, int) for u in made)
        extra = User(email="obj@x.io", name="obj")
        assert await User.bulk_create([extra]) == [extra]
        count = await User.bulk_insert(
            [{"email": f"b{i}@x.io", "name": f"b{i}", "age": i} for i in range(50)]
        )
        assert count == 50
        assert await User.bulk_insert([]) == 0
        assert await User.count() == 54


async def test_class_level_first_all_count_exists(db: Database) -> None:
    async with db.session():
        await _seed(5)
        assert await User.count() == 5
        assert await User.count(User.age >= 23) == 2
        assert await User.exists(name="user1")
        assert not await User.exists(name="nobody")
        first = await User.first(User.age > 21)
        assert first is not None and first.name == "user2"
        assert await User.first(name="nobody") is None
        everyone = await User.all()
        assert [u.name for u in everyone] == [f"user{i}" for i in range(5)]
        assert [u.name for u in await User.all(active=True, age=20)] == ["user0"]


# -- queries -------------------------------------------------------------------------------------


async def test_where_helpers(db: Database) -> None:
    async with db.session():
        await _seed(5)  # ages 20..24
        await User.create(email="null@x.io", name="Nobody", age=None)
        assert await _emails(User.where_eq("age", 22)) == ["u2@example.com"]
        assert len(await User.where_ne("age", 22).all()) == 4  # NULL is not != 22
        assert await User.where_gt(User.age, 23).count() == 1
        assert await User.where_gte("age", 23).count() == 2
        assert await User.where_lt("age", 21).count() == 1
        assert await User.where_lte("age", 21).count() == 2
        assert await User.where_between("age", 21, 23).count() == 3
        assert await User.where_in("age", [20, 24, 99]).count() == 2
        assert await User.where_in("age", []).count() == 0
        assert await User.where_not_in("age", [20, 24]).count() == 3
        assert await _emails(User.where_is_null("age")) == ["null@x.io"]
        assert await User.where_is_null("age", False).count() == 5
        assert await User.where_like("name", "user%").count() == 5
        assert await User.where_ilike("name", "NOBO%").count() == 1
        assert await User.where_eq("age", None).count() == 1
        chained = User.where_gte("age", 21).where_lte("age", 23).where_ne("name", "user2")
        assert await _emails(chained) == ["u1@example.com", "u3@example.com"]


async def test_unknown_column_is_a_clear_error(db: Database) -> None:
    with pytest.raises(ValueError, match="User has no column 'nope'"):
        User.where_eq("nope", 1)
    with pytest.raises(ValueError, match="no column"):
        User.filter(nope=1)
    with pytest.raises(ValueError, match="no column"):
        User.order_by("-nope")


async def test_query_composes_with_select(db: Database) -> None:
    async with db.session() as session:
        await _seed(5)
        base = select(User).where(User.age > 21)
        query = User.query(base).where_lt("age", 24).order_by("-age")
        assert [u.age for u in await query.all()] == [23, 22]
        stmt = query.select()
        assert [u.age for u in (await session.scalars(stmt.limit(1))).all()] == [23]
        wrapped = Query(User, stmt.where(User.name != "user3"))
        assert [u.age for u in await wrapped.all()] == [22]
        assert await query.limit(1).offset(1).all() == await query.where_eq("age", 22).all()
        assert "seaorm_users" in repr(query)
        with pytest.raises(ValueError, match="must select the User entity"):
            Query(User, select(Post))
        with pytest.raises(ValueError, match="must select"):
            User.query(select(User.id))


async def test_query_join_and_options(db: Database) -> None:
    async with db.session():
        ada, bob = await _seed(2)
        await Post.bulk_create(
            [{"user_id": ada.id, "title": "a1"}, {"user_id": ada.id, "title": "a2"}]
        )
        await Post.create(user_id=bob.id, title="b1")
        writers = User.query().join(Post, Post.user_id == User.id).where(Post.title.like("a%"))
        assert [u.id for u in await writers.distinct().all()] == [ada.id]
        assert await Post.filter(user_id=ada.id).count() == 2


async def test_one_and_one_or_none(db: Database) -> None:
    async with db.session():
        await _seed(2)
        assert (await User.filter(name="user0").one()).age == 20
        assert await User.filter(name="zzz").one_or_none() is None
        with pytest.raises(NotFound, match="User not found"):
            await User.filter(name="zzz").one()


async def test_bulk_update_and_delete(db: Database) -> None:
    async with db.session():
        users = await _seed(5)
        assert await User.where_gte("age", 23).update(active=False) == 2
        assert users[4].active is False  # loaded instances are synchronized
        assert await User.filter(active=False).count() == 2
        assert await User.where_lt("age", 21).delete() == 1
        assert await User.count() == 4
        with pytest.raises(ValueError, match="at least one"):
            await User.query().update()
        with pytest.raises(ValueError, match="no column"):
            await User.query().update(nope=1)
        with pytest.raises(ValueError, match="unjoined"):
            await User.query().limit(1).delete()
    async with db.session():
        assert await User.filter(active=False).count() == 2
        assert await User.query().delete() == 4


# -- transactions --------------------------------------------------------------------------------


async def test_transaction_commits(db: Database) -> None:
    async with db.transaction():
        await User.create(email="t@x.io", name="T")
        await User.create(email="t2@x.io", name="T2")
    async with db.session():
        assert await User.count() == 2


async def test_transaction_rolls_back_on_error(db: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with db.transaction():
            await User.create(email="t@x.io", name="T")
            assert await User.count() == 1  # flushed, visible inside
            raise RuntimeError("boom")
    async with db.session():
        assert await User.count() == 0


async def test_transaction_writes_only_flush_until_the_end(db: Database) -> None:
    async with db.session() as session:
        async with db.transaction() as tx_session:
            assert tx_session is session
            await User.create(email="late@x.io", name="Late")
            async with db.session(bind=False) as observer:
                assert await User.count(session=observer) == 0
                await observer.rollback()
        async with db.session(bind=False) as observer:
            assert await User.count(session=observer) == 1


async def test_nested_transaction_is_a_savepoint(db: Database) -> None:
    async with db.transaction():
        await User.create(email="outer@x.io", name="Outer")
        with pytest.raises(ValueError):
            async with db.transaction():
                await User.create(email="inner@x.io", name="Inner")
                raise ValueError("undo the inner block only")
        async with db.transaction():
            await User.create(email="inner2@x.io", name="Inner2")
    async with db.session():
        assert sorted(u.email for u in await User.all()) == ["inner2@x.io", "outer@x.io"]


async def test_transaction_on_explicit_session(db: Database) -> None:
    async with db.session(bind=False) as session:
        async with db.transaction(session) as same:
            assert same is session
            assert current_session() is session
            await User.create(email="x@x.io", name="X")
        with pytest.raises(NoSessionError):
            current_session()
    async with db.session():
        assert await User.count() == 1


async def test_foreign_keys_are_enforced(db: Database) -> None:
    async with db.session() as session:
        with pytest.raises(IntegrityError):
            await Post.create(user_id=12345, title="orphan")
        await session.rollback()
        user = await User.create(email="fk@x.io", name="FK")
        await Post.create(user_id=user.id, title="p")
        await user.delete()
        assert await Post.count() == 0  # ON DELETE CASCADE


# -- per-request sessions ------------------------------------------------------------------------


def _asgi_app(status: int = 200, fail: bool = False) -> Any:
    """A hand-written ASGI app: creates a user from the query string, then answers."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            assert message["type"] == "lifespan.startup"
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        name = scope["query_string"].decode()
        session = current_session()
        user = await User.create(email=f"{name}@x.io", name=name)
        if fail:
            raise RuntimeError("handler failed")
        body = f"{user.id}:{id(session)}".encode()
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


async def test_middleware_binds_a_session_per_request(db: Database) -> None:
    app = DatabaseSessionMiddleware(_asgi_app(), database=db)
    async with AsyncTestClient(app) as client:
        first = await client.get("/?one")
        second = await client.get("/?two")
    assert first.status_code == second.status_code == 200
    assert first.text.split(":")[1] != second.text.split(":")[1]
    with pytest.raises(NoSessionError):
        current_session()
    async with db.session():
        assert sorted(u.name for u in await User.all()) == ["one", "two"]


async def test_middleware_default_mode_keeps_autocommitted_writes_on_errors(db: Database) -> None:
    app = DatabaseSessionMiddleware(_asgi_app(status=500), database=db)
    async with AsyncTestClient(app) as client:
        assert (await client.get("/?kept")).status_code == 500
    async with db.session():
        assert await User.exists(name="kept")


async def test_middleware_commit_on_success(db: Database) -> None:
    ok = DatabaseSessionMiddleware(_asgi_app(), database=db, commit_on_success=True)
    bad = DatabaseSessionMiddleware(_asgi_app(status=422), database=db, commit_on_success=True)
    boom = DatabaseSessionMiddleware(_asgi_app(fail=True), database=db, commit_on_success=True)
    async with AsyncTestClient(ok) as client:
        assert (await client.get("/?good")).status_code == 200
    async with AsyncTestClient(bad) as client:
        assert (await client.get("/?rejected")).status_code == 422
    async with AsyncTestClient(boom, raise_server_exceptions=False) as client:
        assert (await client.get("/?crashed")).status_code == 500
    async with db.session():
        assert [u.name for u in await User.all()] == ["good"]


async def test_middleware_passes_other_scopes_through(db: Database) -> None:
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        with pytest.raises(NoSessionError):
            current_session()

    wrapped = DatabaseSessionMiddleware(app, database=db)
    await wrapped({"type": "websocket"}, None, None)  # type: ignore[arg-type]
    assert seen == ["websocket"]
    with pytest.raises(TypeError, match="Database"):
        DatabaseSessionMiddleware(app, database="sqlite://")  # type: ignore[arg-type]


class Stamped(ActiveModel, Base):
    __tablename__ = "seaorm_stamped"
    # NOTE: eager_defaults off: the INSERT does not return the server default, so create() must
    # load it before handing the object back (attribute access would otherwise need lazy IO).
    __mapper_args__ = {"eager_defaults": False}

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(20), server_default="fresh")


async def test_server_defaults_are_loaded_after_writes(db: Database) -> None:
    await db.create_all(Stamped)
    try:
        async with db.session():
            row = await Stamped.create()
            assert "label" not in inspect(row).unloaded
            assert row.label == "fresh"
        async with db.transaction():
            inner = await Stamped.create()
            assert inner.label == "fresh"
    finally:
        await db.drop_all(Stamped)


async def test_middleware_creates_sessions_lazily_and_returns_connections(db: Database) -> None:
    made: list[object] = []
    factory = db.sessionmaker

    def counting_factory() -> Any:
        session = factory()
        made.append(session)
        return session

    db._sessionmaker = counting_factory  # type: ignore[assignment]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"]
        if path == "/read":
            await User.count()
        elif path == "/touch":
            current_session()  # creates the session, runs nothing
        elif path == "/pending":
            current_session().add(User(email="never@x.io", name="never"))  # not committed
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    wrapped = DatabaseSessionMiddleware(app, database=db)
    async with AsyncTestClient(wrapped) as client:
        await client.get("/nothing")
        assert made == []  # never needed, never created
        for path in ("/read", "/touch", "/pending", "/read"):
            assert (await client.get(path)).status_code == 200
    assert len(made) == 4
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    async with db.session(bind=False) as session:
        assert await User.count(session=session) == 0  # the pending add was rolled back
