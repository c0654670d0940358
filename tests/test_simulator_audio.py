"""The simulator's audio input (server VAD, input transcription), call sidebands and the beta protocol.

Real sockets on 127.0.0.1, asyncio and trio. Every frame a test receives is also validated
with the official SDK's models (GA or beta) when the client disconnects.
"""

from __future__ import annotations

import math
import struct
import typing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msgspec
import pydantic
import pytest

from realtime_dispatch import events
from realtime_dispatch.simulator import EchoResponder, Reply, Responder, Simulator
from realtime_dispatch.simulator._audio import describe_audio, is_speech, rms
from realtime_dispatch.transports import WebSocketTransport, connect_websocket

pytestmark = pytest.mark.anyio

BETA = {"OpenAI-Beta": "realtime=v1"}


def tone(ms: int, amplitude: int = 8000) -> bytes:
    """``ms`` of a 440 Hz sine, PCM16 24 kHz: loud enough for the default VAD threshold."""
    samples = 24 * ms
    return struct.pack(f"<{samples}h", *(round(amplitude * math.sin(2 * math.pi * 440 * n / 24000))
                                          for n in range(samples)))  # fmt: skip


def silence(ms: int) -> bytes:
    return bytes(48 * ms)


def sdk_models(beta: bool) -> dict[str, type[pydantic.BaseModel]]:
    """The SDK's server event models (GA or beta) by wire type."""
    if beta:
        from openai.types.beta.realtime import RealtimeServerEvent as union
    else:
        from openai.types.realtime import RealtimeServerEvent as union
    members = typing.get_args(typing.get_args(union)[0])
    return {typing.get_args(member.model_fields["type"].annotation)[0]: member for member in members}


class Client:
    """One connection; keeps every raw frame so the test can check them against the SDK."""

    def __init__(self, transport: WebSocketTransport) -> None:
        self.transport = transport
        self.frames: list[bytes] = []

    async def receive(self) -> events.ServerEvent:
        with anyio.fail_after(5):
            frame = await self.transport.receive()
        self.frames.append(frame)
        return events.decode(frame)

    async def send(self, event: events.ClientEvent) -> None:
        await self.transport.send(events.encode(event))

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self.transport.send(msgspec.json.encode(payload))

    async def until(self, event_type: str) -> list[events.ServerEvent]:
        received: list[events.ServerEvent] = []
        while True:
            event = await self.receive()
            received.append(event)
            if event.type == event_type:
                return received

    async def rest(self) -> list[events.ServerEvent]:
        """Everything the server sends before it answers a marker request (a failing retrieve)."""
        await self.send(events.ConversationItemRetrieve(item_id="item_marker", event_id="evt_marker"))
        received: list[events.ServerEvent] = []
        while True:
            event = await self.receive()
            if isinstance(event, events.ErrorEvent) and event.error.event_id == "evt_marker":
                return received
            received.append(event)

    async def append(self, pcm: bytes, chunk_ms: int = 40) -> None:
        """Append like a microphone does: in small chunks."""
        step = 48 * chunk_ms
        for start in range(0, len(pcm), step):
            await self.send(events.InputAudioBufferAppend.from_pcm(pcm[start : start + step]))

    async def update(self, **session: Any) -> events.Session:
        await self.send_json({"type": "session.update", "session": {"type": "realtime", **session}})
        updated = await self.receive()
        assert isinstance(updated, events.SessionUpdated), updated
        return updated.session


@asynccontextmanager
async def connected(
    responder: Responder | None = None, *, query: str = "model=test-model", headers: dict[str, str] | None = None,
    **options: Any,
) -> AsyncIterator[Client]:  # fmt: skip
    async with Simulator(responder=responder, **options).serve(host="127.0.0.1", port=0) as base_url:
        transport = await connect_websocket(f"{base_url}/realtime?{query}", headers)
        client = Client(transport)
        try:
            created = await client.receive()
            assert isinstance(created, events.SessionCreated)
            yield client
        finally:
            await transport.close()
    models = sdk_models(beta=headers == BETA)
    for frame in client.frames:
        event_type = msgspec.json.decode(frame)["type"]
        models[event_type].model_validate_json(frame)  # raises on any frame the SDK's models reject


class LongResponder:
    async def respond(self, conversation: list[events.ConversationItem], session: events.Session) -> Reply:
        return Reply(text=" ".join(f"word{n}" for n in range(300)))


class NamedTranscriber(EchoResponder):
    async def transcribe(self, pcm: bytes) -> str:
        return f"hello from {len(pcm) // 48} ms"


class BrokenTranscriber(EchoResponder):
    async def transcribe(self, pcm: bytes) -> str:
        raise RuntimeError("no speech model here")


def types_of(received: list[events.ServerEvent]) -> list[str]:
    return [event.type for event in received]


# --- the energy detector itself -----------------------------------------------------------------


def test_energy_detector_thresholds() -> None:
    assert rms(b"") == 0.0
    assert rms(silence(10)) == 0.0
    assert rms(struct.pack("<4h", 1000, -1000, 1000, -1000)) == 1000.0
    loud = tone(10)
    assert 5000 < rms(loud) < 6000  # about 8000 / sqrt(2)
    assert is_speech(loud, 0.5)
    assert is_speech(loud, 1.0)
    assert not is_speech(tone(10, amplitude=4000), 1.0)  # 1.0 needs an RMS above 10 % of full scale
    assert not is_speech(tone(10, amplitude=1000), 0.5)
    assert not is_speech(silence(10), 0.0)
    assert describe_audio(silence(2400)) == "(2.4 s of audio)"


# --- server VAD ---------------------------------------------------------------------------------


async def test_speech_then_silence_commits_a_turn_and_answers_it() -> None:
    async with connected() as client:
        await client.update(output_modalities=["text"])
        await client.append(silence(500) + tone(1000) + silence(1000))
        received = await client.until("response.done")
        assert types_of(received)[:7] == [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
            "response.created",
            "response.output_item.added",
        ]
        started, stopped, committed, added, done = received[:5]
        assert isinstance(started, events.InputAudioBufferSpeechStarted)
        assert isinstance(stopped, events.InputAudioBufferSpeechStopped)
        assert isinstance(committed, events.InputAudioBufferCommitted)
        assert isinstance(added, events.ConversationItemAdded)
        assert isinstance(done, events.ConversationItemDone)
        assert started.audio_start_ms == 200  # speech at 500 ms, less the 300 ms prefix padding
        assert stopped.audio_end_ms == 1700  # speech ends at 1500 ms, plus 200 ms of silence
        assert started.item_id == stopped.item_id == committed.item_id == added.item.id == done.item.id
        assert committed.previous_item_id is None
        assert added.item.content == [events.ContentPart(type="input_audio")]
        response_done = received[-1]
        assert isinstance(response_done, events.ResponseDone)
        assert response_done.response.status == "completed"
        assert response_done.response.output is not None
        assert response_done.response.output[0].content == [
            events.ContentPart(type="output_text", text="You said: (1500 ms of audio)")
        ]
        assert isinstance(await client.receive(), events.RateLimitsUpdated)

        await client.send(events.ConversationItemRetrieve(item_id=committed.item_id))
        retrieved = await client.receive()
        assert isinstance(retrieved, events.ConversationItemRetrieved)
        assert retrieved.item.content is not None
        assert retrieved.item.content[0].pcm == silence(300) + tone(1000) + silence(200)

        # The clock is all audio appended this session; the second turn follows the first answer.
        await client.append(silence(300) + tone(500) + silence(300))
        received = await client.until("response.done")
        started, stopped, committed = received[:3]
        assert isinstance(started, events.InputAudioBufferSpeechStarted)
        assert isinstance(stopped, events.InputAudioBufferSpeechStopped)
        assert isinstance(committed, events.InputAudioBufferCommitted)
        assert (started.audio_start_ms, stopped.audio_end_ms) == (2500, 3500)
        assert committed.previous_item_id == response_done.response.output[0].id
        assert isinstance(await client.receive(), events.RateLimitsUpdated)


async def test_vad_settings_threshold_padding_and_silence() -> None:
    async with connected() as client:
        session = await client.update(audio={"input": {"turn_detection": {
            "type": "server_vad", "threshold": 0.2, "prefix_padding_ms": 100, "silence_duration_ms": 400,
            "create_response": False}}})  # fmt: skip
        assert session.audio is not None
        assert session.audio.input is not None
        assert session.audio.input.turn_detection == events.TurnDetection(
            type="server_vad", threshold=0.2, prefix_padding_ms=100, silence_duration_ms=400,
            create_response=False, interrupt_response=True,
        )  # fmt: skip
        quiet = tone(600, amplitude=1000)  # RMS about 700: speech at 0.2 (above 655), not at 0.5
        await client.append(silence(1000) + quiet + silence(300))
        received = await client.rest()
        assert types_of(received) == ["input_audio_buffer.speech_started"]  # 300 ms of silence is not yet 400
        await client.append(silence(100))
        received += await client.rest()
        assert types_of(received) == [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
        ]  # and no response: create_response is false
        started, stopped = received[:2]
        assert isinstance(started, events.InputAudioBufferSpeechStarted)
        assert isinstance(stopped, events.InputAudioBufferSpeechStopped)
        assert (started.audio_start_ms, stopped.audio_end_ms) == (900, 2000)


async def test_speech_during_a_response_cancels_it_as_turn_detected() -> None:
    async with connected(LongResponder(), delta_delay=0.005) as client:
        await client.update(output_modalities=["text"])
        await client.send(events.ConversationItemCreate(item=events.ConversationItem.message("user", "go")))
        await client.send(events.ResponseCreate())
        first = await client.until("response.output_text.delta")
        created = next(event for event in first if isinstance(event, events.ResponseCreated))
        await client.append(tone(100))
        received = await client.until("response.done")
        started = next(event for event in received if isinstance(event, events.InputAudioBufferSpeechStarted))
        assert started.audio_start_ms == 0
        done = received[-1]
        assert isinstance(done, events.ResponseDone)
        assert done.response.id == created.response.id
        assert done.response.status == "cancelled"
        assert done.response.status_details == events.ResponseStatus(type="cancelled", reason="turn_detected")
        assert isinstance(await client.receive(), events.RateLimitsUpdated)

        await client.append(silence(300))
        received = await client.until("response.created")
        assert types_of(received) == [
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
            "response.created",
        ]
        await client.send(events.ResponseCancel())
        await client.until("response.done")


async def test_interrupt_response_false_lets_the_response_finish() -> None:
    async with connected(LongResponder(), delta_delay=0.002) as client:
        await client.update(output_modalities=["text"], audio={"input": {"turn_detection": {
            "type": "server_vad", "interrupt_response": False}}})  # fmt: skip
        await client.send(events.ConversationItemCreate(item=events.ConversationItem.message("user", "go")))
        await client.send(events.ResponseCreate())
        await client.until("response.output_text.delta")
        await client.append(tone(100) + silence(200))
        received = await client.until("response.done")
        types = types_of(received)
        for expected in ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                         "input_audio_buffer.committed"):  # fmt: skip
            assert expected in types
        done = received[-1]
        assert isinstance(done, events.ResponseDone)
        assert done.response.status == "completed"
        assert done.response.status_details is None
        # The turn was committed while the response ran, so no second response starts for it.
        assert "response.created" not in types_of(await client.rest())


async def test_semantic_vad_null_and_invalid_turn_detection() -> None:
    async with connected() as client:
        session = await client.update(audio={"input": {"turn_detection": {"type": "semantic_vad"}}})
        assert session.audio is not None
        assert session.audio.input is not None
        assert session.audio.input.turn_detection == events.TurnDetection(
            type="semantic_vad", eagerness="auto", create_response=True, interrupt_response=True
        )
        await client.update(output_modalities=["text"])
        await client.append(tone(200) + silence(500))
        received = await client.until("response.done")
        stopped = received[1]
        assert isinstance(stopped, events.InputAudioBufferSpeechStopped)
        assert stopped.audio_end_ms == 700  # semantic_vad at eagerness auto waits 500 ms
        assert isinstance(await client.receive(), events.RateLimitsUpdated)

        await client.send_json({"type": "session.update", "event_id": "evt_bad",
                                "session": {"type": "realtime", "audio": {"input": {"turn_detection": {
                                    "type": "push_to_talk"}}}}})  # fmt: skip
        error = await client.receive()
        assert isinstance(error, events.ErrorEvent)
        assert error.error.event_id == "evt_bad"
        assert error.error.param == "session.audio.input.turn_detection.type"

        session = await client.update(audio={"input": {"turn_detection": None}})
        assert session.audio is not None
        assert session.audio.input is not None
        assert session.audio.input.turn_detection is None
        await client.append(tone(300) + silence(1000))
        assert await client.rest() == []  # manual turns: nothing until commit
        await client.send(events.InputAudioBufferCommit())
        committed = await client.receive()
        assert isinstance(committed, events.InputAudioBufferCommitted)
        await client.send(events.ConversationItemRetrieve(item_id=committed.item_id))
        received = await client.until("conversation.item.retrieved")
        retrieved = received[-1]
        assert isinstance(retrieved, events.ConversationItemRetrieved)
        assert retrieved.item.content is not None
        assert retrieved.item.content[0].pcm == tone(300) + silence(1000)


# --- input audio transcription ---------------------------------------------------------------


async def test_transcription_streams_inside_the_vad_response() -> None:
    async with connected() as client:
        await client.update(output_modalities=["text"],
                            audio={"input": {"transcription": {"model": "gpt-4o-transcribe"}}})  # fmt: skip
        await client.append(tone(1000) + silence(500))
        received = await client.until("response.done")
        assert types_of(received) == [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
            "response.created",
            *["conversation.item.input_audio_transcription.delta"] * 4,
            "conversation.item.input_audio_transcription.completed",
            "response.output_item.added",
            "conversation.item.added",
            "response.content_part.added",
            *["response.output_text.delta"] * 6,
            "response.output_text.done",
            "response.content_part.done",
            "conversation.item.done",
            "response.output_item.done",
            "response.done",
        ]
        committed = received[2]
        assert isinstance(committed, events.InputAudioBufferCommitted)
        deltas = [event for event in received if isinstance(event, events.InputAudioTranscriptionDelta)]
        assert [delta.delta for delta in deltas] == ["(1.2", " s", " of", " audio)"]
        assert {(delta.item_id, delta.content_index) for delta in deltas} == {(committed.item_id, 0)}
        completed = received[10]
        assert isinstance(completed, events.InputAudioTranscriptionCompleted)
        assert (completed.item_id, completed.content_index) == (committed.item_id, 0)
        assert completed.transcript == "(1.2 s of audio)"  # speech to the end of 200 ms of silence
        assert completed.usage == events.TranscriptionTokenUsage(
            input_tokens=12, output_tokens=4, total_tokens=16,
            input_token_details=events.TranscriptionTokenDetails(text_tokens=0, audio_tokens=12),
        )  # fmt: skip
        text_done = next(event for event in received if isinstance(event, events.ResponseOutputTextDone))
        assert text_done.text == "You said: (1.2 s of audio)"  # the responder sees the transcript
        assert isinstance(await client.receive(), events.RateLimitsUpdated)
        await client.send(events.ConversationItemRetrieve(item_id=committed.item_id))
        retrieved = await client.receive()
        assert isinstance(retrieved, events.ConversationItemRetrieved)
        assert retrieved.item.content is not None
        assert retrieved.item.content[0].transcript == "(1.2 s of audio)"


async def test_manual_commit_whisper_and_a_custom_transcriber() -> None:
    async with connected(NamedTranscriber()) as client:
        await client.update(output_modalities=["text"], audio={"input": {
            "turn_detection": None, "transcription": {"model": "whisper-1"}}})  # fmt: skip
        await client.append(tone(2000))
        await client.send(events.InputAudioBufferCommit())
        received = await client.rest()
        assert types_of(received) == [
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
            "conversation.item.input_audio_transcription.completed",  # whisper-1 sends no deltas
        ]
        committed, completed = received[0], received[-1]
        assert isinstance(committed, events.InputAudioBufferCommitted)
        assert isinstance(completed, events.InputAudioTranscriptionCompleted)
        assert completed.item_id == committed.item_id
        assert completed.transcript == "hello from 2000 ms"
        assert completed.usage == events.TranscriptionDurationUsage(seconds=2)
        await client.send(events.ResponseCreate())
        received = await client.until("response.done")
        text_done = next(event for event in received if isinstance(event, events.ResponseOutputTextDone))
        assert text_done.text == "You said: hello from 2000 ms"


async def test_a_failing_transcriber_sends_transcription_failed() -> None:
    async with connected(BrokenTranscriber()) as client:
        await client.update(audio={"input": {"turn_detection": None, "transcription": {"model": "whisper-1"}}})
        await client.append(tone(200))
        await client.send(events.InputAudioBufferCommit())
        received = await client.rest()
        assert types_of(received)[-1] == "conversation.item.input_audio_transcription.failed"
        committed, failed = received[0], received[-1]
        assert isinstance(committed, events.InputAudioBufferCommitted)
        assert isinstance(failed, events.InputAudioTranscriptionFailed)
        assert failed.item_id == committed.item_id
        assert failed.error.message == "no speech model here"


# --- output audio buffer on a call sideband ----------------------------------------------------


async def test_call_sideband_plays_audio_through_the_output_buffer() -> None:
    async with connected(query="call_id=rtc_test123") as client:
        await client.send(events.ConversationItemCreate(item=events.ConversationItem.message("user", "hi")))
        await client.send(events.ResponseCreate())
        received = await client.until("response.done")
        received += [await client.receive(), await client.receive()]
        types = types_of(received)
        assert "response.output_audio.delta" not in types  # the audio goes to the call
        assert "response.output_audio_transcript.delta" in types
        assert types.index("output_audio_buffer.started") == types.index("response.content_part.added") + 1
        assert types[-3:] == ["response.done", "rate_limits.updated", "output_audio_buffer.stopped"]
        done = received[-3]
        assert isinstance(done, events.ResponseDone)
        for event in (received[types.index("output_audio_buffer.started")], received[-1]):
            assert isinstance(event, (events.OutputAudioBufferStarted, events.OutputAudioBufferStopped))
            assert event.response_id == done.response.id

        await client.send(events.OutputAudioBufferClear())
        cleared = await client.receive()
        assert isinstance(cleared, events.OutputAudioBufferCleared)
        assert cleared.response_id == done.response.id


async def test_call_sideband_clears_the_output_buffer_on_barge_in() -> None:
    async with connected(LongResponder(), query="call_id=rtc_test123", delta_delay=0.005) as client:
        await client.send(events.OutputAudioBufferClear(event_id="evt_nothing"))
        error = await client.receive()
        assert isinstance(error, events.ErrorEvent)
        assert error.error.event_id == "evt_nothing"
        await client.send(events.ConversationItemCreate(item=events.ConversationItem.message("user", "go")))
        await client.send(events.ResponseCreate())
        await client.until("output_audio_buffer.started")
        await client.append(tone(100))
        received = await client.until("response.done")
        received += [await client.receive(), await client.receive()]
        assert types_of(received)[-3:] == ["response.done", "rate_limits.updated", "output_audio_buffer.cleared"]
        done = received[-3]
        assert isinstance(done, events.ResponseDone)
        assert done.response.status_details == events.ResponseStatus(type="cancelled", reason="turn_detected")

        await client.send(events.ConversationItemCreate(item=events.ConversationItem.message("user", "again")))
        await client.send(events.ResponseCreate())
        started = (await client.until("output_audio_buffer.started"))[-1]
        assert isinstance(started, events.OutputAudioBufferStarted)
        await client.send(events.OutputAudioBufferClear())
        cleared = (await client.until("output_audio_buffer.cleared"))[-1]
        assert isinstance(cleared, events.OutputAudioBufferCleared)
        assert cleared.response_id == started.response_id
        await client.send(events.ResponseCancel())
        await client.until("response.done")
        after = await client.rest()
        assert "output_audio_buffer.stopped" not in types_of(after)  # cleared ended its playout


async def test_output_audio_buffer_needs_a_call() -> None:
    async with connected() as client:
        await client.send(events.OutputAudioBufferClear(event_id="evt_clear"))
        error = await client.receive()
        assert isinstance(error, events.ErrorEvent)
        assert error.error.event_id == "evt_clear"
        assert error.error.param == "type"
        await client.send(events.ConversationItemCreate(item=events.ConversationItem.message("user", "hi")))
        await client.send(events.ResponseCreate())
        received = await client.until("response.done")
        received += await client.rest()
        types = types_of(received)
        assert "response.output_audio.delta" in types
        assert not [name for name in types if name.startswith("output_audio_buffer.")]


# --- the beta protocol ---------------------------------------------------------------------


async def test_beta_header_speaks_the_beta_protocol() -> None:
    async with connected(query="model=gpt-4o-realtime-preview", headers=BETA) as client:
        created = client.frames[0]
        session = msgspec.json.decode(created)["session"]
        assert "audio" not in session
        assert "type" not in session
        assert session["modalities"] == ["audio", "text"]
        assert (session["input_audio_format"], session["output_audio_format"]) == ("pcm16", "pcm16")
        assert session["turn_detection"]["type"] == "server_vad"
        assert session["voice"] == "alloy"

        # A beta session.update is flat and needs no session.type.
        await client.send_json({"type": "session.update", "session": {
            "modalities": ["text"], "input_audio_transcription": {"model": "whisper-1"}}})  # fmt: skip
        updated = await client.receive()
        assert isinstance(updated, events.SessionUpdated)
        assert updated.session.modalities == ["text"]
        assert updated.session.input_audio_transcription == events.AudioTranscription(model="whisper-1")
        assert updated.session.audio is None

        await client.send(events.ConversationItemCreate(item=events.ConversationItem.message("user", "hello there")))
        item_created = await client.receive()
        assert isinstance(item_created, events.ConversationItemCreated)  # and no .added/.done
        assert item_created.item.object == "realtime.item"
        await client.send(events.ResponseCreate())
        received = await client.until("response.done")
        assert types_of(received) == [
            "response.created",
            "response.output_item.added",
            "conversation.item.created",
            "response.content_part.added",
            *["response.text.delta"] * 4,
            "response.text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.done",
        ]
        done = received[-1]
        assert isinstance(done, events.ResponseDone)
        assert done.response.modalities == ["text"]
        assert done.response.output_modalities is None
        assert done.response.output is not None
        assert done.response.output[0].content == [events.ContentPart(type="text", text="You said: hello there")]
        await client.receive()  # rate_limits.updated

        # Audio out, beta names; and a spoken turn through the VAD, transcribed.
        await client.send_json({"type": "response.create", "response": {"modalities": ["audio", "text"]}})
        received = await client.until("response.done")
        types = types_of(received)
        assert {"response.audio.delta", "response.audio_transcript.delta"} <= set(types)
        assert types[-5:-2] == ["response.audio.done", "response.audio_transcript.done", "response.content_part.done"]
        done = received[-1]
        assert isinstance(done, events.ResponseDone)
        assert done.response.modalities == ["audio", "text"]
        assert done.response.output_audio_format == "pcm16"
        assert done.response.output is not None
        assert done.response.output[0].content is not None
        assert done.response.output[0].content[0].type == "audio"
        await client.receive()  # rate_limits.updated

        # Beta's turn_detection.type is optional: server_vad is assumed.
        await client.send_json({"type": "session.update", "session": {"turn_detection": {"silence_duration_ms": 400}}})
        updated = await client.receive()
        assert isinstance(updated, events.SessionUpdated)
        assert updated.session.turn_detection is not None
        assert (updated.session.turn_detection.type, updated.session.turn_detection.silence_duration_ms) == (
            "server_vad", 400)  # fmt: skip
        await client.append(tone(500) + silence(400))
        received = await client.until("response.done")
        assert types_of(received)[:6] == [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.created",
            "response.created",
            "conversation.item.input_audio_transcription.completed",
        ]


async def test_without_the_beta_header_beta_session_fields_are_ignored() -> None:
    async with connected() as client:
        session = await client.update(modalities=["text"], turn_detection=None)
        assert session.output_modalities == ["audio"]
        assert session.modalities is None
        assert session.audio is not None
        assert session.audio.input is not None
        assert isinstance(session.audio.input.turn_detection, events.TurnDetection)
