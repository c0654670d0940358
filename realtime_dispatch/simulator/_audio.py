"""Input audio for the simulator: a deterministic energy VAD and the default transcript.

Everything here counts audio time (bytes of PCM16 24 kHz mono), never wall-clock time, so a
test that appends the same audio always sees the same events at the same ``audio_*_ms``.
"""

from __future__ import annotations

import math
import operator
import sys
from array import array
from dataclasses import dataclass

from .. import events

__all__ = (
    "BYTES_PER_MS",
    "WINDOW_BYTES",
    "VadSettings",
    "describe_audio",
    "is_speech",
    "normalise_turn_detection",
    "rms",
)

BYTES_PER_MS = 48  # PCM16 at 24 kHz, mono
WINDOW_MS = 10
WINDOW_BYTES = WINDOW_MS * BYTES_PER_MS
# threshold 1.0 means an RMS of 10 % of full scale (-20 dBFS); the default 0.5 is about -26 dBFS,
# quiet speech into a close microphone.
RMS_AT_THRESHOLD_ONE = 32768 * 0.1
# semantic_vad has no silence_duration_ms; its eagerness stands in for it here.
SEMANTIC_SILENCE_MS = {"low": 800, "medium": 500, "auto": 500, "high": 200}


def rms(pcm: bytes | bytearray | memoryview) -> float:
    """Root mean square of PCM16 little-endian samples (0 for no samples)."""
    samples = array("h")
    samples.frombytes(bytes(pcm[: len(pcm) // 2 * 2]))
    if not samples:
        return 0.0
    if sys.byteorder == "big":
        samples.byteswap()
    return math.sqrt(sum(map(operator.mul, samples, samples)) / len(samples))


def is_speech(pcm: bytes | bytearray | memoryview, threshold: float) -> bool:
    """Whether a window is loud enough to count as speech at this ``threshold`` (0..1)."""
    return rms(pcm) > threshold * RMS_AT_THRESHOLD_ONE


def describe_audio(pcm: bytes) -> str:
    """The default transcript: the audio's duration, e.g. ``"(2.4 s of audio)"``."""
    return f"({len(pcm) / (BYTES_PER_MS * 1000):.1f} s of audio)"


@dataclass(frozen=True)
class VadSettings:
    """The turn detection a session asks for, with every default filled in."""

    threshold: float
    prefix_padding_ms: int
    silence_duration_ms: int
    create_response: bool
    interrupt_response: bool

    @classmethod
    def of(cls, session: events.Session) -> VadSettings | None:
        """The session's VAD settings, or None for manual turns (``turn_detection: null``)."""
        audio_input = session.audio.input if session.audio else None
        detection = audio_input.turn_detection if audio_input else None
        if not isinstance(detection, events.TurnDetection):
            return None
        detection = normalise_turn_detection(detection)
        if detection.type == "semantic_vad":
            silence = SEMANTIC_SILENCE_MS.get(detection.eagerness or "auto", 500)
            return cls(0.5, 300, silence, detection.create_response is not False,
                       detection.interrupt_response is not False)  # fmt: skip
        return cls(
            threshold=detection.threshold if detection.threshold is not None else 0.5,
            prefix_padding_ms=detection.prefix_padding_ms if detection.prefix_padding_ms is not None else 300,
            silence_duration_ms=detection.silence_duration_ms if detection.silence_duration_ms is not None else 200,
            create_response=detection.create_response is not False,
            interrupt_response=detection.interrupt_response is not False,
        )


def normalise_turn_detection(detection: events.TurnDetection) -> events.TurnDetection:
    """``detection`` as ``session.updated`` shows it: the fields its type has, defaults filled in.

    The defaults are the ones ``session.created`` shows on the live service.
    """
    create = detection.create_response if detection.create_response is not None else True
    interrupt = detection.interrupt_response if detection.interrupt_response is not None else True
    if detection.type == "semantic_vad":
        return events.TurnDetection(type="semantic_vad", eagerness=detection.eagerness or "auto",
                                    create_response=create, interrupt_response=interrupt)  # fmt: skip
    return events.TurnDetection(
        type="server_vad",
        threshold=detection.threshold if detection.threshold is not None else 0.5,
        prefix_padding_ms=detection.prefix_padding_ms if detection.prefix_padding_ms is not None else 300,
        silence_duration_ms=detection.silence_duration_ms if detection.silence_duration_ms is not None else 200,
        idle_timeout_ms=detection.idle_timeout_ms,
        create_response=create,
        interrupt_response=interrupt,
    )
