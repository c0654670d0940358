"""Issue 13, the session's guarantees, each a regression test on asyncio and trio (and over picows
where the transport matters):

1. A handler never ends the app by accident: a cancellation that is not the app's, escaping an
   inline handler, a background handler or a tool, is reported to ``@on_error`` as
   ``HandlerCancelled`` and the app goes on (a tool's model still gets an error output); the app's
   own cancellation still ends it, and is not reported.
2. ``close()`` means closed: under a flood of audio with megabytes buffered and a slow inline
   handler, no handler is entered once ``close()`` has returned (one already running finishes),
   and the app ends within the close bound; from outside the app or from inside a handler, over
   websockets (asyncio and trio) and picows (asyncio).
3. Nothing waits forever: when the session ends for good (the server closes with 1000, ``close()``,
   reconnecting gives up), what still waits (a queued ``create_response()``, ``wait_for``,
   ``expect().wait()``, ``request(timeout=None)``, sends waiting for a reconnect) fails with
   ``NotConnected``; a ``response.create`` the server never answers frees the sequencer after
   ``response_start_timeout``; ``Expected.wait(timeout=0)`` returns an event that already arrived.

Every wait is bounded by ``anyio.fail_after``; nothing asserts on speed.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from typing import Any

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
import pytest

import realtime_dispatch
from realtime_dispatch import (
    Connection,
    ConnectionFailed,
    NotConnected,
    RealtimeApp,
    Reconnect,
    events,
    on,
    on_error,
    tool,
)
from realtime_dispatch.transports import (
    MemoryServer,
    Transport,
    TransportClosed,
    WebSocketOptions,
    WebSocketTransport,
    connect_picows,
    connect_websocket,
    memory_pair,
    serve_websocket,
)


class Progress:
    """Something to wait on until a condition holds: ``notify()`` wherever the condition may change."""

    def __init__(self) -> None:
        self._changed = anyio.Event()

    def notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def until(self, check: Callable[[], bool]) -> None:
        while not check():
            await self._changed.wait()


class Run:
    """``app.run_async(target)`` in a task: how it ended (None: it returned), and when."""

    def __init__(self, app: RealtimeApp, target: Any) -> None:
        self.app = app
        self.target = target
        self.ended = anyio.Event()
        self.error: Exception | None = None

    async def __call__(self) -> None:
        try:
            await self.app.run_async(self.target)
        except Exception as exc:  # asserted on by the test; a cancellation passes
            self.error = exc
        finally:
            self.ended.set()


def ending(run: Run) -> str:
    if not run.ended.is_set():
        return "still runs"
    return f"ended: run_async raised {run.error!r}" if run.error else "ended: run_async returned normally"


async def received(server: MemoryServer) -> events.ClientEvent:
    with anyio.fail_after(5):
        return await server.receive_event()


def the_handler_cancelled_class() -> type[BaseException] | None:
    """``realtime_dispatch.HandlerCancelled``; None before it existed (the test then fails on what
    the error handler saw, not on an import)."""
    return getattr(realtime_dispatch, "HandlerCancelled", None)


# --- 1. a handler never ends the app by accident --------------------------------------------------------


async def cancelled_by_itself(backend: str, kind: str) -> None:
    """End with a cancellation that is not the app's: ``own``, the backend's own cancellation from
    something the handler cancelled itself (a future on asyncio, an inner cancel scope on trio);
    ``raised``, an ``asyncio.CancelledError`` raised as is (on trio a plain exception)."""
    if kind == "raised":
        raise asyncio.CancelledError("raised by the handler")
    if backend == "asyncio":
        future = asyncio.get_running_loop().create_future()
        future.cancel()
        await future
        raise AssertionError("a cancelled future returned")
    import trio

    caught: BaseException | None = None
    with trio.CancelScope() as scope:
        scope.cancel()
        try:
            await trio.sleep(1)
        except trio.Cancelled as exc:
            caught = exc
    assert caught is not None
    raise caught  # outside the scope that cancelled it: not the app's


def a_cancellation(error: BaseException | None) -> bool:
    return isinstance(error, (asyncio.CancelledError, anyio.get_cancelled_exc_class()))


def call_item(name: str, call_id: str, response_id: str) -> events.ResponseOutputItemDone:
    item = events.ConversationItem(
        type="function_call", id=f"item_{call_id}", status="completed", call_id=call_id, name=name, arguments="{}"
    )
    return events.ResponseOutputItemDone.build(response_id=response_id, output_index=0, item=item)


def response(event: type[events.ResponseCreated | events.ResponseDone], rid: str) -> Any:
    return event.build(response=events.Response(id=rid, status="completed", conversation_id="conv_1"))


def always(event: events.ResponseOutputTextDone) -> bool:
    return True


class StrayCancellations(RealtimeApp):
    """Every kind of handler ends with a cancellation of its own; ``cleared`` marks progress."""

    reconnect = None

    def __init__(self, backend: str, kind: str) -> None:
        super().__init__()
        self.backend = backend
        self.kind = kind
        self.errors: list[BaseException] = []
        self.markers = 0
        self.progress = Progress()

    async def stray(self) -> None:
        await cancelled_by_itself(self.backend, self.kind)

    @on("response.output_text.delta")
    async def inline(self) -> None:  # called straight from the receive loop (the fast path)
        await self.stray()

    @on("response.output_text.done", when=always)
    async def inline_filtered(self) -> None:  # the other inline path (filters, once)
        await self.stray()

    @on("response.output_audio_transcript.delta", background=True)
    async def in_background(self) -> None:
        await self.stray()

    @tool
    async def cancels(self) -> str:
        """A tool that ends with a cancellation of its own."""
        await self.stray()
        return "not reached"

    @on("response.output_audio_transcript.done")
    def raises(self) -> None:
        raise LookupError("for the error handler")

    async def middleware(self, event: events.ServerEvent, call_next: Callable[[Any], Awaitable[None]]) -> None:
        """Inbound middleware (added by the test that wants it): cancels itself on audio done."""
        if event.type == "response.output_audio.done":
            await self.stray()
        await call_next(event)

    @on("input_audio_buffer.cleared")
    def marker(self) -> None:
        self.markers += 1
        self.progress.notify()

    @on_error(LookupError)
    async def cancels_while_handling(self, exc: LookupError) -> None:  # an error handler is a handler too
        self.errors.append(exc)
        self.progress.notify()
        await self.stray()

    @on_error(Exception)
    def failed(self, exc: Exception) -> None:
        self.errors.append(exc)
        self.progress.notify()


def reported_and_went_on(app: StrayCancellations, rounds: int) -> bool:
    return len(app.errors) >= rounds and app.markers >= rounds


def trigger(handler: str, round_: int) -> list[events.ServerEvent]:
    """The events that make ``handler`` run (once more in each round)."""
    if handler == "inline":
        return [events.ResponseOutputTextDelta.build(delta="x")]
    if handler == "inline_filtered":
        return [events.ResponseOutputTextDone.build(text="x")]
    if handler == "in_background":
        return [events.ResponseOutputAudioTranscriptDelta.build(delta="x")]
    if handler == "an error handler":
        return [events.ResponseOutputAudioTranscriptDone.build(transcript="x")]
    if handler == "inbound middleware":
        return [events.ResponseOutputAudioDone.build()]
    rid = f"resp_{round_}"
    call = call_item("cancels", f"c{round_}", rid)
    return [response(events.ResponseCreated, rid), call, response(events.ResponseDone, rid)]


async def next_item(server: MemoryServer) -> events.ClientEvent:
    """The next client event that is not a ``response.create`` (a tool's follow-up)."""
    while True:
        event = await received(server)
        if not isinstance(event, events.ResponseCreate):
            return event


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["own", "raised"])
@pytest.mark.parametrize(
    "handler", ["inline", "inline_filtered", "in_background", "tool cancels", "an error handler", "inbound middleware"]
)
async def test_a_stray_cancellation_is_reported_as_handler_cancelled_and_the_app_goes_on(
    anyio_backend: str, handler: str, kind: str
) -> None:
    app = StrayCancellations(anyio_backend, kind)
    if handler == "inbound middleware":
        app.add_middleware(app.middleware)
    client, server = memory_pair()
    run = Run(app, client)
    rounds = 2  # the handler fails twice: the app, and the handler, still work after the first
    try:
        with anyio.fail_after(15):
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(run)
                assert isinstance(await received(server), events.SessionUpdate)  # with the tool
                for number in range(1, rounds + 1):
                    try:
                        for frame in [*trigger(handler, number), events.InputAudioBufferCleared.build()]:
                            await server.send_event(frame)
                    except TransportClosed:
                        with anyio.move_on_after(5):
                            await run.ended.wait()
                        raise AssertionError(
                            f"round {number}: the app closed the connection ({ending(run)}); "
                            f"the error handler saw {app.errors}"
                        ) from None
                    # Reported, and the app still handles the events that come after.
                    try:
                        with anyio.fail_after(5):
                            await app.progress.until(partial(reported_and_went_on, app, number))
                    except TimeoutError:
                        raise AssertionError(
                            f"round {number}: the error handler saw {app.errors}, {app.markers} of {number} later "
                            f"events handled; the app {ending(run)}"
                        ) from None
                    if handler.startswith("tool"):
                        output = await next_item(server)  # the model still gets an answer for its call
                        assert isinstance(output, events.ConversationItemCreate), output
                        assert output.item.type == "function_call_output"
                        assert output.item.call_id == f"c{number}"
                        assert "error" in (output.item.output or "")
                await server.close(1000)
                with anyio.fail_after(5):
                    await run.ended.wait()
    finally:
        await server.close()
        await client.aclose()

    assert run.error is None, f"the app ended with {run.error!r}"
    assert len(app.errors) == rounds, app.errors
    if handler == "an error handler":  # its own failure is not reported again: the app going on is the point
        assert all(isinstance(error, LookupError) for error in app.errors), app.errors
        return
    handler_cancelled = the_handler_cancelled_class()
    for error in app.errors:
        assert handler_cancelled is not None, f"no HandlerCancelled in realtime_dispatch; the handler saw {error!r}"
        assert isinstance(error, handler_cancelled), f"the error handler saw {error!r}, not a HandlerCancelled"
        if handler != "inbound middleware":
            assert handler in str(error), error
        assert a_cancellation(error.__cause__), f"the cause of {error!r} is {error.__cause__!r}"


class RunsForever(RealtimeApp):
    """A background handler and a tool that never return, and an inline handler that is quick."""

    reconnect = None
    shutdown_grace = 0.5
    tool_timeout = None

    def __init__(self) -> None:
        super().__init__()
        self.entered: set[str] = set()
        self.errors: list[BaseException] = []
        self.progress = Progress()

    @on("response.output_text.delta")
    async def quick(self) -> None:
        self.entered.add("inline")
        self.progress.notify()
        await anyio.lowlevel.checkpoint()

    @on("response.output_audio_transcript.delta", background=True)
    async def forever(self) -> None:
        self.entered.add("background")
        self.progress.notify()
        await anyio.sleep_forever()

    @tool
    async def hangs(self) -> str:
        """Never returns."""
        self.entered.add("tool")
        self.progress.notify()
        await anyio.sleep_forever()
        return ""

    @on_error(Exception)
    def failed(self, exc: Exception) -> None:
        self.errors.append(exc)


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["a cancel scope around run_async", "the caller's task group"])
async def test_cancelling_the_apps_own_scope_still_ends_it_and_is_not_reported(anyio_backend: str, how: str) -> None:
    app = RunsForever()
    client, server = memory_pair()
    ended = anyio.Event()
    outer = anyio.CancelScope()
    callers: list[anyio.abc.TaskGroup] = []
    returned_normally = False

    async def in_a_scope() -> None:
        nonlocal returned_normally
        try:
            with outer:
                await app.run_async(client)
                returned_normally = True  # the cancellation was swallowed
        finally:
            ended.set()

    async def in_a_task_group() -> None:
        try:
            async with anyio.create_task_group() as group:
                callers.append(group)
                group.start_soon(app.run_async, client)
        finally:
            ended.set()

    try:
        with anyio.fail_after(15):
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(in_a_scope if how == "a cancel scope around run_async" else in_a_task_group)
                assert isinstance(await received(server), events.SessionUpdate)
                await server.send_event(events.ResponseOutputTextDelta.build(delta="x"))
                await server.send_event(events.ResponseOutputAudioTranscriptDelta.build(delta="x"))
                await server.send_event(response(events.ResponseCreated, "resp_1"))
                await server.send_event(call_item("hangs", "c1", "resp_1"))
                await app.progress.until(lambda: app.entered == {"inline", "background", "tool"})
                # The app's own cancellation: run_async ends within shutdown_grace and the close, bounded.
                with anyio.fail_after(app.shutdown_grace + 5):
                    if callers:
                        callers[0].cancel_scope.cancel()
                    else:
                        outer.cancel()
                    await ended.wait()
    finally:
        await server.close()
        await client.aclose()
    if not callers:
        assert outer.cancelled_caught, "run_async returned normally: the app's cancellation was swallowed"
        assert not returned_normally
    handler_cancelled = the_handler_cancelled_class()
    reported = [e for e in app.errors if handler_cancelled is not None and isinstance(e, handler_cancelled)]
    assert reported == [], f"the app's own cancellation was reported as a handler's: {reported}"


# --- 2. close() means closed ------------------------------------------------------------------------------

_PCM = bytes(4800)  # 100 ms of 24 kHz PCM16
_DELTA = events.encode(events.ResponseOutputAudioDelta.build(delta=base64.b64encode(_PCM).decode()))
_BACKLOG = 1 << 20  # bytes the server is ahead of the app when close() is asked for
_CLOSE_TIMEOUT = 1.0


class Flood:
    """A server that sends audio deltas as fast as the socket takes them until the client closes.
    It runs on an event loop of its own, in another thread (``flooding``): a sync handler that
    blocks the app's loop does not slow it down."""

    def __init__(self) -> None:
        self.sent = 0
        self.connections = 0

    async def __call__(self, transport: WebSocketTransport) -> None:
        self.connections += 1
        async with anyio.create_task_group() as task_group:

            async def read() -> None:  # sees the client's close frame (and answers it)
                with suppress(TransportClosed):
                    while True:
                        await transport.receive()
                task_group.cancel_scope.cancel()

            task_group.start_soon(read)
            with suppress(TransportClosed):
                while True:
                    await transport.send(_DELTA)
                    self.sent += 1
            task_group.cancel_scope.cancel()


class SlowPlayer(RealtimeApp):
    """Counts the handler's entries, and those after ``close()`` was asked for and had returned."""

    reconnect = None
    shutdown_grace = 1.0
    slow_handler_threshold = 0  # no watchdog thread: only the handler's time matters here

    def __init__(self, flood: Flood) -> None:
        super().__init__()
        self.flood = flood
        self.entries = 0
        self.close_called = False
        self.close_returned = False
        self.after_called: list[int] = []  # entries once close() was called
        self.after_returned: list[int] = []  # entries once close() had returned
        self.asked = anyio.Event()

    def backlog(self) -> int:
        """Bytes the server sent that the app has not handled yet."""
        return (self.flood.sent - self.entries) * len(_DELTA)

    def ready_to_close(self) -> bool:
        return self.entries >= 20 and self.backlog() >= _BACKLOG

    def enter(self) -> None:
        self.entries += 1
        if self.close_returned:
            self.after_returned.append(self.entries)
        elif self.close_called:
            self.after_called.append(self.entries)


class SyncSlowPlayer(SlowPlayer):
    @on("response.output_audio.delta")
    def play(self) -> None:
        self.enter()
        time.sleep(0.002)


class AsyncSlowPlayer(SlowPlayer):
    @on("response.output_audio.delta")
    async def play(self) -> None:
        self.enter()
        await anyio.sleep(0.002)


class ClosesItself(SlowPlayer):
    @on("response.output_audio.delta")
    async def play(self, connection: Connection) -> None:
        self.enter()
        if not self.close_called and self.ready_to_close():
            self.close_called = True
            self.asked.set()
            await connection.close()
            self.close_returned = True
            return
        await anyio.sleep(0.002)


@contextmanager
def flooding(flood: Flood) -> Iterator[int]:
    """Serve ``flood`` on 127.0.0.1 from another thread's event loop; yields the port."""
    with (
        anyio.from_thread.start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(serve_websocket(flood)) as port,
    ):
        yield port


_PLAYERS: dict[str, type[SlowPlayer]] = {
    "from outside, sync handler": SyncSlowPlayer,
    "from outside, async handler": AsyncSlowPlayer,
    "from inside an inline handler": ClosesItself,
}

Connect = Callable[..., Awaitable[Transport]]


async def close_under_a_flood(connect: Connect, how: str) -> None:
    flood = Flood()
    app = _PLAYERS[how](flood)
    options = WebSocketOptions(close_timeout=_CLOSE_TIMEOUT, ping_interval=None)
    with flooding(flood) as port:

        async def factory() -> Transport:
            return await connect(f"ws://127.0.0.1:{port}/v1/realtime", options=options)

        run = Run(app, factory)
        with anyio.fail_after(30):
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(run)
                if isinstance(app, ClosesItself):
                    with anyio.fail_after(10):  # the flood fills the buffers, then the handler closes
                        await app.asked.wait()
                else:
                    with anyio.fail_after(10):  # the flood fills the buffers
                        while not (app.ready_to_close() or run.ended.is_set()):  # noqa: ASYNC110 (counters, no event)
                            await anyio.sleep(0.005)
                    assert not run.ended.is_set(), f"the app ended before close(): {run.error!r}"
                    app.close_called = True
                    with anyio.fail_after(_CLOSE_TIMEOUT + 4):  # close() is bounded by close_timeout
                        await app.connection.close()
                    app.close_returned = True
                # run_async ends within close_timeout and the hooks' grace (generously), not the
                # shutdown allowance of 2 * shutdown_grace + 15 s.
                with anyio.fail_after(_CLOSE_TIMEOUT + app.shutdown_grace + 4):
                    await run.ended.wait()
    assert run.error is None, f"the app ended with {run.error!r}"
    assert flood.connections == 1
    assert app.after_returned == [], (
        f"{len(app.after_returned)} handler call(s) entered after close() returned "
        f"(entries {app.after_returned[:5]}... of {app.entries}; backlog was >= {_BACKLOG} bytes)"
    )
    assert app.after_called == [], (
        f"{len(app.after_called)} handler call(s) entered while close() ran (entries {app.after_called[:5]}...)"
    )


@pytest.mark.anyio
@pytest.mark.parametrize("how", list(_PLAYERS))
async def test_close_means_closed_over_websockets(anyio_backend: str, how: str) -> None:
    await close_under_a_flood(connect_websocket, how)


@pytest.mark.parametrize("how", list(_PLAYERS))
def test_close_means_closed_over_picows(how: str) -> None:
    anyio.run(close_under_a_flood, connect_picows, how, backend="asyncio")


@pytest.mark.anyio
async def test_close_while_a_reconnect_attempt_is_connecting_ends_the_app(anyio_backend: str) -> None:
    """No transport to close yet: close() must not wait for the attempt (bounded only by the
    endpoint's open_timeout, or not at all with a factory of your own)."""
    pairs = Pairs()
    app = Waiting(Reconnect(initial_delay=0.01, max_delay=0.02, max_attempts=3))
    run = Run(app, pairs)
    try:
        with anyio.fail_after(15):
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(run)
                await app.connected.wait()
                await pairs.servers[0].close(1011, "server error")
                await pairs.reconnecting.wait()  # the attempt hangs until `go`
                with anyio.fail_after(5):
                    await app.connection.close()
                with anyio.move_on_after(5) as waited:
                    await run.ended.wait()
                pairs.go.set()  # whatever happened: ends the attempt (else the shutdown allowance, 16 s)
                await run.ended.wait()
    finally:
        await pairs.aclose()
    assert not waited.cancelled_caught, "run_async still running 5 s after close(): it waits for the connect attempt"
    assert run.error is None, f"the app ended with {run.error!r}"
    assert len(pairs.servers) == 1


# --- 3. nothing waits forever ----------------------------------------------------------------------------


class Pairs:
    """A transport factory over memory pairs. The first connect succeeds; a reconnect waits for
    ``go`` and then fails (``refuse``), or is never reached (a long reconnect delay)."""

    def __init__(self) -> None:
        self.servers: list[MemoryServer] = []
        self.clients: list[Transport] = []
        self.reconnecting = anyio.Event()
        self.go = anyio.Event()

    async def __call__(self) -> Transport:
        if self.servers:
            self.reconnecting.set()
            await self.go.wait()
            raise OSError("connection refused")
        client, server = memory_pair()
        self.servers.append(server)
        self.clients.append(client)
        return client

    async def aclose(self) -> None:
        for server in self.servers:
            await server.close()
        for client in self.clients:
            await client.aclose()


class Waiting(RealtimeApp):
    reconnect = None

    def __init__(self, reconnect: Reconnect | None) -> None:
        super().__init__()
        self.reconnect = reconnect
        self.connected = anyio.Event()
        self.disconnected = anyio.Event()

    async def on_connect(self, connection: Connection) -> None:
        self.connected.set()

    async def on_disconnect(self, connection: Connection) -> None:
        self.disconnected.set()


_ENDS = [
    "the server closes with 1000",
    "close() while open",
    "close() while reconnecting",
    "reconnecting gives up",
]


@pytest.mark.anyio
@pytest.mark.parametrize("end", _ENDS)
async def test_what_still_waits_fails_with_not_connected_when_the_session_ends(anyio_backend: str, end: str) -> None:
    reconnects = end in ("close() while reconnecting", "reconnecting gives up")
    if end == "close() while reconnecting":  # the runner sits in the reconnect delay when close() comes
        policy: Reconnect | None = Reconnect(initial_delay=60, max_delay=60, jitter=0, max_attempts=3)
    else:
        policy = Reconnect(initial_delay=0.01, max_delay=0.02, max_attempts=2)
    app = Waiting(policy)
    pairs = Pairs()
    client, bare = memory_pair()
    run = Run(app, pairs if reconnects else client)
    results: dict[str, object] = {}

    async def outcome(name: str, call: Callable[[], Awaitable[object]]) -> None:
        try:
            results[name] = await call()
        except Exception as exc:
            results[name] = exc

    try:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(run)
                await app.connected.wait()
                server = pairs.servers[0] if reconnects else bare
                async with anyio.create_task_group() as waiting:
                    conn = app.connection
                    # A response in progress (created, never done): the next create_response() queues.
                    created = conn.expect("response.created")
                    await conn.create_response()
                    assert isinstance(await received(server), events.ResponseCreate)
                    await server.send_event(response(events.ResponseCreated, "resp_1"))
                    await created.wait(5)
                    waiting.start_soon(outcome, "create_response() behind an active response", conn.create_response)
                    waiting.start_soon(
                        outcome, "wait_for() without timeout", lambda: conn.wait_for("response.output_text.done")
                    )
                    expected = conn.expect("conversation.item.created")
                    waiting.start_soon(outcome, "expect().wait() without timeout", expected.wait)
                    update = events.SessionUpdate(session=events.Session(type="realtime", instructions="hi"))
                    waiting.start_soon(
                        outcome, "request() with timeout=None", lambda: conn.request(update, timeout=None)
                    )
                    assert isinstance(await received(server), events.SessionUpdate)  # the request is out
                    with anyio.fail_after(5):
                        await anyio.wait_all_tasks_blocked()
                    assert results == {}, f"finished before the session ended: {results}"

                    if reconnects:
                        await server.close(1011, "server error")  # lost: a reconnect follows
                        await app.disconnected.wait()
                        if end == "reconnecting gives up":
                            await pairs.reconnecting.wait()  # the attempt waits for `go`
                        for number in range(2):  # sends made during the outage wait for the reconnect
                            send = partial(conn.send, events.InputAudioBufferAppend(audio="AAAA"))
                            waiting.start_soon(outcome, f"send {number} waiting for a reconnect", send)
                        with anyio.fail_after(5):
                            await anyio.wait_all_tasks_blocked()
                        assert results == {}, f"finished before the session ended: {results}"

                    # The session ends for good: everything above fails with NotConnected, now.
                    with anyio.fail_after(5):
                        if end == "the server closes with 1000":
                            await server.close(1000)
                        elif end.startswith("close()"):
                            await conn.close()
                        else:
                            pairs.go.set()  # every attempt fails: max_attempts reached
                        await run.ended.wait()
                        waiting.cancel_scope.deadline = anyio.current_time() + 5
    finally:
        await bare.close()
        await client.aclose()
        await pairs.aclose()

    names = [
        "create_response() behind an active response",
        "wait_for() without timeout",
        "expect().wait() without timeout",
        "request() with timeout=None",
    ]
    if reconnects:
        names += ["send 0 waiting for a reconnect", "send 1 waiting for a reconnect"]
    still_waiting = [name for name in names if name not in results]
    assert still_waiting == [], f"still waiting 5 s after the session ended: {still_waiting}; {results}"
    wrong = {name: results[name] for name in names if not isinstance(results[name], NotConnected)}
    assert wrong == {}, f"ended otherwise than with NotConnected: {wrong}"
    if end == "reconnecting gives up":
        assert isinstance(run.error, ConnectionFailed), run.error
    else:
        assert run.error is None, f"the app ended with {run.error!r}"


class Impatient(RealtimeApp):
    reconnect = None
    response_start_timeout = 0.2

    @on("error")
    def server_error(self) -> None:
        pass  # an error naming no event: nothing to do (and nothing to log)


@pytest.mark.anyio
@pytest.mark.parametrize("answer", ["an error without event_id", "nothing"])
async def test_a_response_create_the_server_never_answers_does_not_wedge_the_sequencer(
    anyio_backend: str, answer: str
) -> None:
    app = Impatient()
    client, server = memory_pair()
    try:
        async with app.connect(client) as conn:
            with anyio.fail_after(5):
                asked = anyio.current_time()
                await conn.create_response()
                first = await received(server)
                assert isinstance(first, events.ResponseCreate)
                if answer == "an error without event_id":
                    detail = events.ErrorDetail(type="server_error", message="The server had an error", event_id=None)
                    await server.send_event(events.ErrorEvent.build(error=detail))
                await conn.create_response()  # held until response_start_timeout, then sent
                waited = anyio.current_time() - asked
                second = await received(server)
                assert isinstance(second, events.ResponseCreate)
                assert second.event_id != first.event_id
    finally:
        await server.close()
        await client.aclose()
    # Still one response at a time: the second create was held back (a lower bound, not a speed).
    assert waited >= app.response_start_timeout * 0.95, waited


@pytest.mark.anyio
async def test_expected_wait_with_timeout_zero_returns_an_event_that_already_arrived(anyio_backend: str) -> None:
    app = RealtimeApp()
    client, server = memory_pair()
    try:
        async with app.connect(client) as conn:
            with anyio.fail_after(5):
                cleared = conn.expect("input_audio_buffer.cleared")
                later = conn.expect("response.done")
                await server.send_event(events.InputAudioBufferCleared.build())
                await server.send_event(events.ResponseDone.build(response=events.Response(id="resp_1")))
                await later.wait()  # handled in order: the cleared event has arrived
                assert cleared.event is not None
                event = await cleared.wait(timeout=0)
    finally:
        await server.close()
        await client.aclose()
    assert isinstance(event, events.InputAudioBufferCleared)
    assert event is cleared.event
