"""An interactive text chat in the terminal: type a line, watch the answer stream in.

Shows a ``RealtimeApp`` driven from outside with ``app.connect(...)``: the main task reads
stdin (in a daemon thread, so the event loop keeps receiving), sends each line as a user
message and waits for the answer, while an ``@on`` handler prints the text deltas as they
arrive. ``/quit`` or end of input (Ctrl-D) ends the chat; Ctrl-C ends it at once (exit status 130).

Offline, against the built-in simulator (it answers "You said: ..."):

    python examples/text_chat.py [--trio]
    printf 'Hello\\nHow are you?\\n' | python examples/text_chat.py

Against the real service (OPENAI_API_KEY from the environment):

    python examples/text_chat.py --url wss://api.openai.com/v1 [--model gpt-realtime]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from contextlib import AsyncExitStack

import anyio
import anyio.from_thread

from realtime_dispatch import Connection, RealtimeApp, events, on, openai


class Chat(RealtimeApp):
    # Sent as session.update on every connect: text answers only, no audio.
    session = events.Session(type="realtime", instructions="Answer in a sentence or two.", output_modalities=["text"])

    def __init__(self) -> None:
        super().__init__()
        self.answered = anyio.Event()

    @on("response.output_text.delta")
    def stream(self, event: events.ResponseOutputTextDelta) -> None:
        # Inline handlers run in the receive loop, in arrival order: deltas never get reordered.
        print(event.delta, end="", flush=True)

    @on("response.done")
    def done(self, event: events.ResponseDone) -> None:
        if event.response.status != "completed":
            print(f" [{event.response.status}]", end="")
        print(flush=True)
        self.answered.set()

    @on("error")
    def server_error(self, event: events.ErrorEvent) -> None:
        print(f"\n[server error {event.error.code}: {event.error.message}]", flush=True)
        self.answered.set()

    async def ask(self, conn: Connection, text: str) -> None:
        """Send one user message, ask for a response, and wait until it is done."""
        self.answered = anyio.Event()  # made before sending, so the answer cannot slip past us
        await conn.create_item(events.ConversationItem.message("user", text))
        await conn.create_response()
        print("assistant> ", end="", flush=True)
        await self.answered.wait()


async def stdin_readline(portal: anyio.from_thread.BlockingPortal) -> str:
    """``sys.stdin.readline()`` in a daemon thread, so the event loop keeps running meanwhile.

    Not ``anyio.to_thread.run_sync``: its worker threads are joined when the program exits, so a
    read still waiting after Ctrl-C would keep the process alive until the user presses Enter. A
    daemon thread is simply dropped at exit. ``portal`` lets the thread wake the waiting task."""
    done = anyio.Event()
    outcome: list[str | BaseException] = []

    def read() -> None:
        try:
            outcome.append(sys.stdin.readline())
        except BaseException as exc:  # handed to the waiting task
            outcome.append(exc)
        with contextlib.suppress(RuntimeError):  # the portal has closed (Ctrl-C): nobody waits for this line
            portal.call(done.set)

    threading.Thread(target=read, name="stdin reader", daemon=True).start()
    await done.wait()  # cancelled by Ctrl-C at once; the thread is left to its read
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


async def read_line(prompt: str, portal: anyio.from_thread.BlockingPortal) -> str | None:
    """The next line of stdin, or None at end of input, read without blocking the event loop."""
    print(prompt, end="", flush=True)
    line = await stdin_readline(portal)
    if not line:
        print()
        return None
    if not sys.stdin.isatty():
        print(line, end="")  # piped input is not echoed by the terminal: show it in the transcript
    return line.strip()


async def chat(url: str | None, model: str) -> None:
    app = Chat()
    async with AsyncExitStack() as stack:
        portal = await stack.enter_async_context(anyio.from_thread.BlockingPortal())  # for the stdin reader
        if url is None:
            from realtime_dispatch.simulator import Simulator

            url = await stack.enter_async_context(Simulator().serve(host="127.0.0.1", port=0))
            print(f"(built-in simulator at {url}; /quit or Ctrl-D to leave)")
        # connect() runs the app in the background for the block and yields its Connection.
        conn = await stack.enter_async_context(app.connect(openai(model, base_url=url)))
        while (line := await read_line("you> ", portal)) is not None and line != "/quit":
            if line:
                await app.ask(conn, line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a real endpoint's base URL, e.g. wss://api.openai.com/v1 (default: simulator)")
    parser.add_argument("--model", default="gpt-realtime")
    parser.add_argument("--trio", action="store_true", help="run on trio instead of asyncio")
    args = parser.parse_args()
    try:
        anyio.run(chat, args.url, args.model, backend="trio" if args.trio else "asyncio")
    except* KeyboardInterrupt:  # Ctrl-C; on trio it comes out of a task group, in an exception group
        print("\n(interrupted)")
        raise SystemExit(130) from None  # 128 + SIGINT, as a shell reports a program Ctrl-C stopped


if __name__ == "__main__":
    main()
