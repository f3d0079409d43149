"""The ``$n`` placeholder scanner: strings, identifiers, comments and dollar quotes are skipped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armature_ext.diesel import ParameterError
from armature_ext.diesel._sql import check_arguments, param_count, scan, to_sqlite


def indexes(sql: str, dialect: str = "postgres") -> list[int]:
    return [n for _, _, n in scan(sql, dialect)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT $1, $2", [1, 2]),
        ("SELECT $2 + $1 + $2", [2, 1, 2]),
        ("SELECT '$1'", []),
        ("SELECT 'it''s $1', $1", [1]),
        ("SELECT E'\\' $1', $2", [2]),
        ("SELECT e'\\\\', $1", [1]),
        ('SELECT "col$1", $1', [1]),
        ('SELECT "a""$1", $2', [2]),
        ("SELECT 1 -- $1\n, $2", [2]),
        ("SELECT 1 -- $1", []),
        ("SELECT /* $1 /* $2 */ $3 */ $4", [4]),
        ("SELECT $$ $1 $$, $2", [2]),
        ("SELECT $fn$ it's $1 $fn$, $3", [3]),
        ("SELECT $a$ $b$ $1 $b$ $a$, $2", [2]),
        ("SELECT abc$1, $2", [2]),
        ("SELECT x::int[], $10", [10]),
        ("SELECT 'unterminated $1", []),
        ("SELECT ?, ?1, :name, %s, $1", [1]),
    ],
)
def test_postgres_scanning(sql: str, expected: list[int]) -> None:
    assert indexes(sql) == expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT [col $1], $2", [2]),
        ("SELECT `col $1`, $2", [2]),
        ("SELECT /* $1 /* */ $2", [2]),  # SQLite block comments do not nest
        ("SELECT 'x' || $1", [1]),
    ],
)
def test_sqlite_scanning(sql: str, expected: list[int]) -> None:
    assert indexes(sql, "sqlite") == expected


def test_to_sqlite_rewrites_only_real_placeholders() -> None:
    sql = "SELECT '$1' AS a, \"$2\", $1, $2 -- $3\n, $1 /* $4 */"
    assert to_sqlite(sql) == ("SELECT '$1' AS a, \"$2\", ?1, ?2 -- $3\n, ?1 /* $4 */", 2)
    assert to_sqlite("SELECT 1") == ("SELECT 1", 0)


def test_param_count_is_the_highest_index() -> None:
    assert param_count("SELECT $3, $1") == 3
    assert param_count("SELECT '$9'") == 0


def test_check_arguments() -> None:
    check_arguments(2, 2)
    with pytest.raises(ParameterError, match=r"up to \$2 and needs 2 argument\(s\), got 3"):
        check_arguments(2, 3)
    with pytest.raises(ParameterError, match="no \\$n placeholders but 1"):
        check_arguments(0, 1)


_plain = st.text(alphabet="abc xyz,()=+*<>0123456789\n", max_size=12)


@given(st.lists(st.tuples(_plain, st.integers(min_value=1, max_value=30)), max_size=8), _plain)
def test_placeholders_in_plain_sql_are_all_found(parts: list[tuple[str, int]], tail: str) -> None:
    # Separate each placeholder with a space so "$1" never continues an identifier.
    sql = "".join(f"{text} ${n} " for text, n in parts) + tail
    assert indexes(sql) == [n for _, n in parts]
    translated, count = to_sqlite(sql)
    assert count == max((n for _, n in parts), default=0)
    assert translated == "".join(f"{text} ?{n} " for text, n in parts) + tail


@given(st.text(alphabet="$1'2ab c-*/\"", max_size=20))
def test_nothing_inside_a_string_literal_is_a_placeholder(body: str) -> None:
    literal = "'" + body.replace("'", "''") + "'"
    sql = f"SELECT {literal}, $1"
    assert indexes(sql) == [1]
    assert indexes(sql, "sqlite") == [1]
