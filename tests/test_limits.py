"""Tests for armature.limits: the Limits dataclass, limit errors, request and JSON depth checks."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armature import App, Request
from armature.exceptions import BadRequest, HTTPException, PayloadTooLarge
from armature.limits import (
    ContentLimitExceeded,
    HeaderLimitExceeded,
    InputLimitExceeded,
    LimitExceeded,
    Limits,
    URLLimitExceeded,
    check_json_depth,
    check_request_limits,
    limit_error,
)
from armature.testing import TestClient

MIB = 1024 * 1024
TIME_BUDGET = 2.0  # seconds of CPU: a complexity bound, not a speed target


# --- Limits -------------------------------------------------------------------------------------


def test_defaults_are_the_documented_safe_values() -> None:
    limits = Limits()
    assert limits.max_body_size == MIB
    assert limits.max_form_fields == 1000
    assert limits.max_files == 10
    assert limits.max_part_size == 10 * MIB
    assert limits.max_field_size == 64 * 1024
    assert limits.max_part_headers == 16
    assert limits.max_part_header_size == 8 * 1024
    assert limits.max_boundary_length == 70
    assert limits.max_url_length == 8 * 1024
    assert limits.max_header_count == 100
    assert limits.max_json_depth == 64
    assert limits.spool_threshold == MIB


def test_with_returns_a_changed_copy() -> None:
    base = Limits()
    changed = base.with_(max_files=50, max_body_size=20 * MIB)
    assert changed.max_files == 50
    assert changed.max_body_size == 20 * MIB
    assert changed.max_form_fields == base.max_form_fields
    assert base.max_files == 10  # the original is untouched


def test_limits_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Limits().max_files = 3  # type: ignore[misc]


def test_with_refuses_unknown_names() -> None:
    with pytest.raises(TypeError, match="max_filez"):
        Limits().with_(max_filez=3)


@pytest.mark.parametrize("value", [-1, 1.5, "10", True, None])
def test_invalid_values_are_refused(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        Limits(max_form_fields=value)


def test_zero_is_refused_except_for_max_files() -> None:
    assert Limits(max_files=0).max_files == 0
    with pytest.raises(ValueError, match="max_body_size"):
        Limits(max_body_size=0)
    with pytest.raises(ValueError, match="spool_threshold"):
        Limits().with_(spool_threshold=0)


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "status", "base"),
    [
        ("max_body_size", 413, PayloadTooLarge),
        ("max_form_fields", 413, PayloadTooLarge),
        ("max_files", 413, PayloadTooLarge),
        ("max_part_size", 413, PayloadTooLarge),
        ("max_field_size", 413, PayloadTooLarge),
        ("max_part_headers", 413, PayloadTooLarge),
        ("max_part_header_size", 413, PayloadTooLarge),
        ("max_boundary_length", 400, BadRequest),
        ("max_json_depth", 400, BadRequest),
        ("max_url_length", 414, BadRequest),
        ("max_header_count", 431, BadRequest),
    ],
)
def test_limit_error_status_and_problem(limit: str, status: int, base: type) -> None:
    error = limit_error(limit, 7)
    assert isinstance(error, LimitExceeded)
    assert isinstance(error, base)
    assert isinstance(error, HTTPException)
    assert error.status_code == status
    assert error.limit == limit
    problem = error.to_problem("/x")
    assert problem["limit"] == limit
    assert problem["max"] == 7
    assert problem["status"] == status
    assert limit in problem["detail"]


def test_error_classes() -> None:
    assert issubclass(ContentLimitExceeded, PayloadTooLarge)
    assert issubclass(InputLimitExceeded, BadRequest)
    assert issubclass(URLLimitExceeded, InputLimitExceeded)
    assert issubclass(HeaderLimitExceeded, InputLimitExceeded)
    error = ContentLimitExceeded("max_files", "too many files")
    assert error.detail == "too many files"
    assert "max" not in error.to_problem()
    assert "max_files" in repr(error)


# --- check_request_limits -----------------------------------------------------------------------


def _scope(path: str = "/", query: bytes = b"", headers: int = 1) -> dict[str, Any]:
    return {
        "type": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(b"x-h%d" % i, b"v") for i in range(headers)],
    }


def test_url_length_counts_path_question_mark_and_query() -> None:
    limits = Limits(max_url_length=20)
    check_request_limits(_scope("/" + "a" * 19), limits)  # exactly 20
    check_request_limits(_scope("/" + "a" * 9, b"q=" + b"b" * 7), limits)  # 10 + 1 + 9
    with pytest.raises(URLLimitExceeded) as caught:
        check_request_limits(_scope("/" + "a" * 20), limits)
    assert caught.value.status_code == 414
    assert caught.value.limit == "max_url_length"
    with pytest.raises(URLLimitExceeded):
        check_request_limits(_scope("/" + "a" * 9, b"q=" + b"b" * 8), limits)  # 10 + 1 + 10


def test_url_length_uses_the_path_when_raw_path_is_absent() -> None:
    scope = _scope("/é" * 10)
    del scope["raw_path"]
    check_request_limits(scope, Limits(max_url_length=30))
    with pytest.raises(URLLimitExceeded):
        check_request_limits(scope, Limits(max_url_length=29))


def test_header_count() -> None:
    limits = Limits(max_header_count=5)
    check_request_limits(_scope(headers=5), limits)
    with pytest.raises(HeaderLimitExceeded) as caught:
        check_request_limits(_scope(headers=6), limits)
    assert caught.value.status_code == 431
    assert caught.value.to_problem()["limit"] == "max_header_count"


# --- check_json_depth ---------------------------------------------------------------------------


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@pytest.mark.parametrize(
    ("document", "depth"),
    [
        (b"1", 0),
        (b'"[[[[["', 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'["\\"[[[", "\\\\", [[]]]', 3),
        (b'{"k\\\\\\"[": {"x": "]]]]"}}', 2),
        (b"[[[]],[[[]]]]", 4),
    ],
)
def test_depth_examples(document: bytes, depth: int) -> None:
    check_json_depth(document, depth)
    if depth:
        with pytest.raises(InputLimitExceeded) as caught:
            check_json_depth(document, depth - 1)
        assert caught.value.limit == "max_json_depth"
        assert caught.value.status_code == 400


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\n\u00e9', max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet='[]{}"\\ab', max_size=4), children, max_size=4)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(min_value=0, max_value=8), st.booleans())
def test_depth_matches_a_recursive_reference(value: Any, max_depth: int, ascii: bool) -> None:
    document = json.dumps(value, ensure_ascii=ascii).encode()
    if _depth(value) > max_depth:
        with pytest.raises(InputLimitExceeded):
            check_json_depth(document, max_depth)
    else:
        check_json_depth(document, max_depth)


def test_unterminated_strings_do_not_hide_or_invent_nesting() -> None:
    check_json_depth(b'["abc', 1)
    check_json_depth(b'["abc\\', 1)
    with pytest.raises(InputLimitExceeded):
        check_json_depth(b'[["abc', 1)


@pytest.mark.parametrize(
    "document",
    [
        b"[" * MIB,
        b"[]" * (MIB // 2),
        b'["' + b'\\"' * (MIB // 2),  # one unterminated string full of escaped quotes
        b'"\\' * (MIB // 2),
        b'"' * MIB,
        b'{"a":' * (MIB // 5),
    ],
    ids=["openers", "pairs", "escaped-quotes", "quote-backslash", "quotes", "objects"],
)
def test_adversarial_documents_stay_linear(document: bytes) -> None:
    start = time.process_time()
    try:
        check_json_depth(document, 64)
    except InputLimitExceeded:
        pass
    assert time.process_time() - start < TIME_BUDGET


# --- through an app -----------------------------------------------------------------------------


def test_limits_through_an_app() -> None:
    app = App()
    limits = Limits(max_json_depth=3, max_url_length=64)

    @app.post("/json")
    async def post_json(request: Request) -> dict[str, Any]:
        check_request_limits(request.scope, limits)
        body = await request.body()
        check_json_depth(body, limits.max_json_depth)
        return {"ok": json.loads(body)}

    with TestClient(app) as client:
        assert client.post("/json", content=b"[[[1]]]").json() == {"ok": [[[1]]]}
        response = client.post("/json", content=b"[[[[1]]]]")
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["limit"] == "max_json_depth"
        response = client.post("/json?" + "q=1&" * 20, content=b"1")
        assert response.status_code == 414
        assert response.json()["limit"] == "max_url_length"
