"""``HTTPConnection``: what a request and a websocket share, read lazily from the ASGI scope.

The path below the mount point, the URL (built from the scope, never from the ``Host`` header),
headers, query parameters, path parameters, cookies, the client address, per-connection state and
``url_for``. :class:`~armature.requests.Request` and :class:`~armature.websockets.WebSocket` add
their own channel on top.
"""

from __future__ import annotations

from collections.abc import Iterable
from http.cookies import SimpleCookie
from typing import Any

from armature.datastructures import URL, Address, Headers, QueryParams, State
from armature.types import Scope

__all__ = ["HTTPConnection", "parse_cookies"]


def parse_cookies(headers: Iterable[str]) -> dict[str, str]:
    """Parse ``Cookie`` header values; malformed pairs are skipped, quoted values unquoted.

    Args:
        headers: Every ``Cookie`` header value of the request.

    Returns:
        Cookie names to values.
    """
    cookies: dict[str, str] = {}
    for header in headers:
        for chunk in header.split(";"):
            name, sep, value = chunk.partition("=")
            name = name.strip()
            if not sep or not name:
                continue
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                parsed: SimpleCookie = SimpleCookie()
                try:
                    parsed.load(f"{name}={value}")
                    value = parsed[name].value
                except Exception:
                    value = value[1:-1]
            cookies[name] = value
    return cookies


class HTTPConnection:
    """The scope-derived parts of an HTTP request or websocket connection.

    Args:
        scope: The ASGI http or websocket scope.
        app: The armature app serving it (for :meth:`url_for`).
    """

    __slots__ = ("_cookies", "_headers", "_query", "app", "scope")

    def __init__(self, scope: Scope, app: Any = None) -> None:
        self.scope = scope
        # NOTE: not scope["app"]: when armature is mounted in another framework that key is theirs.
        self.app = app
        self._headers: Headers | None = None
        self._query: QueryParams | None = None
        self._cookies: dict[str, str] | None = None

    @property
    def path(self) -> str:
        """The path below the mount point (``scope["path"]`` without ``root_path``)."""
        path: str = self.scope["path"]
        root = self.scope.get("root_path", "")
        if root and path.startswith(root):
            return path[len(root) :] or "/"
        return path

    @property
    def root_path(self) -> str:
        """Where the app is mounted (ASGI ``root_path``)."""
        return str(self.scope.get("root_path", ""))

    @property
    def url(self) -> URL:
        """The full URL, built from the scope (never from the ``Host`` header)."""
        return URL.from_scope(self.scope)

    @property
    def base_url(self) -> URL:
        """The URL of the application root (scheme, server and ``root_path``)."""
        scope = dict(self.scope)
        scope["path"] = scope.get("root_path", "") + "/"
        scope["root_path"] = ""
        return URL.from_scope(scope, with_query=False)

    @property
    def headers(self) -> Headers:
        """Case-insensitive multi-value headers."""
        if self._headers is None:
            self._headers = Headers(self.scope["headers"])
        return self._headers

    @property
    def query_params(self) -> QueryParams:
        """Multi-value query parameters."""
        if self._query is None:
            self._query = QueryParams(self.scope.get("query_string", b""))
        return self._query

    @property
    def path_params(self) -> dict[str, Any]:
        """Converted path parameters of the matched route."""
        params: dict[str, Any] = self.scope.get("path_params") or {}
        return params

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies sent by the client (malformed pairs are skipped)."""
        if self._cookies is None:
            self._cookies = parse_cookies(self.headers.getlist("cookie"))
        return self._cookies

    @property
    def client(self) -> Address | None:
        """The client address, when the server reports it."""
        client = self.scope.get("client")
        return Address(client[0], client[1]) if client else None

    @property
    def state(self) -> State:
        """Per-connection state over ``scope["state"]`` (lifespan state is copied in by servers)."""
        data = self.scope.get("state")
        if data is None:
            data = self.scope["state"] = {}
        return State(data)

    def url_for(self, name: str, /, **params: Any) -> URL:
        """Return the absolute URL of the route called ``name``.

        Args:
            name: The route name.
            **params: Path parameters.

        Returns:
            The URL including ``root_path``.
        """
        if self.app is None:
            raise RuntimeError("this connection is not bound to an armature app")
        path = self.app.url_path_for(name, **params)
        base = self.base_url.rstrip("/")
        return URL(base + path)
