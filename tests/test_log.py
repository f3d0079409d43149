"""Logging: formats, environment configuration, request ids, and the access log."""

from __future__ import annotations

import io
import json
import logging

import pytest

from armature import App
from armature.log import AccessLogMiddleware, configure_logging, request_id_var
from armature.testing import TestClient


@pytest.fixture
def stream() -> io.StringIO:
    buffer = io.StringIO()
    yield buffer
    logger = logging.getLogger("armature")
    for handler in list(logger.handlers):
        if getattr(handler, "_armature", False):
            logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


def test_json_lines_with_request_id_and_extras(stream: io.StringIO) -> None:
    configure_logging("DEBUG", "json", stream=stream)
    token = request_id_var.set("req-1")
    try:
        logging.getLogger("armature.test").info("hello %s", "world", extra={"user": 7})
    finally:
        request_id_var.reset(token)
    entry = json.loads(stream.getvalue().strip())
    assert entry["message"] == "hello world"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "armature.test"
    assert entry["request_id"] == "req-1"
    assert entry["user"] == 7
    assert entry["ts"].endswith("+00:00")


def test_environment_and_formats(stream: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARMATURE_LOG_LEVEL", "warning")
    monkeypatch.setenv("ARMATURE_LOG_FORMAT", "compact")
    configure_logging(stream=stream)
    log = logging.getLogger("armature.env")
    log.info("hidden")
    log.warning("shown")
    assert stream.getvalue() == "W armature.env shown\n"
    configure_logging("INFO", "pretty", stream=stream)  # reconfigure at run time
    log.info("pretty", extra={"k": 1})
    assert "INFO     armature.env: pretty  k=1" in stream.getvalue()
    with pytest.raises(ValueError):
        configure_logging("LOUD")
    with pytest.raises(ValueError):
        configure_logging("INFO", "xml")  # type: ignore[arg-type]


def test_access_log(stream: io.StringIO) -> None:
    configure_logging("INFO", "json", stream=stream)
    app = App()
    app.add_middleware(AccessLogMiddleware)

    @app.get("/items/{i:int}")
    async def item(i: int) -> dict:
        return {"i": i}

    with TestClient(app) as client:
        client.get("/items/3")
        client.get("/missing")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["method"], e["path"], e["status"]) for e in lines] == [
        ("GET", "/items/3", 200),
        ("GET", "/missing", 404),
    ]
    assert all(e["duration_ms"] >= 0 for e in lines)


def test_access_log_disabled_passes_through(stream: io.StringIO) -> None:
    configure_logging("WARNING", "json", stream=stream)
    app = App()
    app.add_middleware(AccessLogMiddleware)

    @app.get("/")
    async def index() -> str:
        return "ok"

    with TestClient(app) as client:
        assert client.get("/").text == "ok"
    assert stream.getvalue() == ""
