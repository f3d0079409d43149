"""Unit and property tests for the TOON codec (armature_ext.toon), beyond the spec fixtures."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import math
import pickle
import sys
import uuid
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armature_ext.toon import (
    MEDIA_TYPE,
    SPEC_VERSION,
    ToonDecodeError,
    ToonEncodeError,
    ToonError,
    decode,
    encode,
    estimate_tokens,
    size_report,
)

# -- helpers ---------------------------------------------------------------------------------


def tagged(value: Any) -> Any:
    """A type-aware canonical form: ``True != 1`` and numbers compare by exact value."""
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return ("null",)  # §3: NaN and +-inf encode as null
        return ("num", Fraction(value))
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, list):
        return ("list", [tagged(v) for v in value])
    if isinstance(value, dict):
        return ("dict", {k: tagged(v) for k, v in value.items()})
    raise TypeError(type(value))


TRICKY = st.sampled_from(
    [
        "",
        " ",
        "-",
        "- x",
        "#",
        "#x",
        "true",
        "false",
        "null",
        "True",
        "05",
        "-0",
        "+1",
        "1e5",
        "1E+5",
        ".5",
        "1.",
        "0x10",
        "Infinity",
        "NaN",
        "a:b",
        "a,b",
        "a|b",
        "a\tb",
        "[]",
        "[2]: x",
        "{k}",
        '"q"',
        "back\\slash",
        "line\nbreak",
        "cr\rx",
        "\x00\x1f",
        " lead",
        "trail ",
        "\u00a0nbsp\u00a0",
        "emoji \U0001f680",
        "caf\u00e9",
        "k: v",
        "a b",
        "__proto__",
        "x.y",
    ]
)
TEXT = st.text(max_size=12) | TRICKY
NUMBERS = (
    st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.0, -0.0, 1e-7, 1e21, 1.5e300, 5e-324, 2**53 + 1, -(10**30), 0.1])
)
PRIMITIVES = st.none() | st.booleans() | NUMBERS | TEXT


@st.composite
def uniform_objects(draw: st.DrawFn, values: st.SearchStrategy[Any]) -> list[dict[str, Any]]:
    """Lists of objects sharing one key set (exercises tabular, nested groups, keyed form)."""
    keys = draw(st.lists(TEXT, min_size=1, max_size=3, unique=True))
    nested = draw(st.booleans())
    sub_keys = draw(st.lists(TEXT, min_size=1, max_size=2, unique=True))
    rows = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        row: dict[str, Any] = {k: draw(values) for k in draw(st.permutations(keys))}
        if nested:
            row[keys[0]] = {k: draw(values) for k in sub_keys}
        rows.append(row)
    return rows


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    tables = uniform_objects(PRIMITIVES)
    return (
        st.lists(children, max_size=4)
        | st.dictionaries(TEXT, children, max_size=4)
        | tables
        | tables.map(lambda rows: {f"k{i}": row for i, row in enumerate(rows)})
    )


JSON_VALUES = st.recursive(PRIMITIVES, containers, max_leaves=25)


# -- property tests --------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=JSON_VALUES,
    delimiter=st.sampled_from([",", "\t", "|"]),
    indent=st.sampled_from([2, 4]),
)
def test_round_trip(value: Any, delimiter: str, indent: int) -> None:
    text = encode(value, indent=indent, delimiter=delimiter)
    assert tagged(decode(text, indent=indent)) == tagged(value)
    # Output invariants (§12, §5.1): no trailing newline/spaces, never a comment-like line.
    assert not text.endswith("\n")
    for line in text.split("\n"):
        assert line == line.rstrip(" ")
        assert not line.lstrip(" ").startswith("#")
    # Encoding is deterministic and idempotent through a decode.
    assert encode(decode(text, indent=indent), indent=indent, delimiter=delimiter) == text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=' \t\n\r#-:,|"\\[]{}0123456789abe.', max_size=60), st.booleans())
def test_decode_never_crashes(text: str, strict: bool) -> None:
    """Arbitrary input either decodes or raises ToonDecodeError (never another exception)."""
    try:
        decode(text, strict=strict)
    except ToonDecodeError as err:
        assert err.line >= 1 and err.column >= 1


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_decode_arbitrary_unicode(text: str) -> None:
    try:
        decode(text)
    except ToonDecodeError:
        pass


# -- encoder ---------------------------------------------------------------------------------


def test_spec_example_and_constants() -> None:
    assert SPEC_VERSION == "4.1"
    assert MEDIA_TYPE == "application/toon"
    data = {
        "users": [
            {"id": 1, "name": "Ada", "role": "admin"},
            {"id": 2, "name": "Bob", "role": "user"},
        ]
    }
    assert encode(data) == "users[2]{id,name,role}:\n  1,Ada,admin\n  2,Bob,user"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (float("nan"), "null"),
        (float("inf"), "null"),
        (float("-inf"), "null"),
        (-0.0, "0"),
        (1.0, "1"),
        (1.5e-7, "1.5e-7"),
        (2.5e21, "2.5e+21"),
        (1e20, "100000000000000000000"),
        (10**25, "10000000000000000000000000"),
        (decimal.Decimal("1.2300"), "1.23"),
        (decimal.Decimal("-0.000000012"), "-1.2e-8"),
        (decimal.Decimal("NaN"), "null"),
        (True, "true"),
    ],
)
def test_number_normalisation(value: Any, text: str) -> None:
    assert encode(value) == text


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Key(enum.StrEnum):
    A = "a"


@dataclasses.dataclass
class Point:
    x: int
    y: list[int]


def test_host_types() -> None:
    when = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)
    ident = uuid.UUID(int=1)
    value = {
        "when": when,
        "day": datetime.date(2024, 5, 6),
        "id": ident,
        "color": Color.RED,
        "level": Level.HIGH,
        Key.A: (1, 2),
        "set": frozenset([3]),
        "point": Point(1, [2]),
        "price": decimal.Decimal("9.990"),
    }
    assert decode(encode(value)) == {
        "when": when.isoformat(),
        "day": "2024-05-06",
        "id": str(ident),
        "color": "red",
        "level": 3,
        "a": [1, 2],
        "set": [3],
        "point": {"x": 1, "y": [2]},
        "price": 9.99,
    }


def test_pydantic_models_encode_via_model_dump() -> None:
    pydantic = pytest.importorskip("pydantic")

    class User(pydantic.BaseModel):
        id: int
        born: datetime.date

    assert encode([User(id=1, born=datetime.date(2000, 1, 2))]) == "[1]{id,born}:\n  1,2000-01-02"


def test_default_hook_and_errors() -> None:
    class Opaque:
        pass

    with pytest.raises(ToonEncodeError, match="Opaque is not TOON serializable"):
        encode({"x": Opaque()})
    assert encode({"x": Opaque()}, default=lambda o: type(o).__name__) == "x: Opaque"
    with pytest.raises(ToonEncodeError, match="keys must be str"):
        encode({1: "a"})
    with pytest.raises(TypeError):  # ToonEncodeError is also a TypeError (json.dumps parity)
        encode(b"bytes")
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ToonEncodeError, match="circular reference"):
        encode(loop)
    shared = [1]
    assert encode({"a": shared, "b": shared}) == "a[1]: 1\nb[1]: 1"  # shared is not circular
    with pytest.raises(ValueError, match="delimiter"):
        encode([], delimiter=";")
    with pytest.raises(ValueError, match="indent"):
        encode([], indent=0)
    assert issubclass(ToonEncodeError, ToonError) and issubclass(ToonDecodeError, ValueError)


def test_huge_int_beyond_str_limit_is_an_encode_error() -> None:
    limit = sys.get_int_max_str_digits()
    if limit == 0:
        pytest.skip("int str limit disabled")
    with pytest.raises(ToonEncodeError, match="too large"):
        encode(10 ** (limit + 1))


def test_input_is_not_mutated_and_tuples_become_lists() -> None:
    value = {"t": (1, {"a": (2,)})}
    assert encode(value) == "t[2]:\n  - 1\n  - a[1]: 2"
    assert value == {"t": (1, {"a": (2,)})}


def test_list_item_layout_with_indent_4() -> None:
    value = {"items": [{"users": [{"id": 1}, {"id": 2}], "note": "x"}, {"a": {"b": 1}, "c": 2}]}
    text = encode(value, indent=4)
    assert text == (
        "items[2]:\n"
        "    - users[2]{id}:\n"
        "            1\n"
        "            2\n"
        "        note: x\n"
        "    - a:\n"
        "            b: 1\n"
        "        c: 2"
    )
    assert decode(text, indent=4) == value


def test_output_size_grows_linearly_with_rows() -> None:
    """Sizes, not timings: every extra row adds exactly one fixed-width line."""

    def table(n: int) -> dict[str, Any]:
        return {
            "rows": [
                {"id": 10_000 + i, "name": f"user{i:05d}", "score": 0.5, "ok": ("on", "no")[i % 2]}
                for i in range(n)
            ]
        }

    small, large = encode(table(1000)), encode(table(8000))
    row_line = len("  10000,user00000,0.5,on") + 1
    assert len(large) - len(small) == 7000 * row_line
    header = len("rows[1000]{id,name,score,ok}:")
    assert len(small) == header + 1000 * row_line  # "\n" + row per row, no trailing newline
    assert len(decode(large)["rows"]) == 8000


# -- decoder ---------------------------------------------------------------------------------


def test_decode_accepts_bytes_and_rejects_bad_utf8() -> None:
    assert decode("name: Zoë".encode()) == {"name": "Zoë"}
    assert decode(bytearray(b"a: 1")) == {"a": 1}
    with pytest.raises(ToonDecodeError) as info:
        decode(b"a: 1\nb: x\xff")
    assert (info.value.line, info.value.column) == (2, 5)
    assert decode(b"b: x\xff", strict=False) == {"b": "x\ufffd"}


def test_error_positions_are_one_based_and_in_message() -> None:
    with pytest.raises(ToonDecodeError) as info:
        decode('# header comment\nitems[2]{id,name}:\n  1,Ada\n  2,"Bob\\q"')
    err = info.value
    assert (err.line, err.column) == (4, 9)
    assert str(err) == "invalid escape sequence \\q (line 4, column 9)"
    assert pickle.loads(pickle.dumps(err)).line == 4


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ("a: 1\n   b: 2", 2, 1, "not a multiple"),
        ("a:\n  b: 1\n  b: 2", 3, 3, "duplicate key"),
        ("tags[3]: a,b", 1, 1, "expected 3 inline values, found 2"),
        ("items[1]:\n  - a\n  - b", 3, 3, "expected 1 list items, found 2"),
        ("t[1]{a,b}:\n  1", 2, 3, "row has 1 values, expected 2"),
        ("x[03]: 1", 1, 3, "leading zeros"),
        ("items[2]:\n  - a\n\n  - b", 3, 1, "blank line"),
        ("a: 1\nhello", 2, 1, "missing ':'"),
        ('k: "open', 1, 4, "unterminated"),
        ("v: 1e999", 1, 4, "out of the float range"),
    ],
)
def test_error_messages(text: str, line: int, column: int, fragment: str) -> None:
    with pytest.raises(ToonDecodeError, match=fragment) as info:
        decode(text)
    assert (info.value.line, info.value.column) == (line, column)


def test_number_domain_policy() -> None:
    big = "1" + "0" * 40
    assert decode(f"n: {big}") == {"n": 10**40}  # ints are exact, any size
    assert decode("n: 1.0") == {"n": 1.0} and isinstance(decode("n: 1.0")["n"], float)
    assert decode("n: 1e-400") == {"n": 0.0}  # underflow approximates
    assert decode("n: 1e400", strict=False) == {"n": "1e400"}  # non-strict keeps the text
    limit = sys.get_int_max_str_digits()
    if limit:
        digits = "9" * (limit + 1)
        with pytest.raises(ToonDecodeError, match="too many digits"):
            decode(f"n: {digits}")
        assert decode(f"n: {digits}", strict=False) == {"n": digits}


def test_non_strict_leniencies() -> None:
    # Row width: missing trailing cells become null, extras are dropped.
    assert decode("t[2]{a,b}:\n  1\n  2,3,4", strict=False) == {
        "t": [{"a": 1, "b": None}, {"a": 2, "b": 3}]
    }
    # Tabs in indentation count as one level each.
    assert decode("a:\n\tb: 1", strict=False) == {"a": {"b": 1}}
    # Over-indented stray lines are skipped; depth jumps are accepted.
    assert decode("a: 1\n    b: 2\nc: 3", strict=False) == {"a": 1, "c": 3}
    assert decode("a:\n      b: 1", strict=False) == {"a": {"b": 1}}
    # A keyless header outside the root reads as a literal key, like any malformed header.
    assert decode("a: 1\n[2]: x,y", strict=False) == {"a": 1, "[2]": "x,y"}
    assert decode("items[1]:\n  - [1]{x}:", strict=False) == {"items": [{"[1]{x}": {}}]}
    # Trailing content after a root array is ignored.
    assert decode("[1]: x\ny: 2", strict=False) == ["x"]
    # Raw control characters inside quotes are accepted.
    assert decode('k: "a\x01b"', strict=False) == {"k": "a\x01b"}
    with pytest.raises(ToonDecodeError, match="raw control"):
        decode('k: "a\x01b"')


def test_line_endings_bom_comments_and_indent() -> None:
    assert decode("\ufeff# c\r\na:\r\n    b: [1]\r\n", indent=4) == {"a": {"b": "[1]"}}
    assert decode("  # only comments\n\n") == {}
    with pytest.raises(ValueError, match="indent"):
        decode("a: 1", indent=0)


def test_deep_nesting_is_a_decode_error_not_a_crash() -> None:
    depth = 3000
    text = "\n".join(" " * i + "k:" for i in range(depth))
    with pytest.raises(ToonDecodeError, match="nested too deeply"):
        decode(text, indent=1)


def test_hyphen_lines_outside_arrays_are_plain_keys() -> None:
    assert decode("- a: 1") == {"- a": 1}


def test_bare_hyphen_with_nested_fields() -> None:
    assert decode("items[1]:\n  -\n    a: 1") == {"items": [{"a": 1}]}


# -- size report -----------------------------------------------------------------------------


def test_estimate_tokens_heuristic() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("1234567") == 3
    assert estimate_tokens("a b") == 2  # a single space is free
    assert estimate_tokens("a\n  b") == 3  # newline + indentation costs one
    assert estimate_tokens('{"é":1}') == 7


def test_size_report() -> None:
    rows = [{"id": i, "name": f"user{i}", "active": True} for i in range(50)]
    report = size_report({"users": rows})
    assert report.toon_chars == len(encode({"users": rows}))
    assert report.json_chars == len(
        '{"users":['
        + ",".join(f'{{"id":{i},"name":"user{i}","active":true}}' for i in range(50))
        + "]}"
    )
    assert report.toon_chars < report.json_chars
    assert report.toon_tokens < report.json_tokens
    assert 0 < report.char_savings < 1 and 0 < report.token_savings < 1
    as_dict = report.as_dict()
    assert as_dict["tokens_are_estimates"] is True
    assert as_dict["toon_chars"] == report.toon_chars
    empty = size_report({})
    assert (empty.toon_chars, empty.json_chars) == (0, 2)
    assert size_report(decimal.Decimal("1.5")).json_chars == 3


def test_benchmark_script_runs_and_checks_round_trips() -> None:
    """loadtests/bench_toon.py works (tiny settings; speed is never asserted here)."""
    import subprocess
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "loadtests" / "bench_toon.py"
    args = ["--repeat", "1", "--min-time", "0.001", "--rows", "20"]
    done = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, check=True
    )
    assert "table (20 rows)" in done.stdout
    assert "nested document" in done.stdout
    assert done.stdout.count("x\n") == 4  # four ratio rows
