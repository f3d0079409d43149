"""Internals of :mod:`armature.testing`: the ASGI side of in-process websocket sessions.

A :class:`WebSocketConnection` runs one websocket connection of the app as a task, the way a
server would: it offers the ``websocket.http.response`` extension (so a refused handshake can carry
a real HTTP response), queues the client's frames for the app's ``receive`` and the app's frames
for the test. Both queues are unbounded, like socket buffers: neither side ever waits on the other
to send. Nothing here knows about threads; the sync session reaches it through a blocking portal.
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn
from urllib.parse import unquote

import anyio
import httpx
import orjson
from anyio.abc import TaskGroup

from armature._testclient import ClientDisconnected, Options, _is_disconnect
from armature.types import Message, Scope
from armature.websockets import WebSocketDisconnect

__all__ = ["WebSocketConnection", "WebSocketDenied", "open_websocket", "websocket_scope"]

_ASGI = {"version": "3.0", "spec_version": "2.4"}
# NOTE: hop-by-hop and body headers httpx adds to every request; a websocket handshake has none.
_DROPPED_HEADERS = frozenset({b"connection", b"content-length", b"transfer-encoding", b"upgrade"})
_ABNORMAL_CLOSURE = 1006
_INTERNAL_ERROR = 1011


class WebSocketDenied(Exception):
    """The application refused the websocket handshake.

    Args:
        status_code: The HTTP status the client sees (403 when the app closed before accepting).
        headers: The response headers (empty when the app closed before accepting).
        body: The response body, when the app sent a denial response.
    """

    def __init__(
        self, status_code: int, headers: Sequence[tuple[bytes, bytes]] = (), body: bytes = b""
    ) -> None:
        super().__init__(f"websocket handshake refused with HTTP {status_code}")
        self.status_code = status_code
        self.headers = httpx.Headers(list(headers))
        self.body = body

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return orjson.loads(self.body)


def websocket_scope(
    request: httpx.Request,
    options: Options,
    state: Mapping[str, Any],
    subprotocols: Sequence[str],
) -> Scope:
    """Build the ASGI ``websocket`` scope a server would build for a handshake ``request``."""
    url = request.url
    raw_path, _, query_string = url.raw_path.partition(b"?")
    secure = url.scheme in ("https", "wss")
    port = url.port or (443 if secure else 80)
    headers = [
        (name.lower(), value)
        for name, value in request.headers.raw
        if name.lower() not in _DROPPED_HEADERS
    ]
    key = base64.b64encode(os.urandom(16))
    headers += [
        (b"connection", b"upgrade"),
        (b"upgrade", b"websocket"),
        (b"sec-websocket-version", b"13"),
        (b"sec-websocket-key", key),
    ]
    if subprotocols:
        headers.append((b"sec-websocket-protocol", ", ".join(subprotocols).encode("latin-1")))
    return {
        "type": "websocket",
        "asgi": dict(_ASGI),
        "http_version": "1.1",
        "scheme": "wss" if secure else "ws",
        "path": unquote(raw_path.decode("latin-1")),
        "raw_path": raw_path,
        "query_string": query_string,
        "root_path": options.root_path,
        "headers": headers,
        "client": options.client,
        "server": (url.host, port),
        "subprotocols": list(subprotocols),
        "state": dict(state),
        "extensions": {"websocket.http.response": {}},
    }


class WebSocketConnection:
    """One websocket connection between the test and the application, run as a task."""

    __slots__ = (
        "_app_state",
        "_cancel_scope",
        "_client_closed",
        "_close_frame",
        "_denial",
        "_disconnect",
        "_error",
        "_error_reported",
        "_finished",
        "_from_app",
        "_options",
        "_owned_task_group",
        "_scope",
        "_to_app",
        "_to_app_recv",
        "_to_test",
        "accepted_subprotocol",
        "extra_headers",
    )

    def __init__(
        self, options: Options, scope: Scope, owned_task_group: TaskGroup | None = None
    ) -> None:
        self._options = options
        self._scope = scope
        self._owned_task_group = owned_task_group
        self._to_app, self._to_app_recv = anyio.create_memory_object_stream[Message](math.inf)
        self._from_app, self._to_test = anyio.create_memory_object_stream[Message](math.inf)
        self._to_app.send_nowait({"type": "websocket.connect"})
        self._app_state = "connecting"  # NOTE: connecting -> accepted | denying -> closed
        self._denial: dict[str, Any] | None = None
        self._disconnect: Message | None = None
        self._client_closed = False
        self._close_frame: tuple[int, str | None] | None = None
        self._error: Exception | None = None
        self._error_reported = False
        self._finished = anyio.Event()
        self._cancel_scope = anyio.CancelScope()
        self.accepted_subprotocol: str | None = None
        self.extra_headers: list[tuple[bytes, bytes]] = []

    # -- test side -------------------------------------------------------------------------------

    async def connect(self, task_group: TaskGroup) -> None:
        """Run the app in ``task_group`` and wait for it to accept or refuse the handshake.

        Raises:
            WebSocketDenied: The app refused the handshake.
        """
        task_group.start_soon(self._run)
        try:
            message = await self._to_test.receive()
        except anyio.EndOfStream:
            await self._finished.wait()
            self._raise_app_error()
            if self._options.raise_server_exceptions:
                raise RuntimeError(
                    "The ASGI app returned without accepting or refusing the websocket."
                ) from None
            # NOTE: what servers answer when an app fails or returns during the handshake.
            raise WebSocketDenied(500, [], b"Internal Server Error") from None
        kind = message["type"]
        if kind == "websocket.accept":
            return
        if kind == "websocket.close":
            raise WebSocketDenied(403)
        raise WebSocketDenied(message["status"], message["headers"], message["body"])

    def _raise_app_error(self) -> None:
        error = self._error
        if error is not None and not self._error_reported and self._options.raise_server_exceptions:
            self._error_reported = True
            raise error

    async def send(self, message: Message) -> None:
        """Queue a ``websocket.receive`` message for the app.

        Raises:
            RuntimeError: The test already closed the connection.
        """
        if self._client_closed:
            raise RuntimeError("this websocket session is closed")
        self._to_app.send_nowait(message)

    async def receive(self) -> Message:
        """Return the app's next ``websocket.send`` message.

        Raises:
            WebSocketDisconnect: The app closed the connection (its code and reason), or it ended
                without closing (code 1006).
        """
        if self._close_frame is not None:
            raise WebSocketDisconnect(*self._close_frame)
        try:
            message = await self._to_test.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            if self._client_closed:
                raise RuntimeError("this websocket session is closed") from None
            await self._finished.wait()
            self._raise_app_error()
            # NOTE: an app that fails is closed with 1011 by servers; one that just returns, 1006.
            code = _INTERNAL_ERROR if self._error is not None else _ABNORMAL_CLOSURE
            self._close_frame = (code, None)
            raise WebSocketDisconnect(code) from None
        if message["type"] == "websocket.close":
            self._close_frame = (message.get("code", 1000), message.get("reason"))
            raise WebSocketDisconnect(*self._close_frame)
        return message

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection from the client side and wait for the app to finish.

        Args:
            code: The close code the app receives.
            reason: The close reason.
        """
        if not self._client_closed:
            self._client_closed = True
            message: Message = {"type": "websocket.disconnect", "code": code}
            if reason is not None:
                message["reason"] = reason
            self._to_app.send_nowait(message)
        await self.aclose()

    async def aclose(self) -> None:
        """Finish: disconnect an app still running, wait for its end, raise its error."""
        try:
            with anyio.CancelScope(shield=True):
                if not self._finished.is_set():
                    if not self._client_closed:
                        # NOTE: leaving the session's block is a normal close.
                        self._client_closed = True
                        self._to_app.send_nowait({"type": "websocket.disconnect", "code": 1000})
                    with anyio.move_on_after(self._options.disconnect_grace):
                        await self._finished.wait()
                    self._cancel_scope.cancel()
                    await self._finished.wait()
        finally:
            self._client_closed = True
            self._to_test.close()
            if self._owned_task_group is not None:
                owned, self._owned_task_group = self._owned_task_group, None
                await owned.__aexit__(None, None, None)
        self._raise_app_error()

    # -- app side --------------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            with self._cancel_scope:
                try:
                    await self._options.app(self._scope, self._receive, self._send)
                except Exception as exc:
                    # NOTE: app errors go to the test through the session, not into the task group;
                    # sending after the client left (ClientDisconnected) is not an error.
                    if not _is_disconnect(exc):
                        self._error = exc
        finally:
            self._app_state = "closed"
            self._finished.set()
            self._from_app.close()

    async def _receive(self) -> Message:
        if self._disconnect is not None:
            return dict(self._disconnect)
        message = await self._to_app_recv.receive()
        if message["type"] == "websocket.disconnect":
            self._disconnect = message
        return message

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if self._disconnect is not None or self._client_closed:
            raise ClientDisconnected("the client closed the websocket")
        state = self._app_state
        if state == "connecting":
            self._handshake(message)
        elif state == "denying":
            self._denial_body(message)
        elif state == "accepted":
            if kind == "websocket.send":
                self._check_frame(message)
                self._from_app.send_nowait(
                    {"type": kind, "text": message.get("text"), "bytes": message.get("bytes")}
                )
            elif kind == "websocket.close":
                self._app_state = "closed"
                self._from_app.send_nowait(self._close_message(message))
            else:
                self._protocol_error(kind, "after websocket.accept")
        else:
            self._protocol_error(kind, "after the websocket was closed")

    def _handshake(self, message: Message) -> None:
        kind = message["type"]
        if kind == "websocket.accept":
            subprotocol = message.get("subprotocol")
            if subprotocol is not None and subprotocol not in self._scope["subprotocols"]:
                raise RuntimeError(
                    f"the app accepted subprotocol {subprotocol!r}, which the client did not offer"
                )
            self.accepted_subprotocol = subprotocol
            self.extra_headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
            self._app_state = "accepted"
            self._from_app.send_nowait(message)
        elif kind == "websocket.close":
            self._app_state = "closed"
            self._from_app.send_nowait(self._close_message(message))
        elif kind == "websocket.http.response.start":
            status = message.get("status")
            if type(status) is not int or not 100 <= status <= 999:
                raise TypeError(f"invalid status in websocket.http.response.start: {status!r}")
            headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
            self._denial = {"status": status, "headers": headers, "body": b""}
            self._app_state = "denying"
        else:
            self._protocol_error(kind, "before the handshake was answered")

    def _denial_body(self, message: Message) -> None:
        kind = message["type"]
        if kind != "websocket.http.response.body":
            self._protocol_error(kind, "after websocket.http.response.start")
        denial = self._denial
        assert denial is not None
        denial["body"] += bytes(message.get("body", b""))
        if not message.get("more_body", False):
            self._app_state = "closed"
            self._from_app.send_nowait({"type": "websocket.http.response", **denial})

    @staticmethod
    def _check_frame(message: Message) -> None:
        text, data = message.get("text"), message.get("bytes")
        if (text is None) == (data is None):
            raise TypeError("websocket.send needs exactly one of 'text' and 'bytes'")
        if text is not None and not isinstance(text, str):
            raise TypeError(f"websocket.send 'text' must be str, got {type(text).__name__}")
        if data is not None and not isinstance(data, bytes | bytearray):
            raise TypeError(f"websocket.send 'bytes' must be bytes, got {type(data).__name__}")

    @staticmethod
    def _close_message(message: Message) -> Message:
        return {
            "type": "websocket.close",
            "code": int(message.get("code", 1000)),
            "reason": message.get("reason") or None,
        }

    @staticmethod
    def _protocol_error(kind: str, when: str) -> NoReturn:
        raise RuntimeError(f"Unexpected ASGI message {kind!r} {when}.")


async def open_websocket(
    options: Options, scope: Scope, task_group: TaskGroup, owned: TaskGroup | None = None
) -> WebSocketConnection:
    """Create a connection (on the event loop) and run the handshake; clean up if it fails.

    Raises:
        WebSocketDenied: The app refused the handshake.
    """
    connection = WebSocketConnection(options, scope, owned)
    try:
        await connection.connect(task_group)
    except BaseException:
        await connection.aclose()
        raise
    return connection
