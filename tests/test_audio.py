"""realtime_dispatch.audio: sizes, chunking, pacing, sending, WAV, G.711 and resampling."""

from __future__ import annotations

import doctest
import io
import math
import struct
import wave

import anyio
import pytest

from realtime_dispatch import RealtimeApp, audio, events
from realtime_dispatch.testing import ScriptedServer

pytestmark = pytest.mark.anyio

# asyncio may run a timer up to its clock resolution (1 ns) early; nothing else loosens the lower bounds below.
CLOCK_SLACK = 1e-6


def pcm(*samples: int) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def unpack(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(data) // 2}h", data))


def tone(count: int, rate: int = audio.PCM_RATE, hz: float = 440.0) -> bytes:
    return pcm(*(round(8000 * math.sin(2 * math.pi * hz * n / rate)) for n in range(count)))


def test_the_module_docstring_examples_run() -> None:
    assert doctest.testmod(audio).failed == 0


# --- sizes and chunks -----------------------------------------------------------------------------------------


def test_duration_and_byte_counts_are_inverse() -> None:
    assert audio.duration_ms(bytes(960)) == 20.0
    assert audio.duration_ms(48_000) == 1000.0
    assert audio.duration_ms(memoryview(bytes(960)).cast("h")) == 20.0  # bytes, not cast items
    assert audio.duration_ms(bytes(160), rate=audio.G711_RATE, width=1) == 20.0
    assert audio.bytes_for_ms(20) == 960
    assert audio.bytes_for_ms(20, rate=audio.G711_RATE, width=1) == 160
    assert audio.bytes_for_ms(1, rate=44_100) == 88  # 44.1 samples: rounded to whole samples, even bytes
    for ms in (0, 1, 20, 100, 1500):
        assert audio.duration_ms(audio.bytes_for_ms(ms)) == ms


def test_partial_samples_and_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="whole number of 2-byte samples"):
        audio.duration_ms(bytes(3))
    with pytest.raises(ValueError, match="negative"):
        audio.duration_ms(-2)
    with pytest.raises(ValueError, match="negative"):
        audio.bytes_for_ms(-1)
    with pytest.raises(ValueError, match="width"):
        audio.bytes_for_ms(20, width=3)
    with pytest.raises(ValueError, match="sample rate must be positive"):
        audio.duration_ms(960, rate=0)


def test_chunks_split_on_sample_boundaries_with_a_short_last_chunk() -> None:
    data = tone(1000)  # 2000 bytes: two 20 ms chunks of 960 and 80 left over
    pieces = list(audio.chunks(data, 20))
    assert [len(p) for p in pieces] == [960, 960, 80]
    assert b"".join(pieces) == data
    assert all(isinstance(p, bytes) for p in pieces)
    assert [len(p) for p in audio.chunks(bytes(330), 20, rate=audio.G711_RATE, width=1)] == [160, 160, 10]
    assert list(audio.chunks(b"")) == []
    assert [len(p) for p in audio.chunks(memoryview(data).cast("h"), 10)] == [480] * 4 + [80]


def test_chunks_of_a_bytearray_survive_the_caller_reusing_it() -> None:
    buffer = bytearray(tone(960))
    pieces = audio.chunks(buffer)
    first = next(pieces)
    buffer.clear()  # would raise BufferError if the chunks still viewed the bytearray
    assert [len(first), *map(len, pieces)] == [960, 960]


def test_chunks_reject_a_partial_sample_before_iterating() -> None:
    with pytest.raises(ValueError, match="whole number"):
        audio.chunks(bytes(961))  # raised by the call, not by the first next()
    with pytest.raises(ValueError, match="less than one sample"):
        audio.chunks(bytes(960), ms=0.01)


# --- pacing ---------------------------------------------------------------------------------------------------


class FakeClock:
    """Stands in for anyio's clock: sleeping jumps straight to the deadline."""

    def __init__(self) -> None:
        self.now = 1000.0
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


async def test_paced_yields_in_real_time_and_in_order() -> None:
    pieces = list(audio.chunks(tone(50 * 48), ms=2))  # 50 chunks of 2 ms = 100 ms
    start = anyio.current_time()
    received = [chunk async for chunk in audio.paced(pieces)]
    elapsed = anyio.current_time() - start
    assert received == pieces
    assert elapsed >= 0.1 - CLOCK_SLACK
    assert elapsed < 0.4  # generous for loaded CI machines; the exact schedule is tested with a fake clock


async def test_paced_deadlines_count_from_the_start_so_a_stall_is_caught_up(clock: FakeClock) -> None:
    start = clock.now
    yielded_at = []
    async for _ in audio.paced(audio.chunks(bytes(50 * 96), ms=2)):
        yielded_at.append(clock.now)
        if len(yielded_at) == 5:
            clock.now += 0.030  # the consumer stalls for 15 chunks' worth
    assert clock.deadlines == pytest.approx([start + 0.002 * k for k in range(1, 51)], abs=1e-9)
    # Summed sleeps would finish 30 ms late; scheduled ones end on time, sending the backlog without waiting.
    assert clock.now == pytest.approx(start + 0.100, abs=1e-9)
    assert yielded_at[5:20] == pytest.approx([start + 0.040] * 15, abs=1e-9)
    assert yielded_at[20] == pytest.approx(start + 0.042, abs=1e-9)


async def test_paced_uses_each_chunk_length_and_speed(clock: FakeClock) -> None:
    start = clock.now
    async for _ in audio.paced([bytes(960), bytes(96), bytes(160)], speed=2):
        pass
    # Twice real time: 96 000 bytes a second instead of 48 000.
    expected = [start + sent / 96_000 for sent in (960, 1056, 1216)]
    assert clock.deadlines == pytest.approx(expected, abs=1e-9)
    start = clock.now
    async for _ in audio.paced([bytes(160)] * 2, rate=audio.G711_RATE, width=1):
        pass
    assert clock.deadlines[3:] == pytest.approx([start + 0.020, start + 0.040], abs=1e-9)


async def test_paced_rejects_a_non_positive_speed() -> None:
    with pytest.raises(ValueError, match="speed"):
        async for _ in audio.paced([bytes(2)], speed=0):
            pass


# --- send_audio -----------------------------------------------------------------------------------------------


class FakeSink:
    """Has the two Connection methods send_audio uses, and records the calls."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls: list[tuple[str, bytes | None]] = []
        self.fail_after = fail_after

    async def append_audio(self, pcm: bytes) -> str:
        if self.fail_after is not None and len(self.calls) == self.fail_after:
            raise ConnectionError("gone")
        self.calls.append(("append", pcm))
        return f"evt_{len(self.calls)}"

    async def commit_audio(self) -> str:
        self.calls.append(("commit", None))
        return "evt_commit"


async def test_send_audio_appends_each_chunk_and_commits_only_when_asked() -> None:
    data = tone(2000)
    sink = FakeSink()
    assert await audio.send_audio(sink, data, realtime=False) == 5
    assert sink.calls == [("append", chunk) for chunk in audio.chunks(data, 20)]

    sink = FakeSink()
    assert await audio.send_audio(sink, data, chunk_ms=40, realtime=False, commit=True) == 3
    assert [name for name, _ in sink.calls] == ["append", "append", "append", "commit"]
    assert b"".join(chunk for _, chunk in sink.calls if chunk is not None) == data


async def test_send_audio_in_real_time_takes_the_audio_duration() -> None:
    data = bytes(audio.bytes_for_ms(40, rate=audio.G711_RATE, width=1))
    sink = FakeSink()
    start = anyio.current_time()
    count = await audio.send_audio(sink, data, chunk_ms=4, rate=audio.G711_RATE, width=1, commit=True)
    elapsed = anyio.current_time() - start
    assert count == 10
    assert [len(chunk) for _, chunk in sink.calls[:-1] if chunk is not None] == [32] * 10
    assert sink.calls[-1] == ("commit", None)
    assert elapsed >= 0.040 - CLOCK_SLACK


async def test_send_audio_stops_at_the_first_failed_append(clock: FakeClock) -> None:
    sink = FakeSink(fail_after=2)
    with pytest.raises(ConnectionError):
        await audio.send_audio(sink, bytes(960 * 5), commit=True)
    assert [name for name, _ in sink.calls] == ["append", "append"]


async def test_send_audio_over_a_real_connection_sends_append_events() -> None:
    data = tone(1000)
    server = ScriptedServer()
    server.on_connect(events.SessionCreated.build(session=events.Session(type="realtime")))
    for _ in range(3):
        server.expect("input_audio_buffer.append")
    server.expect("input_audio_buffer.commit")
    async with server.run(RealtimeApp()) as connection:
        assert await audio.send_audio(connection, data, realtime=False, commit=True) == 3
        await server.wait_done()
    appended = [event.pcm for event in server.sent if isinstance(event, events.InputAudioBufferAppend)]
    assert appended == list(audio.chunks(data))


# --- WAV ------------------------------------------------------------------------------------------------------


def wav_bytes(frames: bytes, *, channels: int = 1, width: int = 2, rate: int = 24_000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(frames)
    return buffer.getvalue()


def riff(format_tag: int, bits: int, *, extensible_subformat: int | None = None) -> bytes:
    """A WAV header the wave module refuses, built by hand."""
    fmt = struct.pack("<HHIIHH", format_tag, 1, 8000, 8000 * bits // 8, bits // 8, bits)
    if extensible_subformat is not None:
        guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", extensible_subformat) + guid_tail
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", 4) + bytes(4)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_wav_round_trips_through_bytes_and_files(tmp_path) -> None:
    data = tone(2400)
    buffer = io.BytesIO()
    audio.write_wav(buffer, data)
    assert audio.read_wav(buffer.getvalue()) == audio.Wav(data, 24_000)
    assert audio.read_wav(io.BytesIO(buffer.getvalue())).pcm == data

    path = tmp_path / "clip.wav"
    audio.write_wav(path, data, rate=16_000)
    with wave.open(str(path), "rb") as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, 16_000)
        assert reader.readframes(reader.getnframes()) == data
    wav = audio.read_wav(str(path))
    assert (wav.pcm, wav.rate, wav.duration_ms) == (data, 16_000, 150.0)


def test_wav_channels_are_averaged_to_mono() -> None:
    stereo = pcm(100, 300, -100, -301, 32767, 32767, -32768, -32768)
    assert audio.read_wav(wav_bytes(stereo, channels=2)).pcm == pcm(200, -201, 32767, -32768)
    three = pcm(3, 6, 9, -1, -1, -1)
    assert audio.read_wav(wav_bytes(three, channels=3)).pcm == pcm(6, -1)


def test_read_wav_resamples_on_request() -> None:
    data = tone(1600, rate=16_000)  # 100 ms
    wav = audio.read_wav(wav_bytes(data, rate=16_000), rate=audio.PCM_RATE)
    assert wav.rate == audio.PCM_RATE
    assert wav.duration_ms == 100.0
    assert unpack(wav.pcm)[::3] == unpack(data)[::2]  # the instants both rates share keep their samples
    assert audio.read_wav(wav_bytes(data, rate=16_000), rate=16_000).pcm == data


@pytest.mark.parametrize(
    ("wav", "message"),
    [
        (wav_bytes(bytes(8), width=1), "8-bit integer PCM"),
        (wav_bytes(bytes(12), width=3), "24-bit integer PCM"),
        (wav_bytes(bytes(16), width=4), "32-bit integer PCM"),
        (riff(3, 32), "32-bit IEEE float"),
        (riff(7, 8), "8-bit μ-law"),
        (riff(6, 8), "8-bit A-law"),
        (riff(0x55, 16), "MPEG layer 3"),
        (riff(0xFFFE, 32, extensible_subformat=3), "WAVE_FORMAT_EXTENSIBLE \\(IEEE float\\)"),
        (b"RIFF\x00\x00\x00\x00AVI ", "not a WAV file"),
        (b"", "not a WAV file"),
    ],
)
def test_unsupported_wav_formats_are_named(wav: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        audio.read_wav(wav)


def test_write_wav_rejects_a_partial_sample() -> None:
    with pytest.raises(ValueError, match="whole number"):
        audio.write_wav(io.BytesIO(), bytes(3))


# --- G.711 ----------------------------------------------------------------------------------------------------

ALL_CODES = bytes(range(256))
ALL_SAMPLES = pcm(*range(-32768, 32768))


def test_g711_reference_values() -> None:
    # Decoded levels of ITU-T G.711 (G.191 reference code): each code's step middle.
    assert unpack(audio.ulaw_to_pcm(bytes([0xFF, 0x7F, 0x00, 0x80, 0xFE, 0x7E, 0xEF]))) == [
        0, 0, -32124, 32124, 8, -8, 132,
    ]  # fmt: skip
    assert unpack(audio.alaw_to_pcm(bytes([0xD5, 0x55, 0xAA, 0x2A, 0xD4, 0xC5]))) == [8, -8, 32256, -32256, 24, 264]
    # Negative samples are encoded through their one's complement, as G.191 does: -1 is a negative zero.
    assert audio.pcm_to_ulaw(pcm(0, -1, 32767, -32768, 8, -8)) == bytes([0xFF, 0x7F, 0x80, 0x00, 0xFE, 0x7E])
    assert audio.pcm_to_alaw(pcm(0, -1, 32767, -32768, 8, -8)) == bytes([0xD5, 0x55, 0xAA, 0x2A, 0xD5, 0x55])


def test_g711_every_code_survives_a_round_trip() -> None:
    assert audio.pcm_to_alaw(audio.alaw_to_pcm(ALL_CODES)) == ALL_CODES
    # μ-law has two zeros; 0x7F (negative zero) decodes to 0, which encodes as 0xFF (positive zero).
    assert audio.pcm_to_ulaw(audio.ulaw_to_pcm(ALL_CODES)) == ALL_CODES.replace(b"\x7f", b"\xff")


@pytest.mark.parametrize(
    ("encode", "decode"), [(audio.pcm_to_ulaw, audio.ulaw_to_pcm), (audio.pcm_to_alaw, audio.alaw_to_pcm)]
)
def test_g711_decode_levels_are_symmetric_and_encoding_is_near_and_stable(encode, decode) -> None:
    levels = unpack(decode(ALL_CODES))
    assert all(levels[code] == -levels[code ^ 0x80] for code in range(256))
    once = decode(encode(ALL_SAMPLES))
    assert decode(encode(once)) == once
    errors = [abs(a - b) for a, b in zip(unpack(once), range(-32768, 32768), strict=True)]
    # Within half a quantisation step, which is at most 1/16 of the magnitude (plus the bottom step).
    assert all(error <= abs(x) / 16 + 8 for error, x in zip(errors, range(-32768, 32768), strict=True))


def test_g711_accepts_any_buffer_and_rejects_a_partial_sample() -> None:
    assert audio.ulaw_to_pcm(memoryview(b"\xff\x00")) == audio.ulaw_to_pcm(bytearray(b"\xff\x00"))
    assert audio.pcm_to_alaw(memoryview(pcm(5, -5)).cast("h")) == audio.pcm_to_alaw(bytearray(pcm(5, -5)))
    assert audio.ulaw_to_pcm(b"") == audio.pcm_to_ulaw(b"") == b""
    with pytest.raises(ValueError, match="whole number"):
        audio.pcm_to_ulaw(bytes(3))


def test_g711_big_endian_tables_index_the_swapped_reading() -> None:
    # Whatever this host is, struct shows what a big-endian one reads from little-endian bytes: lo*256 + hi.
    big_endian_reading = struct.unpack(f">{len(ALL_SAMPLES) // 2}H", ALL_SAMPLES)
    for encode_one, shift, public in [
        (audio._ulaw_encode, 2, audio.pcm_to_ulaw),
        (audio._alaw_encode, 4, audio.pcm_to_alaw),
    ]:
        table = audio._encode_table(encode_one, shift, "big")
        assert bytes(map(table.__getitem__, big_endian_reading)) == public(ALL_SAMPLES)


# --- resampling -----------------------------------------------------------------------------------------------


def test_resample_interpolates_linearly_and_keeps_shared_instants() -> None:
    ramp = pcm(0, 300, 600, 900)
    assert unpack(audio.resample(ramp, 8000, 24_000)) == [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 900, 900]
    data = tone(160, rate=8000)
    assert audio.resample(audio.resample(data, 8000, 24_000), 24_000, 8000) == data
    assert unpack(audio.resample(pcm(0, 1000, -1000), 16_000, 24_000)) == [0, 667, 333, -1000]


def test_resample_lengths_and_edge_cases() -> None:
    assert len(audio.resample(bytes(2 * 1764), 44_100, 24_000)) == 2 * 960
    assert len(audio.resample(bytes(2 * 480), 24_000, 16_000)) == 2 * 320
    assert audio.resample(pcm(7, 7, 7), 22_050, 24_000) == pcm(7, 7, 7)  # 3 * 160/147 rounds down to 3
    data = tone(100)
    assert audio.resample(data, 24_000, 24_000) == data
    assert audio.resample(b"", 8000, 24_000) == b""
    with pytest.raises(ValueError, match="positive"):
        audio.resample(data, 0, 24_000)
    with pytest.raises(ValueError, match="whole number"):
        audio.resample(bytes(5), 8000, 24_000)
