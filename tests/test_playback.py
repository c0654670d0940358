"""Barge-in: the playback tracker's arithmetic, and what the app sends when the user
interrupts (in memory, and over a real socket for a SIP/WebRTC sideband session)."""

from __future__ import annotations

import base64

import anyio
import pytest
from conftest import serving, settle

from realtime_dispatch import Connection, RealtimeApp, events, on, openai
from realtime_dispatch._playback import Cut, Playback
from realtime_dispatch.transports import MemoryServer, WebSocketTransport, serve_websocket

pytestmark = pytest.mark.anyio

MS = 48  # bytes of PCM16 24 kHz mono per millisecond


def audio_delta(pcm_bytes: int, item_id: str = "item_a", content_index: int = 0) -> events.ResponseOutputAudioDelta:
    data = base64.b64encode(bytes(pcm_bytes)).decode()
    return events.ResponseOutputAudioDelta.build(
        response_id="resp_1", item_id=item_id, output_index=0, content_index=content_index, delta=data
    )


def audio_done(item_id: str = "item_a") -> events.ResponseOutputAudioDone:
    return events.ResponseOutputAudioDone.build(response_id="resp_1", item_id=item_id, output_index=0, content_index=0)


def session_updated(**turn_detection: object) -> events.SessionUpdated:
    detection = events.TurnDetection(type="server_vad", **turn_detection)  # type: ignore[arg-type]
    audio = events.SessionAudio(input=events.AudioInput(turn_detection=detection))
    return events.SessionUpdated.build(session=events.Session(type="realtime", audio=audio))


def response_created() -> events.ResponseCreated:
    return events.ResponseCreated.build(response=events.Response(id="resp_1", conversation_id="conv_1"))


# --- the tracker ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 6, 7, 4800, 4801, 4802])
def test_received_audio_is_counted_from_the_base64_length_exactly(size: int) -> None:
    playback = Playback()
    playback.on_audio_delta(audio_delta(size))
    playback.on_audio_delta(audio_delta(size))
    assert playback.received_ms("item_a") == 2 * size / MS


def test_played_takes_milliseconds_or_bytes_and_accumulates() -> None:
    playback = Playback()
    playback.played("item_a", ms=100)
    playback.played("item_a", nbytes=50 * MS)
    assert playback.played_ms("item_a") == 150
    with pytest.raises(TypeError, match="one of them"):
        playback.played("item_a")
    with pytest.raises(TypeError, match="one of them"):
        playback.played("item_a", ms=1, nbytes=48)
    with pytest.raises(ValueError, match="negative"):
        playback.played("item_a", ms=-1)


def test_the_cut_is_at_the_played_position_and_only_once() -> None:
    playback = Playback()
    playback.on_audio_delta(audio_delta(1000 * MS, content_index=1))
    playback.played("item_a", ms=437.6)
    assert playback.cut() == Cut("item_a", 1, 437)
    assert playback.cut() is None


def test_the_cut_is_clamped_to_the_audio_received() -> None:
    playback = Playback()
    playback.on_audio_delta(audio_delta(300 * MS))
    playback.played("item_a", ms=450)  # an output that reports ahead of itself
    assert playback.cut() == Cut("item_a", 0, 300)


def test_nothing_played_or_everything_played_needs_no_cut() -> None:
    playback = Playback()
    assert playback.cut() is None
    playback.on_audio_delta(audio_delta(300 * MS))
    playback.played("item_a", ms=0)
    assert playback.cut() is None
    playback.on_audio_done(audio_done())
    playback.played("item_a", ms=300)
    assert playback.cut() is None  # heard to the end
    playback.on_audio_delta(audio_delta(300 * MS, item_id="item_b"))
    playback.played("item_b", ms=300)
    assert playback.cut() == Cut("item_b", 0, 300)  # more may still be coming: keep what was heard


def test_the_session_sets_the_output_rate_and_who_interrupts() -> None:
    playback = Playback()
    assert playback.server_interrupts
    ulaw = events.SessionAudio(output=events.AudioOutput(format=events.AudioFormat(type="audio/pcmu")))
    playback.on_session(events.SessionUpdated.build(session=events.Session(type="realtime", audio=ulaw)))
    playback.on_audio_delta(audio_delta(800))
    assert playback.received_ms("item_a") == 100  # 8 bytes per ms
    playback.on_session(session_updated(interrupt_response=False))
    assert not playback.server_interrupts
    playback.on_session(events.SessionUpdated.build(session=events.Session(type="realtime")))
    assert not playback.server_interrupts  # turn detection absent from the update: unchanged
    playback.on_session(session_updated())
    assert playback.server_interrupts
    off = events.SessionAudio(input=events.AudioInput(turn_detection=None))
    playback.on_session(events.SessionUpdated.build(session=events.Session(type="realtime", audio=off)))
    assert not playback.server_interrupts
    beta = events.Session(output_audio_format="g711_alaw", turn_detection=events.TurnDetection(type="server_vad"))
    playback.on_session(events.SessionUpdated.build(session=beta))
    assert playback.server_interrupts


def test_items_remembered_are_bounded() -> None:
    playback = Playback()
    for n in range(1000):
        playback.on_audio_delta(audio_delta(48, item_id=f"item_{n}"))
    assert len(playback._items) == 64
    assert playback.received_ms("item_999") == 1
    assert playback.received_ms("item_0") == 0


# --- the app --------------------------------------------------------------------------------------------


class Player(RealtimeApp):
    """Plays the audio it receives: reports each delta as played once handled."""

    barge_in = True

    def __init__(self) -> None:
        super().__init__()
        self.stopped = 0

    async def on_barge_in(self, connection: Connection) -> None:
        self.stopped += 1


async def next_sent(server: MemoryServer) -> events.ClientEvent:
    with anyio.fail_after(5):
        return await server.receive_event()


async def nothing_sent(server: MemoryServer) -> None:
    with anyio.move_on_after(0.1):
        extra = await server.receive_event()
        pytest.fail(f"expected nothing more, got {extra}")


async def speak_over(server: MemoryServer, *frames: events.ServerEvent) -> None:
    for frame in frames:
        await server.send_event(frame)
    await server.send_event(events.InputAudioBufferSpeechStarted.build(audio_start_ms=1200, item_id="item_user"))


async def test_barge_in_mid_response_truncates_at_the_played_position() -> None:
    app = Player()
    async with serving(app) as server:
        await server.send_event(response_created())
        for _ in range(10):
            await server.send_event(audio_delta(100 * MS))  # 1 s received
        await settle(app, server)
        app.playback.played("item_a", ms=437)
        await speak_over(server)
        truncate = await next_sent(server)
        assert isinstance(truncate, events.ConversationItemTruncate)
        assert (truncate.item_id, truncate.content_index, truncate.audio_end_ms) == ("item_a", 0, 437)
        await nothing_sent(server)  # server VAD cancels the response itself: no response.cancel
    assert app.stopped == 1


async def test_barge_in_before_anything_played_sends_nothing_but_stops_playback() -> None:
    app = Player()
    async with serving(app) as server:
        await speak_over(server, audio_delta(100 * MS))
        await nothing_sent(server)
    assert app.stopped == 1


async def test_when_the_server_does_not_interrupt_the_app_cancels_first() -> None:
    app = Player()
    async with serving(app) as server:
        await server.send_event(session_updated(interrupt_response=False))
        await server.send_event(response_created())
        await server.send_event(audio_delta(500 * MS))
        await settle(app, server)
        app.playback.played("item_a", ms=120)
        await speak_over(server)
        cancel = await next_sent(server)
        assert isinstance(cancel, events.ResponseCancel)
        truncate = await next_sent(server)
        assert isinstance(truncate, events.ConversationItemTruncate)
        assert truncate.audio_end_ms == 120


async def test_interrupt_is_push_to_talk_barge_in() -> None:
    app = Player()
    async with serving(app) as server:
        await server.send_event(response_created())
        await server.send_event(audio_delta(500 * MS))
        await settle(app, server)
        app.playback.played("item_a", ms=200)
        await app.interrupt()
        assert isinstance(await next_sent(server), events.ResponseCancel)
        truncate = await next_sent(server)
        assert isinstance(truncate, events.ConversationItemTruncate)
        assert truncate.audio_end_ms == 200
    assert app.stopped == 1


async def test_without_barge_in_speech_started_changes_nothing() -> None:
    class Quiet(Player):
        barge_in = False

    app = Quiet()
    async with serving(app) as server:
        await server.send_event(audio_delta(500 * MS))
        app.playback.played("item_a", ms=200)
        await speak_over(server)
        await nothing_sent(server)
    assert app.stopped == 0


async def test_a_sideband_call_clears_the_servers_output_instead_of_truncating() -> None:
    received: list[events.ClientEvent] = []
    got_clear = anyio.Event()

    async def call_server(transport: WebSocketTransport) -> None:
        await transport.send(events.encode(session_updated(interrupt_response=False)))
        await transport.send(events.encode(response_created()))
        await transport.send(events.encode(audio_delta(500 * MS)))
        await transport.send(events.encode(events.OutputAudioBufferStarted.build(response_id="resp_1")))
        await transport.send(events.encode(events.InputAudioBufferSpeechStarted.build(audio_start_ms=0, item_id="u")))
        try:
            while True:
                event = events.decode_client(await transport.receive())
                received.append(event)
                if isinstance(event, events.OutputAudioBufferClear):
                    got_clear.set()
        except Exception:
            return

    app = Player()
    app.playback.played("item_a", ms=100)  # even with playback reported, the server's audio is not ours to cut
    async with serve_websocket(call_server) as port:
        url = f"ws://127.0.0.1:{port}/v1/realtime?call_id=rtc_test123"
        async with app.connect(url):
            with anyio.fail_after(5):
                await got_clear.wait()
    assert [type(e) for e in received] == [events.ResponseCancel, events.OutputAudioBufferClear]
    assert app.stopped == 1


async def test_barge_in_end_to_end_against_the_simulators_vad() -> None:
    """The assistant speaks; the app reports 200 ms played; the user talks over it: the simulator's VAD
    sends speech_started, the app truncates at 200 ms, and the simulator confirms the truncation."""
    import math
    import struct

    from realtime_dispatch.audio import send_audio
    from realtime_dispatch.simulator import Simulator

    truncated: list[events.ConversationItemTruncated] = []
    audio_done = anyio.Event()
    confirmed = anyio.Event()

    class Voice(Player):
        session = events.Session(type="realtime", output_modalities=["audio"])

        @on("response.output_audio.done")
        def spoken(self, event: events.ResponseOutputAudioDone) -> None:
            self.item_id = event.item_id
            audio_done.set()

        @on("conversation.item.truncated")
        def cut(self, event: events.ConversationItemTruncated) -> None:
            truncated.append(event)
            confirmed.set()

    samples = 24 * 400
    speech = struct.pack(
        f"<{samples}h", *(round(8000 * math.sin(2 * math.pi * 440 * n / 24000)) for n in range(samples))
    )
    app = Voice()
    async with (
        Simulator().serve(host="127.0.0.1", port=0) as base_url,
        app.connect(openai("gpt-realtime", base_url=base_url)) as conn,
    ):
        await conn.create_item(events.ConversationItem.message("user", "Tell me a long story"))
        await conn.create_response()
        with anyio.fail_after(5):
            await audio_done.wait()
        assert app.playback.received_ms(app.item_id) > 200
        app.playback.played(app.item_id, ms=200)
        await send_audio(conn, speech, realtime=False)
        with anyio.fail_after(5):
            await confirmed.wait()
    assert [(t.item_id, t.audio_end_ms) for t in truncated] == [(app.item_id, 200)]
    assert app.stopped == 1


async def test_a_sideband_interrupt_does_not_clear_when_the_server_plays_nothing() -> None:
    received: list[events.ClientEvent] = []
    got_cancel = anyio.Event()

    async def call_server(transport: WebSocketTransport) -> None:
        await transport.send(events.encode(response_created()))
        await transport.send(events.encode(events.OutputAudioBufferStarted.build(response_id="resp_1")))
        await transport.send(events.encode(events.OutputAudioBufferStopped.build(response_id="resp_1")))
        try:
            while True:
                event = events.decode_client(await transport.receive())
                received.append(event)
                got_cancel.set()
        except Exception:
            return

    stopped = anyio.Event()

    class Watcher(Player):
        @on("output_audio_buffer.stopped")
        def stopped(self) -> None:
            stopped.set()

    app = Watcher()
    async with serve_websocket(call_server) as port:
        url = f"ws://127.0.0.1:{port}/v1/realtime?call_id=rtc_test123"
        async with app.connect(url):
            with anyio.fail_after(5):
                await stopped.wait()
            await app.interrupt()
            with anyio.fail_after(5):
                await got_cancel.wait()
            await anyio.sleep(0.05)
    assert [type(e) for e in received] == [events.ResponseCancel]


async def test_interrupt_without_barge_in_does_not_truncate_at_zero() -> None:
    class PushToTalk(RealtimeApp):  # barge_in off: received audio is not counted
        pass

    app = PushToTalk()
    async with serving(app) as server:
        await server.send_event(response_created())
        await server.send_event(audio_delta(500 * MS))
        await settle(app, server)
        app.playback.played("item_a", ms=200)
        await app.interrupt()
        assert isinstance(await next_sent(server), events.ResponseCancel)
        await nothing_sent(server)  # no truncate: without counts of what arrived there is no safe position
