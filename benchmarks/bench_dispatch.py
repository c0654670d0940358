"""Decode + route + inline async handler, per event, against two references in the same run.

1. realtime-dispatch: a ``RealtimeApp`` with inline async handlers, fed by a transport
   whose ``receive`` returns the next frame at once (the in-memory floor of a socket).
2. A hand-written ``match event.type`` loop over the same reused msgspec decoder and the
   same transport: what you would write without a framework.
3. The openai SDK: ``AsyncRealtimeConnection.dispatch_events()`` with ``conn.on(...)``
   handlers, on a fake websocket whose ``recv`` returns the next frame at once.

All three run the same five handlers (each counts its events) on the same corpus
(``benchmarks/corpus.py``). Run from the repository root:

    python -m benchmarks.bench_dispatch [--quick]
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import msgspec

from benchmarks.corpus import CATEGORIES, build_corpus, category
from realtime_dispatch import RealtimeApp, events, on
from realtime_dispatch.transports import TransportClosed

ROUTED = (
    "response.output_audio.delta",
    "response.output_audio_transcript.delta",
    "response.output_text.delta",
    "conversation.item.input_audio_transcription.delta",
    "response.done",
)


class ListTransport:
    """Returns pre-made frames without awaiting anything, then reports a close."""

    def __init__(self, frames: list[bytes], passes: int) -> None:
        self._frames = frames * passes
        self._index = 0

    async def receive(self) -> bytes:
        index = self._index
        if index >= len(self._frames):
            raise TransportClosed(1000)
        self._index = index + 1
        return self._frames[index]

    async def send(self, data: bytes) -> None:
        pass

    async def aclose(self) -> None:
        self._index = len(self._frames)


class Counter:
    def __init__(self) -> None:
        self.n = 0


# --- 1. realtime-dispatch ------------------------------------------------------------------


class BenchApp(RealtimeApp):
    slow_handler_threshold = 10.0

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    @on("response.output_audio.delta")
    async def audio(self, event: events.ResponseOutputAudioDelta) -> None:
        self.count += 1

    @on("response.output_audio_transcript.delta")
    async def transcript(self, event: events.ResponseOutputAudioTranscriptDelta) -> None:
        self.count += 1

    @on("response.output_text.delta")
    async def text(self, event: events.ResponseOutputTextDelta) -> None:
        self.count += 1

    @on("conversation.item.input_audio_transcription.delta")
    async def user_text(self, event: events.InputAudioTranscriptionDelta) -> None:
        self.count += 1

    @on("response.done")
    async def done(self, event: events.ResponseDone) -> None:
        self.count += 1

    @on("error")
    async def error(self, event: events.ErrorEvent) -> None:
        pass


async def run_ours(frames: list[bytes], passes: int) -> int:
    app = BenchApp()
    await app.run_async(ListTransport(frames, passes))
    return app.count


# --- 2. hand-written match loop over msgspec -----------------------------------------------------


def _union_decoder() -> msgspec.json.Decoder[Any]:
    from typing import Union

    return msgspec.json.Decoder(Union[tuple(events.SERVER_EVENTS.values())])  # noqa: UP007


async def run_match_loop(frames: list[bytes], passes: int) -> int:
    decoder = _union_decoder()
    transport = ListTransport(frames, passes)
    counter = Counter()

    async def handle(event: Any) -> None:
        counter.n += 1

    while True:
        try:
            frame = await transport.receive()
        except TransportClosed:
            return counter.n
        event = decoder.decode(frame)
        match event.type:
            case (
                "response.output_audio.delta"
                | "response.output_audio_transcript.delta"
                | "response.output_text.delta"
                | "conversation.item.input_audio_transcription.delta"
                | "response.done"
            ):
                await handle(event)


# --- 3. openai SDK dispatch_events() ----------------------------------------------------------------


class FakeWebSocket:
    def __init__(self, frames: list[bytes], passes: int) -> None:
        self._frames = frames * passes
        self._index = 0

    async def recv(self, decode: bool | None = None) -> bytes:
        index = self._index
        if index >= len(self._frames):
            from websockets.exceptions import ConnectionClosedOK
            from websockets.frames import Close

            raise ConnectionClosedOK(Close(1000, ""), Close(1000, ""), True)
        self._index = index + 1
        return self._frames[index]

    async def send(self, data: Any) -> None:
        pass

    async def close(self, code: int = 1000, reason: str = "") -> None:
        pass


async def run_sdk(frames: list[bytes], passes: int) -> int:
    from openai.resources.realtime.realtime import AsyncRealtimeConnection

    connection = AsyncRealtimeConnection(FakeWebSocket(frames, passes))  # type: ignore[arg-type]
    counter = Counter()

    async def handle(event: Any) -> None:
        counter.n += 1

    for name in ROUTED:
        connection.on(name, handle)

    async def on_error(event: Any) -> None:
        pass

    connection.on("error", on_error)
    await connection.dispatch_events()
    return counter.n


# --- timing ------------------------------------------------------------------------------------------

Runner = Callable[[list[bytes], int], Coroutine[Any, Any, int]]


def measure(runner: Runner, frames: list[bytes], passes: int, repeats: int, backend: str) -> list[float]:
    """µs per event for each repeat."""
    results = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter_ns()
        anyio.run(runner, frames, passes, backend=backend)
        elapsed = time.perf_counter_ns() - start
        results.append(elapsed / 1000 / (len(frames) * passes))
    return results


def interleaved(
    first: Runner, second: Runner, frames: list[bytes], passes: int, repeats: int, backend: str
) -> tuple[list[float], list[float]]:
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeats):
        a += measure(first, frames, passes, 1, backend)
        b += measure(second, frames, passes, 1, backend)
    return a, b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    args = parser.parse_args()
    frames = build_corpus()
    # Many short runs, alternating, best of each: this machine has slow spells of seconds.
    passes, repeats, sdk_passes = (10, 5, 2) if args.quick else (30, 25, 4)

    expected = sum(1 for f in frames if events.decode(f).type in ROUTED) * passes
    for name, runner, n in (("realtime-dispatch", run_ours, passes), ("match loop", run_match_loop, passes)):
        got = anyio.run(runner, frames, n, backend=args.backend)
        if got != expected:
            sys.exit(f"{name}: handled {got} events, expected {expected}")
    sdk_expected = expected // passes * sdk_passes
    got = anyio.run(run_sdk, frames, sdk_passes, backend="asyncio")
    if got != sdk_expected:
        sys.exit(f"openai SDK: handled {got} events, expected {sdk_expected}")

    print(f"Python {platform.python_version()}, msgspec {msgspec.__version__}, backend {args.backend}")
    print(f"corpus: {len(frames)} frames, {sum(map(len, frames)) / len(frames):.0f} bytes on average")
    ours, floor = interleaved(run_ours, run_match_loop, frames, passes, repeats, args.backend)
    sdk = measure(run_sdk, frames, sdk_passes, max(3, repeats // 4), "asyncio")
    best_ours, best_floor, best_sdk = min(ours), min(floor), min(sdk)
    for label, values in (("realtime-dispatch", ours), ("match loop (msgspec)", floor), ("openai SDK", sdk)):
        print(f"{label:>22}: {min(values):7.3f} µs/event (median {statistics.median(values):.3f})")
    print(f"ratio vs SDK dispatch_events: {best_sdk / best_ours:.0f}x faster (target >= 40x)")
    print(f"ratio vs match loop: {best_ours / best_floor:.2f} (framework overhead per event)")
    print(f"target <= 1.5 µs/event: {'met' if best_ours <= 1.5 else 'NOT met'} ({best_ours:.3f})")
    print()
    print("per category (each run on that category's frames alone), µs/event, best of the repeats:")
    print(f"  {'category':<20} {'frames':>6} {'ours':>8} {'match':>8} {'ours-match':>11}")
    for name in CATEGORIES:
        subset = [frame for frame in frames if category(frame) == name]
        if len(subset) < 10:
            continue
        scale = max(1, len(frames) // len(subset))
        mine_all, bare_all = interleaved(run_ours, run_match_loop, subset, passes * scale, repeats, args.backend)
        mine, bare = min(mine_all), min(bare_all)
        print(f"  {name:<20} {len(subset):>6} {mine:8.3f} {bare:8.3f} {mine - bare:+11.3f}")


if __name__ == "__main__":
    main()
