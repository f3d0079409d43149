"""A composable, immutable query over one model that runs on the current (or given) session.

``Query`` wraps an ordinary SQLAlchemy :class:`~sqlalchemy.Select`: every builder method returns a
new ``Query``; :meth:`Query.select` hands the ``Select`` back for anything not covered here and
``Query(Model, stmt)`` / ``Model.query(stmt)`` wraps one you built yourself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Generic, Literal, TypeVar, cast

from sqlalchemy import ColumnElement, Select, delete, func, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, QueryableAttribute

from ._context import in_unit_of_work, resolve_session
from .cursors import CursorSigner
from .pagination import CursorPage, Page, keyset_paginate, paginate

__all__ = ["FieldRef", "Query"]

M = TypeVar("M")

FieldRef = str | QueryableAttribute[Any] | ColumnElement[Any]
"""A column given by attribute name (``"email"``), model attribute or SQL expression."""


def _attribute(model: type[Any], name: str) -> InstrumentedAttribute[Any]:
    """Return the mapped column attribute ``name`` of ``model`` or raise a clear error."""
    mapper = inspect(model)
    if name not in mapper.column_attrs:
        known = ", ".join(sorted(mapper.column_attrs.keys()))
        raise ValueError(f"{model.__name__} has no column {name!r} (columns: {known})")
    attr: InstrumentedAttribute[Any] = getattr(model, name)
    return attr


class Query(Generic[M]):
    """An immutable query over ``model``; build with ``where_*``/``filter``/``order_by``, then
    ``await`` a terminal method (``all``, ``first``, ``one``, ``count``, ``exists``, ``paginate``,
    ``keyset``, ``update``, ``delete``).

    Args:
        model: The mapped class whose instances the query returns.
        stmt: An existing ``Select`` of ``model`` to build on (default ``select(model)``).
        session: A session to run on (default: the one bound by ``db.session()``/middleware).

    Raises:
        ValueError: When ``stmt`` does not select ``model`` as its first entity.
    """

    __slots__ = ("_session", "_stmt", "model")

    def __init__(
        self,
        model: type[M],
        stmt: Select[Any] | None = None,
        *,
        session: AsyncSession | None = None,
    ) -> None:
        if stmt is None:
            stmt = select(model)
        else:
            described = stmt.column_descriptions
            if not described or described[0].get("expr") is not model:
                raise ValueError(f"the Select must select the {model.__name__} entity: {stmt}")
        self.model = model
        self._stmt: Select[Any] = stmt
        self._session = session

    def __repr__(self) -> str:
        return f"Query({self.model.__name__}, {str(self._stmt)!r})"

    def _with(self, stmt: Select[Any]) -> Query[M]:
        clone: Query[M] = Query.__new__(Query)
        clone.model, clone._stmt, clone._session = self.model, stmt, self._session
        return clone

    def _col(self, field: FieldRef) -> Any:
        return _attribute(self.model, field) if isinstance(field, str) else field

    # -- composition -------------------------------------------------------------------------

    def select(self) -> Select[Any]:
        """Return the underlying SQLAlchemy ``Select`` (to execute or compose yourself).

        Returns:
            The statement.
        """
        return self._stmt

    def using(self, session: AsyncSession) -> Query[M]:
        """Return a copy that runs on ``session`` instead of the current session.

        Args:
            session: The session.

        Returns:
            The new query.
        """
        clone = self._with(self._stmt)
        clone._session = session
        return clone

    def where(self, *clauses: Any) -> Query[M]:
        """Add SQL expressions to the WHERE clause (AND-ed), e.g. ``User.age >= 18``.

        Args:
            *clauses: SQLAlchemy boolean expressions.

        Returns:
            The new query.
        """
        return self._with(self._stmt.where(*clauses))

    def filter(self, *clauses: Any, **equals: Any) -> Query[M]:
        """Add SQL expressions and/or ``column=value`` equality conditions.

        Args:
            *clauses: SQLAlchemy boolean expressions.
            **equals: Column name to value (``None`` means ``IS NULL``).

        Returns:
            The new query.

        Raises:
            ValueError: When a keyword is not a column of the model.
        """
        conditions = list(clauses)
        conditions.extend(_attribute(self.model, k) == v for k, v in equals.items())
        return self._with(self._stmt.where(*conditions)) if conditions else self

    def where_eq(self, field: FieldRef, value: Any) -> Query[M]:
        """``field = value`` (``IS NULL`` for ``None``).

        Args:
            field: Column name, attribute or expression.
            value: The value.

        Returns:
            The new query.
        """
        return self.where(self._col(field) == value)

    def where_ne(self, field: FieldRef, value: Any) -> Query[M]:
        """``field != value`` (``IS NOT NULL`` for ``None``).

        Args:
            field: Column name, attribute or expression.
            value: The value.

        Returns:
            The new query.
        """
        return self.where(self._col(field) != value)

    def where_gt(self, field: FieldRef, value: Any) -> Query[M]:
        """``field > value``.

        Args:
            field: Column name, attribute or expression.
            value: The bound.

        Returns:
            The new query.
        """
        return self.where(self._col(field) > value)

    def where_gte(self, field: FieldRef, value: Any) -> Query[M]:
        """``field >= value``.

        Args:
            field: Column name, attribute or expression.
            value: The bound.

        Returns:
            The new query.
        """
        return self.where(self._col(field) >= value)

    def where_lt(self, field: FieldRef, value: Any) -> Query[M]:
        """``field < value``.

        Args:
            field: Column name, attribute or expression.
            value: The bound.

        Returns:
            The new query.
        """
        return self.where(self._col(field) < value)

    def where_lte(self, field: FieldRef, value: Any) -> Query[M]:
        """``field <= value``.

        Args:
            field: Column name, attribute or expression.
            value: The bound.

        Returns:
            The new query.
        """
        return self.where(self._col(field) <= value)

    def where_like(self, field: FieldRef, pattern: str) -> Query[M]:
        """``field LIKE pattern`` (case-sensitive on PostgreSQL; SQLite's LIKE ignores ASCII case).

        Args:
            field: Column name, attribute or expression.
            pattern: A LIKE pattern with ``%`` and ``_``.

        Returns:
            The new query.
        """
        return self.where(self._col(field).like(pattern))

    def where_ilike(self, field: FieldRef, pattern: str) -> Query[M]:
        """Case-insensitive ``LIKE`` (``ILIKE`` on PostgreSQL, ``lower() LIKE lower()`` elsewhere).

        Args:
            field: Column name, attribute or expression.
            pattern: A LIKE pattern with ``%`` and ``_``.

        Returns:
            The new query.
        """
        return self.where(self._col(field).ilike(pattern))

    def where_in(self, field: FieldRef, values: Iterable[Any]) -> Query[M]:
        """``field IN (values)`` (an empty collection matches nothing).

        Args:
            field: Column name, attribute or expression.
            values: The allowed values.

        Returns:
            The new query.
        """
        return self.where(self._col(field).in_(list(values)))

    def where_not_in(self, field: FieldRef, values: Iterable[Any]) -> Query[M]:
        """``field NOT IN (values)``.

        Args:
            field: Column name, attribute or expression.
            values: The excluded values.

        Returns:
            The new query.
        """
        return self.where(self._col(field).not_in(list(values)))

    def where_between(self, field: FieldRef, low: Any, high: Any) -> Query[M]:
        """``field BETWEEN low AND high`` (both ends inclusive).

        Args:
            field: Column name, attribute or expression.
            low: The lower bound.
            high: The upper bound.

        Returns:
            The new query.
        """
        return self.where(self._col(field).between(low, high))

    def where_is_null(self, field: FieldRef, is_null: bool = True) -> Query[M]:
        """``field IS NULL`` (or ``IS NOT NULL`` with ``is_null=False``).

        Args:
            field: Column name, attribute or expression.
            is_null: ``False`` to require a value instead.

        Returns:
            The new query.
        """
        column = self._col(field)
        return self.where(column.is_(None) if is_null else column.is_not(None))

    def order_by(self, *fields: FieldRef) -> Query[M]:
        """Append ORDER BY terms; a string ``"-name"`` sorts descending.

        Args:
            *fields: Column names (``"-"`` prefix for descending), attributes or expressions.

        Returns:
            The new query.
        """
        terms: list[Any] = []
        for field in fields:
            if isinstance(field, str) and field.startswith("-"):
                terms.append(_attribute(self.model, field[1:]).desc())
            else:
                terms.append(self._col(field))
        return self._with(self._stmt.order_by(*terms))

    def limit(self, count: int | None) -> Query[M]:
        """Set LIMIT (``None`` removes it).

        Args:
            count: The maximum number of rows.

        Returns:
            The new query.
        """
        return self._with(self._stmt.limit(count))

    def offset(self, count: int | None) -> Query[M]:
        """Set OFFSET (``None`` removes it).

        Args:
            count: The number of rows to skip.

        Returns:
            The new query.
        """
        return self._with(self._stmt.offset(count))

    def options(self, *options: Any) -> Query[M]:
        """Add loader options, e.g. ``selectinload(User.posts)``.

        Args:
            *options: ORM loader options.

        Returns:
            The new query.
        """
        return self._with(self._stmt.options(*options))

    def join(self, target: Any, *on: Any, isouter: bool = False) -> Query[M]:
        """Join another entity (to filter on it; the query still returns ``model`` rows).

        Args:
            target: The entity or relationship attribute to join.
            *on: An optional ON clause.
            isouter: LEFT OUTER JOIN instead of INNER JOIN.

        Returns:
            The new query.
        """
        return self._with(self._stmt.join(target, *on, isouter=isouter))

    def distinct(self) -> Query[M]:
        """Make it ``SELECT DISTINCT``.

        Returns:
            The new query.
        """
        return self._with(self._stmt.distinct())

    # -- execution ---------------------------------------------------------------------------

    def _session_for(self, session: AsyncSession | None) -> AsyncSession:
        return resolve_session(session if session is not None else self._session)

    async def all(self, *, session: AsyncSession | None = None) -> list[M]:
        """Return every matching row.

        Args:
            session: Run on this session instead of the query's/current one.

        Returns:
            The model instances.
        """
        result = await self._session_for(session).scalars(self._stmt)
        return cast(list[M], list(result.all()))

    async def first(self, *, session: AsyncSession | None = None) -> M | None:
        """Return the first row (``LIMIT 1``) or ``None``.

        Args:
            session: Run on this session instead of the query's/current one.

        Returns:
            The instance or ``None``.
        """
        result = await self._session_for(session).scalars(self._stmt.limit(1))
        return cast("M | None", result.first())

    async def one_or_none(self, *, session: AsyncSession | None = None) -> M | None:
        """Return the only matching row or ``None``.

        Args:
            session: Run on this session instead of the query's/current one.

        Returns:
            The instance or ``None``.

        Raises:
            sqlalchemy.exc.MultipleResultsFound: When more than one row matches.
        """
        result = await self._session_for(session).scalars(self._stmt)
        return cast("M | None", result.one_or_none())

    async def one(self, *, session: AsyncSession | None = None) -> M:
        """Return the only matching row.

        Args:
            session: Run on this session instead of the query's/current one.

        Returns:
            The instance.

        Raises:
            armature_ext.seaorm.NotFound: (404) When nothing matches.
            sqlalchemy.exc.MultipleResultsFound: When more than one row matches.
        """
        found = await self.one_or_none(session=session)
        if found is None:
            from .model import NotFound

            raise NotFound(f"{self.model.__name__} not found")
        return found

    async def count(self, *, session: AsyncSession | None = None) -> int:
        """Return the number of matching rows (``SELECT count(*)`` over the query).

        Args:
            session: Run on this session instead of the query's/current one.

        Returns:
            The count.
        """
        stmt = select(func.count()).select_from(self._stmt.order_by(None).subquery())
        return int((await self._session_for(session).execute(stmt)).scalar_one())

    async def exists(self, *, session: AsyncSession | None = None) -> bool:
        """Return whether any row matches (``SELECT EXISTS (...)``).

        Args:
            session: Run on this session instead of the query's/current one.

        Returns:
            ``True`` when at least one row matches.
        """
        stmt = select(self._stmt.order_by(None).exists())
        return bool((await self._session_for(session).execute(stmt)).scalar())

    def _bulk_guard(self, what: str) -> Any:
        stmt = self._stmt
        if len(stmt.get_final_froms()) != 1 or stmt._limit_clause is not None:
            raise ValueError(f"bulk {what} works on unjoined, unlimited queries only")
        return stmt.whereclause

    async def update(self, *, session: AsyncSession | None = None, **values: Any) -> int:
        """``UPDATE`` every matching row with ``values`` in one statement.

        Loaded instances in the session are synchronized. Commits unless inside a unit of work.

        Args:
            session: Run on this session instead of the query's/current one.
            **values: Column name to new value.

        Returns:
            The number of rows updated.

        Raises:
            ValueError: When ``values`` is empty, names unknown columns or the query is joined.
        """
        if not values:
            raise ValueError("update() needs at least one column=value")
        for name in values:
            _attribute(self.model, name)
        where = self._bulk_guard("update")
        stmt = update(self.model).values(**values)
        if where is not None:
            stmt = stmt.where(where)
        stmt = stmt.execution_options(synchronize_session="fetch")
        return await self._execute_write(stmt, session)

    async def delete(self, *, session: AsyncSession | None = None) -> int:
        """``DELETE`` every matching row in one statement (an unfiltered query deletes all).

        Commits unless inside a unit of work.

        Args:
            session: Run on this session instead of the query's/current one.

        Returns:
            The number of rows deleted.

        Raises:
            ValueError: When the query is joined or limited.
        """
        where = self._bulk_guard("delete")
        stmt = delete(self.model)
        if where is not None:
            stmt = stmt.where(where)
        stmt = stmt.execution_options(synchronize_session="fetch")
        return await self._execute_write(stmt, session)

    async def _execute_write(self, stmt: Any, session: AsyncSession | None) -> int:
        target = self._session_for(session)
        result = await target.execute(stmt)
        count = int(result.rowcount)  # type: ignore[attr-defined]
        if not in_unit_of_work(target):
            await target.commit()
        return count

    async def paginate(
        self, page: int = 1, per_page: int = 20, *, session: AsyncSession | None = None
    ) -> Page[M]:
        """Return one offset page plus the total count (see :class:`Page`).

        Order the query first (``order_by``) so pages are stable; without an ORDER BY the primary
        key is used.

        Args:
            page: The 1-based page number.
            per_page: The page size.
            session: Run on this session instead of the query's/current one.

        Returns:
            The page of model instances; ``page.map(Schema)`` converts the items.
        """
        stmt = self._stmt
        if not stmt._order_by_clauses:
            stmt = stmt.order_by(*inspect(self.model).primary_key)
        result = await paginate(self._session_for(session), stmt, page=page, per_page=per_page)
        return cast(Page[M], result)

    async def keyset(
        self,
        sort: FieldRef | None = None,
        *,
        order: Literal["asc", "desc"] = "asc",
        per_page: int = 20,
        cursor: str | None = None,
        signer: CursorSigner | None = None,
        session: AsyncSession | None = None,
    ) -> CursorPage[M]:
        """Return one keyset page after/before ``cursor`` (see :class:`CursorPage`).

        Args:
            sort: The column to order by (default: the primary key); ties are broken by the
                primary key. The column must not hold NULLs.
            order: ``"asc"`` or ``"desc"``.
            per_page: The page size.
            cursor: ``next_cursor``/``prev_cursor`` of a previous page (``None``: first page).
            signer: The cursor signer (default: ``ARMATURE_CURSOR_SECRET``-keyed).
            session: Run on this session instead of the query's/current one.

        Returns:
            The page of model instances.

        Raises:
            InvalidCursor: (400) When the cursor is tampered with or made for another sort.
        """
        mapper = inspect(self.model)
        if len(mapper.primary_key) != 1:
            raise ValueError("keyset pagination needs a single-column primary key")
        pk = _attribute(self.model, mapper.get_property_by_column(mapper.primary_key[0]).key)
        column = pk if sort is None else self._col(sort)
        if not isinstance(column, InstrumentedAttribute) or column.class_ is not self.model:
            raise ValueError("keyset pagination sorts by a column of the model, by name or attr")
        result = await keyset_paginate(
            self._session_for(session),
            self._stmt,
            sort=column,
            pk=pk,
            order=order,
            per_page=per_page,
            cursor=cursor,
            signer=signer,
        )
        return cast(CursorPage[M], result)


def model_columns(model: type[Any]) -> Sequence[str]:
    """Return the mapped column attribute names of ``model`` (in declaration order)."""
    return list(inspect(model).column_attrs.keys())
