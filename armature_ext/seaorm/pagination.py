"""Offset pagination (:class:`Page`) and keyset pagination with signed cursors (`CursorPage`).

Both work on any ``Select`` of one mapped model; :class:`~armature_ext.seaorm.Query` exposes them
as ``await query.paginate(page, per_page)`` and ``await query.keyset(sort, ...)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from .cursors import CursorSigner, InvalidCursor, decode_value, default_signer, encode_value

__all__ = ["CursorPage", "Page", "keyset_paginate", "paginate", "to_schema"]

T = TypeVar("T")
S = TypeVar("S")
Order = Literal["asc", "desc"]


def to_schema(schema: type[S], obj: Any) -> S:
    """Validate ``obj`` (an ORM instance or mapping) into ``schema``.

    Args:
        schema: A pydantic model class.
        obj: The object to read attributes from.

    Returns:
        The schema instance.
    """
    validate: Callable[..., S] = schema.model_validate  # type: ignore[attr-defined]
    return validate(obj, from_attributes=True)


class Page(BaseModel, Generic[T]):
    """One page of an offset-paginated result.

    ``Page[UserOut]`` is a normal pydantic model, so handlers can return it and OpenAPI sees its
    shape; ``Page[User]`` (ORM items) works too for internal use.

    Attributes:
        items: The rows of this page.
        page: The 1-based page number.
        per_page: The page size.
        total: The number of rows over all pages.
        total_pages: ``ceil(total / per_page)`` (0 when there are no rows).
        has_next: Whether a later page has rows.
        has_prev: Whether this is not the first page.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    items: list[T]
    page: int
    per_page: int
    total: int
    total_pages: int
    has_next: bool
    has_prev: bool

    @classmethod
    def build(cls, items: Sequence[T], *, page: int, per_page: int, total: int) -> Page[T]:
        """Compute the derived fields and return the page.

        Args:
            items: The rows of this page.
            page: The 1-based page number.
            per_page: The page size.
            total: The total number of rows.

        Returns:
            The page.
        """
        total_pages = math.ceil(total / per_page) if per_page else 0
        return cls(
            items=list(items),
            page=page,
            per_page=per_page,
            total=total,
            total_pages=total_pages,
            has_next=page < total_pages,
            has_prev=page > 1,
        )

    def map(self, schema: type[S]) -> Page[S]:
        """Return the same page with every item validated into ``schema``.

        Args:
            schema: A pydantic model (read with ``from_attributes``).

        Returns:
            A ``Page[schema]``.
        """
        items = [to_schema(schema, item) for item in self.items]
        return Page[schema].build(  # type: ignore[valid-type]
            items, page=self.page, per_page=self.per_page, total=self.total
        )


class CursorPage(BaseModel, Generic[T]):
    """One page of a keyset-paginated result.

    Attributes:
        items: The rows of this page, in the requested order.
        next_cursor: Pass as ``cursor`` to get the following page (``None`` at the end).
        prev_cursor: Pass as ``cursor`` to get the preceding page (``None`` at the start).
        has_next: Whether rows follow this page.
        has_prev: Whether rows precede this page (``True`` whenever the page was reached through
            a "next" cursor).
        per_page: The page size.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    items: list[T]
    next_cursor: str | None
    prev_cursor: str | None
    has_next: bool
    has_prev: bool
    per_page: int

    def map(self, schema: type[S]) -> CursorPage[S]:
        """Return the same page with every item validated into ``schema``.

        Args:
            schema: A pydantic model (read with ``from_attributes``).

        Returns:
            A ``CursorPage[schema]``.
        """
        data = self.model_dump(exclude={"items"})
        items = [to_schema(schema, item) for item in self.items]
        return CursorPage[schema](items=items, **data)  # type: ignore[valid-type]


def _check_size(page: int, per_page: int) -> None:
    if page < 1:
        raise ValueError(f"page must be >= 1, got {page}")
    if per_page < 1:
        raise ValueError(f"per_page must be >= 1, got {per_page}")


async def paginate(
    session: AsyncSession, stmt: Select[Any], *, page: int = 1, per_page: int = 20
) -> Page[Any]:
    """Run ``stmt`` for one page (LIMIT/OFFSET) plus a ``COUNT(*)`` for the total.

    Args:
        session: The session to run the queries in.
        stmt: A select of one mapped entity; its ORDER BY should be deterministic.
        page: The 1-based page number; pages past the end are empty.
        per_page: The page size.

    Returns:
        The :class:`Page` of ORM instances.

    Raises:
        ValueError: When ``page`` or ``per_page`` is below 1.
    """
    _check_size(page, per_page)
    bare = stmt.order_by(None).limit(None).offset(None)
    total = (await session.execute(select(func.count()).select_from(bare.subquery()))).scalar_one()
    if total and (page - 1) * per_page < total:
        rows = (await session.scalars(stmt.limit(per_page).offset((page - 1) * per_page))).all()
    else:
        # PERF: skip the row query when the page is known to be empty.
        rows = []
    return Page[Any].build(rows, page=page, per_page=per_page, total=int(total))


def _keyset_condition(
    sort: InstrumentedAttribute[Any],
    pk: InstrumentedAttribute[Any],
    key: Any,
    ident: Any,
    ascending: bool,
) -> Any:
    """``(sort, pk) > (key, ident)`` (or ``<``), spelled portably with OR/AND."""
    if sort is pk:
        return pk > ident if ascending else pk < ident
    if ascending:
        return or_(sort > key, and_(sort == key, pk > ident))
    return or_(sort < key, and_(sort == key, pk < ident))


async def keyset_paginate(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    sort: InstrumentedAttribute[Any],
    pk: InstrumentedAttribute[Any],
    order: Order = "asc",
    per_page: int = 20,
    cursor: str | None = None,
    signer: CursorSigner | None = None,
) -> CursorPage[Any]:
    """Fetch one keyset page after/before the row a signed cursor points at.

    The rows are ordered by ``(sort, pk)`` so ties on the sort key are broken by the primary
    key; the sort column must not contain NULLs.

    Args:
        session: The session to run the query in.
        stmt: A select of one mapped entity (its ORDER BY is replaced).
        sort: The model attribute to sort by, e.g. ``User.created_at``.
        pk: The primary-key attribute used as tiebreaker, e.g. ``User.id``.
        order: ``"asc"`` or ``"desc"``.
        per_page: The page size (>= 1).
        cursor: A ``next_cursor``/``prev_cursor`` from a previous page, or ``None`` for the first.
        signer: The cursor signer (default: :func:`~armature_ext.seaorm.cursors.default_signer`).

    Returns:
        The :class:`CursorPage` of ORM instances.

    Raises:
        InvalidCursor: (400) When the cursor is tampered with or was made for another sort.
        ValueError: When ``order`` or ``per_page`` is invalid.
    """
    if order not in ("asc", "desc"):
        raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")
    _check_size(1, per_page)
    signer = signer or default_signer()
    sort_name = sort.key
    travel = "next"
    key: Any = None
    ident: Any = None
    if cursor is not None:
        payload = signer.decode(cursor)
        if payload.get("s") != sort_name or payload.get("o") != order:
            raise InvalidCursor("The cursor was made for a different sort field or order")
        travel = payload.get("d", "")
        if travel not in ("next", "prev") or "k" not in payload or "i" not in payload:
            raise InvalidCursor()
        key, ident = decode_value(payload["k"]), decode_value(payload["i"])
    ascending = (order == "asc") != (travel == "prev")
    query = stmt.order_by(None)
    if cursor is not None:
        query = query.where(_keyset_condition(sort, pk, key, ident, ascending))
    if sort is pk:
        query = query.order_by(pk.asc() if ascending else pk.desc())
    elif ascending:
        query = query.order_by(sort.asc(), pk.asc())
    else:
        query = query.order_by(sort.desc(), pk.desc())
    rows = list((await session.scalars(query.limit(per_page + 1))).all())
    more = len(rows) > per_page
    del rows[per_page:]
    if travel == "prev":
        rows.reverse()
        has_next, has_prev = True, more
    else:
        has_next, has_prev = more, cursor is not None

    def make(row: Any, direction: str) -> str:
        return signer.encode(
            {
                "s": sort_name,
                "o": order,
                "d": direction,
                "k": encode_value(getattr(row, sort_name)),
                "i": encode_value(getattr(row, pk.key)),
            }
        )

    return CursorPage[Any](
        items=rows,
        next_cursor=make(rows[-1], "next") if rows and has_next else None,
        prev_cursor=make(rows[0], "prev") if rows and has_prev else None,
        has_next=has_next and bool(rows),
        has_prev=has_prev and bool(rows),
        per_page=per_page,
    )
