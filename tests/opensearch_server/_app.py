"""The fake OpenSearch as a raw ASGI application, validating every exchange against the spec."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from . import _api_indices  # noqa: F401  (registers the index handlers)
from ._api import HANDLERS, State
from ._core import ApiError
from ._spec import SpecValidator, SpecViolation

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request the fake served (for assertions on what the client sent)."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    operation: str
    status: int


class FakeOpenSearch:
    """ASGI app that behaves like a one-node OpenSearch cluster for the endpoints it implements.

    Every request is validated against the OpenSearch API specification (method + path, query
    parameters, body) and every response against the response schema of its status. Problems
    are collected in :attr:`violations`; a request violation is answered with 400. Test fixtures
    fail the test when :attr:`violations` is not empty.
    """

    def __init__(self) -> None:
        self.spec = SpecValidator.load()
        self.state = State()
        self.violations: list[str] = []
        self.exchanges: list[Exchange] = []
        self.lock = threading.Lock()

    def reset(self) -> None:
        """Forget all indices, templates, recorded exchanges and violations."""
        with self.lock:
            self.state = State()
            self.violations.clear()
            self.exchanges.clear()

    def reject_next_bulk_items(self, count: int) -> None:
        """Answer the next ``count`` bulk items with 429 (back-pressure) without executing them."""
        with self.lock:
            self.state.reject_bulk_items = count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if headers.get("content-encoding") == "gzip" and body:
            body = gzip.decompress(body)
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode().split("?", 1)[0]
        query = tuple(parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True))
        with self.lock:
            status, payload = self._handle(
                scope["method"], path, query, headers.get("content-type"), body
            )
        data = b"" if payload is None else orjson.dumps(payload)
        response_headers = [
            (b"content-type", b"application/json; charset=UTF-8"),
            (b"content-length", b"0" if scope["method"] == "HEAD" else str(len(data)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else data}
        )

    def _handle(
        self,
        method: str,
        path: str,
        query: tuple[tuple[str, str], ...],
        content_type: str | None,
        body: bytes,
    ) -> tuple[int, Any]:
        try:
            op = self.spec.validate_request(method, path, query, content_type, body)
        except SpecViolation as exc:
            self.violations.append(f"request: {exc}")
            error = ApiError(400, "spec_violation", str(exc))
            return 400, error.body()
        _, path_params = self.spec.match(method, path)
        path_params["_group"] = op.group
        params = dict(query)
        handler = HANDLERS.get(op.group)
        if handler is None:
            message = f"{op.id} ({method} {path}) is not implemented by the fake OpenSearch"
            self.violations.append(message)
            return 400, ApiError(400, "fake_server_unsupported", message).body()
        decoded: Any = body
        if body and op.group not in ("bulk", "msearch"):
            decoded = orjson.loads(body)
        elif not body:
            decoded = None
        try:
            status, payload = handler(self.state, path_params, params, decoded)
        except ApiError as exc:
            status, payload = exc.status, (None if method == "HEAD" else exc.body())
        if payload is not None:
            try:
                self.spec.validate_response(op, status, "application/json", orjson.dumps(payload))
            except SpecViolation as exc:
                self.violations.append(f"response: {exc}")
        self.exchanges.append(Exchange(method, path, query, op.id, status))
        return status, payload
