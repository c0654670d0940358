"""The examples run, offline, and do what they say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_replay_recording_prints_both_sides(backend: str) -> None:
    args = [sys.executable, str(ROOT / "examples" / "replay_recording.py")]
    if backend == "trio":
        args.append("--trio")
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    assert "user:      Hello, my name is Marcelo." in result.stdout
    assert "assistant: Hello, Marcelo!" in result.stdout
    assert "68 events of 19 types routed" in result.stdout


def test_replay_recording_shows_a_tool_call() -> None:
    recording = ROOT / "tests/data/recorded/ga-pydantic-ai-test_openai_ws-test_tool_call_round-2026-07-28.jsonl"
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "replay_recording.py"), str(recording)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert 'tool call: get_weather({ "city": "London" })' in result.stdout
    assert "assistant: It is foggy and 12 degrees in London." in result.stdout
