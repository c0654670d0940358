"""Translate a WAV file with Realtime Translation: stream it like a microphone, print both transcripts, save the
translated speech to a WAV file.

Shows:

- a ``TranslationApp``: its ``session`` (the target language, source transcription) goes out as ``session.update``
  on connect. A translation session has no turns, responses or tools: audio in, translated audio and transcripts
  out. One session translates into one language: run one per language;
- ``audio.send_audio(conn.append_audio, wav, chunk_ms=200, trailing_silence_ms=...)``: any 16-bit WAV, resampled to
  24 kHz mono, in the engine's 200 ms frames at the pace of a live microphone, then silence, which the engine
  needs to finish the last words (a gap in the audio is not a pause to it: keep streaming, silence included);
- ``session.input_transcript.delta`` and ``session.output_transcript.delta``: append-only deltas, printed as they
  come, grouped by stream;
- ``close()``: ``session.close``, after which the server flushes the input, sends the rest of the translation and
  ends with ``session.closed`` (``conn.outcome.final``); the audio that came before it is all there.

By default the input is generated: two tone bursts standing for two sentences. Offline, against the built-in
simulator, which "translates" by sending the input audio back and tagging each sentence's transcript with the
target language (it has no speech recognition: the example gives it a ``transcribe`` that hears the bursts as
``SENTENCES``):

    .venv/bin/python examples/translate_file.py [speech.wav] [--language fr] [--out translated.wav] [--fast] [--trio]

``--fast`` sends the audio as fast as the connection takes it (the simulator counts audio time, so the result is
the same; the real service wants real-time pace). Against the real service (OPENAI_API_KEY from the environment):

    .venv/bin/python examples/translate_file.py speech.wav --url wss://api.openai.com/v1 --language de
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from array import array
from pathlib import Path

import anyio

import realtime_dispatch
from realtime_dispatch import TranslationApp, audio, on
from realtime_dispatch.events import translation
from realtime_dispatch.simulator import EchoResponder, Simulator

SENTENCES = ["Good morning, everyone.", "Thank you for coming today."]  # what the simulator hears in the bursts
BURSTS_MS = (1200, 900)  # the generated input: a tone burst per sentence, 600 ms of silence after each
TRAILING_SILENCE_MS = 1500  # after the file: lets the engine finish the last words


class Translator(TranslationApp):
    reconnect = None  # a new connection would be a new session: end instead

    def __init__(self, language: str) -> None:
        super().__init__()
        self.session = translation.SessionUpdateRequest(
            audio=translation.SessionAudio(
                input=translation.AudioInput(transcription=translation.Transcription(model="gpt-realtime-whisper")),
                output=translation.AudioOutput(language=language),
            )
        )
        self.language = language
        self.translated = bytearray()  # the translated speech, PCM16 24 kHz mono
        self.stream = ""  # which transcript the current line shows

    @on("session.input_transcript.delta")
    def heard(self, event: translation.InputTranscriptDeltaEvent) -> None:
        self.show("source", event.delta)

    @on("session.output_transcript.delta")
    def translated_text(self, event: translation.OutputTranscriptDeltaEvent) -> None:
        self.show(self.language, event.delta)

    @on("session.output_audio.delta")
    def translated_audio(self, event: translation.OutputAudioDeltaEvent) -> None:
        self.translated += event.pcm  # a player would play it here

    @on("error")
    def failed(self, event: translation.ErrorEvent) -> None:
        self.end_line()
        print(f"[server error {event.error.code}: {event.error.message}]", flush=True)

    def show(self, stream: str, delta: str) -> None:
        """Deltas are appended as they are, spaces included; a new line when the other stream speaks."""
        if stream != self.stream:
            self.end_line()
            print(f"{stream}: {delta.lstrip()}", end="", flush=True)
            self.stream = stream
        else:
            print(delta, end="", flush=True)

    def end_line(self) -> None:
        if self.stream:
            print(flush=True)
            self.stream = ""


def generated_speech(path: Path) -> None:
    """Write the default input: a 220 Hz tone burst per sentence (10 ms fades), each followed by 600 ms of silence."""
    pcm = b""
    fade = audio.PCM_RATE // 100
    for burst_ms in BURSTS_MS:
        count = audio.bytes_for_ms(burst_ms) // 2
        samples = array("h", bytes(2 * count))
        for n in range(count):
            envelope = min(1.0, n / fade, (count - n) / fade)
            samples[n] = round(6000 * envelope * math.sin(2 * math.pi * 220 * n / audio.PCM_RATE))
        if sys.byteorder == "big":
            samples.byteswap()
        pcm += samples.tobytes() + audio.silence(600)
    audio.write_wav(path, pcm)


async def translate(base_url: str | None, source: audio.Wav, language: str, out: Path, fast: bool) -> None:
    app = Translator(language)
    pace = "as fast as possible" if fast else "in real time"
    print(f"translating {source.duration_ms / 1000:.1f} s of audio into {language!r}, {pace}", flush=True)
    async with app.connect(realtime_dispatch.translation(base_url=base_url)) as conn:
        chunks = await audio.send_audio(
            conn.append_audio, source, chunk_ms=200, trailing_silence_ms=TRAILING_SILENCE_MS, realtime=not fast
        )
        await conn.close()  # session.close: the server flushes the rest, then session.closed
    app.end_line()
    print(f"sent {chunks} chunks of 200 ms (the file, then {TRAILING_SILENCE_MS} ms of silence)", flush=True)
    if conn.outcome is not None and isinstance(conn.outcome.final, translation.SessionClosedEvent):
        print("session closed: the translation is complete", flush=True)
    audio.write_wav(out, app.translated)
    print(f"saved {audio.duration_ms(app.translated) / 1000:.1f} s of translated audio to {out}", flush=True)


async def run(url: str | None, wav: Path | None, language: str, out: Path, fast: bool) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        if wav is None:
            wav = Path(scratch) / "speech.wav"
            generated_speech(wav)
        source = audio.read_wav(wav)  # any rate and channel count: send_audio resamples to 24 kHz
    if url is not None:
        await translate(url, source, language, out, fast)
        return

    class SimulatedEars(EchoResponder):
        """The simulator's "speech recognition": each burst it hears is the next of SENTENCES (offline only)."""

        def __init__(self) -> None:
            self.heard = 0

        async def transcribe(self, pcm: bytes) -> str:
            self.heard += 1
            return SENTENCES[(self.heard - 1) % len(SENTENCES)]

    async with Simulator(responder=SimulatedEars()).serve(host="127.0.0.1", port=0) as base_url:
        await translate(base_url, source, language, out, fast)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wav", nargs="?", type=Path, help="a 16-bit PCM WAV to translate (default: generated)")
    parser.add_argument("--language", default="es", help="the target language (default: es)")
    parser.add_argument("--out", type=Path, help="where to save the translated audio (default: a new temporary file)")
    parser.add_argument("--fast", action="store_true", help="send the audio as fast as possible, not in real time")
    parser.add_argument("--url", help="a real endpoint's base URL, e.g. wss://api.openai.com/v1 (default: simulator)")
    parser.add_argument("--trio", action="store_true", help="run on trio instead of asyncio")
    args = parser.parse_args()
    out = args.out or temporary_wav()
    backend = "trio" if args.trio else "asyncio"
    anyio.run(run, args.url, args.wav, args.language, out, args.fast, backend=backend)


def temporary_wav() -> Path:
    """A new, empty file in the temporary directory (kept after the run, so that you can play it)."""
    descriptor, name = tempfile.mkstemp(prefix="realtime-dispatch-translated-", suffix=".wav")
    os.close(descriptor)
    return Path(name)


if __name__ == "__main__":
    main()
