"""SessionMiddleware: signed cookies, tampering, expiry, key rotation, rewrite rules, size."""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

import orjson
import pytest

from armature import App, Request
from armature.middleware.sessions import SessionMiddleware, SessionTooLarge, get_session
from armature.testing import TestClient
from armature.types import Message

KEY = "k" * 32


def make_app(**options: Any) -> App:
    app = App()

    @app.get("/read")
    async def read(request: Request) -> dict[str, Any]:
        return get_session(request)

    @app.post("/login")
    async def login(request: Request, user: str = "ada") -> dict[str, Any]:
        session = get_session(request)
        session["user"] = user
        session.setdefault("prefs", {"theme": "dark"})
        return session

    @app.post("/nested")
    async def nested(request: Request) -> str:
        get_session(request)["prefs"]["theme"] = "light"
        return "ok"

    @app.post("/logout")
    async def logout(request: Request) -> str:
        get_session(request).clear()
        return "bye"

    @app.post("/big")
    async def big(request: Request, size: int = 5000) -> str:
        get_session(request)["blob"] = "x" * size
        return "ok"

    @app.post("/bad-value")
    async def bad_value(request: Request) -> str:
        get_session(request)["when"] = object()
        return "ok"

    options.setdefault("secret_key", KEY)
    app.add_middleware(SessionMiddleware, **options)
    return app


def set_cookie_headers(response: Any) -> list[str]:
    return [v for v in response.headers.get_list("set-cookie") if v.startswith("session=")]


def test_round_trip_and_cookie_attributes() -> None:
    with TestClient(make_app()) as client:
        login = client.post("/login")
        assert login.json() == {"user": "ada", "prefs": {"theme": "dark"}}
        (header,) = set_cookie_headers(login)
        assert "; Path=/" in header
        assert "; Max-Age=1209600" in header
        assert "; HttpOnly" in header
        assert "; SameSite=Lax" in header
        assert "Secure" not in header
        read = client.get("/read")
    assert read.json() == {"user": "ada", "prefs": {"theme": "dark"}}
    assert set_cookie_headers(read) == []  # unchanged: no rewrite


def test_payload_is_readable_but_not_writable_by_the_client() -> None:
    with TestClient(make_app()) as client:
        client.post("/login")
        value = client.cookies["session"]
        payload, stamp, signature = value.split(".")
        decoded = orjson.loads(base64.urlsafe_b64decode(payload + "=="))
        assert decoded == {"prefs": {"theme": "dark"}, "user": "ada"}
        forged_payload = (
            base64.urlsafe_b64encode(orjson.dumps({"user": "admin"})).rstrip(b"=").decode()
        )
        client.cookies.clear()
        response = client.get(
            "/read", headers={"cookie": f"session={forged_payload}.{stamp}.{signature}"}
        )
    assert response.json() == {}
    # the invalid cookie is removed
    (header,) = set_cookie_headers(response)
    assert "Max-Age=0" in header


@pytest.mark.parametrize(
    "mutate",
    [
        lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"),  # signature byte
        lambda v: v + "=",  # padding
        lambda v: v.replace(".", "..", 1),
        lambda v: "." + v,
        lambda v: v.rsplit(".", 1)[0],  # no signature
        lambda v: v.split(".")[0] + ".9999999999." + v.split(".")[2],  # changed timestamp
        lambda v: "not-a-cookie",
        lambda v: "",
        lambda v: "a.b.c",
        lambda v: v + "\u00e9",
    ],
)
def test_tampered_cookies_give_an_empty_session(mutate: Any) -> None:
    with TestClient(make_app()) as client:
        client.post("/login")
        original = client.cookies["session"]
        client.cookies.clear()
        tampered = mutate(original)
        response = client.get("/read", headers={"cookie": f"session={tampered}".encode()})
    assert response.status_code == 200
    assert response.json() == {}


def test_last_bits_of_signature_are_not_malleable() -> None:
    middleware = SessionMiddleware(_never, secret_key=KEY)
    value = middleware.encode({"a": 1})
    body, signature = value.rsplit(".", 1)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(signature[-1])
    # 32 bytes = 43 base64 characters; the last one carries 2 unused bits
    variants = [alphabet[(index & ~3) | low] for low in range(4)]
    accepted = [v for v in variants if middleware.decode(f"{body}.{signature[:-1]}{v}")]
    assert accepted == [signature[-1]]


def test_expired_session_is_empty_and_cookie_deleted() -> None:
    app = make_app(max_age=60)
    forger = SessionMiddleware(_never, secret_key=KEY, max_age=60)
    old = forger.encode({"user": "ada"}, timestamp=time.time() - 61)
    fresh = forger.encode({"user": "ada"}, timestamp=time.time() - 30)
    with TestClient(app) as client:
        expired = client.get("/read", headers={"cookie": f"session={old}"})
        valid = client.get("/read", headers={"cookie": f"session={fresh}"})
    assert expired.json() == {}
    assert "Max-Age=0" in set_cookie_headers(expired)[0]
    assert valid.json() == {"user": "ada"}


def test_key_rotation_verifies_old_keys_and_resigns_with_the_new_one() -> None:
    old_signer = SessionMiddleware(_never, secret_key="old-key" * 5)
    old_cookie = old_signer.encode({"user": "ada"})
    app = make_app(secret_key=None, secret_keys=["new-key" * 5, "old-key" * 5])
    with TestClient(app) as client:
        response = client.get("/read", headers={"cookie": f"session={old_cookie}"})
        assert response.json() == {"user": "ada"}
        (header,) = set_cookie_headers(response)  # re-signed although unchanged
        new_cookie = header.split(";", 1)[0].split("=", 1)[1]
    new_only = SessionMiddleware(_never, secret_key="new-key" * 5)
    assert new_only.decode(new_cookie) is not None
    assert new_only.decode(old_cookie) is None
    unknown = SessionMiddleware(_never, secret_key="other-key" * 5).encode({"user": "mallory"})
    with TestClient(app) as client:
        assert client.get("/read", headers={"cookie": f"session={unknown}"}).json() == {}


def test_signature_does_not_verify_for_another_purpose() -> None:
    from armature.middleware.csrf import CSRFMiddleware

    csrf = CSRFMiddleware(_never, secret=KEY)
    token = csrf.new_token()
    raw, signature = token.split(".")
    sessions = SessionMiddleware(_never, secret_key=KEY)
    assert sessions.signer.verify(raw.encode(), signature) is None


def test_nested_change_is_detected_and_logout_deletes() -> None:
    with TestClient(make_app()) as client:
        client.post("/login")
        nested = client.post("/nested")
        assert len(set_cookie_headers(nested)) == 1
        assert client.get("/read").json()["prefs"] == {"theme": "light"}
        logout = client.post("/logout")
        (header,) = set_cookie_headers(logout)
        assert "Max-Age=0" in header and "Expires=Thu, 01 Jan 1970" in header
        assert client.get("/read").json() == {}


def test_no_cookie_for_empty_untouched_session() -> None:
    with TestClient(make_app()) as client:
        response = client.get("/read")
    assert response.headers.get_list("set-cookie") == []


def test_rolling_rewrites_every_time() -> None:
    with TestClient(make_app(rolling=True)) as client:
        client.post("/login")
        assert len(set_cookie_headers(client.get("/read"))) == 1


def test_options_reach_the_cookie() -> None:
    app = make_app(
        cookie_name="sid",
        max_age=None,
        path="/app",
        domain="example.com",
        same_site="none",
        https_only=True,
    )
    with TestClient(app, base_url="https://example.com") as client:
        header = client.post("/login").headers["set-cookie"]
    assert header.startswith("sid=")
    assert "Max-Age" not in header
    for part in ("Path=/app", "Domain=example.com", "SameSite=None", "Secure", "HttpOnly"):
        assert f"; {part}" in header


def test_oversized_session_errors_or_warns(caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(make_app()) as client, caplog.at_level(logging.ERROR, "armature.error"):
        assert client.post("/big?size=100").status_code == 200
        failed = client.post("/big?size=5000")
    # NOTE: the session would be silently dropped by the browser: fail loudly instead.
    assert failed.status_code == 500
    assert failed.headers["content-type"] == "application/problem+json"
    assert "set-cookie" not in failed.headers
    assert "SessionTooLarge" in caplog.text
    caplog.clear()
    with TestClient(make_app(on_oversize="warn")) as client, caplog.at_level(logging.WARNING):
        warned = client.post("/big?size=5000")
    assert warned.status_code == 200
    assert len(set_cookie_headers(warned)) == 1
    assert "over the 4096-byte limit" in caplog.text


@pytest.mark.anyio
async def test_oversize_error_is_raised_from_send() -> None:
    async def inner(scope: Any, receive: Any, send: Any) -> None:
        scope["session"]["blob"] = "x" * 5000
        await send({"type": "http.response.start", "status": 200, "headers": []})

    middleware = SessionMiddleware(inner, secret_key=KEY)
    with pytest.raises(SessionTooLarge, match="4096-byte"):
        await middleware({"type": "http", "headers": []}, _never, _never)


def test_non_json_value_is_a_clear_error(caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(make_app()) as client, caplog.at_level(logging.ERROR, "armature.error"):
        response = client.post("/bad-value")
    assert response.status_code == 500
    assert "the session must hold JSON-serializable values" in caplog.text


def test_several_cookies_with_the_name_first_valid_wins() -> None:
    signer = SessionMiddleware(_never, secret_key=KEY)
    good = signer.encode({"user": "ada"})
    with TestClient(make_app()) as client:
        response = client.get("/read", headers={"cookie": f"session=garbage; session={good}"})
    assert response.json() == {"user": "ada"}


def test_get_session_without_middleware() -> None:
    with pytest.raises(RuntimeError, match="SessionMiddleware"):
        get_session({"type": "http"})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "exactly one"),
        ({"secret_key": "a", "secret_keys": ["b"]}, "exactly one"),
        ({"secret_key": ""}, "non-empty"),
        ({"secret_keys": "abc"}, "sequence"),
        ({"secret_keys": []}, "non-empty"),
        ({"secret_key": KEY, "cookie_name": "bad name"}, "cookie name"),
        ({"secret_key": KEY, "max_age": 0}, "max_age"),
        ({"secret_key": KEY, "same_site": "none"}, "https_only"),
        ({"secret_key": KEY, "same_site": "sometimes"}, "same_site"),
        ({"secret_key": KEY, "path": "/; Domain=evil"}, "path"),
        ({"secret_key": KEY, "on_oversize": "ignore"}, "on_oversize"),
    ],
)
def test_invalid_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SessionMiddleware(_never, **options)


@pytest.mark.anyio
async def test_websocket_gets_the_session_read_only() -> None:
    seen: dict[str, Any] = {}

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope["session"])
        await send({"type": "websocket.accept"})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = SessionMiddleware(inner, secret_key=KEY)
    cookie = middleware.encode({"user": "ada"}).encode()
    await middleware(
        {"type": "websocket", "headers": [(b"cookie", b"session=" + cookie)]}, _never, send
    )
    assert seen == {"user": "ada"}
    assert sent == [{"type": "websocket.accept"}]


async def _never(*args: Any) -> Any:
    raise AssertionError("must not be called")
