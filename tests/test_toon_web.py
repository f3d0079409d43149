"""armature integration of TOON: ToonResponse, Accept negotiation, TOON request bodies."""

from __future__ import annotations

import datetime
import subprocess
import sys
from typing import Any

import orjson
import pytest
from pydantic import BaseModel

from armature import App, Request
from armature.testing import AsyncTestClient
from armature_ext.toon import decode, encode
from armature_ext.toon.web import (
    ToonResponse,
    is_toon_content_type,
    negotiate,
    parse_accept,
    read_toon,
    read_toon_or_json,
    select_media_type,
)

ROWS = [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Bob"}]
TOON_ROWS = "[2]{id,name}:\n  1,Ada\n  2,Bob"


class Item(BaseModel):
    id: int
    name: str
    due: datetime.date | None = None


def make_app() -> App:
    app = App()

    @app.get("/rows")
    async def rows(request: Request) -> Any:
        return negotiate(request, ROWS)

    @app.get("/rows-toon-first")
    async def rows_toon_first(request: Request) -> Any:
        return negotiate(request, ROWS, prefer="application/toon", headers={"x-count": "2"})

    @app.get("/pipe")
    async def pipe(request: Request) -> Any:
        return negotiate(request, {"tags": ["a", "b"]}, delimiter="|", status_code=203)

    @app.get("/model", response_class=ToonResponse)
    async def model() -> Any:
        return Item(id=7, name="x", due=datetime.date(2025, 1, 2))

    @app.post("/items")
    async def create(request: Request) -> Any:
        items = await read_toon(request, list[Item])
        return ToonResponse(items, status_code=201)

    @app.post("/item")
    async def create_one(request: Request) -> Any:
        item = await read_toon_or_json(request, Item)
        assert isinstance(item, Item)
        return {"id": item.id, "name": item.name}

    @app.post("/lenient")
    async def lenient(request: Request) -> Any:
        return await read_toon(request, dict[str, Any], strict=False, indent=4)

    return app


@pytest.fixture
def app() -> App:
    return make_app()


# -- ToonResponse ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_toon_response_as_asgi_callable() -> None:
    response = ToonResponse({"users": ROWS}, status_code=201, headers={"x-a": "1"})
    assert response.media_type == "application/toon"
    assert response.body == encode({"users": ROWS}).encode()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    await response({"type": "http", "method": "GET", "path": "/", "headers": []}, receive, send)
    start, body = sent
    assert start["status"] == 201
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/toon"
    assert headers[b"content-length"] == str(len(response.body)).encode()
    assert headers[b"x-a"] == b"1"
    assert body["body"] == b"users[2]{id,name}:\n  1,Ada\n  2,Bob"


def test_toon_response_options_and_str_content() -> None:
    tab = ToonResponse({"a": [1, 2]}, delimiter="\t", indent=4)
    assert tab.body == b"a[2\t]: 1\t2"
    assert (tab.indent, tab.delimiter) == (4, "\t")
    assert ToonResponse("true").body == b'"true"'  # a str is a value, not pre-encoded TOON
    assert ToonResponse("héllo").body == "héllo".encode()


@pytest.mark.anyio
async def test_response_class_route_encodes_models(app: App) -> None:
    async with AsyncTestClient(app) as c:
        r = await c.get("/model")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/toon"
    assert r.text == "id: 7\nname: x\ndue: 2025-01-02"


# -- negotiation -----------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        ("application/toon", "application/toon"),
        ("application/json", "application/json"),
        ("application/toon;q=0.9, application/json;q=0.5", "application/toon"),
        ("application/json;q=0.4, */*;q=0.8", "application/toon"),
        ("application/json;q=0, */*", "application/toon"),
        ("text/html, application/*;q=0.2", "application/json"),
        ("APPLICATION/TOON; charset=utf-8", "application/toon"),
        ("application/toon;q=bogus, application/json;q=0.1", "application/json"),
    ],
)
async def test_negotiate_by_q_values(app: App, accept: str | None, expected: str) -> None:
    headers = {"accept": accept} if accept is not None else {}
    async with AsyncTestClient(app) as c:
        r = await c.get("/rows", headers=headers)
    assert r.status_code == 200
    assert r.headers["content-type"] == expected
    assert r.headers["vary"] == "Accept"
    if expected == "application/toon":
        assert r.text == TOON_ROWS
        assert decode(r.text) == ROWS
    else:
        assert r.json() == ROWS


@pytest.mark.anyio
@pytest.mark.parametrize("accept", ["text/html", "application/json;q=0, application/toon;q=0"])
async def test_negotiate_unsupported_accept_is_406_problem(app: App, accept: str) -> None:
    async with AsyncTestClient(app) as c:
        r = await c.get("/rows", headers={"accept": accept})
    assert r.status_code == 406
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["vary"] == "Accept"
    problem = r.json()
    assert problem["status"] == 406
    assert problem["title"] == "Not Acceptable"
    assert problem["available"] == ["application/json", "application/toon"]


@pytest.mark.anyio
async def test_negotiate_preference_headers_status_and_delimiter(app: App) -> None:
    async with AsyncTestClient(app) as c:
        first = await c.get("/rows-toon-first", headers={"accept": "*/*"})
        split = await c.get(
            "/rows-toon-first",
            headers=[("accept", "text/html"), ("accept", "application/json")],
        )
        pipe = await c.get("/pipe", headers={"accept": "application/toon"})
    assert first.headers["content-type"] == "application/toon"
    assert first.headers["x-count"] == "2"
    assert split.headers["content-type"] == "application/json"  # multiple Accept headers join
    assert pipe.status_code == 203
    assert pipe.text == "tags[2|]: a|b"


def test_negotiate_rejects_unknown_preference() -> None:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    with pytest.raises(ValueError, match="prefer"):
        negotiate(request, {}, prefer="text/html")


def test_accept_parsing_and_selection() -> None:
    assert parse_accept("text/*;q=0.5, */*;q=0.1, bad, */json, a/b;q=2, c/d;q=0.\u00b2") == (
        ("text", "*", 0.5, 1),
        ("*", "*", 0.1, 0),
    )
    available = ("application/json", "application/toon")
    assert select_media_type("", available) == "application/json"
    assert select_media_type("application/toon;q=1.000", available) == "application/toon"
    assert select_media_type("application/toon;q=0.001", available) == "application/toon"
    assert select_media_type("application/toon;q=0.0001", available) is None  # 4 decimals
    # The most specific range decides, even when a wildcard has a higher q.
    assert select_media_type("application/toon;q=0, */*", available) == "application/json"
    assert select_media_type("*/*;q=0.5, application/toon", available) == "application/toon"
    assert select_media_type("image/png", available) is None


# -- request bodies --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_read_toon_validates_into_models(app: App) -> None:
    body = "[2]{id,name,due}:\n  1,Ada,2025-01-02\n  2,Bob,null"
    async with AsyncTestClient(app) as c:
        r = await c.post(
            "/items", content=body, headers={"content-type": "application/toon; charset=utf-8"}
        )
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/toon"
    assert decode(r.text) == [
        {"id": 1, "name": "Ada", "due": "2025-01-02"},
        {"id": 2, "name": "Bob", "due": None},
    ]


@pytest.mark.anyio
async def test_malformed_toon_is_400_with_line_and_column(app: App) -> None:
    body = 'items:\n# comment\n[2]{id,name}:\n  1,"Ada'
    async with AsyncTestClient(app) as c:
        r = await c.post("/items", content=body, headers={"content-type": "application/toon"})
        bad_utf8 = await c.post(
            "/items", content=b"[1]: \xff", headers={"content-type": "application/toon"}
        )
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert (problem["line"], problem["column"]) == (3, 1)
    assert problem["detail"].startswith("Malformed TOON: ")
    assert "(line 3, column 1)" in problem["detail"]
    assert bad_utf8.status_code == 400
    assert (bad_utf8.json()["line"], bad_utf8.json()["column"]) == (1, 6)


@pytest.mark.anyio
async def test_invalid_data_is_422_request_validation_error(app: App) -> None:
    body = "[2]{id,name}:\n  1,Ada\n  two,Bob"
    async with AsyncTestClient(app) as c:
        r = await c.post("/items", content=body, headers={"content-type": "text/toon"})
    assert r.status_code == 422
    problem = r.json()
    assert problem["errors"] == [
        {
            "loc": ["body", 1, "id"],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "type": "int_parsing",
        }
    ]


@pytest.mark.anyio
async def test_wrong_content_type_is_415(app: App) -> None:
    async with AsyncTestClient(app) as c:
        r = await c.post("/items", content=TOON_ROWS, headers={"content-type": "text/plain"})
        none = await c.post("/item", content=b"id: 1")
    assert r.status_code == 415
    assert r.json()["detail"] == "Expected a TOON body (Content-Type: application/toon)"
    assert none.status_code == 415


@pytest.mark.anyio
async def test_read_toon_or_json_accepts_both(app: App) -> None:
    async with AsyncTestClient(app) as c:
        toon = await c.post(
            "/item", content="id: 3\nname: Cy", headers={"content-type": "application/toon"}
        )
        json_ = await c.post(
            "/item",
            content=orjson.dumps({"id": 4, "name": "Di"}),
            headers={"content-type": "application/json"},
        )
        bad_json = await c.post("/item", content=b"{", headers={"content-type": "application/json"})
        invalid = await c.post(
            "/item", content=b'{"id": "x"}', headers={"content-type": "application/json"}
        )
    assert toon.json() == {"id": 3, "name": "Cy"}
    assert json_.json() == {"id": 4, "name": "Di"}
    assert bad_json.status_code == 400
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["loc"] == ["body", "id"]


@pytest.mark.anyio
async def test_read_toon_non_strict_and_indent_options(app: App) -> None:
    body = "a:\n     b: 1\nc[3]: x,y"  # 5 spaces at indent 4, short inline array
    async with AsyncTestClient(app) as c:
        r = await c.post("/lenient", content=body, headers={"content-type": "application/toon"})
    assert r.status_code == 200
    assert r.json() == {"a": {"b": 1}, "c": ["x", "y"]}


def test_is_toon_content_type() -> None:
    assert is_toon_content_type("application/toon")
    assert is_toon_content_type(" Text/TOON ; charset=utf-8")
    assert not is_toon_content_type("application/json")
    assert not is_toon_content_type(None)


def test_codec_imports_without_armature_web() -> None:
    code = (
        "import sys, armature_ext.toon as t; "
        "assert t.decode(t.encode({'a': [1]})) == {'a': [1]}; "
        "bad = sorted(m for m in sys.modules if m == 'armature' or m.startswith('armature.')); "
        "assert not bad, bad; "
        "assert 'pydantic' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- the example app -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_example_app(monkeypatch: pytest.MonkeyPatch) -> None:
    from examples import toon_app

    monkeypatch.setattr(toon_app, "CATALOGUE", list(toon_app.CATALOGUE))
    async with AsyncTestClient(toon_app.app) as c:
        as_json = await c.get("/products")
        as_toon = await c.get("/products", headers={"accept": "application/toon, */*;q=0.1"})
        refused = await c.get("/products", headers={"accept": "text/html"})
        created = await c.post(
            "/products",
            content="[1]{sku,name,price}:\n  C3,Cable,4.5",
            headers={"content-type": "application/toon", "accept": "application/toon"},
        )
        malformed = await c.post(
            "/products",
            content="[2]{sku,name,price}:\n  C3,Cable,4.5",
            headers={"content-type": "application/toon"},
        )
        invalid = await c.post(
            "/products",
            content="[1]{sku,name,price}:\n  C4,Plug,-1",
            headers={"content-type": "application/toon"},
        )
        size = await c.get("/products/size")
    assert as_json.headers["content-type"] == "application/json"
    assert as_json.json()["count"] == 2
    assert as_toon.headers["content-type"] == "application/toon"
    assert as_toon.text == (
        "count: 2\n"
        "products[2]{sku,name,price,tags}:\n"
        "  A1,Widget,9.99,tools\n"
        '  B2,"Gadget, deluxe",14.5,gifts new'
    )
    assert decode(as_toon.text) == as_json.json()
    assert refused.status_code == 406
    assert created.status_code == 201
    assert decode(created.text) == {"added": ["C3"]}
    assert [p.sku for p in toon_app.CATALOGUE] == ["A1", "B2", "C3"]
    assert malformed.status_code == 400
    assert (malformed.json()["line"], malformed.json()["column"]) == (1, 1)
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["loc"] == ["body", 0, "price"]
    report = size.json()
    assert report["toon_chars"] < report["json_chars"]
    assert report["tokens_are_estimates"] is True
