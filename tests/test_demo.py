"""``realtime-dispatch demo``, the first thing a user runs: plain when piped, coloured on a terminal, clear about
its echo simulator, ending with what to do next, and quiet on Ctrl-C."""

from __future__ import annotations

import io
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from realtime_dispatch import demo

ROOT = Path(__file__).resolve().parents[1]
DEMO = [sys.executable, "-m", "realtime_dispatch", "demo"]
CONVERSATION = [
    "you:       Hello! Who are you?",
    "echo:      You said: Hello! Who are you?",
    "you:       What time is it? Use get_time.",
    "           [tool get_time() -> 12:34]",
    "echo:      Tool get_time returned: 12:34",
    "you:       [voice: 1.5 s of a generated tone]",
    "           transcribed: (1.7 s of audio)",
    "echo:      You said: (1.7 s of audio)  [audio: 1.6 s]",
]


def environment(**changes: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "OPENAI_API_KEY")}
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_piped(*args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DEMO, *args], capture_output=True, text=True, timeout=60, env=environment(**env), cwd=ROOT, check=True
    )


def run_on_a_terminal(**env: str | None) -> str:
    """The demo's stdout when stdout is a pseudo-terminal."""
    master, slave = pty.openpty()
    process = subprocess.Popen(DEMO, stdout=slave, stderr=subprocess.PIPE, env=environment(**env), cwd=ROOT)
    os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if not ready:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
        assert process.wait(timeout=10) == 0
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
    return output.decode().replace("\r\n", "\n")


def test_piped_output_is_plain_names_the_echo_simulator_and_says_what_next() -> None:
    result = run_piped()
    out = result.stdout
    assert "\x1b" not in out
    assert result.stderr == ""
    lines = out.splitlines()
    assert lines[0] == "realtime-dispatch demo: a scripted conversation with the built-in Realtime simulator"
    assert "no API key, no network" in lines[1]
    assert "echo responder, not a model" in out  # the answers are not a model's
    start = lines.index(CONVERSATION[0])
    assert lines[start : start + len(CONVERSATION)] == CONVERSATION
    next_lines = lines[lines.index("What next") + 1 :]
    assert next_lines[0] == "  read the demo's code: realtime_dispatch/demo.py"  # relative: run from the checkout
    assert (ROOT / "realtime_dispatch" / "demo.py").is_file()
    assert any("realtime-dispatch simulate" in line for line in next_lines)
    assert any("realtime-dispatch demo --url wss://api.openai.com/v1" in line for line in next_lines)


def test_what_next_names_the_file_by_its_full_path_outside_the_checkout(tmp_path: Path) -> None:
    result = subprocess.run(
        DEMO, capture_output=True, text=True, timeout=60, env=environment(), cwd=tmp_path, check=True
    )
    assert f"  read the demo's code: {Path(demo.__file__).resolve()}" in result.stdout.splitlines()


def test_a_terminal_gets_colour() -> None:
    out = run_on_a_terminal(TERM="xterm")
    assert "\x1b[1mrealtime-dispatch demo\x1b[0m" in out
    assert "\x1b[1;36myou:      \x1b[0m Hello! Who are you?" in out
    assert "\x1b[1;32mecho:     \x1b[0m You said: Hello! Who are you?" in out
    assert "\x1b[1mWhat next\x1b[0m" in out
    plain = out
    for code in ("\x1b[0m", "\x1b[1m", "\x1b[2m", "\x1b[33m", "\x1b[36m", "\x1b[1;32m", "\x1b[1;36m"):
        plain = plain.replace(code, "")
    assert "\x1b" not in plain  # only those codes
    assert all(line in plain.splitlines() for line in CONVERSATION)  # the same text underneath


def test_no_color_keeps_a_terminal_plain() -> None:
    out = run_on_a_terminal(TERM="xterm", NO_COLOR="1")
    assert "\x1b" not in out
    assert CONVERSATION[1] in out.splitlines()


def test_force_color_colours_a_pipe_and_no_color_wins() -> None:
    assert "\x1b[1;32mecho:" in run_piped(FORCE_COLOR="1").stdout
    assert "\x1b" not in run_piped(FORCE_COLOR="1", NO_COLOR="1").stdout


def test_ctrl_c_during_startup_exits_130_without_a_traceback() -> None:
    # A server that accepts the connection and never answers the handshake: the demo stays in its startup
    # (connecting) until the SIGINT.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"ws://127.0.0.1:{server.getsockname()[1]}/v1"
        process = subprocess.Popen(
            [*DEMO, "--url", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment()
        )
        try:
            assert process.stdout is not None
            assert "a scripted conversation with gpt-realtime at" in process.stdout.readline()
            time.sleep(0.2)
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 130
    assert "Traceback" not in err
    assert err == ""
    assert "What next" not in out  # interrupted: no epilogue


@pytest.mark.parametrize("command", [["-m", "realtime_dispatch.demo"], [str(ROOT / "examples" / "demo.py")]])
def test_the_module_and_the_example_run_the_same_demo(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, *command, "--trio"], capture_output=True, text=True, timeout=60, env=environment(), check=True
    )
    lines = result.stdout.splitlines()
    assert lines[0].startswith("realtime-dispatch demo: ")
    start = lines.index(CONVERSATION[0])
    assert lines[start : start + len(CONVERSATION)] == CONVERSATION
    assert result.stderr == ""


@pytest.mark.anyio
async def test_run_writes_to_the_stream_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    out = io.StringIO()
    with anyio.fail_after(30):
        await demo.run(out=out)
    assert "\x1b" not in out.getvalue()  # not a terminal
    assert CONVERSATION[-1] in out.getvalue().splitlines()


def test_a_closed_pipe_ends_the_demo_quietly() -> None:
    process = subprocess.Popen(DEMO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment())
    assert process.stdout is not None
    process.stdout.readline()
    process.stdout.close()  # as `realtime-dispatch demo | head -1` does
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert b"Traceback" not in err


SLOW_IMPORT = """
import sys, time
import importlib.abc

class Slow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "realtime_dispatch._cli":
            print("importing", flush=True)  # the test's cue: Ctrl-C now lands inside the import
            time.sleep(30)
        return None

sys.meta_path.insert(0, Slow())
import _realtime_dispatch_launch
_realtime_dispatch_launch.main()
"""


def test_ctrl_c_while_the_package_imports_exits_130_without_a_traceback() -> None:
    """The command's entry point lives outside the package, so it can catch a Ctrl-C that lands
    while the package itself is being imported (the first fraction of a second of every command)."""
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_IMPORT, "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "importing\n"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130
    assert err == ""


def test_the_command_starts_from_the_launcher() -> None:
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["realtime-dispatch"] == "_realtime_dispatch_launch:main"
