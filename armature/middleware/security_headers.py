"""``SecurityHeadersMiddleware``: the browser hardening headers, on every response.

HSTS, Content-Security-Policy (with optional per-request nonces), X-Content-Type-Options,
X-Frame-Options, Referrer-Policy, Cross-Origin-Opener/Resource/Embedder-Policy and
Permissions-Policy. Every value is validated and encoded once, at construction; a response only
gets the headers it does not already carry, so a handler can override any of them.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping, Sequence
from typing import Final, Literal, TypeAlias

from armature.datastructures import encode_header
from armature.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSPDirectives", "SecurityHeadersMiddleware", "render_csp", "render_permissions_policy"]

CSPDirectives: TypeAlias = Mapping[str, str | Sequence[str] | bool | None]
PermissionsPolicy: TypeAlias = Mapping[str, str | Sequence[str]]

NONCE_PLACEHOLDER: Final = "{nonce}"
_DIRECTIVE_CHARS = frozenset(string.ascii_lowercase + string.digits + "-")
# NOTE: CSP keywords must be single-quoted; a bare ``self`` would mean a host called "self".
_CSP_KEYWORDS = frozenset(
    {
        "self",
        "none",
        "unsafe-inline",
        "unsafe-eval",
        "unsafe-hashes",
        "strict-dynamic",
        "report-sample",
        "wasm-unsafe-eval",
        "inline-speculation-rules",
    }
)
_REFERRER_POLICIES = frozenset(
    {
        "no-referrer",
        "no-referrer-when-downgrade",
        "origin",
        "origin-when-cross-origin",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
        "unsafe-url",
    }
)
_COOP = frozenset(
    {"unsafe-none", "same-origin-allow-popups", "same-origin", "noopener-allow-popups"}
)
_CORP = frozenset({"same-site", "same-origin", "cross-origin"})
_COEP = frozenset({"unsafe-none", "require-corp", "credentialless"})


def _check_value(what: str, value: str) -> None:
    if any(c in value for c in ";,\r\n\x00"):
        raise ValueError(f"{what}: {value!r} must not contain ';', ',' or control characters")


def render_csp(policy: str | CSPDirectives) -> str:
    """Render a Content-Security-Policy from a string or a mapping of directives.

    In a mapping, a value may be a string, a sequence of sources, ``True`` for a directive
    without value (``upgrade-insecure-requests``) or ``False``/``None`` to leave it out. Known
    keywords written without quotes (``self``, ``none``, ``unsafe-inline``...) are quoted.

    Args:
        policy: The policy.

    Returns:
        The header value.

    Raises:
        ValueError: A directive name or source is malformed.
    """
    if isinstance(policy, str):
        text = policy.strip()
        if not text or "\r" in text or "\n" in text:
            raise ValueError("content_security_policy must be a non-empty single line")
        return text
    parts: list[str] = []
    for name, value in policy.items():
        directive = name.strip().lower()
        if not directive or not set(directive) <= _DIRECTIVE_CHARS:
            raise ValueError(f"invalid CSP directive name {name!r}")
        if value is None or value is False:
            continue
        if value is True:
            parts.append(directive)
            continue
        sources = value.split() if isinstance(value, str) else list(value)
        rendered: list[str] = []
        for source in sources:
            _check_value(f"CSP {directive}", source)
            if " " in source.strip():
                raise ValueError(f"CSP {directive}: one source per item, got {source!r}")
            token = source.strip()
            rendered.append(f"'{token}'" if token.lower() in _CSP_KEYWORDS else token)
        parts.append(" ".join([directive, *rendered]) if rendered else directive)
    if not parts:
        raise ValueError("content_security_policy has no directives")
    return "; ".join(parts)


def render_permissions_policy(policy: str | PermissionsPolicy) -> str:
    """Render a Permissions-Policy from a string or ``{feature: allowlist}``.

    ``[]`` disables a feature (``camera=()``); ``"self"`` and ``"*"`` are kept as keywords; any
    other entry is an origin and is quoted (``fullscreen=(self "https://a.example")``).

    Args:
        policy: The policy.

    Returns:
        The header value.

    Raises:
        ValueError: A feature name or origin is malformed.
    """
    if isinstance(policy, str):
        text = policy.strip()
        if not text or "\r" in text or "\n" in text:
            raise ValueError("permissions_policy must be a non-empty single line")
        return text
    parts: list[str] = []
    for feature, allow in policy.items():
        name = feature.strip().lower()
        if not name or not set(name) <= _DIRECTIVE_CHARS:
            raise ValueError(f"invalid Permissions-Policy feature {feature!r}")
        entries = [allow] if isinstance(allow, str) else list(allow)
        items: list[str] = []
        for entry in entries:
            token = entry.strip().strip('"')
            _check_value(f"Permissions-Policy {name}", token)
            if not token or any(c in token for c in ' "()'):
                raise ValueError(f"Permissions-Policy {name}: invalid allowlist entry {entry!r}")
            items.append(token if token in ("self", "*", "src") else f'"{token}"')
        if items == ["*"]:
            parts.append(f"{name}=*")
        else:
            parts.append(f"{name}=({' '.join(items)})")
    return ", ".join(parts)


def _choice(name: str, value: str | None, allowed: frozenset[str]) -> str | None:
    if value is None:
        return None
    # NOTE: only Referrer-Policy takes a list (fallbacks for older browsers).
    tokens = [t.strip().lower() for t in value.split(",")] if name == "referrer-policy" else [value]
    if any(t not in allowed for t in tokens):
        raise ValueError(f"{name} must be one of {sorted(allowed)}, got {value!r}")
    return ", ".join(tokens)


class SecurityHeadersMiddleware:
    """Add security headers to every http response that does not already set them.

    Args:
        app: The wrapped ASGI app.
        hsts_max_age: ``Strict-Transport-Security`` max-age in seconds (``None`` to disable).
            Sent only on ``https`` requests (behind a TLS-terminating proxy, put
            ``ProxyHeadersMiddleware`` outside this one).
        hsts_include_subdomains: Add ``includeSubDomains``.
        hsts_preload: Add ``preload`` (requires ``includeSubDomains`` and a max-age of a year or
            more, the preload list's rules).
        content_security_policy: A policy string or a mapping of directives (see
            :func:`render_csp`); ``{nonce}`` anywhere in it is replaced by a fresh random nonce
            per request, also stored in ``scope["state"]["csp_nonce"]`` for templates.
        csp_report_only: Send the policy as ``Content-Security-Policy-Report-Only``.
        content_type_options: Send ``X-Content-Type-Options: nosniff``.
        frame_options: ``X-Frame-Options`` (``"DENY"`` or ``"SAMEORIGIN"``, ``None`` to disable).
            A mapping CSP without ``frame-ancestors`` gets the matching ``'none'``/``'self'``.
        referrer_policy: ``Referrer-Policy`` (``None`` to disable).
        cross_origin_opener_policy: ``Cross-Origin-Opener-Policy`` (``None`` to disable).
        cross_origin_resource_policy: ``Cross-Origin-Resource-Policy`` (off by default).
        cross_origin_embedder_policy: ``Cross-Origin-Embedder-Policy`` (off by default).
        permissions_policy: ``Permissions-Policy`` string or mapping (off by default).
        extra_headers: More headers to add the same way.

    Raises:
        ValueError: A value is invalid (unknown policy token, header injection, bad HSTS combo).
    """

    __slots__ = ("app", "csp_name", "csp_parts", "headers", "hsts", "names")

    def __init__(
        self,
        app: ASGIApp,
        *,
        hsts_max_age: int | None = 31536000,
        hsts_include_subdomains: bool = False,
        hsts_preload: bool = False,
        content_security_policy: str | CSPDirectives | None = None,
        csp_report_only: bool = False,
        content_type_options: bool = True,
        frame_options: Literal["DENY", "SAMEORIGIN"] | None = "DENY",
        referrer_policy: str | None = "strict-origin-when-cross-origin",
        cross_origin_opener_policy: str | None = "same-origin",
        cross_origin_resource_policy: str | None = None,
        cross_origin_embedder_policy: str | None = None,
        permissions_policy: str | PermissionsPolicy | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.app = app
        self.hsts: tuple[bytes, bytes] | None = None
        if hsts_max_age is not None:
            if hsts_max_age < 0:
                raise ValueError("hsts_max_age must be >= 0")
            if hsts_preload and (not hsts_include_subdomains or hsts_max_age < 31536000):
                raise ValueError(
                    "hsts_preload requires hsts_include_subdomains=True and hsts_max_age >= "
                    "31536000 (the HSTS preload list's requirements)"
                )
            value = f"max-age={hsts_max_age}"
            if hsts_include_subdomains:
                value += "; includeSubDomains"
            if hsts_preload:
                value += "; preload"
            self.hsts = encode_header("strict-transport-security", value)
        headers: list[tuple[bytes, bytes]] = []
        frame = None
        if frame_options is not None:
            frame = frame_options.upper()
            if frame not in ("DENY", "SAMEORIGIN"):
                raise ValueError("frame_options must be 'DENY', 'SAMEORIGIN' or None")
            headers.append(encode_header("x-frame-options", frame))
        self.csp_name = (
            b"content-security-policy-report-only"
            if csp_report_only
            else b"content-security-policy"
        )
        self.csp_parts: list[bytes] | None = None
        if content_security_policy is not None:
            policy = content_security_policy
            if not isinstance(policy, str) and frame is not None:
                keys = {k.strip().lower() for k in policy}
                if "frame-ancestors" not in keys:
                    ancestors = "'none'" if frame == "DENY" else "'self'"
                    policy = {**policy, "frame-ancestors": ancestors}
            _, encoded = encode_header(self.csp_name, render_csp(policy))
            # PERF: split once around the nonce placeholder; a policy without one is a constant.
            parts = encoded.split(NONCE_PLACEHOLDER.encode())
            if len(parts) == 1:
                headers.append((self.csp_name, encoded))
            else:
                self.csp_parts = parts
        if content_type_options:
            headers.append((b"x-content-type-options", b"nosniff"))
        for header, setting, allowed in (
            ("referrer-policy", referrer_policy, _REFERRER_POLICIES),
            ("cross-origin-opener-policy", cross_origin_opener_policy, _COOP),
            ("cross-origin-resource-policy", cross_origin_resource_policy, _CORP),
            ("cross-origin-embedder-policy", cross_origin_embedder_policy, _COEP),
        ):
            checked = _choice(header, setting, allowed)
            if checked is not None:
                headers.append(encode_header(header, checked))
        if permissions_policy is not None:
            rendered = render_permissions_policy(permissions_policy)
            headers.append(encode_header("permissions-policy", rendered))
        for name, extra in (extra_headers or {}).items():
            headers.append(encode_header(name, extra))
        self.headers = headers
        self.names = frozenset(name for name, _ in headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce_header: tuple[bytes, bytes] | None = None
        if self.csp_parts is not None:
            nonce = secrets.token_urlsafe(18)
            state = scope.get("state")
            if state is None:
                state = scope["state"] = {}
            state["csp_nonce"] = nonce
            nonce_header = (self.csp_name, nonce.encode().join(self.csp_parts))
        hsts = self.hsts if scope.get("scheme") == "https" else None

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", ()))
                present = {name for name, _ in raw}
                raw.extend(h for h in self.headers if h[0] not in present)
                if nonce_header is not None and nonce_header[0] not in present:
                    raw.append(nonce_header)
                if hsts is not None and hsts[0] not in present:
                    raw.append(hsts)
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_headers)
