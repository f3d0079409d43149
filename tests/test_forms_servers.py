"""Multipart uploads to examples/upload_app.py behind real servers (uvicorn, granian)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import httpx
import pytest
from _servers import run_server

pytestmark = pytest.mark.servers

MIB = 1024 * 1024


@pytest.fixture(scope="module", params=["uvicorn", "granian"])
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    with run_server(request.param, "examples.upload_app:app") as url:
        yield url


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as c:
        yield c


def test_form_page(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert 'enctype="multipart/form-data"' in response.text


def test_upload_of_a_few_megabytes(client: httpx.Client) -> None:
    big = os.urandom(4 * MIB + 123)
    small = b"tiny file\r\n--not a boundary\r\n"
    response = client.post(
        "/upload",
        data={"title": "Quarterly report – Ω"},
        files=[
            ("files", ("big.bin", big, "application/octet-stream")),
            ("files", ("notes.txt", small, "text/plain")),
        ],
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "fields": {"title": "Quarterly report – Ω"},
        "files": [
            {
                "filename": "big.bin",
                "content_type": "application/octet-stream",
                "size": len(big),
                "sha256": hashlib.sha256(big).hexdigest(),
            },
            {
                "filename": "notes.txt",
                "content_type": "text/plain",
                "size": len(small),
                "sha256": hashlib.sha256(small).hexdigest(),
            },
        ],
    }


def test_chunked_upload_in_small_pieces(client: httpx.Client) -> None:
    content = os.urandom(2 * MIB)
    boundary = b"----armature-test-boundary"
    body = (
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="files"; filename="stream.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
        + content
        + b"\r\n--"
        + boundary
        + b"--\r\n"
    )

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(body), 4099):
            yield body[start : start + 4099]

    response = client.post(
        "/upload",
        content=pieces(),
        headers={"content-type": f"multipart/form-data; boundary={boundary.decode()}"},
    )
    assert response.status_code == 200, response.text
    (described,) = response.json()["files"]
    assert described["size"] == len(content)
    assert described["sha256"] == hashlib.sha256(content).hexdigest()


def test_limit_breach_is_a_problem_naming_the_limit(client: httpx.Client) -> None:
    files = [("files", (f"f{i}.txt", b"x", "text/plain")) for i in range(6)]
    response = client.post("/upload", files=files)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["limit"] == "max_files"


def test_malformed_body_is_400(client: httpx.Client) -> None:
    response = client.post(
        "/upload",
        content=b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nno end",
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
