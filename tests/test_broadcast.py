"""Broadcast: channels, slow subscribers, the backend interface (two "workers" on a shared bus) and
websocket rooms, on asyncio and trio."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from armature import App, WebSocket
from armature.broadcast import (
    Broadcast,
    BroadcastBackend,
    MemoryBackend,
    SlowSubscriber,
    SubscriptionClosed,
)
from armature.testing import AsyncTestClient, TestClient
from armature.types import Message

pytestmark = pytest.mark.anyio


async def eventually(predicate: Callable[[], bool]) -> None:
    """Let the listener and sender tasks run until ``predicate()`` holds (5 s hang guard)."""
    with anyio.fail_after(5):
        while not predicate():
            await anyio.sleep(0.001)


# -- channels ------------------------------------------------------------------------------------


async def test_publish_reaches_every_subscriber_of_the_channel_in_order() -> None:
    async with Broadcast() as broadcast:
        async with (
            broadcast.subscribe("news") as first,
            broadcast.subscribe("news") as second,
            broadcast.subscribe("sport") as other,
        ):
            for n in range(5):
                await broadcast.publish("news", {"n": n})
            await broadcast.publish("sport", "goal")
            assert [await first.receive() for _ in range(5)] == [{"n": n} for n in range(5)]
            assert [await second.receive() for _ in range(5)] == [{"n": n} for n in range(5)]
            assert await other.receive() == "goal"
            assert first.pending == second.pending == other.pending == 0
            assert broadcast.subscriber_count("news") == 2
        assert broadcast.subscriber_count("news") == 0


async def test_messages_before_subscribing_are_not_delivered() -> None:
    async with Broadcast() as broadcast:
        await broadcast.publish("news", "too early")  # nobody listens: dropped, never blocks
        async with broadcast.subscribe("news") as subscriber:
            await broadcast.publish("news", "on time")
            assert await subscriber.receive() == "on time"


async def test_iteration_ends_when_the_broadcast_disconnects() -> None:
    broadcast = Broadcast()
    connected, stop = anyio.Event(), anyio.Event()

    async def service() -> None:
        # NOTE: connect() and disconnect() run in one task, like an app lifespan.
        async with broadcast:
            connected.set()
            await stop.wait()

    received: list[Any] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(service)
            await connected.wait()
            async with broadcast.subscribe("c") as subscriber:
                await broadcast.publish("c", 1)
                stop.set()
                async for message in subscriber:
                    received.append(message)
                with pytest.raises(SubscriptionClosed):
                    await subscriber.receive()
    assert received == [1]
    assert not broadcast.connected


async def test_disconnect_from_another_task_is_refused() -> None:
    broadcast = Broadcast()
    await broadcast.connect()
    errors: list[str] = []

    async def elsewhere() -> None:
        try:
            await broadcast.disconnect()
        except RuntimeError as exc:
            errors.append(str(exc))

    async with anyio.create_task_group() as group:
        group.start_soon(elsewhere)
    assert "must run in the task that called connect()" in errors[0]
    assert broadcast.connected
    await broadcast.disconnect()


async def test_lifecycle_errors() -> None:
    broadcast = Broadcast()
    with pytest.raises(RuntimeError, match="not connected"):
        await broadcast.publish("c", 1)
    with pytest.raises(RuntimeError, match="not connected"):
        async with broadcast.subscribe("c"):
            pass
    with pytest.raises(RuntimeError, match="not connected"):
        await broadcast.publish_to_room("r", "x")
    async with broadcast:
        with pytest.raises(RuntimeError, match="already connected"):
            await broadcast.connect()
        with pytest.raises(ValueError, match="max_buffer"):
            async with broadcast.subscribe("c", max_buffer=0):
                pass
        with pytest.raises(ValueError, match="overflow"):
            async with broadcast.subscribe("c", overflow="block"):  # type: ignore[arg-type]
                pass
    await broadcast.disconnect()  # a second disconnect is a no-op
    # and it can be connected again (e.g. by the next test client session)
    async with broadcast, broadcast.subscribe("c") as subscriber:
        await broadcast.publish("c", "again")
        assert await subscriber.receive() == "again"
    with pytest.raises(ValueError, match="max_buffer"):
        Broadcast(max_buffer=0)
    with pytest.raises(ValueError, match="overflow"):
        Broadcast(overflow="wait")  # type: ignore[arg-type]


# -- slow subscribers ----------------------------------------------------------------------------


async def test_slow_subscriber_drops_oldest_and_never_blocks_publish() -> None:
    async with Broadcast(max_buffer=3) as broadcast:
        async with (
            broadcast.subscribe("c") as slow,
            broadcast.subscribe("c", max_buffer=1000) as fast,
        ):
            with anyio.fail_after(5):  # publish must not wait for the slow subscriber
                for n in range(10):
                    await broadcast.publish("c", n)
            # the fast subscriber reads everything; by then the slow one was offered all ten
            assert [await fast.receive() for _ in range(10)] == list(range(10))
            assert slow.dropped == 7
            assert slow.pending == 3
            assert [await slow.receive() for _ in range(3)] == [7, 8, 9]
            assert fast.dropped == 0


async def test_slow_subscriber_can_be_disconnected_instead() -> None:
    async with Broadcast(max_buffer=2, overflow="disconnect") as broadcast:
        async with (
            broadcast.subscribe("c") as slow,
            broadcast.subscribe("c", overflow="drop_oldest", max_buffer=100) as fast,
        ):
            for n in range(5):
                await broadcast.publish("c", n)
            assert [await fast.receive() for _ in range(5)] == list(range(5))
            with pytest.raises(SlowSubscriber, match="more than 2 messages behind"):
                async for _ in slow:
                    pytest.fail("a cut-off subscriber gets no more messages")
            with pytest.raises(SlowSubscriber):
                await slow.receive()
            # the others carry on
            await broadcast.publish("c", "still here")
            assert await fast.receive() == "still here"


# -- the backend interface -----------------------------------------------------------------------


class Bus:
    """A shared message service (what Redis would be) reached by several BusBackends."""

    def __init__(self) -> None:
        self.backends: list[BusBackend] = []


class BusBackend:
    """A BroadcastBackend over a Bus: each Broadcast ("worker") gets its own."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.channels: set[str] = set()
        self.calls: list[str] = []
        self.inbox: MemoryBackend = MemoryBackend()

    async def connect(self) -> None:
        self.calls.append("connect")
        await self.inbox.connect()
        self.bus.backends.append(self)

    async def disconnect(self) -> None:
        self.calls.append("disconnect")
        self.bus.backends.remove(self)
        await self.inbox.disconnect()

    async def subscribe(self, channel: str) -> None:
        self.calls.append(f"subscribe {channel}")
        await self.inbox.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        self.calls.append(f"unsubscribe {channel}")
        await self.inbox.unsubscribe(channel)

    async def publish(self, channel: str, message: Any) -> None:
        for backend in self.bus.backends:
            await backend.inbox.publish(channel, message)

    def listen(self) -> AsyncIterator[tuple[str, Any]]:
        return self.inbox.listen()


def test_backends_satisfy_the_protocol() -> None:
    assert isinstance(MemoryBackend(), BroadcastBackend)
    assert isinstance(BusBackend(Bus()), BroadcastBackend)
    assert not isinstance(object(), BroadcastBackend)


async def test_two_workers_share_a_backend() -> None:
    bus = Bus()
    one, two = BusBackend(bus), BusBackend(bus)
    async with Broadcast(one) as worker_one, Broadcast(two) as worker_two:
        async with worker_two.subscribe("jobs") as subscriber:
            await worker_one.publish("jobs", "from worker one")
            assert await subscriber.receive() == "from worker one"
            async with worker_two.subscribe("jobs"):
                pass  # a second local subscriber does not subscribe the backend twice
    assert one.calls == ["connect", "subscribe armature.rooms", "disconnect"]
    assert two.calls == [
        "connect",
        "subscribe armature.rooms",
        "subscribe jobs",
        "unsubscribe jobs",
        "disconnect",
    ]


class FailingBackend(MemoryBackend):
    async def listen(self) -> AsyncIterator[tuple[str, Any]]:
        async for item in super().listen():
            if item[1] == "poison":
                raise ConnectionError("lost the message service")
            yield item


async def test_a_failing_backend_ends_subscriptions_with_an_error() -> None:
    async with Broadcast(FailingBackend()) as broadcast:
        async with broadcast.subscribe("c") as subscriber:
            await broadcast.publish("c", "fine")
            await broadcast.publish("c", "poison")
            assert await subscriber.receive() == "fine"
            with pytest.raises(SubscriptionClosed, match="lost the message service"):
                async for _ in subscriber:
                    pass
        # the task that connected the broadcast was not cancelled by the listener's failure
        await anyio.sleep(0)


# -- rooms with raw websockets -------------------------------------------------------------------


class Peer:
    """The client side of a real :class:`WebSocket` whose sends can be held up (a slow network)."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.gate: anyio.Event | None = None
        self.dead = False
        self.websocket = WebSocket({"type": "websocket", "headers": []}, self.receive, self.send)

    async def receive(self) -> Message:
        return {"type": "websocket.connect"}

    async def send(self, message: Message) -> None:
        if self.dead:
            raise OSError("connection reset")
        if message["type"] == "websocket.send" and self.gate is not None:
            await self.gate.wait()
        self.sent.append(message)

    @property
    def frames(self) -> list[Any]:
        return [m.get("text", m.get("bytes")) for m in self.sent if m["type"] == "websocket.send"]


async def accepted_peer() -> Peer:
    peer = Peer()
    await peer.websocket.accept()
    return peer


async def test_rooms_fan_out_text_bytes_and_json() -> None:
    async with Broadcast() as broadcast:
        alice, bob, carol = await accepted_peer(), await accepted_peer(), await accepted_peer()
        broadcast.join("lobby", alice.websocket)
        broadcast.join("lobby", bob.websocket)
        broadcast.join("attic", carol.websocket)
        broadcast.join("attic", alice.websocket)
        assert broadcast.members("lobby") == {alice.websocket, bob.websocket}
        assert broadcast.rooms_of(alice.websocket) == {"lobby", "attic"}
        await broadcast.publish_to_room("lobby", "hi")
        await broadcast.publish_to_room("lobby", b"\x00\x01")
        await broadcast.publish_to_room("lobby", {"user": "x", "text": "json"})
        await broadcast.publish_to_room("attic", "upstairs")
        await eventually(lambda: len(alice.frames) == 4 and len(bob.frames) == 3)
        assert bob.frames == ["hi", b"\x00\x01", '{"user":"x","text":"json"}']
        assert sorted(map(str, alice.frames)) == sorted(map(str, [*bob.frames, "upstairs"]))
        assert carol.frames == ["upstairs"]

        broadcast.leave("lobby", bob.websocket)
        broadcast.leave("lobby", bob.websocket)  # twice is fine
        broadcast.leave("nowhere", carol.websocket)
        await broadcast.publish_to_room("lobby", "bob is gone")
        await eventually(lambda: len(alice.frames) == 5)
        assert bob.frames[-1] == '{"user":"x","text":"json"}'
        broadcast.leave_all(alice.websocket)
        assert broadcast.members("lobby") == frozenset()
        assert broadcast.members("attic") == {carol.websocket}
        assert broadcast.rooms_of(alice.websocket) == frozenset()


async def test_rooms_need_an_accepted_websocket_and_a_connection() -> None:
    peer = Peer()
    async with Broadcast() as broadcast:
        with pytest.raises(RuntimeError, match="accept"):
            broadcast.join("r", peer.websocket)
    await peer.websocket.accept()
    with pytest.raises(RuntimeError, match="not connected"):
        broadcast.join("r", peer.websocket)


async def test_dead_websockets_are_removed_from_every_room() -> None:
    async with Broadcast() as broadcast:
        alive, dead = await accepted_peer(), await accepted_peer()
        for peer in (alive, dead):
            broadcast.join("a", peer.websocket)
            broadcast.join("b", peer.websocket)
        dead.dead = True
        await broadcast.publish_to_room("a", "ping")
        await eventually(lambda: broadcast.members("a") == {alive.websocket})
        assert broadcast.members("b") == {alive.websocket}
        assert broadcast.rooms_of(dead.websocket) == frozenset()
        await broadcast.publish_to_room("b", "still delivered")
        await eventually(lambda: alive.frames == ["ping", "still delivered"])


async def test_a_slow_room_member_does_not_hold_up_the_others() -> None:
    async with Broadcast(max_buffer=2) as broadcast:
        slow, quick = await accepted_peer(), await accepted_peer()
        slow.gate = anyio.Event()
        broadcast.join("r", slow.websocket)
        broadcast.join("r", quick.websocket)
        for n in range(6):
            await broadcast.publish_to_room("r", str(n))
        await eventually(lambda: len(quick.frames) == 6)
        slow.gate.set()
        # "0" was already being sent; of the rest only the newest two were kept
        await eventually(lambda: len(slow.frames) == 3)
        assert slow.frames == ["0", "4", "5"]


async def test_a_slow_room_member_can_be_closed_instead() -> None:
    async with Broadcast(max_buffer=2, overflow="disconnect") as broadcast:
        slow, quick = await accepted_peer(), await accepted_peer()
        slow.gate = anyio.Event()
        broadcast.join("r", slow.websocket)
        broadcast.join("r", quick.websocket)
        for n in range(6):
            await broadcast.publish_to_room("r", str(n))
        await eventually(lambda: len(quick.frames) == 6)
        slow.gate.set()
        await eventually(lambda: slow.sent[-1]["type"] == "websocket.close")
        assert slow.frames == ["0"]
        assert slow.sent[-1] == {"type": "websocket.close", "code": 1013, "reason": "too slow"}
        assert broadcast.members("r") == {quick.websocket}


async def test_rooms_span_workers() -> None:
    bus = Bus()
    async with Broadcast(BusBackend(bus)) as one, Broadcast(BusBackend(bus)) as two:
        here, there = await accepted_peer(), await accepted_peer()
        one.join("r", here.websocket)
        two.join("r", there.websocket)
        await one.publish_to_room("r", "everyone")
        await eventually(lambda: here.frames == ["everyone"] and there.frames == ["everyone"])


async def test_disconnect_empties_the_rooms() -> None:
    broadcast = Broadcast()
    async with broadcast:
        peer = await accepted_peer()
        broadcast.join("r", peer.websocket)
    assert broadcast.members("r") == frozenset()


# -- with an app and the test client -------------------------------------------------------------


def make_app() -> App:
    broadcast = Broadcast()

    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        async with broadcast:
            yield {"broadcast": broadcast}

    app = App(lifespan=lifespan)

    @app.websocket("/feed/{topic}")
    async def feed(websocket: WebSocket, topic: str) -> None:
        await websocket.accept()
        async with broadcast.subscribe(topic) as subscriber, anyio.create_task_group() as group:

            async def forward() -> None:
                async for message in subscriber:
                    await websocket.send_json(message)

            group.start_soon(forward)
            await websocket.send_text("subscribed")
            # NOTE: reading is how the handler learns that the client left.
            async for _ in websocket.iter_text():
                pass
            group.cancel_scope.cancel()

    @app.post("/publish/{topic}")
    async def publish(topic: str, value: int) -> dict[str, int]:
        await broadcast.publish(topic, {"topic": topic, "value": value})
        return {"subscribers": broadcast.subscriber_count(topic)}

    return app


async def test_subscriptions_from_websocket_handlers() -> None:
    async with AsyncTestClient(make_app()) as client:
        async with (
            client.websocket_connect("/feed/prices") as one,
            client.websocket_connect("/feed/prices") as two,
        ):
            assert await one.receive_text() == "subscribed"
            assert await two.receive_text() == "subscribed"
            response = await client.post("/publish/prices", params={"value": 3})
            assert response.json() == {"subscribers": 2}
            assert await one.receive_json() == {"topic": "prices", "value": 3}
            assert await two.receive_json() == {"topic": "prices", "value": 3}


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
def test_lifespan_broadcast_with_the_sync_client(anyio_backend: str) -> None:
    app = make_app()
    for _ in range(2):  # the module-level Broadcast reconnects in each client session
        with TestClient(app, backend=anyio_backend) as client:
            with client.websocket_connect("/feed/t") as ws:
                assert ws.receive_text() == "subscribed"
                client.post("/publish/t", params={"value": 1})
                assert ws.receive_json() == {"topic": "t", "value": 1}
