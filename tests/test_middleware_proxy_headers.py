"""ProxyHeadersMiddleware: trust only configured peers, walk chains right to left."""

from __future__ import annotations

from typing import Any

import pytest

from armature import App, Request
from armature.middleware.proxy_headers import ProxyHeadersMiddleware, parse_forwarded
from armature.testing import TestClient


def make_app(**options: Any) -> App:
    app = App()

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        client = request.client
        return {
            "client": [client.host, client.port] if client else None,
            "scheme": request.scope["scheme"],
            "server": list(request.scope["server"]),
            "url": str(request.url),
        }

    app.add_middleware(ProxyHeadersMiddleware, **options)
    return app


def whoami(peer: tuple[str, int] | None, request_headers: dict[str, str], **options: Any) -> Any:
    app = make_app(**options)
    with TestClient(app, client=peer) as client:
        return client.get("/whoami", headers=request_headers).json()


TRUSTED = {"trusted_hosts": ["127.0.0.1", "10.0.0.0/8"]}


def test_untrusted_peer_cannot_forge_anything() -> None:
    body = whoami(
        ("203.0.113.9", 5555),
        {
            "x-forwarded-for": "1.1.1.1",
            "x-forwarded-proto": "https",
            "x-forwarded-host": "evil.test",
            "forwarded": "for=2.2.2.2;proto=https;host=evil.test",
        },
        **TRUSTED,
    )
    assert body["client"] == ["203.0.113.9", 5555]
    assert body["scheme"] == "http"
    assert body["server"] == ["testserver", 80]


def test_trusted_peer_x_forwarded() -> None:
    body = whoami(
        ("127.0.0.1", 4000),
        {
            "x-forwarded-for": "198.51.100.7",
            "x-forwarded-proto": "https",
            "x-forwarded-host": "shop.example.com",
        },
        **TRUSTED,
    )
    assert body["client"] == ["198.51.100.7", 0]
    assert body["scheme"] == "https"
    assert body["server"] == ["shop.example.com", 443]
    assert body["url"] == "https://shop.example.com/whoami"


def test_chain_walked_right_to_left_skipping_trusted_proxies() -> None:
    # client-forged 6.6.6.6, then the real client, then two of our proxies
    body = whoami(
        ("10.0.0.2", 1),
        {"x-forwarded-for": "6.6.6.6, 198.51.100.7, 10.0.0.9, 10.1.2.3"},
        **TRUSTED,
    )
    assert body["client"] == ["198.51.100.7", 0]


def test_multiple_header_lines_form_one_chain() -> None:
    app = make_app(**TRUSTED)
    with TestClient(app, client=("10.0.0.2", 1)) as client:
        response = client.get(
            "/whoami",
            headers=[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.7, 10.0.0.9")],
        )
    assert response.json()["client"] == ["198.51.100.7", 0]


def test_all_trusted_chain_yields_leftmost() -> None:
    body = whoami(("127.0.0.1", 1), {"x-forwarded-for": "10.0.0.5, 10.0.0.6"}, **TRUSTED)
    assert body["client"] == ["10.0.0.5", 0]


@pytest.mark.parametrize("bad", ["unknown", "not-an-ip", "", "1.2.3.4.5", "_hidden", "1.2.3.4:99x"])
def test_non_ip_hop_stops_the_walk_and_keeps_the_peer(bad: str) -> None:
    body = whoami(("127.0.0.1", 9), {"x-forwarded-for": f"198.51.100.7, {bad}"}, **TRUSTED)
    assert body["client"] == ["127.0.0.1", 9]


def test_forwarded_header_wins_and_uses_the_chosen_hops_proto_and_host() -> None:
    body = whoami(
        ("10.0.0.2", 1),
        {
            "forwarded": 'for=6.6.6.6;proto=http, for="[2001:db8::7]:4711";proto=https;'
            'host="api.example.com:8443", for=10.0.0.9;proto=http;host=internal',
            "x-forwarded-for": "9.9.9.9",
        },
        **TRUSTED,
    )
    assert body["client"] == ["2001:db8::7", 4711]
    assert body["scheme"] == "https"
    assert body["server"] == ["api.example.com", 8443]


def test_malformed_forwarded_is_ignored_entirely() -> None:
    for value in ("for=1.2.3.4;for=5.6.7.8", "proto=https", "for", 'for="1.2.3.4'):
        body = whoami(("127.0.0.1", 1), {"forwarded": value}, **TRUSTED)
        assert body["client"] == ["127.0.0.1", 1], value
        assert body["scheme"] == "http", value


def test_headers_option_limits_the_families() -> None:
    body = whoami(
        ("127.0.0.1", 1),
        {"forwarded": "for=2.2.2.2", "x-forwarded-for": "3.3.3.3"},
        trusted_hosts=["127.0.0.1"],
        headers=["x-forwarded"],
    )
    assert body["client"] == ["3.3.3.3", 0]
    body = whoami(
        ("127.0.0.1", 1),
        {"x-forwarded-for": "3.3.3.3"},
        trusted_hosts=["127.0.0.1"],
        headers=["forwarded"],
    )
    assert body["client"] == ["127.0.0.1", 1]


def test_proto_aligned_with_hops_else_rightmost() -> None:
    aligned = whoami(
        ("127.0.0.1", 1),
        {"x-forwarded-for": "198.51.100.7, 10.0.0.3", "x-forwarded-proto": "https, http"},
        **TRUSTED,
    )
    assert aligned["scheme"] == "https"
    single = whoami(
        ("127.0.0.1", 1),
        {"x-forwarded-for": "198.51.100.7, 10.0.0.3", "x-forwarded-proto": "https"},
        **TRUSTED,
    )
    assert single["scheme"] == "https"


@pytest.mark.parametrize("proto", ["ftp", "htt ps", "javascript", "https;x"])
def test_unknown_proto_is_ignored(proto: str) -> None:
    body = whoami(
        ("127.0.0.1", 1), {"x-forwarded-for": "1.2.3.4", "x-forwarded-proto": proto}, **TRUSTED
    )
    assert body["scheme"] == "http"
    assert body["client"] == ["1.2.3.4", 0]


@pytest.mark.parametrize("host", ["evil.test/path", "a@b", "x y", "exa\u00e4mple.com"])
def test_malformed_forwarded_host_is_ignored(host: str) -> None:
    app = make_app(**TRUSTED)
    with TestClient(app, client=("127.0.0.1", 1)) as client:
        response = client.get(
            "/whoami",
            headers={"x-forwarded-host": host.encode("utf-8"), "x-forwarded-proto": "https"},
        )
    # the scheme is honoured; the bad host is not, so the server address stays what it was
    assert response.json()["server"] == ["testserver", 80]
    assert response.json()["scheme"] == "https"


def test_ipv4_mapped_ipv6_peer_matches_ipv4_network() -> None:
    body = whoami(("::ffff:10.1.1.1", 1), {"x-forwarded-for": "198.51.100.7"}, **TRUSTED)
    assert body["client"] == ["198.51.100.7", 0]


def test_trust_all_and_unix_socket() -> None:
    assert whoami(("8.8.8.8", 1), {"x-forwarded-for": "1.2.3.4"}, trusted_hosts=["*"])[
        "client"
    ] == ["1.2.3.4", 0]
    assert whoami(None, {"x-forwarded-for": "1.2.3.4"}, trusted_hosts=["unix"])["client"] == [
        "1.2.3.4",
        0,
    ]
    assert (
        whoami(None, {"x-forwarded-for": "1.2.3.4"}, trusted_hosts=["127.0.0.1"])["client"] is None
    )


def test_too_long_chain_is_ignored() -> None:
    chain = ", ".join(["10.0.0.1"] * 100 + ["1.2.3.4"])
    body = whoami(("127.0.0.1", 1), {"x-forwarded-for": "9.9.9.9, " + chain}, **TRUSTED)
    assert body["client"] == ["127.0.0.1", 1]


@pytest.mark.anyio
async def test_websocket_scheme_becomes_wss() -> None:
    seen: dict[str, Any] = {}

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    middleware = ProxyHeadersMiddleware(inner, trusted_hosts=["127.0.0.1"])
    await middleware(
        {
            "type": "websocket",
            "scheme": "ws",
            "client": ("127.0.0.1", 1),
            "server": ("internal", 8000),
            "headers": [(b"x-forwarded-proto", b"https"), (b"x-forwarded-for", b"1.2.3.4")],
        },
        _never,
        _never,
    )
    assert seen["scheme"] == "wss"
    assert seen["client"] == ("1.2.3.4", 0)


def test_parse_forwarded() -> None:
    hops = parse_forwarded(['For="[2001:db8:cafe::17]:4711";Proto=HTTPS, for=_hidden;by=x'])
    assert hops is not None
    assert [(h.host, h.port, h.proto) for h in hops] == [
        ("2001:db8:cafe::17", 4711, "https"),
        (None, None, None),
    ]
    assert parse_forwarded(['for="a\\"b"']) is not None
    assert parse_forwarded(["for=1.2.3.4;;"]) is not None


def test_invalid_options() -> None:
    with pytest.raises(ValueError, match="invalid trusted host"):
        ProxyHeadersMiddleware(_never, trusted_hosts=["10.0.0.0/33"])
    with pytest.raises(ValueError, match="not a string"):
        ProxyHeadersMiddleware(_never, trusted_hosts="127.0.0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="headers"):
        ProxyHeadersMiddleware(_never, headers=["x-real-ip"])  # type: ignore[list-item]


async def _never(*args: Any) -> Any:
    raise AssertionError("must not be called")
