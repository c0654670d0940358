"""Connecting to the simulator the way other clients do: browser-standard clients that offer the
``realtime`` subprotocol (the key in ``openai-insecure-api-key.<key>``), and ``wss://``-only clients."""

from __future__ import annotations

import json
import logging
import re
import signal
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
import trustme
from websockets.asyncio.client import connect as websockets_connect
from websockets.sync.client import connect as websockets_sync_connect
from websockets.typing import Subprotocol

from realtime_dispatch._cli import main
from realtime_dispatch.simulator import Simulator
from realtime_dispatch.simulator._tls import make_tls
from realtime_dispatch.transports import HandshakeError, WebSocketOptions, connect_websocket

KEY = "sk-test-subprotocol-0123456789"
BROWSER_SUBPROTOCOLS = [Subprotocol("realtime"), Subprotocol(f"openai-insecure-api-key.{KEY}")]

asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])  # websockets' asyncio client


async def _short_session(send: Any, receive: Any) -> list[str]:
    """session.update, then a text turn; the types received until response.done."""
    types: list[str] = []

    async def until(expected: str) -> dict[str, Any]:
        with anyio.fail_after(10):
            while True:
                event = json.loads(await receive())
                types.append(event["type"])
                if event["type"] == expected:
                    return dict(event)

    await until("session.created")
    await send(json.dumps({"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}}))
    updated = await until("session.updated")
    assert updated["session"]["instructions"] == "Be brief."
    await send(
        json.dumps(
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]},
            }
        )
    )
    await send(json.dumps({"type": "response.create", "response": {"output_modalities": ["text"]}}))
    done = await until("response.done")
    assert done["response"]["status"] == "completed"
    return types


def _sender(client: Any) -> Any:
    async def send(text: str) -> None:
        await client.send(text.encode())

    return send


# --- 1. the realtime subprotocol --------------------------------------------------------------------


@pytest.mark.anyio
@asyncio_only
async def test_a_client_that_requires_the_realtime_subprotocol_connects_and_holds_a_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="realtime_dispatch")  # the server logs every handshake header at DEBUG
    # The key only in the subprotocol, as browsers send it: no Authorization header.
    async with (
        Simulator().serve() as base_url,
        websockets_connect(
            f"{base_url}/realtime?model=gpt-realtime", subprotocols=BROWSER_SUBPROTOCOLS, open_timeout=10
        ) as websocket,
    ):
        # Browsers abort unless the 101 answer selects a protocol they offered (websockets' client
        # only checks that a selected one was offered: check the selection itself).
        assert websocket.subprotocol == "realtime"
        assert websocket.response is not None
        assert websocket.response.headers.get_all("Sec-WebSocket-Protocol") == ["realtime"]
        types = await _short_session(websocket.send, websocket.recv)
    assert types[:2] == ["session.created", "session.updated"]
    assert "response.output_text.delta" in types
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("realtime_dispatch"))
    assert "openai-insecure-api-key.<redacted>" in ours  # the header was logged, scrubbed
    assert KEY not in ours


@pytest.mark.anyio
async def test_a_client_that_offers_no_subprotocol_gets_none() -> None:
    async with Simulator().serve() as base_url:
        client = await connect_websocket(f"{base_url}/realtime?model=gpt-realtime")
        try:
            response = getattr(client, "response", None)
            assert response is not None
            assert "Sec-WebSocket-Protocol" not in response.headers
            types = await _short_session(_sender(client), client.receive)
            assert "response.done" in types
        finally:
            await client.close()


@pytest.mark.anyio
@asyncio_only
async def test_a_client_offering_other_subprotocols_only_connects_without_one() -> None:
    async with (
        Simulator().serve() as base_url,
        websockets_connect(f"{base_url}/realtime", subprotocols=[Subprotocol("chat")], open_timeout=10) as websocket,
    ):
        assert websocket.subprotocol is None
        assert json.loads(await websocket.recv())["type"] == "session.created"


@pytest.mark.anyio
@asyncio_only
async def test_require_key_takes_the_key_from_the_subprotocol_header_or_api_key() -> None:
    async with Simulator().serve(require_key=True) as base_url:
        url = f"{base_url}/realtime?model=gpt-realtime"
        async with websockets_connect(url, subprotocols=BROWSER_SUBPROTOCOLS, open_timeout=10) as websocket:
            assert json.loads(await websocket.recv())["type"] == "session.created"
        for headers in ({"Authorization": f"Bearer {KEY}"}, {"api-key": KEY}):
            client = await connect_websocket(url, headers)
            assert json.loads(await client.receive())["type"] == "session.created"
            await client.close()
        for headers in ({}, {"Authorization": "Bearer "}, {"Sec-WebSocket-Protocol": "realtime"}):
            with pytest.raises(HandshakeError) as refused:
                await connect_websocket(url, headers)
            assert refused.value.status == 401
            assert "API key" in refused.value.body
        with pytest.raises(Exception, match="401"):  # the empty key in the subprotocol
            async with websockets_connect(
                url, subprotocols=[Subprotocol("realtime"), Subprotocol("openai-insecure-api-key.")], open_timeout=10
            ):
                pass


# --- 5. wss:// ----------------------------------------------------------------------------------------


def _client_context(ca_file: Any) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))  # verification on: hostname and chain


@pytest.mark.anyio
async def test_the_simulator_serves_wss_with_a_certificate_made_at_start(tmp_path: Path) -> None:
    context, ca_file = make_tls(tmp_path)
    assert ca_file == tmp_path / "ca.pem"
    assert ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
    async with Simulator().serve(tls=context) as base_url:
        assert base_url.startswith("wss://127.0.0.1:")
        port = base_url.rsplit(":", 1)[1].split("/")[0]
        for host in ("localhost", "127.0.0.1"):
            client = await connect_websocket(
                f"wss://{host}:{port}/v1/realtime?model=gpt-realtime",
                options=WebSocketOptions(ssl_context=_client_context(ca_file)),
            )
            try:
                types = await _short_session(_sender(client), client.receive)
                assert "response.done" in types
            finally:
                await client.close()
        # A client that does not trust that CA refuses the server.
        with pytest.raises(ssl.SSLCertVerificationError):
            await connect_websocket(f"wss://localhost:{port}/v1/realtime", options=WebSocketOptions(open_timeout=5))


@pytest.mark.anyio
@asyncio_only
async def test_a_wss_browser_style_client_connects_with_the_subprotocol(tmp_path: Path) -> None:
    context, ca_file = make_tls(tmp_path)
    async with Simulator().serve(tls=context, require_key=True) as base_url:
        port = base_url.rsplit(":", 1)[1].split("/")[0]
        async with websockets_connect(
            f"wss://localhost:{port}/v1/realtime?model=gpt-realtime",
            subprotocols=BROWSER_SUBPROTOCOLS,
            ssl=_client_context(ca_file),
            open_timeout=10,
        ) as websocket:
            assert websocket.subprotocol == "realtime"
            types = await _short_session(websocket.send, websocket.recv)
    assert "response.done" in types


def _start_simulate(*flags: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    """``realtime-dispatch simulate --port 0 FLAGS`` in a subprocess: the process, the URL it
    listens at, and the other lines it printed at start."""
    process = subprocess.Popen(
        [sys.executable, "-m", "realtime_dispatch", "simulate", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"(wss://\S+/v1/realtime)", line)
    if not match:
        process.kill()
        _, err = process.communicate(timeout=30)
        raise AssertionError(line + err)
    more = [process.stdout.readline()] if "--tls" in flags else []
    return process, match.group(1), more


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    assert process.returncode == 130, err
    assert "Traceback" not in err
    return err


def _sync_session(url: str, ca_file: str) -> str:
    """One connection with verification against ``ca_file``: the first event's type."""
    with websockets_sync_connect(
        url + "?model=gpt-realtime",
        ssl=_client_context(ca_file),
        subprotocols=[Subprotocol("realtime")],
        open_timeout=10,
    ) as websocket:
        assert websocket.subprotocol == "realtime"
        return str(json.loads(websocket.recv(timeout=10))["type"])


def test_cli_simulate_tls_prints_the_ca_file_and_serves_wss() -> None:
    process, url, more = _start_simulate("--tls")
    try:
        match = re.fullmatch(r"CA certificate: (\S+) \(trust it in your client, e.g. SSL_CERT_FILE=(\S+)\)\n", more[0])
        assert match, more
        ca_file = match.group(1)
        assert match.group(2) == ca_file
        assert Path(ca_file).is_file()
        assert url.startswith("wss://127.0.0.1:")
        assert _sync_session(url, ca_file) == "session.created"
        assert _sync_session(url.replace("127.0.0.1", "localhost"), ca_file) == "session.created"
    finally:
        _stop(process)
    assert not Path(ca_file).exists()  # the temporary directory goes with the process


@pytest.mark.anyio
async def test_cli_simulate_with_ones_own_certificate(tmp_path: Path) -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("localhost", "127.0.0.1")
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    certificate.cert_chain_pems[0].write_to_path(str(cert_file))
    certificate.private_key_pem.write_to_path(str(key_file))
    process, url, _ = _start_simulate("--certfile", str(cert_file), "--keyfile", str(key_file))
    try:
        assert await anyio.to_thread.run_sync(_sync_session, url, str(ca_file)) == "session.created"
        client = await connect_websocket(url, options=WebSocketOptions(ssl_context=_client_context(ca_file)))
        assert json.loads(await client.receive())["type"] == "session.created"
        await client.close()
    finally:
        await anyio.to_thread.run_sync(_stop, process)


def test_cli_simulate_tls_without_trustme_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "trustme", None)  # import trustme raises ImportError
    assert main(["simulate", "--tls", "--port", "0"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "realtime-dispatch simulate: error: making a TLS certificate needs trustme:"
        " pip install 'realtime-dispatch[tls]'"
    ]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--keyfile", "key.pem"], "--keyfile needs --certfile"),
        (["--tls", "--certfile", "cert.pem"], "not allowed with argument"),
    ],
)
def test_cli_simulate_tls_flag_errors_give_usage_and_exit_2(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--port", "0", *flags])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
