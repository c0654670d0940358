"""The conversation tracker inside an app: a tool turn against the simulator, and the state
after a response interrupted by barge-in."""

from __future__ import annotations

import base64
from typing import ClassVar

import anyio
import pytest

from realtime_dispatch import Connection, RealtimeApp, events, on, openai, tool
from realtime_dispatch.transports import memory_pair

pytestmark = pytest.mark.anyio


async def test_the_tracker_follows_a_tool_turn_against_the_simulator() -> None:
    from realtime_dispatch.simulator import Simulator

    finished = anyio.Event()

    class Agent(RealtimeApp):
        session = events.Session(type="realtime", output_modalities=["text"])
        track_conversation = True
        seen_in_handler: ClassVar[list[str]] = []

        @tool
        async def get_time(self) -> str:
            return "12:34"

        async def on_connect(self, connection: Connection) -> None:
            await connection.create_item(events.ConversationItem.message("user", "Call get_time please"))
            await connection.create_response()

        @on("response.output_text.done")
        def answered(self, event: events.ResponseOutputTextDone) -> None:
            item = self.conversation.get(event.item_id)  # the tracker saw this event before the handler
            self.seen_in_handler.append(item.text if item else "")
            finished.set()

    app = Agent()
    async with (
        Simulator().serve(host="127.0.0.1", port=0) as base_url,
        app.connect(openai("gpt-realtime", base_url=base_url)),
    ):
        with anyio.fail_after(5):
            await finished.wait()
        await anyio.sleep(0.05)  # the response.done after the text
    items = app.conversation.items
    assert [(i.type, i.role) for i in items] == [
        ("message", "user"),
        ("function_call", None),
        ("function_call_output", None),
        ("message", "assistant"),
    ]
    assert items[0].text == "Call get_time please"
    assert (items[1].name, items[1].arguments) == ("get_time", "{}")
    assert items[2].output == "12:34"
    assert items[3].text == "Tool get_time returned: 12:34"
    assert app.seen_in_handler == ["Tool get_time returned: 12:34"]
    assert [r.status for r in app.conversation.responses] == ["completed", "completed"]
    assert app.conversation.usage.responses == 2
    assert app.conversation.usage.total_tokens > 0


async def test_state_after_a_response_interrupted_by_barge_in() -> None:
    class Voice(RealtimeApp):
        track_conversation = True
        barge_in = True

    app = Voice()
    client, server = memory_pair()
    pcm_100ms = base64.b64encode(bytes(4800)).decode()
    assistant = events.ConversationItem(type="message", id="item_a", role="assistant", status="in_progress")
    try:
        async with app.connect(client):
            await server.send_event(
                events.ResponseCreated.build(response=events.Response(id="resp_1", conversation_id="conv_1"))
            )
            await server.send_event(events.ConversationItemAdded.build(item=assistant, previous_item_id="item_u"))
            await server.send_event(
                events.ResponseContentPartAdded.build(
                    response_id="resp_1", item_id="item_a", part=events.ContentPart(type="audio")
                )
            )
            for word in ("Once ", "upon ", "a ", "time "):
                await server.send_event(
                    events.ResponseOutputAudioTranscriptDelta.build(response_id="resp_1", item_id="item_a", delta=word)
                )
                await server.send_event(
                    events.ResponseOutputAudioDelta.build(response_id="resp_1", item_id="item_a", delta=pcm_100ms)
                )
            cleared = app.connection.expect("input_audio_buffer.cleared")
            await server.send_event(events.InputAudioBufferCleared.build())
            await cleared.wait(5)
            app.playback.played("item_a", ms=150)
            await server.send_event(events.InputAudioBufferSpeechStarted.build(audio_start_ms=2000, item_id="item_u2"))
            with anyio.fail_after(5):
                truncate = await server.receive_event()
            assert isinstance(truncate, events.ConversationItemTruncate)
            assert truncate.audio_end_ms == 150
            cancelled = events.Response(id="resp_1", status="cancelled", conversation_id="conv_1")
            await server.send_event(
                events.ConversationItemTruncated.build(item_id="item_a", content_index=0, audio_end_ms=150)
            )
            await server.send_event(events.ResponseDone.build(response=cancelled))
            cleared = app.connection.expect("input_audio_buffer.cleared")
            await server.send_event(events.InputAudioBufferCleared.build())
            await cleared.wait(5)
    finally:
        await server.close()
        await client.aclose()
    item = app.conversation.get("item_a")
    assert item is not None
    part = item.parts[0]
    assert part.truncated_at_ms == 150
    assert part.transcript in (None, "")  # the server drops the transcript of a truncated item
    assert part.transcript_before_truncation == "Once upon a time "
    assert part.audio_bytes == 4 * 4800
    last = app.conversation.last_response
    assert last is not None
    assert last.status == "cancelled"


async def test_an_out_of_band_response_stays_out_of_the_tracked_conversation() -> None:
    from realtime_dispatch.simulator import Simulator

    class Agent(RealtimeApp):
        session = events.Session(type="realtime", output_modalities=["text"])
        track_conversation = True

    app = Agent()
    async with (
        Simulator().serve(host="127.0.0.1", port=0) as base_url,
        app.connect(openai("gpt-realtime", base_url=base_url)) as conn,
    ):
        with anyio.fail_after(5):
            done = conn.expect(events.ResponseDone)
            await conn.create_item(events.ConversationItem.message("user", "hello"))
            await conn.create_response()
            in_band = (await done.wait()).response
            done = conn.expect(events.ResponseDone)
            await conn.create_response(events.ResponseParams(conversation="none", metadata={"kind": "summary"}))
            out_of_band = (await done.wait()).response
    assert in_band.conversation_id is not None
    assert out_of_band.conversation_id is None
    conversation = app.conversation
    assert [(i.role, i.response_id) for i in conversation.items] == [("user", None), ("assistant", in_band.id)]
    assert len(conversation) == 2
    assert conversation.last("assistant") is conversation.items[1]
    assert out_of_band.output
    assert out_of_band.id
    answer = conversation.get(out_of_band.output[0].id or "")
    assert answer is not None
    assert answer.response_id == out_of_band.id
    assert answer.text
    assert answer.text == out_of_band.output[0].content[0].text  # type: ignore[index]
    record = conversation.get_response(out_of_band.id)
    assert record is not None
    assert record.status == "completed"
    assert record.output_item_ids == [answer.id]
    assert record.metadata == {"kind": "summary"}
