"""CSRFMiddleware: signed double-submit tokens via header or form field; 403 problem+json."""

from __future__ import annotations

from typing import Any

import pytest

from armature import App, Request
from armature.middleware.csrf import CSRFMiddleware, get_csrf_token
from armature.testing import TestClient

SECRET = "s" * 32


def make_app(**options: Any) -> App:
    app = App()

    @app.get("/form")
    async def form(request: Request) -> dict[str, str]:
        return {"token": get_csrf_token(request)}

    @app.post("/submit")
    async def submit(request: Request) -> dict[str, Any]:
        body = await request.body()
        return {"ok": True, "body": body.decode("latin-1")}

    @app.post("/webhooks/github")
    async def webhook() -> str:
        return "hooked"

    @app.post("/public")
    async def public() -> str:
        return "public"

    options.setdefault("secret", SECRET)
    app.add_middleware(CSRFMiddleware, **options)
    return app


def fetch_token(client: TestClient) -> str:
    response = client.get("/form")
    token = response.json()["token"]
    assert client.cookies["csrftoken"] == token
    return str(token)


def test_safe_request_issues_a_cookie_once() -> None:
    with TestClient(make_app()) as client:
        first = client.get("/form")
        second = client.get("/form")
    header = first.headers["set-cookie"]
    assert header.startswith("csrftoken=")
    assert "; Path=/" in header and "; SameSite=Lax" in header
    assert "HttpOnly" not in header  # scripts must read it to echo it
    assert "set-cookie" not in second.headers
    assert first.json()["token"] == second.json()["token"]


def test_header_matching_cookie_passes() -> None:
    with TestClient(make_app()) as client:
        token = fetch_token(client)
        response = client.post("/submit", content=b"data", headers={"x-csrf-token": token})
    assert response.status_code == 200
    assert response.json() == {"ok": True, "body": "data"}


@pytest.mark.parametrize(
    ("cookie", "header", "detail"),
    [
        (None, None, "CSRF cookie missing or invalid"),
        (None, "anything", "CSRF cookie missing or invalid"),
        ("valid", None, "CSRF token missing"),
        ("valid", "wrong", "CSRF token mismatch"),
        ("valid", "other-valid", "CSRF token mismatch"),
        ("unsigned", "unsigned", "CSRF cookie missing or invalid"),
        ("foreign", "foreign", "CSRF cookie missing or invalid"),
    ],
)
def test_failures_are_403_problems(cookie: str | None, header: str | None, detail: str) -> None:
    middleware = CSRFMiddleware(_never, secret=SECRET)
    values = {
        "valid": middleware.new_token(),
        "other-valid": middleware.new_token(),
        "unsigned": "a" * 43 + ".forged",
        "foreign": CSRFMiddleware(_never, secret="another-secret" * 3).new_token(),
        "wrong": "nope",
        "anything": "anything",
    }
    headers: dict[str, str] = {}
    if cookie is not None:
        headers["cookie"] = f"csrftoken={values[cookie]}"
    if header is not None:
        headers["x-csrf-token"] = values[header]
    with TestClient(make_app()) as client:
        response = client.post("/submit", headers=headers)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == detail
    assert response.json()["title"] == "Forbidden"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_all_unsafe_methods_are_checked(method: str) -> None:
    with TestClient(make_app()) as client:
        fetch_token(client)
        response = client.request(method, "/submit")
    # the route only has POST, but the CSRF check runs first
    assert response.status_code == 403


def test_urlencoded_form_field_and_body_replay() -> None:
    with TestClient(make_app()) as client:
        token = fetch_token(client)
        response = client.post("/submit", data={"name": "ada lovelace", "csrftoken": token})
        wrong = client.post("/submit", data={"name": "x", "csrftoken": "bad"})
        absent = client.post("/submit", data={"name": "x"})
    assert response.status_code == 200
    assert "name=ada+lovelace" in response.json()["body"]
    assert wrong.json()["detail"] == "CSRF token mismatch"
    assert absent.json()["detail"] == "CSRF token missing"


def test_multipart_form_field() -> None:
    with TestClient(make_app()) as client:
        token = fetch_token(client)
        response = client.post(
            "/submit",
            data={"csrftoken": token, "title": "hello"},
            files={"upload": ("a.txt", b"file body", "text/plain")},
        )
        spoofed = client.post(
            "/submit",
            files={"csrftoken": ("csrftoken", token.encode(), "text/plain")},
        )
    assert response.status_code == 200
    assert "file body" in response.json()["body"]
    # a file part named like the field does not count
    assert spoofed.status_code == 403


def test_large_form_is_refused_with_413() -> None:
    with TestClient(make_app(max_body_size=100)) as client:
        fetch_token(client)
        response = client.post("/submit", data={"x": "y" * 200})
    assert response.status_code == 413


def test_header_only_mode_ignores_form_fields() -> None:
    with TestClient(make_app(form_field=None)) as client:
        token = fetch_token(client)
        response = client.post("/submit", data={"csrftoken": token})
    assert response.status_code == 403


def test_exempt_paths_exact_and_prefix() -> None:
    with TestClient(make_app(exempt_paths=["/public", "/webhooks/*"])) as client:
        assert client.post("/public").text == "public"
        assert client.post("/webhooks/github").text == "hooked"
        assert client.post("/submit").status_code == 403


def test_exempt_paths_below_root_path() -> None:
    app = make_app(exempt_paths=["/public"])
    with TestClient(app, root_path="/api") as client:
        assert client.post("/api/public").text == "public"


def test_custom_names_and_cookie_options() -> None:
    app = make_app(
        cookie_name="xsrf",
        header_name="X-XSRF-TOKEN",
        cookie_secure=True,
        cookie_samesite="strict",
        cookie_httponly=True,
        cookie_domain="example.com",
    )
    with TestClient(app, base_url="https://example.com") as client:
        first = client.get("/form")
        token = first.json()["token"]
        header = first.headers["set-cookie"]
        response = client.post("/submit", headers={"x-xsrf-token": token})
    assert header.startswith("xsrf=")
    for part in ("SameSite=Strict", "Secure", "HttpOnly", "Domain=example.com"):
        assert f"; {part}" in header
    assert response.status_code == 200


def test_key_rotation() -> None:
    old = CSRFMiddleware(_never, secret="old-secret" * 4).new_token()
    app = make_app(secret=None, secret_keys=["new-secret" * 4, "old-secret" * 4])
    with TestClient(app) as client:
        response = client.post(
            "/submit", headers={"cookie": f"csrftoken={old}", "x-csrf-token": old}
        )
    assert response.status_code == 200


def test_custom_safe_methods() -> None:
    with TestClient(make_app(safe_methods=["GET", "HEAD", "OPTIONS", "POST"])) as client:
        assert client.post("/submit").status_code == 200


def test_get_csrf_token_without_middleware() -> None:
    with pytest.raises(RuntimeError, match="CSRFMiddleware"):
        get_csrf_token({"type": "http"})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "exactly one"),
        ({"secret": SECRET, "cookie_name": "a b"}, "cookie name"),
        ({"secret": SECRET, "cookie_samesite": "none"}, "cookie_secure"),
        ({"secret": SECRET, "cookie_samesite": "maybe"}, "cookie_samesite"),
        ({"secret": SECRET, "exempt_paths": ["webhooks"]}, "start with"),
        ({"secret": SECRET, "cookie_path": "/\r\n"}, "cookie_path"),
        ({"secret": SECRET, "header_name": "bad header"}, "invalid header name"),
    ],
)
def test_invalid_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CSRFMiddleware(_never, **options)


@pytest.mark.anyio
async def test_websocket_and_lifespan_pass_through() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    middleware = CSRFMiddleware(inner, secret=SECRET)
    await middleware({"type": "websocket", "headers": []}, _never, _never)
    await middleware({"type": "lifespan"}, _never, _never)
    assert seen == ["websocket", "lifespan"]


async def _never(*args: Any) -> Any:
    raise AssertionError("must not be called")
