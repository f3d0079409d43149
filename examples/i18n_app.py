"""A localized page in English, French, Russian and Arabic (armature_ext.i18n).

Run it with ``granian --interface asgi examples.i18n_app:app`` (or uvicorn/hypercorn) and open
http://127.0.0.1:8000/fr/?items=3&name=Zoé, /ru/?items=22, /ar/?items=11 or just / (then the
browser's Accept-Language decides; ``?lang=ru`` and a ``locale=ru`` cookie work too). Catalogs
are in ``examples/locales/``: JSON for en/fr/ar, a gettext ``.po`` file for ru.

``install_i18n`` adds the negotiating middleware and lets handlers take the request's
``Translator`` (and ``Locale``, ``I18n``) by type.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from pathlib import Path
from urllib.parse import quote

from armature import App, HTMLResponse, Request
from armature_ext.i18n import I18n, Locale, Translator, install_i18n, t

LOCALES = Path(__file__).parent / "locales"
LANGUAGES = ("en", "fr", "ru", "ar")

i18n = I18n("en", directory=LOCALES)
app = App()
install_i18n(app, i18n)

# NOTE: fixed figures so the page only changes with the date.
MONTHLY_VISITORS = 1_234
CONVERSION = 0.0375
UNIT_PRICE = 19.99
SALE_ENDS_IN = dt.timedelta(days=3, hours=4)


@app.get("/")
async def page(
    request: Request, tr: Translator, locale: Locale, items: int = 2, name: str = ""
) -> HTMLResponse:
    """The localized page; ``?items=N`` shows the plural rules at work."""
    rows = [
        tr.t("greeting", name=name or "👋"),
        tr.t("cart.items", count=items),
        tr.t("cart.total", amount=tr.format_currency(items * UNIT_PRICE, "EUR")),
        tr.t("stats.visitors", count=MONTHLY_VISITORS),
        tr.t("stats.conversion", rate=tr.format_percent(CONVERSION, "#,##0.0%")),
        tr.t("dates.today", date=tr.format_date(dt.date.today(), "full")),
        tr.t("dates.sale_ends", when=tr.format_relative(SALE_ENDS_IN)),
    ]
    paragraphs = "\n".join(f"<p>{escape(row)}</p>" for row in rows)
    title = escape(tr.t("title"))
    html = (
        f'<!doctype html>\n<html lang="{locale}" dir="{tr.direction}">\n'
        f'<head><meta charset="utf-8"><title>{title}</title></head>\n'
        f"<body>\n<h1>{title}</h1>\n{paragraphs}\n"
        f"<nav>{escape(tr.t('nav.language'))}: {_language_links(request, items, name)}</nav>\n"
        "</body>\n</html>\n"
    )
    return HTMLResponse(html)


def _language_links(request: Request, items: int, name: str) -> str:
    # The middleware moved any /<locale> prefix into root_path; take it off again so every
    # link points below the app's own root.
    root = request.root_path
    prefix = request.state.locale_prefix
    if prefix:
        root = root[: -len(prefix)]
    query = f"?items={items}" + (f"&name={quote(name)}" if name else "")
    return " · ".join(
        f'<a href="{escape(root)}/{tag}/{escape(query)}" hreflang="{tag}">'
        f"{escape(i18n.translator(tag).language_name)}</a>"
        for tag in LANGUAGES
    )


@app.get("/api/cart")
async def cart(items: int = 0) -> dict[str, str]:
    """The same messages as JSON, through ``t()``: it works anywhere inside the request."""
    return {"items": t("cart.items", count=items), "title": t("title")}
