"""Slow consumer: a fast server and a slow app. Does memory stay bounded, and can you see the overflow?

Run from the repository root::

    python -m stress.slow_consumer                       # all four scenarios, 10 s each for the first two
    python -m stress.slow_consumer --seconds 3 --only inline background
    python -m stress.slow_consumer --backend trio

A measurement, not a test: it prints figures and never fails on them.

Receiving (scenarios ``inline`` and ``background``): a ``serve_websocket`` server on 127.0.0.1 sends the
corpus frames of ``benchmarks/corpus.py`` with ``transport.send`` as fast as the socket takes them, for
``--seconds``. The app is slow on every audio delta (half the frames):

- ``inline``: an inline async handler that awaits 2 ms (an audio device that takes its time). The receive
  loop is held, so the transport stops reading: frames pile up in the kernel's socket buffers, then the
  server's ``send`` blocks. Nothing in the app grows.
- ``background``: a ``background=True`` handler that awaits 20 ms, with ``max_background_tasks = 32`` and
  ``collect_metrics = True``. When 32 are running, the receive loop waits for a free slot (and logs the
  WARNING ``background handlers running: receive loop waits for a free slot``); then the socket fills as
  above. The ``background_tasks`` gauge shows the limit being held.

A monitor samples, every 0.25 s: RSS, frames (and payload bytes) the server has sent, frames the app's
receive loop has taken (a frame tap), frames parsed and waiting in the transport (its message deque), and
the metrics gauges. "In flight" is sent minus taken: what sits in socket buffers and in the transport.

Sending (scenarios ``pending`` and ``send-timeout``):

- ``pending``: an app with ``max_pending_sends = 100`` loses its connection (the server closes with 1011)
  and waits 1 s to reconnect; meanwhile 150 sends are made. 100 wait, 50 fail at once with
  ``NotConnected`` (the ``dropped_sends`` gauge); after the reconnect the 100 go out in order.
- ``send-timeout``: an app with ``send_timeout = 0.5`` sends 100 ms audio appends to a server that never
  reads. The socket buffers fill, a send blocks, and 0.5 s later it fails with ``SendTimeout`` and the
  connection is closed.
"""

from __future__ import annotations

import argparse
import logging
import platform
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import anyio

from benchmarks.corpus import frame_type
from realtime_dispatch import (
    Connection,
    ConnectionFailed,
    NotConnected,
    RealtimeApp,
    Reconnect,
    SendTimeout,
    events,
    on,
    openai,
)
from realtime_dispatch.transports import (
    MemoryServer,
    Transport,
    TransportClosed,
    WebSocketOptions,
    WebSocketTransport,
    connect_websocket,
    memory_pair,
    serve_websocket,
)

from . import LogCounter, corpus, counting_logs, rss_mib

WAIT_WARNING = "background handlers running: receive loop waits"


# --- receiving ---------------------------------------------------------------------------------------


@dataclass
class Flow:
    """Counters the server, the app and the monitor share."""

    sent_frames: int = 0
    sent_bytes: int = 0
    taken_frames: int = 0
    taken_bytes: int = 0
    handled: int = 0
    send_blocked: float = 0.0  # seconds the server spent in sends that did not return at once
    stop_requested: bool = False
    after_close: int = 0  # frames the loop still took once close() had returned
    samples: list[dict[str, float]] = field(default_factory=list)

    def tap(self, direction: str, frame: bytes) -> None:
        if direction == "in":
            self.taken_frames += 1
            self.taken_bytes += len(frame)
            if self.stop_requested:
                self.after_close += 1


class ClosesFromTheLoop(RealtimeApp):
    """Closes from its own receive loop when asked. Closing from another task while an inline handler
    awaits (or the loop waits for a background slot) makes ``WebSocketTransport.close`` read the socket
    while the receive loop reads it too: ``BusyResourceError`` (see ``docs/reliability.md``)."""

    reconnect = None
    flow: Flow

    @on("*")
    async def stop_when_asked(self, connection: Connection) -> None:
        if self.flow.stop_requested and not connection.closing:
            await connection.close()


def fast_server(frames: list[bytes], flow: Flow, stop: anyio.Event) -> Callable[[WebSocketTransport], Any]:
    async def serve(transport: WebSocketTransport) -> None:
        async def read() -> None:  # sees the client's close frame, and answers it
            with suppress(TransportClosed):
                while True:
                    await transport.receive()

        async with anyio.create_task_group() as task_group:
            task_group.start_soon(read)
            try:
                while not stop.is_set():
                    for frame in frames:
                        started = time.perf_counter()
                        await transport.send(frame)
                        took = time.perf_counter() - started
                        if took > 0.001:
                            flow.send_blocked += took
                        flow.sent_frames += 1
                        flow.sent_bytes += len(frame)
                        if stop.is_set():
                            break
            except TransportClosed:
                pass
            task_group.cancel_scope.cancel()

    return serve


class InlineSlowApp(ClosesFromTheLoop):
    def __init__(self, flow: Flow, delay: float) -> None:
        super().__init__()
        self.flow = flow
        self.delay = delay

    @on("response.output_audio.delta")
    async def play(self, event: events.ResponseOutputAudioDelta) -> None:
        await anyio.sleep(self.delay)
        self.flow.handled += 1


class BackgroundSlowApp(ClosesFromTheLoop):
    max_background_tasks = 32
    collect_metrics = True
    shutdown_grace = 2.0

    def __init__(self, flow: Flow, delay: float) -> None:
        super().__init__()
        self.flow = flow
        self.delay = delay

    @on("response.output_audio.delta", background=True)
    async def play(self, event: events.ResponseOutputAudioDelta) -> None:
        await anyio.sleep(self.delay)
        self.flow.handled += 1


def _transport_queue(opened: list[Any]) -> int:
    """Frames the client transport has read but the app has not taken (a peek for the report)."""
    transport = opened[-1] if opened else None
    messages = getattr(transport, "_messages", None)
    return len(messages) if messages is not None else 0


async def run_receiving(
    kind: str, seconds: float, frames: list[bytes], delay: float
) -> tuple[Flow, RealtimeApp, float]:
    flow = Flow()
    stop = anyio.Event()
    app: ClosesFromTheLoop = InlineSlowApp(flow, delay) if kind == "inline" else BackgroundSlowApp(flow, delay)
    app.add_frame_tap(flow.tap)
    options = WebSocketOptions(close_timeout=2.0)
    async with serve_websocket(fast_server(frames, flow, stop)) as port:
        endpoint = openai("slow-consumer", base_url=f"ws://127.0.0.1:{port}/v1", options=options)
        opened: list[Any] = []

        async def factory() -> Any:
            opened.append(await endpoint())
            return opened[-1]

        async with app.connect(factory):
            started = time.perf_counter()
            while time.perf_counter() - started < seconds:
                await anyio.sleep(0.25)
                gauges = app.metrics.snapshot()["gauges"] if app.collect_metrics else {}
                flow.samples.append(
                    {
                        "t": time.perf_counter() - started,
                        "rss": rss_mib(),
                        "in_flight_frames": flow.sent_frames - flow.taken_frames,
                        "in_flight_bytes": flow.sent_bytes - flow.taken_bytes,
                        "transport_queue": _transport_queue(opened),
                        "background": gauges.get("background_tasks", 0),
                    }
                )
            stop.set()  # the server stops producing; the app closes from its receive loop
            closing = time.perf_counter()
            flow.stop_requested = True
            while not app.connection.closing:  # noqa: ASYNC110 (polls state that has no event)
                await anyio.sleep(0.01)
        closed_in = time.perf_counter() - closing
    return flow, app, closed_in


def report_receiving(
    kind: str, seconds: float, delay: float, flow: Flow, app: RealtimeApp, closed_in: float, logs: LogCounter
) -> None:
    samples = flow.samples[2:] or flow.samples  # the first half second fills the buffers
    rss = [s["rss"] for s in samples]
    print(f"\n[{kind}] {kind} audio handler awaiting {delay * 1000:g} ms, server sending for {seconds:g} s")
    print(f"  server sent {flow.sent_frames:,} frames ({flow.sent_bytes / 2**20:.1f} MiB); the app's loop took "
          f"{flow.taken_frames:,} ({flow.taken_bytes / 2**20:.1f} MiB); slow handler completed "
          f"{flow.handled:,}")  # fmt: skip
    print(f"  server blocked in send: {flow.send_blocked:.1f} s of {seconds:g} s")
    print(f"  in flight (socket buffers + transport), max: "
          f"{max(s['in_flight_frames'] for s in flow.samples):,.0f} frames, "
          f"{max(s['in_flight_bytes'] for s in flow.samples) / 2**20:.2f} MiB; "
          f"transport message queue max {max(s['transport_queue'] for s in flow.samples):,.0f} frames")  # fmt: skip
    print(f"  RSS from 0.5 s to the end: {min(rss):.1f}-{max(rss):.1f} MiB (first {rss[0]:.1f}, last {rss[-1]:.1f}); "
          f"{len(flow.samples)} samples")  # fmt: skip
    if kind == "background":
        gauge = [s["background"] for s in flow.samples]
        waits = logs.count("WARNING", WAIT_WARNING)
        print(f"  background_tasks gauge: max {max(gauge):.0f} (max_background_tasks = {app.max_background_tasks}); "
              f"mean {sum(gauge) / len(gauge):.1f}")  # fmt: skip
        print(f"  WARNING '{WAIT_WARNING} ...': {waits:,} records "
              f"({waits / max(1, flow.taken_frames):.0%} of the frames taken)")  # fmt: skip
        handlers = app.metrics.snapshot()["handlers"]
        for name, stats in handlers.items():
            if stats["calls"]:
                print(f"  metrics.handlers[{name.rsplit('.', 1)[-1]}]: {stats['calls']:,} calls, "
                      f"mean {stats['total'] / stats['calls'] * 1000:.1f} ms")  # fmt: skip
    print(f"  close with a backlog (asked from the loop, close_timeout 2 s) until the app stopped: {closed_in:.2f} s; "
          f"frames still dispatched after the close was asked: {flow.after_close:,}")  # fmt: skip


# --- sending -------------------------------------------------------------------------------------------


class QuietApp(RealtimeApp):
    max_pending_sends = 100
    collect_metrics = True


async def run_pending(reconnect_delay: float) -> dict[str, Any]:
    servers: list[MemoryServer] = []

    async def factory() -> Transport:
        client, server = memory_pair()
        servers.append(server)
        return client

    app = QuietApp()
    app.reconnect = Reconnect(initial_delay=reconnect_delay, jitter=0.0)
    results: dict[str, Any] = {"ok": 0, "not_connected": 0, "other": []}
    async with app.connect(factory) as connection:
        while not servers:  # noqa: ASYNC110 (polls state that has no event)
            await anyio.sleep(0.01)
        await servers[0].close(1011, "server restart")
        while connection.connected:  # noqa: ASYNC110 (polls state that has no event)
            await anyio.sleep(0.005)
        lost_at = time.perf_counter()

        async def send_one(n: int) -> None:
            try:
                await connection.send(events.InputAudioBufferAppend(audio=f"{n:08d}"))
                results["ok"] += 1
            except NotConnected:
                results["not_connected"] += 1
            except Exception as exc:
                results["other"].append(repr(exc))

        async with anyio.create_task_group() as task_group:
            for n in range(150):
                task_group.start_soon(send_one, n)
            await anyio.sleep(0.1)
            gauges = app.metrics.snapshot()["gauges"]
            results["pending_gauge"] = gauges["pending_sends"]
            results["dropped_gauge"] = gauges["dropped_sends"]
        results["waited"] = time.perf_counter() - lost_at
        received: list[int] = []
        with anyio.move_on_after(2):
            while len(received) < results["ok"]:
                event = await servers[1].receive_event()
                if isinstance(event, events.InputAudioBufferAppend):
                    received.append(int(event.audio))
        results["received"] = len(received)
        results["in_order"] = received == sorted(received)
        results["servers"] = len(servers)
    for server in servers:
        await server.close()
    return results


async def run_send_timeout(send_timeout: float) -> dict[str, Any]:
    stop = anyio.Event()

    async def never_reads(transport: WebSocketTransport) -> None:
        # On asyncio, anyio's stream keeps reading ahead when the client's first bytes came before
        # the server's first receive(): stop it, as a peer that never reads would.
        pause = getattr(getattr(transport._stream, "_transport", None), "pause_reading", None)
        if pause is not None:
            pause()
        await stop.wait()

    class StuckApp(RealtimeApp):
        reconnect = None

    app = StuckApp()
    app.send_timeout = send_timeout
    chunk = events.InputAudioBufferAppend.from_pcm(bytes(4800))  # 100 ms of PCM16 silence
    results: dict[str, Any] = {}
    async with serve_websocket(never_reads) as port:
        transport = await connect_websocket(f"ws://127.0.0.1:{port}/", options=WebSocketOptions(close_timeout=1.0))
        try:
            async with app.connect(transport) as connection:
                sent = 0
                started = time.perf_counter()
                try:
                    with anyio.fail_after(30):
                        while True:
                            began = time.perf_counter()
                            await connection.send(chunk)
                            sent += 1
                except SendTimeout as exc:
                    results["error"] = f"SendTimeout: {exc}"
                    results["blocked_for"] = time.perf_counter() - began
                except Exception as exc:
                    results["error"] = repr(exc)
                    results["blocked_for"] = time.perf_counter() - began
                results["accepted"] = sent
                results["accepted_mib"] = sent * len(events.encode(chunk)) / 2**20
                results["filled_in"] = began - started
                results["connected_after"] = connection.connected
                try:
                    await connection.send(chunk)
                    results["next_send"] = "went out"
                except Exception as exc:
                    results["next_send"] = type(exc).__name__
        except ConnectionFailed as exc:  # the timed-out connection cannot be reopened: the app says so
            results["ended"] = str(exc)
        stop.set()
    return results


# --- main ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each receiving scenario")
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--inline-ms", type=float, default=2.0, help="what the slow inline handler awaits")
    parser.add_argument("--background-ms", type=float, default=20.0, help="what the slow background handler awaits")
    parser.add_argument("--reconnect-delay", type=float, default=1.0, help="pending: seconds before reconnecting")
    parser.add_argument("--send-timeout", type=float, default=0.5, help="send-timeout: the app's send_timeout")
    parser.add_argument(
        "--only", nargs="+", choices=("inline", "background", "pending", "send-timeout"),
        default=["inline", "background", "pending", "send-timeout"],
    )  # fmt: skip
    args = parser.parse_args(argv)

    with counting_logs(logging.INFO) as logs:
        frames = corpus()
        audio = sum(frame_type(f) == "response.output_audio.delta" for f in frames)
        print(f"slow consumer: {args.backend}, Python {platform.python_version()}; corpus {len(frames)} frames, "
              f"{audio} audio deltas; start RSS {rss_mib():.1f} MiB")  # fmt: skip
        for kind in ("inline", "background"):
            if kind in args.only:
                logs.counts.clear()
                delay = (args.inline_ms if kind == "inline" else args.background_ms) / 1000
                flow, app, closed_in = anyio.run(run_receiving, kind, args.seconds, frames, delay, backend=args.backend)
                report_receiving(kind, args.seconds, delay, flow, app, closed_in, logs)
        if "pending" in args.only:
            logs.counts.clear()
            r = anyio.run(run_pending, args.reconnect_delay, backend=args.backend)
            print(f"\n[pending] max_pending_sends = 100, connection lost (1011), reconnect after "
                  f"{args.reconnect_delay:g} s, 150 sends meanwhile")  # fmt: skip
            print(f"  went out after the reconnect: {r['ok']}, failed with NotConnected at once: {r['not_connected']}, "
                  f"other errors: {r['other'] or 'none'}")  # fmt: skip
            print(f"  gauges while waiting: pending_sends={r['pending_gauge']}, dropped_sends={r['dropped_gauge']}; "
                  f"the waiting sends returned {r['waited']:.2f} s after the loss")  # fmt: skip
            print(f"  the new server received {r['received']} appends, in order: {r['in_order']}; "
                  f"connections: {r['servers']}")  # fmt: skip
        if "send-timeout" in args.only:
            logs.counts.clear()
            r = anyio.run(run_send_timeout, args.send_timeout, backend=args.backend)
            print(f"\n[send-timeout] send_timeout = {args.send_timeout:g} s, "
                  "100 ms audio appends to a server that never reads")  # fmt: skip
            print(f"  accepted before the socket filled: {r['accepted']:,} sends ({r['accepted_mib']:.1f} MiB) "
                  f"in {r['filled_in']:.2f} s")  # fmt: skip
            print(f"  then: {r.get('error')} after {r.get('blocked_for', 0):.2f} s blocked")
            print(f"  connected afterwards: {r['connected_after']}; the next send: {r['next_send']}")
        warnings = [line for line in logs.summary() if " INFO " not in line]
        if warnings:
            print("\nlog records at WARNING and above (last scenario):")
            for line in warnings:
                print(line)


if __name__ == "__main__":
    main()
