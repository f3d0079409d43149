"""Broadcast: publish/subscribe channels and websocket rooms, over a pluggable backend.

```python
from armature.broadcast import Broadcast

broadcast = Broadcast()          # MemoryBackend: one process

async def demo() -> None:
    async with broadcast:        # or: await broadcast.connect() ... await broadcast.disconnect()
        async with broadcast.subscribe("news") as subscriber:
            await broadcast.publish("news", {"title": "hello"})
            assert await subscriber.receive() == {"title": "hello"}
```

Messages travel through a :class:`BroadcastBackend`: :class:`MemoryBackend` (the default) delivers
within one process; a backend over Redis pub/sub (or similar) implements the same six methods to
reach the subscribers of every worker. One listener task per :class:`Broadcast` reads the
backend and fans each message out to local subscribers without ever waiting on them: every
subscriber has a bounded buffer, and a subscriber that falls behind either loses its oldest
messages (``overflow="drop_oldest"``, counted in :attr:`Subscriber.dropped`) or is cut off
(``overflow="disconnect"``: its iteration raises :class:`SlowSubscriber`).

Rooms are websocket groups: :meth:`Broadcast.join` / :meth:`Broadcast.leave` manage the local
members, :meth:`Broadcast.publish_to_room` sends a message to every member on every worker (it
travels over one backend channel, ``rooms_channel``). Each member has its own ordered, bounded
outbox drained by a sender task, so a slow or dead websocket never holds up the others; members
whose ``send`` fails are removed from all rooms.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Literal, Protocol, Self, runtime_checkable

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from armature.websockets import WebSocket

__all__ = [
    "Broadcast",
    "BroadcastBackend",
    "MemoryBackend",
    "Overflow",
    "SlowSubscriber",
    "Subscriber",
    "SubscriptionClosed",
]

logger = logging.getLogger("armature.broadcast")

Overflow = Literal["drop_oldest", "disconnect"]
_OVERFLOWS = ("drop_oldest", "disconnect")
# NOTE: the close code for a room member cut off for being too slow (1013 "try again later").
_SLOW_CLOSE_CODE = 1013


@runtime_checkable
class BroadcastBackend(Protocol):
    """What carries messages between publishers and subscribers (possibly across processes).

    A backend for several workers (Redis pub/sub, PostgreSQL ``LISTEN/NOTIFY``, NATS...) publishes
    to the shared service and yields what it receives for the channels subscribed here. Messages
    must then be serializable by that backend (``str``, ``bytes`` or JSON values).
    """

    async def connect(self) -> None:
        """Open the connection (called by :meth:`Broadcast.connect`)."""

    async def disconnect(self) -> None:
        """Close the connection; :meth:`listen` must then end."""

    async def subscribe(self, channel: str) -> None:
        """Start receiving messages published on ``channel``."""

    async def unsubscribe(self, channel: str) -> None:
        """Stop receiving messages published on ``channel``."""

    async def publish(self, channel: str, message: Any) -> None:
        """Publish ``message`` on ``channel`` (to every process subscribed to it)."""

    def listen(self) -> AsyncIterator[tuple[str, Any]]:
        """Yield ``(channel, message)`` for every message of a subscribed channel, in order."""


class MemoryBackend:
    """The in-process backend: publishing hands the message to this process's listener.

    Use it for a single worker and in tests; several workers need a shared backend.
    """

    __slots__ = ("_channels", "_receiver", "_sender")

    def __init__(self) -> None:
        self._channels: set[str] = set()
        self._sender: MemoryObjectSendStream[tuple[str, Any]] | None = None
        self._receiver: MemoryObjectReceiveStream[tuple[str, Any]] | None = None

    async def connect(self) -> None:
        """Create the in-memory queue."""
        # NOTE: unbounded, so publish() never waits; the listener drains it without blocking.
        self._sender, self._receiver = anyio.create_memory_object_stream[tuple[str, Any]](math.inf)

    async def disconnect(self) -> None:
        """Close the queue; :meth:`listen` ends."""
        if self._sender is not None:
            self._sender.close()
        self._channels.clear()

    async def subscribe(self, channel: str) -> None:
        """Deliver messages of ``channel`` from now on."""
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        """Drop messages of ``channel`` from now on."""
        self._channels.discard(channel)

    async def publish(self, channel: str, message: Any) -> None:
        """Queue ``message`` if ``channel`` is subscribed (otherwise it is dropped, like Redis)."""
        if self._sender is None:
            raise RuntimeError("MemoryBackend is not connected")
        if channel in self._channels:
            self._sender.send_nowait((channel, message))

    async def listen(self) -> AsyncIterator[tuple[str, Any]]:
        """Yield the queued messages until :meth:`disconnect`."""
        if self._receiver is None:
            raise RuntimeError("MemoryBackend is not connected")
        async with self._receiver:
            async for item in self._receiver:
                yield item


class SubscriptionClosed(Exception):
    """The subscription ended: the broadcast disconnected, or its backend failed."""


class SlowSubscriber(SubscriptionClosed):
    """The subscriber's buffer overflowed under ``overflow="disconnect"``: it was cut off."""


class _Outbox:
    """A bounded FIFO filled without waiting and drained by one task."""

    __slots__ = ("_items", "_waiter", "closed", "dropped", "error", "max_buffer", "overflow")

    def __init__(self, max_buffer: int, overflow: Overflow) -> None:
        self._items: deque[Any] = deque()
        self._waiter: anyio.Event | None = None
        self.max_buffer = max_buffer
        self.overflow = overflow
        self.dropped = 0
        self.closed = False
        self.error: SubscriptionClosed | None = None

    def put(self, message: Any) -> None:
        """Add ``message``; never waits (applies the overflow policy instead)."""
        if self.closed:
            return
        if len(self._items) >= self.max_buffer:
            if self.overflow == "disconnect":
                self.close(SlowSubscriber(f"more than {self.max_buffer} messages behind"))
                return
            self._items.popleft()
            self.dropped += 1
        self._items.append(message)
        self._wake()

    def close(self, error: SubscriptionClosed | None = None) -> None:
        """Stop accepting; the reader gets the rest, then the end or ``error``."""
        if not self.closed:
            self.closed = True
            self.error = error
            if isinstance(error, SlowSubscriber):
                # NOTE: a cut-off reader must learn it now, not after a backlog it fell behind on.
                self._items.clear()
            self._wake()

    def _wake(self) -> None:
        if self._waiter is not None:
            self._waiter.set()
            self._waiter = None

    async def get(self) -> Any:
        """Return the next message.

        Raises:
            SubscriptionClosed: The outbox is closed and empty (``error`` when there is one).
        """
        while not self._items:
            if self.closed:
                raise self.error or SubscriptionClosed("the subscription is closed")
            self._waiter = waiter = anyio.Event()
            await waiter.wait()
        return self._items.popleft()


class Subscriber:
    """The receiving end of :meth:`Broadcast.subscribe`: an async iterator of messages.

    Iteration ends when the broadcast disconnects, and raises :class:`SlowSubscriber` when this
    subscriber was cut off for falling behind (``overflow="disconnect"``).
    """

    __slots__ = ("_outbox", "channel")

    def __init__(self, channel: str, max_buffer: int, overflow: Overflow) -> None:
        self.channel = channel
        self._outbox = _Outbox(max_buffer, overflow)

    @property
    def dropped(self) -> int:
        """How many messages were dropped from this subscriber's buffer (``drop_oldest``)."""
        return self._outbox.dropped

    @property
    def pending(self) -> int:
        """How many messages wait in the buffer."""
        return len(self._outbox._items)

    async def receive(self) -> Any:
        """Wait for the next message.

        Returns:
            The message, as published.

        Raises:
            SlowSubscriber: This subscriber fell more than ``max_buffer`` messages behind.
            SubscriptionClosed: The broadcast disconnected (or its backend failed).
        """
        return await self._outbox.get()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._outbox.get()
        except SubscriptionClosed as exc:
            if type(exc) is SubscriptionClosed and self._outbox.error is None:
                raise StopAsyncIteration from None
            raise

    def __repr__(self) -> str:
        return f"Subscriber(channel={self.channel!r}, pending={self.pending})"


class _Member:
    """A websocket in one or more rooms, with its outbox and sender task."""

    __slots__ = ("outbox", "rooms", "websocket")

    def __init__(self, websocket: WebSocket, max_buffer: int, overflow: Overflow) -> None:
        self.websocket = websocket
        self.rooms: set[str] = set()
        self.outbox = _Outbox(max_buffer, overflow)


class Broadcast:
    """Channels and websocket rooms over a :class:`BroadcastBackend`.

    Connect it for the app's lifetime (``async with broadcast:`` in the lifespan, or
    :meth:`connect` and :meth:`disconnect` called from the same task).

    Args:
        backend: The transport; :class:`MemoryBackend` (one process) when omitted.
        max_buffer: Messages a subscriber (or a room member) may fall behind by.
        overflow: What happens beyond ``max_buffer``: ``"drop_oldest"`` (the oldest buffered
            message is discarded) or ``"disconnect"`` (the subscriber's iteration raises
            :class:`SlowSubscriber`; a room member is closed with code 1013 and removed).
        rooms_channel: The backend channel that carries room messages.
    """

    def __init__(
        self,
        backend: BroadcastBackend | None = None,
        *,
        max_buffer: int = 256,
        overflow: Overflow = "drop_oldest",
        rooms_channel: str = "armature.rooms",
    ) -> None:
        if max_buffer < 1:
            raise ValueError(f"max_buffer must be at least 1, got {max_buffer}")
        if overflow not in _OVERFLOWS:
            raise ValueError(f"overflow must be one of {_OVERFLOWS}, got {overflow!r}")
        self.backend: BroadcastBackend = backend if backend is not None else MemoryBackend()
        self.max_buffer = max_buffer
        self.overflow: Overflow = overflow
        self.rooms_channel = rooms_channel
        self._task_group: TaskGroup | None = None
        self._owner: int | None = None
        self._lock: anyio.Lock | None = None
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._rooms: dict[str, set[WebSocket]] = {}
        self._members: dict[WebSocket, _Member] = {}

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether :meth:`connect` ran (and :meth:`disconnect` did not)."""
        return self._task_group is not None

    async def connect(self) -> None:
        """Connect the backend and start the listener task.

        Raises:
            RuntimeError: Already connected.
        """
        if self._task_group is not None:
            raise RuntimeError("this Broadcast is already connected")
        self._lock = anyio.Lock()
        await self.backend.connect()
        # NOTE: entered here and exited in disconnect(): both must run in the same task (a
        # lifespan does), as with any anyio task group.
        group = anyio.create_task_group()
        await group.__aenter__()
        try:
            await self.backend.subscribe(self.rooms_channel)
            group.start_soon(self._listen)
        except BaseException:
            group.cancel_scope.cancel()
            await group.__aexit__(None, None, None)
            await self.backend.disconnect()
            raise
        self._task_group = group
        self._owner = anyio.get_current_task().id

    async def disconnect(self) -> None:
        """Stop the listener and the room senders, end every subscription, close the backend.

        Raises:
            RuntimeError: Called from another task than :meth:`connect`.
        """
        group = self._task_group
        if group is None:
            return
        if anyio.get_current_task().id != self._owner:
            raise RuntimeError(
                "Broadcast.disconnect() must run in the task that called connect() "
                "(connect and disconnect it in the app's lifespan)"
            )
        self._task_group = None
        group.cancel_scope.cancel()
        try:
            await group.__aexit__(None, None, None)
        finally:
            self._close_everything(None)
            # NOTE: subscriptions still open end on their own; a reconnect starts from scratch.
            self._subscribers = {}
            self._rooms.clear()
            self._members.clear()
            await self.backend.disconnect()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.disconnect()

    def _require_connected(self) -> TaskGroup:
        if self._task_group is None:
            raise RuntimeError("Broadcast is not connected; await broadcast.connect() first")
        return self._task_group

    def _close_everything(self, error: SubscriptionClosed | None) -> None:
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber._outbox.close(error)
        for member in self._members.values():
            member.outbox.close()

    async def _listen(self) -> None:
        # NOTE: a failing listener must not raise into the task group: that would cancel the
        # lifespan task that entered it. Subscribers learn about the failure instead.
        try:
            async for channel, message in self.backend.listen():
                if channel == self.rooms_channel:
                    self._deliver_to_room(message)
                    continue
                subscribers = self._subscribers.get(channel)
                if subscribers:
                    for subscriber in tuple(subscribers):
                        subscriber._outbox.put(message)
        except Exception as exc:
            logger.exception("broadcast backend %r failed", self.backend)
            self._close_everything(SubscriptionClosed(f"the broadcast backend failed: {exc!r}"))
        else:
            self._close_everything(None)

    # -- channels -------------------------------------------------------------------------------

    async def publish(self, channel: str, message: Any) -> None:
        """Publish ``message`` to every subscriber of ``channel``; never waits on subscribers.

        Args:
            channel: The channel name.
            message: Any value for :class:`MemoryBackend`; what the backend can carry otherwise.
        """
        self._require_connected()
        await self.backend.publish(channel, message)

    @asynccontextmanager
    async def subscribe(
        self,
        channel: str,
        *,
        max_buffer: int | None = None,
        overflow: Overflow | None = None,
    ) -> AsyncIterator[Subscriber]:
        """Subscribe to ``channel`` for the duration of the ``async with`` block.

        Args:
            channel: The channel name.
            max_buffer: This subscriber's buffer (the broadcast's ``max_buffer`` by default).
            overflow: This subscriber's overflow policy (the broadcast's by default).

        Yields:
            The :class:`Subscriber`; messages published after this point reach it.
        """
        self._require_connected()
        size = self.max_buffer if max_buffer is None else max_buffer
        policy = self.overflow if overflow is None else overflow
        if size < 1:
            raise ValueError(f"max_buffer must be at least 1, got {size}")
        if policy not in _OVERFLOWS:
            raise ValueError(f"overflow must be one of {_OVERFLOWS}, got {policy!r}")
        subscriber = Subscriber(channel, size, policy)
        lock = self._lock
        assert lock is not None
        async with lock:
            subscribers = self._subscribers.get(channel)
            if subscribers is None:
                await self.backend.subscribe(channel)
                subscribers = self._subscribers[channel] = set()
            subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            subscriber._outbox.close()
            with anyio.CancelScope(shield=True):
                async with lock:
                    subscribers.discard(subscriber)
                    if not subscribers and self._subscribers.get(channel) is subscribers:
                        del self._subscribers[channel]
                        if self._task_group is not None:
                            await self.backend.unsubscribe(channel)

    def subscriber_count(self, channel: str) -> int:
        """How many subscribers ``channel`` has in this process."""
        return len(self._subscribers.get(channel, ()))

    # -- rooms ----------------------------------------------------------------------------------

    def join(self, room: str, websocket: WebSocket) -> None:
        """Add an accepted ``websocket`` to ``room`` (in this process).

        Args:
            room: The room name.
            websocket: An accepted websocket.

        Raises:
            RuntimeError: The broadcast is not connected, or the websocket is not accepted.
        """
        group = self._require_connected()
        if websocket.application_state != "connected":
            raise RuntimeError("accept() the websocket before joining a room")
        member = self._members.get(websocket)
        if member is None:
            member = self._members[websocket] = _Member(websocket, self.max_buffer, self.overflow)
            group.start_soon(self._send_to_member, member)
        member.rooms.add(room)
        self._rooms.setdefault(room, set()).add(websocket)

    def leave(self, room: str, websocket: WebSocket) -> None:
        """Remove ``websocket`` from ``room``; a no-op when it is not there.

        Args:
            room: The room name.
            websocket: The websocket.
        """
        member = self._members.get(websocket)
        if member is None or room not in member.rooms:
            return
        member.rooms.discard(room)
        self._remove_from_room(room, websocket)
        if not member.rooms:
            del self._members[websocket]
            member.outbox.close()

    def leave_all(self, websocket: WebSocket) -> None:
        """Remove ``websocket`` from every room (call it when its handler ends).

        Args:
            websocket: The websocket.
        """
        member = self._members.pop(websocket, None)
        if member is None:
            return
        for room in member.rooms:
            self._remove_from_room(room, websocket)
        member.rooms.clear()
        member.outbox.close()

    def _remove_from_room(self, room: str, websocket: WebSocket) -> None:
        members = self._rooms.get(room)
        if members is not None:
            members.discard(websocket)
            if not members:
                del self._rooms[room]

    def members(self, room: str) -> frozenset[WebSocket]:
        """The websockets in ``room`` in this process."""
        return frozenset(self._rooms.get(room, ()))

    def rooms_of(self, websocket: WebSocket) -> frozenset[str]:
        """The rooms ``websocket`` is in."""
        member = self._members.get(websocket)
        return frozenset(member.rooms) if member is not None else frozenset()

    async def publish_to_room(self, room: str, message: str | bytes | Any) -> None:
        """Send ``message`` to every member of ``room``, on every worker sharing the backend.

        ``str`` goes out as a text frame, ``bytes`` as a binary frame, anything else as JSON text.
        Delivery is asynchronous: this returns once the backend took the message.

        Args:
            room: The room name.
            message: The message.
        """
        self._require_connected()
        # NOTE: a list envelope, so backends that carry JSON can carry room messages too.
        await self.backend.publish(self.rooms_channel, [room, message])

    def _deliver_to_room(self, envelope: Any) -> None:
        if not isinstance(envelope, list | tuple) or len(envelope) != 2:
            logger.warning("ignoring a malformed room message on %r", self.rooms_channel)
            return
        room, message = envelope
        for websocket in tuple(self._rooms.get(room, ())):
            member = self._members.get(websocket)
            if member is not None:
                member.outbox.put(message)

    async def _send_to_member(self, member: _Member) -> None:
        websocket = member.websocket
        outbox = member.outbox
        while True:
            try:
                message = await outbox.get()
            except SlowSubscriber:
                self._drop_member(member)
                with anyio.move_on_after(1):
                    try:
                        await websocket.close(_SLOW_CLOSE_CODE, "too slow")
                    except Exception:
                        pass
                return
            except SubscriptionClosed:
                return
            try:
                if isinstance(message, str):
                    await websocket.send_text(message)
                elif isinstance(message, bytes):
                    await websocket.send_bytes(message)
                else:
                    await websocket.send_json(message)
            except Exception as exc:
                # NOTE: a dead websocket (disconnected, closed, transport gone) leaves every room.
                logger.debug("removing websocket from rooms %s: %r", sorted(member.rooms), exc)
                self._drop_member(member)
                return

    def _drop_member(self, member: _Member) -> None:
        if self._members.get(member.websocket) is member:
            self.leave_all(member.websocket)
        else:
            member.outbox.close()
