"""The in-process benchmark: CPU time per request of armature and peers, relative to raw ASGI.

Usage::

    python loadtests/bench.py                    # raw + armature (what `make bench` runs)
    python loadtests/bench.py --with starlette   # add apps by name
    python loadtests/bench.py --peers            # add every importable peer
    python loadtests/bench.py --quick            # 1 repetition of ~0.02 s per case (tests)
    python loadtests/bench.py --json out.json    # also write the results as JSON

Each app runs in its own process on a uvloop event loop after its lifespan startup; every case is
timed for ~0.2 s of requests, 5 repetitions interleaved across apps, and the median is reported.
Every response is checked (status, content type, body) before and after timing: a wrong response
fails the run (exit status 1). ``--strict`` also fails (exit status 3) when armature is over a
budget. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # NOTE: run as a script, `loadtests` must be importable
    sys.path.insert(0, str(ROOT))

from loadtests.apps import APPS, BASELINE, DEFAULT_APPS, PEER_APPS, TARGET  # noqa: E402
from loadtests.cases import CASES, Case  # noqa: E402
from loadtests.harness import worker_main  # noqa: E402

__all__ = ["BenchError", "Results", "main", "run"]

REPETITIONS = 5
TARGET_SECONDS = 0.2
QUICK_REPETITIONS = 1
QUICK_TARGET_SECONDS = 0.02
COMMAND_TIMEOUT = 120.0
MAX_FAILURES_SHOWN = 4


class BenchError(RuntimeError):
    """The run failed: a wrong response, a crashed app or a harness problem."""


def log(message: str) -> None:
    """Progress goes to stderr; the table goes to stdout."""
    print(message, file=sys.stderr, flush=True)


class Worker:
    """The parent's handle on one app's worker process.

    Args:
        name: The app name.
        module: The app module.
        use_uvloop: Run the app on uvloop.
        extra_paths: Directories appended to the worker's ``sys.path``.
    """

    def __init__(
        self, name: str, module: str, use_uvloop: bool, extra_paths: tuple[str, ...] = ()
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.name = name
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=worker_main,
            args=(child, name, module, use_uvloop, extra_paths),
            name=f"bench-{name}",
            daemon=True,
        )
        self.process.start()
        child.close()
        self.info: dict[str, Any] = {}
        self.unavailable: str | None = None

    def wait_ready(self) -> None:
        """Wait for the import result: sets ``info`` or ``unavailable``."""
        kind, payload = self._recv(COMMAND_TIMEOUT)
        if kind == "ready":
            self.info = payload
        else:
            self.unavailable = str(payload)
            self.process.join(10)

    def _recv(self, timeout: float) -> tuple[str, Any]:
        if not self.conn.poll(timeout):
            self.process.kill()
            raise BenchError(f"[{self.name}] worker did not answer within {timeout:.0f} s")
        try:
            kind, payload = self.conn.recv()
        except EOFError:
            raise BenchError(
                f"[{self.name}] worker died (exit code {self.process.exitcode})"
            ) from None
        return str(kind), payload

    def call(self, command: str, *args: Any) -> Any:
        """Run ``command`` in the worker and return its result.

        Raises:
            BenchError: On a wrong response or any error in the worker.
        """
        self.conn.send((command, *args))
        kind, payload = self._recv(COMMAND_TIMEOUT)
        if kind == "ok":
            return payload
        if kind == "mismatch":
            raise BenchError(f"WRONG RESPONSE {payload}")
        raise BenchError(f"[{self.name}] {command} {' '.join(map(str, args))} failed:\n{payload}")

    def stop(self) -> None:
        """Shut the app down (lifespan shutdown) and end the process."""
        if self.process.is_alive() and self.unavailable is None:
            try:
                self.call("stop")
            except (BenchError, OSError):
                pass
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


@dataclass
class Results:
    """Everything a run measured."""

    apps: list[str]
    cases: list[Case]
    runs: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # case -> app -> ns
    info: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    checks: int = 0
    repetitions: int = REPETITIONS
    target_seconds: float = TARGET_SECONDS
    seconds: float = 0.0

    def median_us(self, case_id: str, app: str) -> float | None:
        """Median µs per request, or None when not measured."""
        runs = self.runs.get(case_id, {}).get(app)
        return statistics.median(runs) / 1000 if runs else None

    def ratio(self, case_id: str, app: str) -> float | None:
        """``app`` time / raw time for the case."""
        value, base = self.median_us(case_id, app), self.median_us(case_id, BASELINE)
        return value / base if value is not None and base else None

    def budget_status(self, case: Case) -> tuple[str, float | None]:
        """Return (``pass``/``over``/``n/a``/``""``, the measured figure the budget limits)."""
        budget = case.budget
        if budget is None:
            return "", None
        if budget.max_ratio is not None:
            figure = self.ratio(case.id, TARGET)
            limit = budget.max_ratio
        else:
            assert budget.relative_to is not None and budget.max_factor is not None
            this = self.median_us(case.id, TARGET)
            other = self.median_us(budget.relative_to, TARGET)
            figure = this / other if this is not None and other else None
            limit = budget.max_factor
        if figure is None:
            return "n/a", None
        return ("pass" if figure <= limit else "over"), figure

    def to_json(self) -> dict[str, Any]:
        """The results as a JSON-serializable dict."""
        rows = []
        for case in self.cases:
            status, figure = self.budget_status(case)
            rows.append(
                {
                    "id": case.id,
                    "label": case.label,
                    "n_routes": case.n_routes,
                    "budget": case.budget.label if case.budget else None,
                    "budget_status": status or None,
                    "budget_figure": figure,
                    "apps": {
                        app: {
                            "us": self.median_us(case.id, app),
                            "ratio": self.ratio(case.id, app),
                            "runs_ns": self.runs.get(case.id, {}).get(app, []),
                        }
                        for app in self.apps
                        if self.runs.get(case.id, {}).get(app)
                    },
                }
            )
        return {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "repetitions": self.repetitions,
            "target_seconds": self.target_seconds,
            "seconds": round(self.seconds, 2),
            "response_checks": self.checks,
            "apps": {app: self.info.get(app, {}) for app in self.apps},
            "skipped": self.skipped,
            "cases": rows,
        }


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def render_table(results: Results) -> str:
    """Render the results as a markdown table."""
    others = [app for app in results.apps if app not in (BASELINE, TARGET)]
    has_target = TARGET in results.apps
    head = ["case", f"{BASELINE} µs"]
    if has_target:
        head += [f"{TARGET} µs", f"{TARGET}/{BASELINE}", "budget", "status"]
    for app in others:
        head += [f"{app} µs", f"{app}/{BASELINE}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for case in results.cases:
        row = [case.label, _fmt(results.median_us(case.id, BASELINE), ".2f")]
        if has_target:
            status, figure = results.budget_status(case)
            mark = {"pass": "pass", "over": "**OVER**"}.get(status, status)
            if case.budget and case.budget.relative_to and figure is not None:
                mark += f" ({figure:.2f}x)"
            row += [
                _fmt(results.median_us(case.id, TARGET), ".2f"),
                _fmt(results.ratio(case.id, TARGET), ".2f", "x"),
                case.budget.label if case.budget else "",
                mark,
            ]
        for app in others:
            row += [
                _fmt(results.median_us(case.id, app), ".2f"),
                _fmt(results.ratio(case.id, app), ".2f", "x"),
            ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _supports(case: Case, info: dict[str, Any]) -> bool:
    if case.id in info.get("skip", {}):
        return False
    return case.feature is None or case.feature in info.get("features", ())


def run(
    app_names: list[str],
    cases: list[Case],
    *,
    repetitions: int = REPETITIONS,
    target_seconds: float = TARGET_SECONDS,
    required: frozenset[str] = frozenset({BASELINE}),
    use_uvloop: bool = True,
    peers_path: str | None = None,
) -> Results:
    """Measure ``cases`` on ``app_names``.

    Args:
        app_names: Apps to measure (the baseline is always included).
        cases: The cases, in table order.
        repetitions: Timed batches per app and case (the median is reported).
        target_seconds: CPU seconds each batch should take.
        required: Apps whose import failure is an error rather than a skip.
        use_uvloop: Run the apps on uvloop.
        peers_path: A directory with peer frameworks installed outside the venv (``uv pip
            install --target``); appended to ``sys.path`` of the non-default apps.

    Returns:
        The results.

    Raises:
        BenchError: On any wrong response, crashed worker or missing required app.
    """
    started = time.perf_counter()
    names = [BASELINE, *(name for name in app_names if name != BASELINE)]
    workers = {
        name: Worker(
            name,
            APPS[name].module,
            use_uvloop,
            (peers_path,) if peers_path and name not in DEFAULT_APPS else (),
        )
        for name in names
    }
    results = Results(apps=[], cases=cases, repetitions=repetitions, target_seconds=target_seconds)
    try:
        for name, worker in workers.items():
            worker.wait_ready()
            if worker.unavailable is not None:
                if name in required:
                    raise BenchError(f"app {name!r} is required but failed to import: "
                                     f"{worker.unavailable}")  # fmt: skip
                log(f"SKIP {name}: cannot import {APPS[name].module} ({worker.unavailable})")
                results.skipped[name] = worker.unavailable
            else:
                results.apps.append(name)
                results.info[name] = worker.info
        active = {name: workers[name] for name in results.apps}
        plan = [
            (case, name)
            for case in cases
            for name, worker in active.items()
            if _supports(case, worker.info)
        ]

        def check_all(when: str) -> None:
            failures = []
            for case, name in plan:
                try:
                    active[name].call("check", case.id)
                    results.checks += 1
                except BenchError as exc:
                    failures.append(str(exc))
            if failures:
                shown = "\n".join(failures[:MAX_FAILURES_SHOWN])
                more = len(failures) - MAX_FAILURES_SHOWN
                raise BenchError(
                    f"{len(failures)} response check(s) failed {when} timing:\n{shown}"
                    + (f"\n... and {more} more" if more > 0 else "")
                )
            log(f"checked {len(plan)} app/case pairs {when} timing: all responses correct")

        check_all("before")
        for case, name in plan:
            active[name].call("calibrate", case.id, target_seconds)
        for rep in range(repetitions):
            log(f"repetition {rep + 1}/{repetitions}")
            for case in cases:
                # NOTE: rotate the app order each repetition so no app always runs first.
                order = (
                    results.apps[rep % len(results.apps) :]
                    + results.apps[: rep % len(results.apps)]
                )
                for name in order:
                    if _supports(case, active[name].info):
                        ns = active[name].call("measure", case.id)
                        results.runs.setdefault(case.id, {}).setdefault(name, []).append(ns)
        check_all("after")
    finally:
        for worker in workers.values():
            worker.stop()
    results.seconds = time.perf_counter() - started
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="In-process ASGI benchmark: CPU µs per request relative to raw ASGI."
    )
    parser.add_argument("--apps", help="comma-separated apps to run (import failures are errors)")
    parser.add_argument(
        "--with", dest="extra", action="append", default=[], help="add an app (repeatable)"
    )
    parser.add_argument("--peers", action="store_true", help="add every importable peer")
    parser.add_argument(
        "--peers-path",
        default=os.environ.get("ARMATURE_BENCH_PEERS"),
        help="directory holding peers installed with `uv pip install --target` "
        "(default: $ARMATURE_BENCH_PEERS)",
    )
    parser.add_argument("--cases", help="comma-separated case ids (default: all)")
    parser.add_argument("--quick", action="store_true", help="1 repetition, ~0.02 s per case")
    parser.add_argument("--repetitions", type=int, help=f"default {REPETITIONS}")
    parser.add_argument("--seconds", type=float, help=f"per batch, default {TARGET_SECONDS}")
    parser.add_argument("--json", dest="json_path", help="write the results to this file")
    parser.add_argument("--strict", action="store_true", help="exit 3 if over a budget")
    parser.add_argument("--asyncio", action="store_true", help="plain asyncio instead of uvloop")
    parser.add_argument("--list", action="store_true", help="list apps and cases, then exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark from the command line; return the exit status."""
    args = parse_args(argv)
    if args.list:
        print("apps:", ", ".join(APPS))
        for case in CASES.values():
            budget = f"  [{case.budget.label}]" if case.budget else ""
            print(f"  {case.id:14} {case.label}{budget}")
        return 0
    if args.apps:
        names = [n.strip() for n in args.apps.split(",") if n.strip()]
        required = frozenset(names) | {BASELINE}
    else:
        names = list(DEFAULT_APPS)
        required = frozenset({BASELINE})
    for extra in args.extra:
        names += [n.strip() for n in extra.split(",") if n.strip()]
    if args.peers:
        names += list(PEER_APPS)
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in APPS]
    if unknown:
        print(f"unknown app(s): {', '.join(unknown)}; known: {', '.join(APPS)}", file=sys.stderr)
        return 2
    try:
        cases = (
            [CASES[c.strip()] for c in args.cases.split(",") if c.strip()]
            if args.cases
            else list(CASES.values())
        )
    except KeyError as exc:
        print(f"unknown case {exc}; known: {', '.join(CASES)}", file=sys.stderr)
        return 2
    repetitions = args.repetitions or (QUICK_REPETITIONS if args.quick else REPETITIONS)
    target = args.seconds or (QUICK_TARGET_SECONDS if args.quick else TARGET_SECONDS)
    try:
        results = run(
            names,
            cases,
            repetitions=repetitions,
            target_seconds=target,
            required=required,
            use_uvloop=not args.asyncio,
            peers_path=args.peers_path,
        )
    except BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    versions = ", ".join(
        f"{app} {results.info[app].get('version', '')}".strip() for app in results.apps
    )
    loop = results.info[BASELINE].get("loop", "")
    print(
        f"CPU µs per request (median of {repetitions} x ~{target:g} s), Python "
        f"{platform.python_version()}, {loop}; {versions}; "
        f"{results.checks} response checks passed; {results.seconds:.1f} s\n"
    )
    print(render_table(results))
    if results.skipped:
        print("\nskipped: " + "; ".join(f"{k} ({v})" for k, v in results.skipped.items()))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(results.to_json(), indent=2) + "\n")
    over = [c.id for c in results.cases if results.budget_status(c)[0] == "over"]
    if over:
        print(f"\n{TARGET} over budget: {', '.join(over)}")
        if args.strict:
            return 3
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
