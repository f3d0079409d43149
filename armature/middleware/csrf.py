"""``CSRFMiddleware``: cross-site request forgery protection with signed double-submit tokens.

A browser attaches cookies to cross-site requests, but a page on another site cannot read them.
So the middleware issues a token in a cookie and requires every unsafe request (POST, PUT,
PATCH, DELETE...) to repeat it in a header or form field: only pages that can read the cookie,
i.e. your own, can. The token is signed with your secret, so a cookie planted by a sibling
subdomain (which could set both values) is refused too.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Collection, Mapping, Sequence
from typing import Literal

from armature.datastructures import encode_header, parse_query
from armature.middleware._security_common import (
    app_path,
    cookie_values,
    first_header,
    is_token,
    send_problem,
)
from armature.middleware._signing import Signer, normalize_keys
from armature.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSRFMiddleware", "get_csrf_token"]

_FORM = b"application/x-www-form-urlencoded"
_MULTIPART = b"multipart/form-data"


def get_csrf_token(connection: object) -> str:
    """Return the CSRF token for the current request (to embed in forms or pages).

    Args:
        connection: A :class:`~armature.requests.Request` (anything with ``.scope``) or a scope.

    Returns:
        The token to send back in the header or form field.

    Raises:
        RuntimeError: ``CSRFMiddleware`` is not installed.
    """
    scope = getattr(connection, "scope", connection)
    state = scope.get("state") if isinstance(scope, Mapping) else None
    token = state.get("csrf_token") if state else None
    if token is None:
        raise RuntimeError("no CSRF token: add CSRFMiddleware to the app")
    return str(token)


class _FormTooLarge(Exception):
    pass


def _multipart_field(body: bytes, content_type: bytes, field: str) -> str | None:
    """Find a small text field in a multipart/form-data body (no files are parsed)."""
    boundary = None
    for param in content_type.split(b";")[1:]:
        name, _, value = param.strip().partition(b"=")
        if name.strip().lower() == b"boundary":
            boundary = value.strip().strip(b'"')
    if not boundary or len(boundary) > 200:
        return None
    wanted = f'name="{field}"'.encode("latin-1")
    for part in body.split(b"--" + boundary):
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() != b"content-disposition":
                continue
            params = [p.strip() for p in value.split(b";")]
            if wanted in params and not any(p.startswith(b"filename") for p in params):
                if content.endswith(b"\r\n"):
                    content = content[:-2]
                return content.decode("utf-8", "replace")
    return None


class CSRFMiddleware:
    """Require a signed token, echoed from its cookie, on every unsafe http request.

    Safe methods pass and get a token cookie when they lack a valid one. Any other method must
    carry a valid signed cookie **and** the same value in ``header_name`` (for scripts: read the
    cookie, send the header) or, for ``application/x-www-form-urlencoded`` and
    ``multipart/form-data`` bodies, in the ``form_field`` field (for server-rendered forms: put
    ``get_csrf_token(request)`` in a hidden input). The body is only read when the header is
    absent, and is replayed to the app. Failures are 403 problem+json. The token of the current
    request is in ``scope["state"]["csrf_token"]`` (:func:`get_csrf_token`).

    Args:
        app: The wrapped ASGI app.
        secret: The signing key (a long random value).
        secret_keys: Instead of ``secret``: keys newest first (rotation; the first signs).
        cookie_name: The token cookie.
        header_name: The request header carrying the token.
        form_field: The form field carrying the token (``None``: header only).
        safe_methods: Methods that need no token (they must not change anything).
        exempt_paths: Paths (below ``root_path``) that need no token: an exact path, or a prefix
            ending in ``/*`` (``/webhooks/*``). For endpoints authenticated otherwise.
        cookie_path: The cookie ``Path``.
        cookie_domain: The cookie ``Domain``.
        cookie_secure: Add ``Secure``.
        cookie_samesite: The cookie ``SameSite``.
        cookie_httponly: Add ``HttpOnly`` (then scripts cannot read it: use the form field or
            render the token into the page).
        max_body_size: The largest form body read to look for ``form_field`` (413 beyond).

    Raises:
        ValueError: An invalid option.
    """

    __slots__ = (
        "app",
        "cookie_attributes",
        "cookie_name",
        "exempt_exact",
        "exempt_prefixes",
        "form_field",
        "header_name",
        "max_body_size",
        "safe_methods",
        "signer",
    )

    def __init__(
        self,
        app: ASGIApp,
        secret: str | bytes | None = None,
        *,
        secret_keys: Sequence[str | bytes] | None = None,
        cookie_name: str = "csrftoken",
        header_name: str = "x-csrf-token",
        form_field: str | None = "csrftoken",
        safe_methods: Collection[str] = ("GET", "HEAD", "OPTIONS", "TRACE"),
        exempt_paths: Collection[str] = (),
        cookie_path: str = "/",
        cookie_domain: str | None = None,
        cookie_secure: bool = False,
        cookie_samesite: Literal["lax", "strict", "none"] = "lax",
        cookie_httponly: bool = False,
        max_body_size: int = 1024 * 1024,
    ) -> None:
        keys = normalize_keys(secret, secret_keys, "CSRFMiddleware")
        if not is_token(cookie_name):
            raise ValueError(f"invalid cookie name {cookie_name!r}")
        samesite = cookie_samesite.lower()
        if samesite not in ("lax", "strict", "none"):
            raise ValueError("cookie_samesite must be 'lax', 'strict' or 'none'")
        if samesite == "none" and not cookie_secure:
            raise ValueError("cookie_samesite='none' requires cookie_secure=True")
        for label, value in (("cookie_path", cookie_path), ("cookie_domain", cookie_domain or "")):
            if any(c in value for c in ";,\r\n\x00 "):
                raise ValueError(f"invalid {label} {value!r}")
        self.app = app
        self.signer = Signer(keys, "csrf")
        self.cookie_name = cookie_name
        self.header_name = encode_header(header_name, "")[0]
        self.form_field = form_field
        self.safe_methods = frozenset(m.upper() for m in safe_methods)
        exact: set[str] = set()
        prefixes: list[str] = []
        for path in exempt_paths:
            if not path.startswith("/"):
                raise ValueError(f"exempt path {path!r} must start with '/'")
            if path.endswith("/*"):
                prefixes.append(path[:-1])
            else:
                exact.add(path)
        self.exempt_exact = frozenset(exact)
        self.exempt_prefixes = tuple(prefixes)
        self.max_body_size = max_body_size
        attributes = f"; Path={cookie_path}"
        if cookie_domain:
            attributes += f"; Domain={cookie_domain}"
        attributes += "; SameSite=" + samesite.capitalize()
        if cookie_secure:
            attributes += "; Secure"
        if cookie_httponly:
            attributes += "; HttpOnly"
        self.cookie_attributes = attributes

    def new_token(self) -> str:
        """Make a fresh signed token (the cookie value)."""
        raw = secrets.token_urlsafe(32)
        return f"{raw}.{self.signer.signature(raw.encode('ascii'))}"

    def is_valid_token(self, token: str) -> bool:
        """Tell whether ``token`` was signed by one of the keys.

        Args:
            token: A cookie value (any content).

        Returns:
            True when the signature verifies.
        """
        raw, sep, signature = token.partition(".")
        if not sep or not raw or len(token) > 200 or not raw.isascii():
            return False
        return self.signer.verify(raw.encode("ascii"), signature) is not None

    def _is_exempt(self, scope: Scope) -> bool:
        if not self.exempt_exact and not self.exempt_prefixes:
            return False
        path = app_path(scope)
        return path in self.exempt_exact or path.startswith(self.exempt_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie = next(
            (v for v in cookie_values(scope, self.cookie_name) if self.is_valid_token(v)), None
        )
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        if scope["method"] in self.safe_methods or self._is_exempt(scope):
            if cookie is not None:
                state["csrf_token"] = cookie
                await self.app(scope, receive, send)
                return
            token = self.new_token()
            state["csrf_token"] = token
            await self.app(scope, receive, self._setting_cookie(send, token))
            return
        if cookie is None:
            await send_problem(scope, send, 403, "CSRF cookie missing or invalid")
            return
        submitted_header = first_header(scope, self.header_name)
        submitted: str | None = None
        if submitted_header is not None:
            submitted = submitted_header.decode("latin-1").strip()
        elif self.form_field is not None:
            try:
                submitted, receive = await self._from_form(scope, receive)
            except _FormTooLarge:
                await send_problem(
                    scope, send, 413, f"Form body is over the limit of {self.max_body_size} bytes"
                )
                return
        if submitted is None:
            await send_problem(scope, send, 403, "CSRF token missing")
            return
        if not hmac.compare_digest(submitted.encode("utf-8"), cookie.encode("utf-8")):
            await send_problem(scope, send, 403, "CSRF token mismatch")
            return
        state["csrf_token"] = cookie
        await self.app(scope, receive, send)

    def _setting_cookie(self, send: Send, token: str) -> Send:
        header = (b"set-cookie", f"{self.cookie_name}={token}{self.cookie_attributes}".encode())

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        return send_with_cookie

    async def _from_form(self, scope: Scope, receive: Receive) -> tuple[str | None, Receive]:
        content_type = first_header(scope, b"content-type") or b""
        media = content_type.split(b";", 1)[0].strip().lower()
        if media != _FORM and media != _MULTIPART:
            return None, receive
        chunks: list[bytes] = []
        size = 0
        messages: list[Message] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_size:
                raise _FormTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        field = self.form_field
        assert field is not None
        value: str | None = None
        if media == _FORM:
            for name, item in parse_query(body):
                if name == field:
                    value = item
                    break
        else:
            value = _multipart_field(body, content_type, field)
        # NOTE: the app reads the body again: hand it the very messages we consumed, then the
        # server's own receive (for http.disconnect).
        pending = messages

        async def replay() -> Message:
            if pending:
                return pending.pop(0)
            return await receive()

        return value, replay
