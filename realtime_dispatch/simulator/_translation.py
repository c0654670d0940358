"""Realtime Translation (``/v1/realtime/translations?model=...``) in the simulator.

The "translation" is deterministic: the input audio comes back as the translated audio, in 200 ms
frames, and each utterance the energy VAD closes is transcribed (the responder's ``transcribe``,
else its duration) and "translated" by tagging it with the target language: ``"[es] (1.2 s of
audio)"``. ``elapsed_ms`` is the end of the 200 ms frame an event belongs to.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import anyio
import msgspec
from msgspec import UNSET

from ..events import DecodeError, new_id, pcm_to_base64
from ..events import translation as tr
from ..transports import TransportClosed, WebSocketTransport
from ._audio import BYTES_PER_MS
from ._routes import rejection
from ._speech import Segmenter, Utterance, split_words

if TYPE_CHECKING:
    from ._server import Simulator

__all__ = ("DEFAULT_LANGUAGE", "FRAME_MS", "TranslationSession", "serve_translation", "translate")

FRAME_MS = 200
FRAME_BYTES = FRAME_MS * BYTES_PER_MS
DEFAULT_LANGUAGE = "es"
logger = logging.getLogger("realtime_dispatch.simulator")

# What a translation session.update may name (anything else: unknown_parameter).
_UPDATABLE: dict[str, object] = {
    "audio": {"input": {"noise_reduction": None, "transcription": None}, "output": {"language": None}}
}


def translate(transcript: str, language: str) -> str:
    """The simulated translation of ``transcript``: itself, tagged with the target language."""
    return f"[{language}] {transcript}"


def _unknown(update: object, allowed: dict[str, object], path: str) -> str | None:
    """The first member of ``update`` that a session.update may not name, as a dotted path."""
    if not isinstance(update, dict):
        return None
    for key, value in update.items():
        if key not in allowed:
            return f"{path}.{key}"
        inner = allowed[key]
        if isinstance(inner, dict):
            found = _unknown(value, inner, f"{path}.{key}")
            if found is not None:
                return found
    return None


class TranslationSession:
    """One translation connection, from ``session.created`` to ``session.closed``."""

    def __init__(self, simulator: Simulator, transport: WebSocketTransport, model: str) -> None:
        self.simulator = simulator
        self.transport = transport
        self.session = tr.Session(
            id=new_id("sess"),
            type="translation",
            model=model,
            expires_at=int(time.time()) + 1800,
            audio=tr.SessionAudio(
                input=tr.AudioInput(noise_reduction=None, transcription=None),
                output=tr.AudioOutput(language=DEFAULT_LANGUAGE),
            ),
        )
        self.pending = bytearray()  # input not yet a whole frame
        self.frames = 0  # frames translated so far
        self.segmenter = Segmenter()
        self.closing = False

    @property
    def language(self) -> str:
        output = self.session.audio.output
        return output.language if output is not None and output.language else DEFAULT_LANGUAGE

    async def send(self, event: tr.ServerEvent) -> None:
        await self.transport.send(tr.encode(event))

    async def error(self, message: str, *, code: str, param: str | None = None, event_id: str | None = None) -> None:
        detail = tr.ErrorDetail(type="invalid_request_error", code=code, message=message, param=param,
                                event_id=event_id)  # fmt: skip
        await self.send(tr.ErrorEvent.build(error=detail))

    async def run(self) -> None:
        try:
            await self.send(tr.SessionCreatedEvent.build(session=self.session))
            while not self.closing:
                await self.dispatch(await self.transport.receive())
            await self.transport.close(1000)
        except TransportClosed:
            pass

    async def dispatch(self, data: bytes) -> None:
        try:
            event = tr.decode_client(data)
        except DecodeError as exc:
            refused = rejection(data, exc, tr.CLIENT_EVENTS)
            await self.error(refused.message, code=refused.code, param=refused.param, event_id=refused.event_id)
            return
        if isinstance(event, tr.SessionUpdateEvent):
            await self.update(event, data)
        elif isinstance(event, tr.InputAudioBufferAppendEvent):
            try:
                pcm = event.pcm
            except ValueError:
                await self.error("Invalid 'audio'. Expected base64-encoded audio.", code="invalid_value",
                                 param="audio", event_id=event.event_id)  # fmt: skip
                return
            await self.append(pcm)
        elif isinstance(event, tr.SessionCloseEvent):
            await self.close()

    async def update(self, event: tr.SessionUpdateEvent, data: bytes) -> None:
        unknown = _unknown(msgspec.json.decode(data).get("session"), _UPDATABLE, "session")
        if unknown is not None:
            await self.error(f"Unknown parameter: '{unknown}'.", code="unknown_parameter", param=unknown,
                             event_id=event.event_id)  # fmt: skip
            return
        audio = event.session.audio
        current = self.session.audio
        current_input = current.input or tr.AudioInput()
        new_input, new_output = current_input, current.output
        if audio is not None and audio.input is not None:
            noise = audio.input.noise_reduction
            if isinstance(noise, tr.NoiseReduction) and noise.strength is None:
                old = current_input.noise_reduction
                kept = old.strength if isinstance(old, tr.NoiseReduction) and old.strength is not None else 1.0
                noise = msgspec.structs.replace(noise, strength=kept)
            transcription = audio.input.transcription
            new_input = tr.AudioInput(
                noise_reduction=current_input.noise_reduction if noise is UNSET else noise,
                transcription=current_input.transcription if transcription is UNSET else transcription,
            )
        if audio is not None and audio.output is not None and audio.output.language is not None:
            new_output = tr.AudioOutput(language=audio.output.language)
        self.session = msgspec.structs.replace(self.session, audio=tr.SessionAudio(input=new_input, output=new_output))
        await self.send(tr.SessionUpdatedEvent.build(session=self.session))

    async def append(self, pcm: bytes) -> None:
        self.pending += pcm
        while len(self.pending) >= FRAME_BYTES:
            frame = bytes(self.pending[:FRAME_BYTES])
            del self.pending[:FRAME_BYTES]
            await self.frame(frame)

    async def frame(self, pcm: bytes) -> None:
        """Translate one frame (200 ms, or the shorter rest at close)."""
        self.frames += 1
        elapsed = self.frames * FRAME_MS
        await self.send(tr.OutputAudioDeltaEvent.build(
            delta=pcm_to_base64(pcm),
            elapsed_ms=elapsed, sample_rate=24000, channels=1, format="pcm16",
        ))  # fmt: skip
        for utterance in self.segmenter.feed(pcm):
            await self.utterance(utterance, elapsed)
        await anyio.sleep(self.simulator.delta_delay)

    async def utterance(self, utterance: Utterance, elapsed: int) -> None:
        try:
            transcript = await self.simulator.transcribe(utterance.pcm)
        except Exception as exc:  # the responder's: reported, the session goes on
            await self.error(f"Transcription failed: {exc}", code="transcription_failed")
            return
        audio_input = self.session.audio.input
        if audio_input is not None and isinstance(audio_input.transcription, tr.Transcription):
            for word in split_words(transcript):
                await self.send(tr.InputTranscriptDeltaEvent.build(delta=word, elapsed_ms=elapsed))
        for word in split_words(translate(transcript, self.language)):
            await self.send(tr.OutputTranscriptDeltaEvent.build(delta=word, elapsed_ms=elapsed))

    async def close(self) -> None:
        """Flush: the partial frame, the utterance in progress; then ``session.closed``."""
        if self.pending:
            rest = bytes(self.pending)
            self.pending.clear()
            self.frames += 1
            elapsed = self.frames * FRAME_MS
            await self.send(tr.OutputAudioDeltaEvent.build(
                delta=pcm_to_base64(rest),
                elapsed_ms=elapsed, sample_rate=24000, channels=1, format="pcm16",
            ))  # fmt: skip
            ended = self.segmenter.feed(rest)
            for utterance in ended:
                await self.utterance(utterance, elapsed)
        last = self.segmenter.flush()
        if last is not None:
            await self.utterance(last, self.frames * FRAME_MS)
        await self.send(tr.SessionClosedEvent.build())
        self.closing = True


async def serve_translation(simulator: Simulator, transport: WebSocketTransport, model: str) -> None:
    """Run one translation connection until it closes or leaves."""
    session = TranslationSession(simulator, transport, model)
    started = time.monotonic()
    try:
        await session.run()
    finally:
        logger.info("translation session %s left after %.1f s: %d ms of audio, target language %s",
                    session.session.id, time.monotonic() - started, session.segmenter.ms, session.language)  # fmt: skip
