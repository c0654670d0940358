"""A tiny run of ``benchmarks/bench_live.py`` (GPT-Live and Translation decode and dispatch), so it keeps working;
the real runs are by hand and their figures are in ``benchmarks/README.md``.

Never a timing: the script checks, before it times anything, that every frame of its mixes validates strictly
against the openai SDK's unions, that ``decode``, the bare msgspec decoder, the codec's fast path and the SDK's
``parse_event`` agree on each frame, and that the app, the hand-written loops and the SDK's ``dispatch_events``
hand their handlers the same number of events; it exits on any disagreement.
"""

from __future__ import annotations

import pytest

from benchmarks import bench_live


def test_decode_and_dispatch_run_and_agree(capsys: pytest.CaptureFixture[str]) -> None:
    results = bench_live.main(["--smoke"])
    out = capsys.readouterr().out
    assert set(results) == {"live decode", "live dispatch", "translation decode", "translation dispatch"}
    assert out.count("sanity: every frame validates strictly against the SDK's union") == 2
    assert "ratio vs SDK dispatch_events" in out
    assert all(value > 0 for figures in results.values() for value in figures.values())


def test_dispatch_on_trio(capsys: pytest.CaptureFixture[str]) -> None:
    results = bench_live.main(["--smoke", "--only", "dispatch", "--backend", "trio", "--protocol", "live"])
    assert set(results) == {"live dispatch"}
    assert "backend trio" in capsys.readouterr().out
