"""The ``realtime-dispatch`` command, run as a user would."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from realtime_dispatch import openai
from realtime_dispatch._cli import DemoApp, main
from realtime_dispatch.simulator import Simulator

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "tests" / "data" / "recorded"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_demo_runs_offline_against_the_built_in_simulator(backend: str) -> None:
    args = [sys.executable, "-m", "realtime_dispatch", "demo"] + (["--trio"] if backend == "trio" else [])
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    assert "built-in simulator" in result.stdout
    assert "you:       Hello! Who are you?" in result.stdout
    assert "[tool get_time({})]" in result.stdout
    assert "12:34" in result.stdout
    assert result.stdout.count("you: ") == 3


@pytest.mark.anyio
async def test_demo_app_asks_every_question_and_closes() -> None:
    out = io.StringIO()
    app = DemoApp(["one", "two"], out=out)
    async with Simulator().serve(host="127.0.0.1", port=0) as base_url:
        with anyio.fail_after(20):
            await app.run_async(openai("gpt-realtime", base_url=base_url))
    text = out.getvalue()
    assert "you:       one" in text
    assert "you:       two" in text
    assert app.asked == 2


def test_replay_lists_the_events_of_a_recording(capsys: pytest.CaptureFixture[str]) -> None:
    recording = RECORDED / "ga-pydantic-ai-test_openai_ws-test_text_in_audio_out_turn-2026-07-28.jsonl"
    assert main(["replay", str(recording)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["1", "session.created"]
    assert len(lines) == 21


def test_replay_reports_bad_frames_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recording = tmp_path / "bad.jsonl"
    recording.write_bytes(b'{"type":"input_audio_buffer.cleared","event_id":"e"}\nnot json\n')
    assert main(["replay", str(recording)]) == 1
    out = capsys.readouterr().out
    assert "input_audio_buffer.cleared" in out
    assert "DecodeError" in out


def test_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "realtime_dispatch", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("realtime-dispatch ")
