"""Function calling with typed ``@tool``s: schemas from signatures, arguments decoded and checked.

Shows:

- tools declared as typed methods: a ``Literal`` unit, ints with defaults, a dataclass argument;
  their JSON schemas are generated from the signatures and the model's arguments are decoded
  into the same types (a ``"kelvin"`` unit never reaches your code: the model gets an error);
- ``ToolError``: a failure the model reads, without a traceback in your logs;
- a slow ``async`` tool (1 s): tools run off the receive loop, so the other calls answer and
  the server's events keep arriving (timestamped below) while it works;
- every call of one response runs concurrently, and one follow-up ``response.create`` is sent
  by the framework once all of them have answered.

Offline, a custom simulator ``Responder`` plays the model: it calls the tools with real JSON
arguments, then reads their outputs back. Run it with

    python examples/function_calling.py [--trio]

or against the real service (OPENAI_API_KEY from the environment), where the real model decides:

    python examples/function_calling.py --url wss://api.openai.com/v1 [--model gpt-realtime]
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import anyio

from realtime_dispatch import Connection, RealtimeApp, ToolError, events, on, openai, tool
from realtime_dispatch.simulator import Reply, Simulator

QUESTION = (
    "What's the weather in Paris, in Kelvin there, and in Atlantis? "
    "Remind me to pack an umbrella in 30 minutes, and find 2 seats on a flight from Paris to Oslo."
)


@dataclass
class Reminder:
    """A dataclass argument: nested types end up under ``$defs`` in the schema."""

    text: str
    minutes: int = 10


class Clock:
    """Seconds since the start, for the timestamps in the output."""

    def __init__(self) -> None:
        self.start = anyio.current_time()

    def __str__(self) -> str:
        return f"[{anyio.current_time() - self.start:4.1f}s]"


class Assistant(RealtimeApp):
    session = events.Session(type="realtime", instructions="Use the tools.", output_modalities=["text"])

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.calls: dict[str, str] = {}  # call_id -> tool name
        # An outbound middleware sees every client event before it is sent: print the tool outputs.
        self.add_middleware(self.show_outputs, outbound=True)

    # --- the tools ---------------------------------------------------------------------------

    @tool
    async def get_weather(self, city: str, unit: Literal["c", "f"] = "c") -> dict[str, object]:
        """The current weather in a city.

        Args:
            city: The city's name, in English.
            unit: Celsius ("c") or Fahrenheit ("f").
        """
        if city == "Atlantis":
            raise ToolError(f"no weather station in {city}")  # the model gets {"error": "no weather station ..."}
        celsius = {"Paris": 18, "Oslo": 9}.get(city, 20)
        return {"city": city, "temperature": celsius if unit == "c" else round(celsius * 9 / 5 + 32), "unit": unit}

    @tool
    def add_reminder(self, reminder: Reminder) -> str:
        """Remind the user of something later."""
        # A plain `def` tool runs in a worker thread: blocking code cannot stall the receive loop.
        return f"OK, I will remind you to {reminder.text} in {reminder.minutes} minutes."

    @tool(timeout=5)
    async def find_flights(self, origin: str, destination: str, passengers: int = 1) -> list[dict[str, object]]:
        """Search flights between two cities (slow: it asks an airline).

        Args:
            origin: Departure city.
            destination: Arrival city.
            passengers: Seats needed.
        """
        await anyio.sleep(1.0)  # a slow API call: the receive loop keeps going meanwhile
        return [{"flight": "RD101", "departs": "09:40", "seats": passengers, "from": origin, "to": destination}]

    # --- showing what happens -------------------------------------------------------------

    @on("response.output_item.done", when=lambda e: e.item.type == "function_call")
    def show_call(self, event: events.ResponseOutputItemDone) -> None:
        item = event.item
        self.calls[item.call_id or ""] = item.name or ""
        print(f"{self.clock} model calls {item.name}({_compact(item.arguments)})", flush=True)

    async def show_outputs(
        self, event: events.ClientEvent, call_next: Callable[[events.ClientEvent], Awaitable[None]]
    ) -> None:
        if isinstance(event, events.ConversationItemCreate) and event.item.type == "function_call_output":
            print(f"{self.clock}   -> {_compact(event.item.output)}", flush=True)
        await call_next(event)

    @on("conversation.item.done", when=lambda e: e.item.type == "function_call_output")
    def server_stored(self, event: events.ConversationItemDone) -> None:
        # Arrives while find_flights is still sleeping: events keep flowing during a slow tool.
        name = self.calls.get(event.item.call_id or "")
        print(f"{self.clock}   (the server stored {name}'s output)", flush=True)

    @on("response.output_item.added", when=lambda e: e.item.type == "message")
    def text_started(self) -> None:
        print(f"{self.clock} assistant: ", end="", flush=True)

    @on("response.output_text.delta")
    def stream(self, event: events.ResponseOutputTextDelta) -> None:
        print(event.delta, end="", flush=True)

    @on("response.output_text.done")
    def text_done(self) -> None:
        print(flush=True)

    @on("response.done")
    async def done(self, event: events.ResponseDone, conn: Connection) -> None:
        calls = [item for item in event.response.output or [] if item.type == "function_call"]
        print(f"{self.clock} response done with {len(calls)} tool call(s)", flush=True)
        if not calls:  # the answer after the tools: we are done
            await conn.close()
        # Otherwise nothing to do here: once every call has answered, the app sends response.create.

    async def on_connect(self, connection: Connection) -> None:
        print(f"user: {QUESTION}", flush=True)
        await connection.create_item(events.ConversationItem.message("user", QUESTION))
        await connection.create_response()


def _compact(arguments: str | None) -> str:
    try:
        return json.dumps(json.loads(arguments or ""), separators=(", ", ": "))
    except ValueError:
        return arguments or ""  # a tool that returns a str: sent as is


class ScriptedModel:
    """A simulator ``Responder`` standing in for the model: real tool calls, then a summary."""

    async def respond(self, conversation: list[events.ConversationItem], session: events.Session) -> Reply:
        if conversation[-1].type != "function_call_output":
            return Reply(
                text="Let me look that up.",
                tool_calls=[
                    ("get_weather", '{"city": "Paris", "unit": "c"}'),
                    ("get_weather", '{"city": "Paris", "unit": "kelvin"}'),  # not a valid unit
                    ("get_weather", '{"city": "Atlantis"}'),
                    ("add_reminder", '{"reminder": {"text": "pack an umbrella", "minutes": 30}}'),
                    ("find_flights", '{"origin": "Paris", "destination": "Oslo", "passengers": 2}'),
                ],
            )
        names = {item.call_id: str(item.name) for item in conversation if item.type == "function_call"}
        outputs = [item for item in conversation if item.type == "function_call_output"]
        return Reply(text=f"I got {len(outputs)} answers, from {', '.join(names[o.call_id] for o in outputs)}.")


async def run(url: str | None, model: str) -> None:
    if url is not None:
        await Assistant().run_async(openai(model, base_url=url))
        return
    async with Simulator(responder=ScriptedModel()).serve(host="127.0.0.1", port=0) as base_url:
        await Assistant().run_async(openai(model, base_url=base_url))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a real endpoint's base URL, e.g. wss://api.openai.com/v1 (default: simulator)")
    parser.add_argument("--model", default="gpt-realtime")
    parser.add_argument("--trio", action="store_true", help="run on trio instead of asyncio")
    args = parser.parse_args()
    # Bad arguments from the model are logged at WARNING by realtime_dispatch.tools.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    anyio.run(run, args.url, args.model, backend="trio" if args.trio else "asyncio")


if __name__ == "__main__":
    main()
