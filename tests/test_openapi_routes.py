"""``setup_openapi``: the served document, Swagger UI and ReDoc pages, laziness and root_path."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from armature import App
from armature.openapi import (
    REDOC_JS_URL,
    SWAGGER_CSS_URL,
    SWAGGER_JS_URL,
    OpenAPIConfig,
    build_openapi,
    setup_openapi,
)
from armature.testing import AsyncTestClient, TestClient


def make_app(**options: Any) -> App:
    app = App(title="served", version="1.2.3")

    @app.get("/items/{item_id:int}", tags=["items"])
    async def get_item(item_id: int) -> dict[str, int]:
        """Fetch an item."""
        return {"id": item_id}

    setup_openapi(app, **options)
    return app


def test_serves_the_document_and_leaves_its_own_routes_out() -> None:
    app = make_app(description="An API", servers=["https://api.example.com"])
    with TestClient(app) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    validate(document)
    assert document == build_openapi(app)
    assert list(document["paths"]) == ["/items/{item_id}"]
    assert document["info"] == {"title": "served", "version": "1.2.3", "description": "An API"}
    assert document["servers"] == [{"url": "https://api.example.com"}]
    assert isinstance(app.extra["openapi"], OpenAPIConfig)


def test_metadata_overrides() -> None:
    app = make_app(
        title="Shop",
        version="9",
        summary="Buy things",
        info={"license": {"name": "MIT", "identifier": "MIT"}},
        tags=[{"name": "items", "description": "What we sell"}],
        servers=[{"url": "/v1", "description": "relative"}],
    )
    document = build_openapi(app)
    validate(document)
    assert document["info"] == {
        "title": "Shop",
        "version": "9",
        "summary": "Buy things",
        "license": {"name": "MIT", "identifier": "MIT"},
    }
    assert document["tags"] == [{"name": "items", "description": "What we sell"}]
    assert document["servers"] == [{"url": "/v1", "description": "relative"}]


def test_swagger_ui_and_redoc_pages_use_the_default_cdn_assets() -> None:
    app = make_app()
    with TestClient(app) as client:
        docs = client.get("/docs")
        redoc = client.get("/redoc")
    assert docs.status_code == 200
    assert docs.headers["content-type"] == "text/html; charset=utf-8"
    assert f'<script src="{SWAGGER_JS_URL}"></script>' in docs.text
    assert f'<link rel="stylesheet" href="{SWAGGER_CSS_URL}">' in docs.text
    assert '"url": "/openapi.json"' in docs.text
    assert "<title>served - Swagger UI</title>" in docs.text
    assert redoc.status_code == 200
    assert f'<script src="{REDOC_JS_URL}"></script>' in redoc.text
    assert '<redoc spec-url="/openapi.json"></redoc>' in redoc.text
    assert SWAGGER_JS_URL.startswith("https://cdn.jsdelivr.net/")


def test_asset_urls_paths_and_options_are_configurable() -> None:
    app = make_app(
        path="/api/schema.json",
        docs_path="/api/docs",
        redoc_path=None,
        swagger_js_url="/static/swagger-ui-bundle.js",
        swagger_css_url="/static/swagger-ui.css",
        swagger_ui_parameters={"docExpansion": "none"},
        title="</script><b>",
    )
    with TestClient(app) as client:
        assert client.get("/openapi.json").status_code == 404
        assert client.get("/redoc").status_code == 404
        assert client.get("/api/schema.json").json()["info"]["title"] == "</script><b>"
        page = client.get("/api/docs").text
    assert '<script src="/static/swagger-ui-bundle.js"></script>' in page
    assert 'href="/static/swagger-ui.css"' in page
    assert '"docExpansion": "none"' in page
    assert '"url": "/api/schema.json"' in page
    # The title is escaped in HTML; nothing can close the script element early.
    assert "<title>&lt;/script&gt;&lt;b&gt; - Swagger UI</title>" in page
    assert page.count("</script>") == 2


def test_include_docs_false_serves_only_the_document() -> None:
    app = make_app(include_docs=False)
    with TestClient(app) as client:
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs").status_code == 404
        assert client.get("/redoc").status_code == 404


def test_the_document_is_built_on_first_request_and_cached() -> None:
    class BrokenGuard:
        openapi_security_scheme = "not a pair"

        def can_activate(self, context: Any) -> bool:
            return True

    app = App()

    @app.get("/ok", guards=[BrokenGuard()])
    async def ok() -> dict[str, bool]:
        return {"ok": True}

    setup_openapi(app)
    # Import and startup do not build the document: the app starts and serves despite the
    # broken declaration, which only the document request trips over.
    with TestClient(app) as client:
        assert client.get("/ok").json() == {"ok": True}
        failed = client.get("/openapi.json")
        assert failed.status_code == 500
        assert failed.headers["content-type"] == "application/problem+json"
    good = make_app()
    with TestClient(good) as client:
        first = client.get("/openapi.json").content
        good.title = "renamed later"
        assert client.get("/openapi.json").content == first
    assert build_openapi(good)["info"]["title"] == "renamed later"


def test_mounted_app_documents_its_root_path_as_server() -> None:
    inner = make_app()
    outer = App()
    outer.mount("/api", inner)
    with TestClient(outer) as client:
        document = client.get("/api/openapi.json").json()
        docs = client.get("/api/docs").text
        redoc = client.get("/api/redoc").text
    assert document["servers"] == [{"url": "/api"}]
    assert list(document["paths"]) == ["/items/{item_id}"]
    assert '"url": "/api/openapi.json"' in docs
    assert 'spec-url="/api/openapi.json"' in redoc
    # Served at the root, the same app's document names no server.
    with TestClient(inner) as client:
        assert "servers" not in client.get("/openapi.json").json()


@pytest.mark.anyio
async def test_served_document_with_the_async_client() -> None:
    app = make_app()
    async with AsyncTestClient(app) as client:
        response = await client.get("/openapi.json")
    assert response.json()["paths"]["/items/{item_id}"]["get"]["summary"] == "Fetch an item."


def test_setup_after_start_is_an_error() -> None:
    app = App()

    @app.get("/")
    async def index() -> dict[str, int]:
        return {}

    app.compile()
    with pytest.raises(RuntimeError, match="before the application starts"):
        setup_openapi(app)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="the docs pages need the document"):
        setup_openapi(App(), path=None)
    with pytest.raises(ValueError, match="needs a 'url'"):
        setup_openapi(App(), servers=[{"description": "no url"}])
    app = App()
    setup_openapi(app, path=None, include_docs=False)
    assert app.routes == []
