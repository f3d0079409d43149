"""Internationalisation for armature: catalogs, plurals, negotiation and formatting (Babel).

Install with ``pip install armature[i18n]``. See ``docs/i18n.md``.

Example::

    from armature_ext.i18n import I18n, I18nMiddleware, t

    i18n = I18n("en", directory="locales")
    app.add_middleware(I18nMiddleware, i18n=i18n)

    @app.get("/")
    async def home() -> str:
        return t("cart.items", count=3)
"""

from __future__ import annotations

try:
    import babel as _babel  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without Babel
    raise ImportError(
        "armature_ext.i18n needs Babel, which is not installed; install the extra with "
        "`pip install armature[i18n]`",
        name=exc.name,
    ) from exc

from ._catalog import Catalog, CatalogError, load_directory
from ._context import NoActiveLocaleError, get_locale, get_translator, ngettext, t, use_translator
from ._messages import PLURAL_CATEGORIES
from ._middleware import DEFAULT_SOURCES, I18nMiddleware, LocaleNegotiator, Negotiated, Source
from ._tags import lookup, normalize_tag, parse_accept_language
from ._translator import I18n, MissingTranslation, MissingTranslationError, Translator
from .integration import I18nModule, Locale, install_i18n

__all__ = [
    "DEFAULT_SOURCES",
    "PLURAL_CATEGORIES",
    "Catalog",
    "CatalogError",
    "I18n",
    "I18nMiddleware",
    "I18nModule",
    "Locale",
    "LocaleNegotiator",
    "MissingTranslation",
    "MissingTranslationError",
    "Negotiated",
    "NoActiveLocaleError",
    "Source",
    "Translator",
    "get_locale",
    "get_translator",
    "install_i18n",
    "load_directory",
    "lookup",
    "ngettext",
    "parse_accept_language",
    "normalize_tag",
    "t",
    "use_translator",
]
