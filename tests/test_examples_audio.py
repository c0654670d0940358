"""The audio examples (a WAV file as the user's voice, live transcription, a SIP/WebRTC call sideband) run offline,
against the built-in simulator, and do what they say."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import pytest

from realtime_dispatch import audio

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = pytest.mark.parametrize("backend", ["asyncio", "trio"])


def run_example(name: str, *args: str, backend: str = "asyncio") -> list[str]:
    """Run ``examples/NAME`` (it starts the simulator itself); check it exits with 0 and logs nothing."""
    command = [sys.executable, str(ROOT / "examples" / name), *args, *(["--trio"] if backend == "trio" else [])]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.splitlines()


def assert_in_order(lines: list[str], expected: list[str]) -> None:
    """Every expected line is printed, in this order (other lines may come between)."""
    remaining = iter(lines)
    for line in expected:
        assert any(seen == line for seen in remaining), f"{line!r} missing or out of order in {lines}"


def assert_is_the_simulators_answer(path: Path, ms: float) -> None:
    saved = audio.read_wav(path)
    assert saved.rate == audio.PCM_RATE
    assert saved.duration_ms == ms
    samples = struct.unpack(f"<{len(saved.pcm) // 2}h", saved.pcm)
    assert 2900 < max(samples) <= 3000  # the simulator's voice: a 440 Hz tone at amplitude 3000


# --- audio_file.py -----------------------------------------------------------------------------------------------


@BACKENDS
def test_audio_file_sends_a_voice_turn_and_saves_the_spoken_answer(backend: str, tmp_path: Path) -> None:
    out = tmp_path / "answer.wav"
    lines = run_example("audio_file.py", "--fast", "--out", str(out), backend=backend)
    assert lines[0] == "sending 2.1 s of audio (fast)"
    expected = [
        "[vad] speech started at 0 ms",
        "[vad] speech stopped at 1700 ms: turn committed",  # the 1.5 s burst, then the VAD's 200 ms of silence
        "user (transcribed): (1.7 s of audio)",
        "assistant (audio transcript): You said: (1.7 s of audio)",
        "[response completed]",
    ]
    assert_in_order(lines, expected)
    assert "sent 105 chunks of 20 ms" in lines
    assert lines[-1] == f"saved 1.6 s of the assistant's voice to {out}"
    assert_is_the_simulators_answer(out, 1600)


def test_audio_file_streams_in_real_time_by_default(tmp_path: Path) -> None:
    out = tmp_path / "answer.wav"
    started = time.monotonic()
    lines = run_example("audio_file.py", "--out", str(out))
    assert time.monotonic() - started >= 2.1  # 2.1 s of audio, paced like a microphone
    assert lines[0] == "sending 2.1 s of audio in real time"
    assert "user (transcribed): (1.7 s of audio)" in lines
    assert_is_the_simulators_answer(out, 1600)


def test_audio_file_reads_any_16_bit_wav(tmp_path: Path) -> None:
    # 1 s of a 300 Hz tone, 16 kHz stereo: read_wav mixes it down and resamples it to 24 kHz.
    given = tmp_path / "question.wav"
    with wave.open(str(given), "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(16000)
        tone = (round(8000 * math.sin(2 * math.pi * 300 * n / 16000)) for n in range(16000))
        writer.writeframes(b"".join(struct.pack("<hh", s, s) for s in tone))
    out = tmp_path / "answer.wav"
    lines = run_example("audio_file.py", "--wav", str(given), "--out", str(out), "--fast")
    assert lines[0] == "sending 1.0 s of audio (fast)"
    assert "[vad] speech stopped at 1200 ms: turn committed" in lines  # ended by the silence sent after the file
    assert "assistant (audio transcript): You said: (1.2 s of audio)" in lines
    assert_is_the_simulators_answer(out, 1600)


def test_audio_file_saves_to_a_temporary_file_by_default_and_says_where(tmp_path: Path) -> None:
    command = [sys.executable, str(ROOT / "examples" / "audio_file.py"), "--fast"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path)  # not the repo
    assert result.returncode == 0, result.stderr
    last = result.stdout.splitlines()[-1]
    assert last.startswith("saved 1.6 s of the assistant's voice to ")
    saved = Path(last.removeprefix("saved 1.6 s of the assistant's voice to "))
    try:
        assert saved.is_absolute()
        assert saved.parent == Path(tempfile.gettempdir())
        assert saved.name.startswith("realtime-dispatch-answer-")
        assert saved.suffix == ".wav"
        assert_is_the_simulators_answer(saved, 1600)
    finally:
        saved.unlink(missing_ok=True)
    assert list(tmp_path.iterdir()) == []  # nothing written where it ran
    assert not (ROOT / "answer.wav").exists()


def test_wav_repr_shows_the_format_not_the_samples() -> None:
    wav = audio.Wav(bytes(72_000), 24_000)
    assert repr(wav) == "Wav(rate=24000, channels=1, duration_ms=1500.0, bytes=72000)"
    assert repr(audio.Wav(bytes(3), 16_000)) == "Wav(rate=16000, channels=1, duration_ms=0.1, bytes=3)"  # never raises
    assert repr(audio.Wav(b"", 0)) == "Wav(rate=0, channels=1, duration_ms=?, bytes=0)"
    assert len(repr(audio.Wav(bytes(10_000_000), 24_000))) < 100  # not the PCM
    assert wav == audio.Wav(bytes(72_000), 24_000)  # still a tuple of the PCM and its rate
    assert wav.pcm == bytes(72_000)


# --- transcription.py ----------------------------------------------------------------------------------------------


@BACKENDS
def test_transcription_streams_each_turn_and_never_answers(backend: str) -> None:
    lines = run_example("transcription.py", "--fast", backend=backend)
    assert lines == [
        "streaming 4.1 s of audio",
        "turn 1 (streaming): Hello, this is a test. (1.0 s)  [7 deltas]",
        "turn 1 (completed): Hello, this is a test. (1.0 s)",
        "turn 2 (streaming): The simulator transcribes each turn it hears. (1.7 s)  [9 deltas]",
        "turn 2 (completed): The simulator transcribes each turn it hears. (1.7 s)",
        "turn 3 (streaming): Goodbye! (1.1 s)  [3 deltas]",
        "turn 3 (completed): Goodbye! (1.1 s)",
        "3 turns transcribed",
    ]  # and no "[a response was created ...]" line: create_response is off


# --- sip_sideband.py -----------------------------------------------------------------------------------------------


@BACKENDS
def test_sip_sideband_runs_a_tool_and_clears_the_calls_audio(backend: str) -> None:
    lines = run_example("sip_sideband.py", backend=backend)
    assert "attached to the made-up call rtc_example123" in lines[0]
    expected = [
        "session.updated: instructions=\"You answer the phone for Acme's order desk. Look orders up before "
        "answering.\", tools=['lookup_order']",
        "caller: Where is my order 4417?",
        "[response.done: completed, called lookup_order]",
        "[output_audio_buffer.started] the caller hears the answer",
        "assistant (on the call): Order 4417 has shipped, and it arrives tomorrow.",
        "[output_audio_buffer.stopped] the answer has played out",
        "caller: And what is your returns policy?",
        "[supervisor] interrupts after 4 words: app.interrupt()",
        "[response.done: cancelled (client_cancelled)]",
        "session.updated: instructions='Keep every answer to one line.', tools=['lookup_order']",
        "done: closing the sideband (the call itself goes on)",
    ]
    assert_in_order(lines, expected)
    # The tool runs as a task, beside the receive loop (so just before or after that response.done), and its
    # output comes before the answer that uses it.
    tool_line = "  tool lookup_order(order_id=4417) -> shipped, arrives tomorrow"
    assert_in_order(lines, [expected[1], tool_line, expected[3]])
    # interrupt() sent output_audio_buffer.clear, before the session.update that ends the script.
    cleared = "[output_audio_buffer.cleared] the rest of the answer will not be played"
    assert_in_order(lines, [expected[7], cleared, expected[9]])
    assert lines.count("[output_audio_buffer.stopped] the answer has played out") == 1  # cleared, not stopped
    # The interrupted answer stopped early: only its first words were said (a few more may have been in flight).
    said = next(line for line in lines if line.startswith("assistant (on the call): Returns"))
    assert said.startswith("assistant (on the call): Returns are free within")
    assert not said.endswith("Refunds take five days.")


def test_sip_sideband_needs_a_call_id_for_a_real_endpoint() -> None:
    command = [sys.executable, str(ROOT / "examples" / "sip_sideband.py"), "--url", "wss://example.invalid/v1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2
    assert "--url needs --call-id" in result.stderr


# --- live_agent.py -------------------------------------------------------------------------------------------------


@BACKENDS
def test_live_agent_greets_hears_the_question_calls_both_tools_and_closes(backend: str) -> None:
    started = time.monotonic()
    lines = run_example("live_agent.py", backend=backend)
    assert time.monotonic() - started < 20  # 2.2 s of paced audio and two 1 s pauses; normally about 4.5 s
    assert lines[0] == "speaking a 2.2 s question in real time"
    expected = [
        "assistant: Greet the caller: Hello! I can check the weather or book you a table.",  # said word for word
        "user: What's the weather in Paris right now?",  # the simulator's "transcript" of the tone
        "tool: weather(city='Paris') -> It is sunny and 18 degrees in Paris.",
        "assistant: Tool weather returned: It is sunny and 18 degrees in Paris.",  # the tool's result, spoken
        "user (typed): Can I also get a booking for two at noon?",
        "tool: booking(time='12:00', party_size=2) -> {'confirmed': True, 'time': '12:00', 'party_size': 2, "
        "'table': 12}",
        'assistant: Tool booking returned: {"confirmed":true,"time":"12:00","party_size":2,"table":12}',
    ]
    assert_in_order(lines, expected)
    closed = next(line for line in lines if line.startswith("session closed"))
    assert closed.startswith("session closed (close_requested): ")
    assert closed.endswith(" s of voice billed")
    seconds = closed.removeprefix("session closed (close_requested): ").removesuffix(" s of voice billed")
    assert float(seconds) > 2.2  # the simulator bills the longer of the input and the speech queued
    assert lines[-1] == f"metrics: session_seconds={seconds}, context_usage_ratio=" + lines[-1].rsplit("=", 1)[1]
    assert 0 < float(lines[-1].rsplit("=", 1)[1]) < 1


# --- translate_file.py ---------------------------------------------------------------------------------------------


@BACKENDS
def test_translate_file_prints_both_transcripts_and_saves_the_translation(backend: str, tmp_path: Path) -> None:
    out = tmp_path / "translated.wav"
    lines = run_example("translate_file.py", "--fast", "--language", "fr", "--out", str(out), backend=backend)
    assert lines == [
        "translating 3.3 s of audio into 'fr', as fast as possible",
        "source: Good morning, everyone.",
        "fr: [fr] Good morning, everyone.",  # the simulator's "translation": the transcript, tagged
        "source: Thank you for coming today.",
        "fr: [fr] Thank you for coming today.",
        "sent 24 chunks of 200 ms (the file, then 1500 ms of silence)",
        "session closed: the translation is complete",
        f"saved 4.8 s of translated audio to {out}",
    ]
    saved = audio.read_wav(out)
    assert (saved.rate, saved.duration_ms) == (audio.PCM_RATE, 4800)  # all of it: the file and the silence after


def test_translate_file_streams_a_given_wav_in_real_time(tmp_path: Path) -> None:
    given = tmp_path / "speech.wav"
    audio.write_wav(given, struct.pack("<h", 0) * 8000 + struct.pack("<2h", 8000, -8000) * 4000, rate=16000)
    out = tmp_path / "translated.wav"
    started = time.monotonic()
    lines = run_example("translate_file.py", str(given), "--out", str(out))
    assert time.monotonic() - started >= 2.5  # 1.0 s of audio and 1.5 s of silence, paced like a microphone
    assert lines[0] == "translating 1.0 s of audio into 'es', in real time"
    assert "es: [es] Good morning, everyone." in lines
    assert "session closed: the translation is complete" in lines
    assert audio.read_wav(out).duration_ms == 2500  # all that was sent came back
