"""The benchmark harness and its apps answer correctly (speed is never asserted here).

The end-to-end tests run ``loadtests/bench.py --quick`` in a subprocess, exactly as ``make bench``
would (with 1 short repetition), and assert that every response check passed.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from loadtests import cases as cases_mod
from loadtests.cases import CASES, Budget, Case, Expect, ResponseMismatch, check_response
from loadtests.harness import (
    AppUnderTest,
    HarnessError,
    Lifespan,
    build_scope,
    record_request,
    time_requests,
)
from loadtests.raw_app import parse_multipart

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "loadtests" / "bench.py"


@pytest.fixture
def anyio_backend() -> str:
    """The harness drives apps on asyncio/uvloop only."""
    return "asyncio"


def _armature_core_missing() -> str | None:
    try:
        from armature import App, Router  # noqa: F401
    except ImportError as exc:
        return f"armature core not importable yet: {exc}"
    return None


def run_bench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def _assert_all_measured(report: dict[str, Any], apps: list[str]) -> None:
    assert report["skipped"] == {}
    assert list(report["apps"]) == apps
    assert [row["id"] for row in report["cases"]] == list(CASES)
    pairs = 0
    for row in report["cases"]:
        for app in apps:
            measured = row["apps"].get(app)
            if measured is None:
                # only cases gated on a feature the app does not implement may be missing
                assert CASES[row["id"]].feature is not None, (row["id"], app)
                continue
            pairs += 1
            assert measured["us"] > 0, (row["id"], app)
            assert len(measured["runs_ns"]) == 1
    # every measured app/case pair is checked before and after timing
    assert report["response_checks"] == 2 * pairs


def test_quick_run_raw_and_starlette(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = run_bench("--quick", "--apps", "raw,starlette", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "all responses correct" in proc.stderr
    assert "| GET /plaintext |" in proc.stdout
    _assert_all_measured(json.loads(out.read_text()), ["raw", "starlette"])


def test_quick_run_raw_and_armature(tmp_path: Path) -> None:
    missing = _armature_core_missing()
    if missing:
        pytest.skip(missing)
    out = tmp_path / "bench.json"
    proc = run_bench("--quick", "--apps", "raw,armature", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    _assert_all_measured(report, ["raw", "armature"])
    budgeted = [row for row in report["cases"] if row["budget"]]
    assert budgeted and all(row["budget_status"] in ("pass", "over") for row in budgeted)


def test_wrong_response_fails_the_run_loudly(tmp_path: Path) -> None:
    (tmp_path / "broken_bench_app.py").write_text(
        textwrap.dedent(
            """
            from loadtests.raw_app import make_app as make_raw

            def make_app(n_routes=100):
                inner = make_raw(n_routes)

                async def app(scope, receive, send):
                    async def wrong_send(message):
                        if message["type"] == "http.response.body":
                            message = {**message, "body": b"Hello, Wrong!"}
                        await send(message)

                    await inner(scope, receive, wrong_send)

                return app
            """
        )
    )
    driver = textwrap.dedent(
        f"""
        import sys
        sys.path[:0] = [{str(ROOT)!r}, {str(tmp_path)!r}]
        from loadtests import apps, bench
        apps.APPS["broken"] = apps.AppSpec("broken", "broken_bench_app")
        sys.exit(bench.main(["--quick", "--apps", "raw,broken", "--cases", "plaintext,json"]))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", driver], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stderr
    assert "BENCHMARK FAILED" in proc.stderr
    assert "WRONG RESPONSE [broken] plaintext" in proc.stderr
    assert "Hello, Wrong!" in proc.stderr
    assert proc.stdout == ""  # no table for a failed run


def test_missing_required_app_is_an_error(tmp_path: Path) -> None:
    driver = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from loadtests import apps, bench
        apps.APPS["ghost"] = apps.AppSpec("ghost", "no_such_module_for_bench")
        code = bench.main(["--quick", "--apps", "raw,ghost", "--cases", "plaintext"])
        print("EXIT", code)
        code2 = bench.main(["--quick", "--with", "ghost", "--cases", "plaintext"])
        print("EXIT", code2)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", driver], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "EXIT 1" in proc.stdout  # named explicitly with --apps: an error
    assert "required but failed to import" in proc.stderr
    assert "EXIT 0" in proc.stdout  # opted in with --with: skipped with a message
    assert "SKIP ghost: cannot import no_such_module_for_bench" in proc.stderr


def test_unknown_app_and_case_are_rejected() -> None:
    assert run_bench("--apps", "nope").returncode == 2
    assert run_bench("--cases", "nope").returncode == 2


# ----------------------------------------------------------------------------------------------
# The pieces, in-process.


def test_scope_is_complete() -> None:
    scope, headers = build_scope(CASES["item"])
    assert set(scope) == {
        "type", "asgi", "http_version", "method", "scheme", "path", "raw_path",
        "query_string", "root_path", "headers", "client", "server",
    }  # fmt: skip
    names = [name for name, _ in headers]
    assert names == [b"host", b"user-agent", b"accept", b"content-type", b"content-length"]
    assert dict(headers)[b"content-length"] == str(len(CASES["item"].body)).encode()
    scope, headers = build_scope(CASES["search"])
    assert scope["query_string"] == b"q=abc&limit=10"
    assert [name for name, _ in headers] == [b"host", b"user-agent", b"accept"]


def test_check_response_catches_each_kind_of_mistake() -> None:
    case = CASES["json"]
    check_response(case, "raw", 200, "application/json", b'{"message":"Hello, World!"}')
    check_response(
        case, "raw", 200, "Application/JSON; charset=utf-8", b'{"message": "Hello, World!"}'
    )
    with pytest.raises(ResponseMismatch, match="status 500"):
        check_response(case, "raw", 500, "application/json", b'{"message":"Hello, World!"}')
    with pytest.raises(ResponseMismatch, match="content-type"):
        check_response(case, "raw", 200, "text/plain", b'{"message":"Hello, World!"}')
    with pytest.raises(ResponseMismatch, match="JSON"):
        check_response(case, "raw", 200, "application/json", b'{"message":"Hello"}')
    with pytest.raises(ResponseMismatch, match="not JSON"):
        check_response(case, "raw", 200, "application/json", b"Hello")
    with pytest.raises(ResponseMismatch, match="body"):
        check_response(CASES["plaintext"], "raw", 200, "text/plain", b"Hello, World")


def test_overrides_and_problem_checks() -> None:
    case = CASES["404_100"]
    check_response(case, "starlette", 404, "text/plain; charset=utf-8", b"Not Found")
    with pytest.raises(ResponseMismatch):
        check_response(case, "raw", 404, "text/plain; charset=utf-8", b"Not Found")
    check_response(case, "raw", 404, "application/problem+json", b'{"status":404,"title":"x"}')
    with pytest.raises(ResponseMismatch, match="problem status"):
        check_response(case, "raw", 404, "application/problem+json", b'{"status":400}')
    invalid = CASES["item_invalid"]
    with pytest.raises(ResponseMismatch, match="'price' missing"):
        check_response(invalid, "raw", 422, "application/problem+json", b'{"status":422}')


def test_cases_registry_rejects_duplicates_and_unknown_ids() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        cases_mod.add(Case("json", "dup", "GET", "/json", Expect(200, None)))
    with pytest.raises(KeyError, match="unknown benchmark case"):
        cases_mod.get("nope")
    assert Budget(max_ratio=2.3).label == "<= 2.3x raw"
    assert Budget(relative_to="last_100", max_factor=1.1).label == "<= 1.1x `last_100`"
    relative = [c for c in CASES.values() if c.budget and c.budget.relative_to]
    assert all(c.budget.relative_to in CASES for c in relative if c.budget)


async def _hello(send: Any, body: bytes = b"Hello, World!") -> None:
    await send(
        {"type": "http.response.start", "status": 200,
         "headers": [(b"content-type", b"text/plain; charset=utf-8")]}
    )  # fmt: skip
    await send({"type": "http.response.body", "body": body})


@pytest.mark.anyio
async def test_receive_gives_the_body_once_then_waits_for_the_end() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(await receive())

        async def listen() -> None:
            seen.append(await receive())  # waits until the response has ended

        task = asyncio.ensure_future(listen())
        await asyncio.sleep(0)
        assert not task.done()
        await _hello(send)
        await task

    rec = await record_request(app, CASES["item"], {})
    assert rec.status == 200 and bytes(rec.body) == b"Hello, World!" and rec.ended
    assert seen[0] == {"type": "http.request", "body": CASES["item"].body, "more_body": False}
    assert seen[1] == {"type": "http.disconnect"}
    seen.clear()
    assert await time_requests(app, CASES["item"], {}, 3) > 0
    assert [m["type"] for m in seen] == ["http.request", "http.disconnect"] * 3


@pytest.mark.anyio
async def test_each_request_gets_fresh_copies_of_headers_and_state() -> None:
    scopes: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(scope)
        scope["headers"].append((b"x-mutated", b"1"))
        scope["state"]["mutated"] = True
        await _hello(send)

    state = {"db": "pool"}
    await time_requests(app, CASES["plaintext"], state, 3)
    assert state == {"db": "pool"}
    assert len({id(s) for s in scopes}) == 3
    assert all(s["headers"].count((b"x-mutated", b"1")) == 1 for s in scopes)
    assert all(s["state"] == {"db": "pool", "mutated": True} for s in scopes)


@pytest.mark.anyio
async def test_unfinished_or_malformed_responses_are_errors() -> None:
    async def never_ends(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})

    async def body_first(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.body", "body": b"x"})

    async def streams(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for chunk in (b"Hello, ", b"World!"):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    case = CASES["plaintext"]
    with pytest.raises(HarnessError, match="without finishing"):
        await record_request(never_ends, case, {})
    with pytest.raises(HarnessError, match="did not end"):
        await time_requests(never_ends, case, {}, 5)
    with pytest.raises(HarnessError, match="before http.response.start"):
        await record_request(body_first, case, {})
    rec = await record_request(streams, case, {})
    assert bytes(rec.body) == b"Hello, World!"
    assert await time_requests(streams, case, {}, 5) > 0


@pytest.mark.anyio
async def test_lifespan_state_reaches_requests_and_shutdown_runs() -> None:
    events: list[str] = []
    states: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                if message["type"] == "lifespan.startup":
                    scope["state"]["pool"] = "ready"
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        states.append(scope["state"])
        await _hello(send)

    class Module:
        @staticmethod
        def make_app(n_routes: int) -> Any:
            return app

    aut = AppUnderTest("raw", Module)
    await aut.check("plaintext")
    assert states and all(s == {"pool": "ready"} for s in states)
    assert await aut.calibrate("plaintext", 0.001) >= 50
    assert await aut.measure("plaintext") > 0
    await aut.close()
    assert events == ["lifespan.startup", "lifespan.shutdown"]


@pytest.mark.anyio
async def test_app_without_lifespan_support_still_runs() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("only http")
        await _hello(send)

    lifespan = Lifespan(app)
    assert await lifespan.startup() == {}
    assert lifespan.supported is False
    await lifespan.shutdown()


@pytest.mark.anyio
async def test_wrong_app_fails_its_check() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await _hello(send, b"nope")

    class Module:
        @staticmethod
        def make_app(n_routes: int) -> Any:
            return app

    with pytest.raises(ResponseMismatch, match=r"\[raw\] plaintext"):
        await AppUnderTest("raw", Module).check("plaintext")


# ----------------------------------------------------------------------------------------------
# The Batteries rows: both apps do the same work, including on the paths the benchmark does not
# time (a refused origin, a revalidation, a malformed upload).


def test_shipped_static_file_is_the_expected_body() -> None:
    data = (cases_mod.STATIC_DIR / cases_mod.STATIC_NAME).read_bytes()
    assert data == cases_mod.static_body()
    assert len(data) == 4096


def test_header_expectations() -> None:
    case = CASES["cors"]
    good = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"Access-Control-Allow-Origin", b"https://example.com"),
        (b"vary", b"Origin"),
    ]
    check_response(case, "raw", 200, "text/plain", b"Hello, World!", good)
    with pytest.raises(ResponseMismatch, match="not recorded"):
        check_response(case, "raw", 200, "text/plain", b"Hello, World!")
    with pytest.raises(ResponseMismatch, match="'vary' missing"):
        check_response(case, "raw", 200, "text/plain", b"Hello, World!", good[:2])
    wrong = [*good[:1], (b"access-control-allow-origin", b"*"), good[2]]
    with pytest.raises(ResponseMismatch, match="access-control-allow-origin: '\\*'"):
        check_response(case, "raw", 200, "text/plain", b"Hello, World!", wrong)
    static = CASES["static_4k"]
    sent = [(b"content-length", b"4096"), (b"etag", b'"any"'), (b"last-modified", b"x")]
    check_response(static, "raw", 200, "text/plain", cases_mod.static_body(), sent)
    with pytest.raises(ResponseMismatch, match="'etag' missing"):
        check_response(static, "raw", 200, "text/plain", cases_mod.static_body(), sent[::2])
    # cases without header expectations ignore the headers
    check_response(CASES["plaintext"], "raw", 200, "text/plain", b"Hello, World!", [])


def test_raw_multipart_parser() -> None:
    content_type = CASES["upload"].content_type.encode()
    fields = parse_multipart(content_type, cases_mod.multipart_body())
    assert fields == {
        "field": (None, b"hello"),
        "upload": ("data.bin", cases_mod.UPLOAD_CONTENT),
    }
    quoted = b'multipart/form-data; boundary="' + cases_mod.UPLOAD_BOUNDARY.encode() + b'"'
    assert parse_multipart(quoted, cases_mod.multipart_body()) == fields
    with pytest.raises(ValueError, match="boundary"):
        parse_multipart(b"multipart/form-data", cases_mod.multipart_body())
    with pytest.raises(ValueError, match="boundary"):
        parse_multipart(b"application/json; boundary=x", cases_mod.multipart_body())
    with pytest.raises(ValueError, match="closing"):
        parse_multipart(content_type, cases_mod.multipart_body()[:-10])


async def _answers(app_name: str, case: Case) -> Any:
    module = importlib.import_module(f"loadtests.{app_name}_app")
    app = module.make_app(10)
    lifespan = Lifespan(app)
    state = await lifespan.startup()
    try:
        return await record_request(app, case, state)
    finally:
        await lifespan.shutdown()


BOTH_APPS = ["raw", "armature"]


@pytest.fixture(params=BOTH_APPS)
def bench_app(request: pytest.FixtureRequest) -> str:
    if request.param == "armature":
        missing = _armature_core_missing()
        if missing:
            pytest.skip(missing)
    return str(request.param)


@pytest.mark.anyio
async def test_cors_refused_origin_gets_no_allow_origin(bench_app: str) -> None:
    case = replace(CASES["cors"], headers=(("origin", "https://evil.example"),))
    rec = await _answers(bench_app, case)
    assert rec.status == 200 and bytes(rec.body) == b"Hello, World!"
    assert rec.header(b"access-control-allow-origin") is None
    assert rec.header(b"vary") == "Origin"


@pytest.mark.anyio
async def test_static_revalidation_and_escapes(bench_app: str) -> None:
    first = await _answers(bench_app, CASES["static_4k"])
    etag = first.header(b"etag")
    assert etag and first.header(b"last-modified")
    again = replace(CASES["static_4k"], headers=(("if-none-match", etag),))
    rec = await _answers(bench_app, again)
    assert rec.status == 304 and bytes(rec.body) == b""
    for path in ("/static/../cases.py", "/static/missing.txt", "/static/"):
        rec = await _answers(bench_app, replace(CASES["static_4k"], path=path))
        assert rec.status == 404, path
        assert rec.header(b"content-type") == "application/problem+json", path


@pytest.mark.anyio
async def test_upload_without_the_file_is_422(bench_app: str) -> None:
    boundary = cases_mod.UPLOAD_BOUNDARY
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="field"\r\n\r\nhello\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    rec = await _answers(bench_app, replace(CASES["upload"], body=body))
    assert rec.status == 422
    assert rec.header(b"content-type") == "application/problem+json"
