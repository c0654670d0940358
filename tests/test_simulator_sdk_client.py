"""Whole sessions with the official openai SDK's realtime client against the simulator.

``openai.AsyncOpenAI(base_url="http://127.0.0.1:PORT/v1")`` then ``client.realtime.connect(model=...)``: the SDK
turns the base URL into ``ws://127.0.0.1:PORT/v1/realtime?model=...``. Every event of every scenario goes through
``connection.recv()``, which returns the SDK's typed models; the tests check the models, in order, and validate each
raw frame strictly against the SDK's ``RealtimeServerEvent`` union as well.
"""

from __future__ import annotations

import math
import struct
import typing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import openai
import pydantic
import pytest
from openai.types.realtime import RealtimeServerEvent

from realtime_dispatch.simulator import Simulator

pytestmark = pytest.mark.anyio

MODEL = "gpt-realtime"
TEXT_SESSION = {"type": "realtime", "output_modalities": ["text"]}
STRICT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)
SDK_CLASSES = {
    typing.get_args(member.model_fields["type"].annotation)[0]: member
    for member in typing.get_args(typing.get_args(RealtimeServerEvent)[0])
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the SDK's client runs on asyncio only


def tone(ms: int, amplitude: int = 8000) -> bytes:
    """``ms`` of a 440 Hz sine, PCM16 24 kHz mono: speech to the simulator's VAD (about -12 dBFS)."""
    samples = 24 * ms
    return struct.pack(f"<{samples}h", *(round(amplitude * math.sin(2 * math.pi * 440 * n / 24000))
                                          for n in range(samples)))  # fmt: skip


def b64(pcm: bytes) -> str:
    import base64

    return base64.b64encode(pcm).decode()


def user_message(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


class Session:
    """An SDK connection that records every event it receives, typed (``recv()``) and raw."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.events: list[Any] = []
        self.frames: list[bytes] = []
        receive_frame = conn.recv_bytes

        async def recording() -> bytes:
            frame: bytes = await receive_frame()
            self.frames.append(frame)
            return frame

        conn.recv_bytes = recording

    async def recv(self) -> Any:
        with anyio.fail_after(10):
            event = await self.conn.recv()
        self.events.append(event)
        return event

    async def until(self, event_type: str) -> list[Any]:
        """Receive up to and including the first ``event_type``; returns those events."""
        received = []
        while True:
            event = await self.recv()
            received.append(event)
            if event.type == event_type:
                return received

    async def answer(self) -> list[Any]:
        """Receive up to the end of a response: ``response.done``, then ``rate_limits.updated``."""
        received = await self.until("response.done")
        received.append(await self.recv())
        assert received[-1].type == "rate_limits.updated"
        return received

    def check_parsed(self) -> None:
        """Every event is the SDK's model of its type, and its frame validates strictly against the SDK union."""
        assert len(self.events) == len(self.frames)
        for event, frame in zip(self.events, self.frames, strict=True):
            assert type(event) is SDK_CLASSES[event.type], (event.type, type(event).__name__)
            assert type(STRICT.validate_json(frame)) is type(event), frame


@asynccontextmanager
async def sdk_session(simulator: Simulator | None = None) -> AsyncIterator[Session]:
    async with (simulator or Simulator()).serve(host="127.0.0.1", port=0) as base_url:
        client = openai.AsyncOpenAI(api_key="sk-test", base_url=base_url.replace("ws://", "http://", 1))
        try:
            async with client.realtime.connect(model=MODEL) as conn:
                session = Session(conn)
                created = await session.recv()
                assert created.type == "session.created"
                yield session
                session.check_parsed()
        finally:
            await client.close()


def types(received: list[Any]) -> list[str]:
    """Event types, with runs of the same delta type collapsed to one."""
    shown: list[str] = []
    for event in received:
        if not (shown and shown[-1] == event.type and event.type.endswith(".delta")):
            shown.append(event.type)
    return shown


TEXT_RESPONSE = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "conversation.item.done",
    "response.output_item.done",
    "response.done",
    "rate_limits.updated",
]
AUDIO_RESPONSE = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
    "response.output_audio_transcript.delta",
    "response.output_audio.delta",
    "response.output_audio_transcript.delta",
    "response.output_audio.delta",
]


async def test_session_update() -> None:
    async with sdk_session() as session:
        await session.conn.session.update(
            session={
                "type": "realtime",
                "instructions": "Be brief.",
                "output_modalities": ["text"],
                "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}, "turn_detection": None}},
            }
        )
        [updated] = await session.until("session.updated")
        assert isinstance(updated, openai.types.realtime.SessionUpdatedEvent)
        assert updated.session.instructions == "Be brief."
        assert updated.session.output_modalities == ["text"]
        assert updated.session.audio.input.turn_detection is None
        assert updated.session.audio.input.transcription.model == "gpt-4o-transcribe"


async def test_a_text_turn() -> None:
    async with sdk_session() as session:
        await session.conn.session.update(session=TEXT_SESSION)
        await session.until("session.updated")
        await session.conn.conversation.item.create(item=user_message("Hello there"))
        await session.conn.response.create()
        received = await session.answer()
        assert types(received) == ["conversation.item.added", "conversation.item.done", *TEXT_RESPONSE]
        text = "".join(event.delta for event in received if event.type == "response.output_text.delta")
        assert text == "You said: Hello there"
        done = received[-2]
        assert done.response.status == "completed"
        assert done.response.output[0].content[0].text == "You said: Hello there"


async def test_a_tool_round_trip() -> None:
    tool = {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    async with sdk_session() as session:
        conn = session.conn
        await conn.session.update(session={**TEXT_SESSION, "tools": [tool], "tool_choice": "auto"})
        [updated] = await session.until("session.updated")
        assert updated.session.tools[0].name == "get_weather"
        await conn.conversation.item.create(item=user_message("Use get_weather, please"))
        await conn.response.create()
        received = await session.answer()
        assert types(received) == [
            "conversation.item.added",
            "conversation.item.done",
            "response.created",
            "response.output_item.added",
            "conversation.item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "conversation.item.done",
            "response.output_item.done",
            "response.done",
            "rate_limits.updated",
        ]
        call = received[-2].response.output[0]
        assert (call.type, call.name, call.arguments) == ("function_call", "get_weather", "{}")
        await conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
        )
        await conn.response.create()
        received = await session.answer()
        assert types(received) == ["conversation.item.added", "conversation.item.done", *TEXT_RESPONSE]
        assert received[0].item.type == "function_call_output"
        assert received[-2].response.output[0].content[0].text == "Tool get_weather returned: sunny"


async def test_an_audio_turn_with_server_vad() -> None:
    async with sdk_session() as session:
        conn = session.conn
        await conn.session.update(
            session={"type": "realtime", "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}}
        )
        [updated] = await session.until("session.updated")
        assert updated.session.audio.input.turn_detection.type == "server_vad"  # on by default
        for start in range(0, 48 * 1000, 48 * 100):  # 1 s of speech, then silence, in 100 ms appends
            await conn.input_audio_buffer.append(audio=b64((tone(700) + bytes(48 * 300))[start : start + 48 * 100]))
        received = await session.answer()
        assert types(received)[:8] == [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
            "response.created",
            "conversation.item.input_audio_transcription.delta",
            "conversation.item.input_audio_transcription.completed",
        ]
        assert types(received)[8:12] == AUDIO_RESPONSE[1:5]
        assert types(received)[-8:] == [
            "response.output_audio.delta",
            "response.output_audio.done",
            "response.output_audio_transcript.done",
            "response.content_part.done",
            "conversation.item.done",
            "response.output_item.done",
            "response.done",
            "rate_limits.updated",
        ]
        started, stopped = received[0], received[1]
        assert started.audio_start_ms == 0
        assert stopped.audio_end_ms > 700
        completed = next(e for e in received if e.type == "conversation.item.input_audio_transcription.completed")
        assert completed.transcript.startswith("(")  # EchoResponder's duration transcript, e.g. "(0.9 s of audio)"
        done = received[-2]
        assert done.response.status == "completed"
        assert done.response.output[0].content[0].type == "output_audio"
        assert done.response.output[0].content[0].transcript == f"You said: {completed.transcript}"


async def test_an_audio_turn_with_manual_commit() -> None:
    async with sdk_session() as session:
        conn = session.conn
        await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        await session.until("session.updated")
        await conn.input_audio_buffer.append(audio=b64(tone(500)))
        await conn.input_audio_buffer.commit()
        received = await session.until("conversation.item.done")
        assert types(received) == ["input_audio_buffer.committed", "conversation.item.added", "conversation.item.done"]
        assert received[0].item_id == received[-1].item.id
        assert received[-1].item.content[0].type == "input_audio"
        await conn.response.create(response={"output_modalities": ["text"]})
        received = await session.answer()
        assert types(received) == TEXT_RESPONSE
        assert received[-2].response.output[0].content[0].text == "You said: (500 ms of audio)"


async def test_response_cancel_mid_answer() -> None:
    async with sdk_session(Simulator(delta_delay=0.02)) as session:
        conn = session.conn
        await conn.session.update(session=TEXT_SESSION)
        await session.until("session.updated")
        await conn.conversation.item.create(item=user_message("one two three four five six seven eight nine ten"))
        await conn.response.create()
        await session.until("response.output_text.delta")
        await conn.response.cancel()
        received = await session.answer()
        rest = TEXT_RESPONSE[TEXT_RESPONSE.index("response.output_text.delta") :]
        assert types(received) in (rest, rest[1:])  # more deltas may have been on their way
        done = received[-2]
        assert done.response.status == "cancelled"
        assert done.response.status_details.reason == "client_cancelled"
        assert done.response.output[0].status == "incomplete"
        said = "".join(event.delta for event in session.events if event.type == "response.output_text.delta")
        assert said != "You said: one two three four five six seven eight nine ten"  # cut short
        assert done.response.output[0].content[0].text == said


async def test_truncate_the_assistant_audio_item_mid_stream() -> None:
    """``conversation.item.truncate`` of the audio item while it streams (before its ``output_item.done``)."""
    async with sdk_session(Simulator(delta_delay=0.02)) as session:
        conn = session.conn
        await conn.conversation.item.create(item=user_message("a long enough question to get a long spoken answer"))
        await conn.response.create()
        received = await session.until("response.output_audio.delta")
        await session.until("response.output_audio.delta")  # 200 ms of audio sent
        item_id = received[-1].item_id
        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=150)
        received = await session.answer()
        errors = [event for event in received if event.type == "error"]
        assert errors == [], errors[0].error.message if errors else ""
        truncated = [event for event in received if event.type == "conversation.item.truncated"]
        assert [(event.item_id, event.content_index, event.audio_end_ms) for event in truncated] == [(item_id, 0, 150)]
        item_done = next(event for event in received if event.type == "response.output_item.done")
        assert received.index(truncated[0]) < received.index(item_done)  # it answered while the item streamed
