"""The per-request current translator (a contextvar) and the module-level ``t()`` helpers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._translator import Translator

__all__ = [
    "NoActiveLocaleError",
    "get_locale",
    "get_translator",
    "ngettext",
    "t",
    "use_translator",
]

_current: ContextVar[Translator] = ContextVar("armature_i18n_translator")


class NoActiveLocaleError(LookupError):
    """:func:`t` or :func:`get_locale` was called outside a request and outside ``I18n.use``."""


def get_translator() -> Translator:
    """Return the translator of the current request (set by ``I18nMiddleware`` or ``I18n.use``).

    Returns:
        The translator.

    Raises:
        NoActiveLocaleError: Outside a request handled by ``I18nMiddleware`` and outside
            ``with i18n.use(locale):``.
    """
    try:
        return _current.get()
    except LookupError:
        raise NoActiveLocaleError(
            "no active locale: t()/get_locale() need a request served through I18nMiddleware "
            "or a `with i18n.use(locale):` block"
        ) from None


def get_locale() -> str:
    """Return the current request's locale tag (``"fr-CA"``).

    Returns:
        The tag.

    Raises:
        NoActiveLocaleError: Outside a request or ``I18n.use`` block.
    """
    return get_translator().locale


def t(key: str, /, **params: object) -> str:
    """Translate ``key`` in the current request's locale (see :meth:`Translator.t`).

    Args:
        key: The catalog key or msgid.
        **params: Placeholder values; ``count`` selects the plural form.

    Returns:
        The text.

    Raises:
        NoActiveLocaleError: Outside a request or ``I18n.use`` block.
    """
    return get_translator().t(key, **params)


def ngettext(singular: str, plural: str, n: int | float | Decimal, /, **params: object) -> str:
    """gettext-style plural translation in the current locale (see :meth:`Translator.ngettext`).

    Args:
        singular: The msgid.
        plural: The msgid_plural.
        n: The count.
        **params: Placeholder values.

    Returns:
        The text.

    Raises:
        NoActiveLocaleError: Outside a request or ``I18n.use`` block.
    """
    return get_translator().ngettext(singular, plural, n, **params)


@contextlib.contextmanager
def use_translator(translator: Translator) -> Iterator[Translator]:
    """Make ``translator`` current for the duration of the block.

    Args:
        translator: The translator.

    Yields:
        The same translator.
    """
    token = _current.set(translator)
    try:
        yield translator
    finally:
        _current.reset(token)
