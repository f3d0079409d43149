"""The pure-ASGI response compression (and optional request decompression) middleware."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, TypeVar

from armature.exceptions import problem_body
from armature.types import ASGIApp, Message, Receive, Scope, Send

from ._codecs import DECODABLE, ENCODINGS, Codec, Encoder, make_codec, make_decoder
from ._media import DEFAULT_MEDIA_TYPES, MediaTypeMatcher
from ._negotiation import select_encoding
from ._requests import DecodingReceive

__all__ = ["NO_COMPRESSION_ATTR", "CompressionMiddleware", "no_compression"]

#: Attribute :func:`no_compression` sets on a handler; read from ``scope["route"].endpoint``.
NO_COMPRESSION_ATTR: Final = "__armature_no_compression__"

_F = TypeVar("_F", bound=Callable[..., Any])

_PENDING: Final = 0  # waiting for http.response.start
_HELD: Final = 1  # start held until the first body chunk tells us the size
_STREAM: Final = 2  # compressing a streamed body chunk by chunk
_PASS: Final = 3  # forwarding untouched

_NEVER_COMPRESSED_STATUS: Final = frozenset({204, 206, 304})
_VARY_TOKEN: Final = b"Accept-Encoding"
_PROBLEM_JSON: Final = b"application/problem+json"


def no_compression(handler: _F) -> _F:
    """Mark a route handler so :class:`CompressionMiddleware` never compresses its responses.

    The router exposes the matched route as ``scope["route"]`` with the handler in ``.endpoint``;
    the middleware reads it when the response starts. Works above or below the route decorator.

    Args:
        handler: The route handler function.

    Returns:
        The same function, marked.
    """
    setattr(handler, NO_COMPRESSION_ATTR, True)
    return handler


def _route_opted_out(scope: Scope) -> bool:
    route = scope.get("route")
    if route is None:
        return False
    # NOTE: ``.endpoint`` is the user's function per the core contract; ``.handler`` is accepted
    # too, for route objects whose ``.endpoint`` is the composed ASGI callable.
    for attribute in ("endpoint", "handler"):
        if getattr(getattr(route, attribute, None), NO_COMPRESSION_ATTR, False):
            return True
    return False


def _has_no_transform(value: bytes) -> bool:
    return any(d.strip().lower() == b"no-transform" for d in value.split(b","))


def _is_event_stream(content_type: bytes) -> bool:
    return content_type.partition(b";")[0].strip().lower() == b"text/event-stream"


def _with_vary(headers: Iterable[Sequence[bytes]]) -> list[Any]:
    """Return ``headers`` with ``Accept-Encoding`` merged into ``Vary`` (one combined field)."""
    kept: list[Any] = []
    tokens: list[bytes] = []
    for pair in headers:
        if pair[0].lower() == b"vary":
            tokens.extend(t.strip() for t in pair[1].split(b",") if t.strip())
        else:
            kept.append(pair)
    if not tokens:
        kept.append((b"vary", _VARY_TOKEN))
        return kept
    lowered = [t.lower() for t in tokens]
    if b"*" not in lowered and b"accept-encoding" not in lowered:
        tokens.append(_VARY_TOKEN)
    kept.append((b"vary", b", ".join(tokens)))
    return kept


def _encoded_headers(headers: list[Any], coding: bytes, length: int | None) -> list[Any]:
    """Rewrite response headers for an encoded body."""
    out: list[Any] = []
    for pair in headers:
        name = pair[0].lower()
        if name == b"content-length" or name == b"accept-ranges":
            # NOTE: byte ranges would address the unencoded bytes; nginx drops them the same way.
            continue
        if name == b"etag" and pair[1].startswith(b'"'):
            # NOTE: a strong validator names exact bytes; the encoded bytes differ.
            out.append((pair[0], b"W/" + pair[1]))
            continue
        out.append(pair)
    out.append((b"content-encoding", coding))
    if length is not None:
        out.append((b"content-length", str(length).encode("ascii")))
    return out


class _Responder:
    """The ``send`` wrapper for one response (one instance per request)."""

    __slots__ = (
        "_codec",
        "_encoder",
        "_forced",
        "_mw",
        "_off",
        "_scope",
        "_send",
        "_start",
        "_state",
        "started",
    )

    def __init__(
        self,
        mw: CompressionMiddleware,
        scope: Scope,
        send: Send,
        codec: Codec | None,
        forced: bool,
        off: bool = False,
    ) -> None:
        self._mw = mw
        self._off = off  # NOTE: excluded path: forward the response untouched
        self._scope = scope
        self._send = send
        self._codec = codec
        self._forced = forced
        self._state = _PENDING
        self._start: Message = {}
        self._encoder: Encoder | None = None
        self.started = False

    async def __call__(self, message: Message) -> None:
        state = self._state
        if state == _PASS:
            await self._send(message)
            return
        mtype = message["type"]
        if state == _STREAM:
            if mtype == "http.response.body":
                await self._stream(message)
            else:
                await self._send(message)
            return
        if state == _HELD:
            if mtype == "http.response.body":
                await self._first_body(message)
            else:
                # NOTE: e.g. http.response.pathsend / zerocopysend: cannot be encoded here.
                await self._release()
                await self._send(message)
            return
        if mtype == "http.response.start":
            await self._on_start(message)
        else:
            await self._send(message)

    async def _pass_start(self, message: Message) -> None:
        self._state = _PASS
        self.started = True
        await self._send(message)

    async def _release(self) -> None:
        self._state = _PASS
        self.started = True
        await self._send(self._start)

    async def _on_start(self, message: Message) -> None:
        status: int = message["status"]
        if self._off or status < 200 or status in _NEVER_COMPRESSED_STATUS:
            await self._pass_start(message)
            return
        raw_headers = message.get("headers")
        if raw_headers is None:
            raw_headers = ()
        elif not isinstance(raw_headers, list | tuple):
            # NOTE: ASGI allows any iterable; it is walked twice below, so materialise it.
            raw_headers = list(raw_headers)
            message = dict(message)
            message["headers"] = raw_headers
        content_type: bytes | None = None
        content_length: bytes | None = None
        for pair in raw_headers:
            name = pair[0].lower()
            if name == b"content-type":
                content_type = pair[1]
            elif name == b"content-length":
                content_length = pair[1]
            elif (
                name == b"content-encoding"
                or name == b"content-range"
                or (name == b"cache-control" and _has_no_transform(pair[1]))
            ):
                await self._pass_start(message)
                return
        mw = self._mw
        forced = self._forced
        if _route_opted_out(self._scope) or not (
            forced or (content_type is not None and mw._compressible(content_type))
        ):
            await self._pass_start(message)
            return
        start = dict(message)
        start["headers"] = _with_vary(raw_headers)
        self._start = start
        if self._codec is None:
            await self._release()
            return
        if content_length is not None:
            if not forced:
                try:
                    small = int(content_length) < mw.minimum_size
                except ValueError:
                    small = False
                if small:
                    await self._release()
                    return
        elif content_type is not None and _is_event_stream(content_type):
            # NOTE: an SSE client must get the headers now; the first event may be minutes away.
            await self._start_stream()
            return
        self._state = _HELD

    async def _first_body(self, message: Message) -> None:
        codec = self._codec
        assert codec is not None
        body: bytes = message.get("body", b"")
        start = self._start
        if not message.get("more_body", False):
            if not body or (len(body) < self._mw.minimum_size and not self._forced):
                await self._release()
                await self._send(message)
                return
            encoded = codec.compress(body)
            if len(encoded) >= len(body) and not self._forced:
                # NOTE: incompressible content: the identity form is smaller, send that.
                await self._release()
                await self._send(message)
                return
            start["headers"] = _encoded_headers(start["headers"], codec.name.encode(), len(encoded))
            self._state = _PASS
            self.started = True
            await self._send(start)
            await self._send({"type": "http.response.body", "body": encoded, "more_body": False})
            return
        await self._start_stream()
        await self._stream(message)

    async def _start_stream(self) -> None:
        codec = self._codec
        assert codec is not None
        # PERF: streamed body: encode and flush chunk by chunk, never buffering the whole body.
        self._encoder = codec.new_encoder()
        start = self._start
        start["headers"] = _encoded_headers(start["headers"], codec.name.encode(), None)
        self._state = _STREAM
        self.started = True
        await self._send(start)

    async def _stream(self, message: Message) -> None:
        encoder = self._encoder
        assert encoder is not None
        body: bytes = message.get("body", b"")
        if message.get("more_body", False):
            chunk = encoder.compress(body)
            if chunk:
                await self._send({"type": "http.response.body", "body": chunk, "more_body": True})
            return
        self._state = _PASS
        self._encoder = None
        await self._send(
            {"type": "http.response.body", "body": encoder.finish(body), "more_body": False}
        )


def _contains(exc: BaseException, target: BaseException) -> bool:
    if exc is target:
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(_contains(inner, target) for inner in exc.exceptions)
    return False


class CompressionMiddleware:
    """Compress HTTP responses with zstd, brotli or gzip as negotiated by ``Accept-Encoding``.

    Pure ASGI; only ``http`` scopes are touched (lifespan and websocket pass through). A response
    is compressed when the client accepts a coding, its media type is compressible, its body is
    at least ``minimum_size`` bytes (or streamed), and none of these hold: a ``Content-Encoding``
    is already set, status 204/206/304, a ``Content-Range`` header, a ``Range`` request, a ``HEAD``
    request, ``Cache-Control: no-transform``, a path under ``exclude_paths``, or a handler marked
    with :func:`no_compression`. Compressible responses always get ``Vary: Accept-Encoding``.

    Args:
        app: The wrapped ASGI application.
        encodings: Codings offered, most preferred first (breaks ties between equal ``q``).
        minimum_size: Bodies smaller than this many bytes are sent as they are.
        media_types: Compressible media types (``type/subtype``, ``type/*`` or ``+suffix``);
            defaults to :data:`~armature_ext.compression.DEFAULT_MEDIA_TYPES`.
        gzip_level: zlib level, 1-9.
        brotli_level: brotli quality, 0-11.
        zstd_level: zstd level, up to 19 (higher levels exceed the 8 MiB HTTP window).
        exclude_paths: Path prefixes never compressed (matched on whole segments).
        decompress_requests: Decode request bodies sent with ``Content-Encoding`` gzip, br or
            zstd before the application reads them.
        max_decompressed_size: The largest decoded request body (bytes), ``None`` for no limit;
            beyond it the client gets 413.

    Raises:
        ValueError: An option is invalid.
    """

    __slots__ = (
        "_codecs",
        "_compressible",
        "_decompress",
        "_exclude_exact",
        "_exclude_prefixes",
        "_preference",
        "app",
        "max_decompressed_size",
        "minimum_size",
    )

    def __init__(
        self,
        app: ASGIApp,
        *,
        encodings: Sequence[str] = ENCODINGS,
        minimum_size: int = 860,
        media_types: Iterable[str] | None = None,
        gzip_level: int = 6,
        brotli_level: int = 4,
        zstd_level: int = 3,
        exclude_paths: Iterable[str] = (),
        decompress_requests: bool = False,
        max_decompressed_size: int | None = 1024 * 1024,
    ) -> None:
        self.app = app
        if isinstance(encodings, str):
            raise ValueError("encodings must be a sequence of codings, e.g. ('zstd', 'br')")
        names = tuple(e.strip().lower() for e in encodings)
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate entries in encodings: {list(encodings)!r}")
        levels = {"gzip": gzip_level, "br": brotli_level, "zstd": zstd_level}
        self._codecs = {n: make_codec(n, levels.get(n, 0)) for n in names}
        self._preference = names
        if isinstance(minimum_size, bool) or not isinstance(minimum_size, int) or minimum_size < 0:
            raise ValueError(f"minimum_size must be a non-negative integer, got {minimum_size!r}")
        self.minimum_size = minimum_size
        matcher = MediaTypeMatcher(DEFAULT_MEDIA_TYPES if media_types is None else media_types)
        self._compressible = matcher
        exact: set[str] = set()
        for prefix in [exclude_paths] if isinstance(exclude_paths, str) else exclude_paths:
            if not prefix.startswith("/"):
                raise ValueError(f"exclude_paths entries must start with '/', got {prefix!r}")
            exact.add(prefix.rstrip("/") or "/")
        self._exclude_exact = frozenset(exact)
        # NOTE: "/" excludes everything; other prefixes match themselves and what is below them.
        self._exclude_prefixes = tuple("/" if p == "/" else p + "/" for p in exact)
        self._decompress = bool(decompress_requests)
        if max_decompressed_size is not None and (
            isinstance(max_decompressed_size, bool)
            or not isinstance(max_decompressed_size, int)
            or max_decompressed_size < 0
        ):
            raise ValueError(
                f"max_decompressed_size must be a non-negative integer or None, "
                f"got {max_decompressed_size!r}"
            )
        self.max_decompressed_size = max_decompressed_size

    def _excluded(self, path: str) -> bool:
        return path in self._exclude_exact or path.startswith(self._exclude_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection.

        Args:
            scope: The connection scope.
            receive: The ASGI receive callable.
            send: The ASGI send callable.
        """
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        excluded = bool(self._exclude_exact) and self._excluded(scope["path"])
        if excluded and not self._decompress:
            await self.app(scope, receive, send)
            return
        accept: bytes | None = None
        request_coding: bytes | None = None
        ranged = False
        for name, value in scope["headers"]:
            name = name.lower()
            if name == b"accept-encoding":
                accept = value if accept is None else accept + b"," + value
            elif name == b"content-encoding":
                request_coding = value if request_coding is None else request_coding + b"," + value
            elif name == b"range":
                ranged = True
        selection = select_encoding(accept, self._preference)
        codec = None if selection.coding is None else self._codecs[selection.coding]
        forced = selection.identity_refused
        if ranged or excluded or scope["method"] == "HEAD":
            codec = None
            forced = False
        if request_coding is not None and self._decompress:
            await self._decoding_call(scope, receive, send, request_coding, codec, forced, excluded)
            return
        await self.app(scope, receive, _Responder(self, scope, send, codec, forced, excluded))

    async def _decoding_call(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_coding: bytes,
        codec: Codec | None,
        forced: bool,
        excluded: bool,
    ) -> None:
        tokens = [t.strip().lower() for t in request_coding.decode("latin-1").split(",")]
        codings = [t for t in tokens if t and t != "identity"]
        # NOTE: the decoded length is unknown until the body is read: drop Content-Length too.
        dropped = (b"content-encoding", b"content-length") if codings else (b"content-encoding",)
        headers = [pair for pair in scope["headers"] if pair[0].lower() not in dropped]
        if len(codings) > 1 or (codings and codings[0] not in DECODABLE):
            detail = (
                "Stacked content codings are not supported."
                if len(codings) > 1
                else f"Unsupported request Content-Encoding {codings[0]!r}."
            )
            await _send_problem(
                send,
                415,
                detail,
                scope,
                [(b"accept-encoding", ", ".join(sorted(DECODABLE - {"x-gzip"})).encode())],
            )
            return
        inner_scope = dict(scope)
        inner_scope["headers"] = headers
        if not codings:
            responder = _Responder(self, inner_scope, send, codec, forced, excluded)
            await self.app(inner_scope, receive, responder)
            return
        decoding = DecodingReceive(receive, make_decoder(codings[0]), self.max_decompressed_size)
        responder = _Responder(self, inner_scope, send, codec, forced, excluded)
        try:
            await self.app(inner_scope, decoding, responder)
        except BaseException as exc:
            error = decoding.error
            if error is None or responder.started or not _contains(exc, error):
                raise
            await _send_problem(send, error.status_code, error.detail, scope, [])


async def _send_problem(
    send: Send, status: int, detail: str | None, scope: Scope, extra: list[tuple[bytes, bytes]]
) -> None:
    body = problem_body(status, detail, instance=scope.get("path"))
    headers = [
        (b"content-type", _PROBLEM_JSON),
        (b"content-length", str(len(body)).encode("ascii")),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
