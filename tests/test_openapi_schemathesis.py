"""Property-based API tests: schemathesis generates requests from the OpenAPI document.

Every operation of ``examples/app.py`` is exercised on a real uvicorn server, and every operation of
the rich test app in-process through schemathesis' ASGI transport. The checks: no 5xx, responses
that match their documented status codes, content types, headers and schemas, valid requests that
are accepted, and 405s with ``Allow`` for undocumented methods.

``negative_data_rejection`` is left out: pydantic's lax mode accepts JSON ``false`` for a number
field (see ``test_openapi_findings.py``). On the rich app ``missing_required_header`` is left out
too, because its guards are fakes that let every request through.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from _servers import run_server
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    missing_required_header,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from test_openapi import make_rich_app

from armature.openapi import build_openapi
from examples.app import app as example_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    positive_data_acceptance,
    unsupported_method,
    allow_header_conformance,
]
BOUNDED = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))

example_schema = schemathesis.openapi.from_dict(build_openapi(example_app))

rich_app = make_rich_app()
rich_schema = schemathesis.openapi.from_dict(build_openapi(rich_app))
rich_schema.app = rich_app


@pytest.fixture(scope="module")
def example_server() -> Iterator[str]:
    with run_server("uvicorn", "examples.app:app") as url:
        yield url


@pytest.mark.servers
@example_schema.parametrize()
@BOUNDED
def test_example_app_on_uvicorn(case: Any, example_server: str) -> None:
    case.call_and_validate(
        base_url=example_server, checks=[*CHECKS, missing_required_header], timeout=10
    )


@rich_schema.parametrize()
@BOUNDED
def test_rich_app_in_process(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)
