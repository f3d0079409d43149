"""armature_ext.i18n negotiation: Accept-Language parsing, RFC 4647 lookup and sources."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armature_ext.i18n import LocaleNegotiator, lookup, normalize_tag, parse_accept_language
from armature_ext.i18n._middleware import strip_prefix
from armature_ext.i18n._tags import MAX_RANGES, available_map, truncations

AVAILABLE = ["en", "fr", "fr-CA", "ru", "ar", "zh-Hant"]


def scope(
    path: str = "/",
    *,
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    root_path: str = "",
) -> dict[str, Any]:
    return {
        "type": "http",
        "path": path,
        "root_path": root_path,
        "query_string": query,
        "headers": headers or [],
    }


def best(header: str, available: list[str] = AVAILABLE) -> str | None:
    return lookup(parse_accept_language(header), available_map(available))


# -- tags -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("fr", "fr"),
        ("FR_ca", "fr-CA"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("es-419", "es-419"),
        ("en-US-x-twain", "en-US-x-twain"),
        ("sr-latn-rs", "sr-Latn-RS"),
        ("", None),
        ("e", None),
        ("12", None),
        ("fr--ca", None),
        ("fr-toolongsubtag", None),
        ("fr/../x", None),
        ("ру", None),
    ],
)
def test_normalize_tag(raw: str, canonical: str | None) -> None:
    assert normalize_tag(raw) == canonical


def test_truncations_drop_trailing_singletons() -> None:
    assert truncations("zh-Hant-TW") == ["zh-Hant-TW", "zh-Hant", "zh"]
    assert truncations("en-a-bbb-x-a-ccc") == ["en-a-bbb-x-a-ccc", "en-a-bbb", "en"]


# -- Accept-Language parsing ------------------------------------------------------------------


def test_parse_sorts_by_quality_stably() -> None:
    got = parse_accept_language("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.9, *;q=0.5")
    assert got == [("fr-ch", 1.0), ("fr", 0.9), ("de", 0.9), ("en", 0.8), ("*", 0.5)]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", []),
        ("   ", []),
        (",,,", []),
        ("fr;q=2", []),
        ("fr;q=-1", []),
        ("fr;q=abc", []),
        ("fr;q=0.1234", []),
        ("fr;q=", []),
        ("fr;level=1", []),
        ("fr;Q=0.5", [("fr", 0.5)]),
        ("fr ; q = 0.5", [("fr", 0.5)]),
        ("fr;q=1.000", [("fr", 1.0)]),
        ("fr;q=0", [("fr", 0.0)]),
        ("en_US", []),
        ("123, en", [("en", 1.0)]),
        ("fr-;q=1, en", [("en", 1.0)]),
        ("\x00\xff\u2603, ru", [("ru", 1.0)]),
        ("*", [("*", 1.0)]),
    ],
)
def test_parse_skips_malformed_ranges(header: str, expected: list[tuple[str, float]]) -> None:
    assert parse_accept_language(header) == expected


def test_parse_bounds_huge_headers() -> None:
    header = ", ".join(f"x{chr(97 + i % 26)}-a{i}" for i in range(100_000)) + ", fr"
    ranges = parse_accept_language(header)
    assert 0 < len(ranges) <= MAX_RANGES
    assert ("fr", 1.0) not in ranges  # beyond the parsed prefix
    assert parse_accept_language("a" * 1_000_000) == []
    long_range = "-".join(["ab"] * 40)
    assert parse_accept_language(long_range + ", ru") == [("ru", 1.0)]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parse_and_lookup_never_raise(header: str) -> None:
    ranges = parse_accept_language(header)
    assert all(q >= 0.0 and q <= 1.0 for _, q in ranges)
    assert [q for _, q in ranges] == sorted((q for _, q in ranges), reverse=True)
    found = lookup(ranges, available_map(AVAILABLE))
    assert found is None or found in AVAILABLE


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["en", "fr", "fr-CA", "fr-ch", "ru", "de", "zh-Hant-TW", "*"]),
            st.sampled_from(["", ";q=0", ";q=0.5", ";q=1", ";q=0.001"]),
        ),
        max_size=6,
    )
)
def test_lookup_never_returns_a_refused_language(items: list[tuple[str, str]]) -> None:
    header = ", ".join(r + q for r, q in items)
    ranges = parse_accept_language(header)
    found = lookup(ranges, available_map(AVAILABLE))
    if found is None:
        return
    # The most specific range matching the result must not be q=0.
    matching = [
        (r, q)
        for r, q in ranges
        if r == "*" or found.lower() == r or found.lower().startswith(r + "-")
    ]
    if not matching:
        return  # reached by truncating a longer range, which no q=0 range refused
    most_specific = max(matching, key=lambda rq: 0 if rq[0] == "*" else rq[0].count("-") + 1)
    assert most_specific[1] > 0


# -- RFC 4647 lookup --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr", "fr"),
        ("fr-CA", "fr-CA"),
        ("FR-ca", "fr-CA"),
        ("fr-CH", "fr"),  # truncated
        ("zh-Hant-TW", "zh-Hant"),
        ("zh-Hans-CN", None),  # zh alone is not available
        ("de, ru;q=0.5", "ru"),
        ("de;q=0.9, ar;q=0.1, fr;q=0.5", "fr"),
        ("ru;q=0.5, fr", "fr"),
        ("*", None),  # wildcard alone: the caller's default
        ("*, ru;q=0.5", "ru"),  # wildcard conveys no preference in lookup
        ("*;q=0", None),
        ("de", None),
        ("fr;q=0, ru;q=0.1", "ru"),
        ("fr-CA;q=0, fr-CA;q=1", "fr"),  # a refusal wins a tie; truncation still helps
        ("fr-CH, fr;q=0", None),  # fr-CH truncates to fr, which is refused
        ("fr-CA, fr;q=0", "fr-CA"),  # the more specific range wins over fr;q=0
        ("fr-CH, fr-CA, fr;q=0", "fr-CA"),
        ("en-US-x-twain", "en"),
        ("en-a-bbb-x-a-ccc", "en"),
    ],
)
def test_lookup(header: str, expected: str | None) -> None:
    assert best(header) == expected


# -- the negotiator ---------------------------------------------------------------------------


@pytest.fixture
def negotiator() -> LocaleNegotiator:
    return LocaleNegotiator(AVAILABLE, "en")


def test_default_when_nothing_matches(negotiator: LocaleNegotiator) -> None:
    got = negotiator.negotiate(scope())
    assert (got.locale, got.source, got.prefix) == ("en", "default", None)
    accept = [(b"accept-language", b"de-DE, it;q=0.5")]
    assert negotiator.negotiate(scope(headers=accept)).locale == "en"


@pytest.mark.parametrize(
    "header",
    [b"", b";;;", b"q=1", b"fr;q=x", b"\xff\xfe\x00", b"*;q=0", b"," * 10_000, b"a" * 100_000],
)
def test_malformed_headers_get_the_default(negotiator: LocaleNegotiator, header: bytes) -> None:
    got = negotiator.negotiate(scope(headers=[(b"accept-language", header)]))
    assert (got.locale, got.source) == ("en", "default")


def test_default_precedence_path_query_cookie_header(negotiator: LocaleNegotiator) -> None:
    headers = [(b"accept-language", b"ar"), (b"cookie", b"theme=dark; locale=ru")]
    full = scope("/fr-CA/items", query=b"lang=zh_hant", headers=headers)
    got = negotiator.negotiate(full)
    assert (got.locale, got.source, got.prefix) == ("fr-CA", "path", "/fr-CA")
    got = negotiator.negotiate(scope("/items", query=b"lang=zh_hant", headers=headers))
    assert (got.locale, got.source) == ("zh-Hant", "query")
    got = negotiator.negotiate(scope("/items", query=b"lang=xx", headers=headers))
    assert (got.locale, got.source) == ("ru", "cookie")
    got = negotiator.negotiate(scope("/items", headers=headers[:1]))
    assert (got.locale, got.source) == ("ar", "header")


def test_custom_precedence_and_names() -> None:
    negotiator = LocaleNegotiator(
        AVAILABLE,
        "en",
        sources=("cookie", "header", "query"),
        query_param="hl",
        cookie_name="site_lang",
    )
    headers = [(b"accept-language", b"ar"), (b"cookie", b'site_lang="ru"')]
    assert negotiator.negotiate(scope("/fr/x", query=b"hl=fr", headers=headers)).locale == "ru"
    got = negotiator.negotiate(scope("/fr/x", query=b"hl=fr", headers=headers[:1]))
    assert (got.locale, got.prefix) == ("ar", None)  # path is not a source: no prefix
    assert negotiator.negotiate(scope(query=b"lang=fr&hl=fr")).locale == "fr"
    assert negotiator.negotiate(scope(query=b"lang=fr")).locale == "en"


def test_prefix_is_reported_even_when_another_source_wins() -> None:
    negotiator = LocaleNegotiator(AVAILABLE, "en", sources=("query", "path"))
    got = negotiator.negotiate(scope("/fr/items", query=b"lang=ru"))
    assert (got.locale, got.source, got.prefix) == ("ru", "query", "/fr")


@pytest.mark.parametrize(
    ("path", "root_path", "expected"),
    [
        ("/fr/items", "", ("fr", "/fr")),
        ("/fr", "", ("fr", "/fr")),
        ("/fr/", "", ("fr", "/fr")),
        ("/FR-ca/items", "", ("fr-CA", "/FR-ca")),
        ("/fr_CA/items", "", ("fr-CA", "/fr_CA")),
        ("/french/items", "", ("en", None)),
        ("/fr-CH/items", "", ("en", None)),  # only exact available tags are prefixes
        ("/items/fr", "", ("en", None)),
        ("/api/ru/items", "/api", ("ru", "/ru")),
        ("/ru/items", "/api", ("ru", "/ru")),  # server without root_path in path
        ("/api", "/api", ("en", None)),
        ("", "", ("en", None)),
    ],
)
def test_path_prefix(path: str, root_path: str, expected: tuple[str, str | None]) -> None:
    negotiator = LocaleNegotiator(AVAILABLE, "en")
    got = negotiator.negotiate(scope(path, root_path=root_path))
    assert (got.locale, got.prefix) == expected


@pytest.mark.parametrize(
    ("path", "root_path", "raw", "new_path", "new_root", "new_raw"),
    [
        ("/fr/items", "", b"/fr/items", "/fr/items", "/fr", b"/fr/items"),
        ("/api/fr/items", "/api", b"/api/fr/items", "/api/fr/items", "/api/fr", b"/api/fr/items"),
        ("/fr", "", b"/fr", "/fr", "/fr", b"/fr"),
        # Legacy servers send path without root_path: the prefix is removed from path as well.
        ("/fr/items", "/api", b"/fr/items", "/items", "/api/fr", b"/items"),
        ("/fr", "/api", b"/fr", "/", "/api/fr", b"/"),
    ],
)
def test_strip_prefix_follows_asgi_root_path(
    path: str, root_path: str, raw: bytes, new_path: str, new_root: str, new_raw: bytes
) -> None:
    original = {"type": "http", "path": path, "root_path": root_path, "raw_path": raw}
    stripped = strip_prefix(original, "/fr")
    assert (stripped["path"], stripped["root_path"], stripped["raw_path"]) == (
        new_path,
        new_root,
        new_raw,
    )
    assert original["path"] == path and original["root_path"] == root_path  # copied, not mutated
    route = (
        stripped["path"][len(stripped["root_path"]) :]
        if stripped["path"].startswith(stripped["root_path"])
        else stripped["path"]
    )
    assert route in ("/items", "", "/")


def test_query_and_cookie_values_are_looked_up() -> None:
    negotiator = LocaleNegotiator(AVAILABLE, "en")
    for value, expected in [
        (b"fr-CH", "fr"),
        (b"FR_ca", "fr-CA"),
        (b"zh-Hant-HK", "zh-Hant"),
        (b"", "en"),
        (b"..%2F", "en"),
        (b"x" * 5000, "en"),
    ]:
        assert negotiator.negotiate(scope(query=b"a=1&lang=" + value)).locale == expected
        cookie = [(b"cookie", b"locale=" + value)]
        assert negotiator.negotiate(scope(headers=cookie)).locale == expected
    assert negotiator.negotiate(scope(query=b"lang=fr%2DCA")).locale == "fr-CA"
    many = b"&".join(b"p%d=%d" % (i, i) for i in range(5000)) + b"&lang=ru"
    assert negotiator.negotiate(scope(query=many)).locale == "ru"
    assert negotiator.negotiate(scope(query=b"lang=%ZZ&lang=ru")).locale == "en"
    assert negotiator.negotiate(scope(query=b"xlang=ru&l%61ng=fr")).locale == "fr"


def test_repeated_headers_are_combined() -> None:
    negotiator = LocaleNegotiator(AVAILABLE, "en", sources=("header", "cookie"))
    headers = [(b"accept-language", b"de"), (b"accept-language", b"ru;q=0.5")]
    assert negotiator.negotiate(scope(headers=headers)).locale == "ru"
    cookies = [(b"cookie", b"a=1"), (b"cookie", b"locale=ar")]
    assert negotiator.negotiate(scope(headers=cookies)).locale == "ar"


def test_accept_language_memo_is_bounded() -> None:
    negotiator = LocaleNegotiator(AVAILABLE, "en", cache_size=8)
    for i in range(50):
        assert negotiator.from_accept_language(f"de;q=0.{i % 10}, ru;q=0.001") == "ru"
    assert len(negotiator._cache) <= 8
    assert negotiator.from_accept_language("de") is None
    assert negotiator.from_accept_language("de") is None  # memoised misses stay misses


def test_invalid_configuration() -> None:
    with pytest.raises(ValueError, match="sources"):
        LocaleNegotiator(AVAILABLE, "en", sources=("path", "accept"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sources"):
        LocaleNegotiator(AVAILABLE, "en", sources=("path", "path"))
    with pytest.raises(ValueError, match="default"):
        LocaleNegotiator(AVAILABLE, "???")
