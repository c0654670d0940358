"""Telephony: calls held by one worker process against the simulator's phone network, and webhook -> sideband latency.

Run from the repository root (needs the ``telephony`` extra, httpx and hypercorn)::

    python -m benchmarks.bench_telephony                  # 1,000 concurrent calls, then 10 s at 50 calls/s (~2 min)
    python -m benchmarks.bench_telephony --quick          # 50 calls, then 3 s at 50 calls/s (~12 s)
    python -m benchmarks.bench_telephony --profile        # and what the calls keep alive in the worker, by type
    python -m benchmarks.bench_telephony --only capacity --calls 300 --tracemalloc   # ... by source line

A measurement, not a test: it prints figures against the targets and never fails on them.

**The worker** is its own process, ``python -m benchmarks.telephony_worker``: one ``TelephonyServer`` answering
``benchmarks.telephony_app:App`` (a ``RealtimeApp`` with two ``@on`` handlers and a ``@tool``) under hypercorn,
set up as ``realtime-dispatch serve`` sets it up, with ``/bench/`` routes for its metrics and (``--profile``) the
objects it holds. Nothing else runs in it, so its RSS (``/proc/PID/status``) is the worker's. **The phone
network** (the simulator's ``PhoneNetwork``: signed webhooks, call-control REST under hypercorn, a simulator
session and a scripted caller per accepted call) runs in this process. Both raise ``RLIMIT_NOFILE`` to the hard
limit; everything is on 127.0.0.1.

**Capacity.** After a few warm-up calls the worker collects its garbage and its RSS is the baseline. Then
``--calls`` N calls are placed at ``--rate`` a second, each caller saying three sentences (one makes the app's
tool run) and pressing a key, with waits between so that every call is still up when the last one is answered
(a call lasts about the ramp time plus ``--hold``, 8 s). RSS and the worker's ``/health`` ``active_calls`` are
sampled every 0.1 s. RSS per call = (the highest RSS while the most calls were up - baseline) / those calls. A call
failed if it was not accepted, its sideband never opened, or it did not end by the caller hanging up.

**Latency.** A fresh worker and network; calls placed at ``--latency-rate`` (50/s) for ``--latency-seconds`` (10 s),
each short (a sentence and a key). Per call, on the simulator's clock (``CallRecord``): the webhook's first attempt
sent -> the accept answered -> the sideband's handshake; p50/p99. And the worker's own view (``metrics``: its
webhook received -> accept returned -> sideband open), from ``/bench/stats``, warm-up calls included.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import math
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from .telephony_worker import proc_status, raise_fd_limit

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-bench-telephony-0123456789"
RSS_TARGET_KB = 100  # per call
CONCURRENCY_TARGET = 1000
SAMPLE_EVERY = 0.1  # seconds between RSS / health samples
WARM_CALLS = 5


# --- the worker process ----------------------------------------------------------------------------


@dataclass
class Worker:
    pid: int
    url: str
    client: Any  # httpx.AsyncClient
    stderr: Path

    async def get(self, path: str) -> dict[str, Any]:
        response = await self.client.get(f"{self.url}{path}")
        response.raise_for_status()
        return dict(response.json())

    async def post(self, path: str) -> dict[str, Any]:
        response = await self.client.post(f"{self.url}{path}")
        response.raise_for_status()
        return dict(response.json())

    def status(self) -> dict[str, int]:
        return proc_status(self.pid)


@asynccontextmanager
async def worker_process(
    endpoints: Any, secret: str, *, max_calls: int, backend: str, trace: bool, directory: Path, log_info: bool = False
) -> AsyncIterator[Worker]:
    """Start the worker on the network's endpoints; stop it with SIGTERM (its drain) on leaving."""
    import httpx

    env = {
        **os.environ,
        "OPENAI_WEBHOOK_SECRET": secret,
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": endpoints.base_url,
        "OPENAI_WEBSOCKET_BASE_URL": endpoints.websocket_base_url,
    }
    command = [sys.executable, "-m", "benchmarks.telephony_worker", "--max-calls", str(max_calls)]
    command += ["--backend", backend] + (["--tracemalloc"] if trace else []) + (["--log-info"] if log_info else [])
    stderr_path = directory / f"worker-{time.monotonic_ns()}.log"
    with stderr_path.open("wb") as stderr:  # the child keeps its own descriptor
        process = await anyio.open_process(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr)
    try:
        assert process.stdout is not None
        line = b""
        with anyio.fail_after(60):
            while not line.endswith(b"\n"):
                chunk = await process.stdout.receive()
                line += chunk
        url = line.decode().strip().rpartition(" ")[2]
        async with httpx.AsyncClient(timeout=60) as client:
            yield Worker(process.pid, url, client, stderr_path)
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with anyio.move_on_after(45, shield=True):
            await process.wait()
        if process.returncode is None:
            process.kill()
            with anyio.move_on_after(5, shield=True):
                await process.wait()
        await process.aclose()


def worker_log_summary(path: Path) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    lines = [line for line in text.splitlines() if line.strip()]
    tracebacks = text.count("Traceback")
    return f"{len(lines)} line(s) on the worker's stderr, {tracebacks} traceback(s)" + (
        f"; first: {lines[0][:160]}" if lines else ""
    )


# --- figures ---------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def failures(records: Sequence[Any]) -> dict[str, int]:
    return {
        "not accepted": sum(1 for r in records if r.accepted_at is None),
        "no sideband": sum(1 for r in records if r.sideband_opened_at is None or r.sidebands == 0),
        "not ended by the caller": sum(1 for r in records if r.ended_by != "caller"),
    }


def failed_calls(records: Sequence[Any]) -> int:
    return sum(
        1
        for r in records
        if r.accepted_at is None or r.sideband_opened_at is None or r.sidebands == 0 or r.ended_by != "caller"
    )


def versions() -> str:
    names = ("realtime-dispatch", "hypercorn", "httpx", "h11", "wsproto", "websockets", "anyio", "msgspec")
    found = []
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"{name} {importlib.metadata.version(name)}")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = ""
    with contextlib.suppress(OSError), open("/proc/meminfo") as meminfo:
        memory = f", {int(meminfo.readline().split()[1]) / 1024 / 1024:.0f} GiB"
    return (
        f"{platform.machine()}, {cpus} CPUs{memory}, Linux {platform.release()}; Python {platform.python_version()} "
        f"({platform.python_implementation()}); " + ", ".join(found)
    )


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


async def wait_worker_ended(worker: Worker, count: int, timeout: float) -> dict[str, Any]:
    """Poll the worker's stats until ``count`` calls have ended there (or ``timeout``)."""
    stats = await worker.get("/bench/stats")
    with anyio.move_on_after(timeout):
        while stats["metrics"]["ended"] < count or stats["active_calls"]:
            await anyio.sleep(0.1)
            stats = await worker.get("/bench/stats")
    return stats


async def warm_up(network: Any, worker: Worker) -> None:
    from realtime_dispatch.simulator import CallerStep

    script = network.caller_script
    network.caller_script = [CallerStep(say="Hello."), CallerStep(say="Run lookup_order 1."), CallerStep(dtmf="1")]
    try:
        records = await network.place_calls(WARM_CALLS, rate=50)
        await network.wait_ended([r.call_id for r in records], timeout=30)
        await wait_worker_ended(worker, WARM_CALLS, 15)
    finally:
        network.caller_script = script


# --- capacity --------------------------------------------------------------------------------------


def capacity_script(calls: int, rate: float, hold: float) -> tuple[list[dict[str, Any]], float]:
    """Three sentences (the second makes the tool run) and a key, spaced so that the first call is still up
    ``hold`` seconds after the last is placed; returns the script and the waits between turns."""
    ramp = calls / rate
    wait = round((ramp + hold) / 3, 2)
    script: list[dict[str, Any]] = [
        {"say": "Hi, my order?"},
        {"wait": wait},
        {"say": "Run lookup_order 12."},
        {"wait": wait},
        {"say": "Thanks, bye."},
        {"dtmf": "1"},
        {"wait": wait},
    ]
    return script, wait


async def run_capacity(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    from realtime_dispatch.simulator import PhoneNetwork
    from realtime_dispatch.telephony import new_secret

    calls, rate = args.calls, args.rate
    script, wait = capacity_script(calls, rate, args.hold)
    secret = new_secret()
    network = PhoneNetwork(
        caller_script=script,
        turn_delay=0.05,
        reply_timeout=10.0,
        attach_timeout=30.0,
        ring_timeout=60.0,
        webhook_timeout=30.0,
    )
    print(
        f"capacity: {calls} calls at {rate:g}/s (ramp {calls / rate:.1f} s); each caller: 3 sentences (one runs the "
        f"tool) and a DTMF key, {wait:g} s waits between (a call lasts ~{3 * wait:.1f} s); worker max_calls "
        f"{calls + 100}, backend {args.backend}" + (", tracemalloc on" if args.tracemalloc else ""),
        flush=True,
    )
    async with (
        network.serve() as endpoints,
        worker_process(
            endpoints,
            secret,
            max_calls=calls + 100,
            backend=args.backend,
            trace=args.tracemalloc,
            directory=directory,
            log_info=args.logs is not None,
        ) as worker,
    ):
        network.webhook_url, network.webhook_secret = f"{worker.url}/webhook", secret
        started = worker.status()
        await warm_up(network, worker)
        await worker.post("/bench/mark")  # collects garbage (and the gc/tracemalloc baseline for --profile)
        await anyio.sleep(0.5)
        baseline = worker.status()
        warm_ids = set(network.calls)
        samples: list[tuple[float, int, int, int]] = []  # (t, rss KiB, worker active calls, calls up)
        profile: dict[str, Any] | None = None
        placed_at: float | None = None
        placing_done = anyio.Event()
        records: list[Any] = []

        async def place() -> None:
            records.extend(await network.place_calls(calls, rate=rate))
            placing_done.set()

        def up() -> int:
            return sum(
                1
                for call_id, call in network.calls.items()
                if call_id not in warm_ids and call.record.sideband_opened_at is not None and not call.ended.is_set()
            )

        lags: list[float] = []  # this process's event-loop lag (the phone network's), seconds

        async def probe_lag() -> None:
            while True:
                before = time.monotonic()
                await anyio.sleep(0.02)
                lags.append(time.monotonic() - before - 0.02)

        t0 = time.monotonic()
        limit = calls / rate + 4 * wait + 60  # seconds: the ramp, the calls' length, and room for a slow machine
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(place)
            task_group.start_soon(probe_lag)
            while time.monotonic() - t0 < limit:
                health = await worker.get("/health")
                now_up = up()
                samples.append((time.monotonic() - t0, worker.status()["VmRSS"], health["active_calls"], now_up))
                if placing_done.is_set() and placed_at is None:
                    placed_at = time.monotonic()
                at_peak = placed_at is not None and (now_up >= calls or time.monotonic() - placed_at > min(3, wait / 2))
                if args.profile and profile is None and at_peak:
                    profile = await worker.get("/bench/memory")
                if placing_done.is_set() and all(call.ended.is_set() for call in network.calls.values()):
                    break
                await anyio.sleep(SAMPLE_EVERY)
            task_group.cancel_scope.cancel()
        elapsed = time.monotonic() - t0
        await network.wait_ended(timeout=10)
        stats = await wait_worker_ended(worker, calls + WARM_CALLS, 20)
        await worker.post("/bench/mark")
        after = worker.status()
    print(f"  {worker_log_summary(worker.stderr)}")
    peak_active = max((s[2] for s in samples), default=0)
    peak_up = max((s[3] for s in samples), default=0)
    at_peak = [s for s in samples if s[2] == peak_active]
    rss_peak = max(s[1] for s in at_peak) if at_peak else 0
    per_call = (rss_peak - baseline["VmRSS"]) * 1024 / peak_active / 1000 if peak_active else math.nan  # kB
    hwm_per_call = (after["VmHWM"] - baseline["VmRSS"]) * 1024 / max(peak_active, 1) / 1000
    failed = failed_calls(records)
    late = [r.placed_at - records[0].placed_at for r in records if r.sideband_opened_at is None] if records else []
    result = {
        "calls": calls,
        "rate": rate,
        "elapsed_s": elapsed,
        "worker_started_rss_kib": started["VmRSS"],
        "baseline_rss_kib": baseline["VmRSS"],
        "peak_rss_kib": rss_peak,
        "hwm_kib": after["VmHWM"],
        "after_rss_kib": after["VmRSS"],
        "peak_active": peak_active,
        "peak_up": peak_up,
        "rss_per_call_kb": per_call,
        "hwm_per_call_kb": hwm_per_call,
        "failed": failed,
        "failures": failures(records),
        "worker_metrics": stats["metrics"],
        "samples": len(samples),
        "loop_lag_p99_ms": percentile(lags, 99) * 1000 if lags else math.nan,
        "loop_lag_max_ms": max(lags, default=math.nan) * 1000,
    }
    metrics = stats["metrics"]
    print(
        f"  worker RSS: {started['VmRSS'] / 1024:.1f} MiB at start, {baseline['VmRSS'] / 1024:.1f} MiB after "
        f"{WARM_CALLS} warm-up calls (baseline), {rss_peak / 1024:.1f} MiB at peak concurrency, high-water mark "
        f"{after['VmHWM'] / 1024:.1f} MiB, {after['VmRSS'] / 1024:.1f} MiB once all calls ended (collected)"
    )
    print(
        f"  concurrency: {peak_active} calls active in the worker at once (/health), {peak_up} with their sideband "
        f"open at once (simulator); {len(samples)} samples over {elapsed:.1f} s"
    )
    print(
        f"  worker metrics: accepted {metrics['accepted']}, ended {metrics['ended']}, errors {metrics['errors']}, "
        f"failed {metrics['failed']}, busy {metrics['busy']}, gone {metrics['gone']}, "
        f"duplicates {metrics['duplicates']}"
    )
    worker_lag = stats.get("loop_lag_ms", {})
    result["worker_loop_lag_ms"] = worker_lag
    if worker_lag.get("max") is not None:
        print(
            f"  the worker's event loop lagged p50 {worker_lag['p50']:.0f} ms, p99 {worker_lag['p99']:.0f} ms, "
            f"max {worker_lag['max']:.0f} ms"
        )
    print(
        f"  the phone network's event loop (this process) lagged p50 {percentile(lags, 50) * 1000:.0f} ms, "
        f"p99 {result['loop_lag_p99_ms']:.0f} ms, max {result['loop_lag_max_ms']:.0f} ms"
    )
    if late:
        print(f"  calls whose sideband never opened were placed {min(late):.1f} to {max(late):.1f} s into the ramp")
    print(f"  failures: {failed} of {calls} calls ({', '.join(f'{k}: {v}' for k, v in result['failures'].items())})")
    print(
        f"  RSS per call: ({rss_peak} - {baseline['VmRSS']}) KiB / {peak_active} calls = {per_call:.1f} kB "
        f"(high-water mark: {hwm_per_call:.1f} kB)"
    )
    if args.tracemalloc:
        print("  (tracemalloc is on: its own bookkeeping inflates RSS; read the traced figures below)")
    if profile is not None:
        result["profile"] = profile
        print_profile(profile, calls)
    return result


def print_profile(profile: dict[str, Any], calls: int) -> None:
    print(
        f"  profile at peak ({profile['active_calls']} calls active; RSS {profile['rss_kib'] / 1024:.1f} MiB): "
        f"{profile['gc_objects_grown']} more gc-tracked objects than at the baseline, "
        f"{profile['gc_objects_grown'] / max(calls, 1):.0f} per call; by type (per call):"
    )
    for name, count in profile["gc_types_grown"]:
        print(f"    {count / calls:8.2f}  {name}")
    if "traced_lines" in profile:
        print(
            f"  tracemalloc: {profile['traced_grown'] / 1000:.0f} kB more than at the baseline, "
            f"{profile['traced_grown'] / calls / 1000:.1f} kB per call; by file (B per call, blocks per call):"
        )
        for name, size, count in profile["traced_files"][:15]:
            print(f"    {size / calls:9.0f} B {count / calls:7.1f}  {name}")
        print("  by line:")
        for name, size, count in profile["traced_lines"]:
            print(f"    {size / calls:9.0f} B {count / calls:7.1f}  {name}")


# --- latency ---------------------------------------------------------------------------------------


async def run_latency(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    from realtime_dispatch.simulator import PhoneNetwork
    from realtime_dispatch.telephony import new_secret

    rate, seconds = args.latency_rate, args.latency_seconds
    calls = max(1, round(rate * seconds))
    secret = new_secret()
    network = PhoneNetwork(
        caller_script=[{"say": "Hi, I'd like to check my order."}, {"dtmf": "1"}],
        turn_delay=0.05,
        attach_timeout=30.0,
        ring_timeout=60.0,
        webhook_timeout=30.0,
    )
    print(
        f"latency: {calls} calls at {rate:g}/s for {seconds:g} s, each a sentence and a key; backend {args.backend}",
        flush=True,
    )
    async with (
        network.serve() as endpoints,
        worker_process(
            endpoints, secret, max_calls=max(100, calls + 10), backend=args.backend, trace=False, directory=directory
        ) as worker,
    ):
        network.webhook_url, network.webhook_secret = f"{worker.url}/webhook", secret
        await warm_up(network, worker)
        records = await network.place_calls(calls, rate=rate)
        await network.wait_ended([r.call_id for r in records], timeout=seconds + 60)
        stats = await wait_worker_ended(worker, calls + WARM_CALLS, 20)
    print(f"  {worker_log_summary(worker.stderr)}")
    accepted = [r.accepted_at - r.attempts[0].started_at for r in records if r.accepted_at and r.attempts]
    opened = [r.sideband_opened_at - r.attempts[0].started_at for r in records if r.sideband_opened_at and r.attempts]
    delivered = [r.delivered_at - r.attempts[0].started_at for r in records if r.delivered_at and r.attempts]
    retried = sum(1 for r in records if len(r.attempts) > 1)
    failed = failed_calls(records)
    result: dict[str, Any] = {"calls": calls, "rate": rate, "failed": failed, "failures": failures(records)}
    print(f"  failures: {failed} of {calls} calls; webhooks retried: {retried}")
    print("  simulator's clock (CallRecord), from the webhook's first attempt sent, ms:")
    for name, values in (("webhook answered 2xx", delivered), ("accepted", accepted), ("sideband open", opened)):
        if values:
            figures = {p: percentile(values, p) * 1000 for p in (50, 99)}
            worst = max(values) * 1000
            result[name] = {"p50_ms": figures[50], "p99_ms": figures[99], "max_ms": worst, "n": len(values)}
            print(f"    {name:22} p50 {figures[50]:7.2f}  p99 {figures[99]:7.2f}  max {worst:7.2f}  (n={len(values)})")
    metrics = stats["metrics"]
    result["worker_metrics"] = metrics
    print(f"  the worker's metrics (webhook received -> ...; {WARM_CALLS} warm-up calls included), ms:")
    for name in ("accept_latency", "sideband_latency"):
        view = metrics[name]
        if view["count"]:
            print(
                f"    {name:22} p50 {view['p50'] * 1000:7.2f}  p99 {view['p99'] * 1000:7.2f}  "
                f"max {view['max'] * 1000:7.2f}  (n={view['count']})"
            )
    return result


# --- main ------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_telephony", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="concurrent calls in the capacity run (1000)")
    parser.add_argument("--rate", type=float, default=50.0, help="calls a second while ramping them up (50)")
    parser.add_argument("--hold", type=float, default=8.0, help="seconds every call is up at once, about (8)")
    parser.add_argument("--latency-rate", type=float, default=50.0, help="calls a second in the latency run (50)")
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="how long the latency run places calls")
    parser.add_argument("--only", choices=("capacity", "latency"), help="run one of the two")
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio", help="both processes' backend")
    parser.add_argument("--quick", action="store_true", help="50 calls held ~4 s, then 3 s at 50/s")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only checks the setup works (CI)")
    parser.add_argument("--profile", action="store_true", help="at peak, count the worker's objects by type")
    parser.add_argument("--cprofile", type=Path, help="profile this process (the phone network) into this file")
    parser.add_argument("--logs", type=Path, help="keep the workers' stderr in this directory")
    parser.add_argument("--tracemalloc", action="store_true", help="with --profile: trace the worker's allocations")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.hold, args.latency_seconds = 50, 4.0, 3.0
    if args.smoke:
        args.calls, args.hold, args.latency_rate, args.latency_seconds = 8, 1.0, 20.0, 0.5
    if args.tracemalloc:
        args.profile = True
    limits = raise_fd_limit()
    command = shlex.join(["python", "-m", "benchmarks.bench_telephony", *(argv if argv is not None else sys.argv[1:])])
    print(f"command: {command}")
    print(f"machine: {versions()}; RLIMIT_NOFILE {limits[0]} (both processes)", flush=True)
    results: dict[str, Any] = {}

    async def run() -> None:
        with contextlib.ExitStack() as stack:
            if args.logs is not None:
                import logging

                args.logs.mkdir(parents=True, exist_ok=True)
                directory = args.logs
                handler = logging.FileHandler(directory / "phone-network.log")
                handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(name)s: %(message)s", "%H:%M:%S"))
                logging.getLogger("realtime_dispatch").addHandler(handler)
                logging.getLogger("realtime_dispatch").setLevel(logging.INFO)
            else:
                directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_telephony.")))
            if args.only in (None, "capacity"):
                results["capacity"] = await run_capacity(args, directory)
            if args.only in (None, "latency"):
                results["latency"] = await run_latency(args, directory)

    if args.cprofile is not None:
        import cProfile

        with cProfile.Profile() as profiler:
            anyio.run(run, backend=args.backend)
        profiler.dump_stats(args.cprofile)
    else:
        anyio.run(run, backend=args.backend)
    print("\ntargets:")
    if "capacity" in results:
        found = results["capacity"]
        print(
            f"  concurrent calls in one worker: {found['peak_active']} (target {CONCURRENCY_TARGET}): "
            f"{verdict(found['peak_active'] >= CONCURRENCY_TARGET)}"
            + ("" if args.calls >= CONCURRENCY_TARGET else f" (this run placed {args.calls})")
        )
        print(
            f"  RSS per call: {found['rss_per_call_kb']:.1f} kB (target <= {RSS_TARGET_KB} kB): "
            f"{verdict(found['rss_per_call_kb'] <= RSS_TARGET_KB)}"
        )
        print(f"  failed calls: {found['failed']} (target 0): {verdict(found['failed'] == 0)}")
    if "latency" in results:
        found = results["latency"]
        opened = found.get("sideband open")
        if opened:
            print(
                f"  webhook -> sideband open at {found['rate']:g} calls/s: p50 {opened['p50_ms']:.1f} ms, "
                f"p99 {opened['p99_ms']:.1f} ms (measured; no target figure); failed calls: {found['failed']}"
            )
    return results


if __name__ == "__main__":
    main()
