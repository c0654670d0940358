"""Deterministic GPT-Live and Realtime Translation frame mixes for ``bench_live.py``.

There are no recordings of either protocol in ``tests/data``, so these sessions are built
from the library's own structs (``events.live``, ``events.translation``) and ``encode``, with
the shapes the SDK documents and the simulator sends. ``bench_live`` checks every frame
strictly against the openai SDK's unions before it times anything (the nested Responses
events of ``response.event`` too), so each mix is one the SDK accepts.

Both are built from a seeded ``random.Random``, so they come out the same on every run. The
audio is real-size, using the speech-like signal of ``corpus.py``.

* **GPT-Live** (``build_live_corpus``), one primary WebSocket session: ``session.started``
  (a Responses delegation with two function tools), then the six spoken turns of
  ``corpus.py``. In each turn the user's words come as ``session.input_transcript.delta``
  and the answer is ~3 s of ``session.output_audio.delta`` (30 x 20 ms and 24 x 100 ms
  chunks, base64, no ``event_id`` or timestamps on the primary connection) interleaved with
  its ``session.output_transcript.delta``. Transcript deltas carry ``start_ms``/``end_ms`` on
  the session timeline. Each turn ends with ``session.usage.updated``. Two turns are
  delegated to Responses (``session.delegation.created``, then the nested ``response.event``
  stream: a function call whose output the client sends, then a text answer; or just a text
  answer), and one is delegated to the client. The session ends with ``session.closed``.
* **Realtime Translation** (``build_translation_corpus``): ``session.created``,
  ``session.updated`` (input transcription on, target ``es``), then six utterances of speech.
  Every 200 ms step sends one ``session.output_audio.delta`` (80 to 200 ms of translated PCM16,
  ``elapsed_ms``, ``sample_rate``, ``channels``, ``format``), and each utterance also gets its
  source-language ``session.input_transcript.delta`` and translated
  ``session.output_transcript.delta`` words. The session ends with ``session.closed``.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from typing import Any

import msgspec

from realtime_dispatch.events import live, translation

from .corpus import AUDIO_20MS_BYTES, AUDIO_100MS_BYTES, _Ids, _tokens, _Voice

__all__ = (
    "LIVE_CATEGORIES",
    "TRANSLATION_CATEGORIES",
    "build_live_corpus",
    "build_translation_corpus",
    "live_category",
    "nested_type",
    "translation_category",
)

LIVE_CATEGORIES = ("audio delta 20 ms", "audio delta 100 ms", "transcript deltas", "response.event", "other")
TRANSLATION_CATEGORIES = ("audio delta", "transcript deltas", "other")

_TRANSCRIPTS = frozenset({"session.input_transcript.delta", "session.output_transcript.delta"})

_TURNS = (
    ("Hello, my name is Marcelo.", "Hello, Marcelo! Great to meet you. How can I help you today?", None),
    (
        "What's the weather like in Lisbon this weekend?",
        "Lisbon looks sunny this weekend, around twenty-four degrees, with a light breeze by the river.",
        "function",
    ),
    (
        "Should I bring a jacket for the evening?",
        "A light jacket is a good idea; evenings cool down to about sixteen.",
        None,
    ),
    (
        "Can you recommend a place for dinner near Alfama?",
        "Try a small tasca in Alfama; grilled sardines and a glass of vinho verde are a classic.",
        "text",
    ),
    (
        "How do I get there from the airport?",
        "Take the red metro line, change to green at Alameda, then walk down.",
        "client",
    ),
    ("Thanks, that's all for now.", "You're welcome, Marcelo. Enjoy Lisbon, and have a lovely weekend!", None),
)

# The user's side of _TURNS, in Spanish: the translated transcripts carry non-ASCII text, as real ones do.
_TRANSLATED = tuple(
    zip(
        (said for said, _, _ in _TURNS),
        (
            "Hola, me llamo Marcelo.",
            "¿Qué tiempo hará en Lisboa este fin de semana?",
            "¿Debería llevar una chaqueta para la noche?",
            "¿Puedes recomendarme un sitio para cenar cerca de Alfama?",
            "¿Cómo llego desde el aeropuerto?",
            "Gracias, eso es todo por ahora.",
        ),
        strict=True,
    )
)

_MS_PER_CHAR = 60  # spoken duration per character of a transcript


def _weather_tool(name: str, description: str, argument: str) -> live.FunctionTool:
    parameters = {
        "type": "object",
        "properties": {argument: {"type": "string"}},
        "required": [argument],
        "additionalProperties": False,
    }
    return live.FunctionTool(name=name, description=description, parameters=parameters, strict=True)


class _LiveSession:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.ids = _Ids(self.rng)
        self.voice = _Voice(self.rng)
        self.frames: list[bytes] = []
        self.now_ms = 800  # the session timeline
        self.spoken_s = 0.0
        self.context_tokens = 900
        tools: list[Any] = [
            _weather_tool("get_weather", "Look up the weather for a city.", "city"),
            _weather_tool("remember_name", "Store the name the user introduced themselves with.", "name"),
        ]
        responses = live.ResponsesDelegationConfig(model="gpt-5.6-terra", tools=tools)
        self.resource = live.SessionResource(
            id=self.ids("sess"),
            expires_at=1785217650,
            model="gpt-live-1",
            status="active",
            audio=live.SessionAudio(
                format=live.AudioFormat(type="audio/pcm", rate=24000), output=live.AudioOutput(voice="marin")
            ),
            delegation=live.DelegationResponses(responses=responses),
            instructions=(
                "You are a friendly travel assistant. Answer in one or two short spoken sentences. Delegate "
                "weather questions and restaurant advice."
            ),
        )

    def emit(self, event: live.ServerEvent) -> None:
        self.frames.append(live.encode(event))

    def event_id(self) -> str:
        return self.ids("event")

    def _timed_words(self, text: str) -> Iterator[tuple[str, int, int]]:
        for token in _tokens(text):
            start = self.now_ms
            self.now_ms += _MS_PER_CHAR * len(token)
            yield token, start, self.now_ms

    def user_says(self, text: str) -> None:
        for token, start, end in self._timed_words(text):
            self.emit(live.InputTranscriptDeltaEvent(event_id=self.event_id(), delta=token, start_ms=start, end_ms=end))
        self.now_ms += 400  # end of speech detected

    def say(self, text: str) -> None:
        """~3 s of audio in 20 and 100 ms chunks, the transcript slightly ahead of it (as corpus.py)."""
        chunks = [AUDIO_20MS_BYTES] * 30 + [AUDIO_100MS_BYTES] * 24
        self.rng.shuffle(chunks)
        tokens = list(self._timed_words(text))
        per_token = len(chunks) / len(tokens)
        sent = 0
        for i, (token, start, end) in enumerate(tokens, start=1):
            self.emit(
                live.OutputTranscriptDeltaEvent(event_id=self.event_id(), delta=token, start_ms=start, end_ms=end)
            )
            while sent < round(i * per_token):
                pcm = self.voice.pcm(chunks[sent])
                self.emit(live.OutputAudioDeltaEvent(delta=base64.b64encode(pcm).decode("ascii")))
                sent += 1
        self.spoken_s += 3.0
        self.context_tokens += 20 * len(tokens)

    def usage(self) -> None:
        seconds = round(self.now_ms / 1000, 3)
        self.emit(
            live.SessionUsageUpdatedEvent(
                event_id=self.event_id(),
                usage=live.SessionUsage(seconds=seconds),
                context_window=live.ContextWindow(usage_ratio=round(self.context_tokens / 128_000, 6)),
            )
        )

    def delegation(self, target: str, response_id: str | None) -> str:
        delegation_id = self.ids("item")
        self.emit(
            live.DelegationCreatedEvent(
                event_id=self.event_id(),
                offset_ms=self.now_ms,
                delegation=live.Delegation(id=delegation_id, target=target, response_id=response_id),
            )
        )
        return delegation_id

    def responses(self, delegation_id: str, response_id: str, *, call: tuple[str, str] | None, text: str) -> None:
        """One delegated Responses response as nested ``response.event`` frames: a function call, or text."""
        sequence = 0

        def nested(kind: str, **fields: Any) -> None:
            nonlocal sequence
            body = {"type": kind, "sequence_number": sequence, **fields}
            sequence += 1
            event = msgspec.Raw(msgspec.json.encode(body))
            self.emit(live.ResponseEvent(event_id=self.event_id(), event=event, delegation_id=delegation_id))

        snapshot: dict[str, Any] = {
            "id": response_id,
            "object": "response",
            "created_at": 1785214050 + self.now_ms // 1000,
            "status": "in_progress",
            "model": "gpt-5.6-terra",
            "instructions": None,  # lifecycle snapshots are stripped: no input, instructions, tools or output
            "output": [],
            "tools": [],
            "tool_choice": "auto",
            "parallel_tool_calls": True,
            "error": None,
            "incomplete_details": None,
            "metadata": {},
            "usage": None,
        }
        nested("response.created", response=snapshot)
        nested("response.in_progress", response=snapshot)
        if call is not None:
            name, arguments = call
            item_id = self.ids("fc")
            item: dict[str, Any] = {"type": "function_call", "id": item_id, "call_id": self.ids("call"), "name": name}
            nested(
                "response.output_item.added", output_index=0, item={**item, "arguments": "", "status": "in_progress"}
            )
            for piece in _tokens(arguments):
                nested("response.function_call_arguments.delta", item_id=item_id, output_index=0, delta=piece)
            nested(
                "response.function_call_arguments.done", item_id=item_id, output_index=0, name=name, arguments=arguments
            )
            nested(
                "response.output_item.done",
                output_index=0,
                item={**item, "arguments": arguments, "status": "completed"},
            )
            output_tokens = 12
        else:
            item_id = self.ids("msg")
            item = {
                "type": "message",
                "id": item_id,
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            }
            where = {"item_id": item_id, "output_index": 0, "content_index": 0}
            nested("response.output_item.added", output_index=0, item=item)
            nested("response.content_part.added", **where, part={"type": "output_text", "text": "", "annotations": []})
            for token in _tokens(text):
                nested("response.output_text.delta", **where, delta=token, logprobs=[])
            nested("response.output_text.done", **where, text=text, logprobs=[])
            part = {"type": "output_text", "text": text, "annotations": []}
            nested("response.content_part.done", **where, part=part)
            nested("response.output_item.done", output_index=0, item={**item, "status": "completed", "content": [part]})
            output_tokens = len(_tokens(text))
        usage = {
            "input_tokens": self.context_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": self.context_tokens + output_tokens,
        }
        nested("response.completed", response={**snapshot, "status": "completed", "usage": usage})


def build_live_corpus(seed: int = 20261206) -> list[bytes]:
    """The frames of one GPT-Live primary-connection session, in the order the server sends them."""
    s = _LiveSession(seed)
    s.emit(live.SessionStartedEvent(event_id=s.event_id(), session=s.resource))
    for said, answer, delegated in _TURNS:
        s.user_says(said)
        if delegated == "function":
            delegation_id = s.delegation("responses", first := s.ids("resp"))
            s.responses(delegation_id, first, call=("get_weather", '{"city": "Lisbon"}'), text="")
            # the client sent the function output and response.create; the run goes on
            s.responses(delegation_id, s.ids("resp"), call=None, text=answer)
        elif delegated == "text":
            response_id = s.ids("resp")
            s.responses(s.delegation("responses", response_id), response_id, call=None, text=answer)
        elif delegated == "client":
            s.delegation("client", None)
        s.say(answer)
        s.usage()
    s.emit(
        live.SessionClosedEvent(
            event_id=s.event_id(),
            reason="close_requested",
            session=s.resource,
            usage=live.SessionUsage(seconds=round(s.now_ms / 1000, 3)),
        )
    )
    return s.frames


def build_translation_corpus(seed: int = 20261206) -> list[bytes]:
    """The frames of one Realtime Translation session (English to Spanish), in the order the server sends them."""
    rng = random.Random(seed)
    ids = _Ids(rng)
    voice = _Voice(rng)
    frames: list[bytes] = []

    def emit(event: translation.ServerEvent) -> None:
        frames.append(translation.encode(event))

    def session(transcription: bool) -> translation.Session:
        audio_input = translation.AudioInput(
            noise_reduction=None,
            transcription=translation.Transcription(model="gpt-realtime-whisper") if transcription else None,
        )
        audio = translation.SessionAudio(input=audio_input, output=translation.AudioOutput(language="es"))
        return translation.Session(
            id=session_id, type="translation", model="gpt-realtime-translate", expires_at=1785217650, audio=audio
        )

    session_id = ids("sess")
    emit(translation.SessionCreatedEvent(event_id=ids("event"), session=session(False)))
    emit(translation.SessionUpdatedEvent(event_id=ids("event"), session=session(True)))
    elapsed = 0
    for said, translated in _TRANSLATED:
        # Speech of the utterance's length plus ~0.6 s of pause; the transcripts arrive at its end.
        steps = (len(said) * _MS_PER_CHAR + 600) // 200 + 1
        for _ in range(steps):
            elapsed += 200
            n_bytes = 48 * 20 * rng.randint(4, 10)  # 80 to 200 ms of 24 kHz PCM16
            emit(
                translation.OutputAudioDeltaEvent(
                    event_id=ids("event"),
                    delta=base64.b64encode(voice.pcm(n_bytes)).decode("ascii"),
                    channels=1,
                    elapsed_ms=elapsed,
                    format="pcm16",
                    sample_rate=24000,
                )
            )
        for token in _tokens(said):
            emit(translation.InputTranscriptDeltaEvent(event_id=ids("event"), delta=token, elapsed_ms=elapsed))
        for token in _tokens(translated):
            emit(translation.OutputTranscriptDeltaEvent(event_id=ids("event"), delta=token, elapsed_ms=elapsed))
    emit(translation.SessionClosedEvent(event_id=ids("event")))
    return frames


def nested_type(frame: bytes) -> str | None:
    """The nested Responses event type of a ``response.event`` frame (for reporting only)."""
    value = json.loads(frame)
    if value.get("type") != "response.event":
        return None
    nested = value["event"]["type"]
    assert isinstance(nested, str)
    return nested


def live_category(frame: bytes) -> str:
    """The report category of one GPT-Live frame (one of ``LIVE_CATEGORIES``)."""
    value = json.loads(frame)
    event_type = value["type"]
    if event_type == "session.output_audio.delta":
        return "audio delta 20 ms" if len(value["delta"]) <= 4 * AUDIO_20MS_BYTES // 3 else "audio delta 100 ms"
    if event_type in _TRANSCRIPTS:
        return "transcript deltas"
    if event_type == "response.event":
        return "response.event"
    return "other"


def translation_category(frame: bytes) -> str:
    """The report category of one Translation frame (one of ``TRANSLATION_CATEGORIES``)."""
    event_type = json.loads(frame)["type"]
    if event_type == "session.output_audio.delta":
        return "audio delta"
    if event_type in _TRANSCRIPTS:
        return "transcript deltas"
    return "other"
