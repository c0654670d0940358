"""Talk to the model with a WAV file: stream it as the user's voice, save the spoken answer to a WAV file.

Shows:

- ``audio.read_wav(path, rate=24000)``: any 16-bit PCM WAV (any rate, any channel count) as the API's PCM16
  24 kHz mono;
- ``audio.send_audio``: the file goes out in 20 ms chunks at the pace of a live microphone, and server VAD
  (on by default) notices where the speech starts and stops, commits the turn and starts the answer;
- input audio transcription (what the model heard) and the answer's audio transcript;
- the answer's audio, ``event.pcm`` of each ``response.output_audio.delta``, saved with ``audio.write_wav``.

By default the "voice" is generated: a 1.5 s tone burst and 0.6 s of silence, written to a temporary WAV file
and read back, so no audio file ships with the example. Offline, against the built-in simulator (its VAD takes
the tone for speech; its "transcription" of audio is the audio's length, and it answers with a tone):

    .venv/bin/python examples/audio_file.py [--out answer.wav] [--fast] [--trio]

The answer goes to ``--out``, or by default to a new temporary file (``/tmp/realtime-dispatch-answer-*.wav``):
the last line prints its path.

``--fast`` sends the audio as fast as the connection takes it (the simulator's VAD counts audio time, so the
result is the same). With your own recording, against the real service (OPENAI_API_KEY from the environment):

    .venv/bin/python examples/audio_file.py --wav question.wav --url wss://api.openai.com/v1 [--model gpt-realtime]
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

from realtime_dispatch import RealtimeApp, audio, events, on, openai

TONE_MS = 1500
SILENCE_MS = 600
TAIL_MS = 1000  # silence sent after a --wav file: recordings often stop right after the last word


def generated_voice(path: Path) -> None:
    """Write the default input: a 1.5 s 220 Hz tone burst (10 ms fades), then 0.6 s of silence."""
    count, fade = audio.PCM_RATE * TONE_MS // 1000, audio.PCM_RATE // 100
    samples = array("h", bytes(2 * (count + audio.PCM_RATE * SILENCE_MS // 1000)))
    for n in range(count):
        envelope = min(1.0, n / fade, (count - n) / fade)
        samples[n] = round(6000 * envelope * math.sin(2 * math.pi * 220 * n / audio.PCM_RATE))
    if sys.byteorder == "big":
        samples.byteswap()
    audio.write_wav(path, samples.tobytes())


class VoiceTurn(RealtimeApp):
    session = events.Session(
        type="realtime",
        instructions="Answer briefly.",
        output_modalities=["audio"],
        audio=events.SessionAudio(
            input=events.AudioInput(
                # Transcribe what the user says (the model itself hears the audio, not this text).
                transcription=events.AudioTranscription(model="gpt-4o-mini-transcribe"),
                # Server VAD commits the turn and starts the answer (the service's default, spelled out).
                turn_detection=events.TurnDetection(type="server_vad", create_response=True),
            )
        ),
    )

    def __init__(self) -> None:
        super().__init__()
        self.answer = bytearray()  # the assistant's voice, PCM16 24 kHz mono
        self.answered = anyio.Event()
        self.transcribed = anyio.Event()

    @on("input_audio_buffer.speech_started")
    def speech_started(self, event: events.InputAudioBufferSpeechStarted) -> None:
        print(f"[vad] speech started at {event.audio_start_ms} ms", flush=True)

    @on("input_audio_buffer.speech_stopped")
    def speech_stopped(self, event: events.InputAudioBufferSpeechStopped) -> None:
        print(f"[vad] speech stopped at {event.audio_end_ms} ms: turn committed", flush=True)

    @on("conversation.item.input_audio_transcription.completed")
    def heard(self, event: events.InputAudioTranscriptionCompleted) -> None:
        print(f"user (transcribed): {event.transcript}", flush=True)
        self.transcribed.set()

    @on("conversation.item.input_audio_transcription.failed")
    def not_heard(self, event: events.InputAudioTranscriptionFailed) -> None:
        print(f"user (transcription failed): {event.error.message}", flush=True)
        self.transcribed.set()

    @on("response.output_audio.delta")
    def keep_audio(self, event: events.ResponseOutputAudioDelta) -> None:
        self.answer += event.pcm  # base64-decoded on access; a player would play it here instead

    @on("response.output_audio_transcript.done")
    def said(self, event: events.ResponseOutputAudioTranscriptDone) -> None:
        print(f"assistant (audio transcript): {event.transcript}", flush=True)

    @on("response.done")
    def done(self, event: events.ResponseDone) -> None:
        print(f"[response {event.response.status}]", flush=True)
        self.answered.set()

    @on("error")
    def server_error(self, event: events.ErrorEvent) -> None:
        print(f"[server error {event.error.code}: {event.error.message}]", flush=True)


async def talk(url: str, model: str, wav: Path | None, out: Path, fast: bool) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        if wav is None:
            wav = Path(scratch) / "voice.wav"
            generated_voice(wav)
            tail = b""
        else:
            tail = bytes(audio.bytes_for_ms(TAIL_MS))
        voice = audio.read_wav(wav, rate=audio.PCM_RATE)  # resampled to 24 kHz and mixed to mono if need be
    print(f"sending {voice.duration_ms / 1000:.1f} s of audio{' (fast)' if fast else ' in real time'}", flush=True)
    app = VoiceTurn()
    async with app.connect(openai(model, base_url=url)) as conn:
        chunks = await audio.send_audio(conn, voice.pcm + tail, realtime=not fast)
        print(f"sent {chunks} chunks of 20 ms", flush=True)
        with anyio.fail_after(60):
            await app.answered.wait()
        with anyio.move_on_after(5):  # on the live service the transcript may come after the answer
            await app.transcribed.wait()
    audio.write_wav(out, app.answer)
    print(f"saved {audio.duration_ms(app.answer) / 1000:.1f} s of the assistant's voice to {out}", flush=True)


async def run(url: str | None, model: str, wav: Path | None, out: Path, fast: bool) -> None:
    if url is not None:
        await talk(url, model, wav, out, fast)
        return
    from realtime_dispatch.simulator import Simulator

    async with Simulator().serve(host="127.0.0.1", port=0) as base_url:
        await talk(base_url, model, wav, out, fast)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wav", type=Path, help="a 16-bit PCM WAV file to send (default: a generated tone burst)")
    parser.add_argument("--out", type=Path, help="where to save the assistant's voice (default: a new temporary file)")
    parser.add_argument("--fast", action="store_true", help="send the audio as fast as possible, not in real time")
    parser.add_argument("--url", help="a real endpoint's base URL, e.g. wss://api.openai.com/v1 (default: simulator)")
    parser.add_argument("--model", default="gpt-realtime")
    parser.add_argument("--trio", action="store_true", help="run on trio instead of asyncio")
    args = parser.parse_args()
    out = args.out or temporary_wav()
    anyio.run(run, args.url, args.model, args.wav, out, args.fast, backend="trio" if args.trio else "asyncio")


def temporary_wav() -> Path:
    """A new, empty file in the temporary directory (kept after the run, so that you can play it)."""
    descriptor, name = tempfile.mkstemp(prefix="realtime-dispatch-answer-", suffix=".wav")
    os.close(descriptor)
    return Path(name)


if __name__ == "__main__":
    main()
