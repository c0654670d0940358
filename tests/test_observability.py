"""Observability: metrics, DEBUG tracing with audio and secrets redacted, raw frame taps."""

from __future__ import annotations

import base64
import json
import logging

import anyio
import pytest
from conftest import serving, settle

from realtime_dispatch import Connection, RealtimeApp, events, on, openai
from realtime_dispatch._metrics import Latency, Metrics
from realtime_dispatch._trace import describe

pytestmark = pytest.mark.anyio


def created(rid: str) -> events.ResponseCreated:
    return events.ResponseCreated.build(response=events.Response(id=rid, conversation_id="conv_1"))


def done(rid: str, **usage: int) -> events.ResponseDone:
    return events.ResponseDone.build(
        response=events.Response(id=rid, status="completed", conversation_id="conv_1", usage=events.Usage(**usage))
    )


def text_delta(rid: str) -> events.ResponseOutputTextDelta:
    return events.ResponseOutputTextDelta.build(response_id=rid, delta="hi")


def audio_delta(rid: str) -> events.ResponseOutputAudioDelta:
    return events.ResponseOutputAudioDelta.build(response_id=rid, delta=base64.b64encode(bytes(480)).decode())


class Counted(RealtimeApp):
    collect_metrics = True

    @on("response.output_text.delta")
    def text(self, event: events.ResponseOutputTextDelta) -> None:
        pass

    @on("response.done")
    def fail(self) -> None:
        raise RuntimeError("deliberate")


async def test_metrics_count_events_sends_errors_usage_and_handler_time(caplog: pytest.LogCaptureFixture) -> None:
    app = Counted()
    with caplog.at_level(logging.CRITICAL):
        async with serving(app) as server:
            await app.connection.create_response()
            assert isinstance(await server.receive_event(), events.ResponseCreate)
            await server.send_event(created("r1"))
            await anyio.sleep(0.01)
            for _ in range(3):
                await server.send_event(text_delta("r1"))
            await server.send_event(done("r1", input_tokens=10, output_tokens=5, total_tokens=15))
            await server.send_raw(b'{"type": "response.done", "response": 7}')  # a bad frame
            await server.send_raw(b'{"type": "brand.new.event"}')
            await settle(app, server)
    m = app.metrics
    assert m.events["response.output_text.delta"] == 3
    assert m.events["response.created"] == 1
    assert m.events["brand.new.event"] == 1  # unknown types are counted too
    assert m.sent == {"response.create": 1}
    assert m.decode_errors == 1
    assert m.handler_errors == 1
    assert m.connects == 1
    assert m.usage == {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    assert m.responses == {"completed": 1}
    text = m.handlers["test_observability.Counted.text"]
    assert text.calls == 3
    assert text.errors == 0
    assert text.max >= 0
    assert m.handlers["test_observability.Counted.fail"].errors == 1
    assert m.response_latency.count == 1
    latency = m.response_latency.mean
    assert latency is not None
    assert latency >= 0.01  # sent -> first delta, which came 10 ms after the create
    snapshot = m.snapshot()
    json.dumps(snapshot)  # exportable as is
    assert snapshot["gauges"] == {"pending_sends": 0, "dropped_sends": 0, "background_tasks": 0, "background_waits": 0}


async def test_voice_latency_runs_from_speech_stopped_to_the_first_audio() -> None:
    app = Counted()
    async with serving(app) as server:
        await server.send_event(events.InputAudioBufferSpeechStopped.build(audio_end_ms=900, item_id="u1"))
        await settle(app, server)
        await anyio.sleep(0.02)
        await server.send_event(created("r1"))
        await server.send_event(audio_delta("r1"))
        await server.send_event(audio_delta("r1"))
        await settle(app, server)
    assert app.metrics.voice_latency.count == 1
    assert (app.metrics.voice_latency.mean or 0) >= 0.02


async def test_without_collect_metrics_nothing_is_counted() -> None:
    class Plain(RealtimeApp):
        @on("response.output_text.delta")
        def text(self) -> None:
            pass

    app = Plain()
    async with serving(app) as server:
        await server.send_event(text_delta("r1"))
        await settle(app, server)
    with pytest.warns(RuntimeWarning, match="collect_metrics"):
        metrics = app.metrics
    assert metrics.snapshot()["events"] == {}
    assert metrics.handlers == {}


def test_latency_percentiles_over_a_bounded_window() -> None:
    latency = Latency(window=100)
    assert latency.percentile(50) is None
    assert latency.snapshot()["max"] is None
    for ms in range(1, 1001):
        latency.record(ms / 1000)
    assert latency.count == 1000
    assert latency.percentile(50) == pytest.approx(0.951)  # the last 100 samples only
    assert latency.percentile(99) == pytest.approx(1.0)
    assert latency.max == 1.0


def test_usage_totals_include_the_token_details() -> None:
    metrics = Metrics()
    usage = events.Usage(
        input_tokens=30,
        output_tokens=20,
        total_tokens=50,
        input_token_details=events.InputTokenDetails(text_tokens=10, audio_tokens=20, cached_tokens=5),
        output_token_details=events.OutputTokenDetails(text_tokens=5, audio_tokens=15),
    )
    for _ in range(2):
        metrics.observe(events.ResponseDone.build(response=events.Response(id="r", status="completed", usage=usage)))
    assert metrics.usage["input_audio_tokens"] == 40
    assert metrics.usage["input_cached_tokens"] == 10
    assert metrics.usage["output_audio_tokens"] == 30
    assert metrics.usage["total_tokens"] == 100


# --- tracing ---------------------------------------------------------------------------------------------


def test_describe_leaves_audio_and_secrets_out() -> None:
    pcm = bytes(4800)
    line = describe(events.InputAudioBufferAppend.from_pcm(pcm))
    assert "4800 bytes of audio" in line
    assert base64.b64encode(pcm).decode()[:40] not in line
    transcript = describe(events.ResponseOutputAudioTranscriptDelta.build(delta="hello there"))
    assert "'hello there'" in transcript  # a transcript is text, not audio
    secret = events.ClientSecret(value="ek_live_secret_value")
    session = events.Session(client_secret=secret, instructions="x" * 500)
    line = describe(events.SessionUpdated.build(session=session))
    assert "ek_live_secret_value" not in line
    assert len(line) < 400


async def test_debug_tracing_logs_every_event_both_ways(caplog: pytest.LogCaptureFixture) -> None:
    class Echo(RealtimeApp):
        @on("response.output_text.delta")
        def text(self) -> None:
            pass

    app = Echo()
    with caplog.at_level(logging.DEBUG, "realtime_dispatch.trace"):
        async with serving(app) as server:
            await app.connection.append_audio(bytes(960))
            await server.send_event(text_delta("r1"))
            await settle(app, server)
    lines = [r.getMessage() for r in caplog.records if r.name == "realtime_dispatch.trace"]
    assert any(line.startswith("sending input_audio_buffer.append") and "960 bytes of audio" in line for line in lines)
    assert any(line.startswith("received response.output_text.delta") and "delta='hi'" in line for line in lines)


# --- taps --------------------------------------------------------------------------------------------------


async def test_frame_taps_see_raw_frames_both_ways_including_bad_ones(caplog: pytest.LogCaptureFixture) -> None:
    frames: list[tuple[str, bytes]] = []

    def tap(direction: str, frame: bytes) -> None:
        frames.append((direction, frame))

    def broken(direction: str, frame: bytes) -> None:
        raise ValueError("tap bug")

    class Quiet(RealtimeApp):
        session = events.Session(type="realtime", instructions="hi")

    app = Quiet()
    app.add_frame_tap(tap)
    app.add_frame_tap(broken)
    with caplog.at_level(logging.CRITICAL):
        async with serving(app) as server:
            await server.receive_event()
            await server.send_raw(b"not json")
            await settle(app, server)
    assert frames[0][0] == "out"
    assert json.loads(frames[0][1])["type"] == "session.update"
    assert ("in", b"not json") in frames
    assert frames[-1][0] == "in"


async def test_taps_cannot_be_added_while_running() -> None:
    app = RealtimeApp()
    async with serving(app):
        with pytest.raises(RuntimeError, match="while the app is running"):
            app.add_frame_tap(lambda direction, frame: None)


async def test_metrics_count_reconnects_over_real_sockets() -> None:
    from realtime_dispatch.simulator import Simulator
    from realtime_dispatch.testing import faulty

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
            await app.run_async(target)
    assert app.metrics.connects == 2
    assert app.metrics.reconnects == 1


async def test_taps_see_every_frame_over_a_socket_where_frames_arrive_in_batches() -> None:
    from realtime_dispatch.transports import WebSocketTransport, serve_websocket

    frames = [events.encode(text_delta(f"r{n}")) for n in range(50)]

    async def burst(transport: WebSocketTransport) -> None:
        for frame in frames:
            transport._protocol.send_text(frame)
        await transport._flush()  # one write: the client buffers them and takes them without awaiting
        await transport.close()

    seen: list[bytes] = []
    handled: list[str] = []

    class App(RealtimeApp):
        @on("response.output_text.delta")
        def text(self, event: events.ResponseOutputTextDelta) -> None:
            handled.append(event.response_id)

    app = App()
    app.add_frame_tap(lambda direction, frame: seen.append(frame) if direction == "in" else None)
    async with serve_websocket(burst) as port:
        with anyio.fail_after(5):
            await app.run_async(f"ws://127.0.0.1:{port}/v1/realtime")
    assert seen == frames
    assert handled == [f"r{n}" for n in range(50)]


async def test_metrics_keys_are_bounded_and_requests_do_not_outlive_their_session() -> None:
    metrics = Metrics()
    for n in range(1000):
        metrics.observe(events.UnknownEvent(type=f"invented.{n}", raw=b"{}"))
        metrics.observe(events.ResponseDone.build(response=events.Response(id="r", status=f"status{n}")))
    assert len(metrics.events) <= 257
    assert metrics.events["other"] > 0
    assert len(metrics.responses) <= 257
    metrics.observe_sent(events.ResponseCreate(event_id="e1"))
    metrics.session_ended()
    metrics.observe(events.ResponseCreated.build(response=events.Response(id="r2", conversation_id="c")))
    metrics.observe(events.ResponseOutputTextDelta.build(response_id="r2", delta="x"))
    assert metrics.response_latency.count == 0


def test_traces_redact_mcp_headers_and_show_transcription_text() -> None:
    tool = events.Tool(type="mcp", server_label="x", headers={"X-API-Key": "k1", "api-key": "k2", "Other": "k3"})
    line = describe(events.SessionUpdate(session=events.Session(type="realtime", tools=[tool])))
    assert "k1" not in line
    assert "k2" not in line
    assert "k3" not in line
    line = describe(events.InputAudioTranscriptionDelta.build(delta="hello world"))
    assert "'hello world'" in line
