"""Handler plans: parameter binding from every source, validation errors, result rendering."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import pytest
from pydantic import BaseModel, Field

from armature import (
    App,
    Body,
    Cookie,
    Header,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Query,
    Request,
    Response,
)
from armature.testing import TestClient


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


class PublicUser(BaseModel):
    name: str


class User(PublicUser):
    password: str


class Filters(BaseModel):
    q: str = ""
    tags: list[str] = []
    page: int = Field(1, ge=1)


app = App()


@app.get("/search")
async def search(q: str, limit: int = 20, ratio: float = 1.0, flag: bool = False) -> dict:
    return {"q": q, "limit": limit, "ratio": ratio, "flag": flag}


@app.get("/many")
async def many(tag: list[int] = []) -> dict:  # noqa: B006
    return {"tag": tag}


@app.get("/optional")
async def optional(q: str | None = None) -> dict:
    return {"q": q}


@app.get("/constrained")
async def constrained(limit: Annotated[int, Query(alias="max", ge=1, le=10)] = 5) -> dict:
    return {"limit": limit}


@app.get("/headers")
async def headers(
    x_token: Annotated[str, Header()],
    accept_language: Annotated[str | None, Header()] = None,
    x_many: Annotated[list[str], Header()] = [],  # noqa: B006
) -> dict:
    return {"token": x_token, "lang": accept_language, "many": x_many}


@app.get("/cookies")
async def cookies(
    session: Annotated[str, Cookie()], theme: Annotated[str, Cookie()] = "light"
) -> dict:
    return {"session": session, "theme": theme}


@app.post("/items", status_code=201)
async def create_item(item: Item) -> Item:
    return item


@app.post("/embedded")
async def embedded(item: Item, note: Annotated[str, Body()]) -> dict:
    return {"item": item.name, "note": note}


@app.post("/optional-body")
async def optional_body(item: Item | None = None) -> dict:
    return {"item": None if item is None else item.name}


@app.get("/filters")
async def filters(f: Annotated[Filters, Query()]) -> Filters:
    return f


@app.get("/users/{uid:int}")
async def user(uid: int) -> PublicUser:
    return User(name=f"user{uid}", password="secret")


@app.get("/users-dict")
async def users_dict() -> list[PublicUser]:
    return [{"name": "a", "password": "x"}]  # type: ignore[list-item]


@app.get("/str-path/{value}")
async def str_path(value: int) -> dict:
    return {"value": value}


@app.get("/request/{x}")
async def with_request(request: Request, x: str) -> dict:
    return {"path": request.url.path if hasattr(request.url, "path") else request.path, "x": x}


@app.post("/request-body")
async def request_body(request: Request, item: Item) -> dict:
    raw = await request.body()
    return {"raw_len": len(raw), "name": item.name}


@app.get("/sync")
def sync_handler(n: int) -> dict:
    return {"double": n * 2}


@app.get("/none")
async def returns_none() -> None:
    return None


@app.delete("/no-content", status_code=204)
async def no_content() -> None:
    return None


@app.get("/bytes")
async def returns_bytes() -> bytes:
    return b"\x00\x01"


@app.get("/html", response_class=HTMLResponse)
async def html() -> str:
    return "<h1>hi</h1>"


@app.get("/response")
async def response_obj() -> Response:
    return PlainTextResponse("custom", status_code=202, headers={"x-a": "1"})


@dataclasses.dataclass
class Point:
    x: int
    y: int


@app.get("/dataclass")
async def dataclass_result() -> Point:
    return Point(1, 2)


@app.get("/bad-output")
async def bad_output() -> PublicUser:
    return {"nope": 1}  # type: ignore[return-value]


@pytest.fixture(scope="module")
def client() -> TestClient:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_query_scalars(client: TestClient) -> None:
    assert client.get("/search?q=abc&limit=10&ratio=0.5&flag=true").json() == {
        "q": "abc",
        "limit": 10,
        "ratio": 0.5,
        "flag": True,
    }
    assert client.get("/search?q=a+b%21").json()["q"] == "a b!"
    assert client.get("/search?q=x").json()["limit"] == 20


def test_query_errors_are_422_with_locations(client: TestClient) -> None:
    response = client.get("/search?limit=x")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert {"loc": ["query", "q"], "msg": "Field required", "type": "missing"} in errors
    assert any(e["loc"] == ["query", "limit"] and e["type"] == "int_parsing" for e in errors)


def test_query_lists_optional_and_constraints(client: TestClient) -> None:
    assert client.get("/many?tag=1&tag=2").json() == {"tag": [1, 2]}
    assert client.get("/many").json() == {"tag": []}
    assert client.get("/optional").json() == {"q": None}
    assert client.get("/constrained?max=3").json() == {"limit": 3}
    response = client.get("/constrained?max=11")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "max"]


def test_headers_and_cookies(client: TestClient) -> None:
    response = client.get("/headers", headers=[("X-Token", "t"), ("x-many", "a"), ("x-many", "b")])
    assert response.json() == {"token": "t", "lang": None, "many": ["a", "b"]}
    assert client.get("/headers").status_code == 422
    response = client.get("/cookies", cookies={"session": "s1"})
    assert response.json() == {"session": "s1", "theme": "light"}
    assert client.get("/cookies").json()["errors"][0]["loc"] == ["cookie", "session"]


def test_json_body(client: TestClient) -> None:
    body = {"name": "pen", "price": 1.5, "tags": ["a"]}
    response = client.post("/items", json=body)
    assert response.status_code == 201
    assert response.json() == body
    invalid = client.post("/items", json={"name": "pen"})
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["loc"] == ["body", "price"]
    malformed = client.post(
        "/items", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.headers["content-type"] == "application/problem+json"
    wrong_type = client.post("/items", content=b"name=pen", headers={"content-type": "text/plain"})
    assert wrong_type.status_code == 415
    missing = client.post("/items")
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["loc"] == ["body"]


def test_embedded_and_optional_body(client: TestClient) -> None:
    response = client.post("/embedded", json={"item": {"name": "n", "price": 1}, "note": "hello"})
    assert response.json() == {"item": "n", "note": "hello"}
    assert client.post("/optional-body").json() == {"item": None}


def test_query_model(client: TestClient) -> None:
    response = client.get("/filters?q=x&tags=a&tags=b&page=2")
    assert response.json() == {"q": "x", "tags": ["a", "b"], "page": 2}
    assert client.get("/filters?page=0").status_code == 422


def test_response_model_filters_fields(client: TestClient) -> None:
    assert client.get("/users/1").json() == {"name": "user1"}
    assert client.get("/users-dict").json() == [{"name": "a"}]


def test_response_model_mismatch_is_500_without_internals(client: TestClient) -> None:
    response = client.get("/bad-output")
    assert response.status_code == 500
    assert "nope" not in response.text


def test_path_validation_against_annotation(client: TestClient) -> None:
    assert client.get("/str-path/12").json() == {"value": 12}
    assert client.get("/str-path/zz").status_code == 422


def test_request_injection_and_body_reuse(client: TestClient) -> None:
    assert client.get("/request/abc").json()["x"] == "abc"
    response = client.post("/request-body", json={"name": "n", "price": 2})
    assert response.json() == {"raw_len": len(b'{"name":"n","price":2}'), "name": "n"}


def test_sync_handlers_run_in_threads(client: TestClient) -> None:
    assert client.get("/sync?n=21").json() == {"double": 42}


def test_result_kinds(client: TestClient) -> None:
    none = client.get("/none")
    assert none.status_code == 200 and none.content == b""
    no_content = client.delete("/no-content")
    assert no_content.status_code == 204 and "content-length" not in no_content.headers
    raw = client.get("/bytes")
    assert raw.content == b"\x00\x01"
    assert raw.headers["content-type"] == "application/octet-stream"
    page = client.get("/html")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    custom = client.get("/response")
    assert (custom.status_code, custom.text, custom.headers["x-a"]) == (202, "custom", "1")
    assert client.get("/dataclass").json() == {"x": 1, "y": 2}


def test_handler_plan_is_built_once_at_startup() -> None:
    local = App()
    calls = []

    @local.get("/x")
    async def x(q: int = 1) -> dict:
        calls.append(q)
        return {"q": q}

    local.compile()
    endpoint = local.compiled_routes[0].plan.endpoint
    with TestClient(local) as c:
        c.get("/x?q=2")
        c.get("/x?q=3")
    assert local.compiled_routes[0].plan.endpoint is endpoint
    assert calls == [2, 3]


def test_untyped_parameters_are_strings() -> None:
    local = App()

    @local.get("/u/{a}")
    async def untyped(a, b="d"):  # type: ignore[no-untyped-def]
        return {"a": a, "b": b}

    with TestClient(local) as c:
        assert c.get("/u/1?b=2").json() == {"a": "1", "b": "2"}


def test_non_string_dict_keys_serialize_like_json_dumps() -> None:
    local = App()

    @local.get("/ids")
    async def ids() -> dict:
        return {1: "a", 2: {3: "b"}}

    with TestClient(local) as c:
        assert c.get("/ids").json() == {"1": "a", "2": {"3": "b"}}
    assert JSONResponse({1: "x"}).body == b'{"1":"x"}'
