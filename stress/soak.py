"""Soak: one long session, a realistic event mix, a few kinds of handler; is anything lost, does memory grow?

Run from the repository root::

    python -m stress.soak                      # 1,000,000 events over an in-memory transport
    python -m stress.soak --socket             # the same over a real loopback WebSocket
    python -m stress.soak --events 200000 --metrics --backend trio
    python -m stress.soak --events 100000 --tracemalloc   # where the Python heap grew (slow)

A measurement, not a test: it prints figures and never fails on them.

The frames are the corpus of ``benchmarks/corpus.py`` (614 frames of a GA voice session: audio deltas,
transcripts, lifecycle events, two ``error`` events), repeated until ``--events`` frames have been sent, in
one connection. The app (``SoakApp``) has the handlers a real app has:

- a ``"*"`` handler counting every event (the loss check: it must see every frame sent);
- inline handlers on the text-like deltas and on audio deltas (they touch the payload);
- a background handler on ``response.done`` (a task per response);
- an inline handler on ``conversation.item.done`` that raises ``ValueError`` every time, and an
  ``@on_error(ValueError)`` handler that counts what reaches it;
- a handler for the server's ``error`` events.

Memory is the resident set size (``/proc/self/statm``), sampled 50 times through the run by the feeder.
"After warm-up" is the first sample after 10% of the events (at least 20 passes over the corpus): by then
every code path has run many times, caches are filled and the allocator has its arenas. The figure that
matters is the growth from there to the end. Per-event cost is wall and CPU time over the whole run divided
by the events, so it includes the in-process feeder (a ``send_nowait`` onto the memory stream, or the
loopback server's socket writes).
"""

from __future__ import annotations

import argparse
import gc
import logging
import platform
import sys
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field

import anyio
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectSendStream

from benchmarks.bench_transport import wire_chunks
from benchmarks.corpus import frame_type
from realtime_dispatch import RealtimeApp, events, on, on_error
from realtime_dispatch.transports import MemoryServer, WebSocketTransport, memory_pair, serve_websocket

from . import LogCounter, corpus, counting_logs, rss_mib

TEXT_DELTAS = (
    "response.output_text.delta",
    "response.output_audio_transcript.delta",
    "conversation.item.input_audio_transcription.delta",
)


class Boom(ValueError):
    """What the faulty handler raises."""


class SoakApp(RealtimeApp):
    reconnect = None  # one connection: the run ends when the feeder closes it

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0
        self.by_type: Counter[str] = Counter()
        self.text = 0
        self.text_chars = 0
        self.audio = 0
        self.audio_chars = 0
        self.background = 0
        self.raised = 0
        self.handled = 0
        self.server_errors = 0

    @on("*")
    async def every(self, event: events.ServerEvent) -> None:
        self.seen += 1

    @on(*TEXT_DELTAS)
    async def text_delta(
        self,
        event: events.ResponseOutputTextDelta
        | events.ResponseOutputAudioTranscriptDelta
        | events.InputAudioTranscriptionDelta,
    ) -> None:
        self.text += 1
        self.text_chars += len(event.delta)

    @on("response.output_audio.delta")
    async def audio_delta(self, event: events.ResponseOutputAudioDelta) -> None:
        self.audio += 1
        self.audio_chars += len(event.delta)

    @on("response.done", background=True)
    async def finished(self, event: events.ResponseDone) -> None:
        await anyio.lowlevel.checkpoint()
        self.by_type[event.response.status or "?"] += 1
        self.background += 1

    @on("conversation.item.done")
    async def faulty(self, event: events.ConversationItemDone) -> None:
        self.raised += 1
        raise Boom(event.item.id)

    @on_error(ValueError)
    async def on_value_error(self, exc: ValueError) -> None:
        self.handled += 1

    @on("error")
    async def server_error(self, event: events.ErrorEvent) -> None:
        self.server_errors += 1


@dataclass
class Run:
    events: int
    mode: str
    backend: str
    metrics: bool
    samples: list[tuple[int, float]] = field(default_factory=list)  # (frames sent, RSS MiB)
    traced: list[tuple[int, int]] = field(default_factory=list)  # (frames sent, tracemalloc bytes)
    snapshots: list[tracemalloc.Snapshot] = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0
    rss_start: float = 0.0
    rss_end_gc: float = 0.0


def _sampler(run: Run, warm: int) -> tuple[int, object]:
    step = max(1, run.events // 50)

    def sample(sent: int) -> None:
        run.samples.append((sent, rss_mib()))
        if tracemalloc.is_tracing():
            run.traced.append((sent, tracemalloc.get_traced_memory()[0]))
            if sent >= warm and not run.snapshots:
                run.snapshots.append(tracemalloc.take_snapshot())

    return step, sample


async def feed_memory(server: MemoryServer, frames: list[bytes], run: Run, warm: int) -> None:
    """Push ``run.events`` frames as fast as the app takes them (blocking only when the buffer is full)."""
    stream: MemoryObjectSendStream[bytes] = server._send  # type: ignore[assignment]
    step, sample = _sampler(run, warm)
    sent = 0
    total = run.events
    while sent < total:
        for frame in frames[: total - sent]:
            try:
                stream.send_nowait(frame)
            except anyio.WouldBlock:
                await stream.send(frame)
            sent += 1
            if sent % step == 0:
                sample(sent)  # type: ignore[operator]
    await server.close(1000)


def socket_handler(frames: list[bytes], run: Run, warm: int):  # type: ignore[no-untyped-def]
    whole = wire_chunks(frames)
    step, sample = _sampler(run, warm)

    async def blast(transport: WebSocketTransport) -> None:
        sent = 0
        next_sample = step
        total = run.events
        while sent < total:
            if total - sent >= len(frames):
                chunks, count = whole, len(frames)
            else:
                chunks, count = wire_chunks(frames[: total - sent]), total - sent
            for chunk in chunks:
                await transport._stream.send(chunk)
            sent += count
            while sent >= next_sample:
                sample(next_sample)  # type: ignore[operator]
                next_sample += step
        # returning closes the connection (code 1000) after the data

    return blast


async def soak(run: Run, frames: list[bytes]) -> SoakApp:
    app = SoakApp()
    app.collect_metrics = run.metrics
    warm = max(run.events // 10, min(run.events, 20 * len(frames)))
    gc.collect()
    run.rss_start = rss_mib()
    started, cpu_started = time.perf_counter(), time.process_time()
    if run.mode == "memory":
        client, server = memory_pair()
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(feed_memory, server, frames, run, warm)
            await app.run_async(client)
    else:
        async with serve_websocket(socket_handler(frames, run, warm)) as port:
            await app.run_async(f"ws://127.0.0.1:{port}/v1/realtime?model=soak")
    run.wall = time.perf_counter() - started
    run.cpu = time.process_time() - cpu_started
    gc.collect()
    run.rss_end_gc = rss_mib()
    if tracemalloc.is_tracing():
        run.snapshots.append(tracemalloc.take_snapshot())
    return app


def expected_counts(frames: list[bytes], total: int) -> Counter[str]:
    passes, rest = divmod(total, len(frames))
    counts: Counter[str] = Counter()
    for frame in frames:
        counts[frame_type(frame)] += passes
    for frame in frames[:rest]:
        counts[frame_type(frame)] += 1
    return counts


def report(run: Run, app: SoakApp, frames: list[bytes], logs: LogCounter) -> None:
    expected = expected_counts(frames, run.events)
    text = sum(expected[name] for name in TEXT_DELTAS)
    checks = [
        ("every event ('*')", run.events, app.seen),
        ("text-like deltas (inline)", text, app.text),
        ("audio deltas (inline)", expected["response.output_audio.delta"], app.audio),
        ("response.done (background)", expected["response.done"], app.background),
        ("conversation.item.done raised", expected["conversation.item.done"], app.raised),
        ("  ... reached @on_error(ValueError)", expected["conversation.item.done"], app.handled),
        ("server error events", expected["error"], app.server_errors),
    ]
    print(f"\nevents sent: {run.events:,} ({run.events / len(frames):,.1f} passes over the {len(frames)}-frame corpus)")
    print(f"{'handler':<40} {'expected':>12} {'counted':>12} {'lost':>8}")
    lost_total = 0
    for name, want, got in checks:
        lost_total += max(0, want - got)
        print(f"{name:<40} {want:>12,} {got:>12,} {want - got:>8,}")
    print(f"events lost: {lost_total}")
    if run.metrics:
        snapshot = app.metrics.snapshot()
        counted = sum(snapshot["events"].values())
        print(f"metrics: {counted:,} events counted, handler_errors={snapshot['handler_errors']:,}, "
              f"decode_errors={snapshot['decode_errors']}")  # fmt: skip

    print(f"\nper event: {run.wall / run.events * 1e6:.2f} µs wall, {run.cpu / run.events * 1e6:.2f} µs CPU "
          f"(whole run: {run.wall:.1f} s wall, {run.cpu:.1f} s CPU, feeder included)")  # fmt: skip

    warm = max(run.events // 10, min(run.events, 20 * len(frames)))
    after = [(n, rss) for n, rss in run.samples if n >= warm]
    print(f"\nRSS before the app started: {run.rss_start:.1f} MiB")
    if after:
        first, last = after[0], after[-1]
        low = min(rss for _, rss in after)
        high = max(rss for _, rss in after)
        growth = last[1] - first[1]
        per_million = growth / max(1, last[0] - first[0]) * 1e6
        print(f"RSS after warm-up ({first[0]:,} events): {first[1]:.1f} MiB")
        print(f"RSS at the last sample ({last[0]:,} events): {last[1]:.1f} MiB; range after warm-up "
              f"{low:.1f}-{high:.1f} MiB ({len(after)} samples)")  # fmt: skip
        print(f"RSS after the session, gc.collect(): {run.rss_end_gc:.1f} MiB")
        flat = high - first[1] <= 2.0
        print(f"RSS growth after warm-up: {growth:+.2f} MiB ({per_million:+.2f} MiB per million events); "
              f"flat (max - warm-up <= 2 MiB): {'yes' if flat else 'NO'}")  # fmt: skip
        curve = ", ".join(f"{rss:.1f}" for _, rss in run.samples[:: max(1, len(run.samples) // 10)])
        print(f"RSS curve (MiB, every ~10%): {curve}")
    if run.traced:
        traced_after = [(n, b) for n, b in run.traced if n >= warm]
        if traced_after:
            print(f"tracemalloc: {traced_after[0][1] / 2**20:.2f} MiB traced after warm-up, "
                  f"{traced_after[-1][1] / 2**20:.2f} MiB at the last sample")  # fmt: skip
    if len(run.snapshots) == 2:
        print("tracemalloc: top growth from warm-up to the end (by line):")
        for stat in run.snapshots[1].compare_to(run.snapshots[0], "lineno")[:8]:
            print(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks  {stat.traceback[0]}")
    print("\nlog records (realtime_dispatch, INFO and above):" + ("" if logs.counts else " none"))
    for line in logs.summary():
        print(line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--socket", action="store_true", help="a real loopback WebSocket instead of memory")
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--metrics", action="store_true", help="run the app with collect_metrics = True")
    parser.add_argument("--tracemalloc", action="store_true", help="trace Python allocations (much slower)")
    args = parser.parse_args(argv)

    with counting_logs(logging.INFO) as logs:
        frames = corpus()
        run = Run(args.events, "socket" if args.socket else "memory", args.backend, args.metrics)
        print(f"soak: {run.events:,} events, {run.mode} transport, {run.backend}, collect_metrics={run.metrics}; "
              f"Python {platform.python_version()} on {platform.machine()}, {sys.platform}")  # fmt: skip
        if args.tracemalloc:
            tracemalloc.start()
        app = anyio.run(soak, run, frames, backend=args.backend)
        if args.tracemalloc:
            tracemalloc.stop()
        report(run, app, frames, logs)


if __name__ == "__main__":
    main()
