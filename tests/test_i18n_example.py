"""examples/i18n_app.py: the localized page in en/fr/ru/ar through the real ASGI entry point."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from armature.testing import AsyncTestClient

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "i18n_app.py"


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("i18n_example_app", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "headers", "locale", "direction", "expected"),
    [
        (
            "/?items=0",
            {},
            "en",
            "ltr",
            [
                "Your cart is empty",
                "1,234 visitors this month",
                "Total: €0.00",
                "The sale ends in 3 days",
            ],
        ),
        (
            "/?items=1",
            {"accept-language": "fr-CH, en;q=0.5"},
            "fr",
            "ltr",
            [
                "Vous avez 1 article dans votre panier",
                "Total : 19,99\u00a0€",
                "1\u202f234 visiteurs ce mois-ci",
                "dans 3 jours",
            ],
        ),
        ("/fr/?items=1000000", {}, "fr", "ltr", ["Vous avez 1\u202f000\u202f000 d’articles"]),
        (
            "/ru/?items=22",
            {},
            "ru",
            "ltr",
            ["В корзине 22 товара", "1\u00a0234 посетителя за месяц", "через 3 дня"],
        ),
        ("/ru/?items=21", {}, "ru", "ltr", ["В корзине 21 товар"]),
        ("/ru/?items=5", {}, "ru", "ltr", ["В корзине 5 товаров"]),
        ("/?items=11&lang=ar", {}, "ar", "rtl", ["لديك 11 منتجًا في سلتك"]),
        ("/ar/?items=2", {}, "ar", "rtl", ["لديك منتجان في سلتك"]),
        ("/ar/?items=0", {}, "ar", "rtl", ["سلتك فارغة"]),
        ("/ar/?items=103", {}, "ar", "rtl", ["لديك 103 منتجات في سلتك"]),
    ],
)
async def test_localized_page(
    example: ModuleType,
    path: str,
    headers: dict[str, str],
    locale: str,
    direction: str,
    expected: list[str],
) -> None:
    async with AsyncTestClient(example.app) as client:
        r = await client.get(path, headers=headers)
    assert r.status_code == 200
    assert r.headers["content-language"] == locale
    assert f'<html lang="{locale}" dir="{direction}">' in r.text
    for text in expected:
        assert text in r.text
    today = example.i18n.translator(locale).format_date(dt.date.today(), "full")
    assert today in r.text
    assert not example.i18n.missing


@pytest.mark.anyio
async def test_name_is_escaped_and_links_keep_the_root(example: ModuleType) -> None:
    async with AsyncTestClient(example.app, root_path="/shop") as client:
        r = await client.get("/shop/fr/", params={"name": "<b>Zoé</b>"})
    assert "Bonjour, &lt;b&gt;Zoé&lt;/b&gt; !" in r.text
    assert '<a href="/shop/ru/?items=2&amp;name=%3Cb%3EZo%C3%A9%3C/b%3E" hreflang="ru">' in r.text


@pytest.mark.anyio
async def test_json_endpoint(example: ModuleType) -> None:
    async with AsyncTestClient(example.app) as client:
        r = await client.get("/api/cart?items=3", headers={"accept-language": "ru"})
    assert r.json() == {"items": "В корзине 3 товара", "title": "Ваш магазин"}
