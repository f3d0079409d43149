"""``OpenAPIConfig``: what the document says about the API, and where it and its viewers live."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CONFIG_KEY",
    "REDOC_JS_URL",
    "SWAGGER_CSS_URL",
    "SWAGGER_JS_URL",
    "OpenAPIConfig",
    "normalize_servers",
]

SWAGGER_JS_URL = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"
SWAGGER_CSS_URL = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"
REDOC_JS_URL = "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"

CONFIG_KEY = "openapi"
"""The key of ``app.extra`` where :func:`~armature.openapi.setup_openapi` keeps its config, so
``build_openapi(app)`` and ``armature openapi`` produce the same document as ``/openapi.json``."""


@dataclass(frozen=True, slots=True)
class OpenAPIConfig:
    """Document metadata and the URLs of the document and its viewers.

    Attributes:
        path: Where the JSON document is served (``None``: not served).
        docs_path: Where Swagger UI is served (``None``: not served).
        redoc_path: Where ReDoc is served (``None``: not served).
        title: ``info.title`` (defaults to ``app.title``).
        version: ``info.version`` (defaults to ``app.version``).
        description: ``info.description`` (Markdown).
        summary: ``info.summary``.
        info: More Info Object fields (``contact``, ``license``, ``termsOfService``).
        servers: Server Objects; when ``None`` and the app is served below a ``root_path``, the
            served document lists that path as its server.
        tags: Tag Objects (``{"name": ..., "description": ...}``) describing the tags routes use.
        swagger_js_url: The Swagger UI bundle script.
        swagger_css_url: The Swagger UI stylesheet.
        redoc_js_url: The ReDoc standalone script.
        swagger_ui_parameters: Extra options merged into ``SwaggerUIBundle({...})``.
        include_docs: Serve the Swagger UI and ReDoc pages.
    """

    path: str | None = "/openapi.json"
    docs_path: str | None = "/docs"
    redoc_path: str | None = "/redoc"
    title: str | None = None
    version: str | None = None
    description: str | None = None
    summary: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    servers: tuple[Mapping[str, Any], ...] | None = None
    tags: tuple[Mapping[str, Any], ...] = ()
    swagger_js_url: str = SWAGGER_JS_URL
    swagger_css_url: str = SWAGGER_CSS_URL
    redoc_js_url: str = REDOC_JS_URL
    swagger_ui_parameters: Mapping[str, Any] = field(default_factory=dict)
    include_docs: bool = True


def normalize_servers(
    servers: Sequence[str | Mapping[str, Any]] | None,
) -> tuple[Mapping[str, Any], ...] | None:
    """Turn server URLs or Server Objects into Server Objects.

    Args:
        servers: ``"https://api.example.com"`` strings or ``{"url": ..., "description": ...}``.

    Returns:
        The Server Objects, or ``None`` when ``servers`` is ``None``.

    Raises:
        ValueError: A server mapping has no ``url``.
    """
    if servers is None:
        return None
    out: list[Mapping[str, Any]] = []
    for server in servers:
        if isinstance(server, str):
            out.append({"url": server})
        elif isinstance(server.get("url"), str):
            out.append(dict(server))
        else:
            raise ValueError(f"a server object needs a 'url' string, got {server!r}")
    return tuple(out)
