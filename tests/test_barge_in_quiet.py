"""``on_barge_in`` runs only when there is something to interrupt: audio that may be playing, or a response."""

from __future__ import annotations

import base64

import anyio
import pytest
from conftest import serving, settle

from realtime_dispatch import Connection, Playback, RealtimeApp, events
from realtime_dispatch.transports import MemoryServer

pytestmark = pytest.mark.anyio

MS = 48  # bytes of PCM16 24 kHz mono per millisecond


class Player(RealtimeApp):
    barge_in = True

    def __init__(self) -> None:
        super().__init__()
        self.stopped = 0

    async def on_barge_in(self, connection: Connection) -> None:
        self.stopped += 1


def audio_delta(pcm_bytes: int, item_id: str = "item_a") -> events.ResponseOutputAudioDelta:
    data = base64.b64encode(bytes(pcm_bytes)).decode()
    return events.ResponseOutputAudioDelta.build(
        response_id="resp_1", item_id=item_id, output_index=0, content_index=0, delta=data
    )


def audio_done(item_id: str = "item_a") -> events.ResponseOutputAudioDone:
    return events.ResponseOutputAudioDone.build(response_id="resp_1", item_id=item_id, output_index=0, content_index=0)


def response_created() -> events.ResponseCreated:
    return events.ResponseCreated.build(response=events.Response(id="resp_1", conversation_id="conv_1"))


def response_done() -> events.ResponseDone:
    return events.ResponseDone.build(response=events.Response(id="resp_1", conversation_id="conv_1"))


def speech_started() -> events.InputAudioBufferSpeechStarted:
    return events.InputAudioBufferSpeechStarted.build(audio_start_ms=1200, item_id="item_user")


def playing(playback: Playback) -> bool:
    return playback.playing  # read through a call: mypy would narrow the property between asserts


async def nothing_sent(server: MemoryServer) -> None:
    with anyio.move_on_after(0.1):
        extra = await server.receive_event()
        pytest.fail(f"expected nothing, got {extra}")


async def test_speech_before_any_audio_does_not_call_on_barge_in() -> None:
    app = Player()
    async with serving(app) as server:
        await server.send_event(speech_started())
        await settle(app, server)
        await nothing_sent(server)
    assert app.stopped == 0


async def test_speech_while_a_response_is_active_still_barges_in() -> None:
    app = Player()
    async with serving(app) as server:
        await server.send_event(response_created())  # no audio yet, but the answer is on its way
        await server.send_event(speech_started())
        await settle(app, server)
    assert app.stopped == 1


async def test_audio_received_but_not_reported_played_counts_as_playing() -> None:
    app = Player()
    async with serving(app) as server:
        for frame in (response_created(), audio_delta(300 * MS), audio_done(), response_done()):
            await server.send_event(frame)
        await settle(app, server)
        assert playing(app.playback)  # the response is over, but its audio may sit in the output buffer
        await server.send_event(speech_started())
        await settle(app, server)
        assert app.stopped == 1
        assert not playing(app.playback)  # flushed at the interruption
        await server.send_event(speech_started())  # again, with nothing new: nothing to interrupt
        await settle(app, server)
    assert app.stopped == 1


async def test_audio_played_to_the_end_leaves_nothing_to_interrupt() -> None:
    app = Player()
    async with serving(app) as server:
        for frame in (response_created(), audio_delta(300 * MS), audio_done(), response_done()):
            await server.send_event(frame)
        await settle(app, server)
        app.playback.played("item_a", ms=300)
        await server.send_event(speech_started())
        await settle(app, server)
        await nothing_sent(server)
    assert app.stopped == 0


async def test_interrupt_with_nothing_playing_does_nothing() -> None:
    app = Player()
    async with serving(app) as server:
        await app.interrupt()
        await nothing_sent(server)
    assert app.stopped == 0


async def test_without_barge_in_interrupt_cannot_tell_and_always_calls_on_barge_in() -> None:
    class PushToTalk(Player):
        barge_in = False  # received audio is not counted: the app cannot know nothing plays

    app = PushToTalk()
    async with serving(app):
        await app.interrupt()
    assert app.stopped == 1


def test_playing_follows_the_counts() -> None:
    playback = Playback()
    assert not playing(playback)
    playback.on_audio_delta(audio_delta(100 * MS))
    assert playing(playback)  # still arriving
    playback.on_audio_done(audio_done())
    playback.played("item_a", ms=60)
    assert playing(playback)  # 40 ms left
    playback.played("item_a", ms=40)
    assert not playing(playback)  # heard to the end
    playback.on_audio_delta(audio_delta(100 * MS, "item_b"))
    assert playing(playback)
    assert playback.cut() is None  # nothing of item_b played: nothing to truncate, but the output is flushed
    assert not playing(playback)
    playback.server_playing = True  # SIP/WebRTC: the server plays it
    assert playing(playback)
    playback.reset()
    assert not playing(playback)
    playback.on_audio_delta(audio_delta(10 * MS, "item_b"))  # audio after an interruption plays again
    assert playing(playback)
