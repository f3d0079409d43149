"""StaticFiles behind real servers (uvicorn, granian) over real HTTP/1.1.

The servers import this module as ``test_staticfiles_servers:app``; the served directory comes
from ``ARMATURE_STATIC_TEST_DIR`` (a temporary tree built by the fixture). granian offers
``http.response.pathsend``, uvicorn does not, so both sending paths are exercised.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import brotli  # type: ignore[import-untyped]
import httpx
import pytest
from _servers import run_server

from armature import App, Request
from armature.staticfiles import StaticFiles

ENV = "ARMATURE_STATIC_TEST_DIR"
BIG_SIZE = 3 * 1024 * 1024 + 7
SCRIPT = b"".join(b"console.log(%d);\n" % i for i in range(2000))

app = App()


@app.get("/health")
async def health() -> str:
    return "ok"


@app.get("/extensions")
async def extensions(request: Request) -> list[str]:
    return sorted(request.scope.get("extensions") or {})


_directory = os.environ.get(ENV)
if _directory is not None:
    app.mount("/static", StaticFiles(directory=_directory, precompressed=True))
    app.mount("/site", StaticFiles(directory=_directory, html=True))

pytestmark = pytest.mark.servers


def _big() -> bytes:
    return hashlib.sha256(b"seed").digest() * (BIG_SIZE // 32) + b"x" * (BIG_SIZE % 32)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("static")
    public = base / "public"
    (public / "docs").mkdir(parents=True)
    (public / "big.bin").write_bytes(_big())
    (public / "app.js").write_bytes(SCRIPT)
    (public / "app.js.br").write_bytes(brotli.compress(SCRIPT))
    (public / "app.js.gz").write_bytes(gzip.compress(SCRIPT))
    (public / "docs" / "index.html").write_bytes(b"<h1>docs</h1>")
    (public / "404.html").write_bytes(b"<h1>missing</h1>")
    (base / "public2").mkdir()
    (base / "public2" / "secret.txt").write_bytes(b"SECRET")
    (public / "leak").symlink_to("../public2/secret.txt")
    return public


@pytest.fixture(scope="module", params=["uvicorn", "granian"])
def server(request: pytest.FixtureRequest, tree: Path) -> Iterator[str]:
    with run_server(request.param, "test_staticfiles_servers:app", env={ENV: str(tree)}) as url:
        yield url


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=20) as c:
        yield c


def test_which_servers_offer_pathsend(client: httpx.Client, request: pytest.FixtureRequest) -> None:
    # NOTE: documents which sending path each server exercises in the tests below.
    offered = "http.response.pathsend" in client.get("/extensions").json()
    assert offered == ("granian" in request.node.callspec.id)


def test_big_file_in_full(client: httpx.Client) -> None:
    response = client.get("/static/big.bin")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(BIG_SIZE)
    assert response.content == _big()
    head = client.head("/static/big.bin")
    assert head.status_code == 200
    assert head.headers["content-length"] == str(BIG_SIZE)
    assert head.content == b""


def test_ranges(client: httpx.Client) -> None:
    data = _big()
    single = client.get("/static/big.bin", headers={"range": "bytes=1000000-1999999"})
    assert single.status_code == 206
    assert single.headers["content-range"] == f"bytes 1000000-1999999/{BIG_SIZE}"
    assert single.content == data[1000000:2000000]
    suffix = client.get("/static/big.bin", headers={"range": "bytes=-10"})
    assert suffix.content == data[-10:]
    multi = client.get("/static/big.bin", headers={"range": "bytes=0-9,100000-100099,-5"})
    assert multi.status_code == 206
    boundary = multi.headers["content-type"].split("boundary=")[1].encode()
    pieces = multi.content.split(b"--" + boundary)[1:-1]
    bodies = [p.partition(b"\r\n\r\n")[2][:-2] for p in pieces]
    assert bodies == [data[:10], data[100000:100100], data[-5:]]
    unsatisfiable = client.get("/static/big.bin", headers={"range": f"bytes={BIG_SIZE}-"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == f"bytes */{BIG_SIZE}"
    etag = single.headers["etag"]
    stale = client.get("/static/big.bin", headers={"range": "bytes=0-0", "if-range": '"old"'})
    assert stale.status_code == 200
    fresh = client.get("/static/big.bin", headers={"range": "bytes=0-0", "if-range": etag})
    assert fresh.status_code == 206


def test_not_modified(client: httpx.Client, tree: Path) -> None:
    first = client.get("/static/app.js")
    assert first.status_code == 200
    by_tag = client.get("/static/app.js", headers={"if-none-match": first.headers["etag"]})
    assert by_tag.status_code == 304
    assert by_tag.content == b""
    assert by_tag.headers["etag"] == first.headers["etag"]
    since = email.utils.formatdate((tree / "app.js").stat().st_mtime + 1, usegmt=True)
    by_date = client.get("/static/app.js", headers={"if-modified-since": since})
    assert by_date.status_code == 304


@pytest.mark.parametrize(("accept", "coding"), [("br", "br"), ("gzip", "gzip"), ("identity", None)])
def test_precompressed(client: httpx.Client, accept: str, coding: str | None) -> None:
    with client.stream("GET", "/static/app.js", headers={"accept-encoding": accept}) as response:
        raw = b"".join(response.iter_raw())
    assert response.status_code == 200
    assert response.headers.get("content-encoding") == coding
    assert response.headers["vary"] == "Accept-Encoding"
    assert "javascript" in response.headers["content-type"]
    assert response.headers["content-length"] == str(len(raw))
    if coding == "br":
        raw = brotli.decompress(raw)
    elif coding == "gzip":
        raw = gzip.decompress(raw)
    assert raw == SCRIPT


def test_html_mode(client: httpx.Client) -> None:
    redirect = client.get("/site/docs", follow_redirects=False)
    assert redirect.status_code == 307
    followed = client.get("/site/docs", follow_redirects=True)
    assert followed.url.path == "/site/docs/"
    assert followed.text == "<h1>docs</h1>"
    missing = client.get("/site/nothing-here")
    assert missing.status_code == 404
    assert missing.text == "<h1>missing</h1>"


def _raw_get(url: str, target: str) -> tuple[int, bytes]:
    """Send a request target exactly as written (no client-side normalization)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        request = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line = data.split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), data


@pytest.mark.parametrize(
    "target",
    [
        "/static/../public2/secret.txt",
        "/static/%2e%2e/public2/secret.txt",
        "/static/..%2fpublic2%2fsecret.txt",
        "/static/%2E%2E%2Fpublic2%2Fsecret.txt",
        "/static/..%5cpublic2%5csecret.txt",
        "/static/leak",
        "/static/big.bin%00",
    ],
)
def test_traversal_over_the_wire(server: str, target: str) -> None:
    status, data = _raw_get(server, target)
    assert status in (400, 404), data[:200]
    assert b"SECRET" not in data
