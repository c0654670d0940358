"""`app.run()` closes cleanly on SIGINT and SIGTERM (a real process, a real signal), then raises
KeyboardInterrupt or SystemExit(143); Ctrl-C ends the text chat example at once."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys
    import anyio
    from realtime_dispatch import RealtimeApp
    from realtime_dispatch.transports import memory_pair

    class App(RealtimeApp):
        async def on_connect(self, connection):
            print("connected", flush=True)

        async def on_disconnect(self, connection):
            print("disconnected", flush=True)

        async def on_shutdown(self):
            print("shutdown", flush=True)

    servers = []

    async def factory():
        client, server = memory_pair()
        servers.append(server)  # the server never closes: only the signal ends the run
        return client

    try:
        App().run(factory, backend=sys.argv[1])
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
        sys.exit(130)
    except SystemExit as exc:
        print("SystemExit", exc.code, flush=True)
        raise
    print("returned", flush=True)
    """
)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_run_closes_cleanly_on_a_signal(backend: str, signum: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, backend], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "connected"
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 128 + signum, stderr
    raised = ["KeyboardInterrupt"] if signum == signal.SIGINT else ["SystemExit", "143"]
    assert stdout.split() == ["disconnected", "shutdown", *raised]  # raised after the clean shutdown
    assert "Traceback" not in stderr


SELF_SIGNAL = textwrap.dedent(
    """
    import os
    import signal
    import sys
    from realtime_dispatch import RealtimeApp
    from realtime_dispatch.transports import memory_pair

    class App(RealtimeApp):
        async def on_connect(self, connection):
            os.kill(os.getpid(), getattr(signal, sys.argv[2]))  # as if Ctrl-C (or kill) came now

        async def on_shutdown(self):
            print("shutdown", flush=True)

    servers = []

    async def factory():
        client, server = memory_pair()
        servers.append(server)
        return client

    App().run(factory, backend=sys.argv[1])
    print("returned as if all went well", flush=True)
    """
)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_reraises_keyboard_interrupt_after_on_shutdown(backend: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SELF_SIGNAL, backend, "SIGINT"], capture_output=True, text=True, timeout=30
    )
    assert result.stdout.split() == ["shutdown"]  # on_shutdown ran; run() did not return
    assert result.stderr.rstrip().endswith("KeyboardInterrupt"), result.stderr  # uncaught, as asyncio.run's
    assert result.returncode == -signal.SIGINT  # Python ends by SIGINT on an uncaught KeyboardInterrupt


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_raises_system_exit_143_after_sigterm(backend: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SELF_SIGNAL, backend, "SIGTERM"], capture_output=True, text=True, timeout=30
    )
    assert result.stdout.split() == ["shutdown"]
    assert result.returncode == 143
    assert result.stderr == ""  # SystemExit: no traceback


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_ctrl_c_ends_the_text_chat_at_once(backend: str) -> None:
    """Ctrl-C typed at the prompt: the chat ends at once (no waiting for Enter), 130, no traceback."""
    import os
    import pty
    import select
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    args = [sys.executable, str(root / "examples" / "text_chat.py"), *(["--trio"] if backend == "trio" else [])]
    pid, fd = pty.fork()
    if pid == 0:  # the child: the example, on the terminal's slave side, its stdin kept open
        os.chdir(root)
        os.execv(sys.executable, args)
    output = b""

    def read_until(expected: bytes, timeout: float = 30, count: int = 1) -> None:
        nonlocal output
        deadline = time.monotonic() + timeout
        while output.count(expected) < count and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    output += os.read(fd, 4096)
                except OSError:  # the child has gone
                    return

    try:
        read_until(b"you> ")
        os.write(fd, b"Hi\n")
        read_until(b"you> ", count=2)  # answered, and waiting for the next line
        assert output.count(b"you> ") == 2, output
        os.write(fd, b"\x03")  # Ctrl-C, as typed: the terminal sends SIGINT to the foreground process group
        deadline = time.monotonic() + 10
        status = None
        while status is None and time.monotonic() < deadline:
            done, status_now = os.waitpid(pid, os.WNOHANG)
            if done:
                status = status_now
            read_until(b"\0", 0.1)  # keep draining the terminal
        assert status is not None, f"still running 10 s after Ctrl-C: {output!r}"
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 130, output
    assert b"(interrupted)" in output
    assert b"Traceback" not in output
