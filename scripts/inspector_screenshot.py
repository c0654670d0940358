"""Make docs/img/inspector.png: a session report of a paced simulated conversation, shot in headless Chromium.

The session: a spoken question that makes the model call a tool, its spoken answer, then a long answer the user
talks over (a barge-in truncates it). Recorded with ``Recorder``, reported with ``inspector.inspect``, shot with
the test suite's DevTools driver (``tests/browser.py``). Run from the repository root:

    .venv/bin/python scripts/inspector_screenshot.py            # writes docs/img/inspector.png
"""

from __future__ import annotations

import math
import struct
import sys
import tempfile
from pathlib import Path

import anyio

from realtime_dispatch import RealtimeApp, audio, events, on, openai, tool
from realtime_dispatch.inspector import inspect
from realtime_dispatch.simulator import EchoResponder, Reply, Simulator
from realtime_dispatch.testing import Recorder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from browser import open_page  # noqa: E402  (the tests' driver; not part of the package)


def tone(ms: int) -> bytes:
    samples = 24 * ms
    return struct.pack(f"<{samples}h", *(round(8000 * math.sin(2 * math.pi * 440 * n / 24000)) for n in range(samples)))


class Caller(EchoResponder):
    """Hears the first utterance as a question for the tool, the second as an interruption."""

    def __init__(self) -> None:
        self.heard = 0

    async def transcribe(self, pcm: bytes) -> str:
        self.heard += 1
        return "What does get_weather say for Oslo?" if self.heard == 1 else "Wait, stop, that's enough."

    async def respond(self, conversation: list[events.ConversationItem], session: events.Session) -> Reply:
        last = conversation[-1] if conversation else None
        if last is not None and last.type == "function_call_output":
            return Reply(text="It is sunny in Oslo, eighteen degrees. " + " ".join(["Lovely weather."] * 12))
        return await super().respond(conversation, session)


class Agent(RealtimeApp):
    barge_in = True
    collect_metrics = True
    session = events.Session(
        type="realtime",
        output_modalities=["audio"],
        audio=events.SessionAudio(
            input=events.AudioInput(transcription=events.AudioTranscription(model="gpt-4o-transcribe"))
        ),
    )

    @tool
    async def get_weather(self, city: str) -> str:
        """The weather in a city.

        Args:
            city: The city.
        """
        await anyio.sleep(0.35)  # a lookup that takes a moment
        return f"sunny in {city}, 18 degrees"

    @on("response.output_audio.delta")
    def playing(self, event: events.ResponseOutputAudioDelta) -> None:
        self.playback.played(event.item_id, nbytes=len(event.delta) * 3 // 4)  # as a speaker would, roughly


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        recording = Path(folder) / "weather-call.jsonl"
        app = Agent()
        async with (
            Simulator(Caller(), delta_delay=0.1).serve(host="127.0.0.1", port=0) as base_url,
            app.connect(Recorder(openai("gpt-realtime", base_url=base_url), recording)) as conn,
        ):
            await audio.send_audio(conn, tone(900) + bytes(48 * 700))  # the question, at a microphone's pace
            await anyio.sleep(4.0)  # the tool, and the start of the long answer
            await audio.send_audio(conn, tone(600) + bytes(48 * 700))  # the user talks over it
            await anyio.sleep(1.5)
        report = inspect(recording, Path(folder) / "report.html")
        target = ROOT / "docs" / "img" / "inspector.png"
        with open_page(report.as_uri()) as page:
            if page.console_errors:
                raise SystemExit(f"console errors: {page.console_errors}")
            page.screenshot(target, width=1400, height=900)
        print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    anyio.run(main)
