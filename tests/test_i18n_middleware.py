"""armature_ext.i18n.I18nMiddleware: through hand-written ASGI apps and through armature.App."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from armature import App, HTTPException, Request
from armature.testing import AsyncTestClient
from armature.types import Message, Receive, Scope, Send
from armature_ext.i18n import (
    I18n,
    I18nMiddleware,
    NoActiveLocaleError,
    Translator,
    get_locale,
    get_translator,
    t,
)

LOCALES = Path(__file__).parent / "data" / "i18n" / "locales"


@pytest.fixture
def i18n() -> I18n:
    return I18n("en", directory=LOCALES)


def echo_app(*extra_headers: tuple[bytes, bytes]) -> Any:
    """An ASGI app answering with what the middleware gave it."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        state = scope["state"]
        translator: Translator = state["t"]
        body = {
            "locale": state["locale"],
            "state_t": translator.t("nav.home"),
            "t": t("nav.home"),
            "get_locale": get_locale(),
            "same": get_translator() is translator,
            "path": scope["path"],
            "root_path": scope["root_path"],
            "raw_path": scope.get("raw_path", b"").decode(),
            "prefix": state["locale_prefix"],
        }
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), *extra_headers],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})

    return app


def client(app: Any, **kwargs: Any) -> AsyncTestClient:
    return AsyncTestClient(app, **kwargs)


@pytest.mark.anyio
async def test_state_context_and_headers(i18n: I18n) -> None:
    async with client(I18nMiddleware(echo_app(), i18n=i18n)) as c:
        r = await c.get("/", headers={"accept-language": "de;q=0.9, fr-CH;q=0.8"})
    assert r.status_code == 200
    assert r.json() == {
        "locale": "fr",
        "state_t": "Accueil",
        "t": "Accueil",
        "get_locale": "fr",
        "same": True,
        "path": "/",
        "root_path": "",
        "raw_path": "/",
        "prefix": None,
    }
    assert r.headers["content-language"] == "fr"
    assert r.headers.get_list("vary") == ["Accept-Language, Cookie"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ([], "Accept-Language, Cookie"),
        ([(b"Vary", b"Origin")], "Origin, Accept-Language, Cookie"),
        ([(b"vary", b"accept-language")], "accept-language, Cookie"),
        ([(b"vary", b"Origin"), (b"vary", b"cookie")], "Origin, cookie, Accept-Language"),
        ([(b"vary", b"*")], "*"),
    ],
)
async def test_vary_is_merged(
    i18n: I18n, existing: list[tuple[bytes, bytes]], expected: str
) -> None:
    async with client(I18nMiddleware(echo_app(*existing), i18n=i18n)) as c:
        r = await c.get("/")
    assert r.headers.get_list("vary") == [expected]


@pytest.mark.anyio
async def test_app_content_language_is_kept(i18n: I18n) -> None:
    app = echo_app((b"Content-Language", b"de"))
    async with client(I18nMiddleware(app, i18n=i18n)) as c:
        r = await c.get("/", headers={"accept-language": "ru"})
    assert r.json()["locale"] == "ru"
    assert r.headers.get_list("content-language") == ["de"]


@pytest.mark.anyio
async def test_headers_follow_the_configuration(i18n: I18n) -> None:
    app = I18nMiddleware(echo_app(), i18n=i18n, sources=("path", "query"))
    async with client(app) as c:
        r = await c.get("/?lang=ru", headers={"accept-language": "fr"})
    assert r.json()["locale"] == "ru"
    assert "vary" not in r.headers
    assert r.headers["content-language"] == "ru"
    quiet = I18nMiddleware(echo_app(), i18n=i18n, content_language=False, vary=False)
    async with client(quiet) as c:
        r = await c.get("/", headers={"accept-language": "fr"})
    assert r.json()["locale"] == "fr"
    assert "vary" not in r.headers and "content-language" not in r.headers


@pytest.mark.anyio
async def test_query_cookie_and_header_precedence(i18n: I18n) -> None:
    async with client(I18nMiddleware(echo_app(), i18n=i18n)) as c:
        accept = {"accept-language": "fr"}
        assert (await c.get("/", headers=accept)).json()["locale"] == "fr"
        c.cookies.set("locale", "ru")
        assert (await c.get("/", headers=accept)).json()["locale"] == "ru"
        assert (await c.get("/?lang=fr-CA", headers=accept)).json()["locale"] == "fr-CA"
        assert (await c.get("/?lang=nope", headers=accept)).json()["locale"] == "ru"


@pytest.mark.anyio
async def test_path_prefix_moves_into_root_path(i18n: I18n) -> None:
    async with client(I18nMiddleware(echo_app(), i18n=i18n)) as c:
        body = (await c.get("/fr-CA/items/3?lang=ru")).json()
        assert (body["locale"], body["path"], body["root_path"]) == (
            "fr-CA",
            "/fr-CA/items/3",
            "/fr-CA",
        )
        assert body["raw_path"] == "/fr-CA/items/3"
        assert body["prefix"] == "/fr-CA"
        body = (await c.get("/french/items")).json()
        assert (body["locale"], body["root_path"]) == ("en", "")
    async with client(I18nMiddleware(echo_app(), i18n=i18n), root_path="/api") as c:
        body = (await c.get("/api/ru/items")).json()
    assert (body["locale"], body["path"], body["root_path"]) == ("ru", "/api/ru/items", "/api/ru")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "value",
    [
        b"\xff\xfe\xfd",
        b";;;,,,q=1",
        b"fr;q=banana",
        b"*;q=0",
        b"en-" + b"x" * 70_000,
        b", ".join(b"de-%d" % i for i in range(20_000)),
    ],
)
async def test_malformed_or_huge_accept_language_gets_the_default(i18n: I18n, value: bytes) -> None:
    async with client(I18nMiddleware(echo_app(), i18n=i18n)) as c:
        r = await c.get("/", headers=[(b"accept-language", value), (b"cookie", value)])
    assert r.status_code == 200
    assert r.json()["locale"] == "en"
    assert r.headers["content-language"] == "en"


# -- direct ASGI calls --------------------------------------------------------------------------


async def _no_receive() -> Message:
    raise AssertionError("not expected")  # pragma: no cover


@pytest.mark.anyio
async def test_lifespan_passes_through_untouched(i18n: I18n) -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    await I18nMiddleware(app, i18n=i18n)(scope, _no_receive, _no_receive)  # type: ignore[arg-type]
    assert seen[0] is scope and "state" not in scope


@pytest.mark.anyio
async def test_websocket_gets_locale_and_translator(i18n: I18n) -> None:
    sent: list[Message] = []
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.update(scope["state"], t=t("nav.home"), path=scope["path"], root=scope["root_path"])
        await send({"type": "websocket.accept", "headers": []})

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "websocket",
        "path": "/ru/ws",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"accept-language", b"fr")],
        "state": {"db": "pool"},
    }
    await I18nMiddleware(app, i18n=i18n)(scope, _no_receive, send)
    assert seen["locale"] == "ru" and seen["t"] == "Home" and seen["db"] == "pool"
    assert isinstance(seen["t"], str) and seen["path"] == "/ru/ws" and seen["root"] == "/ru"
    assert sent == [{"type": "websocket.accept", "headers": []}]
    with pytest.raises(NoActiveLocaleError):
        t("nav.home")


@pytest.mark.anyio
async def test_context_is_reset_when_the_app_raises(i18n: I18n) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert get_locale() == "fr"
        raise RuntimeError("boom")

    scope: Scope = {"type": "http", "path": "/fr/", "root_path": "", "headers": []}
    with pytest.raises(RuntimeError, match="boom"):
        await I18nMiddleware(app, i18n=i18n)(scope, _no_receive, _no_receive)  # type: ignore[arg-type]
    with pytest.raises(NoActiveLocaleError):
        get_locale()
    assert "state" not in scope and scope["root_path"] == ""  # the caller's scope is not mutated


@pytest.mark.anyio
async def test_body_messages_are_untouched(i18n: I18n) -> None:
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"x-a", b"1")],
                "trailers": False,
            }
        )
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b"})

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "path": "/", "headers": [(b"accept-language", b"ar")]}
    await I18nMiddleware(app, i18n=i18n)(scope, _no_receive, send)
    assert sent[0] == {
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"x-a", b"1"),
            (b"content-language", b"en"),
            (b"vary", b"Accept-Language, Cookie"),
        ],
        "trailers": False,
    }
    assert sent[1:] == [
        {"type": "http.response.body", "body": b"a", "more_body": True},
        {"type": "http.response.body", "body": b"b"},
    ]


# -- through armature.App -------------------------------------------------------------------------


def make_app(i18n: I18n) -> Any:
    app = App()

    @app.get("/")
    async def home(request: Request) -> dict[str, Any]:
        tr: Translator = request.state.t
        return {
            "locale": request.state.locale,
            "greeting": t("greeting", name="Ann"),
            "items": tr.t("items", count=5),
            "path": request.path,
        }

    @app.get("/items/{n:int}")
    async def items(n: int) -> str:
        return t("items", count=n)

    @app.get("/missing")
    async def missing() -> None:
        raise HTTPException(404, detail=t("nav.home"))

    app.add_middleware(I18nMiddleware, i18n=i18n)
    return app


@pytest.mark.anyio
async def test_with_armature_app(i18n: I18n) -> None:
    async with AsyncTestClient(make_app(i18n)) as c:
        r = await c.get("/", headers={"accept-language": "ru, fr;q=0.5"})
        assert r.status_code == 200
        assert r.json() == {
            "locale": "ru",
            "greeting": "Привет, Ann!",
            "items": "5 items",
            "path": "/",
        }
        assert r.headers["content-language"] == "ru"
        assert r.headers["vary"] == "Accept-Language, Cookie"
        r = await c.get("/fr/items/1")
        assert (r.status_code, r.text, r.headers["content-language"]) == (200, "1 article", "fr")
        r = await c.get("/fr-CA/items/2", headers={"accept-language": "ru"})
        assert r.text == "2 articles"
        r = await c.get("/items/0", headers={"accept-language": "en-GB"})
        assert r.text == "No items"
        r = await c.get("/fr")
        assert r.json()["locale"] == "fr" and r.json()["path"] == "/"
        r = await c.get("/fr/missing")
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["content-language"] == "fr"
        assert r.json()["detail"] == "Accueil"
        r = await c.get("/de/items/1")  # not a locale prefix: an ordinary (unknown) path
        assert r.status_code == 404 and r.headers["content-language"] == "en"
        r = await c.get("/", headers=[(b"accept-language", b"\xff;q=\xfe" * 5000)])
        assert r.status_code == 200 and r.json()["locale"] == "en"


def test_with_the_sync_test_client(i18n: I18n) -> None:
    from armature.testing import TestClient

    with TestClient(make_app(i18n)) as c:
        r = c.get("/ru/items/21")
        assert (r.text, r.headers["content-language"]) == ("21 items", "ru")
        c.cookies.set("locale", "fr")
        assert c.get("/items/2").text == "2 articles"
        assert c.get("/items/2?lang=en").text == "2 items"
