"""Tests of armature.testing: scope fidelity, bodies, lifespan, cookies, streaming and errors.

Async tests run on asyncio and trio (anyio_backend fixture); sync TestClient tests use the same
fixture to pick the portal's backend.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import pytest
import trio
from apps import raw_app

from armature.testing import AsyncTestClient, ClientDisconnected, LifespanFailed, TestClient
from armature.types import Message, Receive, Scope, Send

app = raw_app.app


class Recorder:
    """An app that records its scopes and received messages, then answers ``ok``."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = []
        self.messages: list[Message] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan here")
        self.scopes.append(scope)
        while True:
            message = await receive()
            self.messages.append(message)
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        # NOTE: once the response is complete, the next receive() must report a disconnect.
        self.messages.append(await receive())


async def _start(send: Send, status: int = 200) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})


# -- scope fidelity ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_http_scope_is_faithful() -> None:
    recorder = Recorder()
    async with AsyncTestClient(recorder) as client:
        response = await client.get("/caf%C3%A9/a%2Fb", params={"q": "x y", "n": "1"})
    assert response.status_code == 200
    assert response.http_version == "HTTP/1.1"
    scope = recorder.scopes[0]
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/café/a/b"
    assert scope["raw_path"] == b"/caf%C3%A9/a%2Fb"
    assert scope["query_string"] == b"q=x+y&n=1"
    assert scope["root_path"] == ""
    assert scope["client"] == ("testclient", 50000)
    assert scope["server"] == ("testserver", 80)
    assert scope["state"] == {}
    assert scope["extensions"] == {}
    headers = scope["headers"]
    assert all(isinstance(k, bytes) and isinstance(v, bytes) for k, v in headers)
    assert all(k == k.lower() for k, _ in headers)
    assert headers[0] == (b"host", b"testserver")
    assert (b"user-agent", b"testclient") in headers
    assert not any(k == b"content-length" for k, _ in headers)


@pytest.mark.anyio
async def test_scope_options_and_headers() -> None:
    recorder = Recorder()
    client = AsyncTestClient(
        recorder,
        base_url="https://example.org:8443",
        root_path="/api",
        client=("10.0.0.1", 1234),
        headers={"X-Default": "D"},
    )
    await client.post("/api/items", content=b"abc", headers={"X-Custom": "MiXed"})
    scope = recorder.scopes[0]
    assert scope["scheme"] == "https"
    assert scope["server"] == ("example.org", 8443)
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/items"
    assert scope["client"] == ("10.0.0.1", 1234)
    headers = dict(scope["headers"])
    assert headers[b"host"] == b"example.org:8443"
    assert headers[b"x-custom"] == b"MiXed"
    assert headers[b"x-default"] == b"D"
    assert headers[b"content-length"] == b"3"


def test_sync_client_scope_runs_on_the_chosen_backend(anyio_backend: str) -> None:
    libraries = []

    async def which(scope: Scope, receive: Receive, send: Send) -> None:
        libraries.append("trio" if trio.lowlevel.in_trio_run() else "asyncio")
        if scope["type"] == "lifespan":
            return
        await _start(send)
        await send({"type": "http.response.body", "body": scope["method"].encode()})

    client = TestClient(which, backend=anyio_backend)
    assert client.request("PATCH", "/").text == "PATCH"
    with TestClient(which, backend=anyio_backend) as entered:
        assert entered.get("/").text == "GET"
    assert libraries == [anyio_backend] * 3


def test_raw_app_scope_over_the_sync_client(anyio_backend: str) -> None:
    with TestClient(app, backend=anyio_backend) as client:
        data = client.get("/scope", params={"a": "1"}).json()
    assert data["path"] == "/scope"
    assert data["query_string"] == "a=1"
    assert data["state_keys"] == ["started"]


# -- request bodies ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_large_body_arrives_in_chunks() -> None:
    payload = bytes(range(256)) * 800  # 204800 bytes
    async with AsyncTestClient(app) as client:
        response = await client.post("/echo", content=payload)
    assert response.content == payload
    assert response.headers["x-body-chunks"] == "65536,65536,65536,8192"
    assert response.headers["x-more-body"] == "1,1,1,0"


@pytest.mark.anyio
async def test_empty_body_is_one_final_message() -> None:
    recorder = Recorder()
    await AsyncTestClient(recorder).get("/")
    assert recorder.messages == [
        {"type": "http.request", "body": b"", "more_body": False},
        {"type": "http.disconnect"},
    ]


@pytest.mark.anyio
async def test_streamed_request_body_keeps_its_chunks() -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield b"ab"
        yield b""
        yield b"cd"

    recorder = Recorder()
    await AsyncTestClient(recorder).post("/", content=parts())
    assert recorder.messages == [
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"cd", "more_body": False},
        {"type": "http.disconnect"},
    ]
    assert (b"transfer-encoding", b"chunked") in recorder.scopes[0]["headers"]


def test_sync_client_streams_request_body(anyio_backend: str) -> None:
    def parts() -> Iterator[bytes]:
        yield b"x" * 70000
        yield b"yz"

    client = TestClient(app, backend=anyio_backend)
    response = client.post("/echo", content=parts())
    assert response.content == b"x" * 70000 + b"yz"
    assert response.headers["x-body-chunks"] == "65536,4464,2"
    assert response.headers["x-more-body"] == "1,1,0"


# -- lifespan ------------------------------------------------------------------------------------


def _lifespan_app(events: list[str], *, fail: str | None = None) -> Any:
    async def lifespan_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                phase = message["type"].split(".")[1]
                events.append(phase)
                if phase == "startup":
                    scope["state"]["db"] = ["connection"]
                if fail == phase:
                    await send({"type": f"lifespan.{phase}.failed", "message": f"no {phase}"})
                    return
                await send({"type": f"lifespan.{phase}.complete"})
                if phase == "shutdown":
                    return
        state = scope["state"]
        body = f"{sorted(state)} {state.get('db')}".encode()
        state["request_only"] = True
        await _start(send)
        await send({"type": "http.response.body", "body": body})

    return lifespan_app


@pytest.mark.anyio
async def test_lifespan_runs_around_the_block_and_shares_state() -> None:
    events: list[str] = []
    client = AsyncTestClient(_lifespan_app(events))
    async with client:
        assert events == ["startup"]
        first = await client.get("/")
        second = await client.get("/")
        assert client.app_state == {"db": ["connection"]}
    assert events == ["startup", "shutdown"]
    # NOTE: each request gets a shallow copy: keys set by a request do not leak to the next one.
    assert first.text == second.text == "['db'] ['connection']"
    assert (await client.get("/")).text == "[] None"  # NOTE: no session, no state.


def test_sync_lifespan_runs_around_the_block(anyio_backend: str) -> None:
    events: list[str] = []
    client = TestClient(_lifespan_app(events), backend=anyio_backend)
    assert client.get("/").text == "[] None"  # NOTE: no lifespan outside ``with``.
    assert events == []
    with client:
        assert events == ["startup"]
        assert client.get("/").text == "['db'] ['connection']"
        assert client.portal is not None
    assert events == ["startup", "shutdown"]
    assert client.get("/").text == "[] None"  # NOTE: the last session's state is not reused.
    with client:  # NOTE: a client can run another session.
        pass
    assert events == ["startup", "shutdown", "startup", "shutdown"]


@pytest.mark.anyio
async def test_lifespan_startup_failure_raises() -> None:
    events: list[str] = []
    with pytest.raises(LifespanFailed, match="startup failed: no startup") as info:
        async with AsyncTestClient(_lifespan_app(events, fail="startup")):
            pytest.fail("the block must not run")
    assert info.value.phase == "startup"
    assert info.value.message == "no startup"


def test_sync_lifespan_startup_failure_raises(anyio_backend: str) -> None:
    client = TestClient(_lifespan_app([], fail="startup"), backend=anyio_backend)
    with pytest.raises(LifespanFailed, match="no startup"):
        with client:
            pytest.fail("the block must not run")


@pytest.mark.anyio
async def test_lifespan_shutdown_failure_raises() -> None:
    events: list[str] = []
    with pytest.raises(LifespanFailed, match="shutdown failed: no shutdown"):
        async with AsyncTestClient(_lifespan_app(events, fail="shutdown")) as client:
            assert (await client.get("/")).status_code == 200
    assert events == ["startup", "shutdown"]


@pytest.mark.anyio
async def test_shutdown_runs_when_the_block_raises() -> None:
    events: list[str] = []
    with pytest.raises(KeyError):
        async with AsyncTestClient(_lifespan_app(events)):
            raise KeyError("from the test")
    assert events == ["startup", "shutdown"]


@pytest.mark.anyio
async def test_apps_without_lifespan_support_are_tolerated() -> None:
    recorder = Recorder()  # raises on lifespan scopes before receiving anything

    async def returns(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await recorder(scope, receive, send)

    for target in (recorder, returns):
        async with AsyncTestClient(target) as client:
            assert (await client.get("/")).text == "ok"


@pytest.mark.anyio
async def test_crash_in_startup_code_is_raised() -> None:
    async def crashing(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise ConnectionRefusedError("database is down")

    with pytest.raises(ConnectionRefusedError, match="database is down"):
        async with AsyncTestClient(crashing):
            pytest.fail("the block must not run")


# -- cookies and redirects -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_cookies_round_trip() -> None:
    async with AsyncTestClient(app, cookies={"initial": "1"}) as client:
        await client.get("/set-cookie", params={"session": "abc"})
        assert client.cookies["session"] == "abc"
        data = (await client.get("/scope")).json()
    cookie = dict(data["headers"])["cookie"]
    assert sorted(cookie.split("; ")) == ["initial=1", "session=abc"]


def test_sync_cookies_and_redirects(anyio_backend: str) -> None:
    async def redirecting(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/login":
            headers = [(b"location", b"/scope"), (b"set-cookie", b"user=ann; Path=/")]
            await send({"type": "http.response.start", "status": 303, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
        else:
            await app(scope, receive, send)

    client = TestClient(redirecting, backend=anyio_backend)
    response = client.post("/login")
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [303]
    assert dict(response.json()["headers"])["cookie"] == "user=ann"
    unfollowed = TestClient(redirecting, follow_redirects=False).post("/login")
    assert unfollowed.status_code == 303


# -- streaming -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_stream_is_readable_while_the_app_runs() -> None:
    gate = uuid.uuid4().hex
    async with AsyncTestClient(app) as client:
        with anyio.fail_after(10):  # NOTE: a buffering client would wait on the gate forever.
            async with client.stream("GET", "/stream", params={"gate": gate}) as response:
                chunks = response.aiter_raw()
                assert await chunks.__anext__() == b"chunk-1\n"
                # NOTE: the app is blocked on the gate: it has sent one chunk of three.
                assert raw_app.STREAM_PROGRESS[gate] == 1
                assert (await client.post("/release", params={"gate": gate})).text == "released"
                rest = [chunk async for chunk in chunks]
    assert rest == [b"chunk-2\n", b"chunk-3\n"]
    assert raw_app.STREAM_PROGRESS[gate] == 3


def test_sync_stream_is_readable_while_the_app_runs(anyio_backend: str) -> None:
    gate = uuid.uuid4().hex
    with TestClient(app, backend=anyio_backend) as client:
        with client.stream("GET", "/stream", params={"gate": gate}) as response:
            chunks = response.iter_raw()
            assert next(chunks) == b"chunk-1\n"
            assert raw_app.STREAM_PROGRESS[gate] == 1
            client.post("/release", params={"gate": gate})
            assert list(chunks) == [b"chunk-2\n", b"chunk-3\n"]


@pytest.mark.anyio
async def test_stream_without_a_session() -> None:
    async with AsyncTestClient(app).stream("GET", "/stream") as response:
        chunks = [chunk async for chunk in response.aiter_raw()]
    assert chunks == [b"chunk-1\n", b"chunk-2\n", b"chunk-3\n"]


def test_sync_stream_without_a_session(anyio_backend: str) -> None:
    client = TestClient(app, backend=anyio_backend)
    with client.stream("GET", "/stream") as response:
        assert list(response.iter_raw()) == [b"chunk-1\n", b"chunk-2\n", b"chunk-3\n"]


def test_sync_trio_client_inside_trio_is_refused() -> None:
    async def inside_trio() -> None:
        with pytest.raises(RuntimeError, match="use AsyncTestClient"):
            TestClient(app, backend="trio").get("/")
        with pytest.raises(RuntimeError, match="use AsyncTestClient"):
            with TestClient(app, backend="trio"):
                pass

    trio.run(inside_trio)


def _endless_app(events: list[str]) -> Any:
    async def endless(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        disconnected = anyio.Event()

        async def listen() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            events.append("http.disconnect")
            disconnected.set()

        try:
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(listen)
                await _start(send)
                await send({"type": "http.response.body", "body": b"tick", "more_body": True})
                await disconnected.wait()
                try:
                    await send({"type": "http.response.body", "body": b"late", "more_body": True})
                except ClientDisconnected:
                    events.append("send raised ClientDisconnected")
        finally:
            events.append("app finished")

    return endless


@pytest.mark.anyio
async def test_early_close_disconnects_the_app() -> None:
    events: list[str] = []
    with anyio.fail_after(10):
        async with AsyncTestClient(_endless_app(events)).stream("GET", "/") as response:
            assert await response.aiter_raw().__anext__() == b"tick"
            assert events == []
    assert events == ["http.disconnect", "send raised ClientDisconnected", "app finished"]


@pytest.mark.anyio
async def test_early_close_inside_a_session() -> None:
    events: list[str] = []
    async with AsyncTestClient(_endless_app(events)) as client:
        with anyio.fail_after(10):
            async with client.stream("GET", "/") as response:
                assert await response.aiter_raw().__anext__() == b"tick"
        assert events == ["http.disconnect", "send raised ClientDisconnected", "app finished"]


def test_sync_early_close_disconnects_the_app(anyio_backend: str) -> None:
    events: list[str] = []
    with TestClient(_endless_app(events), backend=anyio_backend) as client:
        with client.stream("GET", "/") as response:
            assert next(response.iter_raw()) == b"tick"
        assert events == ["http.disconnect", "send raised ClientDisconnected", "app finished"]


@pytest.mark.anyio
async def test_app_ignoring_the_disconnect_is_cancelled() -> None:
    events: list[str] = []

    async def stubborn(scope: Scope, receive: Receive, send: Send) -> None:
        await _start(send)
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        try:
            await anyio.Event().wait()
        except anyio.get_cancelled_exc_class():
            events.append("cancelled")
            raise

    class QuickClient(AsyncTestClient):
        disconnect_grace = 0.01

    with anyio.fail_after(10):
        async with QuickClient(stubborn).stream("GET", "/") as response:
            assert await response.aiter_raw().__anext__() == b"first"
    assert events == ["cancelled"]


@pytest.mark.anyio
async def test_head_response_has_no_body() -> None:
    response = await AsyncTestClient(app).head("/")
    assert response.status_code == 200
    assert response.headers["content-length"] == "5"
    assert response.content == b""


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_app_exception_propagates() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        await AsyncTestClient(app).get("/error")
    async with AsyncTestClient(app) as client:
        with pytest.raises(RuntimeError, match="boom"):
            await client.get("/error")
        assert (await client.get("/")).text == "hello"  # NOTE: the session survives the error.


def test_sync_app_exception_propagates(anyio_backend: str) -> None:
    with TestClient(app, backend=anyio_backend) as client:
        with pytest.raises(RuntimeError, match="boom"):
            client.get("/error")
        assert client.get("/").text == "hello"
    with pytest.raises(RuntimeError, match="boom"):
        TestClient(app, backend=anyio_backend).get("/error")


@pytest.mark.anyio
async def test_app_exception_becomes_500_when_asked() -> None:
    client = AsyncTestClient(app, raise_server_exceptions=False)
    response = await client.get("/error")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    sync = TestClient(app, raise_server_exceptions=False)
    assert sync.get("/error").status_code == 500


async def _no_response(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()


async def _half_response(scope: Scope, receive: Receive, send: Send) -> None:
    await _start(send)
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    if scope["path"] == "/raise":
        raise ValueError("mid-stream failure")


@pytest.mark.anyio
async def test_app_ending_without_a_response_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="without starting a response"):
        await AsyncTestClient(_no_response).get("/")
    lenient = AsyncTestClient(_no_response, raise_server_exceptions=False)
    assert (await lenient.get("/")).status_code == 500


@pytest.mark.anyio
async def test_failures_after_the_response_started() -> None:
    with pytest.raises(ValueError, match="mid-stream failure"):
        await AsyncTestClient(_half_response).get("/raise")
    with pytest.raises(RuntimeError, match="without completing its response"):
        await AsyncTestClient(_half_response).get("/")
    lenient = AsyncTestClient(_half_response, raise_server_exceptions=False)
    for path in ("/raise", "/"):
        with pytest.raises(httpx.RemoteProtocolError):
            await lenient.get(path)


@pytest.mark.anyio
async def test_failure_after_the_response_completed() -> None:
    async def background_failure(scope: Scope, receive: Receive, send: Send) -> None:
        await _start(send)
        await send({"type": "http.response.body", "body": b"done"})
        raise LookupError("background task failed")

    with pytest.raises(LookupError, match="background task failed"):
        await AsyncTestClient(background_failure).get("/")
    lenient = AsyncTestClient(background_failure, raise_server_exceptions=False)
    assert (await lenient.get("/")).text == "done"


@pytest.mark.anyio
async def test_protocol_violations_are_errors() -> None:
    async def body_first(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.body", "body": b"x"})

    async def too_long(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"abc"})

    async def str_header(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [("content-type", "text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})

    with pytest.raises(RuntimeError, match="Expected ASGI message 'http.response.start'"):
        await AsyncTestClient(body_first).get("/")
    with pytest.raises(RuntimeError, match="longer than Content-Length"):
        await AsyncTestClient(too_long).get("/")
    with pytest.raises(TypeError, match="must be bytes"):
        await AsyncTestClient(str_header).get("/")


def test_missing_httpx_gives_an_install_hint() -> None:
    code = "import sys; sys.modules['httpx'] = None; import armature.testing"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "pip install armature[testing]" in result.stderr


@pytest.fixture
async def session_client() -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app) as client:
        yield client


@pytest.mark.anyio
async def test_client_from_an_async_fixture(session_client: AsyncTestClient) -> None:
    assert (await session_client.get("/state")).json() == {"started": "True"}
    async with session_client.stream("GET", "/stream") as response:
        assert await response.aiter_raw().__anext__() == b"chunk-1\n"
    with pytest.raises(RuntimeError, match="boom"):
        await session_client.get("/error")


def test_sync_early_close_without_a_session(anyio_backend: str) -> None:
    events: list[str] = []
    client = TestClient(_endless_app(events), backend=anyio_backend)
    with client.stream("GET", "/") as response:
        assert next(response.iter_raw()) == b"tick"
    assert events == ["http.disconnect", "send raised ClientDisconnected", "app finished"]


def test_portal_runs_code_on_the_app_loop(anyio_backend: str) -> None:
    async def flagging(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["flag"] = anyio.Event()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        scope["state"]["flag"].set()
        await _start(send)
        await send({"type": "http.response.body", "body": b""})

    with TestClient(flagging, backend=anyio_backend, headers={"User-Agent": "mine"}) as client:
        assert client.headers["user-agent"] == "mine"
        client.get("/")
        assert client.portal is not None
        flag = client.app_state["flag"]
        assert client.portal.call(flag.is_set)
        client.portal.call(flag.wait)
    assert client.portal is None
