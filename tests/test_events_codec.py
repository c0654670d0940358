"""The codec contract: errors, client events, registries, ``build()``, audio helpers, ``UnknownEvent``."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from msgspec import UNSET

from realtime_dispatch import events
from realtime_dispatch.events import _client, _models, _server

SERVER_TYPES = sorted(events.SERVER_EVENTS)
CLIENT_TYPES = sorted(events.CLIENT_EVENTS)

BETA_ONLY_SERVER_TYPES = {
    "response.audio.delta",
    "response.audio.done",
    "response.audio_transcript.delta",
    "response.audio_transcript.done",
    "response.text.delta",
    "response.text.done",
    "transcription_session.updated",
}
CLIENT_TYPE_NAMES = {
    "conversation.item.create",
    "conversation.item.delete",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "input_audio_buffer.append",
    "input_audio_buffer.clear",
    "input_audio_buffer.commit",
    "output_audio_buffer.clear",
    "response.cancel",
    "response.create",
    "session.update",
    "transcription_session.update",
}
# Fields where an explicit ``null`` means "turn this off": they default to UNSET.
UNSET_FIELDS: set[tuple[type[msgspec.Struct], str]] = {
    (events.AudioInput, "noise_reduction"),
    (events.AudioInput, "transcription"),
    (events.AudioInput, "turn_detection"),
    (events.Session, "tracing"),
    (events.Session, "turn_detection"),
    (events.Session, "input_audio_transcription"),
    (events.Session, "input_audio_noise_reduction"),
}

TEXT_DELTA = (
    b'{"type":"response.output_text.delta","event_id":"event_1","response_id":"resp_1",'
    b'"item_id":"item_1","output_index":0,"content_index":0,"delta":"Hi"}'
)


# --- helpers -------------------------------------------------------------------------------


def minimal(info: mi.Type) -> Any:
    """The smallest JSON value of a msgspec type (required fields only for objects)."""
    if isinstance(info, mi.StrType):
        return "x"
    if isinstance(info, mi.IntType):
        return 0
    if isinstance(info, mi.FloatType):
        return 0.5
    if isinstance(info, mi.BoolType):
        return False
    if isinstance(info, mi.NoneType):
        return None
    if isinstance(info, mi.LiteralType):
        return info.values[0]
    if isinstance(info, mi.ListType):
        return []
    if isinstance(info, (mi.DictType, mi.AnyType)):
        return {}
    if isinstance(info, mi.UnionType):
        return minimal(next(t for t in info.types if not isinstance(t, mi.NoneType)))
    if isinstance(info, mi.StructType):
        obj: dict[str, Any] = {info.tag_field: info.tag} if info.tag_field else {}
        obj.update({f.encode_name: minimal(f.type) for f in info.fields if f.required})
        return obj
    raise TypeError(f"no minimal value for {info!r}")


def minimal_frame(cls: type[events.ServerEvent] | type[events.ClientEvent]) -> dict[str, Any]:
    frame: dict[str, Any] = minimal(mi.type_info(cls))
    assert frame["type"] == cls.type
    return frame


def required_fields(cls: type[msgspec.Struct]) -> list[str]:
    return [f.name for f in msgspec.structs.fields(cls) if f.required]


def all_structs() -> list[type[msgspec.Struct]]:
    found = []
    for module in (_models, _server, _client):
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and issubclass(obj, msgspec.Struct):
                found.append(obj)
    return found


def raises_decode_error(decode: Any, data: Any) -> events.DecodeError:
    with pytest.raises(events.DecodeError) as info:
        decode(data)
    assert type(info.value) is events.DecodeError
    return info.value


# --- the error contract --------------------------------------------------------------------

DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
HUGE_INT = b"9" * 5000

BROKEN_FRAMES = {
    "invalid JSON": b"{nope}",
    "truncated JSON": TEXT_DELTA[:-10],
    "truncated after the type": b'{"type":"error"',
    "empty": b"",
    "whitespace": b" \n ",
    "trailing garbage": TEXT_DELTA + b" x",
    "array": b'[{"type":"error"}]',
    "number": b"42",
    "string": b'"response.done"',
    "null": b"null",
    "true": b"true",
    "missing type": b'{"event_id":"e","delta":"x"}',
    "int type": b'{"type":1}',
    "null type": b'{"type":null}',
    "list type": b'{"type":["error"]}',
    "object type": b'{"type":{"name":"error"}}',
    "invalid UTF-8 in the type": b'{"type":"brand.new\xff"}',
    "invalid UTF-8 in a value": TEXT_DELTA.replace(b'"Hi"', b'"H\xc3\x28"'),
    "overlong UTF-8": b'{"type":"\xc0\xaf"}',
    # msgspec does not check the UTF-8 of members it skips: an undeclared member, or every
    # member of an unknown event. The frame is still not UTF-8, so it is not well-formed.
    "invalid UTF-8 in an unknown event": b'{"type":"brand.new","text":"caf\xe9"}',
    "invalid UTF-8 in an unknown event's key": b'{"type":"brand.new","\xff":1}',
    "invalid UTF-8 in an undeclared member": b'{"type":"input_audio_buffer.cleared","event_id":"e","x":"\xff\xfe"}',
    "encoded surrogate in an undeclared member": (
        b'{"type":"input_audio_buffer.cleared","event_id":"e","x":"\xed\xa0\x80"}'
    ),
    "invalid UTF-8 in an undeclared client member": b'{"type":"input_audio_buffer.commit","x":"\x80"}',
    "UTF-16": '{"type":"error"}'.encode("utf-16"),
    "lone surrogate escape": TEXT_DELTA.replace(b'"Hi"', b'"\\ud800"'),
    "NaN literal": b'{"type":"brand.new","x":NaN}',
    "deep nesting in an unknown event": b'{"type":"brand.new","x":' + DEEP_ARRAY + b"}",
    "deep nesting before the type": b'{"x":' + DEEP_ARRAY + b',"type":"brand.new"}',
    "deep nesting in a known event": b'{"type":"error","event_id":"e","x":' + DEEP_ARRAY + b"}",
    "deep nesting in an Any field": (
        b'{"type":"session.created","event_id":"e","session":{"tools":[{"parameters":{"a":' + DEEP_ARRAY + b"}}]}}"
    ),
    "deep objects": b'{"type":"brand.new","x":' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"}",
}


@pytest.mark.parametrize("data", BROKEN_FRAMES.values(), ids=BROKEN_FRAMES.keys())
@pytest.mark.parametrize("decode", [events.decode, events.decode_client])
def test_broken_frames_raise_decode_error(decode: Any, data: bytes) -> None:
    exc = raises_decode_error(decode, data)
    assert isinstance(exc, ValueError)
    assert exc.raw == data
    assert str(exc)


@pytest.mark.parametrize(
    "data",
    [b"{nope}", b"[1]", b'{"type":3}', b'{"a":1}', b"[" * 100_000],
    ids=["invalid", "array", "int type", "no type", "deep"],
)
def test_no_event_type_when_none_was_found(data: bytes) -> None:
    assert raises_decode_error(events.decode, data).event_type is None
    assert raises_decode_error(events.decode_client, data).event_type is None


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"brand.new\ud800"}',
        '{"type":"brand.new","x":"\udfff"}',
        TEXT_DELTA.decode().replace('"Hi"', '"H\udc80"'),
        "\ud83d",
    ],
    ids=["in the type", "in an unknown field", "in a known field", "alone"],
)
@pytest.mark.parametrize("decode", [events.decode, events.decode_client])
def test_str_with_lone_surrogates_raises_decode_error(decode: Any, text: str) -> None:
    exc = raises_decode_error(decode, text)
    assert exc.raw == text


@pytest.mark.parametrize(
    "data",
    [0, 42, None, 1.5, ["{}"], {"type": "error"}, object(), True],
    ids=["zero", "int", "None", "float", "list", "dict", "object", "bool"],
)
@pytest.mark.parametrize("decode", [events.decode, events.decode_client])
def test_non_buffer_input_raises_decode_error(decode: Any, data: Any) -> None:
    exc = raises_decode_error(decode, data)
    assert exc.event_type is None
    assert type(data).__name__ in str(exc)


@pytest.mark.parametrize(
    ("frame", "path"),
    [
        (TEXT_DELTA.replace(b'"Hi"', b"5"), "$.delta"),
        (TEXT_DELTA.replace(b'"output_index":0', b'"output_index":"0"'), "$.output_index"),
        (TEXT_DELTA.replace(b'"output_index":0', b'"output_index":0.5'), "$.output_index"),
        (TEXT_DELTA.replace(b'"output_index":0', b'"output_index":true'), "$.output_index"),
        (TEXT_DELTA.replace(b'"output_index":0', b'"output_index":null'), "$.output_index"),
        (TEXT_DELTA.replace(b'"event_id":"event_1"', b'"event_id":["event_1"]'), "$.event_id"),
        (b'{"type":"error","event_id":"e","error":{"type":"t","message":7}}', "$.error.message"),
        (b'{"type":"error","event_id":"e","error":"boom"}', "$.error"),
        (
            b'{"type":"response.done","event_id":"e","response":{"output":[{"type":"message","content":"x"}]}}',
            "$.response.output[0].content",
        ),
        (b'{"type":"session.created","event_id":"e","session":{"tools":{}}}', "$.session.tools"),
        (b'{"type":"session.created","event_id":"e","session":{"temperature":1e999}}', "$.session.temperature"),
        (
            b'{"type":"conversation.item.truncated","event_id":"e","item_id":"i","content_index":'
            + HUGE_INT
            + b',"audio_end_ms":1}',
            "$.content_index",
        ),
        (
            b'{"type":"input_audio_buffer.speech_started","event_id":"e","item_id":"i","audio_start_ms":-'
            + HUGE_INT
            + b"}",
            "$.audio_start_ms",
        ),
        (
            b'{"type":"rate_limits.updated","event_id":"e","rate_limits":[{"limit":' + HUGE_INT + b"}]}",
            "$.rate_limits[0].limit",
        ),
    ],
    ids=[
        "int for str",
        "str for int",
        "float for int",
        "bool for int",
        "null for int",
        "list for str",
        "nested",
        "str for object",
        "in a list",
        "object for list",
        "float overflow",
        "huge int",
        "huge negative int",
        "huge int in a list",
    ],
)
def test_a_known_type_whose_fields_do_not_fit_raises_decode_error(frame: bytes, path: str) -> None:
    event_type = json.loads(frame.replace(HUGE_INT, b"0").replace(b"1e999", b"0"))["type"]
    exc = raises_decode_error(events.decode, frame)
    assert exc.event_type == event_type
    assert exc.raw == frame
    message = str(exc)
    assert event_type in message
    assert f"`{path}`" in message or message.endswith(path), message
    # The same frame as text fails the same way.
    text_exc = raises_decode_error(events.decode, frame.decode())
    assert text_exc.event_type == event_type
    assert text_exc.raw == frame.decode()


def test_huge_ints_in_client_int_fields_raise_decode_error() -> None:
    frame = b'{"type":"conversation.item.truncate","item_id":"i","content_index":0,"audio_end_ms":' + HUGE_INT + b"}"
    exc = raises_decode_error(events.decode_client, frame)
    assert exc.event_type == "conversation.item.truncate"
    assert "$.audio_end_ms" in str(exc)


def test_decode_error_is_a_value_error_carrying_raw_and_type() -> None:
    assert issubclass(events.DecodeError, ValueError)
    exc = events.DecodeError("boom", raw=b"{}", event_type="error")
    assert (str(exc), exc.raw, exc.event_type) == ("boom", b"{}", "error")
    assert events.DecodeError("boom", raw="{}").event_type is None


@pytest.mark.parametrize("event_type", SERVER_TYPES)
def test_decoding_never_invents_a_missing_required_field(event_type: str) -> None:
    cls = events.SERVER_EVENTS[event_type]
    frame = minimal_frame(cls)
    data = json.dumps(frame).encode()
    event = events.decode(data)
    assert type(event) is cls
    assert event.type == event_type
    missing_required = required_fields(cls)
    assert missing_required or cls is events.InputAudioBufferCleared
    for name in missing_required:
        broken = json.dumps({key: value for key, value in frame.items() if key != name}).encode()
        exc = raises_decode_error(events.decode, broken)
        assert exc.event_type == event_type
        assert f"`{name}`" in str(exc)
        assert event_type in str(exc)


def test_a_frame_missing_response_id_raises() -> None:
    frame = TEXT_DELTA.replace(b'"response_id":"resp_1",', b"")
    exc = raises_decode_error(events.decode, frame)
    assert exc.event_type == "response.output_text.delta"
    assert "response_id" in str(exc)


@pytest.mark.parametrize("event_type", CLIENT_TYPES)
def test_client_decoding_never_invents_a_missing_required_field(event_type: str) -> None:
    cls = events.CLIENT_EVENTS[event_type]
    frame = minimal_frame(cls)
    assert type(events.decode_client(json.dumps(frame))) is cls
    for name in required_fields(cls):
        broken = json.dumps({key: value for key, value in frame.items() if key != name}).encode()
        exc = raises_decode_error(events.decode_client, broken)
        assert exc.event_type == event_type
        assert f"`{name}`" in str(exc)


# --- extra fields are tolerated ------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        b'{"type":"response.output_audio.delta","event_id":"e","response_id":"r","item_id":"i",'
        b'"output_index":0,"content_index":0,"delta":"AAAA","obfuscation":"xyz"}',
        b'{"type":"response.output_text.done","event_id":"e","response_id":"r","item_id":"i",'
        b'"output_index":0,"content_index":0,"text":"t","obfuscation":"xyz"}',
        b'{"type":"session.created","event_id":"e","session":{"id":"sess_1","object":"realtime.session",'
        b'"brand_new":{"a":[1,2]},"audio":{"input":{"format":{"type":"audio/pcm","rate":24000,"bits":16}}}}}',
        b'{"type":"conversation.item.added","event_id":"e","item":{"id":"item_1","type":"message",'
        b'"role":"user","phase":"final","content":[{"type":"input_text","text":"hi","extra":null}]}}',
        b'{"type":"response.done","event_id":"e","response":{"id":"r","usage":{"total_tokens":1,'
        b'"output_token_details":{"text_tokens":1,"thinking_tokens":9}},"future":true}}',
        b'{"type":"error","event_id":"e","error":{"type":"t","message":"m","details":{"x":1}},"new":[]}',
        b'{"new_first":{"deep":[[[]]]},"type":"input_audio_buffer.cleared","event_id":"e"}',
    ],
    ids=[
        "undeclared obfuscation",
        "obfuscation on done",
        "session extras",
        "item extras",
        "usage extras",
        "error extras",
        "extra before type",
    ],
)
def test_undeclared_fields_are_tolerated(frame: bytes) -> None:
    event = events.decode(frame)
    assert type(event) is events.SERVER_EVENTS[json.loads(frame)["type"]]
    assert events.decode(events.encode(event)) == event


def test_session_id_is_kept() -> None:
    event = events.decode(b'{"type":"session.updated","event_id":"e","session":{"id":"sess_1","type":"realtime"}}')
    assert isinstance(event, events.SessionUpdated)
    assert event.session.id == "sess_1"
    assert event.session.type == "realtime"


# --- UnknownEvent --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b'{"type":"response.brand_new_event","event_id":"e","x":[1,{"y":null}]}',
        b'{"type":""}',
        b'  {"a":1,"type":"late.type"}  ',
        b'{"type":"session.update","session":{}}',  # a client type is not a server event
        '{"type":"unicode.é","text":"日本語 🎉"}'.encode(),
        b'{"type":"big.numbers","n":' + b"9" * 500 + b',"f":1e308}',
    ],
    ids=["typical", "empty type", "whitespace and late type", "client type", "unicode", "big numbers"],
)
def test_unknown_type_returns_unknown_event(data: bytes) -> None:
    event = events.decode(data)
    assert type(event) is events.UnknownEvent
    assert isinstance(event, events.ServerEvent)
    assert event.type == json.loads(data)["type"]
    assert event.raw == data
    assert type(event.raw) is bytes
    assert events.encode(event) == data


def test_unknown_event_from_str_holds_its_utf8_bytes() -> None:
    text = '{"type":"brand.new","text":"héllo 🎉"}'
    event = events.decode(text)
    assert isinstance(event, events.UnknownEvent)
    assert event.type == "brand.new"
    assert event.raw == text.encode("utf-8")
    assert events.encode(event) == text.encode("utf-8")


@pytest.mark.parametrize("wrap", [bytearray, memoryview], ids=["bytearray", "memoryview"])
def test_unknown_event_from_other_buffers_holds_bytes(wrap: Any) -> None:
    data = b'{"type":"brand.new"}'
    event = events.decode(wrap(data))
    assert isinstance(event, events.UnknownEvent)
    assert type(event.raw) is bytes
    assert event.raw == data


def test_unknown_event_is_not_registered() -> None:
    assert events.UnknownEvent not in events.SERVER_EVENTS.values()
    assert "UnknownEvent" not in _server.__all__


@pytest.mark.parametrize(
    "data",
    [b'{"type":"brand.new"}', b'{"type":"response.done","event_id":"e","response":{}}', '{"type":"x"}'],
    ids=["unknown", "server type", "str"],
)
def test_decode_client_rejects_unknown_types(data: bytes | str) -> None:
    exc = raises_decode_error(events.decode_client, data)
    assert exc.event_type == json.loads(data)["type"]
    assert exc.raw == data
    assert str(exc.event_type) in str(exc)


# --- decoding known events -------------------------------------------------------------------


@pytest.mark.parametrize(
    "wrap", [bytes, bytearray, memoryview, lambda b: b.decode()], ids=["bytes", "bytearray", "memoryview", "str"]
)
def test_decode_accepts_bytes_and_str(wrap: Any) -> None:
    event = events.decode(wrap(TEXT_DELTA))
    assert event == events.ResponseOutputTextDelta(
        event_id="event_1", response_id="resp_1", item_id="item_1", output_index=0, content_index=0, delta="Hi"
    )
    assert event.type == "response.output_text.delta"


def test_encode_is_compact_json() -> None:
    event = events.decode(TEXT_DELTA)
    assert events.encode(event) == TEXT_DELTA
    assert isinstance(events.encode(event), bytes)


def test_a_beta_function_call_done_without_name_decodes() -> None:
    frame = (
        b'{"type":"response.function_call_arguments.done","event_id":"e","response_id":"r","item_id":"i",'
        b'"output_index":0,"call_id":"c","arguments":"{}"}'
    )
    event = events.decode(frame)
    assert isinstance(event, events.ResponseFunctionCallArgumentsDone)
    assert event.name is None
    assert events.encode(event) == frame


def test_dtmf_event_has_no_event_id() -> None:
    frame = b'{"type":"input_audio_buffer.dtmf_event_received","event":"5","received_at":1760000000}'
    event = events.decode(frame)
    assert event == events.InputAudioBufferDtmfEventReceived(event="5", received_at=1760000000)
    assert events.encode(event) == frame


def test_tagged_unions_decode_to_their_structs() -> None:
    frame = (
        b'{"type":"conversation.item.input_audio_transcription.completed","event_id":"e","item_id":"i",'
        b'"content_index":0,"transcript":"hi","usage":{"type":"duration","seconds":1.5}}'
    )
    event = events.decode(frame)
    assert isinstance(event, events.InputAudioTranscriptionCompleted)
    assert event.usage == events.TranscriptionDurationUsage(seconds=1.5)
    assert events.encode(event) == frame
    session = events.decode(
        b'{"type":"session.updated","event_id":"e","session":{"tool_choice":{"type":"function","name":"f"},'
        b'"truncation":{"type":"retention_ratio","retention_ratio":0.5},"max_output_tokens":"inf",'
        b'"audio":{"output":{"voice":{"id":"voice_1"}}}}}'
    )
    assert isinstance(session, events.SessionUpdated)
    assert session.session.tool_choice == events.ToolChoiceFunction(name="f")
    assert session.session.truncation == events.RetentionRatioTruncation(retention_ratio=0.5)
    assert session.session.max_output_tokens == "inf"
    assert session.session.audio is not None
    assert session.session.audio.output is not None
    assert session.session.audio.output.voice == events.VoiceId(id="voice_1")


# --- client events ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (events.ResponseCreate(), b'{"type":"response.create"}'),
        (events.ResponseCreate(response=events.ResponseParams()), b'{"type":"response.create","response":{}}'),
        (events.ResponseCancel(), b'{"type":"response.cancel"}'),
        (events.ResponseCancel(response_id=None, event_id=None), b'{"type":"response.cancel"}'),
        (events.InputAudioBufferCommit(), b'{"type":"input_audio_buffer.commit"}'),
        (events.InputAudioBufferClear(event_id="event_9"), b'{"type":"input_audio_buffer.clear","event_id":"event_9"}'),
        (events.OutputAudioBufferClear(), b'{"type":"output_audio_buffer.clear"}'),
        (events.ConversationItemDelete(item_id="item_1"), b'{"type":"conversation.item.delete","item_id":"item_1"}'),
        (
            events.ConversationItemTruncate(item_id="item_1", content_index=0, audio_end_ms=1500),
            b'{"type":"conversation.item.truncate","item_id":"item_1","content_index":0,"audio_end_ms":1500}',
        ),
        (
            events.SessionUpdate(session=events.Session(type="realtime", instructions="Be brief.")),
            b'{"type":"session.update","session":{"type":"realtime","instructions":"Be brief."}}',
        ),
        (
            events.ConversationItemCreate(item=events.ConversationItem.message("user", "hi")),
            b'{"type":"conversation.item.create","item":{"type":"message","role":"user",'
            b'"content":[{"type":"input_text","text":"hi"}]}}',
        ),
        (
            events.ConversationItemCreate(
                item=events.ConversationItem.message("assistant", "hello", id="item_2"), previous_item_id="root"
            ),
            b'{"type":"conversation.item.create","item":{"type":"message","id":"item_2","role":"assistant",'
            b'"content":[{"type":"output_text","text":"hello"}]},"previous_item_id":"root"}',
        ),
        (
            events.ConversationItemCreate(item=events.ConversationItem.function_call_output("call_1", '{"ok":1}')),
            b'{"type":"conversation.item.create","item":{"type":"function_call_output","call_id":"call_1",'
            b'"output":"{\\"ok\\":1}"}}',
        ),
        (
            events.SessionUpdate(session=events.Session(type="realtime", max_output_tokens="inf", tracing="auto")),
            b'{"type":"session.update","session":{"type":"realtime","max_output_tokens":"inf","tracing":"auto"}}',
        ),
    ],
    ids=lambda value: value.type if isinstance(value, events.ClientEvent) else "",
)
def test_client_events_omit_unset_optional_fields(event: events.ClientEvent, expected: bytes) -> None:
    assert events.encode(event) == expected
    assert events.decode_client(expected) == event
    assert events.decode_client(expected.decode()) == event


@pytest.mark.parametrize(
    ("cls", "field"),
    sorted(UNSET_FIELDS, key=str),
    ids=lambda value: value if isinstance(value, str) else getattr(value, "__name__", ""),
)
def test_unset_fields_encode_none_as_null_and_omit_untouched(cls: type[msgspec.Struct], field: str) -> None:
    assert getattr(cls(), field) is UNSET
    assert msgspec.json.encode(cls()) == b"{}"
    assert msgspec.json.encode(cls(**{field: None})) == b'{"%s":null}' % field.encode()
    # Decoding keeps the difference: null -> None, absent -> UNSET.
    assert getattr(msgspec.json.decode(b'{"%s":null}' % field.encode(), type=cls), field) is None
    assert getattr(msgspec.json.decode(b"{}", type=cls), field) is UNSET


def test_turning_turn_detection_off_sends_null() -> None:
    update = events.SessionUpdate(
        session=events.Session(type="realtime", audio=events.SessionAudio(input=events.AudioInput(turn_detection=None)))
    )
    expected = b'{"type":"session.update","session":{"type":"realtime","audio":{"input":{"turn_detection":null}}}}'
    assert events.encode(update) == expected
    decoded = events.decode_client(expected)
    assert decoded == update
    assert isinstance(decoded, events.SessionUpdate)
    assert decoded.session.audio is not None
    assert decoded.session.audio.input is not None
    assert decoded.session.audio.input.turn_detection is None
    assert decoded.session.audio.input.noise_reduction is UNSET
    beta = events.SessionUpdate(
        session=events.Session(turn_detection=None, input_audio_transcription=None, tracing=None)
    )
    assert events.encode(beta) == (
        b'{"type":"session.update","session":{"tracing":null,"input_audio_transcription":null,"turn_detection":null}}'
    )
    assert events.encode(events.SessionUpdate(session=events.Session())) == b'{"type":"session.update","session":{}}'


def test_only_the_documented_fields_default_to_unset() -> None:
    unset = set()
    for cls in all_structs():
        for field in msgspec.structs.fields(cls):
            if field.required:
                continue
            if field.default is UNSET:
                unset.add((cls, field.name))
            else:
                # Every other optional field defaults to None, so leaving it untouched omits it.
                assert field.default is None, (cls.__name__, field.name, field.default)
                assert field.default_factory is msgspec.NODEFAULT
    assert unset == UNSET_FIELDS
    for cls in all_structs():
        assert cls.__struct_config__.omit_defaults, cls.__name__


def test_client_event_ids_are_optional_and_echoed() -> None:
    event = events.ResponseCreate(event_id="event_abc")
    assert events.encode(event) == b'{"type":"response.create","event_id":"event_abc"}'
    assert events.ResponseCreate().event_id is None


# --- registries ------------------------------------------------------------------------------


def test_registries_have_every_wire_type() -> None:
    assert len(events.SERVER_EVENTS) == 53
    assert len(events.CLIENT_EVENTS) == 12
    assert set(events.SERVER_EVENTS) >= BETA_ONLY_SERVER_TYPES
    assert len(set(events.SERVER_EVENTS) - BETA_ONLY_SERVER_TYPES) == 46
    assert set(events.CLIENT_EVENTS) == CLIENT_TYPE_NAMES
    assert not set(events.SERVER_EVENTS) & set(events.CLIENT_EVENTS)
    assert set(events.SERVER_EVENTS.values()) == {getattr(_server, name) for name in _server.__all__}
    assert set(events.CLIENT_EVENTS.values()) == {getattr(_client, name) for name in _client.__all__}


@pytest.mark.parametrize("registry", [events.SERVER_EVENTS, events.CLIENT_EVENTS], ids=["server", "client"])
def test_registries_are_read_only(registry: Mapping[str, Any]) -> None:
    assert isinstance(registry, Mapping)
    size = len(registry)
    with pytest.raises(TypeError):
        registry["brand.new"] = events.UnknownEvent  # type: ignore[index]
    with pytest.raises(TypeError):
        del registry["error" if "error" in registry else "response.create"]  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        registry.update({})  # type: ignore[attr-defined]
    assert len(registry) == size


@pytest.mark.parametrize("event_type", SERVER_TYPES)
def test_server_classes_carry_their_wire_type(event_type: str) -> None:
    cls = events.SERVER_EVENTS[event_type]
    assert issubclass(cls, events.ServerEvent)
    assert cls.type == event_type
    assert cls.__struct_config__.tag == event_type
    assert "type" not in cls.__struct_fields__
    assert events.decode(json.dumps(minimal_frame(cls))).type == event_type
    assert getattr(events, cls.__name__) is cls


@pytest.mark.parametrize("event_type", CLIENT_TYPES)
def test_client_classes_carry_their_wire_type(event_type: str) -> None:
    cls = events.CLIENT_EVENTS[event_type]
    assert issubclass(cls, events.ClientEvent)
    assert cls.type == event_type
    assert cls.__struct_config__.tag == event_type
    assert "type" not in cls.__struct_fields__
    event = events.decode_client(json.dumps(minimal_frame(cls)))
    assert event.type == event_type
    assert json.loads(events.encode(event))["type"] == event_type
    # The server side does not model client types: it sees them as unknown events.
    assert isinstance(events.decode(events.encode(event)), events.UnknownEvent)


# --- build() ---------------------------------------------------------------------------------

ID_PREFIXES = {"event_id": "event_", "response_id": "resp_", "item_id": "item_", "call_id": "call_"}
ID_PATTERN = re.compile(r"^(event|resp|item|call)_[0-9A-Za-z]{21}$")


@pytest.mark.parametrize("event_type", SERVER_TYPES)
def test_build_fills_ids_and_indices(event_type: str) -> None:
    cls = events.SERVER_EVENTS[event_type]
    defaultable = set(ID_PREFIXES) | {"output_index", "content_index"}
    # The fields build() cannot fill, taken from a decoded minimal frame.
    template = events.decode(json.dumps(minimal_frame(cls)))
    given = {name: getattr(template, name) for name in required_fields(cls) if name not in defaultable}
    event = cls.build(**given)
    again = cls.build(**given)
    assert type(event) is cls
    filled = 0
    for name in required_fields(cls):
        value = getattr(event, name)
        if name in ID_PREFIXES:
            assert value.startswith(ID_PREFIXES[name])
            assert ID_PATTERN.match(value), value
            assert value != getattr(again, name)  # fresh every time
            filled += 1
        elif name in ("output_index", "content_index"):
            assert value == 0
            filled += 1
        else:
            assert value == given[name]
    assert filled or cls is events.InputAudioBufferDtmfEventReceived
    assert events.decode(events.encode(event)) == event


def test_build_keeps_given_fields() -> None:
    event = events.ResponseOutputTextDelta.build(delta="Hi", response_id="resp_given", output_index=3)
    assert event.delta == "Hi"
    assert event.response_id == "resp_given"
    assert event.output_index == 3
    assert event.content_index == 0
    assert event.event_id.startswith("event_")
    assert event.item_id.startswith("item_")
    call = events.ResponseFunctionCallArgumentsDone.build(arguments="{}", name="f")
    assert call.call_id.startswith("call_")
    assert call.response_id.startswith("resp_")
    assert call.name == "f"
    assert events.ResponseMcpCallInProgress.build().item_id.startswith("item_")
    assert not hasattr(events.ResponseMcpCallInProgress.build(), "response_id")


def test_build_leaves_optional_fields_unset_and_requires_the_rest() -> None:
    committed = events.InputAudioBufferCommitted.build()
    assert committed.previous_item_id is None
    item = events.ConversationItemCreated.build(item=events.ConversationItem.message("user", "hi"))
    assert item.previous_item_id is None
    with pytest.raises(TypeError):
        events.ResponseOutputTextDelta.build()  # delta is not defaultable
    with pytest.raises(TypeError):
        events.InputAudioBufferDtmfEventReceived.build(event="1")  # received_at is required


def test_new_id_has_the_server_style() -> None:
    ids = {events.new_id("event") for _ in range(100)}
    assert len(ids) == 100
    assert all(ID_PATTERN.match(value) for value in ids)


# --- audio -----------------------------------------------------------------------------------

PCM = bytes(range(256)) * 4 + b"\x00\xff\x7f"


@pytest.mark.parametrize("cls", [events.ResponseOutputAudioDelta, events.ResponseAudioDelta])
def test_audio_delta_pcm_returns_raw_bytes(cls: type[events.ResponseOutputAudioDelta]) -> None:
    event = cls.build(delta=base64.b64encode(PCM).decode())
    assert event.pcm == PCM
    assert type(event.pcm) is bytes
    decoded = events.decode(events.encode(event))
    assert isinstance(decoded, cls)
    assert decoded.pcm == PCM
    assert cls.build(delta="").pcm == b""


@pytest.mark.parametrize("pcm", [b"", b"\x00", PCM, bytes(4800)], ids=["empty", "one byte", "all bytes", "100ms"])
@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview], ids=["bytes", "bytearray", "memoryview"])
def test_input_audio_buffer_append_from_pcm_round_trips(pcm: bytes, wrap: Any) -> None:
    event = events.InputAudioBufferAppend.from_pcm(wrap(pcm), event_id="event_1")
    assert event.audio == base64.b64encode(pcm).decode("ascii")
    assert "\n" not in event.audio
    assert event.event_id == "event_1"
    assert event.pcm == pcm
    assert type(event.pcm) is bytes
    wire = events.encode(event)
    assert json.loads(wire) == {"type": "input_audio_buffer.append", "event_id": "event_1", "audio": event.audio}
    decoded = events.decode_client(wire)
    assert isinstance(decoded, events.InputAudioBufferAppend)
    assert decoded.pcm == pcm
    assert events.InputAudioBufferAppend.from_pcm(pcm).event_id is None


def test_content_part_pcm() -> None:
    assert events.ContentPart(type="input_audio", audio=base64.b64encode(PCM).decode()).pcm == PCM
    assert events.ContentPart(type="input_text", text="hi").pcm == b""
    assert events.ContentPart(audio="").pcm == b""
    item = events.decode(
        b'{"type":"conversation.item.retrieved","event_id":"e","item":{"id":"i","type":"message","role":"user",'
        b'"content":[{"type":"input_audio","audio":"AAECAw==","transcript":"hi"}]}}'
    )
    assert isinstance(item, events.ConversationItemRetrieved)
    assert item.item.content is not None
    assert item.item.content[0].pcm == b"\x00\x01\x02\x03"


def test_base64_helpers_round_trip() -> None:
    text = events.pcm_to_base64(PCM)
    assert text == base64.b64encode(PCM).decode()
    assert events.pcm_from_base64(text) == PCM
    assert events.pcm_to_base64(memoryview(PCM)) == text
    assert events.pcm_from_base64("") == b""


def test_client_secret_repr_hides_the_value() -> None:
    secret = events.ClientSecret(value="ek_secret_value", expires_at=1)
    assert "ek_secret_value" not in repr(secret)
    assert "ek_secret_value" not in repr(events.Session(client_secret=secret))
