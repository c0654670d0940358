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


def test_the_readme_minimal_app_runs_against_the_simulator() -> None:
    import re

    readme = (ROOT / "README.md").read_text()
    code = re.search(r"## A minimal app\n\n```python\n(.*?)```", readme, re.S)
    assert code is not None
    source = code.group(1).replace(
        'Assistant().run(openai("gpt-realtime"))',
        "async def main():\n"
        "    from realtime_dispatch.simulator import Simulator\n"
        "    async with Simulator().serve() as base_url:\n"
        '        await Assistant().run_async(openai("gpt-realtime", base_url=base_url))\n'
        "import anyio\n"
        "anyio.run(main)",
    )
    assert "anyio.run(main)" in source
    result = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.split("\n") == ["You said: Hi!", "[completed]", ""]
