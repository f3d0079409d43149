"""The ``armature`` command: argument parsing, app loading, routes, openapi, db and real servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from _servers import free_port

from armature import cli
from armature.openapi import build_openapi
from examples.app import app as example_app

ROOT = Path(__file__).resolve().parents[1]
ARMATURE = str(Path(sys.executable).with_name("armature"))

APP_MODULE = '''
from armature import App, Middleware

app = App(title="cli test")


class Timing:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)


class TokenGuard:
    name = "token"
    openapi_security_scheme = ("bearer", {"type": "http", "scheme": "bearer"})

    def can_activate(self, context):
        return True


def audit(context, call_next):
    return call_next()


@app.get("/ping")
async def ping() -> dict[str, bool]:
    """Health check."""
    return {"ok": True}


@app.get(
    "/secret/{key:int}",
    middleware=[Middleware(Timing)],
    extra={"guards": [TokenGuard()], "interceptors": [audit]},
)
async def secret(key: int) -> dict[str, int]:
    return {"key": key}


async def raw_asgi(scope, receive, send):
    pass


class Holder:
    app = app


def create():
    return app


def create_nothing():
    return 42


def create_broken():
    raise RuntimeError("no database")


not_an_app = {"app": True}
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project directory holding ``cliapp.py`` (and ``broken.py``), as the working directory."""
    (tmp_path / "cliapp.py").write_text(APP_MODULE, encoding="utf-8")
    (tmp_path / "broken.py").write_text("import json\n\nraise ValueError('bad config')\n")
    (tmp_path / "syntax.py").write_text("def (:\n")
    (tmp_path / "needs_missing.py").write_text("import not_installed_anywhere\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name in ("cliapp", "broken", "syntax", "needs_missing"):
            del sys.modules[name]


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ARMATURE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


# -- argument parsing ----------------------------------------------------------------------------


def test_run_defaults() -> None:
    args = cli.build_parser().parse_args(["run", "main:app"])
    assert (args.app, args.server, args.host, args.port, args.workers) == (
        "main:app",
        "granian",
        "127.0.0.1",
        8000,
        1,
    )
    assert args.reload is False
    assert args.factory is False
    assert args.handler is cli._run


def test_run_options() -> None:
    args = cli.build_parser().parse_args(
        [
            "run",
            "pkg.main:make",
            "--server",
            "hypercorn",
            "--host",
            "0.0.0.0",
            "--port",
            "9000",
            "--workers",
            "4",
            "--reload",
            "--factory",
        ]
    )
    assert (args.server, args.host, args.port, args.workers) == ("hypercorn", "0.0.0.0", 9000, 4)
    assert args.reload and args.factory


@pytest.mark.parametrize(
    "argv",
    [
        ["run"],
        ["run", "main:app", "--server", "daphne"],
        ["run", "main:app", "--port", "eighty"],
        ["routes"],
        ["nonsense"],
        [],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    assert "usage: armature" in capsys.readouterr().err


def test_routes_and_openapi_options() -> None:
    parser = cli.build_parser()
    routes = parser.parse_args(["routes", "main:app", "--json"])
    assert routes.json is True
    assert routes.handler is cli._routes
    assert parser.parse_args(["routes", "main:app"]).json is False
    openapi = parser.parse_args(["openapi", "main:app", "-o", "out.json", "--factory"])
    assert (openapi.output, openapi.factory, openapi.handler) == ("out.json", True, cli._openapi)
    assert parser.parse_args(["openapi", "main:app"]).output is None


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from armature import __version__

    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"armature {__version__}"


def test_server_command_lines() -> None:
    parse = cli.build_parser().parse_args
    granian = cli.server_command(parse(["run", "m:app"]))
    assert granian == [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--host",
        "127.0.0.1",
        "--port",
        "8000",
        "--workers",
        "1",
        "m:app",
    ]
    reloading = cli.server_command(
        parse(["run", "m:make", "--reload", "--factory", "--workers", "2"])
    )
    assert reloading[-4:] == ["2", "--reload", "--factory", "m:make"]
    hypercorn = cli.server_command(parse(["run", "m:app", "--server", "hypercorn", "--port", "81"]))
    assert hypercorn == [
        sys.executable,
        "-m",
        "hypercorn",
        "--bind",
        "127.0.0.1:81",
        "--workers",
        "1",
        "m:app",
    ]
    ipv6 = cli.server_command(
        parse(["run", "m:make", "--server", "hypercorn", "--host", "::1", "--factory", "--reload"])
    )
    assert ipv6[3:] == ["--bind", "[::1]:8000", "--workers", "1", "--reload", "m:make()"]
    with pytest.raises(cli.CLIError, match="Python API"):
        cli.server_command(parse(["run", "m:app", "--server", "uvicorn"]))


# -- loading apps --------------------------------------------------------------------------------


def test_load_app_from_the_current_directory(project: Path) -> None:
    loaded = cli.load_app("cliapp:app", armature_only=True)
    assert loaded.title == "cli test"
    assert str(project) in sys.path
    assert cli.load_app("cliapp:Holder.app") is loaded
    assert cli.load_app("cliapp:create", factory=True) is loaded
    assert cli.load_app("cliapp:raw_asgi").__name__ == "raw_asgi"


@pytest.mark.parametrize(
    ("target", "options", "message"),
    [
        ("cliapp", {}, "expected an app as 'module:attribute' (like 'main:app'), got 'cliapp'"),
        ("cliapp:", {}, "expected an app as 'module:attribute'"),
        (":app", {}, "expected an app as 'module:attribute'"),
        ("nowhere:app", {}, "could not import 'nowhere': there is no module named 'nowhere'"),
        ("cliapp.sub:app", {}, "could not import 'cliapp.sub'"),
        ("cliapp:missing", {}, "module 'cliapp' has no attribute 'missing'"),
        ("cliapp:Holder.missing", {}, "module 'cliapp' has no attribute 'Holder.missing'"),
        ("cliapp:not_an_app", {}, "is not an ASGI application (it is a dict)"),
        ("cliapp:Holder", {}, "is not an ASGI application (it is the class Holder)"),
        (
            "cliapp:create",
            {},
            "(it is the function create); it takes no arguments: pass --factory to call it",
        ),
        ("cliapp:create_nothing", {"factory": True}, "(the factory returned an int)"),
        (
            "cliapp:create_broken",
            {"factory": True},
            "the factory 'cliapp:create_broken' failed: RuntimeError: no database (at ",
        ),
        ("cliapp:not_an_app", {"factory": True}, "is not callable; --factory needs a function"),
        (
            "cliapp:raw_asgi",
            {"armature_only": True},
            "'cliapp:raw_asgi' is an ASGI application but not an armature App",
        ),
        ("broken:app", {}, "error while importing 'broken': ValueError: bad config (at "),
        ("syntax:app", {}, "error while importing 'syntax': SyntaxError: invalid syntax"),
        (
            "needs_missing:app",
            {},
            "error while importing 'needs_missing': ModuleNotFoundError: "
            "No module named 'not_installed_anywhere'",
        ),
    ],
)
def test_load_app_errors(
    project: Path, target: str, options: dict[str, bool], message: str
) -> None:
    with pytest.raises(cli.CLIError) as raised:
        cli.load_app(target, **options)
    assert message in str(raised.value)
    assert raised.value.status == 2


def test_errors_name_the_failing_file_and_line(project: Path) -> None:
    with pytest.raises(cli.CLIError) as raised:
        cli.load_app("broken:app")
    assert f"(at {project / 'broken.py'}:3)" in str(raised.value)


def test_bad_app_paths_print_one_line_and_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("routes", "openapi", "run"):
        assert cli.main([command, "cliapp:missing"]) == 2
        err = capsys.readouterr().err
        assert err == "armature: error: module 'cliapp' has no attribute 'missing'\n"


def test_run_checks_the_app_before_starting_a_server(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["run", "cliapp:not_an_app", "--server", "uvicorn"]) == 2
    assert "is not an ASGI application" in capsys.readouterr().err
    assert cli.main(["run", "cliapp:not_an_app", "--factory"]) == 2
    assert "--factory needs a function" in capsys.readouterr().err
    assert cli.main(["run", "cliapp:app", "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


# -- routes and openapi (in-process) -------------------------------------------------------------


def test_routes_table(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["routes", "cliapp:app"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    assert header == ["METHOD", "PATH", "NAME", "HANDLER", "MIDDLEWARE", "GUARDS", "INTERCEPTORS"]
    assert lines[1].split() == ["GET", "/ping", "ping", "cliapp.ping", "-", "-", "-"]
    assert lines[2].split() == [
        "GET",
        "/secret/{key:int}",
        "secret",
        "cliapp.secret",
        "Timing",
        "token",
        "audit",
    ]
    # Columns are aligned: every column starts at the same offset on every line.
    for column in ("PATH", "HANDLER", "GUARDS"):
        offset = lines[0].index(column)
        assert all(line[offset - 2 : offset] == "  " for line in lines[1:])
        assert all(line[offset] != " " for line in lines[1:])


def test_routes_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["routes", "cliapp:create", "--factory", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {
            "method": "GET",
            "path": "/ping",
            "name": "ping",
            "handler": "cliapp.ping",
            "middleware": [],
            "guards": [],
            "interceptors": [],
        },
        {
            "method": "GET",
            "path": "/secret/{key:int}",
            "name": "secret",
            "handler": "cliapp.secret",
            "middleware": ["Timing"],
            "guards": ["token"],
            "interceptors": ["audit"],
        },
    ]


def test_openapi_to_stdout_and_to_a_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["openapi", "cliapp:app"]) == 0
    printed = capsys.readouterr().out
    from cliapp import app  # type: ignore[import-not-found]

    assert printed == json.dumps(build_openapi(app), indent=2, sort_keys=True) + "\n"
    document = json.loads(printed)
    assert document["paths"]["/secret/{key}"]["get"]["security"] == [{"bearer": []}]
    target = project / "openapi.json"
    assert cli.main(["openapi", "cliapp:app", "--output", str(target)]) == 0
    assert capsys.readouterr().err == f"wrote {target}\n"
    assert target.read_text(encoding="utf-8") == printed


def test_openapi_write_error_exits_1(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["openapi", "cliapp:app", "-o", str(project / "no" / "dir.json")]) == 1
    assert "armature: error: cannot write" in capsys.readouterr().err


def test_openapi_build_error_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "clash.py").write_text(
        textwrap.dedent(
            """
            from armature import App

            class A:
                openapi_security_scheme = ("auth", {"type": "http", "scheme": "bearer"})
                def can_activate(self, context):
                    return True

            class B(A):
                openapi_security_scheme = ("auth", {"type": "http", "scheme": "basic"})

            app = App()

            @app.get("/a", extra={"guards": [A()]})
            async def a() -> None: ...

            @app.get("/b", extra={"guards": [B()]})
            async def b() -> None: ...
            """
        )
    )
    result = run_cli("openapi", "clash:app", cwd=tmp_path)
    assert result.returncode == 1
    assert "security scheme 'auth' is declared differently" in result.stderr
    assert "Traceback" not in result.stderr


# -- db ------------------------------------------------------------------------------------------


def test_db_delegates_to_seaorm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["db", "--help"])
    assert exited.value.code == 0
    assert "usage: armature db" in capsys.readouterr().out
    directory = tmp_path / "migrations"
    assert cli.main(["db", "--directory", str(directory), "init"]) == 0
    assert (directory / "env.py").is_file()
    assert capsys.readouterr().out == f"created {directory}\n"


def test_db_without_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # NOTE: None in sys.modules makes an import fail as if the package were not installed.
    for name in cli.DB_MODULES:
        monkeypatch.setitem(sys.modules, name, None)
    assert cli.main(["db", "upgrade"]) == 2
    assert capsys.readouterr().err == (
        "armature: error: 'armature db' needs the seaorm extra: pip install 'armature[seaorm]'\n"
    )


# -- the installed console script ----------------------------------------------------------------


def test_console_script_routes() -> None:
    result = run_cli("routes", "examples.app:app")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["METHOD", "PATH", "NAME"]
    rows = [line.split()[:4] for line in lines[1:]]
    assert ["POST", "/items", "create_item", "examples.app.create_item"] in rows
    assert len(lines) == 1 + len(example_app.route_table())
    as_json = json.loads(run_cli("routes", "examples.app:app", "--json").stdout)
    assert {(r["method"], r["path"]) for r in as_json} >= {("GET", "/"), ("POST", "/items")}


def test_console_script_openapi_is_deterministic(tmp_path: Path) -> None:
    first = run_cli("openapi", "examples.app:app")
    second = run_cli("openapi", "examples.app:app")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert json.loads(first.stdout) == build_openapi(example_app)
    written = run_cli("openapi", "examples.app:app", "--output", str(tmp_path / "o.json"))
    assert written.returncode == 0
    assert (tmp_path / "o.json").read_text(encoding="utf-8") == first.stdout


def test_console_script_bad_path_has_no_traceback(tmp_path: Path) -> None:
    result = run_cli("routes", "examples.app:nothing_here")
    assert result.returncode == 2
    assert result.stderr == (
        "armature: error: module 'examples.app' has no attribute 'nothing_here'\n"
    )
    (tmp_path / "boom.py").write_text("1 / 0\n")
    result = run_cli("openapi", "boom:app", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "error while importing 'boom': ZeroDivisionError: division by zero" in result.stderr


# -- armature run on real servers ----------------------------------------------------------------


@contextmanager
def _serve(args: list[str], cwd: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [ARMATURE, "run", *args, "--port", str(port)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                output = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"armature run exited with {proc.returncode}:\n{output}")
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail("armature run did not answer within 20 s")
                time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


@pytest.mark.servers
def test_run_uvicorn_serves_the_example_app() -> None:
    with _serve(["examples.app:app", "--server", "uvicorn"], ROOT) as url:
        response = httpx.get(url + "/hello", params={"name": "cli"}, timeout=5)
        assert response.text == "Hello, cli!"
        assert httpx.get(url + "/items/1", timeout=5).json()["name"] == "hammer"


@pytest.mark.servers
@pytest.mark.parametrize("server", ["granian", "uvicorn", "hypercorn"])
def test_run_a_factory_from_the_current_directory(server: str, project: Path) -> None:
    with _serve(["cliapp:create", "--factory", "--server", server], project) as url:
        assert httpx.get(url + "/ping", timeout=5).json() == {"ok": True}
