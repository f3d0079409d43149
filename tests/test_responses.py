"""Responses: the family, cookies, header injection, streaming, files and pathsend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from armature import (
    App,
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Request,
    Response,
    StreamingResponse,
)
from armature.testing import TestClient


class Model(BaseModel):
    a: int


def test_basic_family() -> None:
    assert PlainTextResponse("é").headers["content-type"] == "text/plain; charset=utf-8"
    assert HTMLResponse("<p>").body == b"<p>"
    assert JSONResponse({"a": 1}).body == b'{"a":1}'
    assert JSONResponse(Model(a=2)).body == b'{"a":2}'
    assert JSONResponse([Model(a=3)]).body == b'[{"a":3}]'
    empty = Response(status_code=204)
    assert empty.raw_headers == []
    assert Response(b"abc").headers["content-length"] == "3"


@pytest.mark.parametrize("value", ["a\r\nSet-Cookie: x=1", "a\nb", "a\x00b"])
def test_header_injection_raises(value: str) -> None:
    with pytest.raises(ValueError):
        Response(b"", headers={"x-a": value})
    response = Response(b"")
    with pytest.raises(ValueError):
        response.headers["x-b"] = value
    with pytest.raises(ValueError):
        Response(b"", headers={"bad\r\nname": "v"})
    with pytest.raises(ValueError):
        RedirectResponse("/ok").headers.append("x-c", value)


def test_cookies_set_and_delete() -> None:
    response = Response(b"")
    response.set_cookie("session", "abc", max_age=60, httponly=True, secure=True, samesite="strict")
    response.delete_cookie("old")
    cookies = response.headers.getlist("set-cookie")
    assert "session=abc" in cookies[0] and "HttpOnly" in cookies[0] and "Max-Age=60" in cookies[0]
    assert "SameSite=strict" in cookies[0] and "Secure" in cookies[0]
    assert cookies[1].startswith("old=") and "Max-Age=0" in cookies[1]
    with pytest.raises(ValueError):
        response.set_cookie("x", "y", samesite="sometimes")  # type: ignore[arg-type]


def test_cookies_round_trip_through_client() -> None:
    app = App()

    @app.get("/login")
    async def login() -> Response:
        response = Response("ok")
        response.set_cookie("session", "s3cr3t")
        return response

    @app.get("/whoami")
    async def whoami(request: Request) -> dict:
        return request.cookies

    with TestClient(app) as client:
        client.get("/login")
        assert client.get("/whoami").json() == {"session": "s3cr3t"}


def test_redirect_quotes_location() -> None:
    response = RedirectResponse("/caf\u00e9?x=1 2")
    assert response.status_code == 307
    assert response.headers["location"] == "/caf%C3%A9?x=1%202"


def test_streaming_sync_and_async_iterators() -> None:
    app = App()

    @app.get("/async")
    async def async_stream() -> StreamingResponse:
        async def gen() -> AsyncIterator[str]:
            for i in range(3):
                yield f"{i},"
                await anyio.sleep(0)

        return StreamingResponse(gen(), media_type="text/csv")

    @app.get("/sync")
    async def sync_stream() -> StreamingResponse:
        def gen() -> Iterator[bytes]:
            yield b"a"
            yield b"b"

        return StreamingResponse(gen())

    with TestClient(app) as client:
        response = client.get("/async")
        assert response.text == "0,1,2,"
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert "content-length" not in response.headers
        assert client.get("/sync").content == b"ab"


@pytest.mark.anyio
async def test_streaming_stops_when_client_disconnects() -> None:
    finished = anyio.Event()
    produced = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal produced
        try:
            while True:
                produced += 1
                yield b"tick"
                await anyio.sleep(0.001)
        finally:
            finished.set()

    response = StreamingResponse(endless())
    disconnect = anyio.Event()

    async def receive() -> dict[str, Any]:
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message.get("more_body") and produced >= 3:
            disconnect.set()

    with anyio.fail_after(5):
        await response({"type": "http"}, receive, send)
    assert finished.is_set()


def test_file_response_and_head(tmp_path: Path) -> None:
    target = tmp_path / "report.txt"
    target.write_bytes(b"x" * 200_000)
    app = App()

    @app.get("/file")
    async def file() -> FileResponse:
        return FileResponse(target, filename="report.txt", chunk_size=65536)

    @app.get("/missing")
    async def missing() -> FileResponse:
        return FileResponse(tmp_path / "nope.txt")

    with TestClient(app) as client:
        response = client.get("/file")
        assert response.content == b"x" * 200_000
        assert response.headers["content-length"] == "200000"
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["content-disposition"] == 'attachment; filename="report.txt"'
        assert response.headers["etag"].startswith('"')
        assert "last-modified" in response.headers
        head = client.head("/file")
        assert head.content == b"" and head.headers["content-length"] == "200000"
        assert client.get("/missing").status_code == 404


@pytest.mark.anyio
async def test_file_response_uses_pathsend_when_offered(tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    target.write_bytes(b"abc")
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "extensions": {"http.response.pathsend": {}}}
    await FileResponse(target)(scope, receive, send)
    assert sent[1] == {"type": "http.response.pathsend", "path": str(target)}
