"""The worker process of ``bench_telephony.py``: one ``TelephonyServer`` answering ``benchmarks.telephony_app:App``
under hypercorn, configured as ``realtime-dispatch serve`` configures it (a listening socket handed over as
``fd://``, backlog 1024, no access log), plus a few read-only routes for the benchmark under ``/bench/``:

- ``GET /bench/stats``: the server's ``metrics.snapshot()``, its active calls, and this process's VmRSS/VmHWM;
- ``POST /bench/mark``: collect garbage and remember the live objects by type (and, under ``--tracemalloc``, a
  tracemalloc snapshot) as the baseline of ``/bench/memory``;
- ``GET /bench/memory``: collect garbage, then what grew since the mark: gc-tracked objects by type, and under
  ``--tracemalloc`` the allocations by source line.

Run by the benchmark as ``python -m benchmarks.telephony_worker --max-calls N`` with ``OPENAI_WEBHOOK_SECRET``,
``OPENAI_API_KEY``, ``OPENAI_BASE_URL`` and ``OPENAI_WEBSOCKET_BASE_URL`` set (the phone network's). It prints one
line, ``listening on http://127.0.0.1:PORT``, and serves until SIGTERM/SIGINT (which drains, as ``serve`` does).
Nothing else runs in this process, so its RSS is the worker's.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import resource
import signal
import socket
import sys
import time
import tracemalloc
from collections.abc import Sequence
from typing import Any

import anyio


def raise_fd_limit() -> tuple[int, int]:
    """Raise RLIMIT_NOFILE's soft limit to the hard one; returns the limits now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS, VmHWM (and the other Vm* lines) of a process, in KiB."""
    found: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("Vm"):
                name, _, value = line.partition(":")
                found[name] = int(value.split()[0])
    return found


class BenchRoutes:
    """The ``/bench/`` routes in front of the ``TelephonyServer``; everything else goes to the server."""

    def __init__(self, server: Any, *, top: int = 30) -> None:
        self.server = server
        self.top = top
        self.mark_types: collections.Counter[str] = collections.Counter()
        self.mark_snapshot: tracemalloc.Snapshot | None = None
        self.lags: list[float] = []  # the event loop's lag (seconds) since the last mark, every 20 ms

    async def probe_lag(self) -> None:
        """How late a 20 ms sleep wakes up: the event loop's lag, what every call's I/O waits behind."""
        while True:
            before = time.monotonic()
            await anyio.sleep(0.02)
            self.lags.append(time.monotonic() - before - 0.02)
            if len(self.lags) > 100_000:
                del self.lags[:50_000]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope.get("type") == "http" else ""
        if not path.startswith("/bench/"):
            await self.server(scope, receive, send)
            return
        if path == "/bench/stats":
            payload = self.stats()
        elif path == "/bench/mark":
            payload = self.mark()
        elif path == "/bench/memory":
            payload = self.memory()
        else:
            payload = {"error": "not found"}
        body = json.dumps(payload).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def stats(self) -> dict[str, Any]:
        status = proc_status()
        lags = sorted(self.lags)
        return {
            "loop_lag_ms": {
                "p50": lags[len(lags) // 2] * 1000 if lags else None,
                "p99": lags[int(len(lags) * 0.99)] * 1000 if lags else None,
                "max": lags[-1] * 1000 if lags else None,
            },
            "rss_kib": status["VmRSS"],
            "hwm_kib": status["VmHWM"],
            "active_calls": self.server.active_calls,
            "metrics": self.server.metrics.snapshot(),
        }

    @staticmethod
    def _types() -> collections.Counter[str]:
        gc.collect()
        return collections.Counter(type(obj).__qualname__ for obj in gc.get_objects())

    def mark(self) -> dict[str, Any]:
        self.lags = []
        self.mark_types = self._types()
        self.mark_snapshot = tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None
        return self.stats()

    def memory(self) -> dict[str, Any]:
        types = self._types()
        grown = types.copy()
        grown.subtract(self.mark_types)
        found: dict[str, Any] = self.stats()
        found["gc_objects"] = sum(types.values())
        found["gc_objects_grown"] = sum(grown.values())
        found["gc_types_grown"] = grown.most_common(self.top)
        if self.mark_snapshot is not None:
            snapshot = tracemalloc.take_snapshot()
            ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
            now, before = snapshot.filter_traces(ignore), self.mark_snapshot.filter_traces(ignore)
            by_line = now.compare_to(before, "lineno")
            by_file = now.compare_to(before, "filename")
            found["traced_grown"] = sum(stat.size_diff for stat in by_line)
            found["traced_lines"] = [
                [str(stat.traceback[0]), stat.size_diff, stat.count_diff] for stat in by_line[: self.top]
            ]
            found["traced_files"] = [
                [str(stat.traceback[0].filename), stat.size_diff, stat.count_diff] for stat in by_file[: self.top]
            ]
        return found


async def serve(max_calls: int, backend: str) -> None:
    from hypercorn.config import Config

    from realtime_dispatch.telephony import TelephonyServer

    from .telephony_app import App

    server = TelephonyServer(App, max_calls=max_calls, drain_timeout=5.0)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    port = listener.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{listener.detach()}"]
    config.accesslog = None
    config.graceful_timeout = 5.0
    config.shutdown_timeout = 35.0
    if backend == "trio":
        from hypercorn.trio import serve as hypercorn_serve
    else:
        from hypercorn.asyncio import serve as hypercorn_serve  # type: ignore[assignment]
    stop = anyio.Event()

    async def on_signal() -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                stop.set()
                return

    routes = BenchRoutes(server)
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(on_signal)
        task_group.start_soon(routes.probe_lag)

        async def run() -> None:
            try:
                await hypercorn_serve(routes, config, shutdown_trigger=stop.wait)
            finally:
                task_group.cancel_scope.cancel()

        task_group.start_soon(run)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.telephony_worker", description=__doc__.splitlines()[0])
    parser.add_argument("--max-calls", type=int, default=1100)
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--log-info", action="store_true", help="log realtime_dispatch at INFO, with times")
    parser.add_argument("--tracemalloc", action="store_true", help="trace allocations (slow; for /bench/memory)")
    args = parser.parse_args(argv)
    raise_fd_limit()
    if args.log_info:
        import logging

        logging.basicConfig(format="%(asctime)s.%(msecs)03d %(name)s %(levelname)s: %(message)s", datefmt="%H:%M:%S")
        logging.getLogger("realtime_dispatch").setLevel(logging.INFO)
    if args.tracemalloc:
        tracemalloc.start(1)
    anyio.run(serve, args.max_calls, args.backend, backend=args.backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
