"""GPT-Live apps on the shared machinery (issue 16): the session start and its refusal, routing
checked against the app's protocol, ``@tool`` through Responses delegation, ``close()`` as
``session.close`` -> ``session.closed``, the server ending the session, usage, barge-in, sidebands,
Translation apps, and the endpoints. Real sockets on 127.0.0.1 (the scripted server over a loopback
WebSocket, or a hand-written one where timing matters); asyncio and trio.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import msgspec
import pytest

import realtime_dispatch
from realtime_dispatch import (
    ConfigError,
    ConnectionFailed,
    LiveApp,
    LiveConnection,
    RealtimeApp,
    Reconnect,
    Router,
    ToolCall,
    TranslationApp,
    TranslationConnection,
    events,
    on,
    tool,
)
from realtime_dispatch import _session as session_module
from realtime_dispatch.events import live, translation
from realtime_dispatch.testing import ScriptedServer
from realtime_dispatch.transports import TransportClosed, WebSocketTransport, serve_websocket

pytestmark = pytest.mark.anyio

RESOURCE = live.SessionResource(id="live_1", expires_at=0, model="gpt-live-1", status="active")


def started() -> live.SessionStartedEvent:
    return live.SessionStartedEvent.build(session=RESOURCE)


def closed(reason: str = "close_requested", seconds: float = 12.5) -> live.SessionClosedEvent:
    return live.SessionClosedEvent.build(reason=reason, session=RESOURCE, usage=live.SessionUsage(seconds=seconds))


def nested(event: dict[str, Any], delegation_id: str | None = "item_d1") -> live.ResponseEvent:
    return live.ResponseEvent.from_nested(event, delegation_id=delegation_id)


def function_call(call_id: str, name: str, arguments: dict[str, Any]) -> live.ResponseEvent:
    item = {"type": "function_call", "id": f"fc_{call_id}", "call_id": call_id, "name": name}
    item["arguments"] = json.dumps(arguments)
    item["status"] = "completed"
    return nested({"type": "response.output_item.done", "output_index": 0, "sequence_number": 3, "item": item})


def completed(status: str = "completed") -> live.ResponseEvent:
    kind = {"completed": "response.completed", "failed": "response.failed"}[status]
    snapshot = {"id": "resp_1", "object": "response", "status": status, "output": [], "tools": []}
    return nested({"type": kind, "sequence_number": 9, "response": snapshot})


RESPONSES = live.DelegationResponses(responses=live.ResponsesDelegationConfig(model="gpt-5.6-terra"))


class Agent(LiveApp):
    session = live.SessionConfig(model="gpt-live-1", delegation=RESPONSES)
    reconnect = None

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []
        self.weather_calls: list[str] = []

    @on("session.started")
    async def on_started(self, event: live.SessionStartedEvent, conn: LiveConnection) -> None:
        self.seen.append(event.session.id)

    @tool
    async def weather(self, city: str, call: ToolCall) -> dict[str, Any]:
        """The weather in a city.

        Args:
            city: Where.
        """
        self.weather_calls.append(call.call_id)
        return {"city": city, "sky": "clear"}


async def test_the_session_starts_with_session_start_carrying_the_tools_in_the_delegation() -> None:
    server = ScriptedServer(api="live")
    server.expect("session.start").reply(started())
    server.expect("session.close").reply(closed())
    app = Agent()
    async with server.run(app, sockets=True):
        await server.wait_until(1)
        with anyio.fail_after(5):
            while not app.seen:  # noqa: ASYNC110  (bounded by fail_after)
                await anyio.sleep(0.01)
    (start,) = server.sent_of(live.SessionStartEvent)
    delegation = start.session.delegation
    assert isinstance(delegation, live.DelegationResponses)
    (declared,) = delegation.responses.function_tools()
    assert (declared.name, declared.parameters["required"]) == ("weather", ["city"])  # type: ignore[index]
    assert app.seen == ["live_1"]  # the handler of the event the runner waited for still ran


async def test_nothing_is_sent_before_session_started() -> None:
    """A send from on_connect waits for session.started, however late it comes."""
    received: list[tuple[str, float]] = []

    async def slow_server(transport: WebSocketTransport) -> None:
        start = json.loads(await transport.receive())
        received.append((start["type"], anyio.current_time()))
        with anyio.move_on_after(0.3):
            frame = await transport.receive()
            received.append(("EARLY " + json.loads(frame)["type"], anyio.current_time()))
        await transport.send(live.encode(started()))
        frame = await transport.receive()
        received.append((json.loads(frame)["type"], anyio.current_time()))
        await transport.send(live.encode(closed()))
        await transport.close(1000)

    class Greeter(LiveApp):
        reconnect = None

        async def on_connect(self, connection: LiveConnection) -> None:
            await connection.append_instructions("Greet the caller.")

    async with serve_websocket(slow_server) as port:
        with anyio.fail_after(10):
            await Greeter().run_async(f"ws://127.0.0.1:{port}/v1/live/sessions")
    assert [kind for kind, _ in received] == ["session.start", "session.instructions.append"]


async def test_an_error_instead_of_session_started_ends_the_app_without_reconnecting() -> None:
    connections = 0

    async def refusing(transport: WebSocketTransport) -> None:
        nonlocal connections
        connections += 1
        await transport.receive()
        error = live.ErrorEvent.build(
            error=live.Error(type="invalid_request_error", code="unknown_parameter", message="turn_detection")
        )
        await transport.send(live.encode(error))
        with pytest.raises(TransportClosed):
            await transport.receive()

    class App(LiveApp):
        reconnect = Reconnect(initial_delay=0.01, max_attempts=3)

    async with serve_websocket(refusing) as port:
        with anyio.fail_after(10), pytest.raises(ConnectionFailed, match=r"refused.*unknown_parameter"):
            await App().run_async(f"ws://127.0.0.1:{port}/v1/live/sessions")
    assert connections == 1


async def test_no_session_started_counts_as_a_lost_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "START_TIMEOUT", 0.2)
    connections = 0

    async def silent(transport: WebSocketTransport) -> None:
        nonlocal connections
        connections += 1
        with pytest.raises(TransportClosed):  # noqa: PT012  (read until the client hangs up)
            while True:
                await transport.receive()

    class App(LiveApp):
        reconnect = Reconnect(initial_delay=0.01, max_attempts=2, stable_after=10)

    async with serve_websocket(silent) as port:
        with anyio.fail_after(10), pytest.raises(ConnectionFailed, match=r"session\.started"):
            await App().run_async(f"ws://127.0.0.1:{port}/v1/live/sessions")
    assert connections == 3  # the first, then two attempts


async def test_a_delegated_call_runs_once_its_output_goes_back_then_one_response_create() -> None:
    server = ScriptedServer(api="live")
    call_id = events.new_id("call")  # unique: a call id runs once per process, whichever app sees it
    call = function_call(call_id, "weather", {"city": "Oslo"})
    server.expect("session.start").reply(
        started(),
        live.DelegationCreatedEvent.build(
            offset_ms=100, delegation=live.Delegation(id="item_d1", target="responses", response_id="resp_1")
        ),
        call,
        call,  # reported twice (a replay): runs once
        completed(),
    )
    server.expect(
        "response.item.create", lambda event: event.item["call_id"] == call_id
    )
    server.expect("response.create")
    server.expect("session.close").reply(closed())
    app = Agent()
    async with server.run(app, sockets=True):
        await server.wait_until(3)
    (output,) = server.sent_of(live.ResponseItemCreateEvent)
    assert output.item["type"] == "function_call_output"
    assert json.loads(output.item["output"]) == {"city": "Oslo", "sky": "clear"}
    assert app.weather_calls == [call_id]
    assert len(server.sent_of(live.ResponseCreateEvent)) == 1


async def test_the_follow_up_waits_for_a_slow_tool_and_a_failed_run_gets_none() -> None:
    release = anyio.Event()

    class Slow(LiveApp):
        session = live.SessionConfig(model="gpt-live-1", delegation=RESPONSES)
        reconnect = None

        @tool
        async def lookup(self, key: str) -> str:
            await release.wait()
            return key.upper()

    server = ScriptedServer(api="live")
    server.expect("session.start").reply(
        started(), function_call(events.new_id("call"), "lookup", {"key": "a"}), completed()
    )
    server.expect("response.item.create")
    server.expect("response.create")
    server.expect("session.close").reply(closed())
    async with server.run(Slow(), sockets=True):
        await anyio.sleep(0.2)
        assert len(server.sent) == 1  # only session.start: the run completed but its call has no output yet
        release.set()
        await server.wait_until(3)

    failed = ScriptedServer(api="live")
    failed.expect("session.start").reply(
        started(), function_call(events.new_id("call"), "weather", {"city": "Rome"}), completed("failed")
    )
    failed.expect("response.item.create")
    failed.expect("session.close").reply(closed())
    async with failed.run(Agent(), sockets=True):
        await failed.wait_until(2)
        await anyio.sleep(0.2)
    assert not failed.sent_of(live.ResponseCreateEvent)  # a failed run is not continued


async def test_tools_need_responses_delegation() -> None:
    class NoDelegation(Agent):
        session = live.SessionConfig(model="gpt-live-1")

    with pytest.raises(ConfigError, match="DelegationResponses"):
        async with NoDelegation().connect("ws://127.0.0.1:9/v1/live/sessions"):
            pass


async def test_close_sends_session_close_and_waits_for_session_closed() -> None:
    server = ScriptedServer(api="live")
    server.expect("session.start").reply(started())
    server.expect("session.close").reply(
        live.OutputTranscriptDeltaEvent.build(delta="Bye", start_ms=0, end_ms=300), closed(seconds=42.0)
    )
    heard: list[str] = []

    class App(LiveApp):
        reconnect = None
        collect_metrics = True

        @on("session.output_transcript.delta")
        async def said(self, event: live.OutputTranscriptDeltaEvent) -> None:
            heard.append(event.delta)

    app = App()
    async with server.run(app, sockets=True) as conn:
        await server.wait_until(1)
        await conn.close()
    outcome = conn.outcome
    assert heard == ["Bye"]  # the rest of the output was dispatched before the session ended
    assert outcome is not None
    assert outcome.normal
    final = outcome.final
    assert isinstance(final, live.SessionClosedEvent)
    assert final.usage.seconds == 42.0
    assert app.metrics.usage["session_seconds"] == 42.0


async def test_close_from_an_inline_handler_finishes_in_the_background() -> None:
    server = ScriptedServer(api="live")
    server.expect("session.start").reply(started())
    server.expect("session.close").reply(closed())

    class App(LiveApp):
        reconnect = None

        @on("session.started")
        async def leave(self, conn: LiveConnection) -> None:
            await conn.close()  # inline: it cannot wait for session.closed here

    app = App()
    with anyio.fail_after(10):
        async with server.run(app, sockets=True) as conn:
            while conn.outcome is None:  # noqa: ASYNC110  (bounded by fail_after)
                await anyio.sleep(0.01)
    assert conn.outcome is not None
    assert isinstance(conn.outcome.final, live.SessionClosedEvent)


@pytest.mark.parametrize(("reason", "normal"), [("expired", True), ("content", False), ("connection_lost", False)])
async def test_the_server_ending_the_session_ends_the_app_without_reconnecting(reason: str, normal: bool) -> None:
    server = ScriptedServer(api="live")
    server.expect("session.start").reply(started(), closed(reason)).then_close(1000)

    class App(LiveApp):
        reconnect = Reconnect(initial_delay=0.01)

    app = App()
    with anyio.fail_after(10):
        if normal:
            await _run_to_end(server, app)
        else:
            with pytest.raises(ConnectionFailed, match=reason):
                await _run_to_end(server, app)
    assert server.connections == 1


async def _run_to_end(server: ScriptedServer, app: RealtimeApp) -> None:
    failure: ConnectionFailed | None = None
    async with serve_websocket(server.serve) as port:
        try:
            await app.run_async(f"ws://127.0.0.1:{port}/v1/live/sessions")
        except ConnectionFailed as exc:  # raised out here, not wrapped in the server's task group
            failure = exc
    if failure is not None:
        raise failure


async def test_usage_updates_feed_the_metrics() -> None:
    usage = live.SessionUsageUpdatedEvent.build(
        usage=live.SessionUsage(seconds=61.0), context_window=live.ContextWindow(usage_ratio=0.25)
    )
    server = ScriptedServer(api="live")
    server.expect("session.start").reply(started(), usage)
    server.expect("session.close").reply(closed(seconds=70.0))

    class App(LiveApp):
        reconnect = None
        collect_metrics = True

    app = App()
    async with server.run(app, sockets=True):
        await server.wait_until(1)
        with anyio.fail_after(5):
            while app.metrics.context_usage_ratio is None:  # noqa: ASYNC110  (bounded by fail_after)
                await anyio.sleep(0.01)
        assert app.metrics.usage["session_seconds"] == 61.0
    assert app.metrics.usage["session_seconds"] == 70.0  # the final report replaces it
    assert app.metrics.snapshot()["context_usage_ratio"] == 0.25


async def test_barge_in_calls_on_barge_in_once_when_the_user_talks_over_the_assistant() -> None:
    server = ScriptedServer(api="live")
    server.expect("session.start").reply(
        started(),
        live.OutputTranscriptDeltaEvent.build(delta="Let me tell you", start_ms=1000, end_ms=2500),
        live.InputTranscriptDeltaEvent.build(delta="hm", start_ms=200, end_ms=400),  # before: not over it
        live.InputTranscriptDeltaEvent.build(delta="wait", start_ms=1800, end_ms=2100),  # over it
        live.InputTranscriptDeltaEvent.build(delta="stop", start_ms=2100, end_ms=2300),  # same stretch
        live.OutputTranscriptDeltaEvent.build(delta="Sure", start_ms=3000, end_ms=3400),
        live.InputTranscriptDeltaEvent.build(delta="no", start_ms=3500, end_ms=3600),  # after it ended
    )
    server.expect("session.close").reply(closed())
    interrupted: list[int] = []

    class App(LiveApp):
        reconnect = None
        barge_in = True

        async def on_barge_in(self, connection: LiveConnection) -> None:
            interrupted.append(len(interrupted))

    async with server.run(App(), sockets=True):
        await server.wait_until(1)
        await anyio.sleep(0.2)
    assert interrupted == [0]


async def test_a_sideband_sends_no_session_start_and_close_just_detaches() -> None:
    frames: list[str] = []

    async def call(transport: WebSocketTransport) -> None:
        assert transport.request is not None
        assert transport.request.path.endswith("/live/sessions/live_9/attach")
        await transport.send(live.encode(live.TransportDtmfReceived.build(event="5")))
        with pytest.raises(TransportClosed):  # noqa: PT012  (read until the client hangs up)
            while True:
                frames.append(json.loads(await transport.receive())["type"])

    keys: list[str] = []

    class Observer(LiveApp):
        reconnect = None

        @on("transport.dtmf.received")
        async def key(self, event: live.TransportDtmfReceived, conn: LiveConnection) -> None:
            keys.append(event.event)
            await conn.send_dtmf("#")

    async with serve_websocket(call) as port:
        endpoint = realtime_dispatch.live("live_9", attach=True, api_key="sk-x", base_url=f"ws://127.0.0.1:{port}/v1")
        async with Observer().connect(endpoint) as conn:
            with anyio.fail_after(5):
                while not frames:  # noqa: ASYNC110  (bounded by fail_after)
                    await anyio.sleep(0.01)
            await conn.close()
    assert keys == ["5"]
    assert frames == ["transport.dtmf.send"]  # no session.start before, no session.close after


def test_routing_a_realtime_name_on_a_live_app_fails_at_class_definition_with_a_hint() -> None:
    with pytest.raises(ValueError, match=r"Realtime API event; a GPT-Live session sends session.output_audio.delta"):

        class Wrong(LiveApp):
            @on("response.output_audio.delta")
            async def audio(self, event: Any) -> None: ...

    with pytest.raises(ValueError, match="not an event of the Realtime API"):

        class AlsoWrong(RealtimeApp):
            @on("session.output_transcript.delta")
            async def said(self, event: Any) -> None: ...

    router = Router()

    @router.on("session.usage.updated")
    async def usage(event: live.SessionUsageUpdatedEvent) -> None: ...

    with pytest.raises(ValueError, match="not an event of the Realtime API"):
        RealtimeApp().include_router(router)
    LiveApp().include_router(router)  # a blueprint fits the app whose protocol sends its names


def test_a_shared_name_is_typed_by_the_apps_protocol() -> None:
    class Both(LiveApp):
        @on("session.updated")
        async def updated(self, event: live.SessionUpdatedEvent) -> None: ...

        @on("error")
        async def failed(self, event: live.ErrorEvent) -> None: ...

    with pytest.raises(TypeError, match="also delivers SessionUpdated"):

        class Mismatch(RealtimeApp):
            @on("session.updated")
            async def updated(self, event: live.SessionUpdatedEvent) -> None: ...

    router = Router()

    @router.on("session.updated")  # no app yet: fits the Live protocol
    async def updated(event: live.SessionUpdatedEvent) -> None: ...

    with pytest.raises(TypeError, match="also delivers SessionUpdated"):
        RealtimeApp().include_router(router)
    Both().include_router(router)


SESSION = translation.Session(
    id="sess_1", type="translation", model="m", expires_at=0, audio=translation.SessionAudio()
)


async def test_a_translation_app_sends_its_session_and_closes_with_session_closed() -> None:
    server = ScriptedServer(api="translation")
    server.on_connect(
        translation.SessionCreatedEvent.build(
            session=translation.Session(
                id="sess_1", type="translation", model="m", expires_at=0, audio=translation.SessionAudio()
            )
        )
    )
    server.expect("session.update").reply(
        translation.SessionUpdatedEvent.build(
            session=translation.Session(
                id="sess_1", type="translation", model="m", expires_at=0, audio=translation.SessionAudio()
            )
        )
    )
    server.expect("session.input_audio_buffer.append")
    server.expect("session.close").reply(
        translation.OutputTranscriptDeltaEvent.build(delta="Hola", elapsed_ms=200),
        translation.SessionClosedEvent.build(),
    )
    said: list[str] = []

    class Translator(TranslationApp):
        reconnect = None
        session = translation.SessionUpdateRequest(
            audio=translation.SessionAudio(output=translation.AudioOutput(language="es"))
        )

        @on("session.output_transcript.delta")
        async def text(self, event: translation.OutputTranscriptDeltaEvent) -> None:
            said.append(event.delta)

    app = Translator()
    async with server.run(app, sockets=True) as conn:
        assert isinstance(conn, TranslationConnection)
        await conn.append_audio(b"\x00\x00" * 240)
        await conn.close()
    assert said == ["Hola"]
    (update,) = server.sent_of(translation.SessionUpdateEvent)
    assert msgspec.to_builtins(update.session) == {"audio": {"output": {"language": "es"}}}


def test_endpoints() -> None:
    assert realtime_dispatch.live(api_key="k").url == "wss://api.openai.com/v1/live/sessions"
    sideband = realtime_dispatch.live("live_1", attach=True, graceful_close=True, api_key="k")
    assert sideband.url == "wss://api.openai.com/v1/live/sessions/live_1/attach?graceful_close=true"
    assert realtime_dispatch.live("live_1", fork=True, api_key="k").url.endswith("/live/sessions/live_1/fork")
    azure = realtime_dispatch.live(api_key="k", azure_endpoint="https://res.openai.azure.com")
    assert azure.url == "wss://res.openai.azure.com/openai/v1/live/sessions"
    assert azure.headers == {"api-key": "k"}
    assert realtime_dispatch.live(api_key="k").headers == {"Authorization": "Bearer k"}
    assert realtime_dispatch.live(api_key="k").api == "live"
    endpoint = realtime_dispatch.translation(api_key="k")
    assert endpoint.url == "wss://api.openai.com/v1/realtime/translations?model=gpt-realtime-translate"
    assert endpoint.api == "translation"
    for bad in (
        lambda: realtime_dispatch.live("live_1", api_key="k"),
        lambda: realtime_dispatch.live(attach=True, api_key="k"),
        lambda: realtime_dispatch.live("s", attach=True, fork=True, api_key="k"),
        lambda: realtime_dispatch.live(graceful_close=True, api_key="k"),
        lambda: realtime_dispatch.translation("", api_key="k"),
    ):
        with pytest.raises(ConfigError):
            bad()


async def test_an_app_refuses_an_endpoint_of_another_protocol() -> None:
    with pytest.raises(ConfigError, match=r"GPT-Live.*api = 'live'"):
        async with RealtimeApp().connect(realtime_dispatch.live(api_key="k")):
            pass
    with pytest.raises(ConfigError, match="Realtime API"):
        async with Agent().connect(realtime_dispatch.openai("gpt-realtime", api_key="k")):
            pass


def test_an_unknown_api_fails_at_class_definition() -> None:
    with pytest.raises(ValueError, match=r"unknown|one of"):

        class Odd(RealtimeApp):
            api = "realtime"  # type: ignore[assignment]


async def test_request_matches_a_live_ack_by_client_event_id() -> None:
    server = ScriptedServer(api="live")
    server.expect("session.start").reply(started())
    ack = live.InputAudioMutedEvent.build(client_event_id="evt_mute")
    server.expect("session.input_audio.mute").reply(ack)
    server.expect("session.close").reply(closed())

    class App(LiveApp):
        reconnect = None

    async with server.run(App(), sockets=True) as conn:
        reply = await conn.request(live.InputAudioMuteEvent(event_id="evt_mute"), timeout=5)
        assert isinstance(reply, live.InputAudioMutedEvent)
    assert isinstance(events.UnknownEvent, type)  # the shared base classes stay importable from events


def test_a_realtime_app_never_loads_the_other_protocols() -> None:
    """GPT-Live and Translation load with their first use: importing the library, defining and
    routing a Realtime app (names, a wildcard, classes, a tool, a router) costs nothing for them."""
    import subprocess
    import sys

    code = """
import sys
from realtime_dispatch import RealtimeApp, Router, events, on, tool
class App(RealtimeApp):
    @on("response.output_text.delta")
    async def text(self, event: events.ResponseOutputTextDelta) -> None: ...
    @on("session.*")
    async def session(self, event: events.ServerEvent) -> None: ...
    @on("*")
    async def every(self, event: events.ServerEvent) -> None: ...
    @tool
    async def add(self, a: int, b: int) -> int:
        return a + b
router = Router()
@router.on(events.ErrorEvent)
async def failed(event: events.ErrorEvent) -> None: ...
App().include_router(router)
print(sorted(m for m in sys.modules if m.endswith(("._live", "._translation", ".live", ".translation"))))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    assert "LiveConnection" in realtime_dispatch.__all__  # and still importable from the top, on first use
    assert realtime_dispatch.LiveConnection is LiveConnection


def test_accept_session_is_the_body_a_sip_call_is_accepted_with() -> None:
    class Phone(RealtimeApp):
        session = events.Session(type="realtime", instructions="Answer the phone.")

        @tool
        async def lookup(self, order: str) -> str:
            return order

    body = Phone().accept_session()
    assert body["type"] == "realtime"
    assert body["instructions"] == "Answer the phone."
    assert [t["name"] for t in body["tools"]] == ["lookup"]
    assert RealtimeApp().accept_session() == {"type": "realtime"}

    class LivePhone(Agent):
        session = live.SessionConfig(
            model="gpt-live-1",
            delegation=RESPONSES,
            audio=live.SessionAudio(format=live.AudioFormat(type="audio/pcm", rate=24000)),
        )

    live_body = LivePhone().accept_session()
    assert live_body["type"] == "live"
    assert "audio" not in live_body  # SIP negotiates the format
    assert [t["name"] for t in live_body["delegation"]["responses"]["tools"]] == ["weather"]
    with pytest.raises(ConfigError, match="takes no calls"):
        TranslationApp().accept_session()


async def test_a_fork_starts_with_the_fork_session_config_and_a_sideband_sends_dtmf() -> None:
    server = ScriptedServer(api="live", connection="fork")
    server.expect("session.start", lambda event: isinstance(event, live.ForkSessionStartEvent)).reply(started())
    server.expect("session.close").reply(closed())

    class Fork(LiveApp):
        session = live.ForkSessionConfig(store=True)
        reconnect = None

    async with server.run(Fork(), sockets=True):
        await server.wait_until(1)
    (start,) = server.sent_of(live.ForkSessionStartEvent)
    assert start.session.store is True

    sideband = ScriptedServer(api="live", connection="sideband")
    sideband.expect("transport.dtmf.send", lambda event: event.event == "9")

    class Observer(LiveApp):
        reconnect = None

    async with serve_websocket(sideband.serve) as port:
        endpoint = realtime_dispatch.live("live_1", attach=True, api_key="k", base_url=f"ws://127.0.0.1:{port}/v1")
        async with Observer().connect(endpoint) as conn:
            await conn.send_dtmf("9")
            await sideband.wait_done()
    with pytest.raises(ValueError, match="only GPT-Live"):
        ScriptedServer(api="ga", connection="sideband")
