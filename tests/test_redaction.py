"""Secrets stay out of every output (issue 13, guarantee 11): one scrubbing rule
(``realtime_dispatch._redact``) for the trace logger, recordings, error and close-reason logs
and the bare transports' ``HandshakeError``."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import pytest
from conftest import serving, settle

from realtime_dispatch import ConnectionFailed, RealtimeApp, Reconnect, events
from realtime_dispatch._redact import REDACTED, is_credential_name, redact, redact_text
from realtime_dispatch.testing import Recorder
from realtime_dispatch.transports import (
    HandshakeError,
    Transport,
    connect_picows,
    connect_websocket,
    memory_pair,
)

KEY = "sk-proj-SECRET0123456789abcdefXYZ"
EPHEMERAL = "ek_68af0123SECRETabcdef"
MCP_TOKEN = "mcp-SECRET-7f3a9c2e51"  # looks like nothing: only its place (a header) tells
QUERY_KEY = "QUERYSECRET0123456789"
AZURE_KEY = "azureSECRET0123456789abcdef"
SECRETS = (KEY, EPHEMERAL, MCP_TOKEN, QUERY_KEY, AZURE_KEY, "SECRET")


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        shown = text if isinstance(text, str) else repr(text)
        for secret in SECRETS:
            at = shown.find(secret)
            assert at < 0, f"{secret!r} leaked in ...{shown[max(at - 200, 0) : at + 100]!r}"


# --- redact_text ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (KEY, REDACTED),
        ("sk-abc12345", REDACTED),
        (f"Incorrect API key provided: {KEY}.", f"Incorrect API key provided: {REDACTED}."),
        ("Incorrect API key provided: sk-proj-abc...xyz. See", f"Incorrect API key provided: {REDACTED}. See"),
        ("provided: sk-proj-****************abcd.", f"provided: {REDACTED}."),
        (f"secret {EPHEMERAL} expires", f"secret {REDACTED} expires"),
        (f"Authorization header was Bearer {AZURE_KEY}", f"Authorization header was {REDACTED}"),
        ("Bearer xyz", REDACTED),
        (
            "token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl expired",
            f"token {REDACTED} expired",
        ),
        (
            f"realtime, openai-insecure-api-key.{AZURE_KEY}, openai-beta.realtime-v1",
            f"realtime, openai-insecure-api-key.{REDACTED}, openai-beta.realtime-v1",
        ),
        (
            f"wss://r.openai.azure.com/openai/realtime?api-version=2025-04-01&api-key={QUERY_KEY}&deployment=d",
            f"wss://r.openai.azure.com/openai/realtime?api-version=2025-04-01&api-key={REDACTED}&deployment=d",
        ),
        (f"https://mcp.example.com/sse?token={QUERY_KEY}", f"https://mcp.example.com/sse?token={REDACTED}"),
        (f'{{"api_key": "{AZURE_KEY}", "model": "m"}}', f'{{"api_key": "{REDACTED}", "model": "m"}}'),
        (
            f"Ocp-Apim-Subscription-Key: {AZURE_KEY}\r\nUser-Agent: x\r\nX-My-Token: {MCP_TOKEN}\r\n",
            f"Ocp-Apim-Subscription-Key: {REDACTED}\r\nUser-Agent: x\r\nX-My-Token: {REDACTED}\r\n",
        ),
    ],
)
def test_redact_text_replaces_secrets_and_keeps_their_labels(text: str, expected: str) -> None:
    assert redact_text(text) == expected
    assert redact_text(expected) == expected  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        "evt_ABC123 resp_XYZ789 item_0123456789abcdef call_Hk2N9 sess_1 conv_2 rtc_3 fc_4",
        "Conversation already has an active response in progress: resp_CA6mBqOpo8Bq.",
        "a risk-free, task-based desk-top language sk-SK week_end peek_at",
        "The bearer of good news. Key points: tokens are counted per response.",
        "wss://api.openai.com/v1/realtime?model=gpt-realtime&call_id=rtc_123",
        "Invalid value for 'session.max_output_tokens': expected an integer or 'inf'.",
        '{"type": "response.done", "event_id": "evt_1", "input_tokens": "12"}',
        "User-Agent: realtime-dispatch\r\nOpenAI-Beta: realtime=v1",
        "",
    ],
)
def test_redact_text_leaves_ordinary_text_alone(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize(
    "name",
    ["Authorization", "api-key", "API_KEY", "Ocp-Apim-Subscription-Key", "X-My-Token", "client_secret", "Cookie",
     "Set-Cookie", "password", "x-goog-auth", "token", "apikey"],
)  # fmt: skip
def test_credential_names(name: str) -> None:
    assert is_credential_name(name)


@pytest.mark.parametrize(
    "name",
    ["input_tokens", "max_output_tokens", "max_response_output_tokens", "input_token_details", "token_limits",
     "keywords", "User-Agent", "OpenAI-Beta", "type", "value", "event_id", "model"],
)  # fmt: skip
def test_not_credential_names(name: str) -> None:
    assert not is_credential_name(name)


# --- redact -------------------------------------------------------------------------------------------


def test_redact_a_session_with_an_mcp_tool() -> None:
    session = {
        "type": "realtime",
        "instructions": f"never say {KEY}",
        "max_output_tokens": "inf",
        "tools": [
            {
                "type": "mcp",
                "server_label": "crm",
                "server_url": f"https://mcp.example.com/sse?api-key={QUERY_KEY}",
                "authorization": MCP_TOKEN,
                "headers": {"X-Tenant": MCP_TOKEN, "Authorization": f"Bearer {MCP_TOKEN}"},
            }
        ],
        "client_secret": {"value": EPHEMERAL, "expires_at": 1},
    }
    original = json.dumps(session)
    assert redact(session) == {
        "type": "realtime",
        "instructions": f"never say {REDACTED}",
        "max_output_tokens": "inf",
        "tools": [
            {
                "type": "mcp",
                "server_label": "crm",
                "server_url": f"https://mcp.example.com/sse?api-key={REDACTED}",
                "authorization": REDACTED,
                "headers": {"X-Tenant": REDACTED, "Authorization": REDACTED},  # every value, whatever its name
            }
        ],
        "client_secret": {"value": REDACTED, "expires_at": 1},
    }
    assert json.dumps(session) == original  # a copy: the input is untouched


def test_redact_a_header_mapping_by_name() -> None:
    headers = {
        "Authorization": f"Bearer {KEY}",
        "api-key": AZURE_KEY,
        "Ocp-Apim-Subscription-Key": AZURE_KEY,
        "X-My-Token": MCP_TOKEN,
        "Cookie": "session=abc",
        "User-Agent": "realtime-dispatch",
        "OpenAI-Beta": "realtime=v1",
    }
    assert redact(headers) == {
        "Authorization": REDACTED,
        "api-key": REDACTED,
        "Ocp-Apim-Subscription-Key": REDACTED,
        "X-My-Token": REDACTED,
        "Cookie": REDACTED,
        "User-Agent": "realtime-dispatch",
        "OpenAI-Beta": "realtime=v1",
    }


def test_redact_keeps_counts_logprobs_ids_and_non_strings() -> None:
    value = {
        "type": "response.done",
        "event_id": "evt_1",
        "response": {"id": "resp_1", "usage": {"input_tokens": 10, "input_token_details": {"text_tokens": 4}}},
        "logprobs": [{"token": "Hello", "logprob": -0.1, "bytes": [72]}],
        "keywords": ["Realtime"],
        "api_key": None,
        "token": 7,
        "password": "",
        "pair": ("call_1", f"x {KEY}"),
    }
    shown = redact(value)
    assert shown == {**value, "pair": ("call_1", f"x {REDACTED}")}


# --- the trace logger and the Recorder ------------------------------------------------------------


class McpApp(RealtimeApp):
    reconnect = None
    session = events.Session(
        type="realtime",
        instructions="Be brief.",
        tools=[
            events.Tool(
                type="mcp",
                server_label="crm",
                server_url=f"https://mcp.example.com/sse?api-key={QUERY_KEY}",
                headers={"X-My-Token": MCP_TOKEN, "X-Tenant-Auth": f"Bearer {KEY}"},
            )
        ],
    )


@pytest.mark.anyio
async def test_the_trace_of_a_session_update_with_mcp_headers_shows_no_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="realtime_dispatch.trace")  # before connecting: tracing is per connection
    app = McpApp()
    async with serving(app) as server:
        sent = await server.receive_event()
        assert isinstance(sent, events.SessionUpdate)
        await settle(app, server)
    lines = [r.getMessage() for r in caplog.records if r.name == "realtime_dispatch.trace"]
    update = [line for line in lines if line.startswith("sending session.update")]
    assert update, lines
    assert '"X-My-Token":"<redacted>"' in update[0]  # the header is shown, its value is not
    assert f"api-key={REDACTED}" in update[0]
    assert_no_secret(caplog.text)


@pytest.mark.anyio
async def test_a_recording_of_a_session_update_with_mcp_headers_holds_no_token() -> None:
    lines: list[str] = []

    async def serve(server: Any) -> None:
        await server.receive_raw()  # the session.update
        await server.close(1000, "")

    async with anyio.create_task_group() as task_group:

        async def factory() -> Transport:
            client, server = memory_pair()
            task_group.start_soon(serve, server)
            return client

        with anyio.fail_after(10):
            await McpApp().run_async(Recorder(factory, lines))
    records = [json.loads(line) for line in lines]
    assert [record["dir"] for record in records] == ["connect", "out", "close"]
    tool = records[1]["frame"]["session"]["tools"][0]
    assert tool["headers"] == {"X-My-Token": REDACTED, "X-Tenant-Auth": REDACTED}
    assert tool["server_url"] == f"https://mcp.example.com/sse?api-key={REDACTED}"
    assert_no_secret(*lines)


# --- error and close-reason logs --------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_server_error_echoing_the_key_is_logged_without_it(caplog: pytest.LogCaptureFixture) -> None:
    """No handler for ``error``: the receive loop logs it (``_dispatch._log_unhandled_error``)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="realtime_dispatch.trace")
    app = RealtimeApp()
    async with serving(app) as server:
        message = f"Incorrect API key provided: {KEY}. You can find your API key at https://platform.openai.com."
        detail = events.ErrorDetail(type="invalid_request_error", code="invalid_api_key", message=message)
        await server.send_event(events.ErrorEvent.build(error=detail))
        await settle(app, server)
    logged = [r.getMessage() for r in caplog.records if "Incorrect API key provided" in r.getMessage()]
    assert any("server error" in line for line in logged), logged  # it was logged...
    assert_no_secret(caplog.text)  # ...without the key


@pytest.mark.anyio
async def test_close_reasons_echoing_the_key_are_logged_without_it(caplog: pytest.LogCaptureFixture) -> None:
    """A lost connection (1011, reconnecting) and a closed one (1008), both with the key in the
    reason: ``_app``'s "connection lost" and "connection closed" log lines."""
    caplog.set_level(logging.DEBUG)
    closes = [(1011, f"upstream rejected {KEY}"), (1008, f"bad key {KEY}")]

    async def close(server: Any, code: int, reason: str) -> None:
        await server.close(code, reason)

    class App(RealtimeApp):
        reconnect = Reconnect(max_attempts=2, initial_delay=0.001, max_delay=0.002, jitter=0.0)

    async with anyio.create_task_group() as task_group:

        async def factory() -> Transport:
            client, server = memory_pair()
            task_group.start_soon(close, server, *closes.pop(0))
            return client

        with anyio.fail_after(10), pytest.raises(ConnectionFailed) as failed:  # 1008 ends the app abnormally
            await App().run_async(factory)
    assert_no_secret(str(failed.value))
    messages = [r.getMessage() for r in caplog.records if r.name == "realtime_dispatch.app"]
    assert any(m.startswith("connection lost (1011") for m in messages), messages
    assert any(m.startswith("connection closed (1008") for m in messages), messages
    assert_no_secret(caplog.text)


# --- HandshakeError of the bare transports ------------------------------------------------------------


@asynccontextmanager
async def refusing_server() -> AsyncIterator[int]:
    """A raw HTTP server on 127.0.0.1 answering every request with a 401 whose body echoes the
    request line (its query string), the Authorization header and the api-key header."""

    async def refuse(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            data = b""
            while b"\r\n\r\n" not in data:
                data += await stream.receive()
            request_line, *header_lines = data.split(b"\r\n\r\n")[0].decode().split("\r\n")
            fields = (line.partition(":") for line in header_lines)
            headers = {name.strip().lower(): value.strip() for name, _, value in fields}
            body = (
                f"Incorrect API key provided: {headers.get('authorization')}\n"
                f"api-key: {headers.get('api-key')}\n"
                f"request: {request_line}\n"
            ).encode()
            head = f"HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"
            await stream.send(head.encode() + body)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as task_group:
        task_group.start_soon(listener.serve, refuse)
        yield port
        task_group.cancel_scope.cancel()


async def refused(connect: Any) -> HandshakeError:
    async with refusing_server() as port:
        url = f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime&api-key={QUERY_KEY}"
        with anyio.fail_after(10), pytest.raises(HandshakeError) as caught:
            await connect(url, {"Authorization": f"Bearer {KEY}", "api-key": AZURE_KEY})
    return caught.value


def assert_clean_handshake_error(error: HandshakeError) -> None:
    assert error.status == 401
    assert "Incorrect API key provided" in str(error)  # the body is still shown...
    assert REDACTED in str(error)
    assert REDACTED in error.body
    assert_no_secret(str(error), repr(error), repr(error.args), error.body)  # ...without the credentials
    assert_no_secret("".join(traceback.format_exception(error)))


@pytest.mark.anyio
async def test_a_handshake_error_of_connect_websocket_does_not_show_the_credentials() -> None:
    """asyncio: AsyncioWebSocketTransport; trio: WebSocketTransport. Without an Endpoint, which
    scrubs the credentials it knows: here the error has to be clean by itself."""
    assert_clean_handshake_error(await refused(connect_websocket))


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # picows is asyncio only
async def test_a_handshake_error_of_connect_picows_does_not_show_the_credentials() -> None:
    assert_clean_handshake_error(await refused(connect_picows))


def test_a_handshake_error_scrubs_whatever_builds_it() -> None:
    error = HandshakeError(f"refused: {KEY}", status=403, body=f"api-key: {AZURE_KEY}\nno")
    assert str(error) == f"refused: {REDACTED}"
    assert error.body == f"api-key: {REDACTED}\nno"
    body = f"api-key: {AZURE_KEY}"  # a header line at the start of the body, in the middle of the message
    error = HandshakeError(f"WebSocket upgrade refused: HTTP 401 Unauthorized: {body}", status=401, body=body)
    assert str(error) == f"WebSocket upgrade refused: HTTP 401 Unauthorized: api-key: {REDACTED}"
