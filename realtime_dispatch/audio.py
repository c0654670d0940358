"""Audio helpers for the Realtime API's formats, in pure Python (no numpy, no ``audioop``).

The API speaks PCM16 (signed 16-bit little-endian mono, 24 kHz unless configured) and G.711 μ-law / A-law
(one byte per sample, 8 kHz). Here: sizes and durations, silence, chunking, real-time pacing, sending to a
``Connection`` (or any async ``send(pcm)``), WAV files, G.711 codecs and a linear-interpolation resampler.

>>> from realtime_dispatch import audio
>>> audio.duration_ms(b"\\x00\\x00" * 480)
20.0
>>> audio.bytes_for_ms(20)
960
>>> [len(c) for c in audio.chunks(bytes(2000), ms=20)]
[960, 960, 80]
>>> audio.ulaw_to_pcm(audio.pcm_to_ulaw(b"\\x00\\x00"))
b'\\x00\\x00'
"""

from __future__ import annotations

import io
import math
import os
import sys
import wave
from array import array
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator
from contextlib import aclosing
from functools import cache
from itertools import islice
from typing import IO, NamedTuple, Protocol, runtime_checkable

from anyio import current_time, sleep_until

__all__ = (
    "G711_RATE",
    "PCM_RATE",
    "AudioSink",
    "Wav",
    "alaw_to_pcm",
    "bytes_for_ms",
    "chunks",
    "duration_ms",
    "paced",
    "pcm_to_alaw",
    "pcm_to_ulaw",
    "read_wav",
    "resample",
    "send_audio",
    "silence",
    "ulaw_to_pcm",
    "write_wav",
)

PCM_RATE = 24_000
"""The Realtime API's PCM16 sample rate (``audio/pcm``, beta ``pcm16``)."""
G711_RATE = 8_000
"""The sample rate of G.711 audio (``audio/pcmu`` / ``audio/pcma``, beta ``g711_ulaw`` / ``g711_alaw``)."""

_Audio = bytes | bytearray | memoryview
# The wire format is little-endian whatever the host; array('h') and memoryview casts are native.
_BIG_ENDIAN = sys.byteorder == "big"


def _nbytes(audio: _Audio) -> int:
    # len() of a memoryview counts items, which differ from bytes once it has been cast.
    return audio.nbytes if isinstance(audio, memoryview) else len(audio)


def _check_format(rate: int, width: int) -> None:
    if rate <= 0:
        raise ValueError(f"the sample rate must be positive, not {rate}")
    if width not in (1, 2):
        raise ValueError(f"width must be 1 (G.711) or 2 (PCM16) bytes per sample, not {width}")


def _check_whole(nbytes: int, width: int) -> None:
    if nbytes % width:
        raise ValueError(f"{nbytes} bytes is not a whole number of {width}-byte samples")


def duration_ms(audio: _Audio | int, *, rate: int = PCM_RATE, width: int = 2) -> float:
    """Milliseconds of audio in ``audio`` (the bytes, or their count) at ``rate`` Hz and ``width`` bytes per sample.

    ``width`` is 2 for PCM16 and 1 for G.711. A count that is not a whole number of samples is a ``ValueError``.
    """
    _check_format(rate, width)
    nbytes = audio if isinstance(audio, int) else _nbytes(audio)
    if nbytes < 0:
        raise ValueError(f"a byte count cannot be negative: {nbytes}")
    _check_whole(nbytes, width)
    return nbytes * 1000 / (rate * width)


def bytes_for_ms(ms: float, *, rate: int = PCM_RATE, width: int = 2) -> int:
    """The size in bytes of ``ms`` milliseconds of audio, rounded to the nearest whole sample."""
    _check_format(rate, width)
    if ms < 0:
        raise ValueError(f"a duration cannot be negative: {ms} ms")
    return round(ms * rate / 1000) * width


def chunks(audio: _Audio, ms: float = 20, *, rate: int = PCM_RATE, width: int = 2) -> Iterator[bytes]:
    """Split ``audio`` into ``ms``-millisecond chunks; the last one may be shorter. Never splits a sample.

    Raises ``ValueError`` at once (not on the first ``next``) if ``audio`` ends in a partial sample or a chunk
    would be shorter than one sample.
    """
    size = bytes_for_ms(ms, rate=rate, width=width)
    if size == 0:
        raise ValueError(f"{ms} ms is less than one sample at {rate} Hz")
    # A snapshot, so the caller may reuse or resize a bytearray while the chunks are being consumed.
    data = audio if isinstance(audio, bytes) else bytes(audio)
    _check_whole(len(data), width)
    return (data[start : start + size] for start in range(0, len(data), size))


async def paced(
    chunks: Iterable[bytes], *, rate: int = PCM_RATE, width: int = 2, speed: float = 1.0
) -> AsyncGenerator[bytes, None]:
    """Yield ``chunks`` at wall-clock rate, each one when a live microphone would have finished recording it.

    Every deadline is counted from the start time (``anyio.current_time()``) and the audio yielded so far, not
    by adding up sleeps, so timer overshoot and a slow consumer do not accumulate: after a stall the next chunks
    come at once until the stream is back on schedule. ``speed=2`` plays twice as fast. Chunks may have any size
    (their length gives their duration). Works on asyncio and trio.
    """
    _check_format(rate, width)
    if not speed > 0:
        raise ValueError(f"speed must be positive, not {speed}")
    bytes_per_second = rate * width * speed
    start = current_time()
    sent = 0
    for chunk in chunks:
        sent += _nbytes(chunk)
        await sleep_until(start + sent / bytes_per_second)
        yield chunk


def silence(ms: float, *, rate: int = PCM_RATE) -> bytes:
    """``ms`` milliseconds of PCM16 silence (zero samples) at ``rate`` Hz, rounded to whole samples.

    For G.711, encode it: ``pcm_to_ulaw(silence(ms, rate=G711_RATE))``.
    """
    return bytes(bytes_for_ms(ms, rate=rate))


@runtime_checkable
class AudioSink(Protocol):
    """What ``send_audio`` needs from a connection: ``append_audio`` (every protocol's connection
    has it; ``commit=True`` also needs the Realtime ``Connection.commit_audio``)."""

    async def append_audio(self, pcm: bytes) -> object: ...


async def send_audio(
    connection: AudioSink | Callable[[bytes], Awaitable[object]],
    audio: _Audio | Wav,
    *,
    chunk_ms: float = 20,
    rate: int = PCM_RATE,
    width: int = 2,
    realtime: bool = True,
    speed: float = 1.0,
    commit: bool = False,
    trailing_silence_ms: float = 0,
) -> int:
    """Send ``audio`` in ``chunk_ms`` chunks; returns the number of chunks.

    ``connection`` is an ``AudioSink`` (a ``Connection``: each chunk becomes an ``input_audio_buffer.append``
    event) or any async ``send(pcm)`` callable, e.g. one that sends a Realtime Translation
    ``session.input_audio_buffer.append``. ``audio`` is bytes already in the session's input format
    (``rate``/``width``: 24000/2 for PCM16, 8000/1 for G.711), or a ``Wav`` from ``read_wav``, which is
    resampled to ``rate`` if needed (PCM16 only). ``trailing_silence_ms`` of PCM16 silence follow the audio, in the
    same chunks and at the same pace: a translation session needs it to flush its last words. With
    ``realtime=True`` the chunks go out at the pace of a live microphone (see ``paced``), which is what server VAD
    and translation expect; ``realtime=False`` sends them as fast as the sink takes them. The input buffer is
    committed afterwards only with ``commit=True`` (with server VAD the server commits by itself), which needs an
    ``AudioSink``.
    """
    commit_audio: Callable[[], Awaitable[object]] | None = getattr(connection, "commit_audio", None)
    if commit and commit_audio is None:
        raise ValueError("commit=True needs a connection with commit_audio (the Realtime API's), not a send function")
    if isinstance(connection, AudioSink):
        append: Callable[[bytes], Awaitable[object]] = connection.append_audio
    else:
        append = connection
    if isinstance(audio, Wav):
        if width != 2:
            raise ValueError(f"a Wav is PCM16; with width={width}, pass G.711 bytes instead")
        audio = resample(audio.pcm, audio.rate, rate)
    if trailing_silence_ms:
        if width != 2:
            raise ValueError(f"trailing_silence_ms adds PCM16 silence; with width={width}, append encoded silence")
        _check_whole(_nbytes(audio), width)
        audio = bytes(audio) + silence(trailing_silence_ms, rate=rate)
    pieces = chunks(audio, chunk_ms, rate=rate, width=width)
    count = 0
    if realtime:
        # aclosing: if a send fails, the generator is closed now rather than whenever the event loop collects it.
        async with aclosing(paced(pieces, rate=rate, width=width, speed=speed)) as stream:
            async for chunk in stream:
                await append(chunk)
                count += 1
    else:
        for chunk in pieces:
            await append(chunk)
            count += 1
    if commit and commit_audio is not None:
        await commit_audio()
    return count


# --- samples ----------------------------------------------------------------------------------------------------


def _samples(pcm: _Audio) -> array[int]:
    """PCM16 little-endian bytes as native signed samples."""
    view = memoryview(pcm).cast("B")
    _check_whole(view.nbytes, 2)
    samples = array("h")
    samples.frombytes(view)
    if _BIG_ENDIAN:
        samples.byteswap()
    return samples


def _pcm(samples: array[int]) -> bytes:
    """Native signed samples as PCM16 little-endian bytes."""
    if _BIG_ENDIAN:
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def resample(pcm: _Audio, from_rate: int, to_rate: int) -> bytes:
    """Convert PCM16 mono from ``from_rate`` to ``to_rate`` Hz by linear interpolation.

    Good enough for speech going up (8 or 16 kHz to 24 kHz). Going down it has no anti-aliasing filter, so
    content above the new Nyquist frequency folds back: to get 8 kHz audio from the API, ask it for G.711.
    Each call stands alone (the last sample is held at the end), so resample whole clips rather than small chunks.
    An integer ratio keeps the original samples: 8 kHz → 24 kHz → 8 kHz gives back the input exactly.
    """
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, not {from_rate} and {to_rate}")
    samples = _samples(pcm)
    if from_rate == to_rate or not samples:
        return _pcm(samples)
    g = math.gcd(from_rate, to_rate)
    up, down = to_rate // g, from_rate // g
    count = len(samples) * up // down
    samples.append(samples[-1])
    out = array("h", bytes(2 * count))
    # Output i sits at input position i*down/up. The outputs of one phase (i mod up) share the fractional part
    # of that position and step through the input ``down`` samples at a time, so each phase is one slice and
    # one comprehension instead of a Python-level loop over every sample.
    for phase in range(min(up, count)):
        first, frac = divmod(phase * down, up)
        n = len(range(phase, count, up))
        left = samples[first::down]
        if frac == 0:
            out[phase::up] = left[:n]
        else:
            right = samples[first + 1 :: down]
            half = up // 2
            pairs = islice(zip(left, right, strict=False), n)  # the two slices may differ in length by one
            out[phase::up] = array("h", [a + ((b - a) * frac + half) // up for a, b in pairs])
    return _pcm(out)


# --- WAV --------------------------------------------------------------------------------------------------------


class Wav(NamedTuple):
    """Mono PCM16 little-endian audio and its sample rate, as ``read_wav`` returns it."""

    pcm: bytes
    rate: int

    @property
    def duration_ms(self) -> float:
        return duration_ms(self.pcm, rate=self.rate)

    def __repr__(self) -> str:
        """The format and size, not the samples: ``Wav(rate=24000, channels=1, duration_ms=1500.0, bytes=72000)``."""
        size = len(self.pcm)  # a repr never raises: no check of the rate or of whole samples here
        ms = f"{size // 2 * 1000 / self.rate:.1f}" if isinstance(self.rate, int) and self.rate > 0 else "?"
        return f"Wav(rate={self.rate!r}, channels=1, duration_ms={ms}, bytes={size})"


_FORMAT_NAMES = {
    0x0001: "integer PCM",
    0x0002: "Microsoft ADPCM",
    0x0003: "IEEE float",
    0x0006: "A-law",
    0x0007: "μ-law",
    0x0011: "IMA ADPCM",
    0x0055: "MPEG layer 3",
    0xFFFE: "WAVE_FORMAT_EXTENSIBLE",
}


def _describe_format(data: bytes) -> str | None:
    """Name the ``fmt `` chunk's format of a RIFF/WAVE file, for error messages."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    offset = 12
    while offset + 8 <= len(data):
        kind, size = data[offset : offset + 4], int.from_bytes(data[offset + 4 : offset + 8], "little")
        body = data[offset + 8 : offset + 8 + size]
        if kind == b"fmt " and len(body) >= 16:
            tag, bits = int.from_bytes(body[0:2], "little"), int.from_bytes(body[14:16], "little")
            name = _FORMAT_NAMES.get(tag, f"format tag {tag:#06x}")
            if tag == 0xFFFE and len(body) >= 26:
                sub = int.from_bytes(body[24:26], "little")
                name += f" ({_FORMAT_NAMES.get(sub, f'subformat {sub:#06x}')})"
            return f"{bits}-bit {name}"
        offset += 8 + size + (size & 1)  # chunks are padded to an even size
    return None


def read_wav(source: str | os.PathLike[str] | _Audio | IO[bytes], *, rate: int | None = None) -> Wav:
    """Read a 16-bit PCM WAV file (a path, its bytes, or a binary file object) as mono PCM16.

    Any channel count is mixed down to mono by averaging; any sample rate is kept unless ``rate`` asks for a
    conversion (``rate=PCM_RATE`` for the Realtime API; see ``resample`` for its limits). Other formats (8/24/32-bit,
    float, compressed) raise ``ValueError`` naming the format.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as file:
            data = file.read()
    else:
        data = source.read()
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            channels, width, source_rate = reader.getnchannels(), reader.getsampwidth(), reader.getframerate()
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as error:
        described = _describe_format(data)
        if described is None:
            raise ValueError(f"not a WAV file: {error}") from error
        raise ValueError(f"unsupported WAV format: {described} ({error}); read_wav reads 16-bit PCM") from error
    if width != 2:
        raise ValueError(f"unsupported WAV format: {8 * width}-bit integer PCM; read_wav reads 16-bit PCM")
    frame_size = 2 * channels
    samples = array("h")
    # The wave module hands frames over in native byte order; a truncated last frame is dropped.
    samples.frombytes(frames[: len(frames) - len(frames) % frame_size])
    if channels > 1:
        per_channel = (samples[c::channels] for c in range(channels))
        samples = array("h", [sum(frame) // channels for frame in zip(*per_channel, strict=True)])
    pcm = _pcm(samples)
    if rate is not None and rate != source_rate:
        return Wav(resample(pcm, source_rate, rate), rate)
    return Wav(pcm, source_rate)


def write_wav(target: str | os.PathLike[str] | IO[bytes], pcm: _Audio, *, rate: int = PCM_RATE) -> None:
    """Write mono PCM16 little-endian ``pcm`` as a WAV file to a path or a binary file object (``io.BytesIO``)."""
    samples = _samples(pcm)  # validates whole samples
    if isinstance(target, (str, os.PathLike)):
        with open(target, "wb") as file:
            _write_wav(file, samples, rate)
    else:
        _write_wav(target, samples, rate)


def _write_wav(file: IO[bytes], samples: array[int], rate: int) -> None:
    with wave.open(file, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples.tobytes())  # native order: wave converts to little-endian itself


# --- G.711 ------------------------------------------------------------------------------------------------------
# The algorithm of the ITU-T G.191 reference implementation (g711.c): μ-law works on the top 14 bits of a 16-bit
# sample and A-law on the top 13, negative values use the one's complement, and decoding returns the middle of
# the quantisation step.


def _ulaw_encode(x: int) -> int:
    magnitude = min(((~x if x < 0 else x) >> 2) + 33, 0x1FFF)
    segment = (magnitude >> 6).bit_length() + 1
    code = ((8 - segment) << 4) | (15 - ((magnitude >> segment) & 0x0F))
    return code | 0x80 if x >= 0 else code


def _ulaw_decode(code: int) -> int:
    inverted = ~code & 0xFF
    exponent, mantissa = (inverted >> 4) & 0x07, inverted & 0x0F
    step = 4 << (exponent + 1)
    magnitude = (0x80 << exponent) + step * mantissa + step // 2 - 4 * 33
    return magnitude if code & 0x80 else -magnitude


def _alaw_encode(x: int) -> int:
    magnitude = (~x if x < 0 else x) >> 4
    if magnitude > 15:
        exponent = magnitude.bit_length() - 4
        magnitude = (magnitude >> (exponent - 1)) - 16 + (exponent << 4)
    return (magnitude | 0x80 if x >= 0 else magnitude) ^ 0x55


def _alaw_decode(code: int) -> int:
    toggled = (code ^ 0x55) & 0x7F
    exponent, mantissa = toggled >> 4, toggled & 0x0F
    if exponent > 0:
        mantissa += 16
    magnitude = (mantissa << 4) + 8
    if exponent > 1:
        magnitude <<= exponent - 1
    return magnitude if code & 0x80 else -magnitude


def _decode_tables(decode: Callable[[int], int]) -> tuple[bytes, bytes]:
    # Two bytes.translate tables (low byte, high byte) let decoding run at C speed.
    values = [decode(code) & 0xFFFF for code in range(256)]
    return bytes(v & 0xFF for v in values), bytes(v >> 8 for v in values)


_ULAW_LOW, _ULAW_HIGH = _decode_tables(_ulaw_decode)
_ALAW_LOW, _ALAW_HIGH = _decode_tables(_alaw_decode)


def _encode_table(encode: Callable[[int], int], shift: int, byteorder: str) -> bytes:
    """A 65536-byte table from a sample, as a native uint16 read of its little-endian bytes, to its code."""
    # The code only depends on the sample's top 16 - shift bits, so encode each of those once and repeat it.
    top = 1 << (16 - shift)
    codes = bytes(encode((t - top if t >= top // 2 else t) << shift) for t in range(top))
    table = bytearray(65536)
    for low_bits in range(1 << shift):
        table[low_bits :: 1 << shift] = codes
    if byteorder == "big":
        # A big-endian host reads little-endian bytes lo, hi as lo*256 + hi: index the table by that instead.
        swapped = bytearray(65536)
        for high in range(256):
            swapped[high::256] = table[high * 256 : high * 256 + 256]
        table = swapped
    return bytes(table)


# Cached as lists, built on first use (a few ms): map(list.__getitem__, ...) runs about 1.5x faster than indexing
# bytes, which must create an int for each result.
@cache
def _ulaw_table() -> list[int]:
    return list(_encode_table(_ulaw_encode, 2, sys.byteorder))


@cache
def _alaw_table() -> list[int]:
    return list(_encode_table(_alaw_encode, 4, sys.byteorder))


def _decode(data: _Audio, low: bytes, high: bytes) -> bytes:
    codes = data if isinstance(data, (bytes, bytearray)) else bytes(data)
    out = bytearray(2 * len(codes))
    out[0::2] = codes.translate(low)
    out[1::2] = codes.translate(high)
    return bytes(out)


def _encode(pcm: _Audio, table: list[int]) -> bytes:
    view = memoryview(pcm).cast("B")
    _check_whole(view.nbytes, 2)
    return bytes(map(table.__getitem__, view.cast("H")))


def ulaw_to_pcm(data: _Audio) -> bytes:
    """Decode G.711 μ-law (one byte per sample) to PCM16 little-endian, at the same sample rate."""
    return _decode(data, _ULAW_LOW, _ULAW_HIGH)


def alaw_to_pcm(data: _Audio) -> bytes:
    """Decode G.711 A-law (one byte per sample) to PCM16 little-endian, at the same sample rate."""
    return _decode(data, _ALAW_LOW, _ALAW_HIGH)


def pcm_to_ulaw(pcm: _Audio) -> bytes:
    """Encode PCM16 little-endian to G.711 μ-law; resample to 8 kHz first if needed (see ``resample``)."""
    return _encode(pcm, _ulaw_table())


def pcm_to_alaw(pcm: _Audio) -> bytes:
    """Encode PCM16 little-endian to G.711 A-law; resample to 8 kHz first if needed (see ``resample``)."""
    return _encode(pcm, _alaw_table())
