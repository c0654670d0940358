"""RealtimeApp: lifespan hooks, the session sent on connect, embedding with ``connect``,
running, stopping and running again, and the blocking ``run`` entry point."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from realtime_dispatch import Connection, ConnectionFailed, RealtimeApp, Reconnect, events, on, on_error
from realtime_dispatch.transports import MemoryServer, MemoryTransport, Transport, TransportClosed, memory_pair

pytestmark = pytest.mark.anyio


def delta(text: str = "x") -> events.ResponseOutputTextDelta:
    return events.ResponseOutputTextDelta.build(delta=text)


def done(response_id: str = "resp_1") -> events.ResponseDone:
    return events.ResponseDone.build(response=events.Response(id=response_id))


class LifespanApp(RealtimeApp):
    """Records its hooks and handled events; ``handled`` is set on every ``response.done``."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []
        self.connections: list[Connection] = []
        self.handled = anyio.Event()

    async def on_startup(self) -> None:
        self.log.append("startup")

    async def on_connect(self, connection: Connection) -> None:
        self.connections.append(connection)
        self.log.append("connect")

    async def on_disconnect(self, connection: Connection) -> None:
        self.log.append("disconnect" if connection is self.connections[-1] else "disconnect of a stranger")

    async def on_shutdown(self) -> None:
        self.log.append("shutdown")

    @on("response.output_text.delta")
    def text(self, event: events.ResponseOutputTextDelta) -> None:
        self.log.append("text " + event.delta)

    @on("response.done", once=True)
    def first_done(self) -> None:
        self.log.append("first done")

    @on("response.done")
    def any_done(self, event: events.ResponseDone, conn: Connection) -> None:
        wrong = "" if conn is self.connection else " on a stale connection"
        self.log.append("done " + (event.response.id or "") + wrong)
        self.handled.set()
        self.handled = anyio.Event()


@asynccontextmanager
async def pair() -> AsyncIterator[tuple[MemoryTransport, MemoryServer]]:
    """A memory pair whose both ends are closed on leaving, whatever happened."""
    client, server = memory_pair()
    try:
        yield client, server
    finally:
        await server.close()
        await client.aclose()


async def feed(app: RealtimeApp, *frames: events.ServerEvent, code: int = 1000) -> None:
    async with pair() as (client, server):
        for frame in frames:
            await server.send_event(frame)
        await server.close(code)
        with anyio.fail_after(5):
            await app.run_async(client)


# --- lifespan -----------------------------------------------------------------------------------


async def test_lifespan_hooks_run_in_order_once_each_and_the_session_goes_first() -> None:
    class App(LifespanApp):
        session = events.Session(type="realtime", instructions="x")

        async def on_connect(self, connection: Connection) -> None:
            await super().on_connect(connection)
            await connection.send(events.InputAudioBufferClear())

    app = App()
    async with pair() as (client, server):
        with anyio.fail_after(5):
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(app.run_async, client)
                first = await server.receive_event()
                second = await server.receive_event()
                handled = app.handled
                await server.send_event(done("r1"))
                await handled.wait()
                await server.close()
    assert isinstance(first, events.SessionUpdate)
    assert first.session.type == "realtime"
    assert first.session.instructions == "x"
    assert first.event_id
    assert isinstance(second, events.InputAudioBufferClear)
    assert app.log == ["startup", "connect", "first done", "done r1", "disconnect", "shutdown"]


async def test_without_a_session_nothing_is_sent_on_connect() -> None:
    class App(LifespanApp):
        async def on_connect(self, connection: Connection) -> None:
            await super().on_connect(connection)
            await connection.send(events.InputAudioBufferCommit())

    app = App()
    async with pair() as (client, server):
        with anyio.fail_after(5):
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(app.run_async, client)
                first = await server.receive_event()
                await server.close()
    assert isinstance(first, events.InputAudioBufferCommit)


# --- embedding with connect ---------------------------------------------------------------------


async def test_connect_yields_a_connection_that_can_send_at_once() -> None:
    app = LifespanApp()
    async with pair() as (client, server):
        with anyio.fail_after(5):
            async with app.connect(client) as conn:
                try:
                    assert app.connection is conn
                    event_id = await conn.send(events.InputAudioBufferCommit())
                    received = await server.receive_event()
                finally:
                    await server.close()  # whatever happened, let the app stop
    assert isinstance(received, events.InputAudioBufferCommit)
    assert received.event_id == event_id


async def test_leaving_connect_closes_the_transport_and_stops_the_app() -> None:
    app = LifespanApp()
    async with pair() as (client, server):
        with anyio.fail_after(5):
            async with app.connect(client) as conn:
                handled = app.handled
                await server.send_event(done("r1"))
                await handled.wait()  # the app is serving
                assert conn.connected
                event_id = await conn.send(events.InputAudioBufferCommit())
                received = await server.receive_event()
            assert received.event_id == event_id
            with pytest.raises(TransportClosed):
                await server.receive_raw()  # the client side closed the connection
            with pytest.raises(TransportClosed):
                await client.send(b"{}")
    assert app.log == ["startup", "connect", "first done", "done r1", "disconnect", "shutdown"]
    assert not conn.connected
    with pytest.raises(RuntimeError, match="not running"):
        _ = app.connection


async def test_leaving_connect_at_once_does_not_wait_for_the_server() -> None:
    # Nothing awaited in the block: the app must still close the transport it opened and
    # stop, without waiting for the server to hang up.
    app = LifespanApp()
    async with pair() as (client, server):
        # Not fail_after: the app absorbs the deadline's cancellation, so check the scope.
        with anyio.move_on_after(1) as deadline:
            async with app.connect(client):
                pass
        assert not deadline.cancel_called, "leaving app.connect() waited for the server to hang up"
        with pytest.raises(TransportClosed):
            await server.receive_raw()  # the client side closed the connection
    assert app.log[0] == "startup"
    assert app.log[-1] == "shutdown"


async def test_app_connection_raises_when_not_running() -> None:
    app = LifespanApp()
    with pytest.raises(RuntimeError, match="not running"):
        _ = app.connection
    seen: list[Connection] = []

    class App(RealtimeApp):
        @on("response.done")
        def h(self) -> None:
            seen.append(self.connection)

    other = App()
    await feed(other, done())
    assert isinstance(seen[0], Connection)
    with pytest.raises(RuntimeError, match="not running"):
        _ = other.connection


async def test_running_the_same_app_twice_at_once_raises() -> None:
    app = LifespanApp()
    async with pair() as (client, server), pair() as (second_client, _):
        with anyio.fail_after(5):
            async with app.connect(client) as conn:
                handled = app.handled
                await server.send_event(done("r1"))
                await handled.wait()
                with pytest.raises(RuntimeError, match="already running"):
                    await app.run_async(second_client)
                # The running session is unharmed.
                assert app.connection is conn
                handled = app.handled
                await server.send_event(done("r2"))
                await handled.wait()
                await server.close()
    assert app.log == ["startup", "connect", "first done", "done r1", "done r2", "disconnect", "shutdown"]


async def test_an_app_can_run_again_after_it_stopped() -> None:
    app = LifespanApp()
    await feed(app, delta("a"), done("r1"))
    await feed(app, delta("b"), done("r2"), done("r3"))
    once = ["startup", "connect"]
    assert app.log == [
        *once,
        "text a",
        "first done",
        "done r1",
        "disconnect",
        "shutdown",
        *once,
        "text b",
        "first done",
        "done r2",
        "done r3",
        "disconnect",
        "shutdown",
    ]
    assert len(app.connections) == 2
    assert app.connections[0] is not app.connections[1]


# --- how a run ends -----------------------------------------------------------------------------


@pytest.mark.parametrize("code", [1000, 1001, 1006, 1009, 1011, 4000])
async def test_run_async_ends_when_the_server_closes(code: int) -> None:
    """A bare transport cannot be reopened: 1000 is a normal end and returns; any other close
    code ends the app too, but the caller learns it (ConnectionFailed with the code)."""
    app = LifespanApp()
    ended = anyio.Event()

    async def run(client: MemoryTransport) -> None:
        if code == 1000:
            await app.run_async(client)
        else:
            with pytest.raises(ConnectionFailed, match=f"{code}: bye"):
                await app.run_async(client)
        ended.set()

    async with pair() as (client, server):
        with anyio.fail_after(5):
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(run, client)
                handled = app.handled
                await server.send_event(done("r1"))
                await handled.wait()
                assert not ended.is_set()
                await server.close(code, "bye")
                await ended.wait()
    assert app.log == ["startup", "connect", "first done", "done r1", "disconnect", "shutdown"]


async def test_on_shutdown_runs_when_on_connect_fails() -> None:
    class App(LifespanApp):
        async def on_connect(self, connection: Connection) -> None:
            await super().on_connect(connection)
            raise ValueError("boom")

    app = App()
    async with pair() as (client, server):
        await server.send_event(done("never handled"))
        with (
            anyio.fail_after(5),
            pytest.RaisesGroup(
                pytest.RaisesExc(ValueError, match="boom"), allow_unwrapped=True, flatten_subgroups=True
            ),
        ):
            await app.run_async(client)
        with pytest.raises(TransportClosed):
            await server.receive_raw()  # the app closed the connection
    assert app.log[:2] == ["startup", "connect"]
    assert app.log[-1] == "shutdown"
    assert app.log.count("shutdown") == 1
    assert "done never handled" not in app.log
    with pytest.raises(RuntimeError, match="not running"):
        _ = app.connection


async def test_on_shutdown_runs_when_a_transport_factory_fails() -> None:
    app = LifespanApp()

    async def refuse() -> Transport:
        raise OSError("connection refused")

    with (
        anyio.fail_after(5),
        pytest.RaisesGroup(pytest.RaisesExc(OSError, match="refused"), allow_unwrapped=True, flatten_subgroups=True),
    ):
        await app.run_async(refuse)
    assert app.log == ["startup", "shutdown"]


# --- reconnects (a transport factory) -----------------------------------------------------------


class ReconnectingApp(LifespanApp):
    reconnect = Reconnect(max_attempts=2, initial_delay=0.01, max_delay=0.01, jitter=0)

    def __init__(self) -> None:
        super().__init__()
        self.disconnected = anyio.Event()

    async def on_disconnect(self, connection: Connection) -> None:
        await super().on_disconnect(connection)
        self.disconnected.set()


async def test_leaving_connect_while_a_reconnect_is_pending_stops_cleanly() -> None:
    app = ReconnectingApp()
    servers: list[MemoryServer] = []

    async def factory() -> Transport:
        client, server = memory_pair()
        servers.append(server)
        return client

    try:
        with anyio.fail_after(5):
            async with app.connect(factory):
                handled = app.handled
                await servers[0].send_event(done("r1"))
                await handled.wait()
                await servers[0].close(1006)  # recoverable: the app will reconnect...
                await app.disconnected.wait()
                # ...but the program is done with it: leaving must just stop the app.
    finally:
        for server in servers:
            await server.close()
    assert app.log[-1] == "shutdown"


async def test_a_failed_reconnect_raises_connection_failed() -> None:
    app = ReconnectingApp()
    servers: list[MemoryServer] = []

    async def factory() -> Transport:
        if servers:
            raise OSError("no route to host")
        client, server = memory_pair()
        servers.append(server)
        await server.send_event(done("r1"))
        await server.close(1011)
        return client

    with anyio.fail_after(5), pytest.raises(ConnectionFailed, match="reconnect") as info:
        await app.run_async(factory)
    assert isinstance(info.value.__cause__, OSError)
    assert app.log[-1] == "shutdown"


# --- the blocking entry point -------------------------------------------------------------------


def current_backend() -> str:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return "trio"
    return "asyncio"


@pytest.mark.parametrize("handle_signals", [True, False])
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_blocks_until_the_connection_closes(backend: str, handle_signals: bool) -> None:
    backends: list[str] = []

    class App(LifespanApp):
        @on("response.created")
        def which_loop(self) -> None:
            backends.append(current_backend())

    factory_calls: list[str] = []

    async def factory() -> Transport:
        factory_calls.append(current_backend())
        client, server = memory_pair()
        await server.send_event(delta("hello"))
        await server.send_event(events.ResponseCreated.build(response=events.Response()))
        await server.send_event(done("r1"))
        await server.close()
        return client

    app = App()
    app.run(factory, backend=backend, handle_signals=handle_signals)
    assert app.log == ["startup", "connect", "text hello", "first done", "done r1", "disconnect", "shutdown"]
    assert factory_calls == [backend]
    assert backends == [backend]
    with pytest.raises(RuntimeError, match="not running"):
        _ = app.connection


def test_run_on_uvloop() -> None:
    import uvloop

    loops: list[type] = []

    class App(LifespanApp):
        @on("response.created")
        def which_loop(self) -> None:
            loops.append(type(asyncio.get_running_loop()))

    async def factory() -> Transport:
        client, server = memory_pair()
        await server.send_event(events.ResponseCreated.build(response=events.Response()))
        await server.close()
        return client

    App().run(factory, backend="asyncio", backend_options={"use_uvloop": True})
    assert loops == [uvloop.Loop]


async def test_start_soon_runs_work_off_the_loop_and_reports_its_errors() -> None:
    ran = anyio.Event()
    errors: list[BaseException] = []

    class App(RealtimeApp):
        @on("response.created")
        def kick_off(self) -> None:
            self.start_soon(self.work, 3)
            self.start_soon(self.fail)

        async def work(self, n: int) -> None:
            await anyio.sleep(0.01)
            ran.set()

        async def fail(self) -> None:
            raise ValueError("in a task")

        @on_error(ValueError)
        def failed(self, exc: ValueError) -> None:
            errors.append(exc)

    client, server = memory_pair()
    try:
        async with App().connect(client):
            await server.send_event(events.ResponseCreated.build(response=events.Response(id="r")))
            with anyio.fail_after(5):
                await ran.wait()
            await anyio.sleep(0.01)
    finally:
        await server.close()
        await client.aclose()
    assert [str(e) for e in errors] == ["in a task"]


async def test_errors_come_out_as_themselves_not_wrapped_in_a_group() -> None:
    client, server = memory_pair()
    try:
        with pytest.raises(ValueError, match="in the block"):
            async with RealtimeApp().connect(client):
                raise ValueError("in the block")
    finally:
        await server.close()
        await client.aclose()

    async def refused() -> Transport:
        raise OSError("connection refused")

    with pytest.raises(OSError, match="connection refused"):
        await RealtimeApp().run_async(refused)


async def test_a_hook_that_hangs_cannot_make_the_app_impossible_to_stop(caplog: pytest.LogCaptureFixture) -> None:
    class Stuck(RealtimeApp):
        shutdown_grace = 0.2

        async def on_disconnect(self, connection: Connection) -> None:
            await anyio.sleep_forever()

        async def on_shutdown(self) -> None:
            await anyio.sleep_forever()

    client, server = memory_pair()
    try:
        with anyio.fail_after(5):  # bounded by the grace periods, not forever
            async with Stuck().connect(client):
                await anyio.sleep(0.05)  # connected: on_connect has run, so on_disconnect will
    finally:
        await server.close()
        await client.aclose()
    assert "on_disconnect still running after 0.2s: cancelled" in caplog.text
    assert "on_shutdown still running after 0.2s: cancelled" in caplog.text
