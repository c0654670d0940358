"""The ``realtime-dispatch`` command: a demo against the built-in simulator, the simulator
itself, and replays of recorded sessions."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import TextIO

import anyio

from . import __version__, events
from ._app import RealtimeApp, on
from ._connection import Connection
from ._endpoints import openai

__all__ = ("DemoApp", "main")

QUESTIONS = ("Hello! Who are you?", "What time is it? Use get_time.", "Thanks, goodbye.")

TOOLS = [
    events.Tool(
        type="function",
        name="get_time",
        description="The current time, as HH:MM.",
        parameters={"type": "object", "properties": {}, "additionalProperties": False},
    )
]


class DemoApp(RealtimeApp):
    """A scripted text conversation: asks each question, streams each answer, runs a tool."""

    session = events.Session(type="realtime", instructions="Answer briefly.", output_modalities=["text"], tools=TOOLS)

    def __init__(self, questions: Sequence[str] = QUESTIONS, *, out: TextIO | None = None) -> None:
        super().__init__()
        self.questions = list(questions)
        self.asked = 0
        self.out = out or sys.stdout

    def say(self, text: str, end: str = "\n") -> None:
        print(text, end=end, file=self.out, flush=True)

    async def on_connect(self, connection: Connection) -> None:
        await self.ask(connection)

    async def ask(self, conn: Connection) -> None:
        question = self.questions[self.asked]
        self.asked += 1
        self.say(f"you:       {question}")
        await conn.create_item(events.ConversationItem.message("user", question))
        await conn.create_response()
        self.say("assistant: ", end="")

    @on("response.output_text.delta")
    def stream(self, event: events.ResponseOutputTextDelta) -> None:
        self.say(event.delta, end="")

    @on("response.function_call_arguments.done")
    async def run_tool(self, event: events.ResponseFunctionCallArgumentsDone, conn: Connection) -> None:
        self.say(f"[tool {event.name}({event.arguments})]", end=" ")
        output = "12:34" if event.name == "get_time" else json.dumps({"error": f"unknown tool {event.name}"})
        await conn.create_item(events.ConversationItem.function_call_output(event.call_id, output))

    @on("response.done")
    async def next_turn(self, event: events.ResponseDone, conn: Connection) -> None:
        calls = [item for item in event.response.output or [] if item.type == "function_call"]
        if calls:
            await conn.create_response()  # the tool output is in: let the model answer with it
            return
        self.say("")
        if self.asked < len(self.questions):
            await self.ask(conn)
        else:
            await conn.close()

    @on("error")
    def server_error(self, event: events.ErrorEvent) -> None:
        self.say(f"\n[server error {event.error.code}: {event.error.message}]")


async def _demo(url: str | None, model: str) -> None:
    if url:
        await DemoApp().run_async(openai(model, base_url=url))
        return
    from .simulator import Simulator

    async with Simulator().serve(host="127.0.0.1", port=0) as base_url:
        print(f"(built-in simulator at {base_url}: no API key, no network)", flush=True)
        await DemoApp().run_async(openai(model, base_url=base_url))


async def _simulate(host: str, port: int) -> None:
    from .simulator import Simulator

    async with Simulator().serve(host=host, port=port) as base_url:
        print(f"Realtime simulator listening at {base_url}/realtime (Ctrl-C to stop)", flush=True)
        await anyio.sleep_forever()


def main(argv: Sequence[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--trio", action="store_true", help="run on trio instead of asyncio")
    common.add_argument("-v", "--verbose", action="store_true", help="log connection lifecycle (INFO)")
    parser = argparse.ArgumentParser(prog="realtime-dispatch", description=__doc__)
    parser.add_argument("--version", action="version", version=f"realtime-dispatch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", parents=[common], help="a scripted conversation against the built-in simulator")
    demo.add_argument("--url", help="a real endpoint's base URL instead (e.g. wss://api.openai.com/v1)")
    demo.add_argument("--model", default="gpt-realtime")
    simulate = commands.add_parser("simulate", parents=[common], help="run the Realtime simulator as a server")
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=8765)
    replay = commands.add_parser(
        "replay", parents=[common], help="print the events of a recorded session (JSONL of server frames)"
    )
    replay.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    backend = "trio" if args.trio else "asyncio"

    if args.command == "demo":
        anyio.run(_demo, args.url, args.model, backend=backend)
    elif args.command == "simulate":
        with suppress(KeyboardInterrupt):
            anyio.run(_simulate, args.host, args.port, backend=backend)
    elif args.command == "replay":
        return _replay(args.file)
    return 0


def _replay(path: Path) -> int:
    bad = 0
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = events.decode(line)
        except events.DecodeError as exc:
            bad += 1
            print(f"{number:5d}  DecodeError: {exc}")
            continue
        print(f"{number:5d}  {event.type}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
