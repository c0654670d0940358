"""Tiny runs of the stress scripts (``stress/``), so they keep working; the real runs are by hand.

Each script's ``main`` runs its own event loop, so these are plain tests (asyncio; the soak also on trio).
They check the invariants the scripts print (nothing lost, no failed session, the overflow visible), never a
timing.
"""

from __future__ import annotations

import re

import pytest

from stress import many_sessions, slow_consumer, soak


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_soak_loses_nothing(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    soak.main(["--events", "3000", "--backend", backend, "--metrics"])
    out = capsys.readouterr().out
    assert "events lost: 0" in out
    assert "metrics: 3,000 events counted" in out
    assert "RSS after warm-up" in out


def test_soak_over_a_socket(capsys: pytest.CaptureFixture[str]) -> None:
    soak.main(["--events", "2000", "--socket"])
    assert "events lost: 0" in capsys.readouterr().out


def test_many_sessions_all_complete(capsys: pytest.CaptureFixture[str]) -> None:
    many_sessions.main(["--sessions", "8", "--timeout", "20"])
    out = capsys.readouterr().out
    assert "sessions: 8; connected at once: 8; completed a turn: 8; failures: 0" in out
    fds = re.search(r"open file descriptors: (\d+) before, (\d+) with all open, (\d+) after", out)
    assert fds is not None
    before, during, after = map(int, fds.groups())
    assert during >= before + 16  # two ends per session
    assert after <= before


def test_slow_consumer_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    slow_consumer.main(
        ["--seconds", "0.2", "--inline-ms", "0", "--background-ms", "5", "--reconnect-delay", "0.2",
         "--send-timeout", "0.1"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "[inline]" in out
    assert "[background]" in out
    assert "went out after the reconnect: 100, failed with NotConnected at once: 50, other errors: none" in out
    assert "dropped_sends=50" in out
    assert "in order: True" in out
    assert "then: SendTimeout" in out
    assert "the next send: NotConnected" in out
