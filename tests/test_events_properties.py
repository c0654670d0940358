"""Property tests of the events codec.

(a) Round trip: any valid instance of any modelled event encodes and decodes back to
    itself. The strategies are derived from the structs' own type information, so a new
    field is covered without touching this file (and a field of a kind the builder does
    not know fails loudly).
(b) Error contract: whatever the input (bytes, text, JSON values, mutated recorded frames),
    ``decode`` returns a ``ServerEvent`` or raises ``DecodeError`` and ``decode_client``
    returns a ``ClientEvent`` or raises ``DecodeError``. Nothing else escapes.
"""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from conftest import recorded_frames
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from msgspec import UNSET

from realtime_dispatch import events

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PER_CLASS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CORPUS = [frame for _, _, frame in recorded_frames("ga-*.jsonl") + recorded_frames("beta-*.jsonl")]
CORPUS += [frame for _, _, frame in recorded_frames("non-openai/*.jsonl")]


# --- strategies from the structs' type information -------------------------------------------

TEXT = st.text(max_size=12)
INTS = st.integers(min_value=-(2**63), max_value=2**64 - 1)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | INTS | FLOATS | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=8,
)


def strategy_for(info: mi.Type) -> st.SearchStrategy[Any]:
    """Valid values of one msgspec type."""
    if isinstance(info, mi.StrType):
        return TEXT
    if isinstance(info, mi.IntType):
        return INTS
    if isinstance(info, mi.FloatType):
        return FLOATS
    if isinstance(info, mi.BoolType):
        return st.booleans()
    if isinstance(info, mi.NoneType):
        return st.none()
    if isinstance(info, mi.AnyType):
        return JSON_VALUES
    if isinstance(info, mi.LiteralType):
        return st.sampled_from(info.values)
    if isinstance(info, mi.ListType):
        return st.lists(strategy_for(info.item_type), max_size=2)
    if isinstance(info, mi.DictType):
        return st.dictionaries(strategy_for(info.key_type), strategy_for(info.value_type), max_size=3)
    if isinstance(info, mi.UnionType):
        return st.one_of([strategy_for(member) for member in info.types])
    if isinstance(info, mi.StructType):
        return struct_strategy(info.cls)
    raise TypeError(f"no strategy for {info!r}: teach strategy_for about it")


@cache
def struct_strategy(cls: type[msgspec.Struct]) -> st.SearchStrategy[Any]:
    """Instances of ``cls``: every required field, any subset of the optional ones.

    ``type_info`` drops ``UnsetType`` from unions (and reports the default as NODEFAULT);
    leaving a field out of the keyword arguments is how an instance keeps UNSET.
    """
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    types = {field.name: field.type for field in info.fields}
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for field in msgspec.structs.fields(cls):
        target = required if field.required else optional
        target[field.name] = strategy_for(types[field.name])
    return st.fixed_dictionaries(required, optional=optional).map(lambda kwargs: cls(**kwargs))


SERVER_CLASSES = [events.SERVER_EVENTS[name] for name in sorted(events.SERVER_EVENTS)]
CLIENT_CLASSES = [events.CLIENT_EVENTS[name] for name in sorted(events.CLIENT_EVENTS)]
ANY_SERVER_EVENT = st.sampled_from(SERVER_CLASSES).flatmap(struct_strategy)
ANY_CLIENT_EVENT = st.sampled_from(CLIENT_CLASSES).flatmap(struct_strategy)


def check_omission(value: Any, wire: Any) -> None:
    """Walk a struct and its JSON: untouched optional fields are absent; UNSET fields set to None are null."""
    if isinstance(value, msgspec.Struct):
        assert isinstance(wire, dict)
        declared = {field.encode_name for field in msgspec.structs.fields(value)}
        assert set(wire) - declared <= {value.__struct_config__.tag_field}
        for field in msgspec.structs.fields(value):
            item = getattr(value, field.name)
            if field.required:
                assert field.encode_name in wire
            elif item is UNSET or (item is None and field.default is None):
                assert field.encode_name not in wire, field.name
                continue
            elif item is None:
                assert wire[field.encode_name] is None, field.name
                continue
            check_omission(item, wire[field.encode_name])
    elif isinstance(value, list):
        assert isinstance(wire, list)
        assert len(value) == len(wire)
        for item, wire_item in zip(value, wire, strict=True):
            check_omission(item, wire_item)


@pytest.mark.parametrize("cls", SERVER_CLASSES, ids=lambda cls: cls.type)
@PER_CLASS
@given(data=st.data())
def test_server_event_round_trip(cls: type[events.ServerEvent], data: st.DataObject) -> None:
    event = data.draw(struct_strategy(cls))
    wire = events.encode(event)
    assert type(wire) is bytes
    decoded = events.decode(wire)
    assert type(decoded) is cls
    assert decoded == event
    assert decoded.type == cls.type
    parsed = json.loads(wire)
    assert parsed["type"] == cls.type
    check_omission(event, parsed)
    assert events.decode(wire.decode()) == event
    # A server event is not a client event.
    with pytest.raises(events.DecodeError) as info:
        events.decode_client(wire)
    assert info.value.event_type == cls.type


@pytest.mark.parametrize("cls", CLIENT_CLASSES, ids=lambda cls: cls.type)
@PER_CLASS
@given(data=st.data())
def test_client_event_round_trip(cls: type[events.ClientEvent], data: st.DataObject) -> None:
    event = data.draw(struct_strategy(cls))
    wire = events.encode(event)
    assert type(wire) is bytes
    decoded = events.decode_client(wire)
    assert type(decoded) is cls
    assert decoded == event
    parsed = json.loads(wire)
    assert parsed["type"] == cls.type
    check_omission(event, parsed)
    # The server decoder does not model client types: they come back as unknown events.
    unknown = events.decode(wire)
    assert isinstance(unknown, events.UnknownEvent)
    assert unknown.type == cls.type
    assert unknown.raw == wire


@SETTINGS
@given(event=ANY_SERVER_EVENT | ANY_CLIENT_EVENT)
def test_encoding_is_stable(event: events.ServerEvent | events.ClientEvent) -> None:
    wire = events.encode(event)
    decode = events.decode if isinstance(event, events.ServerEvent) else events.decode_client
    assert events.encode(decode(wire)) == wire


@SETTINGS
@given(event=ANY_SERVER_EVENT)
def test_build_fills_what_is_missing(event: events.ServerEvent) -> None:
    cls = type(event)
    defaultable = {"event_id", "response_id", "item_id", "call_id", "output_index", "content_index"}
    given_fields = {
        field.name: getattr(event, field.name)
        for field in msgspec.structs.fields(cls)
        if not (field.required and field.name in defaultable) and getattr(event, field.name) is not field.default
    }
    built = cls.build(**given_fields)
    for field in msgspec.structs.fields(cls):
        value = getattr(built, field.name)
        if field.name in given_fields:
            assert value == given_fields[field.name]
        elif field.required and field.name.endswith("_index"):
            assert value == 0
        elif field.required:
            prefix = {"event_id": "event_", "response_id": "resp_", "item_id": "item_", "call_id": "call_"}
            assert value.startswith(prefix[field.name])
        else:
            assert value == field.default
    assert events.decode(events.encode(built)) == built


@SETTINGS
@given(pcm=st.binary(max_size=4096))
def test_audio_round_trip(pcm: bytes) -> None:
    append = events.InputAudioBufferAppend.from_pcm(pcm)
    assert append.pcm == pcm
    assert append.audio == base64.b64encode(pcm).decode()
    decoded = events.decode_client(events.encode(append))
    assert isinstance(decoded, events.InputAudioBufferAppend)
    assert decoded.pcm == pcm
    delta = events.ResponseOutputAudioDelta.build(delta=append.audio)
    assert delta.pcm == pcm
    beta = events.ResponseAudioDelta.build(delta=append.audio)
    assert beta.pcm == pcm
    assert events.ContentPart(audio=append.audio).pcm == pcm


# --- the error contract ----------------------------------------------------------------------


def server_outcome(data: Any) -> events.ServerEvent | events.DecodeError:
    """decode's result or its DecodeError; any other exception fails the test."""
    try:
        event = events.decode(data)
    except events.DecodeError as exc:
        error = exc
    else:
        return check_server_event(event, data)
    if isinstance(data, (bytes, str)):
        assert error.raw == data
    return error


def check_server_event(event: events.ServerEvent, data: Any) -> events.ServerEvent:
    assert isinstance(event, events.ServerEvent)
    if isinstance(event, events.UnknownEvent):
        assert event.type not in events.SERVER_EVENTS
        assert event.raw == (data.encode() if isinstance(data, str) else bytes(data))
        assert events.encode(event) == event.raw
    else:
        assert event.type in events.SERVER_EVENTS
        events.encode(event)  # a decoded event can always be encoded
    return event


def client_outcome(data: Any) -> events.ClientEvent | events.DecodeError:
    try:
        event = events.decode_client(data)
    except events.DecodeError as exc:
        error = exc
    else:
        assert isinstance(event, events.ClientEvent)
        assert event.type in events.CLIENT_EVENTS
        events.encode(event)
        return event
    if isinstance(data, (bytes, str)):
        assert error.raw == data
    return error


def check_both(data: Any) -> None:
    server_outcome(data)
    client_outcome(data)


def check_json_object(value: Any, data: bytes | str) -> None:
    """``data`` is well-formed JSON of ``value``: the outcome is fully determined by its ``type``."""
    server = server_outcome(data)
    client = client_outcome(data)
    wire_type = value.get("type") if isinstance(value, dict) else None
    if not isinstance(wire_type, str):
        assert isinstance(server, events.DecodeError)
        assert server.event_type is None
        assert isinstance(client, events.DecodeError)
        assert client.event_type is None
        return
    if wire_type in events.SERVER_EVENTS:
        if isinstance(server, events.DecodeError):
            assert server.event_type == wire_type
            assert wire_type in str(server)
        else:
            assert type(server) is events.SERVER_EVENTS[wire_type]
    else:
        assert isinstance(server, events.UnknownEvent)
        assert server.type == wire_type
    if wire_type in events.CLIENT_EVENTS:
        if isinstance(client, events.DecodeError):
            assert client.event_type == wire_type
        else:
            assert type(client) is events.CLIENT_EVENTS[wire_type]
    else:
        assert isinstance(client, events.DecodeError)
        assert client.event_type == wire_type


def dump(value: Any, ensure_ascii: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ensure_ascii, allow_nan=False).encode()


ALL_TYPES = sorted(events.SERVER_EVENTS) + sorted(events.CLIENT_EVENTS)
TYPE_VALUES = st.sampled_from(ALL_TYPES) | TEXT | JSON_VALUES
OBJECTS = st.dictionaries(TEXT, JSON_VALUES, max_size=6)
FRAME_LIKE = st.builds(lambda fields, wire_type: {**fields, "type": wire_type}, OBJECTS, TYPE_VALUES)


@SETTINGS
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes(data: bytes) -> None:
    check_both(data)


@SETTINGS
@given(text=st.text(alphabet=st.characters(exclude_categories=()), max_size=100))
def test_arbitrary_text_including_surrogates(text: str) -> None:
    check_both(text)


@SETTINGS
@given(value=JSON_VALUES | FRAME_LIKE, ensure_ascii=st.booleans(), as_text=st.booleans())
def test_arbitrary_json_values(value: Any, ensure_ascii: bool, as_text: bool) -> None:
    data = dump(value, ensure_ascii)
    check_json_object(value, data.decode() if as_text else data)


@SETTINGS
@given(
    frame=st.sampled_from(CORPUS),
    nesting=st.sampled_from([b"[", b'{"a":', b'[{"a":']),
    depth=st.integers(min_value=1, max_value=150_000),
)
def test_deep_nesting_in_a_recorded_frame(frame: bytes, nesting: bytes, depth: int) -> None:
    closing = {b"[": b"]", b'{"a":': b"}", b'[{"a":': b"}]"}[nesting]
    inner = b"1" if nesting != b"[" else b""
    data = frame[:-1] + b',"zz":' + nesting * depth + inner + closing * depth + b"}"
    check_both(data)


# --- mutated recorded frames -------------------------------------------------------------------


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a member or element inside ``value``."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return found
    for key, item in items:
        found.append((*prefix, key))
        found.extend(paths(item, (*prefix, key)))
    return found


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    copy = json.loads(json.dumps(value))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return copy


def deleted(value: Any, path: tuple[Any, ...]) -> Any:
    copy = json.loads(json.dumps(value))
    target = copy
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return copy


# Recorded frames kept small enough to mutate quickly (the beta audio frames are 50 kB).
SMALL_CORPUS = [frame for frame in CORPUS if len(frame) < 4000]


@SETTINGS
@given(frame=st.sampled_from(SMALL_CORPUS), data=st.data())
def test_recorded_frame_with_a_value_replaced(frame: bytes, data: st.DataObject) -> None:
    value = json.loads(frame)
    path = data.draw(st.sampled_from(paths(value)))
    mutated = replaced(value, path, data.draw(JSON_VALUES | st.sampled_from(ALL_TYPES)))
    check_json_object(mutated, dump(mutated, data.draw(st.booleans())))


@SETTINGS
@given(frame=st.sampled_from(SMALL_CORPUS), data=st.data())
def test_recorded_frame_with_a_member_deleted(frame: bytes, data: st.DataObject) -> None:
    value = json.loads(frame)
    mutated = deleted(value, data.draw(st.sampled_from(paths(value))))
    check_json_object(mutated, dump(mutated, ensure_ascii=False))


@SETTINGS
@given(frame=st.sampled_from(CORPUS), data=st.data())
def test_truncated_recorded_frame(frame: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(frame) - 1))
    truncated = frame[:cut]
    server = server_outcome(truncated)
    assert isinstance(server, events.DecodeError)  # an object cut short is never well-formed
    assert isinstance(client_outcome(truncated), events.DecodeError)


@SETTINGS
@given(frame=st.sampled_from(SMALL_CORPUS), data=st.data())
def test_recorded_frame_with_bytes_flipped(frame: bytes, data: st.DataObject) -> None:
    mutated = bytearray(frame)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        position = data.draw(st.integers(min_value=0, max_value=len(mutated) - 1))
        mutated[position] ^= data.draw(st.integers(min_value=1, max_value=255))
    check_both(bytes(mutated))


INVALID_UTF8 = st.sampled_from(
    [b"\xff", b"\xfe", b"\x80", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"]
)


@SETTINGS
@given(frame=st.sampled_from(SMALL_CORPUS), bad=INVALID_UTF8, position=st.integers(min_value=0, max_value=10_000))
@example(frame=b'{"type":"brand.new","text":""}', bad=b"\xff", position=28)  # in an unknown event
@example(frame=SMALL_CORPUS[0], bad=b"\xe9", position=2)  # in the key "type"
def test_invalid_utf8_anywhere_in_a_frame_raises_decode_error(frame: bytes, bad: bytes, position: int) -> None:
    """A frame that is not UTF-8 is not JSON: DecodeError, wherever the bad bytes sit.

    Inside a string they are invalid UTF-8; outside one, invalid JSON. Either way, never an event.
    """
    position %= len(frame) + 1
    mutated = frame[:position] + bad + frame[position:]
    assert isinstance(server_outcome(mutated), events.DecodeError)
    assert isinstance(client_outcome(mutated), events.DecodeError)


@SETTINGS
@given(frame=st.sampled_from(SMALL_CORPUS), data=st.data())
def test_recorded_frame_with_bytes_inserted(frame: bytes, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(frame)))
    insert = data.draw(st.binary(min_size=1, max_size=8) | st.sampled_from([b"\\", b'"', b"\xff", b"\xed\xa0\x80"]))
    check_both(frame[:position] + insert + frame[position:])


@SETTINGS
@given(frame=st.sampled_from(SMALL_CORPUS), digits=st.integers(min_value=1, max_value=6000), data=st.data())
def test_recorded_frame_with_a_huge_number(frame: bytes, digits: int, data: st.DataObject) -> None:
    value = json.loads(frame)
    number_paths = [path for path in paths(value) if isinstance(_get(value, path), int | float)]
    if not number_paths:
        number_paths = [("n",)]
    path = data.draw(st.sampled_from(number_paths))
    sign = data.draw(st.sampled_from(["", "-"]))
    placeholder = "__huge_number__"
    mutated = dump(replaced(value, path, placeholder), ensure_ascii=False)
    huge = (sign + "9" * digits + data.draw(st.sampled_from(["", ".5", "e999", "e-999"]))).encode()
    check_both(mutated.replace(b'"' + placeholder.encode() + b'"', huge))


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value if not isinstance(value, bool) else None
