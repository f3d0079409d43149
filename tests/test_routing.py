"""Routing: the compiled table, converters, methods, trailing slashes, url_path_for and listings."""

from __future__ import annotations

import uuid

import pytest

from armature import App, Converter, RouteDefinitionError, Router, register_converter
from armature.app import NoMatchFound
from armature.testing import TestClient


def make_app(**options: object) -> App:
    app = App(**options)  # type: ignore[arg-type]

    @app.get("/")
    async def index() -> str:
        return "index"

    @app.get("/users/me")
    async def me() -> dict:
        return {"who": "me"}

    @app.get("/users/{user_id:int}", name="user")
    async def user(user_id: int) -> dict:
        return {"id": user_id, "type": type(user_id).__name__}

    @app.get("/users/{name}")
    async def user_by_name(name: str) -> dict:
        return {"name": name}

    @app.delete("/users/{uid:int}")
    async def delete_user(uid: int) -> dict:
        return {"deleted": uid}

    @app.get("/price/{value:float}")
    async def price(value: float) -> dict:
        return {"value": value}

    @app.get("/things/{tid:uuid}")
    async def thing(tid: uuid.UUID) -> dict:
        return {"tid": str(tid)}

    @app.get("/files/{rest:path}", name="files")
    async def files(rest: str) -> dict:
        return {"rest": rest}

    @app.get("/colon/:slug")
    async def colon(slug: str) -> dict:
        return {"slug": slug}

    @app.post("/submit/")
    async def submit() -> dict:
        return {"ok": True}

    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    with TestClient(make_app()) as c:
        yield c


def test_static_and_dynamic_precedence(client: TestClient) -> None:
    assert client.get("/").text == "index"
    assert client.get("/users/me").json() == {"who": "me"}
    assert client.get("/users/42").json() == {"id": 42, "type": "int"}
    assert client.get("/users/alice").json() == {"name": "alice"}


def test_converters(client: TestClient) -> None:
    assert client.get("/price/2.5").json() == {"value": 2.5}
    assert client.get("/price/abc").status_code == 404
    tid = uuid.uuid4()
    assert client.get(f"/things/{tid}").json() == {"tid": str(tid)}
    assert client.get("/things/not-a-uuid").status_code == 404
    assert client.get("/files/a/b/c.txt").json() == {"rest": "a/b/c.txt"}
    assert client.get("/colon/hello").json() == {"slug": "hello"}


def test_percent_decoded_parameters(client: TestClient) -> None:
    assert client.get("/users/J%C3%BCrgen").json() == {"name": "Jürgen"}
    assert client.get("/colon/a%20b").json() == {"slug": "a b"}


def test_different_param_names_per_method(client: TestClient) -> None:
    assert client.delete("/users/7").json() == {"deleted": 7}


def test_405_with_allow(client: TestClient) -> None:
    response = client.post("/users/me")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 405
    response = client.put("/users/5")
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"DELETE", "GET", "HEAD", "OPTIONS"}


def test_automatic_head_and_options(client: TestClient) -> None:
    head = client.head("/users/me")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(b'{"who":"me"}'))
    options = client.options("/users/me")
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, HEAD, OPTIONS"


def test_404_is_problem_json(client: TestClient) -> None:
    response = client.get("/nope/nothing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Not Found"


def test_trailing_slash_strict(client: TestClient) -> None:
    assert client.get("/users/me/").status_code == 404
    assert client.post("/submit").status_code == 404
    assert client.post("/submit/").status_code == 200


def test_trailing_slash_redirect_keeps_method() -> None:
    with TestClient(make_app(trailing_slash="redirect"), follow_redirects=False) as c:
        response = c.post("/submit?x=1")
        assert response.status_code == 308
        assert response.headers["location"] == "/submit/?x=1"
        response = c.get("/users/me/")
        assert response.status_code == 308
        assert response.headers["location"] == "/users/me"
        assert c.get("/absent/").status_code == 404


def test_url_path_for() -> None:
    app = make_app()
    assert app.url_path_for("user", user_id=3) == "/users/3"
    assert app.url_path_for("files", rest="a b/c") == "/files/a%20b/c"
    with pytest.raises(NoMatchFound):
        app.url_path_for("user")
    with pytest.raises(NoMatchFound):
        app.url_path_for("nope")


def test_route_listing() -> None:
    rows = make_app().route_table()
    assert {"method": "GET", "path": "/users/{user_id:int}", "name": "user"}.items() <= rows[
        [r["path"] for r in rows].index("/users/{user_id:int}")
    ].items()
    assert any(r["path"] == "/colon/{slug}" for r in rows)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/a/{x:nope}", "unknown path converter"),
        ("/a/{1x}", "not a valid identifier"),
        ("/a/{x}/{x}", "appears twice"),
        ("/a/{p:path}/b", "last segment"),
        ("/a/pre{x}", "whole segment"),
        ("no-slash", "must start with"),
    ],
)
def test_bad_paths_are_startup_errors(path: str, message: str) -> None:
    app = App()
    with pytest.raises(RouteDefinitionError, match=message):

        @app.get(path)
        async def handler() -> None:
            return None


def test_duplicate_route_names_both() -> None:
    app = App()

    @app.get("/items/{a}")
    async def first(a: str) -> str:
        return a

    @app.get("/items/{b}")
    async def second(b: str) -> str:
        return b

    with pytest.raises(RouteDefinitionError, match=r"second.*duplicates.*first"):
        app.compile()


def test_custom_converter() -> None:
    class Slug(Converter):
        name = "slug"
        priority = 30

        def convert(self, value: str) -> str:
            if value.replace("-", "").isalnum() and value.islower():
                return value
            raise ValueError(value)

    register_converter("slug", Slug())
    app = App()

    @app.get("/posts/{s:slug}")
    async def post(s: str) -> dict:
        return {"slug": s}

    with TestClient(app) as c:
        assert c.get("/posts/hello-world").json() == {"slug": "hello-world"}
        assert c.get("/posts/Hello").status_code == 404


def test_routers_prefix_nesting_and_names() -> None:
    app = App()
    api = Router(prefix="/api", name="api")
    v1 = Router(prefix="/v1")

    @v1.get("/items/{item_id:int}", name="item")
    async def item(item_id: int) -> dict:
        return {"item": item_id}

    @api.get("/")
    async def api_root() -> str:
        return "api"

    api.include_router(v1)
    app.include_router(api)
    with TestClient(app) as c:
        assert c.get("/api").text == "api"
        assert c.get("/api/v1/items/9").json() == {"item": 9}
    assert app.url_path_for("api:item", item_id=9) == "/api/v1/items/9"


def test_lookup_does_not_depend_on_route_count() -> None:
    app = App()
    for i in range(500):
        app.add_route(f"/r/a{i}/b{i}", lambda: "x", name=f"r{i}")
        app.add_route(f"/d{i}/{{x:int}}", lambda x: x, name=f"d{i}")
    app.compile()
    table_sizes = len(app.compiled_routes)
    assert table_sizes == 1000
    with TestClient(app) as c:
        assert c.get("/r/a499/b499").text == "x"
        assert c.get("/d499/5").json() == 5
