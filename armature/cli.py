"""The ``armature`` command: serve an app, list its routes, print its OpenAPI document, run ``db``.

```sh
armature run app:app                      # granian on 127.0.0.1:8000
armature run app:app --server uvicorn --port 9000 --reload
armature routes app:app [--json]
armature openapi app:app [--output openapi.json]
armature db upgrade                       # with armature[seaorm]
```

Apps are named ``module:attribute`` (the attribute may be dotted, ``module:container.app``; with
``--factory`` it is called to build the app). The current directory is importable, as with
uvicorn. A module that does not import, a missing attribute or an object that is not an ASGI app is
reported in one line with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["CLIError", "build_parser", "load_app", "main", "routes_table", "server_command"]

SERVERS = ("granian", "uvicorn", "hypercorn")
DB_MODULES = ("armature_ext.seaorm.cli", "armature_ext.seaorm")
"""Where ``armature db`` looks for the seaorm commands, in order."""


class CLIError(Exception):
    """A problem reported in one line, without a traceback.

    Args:
        message: What went wrong and, where possible, what to do.
        status: The process exit status (2: bad usage or app path, 1: the command failed).
    """

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


# -- loading apps --------------------------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError):
        return text  # NOTE: its message already names the file and line.
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        text += f" (at {last.filename}:{last.lineno})"
    return text


def _add_cwd_to_path() -> None:
    # NOTE: as `uvicorn` and `python -m` do: the project directory is importable.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def is_asgi_app(obj: Any) -> bool:
    """Tell whether ``obj`` looks like an ASGI 3 application: ``await obj(scope, receive, send)``.

    Args:
        obj: Any object.

    Returns:
        True for a callable (not a class) that accepts three positional arguments.
    """
    if inspect.isclass(obj) or not callable(obj):
        return False
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return True  # NOTE: a builtin or C callable: give it the benefit of the doubt.
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    required = [p for p in positional if p.default is p.empty]
    varargs = any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values())
    return len(required) <= 3 and (len(positional) >= 3 or varargs)


def _kind(obj: Any) -> str:
    if inspect.isclass(obj):
        return f"the class {obj.__qualname__}"
    if inspect.ismodule(obj):
        return f"the module {obj.__name__}"
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        return f"the function {obj.__qualname__}"
    name = type(obj).__qualname__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _takes_no_arguments(obj: Any) -> bool:
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return False
    return all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in signature.parameters.values()
    )


def import_target(target: str) -> Any:
    """Import ``module:attribute`` (attribute may be dotted) and return the attribute.

    Args:
        target: The import path.

    Returns:
        The object.

    Raises:
        CLIError: A malformed path, a module that does not import or a missing attribute.
    """
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise CLIError(f"expected an app as 'module:attribute' (like 'main:app'), got {target!r}")
    _add_cwd_to_path()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise CLIError(
                f"could not import {module_name!r}: there is no module named {missing!r} "
                f"(searched the current directory {os.getcwd()} and sys.path)"
            ) from None
        raise CLIError(f"error while importing {module_name!r}: {_describe(exc)}") from None
    except Exception as exc:
        raise CLIError(f"error while importing {module_name!r}: {_describe(exc)}") from None
    obj: Any = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CLIError(f"module {module_name!r} has no attribute {attribute!r}") from None
    return obj


def load_app(target: str, *, factory: bool = False, armature_only: bool = False) -> Any:
    """Import an ASGI app from ``module:attribute``.

    Args:
        target: The import path.
        factory: Call the attribute (with no arguments) to build the app.
        armature_only: Require an :class:`armature.App` (for ``routes`` and ``openapi``).

    Returns:
        The application.

    Raises:
        CLIError: The app cannot be imported or built, or is not an (armature) ASGI app.
    """
    from armature.app import App

    obj = import_target(target)
    if factory:
        if not callable(obj):
            raise CLIError(f"{target!r} is not callable; --factory needs a function")
        try:
            obj = obj()
        except Exception as exc:
            raise CLIError(f"the factory {target!r} failed: {_describe(exc)}") from None
    if not is_asgi_app(obj):
        hint = ""
        if not factory and callable(obj) and _takes_no_arguments(obj):
            hint = "; it takes no arguments: pass --factory to call it"
        made = "the factory returned" if factory else "it is"
        raise CLIError(f"{target!r} is not an ASGI application ({made} {_kind(obj)}){hint}")
    if armature_only and not isinstance(obj, App):
        raise CLIError(
            f"{target!r} is an ASGI application but not an armature App "
            f"({type(obj).__module__}.{type(obj).__qualname__})"
        )
    return obj


# -- run -----------------------------------------------------------------------------------------


def _server_env() -> dict[str, str]:
    paths = [os.getcwd(), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def server_command(args: argparse.Namespace) -> list[str]:
    """The command line ``armature run`` executes for granian or hypercorn.

    Args:
        args: Parsed ``run`` arguments.

    Returns:
        The argv, starting with this Python interpreter.

    Raises:
        CLIError: Called for uvicorn (which runs through ``uvicorn.run``).
    """
    python = sys.executable
    if args.server == "granian":
        command = [python, "-m", "granian", "--interface", "asgi"]
        command += ["--host", args.host, "--port", str(args.port), "--workers", str(args.workers)]
        if args.reload:
            command.append("--reload")
        if args.factory:
            command.append("--factory")
        return [*command, args.app]
    if args.server == "hypercorn":
        host = f"[{args.host}]" if ":" in args.host else args.host
        command = [python, "-m", "hypercorn", "--bind", f"{host}:{args.port}"]
        command += ["--workers", str(args.workers)]
        if args.reload:
            command.append("--reload")
        # NOTE: hypercorn evaluates the attribute part, so a factory is called as `module:make()`.
        return [*command, args.app + "()" if args.factory else args.app]
    raise CLIError(f"{args.server} is started through its Python API, not a command line")


def _run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise CLIError("--workers must be at least 1")
    if importlib.util.find_spec(args.server) is None:
        raise CLIError(f"{args.server} is not installed: pip install 'armature[{args.server}]'")
    # NOTE: import once here, so a bad path is one clear line instead of a server traceback. A
    # factory is only checked for being callable: the server calls it.
    if args.factory:
        if not callable(import_target(args.app)):
            raise CLIError(f"{args.app!r} is not callable; --factory needs a function")
    else:
        load_app(args.app)
    if args.server == "uvicorn":
        import uvicorn

        uvicorn.run(
            args.app,
            host=args.host,
            port=args.port,
            workers=args.workers if args.workers > 1 else None,
            reload=args.reload,
            factory=args.factory,
        )
        return 0
    command = server_command(args)
    sys.stdout.flush()
    sys.stderr.flush()
    # NOTE: exec, not a child process: signals (Ctrl-C, SIGTERM) reach the server directly.
    os.execve(command[0], command, _server_env())
    return 0  # pragma: no cover - execve does not return


# -- routes --------------------------------------------------------------------------------------

_COLUMNS = ("method", "path", "name", "handler", "middleware", "guards", "interceptors")


def _label(obj: Any) -> str:
    name = getattr(obj, "name", None)
    if isinstance(name, str) and name:
        return name
    if inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismethod(obj):
        return str(obj.__qualname__)
    return type(obj).__qualname__


def routes_table(app: Any) -> list[dict[str, Any]]:
    """The rows of ``armature routes``: the app's route table plus guard and interceptor names.

    Args:
        app: An armature App.

    Returns:
        One JSON-ready dict per method of every route, then the mounts.
    """
    rows = []
    for row in app.route_table():
        extra = row.get("extra") or {}
        rows.append(
            {
                "method": row["method"],
                "path": row["path"],
                "name": row["name"],
                "handler": row["handler"],
                "middleware": [str(m) for m in row.get("middleware", [])],
                "guards": [_label(g) for g in extra.get("guards", ())],
                "interceptors": [_label(i) for i in extra.get("interceptors", ())],
            }
        )
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Align route rows in columns under upper-case headers.

    Args:
        rows: Rows from :func:`routes_table`.

    Returns:
        The text, one line per row, ending with a newline.
    """
    cells = [[column.upper() for column in _COLUMNS]]
    for row in rows:
        line = []
        for column in _COLUMNS:
            value = row[column]
            if isinstance(value, list):
                value = ", ".join(value) if value else "-"
            line.append(str(value) if value not in (None, "") else "-")
        cells.append(line)
    widths = [max(len(line[i]) for line in cells) for i in range(len(_COLUMNS))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        + "\n"
        for line in cells
    )


def _routes(args: argparse.Namespace) -> int:
    app = load_app(args.app, factory=args.factory, armature_only=True)
    try:
        rows = routes_table(app)
    except Exception as exc:
        raise CLIError(f"could not compile {args.app!r}: {_describe(exc)}", 1) from None
    if args.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        sys.stdout.write(format_table(rows))
    return 0


# -- openapi -------------------------------------------------------------------------------------


def _openapi(args: argparse.Namespace) -> int:
    from armature.openapi import build_openapi

    app = load_app(args.app, factory=args.factory, armature_only=True)
    try:
        document = build_openapi(app)
    except Exception as exc:
        raise CLIError(
            f"could not build the document of {args.app!r}: {_describe(exc)}", 1
        ) from None
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    output = Path(args.output)
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"cannot write {output}: {exc.strerror or exc}", 1) from None
    print(f"wrote {output}", file=sys.stderr)
    return 0


# -- db ------------------------------------------------------------------------------------------


def _db(db_args: Sequence[str]) -> int:
    module = None
    for name in DB_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise CLIError(
                f"'armature db' needs the seaorm extra (no module named {exc.name!r}): "
                "pip install 'armature[seaorm]'"
            ) from None
        if callable(getattr(module, "main", None)) or callable(
            getattr(module, "build_parser", None)
        ):
            break
        module = None
    if module is None:
        raise CLIError("'armature db' needs the seaorm extra: pip install 'armature[seaorm]'")
    argv = ["db", *db_args]
    build: Callable[..., argparse.ArgumentParser] | None = getattr(module, "build_parser", None)
    run: Callable[[argparse.Namespace], int] | None = getattr(module, "run", None)
    if build is not None and run is not None:
        try:
            parser = build(prog="armature")
        except TypeError:
            parser = build()
        return int(run(parser.parse_args(argv)) or 0)
    main_func: Callable[[list[str]], int | None] = module.main
    return int(main_func(argv) or 0)


# -- entry point ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``armature`` argument parser (each sub-command sets ``handler``).

    Returns:
        The parser.
    """
    from armature import __version__

    parser = argparse.ArgumentParser(
        prog="armature", description="Serve and inspect armature applications."
    )
    parser.add_argument("--version", action="version", version=f"armature {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="<command>", required=True)

    def app_argument(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("app", help="the app as 'module:attribute', e.g. main:app")
        sub.add_argument(
            "--factory", action="store_true", help="call the attribute to build the app"
        )

    run = commands.add_parser("run", help="serve an app with granian, uvicorn or hypercorn")
    app_argument(run)
    run.add_argument("--server", choices=SERVERS, default="granian", help="default: granian")
    run.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    run.add_argument("--port", type=int, default=8000, help="default: 8000")
    run.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    run.add_argument("--reload", action="store_true", help="restart when files change")
    run.set_defaults(handler=_run)

    routes = commands.add_parser("routes", help="print the compiled route table")
    app_argument(routes)
    routes.add_argument("--json", action="store_true", help="print JSON instead of a table")
    routes.set_defaults(handler=_routes)

    openapi = commands.add_parser("openapi", help="print the OpenAPI 3.1 document")
    app_argument(openapi)
    openapi.add_argument("-o", "--output", help="write to this file instead of stdout")
    openapi.set_defaults(handler=_openapi)

    db = commands.add_parser(
        "db",
        help="migrations and seeds (armature[seaorm]); 'armature db --help' for more",
        add_help=False,
    )
    # NOTE: listed for --help only; main() hands everything after "db" to the seaorm parser.
    db.add_argument("db_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``armature`` command.

    Args:
        argv: The arguments (default ``sys.argv[1:]``).

    Returns:
        The exit status (argparse exits by itself on usage errors and ``--help``).
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        if arguments[:1] == ["db"]:
            return _db(arguments[1:])
        args = build_parser().parse_args(arguments)
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except CLIError as exc:
        print(f"armature: error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
