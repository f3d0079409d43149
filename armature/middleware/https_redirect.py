"""``HTTPSRedirectMiddleware``: send every plain-text request to its ``https``/``wss`` URL."""

from __future__ import annotations

from urllib.parse import quote

from armature.middleware._security_common import first_header, parse_host
from armature.types import ASGIApp, Receive, Scope, Send

__all__ = ["HTTPSRedirectMiddleware"]

_SECURE = {"http": "https", "ws": "wss"}


class HTTPSRedirectMiddleware:
    """Redirect ``http`` to ``https`` (and ``ws`` to ``wss``) with 308, keeping path and query.

    308 keeps the method and body, so a POST is re-sent as a POST. The target host is the
    request's ``Host`` when it is well-formed, else ``scope["server"]``. Put
    :class:`~armature.middleware.proxy_headers.ProxyHeadersMiddleware` outside this one when a
    proxy terminates TLS, or every request looks like ``http`` and loops.

    A websocket handshake gets the 308 when the server supports the ``websocket.http.response``
    extension; otherwise it is closed before accept (servers answer 403).

    Args:
        app: The wrapped ASGI app.
        https_port: The port of the HTTPS server (omitted from the URL when 443).
        status_code: The redirect status (308 by default; 301 for legacy clients).
    """

    __slots__ = ("app", "https_port", "status_code")

    def __init__(self, app: ASGIApp, https_port: int = 443, status_code: int = 308) -> None:
        if status_code not in (301, 302, 303, 307, 308):
            raise ValueError("status_code must be a redirect status (301, 302, 303, 307 or 308)")
        if not 0 < https_port < 65536:
            raise ValueError("https_port must be a TCP port")
        self.app = app
        self.https_port = https_port
        self.status_code = status_code

    def location(self, scope: Scope) -> str:
        """The secure URL of the request in ``scope``.

        Args:
            scope: An http or websocket scope.

        Returns:
            The absolute ``https://`` or ``wss://`` URL.
        """
        scheme = "wss" if scope.get("type") == "websocket" else "https"
        raw_host = first_header(scope, b"host")
        parsed = parse_host(raw_host.decode("latin-1")) if raw_host else None
        if parsed is not None:
            host = parsed[0]
        else:
            server = scope.get("server")
            host = str(server[0]) if server else "localhost"
            if ":" in host and not host.startswith("["):
                host = f"[{host}]"
        netloc = host if self.https_port == 443 else f"{host}:{self.https_port}"
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else quote(scope.get("path") or "/")
        url = f"{scheme}://{netloc}{path}"
        query = scope.get("query_string")
        if query:
            url += "?" + query.decode("latin-1")
        return url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        # NOTE: ASGI's default scheme is http / ws when a server leaves it out.
        if scope.get("scheme", "http" if kind == "http" else "ws") not in _SECURE:
            await self.app(scope, receive, send)
            return
        headers = [(b"location", self.location(scope).encode("latin-1")), (b"content-length", b"0")]
        if kind == "http":
            await send(
                {"type": "http.response.start", "status": self.status_code, "headers": headers}
            )
            await send({"type": "http.response.body", "body": b""})
            return
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if "websocket.http.response" in (scope.get("extensions") or {}):
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": self.status_code,
                    "headers": headers,
                }
            )
            await send({"type": "websocket.http.response.body", "body": b""})
            return
        await send({"type": "websocket.close", "code": 1008, "reason": "Use wss://"})
