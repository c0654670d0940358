"""`app.run()` closes cleanly on SIGINT and SIGTERM (a real process, a real signal)."""

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

    App().run(factory, backend=sys.argv[1])
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
    assert process.returncode == 0, stderr
    assert stdout.split() == ["disconnected", "shutdown", "returned"]
