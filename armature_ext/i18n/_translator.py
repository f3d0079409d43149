"""The :class:`I18n` registry and the locale-bound :class:`Translator`."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from babel import dates as _dates
from babel import lists as _lists
from babel import numbers as _numbers
from babel.core import Locale

from ._catalog import CONTEXT_SEPARATOR, Catalog, CatalogError, load_directory
from ._context import use_translator
from ._messages import Message, Template, TemplateSyntaxError, as_count
from ._tags import babel_locale, normalize_tag, truncations

__all__ = ["I18n", "MissingTranslation", "MissingTranslationError", "Translator"]

Number = int | float | Decimal
MissingKind = Literal["key", "placeholder", "format", "count"]


@dataclass(frozen=True, slots=True)
class MissingTranslation:
    """One problem found while translating (hashable: collected in :attr:`I18n.missing`).

    Attributes:
        locale: The locale that was requested.
        key: The message key (gettext context and id are shown as ``"context | id"``).
        kind: ``"key"``: no translation in the locale or its language, so the default locale's
            text or the key itself was used; ``"placeholder"``: a ``{name}`` had no value and was
            left as written; ``"format"``: a value did not fit its format spec; ``"count"``: a
            plural message got no numeric ``count``, so its ``other`` form was used.
        detail: The placeholder name for ``placeholder``/``format``; for ``key``, the locale
            whose text was used, or ``None`` when the key itself was returned.
    """

    locale: str
    key: str
    kind: MissingKind
    detail: str | None = None

    def __str__(self) -> str:
        if self.kind == "key":
            used = f"used {self.detail}" if self.detail else "returned the key"
            return f"missing translation {self.key!r} for {self.locale} ({used})"
        if self.kind == "count":
            return f"plural message {self.key!r} ({self.locale}) needs a numeric count"
        what = "has no value" if self.kind == "placeholder" else "does not fit its format spec"
        return f"placeholder {{{self.detail}}} of {self.key!r} ({self.locale}) {what}"


class MissingTranslationError(LookupError):
    """Raised instead of falling back when the :class:`I18n` is in strict mode.

    Args:
        missing: What is missing.

    Attributes:
        missing: As given.
    """

    def __init__(self, missing: MissingTranslation) -> None:
        self.missing = missing
        super().__init__(str(missing))


class I18n:
    """Catalogs for every locale plus the translation policy; hands out :class:`Translator` s.

    Args:
        default_locale: The locale used when negotiation finds nothing and the fallback for keys
            a locale lacks.
        directory: A locales directory to load now (see :meth:`load_directory`).
        domain: The gettext domain for ``LC_MESSAGES`` layouts.
        strict: Raise :class:`MissingTranslationError` instead of falling back (for tests/CI).
        on_missing: Called with a :class:`MissingTranslation` every time one occurs (log it,
            count it); exceptions it raises propagate.
        format_numbers: Render ``int``/``float``/``Decimal`` placeholder values with the
            locale's digits and grouping (``1 234,5`` in French); ``False`` uses ``str()``.
        max_missing: Bound on :attr:`missing` (keys may come from user input).

    Raises:
        CatalogError: If ``default_locale`` is unknown or a catalog fails to load.
    """

    def __init__(
        self,
        default_locale: str = "en",
        *,
        directory: str | Path | None = None,
        domain: str = "messages",
        strict: bool = False,
        on_missing: Callable[[MissingTranslation], object] | None = None,
        format_numbers: bool = True,
        max_missing: int = 10_000,
    ) -> None:
        tag = normalize_tag(default_locale)
        if tag is None or babel_locale(tag) is None:
            raise CatalogError(f"unknown default locale {default_locale!r}")
        self.default_locale: str = tag
        self.domain = domain
        self.strict = strict
        self.on_missing = on_missing
        self.format_numbers = format_numbers
        self.max_missing = max_missing
        #: Every distinct problem seen so far (up to ``max_missing``); clear it at will.
        self.missing: set[MissingTranslation] = set()
        self._catalogs: dict[str, Catalog] = {}
        self._translators: dict[str, Translator] = {}
        if directory is not None:
            self.load_directory(directory)

    def __repr__(self) -> str:
        return f"<I18n default={self.default_locale} locales={list(self.locales)}>"

    @property
    def locales(self) -> tuple[str, ...]:
        """Tags that can be served: every locale with a catalog, plus the default locale."""
        tags = dict.fromkeys(self._catalogs)
        tags.setdefault(self.default_locale)
        return tuple(tags)

    @property
    def catalogs(self) -> Mapping[str, Catalog]:
        """The merged catalog of each locale."""
        return self._catalogs

    def add_catalog(self, catalog: Catalog) -> None:
        """Add a catalog, merging it into any catalog already loaded for its locale.

        Args:
            catalog: The catalog.

        Raises:
            CatalogError: If one of its keys is already defined for that locale.
        """
        current = self._catalogs.get(catalog.locale)
        if current is None:
            merged = Catalog(catalog.locale)
            merged.update(catalog)
            self._catalogs[catalog.locale] = merged
        else:
            current.update(catalog)
        self._translators.clear()

    def add_messages(
        self, locale: str, messages: Mapping[str, Any], *, source: str = "<dict>"
    ) -> None:
        """Add messages given as nested mappings (same rules as a JSON catalog).

        Args:
            locale: The language tag.
            messages: ``{"greeting": "Hello, {name}!", "items": {"one": ..., "other": ...}}``.
            source: Named in error messages.

        Raises:
            CatalogError: If the messages are invalid or a key is already defined.
        """
        self.add_catalog(Catalog.from_mapping(locale, messages, source=source))

    def load_file(self, path: str | Path, locale: str | None = None) -> None:
        """Load one ``.json``/``.po``/``.mo`` file (see :meth:`Catalog.load`).

        Args:
            path: The file.
            locale: The language tag; defaults to the file (or locale directory) name.

        Raises:
            CatalogError: If the file is invalid.
        """
        self.add_catalog(Catalog.load(path, locale))

    def load_directory(self, directory: str | Path, *, domain: str | None = None) -> None:
        """Load every catalog in a directory (see :func:`load_directory` for the layouts).

        Args:
            directory: The locales directory.
            domain: The gettext domain; defaults to the one given to the constructor.

        Raises:
            CatalogError: If a file is invalid.
        """
        for catalog in load_directory(directory, domain=domain or self.domain):
            self.add_catalog(catalog)

    def translator(self, locale: str | None = None) -> Translator:
        """Return the translator for a locale (cached per locale).

        Args:
            locale: A language tag; ``None`` or an invalid tag gives the default locale. A tag
                without a catalog is allowed (it falls back to its language, then the default).

        Returns:
            The translator.
        """
        if locale is not None:
            # PERF: the middleware passes canonical tags, which hit the cache without parsing.
            cached = self._translators.get(locale)
            if cached is not None:
                return cached
        tag = self.default_locale if locale is None else normalize_tag(locale)
        if tag is None:
            tag = self.default_locale
        translator = self._translators.get(tag)
        if translator is None:
            translator = Translator(self, tag)
            # NOTE: only locales with a catalog (or the default) are cached, so arbitrary tags
            # passed in by callers cannot grow the cache.
            if tag in self._catalogs or tag == self.default_locale:
                self._translators[tag] = translator
        return translator

    @contextlib.contextmanager
    def use(self, locale: str | None = None) -> Iterator[Translator]:
        """Make a locale current for :func:`t`/:func:`get_locale` outside a request (jobs, tests).

        Args:
            locale: The language tag (``None`` for the default).

        Yields:
            The translator.
        """
        translator = self.translator(locale)
        with use_translator(translator):
            yield translator

    def _report(self, missing: MissingTranslation) -> None:
        if len(self.missing) < self.max_missing:
            self.missing.add(missing)
        if self.on_missing is not None:
            self.on_missing(missing)
        if self.strict:
            raise MissingTranslationError(missing)


class Translator:
    """Translations and formatting bound to one locale; cheap to share across requests.

    Obtain one from :meth:`I18n.translator`, ``request.state.t`` under :class:`I18nMiddleware`
    or :func:`get_translator`. Lookups go: the locale, its truncations (``fr-CA`` -> ``fr``),
    the default locale, then the key itself.

    Args:
        i18n: The registry.
        locale: A canonical language tag.
    """

    __slots__ = ("_chain", "_chain_locales", "_i18n", "_numbers", "_own", "babel_locale", "locale")

    def __init__(self, i18n: I18n, locale: str) -> None:
        self._i18n = i18n
        self.locale: str = locale
        data = babel_locale(locale) or babel_locale(i18n.default_locale)
        if data is None:  # pragma: no cover - I18n checks its default locale
            raise CatalogError(f"unknown locale {locale!r}")
        self.babel_locale: Locale = data
        catalogs = i18n.catalogs
        own = [catalogs[t] for t in truncations(locale) if t in catalogs]
        chain = list(own)
        for tag in truncations(i18n.default_locale):
            catalog = catalogs.get(tag)
            if catalog is not None and catalog not in chain:
                chain.append(catalog)
        # PERF: the fallback chain is resolved once per locale, not per lookup.
        self._chain: tuple[dict[str, Message], ...] = tuple(c.messages for c in chain)
        self._chain_locales: tuple[str, ...] = tuple(c.locale for c in chain)
        self._own = len(own)
        self._numbers: dict[int, str] = {}

    def __repr__(self) -> str:
        return f"<Translator {self.locale}>"

    # -- lookups ------------------------------------------------------------------------------

    def t(self, key: str, /, **params: object) -> str:
        """Translate ``key`` and substitute ``params``; ``count=`` selects the plural form.

        Args:
            key: A catalog key (``"cart.items"``) or gettext msgid.
            **params: Placeholder values; ``count`` also picks the plural form by the CLDR rules
                of the message's locale (or the ``.po`` file's Plural-Forms).

        Returns:
            The text. Missing keys fall back (see the class docs) and missing placeholders are
            left as written; both are reported to :class:`I18n` (and raise in strict mode).
        """
        message = self._find(key)
        if message is None:
            return self._fallback(key, key, params)
        return self._render(key, message, params)

    gettext = t

    def ngettext(self, singular: str, plural: str, n: Number, /, **params: object) -> str:
        """gettext-style plural lookup: the key is ``singular``; ``count`` defaults to ``n``.

        Args:
            singular: The msgid (and the text used for n == 1 if untranslated).
            plural: The msgid_plural (the text used otherwise if untranslated).
            n: The count selecting the form.
            **params: Placeholder values.

        Returns:
            The text.
        """
        params.setdefault("count", n)
        message = self._find(singular)
        if message is None:
            return self._fallback(singular, singular if n == 1 else plural, params)
        return self._render(singular, message, params, n)

    def pgettext(self, context: str, message: str, /, **params: object) -> str:
        """Translate ``message`` in a gettext context (``msgctxt``).

        Args:
            context: The msgctxt.
            message: The msgid.
            **params: Placeholder values.

        Returns:
            The text (``message`` itself if untranslated).
        """
        key = f"{context}{CONTEXT_SEPARATOR}{message}"
        found = self._find(key)
        if found is None:
            return self._fallback(key, message, params)
        return self._render(key, found, params)

    def npgettext(
        self, context: str, singular: str, plural: str, n: Number, /, **params: object
    ) -> str:
        """:meth:`ngettext` in a gettext context.

        Args:
            context: The msgctxt.
            singular: The msgid.
            plural: The msgid_plural.
            n: The count.
            **params: Placeholder values.

        Returns:
            The text.
        """
        params.setdefault("count", n)
        key = f"{context}{CONTEXT_SEPARATOR}{singular}"
        found = self._find(key)
        if found is None:
            return self._fallback(key, singular if n == 1 else plural, params)
        return self._render(key, found, params, n)

    def has(self, key: str) -> bool:
        """Whether ``key`` is translated in this locale or its language (no default fallback).

        Args:
            key: The key.

        Returns:
            True if found without falling back to the default locale.
        """
        return any(key in messages for messages in self._chain[: self._own])

    @property
    def direction(self) -> Literal["ltr", "rtl"]:
        """The script direction, for ``<html dir="...">`` (``"rtl"`` for ar, he, fa...)."""
        return "rtl" if self.babel_locale.character_order == "right-to-left" else "ltr"

    @property
    def language_name(self) -> str:
        """The locale's name in its own language (``"français"``), for language pickers."""
        return str(self.babel_locale.get_display_name(self.babel_locale) or self.locale)

    def plural_category(self, n: Number) -> str:
        """The CLDR plural category of ``n`` in this locale.

        Args:
            n: The number.

        Returns:
            One of ``zero``, ``one``, ``two``, ``few``, ``many``, ``other``.
        """
        return str(self.babel_locale.plural_form(n))

    def _find(self, key: str) -> Message | None:
        for i, messages in enumerate(self._chain):
            message = messages.get(key)
            if message is not None:
                if i >= self._own:
                    self._report(key, "key", self._chain_locales[i])
                return message
        self._report(key, "key", None)
        return None

    def _render(
        self, key: str, message: Message, params: Mapping[str, object], n: object = None
    ) -> str:
        if type(message) is Template:
            # PERF: the common case, no plural and often no placeholders at all.
            if not message.names:
                return message.text
            return message.render(params, self._number_formatter(), self._report, key)
        assert not isinstance(message, Template)
        count = as_count(params.get("count") if n is None else n)
        if count is None:
            self._report(key, "count", None)
            template = message.default
        else:
            template = message.select(count)
        return template.render(params, self._number_formatter(), self._report, key)

    def _fallback(self, key: str, text: str, params: Mapping[str, object]) -> str:
        if not params or "{" not in text:
            return text
        try:
            template = Template(text)
        except TemplateSyntaxError:
            return text
        return template.render(params, self._number_formatter(), self._report, key)

    def _report(self, key: str, kind: MissingKind, detail: str | None) -> None:
        shown = key.replace(CONTEXT_SEPARATOR, " | ")
        self._i18n._report(MissingTranslation(self.locale, shown, kind, detail))

    def _number_formatter(self) -> Callable[[Number], str] | None:
        return self._format_number if self._i18n.format_numbers else None

    def _format_number(self, value: Number) -> str:
        # PERF: Babel formats a number in ~4 us; small integers (most counts) are memoised.
        if type(value) is int and 0 <= value < 1024:
            cached = self._numbers.get(value)
            if cached is None:
                cached = self._numbers[value] = _numbers.format_decimal(
                    value, locale=self.babel_locale
                )
            return cached
        return str(_numbers.format_decimal(value, locale=self.babel_locale))

    # -- formatting ---------------------------------------------------------------------------

    def format_decimal(
        self, number: Number, format: str | None = None, *, decimal_quantization: bool = True
    ) -> str:
        """Format a number with the locale's digits, separators and grouping.

        Args:
            number: The number.
            format: An LDML number pattern (``"#,##0.00"``), or ``None`` for the locale default.
            decimal_quantization: Round to the pattern's precision (``False`` keeps every digit).

        Returns:
            E.g. ``"1,234.5"`` (en), ``"1 234,5"`` (fr).
        """
        return str(
            _numbers.format_decimal(
                number,
                format=format,
                locale=self.babel_locale,
                decimal_quantization=decimal_quantization,
            )
        )

    format_number = format_decimal

    def format_percent(self, number: Number, format: str | None = None) -> str:
        """Format a ratio as a percentage (``0.25`` -> ``"25%"``, ``"25 %"`` in French).

        Args:
            number: The ratio.
            format: An LDML pattern, or ``None``.

        Returns:
            The text.
        """
        return str(_numbers.format_percent(number, format=format, locale=self.babel_locale))

    def format_currency(
        self,
        number: Number,
        currency: str,
        format: str | None = None,
        *,
        format_type: Literal["name", "standard", "accounting"] = "standard",
        currency_digits: bool = True,
    ) -> str:
        """Format an amount of money (``"€1,234.50"`` in en, ``"1 234,50 €"`` in fr).

        Args:
            number: The amount.
            currency: An ISO 4217 code such as ``"EUR"``.
            format: An LDML pattern, or ``None``.
            format_type: ``"standard"``, ``"accounting"`` or ``"name"`` (``"1.00 US dollars"``).
            currency_digits: Use the currency's own number of decimals (0 for JPY).

        Returns:
            The text.
        """
        return str(
            _numbers.format_currency(
                number,
                currency,
                format=format,
                locale=self.babel_locale,
                format_type=format_type,
                currency_digits=currency_digits,
            )
        )

    def format_compact(
        self,
        number: Number,
        *,
        format_type: Literal["short", "long"] = "short",
        fraction_digits: int = 0,
    ) -> str:
        """Format a number compactly (``"1.2K"``, ``"1,2 k"``, ``"1.2 thousand"``).

        Args:
            number: The number.
            format_type: ``"short"`` or ``"long"``.
            fraction_digits: Decimals to keep.

        Returns:
            The text.
        """
        return str(
            _numbers.format_compact_decimal(
                number,
                format_type=format_type,
                locale=self.babel_locale,
                fraction_digits=fraction_digits,
            )
        )

    def format_date(self, date: dt.date | None = None, format: str = "medium") -> str:
        """Format a date (``"Jan 5, 2025"`` in en, ``"5 janv. 2025"`` in fr).

        Args:
            date: The date (a datetime uses its date part); ``None`` for today.
            format: ``"short"``, ``"medium"``, ``"long"``, ``"full"`` or an LDML pattern.

        Returns:
            The text.
        """
        return str(_dates.format_date(date, format=format, locale=self.babel_locale))

    def format_time(
        self,
        time: dt.time | dt.datetime | None = None,
        format: str = "medium",
        tzinfo: dt.tzinfo | None = None,
    ) -> str:
        """Format a time of day (``"3:30:00 PM"`` in en, ``"15:30:00"`` in fr).

        Args:
            time: The time or datetime; ``None`` for now.
            format: ``"short"``, ``"medium"``, ``"long"``, ``"full"`` or an LDML pattern.
            tzinfo: Convert an aware datetime to this zone first.

        Returns:
            The text.
        """
        return str(_dates.format_time(time, format=format, tzinfo=tzinfo, locale=self.babel_locale))

    def format_datetime(
        self,
        datetime: dt.datetime | None = None,
        format: str = "medium",
        tzinfo: dt.tzinfo | None = None,
    ) -> str:
        """Format a date and time.

        Args:
            datetime: The datetime; ``None`` for now.
            format: ``"short"``, ``"medium"``, ``"long"``, ``"full"`` or an LDML pattern.
            tzinfo: Convert an aware datetime to this zone first.

        Returns:
            The text.
        """
        return str(
            _dates.format_datetime(datetime, format=format, tzinfo=tzinfo, locale=self.babel_locale)
        )

    def format_timedelta(
        self,
        delta: dt.timedelta | int | float,
        *,
        granularity: Literal["year", "month", "week", "day", "hour", "minute", "second"] = "second",
        threshold: float = 0.85,
        add_direction: bool = False,
        format: Literal["narrow", "short", "long"] = "long",
    ) -> str:
        """Format a duration in the largest sensible unit (``"3 days"``, ``"3 jours"``).

        Args:
            delta: The duration (seconds if a number).
            granularity: The smallest unit to show.
            threshold: How close to the next unit counts as that unit (0.85 -> 22h = "1 day").
            add_direction: Say ``"in 3 days"`` / ``"3 days ago"`` (by the sign of ``delta``).
            format: ``"long"``, ``"short"`` or ``"narrow"``.

        Returns:
            The text.
        """
        return str(
            _dates.format_timedelta(
                dt.timedelta(seconds=delta) if isinstance(delta, float) else delta,
                granularity=granularity,
                threshold=threshold,
                add_direction=add_direction,
                format=format,
                locale=self.babel_locale,
            )
        )

    def format_relative(
        self,
        when: dt.datetime | dt.timedelta,
        now: dt.datetime | None = None,
        *,
        granularity: Literal["year", "month", "week", "day", "hour", "minute", "second"] = "second",
        format: Literal["narrow", "short", "long"] = "long",
    ) -> str:
        """Format a moment relative to now (``"in 2 hours"``, ``"il y a 3 jours"``).

        Args:
            when: A datetime, or an offset from now (negative = past).
            now: The reference moment; defaults to the current time in ``when``'s zone.
            granularity: The smallest unit to show.
            format: ``"long"``, ``"short"`` or ``"narrow"``.

        Returns:
            The text.
        """
        if isinstance(when, dt.timedelta):
            delta = when
        else:
            delta = when - (now if now is not None else dt.datetime.now(when.tzinfo))
        return self.format_timedelta(
            delta, granularity=granularity, add_direction=True, format=format
        )

    def format_list(
        self,
        items: Iterable[str],
        style: Literal[
            "standard", "standard-short", "or", "or-short", "unit", "unit-short", "unit-narrow"
        ] = "standard",
    ) -> str:
        """Join items the locale's way (``"a, b, and c"``, ``"a, b et c"``).

        Args:
            items: The strings.
            style: ``"standard"`` (and), ``"or"``, ``"unit"`` and their short forms.

        Returns:
            The text.
        """
        return str(_lists.format_list(list(items), style=style, locale=self.babel_locale))
