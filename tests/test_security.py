"""Security (issue 8): the API key never shows, TLS verifies by default, and the maximum
frame size is enforced at the app level.

The key (``KEY``) must not appear in any log record at any level (every logger at DEBUG,
``realtime_dispatch.trace`` included), in the reprs of the endpoint, the connection and the app,
in exception messages and tracebacks (a 401 whose body echoes the key, on the first connection
and on a reconnect; a refused TCP connection; ``ConfigError``), nor in recordings made by
``testing.Recorder``.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import traceback
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import trustme
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from realtime_dispatch import (
    ConfigError,
    Connection,
    ConnectionFailed,
    RealtimeApp,
    Reconnect,
    azure,
    events,
    on,
    openai,
)
from realtime_dispatch.testing import Recorder, replay
from realtime_dispatch.transports import (
    HandshakeError,
    Transport,
    TransportClosed,
    WebSocketOptions,
    WebSocketTransport,
    memory_pair,
    serve_websocket,
)

pytestmark = pytest.mark.anyio

KEY = "sk-test-SECRET-0123456789abcdef"
EPHEMERAL = "ek_test_EPHEMERAL_0123456789abcdef"
AZURE_KEY = "azure-SECRET-0123456789abcdef"
SECRETS = (KEY, EPHEMERAL, AZURE_KEY, "SECRET-0123456789abcdef")  # the last: any part of a key
FAST = Reconnect(max_attempts=2, initial_delay=0.001, max_delay=0.002, jitter=0.0)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_WEBSOCKET_BASE_URL", "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger at DEBUG (the trace logger decides per connection: set before connecting)."""
    caplog.set_level(logging.DEBUG)
    for name in ("realtime_dispatch", "realtime_dispatch.trace", "realtime_dispatch.websocket", "websockets"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        shown = text if isinstance(text, str) else repr(text)
        for secret in SECRETS:
            assert secret not in shown, f"{secret!r} leaked in {shown[:300]!r}"


def assert_clean_logs(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        assert_no_secret(record.getMessage(), repr(record.args))
        if record.exc_info and record.exc_info[1] is not None:
            assert_no_secret("".join(traceback.format_exception(record.exc_info[1])))
    assert_no_secret(caplog.text)


def assert_clean_exception(exc: BaseException) -> None:
    """The message, the args, the attributes, and the whole chain as a traceback prints it."""
    assert_no_secret(str(exc), repr(exc.args), repr(vars(exc)), "".join(traceback.format_exception(exc)))
    linked = [exc.__cause__, exc.__context__]
    if isinstance(exc, BaseExceptionGroup):
        linked += exc.exceptions
    for other in linked:
        if other is not None:
            assert_clean_exception(other)


async def failure(run: Callable[[], Any]) -> tuple[BaseException, BaseException]:
    """Run ``run()``; return what it raised and the one exception inside (should a failure ever
    come out wrapped in single-member exception groups, the inner one is checked too)."""
    try:
        with anyio.fail_after(10):
            await run()
    except Exception as exc:
        inner: BaseException = exc
        while isinstance(inner, BaseExceptionGroup) and len(inner.exceptions) == 1:
            inner = inner.exceptions[0]
        return exc, inner
    raise AssertionError("expected a failure")


def refuse_echoing_the_key(request: Request) -> Response:
    """A hostile or careless server: 401 with the credential it got in the body."""
    body = f"Incorrect API key provided: {request.headers.get('Authorization')} {request.headers.get('api-key')}"
    data = body.encode()
    return Response(401, "Unauthorized", Headers([("Content-Length", str(len(data)))]), data)


async def never(transport: WebSocketTransport) -> None:
    raise AssertionError("a refused handshake never gets here")


def free_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- a whole session, with every log on -----------------------------------------------------------


class Session(RealtimeApp):
    session = events.Session(type="realtime", instructions="Be brief.")
    reconnect = None

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    @on("*")
    def every(self, event: events.ServerEvent) -> None:
        self.seen.append(event.type)

    @on("response.done")
    async def done(self, conn: Connection) -> None:
        await conn.close()

    async def on_connect(self, connection: Connection) -> None:
        self.repr_while_running = (repr(connection), repr(self), str(connection))
        await connection.create_item(events.ConversationItem.message("user", "Hi"))
        await connection.create_response()


def server_frames(secrets_in_content: bool) -> list[bytes]:
    created = json.loads(events.encode(events.SessionCreated.build(session=events.Session(type="realtime"))))
    frames = []
    if secrets_in_content:
        # GA and beta servers hand out ephemeral client secrets; an unmodelled event may carry one too.
        created["session"]["client_secret"] = {"value": EPHEMERAL, "expires_at": 1}
        frames.append(json.dumps({"type": "x.secret", "value": EPHEMERAL}).encode())
    return [json.dumps(created).encode(), *frames]


def serve_session(secrets_in_content: bool = False) -> Callable[[WebSocketTransport], Any]:
    async def serve(transport: WebSocketTransport) -> None:
        """session.created (and the frames carrying secrets), then answer every client event."""
        assert transport.request is not None
        assert transport.request.headers["Authorization"] == f"Bearer {KEY}"  # the key did go out
        for frame in server_frames(secrets_in_content):
            await transport.send(frame)
        try:
            while True:
                event = events.decode_client(await transport.receive())
                if event.type == "response.create":
                    await transport.send(events.encode(events.ResponseOutputTextDelta.build(delta="ok")))
                    await transport.send(events.encode(events.ResponseDone.build(response=events.Response(id="r"))))
        except TransportClosed:
            pass

    return serve


async def test_a_whole_session_with_every_logger_at_debug_never_logs_the_key(
    every_log: pytest.LogCaptureFixture,
) -> None:
    """The key in the credentials: redacted from the handshake log, absent from everything else."""
    app = Session()
    async with serve_websocket(serve_session()) as port:
        endpoint = openai("gpt-realtime", api_key=KEY, base_url=f"ws://127.0.0.1:{port}/v1")
        with anyio.fail_after(10):
            await app.run_async(endpoint)
    assert app.seen == ["session.created", "response.output_text.delta", "response.done"]
    names = {record.name for record in every_log.records}
    assert "realtime_dispatch.trace" in names  # every event was traced...
    assert "realtime_dispatch.websocket" in names  # ...and the handshake headers logged
    headers = [r.getMessage() for r in every_log.records if r.name == "realtime_dispatch.websocket"]
    assert any("Authorization: <redacted>" in message for message in headers)
    assert_clean_logs(every_log)
    assert_no_secret(repr(endpoint), str(endpoint), *app.repr_while_running, repr(app), repr(app.router))


async def test_secrets_carried_in_frames_are_not_logged_at_debug(every_log: pytest.LogCaptureFixture) -> None:
    """An ephemeral client secret in ``session.created``, one in a short unmodelled event, and the
    key in the app's own instructions: the trace logger leaves secrets out of what it logs, and
    the WebSocket layer's frame logging must too."""

    class Quoting(Session):
        session = events.Session(type="realtime", instructions=f"never say {KEY}")

    app = Quoting()
    async with serve_websocket(serve_session(secrets_in_content=True)) as port:
        endpoint = openai("gpt-realtime", api_key=KEY, base_url=f"ws://127.0.0.1:{port}/v1")
        with anyio.fail_after(10):
            await app.run_async(endpoint)
    assert app.seen == ["session.created", "x.secret", "response.output_text.delta", "response.done"]
    assert_clean_logs(every_log)


# --- exception messages ---------------------------------------------------------------------------


ENDPOINTS: dict[str, Callable[[int], Any]] = {
    "openai": lambda port: openai("gpt-realtime", api_key=KEY, base_url=f"ws://127.0.0.1:{port}/v1"),
    "openai-ephemeral": lambda port: openai("gpt-realtime", api_key=EPHEMERAL, base_url=f"ws://127.0.0.1:{port}/v1"),
    "azure-key": lambda port: azure("d", endpoint=f"http://127.0.0.1:{port}", api_key=AZURE_KEY),
    "azure-token": lambda port: azure("d", endpoint=f"http://127.0.0.1:{port}", token=KEY),
}


@pytest.mark.parametrize("kind", sorted(ENDPOINTS))
async def test_a_refused_handshake_that_echoes_the_key_does_not_leak_it(
    kind: str, every_log: pytest.LogCaptureFixture
) -> None:
    app = Session()
    async with serve_websocket(never, accept=refuse_echoing_the_key) as port:
        raised, error = await failure(lambda: app.run_async(ENDPOINTS[kind](port)))
    assert isinstance(error, HandshakeError)
    assert error.status == 401
    assert "<redacted>" in str(error)  # the server did echo it: the message was scrubbed
    assert_clean_exception(raised)
    assert_clean_logs(every_log)


async def test_a_refused_reconnect_that_echoes_the_key_does_not_leak_it(every_log: pytest.LogCaptureFixture) -> None:
    """First connection accepted then lost (1011); the reconnect is refused with 401."""
    connections = 0

    def accept_once(request: Request) -> Response | None:
        return None if connections == 0 else refuse_echoing_the_key(request)

    async def lose(transport: WebSocketTransport) -> None:
        nonlocal connections
        connections += 1
        await transport.close(1011, "server error")

    class App(Session):
        reconnect = FAST

        async def on_connect(self, connection: Connection) -> None:
            pass

    async with serve_websocket(lose, accept=accept_once) as port:
        with anyio.fail_after(10), pytest.raises(ConnectionFailed) as caught:
            await App().run_async(openai("gpt-realtime", api_key=KEY, base_url=f"ws://127.0.0.1:{port}/v1"))
    assert isinstance(caught.value.__cause__, HandshakeError)
    assert caught.value.__cause__.status == 401
    assert_clean_exception(caught.value)
    assert_clean_logs(every_log)


async def test_a_refused_tcp_connection_does_not_leak_the_key(every_log: pytest.LogCaptureFixture) -> None:
    endpoint = openai("gpt-realtime", api_key=KEY, base_url=f"ws://127.0.0.1:{free_port()}/v1")
    raised, error = await failure(lambda: Session().run_async(endpoint))
    assert isinstance(error, OSError)
    assert_clean_exception(raised)
    assert_clean_logs(every_log)


def test_config_errors_do_not_show_the_key() -> None:
    attempts: list[Callable[[], object]] = [
        lambda: openai(api_key=KEY),  # no model
        lambda: openai(api_key=KEY, beta=True, call_id="rtc_1"),  # beta needs a model
        lambda: openai("m", api_key=KEY, base_url="ftp://example.com/v1"),  # not a WebSocket URL
        lambda: azure("d", api_key=AZURE_KEY),  # no endpoint
        lambda: azure("", endpoint="https://r.openai.azure.com", api_key=AZURE_KEY),  # no deployment
        lambda: azure("d", endpoint="ftp://r.openai.azure.com", api_key=AZURE_KEY),
    ]
    for attempt in attempts:
        with pytest.raises(ConfigError) as caught:
            attempt()
        assert_clean_exception(caught.value)


async def test_an_endpoint_of_the_other_api_is_refused_without_showing_the_key() -> None:
    beta = openai("gpt-4o-realtime-preview", api_key=KEY, beta=True, base_url="ws://127.0.0.1:1/v1")
    with pytest.raises(ConfigError) as caught:
        await Session().run_async(beta)
    assert_clean_exception(caught.value)


# --- recordings -----------------------------------------------------------------------------------


async def record(
    frames_from_server: list[bytes], app: Quiet, close: tuple[int, str] = (1000, "")
) -> list[dict[str, Any]]:
    """Run ``app`` through a Recorder over an in-memory server that sends ``frames_from_server``,
    reads the app's events, then closes with ``close``; return the recording's lines."""
    lines: list[str] = []

    async def serve(server: Any) -> None:
        for frame in frames_from_server:
            await server.send_raw(frame)
        for _ in app.to_send:
            await server.receive_raw()
        await server.close(*close)

    async with anyio.create_task_group() as task_group:

        async def factory() -> Transport:
            client, server = memory_pair()
            task_group.start_soon(serve, server)
            return client

        recorder = Recorder(factory, lines)
        with anyio.fail_after(10):
            if close[0] == 1000:
                await app.run_async(recorder)
            else:  # an abnormal close ends the app with ConnectionFailed, its reason scrubbed too
                with pytest.raises(ConnectionFailed) as failed:
                    await app.run_async(recorder)
                assert_no_secret(str(failed.value))
    assert lines == recorder.lines
    assert replay(lines).connections  # the recording stays a valid one
    return [json.loads(line) | {"text": line} for line in lines]


class Quiet(RealtimeApp):
    reconnect = None

    def __init__(self, *to_send: events.ClientEvent) -> None:
        super().__init__()
        self.to_send = to_send

    async def on_connect(self, connection: Connection) -> None:
        for event in self.to_send:
            await connection.send(event)


async def test_recorder_scrubs_what_it_documents() -> None:
    """Strings starting with ``sk-``, ``ek_`` or ``Bearer ``, credential headers and
    ``client_secret`` values become ``<redacted>``; the rest is kept."""
    created = json.loads(events.encode(events.SessionCreated.build(session=events.Session(type="realtime"))))
    created["session"]["client_secret"] = {"value": EPHEMERAL, "expires_at": 1}
    created["session"]["model"] = "gpt-realtime"
    frames = [
        json.dumps(created).encode(),
        json.dumps({"type": "x.custom", "token": f"Bearer {KEY}", "api-key": AZURE_KEY, "plain": "kept"}).encode(),
        json.dumps({"type": "x.other", "client_secret": "anything at all", "nested": [{"k": KEY}]}).encode(),
    ]
    app = Quiet(events.SessionUpdate(session=events.Session(type="realtime", instructions=KEY)))
    lines = await record(frames, app)
    assert [line["dir"] for line in lines] == ["connect", "out", "in", "in", "in", "close"]
    assert lines[1]["frame"]["session"]["instructions"] == "<redacted>"
    assert lines[2]["frame"]["session"]["client_secret"] == {"value": "<redacted>", "expires_at": 1}
    assert lines[2]["frame"]["session"]["model"] == "gpt-realtime"
    assert lines[3]["frame"] == {"type": "x.custom", "token": "<redacted>", "api-key": "<redacted>", "plain": "kept"}
    assert lines[4]["frame"] == {"type": "x.other", "client_secret": "<redacted>", "nested": [{"k": "<redacted>"}]}
    for line in lines:
        assert_no_secret(line["text"])


async def test_recorder_scrubs_the_connect_line_of_an_endpoint() -> None:
    async def record_headers(transport: WebSocketTransport) -> None:
        await transport.close()

    lines: list[str] = []
    async with serve_websocket(record_headers) as port:
        endpoint = azure("d", endpoint=f"http://127.0.0.1:{port}", api_key=AZURE_KEY, headers={"X-Api-Key": KEY})
        with anyio.fail_after(10):
            await Quiet().run_async(Recorder(endpoint, lines))
    connect = json.loads(lines[0])
    assert connect["dir"] == "connect"
    assert connect["frame"]["headers"] == {"api-key": "<redacted>", "X-Api-Key": "<redacted>"}
    assert_no_secret(*lines)


# The key inside a longer string: a prompt that quotes it, a server error echoing it, a frame that
# is not JSON. The recording is a file meant to be committed next to the tests: it must not hold it.
EMBEDDED: dict[str, tuple[list[bytes], tuple[events.ClientEvent, ...], tuple[int, str]]] = {
    "instructions": (
        [],
        (events.SessionUpdate(session=events.Session(type="realtime", instructions=f"The key is {KEY}.")),),
        (1000, ""),
    ),
    "user-text": (
        [],
        (events.ConversationItemCreate(item=events.ConversationItem.message("user", f"use {KEY} please")),),
        (1000, ""),
    ),
    "server-error": (
        [
            events.encode(
                events.ErrorEvent.build(
                    error=events.ErrorDetail(
                        type="invalid_request_error", message=f"Incorrect API key provided: {KEY}."
                    )
                )
            )
        ],
        (),
        (1000, ""),
    ),
    "not-json": ([f"oops {KEY}".encode()], (), (1000, "")),
    "ephemeral-in-text": (
        [json.dumps({"type": "x.note", "note": f"your secret: {EPHEMERAL}"}).encode()],
        (),
        (1000, ""),
    ),
    "close-reason": ([], (), (1008, f"bad key {KEY}")),
}


@pytest.mark.parametrize("case", sorted(EMBEDDED))
async def test_recorder_scrubs_a_key_inside_a_longer_string(case: str) -> None:
    frames, to_send, close = EMBEDDED[case]
    lines = await record(frames, Quiet(*to_send), close)
    assert len(lines) == 2 + len(frames) + len(to_send)  # connect, frames, sends, close: all recorded
    for line in lines:
        assert_no_secret(line["text"])


# --- TLS --------------------------------------------------------------------------------------------


def tls_contexts(hostname: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for ``hostname`` from a private CA, and a client
    context trusting that CA."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(hostname).configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def test_tls_verification_is_on_by_default_for_an_app(every_log: pytest.LogCaptureFixture) -> None:
    """test_websocket covers the transport; here the app's endpoint, and the hostname check."""
    server_context, trusting = tls_contexts("localhost")
    async with serve_websocket(serve_session(), tls=server_context) as port:
        endpoint = openai("gpt-realtime", api_key=KEY, base_url=f"wss://localhost:{port}/v1")
        assert endpoint.options.ssl_context is None  # the default: the system CAs, verification on
        raised, error = await failure(lambda: Session().run_async(endpoint))
        assert isinstance(error, ssl.SSLCertVerificationError)
        assert "CERTIFICATE_VERIFY_FAILED" in str(error)
        assert_clean_exception(raised)

        trusted = Session()
        with anyio.fail_after(10):
            await trusted.run_async(endpoint.with_options(ssl_context=trusting))
        assert trusted.seen == ["session.created", "response.output_text.delta", "response.done"]
    assert_clean_logs(every_log)


async def test_tls_checks_the_hostname_even_with_a_trusted_ca() -> None:
    server_context, trusting = tls_contexts("other.example")
    async with serve_websocket(serve_session(), tls=server_context) as port:
        endpoint = openai("gpt-realtime", api_key=KEY, base_url=f"wss://localhost:{port}/v1", options=None)
        _, error = await failure(lambda: Session().run_async(endpoint.with_options(ssl_context=trusting)))
    assert isinstance(error, ssl.SSLCertVerificationError)
    assert "Hostname mismatch" in str(error)


# --- the maximum frame size -------------------------------------------------------------------------


async def test_a_frame_above_max_size_closes_with_1009_and_the_app_reports_it(caplog: pytest.LogCaptureFixture) -> None:
    limit = 64 * 1024
    server_saw: list[int] = []
    big = json.dumps({"type": "conversation.item.retrieved", "audio": "A" * limit}).encode()

    async def send_big(transport: WebSocketTransport) -> None:
        await transport.send(events.encode(events.InputAudioBufferCleared.build(event_id="small")))
        await transport.send(big)
        try:
            while True:
                await transport.receive()
        except TransportClosed as closed:
            server_saw.append(closed.code)

    class App(RealtimeApp):
        reconnect = FAST  # 1009 is not recoverable: no reconnect even with a policy

        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str | None] = []
            self.disconnects = 0

        @on("*")
        def every(self, event: events.ServerEvent) -> None:
            self.seen.append(event.event_id)

        async def on_disconnect(self, connection: Connection) -> None:
            self.disconnects += 1

    app = App()
    caplog.set_level(logging.INFO, logger="realtime_dispatch")
    async with serve_websocket(send_big) as port:
        endpoint = openai(
            "gpt-realtime", base_url=f"ws://127.0.0.1:{port}/v1", options=WebSocketOptions(max_size=limit)
        )
        with anyio.fail_after(10), pytest.raises(ConnectionFailed, match="1009"):  # the caller learns it
            await app.run_async(endpoint)
    assert app.seen == ["small"]  # the frame before it was handled; the big one never was
    assert app.disconnects == 1
    assert server_saw == [1009]  # the client closed with "message too big"
    closed = [r for r in caplog.records if r.name == "realtime_dispatch.app" and "1009" in r.getMessage()]
    assert closed, "the 1009 close is reported"
