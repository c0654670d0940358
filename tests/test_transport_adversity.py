"""The WebSocket transports against peers that misbehave, over real sockets on 127.0.0.1.

- A dead peer (it stops reading and stops answering) while a send is blocked on the full
  socket: keepalive still notices it (1011), the blocked send raises, and ``close`` does not
  wait behind the send.
- A peer that floods pings and never reads our pongs: what we queue to send stays bounded,
  and keepalive drops the peer.
- ``serve_websocket`` reads only what its handler receives, and its closing handshake does not
  queue without bound what a flooding client keeps sending.

The client tests run over every client transport: ``connect_websocket`` on both backends (the
asyncio transport under asyncio, the anyio-streams one under trio), and under asyncio also the
anyio-streams transport and picows.
"""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import anyio
import anyio.abc
import pytest
from websockets.client import ClientProtocol
from websockets.http11 import Response
from websockets.uri import parse_uri

from realtime_dispatch.transports import (
    AsyncioWebSocketTransport,
    PicowsTransport,
    TransportClosed,
    WebSocketOptions,
    WebSocketTransport,
    _inline,
    connect_picows,
    connect_websocket,
    serve_websocket,
)
from realtime_dispatch.transports._websocket import connect_websocket_anyio

pytestmark = pytest.mark.anyio

_KiB = 1024
_MiB = 1024 * _KiB

_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


# --- the client transports ------------------------------------------------------------------------


# Each client on the backends it runs on: connect_websocket on both (under trio it is the anyio-streams
# transport), the anyio-streams transport on asyncio too, picows on asyncio only.
CLIENTS = pytest.mark.parametrize(
    ("anyio_backend", "kind"),
    [
        ("asyncio", "connect_websocket"),
        ("trio", "connect_websocket"),
        ("asyncio", "anyio_streams"),
        ("asyncio", "picows"),
    ],
    ids=["asyncio-connect_websocket", "trio-connect_websocket", "asyncio-anyio_streams", "asyncio-picows"],
)


async def open_client(kind: str, port: int, options: WebSocketOptions) -> Any:
    url = f"ws://127.0.0.1:{port}/v1/realtime"
    if kind == "picows":
        return await connect_picows(url, options=options)
    if kind == "anyio_streams":
        return await connect_websocket_anyio(url, options=options)
    return await connect_websocket(url, options=options)


def outgoing(client: Any) -> int:
    """Bytes the client has queued to send that the socket has not taken yet."""
    if isinstance(client, AsyncioWebSocketTransport):
        assert client._transport is not None
        return client._transport.get_write_buffer_size()
    if isinstance(client, PicowsTransport):
        return int(client.ws_transport.underlying_transport.get_write_buffer_size())
    assert isinstance(client, WebSocketTransport)
    pending = sum(map(len, client._protocol.writes))
    inner = getattr(client._stream, "_transport", None)  # anyio's stream on asyncio buffers in a transport
    if inner is not None:
        pending += inner.get_write_buffer_size()
    return pending


# --- a raw peer: the handshake by hand, then whatever misbehaviour --------------------------------
#
# A plain socket in a thread, so that "never reads" holds on every backend (an anyio stream on
# asyncio may go on reading into memory after a receive), with a small receive buffer (no
# autotuning): what the peer does not read fills it at once, and what we keep writing piles up on
# our side, where the tests can see it.

Behaviour = Callable[[socket.socket, threading.Event], None]


@contextmanager
def raw_peer(behaviour: Behaviour) -> Iterator[int]:
    """Serve one connection on 127.0.0.1 while the block runs: accept the WebSocket upgrade, then
    ``behaviour(connection, stop)`` in a thread until ``stop`` is set."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * _KiB)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    stop = threading.Event()
    connections: list[socket.socket] = []

    def serve() -> None:
        with suppress(OSError):
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                connections.append(conn)
                conn.settimeout(0.1)
                request = b""
                while b"\r\n\r\n" not in request and not stop.is_set():
                    with suppress(TimeoutError):
                        request += conn.recv(4096)
                found = re.search(rb"(?im)^sec-websocket-key:\s*(\S+)", request)
                if found is None:
                    return
                digest = hashlib.sha1(found.group(1) + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
                accept = base64.b64encode(digest)
                conn.sendall(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                )
                behaviour(conn, stop)
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        for conn in connections:
            conn.close()
        listener.close()


def dead(conn: socket.socket, stop: threading.Event) -> None:
    """Never read, never write: a peer whose process hangs (or whose host vanished)."""
    stop.wait()


PING = b"\x89\x7d" + b"p" * 125  # a server's PING frame (unmasked), with the largest control payload
FLOOD = PING * 2048  # ~260 KB of pings, sent over and over


def ping_flood(conn: socket.socket, stop: threading.Event) -> None:
    """Send pings as fast as the socket takes them; never read the pongs."""
    flood = memoryview(FLOOD)
    offset = 0
    while not stop.is_set():
        try:
            offset = (offset + conn.send(flood[offset:])) % len(flood)  # whole frames, wherever a send stops
        except TimeoutError:
            continue
        except OSError:
            return


MESSAGE = b'{"type":"input_audio_buffer.append","audio":"' + b"A" * (256 * _KiB) + b'"}'


async def receive_until_closed(client: Any, outcome: dict[str, TransportClosed]) -> None:
    try:
        while True:
            await client.receive()
    except TransportClosed as exc:
        outcome["receive"] = exc


async def send_until_closed(client: Any, outcome: dict[str, TransportClosed]) -> None:
    """Send as fast as the client takes it: a peer that does not read soon blocks this."""
    try:
        while True:
            await client.send(MESSAGE)
    except TransportClosed as exc:
        outcome["send"] = exc


# --- 1. a dead peer while a send is blocked --------------------------------------------------------


@CLIENTS
async def test_a_send_blocked_by_a_dead_peer_ends_with_keepalive_timeout_1011(kind: str) -> None:
    """The peer stops reading and answering: the send soon blocks on the full socket, the receive
    loop waits. Keepalive must still ping, time out and close with 1011, and the blocked send
    must raise (before: on the anyio-streams transport the ping waited forever behind the send's
    lock; on the asyncio one the send raised 1006 instead of the keepalive's 1011)."""
    options = WebSocketOptions(ping_interval=0.3, ping_timeout=0.3, close_timeout=0.5)
    outcome: dict[str, TransportClosed] = {}
    with raw_peer(dead) as port:
        client = await open_client(kind, port, options)
        with anyio.fail_after(10):  # keepalive needs ping_interval + ping_timeout: 0.6 s
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(receive_until_closed, client, outcome)
                task_group.start_soon(send_until_closed, client, outcome)
            await client.aclose()
    assert outcome["send"].code == 1011
    assert outcome["receive"].code == 1011
    assert client.closed is not None
    assert client.closed.code == 1011


@CLIENTS
async def test_close_does_not_wait_behind_a_send_blocked_by_a_dead_peer(kind: str) -> None:
    """Without keepalive, ``close`` is how the app gives up on such a peer: it must end within
    close_timeout, and the blocked send raise (before: on the anyio-streams transport close
    waited for the send's lock, forever)."""
    options = WebSocketOptions(ping_interval=None, close_timeout=0.5)
    outcome: dict[str, TransportClosed] = {}
    with raw_peer(dead) as port:
        client = await open_client(kind, port, options)
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(receive_until_closed, client, outcome)
            task_group.start_soon(send_until_closed, client, outcome)
            await anyio.sleep(0.3)  # the send is blocked on the full socket by now
            with anyio.fail_after(5):
                await client.close()
            with anyio.fail_after(5):
                while len(outcome) < 2:  # noqa: ASYNC110 - filled by the two tasks
                    await anyio.sleep(0.01)
    assert isinstance(outcome["send"], TransportClosed)
    assert isinstance(outcome["receive"], TransportClosed)


# --- 2. a ping flood from a peer that never reads ---------------------------------------------------


@CLIENTS
async def test_a_ping_flood_from_a_peer_that_never_reads_leaves_our_outgoing_buffer_bounded(kind: str) -> None:
    """Every ping makes the protocol queue a pong; the peer never reads them. Reading must stop
    while our outgoing buffer is full, or the pongs pile up in memory for as long as the flood
    lasts (before: tens of MiB in these 2.5 s on the asyncio transport and on picows)."""
    options = WebSocketOptions(ping_interval=None, close_timeout=0.5)
    outcome: dict[str, TransportClosed] = {}
    peak = 0
    with raw_peer(ping_flood) as port:
        client = await open_client(kind, port, options)
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(receive_until_closed, client, outcome)
            with anyio.move_on_after(2.5):
                while client.closed is None:
                    peak = max(peak, outgoing(client))
                    await anyio.sleep(0.01)
            task_group.cancel_scope.cancel()
        assert client.closed is None  # the flood went on all along (keepalive is off)
        with anyio.fail_after(5):
            await client.aclose()
    # Reading pauses above the 1 MiB high-water mark, but the pings of the read that crossed it are all
    # answered: one read can bring several MiB on a busy machine (picows: 5.0 MiB seen under load). The
    # point is that it stops there rather than growing with the flood (before: 71 MB and 555 MB).
    assert peak < 8 * _MiB


@CLIENTS
async def test_a_ping_flooding_peer_that_never_reads_is_dropped_by_keepalive(kind: str) -> None:
    """Such a peer is never silent, yet never reads: once reading stops for our full outgoing
    buffer, keepalive finds it dead (before: the asyncio transports never pinged a peer that
    keeps sending, and the anyio-streams one stayed blocked writing pongs)."""
    options = WebSocketOptions(ping_interval=0.3, ping_timeout=0.3, close_timeout=0.5)
    outcome: dict[str, TransportClosed] = {}
    with raw_peer(ping_flood) as port:
        client = await open_client(kind, port, options)
        with anyio.fail_after(10):
            await receive_until_closed(client, outcome)
            await client.aclose()
    assert outcome["receive"].code == 1011


# --- 3. serve_websocket's read backpressure -----------------------------------------------------------


async def test_serve_websocket_reads_only_what_its_handler_receives_and_a_close_drains_a_bounded_amount(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client floods frames and never reads. While the handler does not receive, the server
    reads nothing (the client's sends stall); once the handler returns, the closing handshake
    reads to find the client's close reply, and must stop (and hang up) after a bounded amount
    rather than queue everything that arrives for close_timeout (before: the whole flood)."""
    monkeypatch.setattr(_inline, "READ_HIGH_WATER", 1 * _MiB)
    cap = 48 * _MiB  # what the client sends at most
    held: list[WebSocketTransport] = []
    release = anyio.Event()

    async def idle(transport: WebSocketTransport) -> None:
        held.append(transport)
        await release.wait()  # never receives

    def queued(transport: WebSocketTransport) -> int:
        return sum(map(len, transport._messages)) + sum(map(len, transport._fragments))

    sent = 0
    options = WebSocketOptions(ping_interval=None, close_timeout=3)
    async with serve_websocket(idle, options=options) as port:
        stream = await anyio.connect_tcp("127.0.0.1", port)
        protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}/"))
        protocol.send_request(protocol.connect())
        await stream.send(b"".join(protocol.data_to_send()))
        with anyio.fail_after(5):
            while not any(isinstance(event, Response) for event in protocol.events_received()):
                protocol.receive_data(await stream.receive())
        for _ in range(64):
            protocol.send_text(b"x" * (16 * _KiB))
        blob = b"".join(protocol.data_to_send())  # 1 MiB of masked frames, sent over and over

        async def flood() -> None:
            nonlocal sent
            with suppress(*_GONE):
                while sent < cap:
                    await stream.send(blob)
                    sent += len(blob)

        async with anyio.create_task_group() as task_group:
            task_group.start_soon(flood)
            with anyio.fail_after(5):
                while not held:  # noqa: ASYNC110 - filled by the handler
                    await anyio.sleep(0.01)
            server = held[0]
            await anyio.sleep(1)  # the client floods; the handler does not receive
            assert queued(server) <= 64 * _KiB  # read nothing (at most the handshake's read)
            assert sent < cap  # the flood stalled on the full socket: backpressure reached the client
            release.set()  # the handler returns: serve_websocket closes the connection
            with anyio.fail_after(10):
                while not server._stream_closed:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            task_group.cancel_scope.cancel()
        await stream.aclose()
    assert queued(server) <= 2 * _MiB
