"""Internals shared by the security middleware: host parsing, header access, problem replies.

Nothing here builds a regular expression from configuration: the only patterns are the fixed ones
below, and user-supplied host patterns are matched by string comparison.
"""

from __future__ import annotations

import ipaddress
import re
import string
from collections.abc import Iterable, Sequence
from typing import Any

from armature.exceptions import PROBLEM_JSON, problem_body
from armature.types import Receive, Scope, Send

__all__ = [
    "DEFAULT_PORTS",
    "HostPattern",
    "TOKEN_CHARS",
    "app_path",
    "cookie_values",
    "first_header",
    "header_values",
    "is_token",
    "parse_host",
    "problem_bytes",
    "reject",
    "send_problem",
]

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
#: RFC 9110 ``tchar``: what header names, methods and cookie names are made of.
TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits)

# NOTE: a fixed grammar (RFC 3986 reg-name restricted to DNS-ish labels, plus underscores that
# container hostnames use), applied to lower-cased input; user strings never become patterns.
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_RE = re.compile(
    rf"(?:(?P<name>{_LABEL}(?:\.{_LABEL})*)\.?|\[(?P<v6>[0-9a-f:.]{{2,45}})\])"
    r"(?::(?P<port>[0-9]{1,5}))?"
)
_MAX_HOST = 261  # 253 for the name, ":" and 5 port digits, brackets for IPv6


def parse_host(value: str) -> tuple[str, int | None] | None:
    """Parse a ``Host``-style ``host[:port]`` strictly.

    Args:
        value: The header value (any content).

    Returns:
        ``(host, port)`` with the host lower-cased, a trailing dot dropped and IPv6 addresses in
        brackets; ``port`` is ``None`` when absent. ``None`` when the value is not a valid host
        (empty, too long, containing ``/``, ``?``, ``#``, ``@``, spaces, control characters...).
    """
    if not value or len(value) > _MAX_HOST or not value.isascii():
        return None
    match = _HOST_RE.fullmatch(value.lower())
    if match is None:
        return None
    port_text = match["port"]
    port: int | None = None
    if port_text is not None:
        port = int(port_text)
        if port > 65535:
            return None
    v6 = match["v6"]
    if v6 is not None:
        try:
            address = ipaddress.IPv6Address(v6)
        except ValueError:
            return None
        return f"[{address.compressed}]", port
    name: str = match["name"]
    if len(name) > 253:
        return None
    return name, port


class HostPattern:
    """One allowed host: exact (``example.com``), wildcard (``*.example.com``) or any (``*``).

    A wildcard matches any name below the suffix, at any depth, but not the suffix itself. A
    pattern with a port matches only that port; without one it matches any port.

    Args:
        pattern: The pattern text.

    Raises:
        ValueError: The pattern is not a valid host, ``*.`` + host, or ``*``.
    """

    __slots__ = ("any", "host", "port", "suffix", "text")

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.any = pattern == "*"
        self.suffix: str | None = None
        self.host = ""
        self.port: int | None = None
        if self.any:
            return
        wildcard = pattern.startswith("*.")
        parsed = parse_host(pattern[2:] if wildcard else pattern)
        if parsed is None or (wildcard and parsed[0].startswith("[")):
            raise ValueError(
                f"invalid host pattern {pattern!r}: expected 'example.com', '*.example.com', "
                "'[::1]', an optional ':port', or '*'"
            )
        self.host, self.port = parsed
        if wildcard:
            self.suffix = "." + self.host

    def matches(self, host: str, port: int | None) -> bool:
        """Tell whether a parsed host (from :func:`parse_host`) matches.

        Args:
            host: The lower-cased host.
            port: Its port, or ``None``.

        Returns:
            True when allowed.
        """
        if self.any:
            return True
        if self.port is not None and self.port != port:
            return False
        if self.suffix is not None:
            return len(host) > len(self.suffix) and host.endswith(self.suffix)
        return host == self.host

    def __repr__(self) -> str:
        return f"HostPattern({self.text!r})"


def header_values(scope: Scope, name: bytes) -> list[bytes]:
    """Every value of the request header ``name`` (lower-case bytes), in order."""
    return [value for key, value in scope.get("headers") or () if key == name]


def first_header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of the request header ``name`` (lower-case bytes), or ``None``."""
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value)
    return None


def is_token(value: str) -> bool:
    """Tell whether ``value`` is a non-empty RFC 9110 token."""
    return bool(value) and all(c in TOKEN_CHARS for c in value)


def cookie_values(scope: Scope, name: str) -> list[str]:
    """Every value the client sent for cookie ``name`` (several when paths overlap).

    Args:
        scope: The connection scope.
        name: The cookie name.

    Returns:
        The raw values (surrounding quotes removed), in header order: browsers send the most
        specific path first.
    """
    found: list[str] = []
    for header in header_values(scope, b"cookie"):
        for chunk in header.decode("latin-1").split(";"):
            key, sep, value = chunk.partition("=")
            if sep and key.strip() == name:
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                found.append(value)
    return found


def app_path(scope: Scope) -> str:
    """The path below ``root_path`` (ASGI 3 puts ``root_path`` inside ``path``)."""
    path: str = scope.get("path") or "/"
    root: str = scope.get("root_path") or ""
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def problem_bytes(scope: Scope, status: int, detail: str, title: str | None = None) -> bytes:
    """Encode a problem+json document for ``scope`` (with ``request_id`` when one is known).

    Args:
        scope: The connection scope (``path`` becomes ``instance``).
        status: The HTTP status.
        detail: The explanation.
        title: The summary; the reason phrase by default.

    Returns:
        The JSON bytes.
    """
    extensions: dict[str, Any] | None = None
    state = scope.get("state")
    if state:
        request_id = state.get("request_id")
        if request_id is not None:
            extensions = {"request_id": request_id}
    return problem_body(
        status, detail, title=title, instance=scope.get("path"), extensions=extensions
    )


async def send_problem(
    scope: Scope,
    send: Send,
    status: int,
    detail: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Send a complete ``application/problem+json`` HTTP response.

    Args:
        scope: The http scope.
        send: The ASGI send callable.
        status: The HTTP status.
        detail: The explanation.
        headers: Extra header pairs.
    """
    body = problem_bytes(scope, status, detail)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON),
                (b"content-length", b"%d" % len(body)),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def reject(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    detail: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Refuse an http request or a websocket handshake with a problem+json response.

    A websocket handshake gets the HTTP response when the server supports the
    ``websocket.http.response`` extension, and otherwise a close before accept (servers answer
    403).

    Args:
        scope: The http or websocket scope.
        receive: The ASGI receive callable.
        send: The ASGI send callable.
        status: The HTTP status.
        detail: The explanation.
        headers: Extra header pairs.
    """
    if scope["type"] != "websocket":
        await send_problem(scope, send, status, detail, headers)
        return
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in (scope.get("extensions") or {}):
        body = problem_bytes(scope, status, detail)
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", PROBLEM_JSON),
                    (b"content-length", b"%d" % len(body)),
                    *headers,
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
        return
    # NOTE: 1008 "policy violation"; before accept the server turns the close into a 403.
    await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
