"""realtime_dispatch.audio for Realtime Translation: silence, a send function as the sink, a ``Wav`` resampled
on the way, and trailing silence paced like the rest of the audio."""

from __future__ import annotations

import io
import math
import struct
import wave
from pathlib import Path

import anyio
import pytest

from realtime_dispatch import audio
from realtime_dispatch.events import translation

pytestmark = pytest.mark.anyio

CLOCK_SLACK = 1e-6
CHUNK_200MS = audio.bytes_for_ms(200)  # 9600 bytes of PCM16 at 24 kHz


def tone(count: int, rate: int = audio.PCM_RATE, hz: float = 440.0) -> bytes:
    samples = (round(8000 * math.sin(2 * math.pi * hz * n / rate)) for n in range(count))
    return struct.pack(f"<{count}h", *samples)


def wav_bytes(frames: bytes, *, channels: int = 1, rate: int = audio.PCM_RATE) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(frames)
    return buffer.getvalue()


class Collector:
    """An async ``send(pcm)`` that records what it was given."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def __call__(self, pcm: bytes) -> None:
        self.sent.append(pcm)


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0
        self.deadlines: list[float] = []

    def current_time(self) -> float:
        return self.now

    async def sleep_until(self, deadline: float) -> None:
        self.deadlines.append(deadline)
        self.now = max(self.now, deadline)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(audio, "current_time", fake.current_time)
    monkeypatch.setattr(audio, "sleep_until", fake.sleep_until)
    return fake


# --- silence ----------------------------------------------------------------------------------------------------


def test_silence_is_zero_samples_of_the_asked_length() -> None:
    assert audio.silence(200) == bytes(CHUNK_200MS)
    assert audio.duration_ms(audio.silence(1000)) == 1000.0
    assert audio.silence(0) == b""
    assert len(audio.silence(10, rate=16_000)) == 320
    assert len(audio.silence(0.03)) == 2  # rounded to the nearest whole sample, never half of one


def test_silence_rejects_a_negative_duration() -> None:
    with pytest.raises(ValueError, match="negative"):
        audio.silence(-1)


def test_g711_silence_is_encoded_silence() -> None:
    ulaw = audio.pcm_to_ulaw(audio.silence(20, rate=audio.G711_RATE))
    assert len(ulaw) == 160
    assert audio.ulaw_to_pcm(ulaw) == bytes(320)


def test_silence_is_exported() -> None:
    assert "silence" in audio.__all__


# --- send_audio to a send function ------------------------------------------------------------------------------


async def test_a_send_function_receives_each_chunk() -> None:
    data = tone(CHUNK_200MS)  # 400 ms
    send = Collector()
    assert await audio.send_audio(send, data, chunk_ms=200, realtime=False) == 2
    assert send.sent == list(audio.chunks(data, 200))


async def test_trailing_silence_follows_the_audio_in_the_same_chunks() -> None:
    data = tone(audio.PCM_RATE // 2)  # 500 ms: two whole 200 ms chunks and 100 ms
    send = Collector()
    count = await audio.send_audio(send, data, chunk_ms=200, realtime=False, trailing_silence_ms=1000)
    assert count == 8  # 1500 ms in 200 ms chunks, the last one 100 ms
    assert [len(chunk) for chunk in send.sent] == [CHUNK_200MS] * 7 + [CHUNK_200MS // 2]
    joined = b"".join(send.sent)
    assert joined[: len(data)] == data
    assert joined[len(data) :] == audio.silence(1000)
    assert audio.duration_ms(joined) == 1500.0


async def test_no_trailing_silence_by_default() -> None:
    send = Collector()
    await audio.send_audio(send, bytes(100), realtime=False)
    assert b"".join(send.sent) == bytes(100)


async def test_a_sink_with_append_audio_still_gets_trailing_silence_and_a_commit() -> None:
    calls: list[tuple[str, int]] = []

    class Sink:
        async def append_audio(self, pcm: bytes) -> None:
            calls.append(("append", len(pcm)))

        async def commit_audio(self) -> None:
            calls.append(("commit", 0))

    assert await audio.send_audio(Sink(), bytes(960), trailing_silence_ms=20, realtime=False, commit=True) == 2
    assert calls == [("append", 960), ("append", 960), ("commit", 0)]


async def test_commit_needs_a_sink_and_nothing_is_sent_without_one() -> None:
    send = Collector()
    with pytest.raises(ValueError, match="commit"):
        await audio.send_audio(send, bytes(960), realtime=False, commit=True)
    assert send.sent == []


async def test_trailing_silence_is_pcm16_only() -> None:
    send = Collector()
    with pytest.raises(ValueError, match="PCM16"):
        await audio.send_audio(send, bytes(160), rate=audio.G711_RATE, width=1, realtime=False, trailing_silence_ms=100)
    assert send.sent == []


async def test_audio_ending_in_half_a_sample_is_rejected_even_with_trailing_silence() -> None:
    with pytest.raises(ValueError, match="whole number"):
        await audio.send_audio(Collector(), bytes(3), realtime=False, trailing_silence_ms=10)


# --- a Wav is resampled to the session's rate -------------------------------------------------------------------


async def test_a_wav_is_resampled_to_24_khz() -> None:
    clip = audio.Wav(tone(1600, rate=16_000), 16_000)  # 100 ms at 16 kHz
    send = Collector()
    await audio.send_audio(send, clip, chunk_ms=200, realtime=False)
    assert b"".join(send.sent) == audio.resample(clip.pcm, 16_000, audio.PCM_RATE)
    assert audio.duration_ms(b"".join(send.sent)) == 100.0


async def test_a_wav_at_the_right_rate_is_sent_as_is() -> None:
    clip = audio.Wav(tone(480), audio.PCM_RATE)
    send = Collector()
    await audio.send_audio(send, clip, realtime=False)
    assert b"".join(send.sent) == clip.pcm


async def test_a_wav_is_pcm16_only() -> None:
    with pytest.raises(ValueError, match="PCM16"):
        await audio.send_audio(Collector(), audio.Wav(bytes(160), 8000), rate=audio.G711_RATE, width=1)


async def test_a_stereo_48_khz_file_streams_as_translation_append_events(tmp_path: Path) -> None:
    left = tone(4800, rate=48_000)  # 100 ms
    stereo = b"".join(left[i : i + 2] * 2 for i in range(0, len(left), 2))
    path = tmp_path / "speech.wav"
    path.write_bytes(wav_bytes(stereo, channels=2, rate=48_000))
    frames: list[bytes] = []

    async def send(pcm: bytes) -> None:
        frames.append(translation.encode(translation.InputAudioBufferAppendEvent.from_pcm(pcm)))

    count = await audio.send_audio(send, audio.read_wav(path), chunk_ms=200, realtime=False, trailing_silence_ms=300)
    assert count == 2  # 100 ms of speech + 300 ms of silence
    decoded = [translation.decode_client(frame) for frame in frames]
    assert all(isinstance(event, translation.InputAudioBufferAppendEvent) for event in decoded)
    pcm = b"".join(event.pcm for event in decoded if isinstance(event, translation.InputAudioBufferAppendEvent))
    expected = audio.resample(left, 48_000, audio.PCM_RATE)
    assert pcm == expected + audio.silence(300)
    assert [len(event.pcm) for event in decoded if isinstance(event, translation.InputAudioBufferAppendEvent)] == [
        CHUNK_200MS,
        CHUNK_200MS,
    ]


# --- pacing -----------------------------------------------------------------------------------------------------


async def test_the_trailing_silence_is_paced_like_the_audio(clock: FakeClock) -> None:
    start = clock.now
    sent_at: list[float] = []

    async def send(pcm: bytes) -> None:
        sent_at.append(clock.now)

    count = await audio.send_audio(send, tone(CHUNK_200MS), chunk_ms=200, trailing_silence_ms=600)
    assert count == 5  # 400 ms of audio, 600 ms of silence
    assert clock.deadlines == pytest.approx([start + 0.2 * k for k in range(1, 6)], abs=1e-9)
    assert sent_at == pytest.approx([start + 0.2 * k for k in range(1, 6)], abs=1e-9)


async def test_a_short_file_takes_its_duration_and_its_silence_in_real_time() -> None:
    data = audio.read_wav(wav_bytes(tone(960, rate=16_000), rate=16_000))  # 60 ms at 16 kHz
    send = Collector()
    start = anyio.current_time()
    count = await audio.send_audio(send, data, chunk_ms=20, trailing_silence_ms=40)
    elapsed = anyio.current_time() - start
    assert count == 5
    assert elapsed >= 0.100 - CLOCK_SLACK
    assert elapsed < 0.4  # generous for loaded CI machines; the exact schedule is tested with a fake clock
