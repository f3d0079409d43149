"""Wire i18n into armature's dependency injection: handlers take ``t: Translator``.

Micro style::

    from armature import App
    from armature_ext.i18n import I18n, Translator, install_i18n

    i18n = I18n("en", directory="locales")
    app = App()
    install_i18n(app, i18n)

    @app.get("/")
    async def home(t: Translator) -> dict[str, str]:
        return {"greeting": t.t("greeting", name="Zoé")}

Module style: ``I18nModule.register(i18n)`` returns a ``@module`` providing the same keys; pass
its ``middleware`` to ``Application.create(..., middleware=[...])``.

What gets registered: :class:`~armature_ext.i18n.Translator` (request scope: the translator of
the locale negotiated for the request), :data:`Locale` (request scope: its tag, a ``str``) and
:class:`~armature_ext.i18n.I18n` (the catalogs, a singleton value).
"""

from __future__ import annotations

from typing import Any, ClassVar, NewType

from armature.app import App
from armature.di import DependencyError
from armature.middleware.base import Middleware
from armature.modules import module, provide
from armature.types import Receive, Scope, Send

from ._context import NoActiveLocaleError, get_translator
from ._middleware import I18nMiddleware
from ._translator import I18n, Translator

__all__ = ["I18nModule", "Locale", "install_i18n"]

Locale = NewType("Locale", str)
"""Inject the request's negotiated locale tag (``"fr-CA"``), a ``NewType`` of ``str``."""

_MISSING_MIDDLEWARE = (
    "Translator/Locale injection needs I18nMiddleware around the app: install_i18n() adds it; "
    "with modules pass I18nModule.register(...).middleware to "
    "Application.create(..., middleware=[...])"
)


def _request_translator() -> Translator:
    # NOTE: I18nMiddleware makes the request's translator current in a context variable around
    # the whole request, so the provider needs neither the scope nor the request.
    try:
        return get_translator()
    except NoActiveLocaleError:
        raise NoActiveLocaleError(_MISSING_MIDDLEWARE) from None


def _request_locale() -> Locale:
    return Locale(_request_translator().locale)


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:  # pragma: no cover
    raise RuntimeError("only used to validate middleware options")


def _checked_middleware(i18n: I18n, options: dict[str, Any]) -> Middleware:
    # NOTE: built once here so a bad option (an unknown source, a typo) fails at declaration
    # time rather than when the app compiles its middleware at startup.
    I18nMiddleware(_no_app, i18n=i18n, **options)
    return Middleware(I18nMiddleware, i18n=i18n, **options)


def install_i18n(app: App, i18n: I18n, **middleware_options: Any) -> None:
    """Add :class:`I18nMiddleware` and provide ``Translator``, ``Locale`` and ``I18n``.

    Args:
        app: The application (before it starts).
        i18n: The catalogs (load them before the app starts).
        **middleware_options: Passed to :class:`I18nMiddleware` (``sources``, ``query_param``,
            ``cookie_name``, ``content_language``, ``vary``).

    Raises:
        DependencyError: i18n is already installed on this app.
        TypeError: An unknown middleware option.
        ValueError: An invalid middleware option value (e.g. an unknown source).
        RuntimeError: The app has already started.
    """
    if app.container.has(Translator):
        raise DependencyError("install_i18n() was already called for this app")
    middleware = _checked_middleware(i18n, middleware_options)
    app.add_middleware(middleware.cls, **middleware.options)
    app.provide(_request_translator, scope="request", key=Translator)
    app.provide(_request_locale, scope="request", key=Locale)
    app.provide_value(I18n, i18n)


class I18nModule:
    """The module style: ``I18nModule.register(i18n)`` returns a ``@module`` class.

    The module provides and exports ``Translator``, ``Locale`` and ``I18n``. The returned class
    also carries ``i18n`` and ``middleware`` (the :class:`I18nMiddleware` declaration to pass to
    ``Application.create(..., middleware=[...])``; injection needs it).
    """

    i18n: ClassVar[I18n]
    middleware: ClassVar[Middleware]

    @classmethod
    def register(
        cls, i18n: I18n, *, global_: bool = True, **middleware_options: Any
    ) -> type[I18nModule]:
        """Build the module.

        Args:
            i18n: The catalogs.
            global_: Export to every module without importing it.
            **middleware_options: Passed to :class:`I18nMiddleware`.

        Returns:
            A new ``@module`` class (a subclass of :class:`I18nModule`).

        Raises:
            TypeError: An unknown middleware option.
            ValueError: An invalid middleware option value.
        """
        namespace = {
            "__doc__": f"i18n for {', '.join(i18n.locales)} (default {i18n.default_locale}).",
            "__module__": cls.__module__,
            "i18n": i18n,
            "middleware": _checked_middleware(i18n, middleware_options),
        }
        created: type[I18nModule] = type(cls.__name__, (cls,), namespace)
        return module(
            providers=[
                provide(Translator, use_factory=_request_translator, scope="request"),
                provide(Locale, use_factory=_request_locale, scope="request"),
                provide(I18n, use_value=i18n),
            ],
            exports=[Translator, Locale, I18n],
            global_=global_,
        )(created)
