"""``CORSMiddleware``: Cross-Origin Resource Sharing (the Fetch standard's CORS protocol).

Preflights (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) are answered here
without reaching the app: 204 when allowed, 400 problem+json when not. Other requests go to the
app and the CORS headers are added to its response when the origin is allowed.
"""

from __future__ import annotations

from collections.abc import Sequence

from armature.datastructures import MutableHeaders
from armature.middleware._security_common import (
    DEFAULT_PORTS,
    HostPattern,
    first_header,
    is_token,
    parse_host,
    send_problem,
)
from armature.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CORSMiddleware", "OriginPattern"]

# NOTE: CORS-safelisted request headers never need to be listed to pass a preflight.
_SAFELISTED_HEADERS = frozenset({"accept", "accept-language", "content-language", "content-type"})
_ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
_CORS_RESPONSE_HEADERS = frozenset(
    {
        b"access-control-allow-origin",
        b"access-control-allow-credentials",
        b"access-control-expose-headers",
    }
)


def _parse_origin(value: str) -> tuple[str, str, int | None] | None:
    """Split a serialized origin into ``(scheme, host, port)``; default ports become ``None``."""
    scheme, sep, rest = value.partition("://")
    scheme = scheme.lower()
    if not sep or not scheme.isascii() or not scheme.isalpha():
        return None
    parsed = parse_host(rest)
    if parsed is None or rest.endswith("."):
        return None
    host, port = parsed
    if port is not None and DEFAULT_PORTS.get(scheme) == port:
        port = None
    return scheme, host, port


class OriginPattern:
    """One allowed origin: ``https://example.com``, ``https://*.example.com``, ``null`` or ``*``.

    A wildcard matches any subdomain (at any depth) of the suffix with the same scheme and port,
    never the bare suffix. Default ports are normalized (``https://a.com:443`` is
    ``https://a.com``).

    Args:
        pattern: The pattern text.

    Raises:
        ValueError: The pattern is not an origin (no path, query, user info or trailing slash).
    """

    __slots__ = ("any", "host", "scheme", "text")

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.any = pattern == "*"
        self.scheme = ""
        self.host: HostPattern | None = None
        if self.any or pattern == "null":
            return
        scheme, sep, rest = pattern.partition("://")
        wildcard = rest.startswith("*.")
        parsed = _parse_origin(f"{scheme}://{rest[2:] if wildcard else rest}") if sep else None
        if parsed is None:
            raise ValueError(
                f"invalid origin {pattern!r}: expected 'scheme://host[:port]', "
                "'scheme://*.domain[:port]', 'null' or '*' (no path or trailing slash)"
            )
        self.scheme, host, port = parsed
        text = ("*." if wildcard else "") + host + ("" if port is None else f":{port}")
        self.host = HostPattern(text)
        if self.host.port is None:
            # NOTE: an origin without a port means the scheme's default port, not "any port".
            self.host.port = DEFAULT_PORTS.get(self.scheme, 0)

    @property
    def exact(self) -> str | None:
        """The normalized origin when the pattern has no wildcard, else ``None``."""
        if self.any:
            return None
        if self.host is None:
            return "null"
        if self.host.suffix is not None:
            return None
        port = self.host.port
        default = DEFAULT_PORTS.get(self.scheme, 0)
        return f"{self.scheme}://{self.host.host}" + ("" if port == default else f":{port}")

    def matches(self, scheme: str, host: str, port: int | None) -> bool:
        """Tell whether a parsed origin matches this pattern.

        Args:
            scheme: The origin's scheme (lower case).
            host: Its host (lower case).
            port: Its port; ``None`` for the scheme's default.

        Returns:
            True when allowed.
        """
        if self.any:
            return True
        if self.host is None or scheme != self.scheme:
            return False
        return self.host.matches(host, DEFAULT_PORTS.get(scheme, 0) if port is None else port)

    def __repr__(self) -> str:
        return f"OriginPattern({self.text!r})"


class CORSMiddleware:
    """Answer CORS preflights and add CORS headers to responses for allowed origins.

    Args:
        app: The wrapped ASGI app.
        allow_origins: Allowed origins: exact (``https://example.com``), wildcard subdomains
            (``https://*.example.com``), ``null``, or ``*`` for any origin. Matched by string
            comparison, never as regular expressions.
        allow_methods: Methods a preflight may ask for (``*`` for any).
        allow_headers: Request headers a preflight may ask for (``*`` for any). The CORS-safelisted
            ``Accept``, ``Accept-Language``, ``Content-Language`` and ``Content-Type`` are always
            allowed.
        allow_credentials: Let browsers send cookies and read the response. The allowed origin is
            then reflected instead of ``*`` (browsers refuse ``*`` with credentials), and so are
            the requested methods and headers when those are ``*``.
        expose_headers: Response headers the browser's script may read.
        max_age: How long (seconds) browsers may cache a preflight answer.

    Raises:
        ValueError: An origin pattern, method or header name is invalid.
    """

    __slots__ = (
        "_cache",
        "allow_all_headers",
        "allow_all_methods",
        "allow_credentials",
        "allow_headers",
        "allow_methods",
        "app",
        "exact_origins",
        "expose_headers",
        "max_age",
        "origin_any",
        "preflight_headers",
        "simple_headers",
        "varies",
        "wildcard_origins",
    )

    def __init__(
        self,
        app: ASGIApp,
        allow_origins: Sequence[str] = (),
        allow_methods: Sequence[str] = ("GET",),
        allow_headers: Sequence[str] = (),
        allow_credentials: bool = False,
        expose_headers: Sequence[str] = (),
        max_age: int = 600,
    ) -> None:
        for name, value in (
            ("allow_origins", allow_origins),
            ("allow_methods", allow_methods),
            ("allow_headers", allow_headers),
            ("expose_headers", expose_headers),
        ):
            if isinstance(value, str):
                raise ValueError(f"{name} must be a sequence of strings, not a string")
        if max_age < 0:
            raise ValueError("max_age must be >= 0")
        self.app = app
        patterns = [OriginPattern(o) for o in allow_origins]
        self.origin_any = any(p.any for p in patterns)
        self.exact_origins = frozenset(p.exact for p in patterns if p.exact is not None)
        self.wildcard_origins = tuple(p for p in patterns if not p.any and p.exact is None)
        self.allow_credentials = allow_credentials
        self.allow_all_methods = "*" in allow_methods
        methods = [m.upper() for m in allow_methods if m != "*"]
        headers = [h.lower() for h in allow_headers if h != "*"]
        exposed = [h.lower() for h in expose_headers]
        for value in (*methods, *headers, *exposed):
            if not is_token(value):
                raise ValueError(f"invalid method or header name {value!r}")
        self.allow_methods = frozenset(_ALL_METHODS if self.allow_all_methods else methods)
        self.allow_all_headers = "*" in allow_headers
        self.allow_headers = frozenset(headers) | _SAFELISTED_HEADERS
        self.expose_headers = ", ".join(exposed)
        self.max_age = max_age
        # NOTE: the response depends on Origin unless every origin gets the same literal "*".
        self.varies = not self.origin_any or allow_credentials
        simple: list[tuple[bytes, bytes]] = []
        if allow_credentials:
            simple.append((b"access-control-allow-credentials", b"true"))
        if self.expose_headers:
            simple.append((b"access-control-expose-headers", self.expose_headers.encode()))
        self.simple_headers = simple
        preflight: list[tuple[bytes, bytes]] = [(b"access-control-max-age", b"%d" % max_age)]
        if allow_credentials:
            preflight.append((b"access-control-allow-credentials", b"true"))
        self.preflight_headers = preflight
        self._cache: dict[bytes, bool] = {}

    def is_allowed_origin(self, origin: str) -> bool:
        """Tell whether a browser's ``Origin`` header value is allowed.

        Args:
            origin: The header value as sent (any content).

        Returns:
            True when allowed.
        """
        if origin == "null":
            # NOTE: sandboxed frames and file: pages send "null"; with credentials it must be
            # listed explicitly, "*" is not enough.
            return "null" in self.exact_origins or (self.origin_any and not self.allow_credentials)
        if self.origin_any:
            return True
        parsed = _parse_origin(origin)
        if parsed is None:
            return False
        scheme, host, port = parsed
        normalized = f"{scheme}://{host}" + ("" if port is None else f":{port}")
        if normalized in self.exact_origins:
            return True
        return any(p.matches(scheme, host, port) for p in self.wildcard_origins)

    def _allowed(self, origin: bytes) -> bool:
        cache = self._cache
        hit = cache.get(origin)
        if hit is None:
            # PERF: browsers of one site send few distinct origins; memoised, bounded.
            hit = self.is_allowed_origin(origin.decode("latin-1"))
            if len(cache) >= 1024:
                cache.clear()
            cache[origin] = hit
        return hit

    def _allow_origin_value(self, origin: bytes) -> bytes:
        if self.origin_any and not self.allow_credentials:
            return b"*"
        return origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = first_header(scope, b"origin")
        if (
            origin is not None
            and scope["method"] == "OPTIONS"
            and first_header(scope, b"access-control-request-method") is not None
        ):
            await self._preflight(scope, send, origin)
            return
        if not self.varies:
            # NOTE: any origin, no credentials: every response gets the same "*", so caches need
            # no Vary and requests without Origin are answered exactly like the others.
            allowed, value = True, b"*"
        elif origin is not None and self._allowed(origin):
            allowed, value = True, origin
        else:
            allowed, value = False, b""

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = [
                    (k, v) for k, v in message.get("headers", ()) if k not in _CORS_RESPONSE_HEADERS
                ]
                has_vary = any(k == b"vary" for k, _ in raw)
                if allowed:
                    raw.append((b"access-control-allow-origin", value))
                    raw.extend(self.simple_headers)
                if self.varies:
                    if has_vary:
                        MutableHeaders(raw).add_vary("Origin")
                    else:
                        raw.append((b"vary", b"Origin"))
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, scope: Scope, send: Send, origin: bytes) -> None:
        problems: list[str] = []
        if not self._allowed(origin):
            problems.append("origin")
        requested = first_header(scope, b"access-control-request-method") or b""
        method = requested.decode("latin-1").strip()
        if not is_token(method) or (
            not self.allow_all_methods and method.upper() not in self.allow_methods
        ):
            problems.append("method")
        requested_headers = [
            h.strip().lower()
            for h in (first_header(scope, b"access-control-request-headers") or b"")
            .decode("latin-1")
            .split(",")
            if h.strip()
        ]
        if any(not is_token(h) for h in requested_headers) or (
            not self.allow_all_headers
            and any(h not in self.allow_headers for h in requested_headers)
        ):
            problems.append("headers")
        vary = b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
        if problems:
            await send_problem(
                scope,
                send,
                400,
                f"Disallowed CORS {', '.join(problems)}",
                [(b"vary", vary)],
            )
            return
        headers = [
            (b"access-control-allow-origin", self._allow_origin_value(origin)),
            *self.preflight_headers,
        ]
        if self.allow_all_methods and self.allow_credentials:
            # NOTE: with credentials browsers read "*" literally, so name the requested method.
            headers.append((b"access-control-allow-methods", method.encode("latin-1")))
        elif self.allow_all_methods:
            headers.append((b"access-control-allow-methods", b"*"))
        else:
            headers.append(
                (b"access-control-allow-methods", ", ".join(sorted(self.allow_methods)).encode())
            )
        if requested_headers:
            if self.allow_all_headers:
                value = ", ".join(requested_headers)
            else:
                value = ", ".join(sorted(self.allow_headers))
            headers.append((b"access-control-allow-headers", value.encode("latin-1")))
        headers.append((b"vary", vary))
        headers.append((b"content-length", b"0"))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
