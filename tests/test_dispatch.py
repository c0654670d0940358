"""Dispatch: which handlers run, in what order, inline or in the background, and what
happens to their errors, to bad frames and to middleware."""

import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from realtime_dispatch import (
    Connection,
    DecodeError,
    HandlerTimeout,
    RealtimeApp,
    Router,
    UnknownEvent,
    events,
    on,
    on_error,
)
from realtime_dispatch.transports import MemoryServer, memory_pair

pytestmark = pytest.mark.anyio

DISPATCH_LOGGER = "realtime_dispatch.dispatch"
Frame = events.ServerEvent | bytes


# --- helpers ------------------------------------------------------------------------------------


def delta(text: str = "x") -> events.ResponseOutputTextDelta:
    return events.ResponseOutputTextDelta.build(delta=text)


def done(response_id: str = "resp_1") -> events.ResponseDone:
    return events.ResponseDone.build(response=events.Response(id=response_id))


def created(response_id: str = "resp_1") -> events.ResponseCreated:
    return events.ResponseCreated.build(response=events.Response(id=response_id))


def cleared() -> events.InputAudioBufferCleared:
    return events.InputAudioBufferCleared.build()


async def feed(app: RealtimeApp, *frames: Frame) -> None:
    """Run ``app`` over ``frames`` then a server close; return when the app has stopped."""
    client, server = memory_pair()
    for frame in frames:
        if isinstance(frame, bytes):
            await server.send_raw(frame)
        else:
            await server.send_event(frame)
    await server.close()
    try:
        with anyio.fail_after(5):
            await app.run_async(client)
    finally:
        await client.aclose()


@asynccontextmanager
async def serving(app: RealtimeApp) -> AsyncIterator[MemoryServer]:
    """Run ``app`` in the background; yields the server side, closes it on leaving."""
    client, server = memory_pair()
    try:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(app.run_async, client)
                yield server
                await server.close()
    finally:
        await server.close()
        await client.aclose()


def messages(caplog: pytest.LogCaptureFixture, level: int, logger: str = DISPATCH_LOGGER) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelno == level]


# --- which handlers, in which order -------------------------------------------------------------


async def test_every_matching_handler_runs_in_tree_order() -> None:
    calls: list[str] = []

    def record(name: str) -> Callable[[], None]:
        return lambda: calls.append(name)

    class App(RealtimeApp):
        @on("response.done")
        async def m1(self) -> None:
            calls.append("app.m1")

        @on("*")
        def m2(self) -> None:
            calls.append("app.m2")

    app = App()
    a, a1, a1x, a2, b = Router("a"), Router("a1"), Router("a1x"), Router("a2"), Router("b")
    app.on("response.*")(record("app.f3"))
    a.on("response.done")(record("a.1"))
    a.on("response.done", when=lambda e: True)(record("a.2"))
    a1.on("*", once=True)(record("a1.1"))
    a1x.on(events.ResponseDone)(record("a1x.1"))
    a2.on("response.done")(record("a2.1"))
    b.on("response.created")(record("b.never"))
    b.on("response.*")(record("b.1"))
    app.include_router(a)
    app.include_router(b)
    a.include_router(a1)
    a1.include_router(a1x)
    a.include_router(a2)
    a.on("response.done")(record("a.3"))  # own handlers go before sub-routers whenever registered
    await feed(app, done(), cleared(), done())
    first = ["app.m1", "app.m2", "app.f3", "a.1", "a.2", "a.3", "a1.1", "a1x.1", "a2.1", "b.1"]
    second = ["app.m1", "app.m2", "app.f3", "a.1", "a.2", "a.3", "a1x.1", "a2.1", "b.1"]
    assert calls == [*first, "app.m2", *second]


async def test_inline_handlers_see_events_in_arrival_order() -> None:
    sync_seen: list[int] = []
    async_seen: list[int] = []
    yielding_seen: list[int] = []

    class App(RealtimeApp):
        @on("response.output_text.delta")
        def sync(self, event: events.ResponseOutputTextDelta) -> None:
            sync_seen.append(int(event.delta))

        @on("response.output_text.delta")
        async def asynchronous(self, event: events.ResponseOutputTextDelta) -> None:
            async_seen.append(int(event.delta))

        @on("response.output_text.delta")
        async def yielding(self, event: events.ResponseOutputTextDelta) -> None:
            await anyio.lowlevel.checkpoint()
            yielding_seen.append(int(event.delta))

    await feed(App(), *(delta(str(i)) for i in range(500)))
    assert sync_seen == list(range(500))
    assert async_seen == list(range(500))
    assert yielding_seen == list(range(500))


async def test_inline_order_holds_while_the_server_is_still_sending() -> None:
    seen: list[int] = []
    router = Router()
    router.on("response.output_text.delta")(lambda event: seen.append(int(event.delta)))
    app = RealtimeApp()
    app.include_router(router)
    async with serving(app) as server:
        for i in range(300):
            await server.send_event(delta(str(i)))
            if i % 7 == 0:
                await anyio.lowlevel.checkpoint()
    assert seen == list(range(300))


async def test_when_filters_events() -> None:
    seen: list[str] = []

    class App(RealtimeApp):
        @on("response.output_text.delta", when=lambda e: e.delta.startswith("a"))
        def only_a(self, event: events.ResponseOutputTextDelta) -> None:
            seen.append(event.delta)

    await feed(App(), delta("apple"), delta("banana"), delta("avocado"), delta("cherry"))
    assert seen == ["apple", "avocado"]


async def test_a_when_predicate_that_raises_is_reported_and_skips_the_handler() -> None:
    seen: list[str] = []
    errors: list[tuple[BaseException, Any]] = []

    class App(RealtimeApp):
        @on("response.output_text.delta", when=lambda e: int(e.delta) > 0)
        def positive(self, event: events.ResponseOutputTextDelta) -> None:
            seen.append(event.delta)

        @on_error(ValueError)
        def failed(self, exc: Exception, event: Any) -> None:
            errors.append((exc, event))

    await feed(App(), delta("1"), delta("nan?"), delta("2"))
    assert seen == ["1", "2"]
    [(exc, event)] = errors
    assert isinstance(exc, ValueError)
    assert event.delta == "nan?"


async def test_once_fires_only_the_first_time() -> None:
    seen: list[str] = []

    class App(RealtimeApp):
        @on("response.output_text.delta", once=True)
        def first(self, event: events.ResponseOutputTextDelta) -> None:
            seen.append("first:" + event.delta)

        @on("response.output_text.delta", once=True, when=lambda e: e.delta == "b")
        def first_b(self, event: events.ResponseOutputTextDelta) -> None:
            seen.append("first_b:" + event.delta)

        @on("response.output_text.delta")
        def every(self, event: events.ResponseOutputTextDelta) -> None:
            seen.append("every:" + event.delta)

    await feed(App(), delta("a"), delta("b"), delta("b"), delta("c"))
    assert seen == ["first:a", "every:a", "first_b:b", "every:b", "every:b", "every:c"]


# --- the low-level connection -------------------------------------------------------------------


async def test_iterating_a_bare_connection_yields_typed_events(caplog: pytest.LogCaptureFixture) -> None:
    client, server = memory_pair()
    unknown = b'{"type":"brand.new","x":1}'
    await server.send_event(delta("hi"))
    await server.send_raw(b"not json")
    await server.send_event(done("r1"))
    await server.send_raw(unknown)
    await server.close()
    got: list[events.ServerEvent] = []
    with caplog.at_level(logging.WARNING, logger="realtime_dispatch.connection"), anyio.fail_after(5):
        async with Connection(client) as conn:
            async for event in conn:
                got.append(event)
    assert [type(e) for e in got] == [events.ResponseOutputTextDelta, events.ResponseDone, UnknownEvent]
    assert isinstance(got[0], events.ResponseOutputTextDelta)
    assert got[0].delta == "hi"
    assert isinstance(got[2], UnknownEvent)
    assert got[2].raw == unknown
    warnings = messages(caplog, logging.WARNING, "realtime_dispatch.connection")
    assert len(warnings) == 1
    assert "not json" in warnings[0]


async def test_iterating_a_connection_driven_by_an_app_raises() -> None:
    outcome: list[BaseException] = []

    class App(RealtimeApp):
        @on("response.done")
        def h(self, conn: Connection) -> None:
            try:
                aiter(conn)
            except RuntimeError as exc:
                outcome.append(exc)

    await feed(App(), done())
    assert len(outcome) == 1


# --- background handlers ------------------------------------------------------------------------


async def test_a_slow_background_handler_does_not_hold_up_later_events() -> None:
    log: list[str] = []

    class App(RealtimeApp):
        def __init__(self) -> None:
            super().__init__()
            self.started = anyio.Event()
            self.release = anyio.Event()
            self.finished = anyio.Event()

        @on("response.created", background=True)
        async def slow(self) -> None:
            log.append("slow started")
            self.started.set()
            await self.release.wait()
            log.append("slow finished")
            self.finished.set()

        @on("response.done")
        def inline(self, event: events.ResponseDone) -> None:
            log.append("inline " + (event.response.id or ""))
            self.release.set()

    app = App()
    async with serving(app) as server:
        await server.send_event(created())
        await app.started.wait()
        await server.send_event(done("r1"))
        await app.finished.wait()
    assert log == ["slow started", "inline r1", "slow finished"]


async def test_concurrency_limits_background_handlers() -> None:
    active = {"one": 0, "three": 0, "unlimited": 0}
    peak = dict.fromkeys(active, 0)
    ran: dict[str, list[str]] = {name: [] for name in active}

    async def work(name: str, event: events.ResponseOutputTextDelta) -> None:
        active[name] += 1
        peak[name] = max(peak[name], active[name])
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
        active[name] -= 1
        ran[name].append(event.delta)

    class App(RealtimeApp):
        @on("response.output_text.delta", background=True, concurrency=1)
        async def one(self, event: events.ResponseOutputTextDelta) -> None:
            await work("one", event)

        @on("response.output_text.delta", background=True, concurrency=3)
        async def three(self, event: events.ResponseOutputTextDelta) -> None:
            await work("three", event)

        @on("response.output_text.delta", background=True)
        async def unlimited(self, event: events.ResponseOutputTextDelta) -> None:
            await work("unlimited", event)

    await feed(App(), *(delta(str(i)) for i in range(20)))
    assert peak["one"] == 1
    assert peak["three"] == 3
    assert peak["unlimited"] > 3
    for name in active:  # every event handled once (start order is up to the scheduler)
        assert sorted(ran[name], key=int) == [str(i) for i in range(20)]


async def test_background_timeout_raises_handler_timeout_into_the_error_handler() -> None:
    reported: list[tuple[BaseException, Any]] = []
    cancelled: list[str] = []

    class App(RealtimeApp):
        @on("response.created", background=True, timeout=0.05)
        async def stuck(self) -> None:
            try:
                await anyio.sleep_forever()
            except anyio.get_cancelled_exc_class():
                cancelled.append("stuck")
                raise

        @on_error(HandlerTimeout)
        def timed_out(self, exc: HandlerTimeout, event: events.ResponseCreated) -> None:
            reported.append((exc, event))

    event = created("r1")
    await feed(App(), event)
    [(exc, got)] = reported
    assert isinstance(exc, HandlerTimeout)
    assert isinstance(exc, TimeoutError)
    assert exc.timeout == 0.05
    assert exc.handler.endswith("App.stuck")
    assert got.event_id == event.event_id
    assert cancelled == ["stuck"]


async def test_a_background_handlers_own_timeout_error_is_not_reported_as_handler_timeout() -> None:
    # A TimeoutError the handler raises itself (say from conn.wait_for(timeout=...)) within
    # its time limit must reach the error handler as it is, not as "timed out after 5 s".
    reported: list[BaseException] = []

    class App(RealtimeApp):
        @on("response.created", background=True, timeout=5)
        async def gives_up(self) -> None:
            raise TimeoutError("my own deadline")

        @on_error(TimeoutError)
        def failed(self, exc: TimeoutError) -> None:
            reported.append(exc)

    with anyio.fail_after(2):
        await feed(App(), created())
    [exc] = reported
    assert not isinstance(exc, HandlerTimeout)
    assert str(exc) == "my own deadline"


async def test_sync_background_handlers_run_in_a_worker_thread() -> None:
    threads: dict[str, int] = {}
    loop_thread = threading.get_ident()

    class App(RealtimeApp):
        @on("response.done", background=True)
        def in_thread(self, event: events.ResponseDone) -> None:
            threads["background"] = threading.get_ident()

        @on("response.done")
        def inline(self) -> None:
            threads["inline"] = threading.get_ident()

    await feed(App(), done())
    assert threads["inline"] == loop_thread
    assert threads["background"] != loop_thread


async def test_background_handlers_are_finished_or_cancelled_when_the_app_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state: dict[str, str] = {}

    class App(RealtimeApp):
        shutdown_grace = 0.1

        @on("response.created", background=True)
        async def quick(self) -> None:
            state["quick"] = "running"
            for _ in range(5):
                await anyio.lowlevel.checkpoint()
            state["quick"] = "finished"

        @on("response.created", background=True)
        async def stuck(self) -> None:
            state["stuck"] = "running"
            try:
                await anyio.sleep_forever()
            finally:
                state["stuck"] = "ended"

    with caplog.at_level(logging.WARNING):
        await feed(App(), created())
    assert state == {"quick": "finished", "stuck": "ended"}
    assert any("still running" in r.getMessage() for r in caplog.records)


async def test_a_slow_inline_handler_logs_a_warning_naming_it(caplog: pytest.LogCaptureFixture) -> None:
    class App(RealtimeApp):
        slow_handler_threshold = 0.01

        @on("response.done")
        async def sluggish(self) -> None:
            await anyio.sleep(0.05)

        @on("response.done")
        def brisk(self) -> None:
            pass

        @on("response.done", background=True)
        async def slow_but_in_the_background(self) -> None:
            await anyio.sleep(0.05)

    with caplog.at_level(logging.WARNING, logger=DISPATCH_LOGGER):
        await feed(App(), done())
    warnings = messages(caplog, logging.WARNING)
    slow = [message for message in warnings if "App.sluggish" in message]
    assert len(slow) == 1
    assert "response.done" in slow[0]
    assert not any("slow_but_in_the_background" in message for message in warnings)


async def test_a_handler_blocking_the_event_loop_is_reported_while_it_blocks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import time

    reported_during: list[bool] = []

    class App(RealtimeApp):
        slow_handler_threshold = 0.02

        @on("response.done")
        def blocking(self) -> None:
            time.sleep(0.2)  # holds the whole event loop: only the watchdog thread can see it
            reported_during.append(any("App.blocking" in r.getMessage() for r in caplog.records))

    with caplog.at_level(logging.WARNING, logger=DISPATCH_LOGGER):
        await feed(App(), done())
    assert reported_during == [True]  # reported while it was still blocking, not after


async def test_a_fast_handler_under_the_default_threshold_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    class App(RealtimeApp):
        @on("response.done")
        def brisk(self) -> None:
            pass

    with caplog.at_level(logging.DEBUG, logger=DISPATCH_LOGGER):
        await feed(App(), done(), done())
    assert messages(caplog, logging.WARNING) == []


# --- handler errors -----------------------------------------------------------------------------


async def test_a_raising_handler_does_not_stop_the_loop_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    class App(RealtimeApp):
        @on("response.output_text.delta")
        def explode(self, event: events.ResponseOutputTextDelta) -> None:
            if event.delta == "boom":
                raise ValueError("kaboom")
            seen.append(event.delta)

        @on("response.output_text.delta")
        def after(self, event: events.ResponseOutputTextDelta) -> None:
            seen.append("after:" + event.delta)

    with caplog.at_level(logging.ERROR, logger=DISPATCH_LOGGER):
        await feed(App(), delta("a"), delta("boom"), delta("b"))
    assert seen == ["a", "after:a", "after:boom", "b", "after:b"]
    errors = [r for r in caplog.records if r.name == DISPATCH_LOGGER and r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "App.explode" in errors[0].getMessage()
    assert "response.output_text.delta" in errors[0].getMessage()
    assert errors[0].exc_info is not None
    assert isinstance(errors[0].exc_info[1], ValueError)


async def test_app_error_handler_gets_the_exception_and_the_event_by_name() -> None:
    reported: list[tuple[Any, ...]] = []

    class App(RealtimeApp):
        @on("response.done")
        async def fail(self, event: events.ResponseDone) -> None:
            raise ValueError(event.response.id)

        @on_error(ValueError)
        async def failed(self, exc: Any, event: Any, connection: Any, app: Any) -> None:
            reported.append((exc, event, connection, app, app.connection))

    app = App()
    event = done("r7")
    await feed(app, event, done("r8"))
    assert len(reported) == 2
    exc, got, connection, got_app, live = reported[0]
    assert isinstance(exc, ValueError)
    assert str(exc) == "r7"
    assert got.event_id == event.event_id
    assert got_app is app
    assert isinstance(connection, Connection)
    assert connection is live
    assert str(reported[1][0]) == "r8"


class ErrorApp(RealtimeApp):
    pass


async def test_router_error_handler_injection_by_annotation() -> None:
    reported: list[tuple[Any, ...]] = []
    router = Router()

    @router.on("response.done")
    def fail() -> None:
        raise KeyError("missing")

    @router.on_error(KeyError)
    def failed(c: Connection, a: ErrorApp, e: events.ResponseDone, x: KeyError) -> None:
        reported.append((c, a, e, x))

    app = ErrorApp()
    app.include_router(router)
    await feed(app, done("r1"))
    [(c, a, e, x)] = reported
    assert isinstance(c, Connection)
    assert a is app
    assert e.response.id == "r1"
    assert isinstance(x, KeyError)


async def test_the_nearest_routers_error_handler_wins() -> None:
    reported: list[tuple[str, str]] = []
    child, grandchild, sibling = Router("child"), Router("grandchild"), Router("sibling")

    class App(RealtimeApp):
        @on("response.done")
        def root_fails(self) -> None:
            raise ValueError("root")

        @on_error(ValueError)
        def root_handler(self, exc: ValueError) -> None:
            reported.append(("root", str(exc)))

    @child.on("response.done")
    def child_fails() -> None:
        raise ValueError("child")

    @child.on_error(ValueError)
    def child_handler(exc: ValueError) -> None:
        reported.append(("child", str(exc)))

    @grandchild.on("response.done")
    def grandchild_fails() -> None:
        raise ValueError("grandchild")

    @sibling.on("response.done")
    def sibling_fails() -> None:
        raise ValueError("sibling")

    @sibling.on_error(KeyError)  # does not match: the search goes on up to the root
    def sibling_handler(exc: KeyError) -> None:
        reported.append(("sibling", str(exc)))

    app = App()
    child.include_router(grandchild)
    app.include_router(child)
    app.include_router(sibling)
    await feed(app, done())
    assert reported == [("root", "root"), ("child", "child"), ("child", "grandchild"), ("root", "sibling")]


async def test_the_most_specific_exception_class_wins_within_a_router() -> None:
    reported: list[tuple[str, str]] = []
    router = Router()

    @router.on_error()  # Exception
    def anything(exc: Exception) -> None:
        reported.append(("Exception", type(exc).__name__))

    @router.on_error(LookupError)
    def lookup(exc: Exception) -> None:
        reported.append(("LookupError", type(exc).__name__))

    @router.on_error(KeyError)
    def key(exc: Exception) -> None:
        reported.append(("KeyError", type(exc).__name__))

    failures = {"a": KeyError("a"), "b": IndexError("b"), "c": ValueError("c")}

    @router.on("response.output_text.delta")
    def fail(event: events.ResponseOutputTextDelta) -> None:
        raise failures[event.delta]

    app = RealtimeApp()
    app.include_router(router)
    await feed(app, delta("a"), delta("b"), delta("c"))
    assert reported == [("KeyError", "KeyError"), ("LookupError", "IndexError"), ("Exception", "ValueError")]


async def test_an_error_handler_that_raises_is_logged_and_the_loop_survives(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []

    class App(RealtimeApp):
        @on("response.output_text.delta")
        def fail(self, event: events.ResponseOutputTextDelta) -> None:
            seen.append(event.delta)
            raise ValueError(event.delta)

        @on_error(ValueError)
        def broken(self, exc: ValueError) -> None:
            raise RuntimeError("the error handler broke too")

    with caplog.at_level(logging.ERROR, logger=DISPATCH_LOGGER):
        await feed(App(), delta("a"), delta("b"))
    assert seen == ["a", "b"]
    errors = [r for r in caplog.records if r.name == DISPATCH_LOGGER and r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert all("App.broken" in r.getMessage() for r in errors)
    assert all(r.exc_info is not None and isinstance(r.exc_info[1], RuntimeError) for r in errors)


async def test_thousands_of_raising_events_are_each_reported_once() -> None:
    reported: list[int] = []
    finished: list[str] = []

    class App(RealtimeApp):
        @on("response.output_text.delta")
        def fail(self, event: events.ResponseOutputTextDelta) -> None:
            raise ValueError(event.delta)

        @on("response.done")
        def end(self, event: events.ResponseDone) -> None:
            finished.append(event.response.id or "")

        @on_error(ValueError)
        def count(self, exc: ValueError) -> None:
            reported.append(int(str(exc)))

    await feed(App(), *(delta(str(i)) for i in range(2000)), done("last"))
    assert reported == list(range(2000))
    assert finished == ["last"]


async def test_errors_of_background_handlers_reach_the_error_handler() -> None:
    reported: list[tuple[str, str]] = []

    class App(RealtimeApp):
        @on("response.output_text.delta", background=True)
        async def fail(self, event: events.ResponseOutputTextDelta) -> None:
            await anyio.lowlevel.checkpoint()
            raise ValueError(event.delta)

        @on_error(ValueError)
        def failed(self, exc: ValueError, event: events.ResponseOutputTextDelta) -> None:
            reported.append((str(exc), event.delta))

    await feed(App(), delta("a"), delta("b"))
    assert sorted(reported) == [("a", "a"), ("b", "b")]


# --- frames that do not decode ------------------------------------------------------------------

BAD_FRAMES = [
    b"not json",
    b"[]",
    b'{"type": 5}',
    b'{"type":"response.output_text.delta","event_id":"e","response_id":"r","item_id":"i",'
    b'"output_index":"zero","content_index":0,"delta":"x"}',
]


def interleaved() -> list[Frame]:
    frames: list[Frame] = [delta("0")]
    for i, bad in enumerate(BAD_FRAMES, 1):
        frames += [bad, delta(str(i))]
    return frames


async def test_bad_frames_go_to_decode_error_handlers_only() -> None:
    decode_errors: list[tuple[DecodeError, Any]] = []
    value_errors: list[BaseException] = []
    seen: list[str] = []

    class App(RealtimeApp):
        @on("response.output_text.delta")
        def text(self, event: events.ResponseOutputTextDelta) -> None:
            seen.append(event.delta)

        @on_error(DecodeError)
        def bad_frame(self, exc: DecodeError, event: Any) -> None:
            decode_errors.append((exc, event))

        @on_error(ValueError)
        def value_error(self, exc: ValueError) -> None:
            value_errors.append(exc)

        @on_error()
        def anything(self, exc: Exception) -> None:
            value_errors.append(exc)

    await feed(App(), *interleaved())
    assert seen == ["0", "1", "2", "3", "4"]
    assert [exc.raw for exc, _ in decode_errors] == BAD_FRAMES
    assert all(isinstance(exc, DecodeError) for exc, _ in decode_errors)
    assert [event for _, event in decode_errors] == [None] * 4
    assert decode_errors[3][0].event_type == "response.output_text.delta"
    assert value_errors == []


async def test_bad_frames_are_not_given_to_a_value_error_handler_and_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    value_errors: list[BaseException] = []
    seen: list[str] = []

    class App(RealtimeApp):
        @on("response.output_text.delta")
        def text(self, event: events.ResponseOutputTextDelta) -> None:
            seen.append(event.delta)

        @on_error(ValueError)
        def value_error(self, exc: ValueError) -> None:
            value_errors.append(exc)

    with caplog.at_level(logging.WARNING, logger=DISPATCH_LOGGER):
        await feed(App(), *interleaved())
    assert seen == ["0", "1", "2", "3", "4"]
    assert value_errors == []
    warnings = messages(caplog, logging.WARNING)
    assert len(warnings) == 4
    assert "not json" in warnings[0]
    assert all("decode" in message for message in warnings)


async def test_an_unknown_event_type_reaches_star_handlers_as_unknown_event() -> None:
    seen: list[events.ServerEvent] = []
    frame = b'{"type":"conversation.brand_new","event_id":"e1","data":{"a":[1,2,3]}}'
    router = Router()
    router.on("*")(lambda event: seen.append(event))
    typed: list[events.ServerEvent] = []
    router.on("response.done")(lambda event: typed.append(event))
    app = RealtimeApp()
    app.include_router(router)
    await feed(app, frame, done())
    assert isinstance(seen[0], UnknownEvent)
    assert seen[0].type == "conversation.brand_new"
    assert seen[0].raw == frame
    assert isinstance(seen[1], events.ResponseDone)
    assert len(typed) == 1


def server_error(message: str) -> events.ErrorEvent:
    return events.ErrorEvent.build(
        error=events.ErrorDetail(type="invalid_request_error", message=message, code="bad", event_id="evt_9")
    )


async def test_a_server_error_without_a_handler_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger=DISPATCH_LOGGER):
        await feed(RealtimeApp(), server_error("Invalid value for session.voice"))
    errors = messages(caplog, logging.ERROR)
    assert len(errors) == 1
    assert "Invalid value for session.voice" in errors[0]
    assert "evt_9" in errors[0]


async def test_a_handled_server_error_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    class App(RealtimeApp):
        @on("error")
        def on_server_error(self, event: events.ErrorEvent) -> None:
            seen.append(event.error.message)

    with caplog.at_level(logging.ERROR, logger=DISPATCH_LOGGER):
        await feed(App(), server_error("oops"))
    assert seen == ["oops"]
    assert messages(caplog, logging.ERROR) == []


# --- wait_for -----------------------------------------------------------------------------------


async def test_wait_for_from_a_background_handler_returns_the_next_matching_event() -> None:
    class App(RealtimeApp):
        def __init__(self) -> None:
            super().__init__()
            self.waiting = anyio.Event()
            self.got = anyio.Event()
            self.result: events.ServerEvent | None = None

        @on("response.created", background=True)
        async def waiter(self, conn: Connection) -> None:
            self.waiting.set()
            self.result = await conn.wait_for("response.done", lambda e: e.response.id == "wanted", timeout=5)
            self.got.set()

    app = App()
    async with serving(app) as server:
        await server.send_event(created())
        await app.waiting.wait()
        await server.send_event(delta())
        await server.send_event(done("other"))
        await server.send_event(done("wanted"))
        await server.send_event(done("later"))
        await app.got.wait()
    assert isinstance(app.result, events.ResponseDone)
    assert app.result.response.id == "wanted"


async def test_wait_for_without_predicate_takes_the_next_event_of_the_type() -> None:
    class App(RealtimeApp):
        def __init__(self) -> None:
            super().__init__()
            self.waiting = anyio.Event()
            self.results: list[events.ServerEvent] = []

        @on("response.created", background=True)
        async def waiter(self, conn: Connection) -> None:
            self.waiting.set()
            self.results.append(await conn.wait_for(events.ResponseDone, timeout=5))

    app = App()
    async with serving(app) as server:
        await server.send_event(created())
        await app.waiting.wait()
        await server.send_event(done("first"))
        await server.send_event(done("second"))
    [result] = app.results
    assert isinstance(result, events.ResponseDone)
    assert result.response.id == "first"


async def test_wait_for_times_out_with_timeout_error() -> None:
    outcome: list[BaseException] = []

    class App(RealtimeApp):
        def __init__(self) -> None:
            super().__init__()
            self.gave_up = anyio.Event()

        @on("response.created", background=True)
        async def waiter(self, conn: Connection) -> None:
            try:
                await conn.wait_for("response.done", timeout=0.05)
            except TimeoutError as exc:
                outcome.append(exc)
            self.gave_up.set()

    app = App()
    async with serving(app) as server:
        await server.send_event(created())
        await server.send_event(delta())
        await app.gave_up.wait()
    assert len(outcome) == 1
    assert isinstance(outcome[0], TimeoutError)


async def test_wait_for_from_an_inline_handler_raises() -> None:
    outcome: list[BaseException] = []

    class App(RealtimeApp):
        @on("response.created")
        async def inline(self, conn: Connection) -> None:
            try:
                await conn.wait_for("response.done", timeout=1)
            except RuntimeError as exc:
                outcome.append(exc)

    with anyio.fail_after(2):
        await feed(App(), created(), done())
    assert len(outcome) == 1
    assert type(outcome[0]) is RuntimeError


# --- middleware ---------------------------------------------------------------------------------


async def test_inbound_middleware_sees_every_decoded_event_before_routing() -> None:
    log: list[str] = []

    async def watch(event: events.ServerEvent, call_next: Callable[[events.ServerEvent], Awaitable[None]]) -> None:
        log.append("mw " + event.type)
        await call_next(event)

    router = Router()
    router.on("response.*")(lambda event: log.append("handler " + event.type))
    app = RealtimeApp()
    app.include_router(router)
    app.add_middleware(watch)
    await feed(app, delta(), b"not json", cleared(), b'{"type":"x.y"}', done())
    assert log == [
        "mw response.output_text.delta",
        "handler response.output_text.delta",
        "mw input_audio_buffer.cleared",
        "mw x.y",
        "mw response.done",
        "handler response.done",
    ]


async def test_inbound_middleware_can_drop_and_replace_events() -> None:
    seen: list[str] = []

    async def drop_secrets(event: events.ServerEvent, call_next: Any) -> None:
        if isinstance(event, events.ResponseOutputTextDelta) and event.delta == "secret":
            return
        await call_next(event)

    async def shout(event: events.ServerEvent, call_next: Any) -> None:
        if isinstance(event, events.ResponseOutputTextDelta):
            event = events.ResponseOutputTextDelta.build(delta=event.delta.upper())
        await call_next(event)

    class App(RealtimeApp):
        @on("response.output_text.delta")
        def text(self, event: events.ResponseOutputTextDelta) -> None:
            seen.append(event.delta)

    app = App()
    app.add_middleware(drop_secrets)
    app.add_middleware(shout)
    await feed(app, delta("a"), delta("secret"), delta("b"))
    assert seen == ["A", "B"]


async def test_inbound_middleware_order_first_added_is_outermost() -> None:
    log: list[str] = []

    def layer(name: str) -> Callable[..., Awaitable[None]]:
        async def middleware(event: events.ServerEvent, call_next: Any) -> None:
            log.append(name + " in")
            await call_next(event)
            log.append(name + " out")

        return middleware

    router = Router()
    router.on("response.done")(lambda: log.append("handler"))
    app = RealtimeApp()
    app.include_router(router)
    app.add_middleware(layer("first"))
    app.add_middleware(layer("second"))
    app.add_middleware(layer("third"))
    await feed(app, done())
    assert log == ["first in", "second in", "third in", "handler", "third out", "second out", "first out"]


async def test_a_raising_inbound_middleware_is_reported_and_the_loop_survives() -> None:
    reported: list[tuple[str, Any]] = []
    seen: list[str] = []

    async def picky(event: events.ServerEvent, call_next: Any) -> None:
        if isinstance(event, events.ResponseOutputTextDelta) and event.delta == "bad":
            raise ValueError("picky")
        await call_next(event)

    class App(RealtimeApp):
        @on("response.output_text.delta")
        def text(self, event: events.ResponseOutputTextDelta) -> None:
            seen.append(event.delta)

        @on_error(ValueError)
        def failed(self, exc: ValueError, event: Any) -> None:
            reported.append((str(exc), event.delta))

    app = App()
    app.add_middleware(picky)
    await feed(app, delta("a"), delta("bad"), delta("b"))
    assert seen == ["a", "b"]
    assert reported == [("picky", "bad")]


async def test_outbound_middleware_sees_and_can_modify_every_sent_event() -> None:
    outbound: list[tuple[str, str | None]] = []
    returned: list[str] = []

    async def rewrite(event: events.ClientEvent, call_next: Any) -> None:
        outbound.append((event.type, event.event_id))
        if isinstance(event, events.ResponseCancel):
            event.response_id = "rewritten"
        await call_next(event)

    class App(RealtimeApp):
        def __init__(self) -> None:
            super().__init__()
            self.sent = anyio.Event()

        @on("response.created")
        async def cancel(self, conn: Connection, event: events.ResponseCreated) -> None:
            returned.append(await conn.send(events.ResponseCancel(response_id=event.response.id)))
            returned.append(await conn.send(events.InputAudioBufferClear(event_id="mine")))
            self.sent.set()

    app = App()
    app.add_middleware(rewrite, outbound=True)
    async with serving(app) as server:
        await server.send_event(created("r1"))
        first = await server.receive_event()
        second = await server.receive_event()
        await app.sent.wait()
    assert isinstance(first, events.ResponseCancel)
    assert first.response_id == "rewritten"
    assert isinstance(second, events.InputAudioBufferClear)
    # conn.send assigned the id before the middleware ran, returned it, and sent it.
    assert returned[0]
    assert first.event_id == returned[0]
    assert second.event_id == returned[1] == "mine"
    assert outbound == [("response.cancel", returned[0]), ("input_audio_buffer.clear", "mine")]


async def test_send_assigns_distinct_event_ids() -> None:
    ids: list[str] = []

    class App(RealtimeApp):
        @on("response.created")
        async def send(self, conn: Connection) -> None:
            for _ in range(3):
                ids.append(await conn.send(events.InputAudioBufferCommit()))

    app = App()
    async with serving(app) as server:
        await server.send_event(created())
        received = [await server.receive_event() for _ in range(3)]
    assert [e.event_id for e in received] == ids
    assert len(set(ids)) == 3
    assert all(ids)


async def test_one_watchdog_thread_serves_every_running_session() -> None:
    import threading

    def watchdogs() -> int:
        return sum(1 for thread in threading.enumerate() if thread.name == "realtime-dispatch-watchdog")

    pairs = [memory_pair() for _ in range(5)]
    apps = [RealtimeApp() for _ in pairs]
    try:
        async with anyio.create_task_group() as tg:
            for app, (client, _) in zip(apps, pairs, strict=True):
                tg.start_soon(app.run_async, client)
            for _, server in pairs:  # every app is running once its frame is handled
                await server.send_event(events.RateLimitsUpdated.build(rate_limits=[]))
            await anyio.sleep(0.05)
            assert watchdogs() == 1
            for _, server in pairs:
                await server.close()
    finally:
        for client, server in pairs:
            await client.aclose()
            await server.close()


async def test_a_decode_error_handler_on_an_included_router_gets_bad_frames() -> None:
    reports: list[str] = []
    frames = Router("frames")

    @frames.on_error(DecodeError)
    def bad_frame(exc: DecodeError) -> None:
        reports.append(str(exc))

    app = RealtimeApp()
    app.include_router(Router("first"))
    app.include_router(frames)
    await feed(app, b"{not json", delta())
    assert len(reports) == 1


async def test_waiting_for_an_event_in_on_connect_fails_at_once_instead_of_hanging() -> None:
    seen: list[BaseException] = []

    class App(RealtimeApp):
        async def on_connect(self, connection: Connection) -> None:
            try:
                await connection.wait_for("session.created", timeout=5)
            except RuntimeError as exc:
                seen.append(exc)

    with anyio.fail_after(2):
        await feed(App())
    assert len(seen) == 1
    assert "on_connect" in str(seen[0])


async def test_a_saturated_background_pool_makes_the_loop_wait_warns_once_and_drops_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handled: list[str] = []

    class App(RealtimeApp):
        max_background_tasks = 2

        @on("response.output_text.delta", background=True)
        async def slow(self, event: events.ResponseOutputTextDelta) -> None:
            await anyio.sleep(0.005)
            handled.append(event.delta)

    app = App()
    with caplog.at_level(logging.WARNING, DISPATCH_LOGGER):
        await feed(app, *(delta(str(n)) for n in range(20)))
    assert sorted(handled, key=int) == [str(n) for n in range(20)]
    warnings = messages(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert "2 background handlers running: receive loop waits" in warnings[0]
