"""Control a phone (SIP) or WebRTC call from your server: a sideband WebSocket attached by ``call_id``.

The call's audio flows between the caller and OpenAI; your server opens a second connection to the same session
with ``openai(call_id=...)`` to steer it. Shows:

- attaching with ``openai(call_id="rtc_...")`` (no model needed: the call already has one);
- configuring the call's session from the sideband: the app's ``session`` (instructions) and its ``@tool``s go
  out as ``session.update`` on connect, and ``conn.update_session(...)`` changes the instructions mid-call;
- a tool call handled by the app (the library runs it, sends its output and asks for the follow-up answer);
- ``output_audio_buffer.started`` / ``.stopped``: when the caller starts and stops hearing an answer (on a call,
  the audio itself never comes down the sideband, only its transcript);
- ``app.interrupt()`` (say, a supervisor's button): cancels the answer in progress and, because the server plays
  the audio, sends ``output_audio_buffer.clear`` to cut it off on the call (``output_audio_buffer.cleared``).

Offline, against the built-in simulator, with a made-up call id: the simulator has no caller, so the example types
the caller's words in as user messages, then interrupts the second answer after a few words:

    python examples/sip_sideband.py [--trio]

On a real call (OPENAI_API_KEY from the environment; the call id comes from your SIP webhook or WebRTC setup), the
caller speaks for themselves: the example configures the session, runs the tool and prints what happens until the
call ends (or Ctrl-C):

    python examples/sip_sideband.py --url wss://api.openai.com/v1 --call-id rtc_... [--model gpt-realtime]
"""

from __future__ import annotations

import argparse

import anyio

from realtime_dispatch import Connection, RealtimeApp, ToolError, events, on, openai, tool
from realtime_dispatch.simulator import Reply

FAKE_CALL_ID = "rtc_example123"
CALLER = ("Where is my order 4417?", "And what is your returns policy?")
INTERRUPT_AFTER = 4  # words of the second answer before the supervisor cuts it off
ORDERS = {4417: {"status": "shipped", "arrives": "tomorrow"}}


class SupportLine(RealtimeApp):
    session = events.Session(
        type="realtime",
        instructions="You answer the phone for Acme's order desk. Look orders up before answering.",
        output_modalities=["audio"],
    )

    def __init__(self, scripted: bool) -> None:
        super().__init__()
        self.scripted = scripted  # offline: play the caller, and the supervisor who interrupts
        self.said = 0  # caller lines sent
        self.words = 0  # transcript deltas of the answer being played
        self.interrupted = False

    # --- the tool -----------------------------------------------------------------------------------

    @tool
    async def lookup_order(self, order_id: int) -> dict[str, object]:
        """Look up an order's delivery status.

        Args:
            order_id: The order number the caller gives.
        """
        order = ORDERS.get(order_id)
        if order is None:
            print(f"  tool lookup_order(order_id={order_id}) -> no such order", flush=True)
            raise ToolError(f"no order {order_id}")  # the model reads {"error": "no order ..."}
        print(f"  tool lookup_order(order_id={order_id}) -> {order['status']}, arrives {order['arrives']}", flush=True)
        return {"order_id": order_id, **order}

    # --- the call, as the sideband sees it -------------------------------------------------------------

    async def on_connect(self, connection: Connection) -> None:
        print("sideband connected: session.update sent (instructions and tools)", flush=True)

    async def caller_says(self, conn: Connection) -> None:
        line = CALLER[self.said]
        self.said += 1
        print(f"caller: {line}", flush=True)
        await conn.create_item(events.ConversationItem.message("user", line))
        await conn.create_response()

    @on("session.updated")
    async def configured(self, event: events.SessionUpdated, conn: Connection) -> None:
        tools = [t.name for t in event.session.tools or []]
        print(f"session.updated: instructions={event.session.instructions!r}, tools={tools}", flush=True)
        if self.scripted and self.said == 0:
            await self.caller_says(conn)  # the call is configured: the caller asks the first question

    @on("output_audio_buffer.started")
    def playing(self, event: events.OutputAudioBufferStarted) -> None:
        self.words = 0
        print("[output_audio_buffer.started] the caller hears the answer", flush=True)

    @on("response.output_audio_transcript.delta")
    async def transcript(self, event: events.ResponseOutputAudioTranscriptDelta) -> None:
        self.words += 1
        if self.scripted and self.said == 2 and self.words == INTERRUPT_AFTER and not self.interrupted:
            self.interrupted = True
            print(f"[supervisor] interrupts after {self.words} words: app.interrupt()", flush=True)
            await self.interrupt()  # response.cancel, then output_audio_buffer.clear (the server plays the audio)

    @on("response.output_audio_transcript.done")
    def transcript_done(self, event: events.ResponseOutputAudioTranscriptDone) -> None:
        print(f"assistant (on the call): {event.transcript}", flush=True)

    @on("output_audio_buffer.stopped")
    async def played(self, event: events.OutputAudioBufferStopped, conn: Connection) -> None:
        print("[output_audio_buffer.stopped] the answer has played out", flush=True)
        if self.scripted and self.said < len(CALLER):
            await self.caller_says(conn)  # the caller waits until the answer ends, then asks the next question

    @on("output_audio_buffer.cleared")
    def cleared(self, event: events.OutputAudioBufferCleared) -> None:
        print("[output_audio_buffer.cleared] the rest of the answer will not be played", flush=True)

    @on("response.done")
    async def done(self, event: events.ResponseDone, conn: Connection) -> None:
        response = event.response
        reason = f" ({response.status_details.reason})" if response.status_details else ""
        calls = [item.name for item in response.output or [] if item.type == "function_call"]
        called = f", called {', '.join(map(str, calls))}" if calls else ""
        print(f"[response.done: {response.status}{reason}{called}]", flush=True)
        if self.scripted and response.status == "cancelled":
            # After the interruption the supervisor asks for shorter answers: a mid-call session.update, which
            # changes only the fields it sets (the tools stay).
            await conn.update_session(events.Session(type="realtime", instructions="Keep every answer to one line."))

    @on("session.updated", when=lambda e: e.session.instructions == "Keep every answer to one line.")
    async def finished(self, conn: Connection) -> None:
        print("done: closing the sideband (the call itself goes on)", flush=True)
        await conn.close()

    @on("error")
    def server_error(self, event: events.ErrorEvent) -> None:
        print(f"[server error {event.error.code}: {event.error.message}]", flush=True)


class CallModel:
    """A simulator responder standing in for the model on the call."""

    async def respond(self, conversation: list[events.ConversationItem], session: events.Session) -> Reply:
        last = conversation[-1]
        if last.type == "function_call_output":
            return Reply(text="Order 4417 has shipped, and it arrives tomorrow.")
        text = " ".join(part.text or "" for part in last.content or [])
        if "order" in text:
            return Reply(tool_calls=[("lookup_order", '{"order_id": 4417}')])
        return Reply(
            text="Returns are free within thirty days of delivery: print the label from your account, "
            "pack the item in its original box, and drop it at any post office. Refunds take five days."
        )


async def run(url: str | None, model: str | None, call_id: str | None) -> None:
    if url is not None:
        await SupportLine(scripted=False).run_async(openai(model, call_id=call_id, base_url=url))
        return
    from realtime_dispatch.simulator import Simulator

    # delta_delay paces the simulated answer, so the interruption lands while it is still playing.
    async with Simulator(responder=CallModel(), delta_delay=0.01).serve(host="127.0.0.1", port=0) as base_url:
        print(f"(built-in simulator at {base_url}, attached to the made-up call {FAKE_CALL_ID})", flush=True)
        await SupportLine(scripted=True).run_async(openai(model, call_id=FAKE_CALL_ID, base_url=base_url))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a real endpoint's base URL, e.g. wss://api.openai.com/v1 (default: simulator)")
    parser.add_argument("--call-id", help="the call to attach to (rtc_...); needed with --url")
    parser.add_argument("--model", help="optional: the call already has a model")
    parser.add_argument("--trio", action="store_true", help="run on trio instead of asyncio")
    args = parser.parse_args()
    if args.url is not None and not args.call_id:
        parser.error("--url needs --call-id: the id of the call to attach to")
    anyio.run(run, args.url, args.model, args.call_id, backend="trio" if args.trio else "asyncio")


if __name__ == "__main__":
    main()
