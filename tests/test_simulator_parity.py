"""The simulator's frames carry the same member keys as the live service's recorded frames.

Schema-validating clients need the members the service sends as ``null`` (a user audio
item's ``"transcript": null``, a session's ``"prompt": null``, ...). For every event type
the simulator emits, each object in its frames is compared with the objects at the same
place in the recorded frames of that type (tests/data/recorded, OpenAI-served GA and beta
recordings; Azure's are left out, they carry Azure quirks). Objects with a string ``type``
are grouped by it (``item<function_call>``, ``content[input_audio]``), so a function call
item is not held to a message's keys.

- *missing*: a key every recorded object at that place has, absent from a simulator object;
  or a key some recorded object has that the simulator never sends there;
- *extra*: a key the recordings never show there, unless the SDK's types define it
  (``SDK_ONLY``).
"""

from __future__ import annotations

import json
import math
import struct
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from conftest import RECORDED

from realtime_dispatch import events
from realtime_dispatch.simulator import EchoResponder, Reply, Simulator
from realtime_dispatch.transports import WebSocketTransport, connect_websocket

pytestmark = pytest.mark.anyio

BETA = {"OpenAI-Beta": "realtime=v1"}

# Places whose members are the client's own data (JSON schemas, metadata): not compared.
OPAQUE = ("].parameters", ".metadata")

# Keys the service sends only sometimes and the simulator never: gpt-realtime-2.x counts
# ``reasoning_tokens`` only for responses it reasoned about (the simulator does not reason).
RECORDED_ONLY = {"reasoning_tokens"}

# Keys the recordings never show but the SDK's types define (openai.types.realtime and
# openai.types.beta.realtime): event type -> {"place.key", ...}, e.g. "session.updated":
# {"session<realtime>.audio.input.noise_reduction<near_field>.strength"}. None needed today.
SDK_ONLY: dict[str, set[str]] = {}

# Types the simulator emits that no recording of the protocol has are not compared: the test
# prints them (run with -s) and does not fail. Today, GA: conversation.item.deleted,
# conversation.item.input_audio_transcription.failed, conversation.item.retrieved,
# conversation.item.truncated, input_audio_buffer.cleared, output_audio_buffer.cleared. Beta (two
# recordings only): those, and conversation.item.input_audio_transcription.completed/.delta,
# error, input_audio_buffer.committed/.speech_started/.speech_stopped,
# output_audio_buffer.started/.stopped, rate_limits.updated, response.text.delta/.done.

Shape = dict[str, tuple[set[str], set[str]]]  # place -> (union of keys, keys every object has)


def places(value: Any, place: str, out: dict[str, list[set[str]]]) -> None:
    """The key set of every object in ``value``, by place (``item<message>.content[input_audio]``)."""
    if isinstance(value, dict):
        if place.endswith(OPAQUE):
            return
        kind = value.get("type")
        if isinstance(kind, str) and place and not place.endswith("]"):
            place = f"{place}<{kind}>"
        out[place].append(set(value))
        for key, member in value.items():
            places(member, f"{place}.{key}" if place else key, out)
    elif isinstance(value, list):
        for element in value:
            if isinstance(element, dict):
                kind = element.get("type")
                places(element, f"{place}[{kind if isinstance(kind, str) else ''}]", out)


def by_type(frames: Iterable[dict[str, Any]]) -> dict[str, dict[str, list[set[str]]]]:
    found: dict[str, dict[str, list[set[str]]]] = defaultdict(lambda: defaultdict(list))
    for frame in frames:
        places(frame, "", found[frame["type"]])
    return found


def recorded(protocol: str) -> dict[str, dict[str, list[set[str]]]]:
    frames = []
    for path in sorted(RECORDED.glob(f"{protocol}-*.jsonl")):
        if "-azure-" in path.name:
            continue
        frames += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return by_type(frames)


def differences(emitted: dict[str, dict[str, list[set[str]]]], reference: dict[str, dict[str, list[set[str]]]]
                ) -> list[str]:  # fmt: skip
    problems = []
    for event_type, found in sorted(emitted.items()):
        expected = reference.get(event_type)
        if expected is None:
            continue
        for place, objects in sorted(found.items()):
            if place not in expected:
                continue  # e.g. an item kind the recordings do not have
            union = set().union(*expected[place])
            always = set.intersection(*expected[place])
            sent = set().union(*objects)
            for keys in objects:
                for key in sorted(always - keys):
                    problems.append(f"{event_type}: {place or '<frame>'}.{key} missing (the service always sends it)")
            for key in sorted(union - sent - always - RECORDED_ONLY):
                problems.append(f"{event_type}: {place or '<frame>'}.{key} missing (the service sends it)")
            allowed = SDK_ONLY.get(event_type, set())
            for key in sorted(sent - union):
                if f"{place}.{key}" not in allowed:
                    problems.append(f"{event_type}: {place or '<frame>'}.{key} extra (never recorded)")
    return sorted(set(problems))


# --- sessions ------------------------------------------------------------------------------------


def tone(ms: int, amplitude: int = 8000) -> bytes:
    samples = 24 * ms
    return struct.pack(f"<{samples}h", *(round(amplitude * math.sin(2 * math.pi * 440 * n / 24000))
                                          for n in range(samples)))  # fmt: skip


def silence(ms: int) -> bytes:
    return bytes(48 * ms)


class Client:
    def __init__(self, transport: WebSocketTransport) -> None:
        self.transport = transport
        self.frames: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        with anyio.fail_after(5):
            frame: dict[str, Any] = json.loads(await self.transport.receive())
        self.frames.append(frame)
        return frame

    async def send(self, **event: Any) -> None:
        await self.transport.send(json.dumps(event).encode())

    async def until(self, event_type: str) -> list[dict[str, Any]]:
        received = []
        while True:
            frame = await self.receive()
            received.append(frame)
            if frame["type"] == event_type:
                return received

    async def audio(self, pcm: bytes) -> None:
        for at in range(0, len(pcm), 4800):
            await self.send(type="input_audio_buffer.append", audio=events.pcm_to_base64(pcm[at : at + 4800]))


class SlowResponder(EchoResponder):
    async def respond(self, conversation: list[events.ConversationItem], session: events.Session) -> Reply:
        reply = await super().respond(conversation, session)
        return Reply(text=reply.text + " " + " ".join(f"word{n}" for n in range(200)), tool_calls=reply.tool_calls)


class PreambleResponder(EchoResponder):
    """Says a sentence before each tool call (a ``commentary`` message on gpt-realtime-2 models)."""

    async def respond(self, conversation: list[events.ConversationItem], session: events.Session) -> Reply:
        reply = await super().respond(conversation, session)
        return Reply(text="Let me check.", tool_calls=reply.tool_calls) if reply.tool_calls else reply


class FailingTranscriber(EchoResponder):
    async def transcribe(self, pcm: bytes) -> str:
        raise RuntimeError("no speech model here")


@asynccontextmanager
async def connected(sim: Simulator, query: str = "model=gpt-realtime", beta: bool = False
                    ) -> AsyncIterator[Client]:  # fmt: skip
    async with sim.serve() as base_url:
        transport = await connect_websocket(f"{base_url}/realtime?{query}", BETA if beta else None)
        client = Client(transport)
        try:
            await client.until("session.created")
            yield client
        finally:
            await transport.close()


WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Look up the weather.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def session_update(beta: bool, **ga: Any) -> dict[str, Any]:
    if not beta:
        return {"type": "realtime", **ga}
    flat: dict[str, Any] = {}
    for key, value in ga.items():
        if key == "output_modalities":
            flat["modalities"] = ["text"] if value == ["text"] else ["audio", "text"]
        elif key == "audio":
            audio_input = value.get("input", {})
            if "transcription" in audio_input:
                flat["input_audio_transcription"] = audio_input["transcription"]
            if "turn_detection" in audio_input:
                flat["turn_detection"] = audio_input["turn_detection"]
        else:
            flat[key] = value
    return flat


async def text_session(beta: bool, model: str) -> list[dict[str, Any]]:
    user = {"type": "message", "role": "user"}
    async with connected(Simulator(responder=PreambleResponder()), query=f"model={model}", beta=beta) as client:
        await client.send(type="session.update", session=session_update(beta, tools=[WEATHER],
                                                                          instructions="Be brief."))  # fmt: skip
        await client.until("session.updated")
        await client.send(type="conversation.item.create",
                          item={**user, "content": [{"type": "input_text", "text": "hello"}]})  # fmt: skip
        first = (await client.until("conversation.item.added" if not beta else "conversation.item.created"))[-1]
        if not beta:
            await client.until("conversation.item.done")
        await client.send(type="response.create", response={"modalities" if beta else "output_modalities": ["text"]})
        await client.until("response.done")
        await client.send(type="conversation.item.retrieve", item_id=first["item"]["id"])
        await client.until("conversation.item.retrieved")
        await client.send(type="conversation.item.delete", item_id=first["item"]["id"])
        await client.until("conversation.item.deleted")
        await client.send(type="conversation.item.retrieve", item_id="item_missing", event_id="evt_1")
        await client.until("error")
        await client.send(type="conversation.item.create",
                          item={**user, "content": [{"type": "input_text", "text": "get_weather please"}]})  # fmt: skip
        await client.send(type="response.create")
        done = (await client.until("response.done"))[-1]
        call = next(item for item in done["response"]["output"] if item["type"] == "function_call")
        output = {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}
        await client.send(type="conversation.item.create", item=output)
        await client.send(type="response.create")
        done = (await client.until("response.done"))[-1]
        message = next(item for item in done["response"]["output"] if item["type"] == "message")
        await client.send(type="conversation.item.truncate", item_id=message["id"], content_index=0, audio_end_ms=100)
        await client.until("conversation.item.truncated")
        await client.send(type="input_audio_buffer.commit")  # nothing buffered
        await client.until("error")
        await client.transport.send(b"{not json")
        await client.until("error")
        return client.frames


async def run_sessions(beta: bool) -> list[dict[str, Any]]:
    """Frames of sessions covering every event type the simulator emits."""
    frames: list[dict[str, Any]] = []
    user = {"type": "message", "role": "user"}

    # A text turn, item management, a tool call round and the errors; on GA also with a
    # gpt-realtime-2 model, whose assistant messages carry a ``phase``.
    for model in ["gpt-realtime"] if beta else ["gpt-realtime", "gpt-realtime-2.1"]:
        frames += await text_session(beta, model)

    # Spoken turns: server VAD with streaming transcription, then whisper-1 and a manual commit.
    async with connected(Simulator(responder=SlowResponder(), delta_delay=0.002), beta=beta) as client:
        transcription = {"model": "gpt-4o-transcribe"}
        await client.send(type="session.update", session=session_update(beta, audio={"input": {
            "transcription": transcription, "turn_detection": {"type": "server_vad"}}}))  # fmt: skip
        await client.until("session.updated")
        await client.audio(silence(200) + tone(600) + silence(700))
        await client.until("response.output_audio.delta" if not beta else "response.audio.delta")
        await client.send(type="response.cancel")
        await client.until("response.done")
        await client.send(type="response.create")
        await client.until("response.output_audio.delta" if not beta else "response.audio.delta")
        await client.audio(tone(600) + silence(700))  # barge-in: turn_detected
        await client.until("response.done")
        await anyio.sleep(0.3)  # whatever the turn started ends before the next update
        await client.send(type="session.update", session=session_update(beta, audio={"input": {
            "transcription": {"model": "whisper-1"}, "turn_detection": None}}))  # fmt: skip
        await client.until("session.updated")
        await client.audio(tone(500))
        await client.send(type="input_audio_buffer.commit")
        await client.until("conversation.item.input_audio_transcription.completed")
        await client.audio(tone(200))
        await client.send(type="input_audio_buffer.clear")
        await client.until("input_audio_buffer.cleared")
        frames += client.frames

    async with connected(Simulator(responder=FailingTranscriber()), beta=beta) as client:
        await client.send(type="session.update", session=session_update(beta, audio={"input": {
            "transcription": {"model": "whisper-1"}, "turn_detection": None}}))  # fmt: skip
        await client.until("session.updated")
        await client.audio(tone(500))
        await client.send(type="input_audio_buffer.commit")
        await client.until("conversation.item.input_audio_transcription.failed")
        frames += client.frames

    # A call sideband: output_audio_buffer events.
    async with connected(Simulator(), query="call_id=rtc_123", beta=beta) as client:
        await client.send(type="conversation.item.create",
                          item={**user, "content": [{"type": "input_text", "text": "hi"}]})  # fmt: skip
        await client.send(type="response.create")
        await client.until("output_audio_buffer.stopped")
        await client.send(type="output_audio_buffer.clear")
        await client.until("output_audio_buffer.cleared")
        frames += client.frames
    return frames


@pytest.mark.parametrize("protocol", ["ga", "beta"])
async def test_simulator_frames_carry_the_recorded_members(protocol: str) -> None:
    emitted = by_type(await run_sessions(beta=protocol == "beta"))
    reference = recorded(protocol)
    unrecorded = sorted(set(emitted) - set(reference))
    print(f"{protocol}: emitted types no recording has (not compared): {', '.join(unrecorded)}")
    problems = differences(emitted, reference)
    assert not problems, "\n".join(problems)
