"""Audio and words shared by the GPT-Live and Translation simulators: the spoken tone in each wire
format, format conversion to the 24 kHz PCM16 the VAD reads, word-sized deltas, and utterance
segmentation by the energy VAD of ``_audio``.

Everything counts audio time (bytes of PCM16 24 kHz), never wall-clock time.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from functools import cache

from .. import audio
from ._audio import BYTES_PER_MS, WINDOW_BYTES, is_speech

__all__ = (
    "CHUNK_MS",
    "MS_PER_CHAR",
    "AudioFormat",
    "Segmenter",
    "Utterance",
    "from_pcm24",
    "split_words",
    "to_pcm24",
    "tone",
)

SAMPLE_RATE = 24000
CHUNK_MS = 100  # the length of one spoken output chunk
MS_PER_CHAR = 60  # spoken duration per character of transcript
_TOKENS = re.compile(r"\s*\S+|\s+$")


def split_words(text: str) -> list[str]:
    """Word-sized deltas that concatenate back to ``text`` (``"Hi there!"`` -> ``["Hi", " there!"]``)."""
    return _TOKENS.findall(text)


@dataclass(frozen=True)
class AudioFormat:
    """A Live session's wire audio: ``audio/pcm`` at 16 or 24 kHz, or G.711 (``audio/pcmu``/``audio/pcma``) at 8 kHz."""

    type: str = "audio/pcm"
    rate: int = SAMPLE_RATE

    @property
    def bytes_per_ms(self) -> int:
        return self.rate // 1000 * (2 if self.type == "audio/pcm" else 1)


PCM24 = AudioFormat()


@cache
def tone(fmt: AudioFormat = PCM24) -> bytes:
    """``CHUNK_MS`` of a quiet 440 Hz sine in ``fmt``: 44 whole periods, so chunks join seamlessly."""
    samples = SAMPLE_RATE * CHUNK_MS // 1000
    pcm = struct.pack(
        f"<{samples}h", *(round(3000 * math.sin(2 * math.pi * 440 * n / SAMPLE_RATE)) for n in range(samples))
    )
    return from_pcm24(pcm, fmt)


def to_pcm24(data: bytes, fmt: AudioFormat) -> bytes:
    """``data`` (in ``fmt``) as PCM16 24 kHz mono. ``ValueError`` for PCM of an odd length."""
    if fmt.type == "audio/pcm":
        if len(data) % 2:
            raise ValueError("PCM16 audio must have an even number of bytes")
        return data if fmt.rate == SAMPLE_RATE else audio.resample(data, fmt.rate, SAMPLE_RATE)
    pcm = audio.ulaw_to_pcm(data) if fmt.type == "audio/pcmu" else audio.alaw_to_pcm(data)
    return audio.resample(pcm, fmt.rate, SAMPLE_RATE)


def from_pcm24(pcm: bytes, fmt: AudioFormat) -> bytes:
    """PCM16 24 kHz mono ``pcm`` in ``fmt``."""
    if fmt.type == "audio/pcm":
        return pcm if fmt.rate == SAMPLE_RATE else audio.resample(pcm, SAMPLE_RATE, fmt.rate)
    narrow = audio.resample(pcm, SAMPLE_RATE, fmt.rate)
    return audio.pcm_to_ulaw(narrow) if fmt.type == "audio/pcmu" else audio.pcm_to_alaw(narrow)


@dataclass(frozen=True)
class Utterance:
    """A stretch of speech the VAD closed: ``pcm`` from ``start_ms`` (with the prefix padding) to ``end_ms``
    (the end of the last loud window), and ``detected_ms``, when the silence after it closed it."""

    start_ms: int
    end_ms: int
    detected_ms: int
    pcm: bytes


class Segmenter:
    """The energy VAD of the Realtime simulator over a continuous stream (no commits, no events):
    ``feed`` returns the utterances that ended, ``flush`` the one in progress."""

    def __init__(self, threshold: float = 0.5, prefix_padding_ms: int = 300, silence_ms: int = 500) -> None:
        self.threshold = threshold
        self.padding = prefix_padding_ms * BYTES_PER_MS
        self.silence = silence_ms * BYTES_PER_MS
        self.buffer = bytearray()
        self.buffer_start = 0  # stream offset of buffer[0]
        self.scanned = 0
        self.speech_start: int | None = None
        self.last_speech = 0

    @property
    def written(self) -> int:
        """Bytes of PCM16 24 kHz fed so far: the stream's clock."""
        return self.buffer_start + len(self.buffer)

    @property
    def ms(self) -> int:
        return self.written // BYTES_PER_MS

    def feed(self, pcm: bytes) -> list[Utterance]:
        self.buffer += pcm
        ended: list[Utterance] = []
        while self.scanned + WINDOW_BYTES <= self.written:
            at = self.scanned
            self.scanned += WINDOW_BYTES
            window = self.buffer[at - self.buffer_start : self.scanned - self.buffer_start]
            if is_speech(window, self.threshold):
                self.last_speech = self.scanned
                if self.speech_start is None:
                    self.speech_start = max(self.buffer_start, at - self.padding)
            elif self.speech_start is not None and self.scanned - self.last_speech >= self.silence:
                ended.append(self.cut(self.last_speech, self.scanned))
        if self.speech_start is None:  # between utterances only the prefix padding can still become speech
            keep = max(self.buffer_start, self.scanned - self.padding)
            del self.buffer[: keep - self.buffer_start]
            self.buffer_start = keep
        return ended

    def flush(self) -> Utterance | None:
        """The utterance in progress, ended where its speech ends (the stream is closing)."""
        if self.speech_start is None:
            return None
        return self.cut(self.last_speech, self.written)

    def cut(self, end: int, detected: int) -> Utterance:
        assert self.speech_start is not None
        start = self.speech_start
        pcm = bytes(self.buffer[start - self.buffer_start : end - self.buffer_start])
        del self.buffer[: end - self.buffer_start]
        self.buffer_start = end
        self.speech_start = None
        return Utterance(start // BYTES_PER_MS, end // BYTES_PER_MS, detected // BYTES_PER_MS, pcm)
