"""Silent and slow peers, over real sockets on 127.0.0.1: every timeout fires in its configured time, and
nothing is left behind (no file descriptor, no task; an unclosed socket would be a ResourceWarning, an error
here).

``test_websocket.py`` already checks that the client's open, close and ping timeouts fire at all; these add
the time bounds, the leak checks, the server side of ``serve_websocket``, a handshake that stalls half-way,
close() racing a busy receive loop, a whole ``RealtimeApp`` on a silent peer, and the picows transport.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
import anyio.abc
import pytest

from realtime_dispatch import Connection, ConnectionFailed, RealtimeApp, on, openai
from realtime_dispatch.transports import (
    TransportClosed,
    WebSocketOptions,
    WebSocketTransport,
    connect_websocket,
    serve_websocket,
)

SLACK = 1.5  # seconds a timeout may fire late on a loaded 2-core machine
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def open_fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


@asynccontextmanager
async def no_leaks() -> AsyncIterator[None]:
    """The block leaves no file descriptor and no task behind."""
    fds = open_fds()
    tasks = len(anyio.get_running_tasks())
    yield
    for _ in range(20):  # a closed socket's task may need a pass or two of the loop to finish
        if len(anyio.get_running_tasks()) <= tasks and open_fds() <= fds:
            break
        await anyio.sleep(0.01)
    assert len(anyio.get_running_tasks()) <= tasks
    assert open_fds() <= fds


pytestmark = [pytest.mark.anyio, pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")]


def upgrade_response(request: bytes) -> bytes:
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key")
    )
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


UPGRADE_REQUEST = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def read_until_eof(stream: anyio.abc.ByteStream) -> None:
    while True:
        await stream.receive()


async def read_request(stream: anyio.abc.ByteStream) -> bytes:
    request = b""
    while b"\r\n\r\n" not in request:
        request += await stream.receive()
    return request


@asynccontextmanager
async def raw_server(handle: Callable[[anyio.abc.SocketStream], Awaitable[None]]) -> AsyncIterator[int]:
    """A TCP server that speaks only as much WebSocket as ``handle`` does; yields its port."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = int(listener.extra(anyio.abc.SocketAttribute.local_port))

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            with suppress(anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                await handle(stream)

    async with listener, anyio.create_task_group() as task_group:
        task_group.start_soon(listener.serve, serve)
        yield port
        task_group.cancel_scope.cancel()


async def upgrade_then_silence(stream: anyio.abc.SocketStream) -> None:
    """Complete the handshake, then never read or write again: no pong, no close reply."""
    await stream.send(upgrade_response(await read_request(stream)))
    await anyio.sleep_forever()


# --- the client's open timeout ---------------------------------------------------------------------


@pytest.mark.parametrize("server_sends", [b"", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs"])
async def test_open_timeout_fires_in_time_on_a_silent_or_stalled_handshake(server_sends: bytes) -> None:
    """No answer at all, or half a response and then nothing: TimeoutError after open_timeout."""

    async def stall(stream: anyio.abc.SocketStream) -> None:
        await read_request(stream)
        await stream.send(server_sends)
        await anyio.sleep_forever()

    async with no_leaks(), raw_server(stall) as port:
        started = time.perf_counter()
        with pytest.raises(TimeoutError):
            await connect_websocket(f"ws://127.0.0.1:{port}/", options=WebSocketOptions(open_timeout=0.3))
        elapsed = time.perf_counter() - started
    assert 0.3 <= elapsed < 0.3 + SLACK


# --- the server's open timeout ----------------------------------------------------------------------


@pytest.mark.parametrize("client_sends", [b"", b"GET /v1/realtime HTTP/1.1\r\nHost: 127.0.0.1\r\n"])
async def test_server_drops_a_client_that_never_finishes_the_upgrade(client_sends: bytes) -> None:
    """A TCP connection that sends nothing, or half a request: the handler never runs, the socket is
    closed at open_timeout, nothing leaks."""
    called = []

    async def handler(transport: WebSocketTransport) -> None:
        called.append(transport)

    options = WebSocketOptions(ping_interval=None, open_timeout=0.2, close_timeout=0.5)
    async with no_leaks(), serve_websocket(handler, options=options) as port:
        client = await anyio.connect_tcp("127.0.0.1", port)
        async with client:
            if client_sends:
                await client.send(client_sends)
            started = time.perf_counter()
            with anyio.fail_after(0.7 + SLACK), pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                await client.receive()
            elapsed = time.perf_counter() - started
    assert called == []
    assert 0.2 <= elapsed < 0.7 + SLACK


async def test_server_closes_a_silent_half_open_client_at_open_timeout() -> None:
    async def handler(transport: WebSocketTransport) -> None:
        raise AssertionError("never reached")

    options = WebSocketOptions(ping_interval=None, open_timeout=0.2, close_timeout=1.0)
    async with serve_websocket(handler, options=options) as port, await anyio.connect_tcp("127.0.0.1", port) as client:
        started = time.perf_counter()
        with anyio.move_on_after(2), suppress(anyio.EndOfStream, anyio.BrokenResourceError):
            await client.receive()
        elapsed = time.perf_counter() - started
    assert elapsed < 0.2 + 0.5  # open_timeout, not open_timeout + close_timeout


# --- close timeouts --------------------------------------------------------------------------------


async def test_close_timeout_while_another_task_is_reading() -> None:
    """close() from one task while another waits in receive() (the app's usual shape), on a peer that
    never answers the close: both return within close_timeout, the reader with TransportClosed."""
    async with no_leaks(), raw_server(upgrade_then_silence) as port:
        options = WebSocketOptions(ping_interval=None, close_timeout=0.3)
        client = await connect_websocket(f"ws://127.0.0.1:{port}/", options=options)
        outcome: list[BaseException] = []

        async def reader() -> None:
            try:
                await client.receive()
            except Exception as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as task_group:
            task_group.start_soon(reader)
            await anyio.sleep(0.05)
            started = time.perf_counter()
            with anyio.fail_after(0.3 + SLACK):
                await client.aclose()
            elapsed = time.perf_counter() - started
        assert 0.3 <= elapsed < 0.3 + SLACK
        assert len(outcome) == 1
        assert isinstance(outcome[0], TransportClosed)


async def test_server_close_timeout_when_the_client_never_answers_the_close() -> None:
    """Our server closes (the handler returned) towards a client that never answers: the server hangs up
    close_timeout after its close frame."""

    async def handler(transport: WebSocketTransport) -> None:
        return  # returning closes the connection

    options = WebSocketOptions(ping_interval=None, close_timeout=0.3)
    async with (
        no_leaks(),
        serve_websocket(handler, options=options) as port,
        await anyio.connect_tcp("127.0.0.1", port) as client,
    ):
        await client.send(UPGRADE_REQUEST)
        received = b""
        while b"\x88" not in received.partition(b"\r\n\r\n")[2]:  # an unmasked close frame's first byte
            received += await client.receive()
        started = time.perf_counter()
        with anyio.fail_after(0.3 + SLACK), pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
            await read_until_eof(client)  # never answering: we only wait for the server to hang up
        elapsed = time.perf_counter() - started
    assert 0.3 - 0.05 <= elapsed < 0.3 + SLACK


async def test_close_while_the_reader_is_busy_in_a_handler() -> None:
    """A receive loop is in a handler (not in receive()) when another task closes; when the loop comes back
    to receive() it must get what is buffered or TransportClosed, never an error of its own."""
    async with raw_server(upgrade_then_silence) as port:
        options = WebSocketOptions(ping_interval=None, close_timeout=0.5)
        client = await connect_websocket(f"ws://127.0.0.1:{port}/", options=options)
        outcome: list[BaseException] = []

        async def receive_loop() -> None:
            with anyio.move_on_after(0.05):
                await client.receive()  # nothing comes: the loop then "runs a handler"
            await anyio.sleep(0.2)
            try:
                await client.receive()
            except Exception as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as task_group:
            task_group.start_soon(receive_loop)
            await anyio.sleep(0.1)
            await client.aclose()
    if not isinstance(outcome[0], TransportClosed):
        raise outcome[0]  # outside every task group, so not wrapped in an ExceptionGroup


# --- keepalive --------------------------------------------------------------------------------------


async def test_ping_timeout_fires_in_time_and_cleans_up() -> None:
    """A peer that completes the handshake and then answers nothing: TransportClosed(1011) after about
    ping_interval + ping_timeout, the socket closed."""
    async with no_leaks(), raw_server(upgrade_then_silence) as port:
        options = WebSocketOptions(ping_interval=0.2, ping_timeout=0.3, close_timeout=0.3)
        client = await connect_websocket(f"ws://127.0.0.1:{port}/", options=options)
        started = time.perf_counter()
        with anyio.fail_after(0.5 + SLACK), pytest.raises(TransportClosed) as caught:
            await client.receive()
        elapsed = time.perf_counter() - started
        assert caught.value.code == 1011
        await client.aclose()
    assert 0.5 <= elapsed < 0.5 + SLACK


async def test_server_side_ping_timeout_on_a_client_that_stops_answering() -> None:
    """serve_websocket with keepalive on: a client that never answers pings is dropped with 1011."""
    outcome: list[BaseException] = []
    done = anyio.Event()

    async def handler(transport: WebSocketTransport) -> None:
        try:
            await transport.receive()
        except Exception as exc:
            outcome.append(exc)
        done.set()

    options = WebSocketOptions(ping_interval=0.2, ping_timeout=0.3, close_timeout=0.3)
    async with (
        no_leaks(),
        serve_websocket(handler, options=options) as port,
        await anyio.connect_tcp("127.0.0.1", port) as client,
    ):
        await client.send(UPGRADE_REQUEST)
        started = time.perf_counter()
        with anyio.fail_after(0.5 + SLACK):
            await done.wait()  # we read nothing more, so the pings are never answered
        elapsed = time.perf_counter() - started
    assert isinstance(outcome[0], TransportClosed)
    assert outcome[0].code == 1011
    assert 0.5 <= elapsed < 0.5 + SLACK


class SilentPeerApp(RealtimeApp):
    reconnect = None

    def __init__(self) -> None:
        super().__init__()
        self.connects = 0
        self.disconnects = 0

    async def on_connect(self, connection: Connection) -> None:
        self.connects += 1

    async def on_disconnect(self, connection: Connection) -> None:
        self.disconnects += 1

    @on("*")
    async def anything(self) -> None:
        raise AssertionError("the peer sends nothing")


async def test_an_app_on_a_peer_that_goes_silent_stops_in_time() -> None:
    """The whole app: keepalive ends the connection (1011), on_disconnect runs, and with reconnect=None
    run_async raises ConnectionFailed; nothing is left running."""
    async with no_leaks(), raw_server(upgrade_then_silence) as port:
        options = WebSocketOptions(ping_interval=0.2, ping_timeout=0.3, close_timeout=0.3)
        endpoint = openai("gpt-realtime", base_url=f"ws://127.0.0.1:{port}/v1", options=options)
        app = SilentPeerApp()
        started = time.perf_counter()
        with anyio.fail_after(0.5 + SLACK), pytest.raises(ConnectionFailed):
            await app.run_async(endpoint)
        elapsed = time.perf_counter() - started
    assert (app.connects, app.disconnects) == (1, 1)
    assert 0.5 <= elapsed < 0.5 + SLACK


# --- picows (asyncio only) ----------------------------------------------------------------------------


asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])  # picows: test_picows checks trio is refused


@asyncio_only
async def test_picows_open_timeout_on_a_server_that_never_answers() -> None:
    from realtime_dispatch.transports import connect_picows

    async def hold(stream: anyio.abc.SocketStream) -> None:
        await read_request(stream)
        await anyio.sleep_forever()

    async with no_leaks(), raw_server(hold) as port:
        started = time.perf_counter()
        with pytest.raises(TimeoutError):
            await connect_picows(f"ws://127.0.0.1:{port}/", options=WebSocketOptions(open_timeout=0.3))
        elapsed = time.perf_counter() - started
    assert 0.3 <= elapsed < 0.3 + SLACK


@asyncio_only
async def test_picows_close_timeout_and_busy_reader() -> None:
    """picows: close() towards a peer that never answers returns after close_timeout, also while the
    reader is away in a handler."""
    from realtime_dispatch.transports import connect_picows

    async with no_leaks(), raw_server(upgrade_then_silence) as port:
        client = await connect_picows(f"ws://127.0.0.1:{port}/", options=WebSocketOptions(close_timeout=0.3))
        outcome: list[Any] = []

        async def receive_loop() -> None:
            with anyio.move_on_after(0.05):
                await client.receive()
            await anyio.sleep(0.2)
            try:
                outcome.append(await client.receive())
            except Exception as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as task_group:
            task_group.start_soon(receive_loop)
            await anyio.sleep(0.1)
            started = time.perf_counter()
            await client.aclose()
            elapsed = time.perf_counter() - started
        assert isinstance(outcome[0], TransportClosed)
    assert 0.3 <= elapsed < 0.3 + SLACK
