"""``crud_router(Model)``: list/get/create/update/delete routes for a model in one call.

```python
app = App(lifespan=db.lifespan)
app.add_middleware(DatabaseSessionMiddleware, database=db)
app.include_router(crud_router(User, prefix="/users", filters=UserFilters))
```

================  ===========================  ==================================================
route             body                         answer
================  ===========================  ==================================================
``GET /users``    query: q, sort, order,       200 ``Page[UserRead]``
                  page, per_page
``GET /users/1``                               200 ``UserRead`` / 404
``POST /users``   ``UserCreate``               201 ``UserRead`` / 409 on a unique violation
``PATCH /users/1`` ``UserUpdate`` (partial)    200 ``UserRead`` / 404 / 409
``DELETE /users/1``                            204 / 404
================  ===========================  ==================================================
"""

from __future__ import annotations

import inspect as pyinspect
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Annotated, Any

from pydantic import BaseModel
from sqlalchemy import String, inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from armature import Query as QueryParam
from armature import Router
from armature.exceptions import Conflict

from ._context import bound_session, resolve_session
from .database import Database, _transaction
from .filters import SearchFilters
from .model import ActiveModel
from .pagination import Page, to_schema
from .query import Query
from .schemas import _is_generated, column_python_type, schema_for

__all__ = ["OPERATIONS", "crud_router"]

OPERATIONS = ("list", "get", "create", "update", "delete")

_PATH_CONVERTERS: dict[Any, str] = {int: "int", uuid.UUID: "uuid", str: "str"}


def _typed(
    func: Callable[..., Any], params: Sequence[tuple[str, Any, Any]], returns: Any, name: str
) -> Callable[..., Any]:
    """Give ``func`` (which takes ``**kwargs``) an explicit signature the router can plan."""
    parameters = [
        pyinspect.Parameter(
            pname,
            pyinspect.Parameter.KEYWORD_ONLY,
            annotation=annotation,
            default=pyinspect.Parameter.empty if default is ... else default,
        )
        for pname, annotation, default in params
    ]
    func.__signature__ = pyinspect.Signature(parameters, return_annotation=returns)  # type: ignore[attr-defined]
    func.__annotations__ = {p: a for p, a, _ in params} | {"return": returns}
    func.__name__ = func.__qualname__ = name
    return func


def _default_filters(model: type[Any]) -> type[SearchFilters]:
    props = list(inspect(model).column_attrs)
    text_columns = [p.key for p in props if isinstance(p.columns[0].type, String)]
    return SearchFilters.for_model(model, sortable=[p.key for p in props], searchable=text_columns)


def crud_router(
    model: type[ActiveModel],
    *,
    prefix: str | None = None,
    read_schema: type[BaseModel] | None = None,
    create_schema: type[BaseModel] | None = None,
    update_schema: type[BaseModel] | None = None,
    filters: type[SearchFilters] | None = None,
    database: Database | None = None,
    operations: Collection[str] = OPERATIONS,
    tags: Sequence[str] | None = None,
) -> Router:
    """Build a :class:`armature.Router` with CRUD routes for ``model``.

    Handlers use the session bound by :class:`DatabaseSessionMiddleware`; with ``database=``
    they open one themselves when none is bound. Each write runs in ``transaction()``, so it is
    committed before the response is sent. A unique/foreign-key violation becomes 409 Conflict.

    Args:
        model: An :class:`ActiveModel` with a single-column primary key.
        prefix: The collection path (default ``/<tablename>``).
        read_schema: Response schema (default ``schema_for(model, name="<Model>Read")``).
        create_schema: POST body (default: every column but a generated primary key).
        update_schema: PATCH body (default: every non-key column, all optional).
        filters: The list route's :class:`SearchFilters` subclass (default: sort by any column,
            search all string columns, at most 100 per page).
        database: Open sessions from this database when the middleware has not bound one.
        operations: Subset of ``("list", "get", "create", "update", "delete")`` to expose.
        tags: OpenAPI tags (default: the model name).

    Returns:
        The router, ready for ``app.include_router(...)``.

    Raises:
        ValueError: For a composite primary key, an unknown operation or a bad prefix.
    """
    unknown = set(operations) - set(OPERATIONS)
    if unknown:
        raise ValueError(f"unknown CRUD operation(s): {', '.join(sorted(unknown))}")
    mapper = inspect(model)
    if len(mapper.primary_key) != 1:
        raise ValueError(f"crud_router needs a single-column primary key ({model.__name__})")
    pk_column = mapper.primary_key[0]
    pk_name = mapper.get_property_by_column(pk_column).key
    pk_type = column_python_type(pk_column)
    converter = _PATH_CONVERTERS.get(pk_type)
    item_path = f"/{{{pk_name}:{converter}}}" if converter else f"/{{{pk_name}}}"
    label = model.__name__
    read = read_schema or schema_for(model, name=f"{label}Read")
    # NOTE: a key the database or a Python default generates is not the client's to choose.
    generated = _is_generated(pk_column) or pk_column.default is not None
    create = create_schema or schema_for(
        model, exclude={pk_name} if generated else set(), name=f"{label}Create"
    )
    update = update_schema or schema_for(
        model, exclude={pk_name}, partial=True, name=f"{label}Update"
    )
    filter_cls = filters or _default_filters(model)
    collection = prefix if prefix is not None else f"/{model.__table__.name}"  # type: ignore[attr-defined]
    if not collection.startswith("/") or collection.endswith("/"):
        raise ValueError(f"prefix {collection!r} must start with '/' and not end with '/'")
    item_path = collection + item_path
    # NOTE: the router itself has no prefix (route paths must start with '/'), so the collection
    # route is the prefix path itself and include_router(..., prefix="/api") still nests it.
    router = Router()
    tag_list = list(tags) if tags is not None else [label]

    def session_scope() -> AbstractAsyncContextManager[Any]:
        if database is not None and bound_session() is None:
            return database.session()
        return nullcontext()

    @asynccontextmanager
    async def writing() -> AsyncIterator[AsyncSession]:
        async with session_scope():
            session = resolve_session(None)
            try:
                async with _transaction(session):
                    yield session
            except IntegrityError:
                # NOTE: the driver's message can quote the conflicting values; keep it server-side.
                raise Conflict(
                    f"{label} conflicts with existing data (a unique or foreign-key constraint)"
                ) from None

    async def list_items(**params: Any) -> Any:
        async with session_scope():
            page: Page[Any] = await params["filters"].paginate(Query(model))
            return page.map(read)

    async def get_item(**params: Any) -> Any:
        async with session_scope():
            return to_schema(read, await model.get(params[pk_name]))

    async def create_item(**params: Any) -> Any:
        values = params["body"].model_dump(exclude_unset=True)
        async with writing():
            obj = await model.create(**values)
        return to_schema(read, obj)

    async def update_item(**params: Any) -> Any:
        values = params["body"].model_dump(exclude_unset=True)
        async with writing():
            obj = await model.get(params[pk_name])
            await obj.update(**values)
        return to_schema(read, obj)

    async def delete_item(**params: Any) -> None:
        async with writing():
            obj = await model.get(params[pk_name])
            await obj.delete()

    ident = (pk_name, pk_type, ...)
    name = label.lower()
    common: dict[str, Any] = {"tags": tag_list}
    if "list" in operations:
        handler = _typed(
            list_items,
            [("filters", Annotated[filter_cls, QueryParam()], ...)],
            Page[read],  # type: ignore[valid-type]
            f"list_{name}",
        )
        router.add_route(collection, handler, ["GET"], summary=f"List {label} records", **common)
    if "get" in operations:
        handler = _typed(get_item, [ident], read, f"get_{name}")
        router.add_route(item_path, handler, ["GET"], summary=f"Get one {label}", **common)
    if "create" in operations:
        handler = _typed(create_item, [("body", create, ...)], read, f"create_{name}")
        router.add_route(
            collection, handler, ["POST"], status_code=201, summary=f"Create a {label}", **common
        )
    if "update" in operations:
        handler = _typed(update_item, [ident, ("body", update, ...)], read, f"update_{name}")
        router.add_route(item_path, handler, ["PATCH"], summary=f"Update a {label}", **common)
    if "delete" in operations:
        handler = _typed(delete_item, [ident], None, f"delete_{name}")
        router.add_route(
            item_path, handler, ["DELETE"], status_code=204, summary=f"Delete a {label}", **common
        )
    return router
