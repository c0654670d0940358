"""Live transcription: stream audio in, get the words back as they are recognised, and no answers.

Shows:

- ``audio.input.transcription`` with a streaming model (``gpt-4o-mini-transcribe``): each turn's words arrive as
  ``conversation.item.input_audio_transcription.delta`` events, then ``.completed`` with the whole transcript;
- server VAD with ``create_response: false``: the server cuts the audio into turns (``input_audio_buffer.committed``
  each time the speaker pauses) and transcribes each one, but the model never answers;
- deltas told apart by ``item_id`` (on the live service one turn's transcription may still be running when the
  next turn is committed);
- knowing when everything sent has been transcribed: ``conn.request(...)`` waits for the server's reply to an event
  sent after the audio, so every turn the audio contained has been committed by then.

Why not a transcription session? The GA API has one (``session.update`` with ``session.type: "transcription"``),
but the built-in simulator does not model it: it accepts the type and goes on answering every turn. A realtime
session whose turn detection does not create responses gives the same events, on the simulator and on the live
service alike. (On the live service a transcription session also skips the model's per-response costs; to use one,
send ``events.Session(type="transcription", audio=...)`` instead, with the same ``audio.input`` settings.)

Offline, the simulator plays the transcriber (a ``transcribe(pcm)`` method on its responder) and the "speech" is
three generated tone bursts separated by pauses:

    python examples/transcription.py [--fast] [--trio]

Against the real service (OPENAI_API_KEY from the environment), with a 16-bit PCM WAV file of speech:

    python examples/transcription.py --wav speech.wav --url wss://api.openai.com/v1 [--model gpt-realtime]
"""

from __future__ import annotations

import argparse
import math
import sys
from array import array
from pathlib import Path

import anyio

from realtime_dispatch import RealtimeApp, audio, events, on, openai
from realtime_dispatch.simulator import Reply

BURSTS_MS = (800, 1200, 600)  # the generated "speech": three turns
PAUSE_MS = 500  # silence after each: more than the VAD's 200 ms, so each burst is a turn of its own
SENTENCES = ("Hello, this is a test.", "The simulator transcribes each turn it hears.", "Goodbye!")


def generated_speech() -> bytes:
    """Tone bursts at 220 Hz, each followed by a pause; PCM16 24 kHz mono."""
    samples = array("h")
    for burst in BURSTS_MS:
        count = audio.PCM_RATE * burst // 1000
        samples.extend(round(6000 * math.sin(2 * math.pi * 220 * n / audio.PCM_RATE)) for n in range(count))
        samples.extend([0] * (audio.PCM_RATE * PAUSE_MS // 1000))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


class ScriptedTranscriber:
    """A simulator responder that "transcribes" each committed turn as the next sentence of a script.

    The simulator calls ``transcribe(pcm)`` with each committed turn's audio; ``respond`` is never called here,
    since turn detection creates no responses.
    """

    def __init__(self) -> None:
        self.turns = 0

    async def transcribe(self, pcm: bytes) -> str:
        sentence = SENTENCES[self.turns % len(SENTENCES)]
        self.turns += 1
        return f"{sentence} ({audio.duration_ms(pcm) / 1000:.1f} s)"

    async def respond(self, conversation: list[events.ConversationItem], session: events.Session) -> Reply:
        return Reply(text="(a transcription-only session never asks for this)")


class Transcriber(RealtimeApp):
    session = events.Session(
        type="realtime",
        output_modalities=["text"],
        audio=events.SessionAudio(
            input=events.AudioInput(
                transcription=events.AudioTranscription(model="gpt-4o-mini-transcribe"),
                turn_detection=events.TurnDetection(type="server_vad", create_response=False),
            )
        ),
    )

    def __init__(self) -> None:
        super().__init__()
        self.turns: list[str] = []  # item ids, in commit order
        self.transcripts: dict[str, str] = {}  # item id -> final transcript
        self.streaming: str | None = None  # the item whose deltas the current line shows
        self.deltas = 0  # on the current line
        self.all_done = anyio.Event()
        self.updates = 0  # session.updated events: the app's session, then the fence
        self.fence = anyio.Event()
        self.fenced = False  # the server has seen everything sent

    @on("session.updated")
    def session_updated(self) -> None:
        self.updates += 1
        if self.updates == 2:
            self.fence.set()

    def number(self, item_id: str) -> int:
        return self.turns.index(item_id) + 1 if item_id in self.turns else 0

    def end_line(self) -> None:
        if self.streaming is not None:
            print(f"  [{self.deltas} deltas]", flush=True)
            self.streaming = None

    @on("input_audio_buffer.committed")
    def committed(self, event: events.InputAudioBufferCommitted) -> None:
        self.turns.append(event.item_id)

    @on("response.created")
    def unexpected_response(self) -> None:
        print("[a response was created: turn detection should not create any]", flush=True)

    @on("conversation.item.input_audio_transcription.delta")
    def partial(self, event: events.InputAudioTranscriptionDelta) -> None:
        if self.streaming != event.item_id:  # a new turn, or deltas of two turns interleaved
            self.end_line()
            print(f"turn {self.number(event.item_id)} (streaming): ", end="", flush=True)
            self.streaming, self.deltas = event.item_id, 0
        print(event.delta, end="", flush=True)
        self.deltas += 1

    @on("conversation.item.input_audio_transcription.completed")
    def completed(self, event: events.InputAudioTranscriptionCompleted) -> None:
        self.end_line()
        print(f"turn {self.number(event.item_id)} (completed): {event.transcript}", flush=True)
        self.transcripts[event.item_id] = event.transcript
        self.check_done()

    @on("conversation.item.input_audio_transcription.failed")
    def failed(self, event: events.InputAudioTranscriptionFailed) -> None:
        self.end_line()
        print(f"turn {self.number(event.item_id)} failed: {event.error.message}", flush=True)
        self.transcripts[event.item_id] = ""
        self.check_done()

    @on("error")
    def server_error(self, event: events.ErrorEvent) -> None:
        self.end_line()
        print(f"[server error {event.error.code}: {event.error.message}]", flush=True)

    def check_done(self) -> None:
        if self.fenced and all(turn in self.transcripts for turn in self.turns):
            self.all_done.set()


async def transcribe(url: str, model: str, pcm: bytes, fast: bool) -> None:
    app = Transcriber()
    async with app.connect(openai(model, base_url=url)) as conn:
        print(f"streaming {audio.duration_ms(pcm) / 1000:.1f} s of audio{'' if fast else ' in real time'}", flush=True)
        await audio.send_audio(conn, pcm, realtime=not fast)
        # A fence: the server answers events in order, so once it has answered this one it has seen all the
        # audio, and every turn in it has been committed (input_audio_buffer.committed has arrived). Its answer
        # is the second session.updated (the first answers the app's own session): request() could not tell.
        await conn.update_session(Transcriber.session)
        with anyio.fail_after(30):
            await app.fence.wait()
        app.fenced = True
        app.check_done()
        with anyio.fail_after(30):
            await app.all_done.wait()
    print(f"{len(app.turns)} turns transcribed", flush=True)


async def run(url: str | None, model: str, wav: Path | None, fast: bool) -> None:
    pcm = generated_speech() if wav is None else audio.read_wav(wav, rate=audio.PCM_RATE).pcm
    if wav is not None:
        pcm += bytes(audio.bytes_for_ms(1000))  # trailing silence, so the VAD ends the last turn
    if url is not None:
        await transcribe(url, model, pcm, fast)
        return
    from realtime_dispatch.simulator import Simulator

    async with Simulator(responder=ScriptedTranscriber()).serve(host="127.0.0.1", port=0) as base_url:
        await transcribe(base_url, model, pcm, fast)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wav", type=Path, help="a 16-bit PCM WAV file to transcribe (default: generated bursts)")
    parser.add_argument("--fast", action="store_true", help="send the audio as fast as possible, not in real time")
    parser.add_argument("--url", help="a real endpoint's base URL, e.g. wss://api.openai.com/v1 (default: simulator)")
    parser.add_argument("--model", default="gpt-realtime")
    parser.add_argument("--trio", action="store_true", help="run on trio instead of asyncio")
    args = parser.parse_args()
    anyio.run(run, args.url, args.model, args.wav, args.fast, backend="trio" if args.trio else "asyncio")


if __name__ == "__main__":
    main()
