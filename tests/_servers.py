"""Run a real ASGI server (granian, uvicorn or hypercorn) in a subprocess for a test.

``run_server(kind, "module:app")`` starts the server through its own CLI on a free port of
127.0.0.1, waits until it answers HTTP and yields the base URL; at exit it sends SIGTERM, then
SIGKILL after 5 seconds. ``server_fixture(...)`` builds a module-scoped pytest fixture that runs the
app once per server kind, so each server starts once per test module.

The ``tests`` directory is put on the server's ``PYTHONPATH``, so apps under ``tests/apps`` are
importable as ``apps.<module>:app``.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import httpx
import pytest

ServerKind = Literal["granian", "uvicorn", "hypercorn"]
SERVERS: tuple[ServerKind, ...] = get_args(ServerKind)
TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
HOST = "127.0.0.1"


@dataclass(frozen=True)
class RunningServer:
    """A server started by :func:`server_fixture`."""

    kind: ServerKind
    url: str


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_command(
    kind: ServerKind, app: str, port: int, extra_args: Sequence[str] = ()
) -> list[str]:
    """The command line that serves ``app`` ("module:attr") with ``kind`` on 127.0.0.1:``port``."""
    python = sys.executable
    if kind == "granian":
        return [
            python,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--host",
            HOST,
            "--port",
            str(port),
            *extra_args,
            app,
        ]
    if kind == "uvicorn":
        return [
            python,
            "-m",
            "uvicorn",
            "--host",
            HOST,
            "--port",
            str(port),
            "--lifespan",
            "on",
            *extra_args,
            app,
        ]
    if kind == "hypercorn":
        return [python, "-m", "hypercorn", "--bind", f"{HOST}:{port}", *extra_args, app]
    raise ValueError(f"unknown server kind {kind!r}; expected one of {SERVERS}")


def _output(log: Any) -> str:
    log.flush()
    log.seek(0)
    return str(log.read().decode("utf-8", "replace"))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        # NOTE: the server runs in its own session (start_new_session), so this group holds only
        # the server and the workers it forked.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Any) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"{proc.args!r} exited with {proc.returncode} before serving:\n{_output(log)}",
                pytrace=False,
            )
        try:
            httpx.get(url + "/", timeout=1.0)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        return
    _stop(proc)
    pytest.fail(
        f"{proc.args!r} did not answer HTTP within {START_TIMEOUT:.0f}s:\n{_output(log)}",
        pytrace=False,
    )


@contextmanager
def run_server(
    kind: ServerKind,
    app: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] = REPO_ROOT,
    extra_args: Sequence[str] = (),
) -> Iterator[str]:
    """Serve ``app`` with ``kind`` in a subprocess and yield its base URL.

    Args:
        kind: ``"granian"``, ``"uvicorn"`` or ``"hypercorn"``.
        app: The app as ``"module:attribute"``.
        env: Extra environment variables for the server.
        cwd: Working directory of the server (the repository root by default).
        extra_args: More CLI arguments for the server.

    Yields:
        ``http://127.0.0.1:<port>``. Fails the test, with the server's output, when the server exits
        or does not answer HTTP within 20 seconds.
    """
    if importlib.util.find_spec(kind) is None:
        pytest.skip(f"{kind} is not installed (pip install armature[servers])")
    port = free_port()
    url = f"http://{HOST}:{port}"
    paths = [str(TESTS_DIR), str(cwd), os.environ.get("PYTHONPATH", "")]
    full_env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
        **(env or {}),
    }
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            server_command(kind, app, port, extra_args),
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_ready(proc, url, log)
            yield url
        finally:
            _stop(proc)


def server_fixture(
    app: str,
    *,
    kinds: Sequence[ServerKind] = SERVERS,
    env: Mapping[str, str] | None = None,
    extra_args: Mapping[ServerKind, Sequence[str]] | None = None,
    scope: Literal["module", "session", "package", "class", "function"] = "module",
) -> Any:
    """Build a pytest fixture that runs ``app`` once per server kind and yields a RunningServer.

    Assign it at module level (``server = server_fixture("apps.raw_app:app")``); tests that take
    ``server`` run once per kind, and each server starts once per ``scope``.

    Args:
        app: The app as ``"module:attribute"``.
        kinds: The servers to parametrize over.
        env: Extra environment variables for the servers.
        extra_args: Extra CLI arguments per server kind.
        scope: The pytest fixture scope.

    Returns:
        The fixture function.
    """

    @pytest.fixture(scope=scope, params=list(kinds), ids=list(kinds))
    def _server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
        kind: ServerKind = request.param
        args = (extra_args or {}).get(kind, ())
        with run_server(kind, app, env=env, extra_args=args) as url:
            yield RunningServer(kind, url)

    return _server
