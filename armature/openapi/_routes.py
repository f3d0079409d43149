"""``setup_openapi``: serve the document at ``/openapi.json``, and Swagger UI and ReDoc pages."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from armature.openapi._builder import build_openapi
from armature.openapi._config import (
    CONFIG_KEY,
    REDOC_JS_URL,
    SWAGGER_CSS_URL,
    SWAGGER_JS_URL,
    OpenAPIConfig,
    normalize_servers,
)
from armature.requests import Request
from armature.responses import HTMLResponse, Response

if TYPE_CHECKING:
    from armature.app import App

__all__ = ["redoc_html", "setup_openapi", "swagger_ui_html"]


def _script_json(value: Any) -> str:
    # NOTE: JSON inside <script>: escape '<' so a value can never close the script element.
    return json.dumps(value, sort_keys=True).replace("<", "\\u003c")


def swagger_ui_html(
    *, title: str, openapi_url: str, js_url: str, css_url: str, parameters: Mapping[str, Any]
) -> str:
    """The Swagger UI page.

    Args:
        title: The page title.
        openapi_url: Where the browser fetches the document.
        js_url: The ``swagger-ui-bundle.js`` URL.
        css_url: The ``swagger-ui.css`` URL.
        parameters: Extra ``SwaggerUIBundle`` options.

    Returns:
        The HTML document.
    """
    options = {"url": openapi_url, "dom_id": "#swagger-ui", "deepLinking": True, **parameters}
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)} - Swagger UI</title>\n"
        f'<link rel="stylesheet" href="{html.escape(css_url)}">\n'
        '</head>\n<body>\n<div id="swagger-ui"></div>\n'
        f'<script src="{html.escape(js_url)}"></script>\n'
        "<script>\n"
        f"const options = {_script_json(options)};\n"
        "options.presets = [\n"
        "  SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset\n"
        "];\n"
        "window.ui = SwaggerUIBundle(options);\n"
        "</script>\n</body>\n</html>\n"
    )


def redoc_html(*, title: str, openapi_url: str, js_url: str) -> str:
    """The ReDoc page.

    Args:
        title: The page title.
        openapi_url: Where the browser fetches the document.
        js_url: The ``redoc.standalone.js`` URL.

    Returns:
        The HTML document.
    """
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)} - ReDoc</title>\n"
        "<style>body { margin: 0; padding: 0; }</style>\n"
        "</head>\n<body>\n"
        f'<redoc spec-url="{html.escape(openapi_url)}"></redoc>\n'
        f'<script src="{html.escape(js_url)}"></script>\n'
        "</body>\n</html>\n"
    )


def setup_openapi(
    app: App,
    *,
    path: str | None = "/openapi.json",
    docs_path: str | None = "/docs",
    redoc_path: str | None = "/redoc",
    title: str | None = None,
    version: str | None = None,
    description: str | None = None,
    summary: str | None = None,
    info: Mapping[str, Any] | None = None,
    servers: Sequence[str | Mapping[str, Any]] | None = None,
    tags: Sequence[Mapping[str, Any]] = (),
    swagger_js_url: str = SWAGGER_JS_URL,
    swagger_css_url: str = SWAGGER_CSS_URL,
    redoc_js_url: str = REDOC_JS_URL,
    swagger_ui_parameters: Mapping[str, Any] | None = None,
    include_docs: bool = True,
) -> OpenAPIConfig:
    """Serve the OpenAPI document of ``app`` and, unless disabled, Swagger UI and ReDoc pages.

    The document is built on the first request for it (not at import or startup) and cached; the
    three routes are left out of the document themselves. Call this before the app starts.

    Args:
        app: The application.
        path: The document's path (``None``: do not serve it; the pages need it).
        docs_path: The Swagger UI page (``None``: none).
        redoc_path: The ReDoc page (``None``: none).
        title: ``info.title`` (defaults to ``app.title``).
        version: ``info.version`` (defaults to ``app.version``).
        description: ``info.description``.
        summary: ``info.summary``.
        info: Other Info Object fields (``contact``, ``license``, ``termsOfService``).
        servers: Server URLs or Server Objects.
        tags: Tag Objects with descriptions for the tags routes use.
        swagger_js_url: Swagger UI bundle URL (serve your own copy for offline deployments).
        swagger_css_url: Swagger UI stylesheet URL.
        redoc_js_url: ReDoc standalone bundle URL.
        swagger_ui_parameters: Extra ``SwaggerUIBundle`` options (``{"docExpansion": "none"}``).
        include_docs: Serve the two HTML pages.

    Returns:
        The configuration, also stored in ``app.extra["openapi"]`` for ``build_openapi(app)`` and
        the ``armature openapi`` command.

    Raises:
        RuntimeError: The app has already compiled its routes.
        ValueError: Pages are requested without a document path, or a server has no URL.
    """
    if app.compiled_routes:
        raise RuntimeError("call setup_openapi() before the application starts")
    config = OpenAPIConfig(
        path=path,
        docs_path=docs_path if include_docs else None,
        redoc_path=redoc_path if include_docs else None,
        title=title,
        version=version,
        description=description,
        summary=summary,
        info=dict(info or {}),
        servers=normalize_servers(servers),
        tags=tuple(dict(tag) for tag in tags),
        swagger_js_url=swagger_js_url,
        swagger_css_url=swagger_css_url,
        redoc_js_url=redoc_js_url,
        swagger_ui_parameters=dict(swagger_ui_parameters or {}),
        include_docs=include_docs,
    )
    if path is None and (config.docs_path or config.redoc_path):
        raise ValueError("the docs pages need the document: give a path or include_docs=False")
    app.extra[CONFIG_KEY] = config
    _register(app, config)
    return config


def _register(app: App, config: OpenAPIConfig) -> None:
    # NOTE: one cached body per root_path: the document names it as its server when no servers
    # are configured, so a mounted or proxied app documents URLs that work.
    documents: dict[str, bytes] = {}
    pages: dict[tuple[str, str], bytes] = {}

    def document_for(root_path: str) -> bytes:
        body = documents.get(root_path)
        if body is None:
            document = build_openapi(app, config)
            if root_path and config.servers is None:
                document["servers"] = [{"url": root_path}]
            body = documents[root_path] = orjson.dumps(document)
        return body

    def page_title() -> str:
        return config.title if config.title is not None else app.title

    if config.path is not None:
        document_path = config.path

        async def openapi_document(request: Request) -> Response:
            """The OpenAPI document."""
            # NOTE: built on first use (a few ms, once), never at import or startup.
            return Response(
                document_for(request.scope.get("root_path", "")), media_type="application/json"
            )

        app.add_route(
            document_path, openapi_document, ("GET",), name="openapi", include_in_schema=False
        )

        if config.docs_path is not None:

            async def swagger_ui(request: Request) -> HTMLResponse:
                """The Swagger UI page."""
                root = request.scope.get("root_path", "")
                body = pages.get(("swagger", root))
                if body is None:
                    body = pages[("swagger", root)] = swagger_ui_html(
                        title=page_title(),
                        openapi_url=root + document_path,
                        js_url=config.swagger_js_url,
                        css_url=config.swagger_css_url,
                        parameters=config.swagger_ui_parameters,
                    ).encode()
                return HTMLResponse(body)

            app.add_route(
                config.docs_path, swagger_ui, ("GET",), name="openapi_docs", include_in_schema=False
            )

        if config.redoc_path is not None:

            async def redoc(request: Request) -> HTMLResponse:
                """The ReDoc page."""
                root = request.scope.get("root_path", "")
                body = pages.get(("redoc", root))
                if body is None:
                    body = pages[("redoc", root)] = redoc_html(
                        title=page_title(),
                        openapi_url=root + document_path,
                        js_url=config.redoc_js_url,
                    ).encode()
                return HTMLResponse(body)

            app.add_route(
                config.redoc_path, redoc, ("GET",), name="openapi_redoc", include_in_schema=False
            )
