"""Conditional requests: ETag helpers, RFC 9110 precondition order, 304/412, the middleware."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from armature import App, FileResponse, Headers, Request, Response, StreamingResponse
from armature.conditional import (
    ANY,
    ConditionalMiddleware,
    ETag,
    check_preconditions,
    conditional_response,
    etag_for,
    evaluate_preconditions,
    http_date,
    parse_etag,
    parse_etags,
    parse_http_date,
)
from armature.testing import TestClient

MODIFIED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
BEFORE = "Tue, 30 Apr 2024 12:00:00 GMT"
SAME = "Wed, 01 May 2024 12:00:00 GMT"
AFTER = "Thu, 02 May 2024 12:00:00 GMT"


def test_etag_for_is_stable_and_quoted() -> None:
    tag = etag_for(b"hello")
    assert tag == etag_for(b"hello") != etag_for(b"hello!")
    assert tag.startswith('"') and tag.endswith('"') and len(tag) == 34
    assert etag_for(b"hello", weak=True) == "W/" + tag


def test_parse_etag_and_lists() -> None:
    assert parse_etag('"abc"') == ETag("abc")
    assert parse_etag('W/"abc"') == ETag("abc", weak=True)
    for bad in ("abc", '"a b"', '"abc', 'w/"abc"', '"a"b"', ""):
        assert parse_etag(bad) is None, bad
    assert parse_etags('"a", W/"b",  "c,d"') == [ETag("a"), ETag("b", True), ETag("c,d")]
    assert parse_etags(" * ") == ANY
    assert parse_etags('"a", junk, "b"') == [ETag("a")]  # stops at garbage, never raises
    assert parse_etags(None) == []


def test_strong_and_weak_comparison() -> None:
    strong, weak = ETag("1"), ETag("1", weak=True)
    assert strong.strong_equals(ETag("1"))
    assert not strong.strong_equals(weak) and not weak.strong_equals(weak)
    assert strong.weak_equals(weak) and weak.weak_equals(weak)
    assert not strong.weak_equals(ETag("2"))


def test_http_dates() -> None:
    assert http_date(MODIFIED) == SAME
    assert http_date(MODIFIED.replace(tzinfo=None)) == SAME
    assert parse_http_date(SAME) == MODIFIED.timestamp()
    # the obsolete RFC 850 and asctime forms recipients must still accept (RFC 9110 §5.6.7)
    assert parse_http_date("Wednesday, 01-May-24 12:00:00 GMT") == MODIFIED.timestamp()
    assert parse_http_date("Wed May  1 12:00:00 2024") == MODIFIED.timestamp()
    for bad in (None, "", "yesterday", "Wed, 99 May 2024 12:00:00 GMT", "x" * 100):
        assert parse_http_date(bad) is None


def pre(method: str, headers: dict[str, str], **kwargs: Any) -> int | None:
    return evaluate_preconditions(method, headers, **kwargs)


@pytest.mark.parametrize(
    ("method", "headers", "expected"),
    [
        ("GET", {}, None),
        ("GET", {"if-none-match": '"v1"'}, 304),
        ("HEAD", {"if-none-match": 'W/"v1"'}, 304),  # weak comparison
        ("GET", {"if-none-match": '"v0", "v1"'}, 304),
        ("GET", {"if-none-match": '"v2"'}, None),
        ("GET", {"if-none-match": "*"}, 304),
        ("PUT", {"if-none-match": '"v1"'}, 412),
        ("PUT", {"if-none-match": "*"}, 412),
        ("PUT", {"if-match": '"v1"'}, None),
        ("PUT", {"if-match": 'W/"v1"'}, 412),  # strong comparison
        ("PUT", {"if-match": '"v0"'}, 412),
        ("DELETE", {"if-match": "*"}, None),
        ("PUT", {"if-match": "garbage"}, 412),
        # If-Match wins over If-Unmodified-Since
        ("PUT", {"if-match": '"v1"', "if-unmodified-since": BEFORE}, None),
        ("PUT", {"if-unmodified-since": BEFORE}, 412),
        ("PUT", {"if-unmodified-since": SAME}, None),
        ("PUT", {"if-unmodified-since": "not a date"}, None),
        ("GET", {"if-modified-since": SAME}, 304),
        ("GET", {"if-modified-since": AFTER}, 304),
        ("GET", {"if-modified-since": BEFORE}, None),
        ("GET", {"if-modified-since": "Fri, 01 Jan 2100 00:00:00 GMT"}, None),  # future: ignored
        ("POST", {"if-modified-since": SAME}, None),  # only GET/HEAD
        # If-None-Match present: If-Modified-Since is ignored
        ("GET", {"if-none-match": '"v2"', "if-modified-since": SAME}, None),
        # a failed If-Match is reported before a matching If-None-Match
        ("GET", {"if-match": '"v0"', "if-none-match": '"v1"'}, 412),
    ],
)
def test_evaluation_order(method: str, headers: dict[str, str], expected: int | None) -> None:
    assert pre(method, headers, etag='"v1"', last_modified=MODIFIED) == expected


def test_star_depends_on_existence() -> None:
    assert pre("PUT", {"if-none-match": "*"}, exists=False) is None
    assert pre("PUT", {"if-match": "*"}, exists=False) == 412


def test_subsecond_modification_times_compare_at_second_resolution() -> None:
    modified = MODIFIED.timestamp() + 0.75
    assert pre("GET", {"if-modified-since": SAME}, last_modified=modified) == 304


def test_bad_etag_argument() -> None:
    with pytest.raises(ValueError, match="invalid ETag"):
        pre("GET", {"if-none-match": "*"}, etag="unquoted")


def test_repeated_header_lines_are_one_list() -> None:
    headers = Headers([(b"if-none-match", b'"a"'), (b"if-none-match", b'"v1"')])
    assert evaluate_preconditions("GET", headers, etag='"v1"') == 304


# -- through the app -----------------------------------------------------------------------------


def make_app(**options: Any) -> tuple[App, dict[str, Any]]:
    store: dict[str, Any] = {"text": "v1 text", "version": 1, "writes": 0}
    app = App()

    def current_etag() -> str:
        return f'"v{store["version"]}"'

    @app.get("/doc")
    async def get_doc() -> Response:
        return Response(
            store["text"],
            media_type="text/plain",
            headers={
                "etag": current_etag(),
                "last-modified": SAME,
                "cache-control": "max-age=60",
            },
        )

    @app.put("/doc")
    async def put_doc(request: Request) -> Response:
        check_preconditions(request, etag=current_etag())
        store["writes"] += 1
        store["version"] += 1
        store["text"] = (await request.body()).decode()
        return Response(status_code=204, headers={"etag": current_etag()})

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {"hello": "world"}

    @app.get("/missing-doc")
    async def missing() -> Response:
        return Response("gone", status_code=404, headers={"etag": '"v1"'})

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"streamed"

        return StreamingResponse(body(), media_type="text/plain")

    @app.get("/helper")
    async def helper(request: Request) -> Response:
        return conditional_response(request, Response("computed", media_type="text/plain"))

    @app.get("/bad-etag")
    async def bad_etag() -> Response:
        return Response("x", headers={"etag": "no-quotes"})

    app.add_middleware(ConditionalMiddleware, **options)
    return app, store


def test_not_modified_for_get_and_head() -> None:
    app, _ = make_app()
    with TestClient(app) as client:
        first = client.get("/doc")
        assert first.status_code == 200 and first.text == "v1 text"
        again = client.get("/doc", headers={"if-none-match": first.headers["etag"]})
        head = client.head("/doc", headers={"if-none-match": '"v1"'})
        changed = client.get("/doc", headers={"if-none-match": '"v0"'})
        by_date = client.get("/doc", headers={"if-modified-since": SAME})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == '"v1"'
    assert again.headers["cache-control"] == "max-age=60"
    assert again.headers["last-modified"] == SAME
    assert "content-type" not in again.headers and "content-length" not in again.headers
    assert head.status_code == 304
    assert changed.status_code == 200 and changed.text == "v1 text"
    assert by_date.status_code == 304


def test_failed_if_match_on_get_is_412_problem() -> None:
    app, _ = make_app()
    with TestClient(app) as client:
        response = client.get("/doc", headers={"if-match": '"v9"'})
    assert response.status_code == 412
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Precondition Failed"


def test_unsafe_methods_are_guarded_before_the_change() -> None:
    app, store = make_app()
    with TestClient(app) as client:
        stale = client.put("/doc", content=b"lost update", headers={"if-match": '"v0"'})
        assert stale.status_code == 412
        assert stale.json()["status"] == 412
        assert store["writes"] == 0 and store["text"] == "v1 text"
        fresh = client.put("/doc", content=b"v2 text", headers={"if-match": '"v1"'})
        assert fresh.status_code == 204
        assert fresh.headers["etag"] == '"v2"'
        assert client.get("/doc").text == "v2 text"
        create_only = client.put("/doc", content=b"x", headers={"if-none-match": "*"})
    assert create_only.status_code == 412
    assert store["writes"] == 1


def test_non_2xx_and_untagged_responses_pass() -> None:
    app, _ = make_app()
    with TestClient(app) as client:
        missing = client.get("/missing-doc", headers={"if-none-match": '"v1"'})
        plain = client.get("/plain", headers={"if-none-match": "*"})
        bad = client.get("/bad-etag", headers={"if-none-match": '"x"'})
    assert missing.status_code == 404 and missing.text == "gone"
    assert plain.status_code == 200  # no validator: nothing to compare
    assert bad.status_code == 200


def test_add_etag_buffers_small_bodies() -> None:
    app, _ = make_app(add_etag=True)
    with TestClient(app) as client:
        first = client.get("/plain")
        tag = first.headers["etag"]
        assert tag == etag_for(first.content)
        again = client.get("/plain", headers={"if-none-match": tag})
        stream = client.get("/stream")
    assert again.status_code == 304
    assert "etag" not in stream.headers  # no Content-Length: not buffered
    assert stream.text == "streamed"


def test_add_etag_respects_max_buffer() -> None:
    app, _ = make_app(add_etag=True, max_buffer=5)
    with TestClient(app) as client:
        assert "etag" not in client.get("/plain").headers


def test_conditional_response_helper() -> None:
    app, _ = make_app()
    with TestClient(app) as client:
        first = client.get("/helper")
        again = client.get("/helper", headers={"if-none-match": first.headers["etag"]})
        failed = client.get("/helper", headers={"if-match": '"nope"'})
    assert first.text == "computed"
    assert again.status_code == 304 and again.content == b""
    assert failed.status_code == 412
    assert failed.json()["instance"] == "/helper"


def test_file_response_is_conditional(tmp_path: Path) -> None:
    path = tmp_path / "report.txt"
    path.write_bytes(b"file contents")
    old = time.time() - 3600
    os.utime(path, (old, old))
    app = App()

    @app.get("/file")
    async def file() -> FileResponse:
        return FileResponse(path)

    app.add_middleware(ConditionalMiddleware)
    with TestClient(app) as client:
        first = client.get("/file")
        by_tag = client.get("/file", headers={"if-none-match": first.headers["etag"]})
        by_date = client.get("/file", headers={"if-modified-since": first.headers["last-modified"]})
    assert first.text == "file contents"
    assert by_tag.status_code == 304
    assert by_date.status_code == 304


def test_methods_must_be_safe() -> None:
    with pytest.raises(ValueError, match="GET/HEAD only"):
        ConditionalMiddleware(_never, methods=["GET", "POST"])


@pytest.mark.anyio
async def test_non_http_passes_through() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    middleware = ConditionalMiddleware(inner)
    await middleware({"type": "websocket"}, _never, _never)
    await middleware({"type": "lifespan"}, _never, _never)
    assert seen == ["websocket", "lifespan"]


async def _never(*args: Any) -> Any:
    raise AssertionError("must not be called")
