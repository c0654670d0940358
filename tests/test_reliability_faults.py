"""Faults in handlers and in the connection (issue 8).

Handlers: thousands of exceptions in one session, background handlers that time out and ones
cancelled at shutdown; the loop stays alive, each failure reaches the error handler once, and
no task is left behind.

Connection: a scripted session of K recorded server frames lost after every frame index
0..K (``faulty(..., plans=[FaultPlan(drop_after=i)])``), in memory and over real sockets. The
app reconnects, every frame is handled once and in order (handlers are not registered twice),
and the client events sent before, during and after the outage reach the server once each,
in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import pytest
import sniffio
from conftest import recorded_frames

from realtime_dispatch import (
    Connection,
    HandlerTimeout,
    NotConnected,
    RealtimeApp,
    Reconnect,
    Router,
    events,
    on,
    on_error,
)
from realtime_dispatch.testing import FaultPlan, faulty
from realtime_dispatch.transports import (
    Transport,
    TransportClosed,
    WebSocketTransport,
    memory_pair,
    serve_websocket,
)

pytestmark = pytest.mark.anyio

FAST = Reconnect(max_attempts=5, initial_delay=0.001, max_delay=0.002, jitter=0.0)


def live_tasks() -> set[Any]:
    """Every task of the running event loop (asyncio or trio)."""
    if sniffio.current_async_library() == "trio":
        import trio

        found: set[Any] = set()
        todo = [trio.lowlevel.current_root_task()]
        while todo:
            task = todo.pop()
            found.add(task)
            for nursery in task.child_nurseries:
                todo.extend(nursery.child_tasks)
        return found
    return set(asyncio.all_tasks())


def delta(n: int) -> events.ResponseOutputTextDelta:
    return events.ResponseOutputTextDelta.build(delta=str(n))


async def feed(app: RealtimeApp, frames: list[events.ServerEvent]) -> None:
    client, server = memory_pair(max_buffer=len(frames) + 1)
    for frame in frames:
        await server.send_event(frame)
    await server.close()
    with anyio.fail_after(20):
        await app.run_async(client)


# --- handler faults ----------------------------------------------------------------------------

RAISING = 5000


def raising_event(n: int) -> events.ServerEvent:
    """Event ``n`` of the flood (its number in ``event_id``); the type picks the handler that raises."""
    if n % 5 == 0:
        return events.InputAudioBufferCleared.build(event_id=str(n))
    if n % 5 == 1:
        return events.InputAudioBufferCommitted.build(event_id=str(n))
    return events.ResponseOutputTextDelta.build(event_id=str(n), delta="x")


def number(event: events.ServerEvent) -> int:
    return int(event.event_id or "-1")


async def test_five_thousand_handler_exceptions_in_one_session_are_each_reported_once() -> None:
    """Every kind of handler raises, one event in five each: inline sync and async on the fast
    path, a filtered inline one, a background one, and a filtered one of a sub-router with its
    own error handler. Each exception reaches its error handler once; the loop then handles the
    event after them; the metrics count them all; nothing is left in flight."""
    reported: list[tuple[str, int]] = []
    router = Router("sub")

    @router.on("response.output_text.delta", when=lambda event: number(event) % 5 == 4)
    def filtered_in_sub_router(event: events.ResponseOutputTextDelta) -> None:
        raise KeyError(number(event))

    @router.on_error(KeyError)
    def sub_errors(exc: KeyError) -> None:
        reported.append(("sub", exc.args[0]))

    class App(RealtimeApp):
        collect_metrics = True

        def __init__(self) -> None:
            super().__init__()
            self.include_router(router)
            self.last: str | None = None

        @on("input_audio_buffer.cleared")
        def inline_sync(self, event: events.InputAudioBufferCleared) -> None:
            raise ValueError(number(event))

        @on("input_audio_buffer.committed")
        async def inline_async(self, event: events.InputAudioBufferCommitted) -> None:
            raise ValueError(number(event))

        @on("response.output_text.delta", background=True, when=lambda event: number(event) % 5 == 2)
        async def background(self, event: events.ResponseOutputTextDelta) -> None:
            await anyio.lowlevel.checkpoint()
            raise ValueError(number(event))

        @on("response.output_text.delta", when=lambda event: number(event) % 5 == 3)
        def filtered(self, event: events.ResponseOutputTextDelta) -> None:
            raise RuntimeError(number(event))

        @on("response.done")
        def done(self, event: events.ResponseDone) -> None:
            self.last = event.response.id

        @on_error(ValueError, RuntimeError)
        def errors(self, exc: Exception) -> None:
            reported.append((type(exc).__name__, exc.args[0]))

        async def on_connect(self, connection: Connection) -> None:
            self.dispatcher = self._running_parts().setup.dispatcher

    app = App()
    end = events.ResponseDone.build(response=events.Response(id="end"))
    await feed(app, [*(raising_event(n) for n in range(RAISING)), end])
    assert len(reported) == RAISING
    assert sorted(n for _, n in reported) == list(range(RAISING))  # each exactly once
    kinds = {n % 5: kind for kind, n in reported}
    assert kinds == {0: "ValueError", 1: "ValueError", 2: "ValueError", 3: "RuntimeError", 4: "sub"}
    inline = [n for _, n in reported if n % 5 != 2]
    assert inline == sorted(inline)  # inline failures are reported in arrival order
    assert app.last == "end"  # the loop was alive after all of them
    assert app.metrics.handler_errors == RAISING
    assert app.dispatcher.in_flight == 0


async def test_background_handlers_that_time_out_leave_nothing_behind() -> None:
    timeouts: list[HandlerTimeout] = []
    finished: list[str] = []
    count = 300

    class App(RealtimeApp):
        max_background_tasks = 16  # past 16 in flight the loop waits for a slot: that path too

        @on("response.output_text.delta", background=True, timeout=0.01)
        async def stuck(self, event: events.ResponseOutputTextDelta) -> None:
            try:
                await anyio.sleep_forever()
            finally:
                finished.append(event.delta)

        @on("response.output_text.delta", background=True, timeout=5, concurrency=4)
        async def quick(self) -> None:
            await anyio.lowlevel.checkpoint()

        @on_error(HandlerTimeout)
        def timed_out(self, exc: HandlerTimeout) -> None:
            timeouts.append(exc)

        async def on_connect(self, connection: Connection) -> None:
            self.dispatcher = self._running_parts().setup.dispatcher

    before = live_tasks()
    app = App()
    await feed(app, [delta(n) for n in range(count)])
    assert len(timeouts) == count
    assert all(exc.handler.endswith("App.stuck") and exc.timeout == 0.01 for exc in timeouts)
    assert sorted(map(int, finished)) == list(range(count))  # every one was cancelled, none abandoned
    assert app.dispatcher.in_flight == 0
    assert live_tasks() == before


async def test_background_handlers_cancelled_at_shutdown_leave_nothing_behind() -> None:
    started: list[int] = []
    cancelled: list[int] = []
    count = 200

    class App(RealtimeApp):
        shutdown_grace = 0.05

        @on("response.output_text.delta", background=True)
        async def forever(self, event: events.ResponseOutputTextDelta) -> None:
            started.append(int(event.delta))
            try:
                await anyio.sleep_forever()
            except anyio.get_cancelled_exc_class():
                cancelled.append(int(event.delta))
                raise

        @on_error()
        def unexpected(self, exc: Exception) -> None:
            raise AssertionError(f"nothing should be reported: {exc!r}")

        async def on_connect(self, connection: Connection) -> None:
            self.dispatcher = self._running_parts().setup.dispatcher

    before = live_tasks()
    app = App()
    await feed(app, [delta(n) for n in range(count)])
    assert sorted(started) == list(range(count))
    assert sorted(cancelled) == list(range(count))
    assert app.dispatcher.in_flight == 0
    assert await app.dispatcher.wait_idle(0)
    assert live_tasks() == before


# --- connection faults -------------------------------------------------------------------------

SCRIPT = [
    frame for _, _, frame in recorded_frames("ga-pydantic-ai-test_openai_ws-test_tool_call_round-2026-07-28.jsonl")
]
K = 20
SCRIPT = SCRIPT[:K]
SCRIPT_IDS = [events.decode(frame).event_id for frame in SCRIPT]
OUTAGE_SENDS = 5


class Resuming(RealtimeApp):
    """Handles every event inline (and sends a client event for each); once the first
    connection is lost, ``OUTAGE_SENDS`` senders send while it is down."""

    session = events.Session(type="realtime", instructions="resume")
    reconnect = FAST
    slow_handler_threshold = 0

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str | None] = []
        self.typed: list[str | None] = []
        self.connects = 0
        self.disconnects = 0
        self.lost = anyio.Event()
        self.queued: list[str] = []  # outage sends in the order send() was called
        self.while_down: list[bool] = []
        self.outage_done = 0
        self.inline_done = 0
        self.outage_sends = OUTAGE_SENDS
        self.all_sent = anyio.Event()  # every inline and outage send returned
        self.reconnected = anyio.Event()

    @on("*")
    async def every(self, event: events.ServerEvent, conn: Connection) -> None:
        self.seen.append(event.event_id)
        await conn.send(events.InputAudioBufferClear(event_id=f"inline-{len(self.seen) - 1}"))
        self.inline_done += 1
        self._maybe_done()

    @on("response.function_call_arguments.delta")
    def arguments(self, event: events.ResponseFunctionCallArgumentsDelta) -> None:
        self.typed.append(event.event_id)

    async def on_connect(self, connection: Connection) -> None:
        self.connects += 1
        if self.connects == 2:
            self.reconnected.set()

    async def on_disconnect(self, connection: Connection) -> None:
        self.disconnects += 1
        self.lost.set()

    async def send_during_outage(self, conn: Connection, n: int) -> None:
        await self.lost.wait()
        event_id = f"outage-{n}"
        self.while_down.append(not conn.connected)
        self.queued.append(event_id)
        await conn.send(events.InputAudioBufferClear(event_id=event_id))
        self.outage_done += 1
        self._maybe_done()

    def _maybe_done(self) -> None:
        if self.inline_done == K and self.outage_done == self.outage_sends:
            self.all_sent.set()


class Server:
    """Connection 1 gets the whole script, connection 2 the rest of it from the drop on (as a
    server resuming a session would); records the client events each connection received."""

    def __init__(self, drop_at: int) -> None:
        self.drop_at = drop_at
        self.received: list[list[events.ClientEvent]] = []
        self.finished = 0
        self.both_finished = anyio.Event()

    def frames_for(self, connection: int) -> list[bytes]:
        return SCRIPT if connection == 0 else SCRIPT[self.drop_at :]

    async def read(self, receive: Any, connection: int, close: Any = None) -> None:
        log = self.received[connection]
        try:
            while True:
                log.append(events.decode_client(await receive()))
        except TransportClosed:
            self.finished += 1
            if self.finished == 2:
                self.both_finished.set()
        finally:
            if close is not None:
                await close()

    async def open_memory(self, task_group: anyio.abc.TaskGroup) -> Transport:
        """A transport factory's work: the server's frames are queued before the app can read
        (a memory server that sends after the client closed can no longer read what it got)."""
        client, server_side = memory_pair()
        self.received.append([])
        connection = len(self.received) - 1
        for frame in self.frames_for(connection):
            await server_side.send_raw(frame)
        task_group.start_soon(self.read, server_side.receive_raw, connection, server_side.close)
        return client

    async def serve_socket(self, transport: WebSocketTransport) -> None:
        self.received.append([])
        connection = len(self.received) - 1
        for frame in self.frames_for(connection):
            await transport.send(frame)
        await self.read(transport.receive, connection)

    def check(self, app: Resuming) -> None:
        i = self.drop_at
        assert app.seen == SCRIPT_IDS  # each frame handled once, in order, none lost
        assert app.typed == [id_ for id_, f in zip(SCRIPT_IDS, SCRIPT, strict=True) if b"arguments.delta" in f]
        assert app.connects == 2
        assert app.disconnects == 2
        assert len(self.received) == 2
        assert self.finished == 2
        first, second = (
            [event.event_id if event.type != "session.update" else "session" for event in log] for log in self.received
        )
        assert first == ["session", *(f"inline-{n}" for n in range(i))]
        assert second == ["session", *app.queued, *(f"inline-{n}" for n in range(i, K))]
        assert sorted(app.queued) == [f"outage-{n}" for n in range(OUTAGE_SENDS)]
        assert app.while_down == [True] * OUTAGE_SENDS  # they really were sent during the outage
        assert app.outage_done == OUTAGE_SENDS


@asynccontextmanager
async def running(app: Resuming, target: Any) -> AsyncIterator[None]:
    async with anyio.create_task_group() as task_group, app.connect(target) as conn:
        for n in range(OUTAGE_SENDS):
            task_group.start_soon(app.send_during_outage, conn, n)
        with anyio.fail_after(10):
            await app.reconnected.wait()
            await app.all_sent.wait()
        yield


@pytest.mark.parametrize("drop_at", range(K + 1))
async def test_a_drop_after_every_frame_index_loses_and_repeats_nothing(drop_at: int) -> None:
    server = Server(drop_at)
    app = Resuming()
    async with anyio.create_task_group() as server_tasks:

        async def factory() -> Transport:
            return await server.open_memory(server_tasks)

        async with running(app, faulty(factory, plans=[FaultPlan(drop_after=drop_at)])):
            pass
        with anyio.fail_after(5):
            await server.both_finished.wait()
    server.check(app)


@pytest.mark.parametrize("drop_at", [0, 1, K // 2, K - 1, K])
async def test_a_drop_over_real_sockets_loses_and_repeats_nothing(drop_at: int) -> None:
    server = Server(drop_at)
    app = Resuming()
    async with serve_websocket(server.serve_socket) as port:
        async with running(app, faulty(f"ws://127.0.0.1:{port}/v1/realtime", plans=[FaultPlan(drop_after=drop_at)])):
            pass
        with anyio.fail_after(5):
            await server.both_finished.wait()
    server.check(app)


async def test_a_send_awaited_in_on_disconnect_goes_out_after_the_reconnect() -> None:
    """``on_disconnect`` runs during the outage, so a send there is an outage send: it must go out
    after the reconnect (after the session), not wait for a reconnect that only starts once
    ``on_disconnect`` has returned."""
    server = Server(drop_at=3)

    class App(Resuming):
        async def on_disconnect(self, connection: Connection) -> None:
            await super().on_disconnect(connection)
            if self.disconnects == 1:
                await connection.send(events.InputAudioBufferClear(event_id="from-on-disconnect"))

    app = App()
    app.outage_sends = 0
    outcome = "reconnected"
    async with anyio.create_task_group() as server_tasks:

        async def factory() -> Transport:
            return await server.open_memory(server_tasks)

        try:
            async with app.connect(faulty(factory, plans=[FaultPlan(drop_after=3)])):
                with anyio.move_on_after(1) as scope:  # a reconnect in memory takes milliseconds
                    await app.reconnected.wait()
                    await app.all_sent.wait()
                if scope.cancelled_caught:
                    outcome = "no reconnect within 1 s"
        except* NotConnected:
            outcome += "; the send in on_disconnect failed with NotConnected when the app stopped"
        server_tasks.cancel_scope.cancel()
    assert outcome == "reconnected"
    assert app.seen == SCRIPT_IDS
    assert [event.event_id for event in server.received[1][1:2]] == ["from-on-disconnect"]


# A send from the receive loop's own task (an inline handler, on_connect) to a connection that
# has already closed, before the loop has seen the close: the send must not wait for a reconnect
# that only the loop can start.


class SendsOnEvent(RealtimeApp):
    reconnect = FAST
    slow_handler_threshold = 0

    def __init__(self) -> None:
        super().__init__()
        self.handled = 0

    @on("input_audio_buffer.cleared")
    async def answer(self, conn: Connection) -> None:
        self.handled += 1
        await conn.send(events.InputAudioBufferClear(event_id=f"answer-{self.handled}"))


class SendsOnConnect(SendsOnEvent):
    async def on_connect(self, connection: Connection) -> None:
        if not self.said_hello:  # on the first connection only
            self.said_hello = True
            await connection.send(events.InputAudioBufferClear(event_id="hello"))

    said_hello = False


@pytest.mark.parametrize("app_class", [SendsOnEvent, SendsOnConnect])
async def test_a_send_from_the_loop_to_a_connection_closed_meanwhile_does_not_hang(
    app_class: type[SendsOnEvent],
) -> None:
    """The server sends one event and closes (1011). Connection 1 is already closed when the app
    sends (from on_connect, or from the inline handler of that event); the send waits out the
    reconnect, goes out on connection 2, and the app goes on."""
    received: list[list[str | None]] = []
    # The event buffered before the close is still handled (a socket reads the close frame last): with
    # on_connect's send, both wait out the reconnect, in the order sent.
    expected = ["hello", "answer-1"] if app_class is SendsOnConnect else ["answer-1"]
    arrived = anyio.Event()  # connection 2 got them all

    async def factory() -> Transport:
        client, server = memory_pair()
        received.append([])
        if len(received) == 1:
            await server.send_event(events.InputAudioBufferCleared.build())
            await server.close(1011, "server error")
            return client
        server_tasks.start_soon(read, server, received[-1])
        return client

    async def read(server: Any, log: list[str | None]) -> None:
        try:
            while True:
                log.append((await server.receive_event()).event_id)
                if len(log) == len(expected):
                    arrived.set()
        except TransportClosed:
            await server.close()

    app = app_class()
    hung = False
    async with anyio.create_task_group() as server_tasks:
        with anyio.move_on_after(1) as scope:
            async with app.connect(factory):
                await arrived.wait()
        hung = scope.cancelled_caught
        server_tasks.cancel_scope.cancel()
    assert not hung, "the app hung: the send waited for a reconnect that waited for the send"
    assert received[0] == []
    assert received[1] == expected  # in the order sent, once each, on the next connection


async def test_a_send_from_an_inline_handler_to_a_closed_transport_without_reconnect_does_not_hang() -> None:
    client, server = memory_pair()
    await server.send_event(events.InputAudioBufferCleared.build())
    await server.close()
    app = SendsOnEvent()
    with anyio.move_on_after(1) as scope:
        await app.run_async(client)  # a Transport: no reconnect possible
    assert not scope.cancelled_caught, "the app hung on a send to a closed connection"
    assert app.handled == 1
