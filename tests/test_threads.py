"""Guarantee 9 (threads are bounded): the worker threads of sync background handlers and
sync tools count against a limit until they return, abandoned after a timeout or not."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import anyio
import pytest
import sniffio
from conftest import serving

from realtime_dispatch import HandlerTimeout, RealtimeApp, ToolTimeout, events, on, on_error, tool
from realtime_dispatch._threads import DEFAULT_MAX_THREADS, BoundedThreads, default_threads

pytestmark = pytest.mark.anyio

CALLS = 200


class Live:
    """A blocking function, shut until ``gate`` is set, that counts the calls inside it."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self._changed = threading.Condition()
        self.now = 0
        self.most = 0
        self.entered = 0

    def block(self) -> None:
        with self._changed:
            self.now += 1
            self.entered += 1
            self.most = max(self.most, self.now)
            self._changed.notify_all()
        try:
            self.gate.wait(30)
        finally:
            with self._changed:
                self.now -= 1
                self._changed.notify_all()

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Until ``predicate()`` holds: checked on each change here and every few ms (for the pool's counts)."""

        def wait() -> bool:
            deadline = time.monotonic() + 10
            with self._changed:
                while not predicate():
                    if time.monotonic() > deadline:
                        return False
                    self._changed.wait(0.005)
                return True

        with anyio.fail_after(10):
            assert await anyio.to_thread.run_sync(wait, abandon_on_cancel=True)

    async def drain(self) -> None:
        """Open the gate and wait until every thread has left the function."""
        self.gate.set()
        await self.until(lambda: self.now == 0)


@contextmanager
def opened_at_exit(live: Live) -> Iterator[Live]:
    try:
        yield live
    finally:
        live.gate.set()  # whatever happens, no thread stays blocked after the test


async def abandon(pool: BoundedThreads, fn: Callable[[], object], live: Live) -> None:
    """Run ``fn`` (which calls ``live.block``) in ``pool`` and give up on it once it is in: the thread runs on."""
    entered = live.entered
    with anyio.CancelScope() as scope:

        async def give_up() -> None:
            await live.until(lambda: live.entered > entered)
            scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(give_up)
            await pool.run(fn)
    assert scope.cancelled_caught


async def no_starvation() -> None:
    """anyio's own default thread limiter is not held by the abandoned threads."""
    with anyio.fail_after(5):
        assert await anyio.to_thread.run_sync(int, "7") == 7


# --- the pool ------------------------------------------------------------------------------------


async def test_a_slot_is_held_until_the_thread_returns_not_until_the_call_is_abandoned() -> None:
    pool = BoundedThreads(1)
    live = Live()
    with opened_at_exit(live):
        await abandon(pool, live.block, live)
        assert (pool.busy, live.now) == (1, 1)  # given up on, still running, still counted
        with anyio.move_on_after(0.05) as waited:
            await pool.run(live.block)
        assert waited.cancelled_caught  # full: the call waited, for as long as its caller allowed
        assert (pool.busy, pool.waiting, live.entered) == (1, 0, 1)  # and left no trace
        live.gate.set()
        with anyio.fail_after(5):
            assert await pool.run(int, "2") == 2  # the thread has returned: its slot is free
    assert (pool.busy, pool.waiting, live.now) == (0, 0, 0)


async def test_a_waiting_call_gets_the_slot_the_returning_thread_hands_on(caplog: pytest.LogCaptureFixture) -> None:
    pool = BoundedThreads(2)
    live = Live()
    results: list[int] = []

    async def wait_and_run(value: str) -> None:
        results.append(await pool.run(int, value))

    with opened_at_exit(live), caplog.at_level(logging.WARNING, "realtime_dispatch.threads"):
        await abandon(pool, live.block, live)
        await abandon(pool, live.block, live)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(wait_and_run, "1")
                tg.start_soon(wait_and_run, "2")
                await anyio.wait_all_tasks_blocked()
                assert (pool.busy, pool.waiting, results) == (2, 2, [])
                live.gate.set()
        assert sorted(results) == [1, 2]
        await live.until(lambda: live.now == 0)
        assert (pool.busy, pool.waiting) == (0, 0)
    warnings = [r for r in caplog.records if r.name == "realtime_dispatch.threads"]
    assert len(warnings) == 1  # once for the episode, not once per waiting call
    assert "all 2 worker threads" in warnings[0].getMessage()


async def test_a_call_cancelled_while_it_waits_gives_up_its_place() -> None:
    pool = BoundedThreads(1)
    live = Live()
    results: list[int] = []
    with opened_at_exit(live):
        await abandon(pool, live.block, live)
        with anyio.fail_after(5):
            first = anyio.CancelScope()

            async def waits_then_cancelled() -> None:
                with first:
                    results.append(await pool.run(int, "1"))

            async def waits() -> None:
                results.append(await pool.run(int, "2"))

            async with anyio.create_task_group() as tg:
                tg.start_soon(waits_then_cancelled)
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(waits)
                await anyio.wait_all_tasks_blocked()
                assert pool.waiting == 2
                first.cancel()
                await anyio.wait_all_tasks_blocked()
                assert pool.waiting == 1
                live.gate.set()
        assert results == [2]
        assert (pool.busy, pool.waiting) == (0, 0)


async def test_a_call_cancelled_before_its_thread_starts_gives_the_slot_back_and_does_not_run() -> None:
    pool = BoundedThreads(1)
    ran: list[str] = []
    with anyio.CancelScope() as scope:
        scope.cancel()
        await pool.run(ran.append, "ran")
    assert scope.cancelled_caught
    assert (pool.busy, ran) == (0, [])


async def test_a_thread_that_raises_gives_its_slot_back() -> None:
    pool = BoundedThreads(1)
    with pytest.raises(ValueError, match="invalid literal"):
        await pool.run(int, "x")
    assert pool.busy == 0
    live = Live()

    def block_then_raise() -> None:
        live.block()
        raise ValueError("after the timeout")

    with opened_at_exit(live):
        await abandon(pool, block_then_raise, live)
        assert pool.busy == 1
        live.gate.set()
        with anyio.fail_after(5):
            assert await pool.run(int, "3") == 3
    assert pool.busy == 0


async def test_one_pool_serves_several_event_loops() -> None:
    # The default pool is process-wide: a slot freed by a thread of one event loop wakes a call
    # waiting on another (here a second event loop in its own thread, on the other backend).
    pool = BoundedThreads(1)
    live = Live()
    results: list[int] = []

    async def other_loop() -> None:
        results.append(await pool.run(int, "4"))

    with opened_at_exit(live):
        await abandon(pool, live.block, live)
        backend = "trio" if sniffio.current_async_library() == "asyncio" else "asyncio"
        other = threading.Thread(target=anyio.run, args=(other_loop,), kwargs={"backend": backend})
        other.start()
        try:
            await live.until(lambda: pool.waiting == 1)
            assert results == []
            live.gate.set()
        finally:
            live.gate.set()
            await anyio.to_thread.run_sync(other.join, 10)
    assert results == [4]
    assert pool.busy == 0


def test_the_limit_is_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        BoundedThreads(0)
    assert default_threads.limit == DEFAULT_MAX_THREADS == 40


# --- through the app -----------------------------------------------------------------------------


def call_item(call_id: str) -> events.ResponseOutputItemDone:
    item = events.ConversationItem(
        type="function_call", id=f"item_{call_id}", status="completed", call_id=call_id, name="stuck", arguments="{}"
    )
    return events.ResponseOutputItemDone.build(response_id="resp_1", output_index=0, item=item)


# --- through the app -----------------------------------------------------------------------------


async def test_timed_out_sync_tools_do_not_leave_a_thread_each() -> None:
    live = Live()
    timeouts: list[ToolTimeout] = []

    class App(RealtimeApp):
        @tool(timeout=0.01)
        def stuck(self) -> str:
            live.block()
            return "done"

        @on_error(ToolTimeout)
        def timed_out(self, exc: ToolTimeout) -> None:
            timeouts.append(exc)

    with opened_at_exit(live):
        async with serving(App()) as server:
            with anyio.fail_after(20):
                assert isinstance(await server.receive_event(), events.SessionUpdate)

                async def call() -> None:  # while the outputs are read: the in-memory pipe is bounded
                    await server.send_event(
                        events.ResponseCreated.build(response=events.Response(id="resp_1", conversation_id="conv_1"))
                    )
                    for i in range(CALLS):
                        await server.send_event(call_item(f"c{i}"))
                    done = events.ResponseDone.build(
                        response=events.Response(id="resp_1", status="completed", conversation_id="conv_1")
                    )
                    await server.send_event(done)

                outputs: dict[str, str | None] = {}
                async with anyio.create_task_group() as tg:
                    tg.start_soon(call)
                    while len(outputs) < CALLS:
                        sent = await server.receive_event()
                        if isinstance(sent, events.ConversationItemCreate):
                            assert sent.item.call_id is not None
                            outputs[sent.item.call_id] = sent.item.output
            # every call still got its timeout error, the ones that waited for a thread too
            assert set(outputs.values()) == {'{"error":"the tool timed out after 0.01 s"}'}
            assert len(timeouts) == CALLS
            assert 0 < live.most <= DEFAULT_MAX_THREADS, f"{live.most} threads of timed-out tool calls at once"
            await no_starvation()
            await live.drain()
            await live.until(lambda: default_threads.busy == 0)


async def test_timed_out_sync_background_handlers_do_not_leave_a_thread_each() -> None:
    live = Live()
    timeouts: list[HandlerTimeout] = []
    all_reported = anyio.Event()

    class App(RealtimeApp):
        @on("response.output_text.delta", background=True, timeout=0.01)
        def stuck(self) -> None:
            live.block()

        @on_error(HandlerTimeout)
        def timed_out(self, exc: HandlerTimeout) -> None:
            timeouts.append(exc)
            if len(timeouts) == CALLS:
                all_reported.set()

    with opened_at_exit(live):
        async with serving(App()) as server:
            with anyio.fail_after(20):
                for _ in range(CALLS):
                    await server.send_event(events.ResponseOutputTextDelta.build(delta="x"))
                await all_reported.wait()
            assert 0 < live.most <= DEFAULT_MAX_THREADS, f"{live.most} threads of timed-out handlers at once"
            await no_starvation()
            await live.drain()
            await live.until(lambda: default_threads.busy == 0)
