"""Tests for armature.forms and the streaming multipart parser (armature._multipart)."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armature import App, Request
from armature._multipart import parse_header_params
from armature.exceptions import BadRequest, UnsupportedMediaType
from armature.forms import FormData, UploadFile, parse_form, parse_form_stream
from armature.limits import ContentLimitExceeded, InputLimitExceeded, LimitExceeded, Limits
from armature.requests import ClientDisconnect
from armature.testing import TestClient

MIB = 1024 * 1024
TIME_BUDGET = 2.0  # seconds of CPU: a complexity bound, not a speed target
BOUNDARY = "b0undary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
URLENCODED = "application/x-www-form-urlencoded"


# --- helpers ------------------------------------------------------------------------------------


def multipart(parts: Iterable[tuple[str, bytes]], boundary: str = BOUNDARY) -> bytes:
    """Build a multipart body from (header block, content) pairs."""
    out = bytearray()
    for headers, content in parts:
        out += b"--" + boundary.encode() + b"\r\n" + headers.encode() + b"\r\n\r\n"
        out += content + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return bytes(out)


def field(name: str, value: bytes, extra: str = "") -> tuple[str, bytes]:
    return f'Content-Disposition: form-data; name="{name}"{extra}', value


def upload(
    name: str, filename: str, content: bytes, ctype: str = "text/plain"
) -> tuple[str, bytes]:
    headers = f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
    return headers + f"Content-Type: {ctype}", content


def scope_for(content_type: str | None, length: int | None = None) -> dict[str, Any]:
    headers: list[tuple[bytes, bytes]] = []
    if content_type is not None:
        headers.append((b"content-type", content_type.encode("latin-1")))
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http", "method": "POST", "path": "/", "headers": headers}


def receiver(chunks: Iterable[bytes]) -> Any:
    """An ASGI receive callable delivering ``chunks`` as http.request messages."""
    pending = list(chunks) or [b""]
    index = 0

    async def receive() -> dict[str, Any]:
        nonlocal index
        if index >= len(pending):
            return {"type": "http.disconnect"}
        body = pending[index]
        index += 1
        return {"type": "http.request", "body": body, "more_body": index < len(pending)}

    return receive


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


async def parse(
    body: bytes,
    content_type: str = MULTIPART,
    limits: Limits | None = None,
    chunk: int | None = None,
) -> FormData:
    chunks = split(body, chunk) if chunk else [body]
    return await parse_form(scope_for(content_type), receiver(chunks), limits)


async def describe(form: FormData) -> list[tuple[str, Any]]:
    """The form as plain data (files as name, type, content), then closed."""
    out: list[tuple[str, Any]] = []
    async with form:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                out.append((name, (value.filename, value.content_type, await value.read())))
            else:
                out.append((name, value))
    return out


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# --- through an app -----------------------------------------------------------------------------


def make_app(limits: Limits) -> App:
    app = App()

    @app.post("/f")
    async def form_handler(request: Request) -> dict[str, Any]:
        form = await parse_form(request.scope, request.receive, limits)
        result: dict[str, list[Any]] = {}
        async with form:
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    data = await value.read()
                    item: Any = {
                        "filename": value.filename,
                        "content_type": value.content_type,
                        "size": value.size,
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "in_memory": value.in_memory,
                    }
                else:
                    item = value
                result.setdefault(name, []).append(item)
        return result

    @app.post("/stream")
    async def stream_handler(request: Request) -> dict[str, Any]:
        form = await parse_form_stream(request.content_type, request.stream(), limits)
        async with form:
            return {name: str(value) for name, value in form.items()}

    return app


@pytest.fixture(scope="module")
def client() -> Any:
    with TestClient(make_app(Limits(max_body_size=8 * MIB, spool_threshold=64 * 1024))) as c:
        yield c


def test_urlencoded_through_the_app(client: TestClient) -> None:
    response = client.post("/f", data={"a": "1", "tag": ["x", "y"], "text": "é & ü+"})
    assert response.status_code == 200
    assert response.json() == {"a": ["1"], "tag": ["x", "y"], "text": ["é & ü+"]}


def test_multipart_with_files_through_the_app(client: TestClient) -> None:
    small = b"hello"
    large = os.urandom(300 * 1024)
    response = client.post(
        "/f",
        data={"title": "héllo"},
        files=[
            ("docs", ("a.txt", small, "text/plain")),
            ("docs", ("b.bin", large, "application/octet-stream")),
        ],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["title"] == ["héllo"]
    first, second = body["docs"]
    assert first == {
        "filename": "a.txt",
        "content_type": "text/plain",
        "size": 5,
        "sha256": hashlib.sha256(small).hexdigest(),
        "in_memory": True,
    }
    assert second["filename"] == "b.bin"
    assert second["size"] == len(large)
    assert second["sha256"] == hashlib.sha256(large).hexdigest()
    assert second["in_memory"] is False  # past the 64 KiB spool threshold


def test_parse_form_stream_over_request_stream(client: TestClient) -> None:
    response = client.post("/stream", data={"a": "1", "b": "2"})
    assert response.json() == {"a": "1", "b": "2"}
    response = client.post("/stream", files={"f": ("x.txt", b"abc")})
    assert response.json()["f"].startswith("UploadFile(filename='x.txt'")


@pytest.mark.parametrize(
    ("kwargs", "status", "limit"),
    [
        ({"files": [("f", ("a", b"x"))] * 3}, 413, "max_files"),
        ({"data": {f"k{i}": "v" for i in range(6)}}, 413, "max_form_fields"),
        ({"files": {"f": ("a", b"x" * 101)}}, 413, "max_part_size"),
        ({"data": {"k": "x" * 51}, "files": {"f": ("a", b"")}}, 413, "max_field_size"),
        ({"data": {"k": "x" * 60}}, 413, "max_field_size"),
        ({"content": b"k=" + b"v" * 300}, 413, "max_body_size"),
    ],
    ids=["files", "fields", "part", "multipart-field", "urlencoded-field", "body"],
)
def test_limits_through_the_app(kwargs: dict[str, Any], status: int, limit: str) -> None:
    limits = Limits(
        max_files=2, max_form_fields=5, max_part_size=100, max_field_size=50, max_body_size=2000
    )
    with TestClient(make_app(limits)) as client:
        headers = {"content-type": URLENCODED} if "content" in kwargs else None
        if "content" in kwargs:
            kwargs = {**kwargs, "content": kwargs["content"] * 10}
        response = client.post("/f", headers=headers, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["limit"] == limit
    assert problem["status"] == status


def test_errors_through_the_app(client: TestClient) -> None:
    response = client.post("/f", content=b"{}", headers={"content-type": "application/json"})
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    response = client.post(
        "/f", content=b"--x\r\n", headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert response.status_code == 400
    assert "closing boundary" in response.json()["detail"]


# --- url-encoded --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_urlencoded_decoding() -> None:
    body = b"a=1&&b=%C3%A9+x&a=2&=blank&flag&c=%ZZ&d=%FF"
    form = await parse(body, URLENCODED)
    assert form.multi_items() == [
        ("a", "1"),
        ("b", "é x"),
        ("a", "2"),
        ("flag", ""),
        ("c", "%ZZ"),
        ("d", "\ufffd"),
    ]
    assert form["a"] == "2"
    assert form.getlist("a") == ["1", "2"]
    assert form.getlist("missing") == []
    assert len(form) == 5
    assert form.files() == []


@pytest.mark.anyio
@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1000])
async def test_urlencoded_in_any_chunking(chunk: int) -> None:
    body = b"alpha=one&beta=two%20three&gamma=&delta=4&&epsilon=5"
    whole = await parse(body, URLENCODED)
    pieces = await parse(body, URLENCODED, chunk=chunk)
    assert pieces.multi_items() == whole.multi_items()


@pytest.mark.anyio
async def test_urlencoded_field_limit_applies_while_a_field_is_incomplete() -> None:
    limits = Limits(max_field_size=10)
    await parse(b"k=12345678", URLENCODED, limits)  # exactly 10 bytes on the wire
    received: list[int] = []
    chunks = [b"k=" + b"x" * 20] + [b"x" * 20] * 50

    async def receive() -> dict[str, Any]:
        received.append(1)
        return {"type": "http.request", "body": chunks[len(received) - 1], "more_body": True}

    with pytest.raises(ContentLimitExceeded) as caught:
        await parse_form(scope_for(URLENCODED), receive, limits)
    assert caught.value.limit == "max_field_size"
    assert len(received) == 1  # refused on the first chunk, not at the end of the body


@pytest.mark.anyio
async def test_many_tiny_urlencoded_fields_are_refused_fast() -> None:
    body = b"a=1&" * 100_000
    start = time.process_time()
    with pytest.raises(ContentLimitExceeded) as caught:
        await parse(body, URLENCODED, Limits(max_body_size=4 * MIB))
    assert time.process_time() - start < TIME_BUDGET
    assert caught.value.limit == "max_form_fields"


# --- multipart ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_multipart_fields_and_files() -> None:
    body = multipart(
        [
            field("name", "Zoë".encode()),
            upload("file", "report.csv", b"a,b\r\n1,2\r\n", "text/csv"),
            field("name", b"second"),
            upload("file", "", b""),
        ]
    )
    form = await parse(body)
    assert form["name"] == "second"
    assert form.getlist("name") == ["Zoë", "second"]
    files = form.getlist("file")
    assert all(isinstance(f, UploadFile) for f in files)
    first, empty = files
    assert isinstance(first, UploadFile) and isinstance(empty, UploadFile)
    assert (first.filename, first.content_type, first.size) == ("report.csv", "text/csv", 10)
    assert first.headers["content-type"] == "text/csv"
    assert await first.read() == b"a,b\r\n1,2\r\n"
    assert (empty.filename, empty.size, await empty.read()) == ("", 0, b"")
    assert [name for name, _ in form.files()] == ["file", "file"]
    await form.close()
    assert first.file.closed and empty.file.closed


@pytest.mark.anyio
async def test_part_content_type_defaults_to_text_plain() -> None:
    body = multipart([('Content-Disposition: form-data; name="f"; filename="x"', b"1")])
    form = await parse(body)
    item = form["f"]
    assert isinstance(item, UploadFile)
    assert item.content_type == "text/plain"
    await form.close()


@pytest.mark.anyio
async def test_preamble_epilogue_padding_and_header_details() -> None:
    boundary = BOUNDARY.encode()
    body = (
        b"preamble text\r\nignored\r\n--" + boundary + b"  \t\r\n"
        b'CONTENT-DISPOSITION: form-data;\r\n name="folded"\r\n'
        b"X-Extra: 1\r\n\r\n"
        b"value\r\n--" + boundary + b"--\r\nepilogue --" + boundary + b"\r\nmore"
    )
    form = await parse(body)
    assert form.multi_items() == [("folded", "value")]


@pytest.mark.anyio
async def test_body_starting_with_the_delimiter_and_crlf_in_values() -> None:
    body = multipart([field("a", b"\r\nline1\r\n\r\nline2\r\n"), field("b", b"")])
    form = await parse(body)
    assert form.multi_items() == [("a", "\r\nline1\r\n\r\nline2\r\n"), ("b", "")]


@pytest.mark.anyio
async def test_near_boundary_sequences_in_a_part_are_data() -> None:
    tricky = b"\r\n--" + BOUNDARY[:-1].encode() + b"\r\n-" + b"\r\n--" + BOUNDARY.encode()[:3]
    content = tricky * 5 + b"end"
    body = multipart([upload("f", "t.bin", content)])
    for chunk in (None, 1, 5, 13):
        form = await parse(body, chunk=chunk)
        item = form["f"]
        assert isinstance(item, UploadFile)
        assert await item.read() == content
        await form.close()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ('multipart/form-data; boundary="quoted:b=c"', "quoted:b=c"),
        ("Multipart/Form-Data ; charset=utf-8;Boundary=plain", "plain"),
        ('multipart/form-data; boundary="with space ok"', "with space ok"),
        ('multipart/form-data; boundary="' + "x" * 70 + '"', "x" * 70),
    ],
)
async def test_boundary_forms(content_type: str, expected: str) -> None:
    body = multipart([field("a", b"1")], boundary=expected)
    form = await parse(body, content_type)
    assert form["a"] == "1"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("content_type", "error", "text"),
    [
        ("multipart/form-data", BadRequest, "without a boundary"),
        ('multipart/form-data; boundary=""', BadRequest, "without a boundary"),
        ("multipart/form-data; boundary=a\u00e9", BadRequest, "RFC 2046"),
        ('multipart/form-data; boundary="ends with space "', BadRequest, "RFC 2046"),
        ("multipart/form-data; boundary=" + "x" * 71, InputLimitExceeded, "70"),
        ("text/plain", UnsupportedMediaType, "form body"),
        (None, UnsupportedMediaType, "form body"),
    ],
)
async def test_bad_content_types(content_type: str | None, error: type, text: str) -> None:
    with pytest.raises(error, match=text) as caught:
        await parse_form(scope_for(content_type), receiver([b""]))
    if isinstance(caught.value, LimitExceeded):
        assert caught.value.limit == "max_boundary_length"
        assert caught.value.status_code == 400


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"", "closing boundary"),
        (b"no delimiter at all", "closing boundary"),
        (multipart([field("a", b"1")])[:-8], "closing boundary"),
        (b"--b0undary\r\n" + b'Content-Disposition: form-data; name="a"\r\n\r\nvalue', "closing"),
        (b"--b0undaryX\r\n", "junk after a boundary"),
        (b"--b0undary" + b" " * 300, "junk after a boundary"),
        (b"--b0undary\r\n\r\nbody\r\n--b0undary--", "without headers"),
        (b"--b0undary\r\nX-Only: 1\r\n\r\nbody\r\n--b0undary--", "no Content-Disposition"),
        (b"--b0undary\r\nContent-Disposition: attachment\r\n\r\nx\r\n--b0undary--", "form-data"),
        (b"--b0undary\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b0undary--", "with a name"),
        (b"--b0undary\r\nBad Header: 1\r\n\r\nx\r\n--b0undary--", "part header"),
        (b"--b0undary\r\nno colon\r\n\r\nx\r\n--b0undary--", "part header"),
        (b"--b0undary\r\n folded-first\r\n\r\nx\r\n--b0undary--", "part header"),
    ],
    ids=[
        "empty",
        "no-delimiter",
        "truncated-close",
        "truncated-part",
        "junk",
        "padding",
        "no-headers",
        "no-disposition",
        "not-form-data",
        "no-name",
        "bad-name",
        "no-colon",
        "fold-first",
    ],
)
async def test_malformed_bodies_are_400(body: bytes, text: str) -> None:
    with pytest.raises(BadRequest, match=text):
        await parse(body)


@pytest.mark.anyio
async def test_field_charsets() -> None:
    body = multipart(
        [
            field("latin", "café".encode("latin-1")),
            (
                "Content-Disposition: form-data; name=latin2\r\nContent-Type: text/plain; "
                "charset=iso-8859-1",
                "café".encode("latin-1"),
            ),
        ]
    )
    with pytest.raises(BadRequest, match="not valid utf-8"):
        await parse(body)
    body = multipart([(field("x", b"")[0] + "\r\nContent-Type: text/plain; charset=nope", b"1")])
    with pytest.raises(BadRequest, match="unknown charset"):
        await parse(body)
    body = multipart(
        [
            (
                field("x", b"")[0] + "\r\nContent-Type: text/plain; charset=latin-1",
                "é".encode("latin-1"),
            )
        ]
    )
    assert (await parse(body))["x"] == "é"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('form-data; name="f"; filename="plain.txt"', "plain.txt"),
        ("form-data; name=f; filename=bare.txt", "bare.txt"),
        ('form-data; name="f"; filename="a\\"b.txt"', 'a"b.txt'),
        ('form-data; name="f"; filename="C:\\files\\x.txt"', "C:\\files\\x.txt"),
        (
            'form-data; name="f"; filename="x.txt"; filename*=UTF-8\'\'%E2%82%AC%20rates.txt',
            "€ rates.txt",
        ),
        (
            'form-data; name="f"; filename*=utf-8\'en\'%C3%A9t%C3%A9.txt; filename="ete.txt"',
            "été.txt",
        ),
        ("form-data; name=\"f\"; filename*=iso-8859-1''caf%E9.txt", "café.txt"),
        ('form-data; name="f"; filename="fallback.txt"; filename*=bogus\'\'x', "fallback.txt"),
        ('form-data; name="f"; filename*0="long-"; filename*1="name.txt"', "long-name.txt"),
        ('form-data; name="f"; filename*0*=UTF-8\'\'%E2%82%AC; filename*1=".txt"', "€.txt"),
        ('form-data; name="f"; filename="first"; filename="second"', "first"),
        ('form-data; name="f"; filename="ünïcode.txt"', "ünïcode.txt"),
    ],
)
async def test_filenames(disposition: str, expected: str) -> None:
    body = multipart([(f"Content-Disposition: {disposition}", b"x")])
    form = await parse(body)
    item = form["f"]
    assert isinstance(item, UploadFile)
    assert item.filename == expected
    await form.close()


def test_header_params() -> None:
    assert parse_header_params("text/plain") == ("text/plain", {})
    assert parse_header_params('A/B ; X="1;2" ;; y = 3 ; z ; "junk') == (
        "a/b",
        {"x": "1;2", "y": "3", "z": ""},
    )


# --- limits -------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("parts", "limits", "limit"),
    [
        ([upload("f", "a", b"1")] * 3, Limits(max_files=2), "max_files"),
        ([upload("f", "a", b"1")], Limits(max_files=0), "max_files"),
        ([field("f", b"1")] * 4, Limits(max_form_fields=3), "max_form_fields"),
        ([upload("f", "a", b"1")] * 4, Limits(max_form_fields=3), "max_form_fields"),
        ([upload("f", "a", b"x" * 11)], Limits(max_part_size=10), "max_part_size"),
        ([field("f", b"x" * 11)], Limits(max_field_size=10), "max_field_size"),
        (
            [(field("f", b"")[0] + "\r\nA: 1\r\nB: 2", b"x")],
            Limits(max_part_headers=2),
            "max_part_headers",
        ),
        (
            [(field("f", b"")[0] + "\r\nX-Pad: " + "p" * 200, b"x")],
            Limits(max_part_header_size=200),
            "max_part_header_size",
        ),
    ],
)
async def test_part_limits(parts: list[tuple[str, bytes]], limits: Limits, limit: str) -> None:
    body = multipart(parts)
    for chunk in (None, 1):
        with pytest.raises(ContentLimitExceeded) as caught:
            await parse(body, limits=limits, chunk=chunk)
        assert caught.value.limit == limit
        assert caught.value.status_code == 413


@pytest.mark.anyio
async def test_limits_at_their_exact_values_pass() -> None:
    headers = field("f", b"")[0] + "\r\nA: 1"
    parts = [upload("u", "a", b"x" * 10), (headers, b"y" * 10)]
    limits = Limits(
        max_files=1,
        max_form_fields=2,
        max_part_size=10,
        max_field_size=10,
        max_part_headers=2,
        max_part_header_size=max(len(h) for h, _ in parts),
        max_body_size=len(multipart(parts)),
    )
    form = await parse(multipart(parts), limits=limits)
    assert form["f"] == "y" * 10
    await form.close()


@pytest.mark.anyio
async def test_body_limit_counts_raw_bytes_while_streaming() -> None:
    body = multipart([upload("f", "a", b"x" * 5000)])
    received = 0
    chunks = split(body, 100)

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": chunks[received - 1], "more_body": True}

    with pytest.raises(ContentLimitExceeded) as caught:
        await parse_form(scope_for(MULTIPART), receive, Limits(max_body_size=1000))
    assert caught.value.limit == "max_body_size"
    assert received == 11  # the first chunk past 1000 bytes


@pytest.mark.anyio
async def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    async def receive() -> dict[str, Any]:
        raise AssertionError("the body must not be read")

    scope = scope_for(MULTIPART, length=2 * MIB)
    with pytest.raises(ContentLimitExceeded, match="body"):
        await parse_form(scope, receive)
    with pytest.raises(BadRequest, match="Content-Length"):
        await parse_form(scope_for(MULTIPART) | {"headers": [(b"content-length", b"x")]}, receive)


@pytest.mark.anyio
async def test_client_disconnect_mid_body() -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    with pytest.raises(ClientDisconnect):
        await parse_form(scope_for(MULTIPART), receive)


@pytest.mark.anyio
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
async def test_refused_uploads_leave_no_temporary_files() -> None:
    parts = [upload("f", "a", b"x" * 5000), upload("f", "b", b"y" * 5000), field("g", b"z" * 99)]
    limits = Limits(spool_threshold=100, max_field_size=50)
    before = open_fds()
    with pytest.raises(ContentLimitExceeded):
        await parse(multipart(parts), limits=limits, chunk=1000)
    assert open_fds() == before
    form = await parse(multipart(parts[:2]), limits=limits, chunk=1000)
    assert open_fds() == before + 2  # two uploads rolled over to disk
    await form.close()
    assert open_fds() == before


# --- streaming, chunking, complexity ------------------------------------------------------------


SAMPLE = multipart(
    [
        field("a", b"alpha"),
        upload("f", "one.bin", b"\r\n--b0undar\r\n" + bytes(range(256)) * 4),
        field("a", b""),
        upload("g", "two.txt", b"--b0undary"),
    ]
)


@pytest.mark.anyio
@pytest.mark.parametrize("chunk", [1, 2, 3, 16, 17, 64, 1000])
async def test_multipart_in_any_chunking(chunk: int) -> None:
    assert await describe(await parse(SAMPLE, chunk=chunk)) == await describe(await parse(SAMPLE))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(SAMPLE)), max_size=12))
@pytest.mark.anyio
async def test_multipart_at_random_split_points(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    pieces = [SAMPLE[a:b] for a, b in zip([0, *points], [*points, len(SAMPLE)], strict=True)]
    form = await parse_form(scope_for(MULTIPART), receiver(pieces))
    expected = await describe(await parse(SAMPLE))
    assert await describe(form) == expected


async def _timed(body: bytes, content_type: str, limits: Limits, chunk: int | None) -> Any:
    start = time.process_time()
    try:
        result: Any = await parse(body, content_type, limits, chunk)
    except LimitExceeded as exc:
        result = exc
    assert time.process_time() - start < TIME_BUDGET
    return result


@pytest.mark.anyio
async def test_megabytes_of_crlf_before_the_first_boundary() -> None:
    body = b"\r\n" * (2 * MIB) + multipart([field("a", b"1")])
    limits = Limits(max_body_size=8 * MIB)
    for chunk in (None, 64 * 1024, 4096):
        form = await _timed(body, MULTIPART, limits, chunk)
        assert form["a"] == "1"


@pytest.mark.anyio
async def test_thousands_of_semicolons_in_content_type_and_disposition() -> None:
    many = ";" * 5000 + " x=1;" * 1000
    body = multipart([(f'Content-Disposition: form-data; name="a"{many}', b"1")])
    limits = Limits(max_part_header_size=64 * 1024)
    form = await _timed(body, MULTIPART + many, limits, None)
    assert form["a"] == "1"
    quoted = ' y="' + "\\;" * 5000 + '"'
    body = multipart([(f'Content-Disposition: form-data; name="a";{quoted}', b"2")])
    form = await _timed(body, MULTIPART + ";" + quoted, limits, None)
    assert form["a"] == "2"


@pytest.mark.anyio
async def test_many_small_parts_in_one_big_chunk() -> None:
    body = multipart([field(f"f{i}", b"v" * 40) for i in range(20_000)])
    limits = Limits(max_body_size=4 * MIB, max_form_fields=20_000)
    form = await _timed(body, MULTIPART, limits, None)
    assert len(form) == 20_000
    assert form["f19999"] == "v" * 40


@pytest.mark.anyio
async def test_one_byte_per_chunk_stream() -> None:
    content = os.urandom(32 * 1024)
    body = multipart([upload("f", "x.bin", content), field("a", b"v" * 1000)])
    form = await _timed(body, MULTIPART, Limits(spool_threshold=1024), 1)
    item = form["f"]
    assert isinstance(item, UploadFile)
    assert await item.read() == content
    assert form["a"] == "v" * 1000
    await form.close()


@pytest.mark.anyio
async def test_part_full_of_near_boundary_sequences() -> None:
    near = b"\r\n--" + BOUNDARY.encode()[:-1] + b"\r"
    content = near * (MIB // len(near))
    body = multipart([upload("f", "x.bin", content)])
    limits = Limits(max_body_size=4 * MIB, max_part_size=4 * MIB)
    for chunk in (None, 4096, 4099):
        form = await _timed(body, MULTIPART, limits, chunk)
        item = form["f"]
        assert isinstance(item, UploadFile)
        assert item.size == len(content)
        await form.close()


# --- UploadFile ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_upload_file_api_rolls_over_to_disk() -> None:
    async with UploadFile(filename="x", spool_threshold=10) as up:
        assert up.in_memory
        assert await up.write(b"12345") == 5
        assert up.in_memory
        await up.write(b"67890abc")
        assert not up.in_memory
        assert up.size == 13
        assert await up.seek(0) == 0
        assert await up.read(4) == b"1234"
        assert await up.seek(-3, 2) == 10
        assert await up.read() == b"abc"
        assert "size=13" in repr(up)
    assert up.file.closed
    await up.close()  # closing twice is harmless


@pytest.mark.anyio
async def test_form_data_mapping() -> None:
    up = UploadFile(filename="f")
    form = FormData([("a", "1"), ("b", up), ("a", "2")])
    assert dict(form) == {"a": "2", "b": up}
    assert list(form) == ["a", "b"]
    assert form.getlist("a") == ["1", "2"]
    assert form.files() == [("b", up)]
    assert "FormData" in repr(form)
    async with form:
        pass
    assert up.file.closed


# --- the example app ----------------------------------------------------------------------------


def test_example_upload_app() -> None:
    from examples.upload_app import app

    content = os.urandom(1536 * 1024)
    with TestClient(app) as client:
        assert "multipart/form-data" in client.get("/").text
        response = client.post(
            "/upload", data={"title": "t"}, files={"files": ("x.bin", content, "application/x-y")}
        )
        assert response.status_code == 200
        assert response.json() == {
            "fields": {"title": "t"},
            "files": [
                {
                    "filename": "x.bin",
                    "content_type": "application/x-y",
                    "size": len(content),
                    "sha256": hashlib.sha256(content).hexdigest(),
                }
            ],
        }
