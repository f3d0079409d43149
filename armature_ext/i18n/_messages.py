"""Compiled message templates: safe ``{name}`` interpolation and plural selection.

Messages are parsed once, when a catalog is loaded, into a tuple of literal strings and
:class:`_Field` placeholders; rendering a message per request is then a loop over that tuple
with no parsing, and a message without placeholders renders as its stored string.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Final, Literal

from babel.core import Locale

__all__ = [
    "PLURAL_CATEGORIES",
    "CategoryPlural",
    "GettextPlural",
    "Message",
    "PluralRule",
    "Report",
    "ReportKind",
    "Template",
    "TemplateSyntaxError",
    "as_count",
]

#: The six CLDR plural categories, in CLDR order.
PLURAL_CATEGORIES: Final = ("zero", "one", "two", "few", "many", "other")

_CONVERSIONS: Final = frozenset({"s", "r"})
_PARSER: Final = string.Formatter()

#: ``report(key, kind, detail)`` is called by ``render`` for each problem it works around.
ReportKind = Literal["placeholder", "format"]
Report = Callable[[str, ReportKind, str], None]
#: Formats a number for display (the translator's locale-aware ``format_decimal``).
NumberFormatter = Callable[[int | float | Decimal], str]


class TemplateSyntaxError(ValueError):
    """A message text is not a valid ``{name}`` template (raised while loading a catalog)."""


class _Field:
    """One ``{name!conv:spec}`` placeholder of a compiled template."""

    __slots__ = ("conversion", "name", "spec", "text")

    def __init__(self, name: str, spec: str, conversion: str | None, text: str) -> None:
        self.name = name
        self.spec = spec
        self.conversion = conversion
        # NOTE: the placeholder exactly as written, emitted verbatim when its value is missing.
        self.text = text


def _field_text(name: str, spec: str, conversion: str | None) -> str:
    conv = f"!{conversion}" if conversion else ""
    fmt = f":{spec}" if spec else ""
    return "{" + name + conv + fmt + "}"


class Template:
    """A message text compiled into literal parts and named placeholders.

    Args:
        text: The message, with ``{name}`` placeholders; ``{{`` and ``}}`` are literal braces.
            Placeholders must be plain identifiers, optionally with a ``!s``/``!r`` conversion and
            a format spec (``{price:.2f}``); attribute access, indexing and positional fields are
            rejected so that a catalog cannot reach into the objects passed to it.

    Raises:
        TemplateSyntaxError: If the text is not a valid template.
    """

    __slots__ = ("names", "parts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        parts: list[str | _Field] = []
        try:
            parsed = list(_PARSER.parse(text))
        except ValueError as exc:
            raise TemplateSyntaxError(
                f"invalid placeholder syntax ({exc}); use {{{{ and }}}} for literal braces"
            ) from None
        for literal, name, spec, conversion in parsed:
            if literal:
                parts.append(literal)
            if name is None:
                continue
            if not name.isidentifier():
                shown = "{" + name + "}"
                raise TemplateSyntaxError(
                    f"placeholder {shown!r} must be a plain name such as {{count}}"
                )
            if conversion is not None and conversion not in _CONVERSIONS:
                raise TemplateSyntaxError(f"placeholder {{{name}}}: conversion must be !s or !r")
            spec = spec or ""
            if "{" in spec or "}" in spec:
                raise TemplateSyntaxError(
                    f"placeholder {{{name}}}: nested placeholders in a "
                    "format spec are not supported"
                )
            parts.append(_Field(name, spec, conversion, _field_text(name, spec, conversion)))
        # PERF: adjacent literals are merged so rendering touches as few parts as possible.
        merged: list[str | _Field] = []
        for part in parts:
            if isinstance(part, str) and merged and isinstance(merged[-1], str):
                merged[-1] += part
            else:
                merged.append(part)
        self.parts: tuple[str | _Field, ...] = tuple(merged)
        self.names: frozenset[str] = frozenset(p.name for p in merged if isinstance(p, _Field))

    def render(
        self,
        params: Mapping[str, object],
        number: NumberFormatter | None,
        report: Report,
        key: str,
    ) -> str:
        """Substitute ``params`` into the template.

        Args:
            params: Values for the placeholders; extra values are ignored.
            number: Formats ``int``/``float``/``Decimal`` values that have no format spec or
                conversion (locale-aware digits and grouping); ``None`` uses ``str()``.
            report: Called as ``report(key, "placeholder", name)`` for a missing value and
                ``report(key, "format", name)`` for a value its format spec rejects; the
                placeholder is then left as written (or the value shown with ``str()``) instead
                of raising.
            key: The message key, passed on to ``report``.

        Returns:
            The rendered text.
        """
        if not self.names:
            return self.text
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            try:
                value = params[part.name]
            except KeyError:
                report(key, "placeholder", part.name)
                out.append(part.text)
                continue
            out.append(_format_value(value, part, number, report, key))
        return "".join(out)


def _format_value(
    value: object, field: _Field, number: NumberFormatter | None, report: Report, key: str
) -> str:
    if field.conversion is None and not field.spec:
        # NOTE: bool is an int but reads better as True/False than as 1/0.
        if (
            number is not None
            and isinstance(value, int | float | Decimal)
            and type(value) is not bool
        ):
            return number(value)
        return value if type(value) is str else str(value)
    if field.conversion == "r":
        value = repr(value)
    elif field.conversion == "s":
        value = str(value)
    try:
        return format(value, field.spec)
    except (ValueError, TypeError):
        report(key, "format", field.name)
        return str(value)


def as_count(value: object) -> int | float | Decimal | None:
    """Return ``value`` if it can select a plural form (a real number, not a bool), else None.

    Args:
        value: The ``count`` passed to a translation.

    Returns:
        The number, or ``None``.
    """
    if isinstance(value, int | float | Decimal) and type(value) is not bool:
        return value
    return None


class PluralRule:
    """A locale's CLDR plural rule (Babel's ``Locale.plural_form``) with a small result cache.

    Args:
        locale: The Babel locale whose rule to use.
    """

    __slots__ = ("_cache", "_rule", "categories")

    def __init__(self, locale: Locale) -> None:
        self._rule: Callable[[int | float | Decimal], str] = locale.plural_form
        self.categories: frozenset[str] = frozenset(locale.plural_form.tags) | {"other"}
        self._cache: dict[int, str] = {}

    def __call__(self, n: int | float | Decimal) -> str:
        """Return the CLDR category (``zero``/``one``/``two``/``few``/``many``/``other``) of n.

        Args:
            n: The number.

        Returns:
            The plural category.
        """
        # PERF: Babel evaluates the rule in ~5 us; counts are mostly small integers, so those are
        # memoised (bounded: only 0 <= n < 1024).
        if type(n) is int and 0 <= n < 1024:
            cached = self._cache.get(n)
            if cached is None:
                cached = self._cache[n] = self._rule(n)
            return cached
        return self._rule(n)


class CategoryPlural:
    """A plural message keyed by CLDR category (JSON catalogs), with optional exact ``=N`` forms.

    Args:
        forms: Templates by category; must contain ``other``.
        exact: Templates for exact integer counts (``"=0": "No items"``), checked first.
        rule: The plural rule of the catalog's locale.
    """

    __slots__ = ("exact", "forms", "rule")

    def __init__(
        self, forms: Mapping[str, Template], exact: Mapping[int, Template], rule: PluralRule
    ) -> None:
        self.forms = dict(forms)
        self.exact = dict(exact)
        self.rule = rule

    def select(self, count: int | float | Decimal) -> Template:
        """Pick the form for ``count``.

        Args:
            count: The number the message is about.

        Returns:
            The exact ``=N`` form if one matches, else the form of count's CLDR category, else
            the ``other`` form.
        """
        if self.exact and count == int(count):
            hit = self.exact.get(int(count))
            if hit is not None:
                return hit
        form = self.forms.get(self.rule(count))
        return form if form is not None else self.forms["other"]

    @property
    def default(self) -> Template:
        """The ``other`` form, used when no usable count is given."""
        return self.forms["other"]


class GettextPlural:
    """A gettext plural message (``msgid_plural``), indexed by the catalog's Plural-Forms rule.

    Args:
        forms: ``msgstr[0]``, ``msgstr[1]``, ... as templates.
        index: The compiled ``plural=`` expression of the catalog (count -> form index).
    """

    __slots__ = ("forms", "index")

    def __init__(self, forms: tuple[Template, ...], index: Callable[[int], int]) -> None:
        self.forms = forms
        self.index = index

    def select(self, count: int | float | Decimal) -> Template:
        """Pick the form for ``count`` (gettext rules take integers: ``abs(int(count))``).

        Args:
            count: The number the message is about.

        Returns:
            The selected form (the last one if the rule yields an index out of range).
        """
        i = self.index(abs(int(count)))
        return self.forms[i] if 0 <= i < len(self.forms) else self.forms[-1]

    @property
    def default(self) -> Template:
        """The last form (gettext's most general one), used when no usable count is given."""
        return self.forms[-1]


#: What a catalog stores per key.
Message = Template | CategoryPlural | GettextPlural
