"""GPT-Live events (``realtime_dispatch.events.live``) against the official SDK's ``openai.types.live``.

* catalogues: each of our registries has exactly the ``type`` literals of the SDK union of
  its connection (28 server, 30 on the sideband; 15 primary, 14 sideband, 15 fork client);
* conformance: for every member of every SDK union, a frame with every field filled (once
  per union alternative) and one with only the required fields validates with the SDK,
  decodes to our class for its type on that connection, and encodes back JSON-equal;
* drift: the structural walk of ``test_events_sdk_drift`` (every field the SDK has, ours
  has, recursively) over the Live unions, with the deliberate differences in ``ALLOWED``;
* the contract's edge cases (no ``event_id``, required ``null``, both-direction types,
  unknown types, ``response.event``'s typed access).
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import typing
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
import typing_extensions
from openai.types import live as sdk
from pydantic import BaseModel
from test_events_sdk import union_members, wire_types
from test_events_sdk_drift import Drift, Walker, alternatives, differences, is_model, model_tag, wire_fields

from realtime_dispatch.events import live

# (SDK union, our registry, our client/server decoder) per connection and direction.
CONNECTIONS: dict[str, tuple[Any, Any, Any]] = {
    "server": (sdk.ServerEvent, live.SERVER_EVENTS, live.decode),
    "sideband server": (sdk.ConnectServerEvent, live.SIDEBAND_SERVER_EVENTS, live.decode_sideband),
    "fork server": (sdk.ForkServerEvent, live.SERVER_EVENTS, live.decode),
    "client": (sdk.ClientEvent, live.CLIENT_EVENTS, live.decode_client),
    "sideband client": (sdk.ConnectClientEvent, live.SIDEBAND_CLIENT_EVENTS, live.decode_sideband_client),
    "fork client": (sdk.ForkClientEvent, live.FORK_CLIENT_EVENTS, live.decode_fork_client),
}

MEMBERS = [(side, member) for side, (union, _, _) in CONNECTIONS.items() for member in union_members(union)]
MEMBER_IDS = [f"{side}:{model_tag(member)[0]}" for side, member in MEMBERS]


# --- catalogues ---------------------------------------------------------------------------------


def test_the_sdk_unions_have_the_documented_sizes() -> None:
    counts = {side: len(union_members(union)) for side, (union, _, _) in CONNECTIONS.items()}
    assert counts == {
        "server": 28,
        "sideband server": 30,  # the protocol notes say 28: the SDK adds session.paused/resumed
        "fork server": 28,
        "client": 15,
        "sideband client": 14,
        "fork client": 15,
    }


@pytest.mark.parametrize("side", CONNECTIONS)
def test_each_catalogue_is_exactly_the_sdk_union(side: str) -> None:
    union, registry, _ = CONNECTIONS[side]
    assert set(registry) == wire_types(union)
    assert all(cls.type == wire_type for wire_type, cls in registry.items())


def test_the_catalogues_are_read_only_and_differ_where_the_connections_do() -> None:
    assert set(live.SIDEBAND_SERVER_EVENTS) - set(live.SERVER_EVENTS) == {"session.paused", "session.resumed"}
    assert isinstance(live.decode(b'{"type":"session.paused","event_id":"e"}'), live.UnknownEvent)
    assert isinstance(live.decode_sideband(b'{"type":"session.paused","event_id":"e"}'), live.SessionPaused)
    with pytest.raises(TypeError):
        live.CLIENT_EVENTS["x"] = live.SessionCloseEvent  # type: ignore[index]
    assert set(live.CLIENT_EVENTS) - set(live.SIDEBAND_CLIENT_EVENTS) == {
        "session.start",
        "session.input_audio.append",
    }
    assert set(live.SIDEBAND_CLIENT_EVENTS) - set(live.CLIENT_EVENTS) == {"transport.dtmf.send"}
    assert live.CLIENT_EVENTS["session.start"] is live.SessionStartEvent
    assert live.FORK_CLIENT_EVENTS["session.start"] is live.ForkSessionStartEvent
    assert set(live.FORK_CLIENT_EVENTS) == set(live.CLIENT_EVENTS)


def test_every_exported_name_exists_once() -> None:
    assert len(set(live.__all__)) == len(live.__all__)
    assert [name for name in live.__all__ if not hasattr(live, name)] == []


def test_the_live_package_stays_out_of_the_realtime_catalogue() -> None:
    from realtime_dispatch import events

    assert not set(events.SERVER_EVENTS.values()) & set(live.SERVER_EVENTS.values())
    assert "session.started" not in events.SERVER_EVENTS


# --- frames built from the SDK models -------------------------------------------------------------


def _param_required(model: type[BaseModel]) -> frozenset[str]:
    """Keys the SDK's request TypedDict (``<module>_param.<Model>Param``) marks ``Required``:
    for ``delegation_id`` on the appends that is stricter than the response model (R,N)."""
    try:
        module = importlib.import_module(model.__module__ + "_param")
    except ImportError:
        return frozenset()
    param = getattr(module, model.__name__ + "Param", None) or getattr(module, model.__name__, None)
    if param is None:
        return frozenset()
    # The module uses postponed annotations, so ``__required_keys__`` misses ``Required[...]``.
    hints = typing_extensions.get_type_hints(param, include_extras=True)
    required: Any = typing.Required
    return frozenset(key for key, hint in hints.items() if typing.get_origin(hint) is required)


class Filler:
    """A JSON value for an SDK annotation: literals and union members chosen by ``choice``, str
    ``"x"``, int 1, float 0.5, bool True, lists of one element, dicts ``{"k": ...}``, models
    recursively; with ``required_only`` a model gets only its required (and R,N) fields."""

    def __init__(self, choice: int, *, required_only: bool = False) -> None:
        self.choice = choice
        self.required_only = required_only

    def pick(self, options: typing.Sequence[Any]) -> Any:
        return options[self.choice % len(options)]

    def value(self, annotation: Any, depth: int = 0) -> Any:
        sdk_type = self.pick(alternatives(annotation))
        origin = typing.get_origin(sdk_type)
        if sdk_type in (object, Any):
            return {"k": "v"}
        if origin is typing.Literal:
            return self.pick(typing.get_args(sdk_type))
        if sdk_type is str:
            return "x"
        if sdk_type is bool:
            return True
        if sdk_type is int:
            return 1
        if sdk_type is float:
            return 0.5
        if origin in (list, typing.List):  # noqa: UP006
            (element,) = typing.get_args(sdk_type)
            return [self.value(element, depth + 1)]
        if origin in (dict, typing.Dict):  # noqa: UP006
            _, element = typing.get_args(sdk_type)
            return {"k": self.value(element, depth + 1)}
        if is_model(sdk_type):
            return self.model(sdk_type, depth + 1)
        raise TypeError(f"cannot fill {sdk_type!r}")

    def model(self, model: type[BaseModel], depth: int = 0) -> dict[str, Any]:
        keep = _param_required(model)
        frame = {}
        for name, info in model.model_fields.items():
            wire = info.alias or name
            if self.required_only and not info.is_required() and wire not in keep:
                continue
            frame[wire] = self.value(info.annotation, depth)
        return frame


def _width(model: type[BaseModel]) -> int:
    """Enough choices to reach every member of every union (and literal) below ``model``."""
    widest, todo, done = 1, [model], set()
    while todo:
        annotation = todo.pop()
        if annotation in done:
            continue
        done.add(annotation)
        for member in alternatives(annotation):
            widest = max(widest, len(alternatives(annotation)))
            if typing.get_origin(member) is typing.Literal:
                widest = max(widest, len(typing.get_args(member)))
            elif is_model(member):
                todo.extend(wire_fields(member).values())
            else:
                todo.extend(typing.get_args(member))
    return widest


def _frames() -> list[tuple[str, str, type[BaseModel], dict[str, Any]]]:
    found = []
    for side, member in MEMBERS:
        seen: set[str] = set()
        candidates = [("full", Filler(choice).model(member)) for choice in range(_width(member))]
        candidates += [("required", Filler(0, required_only=True).model(member))]
        for kind, frame in candidates:
            text = json.dumps(frame, sort_keys=True)
            if text not in seen:
                seen.add(text)
                found.append((f"{side}:{frame['type']}:{kind}{len(seen)}", side, member, frame))
    return found


FRAMES = _frames()


def test_the_frames_cover_every_member_of_every_union_both_full_and_minimal() -> None:
    covered = {(side, member, ident.rsplit(":", 1)[1].rstrip("0123456789")) for ident, side, member, _ in FRAMES}
    for side, member in MEMBERS:
        assert (side, member, "full") in covered
    assert len(FRAMES) > 2 * len(MEMBERS)


@pytest.mark.parametrize(
    ("side", "sdk_event", "frame"),
    [(side, member, frame) for _, side, member, frame in FRAMES],
    ids=[ident for ident, _, _, _ in FRAMES],
)
def test_sdk_shaped_frames_decode_to_our_class_and_encode_back(
    side: str, sdk_event: type[BaseModel], frame: dict[str, Any]
) -> None:
    sdk_event.model_validate(frame)  # the frame is one the SDK accepts
    _, registry, decoder = CONNECTIONS[side]
    event = decoder(json.dumps(frame).encode())
    assert type(event) is registry[frame["type"]]
    back = json.loads(live.encode(event))
    assert back == frame, f"lost or changed on the round trip: {differences(frame, back)}"


@pytest.mark.parametrize(("side", "sdk_event"), [m for m in MEMBERS if "client" in m[0]], ids=lambda v: str(v))
def test_our_client_structs_require_what_the_sdk_request_types_require(side: str, sdk_event: type[BaseModel]) -> None:
    _, registry, _ = CONNECTIONS[side]
    (wire_type,) = model_tag(sdk_event)
    ours = {f.encode_name for f in msgspec.structs.fields(registry[wire_type]) if f.required}
    assert ours == set(_param_required(sdk_event)) - {"type"}


# --- drift: every field the SDK knows, ours know ----------------------------------------------------

# Deliberate differences: a glob over "<module under openai.types>.<class>.<field>" and why.
ALLOWED: dict[str, str] = {
    "live.response_event.ResponseEvent.event": "kept as msgspec.Raw: encodes back byte for byte, read lazily",
    "live.*_append_event.*AppendEvent.delegation_id": (
        "the SDK response model says optional, its request TypedDict and the protocol say required-nullable: "
        "we always send it (null when None)"
    ),
}


def _allowed(key: str) -> bool:
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in ALLOWED)


def _walk(side: str, sdk_event: type[BaseModel]) -> Walker:
    _, registry, _ = CONNECTIONS[side]
    (wire_type,) = model_tag(sdk_event)
    ours = mi.type_info(registry[wire_type])
    assert isinstance(ours, mi.StructType)
    walker = Walker()
    walker.model(sdk_event, ours, [side, wire_type])
    return walker


# Models our structs keep as JSON (decoded tools are dicts: see live._models.Tool) are walked
# on their own against the struct we offer for building them.
STANDALONE: dict[str, tuple[type[BaseModel], type[msgspec.Struct]]] = {
    "function tool": (sdk.FunctionTool, live.FunctionTool),
}


def _fail_on(drift: list[Drift]) -> None:
    shown = list(dict.fromkeys(str(d) for d in drift if not _allowed(d.key)))
    if shown:
        pytest.fail("the SDK knows more than our structs:\n  " + "\n  ".join(shown), pytrace=False)


@pytest.mark.parametrize(("side", "sdk_event"), MEMBERS, ids=MEMBER_IDS)
def test_our_structs_know_every_field_the_sdk_knows(side: str, sdk_event: type[BaseModel]) -> None:
    _fail_on(_walk(side, sdk_event).found)


@pytest.mark.parametrize("name", STANDALONE)
def test_the_structs_for_building_json_kept_objects_know_every_sdk_field(name: str) -> None:
    model, ours = STANDALONE[name]
    info = mi.type_info(ours)
    assert isinstance(info, mi.StructType)
    walker = Walker()
    walker.model(model, info, [name])
    _fail_on(walker.found)


def test_the_walk_is_not_vacuous_and_every_allowed_difference_still_exists() -> None:
    found: list[Drift] = []
    compared: set[str] = set()
    for side, member in MEMBERS:
        walker = _walk(side, member)
        found += walker.found
        compared |= walker.compared
    assert len(compared) > 250
    for key in (
        "live.session_usage.SessionUsage.active_seconds",
        "live.decision_event.DecisionEvent.source_event_type",
        "decision.AnswerAnswerResourceScore.probabilities",
        "live.initial_item.AssistantContentOutputText.text",
        "live.responses_delegation_config.ResponsesDelegationConfig.tool_choice",
        "live.server_event.TransportFailedError.param",
    ):
        assert key in compared, key
    stale = [pattern for pattern in ALLOWED if not any(fnmatch.fnmatchcase(d.key, pattern) for d in found)]
    assert stale == []


# --- the contract's edge cases -------------------------------------------------------------------


def test_audio_events_need_no_event_id() -> None:
    event = live.decode(b'{"type":"session.output_audio.delta","delta":"AAA="}')
    assert isinstance(event, live.OutputAudioDeltaEvent)
    assert event.pcm == b"\x00\x00"
    assert event.start_ms is None
    assert live.encode(event) == b'{"type":"session.output_audio.delta","delta":"AAA="}'
    reflected = live.decode(b'{"type":"session.input_audio.append","audio":"AQI="}')
    assert isinstance(reflected, live.SessionInputAudioAppend)
    assert reflected.pcm == b"\x01\x02"


def test_a_null_delegation_id_is_always_sent() -> None:
    for cls in (live.InstructionsAppendEvent, live.ThinkingAppendEvent, live.CommentaryAppendEvent):
        wire = live.encode(cls(content="hi", delegation_id=None))
        assert b'"delegation_id":null' in wire
        assert json.loads(wire) == {"type": cls.type, "content": "hi", "delegation_id": None}
        with pytest.raises(TypeError):
            cls(content="hi")  # type: ignore[call-arg]


def test_an_append_without_delegation_id_is_rejected_like_the_server_does() -> None:
    with pytest.raises(live.DecodeError) as caught:
        live.decode_client(b'{"type":"session.instructions.append","content":"hi"}')
    assert caught.value.event_type == "session.instructions.append"


def test_decision_create_requires_its_event_id() -> None:
    assert live.encode(live.DecisionCreateEvent(event_id="e1")) == b'{"type":"decision.create","event_id":"e1"}'
    with pytest.raises(live.DecodeError):
        live.decode_client(b'{"type":"decision.create"}')


def test_an_unknown_server_type_is_returned_with_its_bytes() -> None:
    frame = b'{"type":"session.something_new","event_id":"e","x":1}'
    event = live.decode(frame)
    assert isinstance(event, live.UnknownEvent)
    assert event.type == "session.something_new"
    assert event.raw == frame
    assert live.encode(event) == frame


@pytest.mark.parametrize("decoder", [live.decode_client, live.decode_sideband_client, live.decode_fork_client])
def test_an_unknown_client_type_is_a_decode_error(decoder: Any) -> None:
    with pytest.raises(live.DecodeError) as caught:
        decoder(b'{"type":"input_audio_buffer.append","audio":""}')
    assert caught.value.event_type == "input_audio_buffer.append"


@pytest.mark.parametrize("frame", [b"", b"[]", b'{"type":1}', b"{", b'{"type":"session.started"}'])
def test_a_broken_server_frame_is_a_decode_error(frame: bytes) -> None:
    with pytest.raises(live.DecodeError):
        live.decode(frame)


def test_a_command_of_another_connection_is_rejected_there() -> None:
    start = b'{"type":"session.start","session":{"model":"gpt-live-1"}}'
    assert isinstance(live.decode_client(start), live.SessionStartEvent)
    assert isinstance(live.decode_fork_client(b'{"type":"session.start","session":{}}'), live.ForkSessionStartEvent)
    with pytest.raises(live.DecodeError):
        live.decode_sideband_client(start)
    with pytest.raises(live.DecodeError):
        live.decode_client(b'{"type":"transport.dtmf.send","event":"5"}')
    with pytest.raises(live.DecodeError):
        live.decode_sideband_client(b'{"type":"session.input_audio.append","audio":""}')


def test_the_both_direction_types_decode_per_direction() -> None:
    append = b'{"type":"session.input_audio.append","audio":"AAA="}'
    assert type(live.decode(append)) is live.SessionInputAudioAppend
    assert type(live.decode_client(append)) is live.InputAudioAppendEvent
    dtmf = b'{"type":"transport.dtmf.send","event":"5","event_id":"e"}'
    assert type(live.decode(dtmf)) is live.TransportDtmfSendLegacy
    assert type(live.decode_sideband_client(dtmf)) is live.TransportDtmfSend
    assert live.SERVER_EVENTS["transport.dtmf.send"] is live.TransportDtmfSendLegacy


def test_fields_the_server_adds_are_ignored() -> None:
    frame = (
        b'{"type":"session.input_transcript.delta","event_id":"e","delta":"hel","start_ms":0,"end_ms":200,'
        b'"speaker":{"id":1},"new":[1,2]}'
    )
    event = live.decode(frame)
    assert isinstance(event, live.InputTranscriptDeltaEvent)
    assert (event.delta, event.start_ms, event.end_ms) == ("hel", 0, 200)
    started = live.decode(
        b'{"type":"session.started","event_id":"e","session":{"id":"live_1","expires_at":1,"model":"gpt-live-1",'
        b'"status":"active","brand_new":true,"delegation":{"type":"client","later":1}}}'
    )
    assert isinstance(started, live.SessionStartedEvent)
    assert isinstance(started.session.delegation, live.ClientDelegation)


def test_audio_constructors() -> None:
    pcm = b"\x01\x00\x02\x00"
    append = live.InputAudioAppendEvent.from_pcm(pcm, event_id="e")
    assert append.pcm == pcm
    assert live.decode_client(live.encode(append)) == append
    fixture = live.OutputAudioFixturePlayEvent.from_pcm(memoryview(pcm))
    assert fixture.pcm == pcm
    assert json.loads(live.encode(fixture)) == {"type": "session.output_audio.fixture.play", "audio": "AQACAA=="}


FUNCTION_CALL_DONE = (
    b'{"type":"response.event","event_id":"e1","delegation_id":"item_9","event":{"type":"response.output_item.done",'
    b'"response_id":"resp_1","output_index":0,"sequence_number":7,"item":{"type":"function_call","id":"fc_1",'
    b'"call_id":"call_1","name":"lookup","arguments":"{\\"q\\": 1}","status":"completed"}}}'
)


def test_response_event_gives_the_function_call() -> None:
    event = live.decode(FUNCTION_CALL_DONE)
    assert isinstance(event, live.ResponseEvent)
    assert event.delegation_id == "item_9"
    assert event.event_type == "response.output_item.done"
    assert event.function_call == live.FunctionCall(call_id="call_1", name="lookup", arguments='{"q": 1}', id="fc_1")
    assert event.text_delta is None
    assert event.response_id == "resp_1"
    assert event.nested()["sequence_number"] == 7


def test_response_event_keeps_the_nested_event_byte_for_byte() -> None:
    spaced = FUNCTION_CALL_DONE.replace(b'"sequence_number":7', b'"sequence_number" :  7, "z": [ ]')
    nested = spaced[spaced.index(b'{"type":"response.output_item.done"') : -1]
    event = live.decode(spaced)
    assert isinstance(event, live.ResponseEvent)
    assert bytes(event.event) == nested
    assert (
        live.encode(event)
        == b'{"type":"response.event","event_id":"e1","event":' + nested + b',"delegation_id":"item_9"}'
    )
    assert json.loads(live.encode(event)) == json.loads(spaced)


def test_response_event_text_delta_and_others() -> None:
    delta = live.decode(
        b'{"type":"response.event","event_id":"e","event":{"type":"response.output_text.delta",'
        b'"response_id":"resp_2","item_id":"i","output_index":0,"content_index":0,"delta":"Hel"}}'
    )
    assert isinstance(delta, live.ResponseEvent)
    assert (delta.event_type, delta.text_delta, delta.function_call) == ("response.output_text.delta", "Hel", None)
    assert delta.response_id == "resp_2"
    created = live.ResponseEvent.from_nested(
        {"type": "response.created", "response": {"id": "resp_3", "output": []}}, delegation_id="d"
    )
    assert created.event_id.startswith("event_")
    assert created.response_id == "resp_3"
    assert created.text_delta is None
    message_done = live.ResponseEvent.from_nested(
        {"type": "response.output_item.done", "item": {"type": "message", "id": "m"}}, event_id="e"
    )
    assert message_done.function_call is None
    odd = live.decode(b'{"type":"response.event","event_id":"e","event":{"type":7,"item":"no"}}')
    assert isinstance(odd, live.ResponseEvent)
    assert (odd.event_type, odd.function_call, odd.response_id) == (None, None, None)


def test_update_configs_tell_null_from_absent() -> None:
    untouched = live.SessionUpdateEvent(session=live.SessionUpdateConfig(triggers=[]))
    assert json.loads(live.encode(untouched)) == {"type": "session.update", "session": {"triggers": []}}
    cleared = live.SessionUpdateEvent(session=live.SessionUpdateConfig(delegation=None))
    assert json.loads(live.encode(cleared)) == {"type": "session.update", "session": {"delegation": None}}
    frame = b'{"type":"session.update","session":{"delegation":{"type":"responses","responses":{"instructions":null}}}}'
    event = live.decode_client(frame)
    assert isinstance(event, live.SessionUpdateEvent)
    assert live.encode(event) == frame


def test_a_session_start_builds_the_documented_frame() -> None:
    start = live.SessionStartEvent(
        session=live.SessionConfig(
            model="gpt-live-1",
            audio=live.SessionAudio(
                format=live.AudioFormat(type="audio/pcm", rate=24000), output=live.AudioOutput(voice="marin")
            ),
            delegation=live.DelegationResponses(
                responses=live.ResponsesDelegationConfig(
                    model="gpt-5.6-terra",
                    tools=[
                        live.FunctionTool(name="lookup", parameters={"type": "object"}),
                        live.WebSearchTool(),
                        {"type": "file_search", "vector_store_ids": ["vs_1"]},
                    ],
                )
            ),
            input=[live.InitialItem(role="user", content=[live.InitialItemContent(text="hi")])],
        )
    )
    frame = json.loads(live.encode(start))
    sdk.SessionStartEvent.model_validate(frame)
    assert frame["session"]["delegation"]["responses"]["tools"][2] == {
        "type": "file_search",
        "vector_store_ids": ["vs_1"],
    }
    decoded = live.decode_client(live.encode(start))
    assert isinstance(decoded, live.SessionStartEvent)
    assert isinstance(decoded.session.delegation, live.DelegationResponses)
    assert decoded.session.delegation.responses.function_tools() == [
        live.FunctionTool(name="lookup", parameters={"type": "object"})
    ]
    assert live.encode(decoded) == live.encode(start)


def test_response_item_create_helpers_validate_with_the_sdk() -> None:
    for event in (
        live.ResponseItemCreateEvent.function_call_output("call_1", '{"ok": true}'),
        live.ResponseItemCreateEvent.user_message("hello", event_id="e"),
    ):
        sdk.ResponseItemCreateEvent.model_validate(json.loads(live.encode(event)))


def test_decisions_keep_string_and_boolean_choices_apart() -> None:
    frame = {
        "type": "decision.event",
        "event_id": "e",
        "delegation_id": None,
        "trigger_id": "t",
        "event": {
            "type": "decision.completed",
            "decision": {
                "model": "m",
                "answers": [
                    {"type": "choice", "choice": "true", "confidence": 0.5, "probabilities": [
                        {"value": True, "probability": 0.25}, {"value": "true", "probability": 0.75}]},
                ],
                "usage": {
                    "input_tokens": 1, "output_tokens": 1, "total_tokens": 2,
                    "input_tokens_details": {"cache_write_tokens": 0, "cached_tokens": 0},
                    "output_tokens_details": {"reasoning_tokens": 0},
                },
            },
        },
    }  # fmt: skip
    event = live.decode(json.dumps(frame).encode())
    assert isinstance(event, live.DecisionEvent)
    (answer,) = event.event.decision.answers
    assert isinstance(answer, live.DecisionAnswerChoice)
    assert answer.choice == "true"
    assert [p.value for p in answer.probabilities] == [True, "true"]
    assert event.delegation_id is None
