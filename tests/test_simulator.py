"""The local GA Realtime simulator, over real WebSockets on 127.0.0.1 (asyncio and trio)."""

from __future__ import annotations

import math
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msgspec
import pydantic
import pytest

from realtime_dispatch import events
from realtime_dispatch.simulator import EchoResponder, Reply, Responder, Simulator
from realtime_dispatch.transports import WebSocketTransport, connect_websocket

pytestmark = pytest.mark.anyio

WEATHER_TOOL = events.Tool(
    type="function",
    name="get_weather",
    description="Look up the weather.",
    parameters={"type": "object", "properties": {}},
)


@asynccontextmanager
async def connected(responder: Responder | None = None, **options: Any) -> AsyncIterator[WebSocketTransport]:
    """A simulator and one client connected to it; yields after consuming ``session.created``."""
    async with Simulator(responder=responder, **options).serve(host="127.0.0.1", port=0) as base_url:
        assert base_url.startswith("ws://127.0.0.1:")
        assert base_url.endswith("/v1")
        transport = await connect_websocket(f"{base_url}/realtime?model=test-model")
        try:
            created = await receive(transport)
            assert isinstance(created, events.SessionCreated)
            yield transport
        finally:
            await transport.close()


async def receive(transport: WebSocketTransport) -> events.ServerEvent:
    with anyio.fail_after(5):
        return events.decode(await transport.receive())


async def send(transport: WebSocketTransport, event: events.ClientEvent) -> None:
    await transport.send(events.encode(event))


async def until(transport: WebSocketTransport, event_type: str) -> list[events.ServerEvent]:
    """Every event up to and including the first of ``event_type``."""
    received = []
    while True:
        event = await receive(transport)
        received.append(event)
        if event.type == event_type:
            return received


async def say(transport: WebSocketTransport, text: str) -> str:
    """Create a user text message; returns its id."""
    await send(transport, events.ConversationItemCreate(item=events.ConversationItem.message("user", text)))
    added = await receive(transport)
    done = await receive(transport)
    assert isinstance(added, events.ConversationItemAdded)
    assert isinstance(done, events.ConversationItemDone)
    assert added.item.id is not None
    return added.item.id


async def text_only(transport: WebSocketTransport, **fields: Any) -> events.Session:
    await send(transport, events.SessionUpdate(session=events.Session(type="realtime", output_modalities=["text"],
                                                                      **fields)))  # fmt: skip
    updated = await receive(transport)
    assert isinstance(updated, events.SessionUpdated)
    return updated.session


class LongResponder:
    async def respond(self, conversation: list[events.ConversationItem], session: events.Session) -> Reply:
        return Reply(text=" ".join(f"word{n}" for n in range(300)))


async def test_session_created_on_connect() -> None:
    async with Simulator().serve() as base_url:
        transport = await connect_websocket(f"{base_url}/realtime?model=gpt-realtime-mini")
        try:
            frame = await transport.receive()
        finally:
            await transport.close()
    event = events.decode(frame)
    assert isinstance(event, events.SessionCreated)
    session = event.session
    assert (session.type, session.object, session.model) == ("realtime", "realtime.session", "gpt-realtime-mini")
    assert session.id is not None
    assert session.id.startswith("sess_")
    assert event.event_id.startswith("event_")
    assert session.output_modalities == ["audio"]
    assert session.tools == []
    assert session.tool_choice == "auto"
    assert session.audio is not None
    assert session.audio.input is not None
    assert session.audio.output is not None
    assert session.audio.input.format == events.AudioFormat(type="audio/pcm", rate=24000)
    assert session.audio.output.format == events.AudioFormat(type="audio/pcm", rate=24000)
    assert session.audio.output.voice == "alloy"
    # As on the live service: server VAD on, transcription off.
    assert session.audio.input.turn_detection == events.TurnDetection(
        type="server_vad", threshold=0.5, prefix_padding_ms=300, silence_duration_ms=200,
        create_response=True, interrupt_response=True,
    )  # fmt: skip
    assert session.audio.input.transcription is None
    assert b'"transcription":null' in frame


async def test_session_update_merges_and_reports_the_full_session() -> None:
    async with connected() as transport:
        update = events.Session(
            type="realtime",
            instructions="Be brief.",
            tools=[WEATHER_TOOL],
            audio=events.SessionAudio(output=events.AudioOutput(voice="verse")),
        )
        await send(transport, events.SessionUpdate(session=update))
        updated = await receive(transport)
        assert isinstance(updated, events.SessionUpdated)
        session = updated.session
        assert session.instructions == "Be brief."
        assert session.tools == [WEATHER_TOOL]
        assert session.model == "test-model"
        assert session.id is not None
        assert session.id.startswith("sess_")
        assert session.audio is not None
        assert session.audio.output is not None
        assert session.audio.input is not None
        assert session.audio.output.voice == "verse"
        assert session.audio.output.format == events.AudioFormat(type="audio/pcm", rate=24000)  # deep merge
        assert session.audio.input.format == events.AudioFormat(type="audio/pcm", rate=24000)
        assert session.output_modalities == ["audio"]

        await send(transport, events.SessionUpdate(session=events.Session(instructions="x"), event_id="evt_beta"))
        error = await receive(transport)
        assert isinstance(error, events.ErrorEvent)
        assert error.error.type == "invalid_request_error"
        assert error.error.param == "session.type"
        assert error.error.event_id == "evt_beta"


async def test_item_create_added_done_and_item_management() -> None:
    async with connected() as transport:
        first = await say(transport, "one")
        assert first.startswith("item_")
        await send(transport, events.ConversationItemCreate(
            item=events.ConversationItem.message("user", "two", id="item_mine")))  # fmt: skip
        added, done = await receive(transport), await receive(transport)
        assert isinstance(added, events.ConversationItemAdded)
        assert isinstance(done, events.ConversationItemDone)
        assert added.item == done.item
        assert added.item.id == "item_mine"
        assert added.item.status == "completed"
        assert added.previous_item_id == first
        assert done.previous_item_id == first
        assert added.item.content == [events.ContentPart(type="input_text", text="two")]

        await send(transport, events.ConversationItemCreate(
            item=events.ConversationItem.message("system", "zero"), previous_item_id="root"))  # fmt: skip
        root = await receive(transport)
        assert isinstance(root, events.ConversationItemAdded)
        assert root.previous_item_id is None
        await receive(transport)

        orphan = events.ConversationItem.message("user", "x")
        await send(
            transport, events.ConversationItemCreate(item=orphan, previous_item_id="item_nope", event_id="evt_1")
        )
        error = await receive(transport)
        assert isinstance(error, events.ErrorEvent)
        assert error.error.event_id == "evt_1"
        assert error.error.code == "item_not_found"

        await send(transport, events.ConversationItemRetrieve(item_id="item_mine"))
        retrieved = await receive(transport)
        assert isinstance(retrieved, events.ConversationItemRetrieved)
        assert retrieved.item.id == "item_mine"

        await send(transport, events.ConversationItemDelete(item_id="item_mine"))
        deleted = await receive(transport)
        assert isinstance(deleted, events.ConversationItemDeleted)
        assert deleted.item_id == "item_mine"

        await send(transport, events.ConversationItemDelete(item_id="item_mine", event_id="evt_2"))
        error = await receive(transport)
        assert isinstance(error, events.ErrorEvent)
        assert error.error.event_id == "evt_2"
        assert error.error.code == "item_not_found"


async def test_text_response_lifecycle_in_the_recorded_order() -> None:
    async with connected() as transport:
        await text_only(transport)
        user_item = await say(transport, "hello there")
        await send(transport, events.ResponseCreate())
        received = await until(transport, "response.done")
        types = [event.type for event in received]
        assert types == [
            "response.created",
            "response.output_item.added",
            "conversation.item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "conversation.item.done",
            "response.output_item.done",
            "response.done",
        ]
        created, done = received[0], received[-1]
        assert isinstance(created, events.ResponseCreated)
        assert isinstance(done, events.ResponseDone)
        assert created.response.status == "in_progress"
        assert created.response.output == []
        assert created.response.id == done.response.id
        assert created.response.output_modalities == ["text"]
        deltas = [event.delta for event in received if isinstance(event, events.ResponseOutputTextDelta)]
        assert deltas == ["You", " said:", " hello", " there"]
        text_done = received[8]
        assert isinstance(text_done, events.ResponseOutputTextDone)
        assert text_done.text == "You said: hello there"
        added = received[2]
        assert isinstance(added, events.ConversationItemAdded)
        assert added.previous_item_id == user_item
        assert done.response.status == "completed"
        assert done.response.status_details is None
        assert done.response.output is not None
        assert len(done.response.output) == 1
        item = done.response.output[0]
        assert (item.type, item.role, item.status) == ("message", "assistant", "completed")
        assert item.content == [events.ContentPart(type="output_text", text="You said: hello there")]
        usage = done.response.usage
        assert usage is not None
        assert usage.output_tokens
        assert usage.input_tokens
        assert usage.total_tokens == usage.input_tokens + usage.output_tokens
        limits = await receive(transport)
        assert isinstance(limits, events.RateLimitsUpdated)
        assert limits.rate_limits


async def test_audio_response_carries_pcm_and_a_transcript() -> None:
    async with connected() as transport:
        await say(transport, "hello there")
        await send(transport, events.ResponseCreate())
        received = await until(transport, "response.done")
        audio = [event for event in received if isinstance(event, events.ResponseOutputAudioDelta)]
        assert audio
        pcm = b"".join(event.pcm for event in audio)
        assert len(pcm) > 0
        assert len(pcm) % 2 == 0
        assert all(len(event.pcm) == 4800 for event in audio)  # 100 ms chunks at 24 kHz PCM16
        words = [event.delta for event in received if isinstance(event, events.ResponseOutputAudioTranscriptDelta)]
        assert "".join(words) == "You said: hello there"
        types = [event.type for event in received]
        assert types.index("response.output_audio_transcript.delta") < types.index("response.output_audio.delta")
        assert types[-7:] == [
            "response.output_audio.delta",
            "response.output_audio.done",
            "response.output_audio_transcript.done",
            "response.content_part.done",
            "conversation.item.done",
            "response.output_item.done",
            "response.done",
        ]
        part_added = received[3]
        assert isinstance(part_added, events.ResponseContentPartAdded)
        assert part_added.part == events.ContentPart(type="audio", transcript="")
        done = received[-1]
        assert isinstance(done, events.ResponseDone)
        assert done.response.output is not None
        assert done.response.output_modalities == ["audio"]
        item = done.response.output[0]
        assert item.content == [events.ContentPart(type="output_audio", transcript="You said: hello there")]
        assert done.response.usage is not None
        assert done.response.usage.output_token_details is not None
        assert done.response.usage.output_token_details.audio_tokens == len(audio)

        # The audio can be truncated, within its length only.
        assert item.id is not None
        await send(transport, events.ConversationItemTruncate(item_id=item.id, content_index=0, audio_end_ms=100))
        event = await receive(transport)
        if isinstance(event, events.RateLimitsUpdated):
            event = await receive(transport)
        assert isinstance(event, events.ConversationItemTruncated)
        assert event.audio_end_ms == 100
        await send(transport, events.ConversationItemTruncate(item_id=item.id, content_index=0, audio_end_ms=10**6))
        error = await receive(transport)
        if isinstance(error, events.RateLimitsUpdated):  # the answer's rate limits may come after the first truncate
            error = await receive(transport)
        assert isinstance(error, events.ErrorEvent)
        assert error.error.param == "audio_end_ms"


async def test_input_audio_buffer_commit_and_clear() -> None:
    async with connected() as transport:
        await send(transport, events.InputAudioBufferCommit(event_id="evt_empty"))
        error = await receive(transport)
        assert isinstance(error, events.ErrorEvent)
        assert error.error.event_id == "evt_empty"
        pcm = bytes(4800 * 3)
        await send(transport, events.InputAudioBufferAppend.from_pcm(pcm))
        await send(transport, events.InputAudioBufferCommit())
        committed = await receive(transport)
        assert isinstance(committed, events.InputAudioBufferCommitted)
        added, done = await receive(transport), await receive(transport)
        assert isinstance(added, events.ConversationItemAdded)
        assert isinstance(done, events.ConversationItemDone)
        assert added.item.id == committed.item_id
        assert added.item.role == "user"
        assert added.item.content == [events.ContentPart(type="input_audio")]
        await send(transport, events.ConversationItemRetrieve(item_id=committed.item_id))
        retrieved = await receive(transport)
        assert isinstance(retrieved, events.ConversationItemRetrieved)
        assert retrieved.item.content is not None
        assert retrieved.item.content[0].pcm == pcm

        await send(transport, events.InputAudioBufferAppend.from_pcm(pcm))
        await send(transport, events.InputAudioBufferClear())
        assert isinstance(await receive(transport), events.InputAudioBufferCleared)
        await send(transport, events.InputAudioBufferCommit())
        assert isinstance(await receive(transport), events.ErrorEvent)  # cleared: empty again


async def test_tool_call_round_trip() -> None:
    async with connected() as transport:
        await text_only(transport, tools=[WEATHER_TOOL])
        await say(transport, "please call get_weather for me")
        await send(transport, events.ResponseCreate())
        received = await until(transport, "response.done")
        types = [event.type for event in received]
        assert types == [
            "response.created",
            "response.output_item.added",
            "conversation.item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "conversation.item.done",
            "response.output_item.done",
            "response.done",
        ]
        args_done = received[4]
        assert isinstance(args_done, events.ResponseFunctionCallArgumentsDone)
        assert args_done.name == "get_weather"
        assert args_done.arguments == "{}"
        assert args_done.call_id.startswith("call_")
        done = received[-1]
        assert isinstance(done, events.ResponseDone)
        assert done.response.output is not None
        call = done.response.output[0]
        assert (call.type, call.name, call.arguments, call.call_id) == (
            "function_call", "get_weather", "{}", args_done.call_id)  # fmt: skip
        assert isinstance(await receive(transport), events.RateLimitsUpdated)

        output = events.ConversationItem.function_call_output(args_done.call_id, "sunny, 21 C")
        await send(transport, events.ConversationItemCreate(item=output))
        added = await receive(transport)
        assert isinstance(added, events.ConversationItemAdded)
        assert added.previous_item_id == call.id
        await receive(transport)
        await send(transport, events.ResponseCreate())
        received = await until(transport, "response.done")
        text_done = next(event for event in received if isinstance(event, events.ResponseOutputTextDone))
        assert text_done.text == "Tool get_weather returned: sunny, 21 C"


async def test_cancel_mid_response() -> None:
    async with connected(LongResponder(), delta_delay=0.005) as transport:
        await text_only(transport)
        await say(transport, "go")
        await send(transport, events.ResponseCreate())
        first = await until(transport, "response.output_text.delta")
        created = first[0]
        assert isinstance(created, events.ResponseCreated)
        await send(transport, events.ResponseCancel(event_id="evt_cancel"))
        received = await until(transport, "response.done")
        done = received[-1]
        assert isinstance(done, events.ResponseDone)
        assert done.response.id == created.response.id
        assert done.response.status == "cancelled"
        assert done.response.status_details == events.ResponseStatus(type="cancelled", reason="client_cancelled")
        deltas = sum(isinstance(event, events.ResponseOutputTextDelta) for event in received) + 1
        assert deltas < 300
        text_done = next(event for event in received if isinstance(event, events.ResponseOutputTextDone))
        assert len(text_done.text.split()) == deltas
        assert done.response.output is not None
        assert done.response.output[0].status == "incomplete"
        assert isinstance(await receive(transport), events.RateLimitsUpdated)

        await send(transport, events.ResponseCancel(event_id="evt_again"))
        error = await receive(transport)
        assert isinstance(error, events.ErrorEvent)
        assert error.error.code == "response_cancel_not_active"
        assert error.error.event_id == "evt_again"


async def test_second_response_create_while_active_is_an_error() -> None:
    async with connected(LongResponder(), delta_delay=0.001) as transport:
        await text_only(transport)
        await say(transport, "go")
        await send(transport, events.ResponseCreate())
        await send(transport, events.ResponseCreate(event_id="evt_second"))
        received = await until(transport, "response.done")
        errors = [event for event in received if isinstance(event, events.ErrorEvent)]
        assert len(errors) == 1
        assert errors[0].error.code == "conversation_already_has_active_response"
        assert errors[0].error.event_id == "evt_second"
        assert sum(event.type == "response.created" for event in received) == 1
        done = received[-1]
        assert isinstance(done, events.ResponseDone)
        assert done.response.status == "completed"


async def test_invalid_json_and_unknown_type_leave_the_connection_open() -> None:
    async with connected() as transport:
        await transport.send(b"{not json")
        error = await receive(transport)
        assert isinstance(error, events.ErrorEvent)
        assert error.error.type == "invalid_request_error"
        assert error.error.code == "invalid_json"
        assert error.error.message

        await transport.send(b'{"type":"session.frobnicate","event_id":"evt_unknown"}')
        error = await receive(transport)
        assert isinstance(error, events.ErrorEvent)
        assert error.error.code == "invalid_value"
        assert error.error.param == "type"
        assert error.error.event_id == "evt_unknown"
        assert "session.frobnicate" in error.error.message

        await transport.send(b'{"type":"conversation.item.delete","event_id":"evt_bad"}')  # missing item_id
        error = await receive(transport)
        assert isinstance(error, events.ErrorEvent)
        assert error.error.event_id == "evt_bad"

        session = await text_only(transport)
        assert session.output_modalities == ["text"]


async def test_echo_responder_directly() -> None:
    responder = EchoResponder()
    session = events.Session(type="realtime", tools=[WEATHER_TOOL])
    audio_item = events.ConversationItem(
        type="message", role="user", content=[events.ContentPart(type="input_audio", transcript="get_weather now")]
    )
    assert await responder.respond([audio_item], session) == Reply(tool_calls=[("get_weather", "{}")])
    assert await responder.respond([audio_item], events.Session(type="realtime")) == Reply(
        text="You said: get_weather now"
    )


def test_openai_sdk_accepts_the_simulator() -> None:
    import openai
    import pydantic
    from openai.types.realtime import RealtimeServerEvent

    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)
    expected_classes = {
        "session.created": "SessionCreatedEvent",
        "session.updated": "SessionUpdatedEvent",
        "conversation.item.added": "ConversationItemAdded",
        "conversation.item.done": "ConversationItemDone",
        "response.created": "ResponseCreatedEvent",
        "response.output_item.added": "ResponseOutputItemAddedEvent",
        "response.content_part.added": "ResponseContentPartAddedEvent",
        "response.output_text.delta": "ResponseTextDeltaEvent",
        "response.output_text.done": "ResponseTextDoneEvent",
        "response.content_part.done": "ResponseContentPartDoneEvent",
        "response.output_item.done": "ResponseOutputItemDoneEvent",
        "response.done": "ResponseDoneEvent",
    }

    async def main() -> list[tuple[str, str, bytes]]:
        seen: list[tuple[str, str, bytes]] = []
        async with Simulator().serve() as base_url:
            client = openai.AsyncOpenAI(api_key="sk-test", websocket_base_url=base_url)
            async with client.realtime.connect(model="gpt-realtime") as conn:
                await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
                await conn.conversation.item.create(
                    item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
                )
                await conn.response.create()
                frames: list[bytes] = []
                receive_frame = conn.recv_bytes

                async def recording() -> bytes:
                    frame = await receive_frame()
                    frames.append(frame)
                    return frame

                conn.recv_bytes = recording  # type: ignore[method-assign]  # keep the raw frames
                with anyio.fail_after(10):
                    async for event in conn:
                        seen.append((event.type, type(event).__name__, frames[-1]))
                        if event.type == "response.done":
                            break
            await client.close()
        return seen

    seen = anyio.run(main, backend="asyncio")
    types = [event_type for event_type, _, _ in seen]
    assert types[0] == "session.created"
    assert types[-1] == "response.done"
    assert set(types) == set(expected_classes)
    for event_type, class_name, frame in seen:
        assert class_name == expected_classes[event_type], (event_type, class_name)
        validated = adapter.validate_json(frame)
        assert type(validated).__name__ == class_name
    done = msgspec.json.decode(seen[-1][2])
    assert done["response"]["output"][0]["content"][0]["text"] == "You said: hi"


def sdk_session(connect: Any, script: Any, stop: str = "response.done") -> list[tuple[str, str, bytes]]:
    """Run ``script(conn)`` on an openai SDK connection to a fresh simulator.

    Returns ``(type, SDK class name, raw frame)`` for every event up to the first ``stop``.
    """
    import openai

    async def main() -> list[tuple[str, str, bytes]]:
        seen: list[tuple[str, str, bytes]] = []
        async with Simulator().serve() as base_url:
            client = openai.AsyncOpenAI(api_key="sk-test", websocket_base_url=base_url)
            async with connect(client) as conn:
                await script(conn)
                frames: list[bytes] = []
                receive_frame = conn.recv_bytes

                async def recording() -> bytes:
                    frame: bytes = await receive_frame()
                    frames.append(frame)
                    return frame

                conn.recv_bytes = recording  # keep the raw frames
                with anyio.fail_after(10):
                    async for event in conn:
                        seen.append((event.type, type(event).__name__, frames[-1]))
                        if event.type == stop:
                            break
            await client.close()
        return seen

    return anyio.run(main, backend="asyncio")


def test_openai_sdk_accepts_a_spoken_turn_with_transcription() -> None:
    from openai.types.realtime import RealtimeServerEvent

    speech = [round(8000 * math.sin(2 * math.pi * 440 * n / 24000)) for n in range(24 * 500)]
    pcm = struct.pack(f"<{len(speech)}h", *speech) + bytes(48 * 300)  # 500 ms of tone, 300 ms of silence

    async def script(conn: Any) -> None:
        transcription = {"model": "gpt-4o-transcribe"}
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"],
                                           "audio": {"input": {"transcription": transcription}}})  # fmt: skip
        await conn.input_audio_buffer.append(audio=events.pcm_to_base64(pcm))

    seen = sdk_session(lambda client: client.realtime.connect(model="gpt-realtime"), script)
    expected_classes = {
        "input_audio_buffer.speech_started": "InputAudioBufferSpeechStartedEvent",
        "input_audio_buffer.speech_stopped": "InputAudioBufferSpeechStoppedEvent",
        "input_audio_buffer.committed": "InputAudioBufferCommittedEvent",
        "conversation.item.input_audio_transcription.delta": "ConversationItemInputAudioTranscriptionDeltaEvent",
        "conversation.item.input_audio_transcription.completed": (
            "ConversationItemInputAudioTranscriptionCompletedEvent"
        ),
        "response.output_text.delta": "ResponseTextDeltaEvent",
        "response.done": "ResponseDoneEvent",
    }
    classes = {event_type: name for event_type, name, _ in seen}
    for event_type, name in expected_classes.items():
        assert classes.get(event_type) == name, event_type
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)
    for _, class_name, frame in seen:
        assert type(adapter.validate_json(frame)).__name__ == class_name
    completed = next(frame for event_type, _, frame in seen if event_type.endswith("transcription.completed"))
    assert msgspec.json.decode(completed)["transcript"] == "(0.7 s of audio)"


def test_openai_sdk_call_sideband_and_beta_clients() -> None:
    from openai.types.beta.realtime import RealtimeServerEvent as BetaServerEvent
    from openai.types.realtime import RealtimeServerEvent

    async def ask(conn: Any) -> None:
        await conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
        )
        await conn.response.create()

    seen = sdk_session(lambda client: client.realtime.connect(call_id="rtc_test"), ask, "output_audio_buffer.stopped")
    classes = {event_type: name for event_type, name, _ in seen}
    assert classes["output_audio_buffer.started"] == "OutputAudioBufferStarted"
    assert classes["output_audio_buffer.stopped"] == "OutputAudioBufferStopped"
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)
    for _, class_name, frame in seen:
        assert type(adapter.validate_json(frame)).__name__ == class_name

    seen = sdk_session(lambda client: client.beta.realtime.connect(model="gpt-4o-realtime-preview"), ask)
    classes = {event_type: name for event_type, name, _ in seen}
    assert classes["conversation.item.created"] == "ConversationItemCreatedEvent"
    assert classes["response.audio.delta"] == "ResponseAudioDeltaEvent"
    assert classes["response.audio_transcript.delta"] == "ResponseAudioTranscriptDeltaEvent"
    assert "conversation.item.added" not in classes
    beta: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(BetaServerEvent)
    for _, class_name, frame in seen:
        assert type(beta.validate_json(frame)).__name__ == class_name


async def test_a_session_cannot_change_its_type() -> None:
    async with connected() as transport:
        update = events.SessionUpdate(session=events.Session(type="transcription"), event_id="evt_type")
        await send(transport, update)
        error = await receive(transport)
        assert isinstance(error, events.ErrorEvent)
        assert (error.error.code, error.error.param) == ("invalid_value", "session.type")
        assert error.error.event_id == "evt_type"
