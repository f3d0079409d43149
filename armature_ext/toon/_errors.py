"""Error types raised by the TOON codec."""

from __future__ import annotations

__all__ = ["ToonDecodeError", "ToonEncodeError", "ToonError"]


class ToonError(ValueError):
    """Base class of every error the TOON codec raises."""


class ToonDecodeError(ToonError):
    """A TOON document is malformed (or violates a strict-mode rule).

    The message ends with ``(line L, column C)``; both positions are 1-based and refer to the
    original text (comment and blank lines included in the line count).

    Args:
        msg: What is wrong, without the position.
        line: 1-based line number of the offending line.
        column: 1-based column (in characters) of the offending position on that line.

    Attributes:
        msg: The message without the position suffix.
        line: 1-based line number.
        column: 1-based column number.
    """

    def __init__(self, msg: str, line: int, column: int) -> None:
        super().__init__(f"{msg} (line {line}, column {column})")
        self.msg = msg
        self.line = line
        self.column = column

    def __reduce__(self) -> tuple[type[ToonDecodeError], tuple[str, int, int]]:
        return (type(self), (self.msg, self.line, self.column))


class ToonEncodeError(ToonError, TypeError):
    """A value cannot be encoded as TOON (unsupported type, non-string key, cycle, ...).

    It subclasses both :class:`ValueError` (through :class:`ToonError`) and :class:`TypeError`,
    so code written for :func:`json.dumps` (``TypeError``) keeps working.
    """
