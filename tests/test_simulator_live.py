"""GPT-Live in the simulator (``/v1/live/sessions`` and ``.../{id}/attach``), over real sockets on 127.0.0.1.

Two kinds of client:

- the official openai SDK's own (``client.live.connect()``, ``client.live.sideband.connect(session_id=...)``,
  asyncio only): every frame it receives validates strictly against the SDK's ``ServerEvent`` (or
  ``ConnectServerEvent``) union, every nested ``response.event`` against its Responses ``ResponseStreamEvent``
  union, and every frame decodes with our ``events.live`` to a modelled struct;
- our own WebSocket client (``connect_websocket``, asyncio and trio) for the handshake: what the service refuses,
  and how.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import re
import signal
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import openai
import pydantic
import pytest
import websockets
from openai.types.live import ConnectServerEvent, ServerEvent
from openai.types.responses import ResponseStreamEvent

from realtime_dispatch import audio
from realtime_dispatch.events import UnknownEvent
from realtime_dispatch.events import live as lv
from realtime_dispatch.simulator import EchoResponder, ScriptedResponder, Simulator
from realtime_dispatch.transports import HandshakeError, TransportClosed, WebSocketTransport, connect_websocket

pytestmark = pytest.mark.anyio

STRICT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ServerEvent)
STRICT_SIDEBAND: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ConnectServerEvent)
NESTED: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseStreamEvent)
MODEL = "gpt-live-1"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city", "unit"],
    },
}
RESPONSES = {"type": "responses", "responses": {"model": "gpt-5.6-terra", "tools": [WEATHER]}}


def tone(ms: int, amplitude: int = 8000) -> bytes:
    """``ms`` of a 440 Hz sine, PCM16 24 kHz mono: speech to the simulator's VAD."""
    samples = 24 * ms
    return struct.pack(f"<{samples}h", *(round(amplitude * math.sin(2 * math.pi * 440 * n / 24000))
                                          for n in range(samples)))  # fmt: skip


def utterance(speech_ms: int = 600, silence_ms: int = 800) -> bytes:
    """A short spoken turn: speech, then the silence after which the simulator's VAD ends it."""
    return tone(speech_ms) + bytes(48 * silence_ms)


def b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode()


class Says(EchoResponder):
    """``EchoResponder`` whose user audio is transcribed as ``text``."""

    def __init__(self, text: str) -> None:
        self.text = text

    async def transcribe(self, pcm: bytes) -> str:
        return self.text


# --- the SDK's clients ------------------------------------------------------------------------------


class Frames:
    """An SDK connection's frames: each checked strictly against the SDK's union and decoded with ours."""

    def __init__(self, conn: Any, *, sideband: bool = False) -> None:
        self.conn = conn
        self.sideband = sideband
        self.received: list[dict[str, Any]] = []

    async def next(self) -> dict[str, Any]:
        with anyio.fail_after(10):
            raw: bytes = await self.conn.recv_bytes()
        (STRICT_SIDEBAND if self.sideband else STRICT).validate_json(raw, strict=True)
        ours = (lv.decode_sideband if self.sideband else lv.decode)(raw)
        assert not isinstance(ours, UnknownEvent), raw
        frame: dict[str, Any] = json.loads(raw)
        assert ours.type == frame["type"]
        if frame["type"] == "response.event":
            NESTED.validate_python(frame["event"], strict=True)
        self.received.append(frame)
        return frame

    async def until(self, done: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Frames up to and including the first for which ``done`` is true."""
        frames = []
        while True:
            frame = await self.next()
            frames.append(frame)
            if done(frame):
                return frames

    async def until_type(self, kind: str) -> list[dict[str, Any]]:
        return await self.until(lambda frame: frame["type"] == kind)


def nested(frame: dict[str, Any], kind: str) -> bool:
    return frame["type"] == "response.event" and frame["event"]["type"] == kind


def of_type(frames: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [frame for frame in frames if frame["type"] == kind]


def spoken(frames: list[dict[str, Any]]) -> str:
    return "".join(frame["delta"] for frame in of_type(frames, "session.output_transcript.delta"))


@asynccontextmanager
async def sdk_client(simulator: Simulator) -> AsyncIterator[openai.AsyncOpenAI]:
    async with simulator.serve(host="127.0.0.1", port=0) as base_url:
        client = openai.AsyncOpenAI(
            api_key="sk-test", base_url=base_url.replace("ws://", "http://", 1), websocket_base_url=base_url
        )
        try:
            yield client
        finally:
            await client.close()


@dataclass
class Live:
    """An SDK client's started Live session: the client, the connection, its frames, ``session.started``."""

    client: openai.AsyncOpenAI
    conn: Any
    frames: Frames
    started: dict[str, Any]


@asynccontextmanager
async def live_session(simulator: Simulator, **session: Any) -> AsyncIterator[Live]:
    """``client.live.connect()`` to ``simulator``, then ``session.start`` with ``session`` (and the model)."""
    async with sdk_client(simulator) as client, client.live.connect() as conn:
        frames = Frames(conn)
        await conn.session.start(session={"model": MODEL, **session}, event_id="evt_start")
        started = await frames.next()
        assert started["type"] == "session.started"
        yield Live(client, conn, frames, started)


async def speak(conn: Any, pcm: bytes) -> None:
    for offset in range(0, len(pcm), 4800):  # 100 ms appends
        await conn.session.input_audio.append(audio=b64(pcm[offset : offset + 4800]))


def function_output(call_id: str, output: str) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def calls(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The function calls of a nested stream: the items of its ``response.output_item.done`` events."""
    done = [frame["event"]["item"] for frame in frames if nested(frame, "response.output_item.done")]
    return [item for item in done if item["type"] == "function_call"]


class TestWithTheSDK:
    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"  # the SDK's client runs on asyncio only

    async def test_a_responses_delegation_session_from_start_to_close(self) -> None:
        simulator = Simulator(Says("Please get_weather for me."))
        async with live_session(simulator, instructions="Be brief.", delegation=RESPONSES) as live:
            conn, frames, started = live.conn, live.frames, live.started
            session = started["session"]
            assert session["id"].startswith("live_")
            assert session["status"] == "active"
            assert session["model"] == MODEL
            assert session["instructions"] == "Be brief."
            assert session["delegation"]["responses"]["tools"] == [WEATHER]
            assert session["audio"] == {"format": {"type": "audio/pcm", "rate": 24000}, "output": {"voice": "marin"}}
            assert started["client_event_id"] == "evt_start"
            assert session["expires_at"] > 0

            await speak(conn, utterance())
            first = await frames.until(lambda frame: nested(frame, "response.completed"))
            heard = of_type(first, "session.input_transcript.delta")
            assert "".join(frame["delta"] for frame in heard) == "Please get_weather for me."
            assert heard[0]["start_ms"] == 0  # the speech starts the session's audio, padding included
            assert heard[-1]["end_ms"] == 600
            assert all(a["end_ms"] <= b["start_ms"] for a, b in itertools.pairwise(heard))

            [created] = of_type(first, "session.delegation.created")
            delegation = created["delegation"]
            assert delegation["type"] == "delegation"
            assert delegation["target"] == "responses"
            assert created["offset_ms"] == 1100  # 600 ms of speech, then 500 ms of silence ended it
            stream = [frame for frame in first if frame["type"] == "response.event"]
            assert {frame["delegation_id"] for frame in stream} == {delegation["id"]}
            kinds = [frame["event"]["type"] for frame in stream]
            assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
            assert kinds[-3:] == ["response.function_call_arguments.done", "response.output_item.done",
                                  "response.completed"]  # fmt: skip
            response = stream[0]["event"]["response"]
            assert response["id"] == delegation["response_id"]
            assert response["output"] == []  # lifecycle snapshots are stripped
            assert response["tools"] == []
            assert response["instructions"] is None
            assert [frame["event"]["sequence_number"] for frame in stream] == list(range(len(stream)))
            [item] = calls(first)
            assert item["name"] == "get_weather"
            assert json.loads(item["arguments"]) == {"city": "Paris", "unit": "celsius"}  # valid for its schema
            pieces = [frame["event"]["delta"] for frame in stream
                      if frame["event"]["type"] == "response.function_call_arguments.delta"]  # fmt: skip
            assert "".join(pieces) == item["arguments"]
            completed = stream[-1]["event"]["response"]
            assert completed["status"] == "completed"
            assert completed["output"] == []
            assert not of_type(first, "session.output_audio.delta")  # the model waits for the tool

            await conn.response.item.create(item=function_output(item["call_id"], '{"sky": "clear"}'))
            await conn.response.create()
            rest = await frames.until_type("session.usage.updated")
            stream = [frame for frame in rest if frame["type"] == "response.event"]
            assert {frame["delegation_id"] for frame in stream} == {delegation["id"]}
            answer = 'Tool get_weather returned: {"sky": "clear"}'
            texts = [frame["event"] for frame in stream if frame["event"]["type"] == "response.output_text.delta"]
            assert "".join(event["delta"] for event in texts) == answer
            [done] = [frame["event"] for frame in stream if frame["event"]["type"] == "response.completed"]
            assert done["response"]["id"] != delegation["response_id"]  # a continuation is a new response
            usage = done["response"]["usage"]
            assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
            assert usage["output_tokens"] > 0

            assert spoken(rest) == answer  # the Live model speaks the delegated text
            audio = of_type(rest, "session.output_audio.delta")
            assert audio
            assert all(set(frame) == {"type", "delta"} for frame in audio)  # no ids, no times on the primary
            said = of_type(rest, "session.output_transcript.delta")
            assert said[0]["start_ms"] == 1400  # queued when response.create came: all the audio was in
            end = said[0]["start_ms"] + len(audio) * 100  # 100 ms chunks; the transcript leads the audio
            assert said[-1]["end_ms"] <= end
            seconds = rest[-1]["usage"]["seconds"]
            assert seconds == end / 1000
            assert 0 < rest[-1]["context_window"]["usage_ratio"] < 1

            await conn.session.close(event_id="evt_close")
            [closed] = await frames.until_type("session.closed")
            assert closed["reason"] == "close_requested"
            assert closed["session"]["id"] == session["id"]
            assert closed["session"]["status"] == "active"
            assert closed["usage"]["seconds"] == seconds
            assert closed["client_event_id"] == "evt_close"
            with pytest.raises(websockets.exceptions.ConnectionClosedOK) as ended:  # the server closes: 1000
                await frames.next()
            assert ended.value.rcvd is not None
            assert ended.value.rcvd.code == 1000

    async def test_a_scripted_tool_call_in_16_khz_audio(self) -> None:
        arguments = {"city": "Oslo", "unit": "celsius"}
        script = ScriptedResponder([{"transcript": "Weather in Oslo?", "text": "Cold and clear in Oslo.",
                                     "tool_call": {"name": "get_weather", "arguments": arguments}}])  # fmt: skip
        pcm16 = {"format": {"type": "audio/pcm", "rate": 16000}}
        async with live_session(Simulator(script), delegation=RESPONSES, audio=pcm16) as live:
            conn, frames, started = live.conn, live.frames, live.started
            assert started["session"]["audio"]["format"] == pcm16["format"]
            await speak(conn, audio.resample(utterance(), 24000, 16000))
            first = await frames.until(lambda frame: nested(frame, "response.completed"))
            assert "".join(f["delta"] for f in of_type(first, "session.input_transcript.delta")) == "Weather in Oslo?"
            [item] = calls(first)
            assert json.loads(item["arguments"]) == arguments
            await conn.response.item.create(item=function_output(item["call_id"], "-3 C"))
            await conn.response.create()
            rest = await frames.until_type("session.usage.updated")
            assert spoken(rest) == "Cold and clear in Oslo."
            chunk = base64.b64decode(of_type(rest, "session.output_audio.delta")[0]["delta"])
            assert len(chunk) == 100 * 32  # 100 ms of PCM16 at 16 kHz: the session's format
            await conn.session.close()
            await frames.until_type("session.closed")

    async def test_client_delegation_greeting_commentary_and_responses_only_commands(self) -> None:
        simulator = Simulator(Says("Can you delegate this to the app?"))
        async with live_session(simulator) as live:
            conn, frames, started = live.conn, live.frames, live.started
            assert started["session"]["delegation"] == {"type": "client"}

            await conn.session.instructions.append(content="Hello! How can I help?", delegation_id=None,
                                                   event_id="evt_hello")  # fmt: skip
            greeting = await frames.until_type("session.usage.updated")
            [appended] = of_type(greeting, "session.instructions.appended")
            assert appended["client_event_id"] == "evt_hello"
            assert appended["start_ms"] == appended["end_ms"] == 0
            assert spoken(greeting) == "Hello! How can I help?"  # instructions make the model speak

            await speak(conn, utterance())
            turn = await frames.until_type("session.delegation.created")
            delegation = turn[-1]["delegation"]
            assert delegation["target"] == "client"
            assert delegation["id"].startswith("item_")
            assert "response_id" not in delegation
            assert not of_type(turn, "response.event")

            await conn.session.thinking.append(content="The user wants a refund.", delegation_id=delegation["id"])
            assert (await frames.until_type("session.thinking.appended"))[-1]["start_ms"] == 1400
            await conn.session.commentary.append(content="Your refund is on its way.", delegation_id=delegation["id"])
            said = await frames.until_type("session.usage.updated")
            assert of_type(said, "session.commentary.appended")
            assert spoken(said) == "Your refund is on its way."

            user_text = {"type": "message", "role": "user", "content": "hi"}
            await conn.response.item.create(item=user_text, event_id="evt_item")
            [error] = await frames.until_type("error")
            assert error["error"]["message"] == "response.item.create requires Responses delegation."
            assert error["error"]["type"] == "invalid_request_error"
            assert error["client_event_id"] == "evt_item"
            assert error["error"]["client_event_id"] == "evt_item"
            await conn.response.create()
            [error] = await frames.until_type("error")
            assert error["error"]["message"] == "response.create requires Responses delegation."
            await conn.session.commentary.append(content="x", delegation_id="item_unknown")
            [error] = await frames.until_type("error")
            assert error["error"]["param"] == "delegation_id"

            await conn.session.close()
            [closed] = await frames.until_type("session.closed")
            assert closed["usage"]["seconds"] >= 1.4

    async def test_acknowledgements_updates_fixtures_and_decisions(self) -> None:
        async with live_session(Simulator(), delegation=RESPONSES) as live:
            conn, frames = live.conn, live.frames
            await conn.session.input_audio.mute(event_id="evt_mute")
            [muted] = await frames.until_type("session.input_audio.muted")
            assert muted["client_event_id"] == "evt_mute"
            await speak(conn, utterance())  # muted: heard as silence, nothing answers
            await conn.session.input_audio.unmute()
            assert len(await frames.until_type("session.input_audio.unmuted")) == 1

            choice = {"type": "responses", "responses": {"tool_choice": "required"}}
            await conn.session.update(session={"delegation": choice}, event_id="evt_update")
            [updated] = await frames.until_type("session.updated")
            responses = updated["session"]["delegation"]["responses"]
            assert responses["tool_choice"] == "required"
            assert responses["tools"] == [WEATHER]  # left out of the update: kept
            await conn.send({"type": "session.update", "session": {"instructions": "New."}})
            [error] = await frames.until_type("error")
            assert error["error"]["code"] == "immutable_field_update"
            assert error["error"]["param"] == "session.instructions"
            await conn.session.update(session={"delegation": {"type": "client"}})
            [error] = await frames.until_type("error")
            assert error["error"]["code"] == "immutable_field_update"

            fixture = tone(250)
            await conn.session.output_audio.fixture.play(audio=b64(fixture), event_id="evt_fixture")
            played = await frames.until_type("session.output_audio.fixture.played")
            assert [frame["type"] for frame in played] == [
                "session.output_audio.fixture.playing",
                "session.output_audio.delta",
                "session.output_audio.delta",
                "session.output_audio.delta",
                "session.output_audio.fixture.played",
            ]
            assert b"".join(base64.b64decode(frame["delta"]) for frame in played[1:-1]) == fixture
            assert played[0]["client_event_id"] == "evt_fixture"
            assert played[-1]["client_event_id"] == "evt_fixture"

            await conn.decision.item.create(item={"role": "user", "content": "I want a refund."})
            [created] = await frames.until_type("decision.item.created")
            item_id = created["item"]["id"]
            assert created["item"]["content"] == "I want a refund."
            await conn.decision.item.delete(item_id=item_id)
            [deleted] = await frames.until_type("decision.item.deleted")
            assert deleted["item_id"] == item_id
            await conn.decision.item.delete(item_id=item_id)
            [error] = await frames.until_type("error")
            assert error["error"]["code"] == "item_not_found"
            await conn.decision.create(event_id="evt_decide")
            [decision] = await frames.until_type("decision.event")
            assert decision["event"]["type"] == "decision.completed"
            assert decision["event"]["decision"]["answers"] == []

            await conn.session.close()
            await frames.until_type("session.closed")
            assert not of_type(frames.received, "session.input_transcript.delta")

    async def test_a_sideband_sees_the_session_and_a_tool_call_is_answered_once(self) -> None:
        simulator = Simulator(Says("What does get_weather say?"))
        async with live_session(simulator, delegation=RESPONSES) as live:
            conn, frames, started = live.conn, live.frames, live.started
            session_id = started["session"]["id"]
            async with live.client.live.sideband.connect(session_id=session_id) as side:
                observed = Frames(side, sideband=True)
                await conn.session.thinking.append(content="ready?", delegation_id=None)
                await frames.until_type("session.thinking.appended")
                await observed.until_type("session.thinking.appended")  # attached: it hears the session

                pcm = utterance()
                await speak(conn, pcm)
                seen = await observed.until(lambda frame: nested(frame, "response.completed"))
                reflected = of_type(seen, "session.input_audio.append")
                echoed = b"".join(base64.b64decode(frame["audio"]) for frame in reflected)
                assert len(echoed) >= 48 * 1100  # so far: up to the end of the turn
                assert pcm.startswith(echoed)
                assert all(set(frame) == {"type", "audio"} for frame in reflected)
                [call] = calls(seen)
                primary = await frames.until(lambda frame: nested(frame, "response.completed"))
                assert calls(primary) == [call]
                assert not of_type(primary, "session.input_audio.append")  # reflections: sidebands only

                # Both answer: the sideband first. Its output is used, the primary's is refused.
                await side.response.item.create(item=function_output(call["call_id"], "from the sideband"))
                await side.response.create()
                heard = await observed.until_type("session.usage.updated")
                answer = "Tool get_weather returned: from the sideband"
                assert spoken(heard) == answer
                timed = of_type(heard, "session.output_audio.delta")
                assert all(frame["end_ms"] - frame["start_ms"] == 100 for frame in timed)
                assert [frame["start_ms"] for frame in timed] == sorted(frame["start_ms"] for frame in timed)
                await conn.response.item.create(item=function_output(call["call_id"], "from the primary"),
                                                event_id="evt_late")  # fmt: skip
                rest = await frames.until_type("error")
                assert spoken(rest) == answer
                assert rest[-1]["error"]["code"] == "duplicate_function_call_output"
                assert rest[-1]["client_event_id"] == "evt_late"
                await conn.response.create()
                [error] = await frames.until_type("error")
                assert "no input since the last response" in error["error"]["message"]

                await side.session.close()
                assert (await observed.until_type("session.closed"))[-1]["reason"] == "close_requested"
                assert (await frames.until_type("session.closed"))[-1]["reason"] == "close_requested"
                assert not of_type(observed.received, "error")


# --- the handshake, with our own client (asyncio and trio) ----------------------------------------


@asynccontextmanager
async def served(simulator: Simulator | None = None) -> AsyncIterator[str]:
    async with (simulator or Simulator()).serve(host="127.0.0.1", port=0) as base_url:
        yield base_url


async def receive(transport: WebSocketTransport) -> dict[str, Any]:
    with anyio.fail_after(5):
        frame: dict[str, Any] = json.loads(await transport.receive())
    return frame


async def send(transport: WebSocketTransport, frame: dict[str, Any]) -> None:
    await transport.send(json.dumps(frame).encode())


async def closed_code(transport: WebSocketTransport) -> int:
    with anyio.fail_after(5), pytest.raises(TransportClosed) as ended:
        await transport.receive()
    return ended.value.code


async def test_the_first_frame_must_be_session_start() -> None:
    async with served() as base_url:
        transport = await connect_websocket(f"{base_url}/live/sessions")
        await send(transport, {"type": "session.input_audio.append", "audio": "AAAA", "event_id": "evt_1"})
        error = await receive(transport)
        assert error["type"] == "error"
        assert error["error"]["type"] == "invalid_request_error"
        assert error["error"]["code"] == "invalid_value"
        assert "session.start" in error["error"]["message"]
        assert error["client_event_id"] == "evt_1"
        assert await closed_code(transport) == 1008  # startup failed: no session.started, the socket closes


@pytest.mark.parametrize("key", ["turn_detection", "tools", "output_modalities", "type"])
async def test_a_realtime_only_key_in_session_start_is_an_unknown_parameter(key: str) -> None:
    async with served() as base_url:
        transport = await connect_websocket(f"{base_url}/live/sessions")
        await send(transport, {"type": "session.start", "session": {"model": MODEL, key: None}})
        error = await receive(transport)
        assert error["type"] == "error"
        assert error["error"]["code"] == "unknown_parameter"
        assert error["error"]["param"] == f"session.{key}"
        assert await closed_code(transport) == 1008


async def test_the_azure_path_serves_live_and_a_session_closes_with_1000() -> None:
    async with served() as base_url:
        origin = base_url.removesuffix("/v1")
        transport = await connect_websocket(f"{origin}/openai/v1/live/sessions")
        await send(transport, {"type": "session.start", "session": {"model": MODEL}})
        started = await receive(transport)
        assert started["type"] == "session.started"
        await send(transport, {"type": "session.start", "session": {"model": MODEL}})
        assert (await receive(transport))["error"]["code"] == "session_already_started"
        await send(transport, {"type": "session.close"})
        closed = await receive(transport)
        assert closed["type"] == "session.closed"
        assert closed["usage"] == {"seconds": 0.0}
        assert await closed_code(transport) == 1000


async def test_a_sideband_to_an_unknown_session_is_a_404_and_a_fork_is_not_simulated() -> None:
    async with served() as base_url:
        with pytest.raises(HandshakeError) as refused:
            await connect_websocket(f"{base_url}/live/sessions/live_nope/attach")
        assert refused.value.status == 404
        assert "live_nope" in str(refused.value)
        with pytest.raises(HandshakeError) as refused:
            await connect_websocket(f"{base_url}/live/sessions/live_nope/fork")
        assert refused.value.status == 404


async def test_a_sideband_gets_reflections_and_may_not_start_or_append() -> None:
    async with served() as base_url:
        primary = await connect_websocket(f"{base_url}/live/sessions")
        await send(primary, {"type": "session.start", "session": {"model": MODEL}})
        session_id = (await receive(primary))["session"]["id"]
        side = await connect_websocket(f"{base_url}/live/sessions/{session_id}/attach?graceful_close=true")
        for kind in ("session.start", "session.input_audio.append"):
            await send(side, {"type": kind, "event_id": "evt_x", "audio": "AAAA", "session": {"model": MODEL}})
            error = await receive(side)
            assert error["type"] == "error"
            assert error["error"]["message"] == f"'{kind}' is not allowed on a sideband connection."
        await send(primary, {"type": "session.input_audio.append", "audio": b64(bytes(960))})
        reflected = await receive(side)
        assert reflected == {"type": "session.input_audio.append", "audio": b64(bytes(960))}
        await send(primary, {"type": "session.input_audio.append", "audio": "AAA"})  # odd PCM
        error = await receive(primary)
        assert error["error"]["code"] == "invalid_audio"
        await primary.close()  # no session.close: the sideband hears the connection was lost
        closed = await receive(side)
        assert closed["type"] == "session.closed"
        assert closed["reason"] == "connection_lost"
        assert await closed_code(side) == 1000
        with pytest.raises(HandshakeError) as refused:  # the session is gone
            await connect_websocket(f"{base_url}/live/sessions/{session_id}/attach")
        assert refused.value.status == 404


async def test_g711_sessions_hear_and_speak_their_format() -> None:
    async with served(Simulator(Says("Hi"))) as base_url:
        transport = await connect_websocket(f"{base_url}/live/sessions")
        ulaw_format = {"type": "audio/pcmu", "rate": 8000}
        await send(transport, {"type": "session.start", "session": {"model": MODEL, "audio": {"format": ulaw_format}}})
        assert (await receive(transport))["type"] == "session.started"
        pcm = utterance()
        ulaw = audio.pcm_to_ulaw(audio.resample(pcm, 24000, 8000))
        await send(transport, {"type": "session.input_audio.append", "audio": b64(ulaw)})
        frames = []
        while not frames or frames[-1]["type"] != "session.usage.updated":
            frames.append(await receive(transport))
        assert "".join(f["delta"] for f in of_type(frames, "session.input_transcript.delta")) == "Hi"
        assert spoken(frames) == "You said: Hi"
        chunk = base64.b64decode(of_type(frames, "session.output_audio.delta")[0]["delta"])
        assert len(chunk) == 800  # 100 ms of G.711 at 8 kHz
        await transport.close()


async def test_decisions_delegation_sends_a_trivial_decision() -> None:
    question = {"type": "predicate", "instructions": "Is this a refund request?"}
    decisions = {"type": "decisions", "decisions": {"model": "gpt-6-luna", "questions": [question]}}
    async with served(Simulator(Says("Please delegate my refund."))) as base_url:
        transport = await connect_websocket(f"{base_url}/live/sessions")
        await send(transport, {"type": "session.start", "session": {"model": MODEL, "delegation": decisions}})
        assert (await receive(transport))["session"]["delegation"]["decisions"]["model"] == "gpt-6-luna"
        await send(transport, {"type": "session.input_audio.append", "audio": b64(utterance())})
        frames = [await receive(transport)]
        while frames[-1]["type"] != "decision.event":
            frames.append(await receive(transport))
        [created] = of_type(frames, "session.delegation.created")
        assert created["delegation"]["target"] == "decisions"
        decision = frames[-1]
        assert decision["delegation_id"] == created["delegation"]["id"]
        assert decision["event"]["decision"]["model"] == "gpt-6-luna"
        assert decision["event"]["decision"]["answers"] == []
        await send(transport, {"type": "response.create"})
        assert (await receive(transport))["error"]["message"] == "response.create requires Responses delegation."
        await transport.close()


def test_simulate_script_drives_live_and_translation(tmp_path: Path) -> None:
    """``simulate --script``: the script's transcripts and answers carry over to the other protocols."""
    script = tmp_path / "turns.json"
    script.write_text(json.dumps([{"transcript": "Hola", "text": "Hello!"}]))
    command = [sys.executable, "-m", "realtime_dispatch", "simulate", "--port", "0", "--script", str(script)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"GPT-Live at (ws://\S+)/live/sessions, Realtime Translation at (ws://\S+)", line)
        assert match, line
        base_url = match.group(1)
        assert match.group(2) == f"{base_url}/realtime/translations"

        async def live() -> list[dict[str, Any]]:
            transport = await connect_websocket(f"{base_url}/live/sessions")
            await send(transport, {"type": "session.start", "session": {"model": MODEL}})
            await send(transport, {"type": "session.input_audio.append", "audio": b64(utterance())})
            frames = [await receive(transport)]
            while frames[-1]["type"] != "session.usage.updated":
                frames.append(await receive(transport))
            await transport.close()
            return frames

        frames = anyio.run(live)
        assert "".join(frame["delta"] for frame in of_type(frames, "session.input_transcript.delta")) == "Hola"
        assert spoken(frames) == "Hello!"

        async def translation() -> list[dict[str, Any]]:
            transport = await connect_websocket(f"{base_url}/realtime/translations?model=gpt-realtime-translate")
            await send(transport, {"type": "session.input_audio_buffer.append", "audio": b64(utterance())})
            await send(transport, {"type": "session.close"})
            frames = [await receive(transport)]
            while frames[-1]["type"] != "session.closed":
                frames.append(await receive(transport))
            await transport.close()
            return frames

        frames = anyio.run(translation)
        assert "".join(frame["delta"] for frame in of_type(frames, "session.output_transcript.delta")) == "[es] Hola"
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "Traceback" not in err
