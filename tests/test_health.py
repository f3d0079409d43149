"""Health checks: live/ready routes, indicator failures, timeouts and concurrency."""

from __future__ import annotations

import time

import anyio

from armature import App
from armature.health import HealthCheck
from armature.testing import TestClient


def make_app(state: dict[str, bool]) -> App:
    health = HealthCheck(timeout=0.5)

    @health.indicator("database")
    async def database() -> dict:
        if not state["db"]:
            raise ConnectionError("connection refused")
        return {"pool": {"size": 10, "idle": 9}}

    def cache() -> bool:  # sync indicators run in a worker thread
        return state["cache"]

    async def slow() -> bool:
        await anyio.sleep(5)
        return True

    health.add("cache", cache)
    health.add("event_loop", lambda: True, kind="live")
    if state.get("slow"):
        health.add("slow", slow, timeout=0.2)
    app = App()
    app.include_router(health.router())
    return app


def test_all_up() -> None:
    with TestClient(make_app({"db": True, "cache": True})) as client:
        body = client.get("/health").json()
        assert body["status"] == "up"
        assert body["checks"]["database"]["details"] == {"pool": {"size": 10, "idle": 9}}
        assert set(body["checks"]) == {"cache", "database", "event_loop"}
        assert client.get("/health/live").json()["checks"].keys() == {"event_loop"}


def test_ready_fails_with_503_problem_while_live_stays_up() -> None:
    with TestClient(make_app({"db": False, "cache": False})) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.headers["content-type"] == "application/problem+json"
        body = ready.json()
        assert (body["status"], body["health"]) == (503, "down")  # RFC 9457: status is the HTTP one
        assert body["checks"]["database"]["error"] == "ConnectionError: connection refused"
        assert body["checks"]["cache"]["status"] == "down"
        assert client.get("/health/live").status_code == 200


def test_timeouts_are_per_indicator_and_checks_run_concurrently() -> None:
    with TestClient(make_app({"db": True, "cache": True, "slow": True})) as client:
        started = time.monotonic()
        body = client.get("/health/ready").json()
        elapsed = time.monotonic() - started
    assert body["checks"]["slow"] == {
        "status": "down",
        "error": "timed out after 0.2s",
        "duration_ms": body["checks"]["slow"]["duration_ms"],
    }
    assert body["checks"]["database"]["status"] == "up"
    assert elapsed < 4  # the 5 s indicator was cut off, not awaited
