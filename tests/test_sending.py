"""Typed senders, request() with the server's verdict, and the response sequencer."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from realtime_dispatch import (
    Connection,
    NotConnected,
    RealtimeApp,
    Reconnect,
    ResponseInProgress,
    SendTimeout,
    ServerError,
    events,
    on,
)
from realtime_dispatch.transports import MemoryServer, TransportClosed, memory_pair

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def running(app: RealtimeApp) -> AsyncIterator[tuple[Connection, MemoryServer]]:
    client, server = memory_pair()
    try:
        with anyio.fail_after(10):
            async with app.connect(client) as conn:
                yield conn, server
    finally:
        await server.close()


async def nothing_arrives(server: MemoryServer, within: float = 0.1) -> bool:
    with anyio.move_on_after(within) as scope:
        await server.receive_event()
    return scope.cancelled_caught


async def test_typed_senders_send_the_right_events() -> None:
    async with running(RealtimeApp()) as (conn, server):
        sent = [
            await conn.update_session(events.Session(type="realtime", instructions="x")),
            await conn.append_audio(b"\x01\x02"),
            await conn.commit_audio(),
            await conn.clear_audio(),
            await conn.clear_output_audio(),
            await conn.create_item(events.ConversationItem.message("user", "hi"), previous_item_id="root"),
            await conn.retrieve_item("item_1"),
            await conn.truncate_item("item_2", 1500),
            await conn.delete_item("item_3"),
            await conn.create_response(events.ResponseParams(instructions="short")),
        ]
        received = [await server.receive_event() for _ in sent]
        await conn.cancel_response("resp_1")
        cancel = await server.receive_event()
    assert [e.event_id for e in received] == sent
    assert len(set(sent)) == len(sent)
    assert [e.type for e in received] == [
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "output_audio_buffer.clear",
        "conversation.item.create",
        "conversation.item.retrieve",
        "conversation.item.truncate",
        "conversation.item.delete",
        "response.create",
    ]
    assert isinstance(received[1], events.InputAudioBufferAppend)
    assert received[1].pcm == b"\x01\x02"
    assert isinstance(received[5], events.ConversationItemCreate)
    assert received[5].previous_item_id == "root"
    assert isinstance(received[7], events.ConversationItemTruncate)
    assert (received[7].item_id, received[7].content_index, received[7].audio_end_ms) == ("item_2", 0, 1500)
    assert isinstance(cancel, events.ResponseCancel)
    assert cancel.response_id == "resp_1"


async def test_request_returns_the_reply() -> None:
    async with running(RealtimeApp()) as (conn, server), anyio.create_task_group() as tg:

        async def serve() -> None:
            update = await server.receive_event()
            assert isinstance(update, events.SessionUpdate)
            # Something unrelated first: the request must wait for its own reply.
            await server.send_event(events.RateLimitsUpdated.build(rate_limits=[]))
            await server.send_event(events.SessionUpdated.build(session=events.Session(instructions="set")))
            delete = await server.receive_event()
            assert isinstance(delete, events.ConversationItemDelete)
            await server.send_event(events.ConversationItemDeleted.build(item_id="other"))
            await server.send_event(events.ConversationItemDeleted.build(item_id=delete.item_id))

        tg.start_soon(serve)
        reply = await conn.request(events.SessionUpdate(session=events.Session(type="realtime")))
        assert isinstance(reply, events.SessionUpdated)
        assert reply.session.instructions == "set"
        deleted = await conn.request(events.ConversationItemDelete(item_id="item_9"))
        assert isinstance(deleted, events.ConversationItemDeleted)
        assert deleted.item_id == "item_9"


async def test_request_fails_with_the_servers_error_for_that_event() -> None:
    async with running(RealtimeApp()) as (conn, server), anyio.create_task_group() as tg:

        async def serve() -> None:
            bad = await server.receive_event()
            other = events.ErrorDetail(type="invalid_request_error", message="not yours", event_id="evt_other")
            await server.send_event(events.ErrorEvent.build(error=other))
            mine = events.ErrorDetail(
                type="invalid_request_error",
                code="item_truncate_invalid_audio_end_ms",
                message="audio_end_ms is past the end",
                param="audio_end_ms",
                event_id=bad.event_id,
            )
            await server.send_event(events.ErrorEvent.build(error=mine))

        tg.start_soon(serve)
        with pytest.raises(ServerError, match="past the end") as caught:
            await conn.request(events.ConversationItemTruncate(item_id="i", content_index=0, audio_end_ms=10**6))
    assert caught.value.code == "item_truncate_invalid_audio_end_ms"
    assert caught.value.error.param == "audio_end_ms"


async def test_request_times_out_and_refuses_events_without_an_answer() -> None:
    async with running(RealtimeApp()) as (conn, server):
        with pytest.raises(TimeoutError):
            await conn.request(events.InputAudioBufferCommit(), timeout=0.05)
        assert (await server.receive_event()).type == "input_audio_buffer.commit"
        with pytest.raises(ValueError, match="no answer"):
            await conn.request(events.InputAudioBufferAppend(audio=""))


async def test_request_from_an_inline_handler_is_refused() -> None:
    seen: list[BaseException] = []
    refused = anyio.Event()

    class App(RealtimeApp):
        @on("session.created")
        async def inline(self, conn: Connection) -> None:
            try:
                await conn.request(events.InputAudioBufferCommit())
            except RuntimeError as exc:
                seen.append(exc)
                refused.set()

    async with running(App()) as (_, server):
        await server.send_event(events.SessionCreated.build(session=events.Session()))
        with anyio.fail_after(5):
            await refused.wait()
    assert "background=True" in str(seen[0])


def created(response_id: str, conversation: str | None = "conv_1") -> events.ResponseCreated:
    return events.ResponseCreated.build(
        response=events.Response(id=response_id, status="in_progress", conversation_id=conversation)
    )


def finished(response_id: str, status: str = "completed") -> events.ResponseDone:
    return events.ResponseDone.build(response=events.Response(id=response_id, status=status))


async def test_a_second_response_create_waits_for_the_first_to_finish() -> None:
    async with running(RealtimeApp()) as (conn, server), anyio.create_task_group() as tg:
        await conn.create_response()
        first = await server.receive_event()
        assert first.type == "response.create"
        await server.send_event(created("resp_1"))
        tg.start_soon(conn.create_response)
        assert await nothing_arrives(server)  # held back: resp_1 is active
        await server.send_event(finished("resp_1"))
        second = await server.receive_event()
        assert second.type == "response.create"


async def test_a_server_started_response_also_holds_creates_back() -> None:
    async with running(RealtimeApp()) as (conn, server), anyio.create_task_group() as tg:
        await server.send_event(created("resp_vad"))  # server VAD started a response on its own
        await server.send_event(events.RateLimitsUpdated.build(rate_limits=[]))
        await anyio.sleep(0.05)
        tg.start_soon(conn.create_response)
        assert await nothing_arrives(server)
        await server.send_event(finished("resp_vad", "cancelled"))
        assert (await server.receive_event()).type == "response.create"


async def test_a_refused_create_frees_the_slot() -> None:
    async with running(RealtimeApp()) as (conn, server), anyio.create_task_group() as tg:
        first_id = await conn.create_response()
        await server.receive_event()
        refusal = events.ErrorDetail(
            type="invalid_request_error",
            code="conversation_already_has_active_response",
            message="busy",
            event_id=first_id,
        )
        await server.send_event(events.ErrorEvent.build(error=refusal))
        tg.start_soon(conn.create_response)
        assert (await server.receive_event()).type == "response.create"


async def test_a_done_without_a_created_frees_the_slot_of_our_create() -> None:
    async with running(RealtimeApp()) as (conn, server), anyio.create_task_group() as tg:
        await conn.create_response()
        await server.receive_event()
        done = events.ResponseDone.build(response=events.Response(id="resp_1", conversation_id="conv_1"))
        await server.send_event(done)  # a scripted server that skips response.created
        tg.start_soon(conn.create_response)
        with anyio.fail_after(2):
            assert (await server.receive_event()).type == "response.create"


async def test_expect_catches_an_answer_that_arrives_before_the_wait() -> None:
    async with running(RealtimeApp()) as (conn, server):
        expected = conn.expect("response.done", lambda event: event.response.id == "resp_2")
        await server.send_event(finished("resp_1"))
        await server.send_event(finished("resp_2"))
        await anyio.sleep(0.05)  # both handled before anyone waits
        assert expected.event is not None
        event = await expected.wait(timeout=1)
        assert isinstance(event, events.ResponseDone)
        assert event.response.id == "resp_2"
        never = conn.expect(events.ResponseCreated)
        with pytest.raises(TimeoutError):
            await never.wait(timeout=0.05)
        cancelled = conn.expect("response.*")
        cancelled.cancel()
        await server.send_event(finished("resp_3"))
        await anyio.sleep(0.05)
        assert cancelled.event is None
        with pytest.raises(ValueError, match="unknown event type"):
            conn.expect("response.dnoe")


async def test_expect_may_register_in_an_inline_handler_but_not_wait_there() -> None:
    seen: list[object] = []

    class App(RealtimeApp):
        @on("response.created")
        async def created(self, conn: Connection) -> None:
            expected = conn.expect("response.done")
            try:
                await expected.wait(timeout=1)
            except RuntimeError as exc:
                seen.append(exc)

    async with running(App()) as (_conn, server):
        await server.send_event(created("resp_1"))
        await anyio.sleep(0.05)
    assert len(seen) == 1
    assert "background=True" in str(seen[0])


async def test_out_of_band_responses_are_not_held() -> None:
    async with running(RealtimeApp()) as (conn, server):
        await conn.create_response()
        await server.receive_event()
        await server.send_event(created("resp_1"))
        await anyio.sleep(0.05)
        with anyio.fail_after(1):
            await conn.create_response(events.ResponseParams(conversation="none", metadata={"kind": "summary"}))
        assert (await server.receive_event()).type == "response.create"


async def test_an_out_of_band_response_created_while_our_create_waits_is_not_taken_for_ours() -> None:
    async with running(RealtimeApp()) as (conn, server), anyio.create_task_group() as tg:
        await conn.create_response()
        await server.receive_event()
        await server.send_event(created("resp_1"))  # ours: in-band responses name their conversation
        await server.send_event(finished("resp_1"))
        await anyio.sleep(0.05)
        await conn.create_response()
        await server.receive_event()
        await server.send_event(created("resp_oob", conversation=None))  # someone's out-of-band response
        await server.send_event(finished("resp_oob"))
        await anyio.sleep(0.05)
        assert conn._sequencer is not None
        assert conn._sequencer.busy  # still waiting for our own response to start
        tg.start_soon(conn.create_response)
        with anyio.move_on_after(0.1) as held:  # held back: ours has not even started
            await server.receive_event()
        assert held.cancelled_caught
        await server.send_event(created("resp_2"))
        await server.send_event(finished("resp_2"))
        with anyio.fail_after(2):
            assert (await server.receive_event()).type == "response.create"


async def test_reject_policy_refuses_a_create_while_one_is_active() -> None:
    class Strict(RealtimeApp):
        response_policy = "reject"

    async with running(Strict()) as (conn, server):
        await conn.create_response()
        await server.receive_event()
        with pytest.raises(ResponseInProgress):
            await conn.create_response()
        await server.send_event(created("resp_1"))
        await server.send_event(finished("resp_1"))
        await anyio.sleep(0.05)
        await conn.create_response()  # free again
        assert (await server.receive_event()).type == "response.create"


async def test_benign_race_errors_are_logged_quietly_and_never_end_the_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    got: list[str] = []
    arrived = anyio.Event()

    class App(RealtimeApp):
        @on("response.done")
        def done(self, event: events.ResponseDone) -> None:
            got.append(event.response.id or "")
            arrived.set()

    caplog.set_level(logging.INFO, logger="realtime_dispatch.dispatch")
    async with running(App()) as (_, server):
        for code in ("response_cancel_not_active", "conversation_already_has_active_response"):
            error = events.ErrorDetail(type="invalid_request_error", code=code, message=code)
            await server.send_event(events.ErrorEvent.build(error=error))
        await server.send_event(finished("resp_after"))
        with anyio.fail_after(5):
            await arrived.wait()
    records = [r for r in caplog.records if "no handler registered for 'error'" in r.getMessage()]
    assert [r.levelno for r in records] == [logging.INFO, logging.INFO]
    assert got == ["resp_after"]


async def test_send_blocks_while_the_peer_does_not_read() -> None:
    client, server = memory_pair(max_buffer=1)
    try:
        async with RealtimeApp().connect(client) as conn:
            await conn.append_audio(b"\x00" * 10)  # fills the one-frame buffer: nobody reads yet
            finished = anyio.Event()

            async def second() -> None:
                await conn.append_audio(b"\x01" * 10)
                finished.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(second)
                await anyio.sleep(0.1)
                assert not finished.is_set()  # backpressure: the sender waits for the peer
                await server.receive_event()
                with anyio.fail_after(5):
                    await finished.wait()
    finally:
        await server.close()


async def test_send_timeout_fails_the_send_and_reconnects() -> None:
    from realtime_dispatch import Reconnect, SendTimeout

    servers: list[MemoryServer] = []
    reconnected = anyio.Event()

    async def factory():  # type: ignore[no-untyped-def]
        client, server = memory_pair(max_buffer=1)
        servers.append(server)
        return client

    class App(RealtimeApp):
        send_timeout = 0.1
        reconnect = Reconnect(initial_delay=0.01, max_delay=0.02)
        connects = 0

        async def on_connect(self, connection: Connection) -> None:
            self.connects += 1
            if self.connects == 2:
                reconnected.set()

    app = App()
    try:
        async with app.connect(factory) as conn:
            await conn.append_audio(b"\x00" * 10)
            with pytest.raises(SendTimeout):
                await conn.append_audio(b"\x00" * 10)  # the first server never reads
            with anyio.fail_after(5):
                await reconnected.wait()
            await conn.append_audio(b"\x01")
            received = await servers[1].receive_event()
            assert isinstance(received, events.InputAudioBufferAppend)
            assert received.pcm == b"\x01"
    finally:
        for server in servers:
            await server.close()
    assert app.connects == 2


class StuckTransport:
    """A connection whose socket never drains (``send`` never completes) and whose close is slow."""

    def __init__(self, close_delay: float = 1.0) -> None:
        self.close_delay = close_delay
        self.sends = 0
        self.close_calls = 0
        self.closed = anyio.Event()

    async def send(self, data: bytes) -> None:
        self.sends += 1
        await anyio.sleep_forever()

    async def receive(self) -> bytes:
        await self.closed.wait()
        raise TransportClosed(1006, "")

    async def aclose(self) -> None:
        self.close_calls += 1
        try:
            await anyio.sleep(self.close_delay)
        finally:
            self.closed.set()  # even when cut short: like the real transports, never leak the socket


SEND_TIMEOUT = 0.1
MARGIN = 0.2  # SendTimeout must reach the caller within send_timeout + this, however slow the close is


async def test_send_timeout_is_not_delayed_by_a_slow_close_in_an_app() -> None:
    stuck = StuckTransport()
    servers: list[MemoryServer] = []

    async def factory():  # type: ignore[no-untyped-def]
        if stuck.sends == 0 and not stuck.closed.is_set():
            return stuck  # the first connection never drains
        client, server = memory_pair()
        servers.append(server)
        return client

    class App(RealtimeApp):
        send_timeout = SEND_TIMEOUT
        reconnect = Reconnect(initial_delay=0.01, max_delay=0.02)

    try:
        with anyio.fail_after(10):
            async with App().connect(factory) as conn:
                started = anyio.current_time()
                with pytest.raises(SendTimeout):
                    await conn.append_audio(b"\x00" * 10)
                elapsed = anyio.current_time() - started
                assert SEND_TIMEOUT <= elapsed < SEND_TIMEOUT + MARGIN
                await conn.append_audio(b"\x01")  # waits for the reconnect: not sent on the stuck connection
                assert len(servers) == 1
                received = await servers[0].receive_event()
                assert isinstance(received, events.InputAudioBufferAppend)
                assert received.pcm == b"\x01"
    finally:
        for server in servers:
            await server.close()
    assert stuck.sends == 1
    assert stuck.close_calls >= 1
    assert stuck.closed.is_set()


async def test_send_timeout_is_not_delayed_by_a_slow_close_on_a_bare_connection() -> None:
    stuck = StuckTransport()
    with anyio.fail_after(5):
        async with Connection(stuck, send_timeout=SEND_TIMEOUT) as conn:
            started = anyio.current_time()
            with pytest.raises(SendTimeout):
                await conn.append_audio(b"\x00" * 10)
            elapsed = anyio.current_time() - started
            assert SEND_TIMEOUT <= elapsed < SEND_TIMEOUT + MARGIN
            assert stuck.closed.is_set()  # closed (cut short), so iterating ends too
            with pytest.raises(NotConnected):
                await conn.append_audio(b"\x01")
    assert stuck.sends == 1


async def test_sends_that_waited_for_a_reconnect_time_out_on_a_connection_that_never_drains() -> None:
    first, first_server = memory_pair()
    stuck = StuckTransport()
    servers = [first_server]
    transports: list[object] = [stuck, first]  # popped from the end

    async def factory():  # type: ignore[no-untyped-def]
        if transports:
            return transports.pop()
        client, server = memory_pair()
        servers.append(server)
        return client

    disconnected = anyio.Event()
    both_done = anyio.Event()

    class App(RealtimeApp):
        send_timeout = SEND_TIMEOUT
        reconnect = Reconnect(initial_delay=0.05, max_delay=0.05)
        max_pending_sends = 10

        async def on_disconnect(self, connection: Connection) -> None:
            disconnected.set()

    outcome: dict[bytes, object] = {}

    async def append(conn: Connection, pcm: bytes) -> None:
        try:
            await conn.append_audio(pcm)
            outcome[pcm] = "sent"
        except Exception as exc:
            outcome[pcm] = exc
        if len(outcome) == 2:
            both_done.set()

    try:
        with anyio.fail_after(10):
            async with App().connect(factory) as conn, anyio.create_task_group() as tg:
                await first_server.close(1011, "lost")
                await disconnected.wait()
                tg.start_soon(append, conn, b"a")  # both wait for the connection, in this order
                while conn.pending_sends < 1:  # noqa: ASYNC110
                    await anyio.sleep(0.001)
                tg.start_soon(append, conn, b"b")
                while conn.pending_sends < 2:  # noqa: ASYNC110
                    await anyio.sleep(0.001)
                await both_done.wait()
                assert len(servers) == 2  # "b" stayed queued and went out on the connection after the stuck one
                received = await servers[1].receive_event()
                assert isinstance(received, events.InputAudioBufferAppend)
                assert received.pcm == b"b"
                assert await nothing_arrives(servers[1])
    finally:
        for server in servers:
            await server.close()
    assert isinstance(outcome[b"a"], SendTimeout)  # the replayed send timed out instead of hanging
    assert outcome[b"b"] == "sent"
    assert stuck.sends == 1
    assert stuck.closed.is_set()
