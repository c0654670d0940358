"""The WebSocket transport against a real server on 127.0.0.1 (ours, and websockets' own)."""

from __future__ import annotations

import anyio
import pytest
from websockets.frames import Frame, Opcode
from websockets.http11 import Response

from realtime_dispatch.transports import (
    HandshakeError,
    TransportClosed,
    WebSocketOptions,
    WebSocketTransport,
    connect_websocket,
    serve_websocket,
)

pytestmark = pytest.mark.anyio


async def echo(transport: WebSocketTransport) -> None:
    try:
        while True:
            await transport.send(await transport.receive())
    except TransportClosed:
        pass


async def test_text_frames_both_ways_and_clean_close() -> None:
    async with serve_websocket(echo) as port:
        client = await connect_websocket(f"ws://127.0.0.1:{port}/v1/realtime?model=m")
        for n in range(50):
            await client.send(b'{"n":%d}' % n)
        received = [await client.receive() for _ in range(50)]
        assert received == [b'{"n":%d}' % n for n in range(50)]
        await client.aclose()
        assert client.closed is not None
        assert client.closed.code == 1000
        with pytest.raises(TransportClosed):
            await client.receive()
        with pytest.raises(TransportClosed):
            await client.send(b"{}")


async def test_handshake_carries_headers_and_query() -> None:
    seen = []

    async def handler(transport: WebSocketTransport) -> None:
        assert transport.request is not None
        headers = transport.request.headers
        seen.append((transport.request.path, {name: headers[name] for name in ("Authorization", "User-Agent")}))

    async with serve_websocket(handler) as port:
        client = await connect_websocket(
            f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime", {"Authorization": "Bearer sk-test"}
        )
        with pytest.raises(TransportClosed):
            await client.receive()
    path, headers = seen[0]
    assert path == "/v1/realtime?model=gpt-realtime"
    assert headers["Authorization"] == "Bearer sk-test"
    assert headers["User-Agent"] == "realtime-dispatch"


async def test_refused_handshake_raises_with_status_and_body() -> None:
    def refuse(request: object) -> Response:
        from websockets.datastructures import Headers

        body = b'{"error":{"message":"Incorrect API key provided","code":"invalid_api_key"}}'
        return Response(401, "Unauthorized", Headers([("Content-Length", str(len(body)))]), body)

    async with serve_websocket(echo, accept=refuse) as port:
        with pytest.raises(HandshakeError) as caught:
            await connect_websocket(f"ws://127.0.0.1:{port}/v1/realtime")
    assert caught.value.status == 401
    assert "invalid_api_key" in caught.value.body


async def test_large_message_within_max_size_and_too_large_closes_1009() -> None:
    big = b'{"type":"conversation.item.retrieved","audio":"' + b"A" * (3 * 1024 * 1024) + b'"}'

    async def sender(transport: WebSocketTransport) -> None:
        await transport.send(big)
        with pytest.raises(TransportClosed):
            await transport.receive()

    async with serve_websocket(sender) as port:
        client = await connect_websocket(f"ws://127.0.0.1:{port}/")
        assert await client.receive() == big  # 3 MiB: more than websockets' 1 MiB default
        await client.aclose()

    async with serve_websocket(sender) as port:
        small = await connect_websocket(f"ws://127.0.0.1:{port}/", options=WebSocketOptions(max_size=1024 * 1024))
        with pytest.raises(TransportClosed) as caught:
            await small.receive()
        assert caught.value.code == 1009  # message too big


async def test_fragmented_message_is_reassembled() -> None:
    async def fragments(transport: WebSocketTransport) -> None:
        protocol = transport._protocol
        protocol.send_frame(Frame(Opcode.TEXT, b'{"type":', fin=False))
        protocol.send_frame(Frame(Opcode.CONT, b'"x",', fin=False))
        protocol.send_frame(Frame(Opcode.CONT, b'"n":1}', fin=True))
        await transport._flush()
        with pytest.raises(TransportClosed):
            await transport.receive()

    async with serve_websocket(fragments) as port:
        client = await connect_websocket(f"ws://127.0.0.1:{port}/")
        assert await client.receive() == b'{"type":"x","n":1}'
        await client.aclose()


async def test_server_ping_is_answered_by_the_client() -> None:
    answered = []

    async def pinger(transport: WebSocketTransport) -> None:
        transport._pong_waiting = b"abcd"
        transport._protocol.send_ping(b"abcd")
        await transport._flush()
        await transport.send(b"after-ping")
        assert await transport.receive() == b"reply"  # the pong arrives before this
        answered.append(transport._pong_waiting is None)

    async with serve_websocket(pinger) as port:
        client = await connect_websocket(f"ws://127.0.0.1:{port}/")
        assert await client.receive() == b"after-ping"
        await client.send(b"reply")
        with pytest.raises(TransportClosed):
            await client.receive()
    assert answered == [True]


async def test_silent_peer_fails_keepalive_with_1011() -> None:
    """A server that accepts and then never reads nor answers pings: the client gives up."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    async def fake_server() -> None:
        conn, _ = await anyio.to_thread.run_sync(listener.accept)
        request = b""
        while b"\r\n\r\n" not in request:
            request += await anyio.to_thread.run_sync(conn.recv, 4096)
        key = [line.split(b": ")[1] for line in request.split(b"\r\n") if line.lower().startswith(b"sec-websocket-key")]
        import base64
        import hashlib

        accept = base64.b64encode(hashlib.sha1(key[0] + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        holder.append(conn)

    holder: list[socket.socket] = []
    try:
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(fake_server)
            options = WebSocketOptions(ping_interval=0.1, ping_timeout=0.2, close_timeout=0.2)
            client = await connect_websocket(f"ws://127.0.0.1:{port}/", options=options)
            with anyio.fail_after(5), pytest.raises(TransportClosed) as caught:
                await client.receive()
            assert caught.value.code == 1011
    finally:
        for conn in holder:
            conn.close()
        listener.close()


async def test_close_timeout_when_peer_never_answers_close() -> None:
    stop = anyio.Event()

    async def mute(transport: WebSocketTransport) -> None:
        await stop.wait()  # never reads, so never answers the close frame

    async with serve_websocket(mute) as port:
        client = await connect_websocket(f"ws://127.0.0.1:{port}/", options=WebSocketOptions(close_timeout=0.2))
        with anyio.fail_after(3):
            await client.aclose()
        assert client.closed is not None
        stop.set()


async def test_handshake_timeout_on_a_server_that_never_answers() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def accept_and_hold(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await anyio.sleep_forever()

    async with listener, anyio.create_task_group() as task_group:
        task_group.start_soon(listener.serve, accept_and_hold)
        with pytest.raises(TimeoutError):
            await connect_websocket(f"ws://127.0.0.1:{port}/", options=WebSocketOptions(open_timeout=0.2))
        task_group.cancel_scope.cancel()


async def test_interoperates_with_the_websockets_server(anyio_backend: str) -> None:
    """Our client against websockets' own server implementation (asyncio only: it is an asyncio server)."""
    if anyio_backend != "asyncio":
        # The same client code runs on trio against our server in the tests above.
        async with serve_websocket(echo) as port:
            client = await connect_websocket(f"ws://127.0.0.1:{port}/")
            await client.send(b"trio")
            assert await client.receive() == b"trio"
            await client.aclose()
        return
    from websockets.asyncio.server import serve

    async def handler(connection) -> None:  # type: ignore[no-untyped-def]
        async for message in connection:
            await connection.send(message)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        client = await connect_websocket(f"ws://127.0.0.1:{port}/", options=WebSocketOptions(compression=True))
        await client.send(b'{"type":"session.update"}')
        assert await client.receive() == b'{"type":"session.update"}'
        await client.aclose()


async def test_tls_with_a_self_signed_certificate_and_verification_on() -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_context)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)

    async with serve_websocket(echo, tls=server_context) as port:
        client = await connect_websocket(
            f"wss://localhost:{port}/v1/realtime", options=WebSocketOptions(ssl_context=trusting)
        )
        await client.send(b'{"type":"session.update"}')
        assert await client.receive() == b'{"type":"session.update"}'
        await client.aclose()
        assert client.closed is not None
        assert client.closed.code == 1000

        # The default context verifies against the system CAs: our private CA is refused.
        with pytest.raises(ssl.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
            await connect_websocket(f"wss://localhost:{port}/v1/realtime")


async def test_a_peer_that_never_hangs_up_after_its_close_frame_is_hung_up_on() -> None:
    stop = anyio.Event()

    async def close_then_hold(transport: WebSocketTransport) -> None:
        transport._protocol.send_close(4000, "bye")
        await transport._flush()
        await stop.wait()  # never reads the client's answer, never closes the TCP connection

    async with serve_websocket(close_then_hold) as port:
        client = await connect_websocket(f"ws://127.0.0.1:{port}/", options=WebSocketOptions(close_timeout=0.3))
        began = anyio.current_time()
        with anyio.fail_after(5), pytest.raises(TransportClosed) as caught:
            await client.receive()
        assert (caught.value.code, caught.value.reason) == (4000, "bye")
        assert anyio.current_time() - began < 0.3 + 1.0  # close_timeout, not the keepalive or forever
        stop.set()
