"""GPT-Live apps under adversity (issue 16, with issue 13's guarantees): close() while the session
start waits, a connection lost while a delegated tool runs, a server that drops right after
accepting, a tool that fails; and whole sessions of a ``LiveApp`` and a ``TranslationApp`` against
the built-in simulator (real sockets on 127.0.0.1, asyncio and trio). Every wait is bounded.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import anyio
import pytest

from realtime_dispatch import (
    ConnectionFailed,
    LiveApp,
    LiveConnection,
    Reconnect,
    ToolCall,
    TranslationApp,
    TranslationConnection,
    audio,
    events,
    on,
    on_error,
    tool,
)
from realtime_dispatch import _features as features_module
from realtime_dispatch import live as live_endpoint
from realtime_dispatch import translation as translation_endpoint
from realtime_dispatch.events import live, translation
from realtime_dispatch.simulator import EchoResponder, Simulator
from realtime_dispatch.transports import TransportClosed, WebSocketTransport, serve_websocket

pytestmark = pytest.mark.anyio

RESOURCE = live.SessionResource(id="live_1", expires_at=0, model="gpt-live-1", status="active")
RESPONSES = live.DelegationResponses(responses=live.ResponsesDelegationConfig(model="gpt-5.6-terra"))


def tone(ms: int, amplitude: int = 8000) -> bytes:
    """``ms`` of a 440 Hz sine, PCM16 24 kHz mono: speech to the simulator's VAD."""
    samples = 24 * ms
    return struct.pack(
        f"<{samples}h", *(round(amplitude * math.sin(2 * math.pi * 440 * n / 24000)) for n in range(samples))
    )


class Says(EchoResponder):
    """The simulator's echo responder, hearing ``text`` in any user audio."""

    def __init__(self, text: str) -> None:
        self.text = text

    async def transcribe(self, pcm: bytes) -> str:
        return self.text


def call_frame(call_id: str) -> bytes:
    item = {"type": "function_call", "id": "fc_1", "call_id": call_id, "name": "slow", "arguments": "{}"}
    nested = {"type": "response.output_item.done", "output_index": 0, "sequence_number": 1, "item": item}
    return live.encode(live.ResponseEvent.from_nested(nested, delegation_id="item_1"))


async def test_close_while_the_session_start_waits_for_a_silent_server_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """close() during the session start waits for the session to start, to say goodbye once it has;
    a server that never answers holds it for GOODBYE_TIMEOUT at most, and nothing else is sent."""
    monkeypatch.setattr(features_module, "GOODBYE_TIMEOUT", 0.5)
    received: list[str] = []

    async def silent(transport: WebSocketTransport) -> None:
        with pytest.raises(TransportClosed):  # noqa: PT012  (read until the client hangs up)
            while True:
                received.append(json.loads(await transport.receive())["type"])

    class App(LiveApp):
        reconnect = Reconnect(initial_delay=0.01)

    async with serve_websocket(silent) as port:
        with anyio.fail_after(5):
            async with App().connect(f"ws://127.0.0.1:{port}/v1/live/sessions") as conn:
                while not received:  # noqa: ASYNC110  (bounded by fail_after)
                    await anyio.sleep(0.01)
                started = anyio.current_time()
                await conn.close()
                assert anyio.current_time() - started < 3  # the goodbye's budget, not the session start's
    assert received == ["session.start"]  # nothing may be sent before session.started: no session.close
    assert conn.outcome is not None
    assert conn.outcome.normal


async def test_close_right_after_connecting_still_says_goodbye_once_the_session_starts() -> None:
    """The race the examples met: close() before session.started arrived still ends the session
    with session.close -> session.closed (outcome.final), not a dropped socket."""
    async with Simulator().serve() as base:
        with anyio.fail_after(20):
            async with LiveApp().connect(live_endpoint(base_url=base, api_key="sk-test")) as conn:
                await conn.close()
    assert conn.outcome is not None
    assert conn.outcome.normal
    assert isinstance(conn.outcome.final, live.SessionClosedEvent)
    assert conn.outcome.final.reason == "close_requested"


async def test_a_lost_connection_cancels_its_delegated_tools_and_never_answers_them_on_the_next() -> None:
    connections: list[list[str]] = []
    cancelled = anyio.Event()
    started = anyio.Event()

    async def flaky(transport: WebSocketTransport) -> None:
        seen: list[str] = []
        connections.append(seen)
        seen.append(json.loads(await transport.receive())["type"])
        await transport.send(live.encode(live.SessionStartedEvent.build(session=RESOURCE)))
        if len(connections) == 1:
            await transport.send(call_frame(events.new_id("call")))
            await started.wait()
            await transport.close(1011, "upstream gone")  # recoverable: the app reconnects
            return
        with pytest.raises(TransportClosed):  # noqa: PT012  (read until the client hangs up)
            while True:
                seen.append(json.loads(await transport.receive())["type"])
                if seen[-1] == "session.close":
                    usage = live.SessionUsage(seconds=1.0)
                    closed = live.SessionClosedEvent.build(reason="close_requested", session=RESOURCE, usage=usage)
                    await transport.send(live.encode(closed))

    class App(LiveApp):
        session = live.SessionConfig(model="gpt-live-1", delegation=RESPONSES)
        reconnect = Reconnect(initial_delay=0.01)

        @tool
        async def slow(self) -> str:
            started.set()
            try:
                await anyio.sleep_forever()
            finally:
                cancelled.set()
            return "never"

    async with serve_websocket(flaky) as port:
        with anyio.fail_after(10):
            async with App().connect(f"ws://127.0.0.1:{port}/v1/live/sessions"):
                await cancelled.wait()
                while len(connections) < 2 or not connections[1]:  # noqa: ASYNC110  (bounded by fail_after)
                    await anyio.sleep(0.01)
                await anyio.sleep(0.2)  # anything the tool might still send would arrive now
    assert connections[1][0] == "session.start"  # a new session, started afresh
    assert connections[1] == ["session.start", "session.close"]  # no output of the lost session's call


async def test_a_server_that_drops_right_after_accepting_is_retried_then_the_app_gives_up() -> None:
    accepted = 0

    async def dropping(transport: WebSocketTransport) -> None:
        nonlocal accepted
        accepted += 1
        await transport.close(1011, "overloaded")

    class App(LiveApp):
        reconnect = Reconnect(initial_delay=0.01, max_attempts=2, stable_after=5)

    async with serve_websocket(dropping) as port:
        with anyio.fail_after(10), pytest.raises(ConnectionFailed, match="could not reconnect"):
            await App().run_async(f"ws://127.0.0.1:{port}/v1/live/sessions")
    assert accepted == 3


# --- whole sessions against the simulator ------------------------------------------------------------


class WeatherAgent(LiveApp):
    session = live.SessionConfig(model="gpt-live-1", instructions="Be brief.", delegation=RESPONSES)
    reconnect = None
    collect_metrics = True

    def __init__(self) -> None:
        super().__init__()
        self.user: list[str] = []
        self.assistant: list[str] = []
        self.calls: list[tuple[str, str]] = []
        self.errors: list[BaseException] = []
        self.heard_answer = anyio.Event()

    @tool
    async def get_weather(self, city: str, call: ToolCall) -> dict[str, Any]:
        """The weather in a city.

        Args:
            city: The city.
        """
        self.calls.append((call.name, city))
        return {"city": city, "sky": "clear", "celsius": 21}

    @on("session.input_transcript.delta")
    async def heard(self, event: live.InputTranscriptDeltaEvent) -> None:
        self.user.append(event.delta)

    @on("session.output_transcript.delta")
    async def said(self, event: live.OutputTranscriptDeltaEvent) -> None:
        self.assistant.append(event.delta)
        if "clear" in "".join(self.assistant):
            self.heard_answer.set()

    @on_error()
    async def failed(self, error: Exception) -> None:
        self.errors.append(error)


async def test_a_live_app_with_a_tool_holds_a_session_against_the_simulator() -> None:
    app = WeatherAgent()
    async with Simulator(Says("What does get_weather say for Oslo?")).serve() as base:
        with anyio.fail_after(20):
            async with app.connect(live_endpoint(base_url=base, api_key="sk-test")) as conn:
                assert isinstance(conn, LiveConnection)
                await audio.send_audio(conn.append_audio, tone(600), chunk_ms=100, realtime=False)
                await audio.send_audio(conn.append_audio, bytes(48 * 900), chunk_ms=100, realtime=False)
                await app.heard_answer.wait()
    assert app.user  # the user's speech came back as their transcript
    assert [name for name, _ in app.calls] == ["get_weather"]  # the delegated call ran once
    assert "clear" in "".join(app.assistant)  # and the model spoke its result
    assert not app.errors
    outcome = conn.outcome
    assert outcome is not None
    assert outcome.normal
    final = outcome.final
    assert isinstance(final, live.SessionClosedEvent)
    assert final.reason == "close_requested"
    assert app.metrics.usage["session_seconds"] == final.usage.seconds > 0


async def test_client_delegation_against_the_simulator() -> None:
    """Client delegation: the app answers ``session.delegation.created`` with commentary."""

    class Concierge(LiveApp):
        reconnect = None

        def __init__(self) -> None:
            super().__init__()
            self.delegations: list[str] = []
            self.spoken = anyio.Event()
            self.said: list[str] = []

        @on("session.delegation.created", background=True)
        async def delegated(self, event: live.DelegationCreatedEvent, conn: LiveConnection) -> None:
            self.delegations.append(event.delegation.target)
            reply = await conn.request(
                live.CommentaryAppendEvent(content="Your refund is on its way.", delegation_id=event.delegation.id),
                timeout=10,
            )
            assert isinstance(reply, live.CommentaryAppendedEvent)

        @on("session.output_transcript.delta")
        async def said_it(self, event: live.OutputTranscriptDeltaEvent) -> None:
            self.said.append(event.delta)
            if "refund" in "".join(self.said):
                self.spoken.set()

    app = Concierge()
    async with Simulator(Says("Please delegate my refund.")).serve() as base:
        with anyio.fail_after(20):
            async with app.connect(live_endpoint(base_url=base, api_key="sk-test")) as conn:
                await audio.send_audio(conn.append_audio, tone(600) + bytes(48 * 900), chunk_ms=100, realtime=False)
                await app.spoken.wait()
    assert app.delegations == ["client"]


async def test_a_translation_app_against_the_simulator() -> None:
    class Translator(TranslationApp):
        reconnect = None
        session = translation.SessionUpdateRequest(
            audio=translation.SessionAudio(output=translation.AudioOutput(language="fr"))
        )

        def __init__(self) -> None:
            super().__init__()
            self.text: list[str] = []
            self.audio = bytearray()

        @on("session.output_transcript.delta")
        async def text_out(self, event: translation.OutputTranscriptDeltaEvent) -> None:
            self.text.append(event.delta)

        @on("session.output_audio.delta")
        async def audio_out(self, event: translation.OutputAudioDeltaEvent) -> None:
            self.audio += event.pcm

    app = Translator()
    clip = tone(600) + bytes(48 * 900)
    async with Simulator().serve() as base:
        with anyio.fail_after(20):
            async with app.connect(translation_endpoint(base_url=base, api_key="sk-test")) as conn:
                assert isinstance(conn, TranslationConnection)
                await audio.send_audio(conn.append_audio, clip, chunk_ms=200, realtime=False, trailing_silence_ms=400)
    # close() waited for session.closed: everything sent was translated (echoed) before the app returned
    assert len(app.audio) >= len(clip)
    assert "[fr]" in "".join(app.text)
    assert conn.outcome is not None
    assert isinstance(conn.outcome.final, translation.SessionClosedEvent)
