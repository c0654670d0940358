"""The conversation tracker: recorded sessions, ordering, late transcription, bounds, audio, usage."""

from __future__ import annotations

import base64
import logging
import random
from collections.abc import Iterable

import pytest
from conftest import RECORDED, recorded_frames

from realtime_dispatch import events
from realtime_dispatch._state import Conversation, Item, UsageTotals, _decoded_size

STATE_LOGGER = "realtime_dispatch.state"
EID = "event_test"  # a fixed id: build() would draw 21 random characters per event

SESSIONS = sorted(p.name for p in RECORDED.glob("*.jsonl") if p.name.startswith(("ga-", "beta-")))

# done event type -> (field on the done event, how to read the accumulated value before it lands)
_TEXT_DONE = ("response.output_text.done", "response.text.done")
_TRANSCRIPT_DONE = ("response.output_audio_transcript.done", "response.audio_transcript.done")
_ARGUMENTS_DONE = ("response.function_call_arguments.done",)


def session_events(name: str) -> list[events.ServerEvent]:
    return [events.decode(frame) for _, _, frame in recorded_frames(name)]


def feed(conv: Conversation, evs: Iterable[events.ServerEvent]) -> None:
    for ev in evs:
        conv.observe(ev)


def held(conv: Conversation, item_id: str) -> Item:
    item = conv.get(item_id)
    assert item is not None, item_id
    return item


def no_warnings(caplog: pytest.LogCaptureFixture) -> bool:
    return not [r for r in caplog.records if r.name == STATE_LOGGER and r.levelno >= logging.WARNING]


# --- builders for hand-written sequences ---------------------------------------------------


def msg(
    item_id: str, role: str, *, status: str = "completed", content: list[events.ContentPart] | None = None
) -> events.ConversationItem:
    return events.ConversationItem(id=item_id, type="message", role=role, status=status, content=content)


def added(item: events.ConversationItem, prev: str | None) -> events.ConversationItemAdded:
    return events.ConversationItemAdded.build(event_id=EID, item=item, previous_item_id=prev)


def item_done(item: events.ConversationItem, prev: str | None) -> events.ConversationItemDone:
    return events.ConversationItemDone.build(event_id=EID, item=item, previous_item_id=prev)


def usage(inp: int, out: int, *, audio_in: int = 0, audio_out: int = 0) -> events.Usage:
    return events.Usage(
        total_tokens=inp + out,
        input_tokens=inp,
        output_tokens=out,
        input_token_details=events.InputTokenDetails(text_tokens=inp - audio_in, audio_tokens=audio_in),
        output_token_details=events.OutputTokenDetails(text_tokens=out - audio_out, audio_tokens=audio_out),
    )


def spoken_turn(
    n: int, prev: str | None, *, audio: str = "AAAAAA==", late_transcription: bool = False
) -> list[events.ServerEvent]:
    """One server-VAD turn in the recorded GA order: user item, transcription, spoken answer."""
    user, assistant, resp = f"item_u{n}", f"item_a{n}", f"resp_{n}"
    said = f"user says {n}"
    answer = ["Hello", " there", f" number {n}."]
    completed = events.InputAudioTranscriptionCompleted.build(
        event_id=EID, item_id=user, content_index=0, transcript=said
    )
    user_item = msg(user, "user", content=[events.ContentPart(type="input_audio")])
    out = msg(assistant, "assistant", status="in_progress", content=[])
    final = msg(assistant, "assistant", content=[events.ContentPart(type="output_audio", transcript="".join(answer))])
    evs: list[events.ServerEvent] = [
        events.InputAudioBufferCommitted.build(event_id=EID, item_id=user, previous_item_id=prev),
        added(user_item, prev),
        item_done(user_item, prev),
        events.ResponseCreated.build(event_id=EID, response=events.Response(id=resp, status="in_progress", output=[])),
        events.InputAudioTranscriptionDelta.build(event_id=EID, item_id=user, content_index=0, delta=said[:5]),
        events.ResponseOutputItemAdded.build(event_id=EID, response_id=resp, item=out),
        added(out, user),
        events.ResponseContentPartAdded.build(
            event_id=EID, response_id=resp, item_id=assistant, part=events.ContentPart(type="audio", transcript="")
        ),
    ]
    for delta in answer:
        evs.append(
            events.ResponseOutputAudioTranscriptDelta.build(
                event_id=EID, response_id=resp, item_id=assistant, delta=delta
            )
        )
        evs.append(
            events.ResponseOutputAudioDelta.build(event_id=EID, response_id=resp, item_id=assistant, delta=audio)
        )
    if not late_transcription:
        evs.append(completed)
    evs += [
        events.ResponseOutputAudioDone.build(event_id=EID, response_id=resp, item_id=assistant),
        events.ResponseOutputAudioTranscriptDone.build(
            event_id=EID, response_id=resp, item_id=assistant, transcript="".join(answer)
        ),
        item_done(final, None),  # GA sends a null predecessor on the assistant's .done
        events.ResponseOutputItemDone.build(event_id=EID, response_id=resp, item=final),
        events.ResponseDone.build(
            event_id=EID,
            response=events.Response(id=resp, status="completed", output=[final], usage=usage(40, 60, audio_out=50)),
        ),
    ]
    if late_transcription:
        evs.append(completed)
    return evs


# --- recorded sessions ---------------------------------------------------------------------


def expected_order(evs: list[events.ServerEvent]) -> list[str]:
    """Item order by the server's previous_item_id reports, first report per item only."""
    order: list[str] = []
    for ev in evs:
        if isinstance(ev, (events.ConversationItemAdded, events.ConversationItemCreated)):
            item_id, prev = ev.item.id, ev.previous_item_id
        elif isinstance(ev, events.InputAudioBufferCommitted):
            item_id, prev = ev.item_id, ev.previous_item_id
        else:
            continue
        assert item_id is not None
        if item_id in order:
            continue
        order.insert(0 if prev is None else order.index(prev) + 1, item_id)
    return order


def test_every_recorded_session_is_covered() -> None:
    assert len(SESSIONS) == 32
    assert any(name.startswith("beta-") for name in SESSIONS)


@pytest.mark.parametrize("name", SESSIONS)
def test_recorded_session(name: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=STATE_LOGGER)
    evs = session_events(name)
    conv = Conversation()
    checked = 0
    for ev in evs:
        # Compare what the deltas built *before* the done event replaces it.
        if ev.type in _TEXT_DONE + _TRANSCRIPT_DONE + _ARGUMENTS_DONE:
            item = conv.get(ev.item_id)  # type: ignore[attr-defined]
            assert item is not None, (name, ev)
            if ev.type in _ARGUMENTS_DONE:
                assert item.arguments == ev.arguments  # type: ignore[attr-defined]
            else:
                part = item.parts[ev.content_index]  # type: ignore[attr-defined]
                if ev.type in _TEXT_DONE:
                    assert part.text == ev.text  # type: ignore[attr-defined]
                else:
                    assert part.transcript == ev.transcript  # type: ignore[attr-defined]
            checked += 1
        conv.observe(ev)
    assert checked > 0
    assert [item.id for item in conv.items] == expected_order(evs)
    assert no_warnings(caplog)

    # Final snapshots agree with what was accumulated.
    for ev in evs:
        if isinstance(ev, events.ConversationItemDone) and ev.item.id:
            item = conv.get(ev.item.id)
            assert item is not None
            assert item.type == ev.item.type
            assert item.role == ev.item.role
            assert item.status == ev.item.status
            for content, part in zip(ev.item.content or [], item.parts, strict=False):
                if content.transcript:
                    assert part.transcript == content.transcript
                if content.text:
                    assert part.text == content.text
            if ev.item.arguments:
                assert item.arguments == ev.item.arguments

    dones = [ev for ev in evs if isinstance(ev, events.ResponseDone)]
    assert conv.usage.responses == len(dones)
    assert conv.usage.total_tokens == sum(ev.response.usage.total_tokens or 0 for ev in dones if ev.response.usage)
    for ev in dones:
        response = conv.get_response(ev.response.id or "")
        assert response is not None
        assert response.status == ev.response.status
        assert response.output_item_ids == [out.id for out in ev.response.output or []]
        for item_id in response.output_item_ids:
            item = conv.get(item_id)
            assert item is not None
            assert item.response_id == response.id
    if dones:
        assert conv.last_response is not None
        assert conv.last_response.id == dones[-1].response.id


def test_recorded_transcription_lands_in_the_user_item_after_the_response_began() -> None:
    evs = session_events("ga-pydantic-ai-test_openai_ws-test_audio_in_server_vad_turn-2026-07-28.jsonl")
    conv = Conversation()
    completed = [ev for ev in evs if isinstance(ev, events.InputAudioTranscriptionCompleted)]
    assert len(completed) == 1
    for ev in evs:
        if ev is completed[0]:
            # It arrives after the user item was finalised and the assistant item follows it.
            user = conv.get(ev.item_id)
            assert user is not None
            assert user.status == "completed"
            last = conv.last()
            assert last is not None
            assert last.role == "assistant"
        conv.observe(ev)
    user = conv.last("user")
    assert user is not None
    assert user.id == completed[0].item_id
    assert user.parts[0].type == "input_audio"
    assert user.text == completed[0].transcript == "Hello, my name is Marcelo."
    assistant = conv.last("assistant")
    assert assistant is not None
    assert completed[0].transcript not in assistant.text


def test_recorded_transcription_failure_is_kept_on_the_part() -> None:
    name = (
        "ga-pydantic-ai-azure-test_azure_ws-test_audio_in_server_vad_transcription_requires_deployment-2026-07-22.jsonl"
    )
    conv = Conversation()
    feed(conv, session_events(name))
    user = conv.last("user")
    assert user is not None
    error = user.parts[0].transcription_error
    assert error is not None
    assert error.code == "DeploymentNotFound"
    assert user.parts[0].transcript is None


def test_recorded_beta_audio_is_counted_from_base64_length() -> None:
    evs = session_events("beta-pydantic-ai-test_openai-test_openai_connect_and_transcript-2026-02-20.jsonl")
    conv = Conversation(keep_audio=True)
    feed(conv, evs)
    pcm = b"".join(ev.pcm for ev in evs if isinstance(ev, events.ResponseAudioDelta))
    assistant = conv.last("assistant")
    assert assistant is not None
    assert assistant.parts[0].audio_bytes == len(pcm) == 76_800  # 102,400 base64 characters in six deltas
    assert assistant.parts[0].audio == pcm
    assert conv.audio_bytes_kept == len(pcm)


def test_shuffled_recordings_never_raise_and_stay_bounded(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=STATE_LOGGER)
    evs = [ev for name in SESSIONS for ev in session_events(name)]
    rng = random.Random(20261124)
    for max_items in (1, 3, 50):
        for _ in range(3):
            rng.shuffle(evs)
            conv = Conversation(max_items=max_items, keep_audio=True, max_audio_bytes=100)
            feed(conv, evs)
            assert len(conv.items) <= max_items
            assert len(conv.responses) <= max_items
            assert conv.audio_bytes_kept <= 100
    assert no_warnings(caplog)


# --- ordering ------------------------------------------------------------------------------


def test_items_follow_previous_item_id() -> None:
    conv = Conversation()
    feed(conv, [added(msg("a", "user"), None), added(msg("b", "assistant"), "a"), added(msg("c", "user"), "b")])
    feed(conv, [added(msg("x", "system"), "a")])  # inserted in the middle
    feed(conv, [added(msg("r", "system"), None)])  # null predecessor: first ("root")
    feed(conv, [added(msg("s", "system"), "root")])
    assert [i.id for i in conv.items] == ["s", "r", "a", "x", "b", "c"]
    assert conv.get("x") is not None
    assert held(conv, "x").previous_item_id == "a"
    assert conv.last("user").id == "c"  # type: ignore[union-attr]
    assert conv.last("system").id == "x"  # type: ignore[union-attr]
    assert conv.last().id == "c"  # type: ignore[union-attr]
    assert conv.last("nobody") is None


def test_done_with_a_null_predecessor_does_not_move_a_placed_item() -> None:
    conv = Conversation()
    feed(
        conv, [added(msg("a", "user"), None), added(msg("b", "assistant"), "a"), item_done(msg("b", "assistant"), None)]
    )
    assert [i.id for i in conv.items] == ["a", "b"]
    # ...but a .done that is the first report still places by a string predecessor.
    feed(conv, [item_done(msg("c", "user"), "a")])
    assert [i.id for i in conv.items] == ["a", "c", "b"]


def test_output_item_before_its_conversation_item_is_placed_when_reported() -> None:
    conv = Conversation()
    feed(conv, [added(msg("a", "user"), None), added(msg("b", "user"), "a")])
    out = msg("o", "assistant", status="in_progress", content=[])
    conv.observe(events.ResponseOutputItemAdded.build(event_id=EID, response_id="r", item=out))
    assert [i.id for i in conv.items] == ["a", "b", "o"]  # provisional: where it arrived
    conv.observe(added(out, "a"))
    assert [i.id for i in conv.items] == ["a", "o", "b"]


def test_committed_creates_the_user_item_in_place() -> None:
    conv = Conversation()
    conv.observe(added(msg("a", "assistant"), None))
    conv.observe(events.InputAudioBufferCommitted.build(event_id=EID, item_id="u", previous_item_id="a"))
    conv.observe(events.InputAudioTranscriptionDelta.build(event_id=EID, item_id="u", delta="hel"))
    user = conv.get("u")
    assert user is not None
    assert user.role == "user"
    assert user.type == "message"
    assert user.parts[0].type == "input_audio"
    assert user.parts[0].transcript == "hel"
    conv.observe(added(msg("u", "user", content=[events.ContentPart(type="input_audio")]), "a"))
    assert [i.id for i in conv.items] == ["a", "u"]
    assert user.parts[0].transcript == "hel"  # a snapshot without a transcript erases nothing


# --- late transcription --------------------------------------------------------------------


def test_transcription_after_the_response_and_later_turns_folds_into_its_item() -> None:
    conv = Conversation()
    turn = spoken_turn(1, None, late_transcription=True)
    completed = turn.pop()
    feed(conv, turn)
    feed(conv, spoken_turn(2, "item_a1"))
    conv.observe(completed)
    assert [i.id for i in conv.items] == ["item_u1", "item_a1", "item_u2", "item_a2"]
    assert held(conv, "item_u1").text == "user says 1"
    assert held(conv, "item_a1").text == "Hello there number 1."


def test_transcription_for_an_evicted_item_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=STATE_LOGGER)
    conv = Conversation(max_items=2)
    turn = spoken_turn(1, None, late_transcription=True)
    completed = turn.pop()
    feed(conv, turn)
    feed(conv, spoken_turn(2, "item_a1"))
    conv.observe(completed)
    assert conv.get("item_u1") is None
    assert [i.id for i in conv.items] == ["item_u2", "item_a2"]
    assert any("unknown item item_u1" in r.getMessage() for r in caplog.records)


# --- bounds --------------------------------------------------------------------------------


def test_ten_thousand_turns_stay_within_bounds() -> None:
    conv = Conversation(max_items=20, keep_audio=True, max_audio_bytes=50)
    prev = None
    for n in range(10_000):
        feed(conv, spoken_turn(n, prev))
        prev = f"item_a{n}"
    assert len(conv.items) == len(conv) == 20
    assert [i.id for i in conv.items][-2:] == ["item_u9999", "item_a9999"]
    assert len(conv._items) == len(conv._order) == 20
    assert len(conv._responses) <= 20
    assert len(conv.responses) <= 20
    assert len(conv._gone) <= 20
    assert len(conv._audio_parts) <= 20
    assert conv.audio_bytes_kept <= 50
    assert conv.usage.responses == 10_000
    assert conv.usage.total_tokens == 1_000_000
    for item in conv.items:  # evicted predecessors leave the survivors in order and intact
        assert item.text


def test_long_streams_hold_few_strings() -> None:
    conv = Conversation()
    conv.observe(added(msg("a", "assistant", status="in_progress", content=[]), None))
    for n in range(10_000):
        conv.observe(
            events.ResponseOutputTextDelta.build(event_id=EID, response_id="r", item_id="a", delta=f"{n % 10}")
        )
    part = held(conv, "a").parts[0]
    assert len(part._text or []) < 64
    assert part.text == "0123456789" * 1000
    assert part._text == [part.text]


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="max_items"):
        Conversation(max_items=0)
    with pytest.raises(ValueError, match="max_audio_bytes"):
        Conversation(max_audio_bytes=-1)


# --- odd input -----------------------------------------------------------------------------


def test_unknown_and_out_of_order_ids_never_raise(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=STATE_LOGGER)
    conv = Conversation()
    odd: list[events.ServerEvent] = [
        events.ConversationItemDeleted.build(event_id=EID, item_id="nope"),
        events.ConversationItemTruncated.build(event_id=EID, item_id="nope", content_index=0, audio_end_ms=10),
        events.ConversationItemRetrieved.build(event_id=EID, item=msg("nope", "user")),
        events.InputAudioTranscriptionCompleted.build(event_id=EID, item_id="nope", content_index=0, transcript="x"),
        events.InputAudioTranscriptionFailed.build(
            event_id=EID, item_id="nope", content_index=0, error=events.TranscriptionError(code="x")
        ),
        events.ResponseDone.build(
            event_id=EID, response=events.Response(id="resp_x", status="completed", usage=usage(1, 2))
        ),
        events.ResponseDone.build(event_id=EID, response=events.Response(status="completed")),  # no id at all
        events.ConversationItemAdded.build(event_id=EID, item=events.ConversationItem(type="message")),  # no item id
        added(msg("a", "user"), "never-seen"),
        added(msg("b", "user"), "b"),  # its own predecessor
        events.ResponseOutputTextDelta.build(
            event_id=EID, response_id="resp_y", item_id="stream", delta="hi", content_index=2
        ),
        events.ResponseOutputTextDelta.build(
            event_id=EID, response_id="resp_y", item_id="stream", delta="?", content_index=-1
        ),
        events.ResponseOutputTextDelta.build(
            event_id=EID, response_id="resp_y", item_id="stream", delta="?", content_index=10**6
        ),
        events.ResponseFunctionCallArgumentsDelta.build(
            event_id=EID, response_id="resp_y", item_id="call", delta='{"a"'
        ),
        events.ResponseMcpCallArgumentsDone.build(event_id=EID, response_id="resp_y", item_id="mcp", arguments="{}"),
        events.ResponseOutputAudioDelta.build(event_id=EID, response_id="resp_y", item_id="audio", delta="not base64!"),
        events.UnknownEvent(type="response.brand_new", raw=b"{}"),
        events.ErrorEvent.build(event_id=EID, error=events.ErrorDetail(type="invalid_request_error", message="x")),
    ]
    feed(conv, odd)
    assert no_warnings(caplog)
    assert conv.get("nope") is None
    assert conv.get("never-seen") is None
    assert [i.id for i in conv.items] == ["a", "b", "stream", "call", "mcp", "audio"]
    stream = conv.get("stream")
    assert stream is not None
    assert stream.role == "assistant"
    assert stream.response_id == "resp_y"
    assert len(stream.parts) == 3
    assert stream.parts[2].text == "hi"
    assert stream.text == "hi"
    assert held(conv, "call").type == "function_call"
    assert held(conv, "call").arguments == '{"a"'
    assert held(conv, "mcp").type == "mcp_call"
    assert held(conv, "mcp").arguments == "{}"
    assert held(conv, "audio").parts[0].audio_bytes == 8
    assert conv.usage.total_tokens == 3


def test_event_types_cover_ga_and_beta_names() -> None:
    names = set(Conversation.EVENT_TYPES)
    assert len(names) == len(Conversation.EVENT_TYPES)
    assert names <= set(events.SERVER_EVENTS)
    for ga, beta in [
        ("response.output_text.delta", "response.text.delta"),
        ("response.output_text.done", "response.text.done"),
        ("response.output_audio.delta", "response.audio.delta"),
        ("response.output_audio_transcript.delta", "response.audio_transcript.delta"),
        ("response.output_audio_transcript.done", "response.audio_transcript.done"),
        ("conversation.item.added", "conversation.item.created"),
    ]:
        assert ga in names
        assert beta in names
    # Types it ignores stay out, so the dispatcher does not route them here.
    assert not names & {"session.created", "rate_limits.updated", "error", "response.output_audio.done"}


# --- truncation and deletion ---------------------------------------------------------------


def test_truncation_drops_the_transcript_and_records_where() -> None:
    conv = Conversation()
    feed(conv, spoken_turn(1, None))
    conv.observe(
        events.ConversationItemTruncated.build(event_id=EID, item_id="item_a1", content_index=0, audio_end_ms=640)
    )
    part = held(conv, "item_a1").parts[0]
    assert part.truncated_at_ms == 640
    assert part.transcript is None
    assert part.transcript_before_truncation == "Hello there number 1."
    assert part.audio_bytes == 12  # the audio received is still counted
    # A later snapshot (response.done, retrieve) cannot bring the deleted transcript back.
    final = msg("item_a1", "assistant", content=[events.ContentPart(type="output_audio", transcript="Hello there")])
    conv.observe(events.ConversationItemRetrieved.build(event_id=EID, item=final))
    assert part.transcript is None
    assert part.type == "output_audio"
    assert held(conv, "item_a1").text == ""


def test_deletion_removes_the_item_for_good() -> None:
    conv = Conversation(keep_audio=True)
    feed(conv, spoken_turn(1, None))
    assert conv.audio_bytes_kept == 12
    conv.observe(events.ConversationItemDeleted.build(event_id=EID, item_id="item_a1"))
    assert conv.get("item_a1") is None
    assert [i.id for i in conv.items] == ["item_u1"]
    assert conv.audio_bytes_kept == 0
    assert conv.audio_bytes_dropped == 0
    # Late stream events for it do not bring it back.
    conv.observe(
        events.ResponseOutputAudioTranscriptDelta.build(
            event_id=EID, response_id="resp_1", item_id="item_a1", delta="x"
        )
    )
    assert conv.get("item_a1") is None
    # The next item names the deleted one as predecessor: it goes last.
    feed(conv, spoken_turn(2, "item_a1"))
    assert [i.id for i in conv.items] == ["item_u1", "item_u2", "item_a2"]


def test_a_deleted_id_can_be_announced_again() -> None:
    conv = Conversation()
    feed(conv, [added(msg("a", "user"), None), added(msg("b", "user"), "a")])
    conv.observe(events.ConversationItemDeleted.build(event_id=EID, item_id="a"))
    conv.observe(item_done(msg("a", "user"), "b"))  # a late .done does not revive it
    assert conv.get("a") is None
    conv.observe(added(msg("a", "user", content=[events.ContentPart(type="input_text", text="again")]), "b"))
    assert [i.id for i in conv.items] == ["b", "a"]
    assert held(conv, "a").text == "again"


def test_clear_forgets_items_and_keeps_usage() -> None:
    conv = Conversation(keep_audio=True)
    feed(conv, spoken_turn(1, None))
    conv.clear()
    assert conv.items == []
    assert conv.responses == []
    assert conv.last_response is None
    assert conv.audio_bytes_kept == 0
    assert conv.usage.responses == 1
    feed(conv, spoken_turn(1, None))  # the same ids are welcome again
    assert len(conv.items) == 2


# --- audio ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", range(12))
def test_audio_size_from_base64_length(size: int) -> None:
    data = bytes(range(size))
    assert _decoded_size(base64.b64encode(data).decode()) == size


def audio_delta(item_id: str, pcm: bytes) -> events.ResponseOutputAudioDelta:
    return events.ResponseOutputAudioDelta.build(
        event_id=EID, response_id="r", item_id=item_id, delta=events.pcm_to_base64(pcm)
    )


def test_kept_audio_drops_oldest_first_within_the_budget() -> None:
    conv = Conversation(keep_audio=True, max_audio_bytes=1000)
    feed(conv, [added(msg("a", "assistant", content=[]), None), added(msg("b", "assistant", content=[]), "a")])
    chunks = [bytes([n]) * 400 for n in range(5)]
    feed(conv, [audio_delta("a", chunk) for chunk in chunks[:3]])
    a = held(conv, "a").parts[0]
    assert a.audio == chunks[1] + chunks[2]
    assert a.audio_dropped == 400
    feed(conv, [audio_delta("b", chunk) for chunk in chunks[3:]])
    b = held(conv, "b").parts[0]
    # b's 800 bytes push out a's oldest remaining chunks first; b keeps all of its own.
    assert a.audio == b""
    assert a.audio_dropped == 1200
    assert b.audio == chunks[3] + chunks[4]
    assert b.audio_dropped == 0
    assert conv.audio_bytes_kept == 800
    assert conv.audio_bytes_dropped == 1200
    assert a.audio_bytes == 1200
    assert b.audio_bytes == 800
    assert len(conv._audio_parts) == 1


def test_audio_is_counted_but_not_kept_by_default() -> None:
    conv = Conversation()
    conv.observe(audio_delta("a", b"\x01" * 960))
    part = held(conv, "a").parts[0]
    assert part.audio_bytes == 960
    assert part.audio is None
    assert conv.audio_bytes_kept == 0


def test_retrieved_audio_replaces_what_was_kept() -> None:
    conv = Conversation(keep_audio=True)
    conv.observe(audio_delta("a", b"\x01" * 10))
    full = b"\x02" * 30
    content = [events.ContentPart(type="output_audio", audio=events.pcm_to_base64(full), transcript="hi")]
    conv.observe(events.ConversationItemRetrieved.build(event_id=EID, item=msg("a", "assistant", content=content)))
    part = held(conv, "a").parts[0]
    assert part.audio == full
    assert part.audio_bytes == 30
    assert part.transcript == "hi"
    assert conv.audio_bytes_kept == 30
    assert conv.audio_bytes_dropped == 0


def test_evicted_items_release_their_audio() -> None:
    conv = Conversation(max_items=1, keep_audio=True)
    conv.observe(audio_delta("a", b"\x01" * 100))
    conv.observe(audio_delta("b", b"\x01" * 50))
    assert conv.get("a") is None
    assert conv.audio_bytes_kept == 50
    assert conv.audio_bytes_dropped == 0


# --- usage ---------------------------------------------------------------------------------


def test_usage_totals_count_each_response_once() -> None:
    conv = Conversation()
    first = events.ResponseDone.build(
        event_id=EID,
        response=events.Response(id="r1", status="completed", usage=usage(10, 20, audio_in=4, audio_out=15)),
    )
    second = events.ResponseDone.build(
        event_id=EID, response=events.Response(id="r2", status="cancelled", usage=usage(5, 1))
    )
    feed(conv, [first, second, first])
    assert conv.usage == UsageTotals(
        responses=2,
        total_tokens=36,
        input_tokens=15,
        output_tokens=21,
        input_text_tokens=11,
        input_audio_tokens=4,
        output_text_tokens=6,
        output_audio_tokens=15,
    )
    assert [r.id for r in conv.responses] == ["r1", "r2"]
    assert conv.get_response("r2").status == "cancelled"  # type: ignore[union-attr]
    assert conv.get_response("r1").usage == first.response.usage  # type: ignore[union-attr]


def test_response_records_follow_created_and_done() -> None:
    conv = Conversation()
    feed(conv, spoken_turn(1, None))
    response = conv.last_response
    assert response is not None
    assert response.id == "resp_1"
    assert response.status == "completed"
    assert response.output_item_ids == ["item_a1"]
    assert held(conv, "item_a1").response_id == "resp_1"
    assert held(conv, "item_u1").response_id is None


# --- out-of-band responses (conversation "none") ---------------------------------------------


def in_conversation(evs: list[events.ServerEvent], conversation_id: str = "conv_1") -> list[events.ServerEvent]:
    """The live service names the conversation of an in-band response on its created and done."""
    for ev in evs:
        if isinstance(ev, (events.ResponseCreated, events.ResponseDone)):
            ev.response.conversation_id = conversation_id
    return evs


def out_of_band_response(
    resp: str, text_item: str, call_item: str
) -> tuple[list[events.ServerEvent], list[events.ServerEvent]]:
    """(start, rest) of an out-of-band response: conversation_id null, a text answer and a function call."""
    text_final = msg(text_item, "assistant", content=[events.ContentPart(type="output_text", text="Summary: hi")])
    call = events.ConversationItem(
        id=call_item, type="function_call", status="in_progress", name="lookup", call_id="c1"
    )
    call_final = events.ConversationItem(
        id=call_item, type="function_call", status="completed", name="lookup", call_id="c1", arguments='{"q": 1}'
    )
    start: list[events.ServerEvent] = [
        events.ResponseCreated.build(event_id=EID, response=events.Response(id=resp, status="in_progress", output=[])),
        events.ResponseOutputItemAdded.build(
            event_id=EID, response_id=resp, item=msg(text_item, "assistant", status="in_progress", content=[])
        ),
        events.ResponseOutputTextDelta.build(event_id=EID, response_id=resp, item_id=text_item, delta="Summary"),
    ]
    rest: list[events.ServerEvent] = [
        events.ResponseOutputTextDelta.build(event_id=EID, response_id=resp, item_id=text_item, delta=": hi"),
        events.ResponseOutputItemAdded.build(event_id=EID, response_id=resp, item=call),
        events.ResponseFunctionCallArgumentsDelta.build(
            event_id=EID, response_id=resp, item_id=call_item, call_id="c1", delta='{"q": '
        ),
        events.ResponseFunctionCallArgumentsDelta.build(
            event_id=EID, response_id=resp, item_id=call_item, call_id="c1", delta="1}"
        ),
        events.ResponseOutputItemDone.build(event_id=EID, response_id=resp, item=text_final),
        events.ResponseOutputItemDone.build(event_id=EID, response_id=resp, item=call_final),
        events.ResponseDone.build(
            event_id=EID,
            response=events.Response(
                id=resp, status="completed", output=[text_final, call_final], conversation_id=None, usage=usage(7, 3)
            ),
        ),
    ]
    return start, rest


def test_out_of_band_items_stay_out_of_the_conversation_but_can_be_read() -> None:
    conv = Conversation()
    feed(conv, in_conversation(spoken_turn(1, None)))
    start, rest = out_of_band_response("resp_oob", "item_oob", "item_oob_call")
    turn = in_conversation(spoken_turn(2, "item_a1"))
    # Interleaved: the out-of-band response starts, the user speaks and is answered, then it finishes.
    feed(conv, [*start, *turn[:8], *rest[:3], *turn[8:], *rest[3:]])

    assert [item.id for item in conv.items] == ["item_u1", "item_a1", "item_u2", "item_a2"]
    assert len(conv) == 4
    assert held(conv, "item_a2") is conv.last() is conv.last("assistant")
    assert conv.last("user") is held(conv, "item_u2")
    assert held(conv, "item_a2").previous_item_id == "item_u2"
    assert held(conv, "item_a2").text == "Hello there number 2."

    answer = held(conv, "item_oob")  # reachable by id, with everything it streamed
    assert answer.text == "Summary: hi"
    assert answer.response_id == "resp_oob"
    assert answer.status == "completed"
    call = held(conv, "item_oob_call")
    assert call.arguments == '{"q": 1}'
    assert (call.name, call.call_id) == ("lookup", "c1")

    record = conv.get_response("resp_oob")
    assert record is not None
    assert record.status == "completed"
    assert record.conversation_id is None
    assert record.output_item_ids == ["item_oob", "item_oob_call"]
    assert record.usage == usage(7, 3)
    assert [r.id for r in conv.responses] == ["resp_1", "resp_oob", "resp_2"]
    assert conv.usage.responses == 3


def test_out_of_band_streams_reach_their_items_even_when_item_events_were_missed() -> None:
    conv = Conversation()
    feed(conv, in_conversation(spoken_turn(1, None)))
    start, _ = out_of_band_response("resp_oob", "item_oob", "item_oob_call")
    feed(conv, [start[0]])  # only the created: the item is first named by its deltas
    feed(
        conv,
        [
            events.ResponseOutputAudioTranscriptDelta.build(
                event_id=EID, response_id="resp_oob", item_id="item_oob", delta="spoken"
            ),
            events.ResponseOutputAudioDelta.build(
                event_id=EID, response_id="resp_oob", item_id="item_oob", delta="AAAAAA=="
            ),
        ],
    )
    answer = held(conv, "item_oob")
    assert answer.parts[0].transcript == "spoken"
    assert answer.parts[0].audio_bytes == 4
    assert [item.id for item in conv.items] == ["item_u1", "item_a1"]


def test_without_conversation_ids_every_response_is_in_the_conversation() -> None:
    # A server that never names conversations (older beta, scripted servers): nothing tells an
    # out-of-band response apart, so its items are kept in the conversation as before.
    conv = Conversation()
    feed(conv, spoken_turn(1, None))
    start, rest = out_of_band_response("resp_oob", "item_oob", "item_oob_call")
    feed(conv, [*start, *rest])
    assert [item.id for item in conv.items] == ["item_u1", "item_a1", "item_oob", "item_oob_call"]
    assert len(conv) == 4


def test_out_of_band_items_are_bounded_and_leave_with_their_response() -> None:
    conv = Conversation(max_items=4)
    feed(conv, in_conversation(spoken_turn(1, None)))
    start, rest = out_of_band_response("resp_oob", "item_oob", "item_oob_call")
    feed(conv, [*start, *rest])
    assert held(conv, "item_oob").text == "Summary: hi"
    prev = "item_a1"
    for n in range(2, 8):
        feed(conv, in_conversation(spoken_turn(n, prev)))
        prev = f"item_a{n}"
        assert len(conv.items) == len(conv) <= 4
    assert conv.get("item_oob") is None
    assert conv.get("item_oob_call") is None
    assert conv.get_response("resp_oob") is None
    assert [item.id for item in conv.items] == ["item_u6", "item_a6", "item_u7", "item_a7"]


def test_forgetting_an_out_of_band_response_forgets_its_items() -> None:
    conv = Conversation(max_items=3)
    feed(conv, in_conversation(spoken_turn(1, None)))  # resp_1
    start, rest = out_of_band_response("resp_oob", "item_oob", "item_oob_call")
    feed(conv, [*start[:2], *rest[-1:]])  # resp_oob and its item: three items, none evicted
    assert held(conv, "item_oob").response_id == "resp_oob"
    for n in (2, 3, 4):  # three more response records push resp_oob out (max_items responses)
        feed(
            conv,
            [events.ResponseDone.build(event_id=EID, response=events.Response(id=f"r{n}", conversation_id="conv_1"))],
        )
    assert conv.get_response("resp_oob") is None
    assert conv.get("item_oob") is None
