"""Conformance of the events codec against frames recorded from the live services.

Every frame of ``tests/data/recorded`` (OpenAI GA and beta, relayed by the Pydantic AI
gateway, or served by Azure OpenAI) must decode to its modelled event and encode back to
the same JSON. The Azure Voice Live recordings under ``non-openai/`` speak a dialect: they
may fail to decode, but only ever with ``DecodeError``.
"""

from __future__ import annotations

import base64
import collections
import json
from typing import Any

import pytest
from conftest import RECORDED, recorded_frames

from realtime_dispatch import events

OPENAI_FRAMES = recorded_frames("ga-*.jsonl") + recorded_frames("beta-*.jsonl")
NON_OPENAI_FRAMES = recorded_frames("non-openai/*.jsonl")
OPENAI_FILES = sorted({name for name, _, _ in OPENAI_FRAMES})
NON_OPENAI_FILES = sorted({name for name, _, _ in NON_OPENAI_FRAMES})
INDEX: dict[str, dict[str, Any]] = {
    entry["file"].rsplit("/", 1)[-1]: entry for entry in json.loads((RECORDED / "index.json").read_bytes())
}

# Every wire type the OpenAI recordings contain (33 of the 53 modelled server types).
RECORDED_TYPES = {
    "conversation.item.added",
    "conversation.item.created",
    "conversation.item.done",
    "conversation.item.input_audio_transcription.completed",
    "conversation.item.input_audio_transcription.delta",
    "conversation.item.input_audio_transcription.failed",
    "error",
    "input_audio_buffer.committed",
    "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped",
    "output_audio_buffer.started",
    "output_audio_buffer.stopped",
    "rate_limits.updated",
    "response.audio.delta",
    "response.audio.done",
    "response.audio_transcript.delta",
    "response.audio_transcript.done",
    "response.content_part.added",
    "response.content_part.done",
    "response.created",
    "response.done",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.output_audio.delta",
    "response.output_audio.done",
    "response.output_audio_transcript.delta",
    "response.output_audio_transcript.done",
    "response.output_item.added",
    "response.output_item.done",
    "response.output_text.delta",
    "response.output_text.done",
    "session.created",
    "session.updated",
}


def _frame_id(frame: tuple[str, int, bytes]) -> str:
    return f"{frame[0].removesuffix('.jsonl')}:{frame[1]}"


def decode_or_error(raw: bytes) -> events.ServerEvent | events.DecodeError:
    """The decoded event, or the ``DecodeError`` raised; any other exception propagates."""
    try:
        return events.decode(raw)
    except events.DecodeError as exc:
        return exc


def drop_nulls(value: Any) -> Any:
    """``null`` and an absent key mean the same on the wire: drop every null member, recursively."""
    if isinstance(value, dict):
        return {key: drop_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [drop_nulls(item) for item in value]
    return value


def drop_undeclared(frame: dict[str, Any]) -> dict[str, Any]:
    """Remove exactly the undeclared keys the live servers send (and nothing else).

    * ``phase`` on conversation items (``item`` of item events, ``response.output[]``);
    * Azure's duplicate top-level ``content`` on ``response.content_part.*``.
    """
    frame = json.loads(json.dumps(frame))  # a deep copy
    items = []
    if isinstance(frame.get("item"), dict):
        items.append(frame["item"])
    response = frame.get("response")
    if isinstance(response, dict) and isinstance(response.get("output"), list):
        items.extend(item for item in response["output"] if isinstance(item, dict))
    for item in items:
        item.pop("phase", None)
    if frame["type"].startswith("response.content_part."):
        frame.pop("content", None)
    return frame


def test_the_corpus_is_all_there() -> None:
    # A silently empty or partial glob must fail rather than pass vacuously.
    assert len(OPENAI_FILES) == 32
    assert len(OPENAI_FRAMES) == 1318
    assert len(NON_OPENAI_FILES) == 6
    assert len(NON_OPENAI_FRAMES) == 193
    assert set(OPENAI_FILES) | set(NON_OPENAI_FILES) == set(INDEX)


@pytest.mark.parametrize("file_name", OPENAI_FILES)
def test_every_recorded_openai_frame_decodes_to_a_modelled_event(file_name: str) -> None:
    frames = recorded_frames(file_name)
    expected = INDEX[file_name]
    assert len(frames) == expected["frames"] > 0
    decoded_types: collections.Counter[str] = collections.Counter()
    for _, number, frame in frames:
        event = events.decode(frame)
        assert not isinstance(event, events.UnknownEvent), f"line {number}: {event.type} is not modelled"
        wire_type = json.loads(frame)["type"]
        assert type(event) is events.SERVER_EVENTS[wire_type]
        assert event.type == wire_type
        decoded_types[event.type] += 1
    assert dict(decoded_types) == expected["types"]


@pytest.mark.parametrize("frame", OPENAI_FRAMES, ids=_frame_id)
def test_recorded_frame_round_trips(frame: tuple[str, int, bytes]) -> None:
    _, _, raw = frame
    original = json.loads(raw)
    encoded = events.encode(events.decode(raw))
    assert isinstance(encoded, bytes)
    assert drop_nulls(json.loads(encoded)) == drop_nulls(drop_undeclared(original))
    # Decoding the re-encoded frame gives the same event again.
    assert events.decode(encoded) == events.decode(raw)


def test_round_trip_ignores_only_the_known_undeclared_keys() -> None:
    """The tolerated keys really occur, so the normalisation above is not dead code."""
    phases = contents = 0
    for _, _, raw in OPENAI_FRAMES:
        frame = json.loads(raw)
        if "phase" in json.dumps(frame.get("item", {})) or "phase" in json.dumps(frame.get("response", {})):
            phases += 1
        if frame["type"].startswith("response.content_part.") and "content" in frame:
            contents += 1
            assert b'"content"' not in events.encode(events.decode(raw))
    assert phases > 0
    assert contents > 0


def test_recordings_cover_many_event_types() -> None:
    classes = {type(events.decode(raw)) for _, _, raw in OPENAI_FRAMES}
    assert {cls.type for cls in classes} == RECORDED_TYPES
    assert classes == {events.SERVER_EVENTS[name] for name in RECORDED_TYPES}
    # Both protocol versions are represented.
    assert events.ResponseOutputAudioDelta in classes
    assert events.ResponseAudioDelta in classes


def test_recorded_beta_audio_decodes_to_pcm16() -> None:
    """The beta recordings carry intact audio; the recorder truncated GA audio to 44 base64 characters."""
    beta_audio = [
        events.decode(raw) for _, _, raw in recorded_frames("beta-*.jsonl") if b'"response.audio.delta"' in raw
    ]
    assert beta_audio
    for event in beta_audio:
        assert isinstance(event, events.ResponseAudioDelta)
        pcm = event.pcm
        assert isinstance(pcm, bytes)
        assert len(pcm) >= 4800  # 100 ms of 24 kHz PCM16 at least
        assert len(pcm) % 2 == 0
        assert pcm == base64.b64decode(event.delta, validate=True)
    ga_audio = [events.decode(raw) for _, _, raw in OPENAI_FRAMES if b'"response.output_audio.delta"' in raw]
    assert ga_audio
    for event in ga_audio:
        assert isinstance(event, events.ResponseOutputAudioDelta)
        assert len(event.delta) == 44
        assert event.pcm == base64.b64decode(event.delta, validate=True)
        assert len(event.pcm) == 33


@pytest.mark.parametrize("file_name", NON_OPENAI_FILES)
def test_non_openai_frames_decode_or_raise_decode_error(file_name: str) -> None:
    frames = recorded_frames(f"non-openai/{file_name}")
    assert len(frames) == INDEX[file_name]["frames"] > 0
    outcomes: collections.Counter[str] = collections.Counter()
    for _, _, raw in frames:
        result = decode_or_error(raw)
        if isinstance(result, events.DecodeError):
            assert result.raw == raw
            assert result.event_type == json.loads(raw)["type"]
            outcomes["error"] += 1
        else:
            assert isinstance(result, events.ServerEvent)
            assert result.type == json.loads(raw)["type"]
            outcomes["decoded"] += 1
    assert sum(outcomes.values()) == len(frames)
    assert outcomes["decoded"] > 0
