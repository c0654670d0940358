"""Realtime Translation in the simulator (``/v1/realtime/translations?model=...``), over real sockets on 127.0.0.1.

The official SDK's client (``client.realtime.translations.connect(model=...)``, asyncio) holds sessions with every
frame validated strictly against the SDK's ``RealtimeTranslationServerEvent`` union and decoded by our
``events.translation``; our own client (asyncio and trio) checks the handshake refusals and the errors.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import openai
import pydantic
import pytest
import websockets
from openai.types.realtime import RealtimeTranslationServerEvent

from realtime_dispatch.events import UnknownEvent
from realtime_dispatch.events import translation as tr
from realtime_dispatch.simulator import Simulator
from realtime_dispatch.transports import HandshakeError, TransportClosed, WebSocketTransport, connect_websocket

pytestmark = pytest.mark.anyio

STRICT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeTranslationServerEvent)
MODEL = "gpt-realtime-translate"


def tone(ms: int, amplitude: int = 8000) -> bytes:
    samples = 24 * ms
    return struct.pack(f"<{samples}h", *(round(amplitude * math.sin(2 * math.pi * 440 * n / 24000))
                                          for n in range(samples)))  # fmt: skip


def b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode()


class Frames:
    """An SDK translation connection's frames, each checked strictly against the SDK and decoded with ours."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def next(self) -> dict[str, Any]:
        with anyio.fail_after(10):
            raw: bytes = await self.conn.recv_bytes()
        STRICT.validate_json(raw, strict=True)
        ours = tr.decode(raw)
        assert not isinstance(ours, UnknownEvent), raw
        frame: dict[str, Any] = json.loads(raw)
        assert ours.type == frame["type"]
        return frame

    async def until(self, kind: str) -> list[dict[str, Any]]:
        frames = []
        while not frames or frames[-1]["type"] != kind:
            frames.append(await self.next())
        return frames


def of_type(frames: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [frame for frame in frames if frame["type"] == kind]


def text(frames: list[dict[str, Any]], kind: str) -> str:
    return "".join(frame["delta"] for frame in of_type(frames, kind))


@asynccontextmanager
async def sdk_client(simulator: Simulator | None = None) -> AsyncIterator[openai.AsyncOpenAI]:
    async with (simulator or Simulator()).serve(host="127.0.0.1", port=0) as base_url:
        client = openai.AsyncOpenAI(
            api_key="sk-test", base_url=base_url.replace("ws://", "http://", 1), websocket_base_url=base_url
        )
        try:
            yield client
        finally:
            await client.close()


class TestWithTheSDK:
    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"  # the SDK's client runs on asyncio only

    async def test_a_session_translates_audio_and_transcripts_then_closes(self) -> None:
        async with sdk_client() as client, client.realtime.translations.connect(model=MODEL) as conn:
            frames = Frames(conn)
            created = await frames.next()
            assert created["type"] == "session.created"
            session = created["session"]
            assert session["id"].startswith("sess_")
            assert session["type"] == "translation"
            assert session["model"] == MODEL
            assert session["audio"]["output"] == {"language": "es"}
            assert session["audio"]["input"] == {"noise_reduction": None, "transcription": None}

            settings = {
                "input": {
                    "transcription": {"model": "gpt-realtime-whisper"},
                    "noise_reduction": {"type": "near_field"},
                },
                "output": {"language": "fr"},
            }
            await conn.send({"type": "session.update", "session": {"audio": settings}})
            [updated] = await frames.until("session.updated")
            audio = updated["session"]["audio"]
            assert audio["output"] == {"language": "fr"}
            assert audio["input"]["transcription"] == {"model": "gpt-realtime-whisper"}
            assert audio["input"]["noise_reduction"] == {"type": "near_field", "strength": 1.0}  # 1 when enabled
            assert updated["session"]["id"] == session["id"]

            pcm = tone(700) + bytes(48 * 750)  # 1450 ms: speech, then the silence that ends it
            for offset in range(0, len(pcm), 4000):  # chunks that do not line up with the 200 ms frames
                await conn.send(
                    {"type": "session.input_audio_buffer.append", "audio": b64(pcm[offset : offset + 4000])}
                )
            await conn.send({"type": "session.close"})
            frames_out = await frames.until("session.closed")
            assert set(frames_out[-1]) == {"type", "event_id"}

            audio_frames = of_type(frames_out, "session.output_audio.delta")
            assert b"".join(base64.b64decode(frame["delta"]) for frame in audio_frames) == pcm  # echoed, all of it
            assert [frame["elapsed_ms"] for frame in audio_frames] == [200 * n for n in range(1, 9)]
            assert [len(base64.b64decode(frame["delta"])) for frame in audio_frames] == [9600] * 7 + [2400]
            assert all(frame["sample_rate"] == 24000 and frame["channels"] == 1 and frame["format"] == "pcm16"
                       for frame in audio_frames)  # fmt: skip
            assert text(frames_out, "session.input_transcript.delta") == "(0.7 s of audio)"
            assert text(frames_out, "session.output_transcript.delta") == "[fr] (0.7 s of audio)"
            # The utterance ended 500 ms after its speech (at 1200 ms): its transcripts carry that frame's time.
            assert {frame["elapsed_ms"] for frame in of_type(frames_out, "session.output_transcript.delta")} == {1200}
            with pytest.raises(websockets.exceptions.ConnectionClosedOK) as ended:  # then the server closes: 1000
                await frames.next()
            assert ended.value.rcvd is not None
            assert ended.value.rcvd.code == 1000

    async def test_close_flushes_speech_in_progress_and_transcripts_are_opt_in(self) -> None:
        async with sdk_client() as client, client.realtime.translations.connect(model=MODEL) as conn:
            frames = Frames(conn)
            await frames.next()
            await conn.send({"type": "session.input_audio_buffer.append", "audio": b64(tone(300))})  # no silence after
            await conn.send({"type": "session.close"})
            flushed = await frames.until("session.closed")
            assert not of_type(flushed, "session.input_transcript.delta")  # transcription is off by default
            assert text(flushed, "session.output_transcript.delta") == "[es] (0.3 s of audio)"
            assert [frame["elapsed_ms"] for frame in of_type(flushed, "session.output_audio.delta")] == [200, 400]


# --- our own client: refusals and errors (asyncio and trio) ------------------------------------------


async def receive(transport: WebSocketTransport) -> dict[str, Any]:
    with anyio.fail_after(5):
        frame: dict[str, Any] = json.loads(await transport.receive())
    return frame


async def send(transport: WebSocketTransport, frame: dict[str, Any]) -> None:
    await transport.send(json.dumps(frame).encode())


@pytest.mark.parametrize(
    ("query", "needle"),
    [("", "'model'"), ("?model=", "'model'"), (f"?model={MODEL}&intent=transcription", "intent")],
)
async def test_the_handshake_needs_a_model_and_refuses_an_intent(query: str, needle: str) -> None:
    async with Simulator().serve(host="127.0.0.1", port=0) as base_url:
        with pytest.raises(HandshakeError) as refused:
            await connect_websocket(f"{base_url}/realtime/translations{query}")
        assert refused.value.status == 400
        assert needle in refused.value.body
        assert json.loads(refused.value.body)["error"]["type"] == "invalid_request_error"


async def test_errors_leave_the_session_open_and_close_ends_it_with_1000() -> None:
    async with Simulator().serve(host="127.0.0.1", port=0) as base_url:
        transport = await connect_websocket(f"{base_url}/realtime/translations?model={MODEL}")
        assert (await receive(transport))["type"] == "session.created"
        await send(transport, {"type": "response.create", "event_id": "evt_1"})
        error = await receive(transport)
        assert error["type"] == "error"
        assert error["error"]["code"] == "invalid_value"
        assert error["error"]["event_id"] == "evt_1"
        await send(transport, {"type": "session.update", "session": {"model": "other"}})
        error = await receive(transport)
        assert error["error"]["code"] == "unknown_parameter"
        assert error["error"]["param"] == "session.model"
        await send(transport, {"type": "session.input_audio_buffer.append", "audio": "not base64!"})
        assert (await receive(transport))["error"]["param"] == "audio"
        await send(transport, {"type": "session.update", "session": {"audio": {"input": {"transcription": None}}}})
        updated = await receive(transport)
        assert updated["session"]["audio"]["input"]["transcription"] is None
        await send(transport, {"type": "session.close"})
        assert (await receive(transport))["type"] == "session.closed"
        with anyio.fail_after(5), pytest.raises(TransportClosed) as ended:
            await transport.receive()
        assert ended.value.code == 1000
