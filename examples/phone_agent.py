"""A phone agent: OpenAI's SIP calls answered by a ``RealtimeApp``, one fresh app per call.

OpenAI's SIP trunk takes the call and sends your server a signed webhook (``realtime.call.incoming``); the
server accepts the call over REST and attaches a sideband WebSocket to steer it. The caller's audio never
passes through your server. ``TelephonyServer`` does the server's part; the app below is all you write:

- ``session``: the instructions (and transcription of the caller) sent in the accept request, with the
  ``@tool``s (``order_status``);
- ``answer_call``: decides per caller before answering, from the SIP ``From`` header (untrusted: it routes,
  it does not authenticate): a blocked number is rejected with 403 Forbidden, everyone else is accepted;
- ``@on("input_audio_buffer.dtmf_event_received")``: "press 0 for a human" transfers the call with a SIP
  REFER (``current_call().refer(...)``);
- ``current_call()``: the call the handler runs for (its id, SIP headers, ``hangup()``, ``refer()``).

Offline (the default), the simulator plays OpenAI: its phone network places 3 calls (signed webhooks, the
first delivered twice, as the service may), answers call control and runs each accepted call with a scripted
caller who asks about an order, names the tool, then presses 0. The agent's ``TelephonyServer`` runs under
hypercorn on 127.0.0.1, the ASGI app ``realtime-dispatch serve`` runs; the example prints each call as it
goes and the server's metrics at the end (about a second, no key, no network). The simulated model echoes what
it hears, and calls a tool the caller names with arguments made up from the tool's schema (``abc123``); the real
model answers, and takes the order number from the caller's words:

    .venv/bin/python examples/phone_agent.py [--trio]

For real calls, point your SIP trunk at ``sip:$PROJECT_ID@sip.api.openai.com;transport=tls``, add a webhook
for ``realtime.call.incoming`` to ``https://your-host/webhook`` in the OpenAI dashboard, and serve the same app
(from this directory: the app is ``phone_agent:Agent``) with as many worker processes as you like, on each
machine behind your load balancer (its health check: ``GET /health``):

    OPENAI_WEBHOOK_SECRET=whsec_... OPENAI_API_KEY=sk-... realtime-dispatch serve phone_agent:Agent \\
        --host 0.0.0.0 --port 8000 --workers 2

``--serve`` runs that command for you (``--host``, ``--port``, ``--workers``). To try it without a phone, let the
simulator place the calls (it prints the two URLs to give the server) and serve with them:

    realtime-dispatch simulate --call-webhook http://127.0.0.1:8000/webhook --webhook-secret whsec_... --calls 5
    OPENAI_WEBHOOK_SECRET=whsec_... OPENAI_BASE_URL=http://127.0.0.1:8766/v1 \
        OPENAI_WEBSOCKET_BASE_URL=ws://127.0.0.1:8765/v1 .venv/bin/python examples/phone_agent.py --serve

See docs/telephony.md.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import sniffio

from realtime_dispatch import RealtimeApp, events, on, tool
from realtime_dispatch.telephony import Accept, Call, Refer, Reject, TelephonyServer, current_call, new_secret

BLOCKED = {"+14155550003"}  # numbers the agent refuses (the simulator's third caller)
HUMANS = "sip:agent@example.com"  # where "press 0" transfers the call
CALLER_SCRIPT = [
    {"say": "Hi, I'd like to know where my order is."},
    {"say": "Could you run order_status for order 1234?"},
    {"dtmf": "0"},  # "press 0 for a human"
]


def number(call: Call) -> str:
    """The caller's number from the SIP From header: ``"Ann" <sip:+1415...@host>;tag=..`` -> ``+1415...``."""
    uri = call.caller or "unknown"
    return uri.removeprefix("sip:").removeprefix("tel:").partition("@")[0]


def say(text: str) -> None:
    """One line about the current call, labelled with the caller's number."""
    print(f"[{number(current_call())}] {text}", flush=True)


class Agent(RealtimeApp):
    """The order desk's phone line. ``TelephonyServer`` makes one per call."""

    session = events.Session(
        type="realtime",
        instructions=(
            "You answer the phone for Acme's order desk. Be brief and friendly. Look orders up with "
            "order_status before saying anything about them. Callers can press 0 for a human."
        ),
        audio=events.SessionAudio(
            input=events.AudioInput(transcription=events.AudioTranscription(model="gpt-4o-transcribe"))
        ),
    )

    async def answer_call(self, call: Call) -> Accept | Reject | Refer:
        """Before the call is answered (it is ringing: keep this quick)."""
        if number(call) in BLOCKED:
            say("blocked number: rejected with 403")
            return Reject(403)
        say(f"incoming call {call.id}: accepted")
        return Accept()  # the accept request carries accept_session(): session, instructions, tools

    @on("conversation.item.input_audio_transcription.completed")
    def heard(self, event: events.InputAudioTranscriptionCompleted) -> None:
        say(f"caller: {event.transcript}")

    @on("response.output_audio_transcript.done")
    def spoke(self, event: events.ResponseOutputAudioTranscriptDone) -> None:
        say(f"agent:  {event.transcript}")

    @tool
    async def order_status(self, order_id: str) -> str:
        """Where an order is.

        Args:
            order_id: The order's number, as the caller says it.
        """
        status = f"order {order_id} shipped yesterday and arrives on Thursday"  # your order system here
        say(f"tool:   order_status(order_id={order_id!r}) -> {status!r}")
        return status

    @on("input_audio_buffer.dtmf_event_received")
    async def key(self, event: events.InputAudioBufferDtmfEventReceived) -> None:
        say(f"key:    {event.event}")
        if event.event == "0":
            await current_call().refer(HUMANS)  # SIP REFER: the call leaves us, the sideband closes
            say(f"transferred to {HUMANS}")

    async def on_shutdown(self) -> None:
        call = current_call()
        how = f"transferred to {call.referred_to}" if call.referred_to else "hung up" if call.hung_up else "ended"
        say(f"call over ({how})")


# --- offline: the simulator places the calls -----------------------------------------------------------


@asynccontextmanager
async def hypercorn_serving(app: Any, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve an ASGI app with hypercorn on a free port while the block runs; yields its URL. Leaving the block
    shuts hypercorn down, which sends the app its lifespan shutdown (the TelephonyServer drains)."""
    from hypercorn.config import Config

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{listener.detach()}"]  # hypercorn takes the socket over
    config.accesslog = None
    config.loglevel = "WARNING"  # not "Running on ..."
    stop = anyio.Event()
    if sniffio.current_async_library() == "trio":
        from hypercorn.trio import serve
    else:
        from hypercorn.asyncio import serve  # type: ignore[assignment]
    async with anyio.create_task_group() as task_group:

        async def run() -> None:
            await serve(app, config, shutdown_trigger=stop.wait)

        task_group.start_soon(run)
        try:
            yield f"http://{host}:{port}"
        finally:
            stop.set()


async def offline(calls: int) -> None:
    from realtime_dispatch.simulator import PhoneNetwork

    secret = new_secret()  # the whsec_... you would copy from the dashboard
    network = PhoneNetwork(caller_script=CALLER_SCRIPT, turn_delay=0.1, duplicate_rate=0.5, seed=3)
    async with network.serve() as endpoints:
        # The server finds OpenAI where the environment says, as in production: here, the simulator.
        os.environ["OPENAI_BASE_URL"] = endpoints.base_url
        os.environ["OPENAI_WEBSOCKET_BASE_URL"] = endpoints.websocket_base_url
        server = TelephonyServer(Agent, secrets=secret, max_calls=10)
        async with hypercorn_serving(server) as url:
            print(f"agent: answering calls at {url}/webhook (health: {url}/health)", flush=True)
            network.webhook_url, network.webhook_secret = f"{url}/webhook", secret
            records = await network.place_calls(calls, rate=20)
            if not await network.wait_ended(timeout=30):
                sys.exit("the calls did not end in 30 s")
            await network.wait_delivered(timeout=10)
        # Leaving the block stopped hypercorn: its lifespan shutdown drained the server (no new calls; those
        # in progress get drain_timeout seconds to end, then are hung up), as SIGTERM does in production.
    print("the phone network saw:")
    for record in records:
        how = str(record.ended_by)
        if record.reject_status:
            how += f" {record.reject_status}"
        if record.referred_to:
            how += f" to {record.referred_to}"
        deliveries = len(record.attempts)
        print(f"  {record.call_id}: {how}; webhook delivered {deliveries}x; caller did {record.said}")
    show_metrics(server)


def show_metrics(server: TelephonyServer) -> None:
    snapshot = server.metrics.snapshot()
    counters = ("accepted", "rejected", "ended", "duplicates", "busy", "gone", "taken", "failed", "errors")
    print("server metrics: " + ", ".join(f"{name}={snapshot[name]}" for name in counters))
    for name in ("accept_latency", "sideband_latency"):
        latency = snapshot[name]
        print(f"  {name}: n={latency['count']}, p50={latency['p50'] * 1000:.1f} ms, max={latency['max'] * 1000:.1f} ms")


# --- for real: realtime-dispatch serve -----------------------------------------------------------------


def serve_for_real(host: str, port: int, workers: int, trio: bool) -> None:
    """Run ``realtime-dispatch serve phone_agent:Agent`` from this file's directory (replacing this process)."""
    command = [sys.executable, "-m", "realtime_dispatch", "serve", "phone_agent:Agent", "--host", host]
    command += ["--port", str(port), "--workers", str(workers), *(["--trio"] if trio else [])]
    print("running: realtime-dispatch " + " ".join(command[3:]), flush=True)
    os.chdir(Path(__file__).resolve().parent)
    os.execv(sys.executable, command)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trio", action="store_true", help="run on trio instead of asyncio")
    parser.add_argument("--calls", type=int, default=3, help="simulated calls to place (offline)")
    parser.add_argument("--serve", action="store_true", help="serve real calls: realtime-dispatch serve")
    parser.add_argument("--host", default="0.0.0.0", help="with --serve: the address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="with --serve: the port")
    parser.add_argument("--workers", type=int, default=2, help="with --serve: worker processes")
    args = parser.parse_args()
    if args.serve:
        serve_for_real(args.host, args.port, args.workers, args.trio)
    anyio.run(offline, args.calls, backend="trio" if args.trio else "asyncio")


if __name__ == "__main__":
    main()
