"""Drift against the installed openai SDK: every field its event models know, ours know too.

Two nets, both generated from the SDK's pydantic models rather than written by hand, so a
new SDK release that adds a field fails here, naming where:

* a structural walk of every GA and beta server and client event class, and of every
  nested model reachable from their fields (through unions, lists, optionals, literals and
  dicts), against our msgspec structs: a field the SDK has and we lack, or a type that
  differs in a way that loses or rejects data, is reported with its path, e.g.
  ``response.done > response > status_details > error > message``;
* a round trip: one frame per event type (and per union alternative) with every optional
  field filled, decoded with our codec and encoded back, must come out JSON-equal.

SDK event classes map to ours by their ``type`` literal; nested models by field name.
Deliberate differences live in ``ALLOWED`` with a reason each.
"""

from __future__ import annotations

import fnmatch
import json
import types
import typing
from dataclasses import dataclass
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from openai.types import realtime as ga
from openai.types.beta import realtime as beta
from pydantic import BaseModel
from test_events_sdk import union_members

from realtime_dispatch import events

UNIONS: dict[str, Any] = {
    "ga server": ga.RealtimeServerEvent,
    "ga client": ga.RealtimeClientEvent,
    "beta server": beta.RealtimeServerEvent,
    "beta client": beta.RealtimeClientEvent,
}

# Deliberate differences: a glob over "<module under openai.types>.<class>.<field>" and why.
# Keep this short: each entry is a place where drift is not reported.
ALLOWED: dict[str, str] = {
    "*.parameters": "SDK `object`; a tool's JSON Schema is always a JSON object, so ours is dict[str, Any]",
    "*.input_schema": "SDK `object`; an MCP tool's JSON Schema is always a JSON object",
    "*.Tool.annotations": "SDK `object`; MCP tool annotations are a JSON object by the MCP spec",
    "*Tracing*.metadata": "SDK `object`; trace metadata is a JSON object (the Agents SDK's shape)",
}


def allowed(key: str) -> bool:
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in ALLOWED)


# --- the SDK side ----------------------------------------------------------------------------


def alternatives(annotation: Any) -> list[Any]:
    """The members of an SDK annotation: unions and ``Optional`` flattened, ``None`` dropped."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return alternatives(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [member for arg in typing.get_args(annotation) for member in alternatives(arg)]
    if annotation is type(None):
        return []
    return [annotation]


def is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def model_key(model: type[BaseModel]) -> str:
    return f"{model.__module__.removeprefix('openai.types.')}.{model.__qualname__}"


def wire_fields(model: type[BaseModel]) -> dict[str, Any]:
    """Wire name to annotation of every field the SDK model declares."""
    return {info.alias or name: info.annotation for name, info in model.model_fields.items()}


def literal_values(annotation: Any) -> tuple[Any, ...]:
    return typing.get_args(annotation) if typing.get_origin(annotation) is typing.Literal else ()


def model_tag(model: type[BaseModel]) -> tuple[Any, ...]:
    """The ``type`` literal values of a model, or ``()`` when it has none."""
    annotation = wire_fields(model).get("type")
    return tuple(value for member in alternatives(annotation) for value in literal_values(member))


def event_classes() -> list[tuple[str, type[BaseModel]]]:
    return [(side, member) for side, union in UNIONS.items() for member in union_members(union)]


# --- the comparison --------------------------------------------------------------------------


@dataclass(frozen=True)
class Drift:
    path: str
    key: str  # "<sdk module>.<class>.<field>": what ALLOWED is keyed by
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def ours_alternatives(info: mi.Type) -> list[mi.Type]:
    if isinstance(info, mi.UnionType):
        return [member for member in info.types if not isinstance(member, mi.NoneType)]
    if isinstance(info, mi.NoneType):  # msgspec.inspect leaves UNSET out of unions
        return []
    return [info]


def describe(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return repr(annotation).replace("typing.", "").replace("typing_extensions.", "")


class Walker:
    """Compares one SDK event class with our struct, collecting every drift below it."""

    def __init__(self) -> None:
        self.found: list[Drift] = []
        self.seen: set[tuple[type[BaseModel], type[msgspec.Struct]]] = set()
        self.compared: set[str] = set()  # every SDK field key reached, to prove the walk is not vacuous

    def report(self, path: list[str], key: str, problem: str) -> None:
        self.found.append(Drift(" > ".join(path), key, problem))

    def model(self, model: type[BaseModel], ours: mi.StructType, path: list[str]) -> None:
        if (model, ours.cls) in self.seen:
            return
        self.seen.add((model, ours.cls))
        fields = {field.encode_name: field for field in ours.fields}
        sdk_fields = wire_fields(model)
        for name, annotation in sdk_fields.items():
            key = f"{model_key(model)}.{name}"
            here = [*path, name]
            self.compared.add(key)
            if ours.tag_field == name:
                values = {value for member in alternatives(annotation) for value in literal_values(member)}
                if values - {ours.tag}:
                    self.report(here, key, f"SDK has {sorted(values)}, ours is tagged {ours.tag!r}")
                continue
            if name not in fields:
                self.report(here, key, f"SDK has {describe(annotation)}; {ours.cls.__name__} lacks the field")
                continue
            optional_in_sdk = not model.model_fields[self.attribute(model, name)].is_required()
            if fields[name].required and optional_in_sdk:
                self.report(here, key, f"SDK makes it optional; {ours.cls.__name__} requires it")
            self.value(annotation, fields[name].type, here, key)

    @staticmethod
    def attribute(model: type[BaseModel], wire: str) -> str:
        return next(name for name, info in model.model_fields.items() if (info.alias or name) == wire)

    def value(self, annotation: Any, ours_info: mi.Type, path: list[str], key: str) -> None:
        ours = ours_alternatives(ours_info)
        if any(isinstance(member, mi.AnyType) for member in ours):
            return
        for sdk in alternatives(annotation):
            problem = self.member(sdk, ours, path, key)
            if problem:
                self.report(path, key, problem)

    def member(self, sdk: Any, ours: list[mi.Type], path: list[str], key: str) -> str | None:
        """Check one SDK alternative against our alternatives; a problem, or None when it fits."""

        def having(*kinds: type[mi.Type]) -> list[Any]:
            return [member for member in ours if isinstance(member, kinds)]

        shown = [type(member).__name__.removesuffix("Type").lower() for member in ours]
        origin = typing.get_origin(sdk)
        if sdk in (object, Any):
            return f"SDK says any JSON, ours {shown}"
        if origin is typing.Literal:
            values = typing.get_args(sdk)
            plain = mi.StrType if all(isinstance(value, str) for value in values) else mi.IntType
            if any(isinstance(value, bool) or not isinstance(value, (str, int)) for value in values):
                return f"unhandled SDK literal {sdk!r}"
            if having(plain):
                return None
            if not having(mi.LiteralType):
                return f"SDK says Literal{list(values)}, ours {shown}"
            ours_values = {value for member in having(mi.LiteralType) for value in member.values}
            missing = [value for value in values if value not in ours_values]
            return f"ours lacks Literal values {missing}" if missing else None
        if sdk is str:
            return None if having(mi.StrType) else f"SDK says str, ours {shown}"
        if sdk is bool:
            return None if having(mi.BoolType) else f"SDK says bool, ours {shown}"
        if sdk is int:
            return None if having(mi.IntType, mi.FloatType) else f"SDK says int, ours {shown}"
        if sdk is float:
            return None if having(mi.FloatType) else f"SDK says float, ours {shown}"
        if origin in (list, typing.List):  # noqa: UP006
            lists = having(mi.ListType)
            if not lists:
                return f"SDK says list, ours {shown}"
            (element,) = typing.get_args(sdk) or (Any,)
            self.value(element, lists[0].item_type, [*path, "[]"], key)
            return None
        if origin in (dict, typing.Dict):  # noqa: UP006
            dicts = having(mi.DictType)
            if not dicts:
                return f"SDK says dict, ours {shown}"
            _, element = typing.get_args(sdk) or (str, Any)
            self.value(element, dicts[0].value_type, [*path, "{}"], key)
            return None
        if is_model(sdk):
            structs: list[mi.StructType] = having(mi.StructType)
            if not structs:
                return None if having(mi.DictType) else f"SDK says object {sdk.__name__}, ours {shown}"
            tags = model_tag(sdk)
            tagged = [struct for struct in structs if struct.tag_field and struct.tag in tags]
            untagged = [struct for struct in structs if not struct.tag_field]
            if tagged:
                target = tagged[0]
            elif len(untagged) == 1:
                target = untagged[0]
            else:
                return f"no struct of ours for SDK {sdk.__name__} (type {list(tags)}) among {shown}"
            self.model(sdk, target, path)
            return None
        return f"unhandled SDK annotation {sdk!r}"


def our_event(side: str, sdk_event: type[BaseModel]) -> type[msgspec.Struct]:
    registry: Any = events.SERVER_EVENTS if side.endswith("server") else events.CLIENT_EVENTS
    (wire_type,) = model_tag(sdk_event)
    return registry[wire_type]  # type: ignore[no-any-return]


def walk(side: str, sdk_event: type[BaseModel]) -> Walker:
    walker = Walker()
    ours = mi.type_info(our_event(side, sdk_event))
    assert isinstance(ours, mi.StructType)
    (wire_type,) = model_tag(sdk_event)
    walker.model(sdk_event, ours, [wire_type])
    return walker


EVENT_CLASSES = event_classes()
EVENT_IDS = [f"{side}:{model_tag(cls)[0]}" for side, cls in EVENT_CLASSES]

# The SDK types the GA ``session.created/updated`` session as the request shape, but the
# server sends the REST response shape (``id``, ``object``, ``expires_at``, ...): walk those too.
SESSION_SHAPES: dict[str, type[BaseModel]] = {
    "session.created (response shape) > session": ga.RealtimeSessionCreateResponse,
    "session.created (transcription response shape) > session": ga.RealtimeTranscriptionSessionCreateResponse,
}


def drift_of_session_shape(path: str) -> Walker:
    walker = Walker()
    ours = mi.type_info(events.Session)
    assert isinstance(ours, mi.StructType)
    walker.model(SESSION_SHAPES[path], ours, [path])
    return walker


def all_drift() -> tuple[list[Drift], set[str]]:
    found: list[Drift] = []
    compared: set[str] = set()
    for side, cls in EVENT_CLASSES:
        walker = walk(side, cls)
        found += walker.found
        compared |= walker.compared
    for path in SESSION_SHAPES:
        walker = drift_of_session_shape(path)
        found += walker.found
        compared |= walker.compared
    return found, compared


def test_the_walk_covers_every_sdk_event_class() -> None:
    # 46 + 11 GA, 34 + 12 beta (see test_events_sdk): a broken walk must not pass vacuously.
    assert len(EVENT_CLASSES) == 46 + 11 + 34 + 12


def fail_on(drift: list[Drift]) -> None:
    shown = list(dict.fromkeys(str(d) for d in drift if not allowed(d.key)))  # union members can repeat one
    if shown:
        pytest.fail("the SDK knows more than our structs:\n  " + "\n  ".join(shown), pytrace=False)


@pytest.mark.parametrize(("side", "sdk_event"), EVENT_CLASSES, ids=EVENT_IDS)
def test_our_structs_know_every_field_the_sdk_knows(side: str, sdk_event: type[BaseModel]) -> None:
    fail_on(walk(side, sdk_event).found)


@pytest.mark.parametrize("path", SESSION_SHAPES)
def test_our_session_knows_every_field_of_the_sessions_the_server_sends(path: str) -> None:
    fail_on(drift_of_session_shape(path).found)


def test_every_allowed_difference_still_exists() -> None:
    keys = {d.key for d in all_drift()[0]}
    stale = [pattern for pattern in ALLOWED if not any(fnmatch.fnmatchcase(key, pattern) for key in keys)]
    assert stale == [], f"stale ALLOWED entries: {stale}"


# The fields of protocol.md §6 (added to the SDK in 2026): the walk must reach each one.
SECTION_6 = [
    "realtime.realtime_response_status.Error.message",
    "beta.realtime.realtime_response_status.Error.message",
    "realtime.realtime_audio_config_input.NoiseReduction.strength",
    "realtime.realtime_transcription_session_audio_input.NoiseReduction.strength",
    "realtime.realtime_session_create_response.AudioInputNoiseReduction.strength",
    "realtime.audio_transcription.AudioTranscription.keywords",
    "realtime.audio_transcription.AudioTranscription.languages",
    "realtime.audio_transcription.AudioTranscription.delay",
    "realtime.conversation_item_input_audio_transcription_completed_event."
    "ConversationItemInputAudioTranscriptionCompletedEvent.languages",
    "realtime.realtime_tools_config_union.Mcp.allowed_callers",
    "realtime.realtime_tools_config_union.Mcp.tunnel_id",
    "realtime.realtime_tools_config_union.Mcp.defer_loading",
    "realtime.realtime_response_create_mcp_tool.RealtimeResponseCreateMcpTool.allowed_callers",
    "realtime.realtime_response_create_mcp_tool.RealtimeResponseCreateMcpTool.tunnel_id",
    "realtime.realtime_response_create_mcp_tool.RealtimeResponseCreateMcpTool.defer_loading",
    "realtime.realtime_session_create_response.ToolMcpTool.allowed_callers",
    "realtime.realtime_session_create_response.ToolMcpTool.tunnel_id",
    "realtime.realtime_session_create_request.RealtimeSessionCreateRequest.reasoning",
    "realtime.realtime_session_create_request.RealtimeSessionCreateRequest.parallel_tool_calls",
    "realtime.realtime_session_create_request.RealtimeSessionCreateRequest.include",
    "realtime.realtime_session_create_request.RealtimeSessionCreateRequest.tracing",
    "realtime.realtime_response_create_params.RealtimeResponseCreateParams.reasoning",
    "realtime.realtime_response_create_params.RealtimeResponseCreateParams.parallel_tool_calls",
    "realtime.realtime_session_create_response.RealtimeSessionCreateResponse.id",
    "realtime.realtime_session_create_response.RealtimeSessionCreateResponse.object",
    "realtime.realtime_session_create_response.RealtimeSessionCreateResponse.expires_at",
    "realtime.realtime_session_create_response.RealtimeSessionCreateResponse.reasoning",
    "realtime.realtime_transcription_session_create_request.RealtimeTranscriptionSessionCreateRequest.include",
]


def test_the_walk_reaches_the_fields_added_in_2026() -> None:
    compared = all_drift()[1]
    assert len(compared) > 900
    assert [key for key in SECTION_6 if key not in compared] == []


# --- the walk itself notices drift -------------------------------------------------------------


class _Detail(BaseModel):
    message: str | None = None
    code: str | None = None
    count: int | None = None
    tags: list[str] | None = None
    kind: typing.Literal["a", "b"] | None = None


class _Holder(BaseModel):
    type: typing.Literal["x.y"]
    detail: _Detail | None = None


class _OurDetail(msgspec.Struct, kw_only=True):
    code: int | None = None
    count: int | None = None
    tags: str | None = None
    kind: typing.Literal["a"] | None = None


class _OurHolder(msgspec.Struct, kw_only=True, tag_field="type", tag="x.y"):
    detail: _OurDetail | None = None


def test_the_walk_names_the_path_of_each_difference() -> None:
    walker = Walker()
    info = mi.type_info(_OurHolder)
    assert isinstance(info, mi.StructType)
    walker.model(_Holder, info, ["x.y"])
    assert [str(d) for d in walker.found] == [
        "x.y > detail > message: SDK has str | None; _OurDetail lacks the field",
        "x.y > detail > code: SDK says str, ours ['int']",
        "x.y > detail > tags: SDK says list, ours ['str']",
        "x.y > detail > kind: ours lacks Literal values ['b']",
    ]


# --- round trips of SDK-shaped frames with every field filled ----------------------------------


class Filler:
    """Builds a JSON value for an SDK annotation with every field set, recursively.

    ``choice`` picks among union members and literal values, so successive choices reach
    every variant of a union (e.g. each kind of conversation item).
    """

    def __init__(self, choice: int) -> None:
        self.choice = choice

    def pick(self, options: typing.Sequence[Any]) -> Any:
        return options[self.choice % len(options)]

    def value(self, annotation: Any, name: str) -> Any:
        sdk = self.pick(alternatives(annotation))
        origin = typing.get_origin(sdk)
        if sdk in (object, Any):
            return {"key": "value"}
        if origin is typing.Literal:
            return self.pick(typing.get_args(sdk))
        if sdk is str:
            return f"{name}-1"
        if sdk is bool:
            return True
        if sdk is int:
            return 7
        if sdk is float:
            return 0.5
        if origin in (list, typing.List):  # noqa: UP006
            (element,) = typing.get_args(sdk)
            return [self.value(element, name), Filler(self.choice + 1).value(element, name)]
        if origin in (dict, typing.Dict):  # noqa: UP006
            _, element = typing.get_args(sdk)
            return {"key": self.value(element, name)}
        if is_model(sdk):
            return self.model(sdk)
        raise TypeError(f"cannot fill {sdk!r}")

    def model(self, model: type[BaseModel]) -> dict[str, Any]:
        return {name: self.value(annotation, name) for name, annotation in wire_fields(model).items()}


def max_union_width() -> int:
    """Enough choices to reach every member of the widest union or literal in the SDK models."""
    widest = 1
    todo: list[Any] = [cls for _, cls in EVENT_CLASSES]
    done: set[Any] = set()
    while todo:
        annotation = todo.pop()
        if annotation in done:
            continue
        done.add(annotation)
        members = alternatives(annotation)
        widest = max(widest, len(members))
        for member in members:
            if typing.get_origin(member) is typing.Literal:
                widest = max(widest, len(typing.get_args(member)))
            elif is_model(member):
                todo.extend(wire_fields(member).values())
            else:
                todo.extend(typing.get_args(member))
    return widest


def sdk_frames() -> list[tuple[str, dict[str, Any]]]:
    frames: list[tuple[str, dict[str, Any]]] = []
    width = max_union_width()
    for side, cls in EVENT_CLASSES:
        seen: set[str] = set()
        for choice in range(width):
            frame = Filler(choice).model(cls)
            text = json.dumps(frame, sort_keys=True)
            if text not in seen:
                seen.add(text)
                frames.append((f"{side}:{frame['type']}:{choice}", frame))
    return frames


SDK_FRAMES = sdk_frames()


def test_the_frames_cover_every_sdk_event_class() -> None:
    assert {name.rsplit(":", 1)[0] for name, _ in SDK_FRAMES} == set(EVENT_IDS)


@pytest.mark.parametrize("frame", [frame for _, frame in SDK_FRAMES], ids=[name for name, _ in SDK_FRAMES])
def test_fully_filled_sdk_frames_round_trip(frame: dict[str, Any]) -> None:
    wire = json.dumps(frame).encode()
    if frame["type"] in events.CLIENT_EVENTS:
        event: events.ServerEvent | events.ClientEvent = events.decode_client(wire)
    else:
        event = events.decode(wire)
        assert not isinstance(event, events.UnknownEvent)
    back = json.loads(events.encode(event))
    assert back == frame, f"lost or changed on the round trip: {differences(frame, back)}"


def differences(sent: Any, back: Any, path: str = "$") -> list[str]:
    """Where two JSON values differ, as JSON paths."""
    if isinstance(sent, dict) and isinstance(back, dict):
        return [
            found
            for key in sorted(sent.keys() | back.keys())
            for found in differences(sent.get(key, "<absent>"), back.get(key, "<absent>"), f"{path}.{key}")
        ]
    if isinstance(sent, list) and isinstance(back, list) and len(sent) == len(back):
        return [
            found
            for index, pair in enumerate(zip(sent, back, strict=True))
            for found in differences(*pair, f"{path}[{index}]")
        ]
    return [] if sent == back else [f"{path}: sent {sent!r}, got {back!r}"]


def test_the_round_trip_names_what_differs() -> None:
    sent = {"a": {"b": [1, {"c": "x"}], "d": 1}}
    assert differences(sent, {"a": {"b": [1, {}], "d": 1.0}}) == ["$.a.b[1].c: sent 'x', got '<absent>'"]


def test_an_item_reference_in_response_input_round_trips() -> None:
    # Accepted only in response.create's response.input; the SDK types it as a param only.
    frame = {
        "type": "response.create",
        "response": {"input": [{"type": "item_reference", "id": "item_1"}, {"type": "message", "role": "user"}]},
    }
    wire = json.dumps(frame).encode()
    event = events.decode_client(wire)
    assert isinstance(event, events.ResponseCreate)
    assert event.response is not None
    assert event.response.input is not None
    assert event.response.input[0].type == "item_reference"
    assert json.loads(events.encode(event)) == frame
