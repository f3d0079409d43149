"""Health checks: ``/health``, ``/health/live`` and ``/health/ready`` with pluggable indicators.

An indicator is a callable (sync or async) returning ``True``/a mapping of details when healthy,
or returning ``False``/raising when not. Each runs with its own timeout, all of them concurrently.
``/health/ready`` answers 503 problem+json with every indicator's status when a readiness
indicator fails, so an orchestrator stops sending traffic; ``/health/live`` only runs liveness
indicators (by default none, so it answers as long as the process serves requests).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import anyio.to_thread
import orjson

from armature.responses import Response
from armature.routing.routes import Router

__all__ = ["HealthCheck", "Indicator"]

IndicatorResult = bool | Mapping[str, Any] | None
IndicatorFunc = Callable[[], IndicatorResult | Awaitable[IndicatorResult]]


@dataclass(slots=True)
class Indicator:
    """One named check."""

    name: str
    check: IndicatorFunc
    kind: Literal["ready", "live", "both"] = "ready"
    timeout: float = 2.0


class HealthCheck:
    """A set of indicators and the routes that report them.

    Args:
        prefix: Where the routes live (``/health``).
        timeout: Default per-indicator timeout in seconds.
    """

    def __init__(self, prefix: str = "/health", *, timeout: float = 2.0) -> None:
        self.prefix = prefix
        self.timeout = timeout
        self.indicators: list[Indicator] = []

    def add(
        self,
        name: str,
        check: IndicatorFunc,
        *,
        kind: Literal["ready", "live", "both"] = "ready",
        timeout: float | None = None,
    ) -> None:
        """Register an indicator.

        Args:
            name: Its name in reports.
            check: Sync or async callable; healthy unless it returns False or raises.
            kind: ``ready``, ``live`` or ``both``.
            timeout: Seconds before it counts as failed (default: the check's timeout).
        """
        if any(i.name == name for i in self.indicators):
            raise ValueError(f"health indicator {name!r} is already registered")
        self.indicators.append(Indicator(name, check, kind, timeout or self.timeout))

    def indicator(
        self, name: str, *, kind: Literal["ready", "live", "both"] = "ready"
    ) -> Callable[[IndicatorFunc], IndicatorFunc]:
        """Decorator form of :meth:`add`."""

        def decorator(func: IndicatorFunc) -> IndicatorFunc:
            self.add(name, func, kind=kind)
            return func

        return decorator

    async def _run_one(self, indicator: Indicator) -> dict[str, Any]:
        started = time.perf_counter()
        report: dict[str, Any] = {"status": "up"}
        try:
            with anyio.fail_after(indicator.timeout):
                if inspect.iscoroutinefunction(indicator.check):
                    outcome = await indicator.check()
                else:
                    outcome = await anyio.to_thread.run_sync(
                        indicator.check, abandon_on_cancel=True
                    )
                    if inspect.isawaitable(outcome):
                        outcome = await outcome
            if outcome is False:
                report["status"] = "down"
            elif isinstance(outcome, Mapping):
                report["details"] = dict(outcome)
                if outcome.get("status") in ("down", "error", False):
                    report["status"] = "down"
        except TimeoutError:
            report = {"status": "down", "error": f"timed out after {indicator.timeout}s"}
        except Exception as exc:
            report = {"status": "down", "error": f"{type(exc).__name__}: {exc}"}
        report["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
        return report

    async def run(self, kinds: tuple[str, ...]) -> dict[str, Any]:
        """Run the indicators of the given kinds concurrently and report.

        Returns:
            ``{"status": "up"|"down", "checks": {name: {...}}}``.
        """
        selected = [i for i in self.indicators if i.kind in kinds or i.kind == "both"]
        results: dict[str, dict[str, Any]] = {}

        async def one(indicator: Indicator) -> None:
            results[indicator.name] = await self._run_one(indicator)

        async with anyio.create_task_group() as group:
            for indicator in selected:
                group.start_soon(one, indicator)
        status = "up" if all(r["status"] == "up" for r in results.values()) else "down"
        return {"status": status, "checks": dict(sorted(results.items()))}

    @staticmethod
    def _respond(report: dict[str, Any]) -> Response:
        if report["status"] == "up":
            return Response(orjson.dumps(report), 200, media_type="application/json")
        # NOTE: RFC 9457 reserves "status" for the HTTP status; the health verdict is "health".
        problem = {
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": "a health indicator is down",
            "health": report["status"],
            "checks": report["checks"],
        }
        return Response(
            orjson.dumps(problem),
            503,
            headers={"cache-control": "no-store"},
            media_type="application/problem+json",
        )

    def router(self) -> Router:
        """The three routes, ready for ``app.include_router``."""
        router = Router(prefix=self.prefix, tags=["health"])

        @router.get("/", name="health")
        async def health() -> Response:
            return self._respond(await self.run(("ready", "live")))

        @router.get("/live", name="health_live")
        async def live() -> Response:
            return self._respond(await self.run(("live",)))

        @router.get("/ready", name="health_ready")
        async def ready() -> Response:
            return self._respond(await self.run(("ready",)))

        return router
