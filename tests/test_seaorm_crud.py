"""crud_router and the example app through the real ASGI entry point (SQLite and PostgreSQL)."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import pytest
from pydantic import BaseModel
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from test_seaorm_support import Post, User

from armature import App, Query
from armature.testing import AsyncTestClient
from armature_ext.seaorm import (
    ActiveModel,
    Database,
    DatabaseSessionMiddleware,
    Page,
    SearchFilters,
    crud_router,
    schema_for,
)

pytest_plugins = ["test_seaorm_support"]
pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "seaorm_app.py"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class UserFilters(SearchFilters):
    sortable = ("name", "age", "created_at")
    searchable = ("name", "email")
    max_per_page = 5


UserNameOnly = schema_for(User, include=["id", "name"], name="UserNameOnly")


def _app(db: Database, **options: Any) -> App:
    app = App()
    app.add_middleware(DatabaseSessionMiddleware, database=db)
    app.include_router(crud_router(User, prefix="/users", filters=UserFilters, **options))
    return app


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def test_crud_routes(db: Database) -> None:
    async with AsyncTestClient(_app(db)) as client:
        made = await client.post("/users", json={"email": "ada@x.io", "name": "Ada", "age": 36})
        assert made.status_code == 201, made.text
        ada = made.json()
        assert ada["email"] == "ada@x.io" and ada["active"] is True and float(ada["score"]) == 0
        uid = ada["id"]
        for i in range(7):
            r = await client.post("/users", json={"email": f"u{i}@x.io", "name": f"user{i}"})
            assert r.status_code == 201

        got = await client.get(f"/users/{uid}")
        assert got.status_code == 200
        # NOTE: the score default is the Python Decimal("0") on create; the database pads it
        assert {k: v for k, v in got.json().items() if k != "score"} == {
            k: v for k, v in ada.items() if k != "score"
        }

        listed = (await client.get("/users", params={"sort": "name", "order": "desc"})).json()
        assert listed["total"] == 8 and listed["per_page"] == 5 and listed["total_pages"] == 2
        assert [u["name"] for u in listed["items"]] == ["user6", "user5", "user4", "user3", "user2"]
        second = (await client.get("/users?sort=name&order=desc&page=2")).json()
        assert [u["name"] for u in second["items"]] == ["user1", "user0", "Ada"]
        searched = (await client.get("/users", params={"q": "ADA"})).json()
        assert [u["id"] for u in searched["items"]] == [uid]

        patched = await client.patch(f"/users/{uid}", json={"age": 37})
        assert patched.status_code == 200 and patched.json()["age"] == 37
        assert patched.json()["name"] == "Ada"  # untouched fields stay

        assert (await client.delete(f"/users/{uid}")).status_code == 204
        _problem(await client.get(f"/users/{uid}"), 404)
    async with db.session():
        assert await User.count() == 7


async def test_crud_errors_are_problem_json(db: Database) -> None:
    async with AsyncTestClient(_app(db)) as client:
        await client.post("/users", json={"email": "dup@x.io", "name": "A"})
        conflict = _problem(
            await client.post("/users", json={"email": "dup@x.io", "name": "B"}), 409
        )
        assert "dup@x.io" not in conflict["detail"]
        missing = _problem(await client.post("/users", json={"name": "no email"}), 422)
        assert ["body", "email"] in [e["loc"] for e in missing["errors"]]
        too_long = _problem(
            await client.post("/users", json={"email": "e@x", "name": "n" * 51}), 422
        )
        assert too_long["errors"][0]["loc"] == ["body", "name"]
        bad_sort = _problem(await client.get("/users?sort=email"), 422)
        assert bad_sort["errors"][0]["loc"] == ["query", "sort"]
        _problem(await client.get("/users?per_page=6"), 422)
        _problem(await client.get("/users?page=0"), 422)
        _problem(await client.get("/users/abc"), 404)  # the int converter does not match
        _problem(await client.patch("/users/999", json={"age": 1}), 404)
        _problem(await client.delete("/users/999"), 404)
        null = _problem(await client.patch("/users/1", json={"name": None}), 422)
        assert null["errors"][0]["loc"] == ["body", "name"]
        # the failed writes left the first row alone
        assert (await client.get("/users/1")).json()["name"] == "A"


async def test_crud_without_middleware_uses_database_sessions(db: Database) -> None:
    app = App()
    app.include_router(crud_router(User, database=db, operations=("list", "create")))
    async with AsyncTestClient(app) as client:
        assert (
            await client.post("/seaorm_users", json={"email": "a@x", "name": "A"})
        ).status_code == 201
        assert (await client.get("/seaorm_users")).json()["total"] == 1
        assert (await client.get("/seaorm_users/1")).status_code == 404  # no "get" route
    with pytest.raises(ValueError, match="unknown CRUD operation"):
        crud_router(User, operations=("list", "purge"))
    with pytest.raises(ValueError, match="prefix"):
        crud_router(User, prefix="users/")


async def test_crud_foreign_key_conflict_and_custom_schemas(db: Database) -> None:
    PostIn = schema_for(Post, include=["user_id", "title"], name="PostInCustom")

    class PostOut(BaseModel):
        model_config = {"from_attributes": True}
        id: int
        title: str

    app = App()
    app.add_middleware(DatabaseSessionMiddleware, database=db)
    app.include_router(
        crud_router(Post, prefix="/posts", create_schema=PostIn, read_schema=PostOut, tags=["x"])
    )
    async with AsyncTestClient(app) as client:
        _problem(await client.post("/posts", json={"user_id": 4242, "title": "orphan"}), 409)
        async with db.session():
            user = await User.create(email="p@x.io", name="P")
        made = await client.post("/posts", json={"user_id": user.id, "title": "hello"})
        assert made.status_code == 201 and set(made.json()) == {"id", "title"}


async def test_search_filters_bind_from_query_in_a_handler(db: Database) -> None:
    app = App()
    app.add_middleware(DatabaseSessionMiddleware, database=db)

    @app.get("/people")
    async def people(filters: Annotated[UserFilters, Query()]) -> Page[UserNameOnly]:  # type: ignore[valid-type]
        return (await filters.paginate(User.query())).map(UserNameOnly)

    async with AsyncTestClient(app) as client:
        async with db.session():
            await User.bulk_insert({"email": f"{n}@x", "name": n} for n in ("cy", "al", "bo"))
        page = (await client.get("/people?sort=name&per_page=2")).json()
        assert [p["name"] for p in page["items"]] == ["al", "bo"] and page["has_next"] is True
        _problem(await client.get("/people?order=random"), 422)


def _load_example(url: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("DATABASE_URL", url)
    spec = importlib.util.spec_from_file_location("seaorm_example_app", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "seaorm_example_app", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def example(db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ModuleType]:
    module = _load_example(db_url, monkeypatch)
    yield module
    async with Database(db_url) as cleanup:
        await cleanup.drop_all(module.Base)


async def test_example_app(example: ModuleType) -> None:
    async with AsyncTestClient(example.app) as client:
        ursula = await client.post("/authors", json={"name": "Ursula", "email": "ul@example.com"})
        assert ursula.status_code == 201, ursula.text
        aid = ursula.json()["id"]
        await client.post("/authors", json={"name": "Italo", "email": "ic@example.com"})
        authors = (await client.get("/authors?q=example&sort=name")).json()
        assert [a["name"] for a in authors["items"]] == ["Italo", "Ursula"]

        books = [{"title": f"Book {i}", "year": 1960 + i} for i in range(5)] + [
            {"title": "Undated"}
        ]
        made = await client.post(f"/authors/{aid}/books", json=books)
        assert made.status_code == 201, made.text
        assert [b["title"] for b in made.json()][-1] == "Undated"
        _problem(await client.post("/authors/999/books", json=books), 404)
        bad = await client.post(f"/authors/{aid}/books", json=[{"title": "ok"}, {"year": 1}])
        _problem(bad, 422)

        listed = (await client.get(f"/authors/{aid}/books")).json()
        assert [b["title"] for b in listed][-1] == "Undated" and len(listed) == 6

        seen: list[str] = []
        page = (await client.get("/books/feed?per_page=4")).json()
        seen += [b["title"] for b in page["items"]]
        while page["next_cursor"]:
            page = (
                await client.get(
                    "/books/feed", params={"per_page": 4, "cursor": page["next_cursor"]}
                )
            ).json()
            seen += [b["title"] for b in page["items"]]
        assert seen == ["Undated"] + [f"Book {i}" for i in range(4, -1, -1)]
        tampered = page["prev_cursor"][:-3] + (
            "AAA" if not page["prev_cursor"].endswith("AAA") else "BBB"
        )
        problem = _problem(await client.get("/books/feed", params={"cursor": tampered}), 400)
        assert problem["title"] == "Invalid cursor"

        stats = (await client.get("/stats?since_year=1962")).json()
        assert stats == {"authors": 2, "books": 6, "books_with_year": 3}
        assert (await client.delete(f"/books/{made.json()[0]['id']}")).status_code == 204
        assert (await client.get("/stats")).json()["books"] == 5


class _DeferredBase(DeclarativeBase):
    pass


class Parent(ActiveModel, _DeferredBase):
    __tablename__ = "seaorm_parents"
    id: Mapped[int] = mapped_column(primary_key=True)


class Child(ActiveModel, _DeferredBase):
    __tablename__ = "seaorm_children"
    id: Mapped[int] = mapped_column(primary_key=True)
    # checked at COMMIT, not at INSERT: the violation surfaces in the middleware's commit
    parent_id: Mapped[int] = mapped_column(
        ForeignKey("seaorm_parents.id", deferrable=True, initially="DEFERRED")
    )


async def test_commit_on_success_failing_commit_is_a_500(db: Database) -> None:
    app = App()
    app.add_middleware(DatabaseSessionMiddleware, database=db, commit_on_success=True)

    @app.post("/children/{parent_id:int}")
    async def add_child(parent_id: int) -> dict[str, int]:
        child = await Child.create(parent_id=parent_id)  # only flushed: the request commits
        return {"id": child.id}

    @app.post("/parents")
    async def add_parent() -> dict[str, int]:
        return {"id": (await Parent.create()).id}

    await db.create_all(_DeferredBase)
    try:
        async with AsyncTestClient(app, raise_server_exceptions=False) as client:
            parent = (await client.post("/parents")).json()["id"]
            ok = await client.post(f"/children/{parent}")
            assert ok.status_code == 200
            broken = await client.post("/children/999")
            assert broken.status_code == 500  # not a 200 for a write that did not happen
        async with db.session():
            assert [c.parent_id for c in await Child.all()] == [parent]
    finally:
        await db.drop_all(_DeferredBase)


class Ticket(ActiveModel, _DeferredBase):
    __tablename__ = "seaorm_tickets"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    subject: Mapped[str] = mapped_column(String(80))


async def test_crud_with_uuid_keys(db: Database) -> None:
    app = App()
    app.add_middleware(DatabaseSessionMiddleware, database=db)
    app.include_router(crud_router(Ticket, prefix="/tickets"))
    await db.create_all(_DeferredBase)
    try:
        async with AsyncTestClient(app) as client:
            chosen = str(uuid.uuid4())
            made = await client.post("/tickets", json={"id": chosen, "subject": "help"})
            assert made.status_code == 201
            ticket = made.json()
            assert ticket["id"] != chosen  # the key is generated, not taken from the client
            assert (await client.get(f"/tickets/{ticket['id']}")).json() == ticket
            _problem(await client.get(f"/tickets/{uuid.uuid4()}"), 404)
            _problem(await client.get("/tickets/not-a-uuid"), 404)
            patched = await client.patch(f"/tickets/{ticket['id']}", json={"subject": "solved"})
            assert patched.json()["subject"] == "solved"
    finally:
        await db.drop_all(_DeferredBase)


def test_crud_routes_produce_a_valid_openapi_document(monkeypatch: pytest.MonkeyPatch) -> None:
    from openapi_spec_validator import validate

    from armature.openapi import build_openapi

    module = _load_example("sqlite:///:memory:", monkeypatch)
    document = build_openapi(module.app)
    validate(document)  # type: ignore[arg-type]
    assert {"/authors", "/authors/{id}", "/books/{id}", "/books/feed"} <= set(document["paths"])
    listing = document["paths"]["/authors"]["get"]
    params = {p["name"]: p["schema"] for p in listing["parameters"]}
    assert set(params) == {"q", "sort", "order", "page", "per_page"}
    assert params["per_page"]["maximum"] == 50
    create = document["components"]["schemas"]["AuthorCreate"]
    assert sorted(create["required"]) == ["email", "name"]
    assert "id" not in create["properties"]
    assert set(document["paths"]["/authors/{id}"]) == {"get", "patch", "delete"}
    assert set(document["paths"]["/books/{id}"]) == {"get", "patch", "delete"}
