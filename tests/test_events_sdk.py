"""The official openai SDK as an oracle: our registries cover its event unions, and what we
encode validates with its pydantic models (field names, shapes and types).

The SDK is a test dependency only; the library never imports it.
"""

from __future__ import annotations

import json
import typing
from typing import Any

import pytest
from conftest import recorded_frames
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types import realtime as ga
from openai.types.beta import realtime as beta
from pydantic import BaseModel, TypeAdapter

from realtime_dispatch import events

GA_CLIENT = TypeAdapter(ga.RealtimeClientEvent)
BETA_CLIENT = TypeAdapter(beta.RealtimeClientEvent)
GA_SERVER = TypeAdapter(ga.RealtimeServerEvent)
BETA_SERVER = TypeAdapter(beta.RealtimeServerEvent)


def union_members(union: Any) -> list[type[BaseModel]]:
    """The models of ``Annotated[Union[...], PropertyInfo(discriminator="type")]``."""
    assert typing.get_origin(union) is typing.Annotated
    inner, *metadata = typing.get_args(union)
    assert any(getattr(item, "discriminator", None) == "type" for item in metadata)
    members = list(typing.get_args(inner))
    assert all(isinstance(member, type) and issubclass(member, BaseModel) for member in members)
    return members


def wire_types(union: Any) -> set[str]:
    """Every ``type`` literal of the union's members."""
    found: set[str] = set()
    for member in union_members(union):
        annotation = member.model_fields["type"].annotation
        assert typing.get_origin(annotation) is typing.Literal, member
        values = typing.get_args(annotation)
        assert values
        assert all(isinstance(value, str) for value in values)
        found.update(values)
    return found


GA_SERVER_TYPES = wire_types(ga.RealtimeServerEvent)
GA_CLIENT_TYPES = wire_types(ga.RealtimeClientEvent)
BETA_SERVER_TYPES = wire_types(beta.RealtimeServerEvent)
BETA_CLIENT_TYPES = wire_types(beta.RealtimeClientEvent)


def test_the_sdk_walk_found_the_unions() -> None:
    # Counts from the protocol catalogue: a broken walk must not pass vacuously.
    assert len(union_members(ga.RealtimeServerEvent)) == len(GA_SERVER_TYPES) == 46
    assert len(union_members(ga.RealtimeClientEvent)) == len(GA_CLIENT_TYPES) == 11
    assert len(union_members(beta.RealtimeServerEvent)) == len(BETA_SERVER_TYPES) == 34
    assert len(union_members(beta.RealtimeClientEvent)) == len(BETA_CLIENT_TYPES) == 12


@pytest.mark.parametrize("event_type", sorted(GA_SERVER_TYPES | BETA_SERVER_TYPES))
def test_every_sdk_server_type_is_modelled(event_type: str) -> None:
    assert event_type in events.SERVER_EVENTS
    assert events.SERVER_EVENTS[event_type].type == event_type


@pytest.mark.parametrize("event_type", sorted(GA_CLIENT_TYPES | BETA_CLIENT_TYPES))
def test_every_sdk_client_type_is_modelled(event_type: str) -> None:
    assert event_type in events.CLIENT_EVENTS
    assert events.CLIENT_EVENTS[event_type].type == event_type


def test_we_model_nothing_the_sdk_does_not_know() -> None:
    assert set(events.SERVER_EVENTS) == GA_SERVER_TYPES | BETA_SERVER_TYPES
    assert set(events.CLIENT_EVENTS) == GA_CLIENT_TYPES | BETA_CLIENT_TYPES
    assert {
        "response.audio.delta",
        "response.audio.done",
        "response.audio_transcript.delta",
        "response.audio_transcript.done",
        "response.text.delta",
        "response.text.done",
        "transcription_session.updated",
    } == BETA_SERVER_TYPES - GA_SERVER_TYPES
    assert {"transcription_session.update"} == BETA_CLIENT_TYPES - GA_CLIENT_TYPES


# --- client events validate with the SDK ------------------------------------------------------


def extras(model: Any, path: str = "$") -> list[str]:
    """Paths of keys the SDK kept as pydantic extras, i.e. that it does not declare."""
    found: list[str] = []
    if isinstance(model, BaseModel):
        found.extend(f"{path}.{key}" for key in model.model_extra or {})
        for name in type(model).model_fields:
            found.extend(extras(getattr(model, name), f"{path}.{name}"))
    elif isinstance(model, list):
        for index, item in enumerate(model):
            found.extend(extras(item, f"{path}[{index}]"))
    return found


def check_with_sdk(adapter: TypeAdapter[Any], event: events.ClientEvent) -> BaseModel:
    wire = events.encode(event)
    model = adapter.validate_json(wire)
    assert isinstance(model, BaseModel)
    assert model.type == event.type  # type: ignore[attr-defined]
    assert extras(model) == []  # every key we send is one the SDK declares
    # The SDK reads back exactly what we sent, explicit nulls included.
    assert model.model_dump(mode="json", exclude_unset=True) == json.loads(wire)
    assert adapter.validate_python(json.loads(wire)) == model
    return model


GA_TURN_DETECTION = events.TurnDetection(
    type="server_vad", threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500, create_response=True
)
GA_CLIENT_EVENTS: dict[str, events.ClientEvent] = {
    "session.update typical": events.SessionUpdate(
        session=events.Session(
            type="realtime",
            model="gpt-realtime",
            instructions="You are a helpful assistant. Be brief.",
            output_modalities=["audio"],
            audio=events.SessionAudio(
                input=events.AudioInput(
                    format=events.AudioFormat(type="audio/pcm", rate=24000),
                    turn_detection=GA_TURN_DETECTION,
                    transcription=events.AudioTranscription(model="gpt-4o-transcribe", language="en"),
                    noise_reduction=events.NoiseReduction(type="near_field"),
                ),
                output=events.AudioOutput(format=events.AudioFormat(type="audio/pcm", rate=24000), voice="marin"),
            ),
            tools=[
                events.Tool(
                    type="function",
                    name="get_weather",
                    description="The weather in a city.",
                    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                )
            ],
            tool_choice="auto",
            tracing="auto",
            max_output_tokens="inf",
        ),
        event_id="event_1",
    ),
    "session.update turn detection off": events.SessionUpdate(
        session=events.Session(
            type="realtime",
            audio=events.SessionAudio(input=events.AudioInput(turn_detection=None, transcription=None)),
        )
    ),
    "session.update semantic vad": events.SessionUpdate(
        session=events.Session(
            type="realtime",
            audio=events.SessionAudio(
                input=events.AudioInput(turn_detection=events.TurnDetection(type="semantic_vad", eagerness="low")),
                output=events.AudioOutput(voice=events.VoiceId(id="voice_123"), speed=1.2),
            ),
            tool_choice=events.ToolChoiceFunction(name="get_weather"),
            truncation=events.RetentionRatioTruncation(retention_ratio=0.8),
        )
    ),
    "session.update transcription": events.SessionUpdate(
        session=events.Session(
            type="transcription",
            audio=events.SessionAudio(
                input=events.AudioInput(
                    format=events.AudioFormat(type="audio/pcmu"),
                    transcription=events.AudioTranscription(model="gpt-4o-transcribe"),
                )
            ),
        )
    ),
    "session.update fields added in 2026": events.SessionUpdate(
        session=events.Session(
            type="realtime",
            model="gpt-realtime-2.1",
            reasoning=events.Reasoning(effort="low"),
            parallel_tool_calls=True,
            include=["item.input_audio_transcription.logprobs"],
            tracing=events.TracingConfig(workflow_name="support", group_id="g1", metadata={"tier": "gold"}),
            audio=events.SessionAudio(
                input=events.AudioInput(
                    noise_reduction=events.NoiseReduction(type="far_field", strength=0.7),
                    transcription=events.AudioTranscription(
                        model="gpt-transcribe", languages=["en", "de"], keywords=["Zürich"], delay="low"
                    ),
                )
            ),
            tools=[
                events.Tool(
                    type="mcp",
                    server_label="docs",
                    tunnel_id="tunnel_1",
                    allowed_callers=["direct"],
                    defer_loading=True,
                    require_approval="never",
                )
            ],
        )
    ),
    "input_audio_buffer.append": events.InputAudioBufferAppend.from_pcm(bytes(range(256)) * 10),
    "input_audio_buffer.commit": events.InputAudioBufferCommit(),
    "input_audio_buffer.clear": events.InputAudioBufferClear(event_id="event_2"),
    "output_audio_buffer.clear": events.OutputAudioBufferClear(),
    "conversation.item.create user message": events.ConversationItemCreate(
        item=events.ConversationItem.message("user", "hi")
    ),
    "conversation.item.create system message": events.ConversationItemCreate(
        item=events.ConversationItem.message("system", "Be nice."), previous_item_id="root"
    ),
    "conversation.item.create assistant message": events.ConversationItemCreate(
        item=events.ConversationItem.message("assistant", "Hello!", id="item_abc")
    ),
    "conversation.item.create function_call_output": events.ConversationItemCreate(
        item=events.ConversationItem.function_call_output("call_1", '{"temperature": 21}')
    ),
    "conversation.item.create function_call": events.ConversationItemCreate(
        item=events.ConversationItem(type="function_call", call_id="call_1", name="get_weather", arguments="{}")
    ),
    "conversation.item.retrieve": events.ConversationItemRetrieve(item_id="item_abc"),
    "conversation.item.truncate": events.ConversationItemTruncate(
        item_id="item_abc", content_index=0, audio_end_ms=1500
    ),
    "conversation.item.delete": events.ConversationItemDelete(item_id="item_abc"),
    "response.create empty": events.ResponseCreate(),
    "response.create with params": events.ResponseCreate(
        response=events.ResponseParams(
            conversation="none",
            instructions="Summarise.",
            output_modalities=["text"],
            metadata={"purpose": "summary"},
            max_output_tokens=200,
            input=[events.ConversationItem.message("user", "What did we say?")],
            tool_choice="none",
            tools=[events.Tool(type="function", name="f", parameters={"type": "object"})],
            audio=events.ResponseAudio(
                output=events.ResponseAudioOutput(
                    format=events.AudioFormat(type="audio/pcm", rate=24000), voice="cedar"
                )
            ),
        )
    ),
    "response.create reasoning": events.ResponseCreate(
        response=events.ResponseParams(reasoning=events.Reasoning(effort="xhigh"), parallel_tool_calls=False)
    ),
    "response.cancel": events.ResponseCancel(),
    "response.cancel with id": events.ResponseCancel(response_id="resp_1", event_id="event_3"),
}


@pytest.mark.parametrize("event", GA_CLIENT_EVENTS.values(), ids=GA_CLIENT_EVENTS.keys())
def test_hand_built_client_events_validate_with_the_ga_sdk(event: events.ClientEvent) -> None:
    check_with_sdk(GA_CLIENT, event)


def test_the_hand_built_events_cover_every_ga_client_type() -> None:
    assert {event.type for event in GA_CLIENT_EVENTS.values()} == GA_CLIENT_TYPES


def test_the_sdk_sees_our_turn_detection_and_audio() -> None:
    model = check_with_sdk(GA_CLIENT, GA_CLIENT_EVENTS["session.update typical"])
    assert isinstance(model, ga.SessionUpdateEvent)
    session = model.session
    assert isinstance(session, ga.RealtimeSessionCreateRequest)
    assert session.audio is not None
    assert session.audio.input is not None
    assert session.audio.input.turn_detection is not None
    assert session.audio.input.turn_detection.type == "server_vad"
    append = check_with_sdk(GA_CLIENT, GA_CLIENT_EVENTS["input_audio_buffer.append"])
    assert isinstance(append, ga.InputAudioBufferAppendEvent)
    assert append.audio == GA_CLIENT_EVENTS["input_audio_buffer.append"].audio  # type: ignore[attr-defined]


BETA_CLIENT_EVENTS: dict[str, events.ClientEvent] = {
    "session.update": events.SessionUpdate(
        session=events.Session(
            model="gpt-4o-realtime-preview",
            modalities=["text", "audio"],
            instructions="Be brief.",
            voice="alloy",
            input_audio_format="pcm16",
            output_audio_format="pcm16",
            input_audio_transcription=events.AudioTranscription(model="whisper-1"),
            turn_detection=events.TurnDetection(type="server_vad", threshold=0.5, silence_duration_ms=500),
            tools=[events.Tool(type="function", name="f", description="d", parameters={"type": "object"})],
            tool_choice="auto",
            temperature=0.8,
            max_response_output_tokens="inf",
        )
    ),
    "session.update turn detection off": events.SessionUpdate(session=events.Session(turn_detection=None)),
    "transcription_session.update": events.TranscriptionSessionUpdate(
        session=events.Session(
            input_audio_format="pcm16",
            input_audio_transcription=events.AudioTranscription(model="gpt-4o-transcribe", prompt="names"),
            input_audio_noise_reduction=events.NoiseReduction(type="far_field"),
            include=["item.input_audio_transcription.logprobs"],
        )
    ),
    "response.create": events.ResponseCreate(
        response=events.ResponseParams(
            modalities=["text"],
            voice="alloy",
            output_audio_format="pcm16",
            temperature=0.7,
            max_response_output_tokens=50,
        )
    ),
    "conversation.item.create": events.ConversationItemCreate(item=events.ConversationItem.message("user", "hi")),
    "input_audio_buffer.append": events.InputAudioBufferAppend.from_pcm(b"\x00\x01" * 480),
}


@pytest.mark.parametrize("event", BETA_CLIENT_EVENTS.values(), ids=BETA_CLIENT_EVENTS.keys())
def test_hand_built_beta_client_events_validate_with_the_beta_sdk(event: events.ClientEvent) -> None:
    check_with_sdk(BETA_CLIENT, event)


SIMPLE_TEXT = st.text(max_size=30)
SIMPLE_CLIENT_EVENTS = st.one_of(
    st.builds(events.InputAudioBufferAppend.from_pcm, st.binary(max_size=300), event_id=st.none() | SIMPLE_TEXT),
    st.builds(events.InputAudioBufferCommit, event_id=st.none() | SIMPLE_TEXT),
    st.builds(events.InputAudioBufferClear, event_id=st.none() | SIMPLE_TEXT),
    st.builds(events.OutputAudioBufferClear, event_id=st.none() | SIMPLE_TEXT),
    st.builds(events.ConversationItemRetrieve, item_id=SIMPLE_TEXT),
    st.builds(events.ConversationItemDelete, item_id=SIMPLE_TEXT),
    st.builds(
        events.ConversationItemTruncate,
        item_id=SIMPLE_TEXT,
        content_index=st.integers(min_value=0, max_value=2**31),
        audio_end_ms=st.integers(min_value=0, max_value=2**40),
    ),
    st.builds(events.ResponseCancel, response_id=st.none() | SIMPLE_TEXT),
    st.builds(
        lambda role, text, previous: events.ConversationItemCreate(
            item=events.ConversationItem.message(role, text), previous_item_id=previous
        ),
        st.sampled_from(["user", "assistant", "system"]),
        SIMPLE_TEXT,
        st.none() | SIMPLE_TEXT,
    ),
    st.builds(
        lambda call_id, output: events.ConversationItemCreate(
            item=events.ConversationItem.function_call_output(call_id, output)
        ),
        SIMPLE_TEXT,
        SIMPLE_TEXT,
    ),
    st.builds(
        lambda instructions, modality: events.ResponseCreate(
            response=events.ResponseParams(instructions=instructions, output_modalities=[modality])
        ),
        SIMPLE_TEXT,
        st.sampled_from(["text", "audio"]),
    ),
)


@settings(max_examples=150, deadline=None)
@given(event=SIMPLE_CLIENT_EVENTS)
def test_generated_client_events_validate_with_the_ga_sdk(event: events.ClientEvent) -> None:
    check_with_sdk(GA_CLIENT, event)


# --- re-encoded recorded server frames validate with the SDK -----------------------------------


@pytest.mark.parametrize(
    ("pattern", "adapter", "count"),
    [("ga-*.jsonl", GA_SERVER, 1283), ("beta-*.jsonl", BETA_SERVER, 35)],
    ids=["ga", "beta"],
)
def test_re_encoded_recorded_frames_validate_with_the_sdk(pattern: str, adapter: TypeAdapter[Any], count: int) -> None:
    frames = recorded_frames(pattern)
    assert len(frames) == count
    for name, number, raw in frames:
        wire = events.encode(events.decode(raw))
        model = adapter.validate_json(wire)
        assert model.type == json.loads(raw)["type"], (name, number)
