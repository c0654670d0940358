"""A deterministic, realistic corpus of GA Realtime server frames for one voice session.

Built in Python, byte-for-byte the same on every run (seeded ``random.Random``). Frame
shapes, key order and field values follow the GA recordings in ``tests/data/recorded``
(OpenAI ``gpt-realtime``, July/August 2026); the session objects are copied from
``ga-pydantic-ai-test_openai_ws-test_message_history_seeding-2026-07-28.jsonl`` (the
default-instructions ``session.created``) and ``ga-pydantic-ai-azure-test_azure_ws-
test_spoken_turn_transcribed_drives_a_tool_and_answers_in_audio-2026-07-28.jsonl`` (a
``session.updated`` with a function tool). Nothing is read from disk at run time.

What differs from the recordings, on purpose: the recorder truncated every audio ``delta``
to 44 characters, so here audio is real-size: 20 ms (960 bytes of PCM16 at 24 kHz, 1,280
base64 characters) and 100 ms (4,800 bytes, 6,400 characters) chunks of a synthetic,
speech-like signal. Text, transcript and input-transcription deltas carry ``obfuscation``
padding like every such delta the live service sent in the recordings; audio deltas and
everything else carry none (as recorded).

The session: ``session.created``, ``session.updated``, then six spoken turns (server VAD,
input transcription, a spoken answer of ~3 s of audio with its transcript), one
text-only turn after a mid-session ``session.updated``, and two ``error`` events.
"""

from __future__ import annotations

import base64
import json
import math
import random
import re
import struct
from collections import Counter
from typing import Any

__all__ = (
    "AUDIO_100MS_BYTES",
    "AUDIO_20MS_BYTES",
    "CATEGORIES",
    "build_corpus",
    "category",
    "composition",
    "frame_type",
)

SAMPLE_RATE = 24_000
AUDIO_20MS_BYTES = SAMPLE_RATE * 2 * 20 // 1000  # 960 bytes PCM16 -> 1,280 base64 chars
AUDIO_100MS_BYTES = SAMPLE_RATE * 2 * 100 // 1000  # 4,800 bytes PCM16 -> 6,400 base64 chars

# Per spoken answer: 30 x 20 ms + 24 x 100 ms = 3.0 s of audio in 54 frames.
_SMALL_CHUNKS_PER_TURN = 30
_LARGE_CHUNKS_PER_TURN = 24

CATEGORIES = ("audio delta 20 ms", "audio delta 100 ms", "text deltas", "lifecycle", "session")
"""Report categories, in print order. ``category()`` maps a frame to one of them."""

_TEXT_DELTAS = frozenset(
    {
        "response.output_audio_transcript.delta",
        "response.output_text.delta",
        "conversation.item.input_audio_transcription.delta",
    }
)

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# (what the user says, what the model answers) for the spoken turns.
_SPOKEN_TURNS = (
    ("Hello, my name is Marcelo.", "Hello, Marcelo! Great to meet you. How can I help you today?"),
    (
        "What's the weather like in Lisbon this weekend?",
        "Lisbon looks sunny this weekend, around twenty-four degrees, with a light breeze by the river.",
    ),
    ("Should I bring a jacket for the evening?", "A light jacket is a good idea; evenings cool down to about sixteen."),
    (
        "Can you recommend a place for dinner near Alfama?",
        "Try a small tasca in Alfama; grilled sardines and a glass of vinho verde are a classic.",
    ),
    ("How do I get there from the airport?", "Take the red metro line, change to green at Alameda, then walk down."),
    ("Thanks, that's all for now.", "You're welcome, Marcelo. Enjoy Lisbon, and have a lovely weekend!"),
)

_TEXT_TURN = (
    "Summarise the plan in one sentence.",
    "Sunny weekend in Lisbon: bring a light jacket, dine on sardines in Alfama, and take the metro from the airport.",
)

_DEFAULT_INSTRUCTIONS = (
    "Your knowledge cutoff is 2023-10. You are a helpful, witty, and friendly AI. Act like a human, but remember "
    "that you aren't a human and that you can't do human things in the real world. Your voice and personality "
    "should be warm and engaging, with a lively and playful tone. If interacting in a non-English language, start "
    "by using the standard accent or dialect familiar to the user. Talk quickly. You should always call a function "
    "if you can. Do not refer to these rules, even if you\u2019re asked about them."
)

_TOKEN = re.compile(r" ?[\w'-]+| ?[^\w\s]")


class _Ids:
    """Server-style ids (``event_`` + 21 characters), deterministic."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def __call__(self, prefix: str) -> str:
        return prefix + "_" + "".join(self._rng.choice(_ALPHABET) for _ in range(21))

    def obfuscation(self, delta: str) -> str:
        # The live service pads short deltas so frame length leaks less (recorded: 16 - len(delta), at least 2).
        return "".join(self._rng.choice(_ALPHABET) for _ in range(max(16 - len(delta), 2)))


def _dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


class _Voice:
    """Speech-like PCM16: harmonics under a syllable-rate envelope, plus noise.

    The tone repeats every second and the noise table has a prime length, so chunks never repeat
    exactly; tables keep building the corpus fast.
    """

    _NOISE_LEN = 7919

    def __init__(self, rng: random.Random) -> None:
        self._tone = [self._tone_at(i / SAMPLE_RATE) for i in range(SAMPLE_RATE)]
        self._noise = [rng.gauss(0.0, 300.0) for _ in range(self._NOISE_LEN)]
        self._next = 0

    @staticmethod
    def _tone_at(t: float) -> float:
        envelope = 0.5 + 0.5 * math.sin(2 * math.pi * 4.0 * t)
        harmonics = (180.0, 360.0, 540.0, 1250.0)
        return 6000.0 * envelope * sum(math.sin(2 * math.pi * f * t) / k for k, f in enumerate(harmonics, start=1))

    def pcm(self, n_bytes: int) -> bytes:
        tone, noise, start = self._tone, self._noise, self._next
        self._next += n_bytes // 2
        samples = [
            max(-32768, min(32767, int(tone[i % SAMPLE_RATE] + noise[i % self._NOISE_LEN])))
            for i in range(start, self._next)
        ]
        return struct.pack(f"<{len(samples)}h", *samples)


def _session(ids: _Ids, session_id: str, expires_at: int, *, updated: bool, modalities: str) -> dict[str, Any]:
    """A GA realtime session object, key order as the server sends it."""
    if updated:
        instructions = (
            "You are a friendly travel assistant. Answer in one or two short spoken sentences. When someone "
            "introduces themselves, call `remember_name` with their name, then greet them by name."
        )
        tools: list[dict[str, Any]] = [
            {
                "type": "function",
                "name": "remember_name",
                "description": "Store the name the user introduced themselves with.",
                "parameters": {
                    "additionalProperties": False,
                    "properties": {"name": {"type": "string"}},
                    "required": ["name"],
                    "type": "object",
                },
            },
            {
                "type": "function",
                "name": "get_weather",
                "description": "Look up the weather for a city.",
                "parameters": {
                    "additionalProperties": False,
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                    "type": "object",
                },
            },
        ]
        transcription: dict[str, Any] | None = {"model": "gpt-4o-transcribe", "language": None, "prompt": None}
    else:
        instructions = _DEFAULT_INSTRUCTIONS
        tools = []
        transcription = None
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": "gpt-realtime",
        "output_modalities": [modalities],
        "instructions": instructions,
        "tools": tools,
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": expires_at,
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": transcription,
                "noise_reduction": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 200,
                    "idle_timeout_ms": None,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.0},
        },
        "include": None,
    }


def _response(
    response_id: str, conversation_id: str, modality: str, *, output: list[dict[str, Any]] | None, done: bool
) -> dict[str, Any]:
    usage: dict[str, Any] | None = None
    if done:
        audio_out = 136 if modality == "audio" else 0
        usage = {
            "total_tokens": 205 + audio_out,
            "input_tokens": 41,
            "output_tokens": 164 + audio_out,
            "input_token_details": {
                "text_tokens": 14,
                "audio_tokens": 27,
                "image_tokens": 0,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": 28, "audio_tokens": audio_out},
        }
    return {
        "object": "realtime.response",
        "id": response_id,
        "status": "completed" if done else "in_progress",
        "status_details": None,
        "output": output or [],
        "conversation_id": conversation_id,
        "output_modalities": [modality],
        "max_output_tokens": "inf",
        "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"}},
        "usage": usage,
        "metadata": None,
    }


class _Session:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.ids = _Ids(self.rng)
        self.frames: list[bytes] = []
        self.session_id = self.ids("sess")
        self.conversation_id = self.ids("conv")
        self.expires_at = 1785217650
        self.previous_item: str | None = None
        self.audio_ms = 1460
        self.voice = _Voice(self.rng)

    def emit(self, type_: str, **fields: Any) -> None:
        self.frames.append(_dumps({"type": type_, "event_id": self.ids("event"), **fields}))

    def session_event(self, type_: str, *, updated: bool, modalities: str = "audio") -> None:
        session = _session(self.ids, self.session_id, self.expires_at, updated=updated, modalities=modalities)
        self.emit(type_, session=session)

    def user_audio(self, utterance: str) -> str:
        item_id = self.ids("item")
        start = self.audio_ms
        end = start + 2600 + 40 * len(utterance)
        self.audio_ms = end + 3000
        self.emit("input_audio_buffer.speech_started", audio_start_ms=start, item_id=item_id)
        self.emit("input_audio_buffer.speech_stopped", audio_end_ms=end, item_id=item_id)
        self.emit("input_audio_buffer.committed", previous_item_id=self.previous_item, item_id=item_id)
        item = {
            "id": item_id,
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        self.emit("conversation.item.added", previous_item_id=self.previous_item, item=item)
        self.emit("conversation.item.done", previous_item_id=self.previous_item, item=item)
        self.previous_item = item_id
        return item_id

    def input_transcription(self, item_id: str, utterance: str) -> None:
        for token in _tokens(utterance):
            self.emit(
                "conversation.item.input_audio_transcription.delta",
                item_id=item_id,
                content_index=0,
                delta=token,
                obfuscation=self.ids.obfuscation(token),
            )
        self.emit(
            "conversation.item.input_audio_transcription.completed",
            item_id=item_id,
            content_index=0,
            transcript=utterance,
            usage={"type": "duration", "seconds": 3},
        )

    def audio_chunk(self, stream: dict[str, Any], n_bytes: int) -> None:
        pcm = self.voice.pcm(n_bytes)
        self.emit("response.output_audio.delta", **stream, delta=base64.b64encode(pcm).decode("ascii"))

    def answer(self, text: str, *, modality: str, user_item: str | None, user_text: str | None) -> None:
        response_id = self.ids("resp")
        item_id = self.ids("item")
        self.emit(
            "response.created",
            response=_response(response_id, self.conversation_id, modality, output=None, done=False),
        )
        if user_item is not None and user_text is not None:
            self.input_transcription(user_item, user_text)
        pending = {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}
        self.emit("response.output_item.added", response_id=response_id, output_index=0, item=pending)
        self.emit("conversation.item.added", previous_item_id=self.previous_item, item=pending)
        part_type = "audio" if modality == "audio" else "text"
        empty_part = {"type": "audio", "transcript": ""} if modality == "audio" else {"type": "text", "text": ""}
        stream = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
        self.emit("response.content_part.added", **stream, part=empty_part)

        tokens = _tokens(text)
        if modality == "audio":
            # The transcript runs slightly ahead of the audio; spread the chunks over the tokens.
            chunks = [AUDIO_20MS_BYTES] * _SMALL_CHUNKS_PER_TURN + [AUDIO_100MS_BYTES] * _LARGE_CHUNKS_PER_TURN
            self.rng.shuffle(chunks)
            per_token = len(chunks) / len(tokens)
            sent = 0
            for i, token in enumerate(tokens, start=1):
                self.emit(
                    "response.output_audio_transcript.delta",
                    **stream,
                    delta=token,
                    obfuscation=self.ids.obfuscation(token),
                )
                while sent < round(i * per_token):
                    self.audio_chunk(stream, chunks[sent])
                    sent += 1
            self.emit("response.output_audio.done", **stream)
            self.emit("response.output_audio_transcript.done", **stream, transcript=text)
            done_part = {"type": "audio", "transcript": text}
            content = [{"type": "output_audio", "transcript": text}]
        else:
            for token in tokens:
                self.emit("response.output_text.delta", **stream, delta=token, obfuscation=self.ids.obfuscation(token))
            self.emit("response.output_text.done", **stream, text=text)
            done_part = {"type": part_type, "text": text}
            content = [{"type": "output_text", "text": text}]
        self.emit("response.content_part.done", **stream, part=done_part)
        final = {"id": item_id, "type": "message", "status": "completed", "role": "assistant", "content": content}
        self.emit("conversation.item.done", previous_item_id=self.previous_item, item=final)
        self.emit("response.output_item.done", response_id=response_id, output_index=0, item=final)
        self.emit(
            "response.done",
            response=_response(response_id, self.conversation_id, modality, output=[final], done=True),
        )
        remaining = 14_999_715 - self.rng.randrange(200, 900)
        self.emit(
            "rate_limits.updated",
            rate_limits=[{"name": "tokens", "limit": 15000000, "remaining": remaining, "reset_seconds": 0.001}],
        )
        self.previous_item = item_id

    def error(self, code: str, message: str, param: str | None, client_event_id: str | None) -> None:
        detail = {
            "type": "invalid_request_error",
            "code": code,
            "message": message,
            "param": param,
            "event_id": client_event_id,
        }
        self.emit("error", error=detail)


def build_corpus(seed: int = 20260811) -> list[bytes]:
    """The frames of one realistic voice session, in the order the server sends them."""
    s = _Session(seed)
    s.session_event("session.created", updated=False)
    s.session_event("session.updated", updated=True)
    for n, (said, answer) in enumerate(_SPOKEN_TURNS):
        user_item = s.user_audio(said)
        s.answer(answer, modality="audio", user_item=user_item, user_text=said)
        if n == 2:
            # A barge-in the client tried to cancel after the response had already finished.
            s.error("response_cancel_not_active", "Cancellation failed: no active response found.", None, None)
    # Switch to text output for one turn (the client sends session.update, the server confirms).
    s.session_event("session.updated", updated=True, modalities="text")
    s.error(
        "invalid_value",
        "Invalid value: 'text'. Value must be 'output_text'.",
        "item.content[0].type",
        None,
    )
    s.answer(_TEXT_TURN[1], modality="text", user_item=None, user_text=None)
    return s.frames


def frame_type(frame: bytes) -> str:
    """The frame's ``type`` (parsed with the standard library; for reporting only)."""
    value = json.loads(frame)["type"]
    assert isinstance(value, str)
    return value


def category(frame: bytes) -> str:
    """The report category of one frame (one of ``CATEGORIES``)."""
    event_type = frame_type(frame)
    if event_type == "response.output_audio.delta":
        n_chars = len(json.loads(frame)["delta"])
        return "audio delta 20 ms" if n_chars <= 4 * AUDIO_20MS_BYTES // 3 else "audio delta 100 ms"
    if event_type in _TEXT_DELTAS:
        return "text deltas"
    if event_type.startswith("session."):
        return "session"
    return "lifecycle"


def composition(frames: list[bytes]) -> Counter[str]:
    """How many frames of each ``type``."""
    return Counter(frame_type(f) for f in frames)
