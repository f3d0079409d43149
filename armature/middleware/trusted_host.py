"""``TrustedHostMiddleware``: refuse requests whose ``Host`` header is not one of yours.

A forged ``Host`` poisons anything built from it: password-reset links, redirects, cache keys.
armature never builds URLs from ``Host`` itself, but templates and user code often do; this
middleware makes sure only the hosts you list reach the app.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from armature.middleware._security_common import HostPattern, header_values, parse_host, reject
from armature.types import ASGIApp, Receive, Scope, Send

__all__ = ["TrustedHostMiddleware"]

_CACHE_SIZE = 1024


class TrustedHostMiddleware:
    """Allow only requests (http and websocket) whose ``Host`` matches ``allowed_hosts``.

    Patterns are ``example.com`` (exact), ``*.example.com`` (any subdomain at any depth, not
    ``example.com`` itself), ``[::1]`` (IPv6), any of those with ``:port`` (only that port; without
    a port every port matches), or ``*`` (any well-formed host). Matching is case-insensitive and
    ignores a trailing dot. Patterns are compared as strings, never compiled into regexes.

    A missing ``Host``, several ``Host`` headers, or a malformed one (``/``, ``?``, ``#``, ``@``,
    spaces, control characters, a bad port...) is refused with 400 even with ``*``; so is a host
    that matches no pattern. Refusals are problem+json.

    Args:
        app: The wrapped ASGI app.
        allowed_hosts: The host patterns. Defaults to ``("*",)``: only the syntax check.
        www_redirect: When ``example.com`` is not allowed but ``www.example.com`` is, redirect (308)
            to the ``www.`` host instead of refusing.

    Raises:
        ValueError: A pattern is invalid, or the list is empty.
    """

    __slots__ = ("_cache", "allow_any", "app", "patterns", "www_redirect")

    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: Sequence[str] = ("*",),
        www_redirect: bool = True,
    ) -> None:
        if isinstance(allowed_hosts, str):
            raise ValueError("allowed_hosts must be a sequence of patterns, not a string")
        if not allowed_hosts:
            raise ValueError("allowed_hosts must not be empty (use ['*'] to allow any host)")
        self.app = app
        self.patterns = tuple(HostPattern(p) for p in allowed_hosts)
        self.allow_any = any(p.any for p in self.patterns)
        self.www_redirect = www_redirect
        self._cache: dict[bytes, tuple[str, int | None] | None] = {}

    def is_allowed(self, host: str, port: int | None) -> bool:
        """Tell whether a parsed host and port match a pattern.

        Args:
            host: The lower-cased host, as :func:`parse_host` returns it.
            port: The port, or ``None``.

        Returns:
            True when allowed.
        """
        if self.allow_any:
            return True
        return any(p.matches(host, port) for p in self.patterns)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        values = header_values(scope, b"host")
        if len(values) != 1:
            detail = "Missing Host header" if not values else "Several Host headers"
            await reject(scope, receive, send, 400, detail)
            return
        raw = bytes(values[0])
        cache = self._cache
        if raw in cache:
            # PERF: a server sees few distinct Host values; allowed ones are memoised (bounded).
            await self.app(scope, receive, send)
            return
        parsed = parse_host(raw.decode("latin-1"))
        if parsed is None:
            await reject(scope, receive, send, 400, "Invalid Host header")
            return
        host, port = parsed
        if self.is_allowed(host, port):
            if len(cache) >= _CACHE_SIZE:
                cache.clear()
            cache[raw] = parsed
            await self.app(scope, receive, send)
            return
        if (
            self.www_redirect
            and kind == "http"
            and not host.startswith(("www.", "["))
            and self.is_allowed("www." + host, port)
        ):
            await self._redirect(scope, send, "www." + host, port)
            return
        await reject(scope, receive, send, 400, "Invalid Host header")

    async def _redirect(self, scope: Scope, send: Send, host: str, port: int | None) -> None:
        netloc = host if port is None else f"{host}:{port}"
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else quote(scope.get("path") or "/")
        location = f"{scope.get('scheme', 'http')}://{netloc}{path}"
        query = scope.get("query_string")
        if query:
            location += "?" + query.decode("latin-1")
        await send(
            {
                "type": "http.response.start",
                "status": 308,
                "headers": [
                    (b"location", location.encode("latin-1")),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})
