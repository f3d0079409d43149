"""The benchmark cases: one row of the results table each.

A case is a request (method, path, query, body, extra headers), what a correct response looks like
(:class:`Expect`) and, optionally, armature's speed budget (:class:`Budget`). Adding a row is one
``add(Case(...))`` call below, plus the endpoint in every app module (``raw_app.py``,
``armature_app.py``, ...). A case that only some apps implement names a ``feature``; an app module
lists the features it implements in ``FEATURES`` and the others show ``-`` in that row.

Cases are looked up by ``id`` in the worker processes, so everything here must be importable
(module-level) and deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson

__all__ = [
    "CASES",
    "Budget",
    "Case",
    "Expect",
    "ResponseMismatch",
    "add",
    "check_response",
    "get",
]

_UNSET: Any = object()


class ResponseMismatch(AssertionError):
    """A benchmark app answered a case with the wrong status, content type or body."""


@dataclass(frozen=True, slots=True)
class Expect:
    """What a correct response to a case looks like.

    Args:
        status: The exact status code.
        content_type: The media type (compared without parameters, case-insensitively); ``None``
            accepts any.
        body: The exact body bytes, when set.
        json: The body parsed as JSON must equal this value, when set.
        check: A callable given the body bytes that raises ``AssertionError`` (or returns
            ``False``) when the body is wrong, when set.
        headers: Response headers that must be present (names in lower case): a string is the
            exact value of the header's first line, ``None`` accepts any value. Other headers are
            not looked at.
    """

    status: int
    content_type: str | None
    body: bytes | None = None
    json: Any = _UNSET
    check: Callable[[bytes], bool | None] | None = None
    headers: Mapping[str, str | None] | None = None


def _num(value: float | None) -> str:
    text = f"{value:g}"
    return text if "." in text else f"{text}.0"


@dataclass(frozen=True, slots=True)
class Budget:
    """armature's speed budget for a case.

    Either ``max_ratio`` (armature time / raw time) or ``relative_to`` + ``max_factor``
    (armature time / armature time of another case, e.g. 500 routes vs 100 routes).

    Args:
        max_ratio: The highest allowed armature/raw ratio.
        relative_to: The id of the case this one is compared with.
        max_factor: The highest allowed armature(this) / armature(relative_to) ratio.
    """

    max_ratio: float | None = None
    relative_to: str | None = None
    max_factor: float | None = None

    @property
    def label(self) -> str:
        """The budget as shown in the table."""
        if self.max_ratio is not None:
            return f"<= {_num(self.max_ratio)}x raw"
        return f"<= {_num(self.max_factor)}x `{self.relative_to}`"


@dataclass(frozen=True, slots=True)
class Case:
    """One benchmark row.

    Args:
        id: Short unique key (used on the command line and in the JSON output).
        label: The row title in the table.
        method: The HTTP method.
        path: The request path, as sent on the wire (ASCII; percent-escapes allowed).
        expect: The correct response.
        query: The raw query string, without ``?``.
        body: The request body; when non-empty ``content-type`` and ``content-length`` headers are
            added.
        content_type: The request ``content-type`` used for a body.
        headers: Extra request headers ``(name, value)`` after host/user-agent/accept.
        n_routes: Which app instance serves the case: ``make_app(n_routes)``.
        budget: armature's budget for the row, if the issue sets one.
        feature: A feature an app must list in its ``FEATURES`` to run the case (None: every app).
        overrides: Per-app expectations where an app's correct answer legitimately differs (for
            example the body of a framework's built-in 404).
    """

    id: str
    label: str
    method: str
    path: str
    expect: Expect
    query: str = ""
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    n_routes: int = 100
    budget: Budget | None = None
    feature: str | None = None
    overrides: Mapping[str, Expect] = field(default_factory=lambda: MappingProxyType({}))

    def expect_for(self, app: str) -> Expect:
        """Return the expectation for ``app`` (its override, else the default)."""
        return self.overrides.get(app, self.expect)


CASES: dict[str, Case] = {}


def add(case: Case) -> Case:
    """Register ``case`` (ids must be unique) and return it."""
    if case.id in CASES:
        raise ValueError(f"duplicate benchmark case id {case.id!r}")
    CASES[case.id] = case
    return case


def get(case_id: str) -> Case:
    """Return the registered case ``case_id``."""
    try:
        return CASES[case_id]
    except KeyError:
        raise KeyError(f"unknown benchmark case {case_id!r}; known: {', '.join(CASES)}") from None


def _media_type(value: str | None) -> str | None:
    if value is None:
        return None
    return value.split(";", 1)[0].strip().lower()


def check_response(
    case: Case,
    app: str,
    status: int | None,
    content_type: str | None,
    body: bytes,
    headers: Sequence[tuple[bytes, bytes]] | None = None,
) -> None:
    """Raise :class:`ResponseMismatch` unless the response is what ``case`` expects of ``app``.

    Args:
        case: The case the request came from.
        app: The app name (selects an override).
        status: The status sent in ``http.response.start`` (None if none was sent).
        content_type: The response ``content-type`` header (None if absent).
        body: All body bytes sent.
        headers: All response headers; required when the expectation names ``headers``.
    """
    exp = case.expect_for(app)
    where = f"[{app}] {case.id} ({case.method} {case.path}{'?' + case.query if case.query else ''})"
    if status != exp.status:
        raise ResponseMismatch(
            f"{where}: status {status}, expected {exp.status}; body {body[:300]!r}"
        )
    if exp.content_type is not None and _media_type(content_type) != _media_type(exp.content_type):
        raise ResponseMismatch(
            f"{where}: content-type {content_type!r}, expected {exp.content_type!r}"
        )
    if exp.body is not None and body != exp.body:
        raise ResponseMismatch(f"{where}: body {body[:300]!r}, expected {exp.body[:300]!r}")
    if exp.json is not _UNSET:
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ResponseMismatch(f"{where}: body is not JSON ({exc}): {body[:300]!r}") from None
        if value != exp.json:
            raise ResponseMismatch(f"{where}: JSON {value!r}, expected {exp.json!r}")
    if exp.check is not None:
        try:
            ok = exp.check(body)
        except AssertionError as exc:
            raise ResponseMismatch(f"{where}: {exc}; body {body[:300]!r}") from None
        if ok is False:
            raise ResponseMismatch(f"{where}: body check failed; body {body[:300]!r}")
    if exp.headers:
        if headers is None:
            raise ResponseMismatch(f"{where}: the response headers were not recorded")
        _check_headers(where, exp.headers, headers)


def _check_headers(
    where: str, expected: Mapping[str, str | None], headers: Sequence[tuple[bytes, bytes]]
) -> None:
    sent: dict[str, str] = {}
    for raw_name, raw_value in headers:
        sent.setdefault(raw_name.decode("latin-1").lower(), raw_value.decode("latin-1"))
    for name, value in expected.items():
        if name not in sent:
            raise ResponseMismatch(f"{where}: header {name!r} missing; sent {sorted(sent)}")
        if value is not None and sent[name] != value:
            raise ResponseMismatch(f"{where}: header {name}: {sent[name]!r}, expected {value!r}")


# ---------------------------------------------------------------------------------------------
# Body checks shared by several cases.


def problem_check(status: int, *must_contain: str) -> Callable[[bytes], None]:
    """Return a check that the body is a JSON object describing ``status``.

    It accepts an RFC 9457 problem document (``status`` member) and the JSON error shapes of the
    peers (``detail``/``status_code``); every string in ``must_contain`` must occur in the body.
    """

    def check(body: bytes) -> None:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise AssertionError("error body is not JSON") from None
        assert isinstance(doc, dict), "error body is not a JSON object"
        if "status" in doc:
            assert doc["status"] == status, f"problem status {doc['status']!r} != {status}"
        elif "status_code" in doc:
            assert doc["status_code"] == status, f"status_code {doc['status_code']!r} != {status}"
        else:
            assert "detail" in doc or "title" in doc, "error body has no status/detail/title"
        text = body.decode()
        for needle in must_contain:
            assert needle in text, f"{needle!r} missing from the error body"

    return check


def json_mentioning(*needles: str) -> Callable[[bytes], None]:
    """Return a check that the body is JSON (any shape) and contains every string in ``needles``."""

    def check(body: bytes) -> None:
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError:
            raise AssertionError("body is not JSON") from None
        text = body.decode()
        for needle in needles:
            assert needle in text, f"{needle!r} missing from the body"

    return check


PLAIN = "text/plain"
JSON = "application/json"
PROBLEM = "application/problem+json"
HELLO = b"Hello, World!"

# The 404 of each framework is its own; the body must still say "not found" in its own way.
_NOT_FOUND = Expect(404, PROBLEM, check=problem_check(404))
NOT_FOUND_OVERRIDES: Mapping[str, Expect] = MappingProxyType(
    {
        "starlette": Expect(404, PLAIN, body=b"Not Found"),
        "fastapi": Expect(404, JSON, json={"detail": "Not Found"}),
        "litestar": Expect(404, JSON, check=problem_check(404)),
        "blacksheep": Expect(404, PLAIN, check=lambda body: None),
        "falcon": Expect(404, JSON, check=problem_check(404)),
    }
)
# Invalid POST /items bodies: each framework's own 422 document, which must name the bad field.
_INVALID = Expect(422, PROBLEM, check=problem_check(422, "price"))
INVALID_OVERRIDES: Mapping[str, Expect] = MappingProxyType(
    {
        "starlette": Expect(422, JSON, check=problem_check(422, "price")),
        "fastapi": Expect(422, JSON, check=problem_check(422, "price")),
        "litestar": Expect(400, JSON, check=problem_check(400, "price")),
        "blacksheep": Expect(400, JSON, check=json_mentioning("price")),
        "falcon": Expect(422, JSON, check=problem_check(422, "price")),
    }
)

VALID_ITEM = {"name": "Widget", "price": 9.99, "tags": ["a", "b"]}

# ---------------------------------------------------------------------------------------------
# The core rows (issue: core). Budgets are armature time / raw time.

add(Case("plaintext", "GET /plaintext", "GET", "/plaintext", Expect(200, PLAIN, body=HELLO),
         budget=Budget(max_ratio=2.3)))  # fmt: skip
add(Case("json", "GET /json", "GET", "/json", Expect(200, JSON, json={"message": "Hello, World!"}),
         budget=Budget(max_ratio=2.3)))  # fmt: skip
add(Case("user", "GET /users/{id:int}", "GET", "/users/42", Expect(200, JSON, json={"id": 42}),
         budget=Budget(max_ratio=2.0)))  # fmt: skip
add(Case("search", "GET /search?q=abc&limit=10", "GET", "/search", query="q=abc&limit=10",
         expect=Expect(200, JSON, json={"q": "abc", "limit": 10}),
         budget=Budget(max_ratio=1.5)))  # fmt: skip
add(Case("item", "POST /items (valid)", "POST", "/items", body=orjson.dumps(VALID_ITEM),
         expect=Expect(201, JSON, json=VALID_ITEM), budget=Budget(max_ratio=1.8)))  # fmt: skip
add(Case("item_invalid", "POST /items (invalid, 422)", "POST", "/items",
         body=b'{"name": "Widget", "price": "not-a-number", "tags": ["a"]}',
         expect=_INVALID, overrides=INVALID_OVERRIDES, budget=Budget(max_ratio=1.8)))  # fmt: skip
add(Case("mw", "GET /mw/plaintext (3 middlewares)", "GET", "/mw/plaintext",
         Expect(200, PLAIN, body=HELLO), budget=Budget(max_ratio=2.0)))  # fmt: skip
add(Case("last_100", "last of 100 routes", "GET", "/r/a99/b99",
         Expect(200, PLAIN, body=b"a99/b99"), budget=Budget(max_ratio=2.3)))  # fmt: skip
add(Case("404_100", "404 (100 routes)", "GET", "/nope/missing", _NOT_FOUND,
         overrides=NOT_FOUND_OVERRIDES, budget=Budget(max_ratio=2.0)))  # fmt: skip

# Dependency injection (issue: DI), as multiples of the plain /json handler.
add(Case("di_singletons", "GET /di/singletons (3 injected singletons)", "GET", "/di/singletons",
         Expect(200, JSON, json={"message": "Hello, World!"}), feature="di",
         budget=Budget(relative_to="json", max_factor=1.3)))  # fmt: skip
add(Case("di_request", "GET /di/request (request-scoped generator)", "GET", "/di/request",
         Expect(200, JSON, json={"message": "Hello, World!"}), feature="di",
         budget=Budget(relative_to="json", max_factor=2.5)))  # fmt: skip

# Route-table scaling: the same two requests against apps with 10 and 500 routes.
add(Case("last_10", "last of 10 routes", "GET", "/r/a9/b9", Expect(200, PLAIN, body=b"a9/b9"),
         n_routes=10))  # fmt: skip
add(Case("404_10", "404 (10 routes)", "GET", "/nope/missing", _NOT_FOUND,
         overrides=NOT_FOUND_OVERRIDES, n_routes=10))  # fmt: skip
add(Case("last_500", "last of 500 routes", "GET", "/r/a499/b499",
         Expect(200, PLAIN, body=b"a499/b499"), n_routes=500,
         budget=Budget(relative_to="last_100", max_factor=1.1)))  # fmt: skip
add(Case("404_500", "404 (500 routes)", "GET", "/nope/missing", _NOT_FOUND,
         overrides=NOT_FOUND_OVERRIDES, n_routes=500))  # fmt: skip

# Server-sent events (issue: Batteries): one response streaming 100 JSON events with ids, each
# event its own body chunk. No budget is set by the issue; the table shows the ratio.
SSE_EVENTS = 100


def sse_body(count: int = SSE_EVENTS) -> bytes:
    """The expected event stream: ``id: i`` and ``data: {"n":i}`` per event."""
    return b"".join(b'id: %d\ndata: {"n":%d}\n\n' % (i, i) for i in range(count))


add(Case("sse_100", "GET /sse (an SSE stream of 100 events)", "GET", "/sse",
         Expect(200, "text/event-stream", body=sse_body()), feature="sse"))  # fmt: skip

# Static files, a small multipart upload and CORS (issue: Batteries). Feature-gated like sse_100.
# The issue sets no budgets: static_4k and upload show the ratio only; cors is held to the bar of
# the plaintext row it wraps (see docs/performance.md, "Batteries rows").

#: The directory both apps serve below ``/static`` (the file ships with the repository).
STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_NAME = "asset-4k.txt"


def static_body() -> bytes:
    """The exact content of ``static/asset-4k.txt``: 64 numbered lines of 64 bytes (4096 bytes)."""
    text = (b"the quick brown fox jumps over the lazy dog " * 2)[:58]
    return b"".join(b"%04d %s\n" % (i, text) for i in range(64))


add(Case("static_4k", "GET /static (a 4 KB file)", "GET", f"/static/{STATIC_NAME}",
         Expect(200, PLAIN, body=static_body(),
                headers={"content-length": "4096", "etag": None, "last-modified": None}),
         feature="static"))  # fmt: skip

UPLOAD_BOUNDARY = "----armature-bench-5f3a9c"
UPLOAD_FIELD = "hello"
UPLOAD_FILENAME = "data.bin"
UPLOAD_CONTENT = bytes(range(256)) * 4  # 1 KiB, every byte value


def multipart_body() -> bytes:
    """A ``multipart/form-data`` body: text field ``field`` and file ``upload`` (1 KiB)."""
    delimiter = f"--{UPLOAD_BOUNDARY}\r\n".encode()
    return b"".join(
        (
            delimiter,
            b'Content-Disposition: form-data; name="field"\r\n\r\n',
            UPLOAD_FIELD.encode(),
            b"\r\n",
            delimiter,
            b'Content-Disposition: form-data; name="upload"; filename="%s"\r\n'
            % UPLOAD_FILENAME.encode(),
            b"Content-Type: application/octet-stream\r\n\r\n",
            UPLOAD_CONTENT,
            f"\r\n--{UPLOAD_BOUNDARY}--\r\n".encode(),
        )
    )


add(Case("upload", "POST /upload (multipart: a field and a 1 KB file)", "POST", "/upload",
         body=multipart_body(), content_type=f"multipart/form-data; boundary={UPLOAD_BOUNDARY}",
         expect=Expect(200, JSON, json={"field": UPLOAD_FIELD, "filename": UPLOAD_FILENAME,
                                         "size": len(UPLOAD_CONTENT)}),
         feature="multipart"))  # fmt: skip

CORS_ORIGIN = "https://example.com"

add(Case("cors", "GET /cors/plaintext (CORS, allowed Origin)", "GET", "/cors/plaintext",
         headers=(("origin", CORS_ORIGIN),),
         expect=Expect(200, PLAIN, body=HELLO,
                       headers={"access-control-allow-origin": CORS_ORIGIN, "vary": "Origin"}),
         feature="cors", budget=Budget(max_ratio=2.3)))  # fmt: skip
