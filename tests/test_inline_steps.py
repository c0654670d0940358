"""Inline (eager) steps: handlers run in the transport's data callback, as the receive loop's task.

While the receive loop waits on an empty queue, ``consume_inline`` lets the dispatcher's step run
each frame right in picows' ``on_ws_frame`` or in ``AsyncioWebSocketTransport.data_received`` (no
event-loop pass per event). These tests check, over real sockets on 127.0.0.1, that this path is
taken and that handlers cannot tell it from the receive loop running them: same task, anyio works,
order and errors are kept, suspending handlers finish in order, the task is left after every read,
context variables are the task's, and stopping never hangs. Most run over picows; those that
``OVER`` parametrizes run over both transports.

Both transports are asyncio only: plain tests, each one ``anyio.run`` on asyncio (``eager_kit.run``).
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
from collections.abc import Awaitable
from contextlib import suppress
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from eager_kit import (
    OVER,
    ContextApp,
    EagerApp,
    Server,
    asyncio_task_errors,
    burst,
    delta,
    done,
    in_callback,
    run,
    run_over,
    run_over_memory,
    spy_steps,
    wire,
)
from websockets.frames import Frame, Opcode

from realtime_dispatch import Connection, DecodeError, UnknownEvent, events, on, on_error
from realtime_dispatch.transports import (
    PicowsTransport,
    TransportClosed,
    WebSocketTransport,
    connect_picows,
    serve_websocket,
)

# --- 1. the eager path is taken, as the receive loop's task ---------------------------------------


@pytest.mark.parametrize("over", list(OVER))
def test_a_burst_is_handled_in_the_data_callback_as_the_receive_loop_task(
    monkeypatch: pytest.MonkeyPatch, over: str
) -> None:
    stepped = spy_steps(monkeypatch, over)
    frames = [delta(n) for n in range(50)]

    class App(EagerApp):
        @on("response.output_text.delta")
        def text(self, event: events.ResponseOutputTextDelta) -> None:
            self.log.append((event.delta, asyncio.current_task(), in_callback(over)))

    async def main() -> tuple[App, list[asyncio.Task[Any] | None]]:
        app = App()
        await run_over(app, burst(app.ready, wire(*frames)), over)
        after: list[asyncio.Task[Any] | None] = []
        loop = asyncio.get_running_loop()
        loop.call_soon(lambda: after.append(asyncio.current_task(loop)))
        await asyncio.sleep(0.01)
        return app, after

    app, after = run(main)
    assert [d for d, _, _ in app.log] == [str(n) for n in range(50)]
    # nearly every frame of the one write went through the step, none of them twice
    assert len(stepped) >= 45
    assert stepped == frames[len(frames) - len(stepped) :] or stepped == frames[: len(stepped)]
    if over == "websockets":
        assert stepped == frames[: len(stepped)]
    assert sum(eager for _, _, eager in app.log) >= 45
    # every handler call saw the task that ran on_connect and runs the receive loop
    assert app.loop_task is not None
    assert all(task is app.loop_task for _, task, _ in app.log)
    if over == "websockets":
        assert after == [None]  # the task was left after the read


# --- 2. anyio inside eager handlers -----------------------------------------------------------


def test_anyio_works_inside_eager_handlers() -> None:
    class App(EagerApp):
        def __init__(self) -> None:
            super().__init__()
            self.started: anyio.Event | None = None
            self.facts: dict[str, Any] = {}

        @on("response.output_text.delta")
        def sync(self, event: events.ResponseOutputTextDelta) -> None:
            if event.delta != "0":
                return
            self.facts["sync eager"] = in_callback()
            self.facts["time"] = anyio.current_time()
            started = self.started = anyio.Event()

            async def later(value: str) -> None:
                await anyio.lowlevel.checkpoint()
                self.facts["started"] = (value, asyncio.current_task() is not self.loop_task)
                started.set()

            self.start_soon(later, "from an eager handler")

        @on("response.output_text.delta")
        async def scoped(self, event: events.ResponseOutputTextDelta) -> None:
            if event.delta == "1":  # a cancel scope entered eagerly, its deadline hit after the suspension
                self.facts["scoped eager"] = in_callback()
                with anyio.move_on_after(0.01) as scope:
                    await anyio.sleep(5)
                self.facts["deadline"] = scope.cancelled_caught
            elif event.delta == "2":  # a cancel scope entered eagerly, not hit
                with anyio.move_on_after(1) as scope:
                    await anyio.sleep(0.01)
                self.facts["no deadline"] = scope.cancelled_caught
            elif event.delta == "3":
                await anyio.sleep(0)  # noqa: ASYNC115 - the call a user writes
                self.facts["after checkpoint"] = asyncio.current_task() is self.loop_task

        @on("response.done")
        async def finish(self, connection: Connection) -> None:
            self.facts["done eager"] = in_callback()
            try:
                await connection.wait_for("response.created", timeout=0.1)
            except RuntimeError as exc:  # as from any inline handler: it would block the loop
                self.facts["wait_for"] = type(exc).__name__
            assert self.started is not None
            with anyio.fail_after(1):
                await self.started.wait()  # created eagerly, set by the task start_soon started
            self.facts["waited"] = True

    async def main() -> App:
        app = App()
        before = anyio.current_time()
        await run_over(app, burst(app.ready, wire(delta(0), delta(1), delta(2), delta(3), done())))
        app.facts["time ok"] = before <= app.facts.pop("time") <= anyio.current_time()
        return app

    app = run(main)
    assert app.facts == {
        "sync eager": True,
        "time ok": True,
        "started": ("from an eager handler", True),
        "scoped eager": True,
        "deadline": True,
        "no deadline": False,
        "after checkpoint": True,
        "done eager": False,  # the frames behind a suspended handler are queued, then run by the task
        "wait_for": "RuntimeError",
        "waited": True,
    }


# --- 3. order across suspensions --------------------------------------------------------------


@pytest.mark.parametrize("over", list(OVER))
def test_order_is_kept_when_eager_handlers_suspend(monkeypatch: pytest.MonkeyPatch, over: str) -> None:
    stepped = spy_steps(monkeypatch, over)

    class App(EagerApp):
        def __init__(self) -> None:
            super().__init__()
            self.inside = False
            self.overlaps = 0

        @on("response.output_text.delta")
        async def text(self, event: events.ResponseOutputTextDelta) -> None:
            if self.inside:
                self.overlaps += 1
            self.inside = True
            try:
                if int(event.delta) % 10 == 0:
                    await anyio.sleep(0.005)
                self.log.append((event.delta, asyncio.current_task() is self.loop_task))
            finally:
                self.inside = False

    async def main() -> App:
        app = App()
        await run_over(app, burst(app.ready, wire(*(delta(n) for n in range(50)))), over)
        return app

    app = run(main)
    assert [d for d, _ in app.log] == [str(n) for n in range(50)]
    assert all(same for _, same in app.log)
    assert app.overlaps == 0
    assert stepped  # the first frame (at least) found the loop waiting and suspended in the step


# --- 4. errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("over", list(OVER))
def test_handler_errors_bad_frames_and_unknown_types_in_an_eager_burst(
    monkeypatch: pytest.MonkeyPatch, over: str
) -> None:
    """Also over connect_websocket, whose asyncio transport runs the same eager step."""
    stepped = spy_steps(monkeypatch, over)
    unknown = b'{"type":"brand.new.event","x":1}'
    frames = [delta(n) for n in range(30)]
    frames.insert(20, unknown)
    frames.insert(10, b"not json")
    frames.append(done())

    class App(EagerApp):
        @on("response.output_text.delta")
        def text(self, event: events.ResponseOutputTextDelta) -> None:
            if int(event.delta) % 7 == 3:
                raise ValueError(event.delta)
            self.log.append(("delta", event.delta))

        @on(UnknownEvent)
        def new(self, event: UnknownEvent) -> None:
            self.log.append(("unknown", type(event).__name__, event.type, event.raw))

        @on("response.done")
        def finished(self) -> None:
            self.log.append(("done",))

        @on_error(ValueError)
        def value_error(self, exc: ValueError, event: Any) -> None:
            self.log.append(("value error", str(exc), type(exc).__name__, event.delta))

        @on_error(DecodeError)
        async def bad_frame(self, exc: DecodeError, event: Any) -> None:
            await anyio.lowlevel.checkpoint()  # an error handler that suspends, from the eager step
            self.log.append(("decode error", exc.raw, event))

    async def main() -> App:
        app = App()
        await run_over(app, burst(app.ready, wire(*frames)), over)
        return app

    app = run(main)
    expected: list[tuple[Any, ...]] = []
    for n in range(30):
        if n == 10:
            expected.append(("decode error", b"not json", None))
        if n == 20:
            expected.append(("unknown", "UnknownEvent", "brand.new.event", unknown))
        if n % 7 == 3:
            expected.append(("value error", str(n), "ValueError", str(n)))
        else:
            expected.append(("delta", str(n)))
    expected.append(("done",))
    assert app.log == expected
    assert stepped[:10] == frames[:10]  # up to the suspension in the decode error handler: eager


# --- 5. the loop's task is left after every read -------------------------------------------------


def test_other_tasks_run_during_a_long_eager_burst_and_no_task_stays_entered(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    stepped = spy_steps(monkeypatch)
    count = 4000
    frames = [delta(n) for n in range(count)]
    writes = [wire(*frames[start : start + 500]) for start in range(0, count, 500)]

    class App(EagerApp):
        def __init__(self) -> None:
            super().__init__()
            self.ticks = 0
            self.between: list[asyncio.Task[Any] | None] = []

        @on("response.output_text.delta")
        def text(self, event: events.ResponseOutputTextDelta) -> None:
            self.log.append((int(event.delta), self.ticks))
            if int(event.delta) % 100 == 0:  # what runs next on the loop, once this read is done
                asyncio.get_running_loop().call_soon(lambda: self.between.append(asyncio.current_task()))

    async def main() -> tuple[App, list[asyncio.Task[Any] | None]]:
        app = App()

        async def ticker() -> None:
            while True:
                await asyncio.sleep(0.001)
                app.ticks += 1

        with caplog.at_level(logging.WARNING, logger="asyncio"):
            async with anyio.create_task_group() as tg:
                tg.start_soon(ticker)
                await run_over(app, burst(app.ready, *writes, pause=0.01))
                tg.cancel_scope.cancel()
        after: list[asyncio.Task[Any] | None] = []
        loop = asyncio.get_running_loop()
        loop.call_soon(lambda: after.append(asyncio.current_task(loop)))
        await asyncio.sleep(0.01)
        return app, after

    app, after = run(main)
    assert [n for n, _ in app.log] == list(range(count))
    assert len(stepped) > count // 2  # mostly eager
    first_ticks, last_ticks = app.log[0][1], app.log[-1][1]
    assert last_ticks > first_ticks  # the ticker ran while the burst was being handled
    assert len(app.between) == count // 100
    assert app.between == [None] * (count // 100)  # callbacks after a read never run inside the loop's task
    assert after == [None]
    assert asyncio_task_errors(caplog) == []


def test_frames_split_across_reads_at_odd_offsets_are_all_handled_in_order(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    stepped = spy_steps(monkeypatch)
    frames = [delta(n) for n in range(200)]
    data = wire(*frames)
    cuts = [0, 1, 7, 50, 333, 1001, 1002, 2500, len(data) - 3, len(data) - 1, len(data)]
    writes = [data[a:b] for a, b in itertools.pairwise(cuts)]

    class App(EagerApp):
        @on("response.output_text.delta")
        def text(self, event: events.ResponseOutputTextDelta) -> None:
            self.log.append(event.delta)
            asyncio.get_running_loop().call_soon(lambda: self.log.append(asyncio.current_task()))

    async def main() -> App:
        app = App()
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            await run_over(app, burst(app.ready, *writes, pause=0.01))
        return app

    app = run(main)
    assert [d for d in app.log if isinstance(d, str)] == [str(n) for n in range(200)]
    assert [t for t in app.log if not isinstance(t, str)] == [None] * 200
    assert len(stepped) >= 190
    assert asyncio_task_errors(caplog) == []


# --- 6. fragmented messages -----------------------------------------------------------------------


def test_a_fragmented_message_goes_through_the_eager_step_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    stepped = spy_steps(monkeypatch)
    message = delta("fragmented")
    parts = [message[:10], message[10:25], message[25:]]
    around = [delta(n) for n in range(4)]  # built once: each build gets a new event_id

    def fragments() -> list[Frame]:
        return [
            Frame(Opcode.TEXT, parts[0], fin=False),
            Frame(Opcode.CONT, parts[1], fin=False),
            Frame(Opcode.CONT, parts[2]),
        ]

    alone = wire(*fragments())  # first write: the fragments alone, found by the waiting loop
    mixed = wire(around[0], around[1], *fragments(), around[2], around[3])

    class App(EagerApp):
        @on("response.output_text.delta")
        def text(self, event: events.ResponseOutputTextDelta) -> None:
            self.log.append((event.delta, in_callback(), asyncio.current_task() is self.loop_task))

    async def main() -> App:
        app = App()
        await run_over(app, burst(app.ready, alone, mixed, pause=0.02))
        return app

    app = run(main)
    assert [d for d, _, _ in app.log] == ["fragmented", "0", "1", "fragmented", "2", "3"]
    assert all(eager and same for _, eager, same in app.log)
    assert stepped == [message, around[0], around[1], message, around[2], around[3]]


# --- 7. context variables -------------------------------------------------------------------------

OUTER: contextvars.ContextVar[str] = contextvars.ContextVar("OUTER", default="unset")
CONNECTED: contextvars.ContextVar[str] = contextvars.ContextVar("CONNECTED", default="unset")


def test_context_variables_of_the_app_and_on_connect_are_seen_by_eager_handlers() -> None:
    class App(EagerApp):
        async def on_connect(self, connection: Connection) -> None:
            CONNECTED.set("in on_connect")
            await super().on_connect(connection)

        @on("response.output_text.delta")
        def text(self, event: events.ResponseOutputTextDelta) -> None:
            self.log.append((OUTER.get(), CONNECTED.get(), in_callback()))

    async def main() -> App:
        OUTER.set("before run_async")
        app = App()
        await run_over(app, burst(app.ready, wire(*(delta(n) for n in range(5)))))
        return app

    app = run(main)
    assert app.log == [("before run_async", "in on_connect", True)] * 5


@pytest.mark.parametrize("over", list(OVER))
def test_a_context_variable_set_in_a_handler_survives_its_await_as_without_eager_dispatch(over: str) -> None:
    frames = [delta(n) for n in range(3)]

    async def over_memory() -> list[Any]:
        app = ContextApp()
        await run_over_memory(app, frames)
        return [entry[:3] for entry in app.log]

    async def over_socket() -> list[Any]:
        app = ContextApp()
        # one frame per write, far apart: each one is found by the waiting loop and handled eagerly
        await run_over(app, burst(app.ready, *(wire(f) for f in frames), pause=0.05), over)
        assert [entry[3] for entry in app.log if entry[0] == "before"] == [True] * 3
        return [entry[:3] for entry in app.log]

    expected = [
        ("before", "0", "unset"),
        ("after await", "0", "set by 0"),
        ("before", "1", "left by 0"),
        ("after await", "1", "set by 1"),
        ("before", "2", "left by 1"),
        ("after await", "2", "set by 2"),
    ]
    assert run(over_memory) == expected  # the receive loop's task runs every handler in its context
    assert run(over_socket) == expected


# --- 8. a BaseException ends the run as without eager dispatch -------------------------------------


class Boom(BaseException):
    pass


class BoomApp(EagerApp):
    @on("response.output_text.delta")
    def text(self, event: events.ResponseOutputTextDelta) -> None:
        if event.delta == "3":
            raise Boom("boom at 3")
        self.log.append(event.delta)


def test_a_base_exception_from_an_eager_handler_ends_the_run_as_over_memory() -> None:
    frames = [delta(n) for n in range(8)]

    async def outcome(running: Awaitable[None]) -> BaseException | None:
        try:
            await running
        except BaseException as exc:  # whatever surfaces, group or not: compared below
            return exc
        return None

    async def over_memory() -> tuple[BaseException | None, list[Any]]:
        app = BoomApp()
        return await outcome(run_over_memory(app, frames)), app.log

    async def over_picows() -> tuple[BaseException | None, list[Any]]:
        app = BoomApp()
        return await outcome(run_over(app, burst(app.ready, wire(*frames)))), app.log

    memory_exc, memory_log = run(over_memory)
    picows_exc, picows_log = run(over_picows)
    assert type(memory_exc) is Boom  # unwrapped from the task group's exception group
    assert str(memory_exc) == "boom at 3"
    assert memory_log == ["0", "1", "2"]
    assert type(picows_exc) is Boom
    assert str(picows_exc) == "boom at 3"
    assert picows_log == memory_log


# --- 9. stopping while frames keep arriving -------------------------------------------------------


def stream(ready: anyio.Event) -> Server:
    """Small writes of a few deltas every millisecond until the client goes away."""

    async def pump(transport: WebSocketTransport) -> None:
        n = 0
        with suppress(TransportClosed, OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            while True:
                await transport._stream.send(wire(*(delta(n + i) for i in range(5))))
                n += 5
                await anyio.sleep(0.001)

    async def handler(transport: WebSocketTransport) -> None:
        await ready.wait()
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump, transport)
            with suppress(TransportClosed):
                await transport.receive()  # reading answers the client's close frame
            tg.cancel_scope.cancel()

    return handler


class StreamApp(EagerApp):
    @on("response.output_text.delta")
    async def text(self, event: events.ResponseOutputTextDelta) -> None:
        if int(event.delta) % 7 == 0:
            await anyio.sleep(0.001)  # suspended now and then: a _Suspended may be in flight at the stop
        self.log.append(int(event.delta))


@pytest.mark.parametrize("how", ["leave connect()", "cancel run_async()"])
def test_stopping_while_frames_keep_arriving_does_not_hang(caplog: pytest.LogCaptureFixture, how: str) -> None:
    async def main() -> StreamApp:
        app = StreamApp()
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            async with serve_websocket(stream(app.ready)) as port:

                async def factory() -> PicowsTransport:
                    return await connect_picows(f"ws://127.0.0.1:{port}/v1/realtime")

                with anyio.fail_after(5):
                    if how == "leave connect()":
                        async with app.connect(factory):
                            await app.ready.wait()
                            await anyio.sleep(0.2)
                    else:
                        with anyio.move_on_after(0.2):
                            await app.run_async(factory)
            await asyncio.sleep(0.01)
        return app

    app = run(main)
    assert len(app.log) > 20
    assert app.log == list(range(len(app.log)))  # in order, none lost before the stop
    assert asyncio_task_errors(caplog) == []
    assert not any(r.levelno >= logging.ERROR for r in caplog.records if r.name == "asyncio")
