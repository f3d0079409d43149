"""``SearchFilters``: search, sort and page parameters bound from the query string.

```python
class UserFilters(SearchFilters):
    sortable = ("name", "created_at")      # ?sort=... must be one of these (else 422)
    searchable = ("name", "email")         # ?q=... is matched (case-insensitively) against these
    default_sort = "created_at"
    max_per_page = 50

@app.get("/users")
async def list_users(filters: Annotated[UserFilters, Query()]) -> Page[UserOut]:
    return (await filters.paginate(User.query())).map(UserOut)
```
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from inspect import get_annotations
from typing import Any, ClassVar, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import inspect, or_
from sqlalchemy.ext.asyncio import AsyncSession

from armature.exceptions import RequestValidationError

from .pagination import Page
from .query import Query, _attribute

__all__ = ["SearchFilters"]

M = TypeVar("M")


def _escape_like(text: str) -> str:
    """Escape LIKE wildcards so user input matches literally (escape character ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SearchFilters(BaseModel):
    """Query parameters for list endpoints: ``q``, ``sort``, ``order``, ``page``, ``per_page``.

    Subclass it and set the class attributes to whitelist what clients may sort and search by;
    :meth:`for_model` builds such a subclass in one call. Unknown query parameters are ignored.

    Attributes:
        q: Free-text search, matched with case-insensitive ``LIKE '%q%'`` against
            :attr:`searchable` (OR-ed); blank means no search.
        sort: A field name from :attr:`sortable` (anything else is a 422 error).
        order: ``"asc"`` or ``"desc"``.
        page: 1-based page number.
        per_page: Page size, between 1 and :attr:`max_per_page`.
        sortable: Class attribute: the fields ``sort`` may name.
        searchable: Class attribute: the fields ``q`` is matched against.
        default_sort: Class attribute: the sort used when ``sort`` is absent (else primary key).
        max_per_page: Class attribute: the largest accepted ``per_page``.
        default_per_page: Class attribute: ``per_page`` when absent (capped at ``max_per_page``).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    sortable: ClassVar[tuple[str, ...]] = ()
    searchable: ClassVar[tuple[str, ...]] = ()
    default_sort: ClassVar[str | None] = None
    max_per_page: ClassVar[int] = 100
    default_per_page: ClassVar[int] = 20

    q: str | None = Field(default=None, max_length=200)
    sort: str | None = None
    order: Literal["asc", "desc"] = "asc"
    page: int = Field(default=1, ge=1)
    per_page: int = Field(default=20, ge=1, le=100)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = get_annotations(cls)
        if "per_page" not in own:
            # NOTE: runs before pydantic collects the fields, so re-declaring per_page here gives
            # each subclass its own default and maximum (enforced and visible in OpenAPI).
            cls.__annotations__ = {**own, "per_page": int}
            default = min(cls.default_per_page, cls.max_per_page)
            cls.per_page = Field(default=default, ge=1, le=cls.max_per_page)

    @field_validator("q")
    @classmethod
    def _blank_q(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return value.strip() or None

    @field_validator("sort")
    @classmethod
    def _known_sort(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if value not in cls.sortable:
            allowed = ", ".join(cls.sortable) or "none"
            raise ValueError(f"cannot sort by {value!r}; allowed: {allowed}")
        return value

    @classmethod
    def for_model(
        cls,
        model: type[Any],
        *,
        sortable: Iterable[str] = (),
        searchable: Iterable[str] = (),
        default_sort: str | None = None,
        max_per_page: int = 100,
        name: str | None = None,
    ) -> type[Self]:
        """Build a subclass whitelisting fields of ``model`` (names are checked now).

        Args:
            model: The mapped class the filters apply to.
            sortable: Column names clients may sort by.
            searchable: Column names ``q`` is matched against.
            default_sort: The sort when none is requested (default: primary key).
            max_per_page: The largest accepted page size.
            name: The class name (default ``"<Model>Filters"``).

        Returns:
            The new ``SearchFilters`` subclass.

        Raises:
            ValueError: When a name is not a column of ``model``.
        """
        sortable, searchable = tuple(sortable), tuple(searchable)
        for field in (*sortable, *searchable, *([default_sort] if default_sort else [])):
            _attribute(model, field)
        namespace = {
            "__module__": cls.__module__,
            "__qualname__": name or f"{model.__name__}Filters",
            "sortable": sortable,
            "searchable": searchable,
            "default_sort": default_sort,
            "max_per_page": max_per_page,
        }
        return type(name or f"{model.__name__}Filters", (cls,), namespace)

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> Self:
        """Validate query parameters (a ``QueryParams`` or any mapping) into filters.

        Args:
            params: Parameter name to value; a list value counts as its last element.

        Returns:
            The filters.

        Raises:
            RequestValidationError: (422 problem+json) listing each invalid parameter.
        """
        data: dict[str, Any] = {}
        for key in params:
            value = params[key]
            data[key] = value[-1] if isinstance(value, list | tuple) and value else value
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            errors = [
                {"loc": ["query", *err["loc"]], "msg": err["msg"], "type": err["type"]}
                for err in exc.errors(include_url=False, include_input=False)
            ]
            raise RequestValidationError(errors, "Invalid query parameters") from None

    def apply(self, query: Query[M]) -> Query[M]:
        """Add the search condition and the ORDER BY (sort field, then primary key) to ``query``.

        Args:
            query: The query to refine.

        Returns:
            The refined query.

        Raises:
            ValueError: When a whitelisted name is not a column of the query's model.
        """
        model = query.model
        if self.q and self.searchable:
            pattern = f"%{_escape_like(self.q)}%"
            query = query.where(
                or_(*(_attribute(model, f).ilike(pattern, escape="\\") for f in self.searchable))
            )
        terms: list[Any] = []
        sort = self.sort or self.default_sort
        column = _attribute(model, sort) if sort is not None else None
        if column is not None:
            terms.append(column.desc() if self.order == "desc" else column.asc())
        # NOTE: the primary key breaks ties so pages never overlap or skip rows.
        for prop in _pk_props(model):
            pk = _attribute(model, prop.key)
            if pk is not column:
                terms.append(pk.desc() if self.order == "desc" else pk.asc())
        return query.order_by(*terms)

    async def paginate(self, query: Query[M], *, session: AsyncSession | None = None) -> Page[M]:
        """:meth:`apply` the filters and return the requested offset page.

        Args:
            query: The base query (e.g. ``User.query()`` or a scoped ``User.filter(...)``).
            session: Run on this session instead of the query's/current one.

        Returns:
            The page of model instances.
        """
        return await self.apply(query).paginate(self.page, self.per_page, session=session)


def _pk_props(model: type[Any]) -> list[Any]:
    mapper = inspect(model)
    return [mapper.get_property_by_column(col) for col in mapper.primary_key]
