"""The demo that ``realtime-dispatch demo`` runs: a scripted conversation, offline, against the built-in simulator.

Read this file as an example of a complete ``RealtimeApp``: ``DemoApp`` streams text answers delta by delta,
declares a tool with ``@tool`` (the app runs it when the model calls it, and asks for the answer that uses its
output), and ends with a spoken turn: a generated tone, sent with ``audio.send_audio``, that the server's voice
activity detection commits, that is transcribed, and that is answered with audio.

The answers come from the simulator's echo responder, not from a model: it repeats what it hears (``You said:
...``), calls a tool when the message names one, and "transcribes" audio as its length. Run the same app
against the real service with ``realtime-dispatch demo --url wss://api.openai.com/v1`` (``OPENAI_API_KEY`` from
the environment).

It lives in the package, not in ``examples/``, so that an installed ``realtime-dispatch`` (a wheel, which ships
only the package) can run it; ``examples/demo.py`` runs it from a checkout (``python examples/demo.py``), and
``python -m realtime_dispatch.demo`` runs it anywhere.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import os
import sys
import tempfile
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import anyio

from . import events
from ._app import RealtimeApp, on
from ._connection import Connection
from ._endpoints import Endpoint, openai
from ._tools import tool
from .audio import duration_ms, send_audio

__all__ = ("QUESTIONS", "DemoApp", "Style", "main", "run", "use_color")

QUESTIONS = ("Hello! Who are you?", "What time is it? Use get_time.")
VOICE_MS = 1500  # the audio turn: a tone this long, then silence, so server VAD ends the turn
SILENCE_MS = 300
LABEL_WIDTH = 11  # "assistant: "


def use_color(stream: TextIO) -> bool:
    """Colour for ``stream``: never with ``NO_COLOR`` set (https://no-color.org), always with ``FORCE_COLOR``
    set, else only on a terminal (not ``TERM=dumb``)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Style:
    """ANSI colours and weights for the demo's output, or plain text (``color=False``)."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def _wrap(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and text else text

    def heading(self, text: str) -> str:
        return self._wrap(text, "1")

    def dim(self, text: str) -> str:
        return self._wrap(text, "2")

    def user(self, text: str) -> str:
        return self._wrap(text, "1;36")

    def assistant(self, text: str) -> str:
        return self._wrap(text, "1;32")

    def tool(self, text: str) -> str:
        return self._wrap(text, "33")

    def code(self, text: str) -> str:
        return self._wrap(text, "36")

    def error(self, text: str) -> str:
        return self._wrap(text, "1;31")


def _voice(ms: int = VOICE_MS, silence_ms: int = SILENCE_MS) -> bytes:
    """``ms`` of a 220 Hz tone (about -16 dBFS: loud enough for the simulator's VAD), then ``silence_ms`` of
    silence; PCM16 24 kHz mono."""
    count = 24 * ms
    samples = array("h", (round(5000 * math.sin(2 * math.pi * 220 * n / 24000)) for n in range(count)))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes() + bytes(48 * silence_ms)


def _session(vad: bool) -> events.Session:
    """Text answers unless asked otherwise, transcribed user audio, server VAD that commits the user's turn
    without answering it (the demo asks for a spoken answer itself), or no VAD: commit by hand."""
    detection = events.TurnDetection(type="server_vad", create_response=False) if vad else None
    return events.Session(
        type="realtime",
        instructions="Answer briefly.",
        output_modalities=["text"],
        audio=events.SessionAudio(
            input=events.AudioInput(
                transcription=events.AudioTranscription(model="gpt-4o-mini-transcribe"), turn_detection=detection
            )
        ),
    )


class DemoApp(RealtimeApp):
    """A scripted conversation: text questions (one makes the model call a tool), then an audio turn.

    Text questions get text answers, streamed. The audio turn sends a generated tone; with ``vad`` (the
    default) the server's voice activity detection commits it, else (a real endpoint, whose VAD would not take
    a tone for speech) it is committed by hand. Either way the committed turn is transcribed, and answered with
    audio and its transcript.

    ``out`` is where the conversation is printed (default stdout), ``style`` its colours (default: colour on a
    terminal, see ``use_color``), ``speaker`` the label of the answers (``"echo"`` against the simulator).
    """

    session = _session(vad=True)

    def __init__(
        self,
        questions: Sequence[str] = QUESTIONS,
        *,
        out: TextIO | None = None,
        voice: bool = True,
        vad: bool = True,
        style: Style | None = None,
        speaker: str = "assistant",
    ) -> None:
        super().__init__()
        self.questions = list(questions)
        self.asked = 0
        self.voice = voice  # end with an audio turn
        self.spoken = self.speaking = False
        self.out = out or sys.stdout
        self.style = style or Style(use_color(self.out))
        self.speaker = speaker
        self.vad = vad
        self.session = _session(vad)
        self.tools_called: dict[str, str] = {}  # call_id -> tool name
        self.line_open = False  # an answer is being printed
        self.held: list[str] = []  # lines that arrived mid-answer, printed after it
        self.audio_bytes = 0

    def say(self, text: str, end: str = "\n") -> None:
        try:
            print(text, end=end, file=self.out, flush=True)
        except BrokenPipeError:  # `realtime-dispatch demo | head`: finish the conversation quietly
            self.out = _devnull(self.out)

    def note(self, line: str) -> None:
        """Print a whole line, after the answer being streamed if there is one."""
        if self.line_open:
            self.held.append(line)
        else:
            self.say(line)

    def label(self, name: str, paint: str) -> str:
        """``name:`` padded to the answers' column, in the speaker's colour."""
        text = f"{name}:".ljust(LABEL_WIDTH - 1)
        return (self.style.user if paint == "user" else self.style.assistant)(text) + " "

    async def on_connect(self, connection: Connection) -> None:
        await self.next_turn(connection)
        await self.speak(connection)  # no questions: the audio turn comes first

    async def next_turn(self, conn: Connection) -> None:
        if self.asked < len(self.questions):
            question = self.questions[self.asked]
            self.asked += 1
            self.say(f"{self.label('you', 'user')}{question}")
            await conn.create_item(events.ConversationItem.message("user", question))
            await conn.create_response(events.ResponseParams(output_modalities=["text"]))
        elif self.voice and not self.spoken:
            self.spoken = self.speaking = True  # speak() sends the audio, in the background
            voice = self.style.dim(f"[voice: {VOICE_MS / 1000:.1f} s of a generated tone]")
            self.say(f"{self.label('you', 'user')}{voice}")
        else:
            await conn.close()

    @on("response.done", background=True)
    async def speak(self, conn: Connection) -> None:
        """Send the audio turn, off the receive loop (inline handlers run first: next_turn has set the flag)."""
        if self.speaking:
            self.speaking = False
            # As fast as the socket takes it: the simulator's VAD counts audio time, not wall-clock time.
            await send_audio(conn, _voice(), realtime=False, commit=not self.vad)

    @tool
    async def get_time(self) -> str:
        """The current time, as HH:MM."""
        return "12:34"  # a fixed time, so the demo's output is always the same

    # --- the user's voice ---------------------------------------------------------------------------

    @on("input_audio_buffer.committed")
    async def answer_aloud(self, conn: Connection) -> None:
        await conn.create_response(events.ResponseParams(output_modalities=["audio"]))

    @on("conversation.item.input_audio_transcription.completed")
    def heard(self, event: events.InputAudioTranscriptionCompleted) -> None:
        self.note(" " * LABEL_WIDTH + self.style.dim(f"transcribed: {event.transcript}"))

    # --- the assistant's answers --------------------------------------------------------------------

    @on("response.output_item.added", when=lambda e: e.item.type == "message")
    def answer_started(self) -> None:
        self.say(self.label(self.speaker, "assistant"), end="")
        self.line_open = True
        self.audio_bytes = 0

    @on("response.output_text.delta", "response.output_audio_transcript.delta")
    def stream(self, event: events.ResponseOutputTextDelta | events.ResponseOutputAudioTranscriptDelta) -> None:
        self.say(event.delta, end="")

    @on("response.output_audio.delta")
    def count_audio(self, event: events.ResponseOutputAudioDelta) -> None:
        self.audio_bytes += len(event.pcm)  # a real app would play event.pcm here

    @on("response.output_item.done", when=lambda e: e.item.type == "message")
    def answer_done(self) -> None:
        seconds = duration_ms(self.audio_bytes) / 1000
        self.say(self.style.dim(f"  [audio: {seconds:.1f} s]") if self.audio_bytes else "")
        self.line_open = False
        for line in self.held:
            self.say(line)
        self.held.clear()

    @on("response.output_item.done", when=lambda e: e.item.type == "function_call")
    def tool_called(self, event: events.ResponseOutputItemDone) -> None:
        self.tools_called[event.item.call_id or ""] = event.item.name or "?"

    @on("conversation.item.done", when=lambda e: e.item.type == "function_call_output")
    def tool_answered(self, event: events.ConversationItemDone) -> None:
        # The @tool ran and its output went back; the app then asks for the answer that uses it.
        name = self.tools_called.get(event.item.call_id or "", "?")
        self.note(" " * LABEL_WIDTH + self.style.tool(f"[tool {name}() -> {event.item.output}]"))

    @on("response.done")
    async def turn_done(self, event: events.ResponseDone, conn: Connection) -> None:
        if any(item.type == "function_call" for item in event.response.output or []):
            return  # the app runs the tool, then asks for a response with its output
        await self.next_turn(conn)

    @on("error")
    def server_error(self, event: events.ErrorEvent) -> None:
        self.say("\n" + self.style.error(f"[server error {event.error.code}: {event.error.message}]"))


def _devnull(stream: TextIO) -> TextIO:
    """Somewhere to write after ``stream``'s reader went away; for stdout, its descriptor too, so that the
    interpreter's final flush does not complain."""
    if stream is sys.stdout:
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    return open(os.devnull, "w")


def _source() -> str:
    """This file's path, relative to the current directory when it is below it."""
    path = Path(__file__).resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _what_next(app: DemoApp, report: Path | None = None) -> None:
    style = app.style
    rows = [
        ("read the demo's code", _source(), ""),
        ("serve the simulator", "realtime-dispatch simulate", "then connect to ws://127.0.0.1:8765/v1"),
        ("talk to a real model", "realtime-dispatch demo --url wss://api.openai.com/v1", "OPENAI_API_KEY set"),
    ]
    app.say(f"\n{style.heading('What next')}")
    for what, command, why in rows:
        extra = style.dim(f"  ({why})") if why else ""
        app.say(f"  {what + ':':<22}{style.code(command)}{extra}")
    if report is not None:  # last, where the eye ends
        hint = style.dim("  (this session as a timeline, with its latencies: open it in a browser)")
        app.say(f"\nreport: {style.code(report.resolve().as_uri())}{hint}")


async def run(
    url: str | None = None,
    model: str = "gpt-realtime",
    *,
    out: TextIO | None = None,
    report: str | os.PathLike[str] | bool = True,
) -> None:
    """Run the demo: against the built-in simulator (its echo responder answers), or against ``url``; then
    say what to read and run next. ``out`` defaults to stdout, in colour on a terminal (see ``use_color``).
    ``report``: record the session and write its report (``realtime-dispatch inspect``) to this HTML file, or
    (True, the default) to a new temporary directory; False: neither."""
    out = out or sys.stdout
    style = Style(use_color(out))
    title = style.heading("realtime-dispatch demo")
    if url:
        # A real server's VAD would not take the generated tone for speech: commit the audio turn by hand.
        app = DemoApp(vad=False, out=out, style=style)
        app.say(f"{title}: a scripted conversation with {model} at {url}\n")
        written = await _run_recorded(app, openai(model, base_url=url), report)
        _what_next(app, written)
        return
    from .simulator import Simulator

    app = DemoApp(out=out, style=style, speaker="echo")
    async with Simulator().serve(host="127.0.0.1", port=0) as base_url:
        app.say(f"{title}: a scripted conversation with the built-in Realtime simulator")
        app.say(style.dim(f"  serving {base_url} on this machine: no API key, no network"))
        app.say(f"  The answers come from the simulator's {style.heading('echo responder')}, not a model: it repeats")
        app.say('  what it hears, calls a tool the message names, and "transcribes" audio as its length.\n')
        written = await _run_recorded(app, openai(model, base_url=base_url), report)
    _what_next(app, written)


async def _run_recorded(app: DemoApp, endpoint: Endpoint, report: str | os.PathLike[str] | bool) -> Path | None:
    """Run the app, recorded by a ``Recorder`` (secrets scrubbed), then write the session's report: its path."""
    if report is False:
        await app.run_async(endpoint)
        return None
    from .testing import Recorder

    html = Path(tempfile.mkdtemp(prefix="realtime-dispatch-demo-")) / "demo.html" if report is True else Path(report)
    recording = html.with_suffix(".jsonl") if html.suffix != ".jsonl" else html.with_name(html.name + ".jsonl")
    await app.run_async(Recorder(endpoint, recording))
    from .inspector import inspect

    try:
        return inspect(recording, html)
    except (OSError, ValueError) as exc:
        app.say("\n" + app.style.error(f"[report not written: {exc}]"))
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m realtime_dispatch.demo [--url URL] [--model M] [--trio] [--report PATH | --no-report]``: the same
    as ``realtime-dispatch demo``. Exit 0, or 130 on Ctrl-C."""
    parser = argparse.ArgumentParser(prog="realtime_dispatch.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a real endpoint's base URL instead (e.g. wss://api.openai.com/v1)")
    parser.add_argument("--model", default="gpt-realtime")
    parser.add_argument("--trio", action="store_true", help="run on trio instead of asyncio")
    reports = parser.add_mutually_exclusive_group()
    reports.add_argument(
        "--report", metavar="REPORT.html", help="write the session's report here (default: a temp file)"
    )
    reports.add_argument("--no-report", action="store_true", help="do not record the session nor write its report")
    args = parser.parse_args(argv)
    report: str | bool = False if args.no_report else args.report or True
    try:
        anyio.run(
            functools.partial(run, args.url, args.model, report=report), backend="trio" if args.trio else "asyncio"
        )
    except KeyboardInterrupt:
        return 130
    except BaseExceptionGroup as group:  # trio: Ctrl-C inside a task group
        if group.split(KeyboardInterrupt)[1] is not None:
            raise
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
