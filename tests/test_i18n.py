"""armature_ext.i18n: catalogs (JSON, .po, .mo), plurals, interpolation, fallback and formatting."""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import anyio
import pytest
from babel import Locale
from babel.messages import mofile, pofile

from armature_ext.i18n import (
    Catalog,
    CatalogError,
    I18n,
    MissingTranslation,
    MissingTranslationError,
    NoActiveLocaleError,
    get_locale,
    get_translator,
    ngettext,
    t,
)

DATA = Path(__file__).parent / "data" / "i18n"
LOCALES = DATA / "locales"
BAD = DATA / "bad"
REPO = Path(__file__).resolve().parent.parent

ALL_FORMS = {c: c for c in ("zero", "one", "two", "few", "many", "other")}


@pytest.fixture
def i18n() -> I18n:
    return I18n("en", directory=LOCALES)


# -- the extra is optional -------------------------------------------------------------------


def test_import_without_babel_names_the_extra() -> None:
    code = textwrap.dedent(
        """
        import sys
        from importlib.abc import MetaPathFinder

        class HideBabel(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "babel" or name.startswith("babel."):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, HideBabel())
        try:
            import armature_ext.i18n
        except ImportError as exc:
            print("ImportError:", exc)
            sys.exit(3)
        sys.exit(0)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "pip install armature[i18n]" in proc.stdout
    assert "Babel" in proc.stdout


# -- plural rules (CLDR categories checked against the CLDR tables) ---------------------------

CLDR_CASES = [
    # English: one for exactly 1 (integer), other otherwise.
    ("en", 0, "other"),
    ("en", 1, "one"),
    ("en", 2, "other"),
    ("en", 21, "other"),
    ("en", Decimal("1.0"), "other"),
    # French: 0 and 1 (and 1.5: i=1) are one; millions are many.
    ("fr", 0, "one"),
    ("fr", 1, "one"),
    ("fr", 1.5, "one"),
    ("fr", 2, "other"),
    ("fr", 1_000_000, "many"),
    # Russian.
    ("ru", 1, "one"),
    ("ru", 2, "few"),
    ("ru", 4, "few"),
    ("ru", 5, "many"),
    ("ru", 11, "many"),
    ("ru", 12, "many"),
    ("ru", 21, "one"),
    ("ru", 22, "few"),
    ("ru", 111, "many"),
    ("ru", 1.5, "other"),
    # Polish.
    ("pl", 0, "many"),
    ("pl", 1, "one"),
    ("pl", 2, "few"),
    ("pl", 5, "many"),
    ("pl", 12, "many"),
    ("pl", 21, "many"),
    ("pl", 22, "few"),
    ("pl", 25, "many"),
    ("pl", 1.5, "other"),
    # Arabic: all six categories.
    ("ar", 0, "zero"),
    ("ar", 1, "one"),
    ("ar", 2, "two"),
    ("ar", 3, "few"),
    ("ar", 10, "few"),
    ("ar", 11, "many"),
    ("ar", 99, "many"),
    ("ar", 100, "other"),
    ("ar", 102, "other"),
    ("ar", 103, "few"),
    ("ar", 111, "many"),
    # Japanese: no plural distinctions.
    ("ja", 0, "other"),
    ("ja", 1, "other"),
    ("ja", 2, "other"),
    ("ja", 1000, "other"),
]


@pytest.mark.parametrize(("locale", "n", "category"), CLDR_CASES)
def test_plural_categories_follow_cldr(locale: str, n: int, category: str) -> None:
    i18n = I18n("en")
    i18n.add_messages(locale, {"form": ALL_FORMS})
    translator = i18n.translator(locale)
    assert translator.plural_category(n) == category
    assert translator.t("form", count=n) == category
    assert not i18n.missing


def test_plural_cache_does_not_mix_locales() -> None:
    i18n = I18n("en")
    for locale in ("en", "ru", "ar"):
        i18n.add_messages(locale, {"form": ALL_FORMS})
    seen = {
        loc: [i18n.translator(loc).t("form", count=n) for n in (0, 1, 2, 5)]
        for loc in ("en", "ru", "ar", "en")
    }
    assert seen["en"] == ["other", "one", "other", "other"]
    assert seen["ru"] == ["many", "one", "few", "many"]
    assert seen["ar"] == ["zero", "one", "two", "few"]


def test_missing_category_falls_back_to_other() -> None:
    i18n = I18n("en")
    i18n.add_messages("ru", {"files": {"one": "{count} файл", "other": "{count} файла(ов)"}})
    tr = i18n.translator("ru")
    assert tr.t("files", count=21) == "21 файл"
    assert tr.t("files", count=5) == "5 файла(ов)"


def test_exact_count_forms_win_over_categories(i18n: I18n) -> None:
    en = i18n.translator("en")
    assert en.t("items", count=0) == "No items"
    assert en.t("items", count=1) == "1 item"
    assert en.t("items", count=Decimal("0")) == "No items"
    assert en.t("items", count=0.5) == "0.5 items"


def test_plural_without_count_uses_other_and_reports() -> None:
    i18n = I18n("en")
    i18n.add_messages("en", {"items": {"one": "one item", "other": "some items"}})
    tr = i18n.translator("en")
    assert tr.t("items") == "some items"
    assert tr.t("items", count="3") == "some items"
    assert tr.t("items", count=True) == "some items"
    assert {m.kind for m in i18n.missing} == {"count"}


# -- catalogs ---------------------------------------------------------------------------------


def test_directory_loads_json_and_gettext_layouts(i18n: I18n) -> None:
    assert set(i18n.locales) == {"en", "fr", "fr-CA", "ru"}
    assert len(i18n.catalogs["en"]) == 8
    fr = i18n.translator("fr")
    assert fr.t("nav.home") == "Accueil"
    assert fr.t("nav.account.settings") == "Paramètres"
    assert fr.t("greeting", name="Zoé") == "Bonjour, Zoé !"
    ru = i18n.translator("ru")
    assert ru.t("greeting", name="Аня") == "Привет, Аня!"
    assert not i18n.missing


def test_po_plurals_use_the_catalogs_plural_forms(i18n: I18n) -> None:
    ru = i18n.translator("ru")
    got = [ru.ngettext("{count} file", "{count} files", n) for n in (1, 2, 5, 11, 21, 22, 25)]
    assert got == [
        "1 файл",
        "2 файла",
        "5 файлов",
        "11 файлов",
        "21 файл",
        "22 файла",
        "25 файлов",
    ]
    # t() with count= reaches the same entry by its msgid.
    assert ru.t("{count} file", count=3) == "3 файла"


def test_po_context_fuzzy_and_untranslated_entries(i18n: I18n) -> None:
    ru = i18n.translator("ru")
    assert ru.pgettext("menu", "Open") == "Открыть"
    assert ru.pgettext("door", "Open") == "Открыто"
    assert ru.t("Save") == "Save"  # fuzzy entries are not used
    assert ru.t("Delete") == "Delete"  # empty msgstr means untranslated
    assert ru.pgettext("window", "Open") == "Open"
    assert MissingTranslation("ru", "window | Open", "key", None) in i18n.missing


def test_untranslated_ngettext_uses_source_text(i18n: I18n) -> None:
    en = i18n.translator("en")
    assert en.ngettext("{count} apple", "{count} apples", 1) == "1 apple"
    assert en.ngettext("{count} apple", "{count} apples", 3) == "3 apples"
    assert en.npgettext("fruit", "{count} pear", "{count} pears", 2) == "2 pears"


def _write_mo(po_path: Path, mo_path: Path, locale: str) -> None:
    with po_path.open("rb") as f:
        catalog = pofile.read_po(f, locale=locale)
    buf = io.BytesIO()
    mofile.write_mo(buf, catalog)
    mo_path.write_bytes(buf.getvalue())


def test_mo_catalog_matches_po(tmp_path: Path) -> None:
    po = LOCALES / "ru" / "LC_MESSAGES" / "messages.po"
    _write_mo(po, tmp_path / "ru.mo", "ru")
    catalog = Catalog.load(tmp_path / "ru.mo")
    assert catalog.locale == "ru"
    i18n = I18n("en")
    i18n.add_catalog(catalog)
    ru = i18n.translator("ru")
    assert ru.t("greeting", name="Аня") == "Привет, Аня!"
    assert [ru.ngettext("{count} file", "{count} files", n) for n in (1, 3, 5)] == [
        "1 файл",
        "3 файла",
        "5 файлов",
    ]
    assert ru.pgettext("menu", "Open") == "Открыть"
    assert ru.t("Save") == "Save"


def test_mo_preferred_over_po_with_same_name(tmp_path: Path) -> None:
    shutil.copy(LOCALES / "ru" / "LC_MESSAGES" / "messages.po", tmp_path / "ru.po")
    _write_mo(tmp_path / "ru.po", tmp_path / "ru.mo", "ru")
    # Edit the .po afterwards: the compiled .mo is what gets loaded.
    text = (tmp_path / "ru.po").read_text("utf-8").replace("Привет", "Здравствуй")
    (tmp_path / "ru.po").write_text(text, "utf-8")
    i18n = I18n("en", directory=tmp_path)
    assert i18n.translator("ru").t("greeting", name="A") == "Привет, A!"


def test_files_of_one_locale_merge_and_duplicates_name_both(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"a": "x"}', "utf-8")
    (tmp_path / "b.json").write_text('{"b": "y", "a": "z"}', "utf-8")
    i18n = I18n("en")
    i18n.load_file(tmp_path / "a.json", locale="fr")
    with pytest.raises(CatalogError) as err:
        i18n.load_file(tmp_path / "b.json", locale="fr")
    assert str(tmp_path / "a.json") in str(err.value)
    assert str(tmp_path / "b.json") in str(err.value)
    assert "'a'" in str(err.value)


@pytest.mark.parametrize(
    ("name", "key", "fragment"),
    [
        ("non_string.json", "nav.count", "not a number"),
        ("no_other.json", "cart.items", "no 'other' form"),
        ("plural_non_string.json", "items.other", "not an array"),
        ("bad_placeholder.json", "greeting", "plain name"),
        ("unbalanced.json", "greeting", "invalid placeholder syntax"),
        ("duplicate.json", "nav.home", "defined twice"),
        ("dotted_clash.json", "nav.home", "defined twice"),
        ("nplurals.po", "{count} file", "nplurals=3"),
    ],
)
def test_catalog_errors_name_file_and_key(name: str, key: str, fragment: str) -> None:
    with pytest.raises(CatalogError) as err:
        Catalog.load(BAD / name, locale="en")
    message = str(err.value)
    assert str(BAD / name) in message
    assert repr(key) in message
    assert fragment in message
    assert err.value.key == key
    assert err.value.path == str(BAD / name)


def test_invalid_json_reports_its_line() -> None:
    with pytest.raises(CatalogError) as err:
        Catalog.load(BAD / "invalid.json", locale="en")
    assert err.value.line == 6  # the "}" after the trailing comma
    assert f"{BAD / 'invalid.json'}:6:" in str(err.value)
    assert "invalid JSON" in str(err.value)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("array.json", "top level must be an object, not an array"),
        ("unreadable.po", "invalid .po file"),
        ("garbage.mo", "not a valid .mo file"),
    ],
)
def test_unparseable_files_are_named(name: str, fragment: str) -> None:
    with pytest.raises(CatalogError) as err:
        Catalog.load(BAD / name, locale="en")
    assert str(err.value).startswith(str(BAD / name))
    assert fragment in str(err.value)


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read the catalog file"):
        Catalog.load(tmp_path / "fr.json")
    (tmp_path / "de.po").mkdir()  # a directory where a file is expected
    with pytest.raises(CatalogError, match=r"de\.po: cannot read"):
        Catalog.load(tmp_path / "de.po")
    with pytest.raises(CatalogError, match="directory not found"):
        I18n("en", directory=tmp_path / "nope")
    (tmp_path / "it.json").write_bytes(b'{"a": "\xff"}')
    with pytest.raises(CatalogError, match="not valid UTF-8"):
        Catalog.load(tmp_path / "it.json")
    (tmp_path / "x.yaml").write_text("a: b", "utf-8")
    with pytest.raises(CatalogError, match="unsupported catalog type"):
        Catalog.load(tmp_path / "x.yaml", locale="en")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without permission bits")
def test_permission_denied_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "fr.po"
    path.write_text('msgid "a"\nmsgstr "b"\n', "utf-8")
    path.chmod(0)
    try:
        with pytest.raises(CatalogError, match="cannot read the catalog file"):
            Catalog.load(path)
    finally:
        path.chmod(0o600)


def test_unknown_and_invalid_locales() -> None:
    with pytest.raises(CatalogError, match="unknown locale 'xx'"):
        Catalog.from_mapping("xx", {"a": "b"})
    with pytest.raises(CatalogError, match="not a valid language tag"):
        Catalog.from_mapping("../etc", {"a": "b"})
    with pytest.raises(CatalogError, match="unknown default locale"):
        I18n("zz")
    # A region Babel lacks falls back to the language's data.
    assert Catalog.from_mapping("en-XX", {"a": "b"}).babel_locale == Locale("en")


def test_empty_sections_and_bad_keys() -> None:
    with pytest.raises(CatalogError, match=r"key 'nav': empty object"):
        Catalog.from_mapping("en", {"nav": {}})
    with pytest.raises(CatalogError, match="non-empty strings"):
        Catalog.from_mapping("en", {"nav": {"": "x"}})
    with pytest.raises(CatalogError, match="not null"):
        Catalog.from_mapping("en", {"a": None})


# -- interpolation ----------------------------------------------------------------------------


def test_missing_placeholder_is_reported_not_raised(i18n: I18n) -> None:
    en = i18n.translator("en")
    assert en.t("greeting") == "Hello, {name}!"
    assert MissingTranslation("en", "greeting", "placeholder", "name") in i18n.missing
    assert en.t("greeting", name="Ann", extra=1) == "Hello, Ann!"


def test_literal_braces_and_format_specs() -> None:
    i18n = I18n("en")
    i18n.add_messages("en", {"braces": "{{name}} is {name}", "spec": "{x:>5}|{y!r}|{z:.2f}"})
    en = i18n.translator("en")
    assert en.t("braces", name="n") == "{name} is n"
    assert en.t("spec", x="ab", y="q", z=1.5) == "   ab|'q'|1.50"
    assert en.t("spec", x="ab", y="q", z="nan") == "   ab|'q'|nan"
    assert MissingTranslation("en", "spec", "format", "z") in i18n.missing


def test_placeholders_cannot_reach_attributes() -> None:
    for text in ("{user.__class__}", "{items[0]}", "{0}", "{}", "{x:{y}}", "{x!a}"):
        with pytest.raises(CatalogError):
            Catalog.from_mapping("en", {"k": text})


def test_numbers_are_formatted_for_the_locale() -> None:
    i18n = I18n("en")
    i18n.add_messages("en", {"n": "{n}"})
    i18n.add_messages("fr", {"n": "{n}"})
    assert i18n.translator("en").t("n", n=1234567.5) == "1,234,567.5"
    assert i18n.translator("fr").t("n", n=1234567.5) == "1\u202f234\u202f567,5"
    assert i18n.translator("en").t("n", n=True) == "True"
    plain = I18n("en", format_numbers=False)
    plain.add_messages("fr", {"n": "{n}"})
    assert plain.translator("fr").t("n", n=1234.5) == "1234.5"


# -- fallback chain and missing-key reporting -------------------------------------------------


def test_fallback_chain(i18n: I18n) -> None:
    ca = i18n.translator("fr-CA")
    assert ca.t("nav.about") == "À propos de nous"  # exact locale
    assert ca.t("nav.home") == "Accueil"  # language
    assert ca.t("only_en") == "Only in English"  # default locale
    assert ca.t("no.such.key") == "no.such.key"  # the key itself
    assert i18n.missing == {
        MissingTranslation("fr-CA", "only_en", "key", "en"),
        MissingTranslation("fr-CA", "no.such.key", "key", None),
    }
    assert ca.has("nav.home") and not ca.has("only_en")


def test_unknown_locale_translator_falls_back_to_default(i18n: I18n) -> None:
    de = i18n.translator("de-AT")
    assert de.locale == "de-AT"
    assert de.t("nav.home") == "Home"
    assert de.format_decimal(1234.5) == "1.234,5"  # still formats as German
    assert i18n.translator("!!bad!!").locale == "en"
    assert i18n.translator(None).locale == "en"
    assert i18n.translator("fr") is i18n.translator("FR")


def test_on_missing_callback_sees_every_occurrence(i18n: I18n) -> None:
    seen: list[MissingTranslation] = []
    i18n.on_missing = seen.append
    fr = i18n.translator("fr")
    fr.t("only_en")
    fr.t("only_en")
    assert [str(m) for m in seen] == ["missing translation 'only_en' for fr (used en)"] * 2
    assert len(i18n.missing) == 1


def test_missing_set_is_bounded() -> None:
    i18n = I18n("en", max_missing=3)
    tr = i18n.translator("en")
    for i in range(10):
        assert tr.t(f"k{i}") == f"k{i}"
    assert len(i18n.missing) == 3


def test_strict_mode_raises() -> None:
    i18n = I18n("en", directory=LOCALES, strict=True)
    fr = i18n.translator("fr")
    assert fr.t("greeting", name="A") == "Bonjour, A !"
    with pytest.raises(MissingTranslationError) as err:
        fr.t("only_en")
    assert err.value.missing == MissingTranslation("fr", "only_en", "key", "en")
    with pytest.raises(MissingTranslationError, match=r"placeholder \{name\}"):
        fr.t("greeting")
    with pytest.raises(LookupError):
        fr.t("nope")


def test_catalogs_added_later_are_seen() -> None:
    i18n = I18n("en")
    assert i18n.translator("fr").t("a") == "a"
    i18n.add_messages("fr", {"a": "b"})
    assert i18n.translator("fr").t("a") == "b"


# -- the current translator -------------------------------------------------------------------


def test_module_level_t_needs_an_active_locale(i18n: I18n) -> None:
    with pytest.raises(NoActiveLocaleError, match="I18nMiddleware"):
        t("greeting")
    with pytest.raises(NoActiveLocaleError):
        get_locale()
    with i18n.use("fr") as fr:
        assert get_translator() is fr
        assert get_locale() == "fr"
        assert t("greeting", name="A") == "Bonjour, A !"
        with i18n.use("ru"):
            assert ngettext("{count} file", "{count} files", 2) == "2 файла"
        assert get_locale() == "fr"
    with pytest.raises(NoActiveLocaleError):
        t("greeting")


@pytest.mark.anyio
async def test_concurrent_tasks_keep_their_own_locale(i18n: I18n) -> None:
    results: dict[str, list[str]] = {}

    async def worker(locale: str) -> None:
        with i18n.use(locale):
            out = []
            for _ in range(5):
                out.append(t("nav.home"))
                await anyio.sleep(0)
            results[locale] = out

    async with anyio.create_task_group() as tg:
        for locale in ("en", "fr", "ru"):
            tg.start_soon(worker, locale)
    assert results == {"en": ["Home"] * 5, "fr": ["Accueil"] * 5, "ru": ["Home"] * 5}


# -- formatting -------------------------------------------------------------------------------


def test_number_formatting() -> None:
    i18n = I18n("en")
    en, fr, ru, ja = (i18n.translator(x) for x in ("en", "fr", "ru", "ja"))
    assert en.format_decimal(1234.567) == "1,234.567"
    assert fr.format_decimal(1234.567) == "1\u202f234,567"
    assert en.format_decimal(1.23456, "#,##0.00") == "1.23"
    assert en.format_percent(0.256) == "26%"
    assert fr.format_percent(0.256) == "26\u00a0%"
    assert en.format_currency(1234.5, "USD") == "$1,234.50"
    assert fr.format_currency(1234.5, "EUR") == "1\u202f234,50\u00a0€"
    assert ja.format_currency(1234, "JPY") == "￥1,234"
    assert en.format_currency(3, "USD", format_type="name") == "3.00 US dollars"
    assert en.format_compact(1_200_000) == "1M"
    assert en.format_list(["a", "b", "c"]) == "a, b, and c"
    assert fr.format_list(["a", "b", "c"], "or") == "a, b ou c"


def test_date_and_time_formatting() -> None:
    i18n = I18n("en")
    en, fr, ru = (i18n.translator(x) for x in ("en", "fr", "ru"))
    day = dt.date(2025, 1, 5)
    moment = dt.datetime(2025, 1, 5, 15, 30, tzinfo=dt.UTC)
    assert en.format_date(day) == "Jan 5, 2025"
    assert fr.format_date(day, "long") == "5 janvier 2025"
    assert ru.format_date(day, "d MMMM") == "5 января"
    assert en.format_time(moment, "short") == "3:30\u202fPM"
    assert fr.format_time(moment, "short") == "15:30"
    assert fr.format_datetime(moment, "short") == "05/01/2025 15:30"
    paris = dt.timezone(dt.timedelta(hours=1))
    assert fr.format_time(moment, "HH:mm", tzinfo=paris) == "16:30"


def test_relative_time_formatting() -> None:
    i18n = I18n("en")
    en, fr, ru = (i18n.translator(x) for x in ("en", "fr", "ru"))
    assert en.format_timedelta(dt.timedelta(days=3)) == "3 days"
    assert ru.format_timedelta(dt.timedelta(days=5)) == "5 дней"
    assert en.format_timedelta(90.0, granularity="minute") == "2 minutes"
    assert en.format_relative(dt.timedelta(hours=-2)) == "2 hours ago"
    now = dt.datetime(2025, 1, 5, 12, 0, tzinfo=dt.UTC)
    assert fr.format_relative(now + dt.timedelta(days=3), now) == "dans 3 jours"
    assert fr.format_relative(now - dt.timedelta(days=1), now) == "il y a 1 jour"
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=10, minutes=1)
    assert en.format_relative(future) == "in 1 week"


def test_direction_and_language_name() -> None:
    i18n = I18n("en")
    assert [i18n.translator(x).direction for x in ("en", "fr", "ar", "he", "ja")] == [
        "ltr",
        "ltr",
        "rtl",
        "rtl",
        "ltr",
    ]
    assert i18n.translator("fr").language_name == "français"
    assert i18n.translator("ru").language_name == "русский"


def test_lc_messages_layout_prefers_mo_and_honours_domain(tmp_path: Path) -> None:
    source = LOCALES / "ru" / "LC_MESSAGES" / "messages.po"
    messages = tmp_path / "ru" / "LC_MESSAGES"
    messages.mkdir(parents=True)
    _write_mo(source, messages / "shop.mo", "ru")
    (messages / "shop.po").write_text('msgid "greeting"\nmsgstr "stale"\n', "utf-8")
    assert I18n("en", directory=tmp_path).locales == ("en",)  # no "messages" domain here
    i18n = I18n("en", directory=tmp_path, domain="shop")
    assert i18n.translator("ru").t("greeting", name="A") == "Привет, A!"
