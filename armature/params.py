"""Parameter source markers, used with ``typing.Annotated`` (or as a default value).

```python
from typing import Annotated
from armature import App, Header, Query

app = App()

@app.get("/items")
async def items(limit: Annotated[int, Query(alias="max", ge=1, le=100)] = 20,
                token: Annotated[str | None, Header(alias="x-token")] = None) -> dict:
    return {"limit": limit, "token": token}
```

Without a marker, a parameter is bound by name and type: a path parameter when the route path names
it, a ``Request`` by annotation, a pydantic model (or any structured type) from the JSON body,
and a simple type (``str``, ``int``, ``float``, ``bool``, ``UUID``, ``date``, enums,
``list[T]``...) from the query string.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["Body", "Cookie", "File", "Form", "Header", "Param", "Path", "Query", "UNSET"]


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()


class Param:
    """Base of the source markers.

    Args:
        default: The default value (``UNSET`` means required unless the signature has a default).
        alias: The name on the wire when it differs from the parameter name.
        description: Shown in the OpenAPI document.
        deprecated: Marks the parameter deprecated in the OpenAPI document.
        include_in_schema: Hide the parameter from the OpenAPI document when False.
        **constraints: pydantic ``Field`` constraints (``ge``, ``le``, ``pattern``...).
    """

    __slots__ = (
        "alias",
        "constraints",
        "default",
        "deprecated",
        "description",
        "include_in_schema",
    )
    source: ClassVar[str] = ""

    def __init__(
        self,
        default: Any = UNSET,
        *,
        alias: str | None = None,
        description: str | None = None,
        deprecated: bool = False,
        include_in_schema: bool = True,
        **constraints: Any,
    ) -> None:
        self.default = default
        self.alias = alias
        self.description = description
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema
        self.constraints = constraints

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alias={self.alias!r}, default={self.default!r})"


class Query(Param):
    """Bind from the query string (a pydantic model binds from all query parameters)."""

    __slots__ = ()
    source = "query"


class Path(Param):
    """Bind from a path parameter (only needed for aliases or constraints)."""

    __slots__ = ()
    source = "path"


class Header(Param):
    """Bind from a request header; ``x_token`` reads ``x-token`` (see ``convert_underscores``).

    Args:
        default: The default value.
        convert_underscores: Map ``_`` in the parameter name to ``-``.
        **kwargs: As for :class:`Param`.
    """

    __slots__ = ("convert_underscores",)
    source = "header"

    def __init__(self, default: Any = UNSET, *, convert_underscores: bool = True, **kwargs: Any):
        super().__init__(default, **kwargs)
        self.convert_underscores = convert_underscores


class Cookie(Param):
    """Bind from a request cookie."""

    __slots__ = ()
    source = "cookie"


class Body(Param):
    """Bind from the JSON body; ``embed=True`` reads ``{"<name>": ...}`` instead of the whole body.

    Args:
        default: The default value.
        embed: Read the value from a key of a JSON object named like the parameter.
        media_type: The expected media type (documented in OpenAPI).
        **kwargs: As for :class:`Param`.
    """

    __slots__ = ("embed", "media_type")
    source = "body"

    def __init__(
        self,
        default: Any = UNSET,
        *,
        embed: bool = False,
        media_type: str = "application/json",
        **kwargs: Any,
    ) -> None:
        super().__init__(default, **kwargs)
        self.embed = embed
        self.media_type = media_type


class Form(Param):
    """Bind from a url-encoded or multipart form field (a pydantic model binds from all fields).

    The form is parsed once per request, while it streams, within the route's ``Limits``.
    """

    __slots__ = ()
    source = "form"


class File(Form):
    """Bind an uploaded file (``UploadFile`` or ``list[UploadFile]``) from a multipart form."""

    __slots__ = ()
