"""OpenAPI 3.1 for armature apps: the document, and Swagger UI / ReDoc pages to read it.

```python
from armature import App
from armature.openapi import build_openapi, setup_openapi

app = App(title="shop", version="1.0.0")

@app.get("/items/{item_id:int}")
async def get_item(item_id: int) -> dict[str, int]:
    return {"id": item_id}

setup_openapi(app)            # GET /openapi.json, /docs (Swagger UI), /redoc
document = build_openapi(app)
assert document["paths"]["/items/{item_id}"]["get"]["operationId"] == "get_item"
```

The document comes from what startup compilation decided for every route: path converters,
parameter sources and their pydantic types, request and response models, status codes, tags,
docstrings and the security schemes guards declare. Errors are documented as RFC 9457 problem
details (``Problem``, and ``ValidationProblem`` on 422).
"""

from armature.openapi._builder import OPENAPI_VERSION, build_openapi, openapi_path
from armature.openapi._config import (
    REDOC_JS_URL,
    SWAGGER_CSS_URL,
    SWAGGER_JS_URL,
    OpenAPIConfig,
)
from armature.openapi._routes import redoc_html, setup_openapi, swagger_ui_html

__all__ = [
    "OPENAPI_VERSION",
    "REDOC_JS_URL",
    "SWAGGER_CSS_URL",
    "SWAGGER_JS_URL",
    "OpenAPIConfig",
    "build_openapi",
    "openapi_path",
    "redoc_html",
    "setup_openapi",
    "swagger_ui_html",
]
