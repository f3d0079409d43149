"""i18n wired into dependency injection: handlers and controllers take ``t: Translator``."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
import pytest

from armature import App, Depends, Request
from armature.di import DependencyError
from armature.modules import Application, controller, get, module
from armature.testing import AsyncTestClient, LifespanFailed
from armature.websockets import WebSocket
from armature_ext.i18n import (
    I18n,
    I18nModule,
    Locale,
    Translator,
    get_translator,
    install_i18n,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def i18n() -> I18n:
    catalogs = I18n("en", strict=True)
    catalogs.add_messages(
        "en",
        {"hello": "Hello, {name}!", "items": {"one": "{count} item", "other": "{count} items"}},
    )
    catalogs.add_messages(
        "fr",
        {
            "hello": "Bonjour, {name} !",
            "items": {"one": "{count} article", "other": "{count} articles"},
        },
    )
    catalogs.add_messages(
        "ru",
        {
            "hello": "Привет, {name}!",
            "items": {
                "one": "{count} товар",
                "few": "{count} товара",
                "many": "{count} товаров",
                "other": "{count} товара",
            },
        },
    )
    return catalogs


def micro_app(i18n: I18n, **options: Any) -> App:
    app = App()
    install_i18n(app, i18n, **options)

    def cart_line(t: Translator, items: int = 0) -> str:  # a dependency gets it too
        return t.t("items", count=items)

    @app.get("/")
    async def home(
        t: Translator,
        locale: Locale,
        catalogs: I18n,
        request: Request,
        line: Annotated[str, Depends(cart_line)],
    ) -> dict[str, Any]:
        assert catalogs is i18n
        same = t is request.state.t is get_translator()  # the middleware's translator
        return {"hello": t.t("hello", name="Zoé"), "locale": locale, "cart": line, "same": same}

    return app


@pytest.mark.parametrize(
    ("url", "headers", "cookies", "expected"),
    [
        ("/", {}, {}, ("Hello, Zoé!", "en", "0 items")),
        (
            "/?items=1",
            {"accept-language": "fr-CH, fr;q=0.9"},
            {},
            ("Bonjour, Zoé !", "fr", "1 article"),
        ),
        ("/?items=22&lang=ru", {"accept-language": "fr"}, {}, ("Привет, Zoé!", "ru", "22 товара")),
        (
            "/?items=5",
            {"accept-language": "fr"},
            {"locale": "ru"},
            ("Привет, Zoé!", "ru", "5 товаров"),
        ),
        ("/fr/?items=2", {"accept-language": "ru"}, {}, ("Bonjour, Zoé !", "fr", "2 articles")),
        ("/?items=1", {"accept-language": "de, *;q=0.1"}, {}, ("Hello, Zoé!", "en", "1 item")),
    ],
)
async def test_micro_handlers_take_the_request_translator(
    i18n: I18n,
    url: str,
    headers: dict[str, str],
    cookies: dict[str, str],
    expected: tuple[str, str, str],
) -> None:
    async with AsyncTestClient(micro_app(i18n), cookies=cookies) as client:
        response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["hello"], body["locale"], body["cart"]) == expected
    assert body["same"] is True
    assert response.headers["content-language"] == expected[1]
    assert not i18n.missing


async def test_concurrent_requests_each_get_their_locale(i18n: I18n) -> None:
    app = App()
    install_i18n(app, i18n)
    both_waiting = anyio.Event()
    arrived: list[str] = []

    @app.get("/slow")
    async def slow(t: Translator, locale: Locale) -> dict[str, str]:
        arrived.append(locale)
        if len(arrived) == 2:
            both_waiting.set()
        await both_waiting.wait()  # both requests are in flight at once here
        return {
            "locale": locale,
            "hello": t.t("hello", name="x"),
            "current": get_translator().locale,
        }

    results: dict[str, dict[str, str]] = {}
    async with AsyncTestClient(app) as client:

        async def fetch(language: str) -> None:
            response = await client.get("/slow", headers={"accept-language": language})
            results[language] = response.json()

        async with anyio.create_task_group() as group:
            group.start_soon(fetch, "fr")
            group.start_soon(fetch, "ru")
    assert results == {
        "fr": {"locale": "fr", "hello": "Bonjour, x !", "current": "fr"},
        "ru": {"locale": "ru", "hello": "Привет, x!", "current": "ru"},
    }


async def test_middleware_options_are_passed(i18n: I18n) -> None:
    app = micro_app(i18n, sources=("query", "cookie"), query_param="hl", cookie_name="lang")
    async with AsyncTestClient(app) as client:
        # Accept-Language is not a source here, and ?lang= is not the parameter.
        ignored = await client.get("/?lang=fr", headers={"accept-language": "ru"})
        assert ignored.json()["locale"] == "en"
        assert "vary" in ignored.headers and "Accept-Language" not in ignored.headers["vary"]
        assert (await client.get("/?hl=fr")).json()["locale"] == "fr"
        client.cookies.set("lang", "ru")
        assert (await client.get("/")).json()["locale"] == "ru"


async def test_websocket_handlers_take_the_translator(i18n: I18n) -> None:
    app = App()
    install_i18n(app, i18n)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, t: Translator, locale: Locale) -> None:
        await websocket.accept()
        await websocket.send_json({"locale": locale, "hello": t.t("hello", name="ws")})
        await websocket.close()

    async with (
        AsyncTestClient(app) as client,
        client.websocket_connect("/ws", headers={"accept-language": "fr"}) as session,
    ):
        assert await session.receive_json() == {"locale": "fr", "hello": "Bonjour, ws !"}


async def test_overrides_replace_the_translator(i18n: I18n) -> None:
    app = micro_app(i18n)
    app.dependency_overrides[Translator] = lambda: i18n.translator("ru")
    async with AsyncTestClient(app) as client:
        body = (await client.get("/?items=3", headers={"accept-language": "fr"})).json()
    # The override decides the messages; the negotiated locale is still the request's.
    assert body == {"hello": "Привет, Zoé!", "locale": "fr", "cart": "3 товара", "same": False}


async def test_bad_installs_fail_early(i18n: I18n) -> None:
    with pytest.raises(ValueError, match="sources must be distinct values"):
        install_i18n(App(), i18n, sources=("header", "bogus"))
    with pytest.raises(TypeError, match="cookie"):
        install_i18n(App(), i18n, cookie="locale")
    with pytest.raises(ValueError, match="sources must be distinct values"):
        I18nModule.register(i18n, sources=("nope",))

    app = App()
    install_i18n(app, i18n)
    with pytest.raises(DependencyError, match="already called"):
        install_i18n(app, i18n)

    started = App()
    async with AsyncTestClient(started):
        with pytest.raises(RuntimeError, match="after the application has started"):
            install_i18n(started, I18n("en"))


async def test_without_the_middleware_the_error_says_what_to_do(i18n: I18n) -> None:
    Localized = I18nModule.register(i18n)

    @controller("/hello")
    class Hello:
        @get("")
        async def hello(self, t: Translator) -> str:
            return t.t("hello", name="x")

    @module(imports=[Localized], controllers=[Hello])
    class AppModule:
        pass

    app = Application.create(AppModule, debug=True)  # middleware forgotten
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        response = await client.get("/hello")
    assert response.status_code == 500
    assert "needs I18nMiddleware" in response.json()["detail"]


# -- module style -------------------------------------------------------------------------------


async def test_module_style_controllers(i18n: I18n) -> None:
    Localized = I18nModule.register(i18n, cookie_name="lang")

    @controller("/shop")
    class ShopController:
        def __init__(self, catalogs: I18n) -> None:  # the singleton I18n is injectable here
            self.catalogs = catalogs

        @get("/cart")
        async def cart(self, t: Translator, locale: Locale, items: int = 0) -> dict[str, Any]:
            return {
                "locale": locale,
                "cart": t.t("items", count=items),
                "languages": sorted(self.catalogs.locales),
            }

    @module(controllers=[ShopController])
    class ShopModule:
        pass

    @module(imports=[Localized, ShopModule])
    class AppModule:
        pass

    app = Application.create(AppModule, middleware=[Localized.middleware])
    assert issubclass(Localized, I18nModule) and Localized.i18n is i18n
    async with AsyncTestClient(app) as client:
        by_header = await client.get("/shop/cart?items=1", headers={"accept-language": "fr"})
        assert by_header.json() == {
            "locale": "fr",
            "cart": "1 article",
            "languages": ["en", "fr", "ru"],
        }
        assert by_header.headers["content-language"] == "fr"
        by_query = await client.get("/shop/cart?items=21&lang=ru")
        assert by_query.json()["cart"] == "21 товар"
        client.cookies.set("lang", "fr")
        by_cookie = await client.get("/shop/cart?items=2")
        assert by_cookie.json()["cart"] == "2 articles"
        client.cookies.clear()
        by_path = await client.get("/ru/shop/cart?items=11")
        assert by_path.json()["cart"] == "11 товаров"
        default = await client.get("/shop/cart")
        assert default.json()["locale"] == "en"


async def test_module_style_rules(i18n: I18n) -> None:
    Private = I18nModule.register(i18n, global_=False)

    @controller("/a")
    class NeedsCatalogs:
        def __init__(self, catalogs: I18n) -> None:
            self.catalogs = catalogs

    @module(controllers=[NeedsCatalogs])
    class Feature:
        pass

    @module(imports=[Private, Feature])
    class Root:
        pass

    with pytest.raises(LifespanFailed, match="Feature does not import I18nModule"):
        async with AsyncTestClient(Application.create(Root, middleware=[Private.middleware])):
            pass

    @controller("/b")
    class TranslatorInConstructor:
        def __init__(self, t: Translator) -> None:  # request-scoped into a singleton: refused
            self.t = t

    @module(imports=[I18nModule.register(i18n)], controllers=[TranslatorInConstructor])
    class Bad:
        pass

    with pytest.raises(LifespanFailed, match="depends on request-scoped"):
        async with AsyncTestClient(Application.create(Bad)):
            pass
