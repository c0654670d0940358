"""Issue 13's guarantees about reconnecting, recycling, how an app ends, and tool calls.

4. Reconnect does not hammer: connections that die young are failed attempts, with growing
   backoff and an end; one that lived past ``stable_after`` starts the count over.
5. Recycling never costs a turn: not while a tool runs or its follow-up response is due.
7. The caller learns why the app ended: abnormal ends raise ``ConnectionFailed``, normal
   ones return (also a ``close()`` during a reconnect's history replay).
10. A tool call runs once, whatever response reports it; bookkeeping for responses that
    never finish is bounded.
"""

from __future__ import annotations

import contextlib
import json
import logging
from itertools import pairwise
from typing import Any

import anyio
import pytest
from conftest import serving, settle
from test_reconnect import endpoint  # the scripted WebSocket server's URL

from realtime_dispatch import Connection, ConnectionFailed, RealtimeApp, Reconnect, events, openai, tool
from realtime_dispatch.transports import (
    MemoryServer,
    MemoryTransport,
    TransportClosed,
    WebSocketOptions,
    WebSocketTransport,
    memory_pair,
    serve_websocket,
)

pytestmark = pytest.mark.anyio

SESSION = events.Session(type="realtime", instructions="hello")


class Plain(RealtimeApp):
    session = SESSION
    reconnect = Reconnect(initial_delay=0.01, max_delay=0.02, max_attempts=3)


def response(
    event: type[events.ResponseCreated | events.ResponseDone], rid: str, status: str = "completed"
) -> events.ServerEvent:
    return event.build(response=events.Response(id=rid, status=status, conversation_id="conv_1"))


def call_item(call_id: str, response_id: str, name: str = "lookup", arguments: str = "{}") -> events.ServerEvent:
    item = events.ConversationItem(
        type="function_call", id=f"item_{call_id}", status="completed", call_id=call_id, name=name, arguments=arguments
    )
    return events.ResponseOutputItemDone.build(response_id=response_id, output_index=0, item=item)


def outputs_of(sent: list[events.ClientEvent]) -> list[str]:
    """The call ids of the function_call_output items among ``sent``."""
    return [
        str(e.item.call_id)
        for e in sent
        if isinstance(e, events.ConversationItemCreate) and e.item.type == "function_call_output"
    ]


async def next_sent(server: MemoryServer) -> events.ClientEvent:
    with anyio.fail_after(5):
        return await server.receive_event()


async def sent_until_quiet(server: MemoryServer, quiet: float = 0.3) -> list[events.ClientEvent]:
    """What the app sends until it has sent nothing for ``quiet`` seconds."""
    sent: list[events.ClientEvent] = []
    while True:
        with anyio.move_on_after(quiet) as scope:
            sent.append(await server.receive_event())
        if scope.cancelled_caught:
            return sent


class Factory:
    """A transport factory over memory pairs: ``servers[n]`` is connection n's server side."""

    def __init__(self) -> None:
        self.servers: list[MemoryServer] = []
        self.clients: list[MemoryTransport] = []
        self._opened: dict[int, anyio.Event] = {}

    async def __call__(self) -> Any:
        client, server = memory_pair()
        self.servers.append(server)
        self.clients.append(client)
        self._event(len(self.servers)).set()
        return self.wrap(client, len(self.servers))

    def wrap(self, client: MemoryTransport, number: int) -> Any:
        return client

    def _event(self, count: int) -> anyio.Event:
        return self._opened.setdefault(count, anyio.Event())

    async def opened(self, count: int) -> MemoryServer:
        """Wait until ``count`` connections were opened; the server side of the last of them."""
        with anyio.fail_after(5):
            await self._event(count).wait()
        return self.servers[count - 1]

    async def aclose(self) -> None:
        for server in self.servers:
            await server.close()
        for client in self.clients:
            await client.aclose()


# --- 4. reconnect does not hammer --------------------------------------------------------------------


class _Drops:
    """A WebSocket server that closes every connection with 1011 at once (after reading the
    session.update when ``read_first``), except connection ``hold`` (1-based) which it keeps
    open ``hold_for`` seconds first. Records ``anyio.current_time()`` at each accept, and sets
    ``hammering`` once more than ``limit`` connections came."""

    def __init__(self, *, read_first: bool, limit: int, hold: int = 0, hold_for: float = 0.0) -> None:
        self.read_first = read_first
        self.limit = limit
        self.hold = hold
        self.hold_for = hold_for
        self.starts: list[float] = []
        self.hammering = anyio.Event()

    async def __call__(self, transport: WebSocketTransport) -> None:
        self.starts.append(anyio.current_time())
        number = len(self.starts)
        if number > self.limit:
            self.hammering.set()
        with contextlib.suppress(TransportClosed):
            if self.read_first:
                await transport.receive()
            if number == self.hold:
                await anyio.sleep(self.hold_for)
            await transport.close(1011, "internal error")


async def _run_bounded(app: RealtimeApp, server: _Drops) -> ConnectionFailed | None:
    """Run ``app`` against ``server``: what ``run_async`` raised (None if it returned, or if the
    server saw more connections than it allows: then the app was stopped)."""
    failed: ConnectionFailed | None = None
    async with serve_websocket(server) as port:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as task_group:

                async def stop_when_hammering() -> None:
                    await server.hammering.wait()
                    task_group.cancel_scope.cancel()

                task_group.start_soon(stop_when_hammering)
                try:
                    await app.run_async(endpoint(port))
                except ConnectionFailed as exc:
                    failed = exc
                task_group.cancel_scope.cancel()
    return failed


@pytest.mark.parametrize("read_first", [True, False], ids=["after-session-update", "at-once"])
async def test_a_server_that_drops_every_connection_meets_backoff_and_an_end(read_first: bool) -> None:
    class App(Plain):
        reconnect = Reconnect(initial_delay=0.01, max_delay=0.05, jitter=0, max_attempts=4, stable_after=5)

    server = _Drops(read_first=read_first, limit=5)
    failed = await _run_bounded(App(), server)
    assert len(server.starts) == 1 + 4, f"{len(server.starts)} connections (expected the first and 4 attempts)"
    assert failed is not None, "run_async returned instead of raising ConnectionFailed"
    assert "could not reconnect" in str(failed)
    gaps = [later - earlier for earlier, later in pairwise(server.starts)]
    # min(0.01 * 2**n, 0.05) after n failures in a row: the first loss is not a failed attempt,
    # each young death of a reconnect is. Gaps can only be longer than the delays.
    expected = [0.01, 0.02, 0.04, 0.05]
    epsilon = 0.002
    assert all(gap >= delay - epsilon for gap, delay in zip(gaps, expected, strict=True)), (gaps, expected)


async def test_a_connection_that_lived_past_stable_after_starts_the_count_over() -> None:
    class App(Plain):
        reconnect = Reconnect(initial_delay=0.01, max_delay=0.05, jitter=0, max_attempts=3, stable_after=0.5)

    # 1 (first) and 2, 3 (failed attempts 1, 2) die at once; 4 lives 1 s: the count starts
    # over, so 5, 6, 7 are failed attempts 1, 2, 3, and the app gives up after 7 connections.
    server = _Drops(read_first=True, limit=7, hold=4, hold_for=1.0)
    failed = await _run_bounded(App(), server)
    assert len(server.starts) == 7, f"{len(server.starts)} connections (expected 7: the count restarts after the 4th)"
    assert failed is not None, "run_async returned instead of raising ConnectionFailed"
    assert "could not reconnect" in str(failed)


# --- 5. recycling never costs a turn -----------------------------------------------------------------


async def test_recycling_waits_for_the_tool_turn_and_its_follow_up_response() -> None:
    class Recycling(RealtimeApp):
        session = SESSION
        reconnect = Reconnect(initial_delay=0.01, max_delay=0.02)
        recycle_after = 0.05

        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        @tool
        async def lookup(self) -> str:
            """Look it up."""
            self.calls += 1
            await anyio.sleep(0.1)  # the recycle is due all the while
            return "found"

    factory = Factory()
    app = Recycling()
    try:
        async with app.connect(factory):
            first = await factory.opened(1)
            assert (await next_sent(first)).type == "session.update"
            await anyio.sleep(0.1)  # past recycle_after: from now on a quiet response.done recycles
            await first.send_event(response(events.ResponseCreated, "resp_1"))
            await first.send_event(call_item("call_1", "resp_1"))
            await first.send_event(response(events.ResponseDone, "resp_1"))  # the tool runs: not quiet
            after_call: list[str] = []
            with anyio.fail_after(5):
                while "response.create" not in after_call:
                    try:
                        event = await first.receive_event()
                    except TransportClosed as closed:
                        after_call.append(f"closed by the app ({closed.code})")
                        break
                    after_call.append(event.type)
                    if isinstance(event, events.ConversationItemCreate):
                        assert event.item.call_id == "call_1"
            assert after_call == ["conversation.item.create", "response.create"], (
                "the output and the follow-up must go out on the connection that made the call"
            )
            assert len(factory.servers) == 1
            await first.send_event(response(events.ResponseCreated, "resp_2"))
            await settle(app, first)  # the follow-up response runs: not quiet
            assert len(factory.servers) == 1
            await first.send_event(response(events.ResponseDone, "resp_2"))  # quiet now: recycle here
            second = await factory.opened(2)
            assert (await next_sent(second)).type == "session.update"
            with anyio.fail_after(5), pytest.raises(TransportClosed):
                await first.receive_event()  # the app closed the old connection
    finally:
        await factory.aclose()
    assert app.calls == 1


# --- 7. the caller learns why the app ended ------------------------------------------------------------


async def test_a_frame_over_max_size_raises_connection_failed() -> None:
    limit = 16 * 1024
    big = json.dumps({"type": "conversation.item.retrieved", "audio": "A" * limit}).encode()

    async def send_big(transport: WebSocketTransport) -> None:
        with contextlib.suppress(TransportClosed):
            await transport.receive()  # session.update
            await transport.send(big)
            while True:
                await transport.receive()

    async with serve_websocket(send_big) as port:
        target = openai("gpt-realtime", base_url=f"ws://127.0.0.1:{port}/v1", options=WebSocketOptions(max_size=limit))
        with anyio.fail_after(10), pytest.raises(ConnectionFailed, match="1009"):
            await Plain().run_async(target)


async def test_a_fatal_error_then_a_normal_close_raises_connection_failed() -> None:
    async def refuse(transport: WebSocketTransport) -> None:
        with contextlib.suppress(TransportClosed):
            await transport.receive()
            error = events.ErrorDetail(type="invalid_request_error", code="invalid_api_key", message="bad key")
            await transport.send(events.encode(events.ErrorEvent.build(error=error)))
            await transport.close(1000)

    async with serve_websocket(refuse) as port:
        with anyio.fail_after(10), pytest.raises(ConnectionFailed, match="invalid_api_key"):
            await Plain().run_async(endpoint(port))


async def test_close_from_the_caller_returns() -> None:
    from realtime_dispatch import EndReason

    connections: list[Connection] = []

    class Closer(Plain):
        async def on_connect(self, connection: Connection) -> None:
            connections.append(connection)
            await connection.close()

    async def serve(transport: WebSocketTransport) -> None:
        with contextlib.suppress(TransportClosed):
            while True:
                await transport.receive()

    async with serve_websocket(serve) as port:
        with anyio.fail_after(10):
            await Closer().run_async(endpoint(port))  # returns: no exception
    assert len(connections) == 1
    outcome = connections[0].outcome
    assert outcome is not None
    assert outcome.reason is EndReason.CLOSED_BY_USER
    assert outcome.normal


async def test_a_server_close_1000_without_a_fatal_error_returns() -> None:
    from realtime_dispatch import EndReason

    connections: list[Connection] = []

    class Watcher(Plain):
        async def on_connect(self, connection: Connection) -> None:
            connections.append(connection)

    async def done(transport: WebSocketTransport) -> None:
        with contextlib.suppress(TransportClosed):
            await transport.receive()
            error = events.ErrorDetail(type="invalid_request_error", code="invalid_value", message="not fatal")
            await transport.send(events.encode(events.ErrorEvent.build(error=error)))
            await transport.close(1000)

    async with serve_websocket(done) as port:
        with anyio.fail_after(10):
            await Watcher().run_async(endpoint(port))  # returns: no exception
    assert len(connections) == 1
    outcome = connections[0].outcome
    assert outcome is not None
    assert (outcome.reason, outcome.code, outcome.normal) == (EndReason.CLOSED_BY_SERVER, 1000, True)


class _Hold:
    """Holds the second replayed ``conversation.item.create`` (0.5 s at most, until ``release``)
    so that the replay is still going out when the test calls ``close()``."""

    def __init__(self) -> None:
        self.creates = 0
        self.held = anyio.Event()
        self.release = anyio.Event()

    def second_create(self, data: bytes) -> bool:
        if b'"conversation.item.create"' not in data:
            return False
        self.creates += 1
        return self.creates == 2

    async def hold(self) -> None:
        self.held.set()
        with anyio.move_on_after(0.5):
            await self.release.wait()


class _HeldTransport:
    """A client transport that holds the second replayed item before writing it (as a socket's
    send waits for room) or after (as one waits for the buffer to drain)."""

    def __init__(self, inner: MemoryTransport, hold: _Hold, *, after: bool) -> None:
        self.inner = inner
        self._hold = hold
        self._after = after

    async def send(self, data: bytes) -> None:
        if not self._hold.second_create(data):
            await self.inner.send(data)
        elif self._after:
            await self.inner.send(data)
            await self._hold.hold()
        else:
            await self._hold.hold()
            await self.inner.send(data)

    async def receive(self) -> bytes:
        return await self.inner.receive()

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize("where", ["transport-before-writing", "transport-after-writing", "outbound-middleware"])
async def test_close_during_a_reconnects_history_replay_returns_cleanly(where: str) -> None:
    class Reseeding(Plain):
        reseed_history = True

    hold = _Hold()

    class Held(Factory):
        def wrap(self, client: MemoryTransport, number: int) -> Any:
            if where.startswith("transport"):
                return _HeldTransport(client, hold, after=where.endswith("after-writing"))
            return client

    async def held_middleware(event: events.ClientEvent, call_next: Any) -> None:
        if hold.second_create(events.encode(event)):
            await hold.hold()
        await call_next(event)

    def said(n: int) -> events.ServerEvent:
        item = events.ConversationItem(
            type="message",
            id=f"item_{n}",
            role="user",
            status="completed",
            content=[events.ContentPart(type="input_text", text=f"message {n}")],
        )
        return events.ConversationItemDone.build(item=item)

    factory = Held()
    app = Reseeding()
    if where == "outbound-middleware":
        app.add_middleware(held_middleware, outbound=True)
    seen: list[str] = []
    connections: list[Connection] = []
    raised: list[Exception] = []

    async def play() -> None:
        first = await factory.opened(1)
        seen.append((await next_sent(first)).type)
        for n in range(5):
            await first.send_event(said(n))
        await first.close(1011, "server error")  # after the items: the app keeps them, then reconnects
        second = await factory.opened(2)
        seen.append((await next_sent(second)).type)
        seen.append((await next_sent(second)).type)  # the first replayed item
        connections.append(app.connection)
        try:
            with anyio.fail_after(5):
                await hold.held.wait()  # the second one is on its way out
                await app.connection.close()
        finally:
            hold.release.set()

    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(play)
                try:
                    await app.run_async(factory)
                except Exception as exc:
                    raised.append(exc)
    finally:
        await factory.aclose()
    assert not raised, f"close() during the replay: run_async raised {raised[0]!r}"
    assert seen == ["session.update", "session.update", "conversation.item.create"]
    assert len(factory.servers) == 2  # no reconnect after the close
    outcome = connections[0].outcome
    assert outcome is not None
    assert outcome.normal, outcome


# --- 10. a tool call runs once -------------------------------------------------------------------------


async def test_a_call_reported_again_under_another_response_runs_once() -> None:
    class Booking(RealtimeApp):
        def __init__(self) -> None:
            super().__init__()
            self.entered = 0
            self.started = anyio.Event()
            self.release = anyio.Event()

        @tool
        async def book(self) -> str:
            """Book it."""
            self.entered += 1
            self.started.set()
            await self.release.wait()
            return "booked"

    app = Booking()
    async with serving(app) as server:
        assert (await next_sent(server)).type == "session.update"
        await server.send_event(response(events.ResponseCreated, "resp_1"))
        await server.send_event(call_item("call_x", "resp_1", name="book"))
        with anyio.fail_after(5):
            await app.started.wait()
        await server.send_event(call_item("call_x", "resp_2", name="book"))  # again, while it runs
        await server.send_event(response(events.ResponseDone, "resp_1"))
        await server.send_event(response(events.ResponseDone, "resp_2"))
        await settle(app, server)  # all of that handled while the tool still runs
        app.release.set()
        sent = await sent_until_quiet(server)
        # Reported once more after its output went out: still answered, not run again.
        await server.send_event(response(events.ResponseCreated, "resp_3"))
        await server.send_event(call_item("call_x", "resp_3", name="book"))
        await server.send_event(response(events.ResponseDone, "resp_3"))
        sent += await sent_until_quiet(server)
    assert app.entered == 1, f"the tool was entered {app.entered} times"
    assert outputs_of(sent) == ["call_x"], [e.type for e in sent]
    assert [e.type for e in sent].count("response.create") == 1  # one follow-up


async def test_responses_that_never_finish_are_forgotten_and_the_app_keeps_working(
    caplog: pytest.LogCaptureFixture,
) -> None:
    responses = 500

    class Quick(RealtimeApp):
        def __init__(self) -> None:
            super().__init__()
            self.entered = 0

        @tool
        async def lookup(self) -> str:
            """Look it up."""
            self.entered += 1
            return "found"

    caplog.set_level(logging.WARNING, logger="realtime_dispatch")
    app = Quick()
    async with serving(app) as server:
        assert (await next_sent(server)).type == "session.update"
        for n in range(responses):  # each calls a tool, and never ends
            await server.send_event(response(events.ResponseCreated, f"resp_{n}"))
            await server.send_event(call_item(f"call_{n}", f"resp_{n}"))
        sent: list[events.ClientEvent] = []
        with anyio.fail_after(10):
            while len(outputs_of(sent)) < responses:
                sent.append(await server.receive_event())
        # Then a normal turn: its call is answered and the model is asked to go on.
        await server.send_event(response(events.ResponseCreated, "resp_last"))
        await server.send_event(call_item("call_last", "resp_last"))
        await server.send_event(response(events.ResponseDone, "resp_last"))
        sent += await sent_until_quiet(server)
    assert app.entered == responses + 1
    assert sorted(outputs_of(sent)) == sorted([f"call_{n}" for n in range(responses)] + ["call_last"])
    assert [e.type for e in sent].count("response.create") == 1  # only the finished turn's follow-up
    assert sent[-1].type == "response.create"
    forgotten = [r.getMessage() for r in caplog.records if "never finished" in r.getMessage()]
    assert forgotten, "responses that never finish must be forgotten (and the eviction logged)"
    assert len(forgotten) >= responses // 2, f"only {len(forgotten)} of {responses} unfinished responses forgotten"
    assert "resp_0 " in forgotten[0]  # the oldest first
    assert not any("resp_last" in message for message in forgotten)
