"""Offset pages, keyset pages with signed cursors, and SearchFilters, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel
from test_seaorm_support import Post, User

import armature.exceptions
from armature_ext.seaorm import CursorSigner, Database, InvalidCursor, Page
from armature_ext.seaorm.cursors import decode_value, default_signer, encode_value
from armature_ext.seaorm.filters import SearchFilters

pytest_plugins = ["test_seaorm_support"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


SIGNER = CursorSigner("test-secret-0123456789")
BASE_TIME = dt.datetime(2024, 5, 1, 8, 0, 0)


class UserOut(BaseModel):
    id: int
    name: str


async def _seed(n: int) -> None:
    # created_at repeats in runs of three so keyset pagination must break ties on the id
    await User.bulk_insert(
        {
            "email": f"u{i:02d}@example.com",
            "name": f"user{(i * 7) % n:02d}",
            "age": i % 4,
            "score": Decimal(i % 5) / 4,
            "created_at": BASE_TIME + dt.timedelta(hours=i // 3),
        }
        for i in range(n)
    )


# -- offset pages --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_offset_pagination(db: Database) -> None:
    async with db.session():
        await _seed(23)
        first = await User.paginate(1, 10)
        assert [u.email for u in first.items] == [f"u{i:02d}@example.com" for i in range(10)]
        assert (first.page, first.per_page, first.total, first.total_pages) == (1, 10, 23, 3)
        assert (first.has_next, first.has_prev) == (True, False)
        last = await User.query().order_by("-id").paginate(3, 10)
        assert [u.email for u in last.items] == [
            "u02@example.com",
            "u01@example.com",
            "u00@example.com",
        ]
        assert (last.has_next, last.has_prev) == (False, True)
        beyond = await User.paginate(9, 10)
        assert beyond.items == [] and beyond.total == 23 and not beyond.has_next
        filtered = await User.where_eq("age", 0).paginate(1, 2)
        assert filtered.total == 6 and filtered.total_pages == 3 and len(filtered.items) == 2
        with pytest.raises(ValueError, match="page must be >= 1"):
            await User.paginate(0, 10)
        with pytest.raises(ValueError, match="per_page"):
            await User.paginate(1, 0)


@pytest.mark.anyio
async def test_empty_page_and_map_to_schema(db: Database) -> None:
    async with db.session():
        empty = await User.paginate()
        assert (empty.total, empty.total_pages, empty.has_next, empty.has_prev) == (
            0,
            0,
            False,
            False,
        )
        await _seed(3)
        page = (await User.paginate(1, 2)).map(UserOut)
    assert isinstance(page, Page)
    assert page.model_dump() == {
        "items": [
            {"id": page.items[0].id, "name": "user00"},
            {"id": page.items[1].id, "name": "user01"},
        ],
        "page": 1,
        "per_page": 2,
        "total": 3,
        "total_pages": 2,
        "has_next": True,
        "has_prev": False,
    }
    schema = Page[UserOut].model_json_schema()
    assert schema["properties"]["items"]["items"]["$ref"].endswith("UserOut")


# -- keyset pages --------------------------------------------------------------------------------


async def _walk(sort: Any, order: str, per_page: int) -> tuple[list[list[int]], list[list[int]]]:
    """Follow next cursors to the end, then prev cursors back to the start."""
    forward: list[list[int]] = []
    page = await User.keyset(sort, order=order, per_page=per_page, signer=SIGNER)  # type: ignore[arg-type]
    assert not page.has_prev and page.prev_cursor is None
    forward.append([u.id for u in page.items])
    while page.next_cursor:
        page = await User.keyset(
            sort,
            order=order,
            per_page=per_page,
            cursor=page.next_cursor,
            signer=SIGNER,  # type: ignore[arg-type]
        )
        assert page.has_prev
        forward.append([u.id for u in page.items])
    assert not page.has_next
    backward: list[list[int]] = [[u.id for u in page.items]]
    while page.prev_cursor:
        page = await User.keyset(
            sort,
            order=order,
            per_page=per_page,
            cursor=page.prev_cursor,
            signer=SIGNER,  # type: ignore[arg-type]
        )
        assert page.has_next
        backward.append([u.id for u in page.items])
    return forward, backward


@pytest.mark.anyio
@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("sort", ["created_at", "name", "score", None])
async def test_keyset_walks_forward_and_back(db: Database, sort: str | None, order: str) -> None:
    async with db.session():
        await _seed(17)
        everyone = await User.all()
        key = (lambda u: (getattr(u, sort), u.id)) if sort else (lambda u: (u.id,))
        expected = [u.id for u in sorted(everyone, key=key, reverse=order == "desc")]
        forward, backward = await _walk(sort, order, 5)
    assert [len(p) for p in forward] == [5, 5, 5, 2]
    assert [i for p in forward for i in p] == expected
    # walking back from the last page with prev cursors revisits exactly the same pages
    assert list(reversed(backward)) == forward


@pytest.mark.anyio
async def test_keyset_respects_filters_and_empty_results(db: Database) -> None:
    async with db.session():
        await _seed(12)
        page = await User.where_eq("age", 1).keyset("created_at", per_page=2, signer=SIGNER)
        assert all(u.age == 1 for u in page.items) and len(page.items) == 2
        rest = await User.where_eq("age", 1).keyset(
            "created_at", per_page=2, cursor=page.next_cursor, signer=SIGNER
        )
        assert [u.age for u in rest.items] == [1] and rest.next_cursor is None
        none = await User.where_eq("age", 99).keyset("created_at", signer=SIGNER)
        assert none.items == [] and none.next_cursor is None and not none.has_next
        with pytest.raises(ValueError, match="order"):
            await User.keyset("name", order="up", signer=SIGNER)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="no column"):
            await User.keyset("nope", signer=SIGNER)
        with pytest.raises(ValueError, match="column of the model"):
            await User.keyset(Post.title, signer=SIGNER)


@pytest.mark.anyio
async def test_tampered_or_foreign_cursors_are_400(db: Database) -> None:
    async with db.session():
        await _seed(6)
        page = await User.keyset("created_at", per_page=2, signer=SIGNER)
        token = page.next_cursor
        assert token is not None
        body, sig = token.split(".")
        flipped = body[:-1] + ("A" if body[-1] != "A" else "B")
        bad_tokens = [
            f"{flipped}.{sig}",
            f"{body}.{sig[:-2]}",
            "not-a-cursor",
            f"{body}.{sig}.x",
            "",
            "%%%.%%%",
        ]
        for bad in bad_tokens:
            with pytest.raises(InvalidCursor) as info:
                await User.keyset("created_at", per_page=2, cursor=bad, signer=SIGNER)
            assert info.value.status_code == 400
            assert isinstance(info.value, armature.exceptions.BadRequest)
        other = CursorSigner("another-secret-0123456789")
        with pytest.raises(InvalidCursor, match="tampered"):
            await User.keyset("created_at", per_page=2, cursor=token, signer=other)
        with pytest.raises(InvalidCursor, match="different sort"):
            await User.keyset("name", per_page=2, cursor=token, signer=SIGNER)
        with pytest.raises(InvalidCursor, match="different sort"):
            await User.keyset("created_at", order="desc", per_page=2, cursor=token, signer=SIGNER)
        forged = SIGNER.encode({"s": "created_at", "o": "asc", "d": "sideways", "k": 1, "i": 1})
        with pytest.raises(InvalidCursor):
            await User.keyset("created_at", per_page=2, cursor=forged, signer=SIGNER)
    problem = InvalidCursor().to_problem()
    assert problem["status"] == 400 and problem["title"] == "Invalid cursor"


# -- cursor encoding -----------------------------------------------------------------------------

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.datetimes(timezones=st.none() | st.just(dt.UTC)),
    st.dates(),
    st.times(),
    st.decimals(allow_nan=False, allow_infinity=False, places=4),
    st.uuids(),
    st.binary(max_size=32),
)


@given(value=_values, ident=st.integers(min_value=1, max_value=2**31))
def test_cursor_roundtrip(value: Any, ident: int) -> None:
    token = SIGNER.encode({"k": encode_value(value), "i": ident})
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    payload = SIGNER.decode(token)
    restored = decode_value(payload["k"])
    assert restored == value and type(restored) is type(value)
    assert payload["i"] == ident


@given(position=st.integers(min_value=0), replacement=st.sampled_from("AQgw-_xyz09"))
def test_any_single_character_change_is_detected(position: int, replacement: str) -> None:
    token = SIGNER.encode({"k": "some key", "i": 42, "s": "name", "o": "asc", "d": "next"})
    position %= len(token)
    if token[position] == replacement or token[position] == ".":
        return
    mutated = token[:position] + replacement + token[position + 1 :]
    try:
        payload = SIGNER.decode(mutated)
    except InvalidCursor:
        return
    # base64 padding bits can change without changing the decoded bytes: same payload is fine
    assert payload == SIGNER.decode(token)


def test_cursor_signer_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        CursorSigner("short")
    with pytest.raises(TypeError, match="cursor key"):
        encode_value(object())
    for junk in ({"$nope": "1"}, {"$dt": "not a date"}, [1, 2], {"$dec": 5}):
        with pytest.raises(InvalidCursor):
            decode_value(junk)
    assert isinstance(uuid.UUID(decode_value(encode_value(uuid.UUID(int=5))).hex), uuid.UUID)
    import armature_ext.seaorm.cursors as cursors

    monkeypatch.setattr(cursors, "_default", None)
    monkeypatch.setenv("ARMATURE_CURSOR_SECRET", "from-the-environment-123")
    token = default_signer().encode({"a": 1})
    assert CursorSigner("from-the-environment-123").decode(token) == {"a": 1}
    monkeypatch.setattr(cursors, "_default", None)


# -- SearchFilters -------------------------------------------------------------------------------


class UserFilters(SearchFilters):
    sortable = ("name", "created_at", "age")
    searchable = ("name", "email")
    max_per_page = 10


def test_filters_from_query_strings() -> None:
    filters = UserFilters.from_query(
        {"q": "  ada ", "sort": "name", "order": "desc", "page": "3", "per_page": "5", "x": "1"}
    )
    assert (filters.q, filters.sort, filters.order, filters.page, filters.per_page) == (
        "ada",
        "name",
        "desc",
        3,
        5,
    )
    defaults = UserFilters.from_query({})
    assert (defaults.q, defaults.sort, defaults.order, defaults.page, defaults.per_page) == (
        None,
        None,
        "asc",
        1,
        10,  # the default 20 is capped at max_per_page
    )
    assert SearchFilters.from_query({}).per_page == 20
    schema = UserFilters.model_json_schema()["properties"]["per_page"]
    assert (schema["default"], schema["maximum"]) == (10, 10)
    assert UserFilters.from_query({"page": ["1", "2"], "q": "  "}).page == 2
    assert UserFilters.from_query({"q": "  "}).q is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "password"}, "sort"),
        ({"order": "sideways"}, "order"),
        ({"page": "0"}, "page"),
        ({"page": "two"}, "page"),
        ({"per_page": "11"}, "per_page"),
        ({"per_page": "0"}, "per_page"),
    ],
)
def test_filters_reject_bad_values_with_422(params: dict[str, str], field: str) -> None:
    with pytest.raises(armature.exceptions.RequestValidationError) as info:
        UserFilters.from_query(params)
    error = info.value
    assert error.status_code == 422
    assert [e["loc"] for e in error.errors] == [["query", field]]
    problem = error.to_problem()
    assert problem["errors"][0]["loc"] == ["query", field]


def test_filters_for_model() -> None:
    made = SearchFilters.for_model(User, sortable=["name"], searchable=["email"], max_per_page=3)
    assert made.__name__ == "UserFilters"
    assert made.sortable == ("name",) and made.max_per_page == 3
    with pytest.raises(armature.exceptions.RequestValidationError):
        made.from_query({"per_page": "4"})
    with pytest.raises(ValueError, match="no column 'nope'"):
        SearchFilters.for_model(User, sortable=["nope"])


@pytest.mark.anyio
async def test_filters_apply_search_sort_and_paginate(db: Database) -> None:
    async with db.session():
        await _seed(12)
        await User.create(email="percent@example.com", name="100% Ada_x", age=3)
        page = await UserFilters.from_query(
            {"q": "USER0", "sort": "name", "order": "desc"}
        ).paginate(User.query())
        assert [u.name for u in page.items] == [f"user{i:02d}" for i in range(9, -1, -1)]
        assert page.total == 10 and page.per_page == 10 and page.has_next is False
        literal = await UserFilters.from_query({"q": "0% a"}).paginate(User.query())
        assert [u.name for u in literal.items] == ["100% Ada_x"]
        underscore = await UserFilters.from_query({"q": "a_x"}).paginate(User.query())
        assert [u.name for u in underscore.items] == ["100% Ada_x"]
        ties = await UserFilters.from_query({"sort": "age", "per_page": "4"}).paginate(User.query())
        seen = [(u.age, u.id) for u in ties.items]
        assert seen == sorted(seen)
        second = await UserFilters.from_query(
            {"sort": "age", "per_page": "4", "page": "2"}
        ).paginate(User.query())
        assert not {u.id for u in ties.items} & {u.id for u in second.items}
        scoped = await UserFilters.from_query({}).paginate(User.where_eq("age", 2))
        assert scoped.total == 3
        by_default = SearchFilters.for_model(User, default_sort="created_at")
        newest = await by_default.from_query({"order": "desc", "per_page": "1"}).paginate(
            User.query()
        )
        assert newest.items[0].created_at == max(u.created_at for u in await User.all())
