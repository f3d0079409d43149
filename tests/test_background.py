"""BackgroundTasks: order, sync in a thread, async awaited, errors logged, after the response."""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

import anyio
import pytest

from armature import App, JSONResponse, Response, StreamingResponse
from armature.background import BackgroundTask, BackgroundTasks
from armature.testing import AsyncTestClient, TestClient

pytestmark = pytest.mark.anyio


async def test_tasks_run_in_order_with_arguments() -> None:
    calls: list[Any] = []

    def sync_task(a: int, *, b: str) -> None:
        calls.append(("sync", a, b, threading.get_ident()))

    async def async_task(a: int, b: str = "x") -> None:
        calls.append(("async", a, b, threading.get_ident()))

    tasks = BackgroundTasks()
    tasks.add_task(sync_task, 1, b="one")
    tasks.add_task(async_task, 2, b="two")
    tasks.add_task(sync_task, 3, b="three")
    assert len(tasks) == 3
    await tasks()
    loop_thread = threading.get_ident()
    assert [c[:3] for c in calls] == [
        ("sync", 1, "one"),
        ("async", 2, "two"),
        ("sync", 3, "three"),
    ]
    # NOTE: sync functions must not block the event loop: they run in a worker thread.
    assert calls[0][3] != loop_thread
    assert calls[1][3] == loop_thread


async def test_failures_are_logged_and_do_not_stop_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    done: list[str] = []

    def broken() -> None:
        raise RuntimeError("smtp down")

    async def also_broken() -> None:
        raise ValueError("bad")

    tasks = BackgroundTasks()
    tasks.add_task(broken)
    tasks.add_task(also_broken)
    tasks.add_task(done.append, "after")
    with caplog.at_level(logging.ERROR, "armature.background"):
        await tasks()
    assert done == ["after"]
    assert "smtp down" in caplog.text and "bad" in caplog.text
    assert caplog.text.count("background task") == 2


async def test_async_callables_of_every_shape_are_awaited() -> None:
    seen: list[str] = []

    async def coro_fn(tag: str) -> None:
        seen.append(tag)

    class AsyncCallable:
        async def __call__(self, tag: str) -> None:
            seen.append(tag)

    task = BackgroundTask(functools.partial(coro_fn, "partial"))
    assert task.is_async
    await task()
    await BackgroundTask(AsyncCallable(), "object")()
    assert seen == ["partial", "object"]


async def test_task_runs_after_the_response_is_delivered() -> None:
    release = anyio.Event()
    finished = anyio.Event()
    app = App()

    @app.get("/signup")
    async def signup() -> Response:
        tasks = BackgroundTasks()

        async def send_welcome_mail() -> None:
            await release.wait()
            finished.set()

        tasks.add_task(send_welcome_mail)
        return JSONResponse({"created": True}, status_code=201, background=tasks)

    async with AsyncTestClient(app) as client:
        with anyio.fail_after(5):
            # NOTE: the task blocks until released: reading the whole body first proves the
            # response went out before the task ran to completion.
            async with client.stream("GET", "/signup") as response:
                assert response.status_code == 201
                async for chunk in response.aiter_raw():
                    # NOTE: the whole body arrived (one chunk); stop before httpx closes the
                    # response, which would wait for the app, background task included.
                    assert chunk == b'{"created":true}'
                    break
                assert not finished.is_set()
                release.set()
            await finished.wait()


async def test_streaming_response_background() -> None:
    events: list[str] = []
    app = App()

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        tasks = BackgroundTasks()
        tasks.add_task(events.append, "cleanup")

        async def body() -> Any:
            events.append("body")
            yield b"chunk"

        return StreamingResponse(body(), background=tasks)

    async with AsyncTestClient(app) as client:
        response = await client.get("/stream")
        with anyio.fail_after(5):
            while "cleanup" not in events:
                await anyio.sleep(0.01)
    assert response.content == b"chunk"
    assert events == ["body", "cleanup"]


def test_sync_client_and_tasks_added_after_building_the_response() -> None:
    events: list[str] = []
    app = App()

    @app.get("/")
    async def index() -> Response:
        tasks = BackgroundTasks()
        response = Response("ok", background=tasks)
        tasks.add_task(events.append, "added late")
        return response

    with TestClient(app) as client:
        assert client.get("/").text == "ok"
    assert events == ["added late"]


def test_not_callable_is_refused() -> None:
    with pytest.raises(TypeError, match="not callable"):
        BackgroundTasks().add_task(42)  # type: ignore[arg-type]


def test_repr() -> None:
    def notify() -> None: ...

    tasks = BackgroundTasks([BackgroundTask(notify)])
    assert "notify" in repr(tasks)
