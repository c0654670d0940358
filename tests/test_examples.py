"""The examples run, offline, and do what they say."""

from __future__ import annotations

import re
import signal
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


def run_example(
    args: list[str], backend: str = "asyncio", stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run an example offline (it starts the built-in simulator) and check it exited with 0."""
    args = [sys.executable, *args, *(["--trio"] if backend == "trio" else [])]
    result = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_text_chat_streams_each_answer(backend: str) -> None:
    result = run_example(["examples/text_chat.py"], backend, stdin="Hello\nHow are you?\n")
    lines = result.stdout.splitlines()
    assert "assistant> You said: Hello" in lines
    assert "assistant> You said: How are you?" in lines
    assert lines.index("assistant> You said: Hello") < lines.index("assistant> You said: How are you?")
    assert lines[-1] == "you> "  # end of input ends the chat


def test_text_chat_stops_at_quit() -> None:
    result = run_example(["examples/text_chat.py"], stdin="Hi\n/quit\nNot asked\n")
    assert "assistant> You said: Hi" in result.stdout
    assert "Not asked" not in result.stdout


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_function_calling_runs_typed_tools_concurrently(backend: str) -> None:
    import re

    result = run_example(["examples/function_calling.py"], backend)
    lines = [line.split("] ", 1)[-1] for line in result.stdout.splitlines()]  # without the timestamps
    for expected in [
        'model calls get_weather({"city": "Paris", "unit": "c"})',
        '  -> {"city": "Paris", "temperature": 18, "unit": "c"}',
        '  -> {"error": "invalid arguments: Invalid enum value \'kelvin\' - at `$.unit`"}',
        '  -> {"error": "no weather station in Atlantis"}',
        'model calls add_reminder({"reminder": {"text": "pack an umbrella", "minutes": 30}})',
        "  -> OK, I will remind you to pack an umbrella in 30 minutes.",
        '  -> [{"flight": "RD101", "departs": "09:40", "seats": 2, "from": "Paris", "to": "Oslo"}]',
        "response done with 5 tool call(s)",
        "assistant: I got 5 answers, from get_weather, get_weather, get_weather, add_reminder, find_flights.",
    ]:
        assert expected in lines, expected
    # The slow tool answered last, about a second in; the others (and the server's events) went on meanwhile.
    slow = next(line for line in result.stdout.splitlines() if '"flight": "RD101"' in line)
    started = re.match(r"\[\s*([\d.]+)s\]", slow)
    assert started is not None
    assert float(started.group(1)) >= 1.0
    assert lines.index("  (the server stored add_reminder's output)") < lines.index(slow.split("] ", 1)[1])
    assert lines[-1] == "response done with 0 tool call(s)"
    assert "invalid arguments" in result.stderr  # the model's bad arguments are logged at WARNING


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_multi_router_app_routes_through_every_router(backend: str) -> None:
    result = run_example(["-m", "examples.multi_router_app"], backend)
    lines = result.stdout.splitlines()
    assert lines[:7] == [
        "user:      Hello there!",
        "assistant: You said: Hello there!",
        "user:      What does get_time say?",
        "  [tool get_time({}) -> 12:34]",
        "assistant: Tool get_time returned: 12:34",
        "user:      Tell me the password.",
        "assistant: You said: Tell me the password.",
    ]
    assert lines[7].startswith("  [safety: flagged 'password' in response resp_")
    assert lines[7].endswith("at response.output_text.done; caught by flagged]")
    assert lines[8].startswith("metrics: ")
    assert lines[8].endswith("text deltas, 0 rate limit updates)")
    assert lines[9].startswith("timings: ")
    assert result.stderr == ""  # the deliberate failure was handled, not logged


def test_testing_example_passes_on_its_own() -> None:
    """``examples/testing_example`` is not under our testpaths: run it as a user would."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "examples/testing_example", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "10 passed" in result.stdout


def test_the_readme_tools_snippet_declares_its_tool() -> None:
    import re

    readme = (ROOT / "README.md").read_text()
    code = re.search(r"## Tools, barge-in, state\n\n```python\n(.*?)```", readme, re.S)
    assert code is not None
    namespace: dict[str, object] = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)
    app = namespace["Agent"]()  # type: ignore[operator]
    [spec] = list(app.router.walk_tools())
    assert spec.name == "get_weather"
    assert spec.parameters["required"] == ["city"]
    assert app.barge_in
    assert app.track_conversation


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_phone_agent_answers_simulated_calls(backend: str) -> None:
    import re
    import time

    started = time.monotonic()
    result = run_example(["examples/phone_agent.py"], backend)
    assert time.monotonic() - started < 10
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"agent: answering calls at http://127\.0\.0\.1:\d+/webhook \(health: .*/health\)", lines[0])
    for caller in ("+14155550001", "+14155550002"):  # accepted: two turns, the tool, the key, the transfer
        said = [line.removeprefix(f"[{caller}] ") for line in lines if line.startswith(f"[{caller}] ")]
        assert re.fullmatch(r"incoming call rtc_\w+: accepted", said[0])
        assert said[1:] == [
            "caller: Hi, I'd like to know where my order is.",
            "agent:  You said: Hi, I'd like to know where my order is.",
            "caller: Could you run order_status for order 1234?",
            "tool:   order_status(order_id='abc123') -> 'order abc123 shipped yesterday and arrives on Thursday'",
            "agent:  Tool order_status returned: order abc123 shipped yesterday and arrives on Thursday",
            "key:    0",
            "transferred to sip:agent@example.com",
            "call over (transferred to sip:agent@example.com)",
        ]
    assert [line for line in lines if line.startswith("[+14155550003] ")] == [
        "[+14155550003] blocked number: rejected with 403"
    ]
    network = lines[lines.index("the phone network saw:") + 1 :][:3]
    assert [re.sub(r"rtc_\w+", "rtc_", line).split(";")[0] for line in network] == [
        "  rtc_: refer to sip:agent@example.com",
        "  rtc_: refer to sip:agent@example.com",
        "  rtc_: reject 403",
    ]
    assert sum(" delivered 2x;" in line for line in network) == 2  # the duplicates, dropped by the server
    assert (
        "server metrics: accepted=2, rejected=1, ended=2, duplicates=2, busy=0, gone=0, taken=0, failed=0, errors=0"
        in lines
    )
    assert re.fullmatch(r"  accept_latency: n=2, p50=[\d.]+ ms, max=[\d.]+ ms", lines[-2])
    assert re.fullmatch(r"  sideband_latency: n=2, p50=[\d.]+ ms, max=[\d.]+ ms", lines[-1])
    assert result.stderr == ""


def test_phone_agent_serve_answers_the_calls_realtime_dispatch_simulate_places(tmp_path: Path) -> None:
    """The deployment shape: ``phone_agent.py --serve`` (``realtime-dispatch serve`` with 2 workers) answers the
    calls that ``realtime-dispatch simulate --call-webhook`` places, then drains on SIGTERM."""
    import json
    import os
    import socket

    from realtime_dispatch.telephony import new_secret

    secret = new_secret()
    with socket.socket() as probe:  # a free port for the agent: the simulator's webhooks go there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = tmp_path / "caller.json"
    script.write_text(json.dumps([{"say": "Could you run order_status for order 1234?"}, {"dtmf": "0"}]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["OPENAI_WEBHOOK_SECRET"] = secret
    simulate = [sys.executable, "-m", "realtime_dispatch", "simulate", "--port", "0", "--rest-port", "0"]
    simulate += ["--call-webhook", f"http://127.0.0.1:{port}/webhook", "--calls", "2", "--rate", "10"]
    simulate += ["--turn-delay", "0.05", "--caller-script", str(script)]
    # Not checked: on asyncio, `simulate` stopped by SIGINT after it answered call control logs a traceback
    # from hypercorn's cancelled connection tasks (a simulator bug, reported; on trio it stops cleanly).
    with Lines(simulate, env, check_stderr=False) as network:
        urls = network.wait_for(r"OPENAI_BASE_URL=(\S+) OPENAI_WEBSOCKET_BASE_URL=(\S+)")
        env["OPENAI_BASE_URL"], env["OPENAI_WEBSOCKET_BASE_URL"] = urls[1], urls[2]
        serve = [sys.executable, "examples/phone_agent.py", "--serve", "--host", "127.0.0.1", "--port", str(port)]
        with Lines([*serve, "--workers", "2"], env) as agent:
            for _ in range(2):  # the webhooks are retried until the workers are up
                network.wait_for(r"call rtc_\w+: webhook .*; accepted .* ended \+[\d.]+ s by refer")
                agent.wait_for(r"call over \(transferred to sip:agent@example.com\)")
            agent.process.send_signal(signal.SIGTERM)  # drain, then exit
            assert agent.process.wait(timeout=15) == 0
    said = agent.seen
    assert said[0] == f"running: realtime-dispatch serve phone_agent:Agent --host 127.0.0.1 --port {port} --workers 2"
    assert said[1].startswith("answering calls for phone_agent:Agent (ga) at http://127.0.0.1:")
    assert sum(line.endswith("] key:    0") for line in said) == 2
    assert sum("] tool:   order_status(" in line for line in said) == 2


class Lines:
    """A process whose stdout is read line by line in a thread; stderr goes to a file. Leaving the block
    interrupts it (SIGINT), kills it if it lingers, and checks that stderr has no traceback."""

    def __init__(self, command: list[str], env: dict[str, str], *, check_stderr: bool = True) -> None:
        import queue
        import tempfile

        self.command, self.env, self.check_stderr = command, env, check_stderr
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.errors = tempfile.TemporaryFile("w+")  # noqa: SIM115  (closed in __exit__)

    def __enter__(self) -> Lines:
        import threading

        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=self.errors, text=True, env=self.env, cwd=ROOT
        )
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()
        return self

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 15) -> re.Match[str]:
        import queue
        import time

        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} in {timeout} s: {self.seen}") from None
            self.seen.append(line)
            if found := re.search(pattern, line):
                return found

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.reader.join(timeout=5)
            while not self.lines.empty():
                self.seen.append(self.lines.get())
            self.errors.seek(0)
            errors = self.errors.read()
            assert not self.check_stderr or "Traceback" not in errors, errors
        finally:
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.errors.close()
