"""The ``realtime-dispatch`` command never shows a traceback for a user mistake: a usage error is one
``error:`` line (after the verb's usage) and exit 2; a connection that fails is one line and exit 1.
And the simulator it serves logs its peers (``simulate -v``) and words its errors once."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import anyio.from_thread
import pytest

from realtime_dispatch._cli import main
from realtime_dispatch.simulator import Simulator
from realtime_dispatch.transports import WebSocketTransport, connect_websocket, serve_websocket

ROOT = Path(__file__).resolve().parents[1]


def usage_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``main(args)``, expect argparse's exit 2, and return the one ``error:`` line."""
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2, args
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    assert err.splitlines()[-1] == errors[0]
    return errors[0]


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


# --- usage errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["99999", "-5", "65536", "eighty"])
def test_simulate_rejects_a_port_out_of_range(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = usage_error(["simulate", "--port", port], capsys)
    assert line.startswith("realtime-dispatch simulate: error: argument --port: ")
    assert "is not a port number" in line


@pytest.mark.parametrize("spec", ["../x:Y", ".mod:App", "pkg/app.py:App", "a..b:App"])
def test_run_rejects_a_module_spec_that_is_not_a_module_name(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = usage_error(["run", spec, "--url", "ws://127.0.0.1:9/v1"], capsys)
    assert line.startswith("realtime-dispatch run: error: ")
    assert "is not a module name" in line


def test_an_unknown_option_gives_the_verbs_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--bogus"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: realtime-dispatch demo ")  # the demo's usage, not the top-level one
    assert err.splitlines()[-1] == "realtime-dispatch demo: error: unrecognized arguments: --bogus"


def test_trio_not_installed_says_which_extra_to_install() -> None:
    wrapper = (
        "import sys; sys.modules['trio'] = None  # as if trio were not installed\n"
        "from realtime_dispatch._cli import main; sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", wrapper, "demo", "--trio"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith("realtime-dispatch demo: error: --trio needs trio")
    assert "pip install 'realtime-dispatch[trio]'" in line
    assert result.stdout == ""  # nothing ran


@pytest.mark.parametrize("verb", [[], ["run"], ["record"], ["demo"], ["simulate"], ["replay"]])
def test_help_is_plain_text_and_shows_the_defaults(verb: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*verb, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "`" not in text  # no markdown or reStructuredText markup
    assert "(default: None)" not in text
    assert "(default: False)" not in text
    if verb in (["run"], ["record"], ["demo"]):
        assert "(default: gpt-realtime)" in text
    if verb == ["simulate"]:
        flat = " ".join(text.split())
        assert "(default: 8765)" in flat
        assert "(default: 127.0.0.1)" in flat
    if verb:
        assert "(default: WARNING)" in text


# --- connection errors ----------------------------------------------------------------------------


@contextmanager
def http_404(version: str) -> Iterator[str]:
    """A raw TCP server that answers any request with an HTTP 404 (no WebSocket at all) and hangs up; yields
    its ``ws://`` URL."""
    answer_bytes = (
        f"HTTP/{version} 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 15\r\n\r\nNo such route.\n"
    ).encode()
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def answer() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            with client:
                client.settimeout(5)
                try:
                    client.recv(65536)
                    client.sendall(answer_bytes)
                except OSError:
                    pass

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{server.getsockname()[1]}/v1"
    finally:
        stop.set()
        thread.join(5)
        server.close()


@pytest.fixture
def plain_ws_url() -> Iterator[str]:
    """A plain ``ws://`` server (``serve_websocket``, no TLS) on its own event loop, in a thread."""

    async def hold(transport: WebSocketTransport) -> None:
        await anyio.sleep_forever()

    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve_websocket(hold)) as port,
    ):
        yield f"ws://127.0.0.1:{port}/v1"


@pytest.mark.parametrize("version", ["1.0", "1.1"])
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_404_during_the_handshake_is_one_line(
    version: str, backend: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with http_404(version) as url:
        assert main(["demo", "--url", url] + (["--trio"] if backend == "trio" else [])) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("realtime-dispatch demo: HandshakeError: ")
    if version == "1.1":
        assert line.endswith("WebSocket upgrade refused: HTTP 404 Not Found: No such route.")  # the body, on one line


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_an_http10_404_during_the_handshake_keeps_its_status(
    backend: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with http_404("1.0") as url:
        assert main(["demo", "--url", url] + (["--trio"] if backend == "trio" else [])) == 1
    assert "404" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_wss_to_a_plain_server_says_so(
    plain_ws_url: str, backend: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    secure = plain_ws_url.replace("ws://", "wss://", 1)
    assert main(["demo", "--url", secure] + (["--trio"] if backend == "trio" else [])) == 1
    line = one_line(capsys.readouterr().err)
    expected = f"realtime-dispatch demo: TLS handshake failed: is the server plain ws://? (try --url {plain_ws_url})"
    assert line == expected


# --- the simulator: its log, its error messages ---------------------------------------------------


def test_simulate_verbose_logs_each_peer_and_its_session() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "realtime_dispatch", "simulate", "-v", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"(ws://\S+/v1)/realtime", line)
        assert match, line
        url = match.group(1)

        async def visit() -> None:
            transport = await connect_websocket(f"{url}/realtime?model=gpt-realtime-mini", {"User-Agent": "visitor/1"})
            await transport.receive()  # session.created
            await transport.close()

        anyio.run(visit)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    connected = [line for line in err.splitlines() if " connected: " in line]
    assert len(connected) == 1, err
    assert re.fullmatch(
        r"realtime_dispatch\.simulator: 127\.0\.0\.1:\d+ connected: model gpt-realtime-mini, GA API, visitor/1",
        connected[0],
    )
    left = [line for line in err.splitlines() if " left after " in line]
    assert len(left) == 1, err
    assert "session gpt-realtime-mini, " in left[0]
    assert "Traceback" not in err


BAD_FRAMES = [
    (b"not json", "invalid_json", "Invalid JSON: "),
    (b'{"type":"input_audio_buffer.append"}', "invalid_value", "Invalid 'input_audio_buffer.append' event: "),
    (b'{"type":"session.update","session":"x"}', "invalid_value", "Invalid 'session.update' event: "),
]


@pytest.mark.anyio
async def test_simulator_error_messages_do_not_repeat_their_prefix() -> None:
    async with Simulator().serve(host="127.0.0.1", port=0) as url:
        transport = await connect_websocket(f"{url}/realtime?model=gpt-realtime")
        try:
            with anyio.fail_after(10):
                await transport.receive()  # session.created
                for frame, code, start in BAD_FRAMES:
                    await transport.send(frame)
                    error = json.loads(await transport.receive())
                    assert error["type"] == "error"
                    assert error["error"]["code"] == code
                    message: str = error["error"]["message"]
                    assert message.startswith(start)
                    rest = message.removeprefix(start)
                    # Said once, as the live service words it: no "invalid frame: ", no "invalid '...' event: " again.
                    assert not rest.lower().startswith(("invalid json", "invalid frame", "invalid '")), message
        finally:
            await transport.close()
