"""The in-process request machinery and the per-app worker process.

Each app runs in its own process (:func:`worker_main`, started with the ``spawn`` method) on a
uvloop event loop, after its lifespan startup. Per request the harness builds what a server
would: a fresh shallow copy of a complete scope with a new header list and a copy of the lifespan
state, a fresh ``receive`` closure that returns the body in one ``http.request`` message (a second
call waits for the response to finish, then returns ``http.disconnect``) and a ``send`` that only
notes the end of the response. The metric is process CPU time per request
(:func:`time.process_time_ns`), which a descheduled process does not accrue.

Responses are checked (status, content type, body, and any headers a case names) with a recording
``send`` before and after the timed batches; the timed loop additionally verifies that every
request ended its response.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version as dist_version
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import unquote

from loadtests.cases import Case, check_response, get

__all__ = [
    "BASE_HEADERS",
    "AppUnderTest",
    "Lifespan",
    "Recorded",
    "build_scope",
    "record_request",
    "time_requests",
    "worker_main",
]

ASGIApp = Callable[[dict[str, Any], Callable[..., Any], Callable[..., Any]], Any]

BASE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"armature-bench/1.0"),
    (b"accept", b"*/*"),
)
ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}

# Requests made with the recording send before and after timing, per app and case.
CHECK_REQUESTS = 2
# Requests used to estimate the per-request cost before sizing the timed batches.
CALIBRATION_REQUESTS = 200


class HarnessError(RuntimeError):
    """The app broke the ASGI contract (or the harness could not drive it)."""


def build_scope(case: Case) -> tuple[dict[str, Any], list[tuple[bytes, bytes]]]:
    """Return the prototype scope (without headers/state) and the header list for ``case``.

    Args:
        case: The benchmark case.

    Returns:
        ``(scope, headers)``; per request the harness copies both.
    """
    headers = list(BASE_HEADERS)
    headers.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in case.headers)
    if case.body:
        headers.append((b"content-type", case.content_type.encode("latin-1")))
        headers.append((b"content-length", str(len(case.body)).encode("ascii")))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": ASGI_VERSION,
        "http_version": "1.1",
        "method": case.method,
        "scheme": "http",
        "path": unquote(case.path),
        "raw_path": case.path.encode("ascii"),
        "query_string": case.query.encode("ascii"),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 51234),
        "server": ("127.0.0.1", 8000),
    }
    return scope, headers


@dataclass(slots=True)
class Recorded:
    """One response as captured by the recording ``send``."""

    status: int | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    ended: bool = False

    def header(self, name: bytes) -> str | None:
        """Return the first value of header ``name`` (lower-case bytes), decoded, or None."""
        for key, value in self.headers:
            if key.lower() == name:
                return value.decode("latin-1")
        return None


async def record_request(
    app: ASGIApp, case: Case, state: dict[str, Any], timeout: float = 10.0
) -> Recorded:
    """Run one request of ``case`` through ``app`` and capture the whole response.

    Unlike the timed loop this ``send`` validates the message order and keeps everything.

    Args:
        app: The ASGI app.
        case: The case to request.
        state: The lifespan state (copied into the scope).
        timeout: Seconds before a hanging app is reported.

    Returns:
        The recorded response.
    """
    proto, headers = build_scope(case)
    scope = dict(proto)
    scope["headers"] = list(headers)
    scope["state"] = state.copy()
    rec = Recorded()
    loop = asyncio.get_running_loop()
    finished = loop.create_future()
    body_sent = False

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": case.body, "more_body": False}
        await asyncio.shield(finished)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        kind = message["type"]
        if rec.ended:
            raise HarnessError(f"{case.id}: {kind} sent after the response ended")
        if kind == "http.response.start":
            if rec.status is not None:
                raise HarnessError(f"{case.id}: http.response.start sent twice")
            rec.status = int(message["status"])
            rec.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
        elif kind == "http.response.body":
            if rec.status is None:
                raise HarnessError(f"{case.id}: body sent before http.response.start")
            rec.body += message.get("body", b"")
            if not message.get("more_body", False):
                rec.ended = True
                finished.set_result(None)
        else:
            raise HarnessError(f"{case.id}: unexpected message type {kind!r}")

    await asyncio.wait_for(app(scope, receive, send), timeout)
    if not rec.ended:
        raise HarnessError(f"{case.id}: the app returned without finishing the response")
    return rec


async def time_requests(app: ASGIApp, case: Case, state: dict[str, Any], n: int) -> int:
    """Run ``n`` requests of ``case`` and return the process CPU time they took, in ns.

    Args:
        app: The ASGI app.
        case: The case to request.
        state: The lifespan state (a shallow copy goes into every scope).
        n: How many requests.

    Returns:
        Nanoseconds of process CPU time for the whole batch.
    """
    proto, headers = build_scope(case)
    body = case.body
    loop = asyncio.get_running_loop()
    completed = 0

    # NOTE: one factory call per request builds the fresh receive/send closures a server would.
    def make_io() -> tuple[Callable[[], Any], Callable[[dict[str, Any]], Any]]:
        body_sent = False
        ended = False
        waiter: asyncio.Future[None] | None = None

        async def receive() -> dict[str, Any]:
            nonlocal body_sent, waiter
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            if not ended:
                waiter = loop.create_future()
                await waiter
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal ended, completed
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                ended = True
                completed += 1
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)

        return receive, send

    gc.collect()
    start = time.process_time_ns()
    for _ in range(n):
        scope = proto.copy()
        scope["headers"] = headers.copy()
        scope["state"] = state.copy()
        receive, send = make_io()
        await app(scope, receive, send)
    elapsed = time.process_time_ns() - start
    if completed != n:
        raise HarnessError(f"{case.id}: {n - completed} of {n} timed requests did not end")
    return elapsed


class Lifespan:
    """Drives the ASGI lifespan protocol of one app, as a server would.

    Args:
        app: The ASGI app.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self.supported = True
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": ASGI_VERSION, "state": self.state}
        try:
            await self.app(scope, self._inbox.get, self._outbox.put)
        except BaseException as exc:  # an app without lifespan support raises here
            await self._outbox.put({"type": "_crashed", "error": exc})
        else:
            await self._outbox.put({"type": "_returned"})

    async def startup(self) -> dict[str, Any]:
        """Send ``lifespan.startup`` and wait for the answer.

        Returns:
            The state the app filled in (empty when the app does not support lifespan).
        """
        self._task = asyncio.get_running_loop().create_task(self._run())
        await self._inbox.put({"type": "lifespan.startup"})
        reply = await asyncio.wait_for(self._outbox.get(), 30)
        if reply["type"] == "lifespan.startup.complete":
            return self.state
        if reply["type"] == "lifespan.startup.failed":
            raise HarnessError(f"lifespan startup failed: {reply.get('message', '')}")
        # NOTE: like uvicorn's lifespan="auto": an app that raises or returns at once has none.
        self.supported = False
        return self.state

    async def shutdown(self) -> None:
        """Send ``lifespan.shutdown`` and wait for the app to finish."""
        if not self.supported or self._task is None:
            return
        await self._inbox.put({"type": "lifespan.shutdown"})
        reply = await asyncio.wait_for(self._outbox.get(), 30)
        if reply["type"] == "lifespan.shutdown.failed":
            raise HarnessError(f"lifespan shutdown failed: {reply.get('message', '')}")
        await asyncio.wait_for(self._task, 30)


class AppUnderTest:
    """One app module inside its worker process: an instance per route count, started lazily.

    Args:
        name: The app name (``raw``, ``armature``, ...), selects per-app expectations.
        module: The imported app module (exposes ``make_app(n_routes)``).
    """

    def __init__(self, name: str, module: Any) -> None:
        self.name = name
        self.module = module
        self.instances: dict[int, tuple[ASGIApp, dict[str, Any], Lifespan]] = {}
        self.calibrated: dict[str, int] = {}

    async def instance(self, n_routes: int) -> tuple[ASGIApp, dict[str, Any]]:
        """Return the started app with ``n_routes`` routes and its lifespan state."""
        if n_routes not in self.instances:
            app = self.module.make_app(n_routes)
            lifespan = Lifespan(app)
            state = await lifespan.startup()
            self.instances[n_routes] = (app, state, lifespan)
        app, state, _ = self.instances[n_routes]
        return app, state

    async def check(self, case_id: str) -> None:
        """Make :data:`CHECK_REQUESTS` recorded requests and check every response."""
        case = get(case_id)
        app, state = await self.instance(case.n_routes)
        for _ in range(CHECK_REQUESTS):
            rec = await record_request(app, case, state)
            check_response(
                case,
                self.name,
                rec.status,
                rec.header(b"content-type"),
                bytes(rec.body),
                rec.headers,
            )

    async def calibrate(self, case_id: str, target_s: float) -> int:
        """Return (and remember) how many requests of ``case_id`` take about ``target_s``."""
        case = get(case_id)
        app, state = await self.instance(case.n_routes)
        await time_requests(app, case, state, CALIBRATION_REQUESTS // 4)  # warm up
        ns = await time_requests(app, case, state, CALIBRATION_REQUESTS)
        per_request = max(ns / CALIBRATION_REQUESTS, 100.0)
        n = max(50, int(target_s * 1e9 / per_request))
        self.calibrated[case_id] = n
        return n

    async def measure(self, case_id: str) -> float:
        """Run one timed batch of the calibrated size; return ns of CPU time per request."""
        case = get(case_id)
        app, state = await self.instance(case.n_routes)
        n = self.calibrated[case_id]
        return await time_requests(app, case, state, n) / n

    async def close(self) -> None:
        """Run the lifespan shutdown of every started instance."""
        for _, _, lifespan in self.instances.values():
            await lifespan.shutdown()


async def _serve(conn: Connection, aut: AppUnderTest) -> None:
    while True:
        command, *args = conn.recv()
        try:
            if command == "stop":
                await aut.close()
                conn.send(("ok", None))
                return
            if command == "check":
                await aut.check(*args)
                result: Any = None
            elif command == "calibrate":
                result = await aut.calibrate(*args)
            elif command == "measure":
                result = await aut.measure(*args)
            else:
                raise HarnessError(f"unknown command {command!r}")
        except AssertionError as exc:
            conn.send(("mismatch", str(exc)))
        except Exception:
            conn.send(("error", traceback.format_exc()))
        else:
            conn.send(("ok", result))


def worker_main(
    conn: Connection,
    name: str,
    module_name: str,
    use_uvloop: bool = True,
    extra_paths: tuple[str, ...] = (),
) -> None:
    """Entry point of an app's worker process: import the app, then serve commands on ``conn``.

    The first message sent is ``("ready", description)`` or ``("unavailable", reason)``.

    Args:
        conn: The pipe end to the parent.
        name: The app name.
        module_name: The module exposing ``make_app(n_routes)``.
        use_uvloop: Run on uvloop (the default; plain asyncio is only for debugging).
        extra_paths: Directories appended to ``sys.path`` before the import (peers installed
            outside the project venv).
    """
    # NOTE: appended, so the venv's own packages (pydantic, starlette, ...) still win.
    sys.path.extend(p for p in extra_paths if p not in sys.path)
    try:
        module = importlib.import_module(module_name)
        module.make_app  # noqa: B018  # fail early when the module lacks the factory
    except Exception as exc:  # any import failure means "not available", reported by the parent
        conn.send(("unavailable", f"{type(exc).__name__}: {exc}"))
        conn.close()
        return
    version = getattr(module, "VERSION", "")
    loop_name = "asyncio"
    if use_uvloop:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        loop_name = f"uvloop {dist_version('uvloop')}"
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    info = {
        "version": str(version),
        "loop": loop_name,
        "features": sorted(getattr(module, "FEATURES", ())),
        "skip": dict(getattr(module, "SKIP_CASES", {})),
    }
    conn.send(("ready", info))
    try:
        loop.run_until_complete(_serve(conn, AppUnderTest(name, module)))
    finally:
        loop.close()
        conn.close()
