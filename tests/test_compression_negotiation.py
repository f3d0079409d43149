"""Accept-Encoding parsing and content-coding selection (RFC 9110 §12.5.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armature_ext.compression import Selection, parse_accept_encoding, select_encoding

PREF = ("zstd", "br", "gzip")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", {"gzip": 1.0}),
        ("gzip;q=0.5, br", {"gzip": 0.5, "br": 1.0}),
        (" GZip ; Q=0.25 ,BR;q=1.000", {"gzip": 0.25, "br": 1.0}),
        ("x-gzip;q=0.3", {"gzip": 0.3}),
        ("gzip;q=1.5, br", {"br": 1.0}),  # out of range: element ignored
        ("gzip;q=abc, br;q=0.1234", {}),  # malformed / too many digits: ignored
        ("gzip;q=, zstd;q=0.", {"zstd": 0.0}),
        ("gzip, gzip;q=0", {"gzip": 0.0}),  # duplicates: the lower weight wins
        ("identity;q=0, *;q=0.1", {"identity": 0.0, "*": 0.1}),
        ("br;level=5;q=0.7", {"br": 0.7}),
        (",, ,", {}),
        ("", {}),
    ],
)
def test_parse(header: str, expected: dict[str, float]) -> None:
    assert parse_accept_encoding(header) == expected


@pytest.mark.parametrize(
    ("header", "coding", "identity_refused"),
    [
        (None, None, False),
        (b"", None, False),
        (b"gzip", "gzip", False),
        (b"gzip, deflate, br, zstd", "zstd", False),
        (b"gzip, br", "br", False),
        (b"gzip;q=1, br;q=0.9, zstd;q=0.8", "gzip", False),
        (b"gzip;q=0.9, br;q=0.9", "br", False),
        (b"zstd;q=0.001", "zstd", False),
        (b"zstd;q=0", None, False),
        (b"*", "zstd", False),
        (b"*;q=0.5, gzip", "gzip", False),
        (b"*;q=0.5, zstd;q=0.4", "br", False),
        (b"*;q=0", None, True),
        (b"gzip, *;q=0", "gzip", True),
        (b"gzip, identity;q=0", "gzip", True),
        (b"identity;q=0", None, True),
        (b"*;q=0, identity", None, False),
        (b"gzip;q=0.5, identity", None, False),  # identity explicitly preferred
        (b"gzip, identity;q=0.5", "gzip", False),
        (b"gzip;q=0.5, identity;q=0.5", "gzip", False),  # tie: the server compresses
        (b"compress, deflate", None, False),
        (b"x-gzip", "gzip", False),
    ],
)
def test_select(header: bytes | None, coding: str | None, identity_refused: bool) -> None:
    assert select_encoding(header, PREF) == Selection(coding, identity_refused)


def test_preference_order_only_offers_listed_codings() -> None:
    assert select_encoding(b"zstd, br, gzip", ("gzip",)).coding == "gzip"
    assert select_encoding(b"zstd", ("gzip", "br")).coding is None
    assert select_encoding(b"zstd, br, gzip", ("br", "zstd")).coding == "br"
    assert select_encoding(b"*", ("gzip", "zstd")).coding == "gzip"


_tokens = st.sampled_from(["gzip", "br", "zstd", "identity", "*", "deflate", "x-gzip", "GZIP"])
_q = st.one_of(
    st.none(),
    st.sampled_from(["0", "0.5", "1", "0.001", "1.0", "2", "x", ""]),
)


@given(st.lists(st.tuples(_tokens, _q), max_size=8))
def test_selected_coding_has_the_highest_weight(elements: list[tuple[str, str | None]]) -> None:
    header = ", ".join(t if q is None else f"{t};q={q}" for t, q in elements)
    weights = parse_accept_encoding(header)
    selection = select_encoding(header.encode(), PREF)
    star = weights.get("*", 0.0)

    def weight(c: str) -> float:
        return weights.get(c, star)

    if selection.coding is None:
        best = max(weight(c) for c in PREF)
        assert best == 0.0 or weights.get("identity", -1.0) > best
    else:
        assert selection.coding in PREF
        assert weight(selection.coding) == max(weight(c) for c in PREF) > 0
        # ties go to the earliest preferred coding
        top = [c for c in PREF if weight(c) == weight(selection.coding)]
        assert selection.coding == top[0]


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(header: bytes) -> None:
    selection = select_encoding(header, PREF)
    assert selection.coding is None or selection.coding in PREF


def test_long_headers_are_handled_without_the_cache() -> None:
    header = b", ".join([b"deflate;q=0.9"] * 40 + [b"br;q=0.2", b"gzip;q=0.1"])
    assert len(header) > 256
    assert select_encoding(header, PREF) == Selection("br", False)
