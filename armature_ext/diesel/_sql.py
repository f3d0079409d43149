"""Placeholder scanning: find ``$n`` parameters outside strings, quoted identifiers and comments.

Users write one placeholder style on every backend: PostgreSQL's positional ``$1``, ``$2``, ...
asyncpg and psycopg's raw cursor take it natively; SQLite gets it rewritten to ``?1``, ``?2``
(SQLite's numbered parameters, which bind the same argument positions). The scanner also gives
the highest parameter index so argument counts are checked the same way on every backend.

PostgreSQL lexing: ``'...'`` (``''`` escape), ``E'...'`` (backslash escapes), ``"..."``,
``$tag$...$tag$`` dollar quoting, ``--`` and nested ``/* */`` comments. SQLite lexing:
``'...'``, ``"..."``, ```...```, ``[...]``, ``--`` and ``/* */``. A ``$`` that continues an
identifier (``a$1``) is not a parameter.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from armature_ext.diesel.errors import ParameterError

__all__ = ["Dialect", "check_arguments", "param_count", "scan", "to_sqlite"]

Dialect = Literal["postgres", "sqlite"]

# Characters that open something the scanner must step over or inspect.
_PG_SPECIAL = re.compile(r"['\"$]|--|/\*")
_SQLITE_SPECIAL = re.compile(r"['\"`\[$]|--|/\*")
_DIGITS = re.compile(r"\d+")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\x80-\U0010ffff][A-Za-z_0-9\x80-\U0010ffff]*)?\$")


def _is_ident_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_" or ch == "$" or ord(ch) >= 0x80


def _skip_quoted(sql: str, start: int, quote: str, backslash: bool = False) -> int:
    """Return the index just past the closing ``quote`` of the literal opened at ``start``."""
    i = start + 1
    n = len(sql)
    while i < n:
        ch = sql[i]
        if backslash and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and sql[i + 1] == quote:  # doubled quote is an escaped quote
                i += 2
                continue
            return i + 1
        i += 1
    return n  # NOTE: unterminated: let the database report the syntax error


def _skip_block_comment(sql: str, start: int, nested: bool) -> int:
    depth = 0
    i = start
    n = len(sql)
    while i < n:
        if sql.startswith("/*", i):
            depth = depth + 1 if nested or depth == 0 else depth
            i += 2
        elif sql.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return n


def scan(sql: str, dialect: Dialect) -> list[tuple[int, int, int]]:
    """Find the ``$n`` placeholders of ``sql``.

    Args:
        sql: The statement text.
        dialect: Which lexical rules apply to strings, identifiers and comments.

    Returns:
        ``(start, end, n)`` for each placeholder, in order of appearance.
    """
    special = _PG_SPECIAL if dialect == "postgres" else _SQLITE_SPECIAL
    found: list[tuple[int, int, int]] = []
    i = 0
    n = len(sql)
    while i < n:
        match = special.search(sql, i)
        if match is None:
            break
        pos = match.start()
        token = match.group()
        if token == "'":
            backslash = (
                dialect == "postgres"
                and pos > 0
                and sql[pos - 1] in "eE"
                and (pos < 2 or not _is_ident_char(sql[pos - 2]))
            )
            i = _skip_quoted(sql, pos, "'", backslash)
        elif token == '"' or token == "`":
            i = _skip_quoted(sql, pos, token)
        elif token == "[":
            end = sql.find("]", pos + 1)
            i = n if end < 0 else end + 1
        elif token == "--":
            end = sql.find("\n", pos + 2)
            i = n if end < 0 else end + 1
        elif token == "/*":
            i = _skip_block_comment(sql, pos, nested=dialect == "postgres")
        else:  # "$"
            if pos > 0 and _is_ident_char(sql[pos - 1]):
                i = pos + 1
                continue
            digits = _DIGITS.match(sql, pos + 1)
            if digits is not None:
                found.append((pos, digits.end(), int(digits.group())))
                i = digits.end()
                continue
            tag = _DOLLAR_TAG.match(sql, pos) if dialect == "postgres" else None
            if tag is None:
                i = pos + 1
                continue
            close = sql.find(tag.group(), tag.end())
            i = n if close < 0 else close + len(tag.group())
    return found


@lru_cache(maxsize=2048)
def param_count(sql: str, dialect: Dialect = "postgres") -> int:
    """Return the highest ``$n`` index in ``sql`` (0 when it has no parameters).

    Args:
        sql: The statement text.
        dialect: The lexical rules to apply.

    Returns:
        The number of arguments the statement expects.
    """
    return max((index for _, _, index in scan(sql, dialect)), default=0)


@lru_cache(maxsize=2048)
def to_sqlite(sql: str) -> tuple[str, int]:
    """Rewrite ``$n`` placeholders to SQLite's ``?n``.

    Args:
        sql: The statement text using ``$1``-style placeholders.

    Returns:
        The rewritten statement and the number of arguments it expects.
    """
    spans = scan(sql, "sqlite")
    if not spans:
        return sql, 0
    parts: list[str] = []
    last = 0
    for start, end, index in spans:
        parts.append(sql[last:start])
        parts.append(f"?{index}")
        last = end
    parts.append(sql[last:])
    return "".join(parts), max(index for _, _, index in spans)


def check_arguments(expected: int, given: int) -> None:
    """Raise :class:`ParameterError` unless ``given`` arguments match ``expected`` placeholders.

    Args:
        expected: The highest ``$n`` in the statement.
        given: The number of arguments passed.

    Raises:
        ParameterError: The counts differ.
    """
    if expected != given:
        if expected == 0:
            raise ParameterError(f"the query has no $n placeholders but {given} argument(s) given")
        raise ParameterError(
            f"the query uses placeholders up to ${expected} and needs {expected} argument(s), "
            f"got {given}"
        )
