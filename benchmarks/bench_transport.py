"""Transport benchmark: receiving server frames over loopback, websockets-based vs picows.

Run from the repository root::

    python -m benchmarks.bench_transport            # full run
    python -m benchmarks.bench_transport --quick    # a few seconds, noisier figures

A measurement, not a test: it prints figures and never fails on them.

Setup: ``serve_websocket`` on 127.0.0.1. When the client sends ``go``, the server writes
``--frames`` frames of the corpus (``benchmarks.corpus.build_corpus``, repeated; ~2.1 KB
average, audio deltas up to 6.4 KB), pre-serialised as unmasked TEXT frames and written
in ~1 MiB chunks straight to the socket, so the server costs almost nothing per frame and
the client's receive path is what is measured. The client times from sending ``go`` to
its last ``receive()``: socket reads, frame parsing, payload copy and the per-message
``receive`` call (no JSON decoding).

Clients: (a) ``connect_websocket`` on asyncio (``AsyncioWebSocketTransport``: websockets
Sans-I/O in asyncio's data callback), (a2) the anyio-stream ``WebSocketTransport`` on
asyncio (what ``connect_websocket`` used there before), (b) ``connect_picows`` on asyncio,
(c) ``connect_websocket`` on trio (the anyio-stream transport). Each run uses a fresh
event loop and server; clients take turns run by run and the best run of each is
reported (µs per frame and frames per second), with ratios against (a).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from importlib.metadata import version
from typing import Any

import anyio
from websockets.frames import Frame, Opcode

from realtime_dispatch.transports import TransportClosed, WebSocketTransport, connect_websocket, serve_websocket
from realtime_dispatch.transports._picows import connect_picows
from realtime_dispatch.transports._websocket import connect_websocket_anyio

from .corpus import build_corpus

_CHUNK = 1024 * 1024


def wire_chunks(frames: list[bytes]) -> list[bytes]:
    """The frames as a server writes them (unmasked TEXT frames), joined into ~1 MiB writes."""
    chunks: list[bytes] = []
    pending: list[bytes] = []
    size = 0
    for payload in frames:
        data = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
        pending.append(data)
        size += len(data)
        if size >= _CHUNK:
            chunks.append(b"".join(pending))
            pending, size = [], 0
    if pending:
        chunks.append(b"".join(pending))
    return chunks


def make_handler(chunks: list[bytes]) -> Callable[[WebSocketTransport], Awaitable[None]]:
    async def blast(transport: WebSocketTransport) -> None:
        if await transport.receive() != b"go":
            return
        for chunk in chunks:
            await transport._stream.send(chunk)
        # then wait for the client to close
        with anyio.move_on_after(10), suppress(TransportClosed):
            while True:
                await transport.receive()

    return blast


Connect = Callable[[str], Awaitable[Any]]


async def one_run(connect: Connect, chunks: list[bytes], count: int, expected_bytes: int) -> float:
    """Seconds for the client to receive ``count`` frames."""
    async with serve_websocket(make_handler(chunks)) as port:
        client = await connect(f"ws://127.0.0.1:{port}/v1/realtime")
        try:
            receive = client.receive
            total = 0
            start = time.perf_counter()
            await client.send(b"go")
            for _ in range(count):
                total += len(await receive())
            elapsed = time.perf_counter() - start
        finally:
            await client.aclose()
    if total != expected_bytes:
        sys.exit(f"wrong payload total: {total} != {expected_bytes}")
    return elapsed


CLIENTS: list[tuple[str, str, Connect]] = [
    ("websockets transport (asyncio)", "asyncio", connect_websocket),
    ("websockets over anyio (asyncio)", "asyncio", connect_websocket_anyio),
    ("picows transport (asyncio)", "asyncio", connect_picows),
    ("websockets over anyio (trio)", "trio", connect_websocket),
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer frames and runs")
    parser.add_argument("--frames", type=int, default=None, help="frames per run (default 50,000; quick 10,000)")
    parser.add_argument("--runs", type=int, default=None, help="runs per client (default 7; quick 3)")
    args = parser.parse_args(argv)
    count = args.frames or (10_000 if args.quick else 50_000)
    runs = args.runs or (3 if args.quick else 7)

    corpus = build_corpus()
    frames = [corpus[n % len(corpus)] for n in range(count)]
    expected = sum(map(len, frames))
    chunks = wire_chunks(frames)

    print(f"Python {platform.python_version()} on {platform.machine()}, picows {version('picows')}")
    print(f"{count:,} frames per run, {expected / count:,.0f} B average payload, {expected / 1e6:.1f} MB", end="")
    print(f"; best of {runs} runs")

    # warm-up: one short run each
    for _, backend, connect in CLIENTS:
        anyio.run(one_run, connect, wire_chunks(frames[:2000]), 2000, sum(map(len, frames[:2000])), backend=backend)

    times: dict[str, list[float]] = {name: [] for name, _, _ in CLIENTS}
    for _ in range(runs):
        for name, backend, connect in CLIENTS:
            times[name].append(anyio.run(one_run, connect, chunks, count, expected, backend=backend))

    baseline = min(times[CLIENTS[0][0]])
    print()
    print(f"{'client':<34}{'best µs/frame':>14}{'median':>10}{'frames/s':>12}{'MB/s':>9}{'vs (a)':>9}")
    for name, _, _ in CLIENTS:
        best = min(times[name])
        median = statistics.median(times[name])
        print(
            f"{name:<34}{best / count * 1e6:>14.2f}{median / count * 1e6:>10.2f}{count / best:>12,.0f}"
            f"{expected / best / 1e6:>9.0f}{baseline / best:>8.2f}x"
        )
    picows_best = min(times["picows transport (asyncio)"])
    anyio_best = min(times["websockets over anyio (asyncio)"])
    print()
    print(f"picows receives {baseline / picows_best:.2f}x faster than the websockets transport on asyncio")
    print(f"the asyncio websockets transport receives {anyio_best / baseline:.2f}x faster than the anyio one")


if __name__ == "__main__":
    main()
