"""Server-sent events: :class:`EventSourceResponse` streams events to a browser ``EventSource``.

```python
from armature import App
from armature.sse import EventSourceResponse, ServerSentEvent

app = App()

@app.get("/ticks")
async def ticks() -> EventSourceResponse:
    async def events():
        for n in range(3):
            yield ServerSentEvent({"n": n}, event="tick", id=str(n))
    return EventSourceResponse(events())
```

Items of the iterator may be :class:`ServerSentEvent` objects, dicts with the same keys, or plain
``str``/``bytes`` (the ``data`` of an unnamed event); any other value is JSON-encoded (orjson) as
the data. While the iterator is idle, a ``: ping`` comment goes out every ``ping_interval`` seconds
so proxies keep the connection open. When the client goes away the iterator is cancelled and closed
at once: its ``finally`` blocks run.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any, Final, NoReturn

import anyio
import orjson
from anyio.abc import TaskGroup

from armature.responses import (
    BackgroundCallable,
    StreamingResponse,
    json_default,
    run_background,
    stream_until_disconnect,
)
from armature.types import Message, Receive, Scope, Send

__all__ = ["EventSourceResponse", "ServerSentEvent", "last_event_id"]

_FIELDS: Final = frozenset({"data", "event", "id", "retry", "comment"})
_SEPARATORS: Final = ("\n", "\r\n", "\r")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BLANK: Final = {sep: (sep + sep).encode() for sep in _SEPARATORS}
# NOTE: how long a closing iterator's ``finally`` may await after a disconnect before it is cut.
_CLOSE_GRACE: Final = 5.0


def _bad_field(name: str, value: str) -> NoReturn:
    raise ValueError(f"SSE {name} must not contain CR, LF or NUL: {value!r}")


def _lines(text: str) -> list[str]:
    # NOTE: only CR, LF and CRLF end lines in SSE; str.splitlines() would also split on \x0b,
    # \x1c, \u2028... which the browser keeps inside the data.
    if "\n" not in text and "\r" not in text:
        return [text]
    return _LINE_BREAK.split(text)


def _json(data: Any) -> bytes:
    try:
        return orjson.dumps(data, default=json_default)
    except TypeError:
        # NOTE: non-str dict keys (json.dumps accepts them); only then pay for the option.
        return orjson.dumps(data, default=json_default, option=orjson.OPT_NON_STR_KEYS)


def _data_lines(text: str, sep: str) -> str:
    if "\n" not in text and "\r" not in text:
        return f"data: {text}{sep}"
    return "".join(f"data: {line}{sep}" for line in _LINE_BREAK.split(text))


class ServerSentEvent:
    """One event of an event stream.

    Args:
        data: The payload: ``str`` (sent as is, one ``data:`` line per line), ``bytes`` (UTF-8
            text) or any other value, JSON-encoded with orjson. ``None`` sends no ``data`` field
            (useful with ``retry`` or ``comment`` alone).
        event: The event type (``addEventListener(type)`` on the client); ``message`` if omitted.
        id: The event id; the browser sends it back as ``Last-Event-ID`` when it reconnects. An
            empty string resets the client's last event id.
        retry: The client's reconnection delay, in milliseconds.
        comment: A comment (ignored by clients; one ``:`` line per line).

    Raises:
        ValueError: ``event`` or ``id`` contains CR, LF or NUL, ``retry`` is negative, or the event
            has no field at all.
    """

    __slots__ = ("comment", "data", "event", "id", "retry")

    def __init__(
        self,
        data: Any = None,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
        comment: str | None = None,
    ) -> None:
        # PERF: inline checks; events are built once per message on hot streams.
        if event is not None and ("\r" in event or "\n" in event or "\x00" in event):
            _bad_field("event", event)
        if id is not None and ("\r" in id or "\n" in id or "\x00" in id):
            _bad_field("id", id)
        if retry is not None and (type(retry) is not int or retry < 0):
            raise ValueError(f"SSE retry must be a non-negative int of milliseconds: {retry!r}")
        if data is None and event is None and id is None and retry is None and comment is None:
            raise ValueError("an SSE event needs at least one of data, event, id, retry, comment")
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry
        self.comment = comment

    def encode(self, sep: str = "\n") -> bytes:
        """Encode the event as it goes on the wire, blank line included.

        Args:
            sep: The line separator: ``"\\n"``, ``"\\r\\n"`` or ``"\\r"``.

        Returns:
            The UTF-8 bytes of the event.
        """
        if self.comment is None and self.event is None and self.retry is None:
            # PERF: the common shapes: data alone, or data with an id.
            head = "" if self.id is None else f"id: {self.id}{sep}"
        else:
            head = self._head(sep)
        data = self.data
        if data is None:
            return (head + sep).encode()
        if type(data) is str:
            return (head + _data_lines(data, sep) + sep).encode()
        if isinstance(data, bytes | bytearray | memoryview):
            return (head + _data_lines(bytes(data).decode("utf-8"), sep) + sep).encode()
        # PERF: orjson output is one line (newlines in strings are escaped): no splitting, and the
        # JSON bytes are joined without a decode/encode round trip.
        return f"{head}data: ".encode() + _json(data) + _BLANK[sep]

    def _head(self, sep: str) -> str:
        head = ""
        if self.comment is not None:
            head = "".join(f": {line}{sep}" if line else f":{sep}" for line in _lines(self.comment))
        if self.event is not None:
            head += f"event: {self.event}{sep}"
        if self.id is not None:
            head += f"id: {self.id}{sep}"
        if self.retry is not None:
            head += f"retry: {self.retry}{sep}"
        return head

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in self.__slots__
            if getattr(self, name) is not None
        )
        return f"ServerSentEvent({fields})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerSentEvent):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]


def encode_item(item: Any, sep: str = "\n") -> bytes:
    """Encode one item of an event iterator.

    Args:
        item: A :class:`ServerSentEvent`, a dict of its fields, ``str``/``bytes`` data, or any
            JSON-encodable value (the data).
        sep: The line separator.

    Returns:
        The event's bytes.

    Raises:
        ValueError: A dict with keys other than the event fields, or an invalid field.
        TypeError: ``None`` as an item.
    """
    if type(item) is str:
        # PERF: the common case, one line of text, without building an event object.
        if "\n" not in item and "\r" not in item:
            return f"data: {item}{sep}{sep}".encode()
        return ServerSentEvent(item).encode(sep)
    if isinstance(item, ServerSentEvent):
        return item.encode(sep)
    if isinstance(item, Mapping):
        unknown = set(item) - _FIELDS
        if unknown:
            raise ValueError(
                f"unknown SSE event fields {sorted(map(str, unknown))}; a dict item holds the "
                "fields data/event/id/retry/comment (send a JSON object as "
                "ServerSentEvent(data={...}))"
            )
        return ServerSentEvent(**item).encode(sep)
    if item is None:
        raise TypeError("an SSE iterator yielded None; yield an event, a dict, str or bytes")
    return ServerSentEvent(item).encode(sep)


def last_event_id(connection: Any) -> str | None:
    """The ``Last-Event-ID`` header a reconnecting ``EventSource`` sends, or ``None``.

    Args:
        connection: A :class:`~armature.requests.Request` or :class:`~armature.WebSocket` (any
            object with an ASGI ``scope``), or a scope mapping.

    Returns:
        The id of the last event the client received (decoded as UTF-8), or ``None`` when the
        header is absent or empty.
    """
    scope = connection if isinstance(connection, Mapping) else connection.scope
    for name, value in scope.get("headers", ()):
        if name.lower() == b"last-event-id":
            try:
                text = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                text = bytes(value).decode("latin-1")
            text = text.strip()
            return text or None
    return None


EventStream = AsyncIterable[Any] | Iterable[Any]


async def _iterate_sync(iterable: Iterable[Any]) -> AsyncIterator[Any]:
    iterator = iter(iterable)
    sentinel: Any = object()

    def advance() -> Any:
        return next(iterator, sentinel)

    try:
        while True:
            # NOTE: a sync iterator may block (a queue, a file): it is advanced off the loop.
            item = await anyio.to_thread.run_sync(advance)
            if item is sentinel:
                return
            yield item
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            with anyio.move_on_after(_CLOSE_GRACE, shield=True):
                await anyio.to_thread.run_sync(close)


class _Keepalive:
    """Who is writing and when the stream last wrote (shared by the events and the ping task).

    Replaces a lock on the hot path: the events writer only waits while a ping is being sent,
    and the ping task skips its turn while an event is being sent.
    """

    __slots__ = ("last", "pinging", "sending")

    def __init__(self) -> None:
        # NOTE: time.monotonic, not the loop clock: only differences are used (sleep durations).
        self.last = time.monotonic()
        self.sending = False
        self.pinging: anyio.Event | None = None


class EventSourceResponse(StreamingResponse):
    """A ``text/event-stream`` response fed by a sync or async iterator of events.

    Args:
        content: An async or sync iterable of :class:`ServerSentEvent` objects, dicts with
            ``data``/``event``/``id``/``retry``/``comment`` keys, ``str``/``bytes`` data, or other
            values (JSON-encoded as data). Sync iterables are advanced in a worker thread.
        ping_interval: Seconds of silence after which a ``: ping`` comment is sent (keeps proxies
            from closing an idle stream); ``None`` disables pings.
        headers: Extra headers.
        status_code: The HTTP status.
        sep: The line separator: ``"\\n"`` (default), ``"\\r\\n"`` or ``"\\r"``.
        background: Run after the stream ends.

    The response sets ``Content-Type: text/event-stream; charset=utf-8``, ``Cache-Control:
    no-cache`` and ``X-Accel-Buffering: no`` (nginx would otherwise buffer the stream) unless
    ``headers`` sets them. When the client disconnects, the iterator is cancelled and closed, so
    the ``finally`` of an async generator runs at once (awaits in it get a few seconds).
    """

    __slots__ = ("_ping", "ping_interval", "sep")
    default_media_type = "text/event-stream"

    def __init__(
        self,
        content: EventStream,
        *,
        ping_interval: float | None = 15.0,
        headers: Mapping[str, str] | None = None,
        status_code: int = 200,
        sep: str = "\n",
        background: BackgroundCallable | None = None,
    ) -> None:
        if sep not in _SEPARATORS:
            raise ValueError(f"sep must be one of {_SEPARATORS!r}, got {sep!r}")
        if ping_interval is not None and not ping_interval > 0:
            raise ValueError(f"ping_interval must be positive seconds or None: {ping_interval!r}")
        super().__init__(content, status_code, headers, None, background)
        self.ping_interval = ping_interval
        self.sep = sep
        self._ping = f": ping{sep}{sep}".encode()
        present = {name for name, _ in self.raw_headers}
        if b"cache-control" not in present:
            self.raw_headers.append((b"cache-control", b"no-cache"))
        if b"x-accel-buffering" not in present:
            self.raw_headers.append((b"x-accel-buffering", b"no"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # NOTE: three jobs share one task group: the events (this task, so the iterator runs and is
        # closed in the task that iterates it), the disconnect watcher and the keep-alive pings.
        await stream_until_disconnect(receive, lambda group: self._send_events(send, group))
        if self.background is not None:
            await run_background(self.background)

    async def _send_events(self, send: Send, group: TaskGroup) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        source = self.body_iterator
        events: AsyncIterator[Any] = (
            aiter(source) if isinstance(source, AsyncIterable) else _iterate_sync(source)
        )
        sep = self.sep
        interval = self.ping_interval
        try:
            if interval is None:
                async for item in events:
                    body = encode_item(item, sep)
                    await send({"type": "http.response.body", "body": body, "more_body": True})
            else:
                state = _Keepalive()
                group.start_soon(self._keepalive, send, state, interval, group.cancel_scope)
                async for item in events:
                    body = encode_item(item, sep)
                    if state.pinging is not None:
                        await state.pinging.wait()
                    state.sending = True
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                    state.sending = False
                    state.last = time.monotonic()
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                # NOTE: on a disconnect this task is cancelled; the shield lets the generator's
                # finally await its cleanup, for a bounded time.
                with anyio.move_on_after(_CLOSE_GRACE, shield=True):
                    await aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _keepalive(
        self,
        send: Send,
        state: _Keepalive,
        interval: float,
        stream_scope: anyio.CancelScope,
    ) -> None:
        ping: Message = {"type": "http.response.body", "body": self._ping, "more_body": True}
        while True:
            # NOTE: sleeps until the stream has been silent for `interval`; no polling.
            delay = state.last + interval - time.monotonic()
            if delay > 0:
                await anyio.sleep(delay)
                continue
            if state.sending:
                # NOTE: an event is on its way (a slow client); that write counts as activity.
                await anyio.sleep(interval)
                continue
            state.pinging = done = anyio.Event()
            try:
                await send(dict(ping))
            except OSError:
                # NOTE: some servers only notice a gone client when a write fails.
                stream_scope.cancel()
                return
            finally:
                state.pinging = None
                done.set()
            state.last = time.monotonic()
