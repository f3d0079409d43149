"""Content negotiation helpers: Accept ranges, q-values, specificity, languages, encodings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armature import App, Request, Response
from armature.negotiation import (
    MediaRange,
    best_charset,
    best_encoding,
    best_language,
    best_match,
    parse_accept,
    parse_qlist,
    quality,
    select_media_type,
)
from armature.testing import TestClient

JSON, HTML, TEXT = "application/json", "text/html", "text/plain"


@pytest.mark.parametrize(
    ("accept", "offers", "expected"),
    [
        (None, [JSON, HTML], JSON),
        ("", [JSON, HTML], JSON),
        ("text/html", [JSON, HTML], HTML),
        ("text/html;q=0.5, application/json", [HTML, JSON], JSON),
        ("*/*", [JSON, HTML], JSON),
        # more specific range wins the tie, whatever the header order
        ("*/*, text/html", [JSON, HTML], HTML),
        ("text/*;q=0.9, */*;q=0.1", [JSON, TEXT], TEXT),
        # the most specific matching range decides an offer's q, even if lower
        ("text/*, text/html;q=0", [HTML, TEXT], TEXT),
        ("text/html;q=0", [HTML], None),
        ("image/png", [JSON, HTML], None),
        ("application/*;q=0.2, text/html;q=0.8", [JSON, HTML], HTML),
        # equal q and specificity: server order decides
        ("application/json, text/html", [HTML, JSON], HTML),
        # parameters narrow a range
        (
            "text/html;level=1, text/html;q=0.1",
            ["text/html;level=2", "text/html;level=1"],
            "text/html;level=1",
        ),
        ("TEXT/HTML", [HTML], HTML),
        ("application/json; charset=utf-8", [JSON], None),
        (
            "application/json; charset=utf-8",
            ["application/json; charset=UTF-8"],
            "application/json; charset=UTF-8",
        ),
        (
            'text/html;foo="a,b";q=0.5, application/json;q=0.4',
            [JSON, 'text/html;foo="a,b"'],
            'text/html;foo="a,b"',
        ),
        ("application/json;q=1.000", [JSON], JSON),
    ],
)
def test_best_match(accept: str | None, offers: list[str], expected: str | None) -> None:
    assert best_match(accept, offers) == expected


@pytest.mark.parametrize(
    "accept",
    [
        "text/html;q=2",
        "text/html;q=-1",
        "text/html;q=abc",
        "text/html;q=0.0001",
        "text/html;q=nan",
        "text/html;q=1.5",
        "text/html;q",
        "*/html",
        "text",
        "/html",
        "te xt/html",
        "text/html;=x",
        "text/html;a=b c",
        ",,,;;;",
        "\x00\xff",
    ],
)
def test_malformed_entries_are_skipped(accept: str) -> None:
    # nothing usable: as if the header were absent -> the first offer
    assert parse_accept(accept) == []
    assert best_match(accept, [JSON, HTML]) == JSON


def test_malformed_entries_do_not_hide_valid_ones() -> None:
    assert best_match("text/html;q=5, bogus, application/json;q=0.1", [HTML, JSON]) == JSON


def test_parse_accept_order_and_values() -> None:
    ranges = parse_accept("text/*;q=0.5, application/json, */*;q=0.1, text/html;level=1;q=0.5")
    assert [str(r) for r in ranges] == [
        "application/json",
        "text/html;level=1;q=0.5",
        "text/*;q=0.5",
        "*/*;q=0.1",
    ]
    assert ranges[0] == MediaRange("application", "json", (), 1.0)
    assert ranges[1].specificity == 3


def test_accept_ext_after_q_is_ignored() -> None:
    (media_range,) = parse_accept("text/html;q=0.5;ext=1")
    assert media_range.params == () and media_range.q == 0.5


def test_quality() -> None:
    assert quality("text/*;q=0.3", "text/csv") == 0.3
    assert quality("text/*;q=0.3", JSON) == 0.0
    assert quality(None, JSON) == 1.0


def test_huge_header_is_bounded() -> None:
    header = ", ".join(f"type{i}/sub;q=0.5" for i in range(5000)) + ", application/json"
    # past the entry limit: the late json entry is never seen, nothing crashes
    assert best_match(header, [JSON]) is None
    assert len(parse_accept(header)) == 64


@given(st.text(max_size=300), st.lists(st.sampled_from([JSON, HTML, TEXT, "a/b;x=1"]), max_size=4))
def test_never_raises(header: str, offers: list[str]) -> None:
    chosen = best_match(header, offers)
    assert chosen is None or chosen in offers
    assert best_language(header, ["en", "fr"]) in (None, "en", "fr")
    assert best_encoding(header, ["br", "identity"]) in (None, "br", "identity")
    parse_qlist(header)


@pytest.mark.parametrize(
    ("header", "offers", "expected"),
    [
        ("fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5", ["en", "fr", "de"], "fr"),
        ("fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5", ["en", "de"], "en"),
        ("fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5", ["de"], "de"),
        ("en", ["en-GB", "fr"], "en-GB"),  # basic filtering: en covers en-GB
        ("en-US", ["fr", "en"], "en"),  # truncation fallback
        ("de;q=0, *", ["de", "it"], "it"),
        ("de", ["fr"], None),
        ("EN-gb", ["en-GB"], "en-GB"),
        (None, ["pt", "es"], "pt"),
        ("en-US, en;q=0.9", ["en", "en-US"], "en-US"),
    ],
)
def test_best_language(header: str | None, offers: list[str], expected: str | None) -> None:
    assert best_language(header, offers) == expected


@pytest.mark.parametrize(
    ("header", "offers", "expected"),
    [
        ("gzip, br;q=1.0, zstd;q=0.5", ["zstd", "br", "gzip", "identity"], "br"),
        ("gzip;q=0.5", ["br", "identity"], "identity"),  # identity acceptable by default
        ("gzip;q=0.5", ["br", "gzip", "identity"], "gzip"),
        ("identity;q=0, gzip", ["identity"], None),
        ("*;q=0", ["identity", "br"], None),
        ("*;q=0, identity", ["br", "identity"], "identity"),
        ("*", ["br", "gzip"], "br"),
        ("br;q=0, *", ["br", "gzip"], "gzip"),
        (None, ["br", "identity"], "br"),
    ],
)
def test_best_encoding(header: str | None, offers: list[str], expected: str | None) -> None:
    assert best_encoding(header, offers) == expected


def test_best_charset_and_qlist() -> None:
    assert best_charset("iso-8859-5, unicode-1-1;q=0.8", ["utf-8", "unicode-1-1"]) == (
        "unicode-1-1"
    )
    assert best_charset("*", ["utf-8"]) == "utf-8"
    assert parse_qlist("a;q=0.1, b, c;q=0.5, bad value, d;q=x") == [
        ("b", 1.0),
        ("c", 0.5),
        ("a", 0.1),
    ]


def test_select_media_type_in_a_handler() -> None:
    app = App()

    @app.get("/report")
    async def report(request: Request) -> Response:
        chosen = select_media_type(request, [JSON, "text/csv"])
        body = '{"a":1}' if chosen == JSON else "a\n1\n"
        return Response(body, media_type=chosen, headers={"vary": "Accept"})

    with TestClient(app) as client:
        assert client.get("/report", headers={"accept": "text/csv"}).text == "a\n1\n"
        assert client.get("/report").headers["content-type"] == JSON
        refused = client.get("/report", headers={"accept": "image/*"})
    assert refused.status_code == 406
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["available"] == [JSON, "text/csv"]
    assert select_media_type("text/*", [JSON, "text/csv"]) == "text/csv"
