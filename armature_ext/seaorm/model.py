"""The :class:`ActiveModel` mixin: active-record helpers on SQLAlchemy 2 declarative models.

```python
class Base(DeclarativeBase):
    pass

class User(ActiveModel, Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)

async with db.session():
    ada = await User.create(email="ada@example.com")
    same = await User.get(ada.id)                 # NotFound (404) when missing
    adults = await User.where_gte("age", 18).order_by("-age").all()
```

Every call resolves its session as: explicit ``session=``, else (for instances) the session the
object belongs to, else the session bound by ``db.session()``/``db.transaction()``/the request
middleware. Writes commit immediately, except inside ``db.transaction()`` (or a committing
request scope) where they only flush and the enclosing block commits or rolls back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, Self

from sqlalchemy import Select, insert, inspect
from sqlalchemy.ext.asyncio import AsyncSession, async_object_session

from armature.exceptions import NotFound as HTTPNotFound

from ._context import in_unit_of_work, resolve_session
from .cursors import CursorSigner
from .pagination import CursorPage, Page
from .query import FieldRef, Query

__all__ = ["ActiveModel", "NotFound"]


class NotFound(HTTPNotFound):
    """404: no row has the requested identity (an ``armature.exceptions.NotFound``).

    Args:
        detail: The problem detail, e.g. ``"User 42 not found"``.
    """

    def __init__(self, detail: str = "Not found") -> None:
        super().__init__(detail)


async def _finish(session: AsyncSession, *objs: Any) -> None:
    """Flush inside a unit of work, commit outside one; then load columns left unloaded.

    Server-generated values the INSERT/UPDATE did not return (no RETURNING support, or
    ``server_onupdate``) would otherwise be lazy-loaded on attribute access, which an asyncio
    session cannot do implicitly.
    """
    if in_unit_of_work(session):
        await session.flush()
    else:
        await session.commit()
    for obj in objs:
        state = inspect(obj)
        # PERF: `unloaded` is empty in the common case (RETURNING fetched the defaults).
        missing = state.unloaded.intersection(state.mapper.column_attrs.keys())
        if missing and state.persistent:
            await session.refresh(obj, attribute_names=sorted(missing))


class ActiveModel:
    """Mixin adding active-record class and instance methods to a declarative model.

    Put it before your declarative base: ``class User(ActiveModel, Base)``. Class-level query
    helpers (``filter``, ``where_eq`` ...) return a :class:`~armature_ext.seaorm.Query`; the
    ``session`` keyword is reserved by these methods.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        # NOTE: reads the identity from instance state: never triggers a (forbidden) lazy load.
        state = inspect(self)
        ident = state.identity
        shown = ", ".join(repr(v) for v in ident) if ident else "transient"
        return f"<{type(self).__name__} {shown}>"

    # -- queries -----------------------------------------------------------------------------

    @classmethod
    def query(
        cls, stmt: Select[Any] | None = None, *, session: AsyncSession | None = None
    ) -> Query[Self]:
        """Start a :class:`Query` on this model, optionally from an existing ``Select``.

        Args:
            stmt: A ``select(Model)...`` to build on.
            session: A session for the query to run on.

        Returns:
            The query.
        """
        return Query(cls, stmt, session=session)

    @classmethod
    def filter(cls, *clauses: Any, **equals: Any) -> Query[Self]:
        """A query with SQL expressions and/or ``column=value`` equality conditions.

        Args:
            *clauses: SQLAlchemy boolean expressions (``User.age > 3``).
            **equals: Column name to value.

        Returns:
            The query.
        """
        return Query(cls).filter(*clauses, **equals)

    @classmethod
    def where_eq(cls, field: FieldRef, value: Any) -> Query[Self]:
        """A query with ``field = value``; see :meth:`Query.where_eq`."""
        return Query(cls).where_eq(field, value)

    @classmethod
    def where_ne(cls, field: FieldRef, value: Any) -> Query[Self]:
        """A query with ``field != value``; see :meth:`Query.where_ne`."""
        return Query(cls).where_ne(field, value)

    @classmethod
    def where_gt(cls, field: FieldRef, value: Any) -> Query[Self]:
        """A query with ``field > value``; see :meth:`Query.where_gt`."""
        return Query(cls).where_gt(field, value)

    @classmethod
    def where_gte(cls, field: FieldRef, value: Any) -> Query[Self]:
        """A query with ``field >= value``; see :meth:`Query.where_gte`."""
        return Query(cls).where_gte(field, value)

    @classmethod
    def where_lt(cls, field: FieldRef, value: Any) -> Query[Self]:
        """A query with ``field < value``; see :meth:`Query.where_lt`."""
        return Query(cls).where_lt(field, value)

    @classmethod
    def where_lte(cls, field: FieldRef, value: Any) -> Query[Self]:
        """A query with ``field <= value``; see :meth:`Query.where_lte`."""
        return Query(cls).where_lte(field, value)

    @classmethod
    def where_like(cls, field: FieldRef, pattern: str) -> Query[Self]:
        """A query with ``field LIKE pattern``; see :meth:`Query.where_like`."""
        return Query(cls).where_like(field, pattern)

    @classmethod
    def where_ilike(cls, field: FieldRef, pattern: str) -> Query[Self]:
        """A query with case-insensitive LIKE; see :meth:`Query.where_ilike`."""
        return Query(cls).where_ilike(field, pattern)

    @classmethod
    def where_in(cls, field: FieldRef, values: Iterable[Any]) -> Query[Self]:
        """A query with ``field IN (values)``; see :meth:`Query.where_in`."""
        return Query(cls).where_in(field, values)

    @classmethod
    def where_not_in(cls, field: FieldRef, values: Iterable[Any]) -> Query[Self]:
        """A query with ``field NOT IN (values)``; see :meth:`Query.where_not_in`."""
        return Query(cls).where_not_in(field, values)

    @classmethod
    def where_between(cls, field: FieldRef, low: Any, high: Any) -> Query[Self]:
        """A query with ``field BETWEEN low AND high``; see :meth:`Query.where_between`."""
        return Query(cls).where_between(field, low, high)

    @classmethod
    def where_is_null(cls, field: FieldRef, is_null: bool = True) -> Query[Self]:
        """A query with ``field IS [NOT] NULL``; see :meth:`Query.where_is_null`."""
        return Query(cls).where_is_null(field, is_null)

    @classmethod
    def order_by(cls, *fields: FieldRef) -> Query[Self]:
        """A query ordered by ``fields`` (``"-name"``: descending); see :meth:`Query.order_by`."""
        return Query(cls).order_by(*fields)

    @classmethod
    async def get(cls, ident: Any, *, session: AsyncSession | None = None) -> Self:
        """Load the row with primary key ``ident`` (identity map first, then the database).

        Args:
            ident: The primary key value (a tuple for composite keys).
            session: The session to use instead of the current one.

        Returns:
            The instance.

        Raises:
            NotFound: (404 problem+json) When no such row exists.
        """
        found = await resolve_session(session).get(cls, ident)
        if found is None:
            raise NotFound(f"{cls.__name__} {ident!r} not found")
        return found

    @classmethod
    async def get_or_none(cls, ident: Any, *, session: AsyncSession | None = None) -> Self | None:
        """Load the row with primary key ``ident``, or return ``None``.

        Args:
            ident: The primary key value.
            session: The session to use instead of the current one.

        Returns:
            The instance or ``None``.
        """
        return await resolve_session(session).get(cls, ident)

    @classmethod
    async def first(
        cls, *clauses: Any, session: AsyncSession | None = None, **equals: Any
    ) -> Self | None:
        """The first row (by primary key) matching the conditions, or ``None``.

        Args:
            *clauses: SQLAlchemy boolean expressions.
            session: The session to use instead of the current one.
            **equals: Column name to value.

        Returns:
            The instance or ``None``.
        """
        query = Query(cls).filter(*clauses, **equals).order_by(*inspect(cls).primary_key)
        return await query.first(session=session)

    @classmethod
    async def all(
        cls, *clauses: Any, session: AsyncSession | None = None, **equals: Any
    ) -> list[Self]:
        """Every row matching the conditions (all rows without any), by primary key.

        Args:
            *clauses: SQLAlchemy boolean expressions.
            session: The session to use instead of the current one.
            **equals: Column name to value.

        Returns:
            The instances.
        """
        query = Query(cls).filter(*clauses, **equals).order_by(*inspect(cls).primary_key)
        return await query.all(session=session)

    @classmethod
    async def count(cls, *clauses: Any, session: AsyncSession | None = None, **equals: Any) -> int:
        """The number of rows matching the conditions.

        Args:
            *clauses: SQLAlchemy boolean expressions.
            session: The session to use instead of the current one.
            **equals: Column name to value.

        Returns:
            The count.
        """
        return await Query(cls).filter(*clauses, **equals).count(session=session)

    @classmethod
    async def exists(
        cls, *clauses: Any, session: AsyncSession | None = None, **equals: Any
    ) -> bool:
        """Whether any row matches the conditions.

        Args:
            *clauses: SQLAlchemy boolean expressions.
            session: The session to use instead of the current one.
            **equals: Column name to value.

        Returns:
            ``True`` when a row matches.
        """
        return await Query(cls).filter(*clauses, **equals).exists(session=session)

    @classmethod
    async def paginate(
        cls, page: int = 1, per_page: int = 20, *, session: AsyncSession | None = None
    ) -> Page[Self]:
        """An offset page over all rows by primary key; see :meth:`Query.paginate`."""
        return await Query(cls).paginate(page, per_page, session=session)

    @classmethod
    async def keyset(
        cls,
        sort: FieldRef | None = None,
        *,
        order: Literal["asc", "desc"] = "asc",
        per_page: int = 20,
        cursor: str | None = None,
        signer: CursorSigner | None = None,
        session: AsyncSession | None = None,
    ) -> CursorPage[Self]:
        """A keyset page over all rows; see :meth:`Query.keyset`."""
        return await Query(cls).keyset(
            sort, order=order, per_page=per_page, cursor=cursor, signer=signer, session=session
        )

    # -- writes ------------------------------------------------------------------------------

    @classmethod
    async def create(cls, *, session: AsyncSession | None = None, **values: Any) -> Self:
        """Insert a row and return the instance (primary key and defaults populated).

        Args:
            session: The session to use instead of the current one.
            **values: Column/attribute values for the constructor.

        Returns:
            The new instance.
        """
        target = resolve_session(session)
        obj = cls(**values)
        target.add(obj)
        await _finish(target, obj)
        return obj

    @classmethod
    async def bulk_create(
        cls, rows: Iterable[Mapping[str, Any] | Self], *, session: AsyncSession | None = None
    ) -> list[Self]:
        """Insert many rows as ORM objects (batched ``INSERT ... RETURNING`` where supported).

        Args:
            rows: Mappings of values or unsaved instances.
            session: The session to use instead of the current one.

        Returns:
            The instances, primary keys populated.
        """
        target = resolve_session(session)
        objs = [row if isinstance(row, cls) else cls(**row) for row in rows]  # type: ignore[arg-type]
        target.add_all(objs)
        await _finish(target)
        return objs

    @classmethod
    async def bulk_insert(
        cls, rows: Iterable[Mapping[str, Any]], *, session: AsyncSession | None = None
    ) -> int:
        """Insert many rows with one executemany ``INSERT``, without building ORM objects.

        The fastest way to load data; use :meth:`bulk_create` when you need the instances back.

        Args:
            rows: Mappings of column values (they should all have the same keys).
            session: The session to use instead of the current one.

        Returns:
            The number of rows inserted.
        """
        batch = [dict(row) for row in rows]
        if not batch:
            return 0
        target = resolve_session(session)
        await target.execute(insert(cls), batch)
        await _finish(target)
        return len(batch)

    def _own_session(self, session: AsyncSession | None) -> AsyncSession:
        if session is not None:
            return session
        # NOTE: an instance loaded by one session must be written through that same session.
        return async_object_session(self) or resolve_session(None)

    async def save(self, *, session: AsyncSession | None = None) -> Self:
        """Insert or update this instance.

        Args:
            session: The session to use instead of the object's own/current one.

        Returns:
            The instance itself.
        """
        target = self._own_session(session)
        target.add(self)
        await _finish(target, self)
        return self

    async def update(self, *, session: AsyncSession | None = None, **values: Any) -> Self:
        """Set attributes and save.

        Args:
            session: The session to use instead of the object's own/current one.
            **values: Attribute name to new value.

        Returns:
            The instance itself.

        Raises:
            AttributeError: When a name is not a mapped attribute of the model.
        """
        mapper = inspect(type(self))
        for name, value in values.items():
            if name not in mapper.attrs:
                raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
            setattr(self, name, value)
        return await self.save(session=session)

    async def delete(self, *, session: AsyncSession | None = None) -> None:
        """Delete this instance's row.

        Args:
            session: The session to use instead of the object's own/current one.
        """
        target = self._own_session(session)
        await target.delete(self)
        await _finish(target)

    async def refresh(self, *, session: AsyncSession | None = None) -> Self:
        """Reload every column from the database.

        Args:
            session: The session to use instead of the object's own/current one.

        Returns:
            The instance itself.
        """
        await self._own_session(session).refresh(self)
        return self

    def to_dict(self, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
        """Return the column values as a dict (attribute names as keys).

        Args:
            exclude: Attribute names to leave out.

        Returns:
            The values.
        """
        skip = set(exclude)
        return {
            prop.key: getattr(self, prop.key)
            for prop in inspect(type(self)).column_attrs
            if prop.key not in skip
        }
