"""WebSockets: the ``WebSocket`` connection object and its errors.

```python
from armature import App, WebSocket

app = App()

@app.websocket("/echo/{room}")
async def echo(websocket: WebSocket, room: str) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(f"{room}: {text}")
```

Handlers are bound like HTTP handlers (path, query, header and cookie parameters, injected
services, ``Depends``). A client that goes away ends ``iter_*`` loops and makes ``receive_*`` raise
:class:`WebSocketDisconnect`, which armature treats as a normal end of the handler.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal

import orjson

from armature.connection import HTTPConnection
from armature.datastructures import encode_header
from armature.types import Message, Receive, Scope, Send

__all__ = ["WebSocket", "WebSocketDisconnect", "WebSocketState"]

WebSocketState = Literal["connecting", "connected", "disconnected"]


class WebSocketDisconnect(Exception):
    """The client closed the connection (or it was lost).

    Args:
        code: The close code (1000 normal, 1001 going away, 1006 abnormal...).
        reason: The close reason, if any.
    """

    def __init__(self, code: int = 1000, reason: str | None = None) -> None:
        super().__init__(f"websocket closed with code {code}")
        self.code = code
        self.reason = reason


class WebSocket(HTTPConnection):
    """One websocket connection.

    Args:
        scope: The ASGI websocket scope.
        receive: The ASGI receive callable.
        send: The ASGI send callable.
        app: The armature app (for ``url_for``).
    """

    __slots__ = ("_receive", "_send", "application_state", "client_state")

    def __init__(self, scope: Scope, receive: Receive, send: Send, app: Any = None) -> None:
        super().__init__(scope, app)
        self._receive = receive
        self._send = send
        self.client_state: WebSocketState = "connecting"
        self.application_state: WebSocketState = "connecting"

    # -- what the client sent with the handshake ----------------------------------------------

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered."""
        return list(self.scope.get("subprotocols", []))

    # -- handshake ----------------------------------------------------------------------------

    async def _connect(self) -> None:
        if self.client_state == "connecting":
            message = await self._receive()
            if message["type"] == "websocket.disconnect":
                self.client_state = "disconnected"
                raise WebSocketDisconnect(message.get("code", 1006))
            if message["type"] != "websocket.connect":
                raise RuntimeError(f"expected websocket.connect, got {message['type']!r}")
            self.client_state = "connected"

    async def accept(
        self, subprotocol: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        """Accept the handshake.

        Args:
            subprotocol: The subprotocol chosen from :attr:`subprotocols`.
            headers: Extra handshake response headers.
        """
        await self._connect()
        message: dict[str, Any] = {"type": "websocket.accept", "subprotocol": subprotocol}
        if headers:
            message["headers"] = [encode_header(k, v) for k, v in headers.items()]
        await self._send(message)
        self.application_state = "connected"

    async def deny(
        self,
        status_code: int = 403,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        media_type: str = "text/plain; charset=utf-8",
    ) -> None:
        """Refuse the handshake with a real HTTP response where the server supports it.

        Uses the ASGI ``websocket.http.response`` extension when offered; otherwise closes before
        accepting, which servers answer with 403.

        Args:
            status_code: The HTTP status.
            body: The response body.
            headers: Extra headers.
            media_type: The body's content type.
        """
        if self.application_state != "connecting":
            raise RuntimeError("deny() is only possible before accept()")
        await self._connect()
        if "websocket.http.response" in self.scope.get("extensions", {}):
            raw = [encode_header(k, v) for k, v in (headers or {}).items()]
            raw.append((b"content-type", media_type.encode("latin-1")))
            raw.append((b"content-length", b"%d" % len(body)))
            await self._send(
                {"type": "websocket.http.response.start", "status": status_code, "headers": raw}
            )
            await self._send({"type": "websocket.http.response.body", "body": body})
        else:
            await self._send({"type": "websocket.close", "code": 1008})
        self.application_state = "disconnected"

    # -- messages -----------------------------------------------------------------------------

    async def receive(self) -> Message:
        """Receive the next raw ASGI message (``websocket.receive`` or ``websocket.disconnect``)."""
        if self.application_state != "connected":
            raise RuntimeError("accept() the websocket before receiving")
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self.client_state = "disconnected"
        return message

    async def _receive_data(self) -> Message:
        message = await self.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        return message

    async def receive_text(self) -> str:
        """Receive a text message.

        Raises:
            WebSocketDisconnect: The client went away.
        """
        message = await self._receive_data()
        text = message.get("text")
        if text is None:
            raise TypeError("expected a text message, got binary")
        return str(text)

    async def receive_bytes(self) -> bytes:
        """Receive a binary message.

        Raises:
            WebSocketDisconnect: The client went away.
        """
        message = await self._receive_data()
        data = message.get("bytes")
        if data is None:
            raise TypeError("expected a binary message, got text")
        return bytes(data)

    async def receive_json(self, mode: Literal["text", "binary"] = "text") -> Any:
        """Receive a JSON message (text frames by default).

        Raises:
            WebSocketDisconnect: The client went away.
            ValueError: The message is not valid JSON.
        """
        message = await self._receive_data()
        raw = message.get("text") if mode == "text" else message.get("bytes")
        if raw is None:
            raw = message.get("bytes") if mode == "text" else message.get("text")
        try:
            return orjson.loads(raw or b"")
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"malformed JSON message: {exc}") from None

    async def iter_text(self) -> AsyncIterator[str]:
        """Yield text messages until the client disconnects."""
        try:
            while True:
                yield await self.receive_text()
        except WebSocketDisconnect:
            return

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Yield binary messages until the client disconnects."""
        try:
            while True:
                yield await self.receive_bytes()
        except WebSocketDisconnect:
            return

    async def iter_json(self) -> AsyncIterator[Any]:
        """Yield JSON messages until the client disconnects."""
        try:
            while True:
                yield await self.receive_json()
        except WebSocketDisconnect:
            return

    async def _send_message(self, message: Message) -> None:
        if self.application_state != "connected":
            raise RuntimeError("accept() the websocket before sending")
        try:
            await self._send(message)
        except OSError as exc:
            # NOTE: ASGI 2.4 servers raise OSError from send() once the client is gone.
            self.client_state = "disconnected"
            raise WebSocketDisconnect(1006) from exc

    async def send_text(self, data: str) -> None:
        """Send a text message."""
        await self._send_message({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        await self._send_message({"type": "websocket.send", "bytes": data})

    async def send_json(self, data: Any, mode: Literal["text", "binary"] = "text") -> None:
        """Send a JSON message (as text by default)."""
        encoded = orjson.dumps(data)
        if mode == "text":
            await self.send_text(encoded.decode())
        else:
            await self.send_bytes(encoded)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection.

        Args:
            code: The close code.
            reason: A short reason.
        """
        if self.application_state == "disconnected":
            return
        if self.client_state == "disconnected":
            # NOTE: the client already went away; there is nobody to send a close frame to.
            self.application_state = "disconnected"
            return
        if self.application_state == "connecting":
            await self._connect()
        message: dict[str, Any] = {"type": "websocket.close", "code": code}
        if reason:
            message["reason"] = reason
        try:
            await self._send(message)
        except OSError:
            pass
        self.application_state = "disconnected"
