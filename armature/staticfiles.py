"""Serve a directory of static files as an ASGI app: ``app.mount("/static", StaticFiles(...))``.

What it does: GET and HEAD; ``ETag``/``Last-Modified`` with 304 (and 412 for failed ``If-Match``
/ ``If-Unmodified-Since``); ``Range`` and ``If-Range`` with 206, ``multipart/byteranges`` and 416;
precompressed ``.br``/``.gz`` siblings chosen by ``Accept-Encoding``; ``index.html`` and
``404.html`` in ``html`` mode; ``http.response.pathsend`` when the server offers it, otherwise
reads in chunks in a worker thread.

How it stays inside its directory: the request path is checked *before* any file system access
(``..`` segments, encoded ``/``, ``\\`` and NUL, backslashes, drive and absolute paths all get 404),
then resolved one component at a time with ``lstat`` from the root, which is itself resolved with
``os.path.realpath`` once at construction. A symlink's target is checked lexically before it is
followed, so a link that leaves the root is refused without touching anything outside it (unless
``follow_symlinks=True``). The final file is opened with ``O_NOFOLLOW``.
"""

from __future__ import annotations

import email.utils
import hashlib
import mimetypes
import os
import secrets
import stat as stat_module
import time
from collections.abc import Callable
from typing import Final
from urllib.parse import quote

import anyio.to_thread

from armature.conditional import parse_http_date
from armature.datastructures import encode_header
from armature.exceptions import problem_body
from armature.types import Receive, Scope, Send

__all__ = ["CacheControl", "StaticFiles"]

#: A fixed ``Cache-Control`` value, or a function of the served path (relative, ``/``-separated)
#: returning one (``None`` for no header).
CacheControl = str | Callable[[str], str | None]

_IMMUTABLE: Final = "public, max-age=31536000, immutable"
_MAX_SYMLINKS: Final = 40
_O_FLAGS: Final = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
# NOTE: percent-encoded '/', '\' and NUL are refused outright: no legitimate static path needs them.
_RAW_FORBIDDEN: Final = (b"%2f", b"%5c", b"%00")
_ENCODINGS: Final = (("br", ".br"), ("gzip", ".gz"))
_PROBLEM: Final = b"application/problem+json"
_HEADER_NAMES: Final = frozenset(
    {
        b"accept-encoding",
        b"if-match",
        b"if-modified-since",
        b"if-none-match",
        b"if-range",
        b"if-unmodified-since",
        b"range",
    }
)


class _Found:
    """A file ready to send: an open descriptor and what describes it."""

    __slots__ = ("encoding", "fd", "media_type", "path", "rel", "st", "status")

    def __init__(
        self,
        path: str,
        fd: int,
        st: os.stat_result,
        media_type: str,
        encoding: str | None,
        status: int,
        rel: str,
    ) -> None:
        self.path = path
        self.fd = fd
        self.st = st
        self.media_type = media_type
        self.encoding = encoding
        self.status = status
        self.rel = rel


class _Redirect:
    """A directory asked for without its trailing slash (``html`` mode)."""

    __slots__ = ()


_REDIRECT: Final = _Redirect()


def _media_type(name: str) -> str:
    media, coding = mimetypes.guess_type(name, strict=False)
    if coding is not None:
        # NOTE: "x.tar.gz" guesses as tar *encoded* with gzip; served as is, it is a gzip file.
        return "application/gzip" if coding == "gzip" else "application/octet-stream"
    if media is None:
        return "application/octet-stream"
    if media.startswith("text/") or media in ("application/javascript", "image/svg+xml"):
        return f"{media}; charset=utf-8"
    return media


def _read_at(fd: int, offset: int, size: int) -> bytes:
    pread = getattr(os, "pread", None)
    if pread is not None:
        return bytes(pread(fd, size, offset))
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, size)


def _digits(text: str) -> int | None:
    text = text.strip()
    if not text or not text.isascii() or not text.isdigit():
        return None
    # NOTE: past 19 digits the value is beyond any file size; never hand int() a huge string.
    return int(text) if len(text) <= 19 else 1 << 63


def parse_ranges(value: str, size: int) -> list[tuple[int, int]] | None:
    """Parse a ``Range`` header against a representation of ``size`` bytes.

    Args:
        value: The header value (``bytes=0-99,-500``).
        size: The representation's length.

    Returns:
        ``None`` when the header is to be ignored (another unit, or a syntax error); otherwise the
        satisfiable ranges as inclusive ``(first, last)`` pairs, sorted and merged (overlapping or
        adjacent ranges become one) in O(n log n); an empty list when none is satisfiable.
    """
    unit, sep, spec = value.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    ranges: list[tuple[int, int]] = []
    seen = False
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        seen = True
        first_text, dash, last_text = item.partition("-")
        if not dash:
            return None
        if not first_text.strip():
            suffix = _digits(last_text)
            if suffix is None:
                return None
            if suffix and size:
                ranges.append((max(0, size - suffix), size - 1))
            continue
        first = _digits(first_text)
        if first is None:
            return None
        if last_text.strip():
            last = _digits(last_text)
            if last is None or last < first:
                return None
        else:
            last = size - 1
        if first < size:
            ranges.append((first, min(last, size - 1)))
    if not seen:
        return None
    if len(ranges) < 2:
        return ranges
    ranges.sort()
    merged = [ranges[0]]
    for first, last in ranges[1:]:
        previous_first, previous_last = merged[-1]
        if first <= previous_last + 1:
            if last > previous_last:
                merged[-1] = (previous_first, last)
        else:
            merged.append((first, last))
    return merged


def _accepted_encodings(header: str) -> list[str]:
    """The precompressed codings the client accepts, best first, none worse than identity."""
    qualities: dict[str, float] = {}
    for item in header.split(",")[:64]:
        name, _, params = item.partition(";")
        name = name.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            key, _, raw = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(raw.strip())
                except ValueError:
                    quality = 0.0
                if not 0.0 <= quality <= 1.0:
                    quality = 0.0
        if name and name not in qualities:
            qualities[name] = quality
    star = qualities.get("*")
    # NOTE: identity is always acceptable; it wins only when the client ranks it explicitly higher.
    identity = qualities.get("identity", 0.0)
    choices: list[tuple[float, int, str]] = []
    for rank, (coding, _) in enumerate(_ENCODINGS):
        given = qualities.get(coding)
        if given is None and coding == "gzip":
            given = qualities.get("x-gzip")
        if given is None:
            given = 0.0 if star is None else star
        if given > 0.0 and given >= identity:
            choices.append((-given, rank, coding))
    return [coding for _, _, coding in sorted(choices)]


def _etag_matches(header: str, etag: str, *, strong: bool) -> bool:
    if header.strip() == "*":
        return True
    for item in header.split(","):
        item = item.strip()
        weak = item.startswith("W/")
        if weak and strong:
            continue
        if (item[2:] if weak else item) == etag:
            return True
    return False


class StaticFiles:
    """An ASGI app serving the files of one directory.

    Args:
        directory: The directory to serve; resolved once (``os.path.realpath``) at construction.
        html: Serve ``index.html`` for directories (redirecting ``/dir`` to ``/dir/``) and the
            root's ``404.html`` (with status 404) for misses.
        precompressed: Serve ``name.br`` / ``name.gz`` next to ``name`` to clients that accept
            them (``Vary: Accept-Encoding`` is then always sent).
        cache_control: ``"no-cache"`` (revalidate every time; the default), any fixed value such
            as ``"public, max-age=3600"``, ``"immutable"`` (one year, for fingerprinted names),
            or a function of the served path returning a value or ``None``.
        follow_symlinks: Follow symlinks wherever they point. By default a symlink is followed
            only while its target stays inside the directory.
        check_dir: Raise at construction when the directory does not exist.
        max_ranges: The most ranges (after merging) one request may ask for; with more, the
            ``Range`` header is ignored and the whole file is sent with 200.
        chunk_size: Read size when the server cannot send the file itself.

    Raises:
        RuntimeError: ``check_dir`` is set and ``directory`` is not a directory.
        ValueError: A ``cache_control`` value containing CR, LF or NUL, or ``max_ranges`` < 1.
    """

    __slots__ = (
        "_cache_control",
        "chunk_size",
        "directory",
        "follow_symlinks",
        "html",
        "max_ranges",
        "precompressed",
        "root",
    )

    def __init__(
        self,
        *,
        directory: str | os.PathLike[str],
        html: bool = False,
        precompressed: bool = False,
        cache_control: CacheControl = "no-cache",
        follow_symlinks: bool = False,
        check_dir: bool = True,
        max_ranges: int = 16,
        chunk_size: int = 64 * 1024,
    ) -> None:
        self.directory = os.fspath(directory)
        self.root = os.path.realpath(self.directory)
        if check_dir and not os.path.isdir(self.root):
            raise RuntimeError(f"StaticFiles directory {self.directory!r} is not a directory")
        if max_ranges < 1:
            raise ValueError("max_ranges must be at least 1")
        self.html = html
        self.precompressed = precompressed
        self.follow_symlinks = follow_symlinks
        self.max_ranges = max_ranges
        self.chunk_size = chunk_size
        if isinstance(cache_control, str):
            value = _IMMUTABLE if cache_control == "immutable" else cache_control
            encode_header(b"cache-control", value)  # NOTE: refuses CR/LF/NUL now, not per request
            self._cache_control: CacheControl = value
        else:
            self._cache_control = cache_control

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind != "http":
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            return
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await _problem(
                scope, send, 405, "Only GET and HEAD are allowed", [(b"allow", b"GET, HEAD")]
            )
            return
        request = _request_headers(scope)
        target = self._target(scope)
        if target is None and not self.html:
            await _problem(scope, send, 404, "File not found")
            return
        accept = request.get(b"accept-encoding", "") if self.precompressed else ""
        found = await anyio.to_thread.run_sync(self._lookup, target, accept)
        if found is None:
            await _problem(scope, send, 404, "File not found")
        elif isinstance(found, _Redirect):
            # NOTE: relative, so it holds behind any proxy prefix; "./" keeps a name with a colon
            # from reading as a URL scheme.
            location = "./" + quote(scope["path"].rstrip("/").rpartition("/")[2]) + "/"
            query = scope.get("query_string")
            if query:
                location += "?" + query.decode("latin-1")
            await send(
                {
                    "type": "http.response.start",
                    "status": 307,
                    "headers": [encode_header(b"location", location), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
        else:
            try:
                await self._respond(scope, send, request, found)
            finally:
                if found.fd >= 0:
                    os.close(found.fd)

    # --- locating the file (runs in a worker thread) --------------------------------------------

    def _target(self, scope: Scope) -> tuple[list[str], bool] | None:
        """The request path as checked segments below the root, before any file system access."""
        raw = scope.get("raw_path")
        if raw and b"%" in raw:
            lowered = bytes(raw).lower()
            if any(bad in lowered for bad in _RAW_FORBIDDEN):
                return None
        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        # NOTE: ASGI 3: path includes root_path; what is below the mount point is ours.
        rel = path[len(root_path) :] if root_path and path.startswith(root_path) else path
        if "\x00" in rel or "\\" in rel:
            return None
        segments: list[str] = []
        for segment in rel.split("/"):
            if not segment or segment == ".":
                continue
            if segment == ".." or os.path.isabs(segment) or os.path.splitdrive(segment)[0]:
                return None
            segments.append(segment)
        return segments, rel.endswith("/")

    def _resolve(
        self, names: list[str], start: str | None = None
    ) -> tuple[str, os.stat_result] | None:
        """Resolve ``names`` below ``start`` (a resolved directory inside the root)."""
        base = self.root if start is None else start
        if self.follow_symlinks:
            real = os.path.realpath(os.path.join(base, *names))
            try:
                return real, os.stat(real)
            except OSError:
                return None
        return self._walk(base, names)

    def _walk(self, current: str, names: list[str]) -> tuple[str, os.stat_result] | None:
        """Resolve one component at a time; nothing outside the root is ever looked at."""
        root = self.root
        prefix = root if root.endswith(os.sep) else root + os.sep
        pending = names[::-1]
        st: os.stat_result | None = None
        hops = 0
        try:
            while pending:
                name = pending.pop()
                if not name or name == ".":
                    continue
                if st is not None and not stat_module.S_ISDIR(st.st_mode):
                    return None
                if name == "..":
                    if current == root:
                        return None
                    current = os.path.dirname(current)
                    st = None
                    continue
                candidate = os.path.join(current, name)
                st = os.lstat(candidate)
                if not stat_module.S_ISLNK(st.st_mode):
                    current = candidate
                    continue
                hops += 1
                if hops > _MAX_SYMLINKS:
                    return None
                target = os.readlink(candidate)
                if os.path.isabs(target):
                    # NOTE: checked as text before anything is looked up: an absolute target must
                    # name the root by its real path; anything else is outside.
                    if target != root and not target.startswith(prefix):
                        return None
                    current = root
                    target = target[len(root) :]
                pending.extend(reversed(target.replace(os.sep, "/").split("/")))
                st = None
            if st is None:
                st = os.lstat(current)
        except (OSError, ValueError):
            return None
        return current, st

    def _lookup(
        self, target: tuple[list[str], bool] | None, accept: str
    ) -> _Found | _Redirect | None:
        found = None if target is None else self._find(target[0], target[1], accept)
        if found is None and self.html:
            missing = self._resolve(["404.html"])
            if missing is not None and stat_module.S_ISREG(missing[1].st_mode):
                return self._open(missing[0], "404.html", 404, "404.html", "")
        return found

    def _find(
        self, segments: list[str], directory_request: bool, accept: str
    ) -> _Found | _Redirect | None:
        resolved = self._resolve(segments)
        if resolved is None:
            return None
        path, st = resolved
        rel = "/".join(segments)
        if stat_module.S_ISREG(st.st_mode):
            # NOTE: the media type follows the name asked for, as the client sees it.
            return None if directory_request else self._open(path, segments[-1], 200, rel, accept)
        if not (stat_module.S_ISDIR(st.st_mode) and self.html):
            return None
        if not directory_request:
            return _REDIRECT
        index = self._resolve(["index.html"], path)
        if index is None or not stat_module.S_ISREG(index[1].st_mode):
            return None
        rel = f"{rel}/index.html" if rel else "index.html"
        return self._open(index[0], "index.html", 200, rel, accept)

    def _open(self, path: str, name: str, status: int, rel: str, accept: str) -> _Found | None:
        media_type = _media_type(name)
        if accept:
            directory, base = os.path.split(path)
            for coding in _accepted_encodings(accept):
                extension = dict(_ENCODINGS)[coding]
                sibling = self._resolve([base + extension], directory)
                if sibling is not None and stat_module.S_ISREG(sibling[1].st_mode):
                    found = self._open_fd(sibling[0], media_type, coding, status, rel)
                    if found is not None:
                        return found
        return self._open_fd(path, media_type, None, status, rel)

    def _open_fd(
        self, path: str, media_type: str, coding: str | None, status: int, rel: str
    ) -> _Found | None:
        flags = _O_FLAGS if self.follow_symlinks else _O_FLAGS | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(path, flags)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            return None
        if not stat_module.S_ISREG(st.st_mode):
            os.close(fd)
            return None
        return _Found(path, fd, st, media_type, coding, status, rel)

    # --- answering ------------------------------------------------------------------------------

    def _headers(self, found: _Found, etag: str, last_modified: str) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"content-type", found.media_type.encode("latin-1")),
            (b"etag", etag.encode("latin-1")),
            (b"last-modified", last_modified.encode("latin-1")),
        ]
        cache = self._cache_control
        value = cache if isinstance(cache, str) else cache(found.rel)
        if found.status != 200:
            value = "no-cache"
        if value is not None:
            headers.append(encode_header(b"cache-control", value))
        if self.precompressed:
            headers.append((b"vary", b"Accept-Encoding"))
        if found.encoding is not None:
            headers.append((b"content-encoding", found.encoding.encode("latin-1")))
        return headers

    async def _respond(
        self, scope: Scope, send: Send, request: dict[bytes, str], found: _Found
    ) -> None:
        st = found.st
        size = st.st_size
        tag = hashlib.blake2b(
            f"{st.st_ino}-{size}-{st.st_mtime_ns}".encode(), digest_size=12
        ).hexdigest()
        etag = f'"{tag}-{found.encoding}"' if found.encoding else f'"{tag}"'
        last_modified = email.utils.formatdate(st.st_mtime, usegmt=True)
        headers = self._headers(found, etag, last_modified)
        head = scope["method"] == "HEAD"
        if found.status != 200:
            headers.append((b"content-length", b"%d" % size))
            await self._send_ranges(
                scope, send, found, found.status, headers, [(0, size - 1)], head
            )
            return
        decision = _preconditions(request, etag, int(st.st_mtime))
        if decision == 304:
            not_modified = [(k, v) for k, v in headers if not k.startswith(b"content-")]
            await send({"type": "http.response.start", "status": 304, "headers": not_modified})
            await send({"type": "http.response.body", "body": b""})
            return
        if decision == 412:
            await _problem(scope, send, 412, "A precondition of this request does not hold")
            return
        headers.append((b"accept-ranges", b"bytes"))
        ranges = self._ranges(request, etag, int(st.st_mtime), size, head, found.encoding)
        if ranges is None:
            headers.append((b"content-length", b"%d" % size))
            if not head and size and "http.response.pathsend" in scope.get("extensions", {}):
                # PERF: the server sends the file itself (zero-copy where it can).
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.pathsend", "path": found.path})
                return
            await self._send_ranges(scope, send, found, 200, headers, [(0, size - 1)], head)
        elif not ranges:
            extra = [(b"content-range", b"bytes */%d" % size)]
            await _problem(scope, send, 416, "None of the requested ranges is satisfiable", extra)
        elif len(ranges) == 1:
            first, last = ranges[0]
            headers.append((b"content-range", b"bytes %d-%d/%d" % (first, last, size)))
            headers.append((b"content-length", b"%d" % (last - first + 1)))
            await self._send_ranges(scope, send, found, 206, headers, ranges, head)
        else:
            await self._send_multipart(send, found, headers, ranges, size)

    def _ranges(
        self,
        request: dict[bytes, str],
        etag: str,
        mtime: int,
        size: int,
        head: bool,
        coding: str | None,
    ) -> list[tuple[int, int]] | None:
        header = request.get(b"range")
        if header is None or head:
            return None
        if_range = request.get(b"if-range")
        if if_range is not None:
            value = if_range.strip()
            if value.startswith(('"', "W/")):
                if value != etag:
                    return None
            elif parse_http_date(value) != float(mtime):
                return None
        ranges = parse_ranges(header, size)
        if ranges is None or len(ranges) > self.max_ranges:
            return None
        if len(ranges) > 1 and coding is not None:
            # NOTE: Content-Encoding would apply to the multipart whole; send the file instead.
            return None
        return ranges

    async def _send_ranges(
        self,
        scope: Scope,
        send: Send,
        found: _Found,
        status: int,
        headers: list[tuple[bytes, bytes]],
        ranges: list[tuple[int, int]],
        head: bool,
    ) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if not head:
            for first, last in ranges:
                if not await self._send_span(send, found.fd, first, last):
                    return
        await send({"type": "http.response.body", "body": b""})

    async def _send_span(
        self, send: Send, fd: int, first: int, last: int, prefix: bytes = b""
    ) -> bool:
        """Send bytes ``first..last`` of ``fd``; False when the client went away."""
        position = first
        chunk_size = self.chunk_size
        while position <= last:
            want = min(chunk_size, last - position + 1)
            data = await anyio.to_thread.run_sync(_read_at, fd, position, want)
            if not data:
                break  # NOTE: the file shrank while being sent; the server will close the stream
            position += len(data)
            if prefix:
                data, prefix = prefix + data, b""
            try:
                await send({"type": "http.response.body", "body": data, "more_body": True})
            except OSError:
                return False  # NOTE: ASGI 2.4 servers raise OSError once the client is gone
        return True

    async def _send_multipart(
        self,
        send: Send,
        found: _Found,
        headers: list[tuple[bytes, bytes]],
        ranges: list[tuple[int, int]],
        size: int,
    ) -> None:
        boundary = secrets.token_hex(16)
        media = found.media_type
        heads: list[bytes] = []
        for first, last in ranges:
            lead = "\r\n" if heads else ""
            heads.append(
                f"{lead}--{boundary}\r\nContent-Type: {media}\r\n"
                f"Content-Range: bytes {first}-{last}/{size}\r\n\r\n".encode("latin-1")
            )
        tail = f"\r\n--{boundary}--\r\n".encode("latin-1")
        length = sum(len(h) for h in heads) + sum(b - a + 1 for a, b in ranges) + len(tail)
        headers = [(k, v) for k, v in headers if k != b"content-type"]
        headers.append((b"content-type", f"multipart/byteranges; boundary={boundary}".encode()))
        headers.append((b"content-length", b"%d" % length))
        await send({"type": "http.response.start", "status": 206, "headers": headers})
        for head, (first, last) in zip(heads, ranges, strict=True):
            if not await self._send_span(send, found.fd, first, last, head):
                return
        await send({"type": "http.response.body", "body": tail})


def _request_headers(scope: Scope) -> dict[bytes, str]:
    found: dict[bytes, str] = {}
    for name, value in scope.get("headers") or ():
        if name in _HEADER_NAMES:
            text = value.decode("latin-1")
            # NOTE: repeated lines of a list header form one list.
            found[name] = f"{found[name]}, {text}" if name in found else text
    return found


def _preconditions(request: dict[bytes, str], etag: str, mtime: int) -> int | None:
    """RFC 9110 §13.2.2 for GET/HEAD: 412, 304, or None to send the file."""
    if_match = request.get(b"if-match")
    if if_match is not None:
        if not _etag_matches(if_match, etag, strong=True):
            return 412
    else:
        since = parse_http_date(request.get(b"if-unmodified-since"))
        if since is not None and mtime > since:
            return 412
    if_none_match = request.get(b"if-none-match")
    if if_none_match is not None:
        return 304 if _etag_matches(if_none_match, etag, strong=False) else None
    since = parse_http_date(request.get(b"if-modified-since"))
    if since is not None and since <= time.time() and mtime <= since:
        return 304
    return None


async def _problem(
    scope: Scope,
    send: Send,
    status: int,
    detail: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = problem_body(status, detail, instance=scope.get("path"))
    headers = [(b"content-type", _PROBLEM), (b"content-length", b"%d" % len(body)), *(extra or ())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
