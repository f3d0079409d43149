"""Shared by the database extras: settle a request's unit of work when its response starts.

``armature_ext.diesel`` (an injected transaction) and ``armature_ext.seaorm`` (a
``commit_on_success`` session) both commit just before the status line goes out when the status
is below 400, and roll back otherwise, so the client never sees a success that was not
committed. A failing ``COMMIT`` drops the handler's response and answers with the error instead,
through the app's exception handlers when the app is known.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

import orjson

from armature.datastructures import encode_header
from armature.exceptions import HTTPException, problem_body
from armature.types import Message, Receive, Scope, Send

__all__ = ["ResponseStartUnit"]

_PROBLEM = b"application/problem+json"


class ResponseStartUnit:
    """Per-request state of a middleware that ends a unit of work when the response starts.

    Subclasses implement :meth:`_commit` (may raise) and :meth:`_rollback` (never raises) for
    their kind of unit, and set ``unit`` when the request opens one.

    Args:
        scope: The http scope.
        receive: The ASGI receive callable.
        send: The server's send callable.
        app: The armature app whose exception handlers render a failed commit, if known.
        logger: Where a failed commit is logged when there is no app to render it.
    """

    __slots__ = ("_app", "_drop", "_logger", "_receive", "_scope", "_send", "unit")

    def __init__(
        self, scope: Scope, receive: Receive, send: Send, app: Any, logger: logging.Logger
    ) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        self._app = app
        self._logger = logger
        self._drop = False
        # The unit whose commit/rollback is still to be decided (None once it is).
        self.unit: Any = None

    async def _commit(self, unit: Any) -> None:
        raise NotImplementedError

    async def _rollback(self, unit: Any) -> None:
        raise NotImplementedError

    async def rollback(self) -> None:
        """Roll the open unit back (a no-op when it already ended)."""
        unit, self.unit = self.unit, None
        if unit is not None:
            await self._rollback(unit)

    def send(self, message: Message) -> Awaitable[None]:
        """The send callable the app below the middleware uses."""
        # PERF: a plain function handing back the server's own awaitable: a request that opened
        # no unit pays two attribute reads per message, no extra coroutine.
        if self.unit is None and not self._drop:
            return self._send(message)
        return self._send_settling(message)

    async def _send_settling(self, message: Message) -> None:
        if self._drop:
            return
        unit = self.unit
        if unit is not None and message["type"] == "http.response.start":
            self.unit = None
            if message["status"] < 400:
                try:
                    await self._commit(unit)
                except Exception as exc:
                    # NOTE: the client must not see a success that was not committed: answer
                    # with the error and drop the response the handler produced.
                    self._drop = True
                    await self._render(exc)
                    return
            else:
                await self._rollback(unit)
        await self._send(message)

    async def _render(self, exc: Exception) -> None:
        if self._app is not None:
            await self._app.handle_exception(exc, self._scope, self._receive, self._send)
            return
        path = self._scope.get("path")
        headers: list[tuple[bytes, bytes]] = []
        if isinstance(exc, HTTPException):
            status = exc.status_code
            body = orjson.dumps(exc.to_problem(instance=path))
            headers = [encode_header(k, v) for k, v in exc.headers.items()] if exc.headers else []
        else:
            self._logger.error(
                "COMMIT failed for %s %s", self._scope.get("method"), path, exc_info=exc
            )
            status = 500
            body = problem_body(500, "The server failed to handle this request", instance=path)
        await self._send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", _PROBLEM),
                    (b"content-length", b"%d" % len(body)),
                    *headers,
                ],
            }
        )
        await self._send({"type": "http.response.body", "body": body})
