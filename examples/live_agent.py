"""A GPT-Live voice agent: a greeting, a spoken question, two ``@tool``s through Responses delegation, usage.

Shows:

- a ``LiveApp`` whose ``session`` is a ``live.SessionConfig``: the Live model (``gpt-live-1``) talks, and a
  Responses model it delegates to (``live.DelegationResponses``) calls the tools. The ``@tool`` methods are
  declared in ``session.delegation.responses.tools`` for you, and the library runs each delegated call, sends
  its output (``response.item.create``) and one ``response.create`` to continue;
- the greeting: the Live model never speaks first, so ``on_connect`` appends instructions that make it speak;
- the microphone: GPT-Live has no turns and no commits, so the input is one continuous stream. The question is
  sent with ``audio.send_audio`` at the pace of a live microphone, then silence keeps flowing until the end;
- both transcripts (``session.input_transcript.delta``, ``session.output_transcript.delta``), which have no "done"
  event: the example groups the deltas by speaker, and takes a second without new speech as "finished talking";
- a typed message for the backend model (``create_response_item`` + ``create_response``), as a chat box beside
  the call would send it;
- ``close()``: ``session.close``, then ``session.closed`` in ``conn.outcome.final`` with the billed seconds.

Offline, against the built-in simulator (no key, no network). The simulator has no speech recognition: its
default transcript of audio is its duration, which names no tool, so the example gives it a ``transcribe`` that
hears the generated tone as ``QUESTION``. The simulated model calls a tool whose name the user says, with
arguments made up from the tool's schema, says what the tool returned, and says appended instructions word for
word (the real model follows them instead):

    .venv/bin/python examples/live_agent.py [--trio]

Against the real service (OPENAI_API_KEY from the environment), with your own recording of a question:

    .venv/bin/python examples/live_agent.py --url wss://api.openai.com/v1 --wav question.wav
"""

from __future__ import annotations

import argparse
import math
import sys
from array import array
from pathlib import Path
from typing import Any

import anyio

import realtime_dispatch
from realtime_dispatch import LiveApp, LiveConnection, audio, on, tool
from realtime_dispatch.events import live
from realtime_dispatch.simulator import EchoResponder, Simulator

GREETING = "Greet the caller: Hello! I can check the weather or book you a table."
QUESTION = "What's the weather in Paris right now?"  # what the simulator "hears" in the generated tone
TYPED = "Can I also get a booking for two at noon?"
TONE_MS, SILENCE_MS = 1500, 700  # the simulator's model answers after 500 ms of silence
QUIET_S = 1.0  # no new speech for this long: the assistant has finished talking


class Concierge(LiveApp):
    session = live.SessionConfig(
        model="gpt-live-1",
        instructions="You are a concise concierge on the phone. Use the tools for the weather and for bookings.",
        delegation=live.DelegationResponses(
            responses=live.ResponsesDelegationConfig(
                model="gpt-5.6-terra",
                instructions="Use the tools; answer in one short sentence.",
                parallel_tool_calls=False,  # what the migration guide suggests to start with
            )
        ),
    )
    reconnect = None  # a GPT-Live session is not resumed by a new connection: end instead
    collect_metrics = True  # app.metrics.usage["session_seconds"], context_usage_ratio

    def __init__(self) -> None:
        super().__init__()
        self.speaker = ""  # who the last transcript delta was from
        self.spoke = anyio.Event()  # set by each output transcript delta
        self.answer_coming = False  # the backend has written an answer: the model's next words say it
        self.answering = anyio.Event()  # ... and it has started saying it

    # --- the tools (run by the Responses model the Live model delegates to) --------------------

    @tool
    async def weather(self, city: str) -> str:
        """The current weather in a city.

        Args:
            city: The city's name, in English.
        """
        report = {"Paris": "sunny and 18 degrees", "Oslo": "rainy and 9 degrees"}.get(city, "mild and 20 degrees")
        result = f"It is {report} in {city}."
        self.show("tool", f"weather(city={city!r}) -> {result}")
        return result

    @tool
    async def booking(self, time: str, party_size: int = 2) -> dict[str, Any]:
        """Book a table at the hotel restaurant.

        Args:
            time: The time of the booking, 24-hour HH:MM.
            party_size: How many people.
        """
        result = {"confirmed": True, "time": time, "party_size": party_size, "table": 12}
        self.show("tool", f"booking(time={time!r}, party_size={party_size}) -> {result}")
        return result

    # --- what the session says ---------------------------------------------------------------

    async def on_connect(self, connection: LiveConnection) -> None:
        await connection.append_instructions(GREETING)  # the model does not speak first

    @on("session.input_transcript.delta")
    def heard(self, event: live.InputTranscriptDeltaEvent) -> None:
        self.show("user", event.delta, stream=True)

    @on("session.output_transcript.delta")
    def said(self, event: live.OutputTranscriptDeltaEvent) -> None:
        self.show("assistant", event.delta, stream=True)
        self.spoke.set()
        if self.answer_coming:
            self.answer_coming = False
            self.answering.set()

    @on("response.event")
    def backend(self, event: live.ResponseEvent) -> None:
        # The nested Responses stream: the text it writes after the tools is what the Live model says next.
        if event.text_delta is not None:
            self.answer_coming = True

    @on("error")
    def failed(self, event: live.ErrorEvent) -> None:
        self.show("error", f"{event.error.code}: {event.error.message}")

    def show(self, who: str, text: str, *, stream: bool = False) -> None:
        """Transcript deltas of the same speaker on one line; anything else on a line of its own."""
        if who != self.speaker or not stream:
            print(("\n" if self.speaker else "") + f"{who}: " + (text.lstrip() if stream else text), end="")
            self.speaker = who if stream else ""
            if not stream:
                print(flush=True)
        else:
            print(text, end="", flush=True)

    def end_line(self) -> None:
        if self.speaker:
            print(flush=True)
            self.speaker = ""

    async def answer_said(self) -> None:
        """Wait until the assistant has said the backend's answer (and stopped talking)."""
        await self.answering.wait()
        self.answering = anyio.Event()
        quiet = False
        while not quiet:  # no transcript "done" event: talking has stopped when nothing new comes for QUIET_S
            self.spoke = anyio.Event()
            with anyio.move_on_after(QUIET_S) as timer:
                await self.spoke.wait()
            quiet = timer.cancelled_caught


def generated_question() -> bytes:
    """1.5 s of a 220 Hz tone (10 ms fades) and 0.7 s of silence, PCM16 24 kHz: loud enough for a VAD."""
    count, fade = audio.bytes_for_ms(TONE_MS) // 2, audio.PCM_RATE // 100
    samples = array("h", bytes(2 * count))
    for n in range(count):
        envelope = min(1.0, n / fade, (count - n) / fade)
        samples[n] = round(6000 * envelope * math.sin(2 * math.pi * 220 * n / audio.PCM_RATE))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes() + audio.silence(SILENCE_MS)


async def microphone(conn: LiveConnection, question: bytes) -> None:
    """The user's side of the call: the question, then silence for as long as the session runs."""
    await audio.send_audio(conn.append_audio, question)  # Live has no commit: pass the append function
    quiet = audio.silence(100)
    async for chunk in audio.paced(iter(lambda: quiet, None)):
        await conn.append_audio(chunk)


async def talk(base_url: str | None, question: bytes) -> None:
    app = Concierge()
    print(f"speaking a {audio.duration_ms(question) / 1000:.1f} s question in real time", flush=True)
    async with app.connect(realtime_dispatch.live(base_url=base_url)) as conn:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(microphone, conn, question)
            with anyio.fail_after(60):
                await app.answer_said()
                app.show("user (typed)", TYPED)  # a chat message beside the call, for the backend model
                await conn.create_response_item(
                    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": TYPED}]}
                )
                await conn.create_response()
                await app.answer_said()
            tasks.cancel_scope.cancel()  # stop the microphone
        app.end_line()
        await conn.close()  # session.close, then wait for session.closed
    final = conn.outcome.final if conn.outcome is not None else None
    if isinstance(final, live.SessionClosedEvent):
        print(f"session closed ({final.reason}): {final.usage.seconds:.1f} s of voice billed", flush=True)
    ratio = app.metrics.context_usage_ratio
    print(f"metrics: session_seconds={app.metrics.usage['session_seconds']}, context_usage_ratio={ratio}")


async def run(url: str | None, wav: Path | None) -> None:
    if wav is not None:  # your recording, then the silence that tells the model you have finished
        question = audio.read_wav(wav, rate=audio.PCM_RATE).pcm + audio.silence(SILENCE_MS)
    else:
        question = generated_question()
    if url is not None:
        await talk(url, question)
        return

    class SimulatedEars(EchoResponder):
        """The simulator's model, hearing the tone as QUESTION (offline only: it has no speech recognition)."""

        async def transcribe(self, pcm: bytes) -> str:
            return QUESTION

    async with Simulator(responder=SimulatedEars()).serve(host="127.0.0.1", port=0) as base_url:
        await talk(base_url, question)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a real endpoint's base URL, e.g. wss://api.openai.com/v1 (default: simulator)")
    parser.add_argument("--wav", type=Path, help="a 16-bit PCM WAV of your question (default: a generated tone)")
    parser.add_argument("--trio", action="store_true", help="run on trio instead of asyncio")
    args = parser.parse_args()
    anyio.run(run, args.url, args.wav, backend="trio" if args.trio else "asyncio")


if __name__ == "__main__":
    main()
