"""Locale negotiation (path prefix, query, cookie, Accept-Language) and ``I18nMiddleware``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final, Literal
from urllib.parse import unquote_plus

from armature.types import ASGIApp, Message, Receive, Scope, Send

from ._context import _current
from ._tags import available_map, lookup, normalize_tag, parse_accept_language, truncations
from ._translator import I18n

__all__ = ["DEFAULT_SOURCES", "I18nMiddleware", "LocaleNegotiator", "Negotiated", "Source"]

Source = Literal["path", "query", "cookie", "header"]
#: The default precedence: an explicit URL prefix, then ``?lang=``, then the cookie, then the
#: browser's Accept-Language, then the default locale.
DEFAULT_SOURCES: Final[tuple[Source, ...]] = ("path", "query", "cookie", "header")
_SOURCES: Final = frozenset(DEFAULT_SOURCES)


class Negotiated:
    """The outcome of negotiation for one request.

    Attributes:
        locale: The chosen canonical tag (always one of the available locales).
        source: Which source decided: ``"path"``, ``"query"``, ``"cookie"``, ``"header"`` or
            ``"default"``.
        prefix: The ``/<locale>`` path prefix found (and to strip), or ``None``. It is reported
            even when a higher-precedence source chose the locale.
    """

    __slots__ = ("locale", "prefix", "source")

    def __init__(self, locale: str, source: str, prefix: str | None) -> None:
        self.locale = locale
        self.source = source
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"Negotiated(locale={self.locale!r}, source={self.source!r}, prefix={self.prefix!r})"


class LocaleNegotiator:
    """Chooses a request's locale among the available ones; never raises on client input.

    Args:
        locales: The tags that can be served.
        default: The tag used when no source yields an available locale.
        sources: The sources to consult, highest precedence first (any subset and order of
            ``"path"``, ``"query"``, ``"cookie"``, ``"header"``).
        query_param: The query parameter naming a locale (``?lang=fr``).
        cookie_name: The cookie naming a locale.
        cache_size: How many distinct Accept-Language values to memoise.

    Raises:
        ValueError: On an unknown or repeated source or an invalid default tag.
    """

    __slots__ = (
        "_available",
        "_cache",
        "_cache_size",
        "_cookie",
        "_query",
        "_query_needle",
        "_sources",
        "default",
    )

    def __init__(
        self,
        locales: Iterable[str],
        default: str,
        *,
        sources: Sequence[Source] = DEFAULT_SOURCES,
        query_param: str = "lang",
        cookie_name: str = "locale",
        cache_size: int = 1024,
    ) -> None:
        unknown = [s for s in sources if s not in _SOURCES]
        if unknown or len(set(sources)) != len(sources):
            raise ValueError(
                f"sources must be distinct values among {sorted(_SOURCES)}, got {list(sources)!r}"
            )
        tag = normalize_tag(default)
        if tag is None:
            raise ValueError(f"invalid default locale {default!r}")
        self.default = tag
        tags = [normalize_tag(t) for t in locales]
        self._available = available_map([t for t in tags if t] + [tag])
        self._sources: tuple[str, ...] = tuple(sources)
        self._query = query_param
        self._query_needle = f"{query_param}=".encode("latin-1")
        self._cookie = cookie_name
        self._cache: dict[str, str] = {}
        self._cache_size = cache_size

    @property
    def sources(self) -> tuple[str, ...]:
        """The sources consulted, highest precedence first."""
        return self._sources

    def match(self, value: str) -> str | None:
        """Resolve an explicit locale (query/cookie value) by RFC 4647 lookup of its truncations.

        Args:
            value: A tag such as ``"fr_CA"``.

        Returns:
            The available tag (``fr-CA``, else ``fr``), or ``None``.
        """
        tag = normalize_tag(value)
        if tag is None:
            return None
        for candidate in truncations(tag.lower()):
            hit = self._available.get(candidate)
            if hit is not None:
                return hit
        return None

    def from_accept_language(self, header: str) -> str | None:
        """Resolve an Accept-Language value (RFC 4647 lookup with q-values).

        Args:
            header: The header value (any content; garbage yields ``None``).

        Returns:
            The available tag, or ``None`` if nothing acceptable is available.
        """
        cache = self._cache
        if header in cache:
            hit: str | None = cache[header]
            return hit or None
        hit = lookup(parse_accept_language(header), self._available)
        # PERF: browsers send few distinct values, so parsing is memoised; the memo is bounded
        # and simply emptied when full.
        if len(cache) >= self._cache_size:
            cache.clear()
        cache[header] = hit or ""
        return hit

    def negotiate(self, scope: Scope) -> Negotiated:
        """Choose the locale for an ASGI ``http``/``websocket`` scope.

        Args:
            scope: The connection scope.

        Returns:
            The locale, the source that chose it and any path prefix to strip.
        """
        prefix: str | None = None
        path_locale: str | None = None
        if "path" in self._sources:
            path_locale, prefix = self._path_prefix(scope)
        cookie: str | None = None
        accept: str | None = None
        wants_cookie = "cookie" in self._sources
        wants_header = "header" in self._sources
        if wants_cookie or wants_header:
            for name, value in scope.get("headers") or ():
                if name == b"accept-language" and wants_header:
                    text = value.decode("latin-1")
                    accept = text if accept is None else f"{accept}, {text}"
                elif name == b"cookie" and wants_cookie:
                    text = value.decode("latin-1")
                    cookie = text if cookie is None else f"{cookie}; {text}"
        for source in self._sources:
            found: str | None = None
            if source == "path":
                found = path_locale
            elif source == "query":
                found = self._from_query(scope.get("query_string") or b"")
            elif source == "cookie":
                found = self._from_cookie(cookie) if cookie else None
            elif accept:
                found = self.from_accept_language(accept)
            if found is not None:
                return Negotiated(found, source, prefix)
        return Negotiated(self.default, "default", prefix)

    def _path_prefix(self, scope: Scope) -> tuple[str | None, str | None]:
        path: str = scope.get("path") or ""
        root: str = scope.get("root_path") or ""
        route = path[len(root) :] if root and path.startswith(root) else path
        if not route.startswith("/"):
            return None, None
        end = route.find("/", 1)
        segment = route[1:] if end < 0 else route[1:end]
        if not segment or len(segment) > 64:
            return None, None
        # NOTE: only an exact available tag is a prefix (``/fr-ca/`` does not fall back to fr):
        # anything else is an ordinary path segment for the router.
        hit = self._available.get(segment.lower().replace("_", "-"))
        return (hit, "/" + segment) if hit is not None else (None, None)

    def _from_query(self, query: bytes) -> str | None:
        # PERF: most requests have no locale parameter; skip parsing unless its name occurs.
        if self._query_needle not in query:
            return None
        name = self._query
        for part in query.split(b"&"):
            key, eq, value = part.partition(b"=")
            if eq and unquote_plus(key.decode("latin-1")) == name:
                return self.match(unquote_plus(value.decode("latin-1")))
        return None

    def _from_cookie(self, header: str) -> str | None:
        for item in header.split(";"):
            name, eq, value = item.partition("=")
            if eq and name.strip() == self._cookie:
                return self.match(value.strip().strip('"'))
        return None


def strip_prefix(scope: Scope, prefix: str) -> Scope:
    """Return a copy of ``scope`` routed below ``prefix`` (``/fr/items`` -> route ``/items``).

    Per ASGI, ``path`` includes ``root_path``, so the prefix moves into ``root_path`` and
    ``path`` is unchanged; for a server that sends ``path`` without ``root_path`` (older
    convention) the prefix is also removed from ``path``.

    Args:
        scope: The connection scope.
        prefix: The ``/<segment>`` found by negotiation.

    Returns:
        The new scope.
    """
    scope = dict(scope)
    root: str = scope.get("root_path") or ""
    path: str = scope["path"]
    if not root or path.startswith(root):
        scope["root_path"] = path[: len(root) + len(prefix)]
    else:
        scope["root_path"] = root + prefix
        scope["path"] = path[len(prefix) :] or "/"
        raw = scope.get("raw_path")
        encoded = prefix.encode("latin-1")
        if isinstance(raw, bytes) and raw.startswith(encoded):
            scope["raw_path"] = raw[len(encoded) :] or b"/"
    return scope


class I18nMiddleware:
    """Pure ASGI middleware: negotiates the locale and binds a :class:`Translator` per request.

    For ``http`` and ``websocket`` scopes it stores ``locale`` (the tag), ``t`` (the
    translator) and ``locale_prefix`` (the ``/fr`` path prefix that was stripped, or ``None``)
    in ``scope["state"]`` (``request.state.locale``, ``request.state.t``...), makes
    them current for :func:`t`/:func:`get_locale` during the request, strips a ``/<locale>``
    path prefix for routing, and on HTTP responses sets ``Content-Language`` (unless the app
    did) and merges ``Vary: Accept-Language`` (and ``Cookie`` with cookie negotiation).
    Other scope types (lifespan) pass through untouched.

    Args:
        app: The wrapped ASGI app.
        i18n: The catalogs; load them before the app starts (locales are read here).
        sources: Negotiation sources, highest precedence first (default: path, query, cookie,
            header).
        query_param: The query parameter (``?lang=fr``).
        cookie_name: The cookie holding a locale.
        content_language: Set the ``Content-Language`` response header.
        vary: Merge ``Vary`` for the header-based sources in use.
    """

    __slots__ = ("_content_language", "_vary", "app", "i18n", "negotiator")

    def __init__(
        self,
        app: ASGIApp,
        *,
        i18n: I18n,
        sources: Sequence[Source] = DEFAULT_SOURCES,
        query_param: str = "lang",
        cookie_name: str = "locale",
        content_language: bool = True,
        vary: bool = True,
    ) -> None:
        self.app = app
        self.i18n = i18n
        self.negotiator = LocaleNegotiator(
            i18n.locales,
            i18n.default_locale,
            sources=sources,
            query_param=query_param,
            cookie_name=cookie_name,
        )
        # PERF: header values are encoded once per locale, not per response.
        self._content_language = (
            {tag: tag.encode("ascii") for tag in i18n.locales} if content_language else None
        )
        tokens = []
        if vary and "header" in sources:
            tokens.append("Accept-Language")
        if vary and "cookie" in sources:
            tokens.append("Cookie")
        self._vary: tuple[str, ...] = tuple(tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection.

        Args:
            scope: The connection scope.
            receive: The ASGI receive callable.
            send: The ASGI send callable.
        """
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        chosen = self.negotiator.negotiate(scope)
        if chosen.prefix is not None:
            scope = strip_prefix(scope, chosen.prefix)
        translator = self.i18n.translator(chosen.locale)
        state = scope.get("state")
        if state is None:
            if chosen.prefix is None:
                scope = dict(scope)
            state = scope["state"] = {}
        state["locale"] = chosen.locale
        state["t"] = translator
        state["locale_prefix"] = chosen.prefix
        token = _current.set(translator)
        try:
            if kind == "http" and (self._content_language is not None or self._vary):
                await self.app(scope, receive, self._wrap_send(send, chosen.locale))
            else:
                await self.app(scope, receive, send)
        finally:
            _current.reset(token)

    def _wrap_send(self, send: Send, locale: str) -> Send:
        language = self._content_language.get(locale) if self._content_language else None
        vary = self._vary

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = _add_headers(message, language, vary)
            await send(message)

        return send_with_headers


def _add_headers(message: Message, language: bytes | None, vary: tuple[str, ...]) -> Message:
    headers: list[Any] = []
    vary_values: list[str] | None = None
    has_language = False
    for pair in message.get("headers") or ():
        lower = pair[0].lower()
        if lower == b"vary" and vary:
            if vary_values is None:
                vary_values = []
            vary_values.append(bytes(pair[1]).decode("latin-1"))
            continue
        if lower == b"content-language":
            has_language = True
        headers.append(pair)
    if language is not None and not has_language:
        headers.append((b"content-language", language))
    if vary:
        # PERF: the usual case (the app set no Vary) reuses the pre-encoded value.
        value = _merge_vary(vary_values, vary) if vary_values else _vary_value(vary)
        headers.append((b"vary", value))
    return {**message, "headers": headers}


_VARY_CACHE: dict[tuple[str, ...], bytes] = {}


def _vary_value(tokens: tuple[str, ...]) -> bytes:
    value = _VARY_CACHE.get(tokens)
    if value is None:
        value = _VARY_CACHE[tokens] = ", ".join(tokens).encode("latin-1")
    return value


def _merge_vary(values: list[str], add: tuple[str, ...]) -> bytes:
    tokens = [token.strip() for value in values for token in value.split(",") if token.strip()]
    if "*" in tokens:
        return b"*"
    seen = {token.lower() for token in tokens}
    tokens.extend(token for token in add if token.lower() not in seen)
    return ", ".join(tokens).encode("latin-1")
