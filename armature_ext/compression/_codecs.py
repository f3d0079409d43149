"""Encoders (responses) and bounded-output decoders (request bodies) for gzip, br and zstd."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Protocol

from ._deps import BROTLI_BOUNDED_OUTPUT, brotli, zstd

__all__ = [
    "DECODABLE",
    "ENCODINGS",
    "Codec",
    "DecodeError",
    "Decoder",
    "Encoder",
    "level_bounds",
    "make_codec",
    "make_decoder",
]

#: Response codings this package can produce.
ENCODINGS: tuple[str, ...] = ("zstd", "br", "gzip")

_GZIP_WBITS = 31  # NOTE: 16 + 15: a gzip header and trailer around a 32 KiB-window deflate stream
# NOTE: RFC 9659 caps the zstd window for HTTP at 8 MiB (log 23); larger frames are refused.
_ZSTD_WINDOW_LOG_MAX = 23
_ZSTD_MAX_LEVEL = 19  # NOTE: levels 20+ use windows larger than HTTP clients accept


class DecodeError(Exception):
    """The compressed data is corrupt or truncated."""


class Encoder(Protocol):
    """An incremental compressor for one response body."""

    def compress(self, data: bytes) -> bytes:
        """Compress ``data`` and flush, so everything given so far is decodable by the client."""

    def finish(self, data: bytes) -> bytes:
        """Compress the last chunk and end the stream."""


class Decoder(Protocol):
    """An incremental decompressor whose every call returns a bounded amount of output."""

    def feed(self, data: bytes) -> None:
        """Queue compressed input (call only after :meth:`read` returned ``b""``)."""

    def read(self, limit: int) -> bytes:
        """Return at most about ``limit`` decoded bytes; ``b""`` means "feed more input"."""

    def close(self) -> None:
        """Check the stream ended cleanly; raise :class:`DecodeError` when it was truncated."""


class _GzipEncoder:
    __slots__ = ("_c",)

    def __init__(self, level: int) -> None:
        self._c = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)

    def compress(self, data: bytes) -> bytes:
        if not data:
            return b""
        c = self._c
        return c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)

    def finish(self, data: bytes) -> bytes:
        c = self._c
        return c.compress(data) + c.flush(zlib.Z_FINISH)


class _BrotliEncoder:
    __slots__ = ("_c",)

    def __init__(self, level: int) -> None:
        self._c = brotli.Compressor(quality=level)

    def compress(self, data: bytes) -> bytes:
        if not data:
            return b""
        c = self._c
        out: bytes = c.process(data) + c.flush()
        return out

    def finish(self, data: bytes) -> bytes:
        c = self._c
        out: bytes = c.process(data) + c.finish()
        return out


class _ZstdEncoder:
    __slots__ = ("_c",)

    def __init__(self, level: int) -> None:
        self._c = zstd.ZstdCompressor(level=level)

    def compress(self, data: bytes) -> bytes:
        if not data:
            return b""
        return self._c.compress(data, zstd.ZstdCompressor.FLUSH_BLOCK)

    def finish(self, data: bytes) -> bytes:
        return self._c.compress(data, zstd.ZstdCompressor.FLUSH_FRAME)


class Codec:
    """One content coding at a fixed level: a one-shot compressor and an encoder factory.

    Args:
        name: The ``Content-Encoding`` token.
        level: The compression level.
        compress: Compresses a whole body at once.
        new_encoder: Creates an incremental encoder for a streamed body.
    """

    __slots__ = ("compress", "level", "name", "new_encoder")

    def __init__(
        self,
        name: str,
        level: int,
        compress: Callable[[bytes], bytes],
        new_encoder: Callable[[], Encoder],
    ) -> None:
        self.name = name
        self.level = level
        self.compress = compress
        self.new_encoder = new_encoder


def level_bounds(name: str) -> tuple[int, int]:
    """Return the accepted ``(lowest, highest)`` level for a coding.

    Args:
        name: ``"gzip"``, ``"br"`` or ``"zstd"``.

    Returns:
        The inclusive bounds.
    """
    if name == "gzip":
        return (1, 9)
    if name == "br":
        return (0, 11)
    return (zstd.CompressionParameter.compression_level.bounds()[0], _ZSTD_MAX_LEVEL)


def make_codec(name: str, level: int) -> Codec:
    """Build the codec for ``name`` at ``level``.

    Args:
        name: ``"gzip"``, ``"br"`` or ``"zstd"``.
        level: A level within :func:`level_bounds`.

    Returns:
        The codec.

    Raises:
        ValueError: Unknown coding or level out of range.
    """
    if name not in ENCODINGS:
        raise ValueError(f"unknown content coding {name!r}; supported: {', '.join(ENCODINGS)}")
    low, high = level_bounds(name)
    if isinstance(level, bool) or not isinstance(level, int) or not low <= level <= high:
        raise ValueError(f"{name} level must be an integer in [{low}, {high}], got {level!r}")
    if name == "gzip":

        def gzip_compress(data: bytes) -> bytes:
            return zlib.compress(data, level, wbits=_GZIP_WBITS)

        return Codec(name, level, gzip_compress, lambda: _GzipEncoder(level))
    if name == "br":

        def brotli_compress(data: bytes) -> bytes:
            out: bytes = brotli.compress(data, quality=level)
            return out

        return Codec(name, level, brotli_compress, lambda: _BrotliEncoder(level))

    def zstd_compress(data: bytes) -> bytes:
        return zstd.compress(data, level)

    return Codec(name, level, zstd_compress, lambda: _ZstdEncoder(level))


class _GzipDecoder:
    __slots__ = ("_d", "_pending", "_seen")

    def __init__(self) -> None:
        self._d = zlib.decompressobj(_GZIP_WBITS)
        self._pending = b""
        self._seen = False

    def feed(self, data: bytes) -> None:
        if data:
            self._pending += data
            self._seen = True

    def read(self, limit: int) -> bytes:
        while True:
            d = self._d
            if d.eof:
                # NOTE: RFC 1952 allows several gzip members back to back; start the next one.
                rest = d.unused_data + self._pending
                if not rest:
                    return b""
                d = self._d = zlib.decompressobj(_GZIP_WBITS)
                self._pending = rest
            try:
                # PERF/NOTE: max_length bounds the output of one call whatever the input ratio.
                out = d.decompress(self._pending, limit)
            except zlib.error as exc:
                raise DecodeError(f"invalid gzip data: {exc}") from exc
            self._pending = d.unconsumed_tail
            if out:
                return out
            if not self._pending and not d.eof:
                return b""

    def close(self) -> None:
        if self._seen and (not self._d.eof or self._pending):
            raise DecodeError("truncated gzip data")


class _ZstdDecoder:
    __slots__ = ("_d", "_pending", "_seen")

    def __init__(self) -> None:
        self._d = self._new()
        self._pending = b""
        self._seen = False

    @staticmethod
    def _new() -> zstd.ZstdDecompressor:
        return zstd.ZstdDecompressor(
            options={zstd.DecompressionParameter.window_log_max: _ZSTD_WINDOW_LOG_MAX}
        )

    def feed(self, data: bytes) -> None:
        if data:
            self._pending += data
            self._seen = True

    def read(self, limit: int) -> bytes:
        while True:
            d = self._d
            if d.eof:
                # NOTE: a zstd stream may hold several frames; start the next one.
                rest = d.unused_data + self._pending
                if not rest:
                    return b""
                d = self._d = self._new()
                self._pending = rest
            data, self._pending = self._pending, b""
            if not data and d.needs_input:
                return b""
            try:
                out = d.decompress(data, limit)
            except zstd.ZstdError as exc:
                raise DecodeError(f"invalid zstd data: {exc}") from exc
            if out:
                return out
            if not d.eof and (d.needs_input or not data):
                return b""

    def close(self) -> None:
        if self._seen and not self._d.eof:
            raise DecodeError("truncated zstd data")


class _BrotliDecoder:
    __slots__ = ("_d", "_pending", "_seen")

    def __init__(self) -> None:
        self._d = brotli.Decompressor()
        self._pending = b""
        self._seen = False

    def feed(self, data: bytes) -> None:
        if data:
            self._pending += data
            self._seen = True

    def read(self, limit: int) -> bytes:
        d = self._d
        try:
            while True:
                if not d.can_accept_more_data():
                    # NOTE: output held back by an earlier bounded call must be drained first.
                    out: bytes = d.process(b"", output_buffer_limit=limit)
                    if out:
                        return out
                data, self._pending = self._pending, b""
                if not data:
                    return b""
                if d.is_finished():
                    raise DecodeError("invalid br data: bytes after the end of the stream")
                out = d.process(data, output_buffer_limit=limit)
                if out or d.can_accept_more_data():
                    return out
        except brotli.error as exc:
            raise DecodeError(f"invalid br data: {exc}") from exc

    def close(self) -> None:
        if self._seen and not self._d.is_finished():
            raise DecodeError("truncated br data")


_DECODERS: dict[str, Callable[[], Decoder]] = {
    "gzip": _GzipDecoder,
    "x-gzip": _GzipDecoder,
    "zstd": _ZstdDecoder,
}
if BROTLI_BOUNDED_OUTPUT:
    _DECODERS["br"] = _BrotliDecoder

#: Request ``Content-Encoding`` values that can be decoded with bounded memory.
DECODABLE: frozenset[str] = frozenset(_DECODERS)


def make_decoder(name: str) -> Decoder:
    """Create a bounded-output decoder.

    Args:
        name: A lower-cased coding from :data:`DECODABLE`.

    Returns:
        A fresh decoder.
    """
    return _DECODERS[name]()
