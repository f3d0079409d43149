"""Message catalogs: loading JSON and gettext ``.po``/``.mo`` files into compiled templates."""

from __future__ import annotations

import gettext
import io
import json
import re
import struct
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from babel.core import Locale
from babel.messages import mofile, pofile
from babel.messages.catalog import Catalog as _BabelCatalog

from ._messages import (
    PLURAL_CATEGORIES,
    CategoryPlural,
    GettextPlural,
    Message,
    PluralRule,
    Template,
    TemplateSyntaxError,
)
from ._tags import babel_locale, normalize_tag

__all__ = ["CONTEXT_SEPARATOR", "Catalog", "CatalogError", "load_directory"]

#: Joins a gettext ``msgctxt`` and ``msgid`` into one catalog key (the gettext convention).
CONTEXT_SEPARATOR: Final = "\x04"
_EXACT = re.compile(r"=(0|[1-9][0-9]{0,8})\Z")
_PLURAL_KEYS: Final = frozenset(PLURAL_CATEGORIES)
_SUFFIXES: Final = (".json", ".po", ".mo")


class CatalogError(ValueError):
    """A catalog could not be loaded; the message names the file, the key and the line if known.

    Args:
        message: What is wrong.
        path: The file (or ``"<dict>"`` for in-memory messages).
        key: The message key concerned, if any.
        line: The 1-based line number, if known.

    Attributes:
        path: As given.
        key: As given.
        line: As given.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        key: str | None = None,
        line: int | None = None,
    ) -> None:
        self.path = path
        self.key = key
        self.line = line
        where = path or "<catalog>"
        if line is not None:
            where += f":{line}"
        subject = f"key {_show_key(key)}: " if key is not None else ""
        super().__init__(f"{where}: {subject}{message}")


def _show_key(key: str) -> str:
    return repr(key.replace(CONTEXT_SEPARATOR, " | "))


_plural_rules: dict[str, PluralRule] = {}


def _plural_rule(locale: Locale) -> PluralRule:
    # NOTE: one shared rule (and memo) per Babel locale for every catalog of that locale.
    key = str(locale)
    rule = _plural_rules.get(key)
    if rule is None:
        rule = _plural_rules[key] = PluralRule(locale)
    return rule


class Catalog:
    """The messages of one locale: flat keys (``"section.key"``) to compiled messages.

    Build one with :meth:`from_mapping` or :meth:`load` (``.json``, ``.po`` or ``.mo``), or let
    :meth:`I18n.load_directory <armature_ext.i18n.I18n.load_directory>` do it.

    Args:
        locale: A language tag Babel has data for (``"fr"``, ``"pt-BR"``, ``"zh_Hant"``), or for
            one of its truncations (``"en-XX"`` uses ``en`` rules).

    Raises:
        CatalogError: If the tag is invalid or unknown to Babel.
    """

    __slots__ = ("babel_locale", "locale", "messages", "origins", "plural_rule")

    def __init__(self, locale: str, *, source: str | None = None) -> None:
        tag = normalize_tag(locale)
        if tag is None:
            raise CatalogError(f"{locale!r} is not a valid language tag", path=source)
        babel = babel_locale(tag)
        if babel is None:
            raise CatalogError(f"unknown locale {locale!r} (Babel has no data for it)", path=source)
        self.locale: str = tag
        self.babel_locale: Locale = babel
        self.plural_rule: PluralRule = _plural_rule(babel)
        self.messages: dict[str, Message] = {}
        #: Where each key was defined (a file path or ``"<dict>"``), for error messages.
        self.origins: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"<Catalog {self.locale} ({len(self.messages)} messages)>"

    def __len__(self) -> int:
        return len(self.messages)

    def __contains__(self, key: object) -> bool:
        return key in self.messages

    def __iter__(self) -> Iterator[str]:
        return iter(self.messages)

    def add(self, key: str, message: Message, origin: str) -> None:
        """Add one compiled message.

        Args:
            key: The flat key.
            message: The compiled message.
            origin: Where it comes from, for error messages.

        Raises:
            CatalogError: If the key is already defined.
        """
        previous = self.origins.get(key)
        if previous is not None:
            also = "" if previous == origin else f" (also defined in {previous})"
            raise CatalogError(f"defined twice{also}", path=origin, key=key)
        self.messages[key] = message
        self.origins[key] = origin

    def update(self, other: Catalog) -> None:
        """Merge another catalog of the same locale into this one.

        Args:
            other: The catalog to merge.

        Raises:
            CatalogError: If a key is defined in both, or the locales differ.
        """
        if other.locale != self.locale:
            raise CatalogError(f"cannot merge a {other.locale} catalog into {self.locale}")
        for key, message in other.messages.items():
            self.add(key, message, other.origins[key])

    @classmethod
    def from_mapping(
        cls, locale: str, data: Mapping[str, Any], *, source: str = "<dict>"
    ) -> Catalog:
        """Build a catalog from nested mappings, exactly as a JSON catalog is read.

        Strings are messages; a mapping whose keys are all CLDR plural categories (``zero``,
        ``one``, ``two``, ``few``, ``many``, ``other``) or exact counts (``"=0"``) is a plural
        message and must have ``other``; any other mapping is a section whose keys are joined
        with dots (``{"nav": {"home": "Home"}}`` defines ``"nav.home"``).

        Args:
            locale: The language tag.
            data: The messages.
            source: Named in error messages.

        Returns:
            The catalog.

        Raises:
            CatalogError: On a non-string value, a plural without ``other``, an empty section,
                invalid placeholder syntax or a key defined twice.
        """
        catalog = cls(locale, source=source)
        catalog._add_tree(data, "", source)
        return catalog

    def _add_tree(self, data: Mapping[str, Any], prefix: str, source: str) -> None:
        dupes = getattr(data, "duplicates", None)
        if dupes:
            raise CatalogError(
                "defined twice in the same object", path=source, key=_join(prefix, dupes[0])
            )
        for name, value in data.items():
            key = _join(prefix, name)
            if not isinstance(name, str) or not name:
                raise CatalogError("keys must be non-empty strings", path=source, key=key)
            if isinstance(value, str):
                self.add(key, _template(value, source, key), source)
            elif isinstance(value, Mapping):
                if not value:
                    raise CatalogError(
                        "empty object (expected messages or plural forms)", path=source, key=key
                    )
                if all(
                    isinstance(k, str) and (k in _PLURAL_KEYS or _EXACT.match(k)) for k in value
                ):
                    self.add(key, self._plural(value, source, key), source)
                else:
                    self._add_tree(value, key, source)
            else:
                raise CatalogError(
                    f"value must be a string, a plural object or a nested object, not "
                    f"{_json_type(value)}",
                    path=source,
                    key=key,
                )

    def _plural(self, value: Mapping[str, Any], source: str, key: str) -> CategoryPlural:
        if "other" not in value:
            raise CatalogError(
                f"plural object has no 'other' form (it has {', '.join(value)}); 'other' is "
                "required as the fallback for every count",
                path=source,
                key=key,
            )
        forms: dict[str, Template] = {}
        exact: dict[int, Template] = {}
        for form, text in value.items():
            if not isinstance(text, str):
                raise CatalogError(
                    f"plural form must be a string, not {_json_type(text)}",
                    path=source,
                    key=f"{key}.{form}",
                )
            template = _template(text, source, f"{key}.{form}")
            if form.startswith("="):
                exact[int(form[1:])] = template
            else:
                forms[form] = template
        return CategoryPlural(forms, exact, self.plural_rule)

    @classmethod
    def load(cls, path: str | Path, locale: str | None = None) -> Catalog:
        """Load a ``.json``, ``.po`` or ``.mo`` file.

        Args:
            path: The file.
            locale: The language tag; defaults to the file name without suffix (``fr-CA.json``)
                or, for ``<locale>/LC_MESSAGES/<domain>.po``, the locale directory's name.

        Returns:
            The catalog.

        Raises:
            CatalogError: If the file cannot be read or parsed, or a message is invalid.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if locale is None:
            locale = path.parent.parent.name if path.parent.name == "LC_MESSAGES" else path.stem
        if suffix == ".json":
            return cls._from_json(path, locale)
        if suffix in (".po", ".mo"):
            return cls._from_gettext(path, locale, mo=suffix == ".mo")
        raise CatalogError("unsupported catalog type (expected .json, .po or .mo)", path=str(path))

    @classmethod
    def _from_json(cls, path: Path, locale: str) -> Catalog:
        source = str(path)
        data = _read(path)
        try:
            tree = json.loads(data, object_pairs_hook=_JsonObject.from_pairs)
        except json.JSONDecodeError as exc:
            raise CatalogError(
                f"invalid JSON: {exc.msg} (column {exc.colno})", path=source, line=exc.lineno
            ) from None
        except UnicodeDecodeError as exc:
            raise CatalogError(
                f"not valid UTF-8 ({exc.reason} at byte {exc.start})", path=source
            ) from None
        except RecursionError:
            raise CatalogError("JSON nested too deeply", path=source) from None
        if not isinstance(tree, Mapping):
            raise CatalogError(f"top level must be an object, not {_json_type(tree)}", path=source)
        return cls.from_mapping(locale, tree, source=source)

    @classmethod
    def _from_gettext(cls, path: Path, locale: str, *, mo: bool) -> Catalog:
        source = str(path)
        catalog = cls(locale, source=source)
        data = _read(path)
        try:
            if mo:
                babel_catalog = mofile.read_mo(io.BytesIO(data))
            else:
                babel_catalog = pofile.read_po(
                    io.BytesIO(data), locale=catalog.babel_locale, abort_invalid=True
                )
        except pofile.PoFileError as exc:
            raise CatalogError(f"invalid .po file: {exc}", path=source) from None
        except UnicodeDecodeError as exc:
            raise CatalogError(
                f"cannot decode the file ({exc.reason} at byte {exc.start}); "
                "check its Content-Type charset",
                path=source,
            ) from None
        except (OSError, ValueError, LookupError, struct.error) as exc:
            kind = ".mo" if mo else ".po"
            raise CatalogError(f"not a valid {kind} file ({exc})", path=source) from None
        catalog._add_gettext(babel_catalog, source)
        return catalog

    def _add_gettext(self, babel_catalog: _BabelCatalog, source: str) -> None:
        index: Callable[[int], int] | None = None
        for entry in babel_catalog:
            if not entry.id or entry.fuzzy:
                continue
            ids = entry.id
            strings = entry.string
            context = entry.context
            if isinstance(context, bytes):  # NOTE: Babel's .mo reader returns bytes contexts.
                context = context.decode(babel_catalog.charset or "utf-8")
            singular = ids if isinstance(ids, str) else ids[0]
            key = f"{context}{CONTEXT_SEPARATOR}{singular}" if context else singular
            line = getattr(entry, "lineno", None)
            if isinstance(ids, str):
                if not isinstance(strings, str) or not strings:
                    continue  # untranslated
                self.add(key, _template(strings, source, key, line), source)
                continue
            forms = [strings] if isinstance(strings, str) else list(strings or ())
            if not any(forms):
                continue  # untranslated: the source text is used instead
            if index is None:
                index = _gettext_rule(babel_catalog, source)
            expected = babel_catalog.num_plurals
            empty = [i for i, form in enumerate(forms) if not form]
            if empty or len(forms) != expected:
                detail = f"msgstr[{empty[0]}] is empty" if empty else f"has {len(forms)} forms"
                raise CatalogError(
                    f"incomplete plural entry: {detail} but the catalog's Plural-Forms declares "
                    f"nplurals={expected}",
                    path=source,
                    key=key,
                    line=line,
                )
            self.add(
                key,
                GettextPlural(tuple(_template(f, source, key, line) for f in forms), index),
                source,
            )


def _gettext_rule(babel_catalog: _BabelCatalog, source: str) -> Callable[[int], int]:
    expr = babel_catalog.plural_expr
    try:
        # NOTE: gettext.c2py is the stdlib's safe compiler for C plural expressions (it is what
        # gettext.GNUTranslations uses); it only accepts n, integers and C operators.
        return gettext.c2py(expr)
    except (ValueError, SyntaxError, RecursionError) as exc:
        raise CatalogError(
            f"invalid Plural-Forms expression {expr!r} ({exc})", path=source
        ) from None


def _template(text: str, source: str, key: str, line: int | None = None) -> Template:
    try:
        return Template(text)
    except TemplateSyntaxError as exc:
        raise CatalogError(str(exc), path=source, key=key, line=line) from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CatalogError(f"cannot read the catalog file ({reason})", path=str(path)) from None


def _join(prefix: str, name: object) -> str:
    return f"{prefix}.{name}" if prefix else str(name)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


class _JsonObject(dict[str, Any]):
    """A JSON object that remembers keys it saw twice (``json`` silently keeps the last)."""

    __slots__ = ("duplicates",)

    def __init__(self) -> None:
        super().__init__()
        self.duplicates: list[str] = []

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, Any]]) -> _JsonObject:
        obj = cls()
        for key, value in pairs:
            if key in obj:
                obj.duplicates.append(key)
            obj[key] = value
        return obj


def load_directory(directory: str | Path, *, domain: str = "messages") -> list[Catalog]:
    """Load every catalog in a directory.

    Recognised layouts (any mix): ``<dir>/<locale>.json``, ``<dir>/<locale>.po``,
    ``<dir>/<locale>.mo`` and gettext's ``<dir>/<locale>/LC_MESSAGES/<domain>.po|.mo``. When a
    ``.po`` and a ``.mo`` of the same catalog both exist, only the compiled ``.mo`` is read.
    Files with other suffixes (``.pot``, ``README``) are ignored.

    Args:
        directory: The locales directory.
        domain: The gettext domain (file name) in ``LC_MESSAGES`` directories.

    Returns:
        The catalogs, one per file, in file-name order (several may share a locale).

    Raises:
        CatalogError: If the directory is missing or any catalog fails to load.
    """
    root = Path(directory)
    if not root.is_dir():
        raise CatalogError("catalog directory not found", path=str(root))
    found: list[Path] = []
    for entry in sorted(root.iterdir()):
        if entry.is_dir():
            messages = entry / "LC_MESSAGES"
            for suffix in (".mo", ".po"):
                candidate = messages / f"{domain}{suffix}"
                if candidate.is_file():
                    found.append(candidate)
                    break
        elif entry.suffix.lower() in _SUFFIXES:
            if entry.suffix.lower() == ".po" and entry.with_suffix(".mo").is_file():
                continue
            found.append(entry)
    return [Catalog.load(path) for path in found]
