"""Form and upload parameters, form models, Request.form() and limits on app/router/route."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel

from armature import App, File, Form, Limits, Request, Router, UploadFile
from armature.testing import TestClient


class Signup(BaseModel):
    email: str
    age: int
    interests: list[str] = []


closed: list[bool] = []


def make_app() -> App:
    app = App(limits=Limits(max_files=2))

    @app.post("/login")
    async def login(
        username: Annotated[str, Form()],
        remember: Annotated[bool, Form()] = False,
        tags: Annotated[list[str], Form()] = [],
    ) -> dict:  # noqa: B006
        return {"username": username, "remember": remember, "tags": tags}

    @app.post("/upload")
    async def upload(file: UploadFile, note: Annotated[str, Form()] = "") -> dict:
        data = await file.read()
        closed.append(False)
        return {"name": file.filename, "size": len(data), "type": file.content_type, "note": note}

    @app.post("/many")
    async def many(files: Annotated[list[UploadFile], File()]) -> dict:
        return {"names": [f.filename for f in files]}

    @app.post("/optional")
    async def optional(avatar: UploadFile | None = None) -> dict:
        return {"avatar": None if avatar is None else avatar.filename}

    @app.post("/signup")
    async def signup(data: Annotated[Signup, Form()]) -> Signup:
        return data

    @app.post("/manual")
    async def manual(request: Request) -> dict:
        form = await request.form()
        return {"fields": sorted(form)}

    small = Router(prefix="/small", limits=Limits(max_body_size=64))

    @small.post("/echo")
    async def echo(text: Annotated[str, Form()]) -> str:
        return text

    app.include_router(small)
    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    with TestClient(make_app()) as c:
        yield c


def test_urlencoded_fields(client: TestClient) -> None:
    response = client.post(
        "/login", data={"username": "ada", "remember": "true", "tags": ["a", "b"]}
    )
    assert response.json() == {"username": "ada", "remember": True, "tags": ["a", "b"]}
    missing = client.post("/login", data={"remember": "true"})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["loc"] == ["form", "username"]
    wrong = client.post("/login", content=b"{}", headers={"content-type": "application/json"})
    assert wrong.status_code == 415


def test_uploads(client: TestClient) -> None:
    response = client.post(
        "/upload", files={"file": ("a.txt", b"hello", "text/plain")}, data={"note": "n"}
    )
    assert response.json() == {"name": "a.txt", "size": 5, "type": "text/plain", "note": "n"}
    not_a_file = client.post("/upload", data={"file": "just text"})
    assert not_a_file.status_code == 422
    assert not_a_file.json()["errors"][0]["msg"] == "Expected a file"
    many = client.post("/many", files=[("files", ("1.txt", b"1")), ("files", ("2.txt", b"2"))])
    assert many.json() == {"names": ["1.txt", "2.txt"]}
    too_many = client.post("/many", files=[("files", (f"{i}.txt", b"x")) for i in range(3)])
    assert too_many.status_code == 413
    assert too_many.json()["limit"] == "max_files"
    assert client.post("/optional", data={"x": "1"}).json() == {"avatar": None}


def test_form_model_and_manual_form(client: TestClient) -> None:
    response = client.post("/signup", data={"email": "a@b.c", "age": "30", "interests": ["x", "y"]})
    assert response.json() == {"email": "a@b.c", "age": 30, "interests": ["x", "y"]}
    invalid = client.post("/signup", data={"email": "a@b.c", "age": "old"})
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["loc"] == ["form", "age"]
    assert client.post("/manual", data={"b": "1", "a": "2"}).json() == {"fields": ["a", "b"]}


def test_router_limits_apply(client: TestClient) -> None:
    assert client.post("/small/echo", data={"text": "short"}).text == "short"
    assert client.post("/small/echo", data={"text": "x" * 100}).status_code == 413


def test_request_target_and_header_limits() -> None:
    app = App(limits=Limits(max_url_length=100, max_header_count=10))

    @app.get("/")
    async def index(q: str = "") -> str:
        return "ok"

    with TestClient(app) as c:
        assert c.get("/?q=short").text == "ok"
        long = c.get("/?q=" + "x" * 200)
        assert long.status_code == 414
        assert long.json()["limit"] == "max_url_length"
        crowded = c.get("/", headers=[(f"x-h{i}", "v") for i in range(20)])
        assert crowded.status_code == 431


def test_json_depth_limit() -> None:
    app = App(limits=Limits(max_json_depth=5))

    class Anything(BaseModel):
        value: object

    @app.post("/json")
    async def accept(body: Anything) -> dict:
        return {"ok": True}

    with TestClient(app) as c:
        assert c.post("/json", json={"value": [[[1]]]}).json() == {"ok": True}
        deep = c.post(
            "/json",
            content=b'{"value": ' + b"[" * 50 + b"]" * 50 + b"}",
            headers={"content-type": "application/json"},
        )
        assert deep.status_code == 400
        assert deep.json()["limit"] == "max_json_depth"
