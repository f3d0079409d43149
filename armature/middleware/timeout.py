"""``TimeoutMiddleware``: a deadline for each http request, enforced with an anyio cancel scope."""

from __future__ import annotations

import logging
import math

import anyio

from armature.middleware._security_common import send_problem
from armature.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ResponseTimeout", "TimeoutMiddleware"]

logger = logging.getLogger("armature.error")


class ResponseTimeout(TimeoutError):
    """The deadline passed after the response had started: the connection has to be dropped."""


class TimeoutMiddleware:
    """Cancel a request that is not done within ``timeout`` seconds.

    The whole app call runs in an anyio cancel scope with that deadline (asyncio and trio). When
    it expires:

    - before the response started, the handler is cancelled and the client gets a 504
      problem+json;
    - after it started (a slow stream), no clean reply is possible any more: the handler is
      cancelled and :class:`ResponseTimeout` is raised so the server drops the connection instead
      of passing a truncated body off as complete.

    Once the response is complete the deadline is lifted, so background tasks that run after the
    body is sent are not cut short. Websocket and lifespan scopes pass through untouched. For
    long-lived streams (server-sent events) put the middleware on the routes that need it rather
    than on the whole app.

    Args:
        app: The wrapped ASGI app.
        timeout: The deadline in seconds.

    Raises:
        ValueError: ``timeout`` is not a positive number.
    """

    __slots__ = ("app", "timeout")

    def __init__(self, app: ASGIApp, timeout: float = 30.0) -> None:
        if not timeout > 0 or math.isinf(timeout):
            raise ValueError("timeout must be a positive, finite number of seconds")
        self.app = app
        self.timeout = float(timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = completed = False
        cancel_scope = anyio.CancelScope(deadline=anyio.current_time() + self.timeout)

        async def tracking_send(message: Message) -> None:
            nonlocal started, completed
            kind = message["type"]
            if kind == "http.response.start":
                started = True
            elif (
                kind == "http.response.body" and not message.get("more_body", False)
            ) or kind == "http.response.pathsend":
                completed = True
            await send(message)
            if completed:
                # NOTE: the response is out; what follows (background tasks) has no deadline.
                cancel_scope.deadline = math.inf

        with cancel_scope:
            await self.app(scope, receive, tracking_send)
        if completed or not cancel_scope.cancel_called:
            return
        method, path = scope.get("method"), scope.get("path")
        if not started:
            logger.warning("%s %s timed out after %ss", method, path, self.timeout)
            await send_problem(
                scope, send, 504, f"The request took longer than {self.timeout:g} seconds"
            )
            return
        raise ResponseTimeout(
            f"{method} {path} timed out after {self.timeout:g}s with its response under way"
        )
