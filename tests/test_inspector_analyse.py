"""The session report's analysis (``inspector._analyse``): recordings to lanes, turns and a summary.

The latencies must be ``app.metrics``' own: the same definitions, the same numbers on the same session. A
``Recorder`` stamps a frame at the transport and ``Metrics`` at dispatch (a received frame) or after the send
(a sent one), both on ``anyio.current_time()``: on a real run the two differ by the microseconds between, so
the report and the metrics are compared within 2 ms (and the recorder rounds its stamps to the microsecond).
"""

from __future__ import annotations

import base64
import io
import json
import math
import struct
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from realtime_dispatch import (
    Connection,
    LiveApp,
    RealtimeApp,
    ToolCall,
    TranslationApp,
    audio,
    events,
    on,
    openai,
    tool,
)
from realtime_dispatch import live as live_endpoint
from realtime_dispatch import translation as translation_endpoint
from realtime_dispatch._metrics import Latency
from realtime_dispatch.demo import DemoApp
from realtime_dispatch.events import live, translation
from realtime_dispatch.inspector._analyse import DEFAULT_PRICES, analyse, load
from realtime_dispatch.inspector._view import SessionView
from realtime_dispatch.simulator import EchoResponder, Reply, Simulator
from realtime_dispatch.testing import Recorder, faulty, virtual_time

RECORDED = Path(__file__).parent / "data" / "recorded"
FILES = sorted(RECORDED.rglob("*.jsonl"))
TOLERANCE = 0.002  # seconds: transport stamp vs dispatch stamp (see the module's docstring)


def lanes(view: SessionView) -> dict[str, int]:
    counts: dict[str, int] = {}
    for span in view.spans:
        counts[span.lane] = counts.get(span.lane, 0) + 1
    return counts


def tone(ms: int, amplitude: int = 8000) -> bytes:
    """``ms`` of a 440 Hz sine, PCM16 24 kHz mono: speech to the simulator's VAD."""
    samples = 24 * ms
    return struct.pack(
        f"<{samples}h", *(round(amplitude * math.sin(2 * math.pi * 440 * n / 24000)) for n in range(samples))
    )


def assert_same(report: tuple[float, ...], measured: Latency, tolerance: float = TOLERANCE) -> None:
    """The report's samples are the metrics': as many, the same total, max and percentiles."""
    assert len(report) == measured.count
    assert sum(report) == pytest.approx(measured.total, abs=tolerance * measured.count)
    assert max(report, default=0.0) == pytest.approx(measured.max, abs=tolerance)
    ours = Latency()
    for sample in report:
        ours.record(sample)
    for p in (50, 95, 99):
        assert ours.percentile(p) == pytest.approx(measured.percentile(p), abs=tolerance)


# --- the recorded live sessions (bare server frames) ----------------------------------------------


@pytest.mark.parametrize("path", FILES, ids=[path.name[:80] for path in FILES])
def test_every_recorded_session_loads_and_analyses(path: Path) -> None:
    view = analyse(load(path), source=path.name)
    assert view.protocol == ("beta" if path.name.startswith("beta-") else "ga")
    assert not view.timed
    assert any("no timestamps" in note for note in view.notes)
    assert view.summary is not None
    assert view.summary.frames == len(path.read_text().splitlines())
    assert view.summary.voice_latency_p50 is None
    assert view.summary.response_latency_p50 is None
    assert all(turn.voice_latency is None and turn.response_latency is None for turn in view.turns)
    assert view.spans
    assert view.events
    assert all(span.end is None or span.end >= span.start for span in view.spans)
    text = path.read_text()
    counted = lanes(view)
    if "response.function_call_arguments.done" in text:
        tools = [span for span in view.spans if span.lane == "tools"]
        assert tools
        assert tools[0].label
        if '"function_call_output"' in text:
            assert tools[0].end is not None
            assert tools[0].outcome == "ok"
    if "response.output_audio.delta" in text or "response.audio.delta" in text:
        assert counted.get("assistant audio", 0) >= 1
    if "input_audio_buffer.speech_stopped" in text:
        assert counted.get("user speech", 0) >= 1
    if "response.created" in text and "non-openai" not in str(path):
        assert view.turns
    json.dumps(view.to_json())  # plain data


def test_a_sideband_recording_keys_first_audio_off_the_output_buffer() -> None:
    path = RECORDED / "ga-pydantic-ai-test_openai_ws_sideband-test_webrtc_sideband_audio_turn-2026-08-11.jsonl"
    view = analyse(load(path))
    audio_spans = [span for span in view.spans if span.lane == "assistant audio"]
    assert len(audio_spans) == 1
    assert audio_spans[0].end is not None
    assert "output buffer" in audio_spans[0].label
    assert view.turns[0].first_audio == audio_spans[0].start
    assert any("sideband" in note for note in view.notes)


def test_a_tool_call_recording_has_a_tool_span_and_its_turns() -> None:
    path = RECORDED / "ga-pydantic-ai-test_openai_ws-test_tool_call_round-2026-07-28.jsonl"
    view = analyse(load(path))
    (span,) = [span for span in view.spans if span.lane == "tools"]
    assert (span.label, span.kind, span.outcome) == ("get_weather", "tool", "ok")
    assert [turn.tools for turn in view.turns] == [("get_weather",), ()]
    assert [turn.status for turn in view.turns] == ["completed", "completed"]
    assert view.summary is not None
    assert view.summary.usage["total_tokens"] == 201
    assert view.summary.model == "gpt-realtime"
    assert view.summary.cost is not None
    assert view.summary.cost > 0
    text = [span.label for span in view.spans if span.lane == "assistant text"]
    assert text == ["It is foggy and 12 degrees in London."]


def test_broken_and_unknown_frames_become_marks_never_errors() -> None:
    lines: list[Any] = [
        '{"type":"session.created","event_id":"e1","session":{"type":"realtime","model":"gpt-realtime"}}',
        "this is not json",
        '{"type":"brand.new.event","event_id":"e2"}',
        '{"type":"response.done","response":7}',
        "[1, 2]",
        {"type": "error", "event_id": "e3", "error": {"type": "invalid_request_error", "message": "no"}},
        '{"dir":"in","connection":1,"t":0.5,"frame":{"undecodable":"\\u0000garbage"}}',
        b'{"type":"response.output_audio.delta","response_id":"r","delta":7}',
        "",
    ]
    view = analyse(load(lines))
    errors = [mark.label for mark in view.marks if mark.lane == "errors"]
    assert len(errors) == 6  # not JSON, response.done, a list, the error event, the undecodable, the bad delta
    assert "brand.new.event" in [event.type for event in view.events]  # unknown types are shown, not marked
    assert not any("brand.new.event" in label for label in errors)


def test_the_latency_rules_are_those_of_metrics_observe() -> None:
    """Out-of-band creates and responses are not timed; a speech_started cancels a pending voice latency; an
    error naming a create drops it; a create is paired with the next response.created that answers."""

    def line(t: float, direction: str, frame: dict[str, Any]) -> dict[str, Any]:
        if direction == "in":
            frame["event_id"] = f"event_{t}"  # a frame the app's codec rejects is not timed (its metrics never saw it)
        return {"dir": direction, "connection": 1, "t": t, "frame": frame}

    def created(rid: str, conversation: str | None = "conv_1") -> dict[str, Any]:
        return {"type": "response.created", "response": {"id": rid, "conversation_id": conversation}}

    def delta(rid: str, kind: str = "response.output_audio.delta") -> dict[str, Any]:
        return {"type": kind, "response_id": rid, "item_id": f"i_{rid}", "output_index": 0, "content_index": 0,
                "delta": "AAAA"}  # fmt: skip

    def done(rid: str) -> dict[str, Any]:
        return {"type": "response.done", "response": {"id": rid, "conversation_id": "conv_1", "status": "completed"}}

    recording = [
        line(0.0, "connect", {}),
        line(1.0, "out", {"type": "response.create", "event_id": "c_oob", "response": {"conversation": "none"}}),
        line(1.1, "in", created("r_oob", conversation=None)),
        line(1.2, "in", delta("r_oob")),
        line(1.3, "in", done("r_oob")),
        line(2.0, "out", {"type": "response.create", "event_id": "c_bad"}),
        line(2.1, "in", {"type": "error", "error": {"type": "invalid_request_error", "message": "no",
                                                    "event_id": "c_bad"}}),
        line(3.0, "in", {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 900, "item_id": "u1"}),
        line(3.2, "in", {"type": "input_audio_buffer.speech_started", "audio_start_ms": 1000, "item_id": "u2"}),
        line(4.0, "in", {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 1900, "item_id": "u2"}),
        line(4.1, "out", {"type": "response.create", "event_id": "c_1"}),
        line(4.5, "in", created("r_1")),
        line(4.75, "in", delta("r_1", "response.output_audio_transcript.delta")),
        line(5.0, "in", delta("r_1")),
        line(5.1, "in", delta("r_1")),
        line(5.5, "in", done("r_1")),
    ]  # fmt: skip
    view = analyse(load(recording))
    assert view.summary is not None
    assert view.summary.voice_latencies == pytest.approx((1.0,))  # 4.0 -> 5.0: the first stop was cancelled
    assert view.summary.response_latencies == pytest.approx((0.65,))  # c_1 at 4.1 -> the transcript delta at 4.75
    assert [turn.response_id for turn in view.turns] == ["r_1"]  # the out-of-band response is no turn
    (turn,) = view.turns
    assert turn.user_speech_end == pytest.approx(4.0)
    assert turn.first_audio == pytest.approx(5.0)
    assert "out-of-band response" in [mark.label for mark in view.marks]


# --- sessions recorded against the simulator --------------------------------------------------------


class Measured(DemoApp):
    """The demo's conversation (two text questions, one calling the ``get_time`` tool, then a spoken turn
    that the simulator's VAD commits and the app answers aloud), with metrics."""

    collect_metrics = True


@pytest.mark.anyio
async def test_latencies_equal_app_metrics_on_a_recorded_simulator_session(tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    app = Measured(out=io.StringIO())
    async with Simulator(delta_delay=0.005).serve(host="127.0.0.1", port=0) as base_url:
        with anyio.fail_after(30):
            await app.run_async(Recorder(openai("gpt-realtime", base_url=base_url), path))
    view = analyse(load(path), source=path.name)
    assert view.protocol == "ga"
    assert view.timed
    summary = view.summary
    assert summary is not None
    metrics = app.metrics
    assert metrics.voice_latency.count == 1
    assert metrics.response_latency.count >= 3
    assert_same(summary.voice_latencies, metrics.voice_latency)
    assert_same(summary.response_latencies, metrics.response_latency)
    for name in ("voice_latency", "response_latency"):
        latency = getattr(metrics, name)
        assert getattr(summary, f"{name}_p50") == pytest.approx(latency.percentile(50), abs=TOLERANCE)
        assert getattr(summary, f"{name}_p95") == pytest.approx(latency.percentile(95), abs=TOLERANCE)
    assert summary.usage == {key: float(value) for key, value in metrics.usage.items()}
    # the turns carry the same samples
    assert [t.response_latency for t in view.turns if t.response_latency is not None] == list(
        summary.response_latencies
    )
    (spoken,) = [turn for turn in view.turns if turn.voice_latency is not None]
    assert spoken.user_speech_end is not None
    assert spoken.first_audio is not None
    assert spoken.first_audio - spoken.user_speech_end == pytest.approx(spoken.voice_latency)
    tooled = [turn for turn in view.turns if turn.tools]
    assert [turn.tools for turn in tooled] == [("get_time",)]
    assert tooled[0].tool_time > 0
    counted = lanes(view)
    for lane in ("user speech", "user transcript", "assistant audio", "assistant text", "tools", "connection"):
        assert counted.get(lane, 0) >= 1, lane
    (tool_span,) = [span for span in view.spans if span.lane == "tools"]
    assert (tool_span.label, tool_span.outcome) == ("get_time", "ok")
    assert summary.cost is not None
    assert summary.prices == dict(DEFAULT_PRICES["gpt-realtime"])


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_on_virtual_time_the_latencies_equal_app_metrics_exactly(backend: str, tmp_path: Path) -> None:
    """On the test kit's virtual clock no time passes while code runs: the recorder's stamp and the metrics'
    are the same instant, so the report's latencies equal ``app.metrics``' up to the recorder's rounding."""
    path = tmp_path / "session.jsonl"
    app = Measured(out=io.StringIO())

    class Thinking(EchoResponder):
        async def respond(self, conversation: list[events.ConversationItem], session: events.Session) -> Reply:
            await anyio.sleep(0.25)  # a model thinking: the latencies are 250 ms of virtual time
            return await super().respond(conversation, session)

    async def main() -> None:
        async with Simulator(Thinking(), delta_delay=0.005).serve(host="127.0.0.1", port=0) as base_url:
            with anyio.fail_after(30):
                await app.run_async(Recorder(openai("gpt-realtime", base_url=base_url), path))

    clock = virtual_time(backend, autojump_threshold=0.005)  # the simulator answers over a socket
    anyio.run(main, backend=clock.backend, backend_options=clock.options)
    view = analyse(load(path))
    assert view.summary is not None
    metrics = app.metrics
    assert metrics.voice_latency.count == 1
    assert metrics.response_latency.count >= 3
    for ours, theirs in (
        (view.summary.voice_latencies, metrics.voice_latency),
        (view.summary.response_latencies, metrics.response_latency),
    ):
        assert_same(ours, theirs, tolerance=2e-6)  # stamps rounded to the microsecond
        assert all(sample == pytest.approx(0.25, abs=0.01) for sample in ours)
    print(
        f"\nvirtual time ({backend}): voice {view.summary.voice_latencies}, response {view.summary.response_latencies}"
    )


class LongResponder:
    async def respond(self, conversation: list[events.ConversationItem], session: events.Session) -> Reply:
        return Reply(text=" ".join(f"word{n}" for n in range(20)))  # seconds of audio


class Voice(RealtimeApp):
    """Speaks long answers; the recording's user talks over one after 250 ms of it was played."""

    barge_in = True
    collect_metrics = True
    session = events.Session(type="realtime", output_modalities=["audio"])

    def __init__(self) -> None:
        super().__init__()
        self.enough_audio = anyio.Event()
        self.truncated = anyio.Event()
        self.item_id = ""

    @on("response.output_audio.delta")
    def playing(self, event: events.ResponseOutputAudioDelta) -> None:
        self.item_id = event.item_id
        if self.playback.received_ms(event.item_id) >= 300:
            self.enough_audio.set()

    @on("conversation.item.truncated")
    def cut(self) -> None:
        self.truncated.set()


async def record_barge_in(path: Path) -> Voice:
    """Record a session against the simulator: a long spoken answer the user interrupts at 250 ms played."""
    app = Voice()
    async with (
        Simulator(responder=LongResponder(), delta_delay=0.02).serve(host="127.0.0.1", port=0) as base_url,
        app.connect(Recorder(openai("gpt-realtime", base_url=base_url), path)) as conn,
    ):
        await conn.create_item(events.ConversationItem.message("user", "Tell me a long story"))
        await conn.create_response()
        with anyio.fail_after(10):
            await app.enough_audio.wait()
        app.playback.played(app.item_id, ms=250)
        await audio.send_audio(conn, tone(400), realtime=False)
        with anyio.fail_after(10):
            await app.truncated.wait()
    return app


@pytest.mark.anyio
async def test_a_barge_in_marks_the_turn_interrupted_and_the_audio_cut(tmp_path: Path) -> None:
    path = tmp_path / "barge.jsonl"
    app = await record_barge_in(path)
    view = analyse(load(path))
    interrupted = [turn for turn in view.turns if turn.interrupted]
    assert len(interrupted) == 1
    assert interrupted[0].interrupted_at_ms == 250
    (cut,) = [span for span in view.spans if span.lane == "assistant audio" and span.cut_at is not None]
    assert cut.start <= cut.cut_at
    assert "cut at 250 ms" in cut.label
    assert any(mark.label == "barge-in" for mark in view.marks)
    assert any(mark.label == "truncated at 250 ms" for mark in view.marks)
    assert view.summary is not None
    assert_same(view.summary.response_latencies, app.metrics.response_latency)


class Says(EchoResponder):
    def __init__(self, text: str) -> None:
        self.text = text

    async def transcribe(self, pcm: bytes) -> str:
        return self.text


@pytest.mark.anyio
async def test_a_gpt_live_session_with_a_tool(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    answered = anyio.Event()

    class Weather(LiveApp):
        session = live.SessionConfig(
            model="gpt-live-1",
            instructions="Be brief.",
            delegation=live.DelegationResponses(responses=live.ResponsesDelegationConfig(model="gpt-5.6-terra")),
        )
        reconnect = None
        collect_metrics = True
        said = ""

        @tool
        async def get_weather(self, city: str, call: ToolCall) -> dict[str, Any]:
            """The weather in a city.

            Args:
                city: The city.
            """
            return {"city": city, "sky": "clear"}

        @on("session.output_transcript.delta")
        async def heard(self, event: live.OutputTranscriptDeltaEvent) -> None:
            self.said += event.delta
            if "clear" in self.said:
                answered.set()

    app = Weather()
    async with Simulator(Says("What does get_weather say for Oslo?")).serve() as base:
        with anyio.fail_after(20):
            endpoint = live_endpoint(base_url=base, api_key="sk-test")
            async with app.connect(Recorder(endpoint, path)) as conn:
                await audio.send_audio(conn.append_audio, tone(600), chunk_ms=100, realtime=False)
                await audio.send_audio(conn.append_audio, bytes(48 * 900), chunk_ms=100, realtime=False)
                await answered.wait()
    view = analyse(load(path))
    assert view.protocol == "live"
    counted = lanes(view)
    for lane in ("user speech", "user transcript", "assistant audio", "assistant text", "tools"):
        assert counted.get(lane, 0) >= 1, lane
    (tool_span,) = [span for span in view.spans if span.lane == "tools"]
    assert (tool_span.label, tool_span.outcome) == ("get_weather", "ok")
    assert tool_span.end is not None
    assert view.summary is not None
    assert view.summary.usage["session_seconds"] == app.metrics.usage["session_seconds"] > 0
    assert view.summary.model == "gpt-live-1"
    assert view.summary.cost is None  # no price known for it
    priced = analyse(load(path), prices={"gpt-live-1": {"voice_minute": 0.5}})
    assert priced.summary is not None
    assert priced.summary.cost == pytest.approx(app.metrics.usage["session_seconds"] / 60 * 0.5)
    assert view.turns
    assert view.turns[0].first_audio is not None
    assert "sk-test" not in json.dumps(view.to_json())


@pytest.mark.anyio
async def test_a_translation_session(tmp_path: Path) -> None:
    path = tmp_path / "translation.jsonl"

    class Translator(TranslationApp):
        reconnect = None
        session = translation.SessionUpdateRequest(
            audio=translation.SessionAudio(output=translation.AudioOutput(language="fr"))
        )

    clip = tone(600) + bytes(48 * 900)
    async with Simulator().serve() as base:
        with anyio.fail_after(20):
            endpoint = translation_endpoint(base_url=base, api_key="sk-test")
            async with Translator().connect(Recorder(endpoint, path)) as conn:
                await audio.send_audio(conn.append_audio, clip, chunk_ms=200, realtime=False, trailing_silence_ms=400)
    view = analyse(load(path))
    assert view.protocol == "translation"
    counted = lanes(view)
    for lane in ("assistant audio", "assistant text", "connection"):
        assert counted.get(lane, 0) >= 1, lane
    assert any("[fr]" in span.label for span in view.spans if span.lane == "assistant text")
    assert view.summary is not None
    usage = view.summary.usage
    assert usage["input_audio_seconds"] == pytest.approx(1.9, abs=0.01)  # the clip and its trailing silence
    assert usage["output_audio_seconds"] >= 1.5


@pytest.mark.anyio
async def test_a_reconnect_is_marked_and_each_connection_is_a_span(tmp_path: Path) -> None:
    path = tmp_path / "reconnect.jsonl"

    class App(RealtimeApp):
        collect_metrics = True
        connected = 0

        async def on_connect(self, connection: Connection) -> None:
            self.connected += 1
            if self.connected == 2:
                await connection.close()

    app = App()
    async with Simulator().serve(host="127.0.0.1", port=0) as base_url:
        target = faulty(openai("gpt-realtime", base_url=base_url), drop_after=1)
        with anyio.fail_after(10):
            await app.run_async(Recorder(target, path))
    assert app.metrics.reconnects == 1
    view = analyse(load(path))
    connections = [span for span in view.spans if span.lane == "connection"]
    assert [span.label.split(":")[0] for span in connections] == ["connection 1", "connection 2"]
    assert connections[0].end is not None
    assert connections[0].end <= connections[1].start
    labels = [mark.label for mark in view.marks if mark.lane == "connection"]
    assert "reconnect: connection 2" in labels
    assert any(label.startswith("closed 1006") for label in labels)


# --- scale and scrubbing ----------------------------------------------------------------------------


def synthetic(frames: int) -> list[str]:
    """A long voice session as a ``Recorder`` file, about 50 frames a second (200,000 frames: an hour): turns of
    2 s of user speech, then a response of 250 audio deltas (4,800 base64 characters each), one every 15 ms,
    with a transcript delta every fifth."""
    chunk = base64.b64encode(bytes(3600)).decode()
    lines: list[str] = []
    t = 0.0

    def add(direction: str, frame: dict[str, Any]) -> None:
        lines.append(json.dumps({"dir": direction, "connection": 1, "t": round(t, 6), "frame": frame}))

    add("connect", {"url": "wss://api.openai.com/v1/realtime?model=gpt-realtime", "headers": {}})
    n = 0
    while len(lines) < frames:
        n += 1
        rid, item = f"resp_{n}", f"item_{n}"
        add(
            "in",
            {"type": "input_audio_buffer.speech_started", "event_id": f"a{n}", "audio_start_ms": 0, "item_id": f"u{n}"},
        )
        t += 2.0
        add(
            "in",
            {
                "type": "input_audio_buffer.speech_stopped",
                "event_id": f"b{n}",
                "audio_end_ms": 2000,
                "item_id": f"u{n}",
            },
        )
        t += 0.3
        add(
            "in",
            {
                "type": "response.created",
                "event_id": f"c{n}",
                "response": {"id": rid, "conversation_id": "conv_1", "status": "in_progress"},
            },
        )
        for k in range(250):
            t += 0.015
            add(
                "in",
                {
                    "type": "response.output_audio.delta",
                    "event_id": f"d{n}.{k}",
                    "response_id": rid,
                    "item_id": item,
                    "output_index": 0,
                    "content_index": 0,
                    "delta": chunk,
                },
            )
            if k % 5 == 0:
                add(
                    "in",
                    {
                        "type": "response.output_audio_transcript.delta",
                        "event_id": f"e{n}.{k}",
                        "response_id": rid,
                        "item_id": item,
                        "output_index": 0,
                        "content_index": 0,
                        "delta": "word ",
                    },
                )
        add(
            "in",
            {
                "type": "response.output_audio.done",
                "event_id": f"f{n}",
                "response_id": rid,
                "item_id": item,
                "output_index": 0,
                "content_index": 0,
            },
        )
        usage = {
            "total_tokens": 100,
            "input_tokens": 40,
            "output_tokens": 60,
            "input_token_details": {"audio_tokens": 30, "text_tokens": 10, "cached_tokens": 0},
            "output_token_details": {"audio_tokens": 50, "text_tokens": 10},
        }
        add(
            "in",
            {
                "type": "response.done",
                "event_id": f"g{n}",
                "response": {"id": rid, "conversation_id": "conv_1", "status": "completed", "usage": usage},
            },
        )
    return lines[:frames]


def test_a_one_hour_session_of_200000_frames_makes_a_small_report() -> None:
    lines = synthetic(200_000)
    started = time.perf_counter()
    recorded = load(lines)
    loaded = time.perf_counter()
    view = analyse(recorded, source="hour.jsonl")
    analysed = time.perf_counter()
    size = len(json.dumps(view.to_json()))
    assert view.summary is not None
    print(
        f"\n200,000 frames ({view.summary.duration / 3600:.2f} h): load {loaded - started:.2f} s, "
        f"analyse {analysed - loaded:.2f} s, report JSON {size / 1e6:.2f} MB, {len(view.events)} events, "
        f"{len(view.spans)} spans, {len(view.turns)} turns"
    )
    assert analysed - loaded < 30  # generous: a few seconds here
    assert size < 4_000_000
    assert view.summary.frames == 199_999  # the connect line is not a frame
    assert 0.9 < view.summary.duration / 3600 < 1.3
    assert view.summary.voice_latency_p50 == pytest.approx(0.315)  # 0.3 s to the created, 15 ms to the first delta
    assert view.summary.response_latency_p50 is None  # nothing was sent: no response.create to time
    assert "<3600 bytes of audio>" in "".join(event.json for event in view.events)


def test_secrets_and_audio_never_reach_the_events() -> None:
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
    pcm = base64.b64encode(bytes(range(256)) * 20).decode()
    lines = [
        json.dumps(
            {
                "dir": "connect",
                "connection": 1,
                "t": 0.0,
                "frame": {
                    "url": f"wss://example.test/v1/realtime?model=gpt-realtime&api-key={key}",
                    "headers": {"Authorization": f"Bearer {key}", "api-key": key},
                },
            }
        ),
        json.dumps(
            {
                "dir": "out",
                "connection": 1,
                "t": 0.1,
                "frame": {
                    "type": "session.update",
                    "session": {"client_secret": {"value": "ek_abc123456789"}, "instructions": f"my key is {key}"},
                },
            }
        ),
        json.dumps(
            {"dir": "out", "connection": 1, "t": 0.2, "frame": {"type": "input_audio_buffer.append", "audio": pcm}}
        ),
        json.dumps(
            {
                "dir": "in",
                "connection": 1,
                "t": 0.3,
                "frame": {
                    "type": "response.output_audio.delta",
                    "response_id": "r",
                    "item_id": "i",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": pcm,
                },
            }
        ),
        json.dumps(
            {
                "dir": "in",
                "connection": 1,
                "t": 0.4,
                "frame": {
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": f"Incorrect API key provided: {key}"},
                },
            }
        ),
        f'{{"broken": "Authorization: Bearer {key}"',
    ]
    view = analyse(load(lines))
    shown = json.dumps(view.to_json())
    assert key not in shown
    assert "ek_abc123456789" not in shown
    assert pcm[:40] not in shown
    assert "<5120 bytes of audio>" in shown
    assert "<redacted>" in shown
    assert len(view.events) == 6
