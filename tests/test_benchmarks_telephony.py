"""A tiny run of ``benchmarks/bench_telephony.py`` (calls held by one worker process against the simulator's phone
network, and webhook -> sideband latency), so that it keeps working; the real runs are by hand and their figures are
in ``benchmarks/README.md``. No timing or memory figure is checked: only that both parts run, that no call failed,
and that the figures are printed."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("httpx")
pytest.importorskip("hypercorn")

from benchmarks import bench_telephony


def test_capacity_and_latency_run_with_no_failed_call(capsys: pytest.CaptureFixture[str]) -> None:
    results = bench_telephony.main(["--smoke"])
    out = capsys.readouterr().out
    capacity, latency = results["capacity"], results["latency"]
    assert capacity["failed"] == 0, capacity["failures"]
    assert latency["failed"] == 0, latency["failures"]
    assert capacity["peak_active"] >= 1
    assert capacity["worker_metrics"]["accepted"] == capacity["calls"] + bench_telephony.WARM_CALLS
    assert capacity["worker_metrics"]["errors"] == 0
    assert not math.isnan(capacity["rss_per_call_kb"])
    assert latency["sideband open"]["n"] == latency["calls"]
    for line in ("RSS per call:", "concurrency:", "failed calls: 0", "webhook -> sideband open at", "machine:"):
        assert line in out, line
