"""realtime_dispatch.testing: the scripted server, fault injection, and record/replay."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import anyio
import anyio.abc
import pytest

from realtime_dispatch import Connection, Endpoint, RealtimeApp, Reconnect, events, on, testing
from realtime_dispatch.simulator import Simulator
from realtime_dispatch.testing import (
    FaultPlan,
    Recorder,
    ScriptedServer,
    ScriptError,
    VirtualTimeLoop,
    faulty,
    replay,
    virtual_time,
)
from realtime_dispatch.transports import MemoryServer, MemoryTransport, memory_pair

pytestmark = pytest.mark.anyio

SESSION = events.Session(type="realtime")


def text_delta(text: str) -> events.ResponseOutputTextDelta:
    return events.ResponseOutputTextDelta.build(delta=text)


def response_done() -> events.ResponseDone:
    return events.ResponseDone.build(response=events.Response(id="resp_1"))


class ChatApp(RealtimeApp):
    """Logs its handler calls; says "hello" and asks for a response on every connect when ``chatty``."""

    session: events.Session | None = events.Session(type="realtime", instructions="be brief")
    reconnect = Reconnect(initial_delay=0.01, max_delay=0.02, max_attempts=3)

    def __init__(self, *, chatty: bool = False) -> None:
        super().__init__()
        self.chatty = chatty
        self.log: list[str] = []
        self.connects = 0
        self.responded = anyio.Event()

    async def on_connect(self, connection: Connection) -> None:
        self.connects += 1
        self.log.append("connect")
        if self.chatty:
            await connection.send(events.ConversationItemCreate(item=events.ConversationItem.message("user", "hello")))
            await connection.send(events.ResponseCreate())

    @on("session.created")
    def created(self, event: events.SessionCreated) -> None:
        self.log.append(event.type)

    @on("session.updated")
    def updated(self, event: events.SessionUpdated) -> None:
        self.log.append(event.type)

    @on("response.output_text.delta")
    def text(self, event: events.ResponseOutputTextDelta) -> None:
        self.log.append("text " + event.delta)

    @on("response.output_audio_transcript.delta")
    def transcript(self, event: events.ResponseOutputAudioTranscriptDelta) -> None:
        self.log.append("transcript " + event.delta)

    @on("response.output_audio.delta")
    def audio(self, event: events.ResponseOutputAudioDelta) -> None:
        self.log.append("audio")

    @on("response.done")
    def done(self, event: events.ResponseDone) -> None:
        self.log.append("done")
        self.responded.set()

    @on("error")
    def error(self, event: events.ErrorEvent) -> None:
        self.log.append("error " + event.error.message)


def conversation() -> ScriptedServer:
    server = ScriptedServer()
    server.on_connect(events.SessionCreated.build(session=SESSION))
    server.expect("session.update").reply(events.SessionUpdated.build(session=SESSION))
    server.expect("conversation.item.create", lambda e: e.item.role == "user")
    server.expect("response.create").reply(text_delta("Hel"), text_delta("lo"), response_done()).then_close(1000)
    return server


# --- scripted server --------------------------------------------------------------------------------


@pytest.mark.parametrize("sockets", [False, True], ids=["memory", "sockets"])
async def test_scripted_conversation_passes(sockets: bool) -> None:
    server = conversation()
    app = ChatApp(chatty=True)
    with anyio.fail_after(10):
        async with server.run(app, sockets=sockets):
            await server.wait_done(timeout=5)
            await app.responded.wait()
    assert app.log == ["connect", "session.created", "session.updated", "text Hel", "text lo", "done"]
    assert [event.type for event in server.sent] == ["session.update", "conversation.item.create", "response.create"]
    update = server.sent[0]
    assert isinstance(update, events.SessionUpdate)
    assert update.session.instructions == "be brief"
    item = server.sent[1]
    assert isinstance(item, events.ConversationItemCreate)
    assert item.item.content is not None
    assert item.item.content[0].text == "hello"
    assert server.remaining == []
    assert server.connections == 1


async def test_sent_of_lists_the_events_of_one_class_typed_as_it() -> None:
    server = conversation()
    app = ChatApp(chatty=True)
    with anyio.fail_after(10):
        async with server.run(app):
            await server.wait_done(timeout=5)
    [create] = server.sent_of(events.ConversationItemCreate)
    assert create is server.sent[1]
    assert create.item.content is not None
    assert create.item.content[0].text == "hello"
    assert server.sent_of(events.ResponseCancel) == []
    assert testing.ScriptedServer.expect.__name__ == "expect"


async def test_unexpected_event_fails_with_a_clear_message() -> None:
    server = ScriptedServer()
    server.on_connect(events.SessionCreated.build(session=SESSION))
    server.expect("response.create")  # but the app sends its session.update first
    app = ChatApp()
    with anyio.fail_after(10), pytest.raises(ScriptError) as caught:
        async with server.run(app):
            await server.wait_done(timeout=5)
    message = str(caught.value)
    assert "expected 'response.create' (expectation #1), got" in message
    assert '"type":"session.update"' in message
    assert isinstance(caught.value, AssertionError)


async def test_predicate_mismatch_names_the_expectation() -> None:
    server = ScriptedServer()
    server.expect("session.update", lambda e: e.session.instructions == "other")
    with anyio.fail_after(10), pytest.raises(ScriptError, match=r"expected 'session.update' matching <lambda>"):
        async with server.run(ChatApp()):
            await server.wait_done(timeout=5)


async def test_missing_expectation_fails_at_exit() -> None:
    server = ScriptedServer()
    server.expect("session.update")
    server.expect("response.create").reply(response_done())
    app = ChatApp()
    with anyio.fail_after(10), pytest.raises(ScriptError) as caught:  # noqa: PT012
        async with server.run(app):
            with anyio.fail_after(5):
                while not server.sent:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
    assert str(caught.value) == "1 expectation(s) not met at exit: 'response.create'"
    assert [event.type for event in server.sent] == ["session.update"]


async def test_wait_done_times_out_listing_what_is_missing() -> None:
    server = ScriptedServer()
    server.expect("session.update")
    server.expect("input_audio_buffer.commit")
    with anyio.fail_after(10), pytest.raises(ScriptError, match=r"not met after waiting 0.2s: 'input_audio_buffer"):
        async with server.run(ChatApp()):
            await server.wait_done(timeout=0.2)


async def test_script_carries_on_across_a_reconnect() -> None:
    server = ScriptedServer()
    server.on_connect(events.SessionCreated.build(session=SESSION))
    server.expect("session.update").then_close(1011, "server error")  # recoverable: the app reconnects
    server.expect("session.update").reply(events.SessionUpdated.build(session=SESSION))
    app = ChatApp()
    with anyio.fail_after(10):
        async with server.run(app):
            await server.wait_done(timeout=5)
    assert server.connections == 2
    assert app.connects == 2


# --- fault injection --------------------------------------------------------------------------------


async def test_drop_after_triggers_a_reconnect() -> None:
    app = ChatApp()
    async with Simulator().serve() as base:
        target = faulty(f"{base}/realtime?model=gpt-realtime", plans=[FaultPlan(drop_after=1), FaultPlan()])
        with anyio.fail_after(10):
            async with app.connect(target):
                while app.log.count("session.updated") < 1:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
    assert app.connects == 2
    # first connection: session.created only, then dropped; the second gets the session.updated
    assert app.log[:3] == ["connect", "session.created", "connect"]
    assert "session.updated" in app.log


async def test_close_after_1000_ends_the_app_without_reconnect() -> None:
    app = ChatApp()
    async with Simulator().serve() as base:
        target = faulty(f"{base}/realtime?model=gpt-realtime", close_after=(2, 1000, "bye"))
        with anyio.fail_after(10):
            await app.run_async(target)
    assert app.connects == 1
    assert app.log == ["connect", "session.created", "session.updated"]


async def test_inject_delivers_an_error_event() -> None:
    app = ChatApp()
    injected = events.ErrorEvent.build(error=events.ErrorDetail(type="invalid_request_error", message="injected"))
    async with Simulator().serve() as base:
        target = faulty(f"{base}/realtime?model=gpt-realtime", inject={1: injected}, close_after=(2, 1000, ""))
        with anyio.fail_after(10):
            await app.run_async(target)
    assert app.log == ["connect", "session.created", "error injected", "session.updated"]


async def test_delay_slows_every_frame() -> None:
    client, server = memory_pair()
    for _ in range(4):
        await server.send_event(text_delta("x"))
    await server.close(1000)
    app = QuietApp()
    start = anyio.current_time()
    with anyio.fail_after(10):
        await app.run_async(faulty(client, delay=0.05))
    elapsed = anyio.current_time() - start
    assert app.log == ["connect"] + ["text x"] * 4
    assert 0.2 <= elapsed < 3  # 4 frames and the close, 50 ms each


# --- record and replay ------------------------------------------------------------------------------


class QuietApp(ChatApp):
    session = None


class SecretApp(ChatApp):
    session = events.Session(type="realtime", client_secret=events.ClientSecret(value="sk-test123"))


class SimulatedEndpoint(Endpoint):
    """An Endpoint whose connections are served in memory by a Simulator.

    In memory rather than over loopback: on trio, a client-initiated close of a
    WebSocketTransport can fail with OSError (EBADF/ENOTCONN) from ``send_eof`` in
    ``_websocket.py``'s ``_flush`` (a library issue), which would make this test flaky.
    """

    task_group: anyio.abc.TaskGroup | None = None

    async def __call__(self) -> MemoryTransport:  # type: ignore[override]
        assert SimulatedEndpoint.task_group is not None
        client, server = memory_pair()
        SimulatedEndpoint.task_group.start_soon(simulate, server)
        return client


async def simulate(server: MemoryServer) -> None:
    try:
        await Simulator().handle(SimulatorSide(server))  # type: ignore[arg-type]
    finally:
        await server.close()


class SimulatorSide:
    """A MemoryServer with the ``send``/``receive``/``close``/``request`` the simulator uses."""

    request = None

    def __init__(self, server: MemoryServer) -> None:
        self.server = server

    async def send(self, data: bytes) -> None:
        await self.server.send_raw(data)

    async def receive(self) -> bytes:
        return await self.server.receive_raw()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.server.close(code, reason)


async def test_record_then_replay_reproduces_the_handler_calls(tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    recorded = SecretApp(chatty=True)
    endpoint = SimulatedEndpoint("ws://simulator/v1/realtime", {"Authorization": "Bearer sk-test123"})
    recorder = Recorder(endpoint, path, truncate_audio=8)
    async with anyio.create_task_group() as task_group:
        SimulatedEndpoint.task_group = task_group
        with anyio.fail_after(10):
            async with recorded.connect(recorder):
                await recorded.responded.wait()
        task_group.cancel_scope.cancel()
    assert "audio" in recorded.log
    assert any(entry.startswith("transcript ") for entry in recorded.log)

    text = path.read_text()
    assert "sk-test123" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines == [json.loads(line) for line in recorder.lines]
    assert lines[0]["dir"] == "connect"
    assert lines[0]["frame"]["headers"]["Authorization"] == "<redacted>"
    outgoing = [line["frame"] for line in lines if line["dir"] == "out"]
    assert outgoing[0]["type"] == "session.update"
    assert outgoing[0]["session"]["client_secret"]["value"] == "<redacted>"
    deltas = [line["frame"]["delta"] for line in lines if line["frame"].get("type") == "response.output_audio.delta"]
    assert deltas
    assert all(len(delta) <= 8 for delta in deltas)
    times = [line["t"] for line in lines]
    assert times == sorted(times)
    assert {line["dir"] for line in lines} <= {"connect", "in", "out", "close"}

    replayed = SecretApp(chatty=True)
    factory = replay(path)
    with anyio.fail_after(10):
        await replayed.run_async(factory)
    assert replayed.log == recorded.log
    assert replayed.connects == 1
    # what the fresh app sent is kept, not checked against the recording
    sent = [json.loads(frame)["type"] for frame in factory.transports[0].sent]
    assert sent == ["session.update", "conversation.item.create", "response.create"]


async def test_recorder_into_a_list_and_replay_from_lines() -> None:
    client, server = memory_pair()
    await server.send_event(events.SessionCreated.build(session=SESSION))
    audio = json.loads(events.encode(events.ResponseOutputAudioDelta.build(delta="AAAAAAAAAAAA")))
    await server.send_raw(json.dumps({**audio, "api_key": "ek_abc"}))
    await server.send_event(text_delta("Bearer xyz"))
    await server.close(1000)
    lines: list[str] = []
    app = QuietApp()
    with anyio.fail_after(10):
        await app.run_async(Recorder(client, lines, truncate_audio=4))
    frames = [json.loads(line) for line in lines]
    assert [f["dir"] for f in frames] == ["connect", "in", "in", "in", "close"]
    assert {f["connection"] for f in frames} == {1}
    assert frames[2]["frame"] == {**audio, "delta": "AAAA", "api_key": "<redacted>"}
    assert frames[3]["frame"]["delta"] == "<redacted>"
    assert frames[4]["frame"] == {"code": 1000, "reason": ""}

    again = QuietApp()
    with anyio.fail_after(10):
        await again.run_async(replay(lines))
    assert again.log == ["connect", "session.created", "audio", "text <redacted>"]


async def test_a_session_recorded_across_a_reconnect_replays_as_two_connections(tmp_path: Path) -> None:
    path = tmp_path / "reconnect.jsonl"
    recorded = ChatApp(chatty=True)
    endpoint = SimulatedEndpoint("ws://simulator/v1/realtime")
    # The recorder sits outside faulty(): it records what the app saw, the drop included.
    recorder = Recorder(faulty(endpoint, plans=[FaultPlan(drop_after=2), FaultPlan()]), path)
    async with anyio.create_task_group() as task_group:
        SimulatedEndpoint.task_group = task_group
        with anyio.fail_after(10):
            async with recorded.connect(recorder):
                await recorded.responded.wait()
        task_group.cancel_scope.cancel()
    assert recorded.connects == 2
    assert recorded.log[:4] == ["connect", "session.created", "session.updated", "connect"]
    assert recorded.log[-1] == "done"

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["connection"] for line in lines if line["dir"] == "connect"] == [1, 2]
    assert [line["connection"] for line in lines] == sorted(line["connection"] for line in lines)
    closes = [(line["connection"], line["frame"]["code"]) for line in lines if line["dir"] == "close"]
    assert closes[0] == (1, 1006)
    assert recorder.connections == 2

    factory = replay(path)
    assert [len(c.frames) for c in factory.connections] == [2, sum(1 for x in lines if x["dir"] == "in") - 2]
    assert factory.connections[0].code == 1006
    replayed = ChatApp(chatty=True)
    with anyio.fail_after(10):
        await replayed.run_async(factory)
    assert replayed.log == recorded.log
    assert replayed.connects == 2
    assert len(factory.transports) == 2
    for transport, connection in zip(factory.transports, factory.connections, strict=True):
        assert [json.loads(frame)["type"] for frame in transport.sent] == [
            json.loads(frame)["type"] for frame in connection.sent
        ]
    with pytest.raises(RuntimeError, match="2 connection"):
        await factory()


def test_replay_splits_recordings_without_connection_numbers_at_connect_lines() -> None:
    created = json.loads(events.encode(events.SessionCreated.build(session=SESSION)))
    delta = json.loads(events.encode(text_delta("a")))
    old = [
        {"dir": "connect", "t": 0, "frame": {}},
        {"dir": "in", "t": 0, "frame": created},
        {"dir": "close", "t": 0, "frame": {"code": 1011, "reason": "server error"}},
        {"dir": "connect", "t": 0, "frame": {}},
        {"dir": "in", "t": 0, "frame": created},
        {"dir": "connect", "t": 0, "frame": {}},  # no close line: the app reconnected, so it was lost
        {"dir": "in", "t": 0, "frame": delta},
        {"dir": "close", "t": 0, "frame": {"code": 1011, "reason": "server error"}},
    ]
    factory = replay(json.dumps(line) for line in old)
    assert [(c.code, c.reason) for c in factory.connections] == [
        (1011, "server error"),
        (1006, "lost (no close line in the recording)"),
        (1011, "server error"),
    ]
    assert [len(c.frames) for c in factory.connections] == [1, 1, 1]
    assert factory.frames == [json.dumps(x["frame"], separators=(",", ":")).encode() for x in old if x["dir"] == "in"]

    only_frames = replay([{"dir": "in", "frame": delta}, {"dir": "in", "frame": delta}])
    assert len(only_frames.connections) == 1
    assert len(only_frames.connections[0].frames) == 2


async def test_replay_ends_each_connection_with_its_recorded_code_and_the_last_with_1000() -> None:
    created = json.loads(events.encode(events.SessionCreated.build(session=SESSION)))
    lines = [
        {"dir": "connect", "connection": 1, "frame": {}},
        {"dir": "in", "connection": 1, "frame": created},
        {"dir": "close", "connection": 1, "frame": {"code": 1011, "reason": "boom"}},
        {"dir": "connect", "connection": 2, "frame": {}},
        {"dir": "in", "connection": 2, "frame": json.loads(events.encode(text_delta("x")))},
        {"dir": "close", "connection": 2, "frame": {"code": 1006, "reason": ""}},
    ]
    app = QuietApp()
    factory = replay(lines)
    # Had the last connection ended with its recorded 1006, the app would try to reconnect past
    # the recording's end and fail with ConnectionFailed instead of returning.
    with anyio.fail_after(10):
        await app.run_async(factory)
    assert app.log == ["connect", "session.created", "connect", "text x"]
    assert len(factory.transports) == 2


# --- deterministic time -----------------------------------------------------------------------------


class SlowReconnectApp(QuietApp):
    reconnect = Reconnect(initial_delay=30, max_delay=30, jitter=0, max_attempts=1)


async def reconnect_after_30s() -> float:
    """Virtual seconds a script with one server error (and so one 30 s backoff) takes."""
    server = ScriptedServer()
    server.on_connect(events.SessionCreated.build(session=SESSION))
    server.expect("response.create").then_close(1011, "server error")
    server.expect("response.create")
    app = SlowReconnectApp()
    start = anyio.current_time()
    async with server.run(app) as conn:
        await conn.send(events.ResponseCreate())
        with anyio.fail_after(100):  # virtual seconds: it fires only if the backoff was not respected
            while app.connects < 2:  # noqa: ASYNC110
                await anyio.sleep(0.5)
        await conn.send(events.ResponseCreate())
        await server.wait_done(timeout=100)
    assert server.connections == 2
    return anyio.current_time() - start


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_virtual_time_makes_a_30s_reconnect_backoff_instant(backend: str) -> None:
    clock = virtual_time(backend)
    started = time.monotonic()
    elapsed = anyio.run(reconnect_after_30s, backend=clock.backend, backend_options=clock.options)
    assert 30 <= elapsed < 32
    assert time.monotonic() - started < 5  # in real time: no sleeping through the backoff


class TestVirtualTimeFixture:
    """The documented pytest set-up: ``anyio_backend`` returning ``virtual_time(...)``."""

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> testing.VirtualTime:
        return virtual_time(request.param)

    async def test_sleeps_and_timeouts_take_no_real_time(self) -> None:
        started = time.monotonic()
        assert anyio.current_time() < 1
        await anyio.sleep(3600)
        with anyio.move_on_after(60) as scope:
            await anyio.sleep_forever()
        assert scope.cancelled_caught
        assert 3660 <= anyio.current_time() < 3661
        assert time.monotonic() - started < 5

    async def test_recording_timestamps_are_reproducible(self) -> None:
        client, server = memory_pair()
        for text in "abc":
            await server.send_event(text_delta(text))
        await server.close(1000)
        recorder = Recorder(faulty(client, delay=0.5), [])
        app = QuietApp()
        await app.run_async(recorder)
        assert app.log == ["connect", "text a", "text b", "text c"]
        lines = [json.loads(line) for line in recorder.lines]
        assert [(line["dir"], line["t"]) for line in lines] == [
            ("connect", 0.0),
            ("in", 0.5),
            ("in", 1.0),
            ("in", 1.5),
            ("close", 2.0),
        ]


def test_virtual_time_loop_without_autojump_moves_only_when_told() -> None:
    loop = VirtualTimeLoop(autojump_threshold=None)
    try:
        assert loop.time() == 0.0
        loop.jump(2.5)
        assert loop.time() == 2.5
        fired: list[float] = []
        loop.call_later(1.0, lambda: fired.append(loop.time()))
        loop.call_soon(loop.jump, 1.0)
        loop.call_later(1.0, loop.stop)
        loop.run_forever()
        assert fired == [3.5]
        with pytest.raises(ValueError, match="backwards"):
            loop.jump(-1)
    finally:
        loop.close()


def test_virtual_time_rejects_an_unknown_backend() -> None:
    with pytest.raises(ValueError, match="unknown backend 'curio'"):
        virtual_time("curio")


# --- the module itself ------------------------------------------------------------------------------


def test_importing_the_kit_into_a_test_module_collects_no_tests(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_uses_kit.py").write_text("from realtime_dispatch.testing import *  # noqa: F403\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 5, result.stdout + result.stderr  # 5: no tests collected
    assert "no tests collected" in result.stdout


def test_every_public_name_is_documented() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "testing.md").read_text()
    assert [name for name in testing.__all__ if f"`{name}" not in text] == []
