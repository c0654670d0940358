"""The WebSocket client on asyncio (``AsyncioWebSocketTransport``), over real sockets on 127.0.0.1.

What ``tests/test_websocket.py`` checks on both backends is not repeated here: these tests are
about what only the asyncio transport does. ``connect_websocket`` picks it under asyncio; frames
are parsed in ``data_received`` and, while the receive loop waits, handed to the dispatcher's
step right there (``consume_inline``, as on picows); keepalive is a timer; reading pauses above a
high-water mark; sends wait on ``pause_writing``; closing aborts a peer that does not hang up.

The inline step itself (order, errors, context variables, the task it runs as) is tested over both
asyncio transports in test_inline_steps.py. Every test here is asyncio only: plain tests, each one
``anyio.run`` on asyncio (``eager_kit.run``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
import anyio.abc
import pytest
from eager_kit import run
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from realtime_dispatch import Connection, RealtimeApp, events, on
from realtime_dispatch.transports import (
    AsyncioWebSocketTransport,
    TransportClosed,
    WebSocketOptions,
    WebSocketTransport,
    _inline,
    connect_websocket,
    serve_websocket,
)

RawHandler = Callable[[anyio.abc.SocketStream, ServerProtocol, Request], Awaitable[None]]

_KiB = 1024


async def connect(port: int, options: WebSocketOptions | None = None) -> AsyncioWebSocketTransport:
    client = await connect_websocket(f"ws://127.0.0.1:{port}/v1/realtime", options=options)
    assert isinstance(client, AsyncioWebSocketTransport)
    return client


# --- a hand-driven server: websockets' ServerProtocol over a raw socket stream --------------------


@asynccontextmanager
async def raw_server(handler: RawHandler) -> AsyncIterator[int]:
    """Serve on 127.0.0.1 while the block runs; ``handler`` gets each connection once its handshake
    request has been read, and sends the response (or not) itself."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = int(listener.extra(anyio.abc.SocketAttribute.local_port))

    async def serve_one(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            protocol = ServerProtocol(max_size=None)
            request: Request | None = None
            while request is None:
                protocol.receive_data(await stream.receive())
                for event in protocol.events_received():
                    if isinstance(event, Request):
                        request = event
            await handler(stream, protocol, request)

    async with listener, anyio.create_task_group() as task_group:
        task_group.start_soon(listener.serve, serve_one)
        try:
            yield port
        finally:
            task_group.cancel_scope.cancel()


async def accept(stream: anyio.abc.SocketStream, protocol: ServerProtocol, request: Request) -> None:
    protocol.send_response(protocol.accept(request))
    await stream.send(b"".join(protocol.data_to_send()))


async def answer(
    stream: anyio.abc.SocketStream, protocol: ServerProtocol, seen: list[Frame], *, hang_up: bool = True
) -> None:
    """Read frames into ``seen`` and send what the protocol answers (pongs, the close reply) until
    the client goes. ``hang_up=False``: answer the close frame but never end the TCP connection."""
    while True:
        try:
            data = await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            return
        protocol.receive_data(data)
        seen.extend(e for e in protocol.events_received() if isinstance(e, Frame))
        for chunk in protocol.data_to_send():
            if chunk:
                with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    await stream.send(chunk)
            elif hang_up:
                with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    await stream.send_eof()


def opcodes(seen: list[Frame], opcode: Opcode) -> list[Frame]:
    return [frame for frame in seen if frame.opcode is opcode]


# --- 1. connect_websocket picks the transport of the running backend ------------------------------


async def echo(transport: WebSocketTransport) -> None:
    with suppress(TransportClosed):
        while True:
            await transport.send(await transport.receive())


@pytest.mark.parametrize(("backend", "kind"), [("asyncio", AsyncioWebSocketTransport), ("trio", WebSocketTransport)])
def test_connect_websocket_returns_the_transport_of_the_running_backend(backend: str, kind: type) -> None:
    async def main() -> tuple[type, int | None, bytes, int | None]:
        async with serve_websocket(echo) as port:
            client = await connect_websocket(f"ws://127.0.0.1:{port}/v1/realtime")
            status = client.response.status_code if client.response is not None else None
            await client.send(b'{"type":"session.update"}')
            echoed = await client.receive()
            await client.aclose()
            return type(client), status, echoed, client.closed.code if client.closed else None

    assert run(main, backend) == (kind, 101, b'{"type":"session.update"}', 1000)


# --- 5. frames in the same read as the handshake response -------------------------------------------


def test_frames_in_the_same_read_as_the_handshake_response_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[bytes] = []
    original = AsyncioWebSocketTransport.data_received

    def data_received(self: AsyncioWebSocketTransport, data: bytes) -> None:
        reads.append(bytes(data))
        original(self, data)

    monkeypatch.setattr(AsyncioWebSocketTransport, "data_received", data_received)

    async def handler(stream: anyio.abc.SocketStream, protocol: ServerProtocol, request: Request) -> None:
        protocol.send_response(protocol.accept(request))
        protocol.send_text(b'{"n":1}')
        protocol.send_text(b'{"n":2}')
        await stream.send(b"".join(protocol.data_to_send()))  # the 101 and two frames in one write
        await answer(stream, protocol, [])

    async def main() -> list[bytes]:
        async with raw_server(handler) as port:
            client = await connect(port)
            assert client.response is not None
            assert client.response.status_code == 101
            received = [await client.receive(), await client.receive()]
            await client.aclose()
            return received

    assert run(main) == [b'{"n":1}', b'{"n":2}']
    assert reads[0].startswith(b"HTTP/1.1 101")
    assert reads[0].endswith(b'{"n":2}')  # the case under test did happen: all in the first read


# --- 6. keepalive ---------------------------------------------------------------------------------


def test_a_silent_peer_that_answers_pings_stays_connected() -> None:
    seen: list[Frame] = []

    async def handler(stream: anyio.abc.SocketStream, protocol: ServerProtocol, request: Request) -> None:
        await accept(stream, protocol, request)
        await answer(stream, protocol, seen)  # never sends a message, answers every ping

    async def main() -> tuple[TransportClosed | None, bool]:
        async with raw_server(handler) as port:
            client = await connect(port, WebSocketOptions(ping_interval=0.1, ping_timeout=0.2, close_timeout=1))
            await anyio.sleep(0.7)  # several ping rounds, each needing its pong within 0.2 s
            closed, lost = client.closed, client._lost.done()
            await client.aclose()
            return closed, lost

    assert run(main) == (None, False)
    assert len(opcodes(seen, Opcode.PING)) >= 2
    assert len(opcodes(seen, Opcode.CLOSE)) == 1  # our aclose, not a 1011
    assert opcodes(seen, Opcode.CLOSE)[0].data[:2] == (1000).to_bytes(2, "big")


def test_a_peer_that_keeps_sending_is_never_pinged() -> None:
    seen: list[Frame] = []

    async def handler(stream: anyio.abc.SocketStream, protocol: ServerProtocol, request: Request) -> None:
        await accept(stream, protocol, request)
        async with anyio.create_task_group() as task_group:

            async def talk() -> None:
                for n in range(15):
                    protocol.send_text(b'{"n":%d}' % n)
                    await stream.send(b"".join(protocol.data_to_send()))
                    await anyio.sleep(0.04)

            task_group.start_soon(talk)
            await answer(stream, protocol, seen)
            task_group.cancel_scope.cancel()

    async def main() -> list[bytes]:
        async with raw_server(handler) as port:
            client = await connect(port, WebSocketOptions(ping_interval=0.1, ping_timeout=0.2, close_timeout=1))
            received = [await client.receive() for _ in range(15)]  # ~0.6 s of traffic
            await client.aclose()
            return received

    assert run(main) == [b'{"n":%d}' % n for n in range(15)]
    assert opcodes(seen, Opcode.PING) == []


# --- 7. read backpressure -----------------------------------------------------------------------


def test_reading_pauses_above_the_high_water_mark_and_resumes_below_the_low_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_inline, "READ_HIGH_WATER", 64 * _KiB)
    monkeypatch.setattr(_inline, "READ_LOW_WATER", 16 * _KiB)
    count = 64
    messages = [b'{"n":%06d,"pad":"' % n + b"x" * (32 * _KiB) + b'"}' for n in range(count)]  # ~2 MiB
    sent = anyio.Event()

    async def sender(transport: WebSocketTransport) -> None:
        for message in messages:
            await transport.send(message)
        sent.set()
        with suppress(TransportClosed):
            await transport.receive()

    async def main() -> tuple[bool, list[bytes], bool, int]:
        async with serve_websocket(sender) as port:
            client = await connect(port)
            assert client._transport is not None
            with anyio.fail_after(5):
                while client._transport.is_reading():  # noqa: ASYNC110 - asyncio's state, no event
                    await anyio.sleep(0.005)
            paused = not client._transport.is_reading()
            queued = len(client._messages)
            received = [await client.receive() for _ in range(count)]
            reading = client._transport.is_reading()
            with anyio.fail_after(2):
                await sent.wait()
            await client.aclose()
            return paused, received, reading, queued

    paused, received, reading, queued = run(main)
    assert paused
    assert queued < count  # it stopped before taking everything
    assert received == messages
    assert reading


def test_a_reader_paused_by_backpressure_is_not_failed_by_keepalive(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app is behind, not the peer: while reading is paused the pong cannot be read, so the
    silence is ours. The anyio transport never pings while nobody reads; this one must not fail
    the connection with 1011 and drop what is still in the socket."""
    monkeypatch.setattr(_inline, "READ_HIGH_WATER", 64 * _KiB)
    monkeypatch.setattr(_inline, "READ_LOW_WATER", 16 * _KiB)
    count = 64
    messages = [b'{"n":%06d,"pad":"' % n + b"x" * (32 * _KiB) + b'"}' for n in range(count)]  # ~2 MiB
    seen: list[Frame] = []

    async def handler(stream: anyio.abc.SocketStream, protocol: ServerProtocol, request: Request) -> None:
        await accept(stream, protocol, request)
        async with anyio.create_task_group() as task_group:

            async def talk() -> None:
                for message in messages:
                    protocol.send_text(message)
                    await stream.send(b"".join(protocol.data_to_send()))

            task_group.start_soon(talk)
            await answer(stream, protocol, seen)  # alive: answers every ping it gets
            task_group.cancel_scope.cancel()

    async def main() -> tuple[bool, list[bytes], TransportClosed | None]:
        received: list[bytes] = []
        closed: TransportClosed | None = None
        async with raw_server(handler) as port:
            client = await connect(port, WebSocketOptions(ping_interval=0.1, ping_timeout=0.2, close_timeout=0.5))
            assert client._transport is not None
            await anyio.sleep(0.6)  # a slow app: more than ping_interval + ping_timeout without receiving
            paused = not client._transport.is_reading()
            try:
                while len(received) < count:
                    received.append(await client.receive())
            except TransportClosed as exc:
                closed = exc
            await client.aclose()
        return paused, received, closed

    paused, received, closed = run(main)
    assert paused  # the case under test did happen
    assert closed is None  # 1011 "keepalive ping timeout" here: the bug
    assert received == messages


# --- 8. send backpressure -----------------------------------------------------------------------


def test_send_waits_while_the_peer_does_not_read_and_completes_once_it_does() -> None:
    chunk = 64 * _KiB
    start_reading = anyio.Event()
    received: list[bytes] = []

    async def stuck(transport: WebSocketTransport) -> None:
        transport._stream._transport.pause_reading()  # type: ignore[attr-defined]
        await start_reading.wait()
        with suppress(TransportClosed):
            while True:
                received.append(await transport.receive())

    def message(n: int) -> bytes:
        return b'{"n":%06d,"pad":"' % n + b"x" * chunk + b'"}'

    async def main() -> tuple[int, bool, int]:
        async with serve_websocket(stuck) as port:
            client = await connect(port, WebSocketOptions(close_timeout=2))
            sends = 0
            with anyio.move_on_after(0.5) as scope:
                while sends < 10_000:
                    await client.send(message(sends))
                    sends += 1
            blocked = client._writable is not None
            async with anyio.create_task_group() as task_group:

                async def pending(n: int) -> None:
                    await client.send(message(n))

                task_group.start_soon(pending, sends)
                await anyio.sleep(0.05)
                start_reading.set()  # the server reads again: the pending send goes out
            with anyio.fail_after(5):
                while len(received) < sends + 1:  # noqa: ASYNC110 - filled by the server's handler
                    await anyio.sleep(0.01)
            await client.aclose()
            assert scope.cancelled_caught
            return sends, blocked, len(received)

    sends, blocked, total = run(main)
    assert 0 < sends < 10_000
    assert blocked  # it was waiting on pause_writing, not merely slow
    assert total == sends + 1
    assert received == [message(n) for n in range(sends + 1)]  # all of them, in order, none twice


# --- 9. closing ---------------------------------------------------------------------------------


def test_a_server_close_4000_is_raised_by_every_receive_and_send() -> None:
    async def bye(transport: WebSocketTransport) -> None:
        await transport.close(4000, "bye")

    async def main() -> list[tuple[str, int, str]]:
        outcomes: list[tuple[str, int, str]] = []
        async with serve_websocket(bye) as port:
            client = await connect(port)
            for call in ("receive", "receive", "send", "receive", "send"):
                try:
                    with anyio.fail_after(2):
                        if call == "receive":
                            await client.receive()
                        else:
                            await client.send(b"{}")
                except TransportClosed as closed:
                    outcomes.append((call, closed.code, closed.reason))
            await client.aclose()  # nothing left to do, no error
            assert client.closed is not None
            outcomes.append(("closed", client.closed.code, client.closed.reason))
        return outcomes

    assert run(main) == [
        ("receive", 4000, "bye"),
        ("receive", 4000, "bye"),
        ("send", 4000, "bye"),
        ("receive", 4000, "bye"),
        ("send", 4000, "bye"),
        ("closed", 4000, "bye"),
    ]


def test_aclose_aborts_a_peer_that_answers_the_close_but_never_hangs_up() -> None:
    seen: list[Frame] = []
    gone = anyio.Event()

    async def handler(stream: anyio.abc.SocketStream, protocol: ServerProtocol, request: Request) -> None:
        await accept(stream, protocol, request)
        await answer(stream, protocol, seen, hang_up=False)  # returns when the client drops the socket
        gone.set()

    async def main() -> tuple[float, int | None]:
        async with raw_server(handler) as port:
            client = await connect(port, WebSocketOptions(close_timeout=0.3))
            began = time.perf_counter()
            await client.aclose()
            took = time.perf_counter() - began
            with anyio.fail_after(1):
                await gone.wait()  # the TCP connection was ended by the client
            return took, client.closed.code if client.closed else None

    took, code = run(main)
    assert code == 1000
    assert took < 0.3 + 0.5
    assert len(opcodes(seen, Opcode.CLOSE)) == 1


def test_after_a_server_close_a_peer_that_never_hangs_up_is_aborted_after_close_timeout() -> None:
    gone = anyio.Event()
    seen: list[Frame] = []

    async def handler(stream: anyio.abc.SocketStream, protocol: ServerProtocol, request: Request) -> None:
        await accept(stream, protocol, request)
        protocol.send_close(4000, "bye")
        await stream.send(b"".join(c for c in protocol.data_to_send() if c))
        await answer(stream, protocol, seen, hang_up=False)  # reads the reply, keeps TCP open
        gone.set()

    async def main() -> tuple[float, tuple[int, str] | None, bool]:
        outcome: tuple[int, str] | None = None
        async with raw_server(handler) as port:
            client = await connect(port, WebSocketOptions(close_timeout=0.3))
            began = time.perf_counter()
            with anyio.move_on_after(1.2):  # bounded: a receive that never returns fails the test here
                try:
                    await client.receive()
                except TransportClosed as closed:
                    outcome = (closed.code, closed.reason)
            took = time.perf_counter() - began
            with anyio.move_on_after(0.2):
                await gone.wait()
            hung_up = gone.is_set()  # by the client, before its aclose below
            await client.aclose()
        return took, outcome, hung_up

    took, outcome, hung_up = run(main)
    assert len(opcodes(seen, Opcode.CLOSE)) == 1  # the client answered the server's close
    # The closing handshake is complete: after close_timeout the client ends the TCP connection
    # itself (_abort_if_open) and receive() reports the server's close.
    assert outcome == (4000, "bye")
    assert hung_up
    assert took < 0.3 + 0.5


# --- 10. concurrent close -------------------------------------------------------------------------


def test_close_from_two_tasks_at_once_sends_one_close_frame() -> None:
    seen: list[Frame] = []

    async def handler(stream: anyio.abc.SocketStream, protocol: ServerProtocol, request: Request) -> None:
        await accept(stream, protocol, request)
        await answer(stream, protocol, seen)

    async def main() -> list[str]:
        done: list[str] = []
        async with raw_server(handler) as port:
            client = await connect(port, WebSocketOptions(close_timeout=1))

            async def close(name: str) -> None:
                await client.close()
                done.append(name)

            with anyio.fail_after(2):
                async with anyio.create_task_group() as task_group:
                    task_group.start_soon(close, "first")
                    task_group.start_soon(close, "second")
            assert client.closed is not None
            assert client.closed.code == 1000
        return sorted(done)

    assert run(main) == ["first", "second"]
    closes = opcodes(seen, Opcode.CLOSE)
    assert len(closes) == 1


# --- uvloop --------------------------------------------------------------------------------------


def test_an_app_runs_over_connect_websocket_on_uvloop() -> None:
    """uvloop's transports are not asyncio.Transport subclasses; the inline step works there too."""
    seen: list[tuple[str, bool]] = []

    class App(RealtimeApp):
        reconnect = None

        async def on_connect(self, connection: Connection) -> None:
            self.loop_task = asyncio.current_task()

        @on("response.output_text.delta")
        async def text(self, event: events.ResponseOutputTextDelta) -> None:
            seen.append((event.delta, asyncio.current_task() is self.loop_task))
            if event.delta == "3":
                await asyncio.sleep(0.001)  # suspends: the rest waits for it

    async def server(transport: WebSocketTransport) -> None:
        await anyio.sleep(0.05)
        for n in range(10):
            await transport.send(events.encode(events.ResponseOutputTextDelta.build(delta=str(n))))
        await transport.close()

    async def main() -> type[Any]:
        async with serve_websocket(server) as port:
            kinds: list[type[Any]] = []

            async def factory() -> Any:
                transport = await connect_websocket(f"ws://127.0.0.1:{port}/")
                kinds.append(type(transport))
                return transport

            with anyio.fail_after(10):
                await App().run_async(factory)
        return kinds[0]

    kind = anyio.run(main, backend="asyncio", backend_options={"use_uvloop": True})
    assert kind is AsyncioWebSocketTransport
    assert seen == [(str(n), True) for n in range(10)]
