"""``ProxyHeadersMiddleware``: the client address, scheme and host as seen by your edge proxy.

Behind a reverse proxy the ASGI server sees the proxy as the client. Proxies report the real
client in ``Forwarded`` (RFC 7239) or ``X-Forwarded-For``/``-Proto``/``-Host``. Those headers are
plain request headers that any client can send, so they are honoured only when the direct peer is
a proxy you trust, and the forwarding chain is walked from the right (the hop closest to you)
skipping trusted proxies: the first untrusted address is the client. Addresses further left were
written by the client itself and are never believed.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from typing import Final, Literal

from armature.middleware._security_common import DEFAULT_PORTS, parse_host
from armature.types import ASGIApp, Receive, Scope, Send

__all__ = ["ForwardedHop", "ProxyHeadersMiddleware", "parse_forwarded"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_SCHEMES: Final = frozenset({"http", "https", "ws", "wss"})
_MAX_HOPS = 64
_CACHE_SIZE = 1024


class ForwardedHop:
    """One hop of a forwarding chain: what one proxy reported about the request it received.

    Attributes:
        node: The ``for`` value as given (address, ``unknown`` or an obfuscated ``_name``).
        host: The client address (IP text, unbracketed), or ``None`` when ``node`` is not an IP.
        port: The client port, or ``None``.
        proto: The scheme the proxy received (``http``/``https``), or ``None``.
        forwarded_host: The ``Host`` the proxy received, or ``None``.
    """

    __slots__ = ("forwarded_host", "host", "node", "port", "proto")

    def __init__(
        self,
        node: str,
        proto: str | None = None,
        forwarded_host: str | None = None,
    ) -> None:
        self.node = node
        self.host, self.port = _parse_node(node)
        self.proto = proto
        self.forwarded_host = forwarded_host

    def __repr__(self) -> str:
        return (
            f"ForwardedHop(node={self.node!r}, proto={self.proto!r}, "
            f"forwarded_host={self.forwarded_host!r})"
        )


@functools.lru_cache(maxsize=4096)
def _parse_node(node: str) -> tuple[str | None, int | None]:
    """Parse ``1.2.3.4``, ``1.2.3.4:80``, ``[::1]``, ``[::1]:80`` or a bare ``::1``."""
    # PERF: memoised (bounded): the same client and proxy addresses recur request after request.
    text = node.strip()
    port: int | None = None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None, None
        rest = text[end + 1 :]
        text = text[1:end]
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit() or len(rest) > 6:
                return None, None
            port = int(rest[1:])
    elif text.count(":") == 1:
        text, _, port_text = text.partition(":")
        if not port_text.isdigit() or len(port_text) > 5:
            return None, None
        port = int(port_text)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None, None
    if port is not None and port > 65535:
        port = None
    return str(address), port


def _split_quoted(value: str, separator: str) -> list[str]:
    """Split on ``separator`` outside double quotes (RFC 7230 quoted-string, with escapes)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
        elif quoted and char == "\\":
            current.append(char)
            escaped = True
        elif char == '"':
            current.append(char)
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        out: list[str] = []
        escaped = False
        for char in inner:
            if escaped:
                out.append(char)
                escaped = False
            elif char == "\\":
                escaped = True
            else:
                out.append(char)
        return "".join(out)
    return value


def parse_forwarded(values: Sequence[str]) -> list[ForwardedHop] | None:
    """Parse RFC 7239 ``Forwarded`` header values into hops, leftmost (oldest) first.

    Args:
        values: Every ``Forwarded`` header value, in order.

    Returns:
        The hops, or ``None`` when any element is malformed or has no ``for`` (the whole header
        is then ignored: a chain with a hole cannot be walked safely).
    """
    hops: list[ForwardedHop] = []
    for value in values:
        for element in _split_quoted(value, ","):
            if not element.strip():
                continue
            pairs: dict[str, str] = {}
            for pair in _split_quoted(element, ";"):
                if not pair.strip():
                    continue
                name, sep, raw = pair.partition("=")
                name = name.strip().lower()
                if not sep or not name or name in pairs:
                    return None
                pairs[name] = _unquote(raw)
            node = pairs.get("for")
            if node is None:
                return None
            proto = pairs.get("proto")
            hops.append(
                ForwardedHop(node, proto.lower() if proto else None, pairs.get("host") or None)
            )
            if len(hops) > _MAX_HOPS:
                return None
    return hops


def _comma_list(values: Sequence[bytes]) -> list[str]:
    return [item.strip() for value in values for item in value.decode("latin-1").split(",")]


def _aligned(values: list[str], count: int) -> list[str | None]:
    """One value per hop: the list itself when it lines up, else its rightmost value for all."""
    if len(values) == count:
        return list(values)
    last = values[-1] if values else None
    return [last] * count


class ProxyHeadersMiddleware:
    """Set ``scope["client"]``, ``scope["scheme"]`` and ``scope["server"]`` from proxy headers.

    Only when ``scope["client"]`` (the direct peer) is trusted. ``Forwarded`` is used when present
    (and well-formed), else ``X-Forwarded-For``/``-Proto``/``-Host``. The chain of addresses plus
    the peer is walked right to left; the first address that is not a trusted proxy becomes the
    client. The scheme and host come from the same hop (for ``X-Forwarded-*`` when the lists line
    up with ``X-Forwarded-For``; otherwise their rightmost value, the one the trusted peer set).
    A ``for`` value that is not an IP address (``unknown``, an obfuscated ``_name``, garbage)
    ends the walk and leaves the client unchanged. A malformed forwarded host is ignored.

    Args:
        app: The wrapped ASGI app.
        trusted_hosts: Trusted proxies: IP addresses, CIDR networks (``10.0.0.0/8``), ``"*"``
            for any peer (only when nothing but your proxy can reach the server), or ``"unix"``
            for connections without a peer address (a Unix socket).
        headers: Which header families to honour: ``"forwarded"``, ``"x-forwarded"`` or both.

    Raises:
        ValueError: An entry of ``trusted_hosts`` is not an address or network.
    """

    __slots__ = (
        "_cache",
        "app",
        "networks",
        "trust_all",
        "trust_unix",
        "use_forwarded",
        "use_x_forwarded",
    )

    def __init__(
        self,
        app: ASGIApp,
        trusted_hosts: Sequence[str] = ("127.0.0.1", "::1"),
        headers: Sequence[Literal["forwarded", "x-forwarded"]] = ("forwarded", "x-forwarded"),
    ) -> None:
        if isinstance(trusted_hosts, str):
            raise ValueError("trusted_hosts must be a sequence, not a string")
        unknown = set(headers) - {"forwarded", "x-forwarded"}
        if unknown or not headers:
            raise ValueError("headers must name 'forwarded' and/or 'x-forwarded'")
        self.app = app
        self.trust_all = "*" in trusted_hosts
        self.trust_unix = "unix" in trusted_hosts
        networks: list[IPNetwork] = []
        for entry in trusted_hosts:
            if entry in ("*", "unix"):
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ValueError(
                    f"invalid trusted host {entry!r}: expected an IP address, a CIDR network, "
                    "'*' or 'unix'"
                ) from None
        self.networks = tuple(networks)
        self.use_forwarded = "forwarded" in headers
        self.use_x_forwarded = "x-forwarded" in headers
        self._cache: dict[str, bool] = {}

    def is_trusted(self, host: str) -> bool:
        """Tell whether an address is a trusted proxy.

        Args:
            host: An IP address as text (IPv4-mapped IPv6 counts as the IPv4 address).

        Returns:
            True when trusted; False for anything that is not an IP address.
        """
        if self.trust_all:
            return True
        cache = self._cache
        hit = cache.get(host)
        if hit is not None:
            return hit
        try:
            address: IPAddress = ipaddress.ip_address(host)
        except ValueError:
            trusted = False
        else:
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            trusted = any(address in network for network in self.networks)
        # PERF: few distinct peers talk to a server (its proxies); memoise, bounded.
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[host] = trusted
        return trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            client = scope.get("client")
            if client is None:
                peer_trusted = self.trust_unix or self.trust_all
            else:
                peer_trusted = self.is_trusted(str(client[0]))
            if peer_trusted:
                self._apply(scope)
        await self.app(scope, receive, send)

    def _hops(self, scope: Scope) -> list[ForwardedHop] | None:
        # PERF: one pass over the request headers collects all four families.
        forwarded: list[bytes] = []
        xff: list[bytes] = []
        xfp: list[bytes] = []
        xfh: list[bytes] = []
        buckets = {
            b"forwarded": forwarded,
            b"x-forwarded-for": xff,
            b"x-forwarded-proto": xfp,
            b"x-forwarded-host": xfh,
        }
        for name, value in scope.get("headers") or ():
            bucket = buckets.get(name)
            if bucket is not None:
                bucket.append(value)
        if self.use_forwarded and forwarded:
            return parse_forwarded([v.decode("latin-1") for v in forwarded])
        if not self.use_x_forwarded:
            return None
        nodes = _comma_list(xff)
        protos = [p for p in _comma_list(xfp) if p]
        hosts = [h for h in _comma_list(xfh) if h]
        if not nodes and not protos and not hosts:
            return None
        if len(nodes) > _MAX_HOPS:
            return None
        if not nodes:
            # NOTE: only -Proto/-Host: they describe the trusted peer's own view of the request.
            proto = protos[-1].lower() if protos else None
            return [ForwardedHop("", proto, hosts[-1] if hosts else None)]
        count = len(nodes)
        return [
            ForwardedHop(node, proto.lower() if proto else None, host)
            for node, proto, host in zip(
                nodes, _aligned(protos, count), _aligned(hosts, count), strict=True
            )
        ]

    def _apply(self, scope: Scope) -> None:
        hops = self._hops(scope)
        if not hops:
            return
        chosen: ForwardedHop | None = None
        for hop in reversed(hops):
            chosen = hop
            if hop.host is None or not self.is_trusted(hop.host):
                break
        assert chosen is not None
        if chosen.host is not None:
            scope["client"] = (chosen.host, chosen.port or 0)
        proto = chosen.proto
        scheme: str = scope.get("scheme", "http")
        if proto in _SCHEMES:
            secure = proto in ("https", "wss")
            if scope["type"] == "websocket":
                scheme = "wss" if secure else "ws"
            else:
                scheme = "https" if secure else "http"
            scope["scheme"] = scheme
        if chosen.forwarded_host:
            parsed = parse_host(chosen.forwarded_host)
            if parsed is not None:
                host, port = parsed
                scope["server"] = (
                    host.strip("[]"),
                    port if port is not None else DEFAULT_PORTS.get(scheme, 80),
                )
