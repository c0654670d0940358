"""Many sessions: N concurrent ``RealtimeApp`` sessions against one in-process simulator, over loopback WebSockets.

Run from the repository root::

    python -m stress.many_sessions                    # 1,000 sessions
    python -m stress.many_sessions --sessions 200 --backend trio
    python -m stress.many_sessions --rounds 3        # the same 1,000 three times: does RSS come back?

A measurement, not a test: it prints figures and never fails on them.

One ``Simulator`` (``serve_websocket`` underneath) serves every session on 127.0.0.1, in the same event loop
as the clients. Each session is a ``RealtimeApp`` with ``session = Session(output_modalities=["text"])``
connecting through ``openai(..., base_url=...)``, so every connection costs two file descriptors (client and
server ends); the script raises the soft ``RLIMIT_NOFILE`` up to the hard limit when it must.

Three phases:

1. **Connect.** All sessions start at once. A session counts as connected when its ``on_connect`` runs
   (WebSocket handshake done, ``session.update`` sent). Each one then waits at a gate, so at the end of this
   phase all N are open at the same time: that is when RSS and open descriptors are read.
2. **Turn.** The gate opens: each session sends a user message and ``response.create``, the simulator
   streams the answer (``You said: ...``, word by word), and the session closes itself on ``response.done``.
3. **Check.** Every session must have received ``session.created``, ``session.updated`` and a completed
   ``response.done``, and its streamed text must equal the echo of what it sent. Anything else is a failure.

Per-event cost is the CPU (and wall) time of the turn phase over the events the clients received. Client and
simulator run in this one process, so it is the cost of both ends. Memory per session is the RSS growth from
before the first connect to the moment all N are open, over N; it also covers both ends.
"""

from __future__ import annotations

import argparse
import gc
import logging
import platform
import statistics
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field

import anyio

from realtime_dispatch import Connection, RealtimeApp, events, on, openai
from realtime_dispatch.simulator import Simulator
from realtime_dispatch.transports import Transport

from . import LogCounter, counting_logs, open_fds, raise_fd_limit, rss_mib


@dataclass
class Shared:
    sessions: int
    gate: anyio.Event = field(default_factory=anyio.Event)
    all_connected: anyio.Event = field(default_factory=anyio.Event)
    connected: int = 0
    handshake: list[float] = field(default_factory=list)  # connect_websocket alone, seconds
    to_connect: list[float] = field(default_factory=list)  # session start -> on_connect, seconds
    started: float = 0.0


class TurnApp(RealtimeApp):
    session = events.Session(type="realtime", output_modalities=["text"], instructions="Echo.")
    reconnect = None

    def __init__(self, index: int, shared: Shared) -> None:
        super().__init__(name=f"session-{index}")
        self.index = index
        self.shared = shared
        self.said = f"Hello from session {index}, how are you?"
        self.events = 0
        self.types: Counter[str] = Counter()
        self.text: list[str] = []
        self.status: str | None = None

    async def on_connect(self, connection: Connection) -> None:
        shared = self.shared
        shared.to_connect.append(time.perf_counter() - shared.started)
        shared.connected += 1
        if shared.connected == shared.sessions:
            shared.all_connected.set()
        await shared.gate.wait()
        await connection.create_item(events.ConversationItem.message("user", self.said))
        await connection.create_response()

    @on("*")
    async def every(self, event: events.ServerEvent) -> None:
        self.events += 1
        self.types[event.type] += 1

    @on("response.output_text.delta")
    async def delta(self, event: events.ResponseOutputTextDelta) -> None:
        self.text.append(event.delta)

    @on("response.done")
    async def done(self, event: events.ResponseDone, connection: Connection) -> None:
        self.status = event.response.status
        await connection.close()

    def failure(self) -> str | None:
        if self.types["session.created"] != 1 or self.types["session.updated"] != 1:
            return f"session events: {self.types['session.created']} created, {self.types['session.updated']} updated"
        if self.status != "completed":
            return f"response.done status {self.status!r}"
        if "".join(self.text) != f"You said: {self.said}":
            return f"text {''.join(self.text)!r}"
        return None


def factory(endpoint: object, shared: Shared):  # type: ignore[no-untyped-def]
    async def connect() -> Transport:
        started = time.perf_counter()
        transport = await endpoint()  # type: ignore[operator]
        shared.handshake.append(time.perf_counter() - started)
        return transport  # type: ignore[no-any-return]

    return connect


@dataclass
class Result:
    apps: list[TurnApp]
    errors: dict[int, str]
    connect_wall: float
    turn_wall: float
    turn_cpu: float
    rss_before: float
    rss_connected: float
    rss_after: float
    fds_before: int
    fds_connected: int
    fds_after: int
    timed_out: bool


async def many(sessions: int, timeout: float) -> tuple[Shared, Result]:
    shared = Shared(sessions)
    apps = [TurnApp(index, shared) for index in range(sessions)]
    errors: dict[int, str] = {}

    async def run_one(app: TurnApp) -> None:
        try:
            await app.run_async(factory(endpoint, shared))
        except Exception as exc:
            errors[app.index] = "".join(traceback.format_exception_only(exc)).strip()

    gc.collect()
    rss_before, fds_before = rss_mib(), open_fds()
    timed_out = False
    connect_wall = turn_wall = turn_cpu = 0.0
    rss_connected, fds_connected = rss_before, fds_before
    async with Simulator().serve() as base_url:
        endpoint = openai("gpt-realtime", base_url=base_url)
        with anyio.move_on_after(timeout) as scope:
            async with anyio.create_task_group() as task_group:
                shared.started = time.perf_counter()
                for app in apps:
                    task_group.start_soon(run_one, app)
                with anyio.move_on_after(timeout / 2):
                    while not shared.all_connected.is_set() and len(errors) + shared.connected < sessions:  # noqa: ASYNC110 (polls state that has no event)
                        await anyio.sleep(0.05)
                connect_wall = time.perf_counter() - shared.started
                gc.collect()
                rss_connected, fds_connected = rss_mib(), open_fds()
                turn_started, cpu_started = time.perf_counter(), time.process_time()
                shared.gate.set()
            turn_wall = time.perf_counter() - turn_started
            turn_cpu = time.process_time() - cpu_started
        timed_out = scope.cancelled_caught
    gc.collect()
    result = Result(
        apps, errors, connect_wall, turn_wall, turn_cpu, rss_before, rss_connected, rss_mib(), fds_before,
        fds_connected, open_fds(), timed_out,
    )  # fmt: skip
    return shared, result


def _ms(values: list[float], p: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000:.0f}"


def report(shared: Shared, result: Result, logs: LogCounter) -> None:
    n = shared.sessions
    apps = result.apps
    failures = {app.index: reason for app in apps if (reason := app.failure()) is not None}
    failures.update(result.errors)
    total_events = sum(app.events for app in apps)
    print(f"\nsessions: {n:,}; connected at once: {shared.connected:,}; "
          f"completed a turn: {sum(app.status == 'completed' for app in apps):,}; failures: {len(failures)}"
          + ("; TIMED OUT" if result.timed_out else ""))  # fmt: skip
    for index, reason in sorted(failures.items())[:10]:
        print(f"  session {index}: {reason}")
    reasons = Counter(reason.split(":")[0] for reason in failures.values())
    if reasons:
        print("  failure kinds: " + ", ".join(f"{kind} x{count}" for kind, count in reasons.most_common()))
    print(f"\nconnect: all {shared.connected:,} open after {result.connect_wall:.2f} s (started at once)")
    print(
        f"  WebSocket handshake (connect_websocket), ms: p50 {_ms(shared.handshake, 50)}, "
        f"p90 {_ms(shared.handshake, 90)}, p99 {_ms(shared.handshake, 99)}, max {_ms(shared.handshake, 100)}"
    )
    print(
        f"  start -> on_connect (handshake + session.update sent), ms: p50 {_ms(shared.to_connect, 50)}, "
        f"p99 {_ms(shared.to_connect, 99)}, max {_ms(shared.to_connect, 100)}"
    )
    per_session = [app.events for app in apps if app.status == "completed"]
    print(f"\nturn: {total_events:,} events received by the clients "
          f"({statistics.mean(per_session) if per_session else 0:.1f} per session) in {result.turn_wall:.2f} s wall, "
          f"{result.turn_cpu:.2f} s CPU")  # fmt: skip
    if total_events:
        print(f"  per event (client + simulator, one process): {result.turn_cpu / total_events * 1e6:.1f} µs CPU, "
              f"{result.turn_wall / total_events * 1e6:.1f} µs wall; "
              f"{total_events / result.turn_wall:,.0f} events/s")  # fmt: skip
        print(f"  per session turn (connect excluded; message, answer, close): "
              f"{result.turn_cpu / n * 1000:.1f} ms CPU")  # fmt: skip
    grown = result.rss_connected - result.rss_before
    print(f"\nRSS: {result.rss_before:.1f} MiB before, {result.rss_connected:.1f} MiB with all {shared.connected:,} "
          f"open, {result.rss_after:.1f} MiB after all closed")  # fmt: skip
    if shared.connected:
        print(f"  per open session (client + simulator ends): {grown * 1024 / shared.connected:.1f} KiB")
    print(f"open file descriptors: {result.fds_before} before, {result.fds_connected} with all open, "
          f"{result.fds_after} after")  # fmt: skip
    print("\nlog records at WARNING and above:" + ("" if any(" INFO " not in s for s in logs.summary()) else " none"))
    for line in logs.summary():
        if " INFO " not in line:
            print(line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    parser.add_argument("--rounds", type=int, default=1, help="run the whole thing this many times, one after another")
    args = parser.parse_args(argv)

    limit = raise_fd_limit(2 * args.sessions + 256)
    with counting_logs(logging.WARNING) as logs:
        print(f"many sessions: {args.sessions:,} RealtimeApp sessions, one Simulator, loopback WebSockets, "
              f"{args.backend}; Python {platform.python_version()}; RLIMIT_NOFILE soft limit {limit}")  # fmt: skip
        if limit < 2 * args.sessions + 64:
            print(f"  warning: {limit} descriptors cannot hold {args.sessions} connections (2 each): expect failures")
        after: list[float] = []
        for round_ in range(1, args.rounds + 1):
            if args.rounds > 1:
                print(f"\n--- round {round_} of {args.rounds} ---")
            shared, result = anyio.run(many, args.sessions, args.timeout, backend=args.backend)
            report(shared, result, logs)
            logs.counts.clear()
            after.append(result.rss_after)
        if args.rounds > 1:
            print(f"\nRSS after each round (MiB): {', '.join(f'{rss:.1f}' for rss in after)}")


if __name__ == "__main__":
    main()
