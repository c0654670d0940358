"""Reconnect against a real WebSocket server on 127.0.0.1."""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from realtime_dispatch import Connection, ConnectionFailed, NotConnected, RealtimeApp, Reconnect, events, on, openai
from realtime_dispatch.transports import TransportClosed, WebSocketTransport, memory_pair, serve_websocket

pytestmark = pytest.mark.anyio

FAST = Reconnect(initial_delay=0.01, max_delay=0.02, max_attempts=3)


class Recorder:
    """A scripted server: connection N runs ``scripts[N]``; records what each received."""

    def __init__(self, *scripts) -> None:  # type: ignore[no-untyped-def]
        self.scripts = list(scripts)
        self.received: list[list[str]] = []

    async def __call__(self, transport: WebSocketTransport) -> None:
        index = len(self.received)
        self.received.append([])
        script = self.scripts[min(index, len(self.scripts) - 1)]
        with contextlib.suppress(TransportClosed):
            await script(transport, self.received[index])


async def receive_type(transport: WebSocketTransport, log: list[str]) -> events.ClientEvent:
    event = events.decode_client(await transport.receive())
    log.append(event.type)
    return event


def endpoint(port: int):  # type: ignore[no-untyped-def]
    return openai("gpt-realtime", base_url=f"ws://127.0.0.1:{port}/v1")


class App(RealtimeApp):
    session = events.Session(type="realtime", instructions="hello")
    reconnect = FAST

    def __init__(self) -> None:
        super().__init__()
        self.connects = 0
        self.disconnects = 0

    async def on_connect(self, connection: Connection) -> None:
        self.connects += 1

    async def on_disconnect(self, connection: Connection) -> None:
        self.disconnects += 1


async def test_reconnects_replays_session_and_sends_queued_events_once() -> None:
    async def first(transport: WebSocketTransport, log: list[str]) -> None:
        await receive_type(transport, log)  # session.update
        await transport.send(events.encode(events.SessionCreated.build(session=events.Session())))
        await transport.close(1011, "server error")

    async def second(transport: WebSocketTransport, log: list[str]) -> None:
        while True:
            event = await receive_type(transport, log)
            if event.type == "response.create":
                await transport.send(events.encode(events.ResponseDone.build(response=events.Response())))

    lost = anyio.Event()

    class Reconnecting(App):
        async def on_disconnect(self, connection: Connection) -> None:
            await super().on_disconnect(connection)
            lost.set()

        @on("session.created", background=True)
        async def created(self, conn: Connection) -> None:
            await lost.wait()
            await conn.send(events.ResponseCreate())  # during the outage: waits for the reconnect

        @on("response.done")
        async def done(self, conn: Connection) -> None:
            await conn.close()

    server = Recorder(first, second)
    app = Reconnecting()
    async with serve_websocket(server) as port:
        with anyio.fail_after(10):
            await app.run_async(endpoint(port))
    assert server.received[0] == ["session.update"]
    assert server.received[1] == ["session.update", "response.create"]  # replayed first, sent once
    assert app.connects == 2
    assert app.disconnects == 2


async def test_normal_close_does_not_reconnect() -> None:
    async def close_normally(transport: WebSocketTransport, log: list[str]) -> None:
        await receive_type(transport, log)
        await transport.close(1000)

    server = Recorder(close_normally)
    app = App()
    async with serve_websocket(server) as port:
        with anyio.fail_after(10):
            await app.run_async(endpoint(port))
    assert len(server.received) == 1
    assert app.connects == 1


async def test_fatal_handshake_on_reconnect_stops_at_once() -> None:
    connections = 0

    def accept(request: Request) -> Response | None:
        nonlocal connections
        connections += 1
        if connections == 1:
            return None
        body = b'{"error":{"code":"invalid_api_key"}}'
        return Response(401, "Unauthorized", Headers([("Content-Length", str(len(body)))]), body)

    async def drop(transport: WebSocketTransport, log: list[str]) -> None:
        await receive_type(transport, log)
        await transport.close(1012, "restart")

    app = App()
    async with serve_websocket(Recorder(drop), accept=accept) as port:
        with anyio.fail_after(10), pytest.raises(ConnectionFailed, match="401"):
            await app.run_async(endpoint(port))
    assert connections == 2  # no retry after the 401


async def test_gives_up_after_max_attempts_when_the_server_is_gone() -> None:
    async def drop(transport: WebSocketTransport, log: list[str]) -> None:
        await receive_type(transport, log)
        await transport.close(1001, "going away")

    app = App()
    async with serve_websocket(Recorder(drop)) as port:
        target = endpoint(port)

        async def factory():  # type: ignore[no-untyped-def]
            if app.connects:  # after the first connection, the server is "gone"
                raise OSError("connection refused")
            return await target()

        with anyio.fail_after(10), pytest.raises(ConnectionFailed, match="could not reconnect") as caught:
            await app.run_async(factory)
    assert isinstance(caught.value.__cause__, OSError)


async def test_closing_the_connection_does_not_reconnect() -> None:
    async def serve(transport: WebSocketTransport, log: list[str]) -> None:
        while True:
            await receive_type(transport, log)

    class Closer(App):
        async def on_connect(self, connection: Connection) -> None:
            await super().on_connect(connection)
            await connection.close()

    server = Recorder(serve)
    app = Closer()
    async with serve_websocket(server) as port:
        with anyio.fail_after(10):
            await app.run_async(endpoint(port))
    assert app.connects == 1
    assert len(server.received) == 1


async def test_without_a_factory_sends_after_the_end_fail_with_not_connected() -> None:
    gone = anyio.Event()

    class Watcher(App):
        async def on_disconnect(self, connection: Connection) -> None:
            await super().on_disconnect(connection)
            gone.set()

    client, server = memory_pair()
    app = Watcher()

    async def run() -> None:
        async with app.connect(client) as conn:
            assert (await server.receive_event()).type == "session.update"
            await server.close(1006, "lost")
            with anyio.fail_after(5):
                await gone.wait()
            with pytest.raises(NotConnected):
                await conn.send(events.ResponseCreate())

    with pytest.raises(ConnectionFailed, match="1006: lost"):  # a bare transport lost: the caller learns it
        await run()
    assert app.connects == 1


@pytest.mark.parametrize("code", [1001, 1011, 1012, 1013])
async def test_each_recoverable_close_code_reconnects(code: int) -> None:
    async def drop(transport: WebSocketTransport, log: list[str]) -> None:
        await receive_type(transport, log)
        await transport.close(code, "bye")

    async def close_normally(transport: WebSocketTransport, log: list[str]) -> None:
        await receive_type(transport, log)
        await transport.close(1000)

    server = Recorder(drop, close_normally)
    app = App()
    async with serve_websocket(server) as port:
        with anyio.fail_after(10):
            await app.run_async(endpoint(port))
    assert len(server.received) == 2
    assert app.connects == 2


async def test_abrupt_drop_without_close_frame_reconnects() -> None:
    async def vanish(transport: WebSocketTransport, log: list[str]) -> None:
        await receive_type(transport, log)
        await transport._close_stream()  # TCP gone, no close frame: the client sees 1006

    async def close_normally(transport: WebSocketTransport, log: list[str]) -> None:
        await receive_type(transport, log)
        await transport.close(1000)

    server = Recorder(vanish, close_normally)
    app = App()
    async with serve_websocket(server) as port:
        with anyio.fail_after(10):
            await app.run_async(endpoint(port))
    assert app.connects == 2


@pytest.mark.parametrize("code", [1003, 1008])
async def test_a_non_recoverable_close_code_ends_the_app(code: int) -> None:
    async def refuse(transport: WebSocketTransport, log: list[str]) -> None:
        await receive_type(transport, log)
        await transport.close(code, "policy")

    server = Recorder(refuse)
    app = App()
    async with serve_websocket(server) as port:
        with anyio.fail_after(10), pytest.raises(ConnectionFailed, match=f"{code}: policy"):
            await app.run_async(endpoint(port))
    assert len(server.received) == 1


async def test_a_fatal_server_error_stops_instead_of_reconnecting() -> None:
    async def out_of_quota(transport: WebSocketTransport, log: list[str]) -> None:
        await receive_type(transport, log)
        error = events.ErrorDetail(
            type="insufficient_quota", code="insufficient_quota", message="You exceeded your quota"
        )
        await transport.send(events.encode(events.ErrorEvent.build(error=error)))
        await transport.close(1011, "quota")

    server = Recorder(out_of_quota)
    app = App()
    async with serve_websocket(server) as port:
        with anyio.fail_after(10), pytest.raises(ConnectionFailed, match="insufficient_quota"):
            await app.run_async(endpoint(port))
    assert len(server.received) == 1


@pytest.mark.parametrize(("body", "fatal"), [(b'{"error":{"code":"insufficient_quota"}}', True), (b"slow down", False)])
async def test_a_429_handshake_is_fatal_only_for_quota(body: bytes, fatal: bool) -> None:
    connections = 0

    def accept(request: Request) -> Response | None:
        nonlocal connections
        connections += 1
        if connections == 1:
            return None
        if connections == 2:
            return Response(429, "Too Many Requests", Headers([("Content-Length", str(len(body)))]), body)
        return None

    async def drop_then_close(transport: WebSocketTransport, log: list[str]) -> None:
        await receive_type(transport, log)
        await transport.close(1013 if connections == 1 else 1000, "")

    app = App()
    async with serve_websocket(Recorder(drop_then_close), accept=accept) as port:
        with anyio.fail_after(10):
            if fatal:
                with pytest.raises(ConnectionFailed, match="429"):
                    await app.run_async(endpoint(port))
            else:
                await app.run_async(endpoint(port))
    assert connections == (2 if fatal else 3)


async def test_with_reconnect_off_a_lost_connection_says_so(caplog: pytest.LogCaptureFixture) -> None:
    async def drop(transport: WebSocketTransport, log: list[str]) -> None:
        await receive_type(transport, log)
        await transport.close(1011, "internal error")

    class NoRetry(App):
        reconnect = None

    async with serve_websocket(Recorder(drop)) as port:
        with (
            anyio.fail_after(10),
            pytest.raises(ConnectionFailed, match=r"lost \(1011: internal error\); reconnect is off"),
        ):
            await NoRetry().run_async(endpoint(port))
    assert "reconnecting" not in caplog.text


# --- what a new server session does not inherit ------------------------------------------------------


async def _two_sessions(app: RealtimeApp, first_session: Any, second_session: Any) -> None:
    """Run ``app`` on an in-memory connection that is lost (1006), then on a second one;
    ``first_session(server)`` and ``second_session(server)`` play the server each time."""
    from realtime_dispatch.transports import MemoryServer, MemoryTransport, memory_pair

    servers: list[MemoryServer] = []
    clients: list[MemoryTransport] = []
    opened = [anyio.Event(), anyio.Event()]

    async def factory() -> MemoryTransport:
        client, server = memory_pair()
        servers.append(server)
        clients.append(client)
        opened[len(servers) - 1].set()
        return client

    try:
        with anyio.fail_after(10):
            async with app.connect(factory):
                await opened[0].wait()
                await first_session(servers[0])
                await servers[0].close(1006, "lost")
                await opened[1].wait()
                await second_session(servers[1])
    finally:
        for server in servers:
            await server.close()
        for client in clients:
            await client.aclose()


def _created(rid: str) -> events.ResponseCreated:
    return events.ResponseCreated.build(response=events.Response(id=rid, status="in_progress", conversation_id="c"))


def _done(rid: str) -> events.ResponseDone:
    return events.ResponseDone.build(response=events.Response(id=rid, status="completed", conversation_id="c"))


async def test_a_tool_that_finishes_during_the_reconnect_is_not_answered_on_the_new_session() -> None:
    from realtime_dispatch import Reconnect, tool

    class Agent(RealtimeApp):
        reconnect = Reconnect(initial_delay=0.3, max_delay=0.3)

        @tool
        async def book(self) -> str:
            await anyio.sleep(0.05)  # ends during the 0.3 s before the reconnect
            return "booked"

    item = events.ConversationItem(
        type="function_call", id="item_c1", status="completed", call_id="c1", name="book", arguments="{}"
    )

    async def first(server: Any) -> None:
        await server.receive_event()
        await server.send_event(_created("resp_1"))
        await server.send_event(events.ResponseOutputItemDone.build(response_id="resp_1", output_index=0, item=item))
        await server.send_event(_done("resp_1"))
        await anyio.sleep(0.01)

    async def second(server: Any) -> None:
        assert isinstance(await server.receive_event(), events.SessionUpdate)
        with anyio.move_on_after(0.5):
            extra = await server.receive_event()
            pytest.fail(f"the new session does not know call c1, but the app sent {extra}")

    await _two_sessions(Agent(), first, second)


async def test_the_conversation_and_playback_start_empty_on_a_new_session() -> None:
    class Voice(RealtimeApp):
        reconnect = Reconnect(initial_delay=0.01)
        track_conversation = True
        barge_in = True

    app = Voice()
    old = events.ConversationItem(type="message", id="old_a", role="assistant", status="completed")

    async def first(server: Any) -> None:
        await server.send_event(events.ConversationItemAdded.build(item=old, previous_item_id=None))
        await server.send_event(
            events.ResponseOutputAudioDelta.build(response_id="r", item_id="old_a", delta="AAAA" * 100)
        )
        done = app.connection.expect("response.output_audio.delta")
        await done.wait(5)
        app.playback.played("old_a", ms=1)
        assert [i.id for i in app.conversation.items] == ["old_a"]

    async def second(server: Any) -> None:
        await server.send_event(events.InputAudioBufferSpeechStarted.build(audio_start_ms=0, item_id="u"))
        new = events.ConversationItem(type="message", id="new_u", role="user", status="completed")
        await server.send_event(events.ConversationItemAdded.build(item=new, previous_item_id=None))
        await app.connection.expect("conversation.item.added").wait(5)
        with anyio.move_on_after(0.2):
            extra = await server.receive_event()
            pytest.fail(f"nothing of the old session may be truncated, but the app sent {extra}")
        assert [i.id for i in app.conversation.items] == ["new_u"]

    await _two_sessions(app, first, second)


async def test_sends_from_other_tasks_wait_behind_the_session_replay() -> None:
    from realtime_dispatch.transports import MemoryTransport, memory_pair

    class SlowFirstSend(MemoryTransport):
        async def send(self, data: bytes) -> None:
            await anyio.sleep(0.1)  # the session.update takes a while to go out
            await super().send(data)

    class App(RealtimeApp):
        reconnect = Reconnect(initial_delay=0.05)
        session = events.Session(type="realtime")

    app = App()
    servers: list[Any] = []
    clients: list[Any] = []
    opened = [anyio.Event(), anyio.Event()]

    async def factory() -> MemoryTransport:
        client, server = memory_pair()
        if servers:
            client.__class__ = SlowFirstSend
        servers.append(server)
        clients.append(client)
        opened[len(servers) - 1].set()
        return client

    try:
        with anyio.fail_after(10):
            async with app.connect(factory) as conn, anyio.create_task_group() as tg:
                await opened[0].wait()
                await servers[0].receive_event()
                await servers[0].close(1006, "lost")
                await anyio.sleep(0.01)
                tg.start_soon(conn.send, events.InputAudioBufferClear(event_id="X"))  # waits out the outage
                await opened[1].wait()
                await anyio.sleep(0.02)  # the replay is on its way out
                await conn.send(events.InputAudioBufferClear(event_id="Y"))
                order = [(await servers[1].receive_event()).event_id or "session" for _ in range(3)]
    finally:
        for server in servers:
            await server.close()
        for client in clients:
            await client.aclose()
    assert order[1:] == ["X", "Y"]
