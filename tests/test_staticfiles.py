"""Tests for armature.staticfiles: serving, traversal safety, conditional requests, ranges,
precompressed variants, html mode, cache control and pathsend."""

from __future__ import annotations

import email.utils
import gzip
import mimetypes
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import brotli  # type: ignore[import-untyped]
import pytest

from armature import App
from armature.staticfiles import StaticFiles, parse_ranges
from armature.testing import TestClient

TEXT = b"0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass
class Result:
    status: int
    headers: dict[str, str]
    body: bytes
    messages: list[dict[str, Any]] = field(default_factory=list)


async def call(
    app: Any,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    raw_path: bytes | None = None,
    root_path: str = "",
    extensions: dict[str, Any] | None = None,
    query: bytes = b"",
) -> Result:
    """Drive the ASGI app directly with a hand-built scope (nothing normalizes the path)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path if raw_path is not None else path.encode("utf-8"),
        "root_path": root_path,
        "query_string": query,
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in (headers or {}).items()],
        "extensions": extensions or {},
    }
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    start = messages[0]
    assert start["type"] == "http.response.start"
    names = [k.decode() for k, _ in start["headers"]]
    assert len(names) == len(set(names)), f"duplicate headers: {names}"
    result_headers = {k.decode(): v.decode("latin-1") for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in messages[1:] if m["type"] == "http.response.body")
    ends = [m for m in messages[1:] if not m.get("more_body", False)]
    assert len(ends) == 1 and ends[0] is messages[-1], "exactly one final message, last"
    return Result(start["status"], result_headers, body, messages)


@pytest.fixture(autouse=True, scope="module")
def _mimetypes_ready() -> None:
    mimetypes.init()  # NOTE: reads system files once, before any file-access spying


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """/public (served) next to /public2 (a sibling sharing its name prefix) and /outside."""
    public = tmp_path / "public"
    (public / "sub" / "deeper").mkdir(parents=True)
    (public / "docs").mkdir()
    (public / "a.txt").write_bytes(TEXT)
    (public / "empty.txt").write_bytes(b"")
    (public / "sub" / "b.css").write_bytes(b"body{}")
    (public / "sub" / "deeper" / "c.txt").write_bytes(b"deep")
    (public / "docs" / "index.html").write_bytes(b"<h1>docs</h1>")
    (public / "index.html").write_bytes(b"<h1>home</h1>")
    (public / "archive.tar.gz").write_bytes(gzip.compress(b"tar"))
    (public / "blob.unknownext").write_bytes(b"?")
    (tmp_path / "public2").mkdir()
    (tmp_path / "public2" / "secret.txt").write_bytes(b"SECRET")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_bytes(b"SECRET")
    return public


class FsSpy:
    """Records every path the file system functions are asked about (a spy, not a fake)."""

    NAMES = ("stat", "lstat", "open", "readlink", "listdir", "scandir")

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: list[str] = []
        self.lock = threading.Lock()
        for name in self.NAMES:
            original = getattr(os, name)
            monkeypatch.setattr(os, name, self._wrap(original))

    def _wrap(self, original: Any) -> Any:
        def spy(path: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(path, str | bytes | os.PathLike):
                with self.lock:
                    self.paths.append(os.fsdecode(path))
            return original(path, *args, **kwargs)

        return spy

    def outside(self, root: Path) -> list[str]:
        paths = list(self.paths)  # NOTE: before realpath below, which is spied on too
        real = os.path.realpath(root)
        return [p for p in paths if p != real and not p.startswith(real + os.sep)]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[FsSpy]:
    yield FsSpy(monkeypatch)


# --- basics -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_get_and_head(tree: Path) -> None:
    app = StaticFiles(directory=tree)
    result = await call(app, "/a.txt")
    assert result.status == 200
    assert result.body == TEXT
    assert result.headers["content-type"] == "text/plain; charset=utf-8"
    assert result.headers["content-length"] == str(len(TEXT))
    assert result.headers["accept-ranges"] == "bytes"
    assert result.headers["cache-control"] == "no-cache"
    assert result.headers["etag"].startswith('"') and result.headers["etag"].endswith('"')
    mtime = (tree / "a.txt").stat().st_mtime
    assert result.headers["last-modified"] == email.utils.formatdate(mtime, usegmt=True)
    assert "vary" not in result.headers
    head = await call(app, "/a.txt", method="HEAD")
    assert head.status == 200
    assert head.body == b""
    assert head.headers == result.headers
    nested = await call(app, "/sub/deeper/c.txt")
    assert nested.body == b"deep"
    empty = await call(app, "/empty.txt")
    assert (empty.status, empty.body, empty.headers["content-length"]) == (200, b"", "0")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "media"),
    [
        ("sub/b.css", "text/css; charset=utf-8"),
        ("archive.tar.gz", "application/gzip"),
        ("blob.unknownext", "application/octet-stream"),
        ("index.html", "text/html; charset=utf-8"),
    ],
)
async def test_media_types(tree: Path, name: str, media: str) -> None:
    result = await call(StaticFiles(directory=tree), "/" + name)
    assert result.headers["content-type"] == media


@pytest.mark.anyio
async def test_errors_are_problem_json(tree: Path) -> None:
    app = StaticFiles(directory=tree)
    missing = await call(app, "/nope.txt")
    assert missing.status == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert b'"instance":"/nope.txt"' in missing.body
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        result = await call(app, "/a.txt", method=method)
        assert result.status == 405
        assert result.headers["allow"] == "GET, HEAD"
        assert result.headers["content-type"] == "application/problem+json"
    head_missing = await call(app, "/nope.txt", method="HEAD")
    assert head_missing.status == 404 and head_missing.body == b""
    assert int(head_missing.headers["content-length"]) == len(missing.body)


@pytest.mark.anyio
async def test_directories_and_trailing_slashes_without_html(tree: Path) -> None:
    app = StaticFiles(directory=tree)
    for path in ("/", "/sub", "/sub/", "/a.txt/", "/a.txt/x"):
        assert (await call(app, path)).status == 404, path


def test_mounted_in_an_app(tree: Path) -> None:
    app = App()
    app.mount("/static", StaticFiles(directory=tree))
    with TestClient(app) as client:
        response = client.get("/static/sub/b.css")
        assert response.status_code == 200
        assert response.text == "body{}"
        assert client.get("/static/nope").status_code == 404
        assert client.get("/staticx/a.txt").status_code == 404


@pytest.mark.anyio
async def test_root_path_is_stripped_from_path(tree: Path) -> None:
    app = StaticFiles(directory=tree)
    result = await call(app, "/assets/v1/a.txt", root_path="/assets/v1")
    assert result.body == TEXT
    # A server that strips the prefix itself: path does not start with root_path.
    assert (await call(app, "/a.txt", root_path="/assets")).body == TEXT


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not a directory"):
        StaticFiles(directory=tmp_path / "nope")
    with pytest.raises(RuntimeError):
        StaticFiles(directory=tmp_path / "file", check_dir=True)


@pytest.mark.anyio
async def test_unchecked_missing_directory_serves_404(tmp_path: Path) -> None:
    app = StaticFiles(directory=tmp_path / "later", check_dir=False)
    assert (await call(app, "/a.txt")).status == 404


def test_invalid_options(tree: Path) -> None:
    with pytest.raises(ValueError):
        StaticFiles(directory=tree, cache_control="no-cache\r\nX-Evil: 1")
    with pytest.raises(ValueError):
        StaticFiles(directory=tree, max_ranges=0)


# --- traversal ----------------------------------------------------------------------------------

TRAVERSALS = [
    ("/../public2/secret.txt", None),
    ("/sub/../../public2/secret.txt", None),
    ("/../outside/secret.txt", None),
    ("/../public2/secret.txt", b"/%2e%2e/public2/secret.txt"),
    ("/../public2/secret.txt", b"/..%2fpublic2%2fsecret.txt"),
    ("/sub/x", b"/sub%2Fx"),
    ("/sub/x", b"/sub%5Cx"),
    ("/..\\public2\\secret.txt", None),
    ("/sub\\..\\..\\public2\\secret.txt", None),
    ("/a.txt\x00.png", None),
    ("/a.txt", b"/a.txt%00"),
    ("\\\\server\\share\\secret.txt", None),
    ("/..", None),
    ("/../public2", None),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("path", "raw"), TRAVERSALS)
async def test_traversal_attempts_get_404_without_touching_outside(
    tree: Path, spy: FsSpy, path: str, raw: bytes | None
) -> None:
    app = StaticFiles(directory=tree)
    spy.paths.clear()
    result = await call(app, path, raw_path=raw)
    assert result.status == 404
    assert b"SECRET" not in result.body
    assert spy.outside(tree) == []


@pytest.mark.anyio
async def test_absolute_looking_paths_stay_below_the_root(tree: Path, spy: FsSpy) -> None:
    app = StaticFiles(directory=tree)
    secret = tree.parent / "outside" / "secret.txt"
    spy.paths.clear()
    for path in ("/" + str(secret), "//" + str(secret), "///etc/passwd"):
        assert (await call(app, path)).status == 404
    assert spy.outside(tree) == []
    # The same names exist below the root? Then they are served from there.
    inside = tree / str(secret).lstrip("/")
    inside.parent.mkdir(parents=True)
    inside.write_bytes(b"inside")
    assert (await call(app, "//" + str(secret))).body == b"inside"


@pytest.mark.anyio
async def test_symlinks_leaving_the_root_get_404_without_touching_outside(
    tree: Path, spy: FsSpy
) -> None:
    sibling = tree.parent / "public2"
    (tree / "rel-leak").symlink_to("../public2/secret.txt")
    (tree / "abs-leak").symlink_to(sibling / "secret.txt")
    (tree / "prefix-leak").symlink_to(str(tree) + "2")  # /…/public2: shares the root's prefix
    (tree / "dir-leak").symlink_to(sibling, target_is_directory=True)
    (tree / "sub" / "up-leak").symlink_to("../../outside")
    (tree / "loop-a").symlink_to("loop-b")
    (tree / "loop-b").symlink_to("loop-a")
    app = StaticFiles(directory=tree)
    spy.paths.clear()
    for path in (
        "/rel-leak",
        "/abs-leak",
        "/prefix-leak/secret.txt",
        "/dir-leak/secret.txt",
        "/sub/up-leak/secret.txt",
        "/loop-a",
    ):
        result = await call(app, path)
        assert result.status == 404, path
        assert b"SECRET" not in result.body
    assert spy.outside(tree) == []


@pytest.mark.anyio
async def test_symlinks_inside_the_root_are_followed(tree: Path, spy: FsSpy) -> None:
    (tree / "alias.txt").symlink_to("a.txt")
    (tree / "abs-alias.txt").symlink_to(tree / "a.txt")
    (tree / "chain.txt").symlink_to("alias.txt")
    (tree / "sub" / "up.txt").symlink_to("../a.txt")
    (tree / "linked-dir").symlink_to("sub/deeper", target_is_directory=True)
    (tree / "sub" / "deeper" / "back").symlink_to("../..", target_is_directory=True)
    app = StaticFiles(directory=tree)
    spy.paths.clear()
    for path in ("/alias.txt", "/abs-alias.txt", "/chain.txt", "/sub/up.txt"):
        assert (await call(app, path)).body == TEXT, path
    assert (await call(app, "/linked-dir/c.txt")).body == b"deep"
    assert (await call(app, "/sub/deeper/back/a.txt")).body == TEXT
    assert spy.outside(tree) == []


@pytest.mark.anyio
async def test_follow_symlinks_serves_links_that_leave(tree: Path, spy: FsSpy) -> None:
    (tree / "rel-leak").symlink_to("../public2/secret.txt")
    assert (await call(StaticFiles(directory=tree), "/rel-leak")).status == 404
    app = StaticFiles(directory=tree, follow_symlinks=True)
    spy.paths.clear()
    assert (await call(app, "/rel-leak")).body == b"SECRET"
    # The spy sees accesses outside the root when they happen (so its silence elsewhere counts).
    assert str(tree.parent / "public2" / "secret.txt") in spy.outside(tree)
    # Lexical traversal stays refused even then.
    assert (await call(app, "/../public2/secret.txt")).status == 404


@pytest.mark.anyio
async def test_root_itself_may_be_a_symlink(tree: Path) -> None:
    link = tree.parent / "public-link"
    link.symlink_to(tree, target_is_directory=True)
    assert (await call(StaticFiles(directory=link), "/a.txt")).body == TEXT


# --- conditional requests -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_if_none_match(tree: Path) -> None:
    app = StaticFiles(directory=tree, cache_control="public, max-age=60")
    etag = (await call(app, "/a.txt")).headers["etag"]
    for value in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        result = await call(app, "/a.txt", headers={"if-none-match": value})
        assert result.status == 304, value
        assert result.body == b""
        assert result.headers["etag"] == etag
        assert result.headers["cache-control"] == "public, max-age=60"
        assert not any(k.startswith("content-") for k in result.headers)
    assert (await call(app, "/a.txt", headers={"if-none-match": '"other"'})).status == 200
    head = await call(app, "/a.txt", method="HEAD", headers={"if-none-match": etag})
    assert head.status == 304


@pytest.mark.anyio
async def test_if_modified_since(tree: Path) -> None:
    os.utime(tree / "a.txt", (1_700_000_000, 1_700_000_000))
    app = StaticFiles(directory=tree)
    same = email.utils.formatdate(1_700_000_000, usegmt=True)
    later = email.utils.formatdate(1_700_000_100, usegmt=True)
    earlier = email.utils.formatdate(1_699_999_000, usegmt=True)
    future = email.utils.formatdate(time.time() + 3600, usegmt=True)
    assert (await call(app, "/a.txt", headers={"if-modified-since": same})).status == 304
    assert (await call(app, "/a.txt", headers={"if-modified-since": later})).status == 304
    assert (await call(app, "/a.txt", headers={"if-modified-since": earlier})).status == 200
    assert (await call(app, "/a.txt", headers={"if-modified-since": future})).status == 200
    assert (await call(app, "/a.txt", headers={"if-modified-since": "garbage"})).status == 200
    # If-None-Match takes precedence over If-Modified-Since.
    both = {"if-modified-since": later, "if-none-match": '"nope"'}
    assert (await call(app, "/a.txt", headers=both)).status == 200


@pytest.mark.anyio
async def test_if_match_and_if_unmodified_since(tree: Path) -> None:
    os.utime(tree / "a.txt", (1_700_000_000, 1_700_000_000))
    app = StaticFiles(directory=tree)
    etag = (await call(app, "/a.txt")).headers["etag"]
    assert (await call(app, "/a.txt", headers={"if-match": etag})).status == 200
    assert (await call(app, "/a.txt", headers={"if-match": "*"})).status == 200
    failed = await call(app, "/a.txt", headers={"if-match": '"nope"'})
    assert failed.status == 412
    assert failed.headers["content-type"] == "application/problem+json"
    assert (await call(app, "/a.txt", headers={"if-match": f"W/{etag}"})).status == 412
    earlier = email.utils.formatdate(1_699_999_000, usegmt=True)
    assert (await call(app, "/a.txt", headers={"if-unmodified-since": earlier})).status == 412
    later = email.utils.formatdate(1_700_000_100, usegmt=True)
    assert (await call(app, "/a.txt", headers={"if-unmodified-since": later})).status == 200


@pytest.mark.anyio
async def test_etag_changes_with_the_file(tree: Path) -> None:
    app = StaticFiles(directory=tree)
    before = (await call(app, "/a.txt")).headers["etag"]
    (tree / "a.txt").write_bytes(TEXT + b"!")
    after = await call(app, "/a.txt", headers={"if-none-match": before})
    assert after.status == 200
    assert after.headers["etag"] != before


# --- ranges -------------------------------------------------------------------------------------


def parse_multipart_byteranges(result: Result) -> list[tuple[str, str, bytes]]:
    boundary = result.headers["content-type"].split("boundary=")[1]
    parts = []
    chunks = result.body.split(b"--" + boundary.encode())
    assert chunks[0] == b""
    assert chunks[-1] == b"--\r\n"
    for chunk in chunks[1:-1]:
        head, _, data = chunk.partition(b"\r\n\r\n")
        assert data.endswith(b"\r\n")
        lines = dict(line.split(": ", 1) for line in head.decode().strip().split("\r\n"))
        parts.append((lines["Content-Type"], lines["Content-Range"], data[:-2]))
    return parts


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=10-", 10, 35),
        ("bytes=-5", 31, 35),
        ("bytes=30-1000", 30, 35),
        ("bytes=-1000", 0, 35),
        ("BYTES = 5-5", 5, 5),
        ("bytes=0-3,2-8", 0, 8),
        ("bytes=0-3,4-8", 0, 8),
        ("bytes=0-,0-,0-", 0, 35),
        ("bytes=40-50,3-4", 3, 4),
    ],
)
async def test_single_range(tree: Path, header: str, first: int, last: int) -> None:
    result = await call(StaticFiles(directory=tree), "/a.txt", headers={"range": header})
    assert result.status == 206
    assert result.body == TEXT[first : last + 1]
    assert result.headers["content-range"] == f"bytes {first}-{last}/{len(TEXT)}"
    assert result.headers["content-length"] == str(last - first + 1)
    assert result.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.anyio
async def test_multiple_ranges(tree: Path) -> None:
    result = await call(
        StaticFiles(directory=tree), "/a.txt", headers={"range": "bytes=20-22, 0-1, -2, 1-3"}
    )
    assert result.status == 206
    assert result.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert result.headers["content-length"] == str(len(result.body))
    assert parse_multipart_byteranges(result) == [
        ("text/plain; charset=utf-8", "bytes 0-3/36", TEXT[0:4]),
        ("text/plain; charset=utf-8", "bytes 20-22/36", TEXT[20:23]),
        ("text/plain; charset=utf-8", "bytes 34-35/36", TEXT[34:36]),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("header", ["bytes=36-", "bytes=100-200", "bytes=-0", "bytes=40-50,60-"])
async def test_unsatisfiable_ranges(tree: Path, header: str) -> None:
    result = await call(StaticFiles(directory=tree), "/a.txt", headers={"range": header})
    assert result.status == 416
    assert result.headers["content-range"] == "bytes */36"
    assert result.headers["content-type"] == "application/problem+json"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "header", ["items=0-5", "bytes=5-2", "bytes=a-b", "bytes=1", "bytes=", "bytes=--1", "0-5"]
)
async def test_invalid_ranges_are_ignored(tree: Path, header: str) -> None:
    result = await call(StaticFiles(directory=tree), "/a.txt", headers={"range": header})
    assert result.status == 200
    assert result.body == TEXT


@pytest.mark.anyio
async def test_too_many_ranges_send_the_whole_file(tree: Path) -> None:
    app = StaticFiles(directory=tree, max_ranges=3)
    three = await call(app, "/a.txt", headers={"range": "bytes=0-0,2-2,4-4"})
    assert three.status == 206
    four = await call(app, "/a.txt", headers={"range": "bytes=0-0,2-2,4-4,6-6"})
    assert four.status == 200
    assert four.body == TEXT
    # Counted after merging: many overlapping ranges are one range.
    merged = await call(app, "/a.txt", headers={"range": "bytes=" + ",".join(["1-5"] * 500)})
    assert merged.status == 206
    assert merged.body == TEXT[1:6]


@pytest.mark.anyio
async def test_if_range(tree: Path) -> None:
    os.utime(tree / "a.txt", (1_700_000_000, 1_700_000_000))
    app = StaticFiles(directory=tree)
    etag = (await call(app, "/a.txt")).headers["etag"]
    date = email.utils.formatdate(1_700_000_000, usegmt=True)
    other_date = email.utils.formatdate(1_700_000_001, usegmt=True)
    cases = {etag: 206, f"W/{etag}": 200, '"stale"': 200, date: 206, other_date: 200, "junk": 200}
    for value, status in cases.items():
        result = await call(app, "/a.txt", headers={"range": "bytes=0-1", "if-range": value})
        assert result.status == status, value


@pytest.mark.anyio
async def test_head_ignores_range(tree: Path) -> None:
    result = await call(
        StaticFiles(directory=tree), "/a.txt", method="HEAD", headers={"range": "bytes=0-1"}
    )
    assert result.status == 200
    assert result.headers["content-length"] == "36"
    assert result.body == b""


def test_parse_ranges_edge_cases() -> None:
    assert parse_ranges("bytes=0-" + "9" * 5000, 10) == [(0, 9)]
    assert parse_ranges("bytes=" + "9" * 5000 + "-", 10) == []
    assert parse_ranges("bytes=0-1,,3-4", 10) == [(0, 1), (3, 4)]
    assert parse_ranges("bytes=0-0", 0) == []
    assert parse_ranges("bytes=\u0661-\u0662", 10) is None  # non-ASCII digits
    assert parse_ranges("bytes=5-9,0-4", 10) == [(0, 9)]


def test_parse_ranges_many_ranges_stays_fast() -> None:
    header = "bytes=" + ",".join(f"{i * 3}-{i * 3 + 1}" for i in range(100_000))
    start = time.process_time()
    ranges = parse_ranges(header, 10**9)
    assert time.process_time() - start < 2.0  # a complexity bound, not a speed target
    assert ranges is not None and len(ranges) == 100_000


# --- precompressed ------------------------------------------------------------------------------


@pytest.fixture
def compressed(tree: Path) -> Path:
    script = b"console.log('hello');\n" * 50
    (tree / "app.js").write_bytes(script)
    (tree / "app.js.br").write_bytes(brotli.compress(script))
    (tree / "app.js.gz").write_bytes(gzip.compress(script))
    (tree / "only-gz.css").write_bytes(b"a{}" * 100)
    (tree / "only-gz.css.gz").write_bytes(gzip.compress(b"a{}" * 100))
    return tree


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip, deflate, br", "br"),
        ("br", "br"),
        ("gzip", "gzip"),
        ("x-gzip", "gzip"),
        ("br;q=0.5, gzip", "gzip"),
        ("br;q=0.9, gzip;q=0.8", "br"),
        ("*", "br"),
        ("br;q=0, *", "gzip"),
        ("identity", None),
        ("", None),
        (None, None),
        ("gzip;q=0.5, identity", None),
        ("deflate", None),
        ("br;q=bad, gzip;q=2", None),
    ],
)
async def test_precompressed_negotiation(
    compressed: Path, accept: str | None, coding: str | None
) -> None:
    app = StaticFiles(directory=compressed, precompressed=True)
    headers = {"accept-encoding": accept} if accept is not None else {}
    result = await call(app, "/app.js", headers=headers)
    assert result.status == 200
    assert result.headers["vary"] == "Accept-Encoding"
    assert result.headers["content-type"].startswith("text/javascript") or result.headers[
        "content-type"
    ].startswith("application/javascript")
    assert result.headers.get("content-encoding") == coding
    original = (compressed / "app.js").read_bytes()
    if coding == "br":
        assert brotli.decompress(result.body) == original
    elif coding == "gzip":
        assert gzip.decompress(result.body) == original
    else:
        assert result.body == original
    assert result.headers["content-length"] == str(len(result.body))


@pytest.mark.anyio
async def test_precompressed_details(compressed: Path) -> None:
    app = StaticFiles(directory=compressed, precompressed=True)
    fallback = await call(app, "/only-gz.css", headers={"accept-encoding": "br, gzip"})
    assert fallback.headers["content-encoding"] == "gzip"
    assert fallback.headers["content-type"] == "text/css; charset=utf-8"
    plain = await call(app, "/a.txt", headers={"accept-encoding": "br"})
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    br = await call(app, "/app.js", headers={"accept-encoding": "br"})
    identity = await call(app, "/app.js")
    assert br.headers["etag"] != identity.headers["etag"]
    revalidated = await call(
        app, "/app.js", headers={"accept-encoding": "br", "if-none-match": br.headers["etag"]}
    )
    assert revalidated.status == 304
    assert revalidated.headers["vary"] == "Accept-Encoding"
    assert "content-encoding" not in revalidated.headers
    stale = await call(
        app, "/app.js", headers={"accept-encoding": "br", "if-none-match": identity.headers["etag"]}
    )
    assert stale.status == 200
    # A single range applies to the encoded bytes; several ranges send the whole encoding.
    single = await call(app, "/app.js", headers={"accept-encoding": "br", "range": "bytes=0-3"})
    assert single.status == 206
    assert single.body == br.body[:4]
    assert single.headers["content-encoding"] == "br"
    several = await call(
        app, "/app.js", headers={"accept-encoding": "br", "range": "bytes=0-3,8-9"}
    )
    assert several.status == 200
    assert several.body == br.body
    # Direct requests for the compressed files still work.
    assert (await call(app, "/app.js.gz")).body == (compressed / "app.js.gz").read_bytes()


@pytest.mark.anyio
async def test_precompressed_off_ignores_siblings(compressed: Path) -> None:
    result = await call(
        StaticFiles(directory=compressed), "/app.js", headers={"accept-encoding": "br"}
    )
    assert "content-encoding" not in result.headers
    assert "vary" not in result.headers


@pytest.mark.anyio
async def test_precompressed_sibling_symlink_leaving_root(compressed: Path, spy: FsSpy) -> None:
    (compressed / "app.js.br").unlink()
    (compressed / "app.js.br").symlink_to("../outside/secret.txt")
    app = StaticFiles(directory=compressed, precompressed=True)
    spy.paths.clear()
    result = await call(app, "/app.js", headers={"accept-encoding": "br, gzip"})
    assert result.headers["content-encoding"] == "gzip"
    assert spy.outside(compressed) == []


# --- html mode ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_html_mode(tree: Path) -> None:
    app = StaticFiles(directory=tree, html=True)
    assert (await call(app, "/")).body == b"<h1>home</h1>"
    docs = await call(app, "/docs/")
    assert docs.body == b"<h1>docs</h1>"
    assert docs.headers["content-type"] == "text/html; charset=utf-8"
    redirect = await call(app, "/docs", query=b"a=1")
    assert redirect.status == 307
    assert redirect.headers["location"] == "./docs/?a=1"
    mounted = await call(app, "/static", root_path="/static")
    assert mounted.status == 307
    assert mounted.headers["location"] == "./static/"
    # No index.html in the directory, and no 404.html yet: a problem document.
    missing = await call(app, "/sub/")
    assert missing.status == 404
    assert missing.headers["content-type"] == "application/problem+json"
    (tree / "404.html").write_bytes(b"<h1>not here</h1>")
    for path in ("/nope", "/sub/", "/../public2/secret.txt"):
        result = await call(app, path)
        assert result.status == 404
        assert result.body == b"<h1>not here</h1>"
        assert result.headers["cache-control"] == "no-cache"
        assert result.headers["content-type"] == "text/html; charset=utf-8"
    assert (await call(app, "/nope", method="HEAD")).body == b""
    assert (await call(app, "/nope", headers={"range": "bytes=0-1"})).status == 404


def test_html_site_through_the_client(tree: Path) -> None:
    app = App()
    app.mount("/site", StaticFiles(directory=tree, html=True))
    with TestClient(app) as client:
        response = client.get("/site/docs")
        assert response.status_code == 200
        assert str(response.url) == "http://testserver/site/docs/"
        assert response.text == "<h1>docs</h1>"
        assert client.get("/site").text == "<h1>home</h1>"


# --- cache control ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cache_control_options(tree: Path) -> None:
    fixed = StaticFiles(directory=tree, cache_control="public, max-age=3600")
    assert (await call(fixed, "/a.txt")).headers["cache-control"] == "public, max-age=3600"
    immutable = StaticFiles(directory=tree, cache_control="immutable")
    assert (await call(immutable, "/a.txt")).headers["cache-control"] == (
        "public, max-age=31536000, immutable"
    )
    seen: list[str] = []

    def policy(path: str) -> str | None:
        seen.append(path)
        return "immutable-ish" if path.endswith(".css") else None

    dynamic = StaticFiles(directory=tree, cache_control=policy, html=True)
    assert (await call(dynamic, "/sub/b.css")).headers["cache-control"] == "immutable-ish"
    assert "cache-control" not in (await call(dynamic, "/a.txt")).headers
    await call(dynamic, "/docs/")
    assert seen == ["sub/b.css", "a.txt", "docs/index.html"]


# --- sending ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_pathsend_when_offered(tree: Path) -> None:
    app = StaticFiles(directory=tree)
    extensions = {"http.response.pathsend": {}}
    result = await call(app, "/sub/b.css", extensions=extensions)
    assert result.messages[-1] == {
        "type": "http.response.pathsend",
        "path": os.path.realpath(tree / "sub" / "b.css"),
    }
    ranged = await call(app, "/a.txt", extensions=extensions, headers={"range": "bytes=0-1"})
    assert ranged.body == b"01"
    assert all(m["type"] != "http.response.pathsend" for m in ranged.messages)
    head = await call(app, "/a.txt", method="HEAD", extensions=extensions)
    assert all(m["type"] != "http.response.pathsend" for m in head.messages)


@pytest.mark.anyio
async def test_large_file_in_chunks(tree: Path) -> None:
    data = os.urandom(200_000)
    (tree / "big.bin").write_bytes(data)
    app = StaticFiles(directory=tree, chunk_size=64 * 1024)
    result = await call(app, "/big.bin")
    assert result.body == data
    assert len([m for m in result.messages if m["type"] == "http.response.body"]) == 5
    ranged = await call(app, "/big.bin", headers={"range": "bytes=1000-150000,-10"})
    parts = parse_multipart_byteranges(ranged)
    assert [p[2] for p in parts] == [data[1000:150001], data[-10:]]


@pytest.mark.anyio
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
async def test_client_gone_mid_stream_closes_the_file(tree: Path) -> None:
    (tree / "big.bin").write_bytes(os.urandom(300_000))
    app = StaticFiles(directory=tree, chunk_size=1024)
    before = len(os.listdir("/proc/self/fd"))
    sent = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal sent
        sent += 1
        if sent > 3:
            raise OSError("client disconnected")

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    scope = {"type": "http", "method": "GET", "path": "/big.bin", "headers": []}
    await app(scope, receive, send)
    assert sent == 4
    assert len(os.listdir("/proc/self/fd")) == before
    await call(app, "/a.txt")
    assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.anyio
async def test_lifespan_and_websocket_scopes(tree: Path) -> None:
    app = StaticFiles(directory=tree)
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    sent.clear()
    await app({"type": "websocket", "path": "/a.txt"}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1000}]


# --- the example site ---------------------------------------------------------------------------


def test_example_static_site() -> None:
    from examples.static_site import STATIC, app

    with TestClient(app) as client:
        assert client.get("/api/health").json() == {"status": "ok"}
        home = client.get("/")
        assert home.status_code == 200
        assert "armature static site" in home.text
        about = client.get("/about", follow_redirects=False)
        assert about.status_code == 307
        assert client.get("/about").text == (STATIC / "about" / "index.html").read_text()
        script = client.get("/assets/app.js", headers={"accept-encoding": "br"})
        assert script.headers["content-encoding"] == "br"
        assert script.headers["cache-control"] == "public, max-age=3600"
        assert script.content == (STATIC / "assets" / "app.js").read_bytes()  # httpx decodes br
        missing = client.get("/no/such/page")
        assert missing.status_code == 404
        assert missing.text == (STATIC / "404.html").read_text()


def test_example_precompressed_assets_match_their_sources() -> None:
    from examples.static_site import STATIC

    for source in (STATIC / "assets").iterdir():
        if source.suffix == ".br":
            original = source.with_suffix("").read_bytes()
            assert brotli.decompress(source.read_bytes()) == original, source
        elif source.suffix == ".gz":
            assert gzip.decompress(source.read_bytes()) == source.with_suffix("").read_bytes()
