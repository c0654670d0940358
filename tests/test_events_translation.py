"""Realtime Translation events against the installed openai SDK, the oracle.

For every member of the SDK's ``RealtimeTranslationServerEvent`` and ``RealtimeTranslationClientEvent``
unions: a frame with every field filled (one per union alternative) and one with only the required
fields; the SDK validates each, ours decodes it to the catalogue's struct and encodes it back
JSON-equal. A recursive drift walk checks that every field of every SDK model reachable from those
unions (and from the client secret shapes) exists on our structs.
"""

from __future__ import annotations

import json
import typing
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
import typing_extensions
from openai.types import realtime as ga
from openai.types.realtime.realtime_translation_client_secret_create_response import (
    RealtimeTranslationClientSecretCreateResponse,
)
from openai.types.realtime.realtime_translation_session_update_request import RealtimeTranslationSessionUpdateRequest
from openai.types.realtime.translations.client_secret_create_params import ClientSecretCreateParams
from pydantic import BaseModel, TypeAdapter
from test_events_sdk import union_members
from test_events_sdk_drift import Walker, alternatives, is_model, model_tag, wire_fields

from realtime_dispatch import events
from realtime_dispatch.events import translation as tr

SERVER_UNION = ga.RealtimeTranslationServerEvent
CLIENT_UNION = ga.RealtimeTranslationClientEvent
SDK_SERVER = TypeAdapter(SERVER_UNION)
SDK_CLIENT = TypeAdapter(CLIENT_UNION)

EVENT_CLASSES: list[tuple[str, type[BaseModel]]] = [
    *(("server", member) for member in union_members(SERVER_UNION)),
    *(("client", member) for member in union_members(CLIENT_UNION)),
]
EVENT_IDS = [f"{side}:{model_tag(cls)[0]}" for side, cls in EVENT_CLASSES]


def registry_of(side: str) -> Any:
    return tr.SERVER_EVENTS if side == "server" else tr.CLIENT_EVENTS


def sdk_types(union: Any) -> set[str]:
    return {value for member in union_members(union) for value in model_tag(member)}


# --- the catalogues ------------------------------------------------------------------------------


def test_the_sdk_unions_have_the_expected_sizes() -> None:
    assert len(union_members(SERVER_UNION)) == 7
    assert len(union_members(CLIENT_UNION)) == 3


def test_the_catalogues_are_exactly_the_sdk_unions() -> None:
    assert set(tr.SERVER_EVENTS) == sdk_types(SERVER_UNION)
    assert set(tr.CLIENT_EVENTS) == sdk_types(CLIENT_UNION)


@pytest.mark.parametrize(("side", "sdk_event"), EVENT_CLASSES, ids=EVENT_IDS)
def test_each_struct_carries_its_wire_type(side: str, sdk_event: type[BaseModel]) -> None:
    (wire_type,) = model_tag(sdk_event)
    cls = registry_of(side)[wire_type]
    assert cls.type == wire_type
    base = events.ServerEvent if side == "server" else events.ClientEvent
    assert issubclass(cls, base)


def test_the_catalogues_are_read_only() -> None:
    with pytest.raises(TypeError):
        tr.SERVER_EVENTS["x"] = tr.SessionClosedEvent  # type: ignore[index]
    with pytest.raises(TypeError):
        tr.CLIENT_EVENTS["x"] = tr.SessionCloseEvent  # type: ignore[index]


def test_the_error_event_is_the_realtime_one() -> None:
    assert tr.SERVER_EVENTS["error"] is events.ErrorEvent
    assert tr.ErrorDetail is events.ErrorDetail


def test_the_public_names_exist_and_are_unique() -> None:
    exported = tr.__all__
    assert len(set(exported)) == len(exported)
    assert [name for name in exported if not hasattr(tr, name)] == []
    for name in ("decode", "decode_client", "encode", "SERVER_EVENTS", "CLIENT_EVENTS"):
        assert name in exported
    for name in ("UnknownEvent", "DecodeError", "ServerEvent", "ClientEvent"):
        assert getattr(tr, name) is getattr(events, name)


# --- frames the SDK accepts, round-tripped through ours ------------------------------------------


class Filler:
    """A JSON value for an SDK annotation: literal -> its first value, str -> "x", int -> 1,
    float -> 0.5, bool -> True, list -> one element, model -> recursively. ``choice`` picks the
    alternative of each union, so successive choices reach each one. ``required_only`` leaves
    out every optional field."""

    def __init__(self, choice: int = 0, *, required_only: bool = False) -> None:
        self.choice = choice
        self.required_only = required_only

    def value(self, annotation: Any) -> Any:
        options = alternatives(annotation)
        sdk = options[self.choice % len(options)]
        origin = typing.get_origin(sdk)
        if origin is typing.Literal:
            return typing.get_args(sdk)[0]
        if sdk is str:
            return "x"
        if sdk is bool:
            return True
        if sdk is int:
            return 1
        if sdk is float:
            return 0.5
        if origin in (list, typing.List):  # noqa: UP006
            (element,) = typing.get_args(sdk)
            return [self.value(element)]
        if is_model(sdk):
            return self.model(sdk)
        raise TypeError(f"cannot fill {sdk!r}")

    def model(self, model: type[BaseModel]) -> dict[str, Any]:
        return {
            info.alias or name: self.value(info.annotation)
            for name, info in model.model_fields.items()
            if info.is_required() or not self.required_only
        }


def union_width(model: type[BaseModel]) -> int:
    """The widest union reachable from ``model``: that many choices reach every alternative."""
    widest, todo, done = 1, [model], set()
    while todo:
        current = todo.pop()
        if current in done:
            continue
        done.add(current)
        for annotation in wire_fields(current).values():
            members = alternatives(annotation)
            widest = max(widest, len(members))
            todo.extend(member for member in members if is_model(member))
    return widest


def frames() -> list[tuple[str, str, dict[str, Any]]]:
    found: list[tuple[str, str, dict[str, Any]]] = []
    for side, cls in EVENT_CLASSES:
        seen: set[str] = set()
        candidates = [("full", Filler(choice)) for choice in range(union_width(cls))]
        candidates.append(("required", Filler(required_only=True)))
        for kind, filler in candidates:
            frame = filler.model(cls)
            text = json.dumps(frame, sort_keys=True)
            if text not in seen:
                seen.add(text)
                found.append((f"{side}:{frame['type']}:{kind}:{len(seen)}", side, frame))
    return found


FRAMES = frames()


def test_the_frames_cover_every_event_both_ways() -> None:
    names = {name.rsplit(":", 2)[0] for name, _, _ in FRAMES}
    assert names == set(EVENT_IDS)
    kinds = {name.rsplit(":", 2)[1] for name, _, _ in FRAMES}
    assert kinds == {"full", "required"}


def test_a_full_frame_fills_nested_objects() -> None:
    created = next(frame for name, _, frame in FRAMES if name.startswith("server:session.created:full"))
    assert created["session"]["audio"]["input"]["noise_reduction"] == {"type": "near_field", "strength": 0.5}


@pytest.mark.parametrize(("side", "frame"), [(s, f) for _, s, f in FRAMES], ids=[n for n, _, _ in FRAMES])
def test_sdk_frames_decode_to_their_struct_and_round_trip(side: str, frame: dict[str, Any]) -> None:
    (SDK_SERVER if side == "server" else SDK_CLIENT).validate_python(frame)  # the frame is a valid one
    wire = json.dumps(frame).encode()
    event: events.ServerEvent | events.ClientEvent
    event = tr.decode(wire) if side == "server" else tr.decode_client(wire)
    assert type(event) is registry_of(side)[frame["type"]]
    back = json.loads(tr.encode(event))
    assert back == frame
    # and what we encode, the SDK accepts
    (SDK_SERVER if side == "server" else SDK_CLIENT).validate_json(tr.encode(event))


# --- drift: every field the SDK knows, ours know ---------------------------------------------------


def struct_info(cls: type[msgspec.Struct]) -> mi.StructType:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    return info


@pytest.mark.parametrize(("side", "sdk_event"), EVENT_CLASSES, ids=EVENT_IDS)
def test_our_structs_know_every_field_the_sdk_knows(side: str, sdk_event: type[BaseModel]) -> None:
    (wire_type,) = model_tag(sdk_event)
    walker = Walker()
    walker.model(sdk_event, struct_info(registry_of(side)[wire_type]), [wire_type])
    assert [str(drift) for drift in walker.found] == []
    assert walker.compared  # not vacuous


def test_the_walk_reaches_the_nested_session_fields() -> None:
    walker = Walker()
    for side, sdk_event in EVENT_CLASSES:
        (wire_type,) = model_tag(sdk_event)
        walker.model(sdk_event, struct_info(registry_of(side)[wire_type]), [wire_type])
    reached = {key.rsplit(".", 2)[-2] + "." + key.rsplit(".", 1)[-1] for key in walker.compared}
    for key in (
        "AudioInputNoiseReduction.strength",
        "AudioInputTranscription.model",
        "AudioOutput.language",
        "RealtimeTranslationSession.expires_at",
        "RealtimeTranslationOutputAudioDeltaEvent.sample_rate",
        "RealtimeError.param",
    ):
        assert key in reached, key


def test_the_client_secret_response_matches_the_sdk() -> None:
    walker = Walker()
    walker.model(RealtimeTranslationClientSecretCreateResponse, struct_info(tr.ClientSecret), ["client_secret"])
    assert [str(drift) for drift in walker.found] == []
    frame = Filler().model(RealtimeTranslationClientSecretCreateResponse)
    secret = msgspec.json.decode(json.dumps(frame), type=tr.ClientSecret)
    assert json.loads(msgspec.json.encode(secret)) == frame
    assert "ek_secret" not in repr(msgspec.structs.replace(secret, value="ek_secret"))


def typed_dict_drift(td: Any, cls: type[msgspec.Struct], path: str) -> list[str]:
    """Fields of an SDK request TypedDict (recursively) that our struct lacks or wrongly requires."""
    found = []
    ours = {field.encode_name: field for field in msgspec.structs.fields(cls)}
    hints = typing.get_type_hints(td, include_extras=True)
    for name, hinted in hints.items():
        required = typing_extensions.get_origin(hinted) is typing_extensions.Required
        annotation = typing_extensions.get_args(hinted)[0] if required else hinted
        if name not in ours:
            found.append(f"{path}.{name}: missing")
            continue
        if ours[name].required and not required:
            found.append(f"{path}.{name}: SDK makes it optional")
        for member in alternatives(annotation):
            if typing.is_typeddict(member):
                nested = [
                    arg
                    for arg in typing.get_args(ours[name].type) or (ours[name].type,)
                    if isinstance(arg, type) and issubclass(arg, msgspec.Struct)
                ]
                assert nested, f"{path}.{name}"
                found += typed_dict_drift(member, nested[0], f"{path}.{name}")
    return found


def test_the_typed_dict_walk_reports_what_is_missing() -> None:
    class Thin(msgspec.Struct, kw_only=True):
        session: tr.SessionCreateRequest

    class ThinInput(msgspec.Struct, kw_only=True):
        model: str
        audio: tr.SessionAudio | None = None
        expires_after: int = 0

    assert typed_dict_drift(ClientSecretCreateParams, Thin, "request") == ["request.expires_after: missing"]
    assert typed_dict_drift(ClientSecretCreateParams, ThinInput, "r") == ["r.session: missing"]


def test_the_client_secret_request_matches_the_sdk_params() -> None:
    assert typed_dict_drift(ClientSecretCreateParams, tr.ClientSecretRequest, "request") == []
    request = tr.ClientSecretRequest(
        session=tr.SessionCreateRequest(
            model="gpt-realtime-translate",
            audio=tr.SessionAudio(output=tr.AudioOutput(language="es"), input=tr.AudioInput(noise_reduction=None)),
        ),
        expires_after=tr.ExpiresAfter(anchor="created_at", seconds=600),
    )
    assert json.loads(msgspec.json.encode(request)) == {
        "session": {
            "model": "gpt-realtime-translate",
            "audio": {"input": {"noise_reduction": None}, "output": {"language": "es"}},
        },
        "expires_after": {"anchor": "created_at", "seconds": 600},
    }


# --- session.update: null turns a feature off, absence leaves it alone ------------------------------


def update(audio_input: tr.AudioInput) -> tr.SessionUpdateEvent:
    return tr.SessionUpdateEvent(session=tr.SessionUpdateRequest(audio=tr.SessionAudio(input=audio_input)))


def test_an_explicit_null_noise_reduction_is_sent_as_null() -> None:
    wire = tr.encode(update(tr.AudioInput(noise_reduction=None)))
    assert json.loads(wire) == {"type": "session.update", "session": {"audio": {"input": {"noise_reduction": None}}}}
    SDK_CLIENT.validate_json(wire)


def test_an_explicit_null_transcription_is_sent_as_null() -> None:
    wire = tr.encode(update(tr.AudioInput(transcription=None)))
    assert json.loads(wire)["session"]["audio"]["input"] == {"transcription": None}


def test_a_left_out_noise_reduction_is_not_sent() -> None:
    assert json.loads(tr.encode(update(tr.AudioInput()))) == {
        "type": "session.update",
        "session": {"audio": {"input": {}}},
    }
    assert tr.AudioInput().noise_reduction is msgspec.UNSET
    assert json.loads(tr.encode(tr.SessionUpdateEvent(session=tr.SessionUpdateRequest()))) == {
        "type": "session.update",
        "session": {},
    }


def test_a_null_noise_reduction_decodes_as_none_and_round_trips() -> None:
    frame = {
        "type": "session.update",
        "session": {"audio": {"input": {"noise_reduction": None, "transcription": None}}},
    }
    event = tr.decode_client(json.dumps(frame))
    assert isinstance(event, tr.SessionUpdateEvent)
    assert event.session.audio is not None
    assert event.session.audio.input is not None
    assert event.session.audio.input.noise_reduction is None
    assert event.session.audio.input.transcription is None
    assert json.loads(tr.encode(event)) == frame
    RealtimeTranslationSessionUpdateRequest.model_validate(frame["session"])


def test_a_session_with_null_settings_round_trips() -> None:
    frame = {
        "type": "session.updated",
        "event_id": "event_1",
        "session": {
            "id": "sess_1",
            "type": "translation",
            "model": "gpt-realtime-translate",
            "expires_at": 1,
            "audio": {
                "input": {"noise_reduction": None, "transcription": {"model": "m"}},
                "output": {"language": "fr"},
            },
        },
    }
    event = tr.decode(json.dumps(frame))
    assert isinstance(event, tr.SessionUpdatedEvent)
    assert json.loads(tr.encode(event)) == frame


def test_a_full_update_encodes_like_the_sdk_param() -> None:
    event = update(
        tr.AudioInput(noise_reduction=tr.NoiseReduction(type="far_field"), transcription=tr.Transcription(model="m"))
    )
    wire = tr.encode(event)
    assert json.loads(wire)["session"]["audio"]["input"] == {
        "noise_reduction": {"type": "far_field"},
        "transcription": {"model": "m"},
    }
    SDK_CLIENT.validate_json(wire)


# --- tolerance and errors ----------------------------------------------------------------------------


def test_extra_server_fields_decode() -> None:
    frame = {
        "type": "session.created",
        "event_id": "e",
        "new_top_level": [1, 2],
        "session": {
            "id": "sess_1",
            "type": "translation",
            "model": "m",
            "expires_at": 2,
            "object": "realtime.translation_session",
            "audio": {"input": {"future": True}, "output": {"language": "de", "voice": "x"}},
        },
    }
    event = tr.decode(json.dumps(frame).encode())
    assert isinstance(event, tr.SessionCreatedEvent)
    assert event.session.audio.output is not None
    assert event.session.audio.output.language == "de"
    closed = tr.decode(b'{"type":"session.closed","event_id":"e","reason":"client"}')
    assert isinstance(closed, tr.SessionClosedEvent)


def test_extra_client_fields_decode() -> None:
    event = tr.decode_client(b'{"type":"session.close","event_id":"c1","extra":1}')
    assert isinstance(event, tr.SessionCloseEvent)
    assert event.event_id == "c1"


@pytest.mark.parametrize("event_type", ["session.brand_new", "response.done", "input_audio_buffer.append"])
def test_an_unknown_server_type_is_an_unknown_event(event_type: str) -> None:
    raw = json.dumps({"type": event_type, "event_id": "e", "x": 1}).encode()
    event = tr.decode(raw)
    assert isinstance(event, tr.UnknownEvent)
    assert event.type == event_type
    assert event.raw == raw
    assert tr.encode(event) == raw


@pytest.mark.parametrize("event_type", ["session.brand_new", "input_audio_buffer.append", "response.create"])
def test_an_unknown_client_type_is_a_decode_error(event_type: str) -> None:
    with pytest.raises(tr.DecodeError) as caught:
        tr.decode_client(json.dumps({"type": event_type}))
    assert caught.value.event_type == event_type


@pytest.mark.parametrize(
    "frame",
    [
        b"not json",
        b"[1]",
        b'{"no_type": 1}',
        b'{"type": "session.output_transcript.delta", "event_id": "e"}',  # delta missing
        b'{"type": "session.output_audio.delta", "event_id": "e", "delta": 5}',
        b'{"type": "session.created", "event_id": "e", "session": {"id": "s"}}',
        b'{"type": "session.closed", "event_id": "e\xff"}',
    ],
)
def test_a_bad_server_frame_is_a_decode_error(frame: bytes) -> None:
    with pytest.raises(tr.DecodeError):
        tr.decode(frame)


@pytest.mark.parametrize(
    "frame",
    [b"{", b'{"type": "session.input_audio_buffer.append"}', b'{"type": "session.update"}', b'{"type": 3}'],
)
def test_a_bad_client_frame_is_a_decode_error(frame: bytes) -> None:
    with pytest.raises(tr.DecodeError):
        tr.decode_client(frame)


# --- audio payloads ---------------------------------------------------------------------------------


def test_input_audio_from_pcm_and_back() -> None:
    pcm = bytes(range(256)) * 4
    event = tr.InputAudioBufferAppendEvent.from_pcm(memoryview(pcm), event_id="ev")
    assert event.pcm == pcm
    assert event.event_id == "ev"
    wire = tr.encode(event)
    SDK_CLIENT.validate_json(wire)
    decoded = tr.decode_client(wire)
    assert isinstance(decoded, tr.InputAudioBufferAppendEvent)
    assert decoded.pcm == pcm


def test_output_audio_delta_pcm() -> None:
    pcm = b"\x01\x00\xff\x7f" * 10
    frame = tr.InputAudioBufferAppendEvent.from_pcm(pcm).audio
    event = tr.decode(
        json.dumps(
            {
                "type": "session.output_audio.delta",
                "event_id": "e",
                "delta": frame,
                "format": "pcm16",
                "sample_rate": 24000,
            }
        )
    )
    assert isinstance(event, tr.OutputAudioDeltaEvent)
    assert event.pcm == pcm
    assert event.sample_rate == 24000


def test_server_events_can_be_built() -> None:
    event = tr.OutputTranscriptDeltaEvent.build(delta="hola")
    assert event.event_id.startswith("event_")
    assert tr.decode(tr.encode(event)) == event


def test_the_codec_is_named() -> None:
    assert repr(tr.codec) == "<Codec Realtime Translation: 7 server, 3 client event types>"
