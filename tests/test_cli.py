"""The ``realtime-dispatch`` command, run as a user would."""

from __future__ import annotations

import io
import json
import re
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from realtime_dispatch import events, openai
from realtime_dispatch._cli import main
from realtime_dispatch.demo import DemoApp
from realtime_dispatch.simulator import Simulator
from realtime_dispatch.testing import replay

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "tests" / "data" / "recorded"


@pytest.fixture(autouse=True)
def plain_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's expected text is plain: no FORCE_COLOR from a CI environment (tests/test_demo.py tests colour)."""
    monkeypatch.delenv("FORCE_COLOR", raising=False)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_demo_runs_offline_against_the_built_in_simulator(backend: str) -> None:
    args = [sys.executable, "-m", "realtime_dispatch", "demo"] + (["--trio"] if backend == "trio" else [])
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    lines = result.stdout.splitlines()
    assert "built-in Realtime simulator" in lines[0]
    # A text turn, a tool call, an audio turn (server VAD commits it, it is transcribed and answered aloud), all
    # answered by the simulator's echo responder (tests/test_demo.py checks the header and the epilogue).
    start = lines.index("you:       Hello! Who are you?")
    assert lines[start : start + 9] == [
        "you:       Hello! Who are you?",
        "echo:      You said: Hello! Who are you?",
        "you:       What time is it? Use get_time.",
        "           [tool get_time() -> 12:34]",
        "echo:      Tool get_time returned: 12:34",
        "you:       [voice: 1.5 s of a generated tone]",
        "           transcribed: (1.7 s of audio)",
        "echo:      You said: (1.7 s of audio)  [audio: 1.6 s]",
        "",
    ]
    assert lines[start + 9] == "What next"
    assert result.stderr == ""


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
    assert text.splitlines()[-1] == "assistant: You said: (1.7 s of audio)  [audio: 1.6 s]"  # the audio turn


@pytest.mark.anyio
async def test_demo_app_without_vad_commits_the_audio_turn_itself() -> None:
    out = io.StringIO()
    app = DemoApp([], out=out, vad=False)  # what `demo --url` does: a real VAD would not take a tone for speech
    async with Simulator().serve(host="127.0.0.1", port=0) as base_url:
        with anyio.fail_after(20):
            await app.run_async(openai("gpt-realtime", base_url=base_url))
    assert out.getvalue().splitlines() == [
        "you:       [voice: 1.5 s of a generated tone]",
        "           transcribed: (1.8 s of audio)",  # the whole buffer: tone and silence
        "assistant: You said: (1.8 s of audio)  [audio: 1.6 s]",
    ]


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


# --- run, record, logging, Ctrl-C ------------------------------------------------------------------

APP_SOURCE = """
from realtime_dispatch import Connection, LiveApp, LiveConnection, RealtimeApp, events, on
from realtime_dispatch.events import live


class Hello(RealtimeApp):
    session = events.Session(type="realtime", instructions="from the cli test")
    stay = False

    async def on_connect(self, connection: Connection) -> None:
        print("connected", flush=True)

    @on("session.updated")
    async def updated(self, event: events.SessionUpdated, conn: Connection) -> None:
        print("updated:", event.session.instructions, flush=True)
        if not self.stay:
            await conn.close()

    async def on_shutdown(self) -> None:
        print("shutdown", flush=True)


class Stays(Hello):
    stay = True


class NeedsArgs(Hello):
    def __init__(self, name: str) -> None:
        super().__init__()


app = Hello()
not_an_app = 42


class LiveHello(LiveApp):
    session = live.SessionConfig(model="gpt-live-1", instructions="from the cli test")

    @on("session.started")
    async def started(self, event: live.SessionStartedEvent, conn: LiveConnection) -> None:
        print("started:", event.session.instructions, flush=True)
        await conn.close()

    async def on_shutdown(self) -> None:
        final = self.connection.outcome.final if self.connection.outcome else None
        print("closed:", final.reason if final else None, flush=True)
"""


@pytest.fixture
def app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The name of an importable module holding the apps of APP_SOURCE (unique: no stale sys.modules)."""
    name = f"cli_app_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(APP_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return name


@pytest.fixture(scope="module")
def simulator_url() -> Iterator[str]:
    """A simulator served by ``realtime-dispatch simulate`` in a subprocess (main() runs its own loop)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "realtime_dispatch", "simulate", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"(ws://\S+/v1)/realtime", line)
        assert match, line + (process.stderr.read() if process.stderr else "")
        yield match.group(1)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("attribute", ["Hello", "app"], ids=["class", "instance"])
def test_run_runs_an_app_class_or_instance(
    app_module: str, simulator_url: str, attribute: str, backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", f"{app_module}:{attribute}", "--url", simulator_url] + (["--trio"] if backend == "trio" else [])
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines() == ["connected", "updated: from the cli test", "shutdown"]


def test_run_connects_a_live_app_to_the_live_endpoint(
    app_module: str, simulator_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", f"{app_module}:LiveHello", "--url", simulator_url]) == 0
    assert capsys.readouterr().out.splitlines() == ["started: from the cli test", "closed: close_requested"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon", "'no_colon' is not MODULE:APP"),
        ("{module}:", "is not MODULE:APP"),
        ("cli_no_such_module_here:App", "no module named 'cli_no_such_module_here'"),
        ("{module}:Missing", "has no attribute 'Missing'"),
        ("{module}:not_an_app", "is a int, not a RealtimeApp subclass or instance"),
        ("{module}:NeedsArgs", "needs arguments: name an instance instead"),
    ],
)
def test_run_with_a_bad_app_spec_prints_usage_and_exits_2(
    app_module: str, spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", spec.format(module=app_module), "--url", "ws://127.0.0.1:9/v1"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: realtime-dispatch run ")
    assert message in err


def test_run_shows_the_real_error_when_the_app_module_fails_to_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"cli_broken_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text("import cli_dependency_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="cli_dependency_that_is_not_installed"):
        main(["run", f"{name}:App"])


def test_run_without_an_api_key_fails_before_connecting(
    app_module: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_WEBSOCKET_BASE_URL", raising=False)
    assert main(["run", f"{app_module}:Hello"]) == 2
    captured = capsys.readouterr()
    assert "realtime-dispatch run: error: no OpenAI API key" in captured.err
    assert "OPENAI_API_KEY" in captured.err
    assert captured.out == ""  # the app never started


def test_run_against_a_closed_port_fails_with_1(app_module: str, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert main(["run", f"{app_module}:Hello", "--url", f"ws://127.0.0.1:{port}/v1"]) == 1
    assert "realtime-dispatch run: " in capsys.readouterr().err


def test_argument_errors_give_usage_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["run"], ["frobnicate"], ["demo", "--log-level", "chatty"], ["demo", "-v", "--log-level", "INFO"]):
        with pytest.raises(SystemExit) as exited:
            main(args)
        assert exited.value.code == 2, args
        assert "usage: realtime-dispatch" in capsys.readouterr().err


def test_record_captures_the_demo_and_replays_to_the_same_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo.jsonl"
    assert main(["record", str(out)]) == 0
    captured = capsys.readouterr()
    assert "recording against the built-in simulator" in captured.err
    assert "12:34" in captured.out
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["dir"] == "connect"
    assert {line["connection"] for line in lines} == {1}
    assert f"recorded {len(lines)} lines, 1 connection(s)" in captured.err

    replayed = io.StringIO()
    anyio.run(DemoApp(out=replayed).run_async, replay(out))
    assert replayed.getvalue() == captured.out


def test_record_a_module_app_against_a_url(
    app_module: str, simulator_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "hello.jsonl"
    assert main(["record", str(out), f"{app_module}:Hello", "--url", simulator_url, "--trio"]) == 0
    assert capsys.readouterr().out.splitlines() == ["connected", "updated: from the cli test", "shutdown"]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["frame"]["url"] == f"{simulator_url}/realtime?model=gpt-realtime"
    assert [line["frame"]["type"] for line in lines if line["dir"] == "out"] == ["session.update"]
    assert [line["frame"]["type"] for line in lines if line["dir"] == "in"][:2] == [
        "session.created",
        "session.updated",
    ]


def test_replay_lists_a_recorded_session_by_connection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    created = events.encode(events.SessionCreated.build(session=events.Session(type="realtime"))).decode()
    update = events.encode(events.SessionUpdate(session=events.Session(type="realtime"))).decode()
    recording = tmp_path / "two.jsonl"
    recording.write_text(
        "\n".join(
            [
                '{"dir":"connect","connection":1,"t":0,"frame":{"url":"ws://127.0.0.1/v1/realtime"}}',
                f'{{"dir":"out","connection":1,"t":0,"frame":{update}}}',
                f'{{"dir":"in","connection":1,"t":0,"frame":{created}}}',
                '{"dir":"close","connection":1,"t":0,"frame":{"code":1006,"reason":"lost"}}',
                '{"dir":"connect","connection":2,"t":1,"frame":{}}',
                '{"dir":"in","connection":2,"t":1,"frame":{"type":"session.created","session":"not a session"}}',
            ]
        )
    )
    assert main(["replay", str(recording)]) == 1  # the last frame does not decode
    rows = [line.split(None, 3) for line in capsys.readouterr().out.splitlines()]
    assert rows[:5] == [
        ["1", "#1", "connect", "ws://127.0.0.1/v1/realtime"],
        ["2", "#1", "out", "session.update"],
        ["3", "#1", "in", "session.created"],
        ["4", "#1", "close", "1006 lost"],
        ["5", "#2", "connect"],
    ]
    assert rows[5][:3] == ["6", "#2", "in"]
    assert rows[5][3].startswith("DecodeError")


@pytest.mark.parametrize("flag", [["--log-level", "info"], ["-v"]], ids=["log-level", "v"])
def test_log_level_info_shows_the_connection_lifecycle(flag: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "realtime_dispatch", "demo", *flag], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "realtime_dispatch.app: connected to" in result.stderr


def test_default_log_level_is_quiet() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "realtime_dispatch", "demo"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def wait_for_line(process: subprocess.Popen[str], expected: str) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert expected in line, line + (process.stderr.read() if process.stderr else "")
    return line


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_ctrl_c_stops_simulate_cleanly_with_130(backend: str) -> None:
    args = [sys.executable, "-m", "realtime_dispatch", "simulate", "--port", "0"]
    process = subprocess.Popen(
        args + (["--trio"] if backend == "trio" else []), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for_line(process, "Realtime simulator listening at ws://127.0.0.1:")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "Traceback" not in err


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_ctrl_c_closes_a_running_app_then_exits_130(app_module: str, simulator_url: str, backend: str) -> None:
    args = [sys.executable, "-m", "realtime_dispatch", "run", f"{app_module}:Stays", "--url", simulator_url]
    process = subprocess.Popen(
        args + (["--trio"] if backend == "trio" else []), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for_line(process, "connected")
    wait_for_line(process, "updated: from the cli test")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert out == "shutdown\n"  # on_shutdown ran: the app closed its connection and stopped
    assert "Traceback" not in err


def test_every_verb_is_documented() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    verbs = ["run", "record", "demo", "simulate", "replay"]
    assert [verb for verb in verbs if f"## `realtime-dispatch {verb}" not in text] == []
    assert "--log-level" in text
    assert "130" in text
