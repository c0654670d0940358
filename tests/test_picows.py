"""The picows transport (asyncio only) against our websockets server on 127.0.0.1.

picows cannot run on trio, so these are plain tests that each run one ``anyio.run`` on
asyncio (the conftest would otherwise run async tests on trio too).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from websockets.datastructures import Headers
from websockets.frames import Frame, Opcode
from websockets.http11 import Response

from realtime_dispatch import RealtimeApp, events, on
from realtime_dispatch.transports import (
    PicowsTransport,
    TransportClosed,
    WebSocketOptions,
    WebSocketTransport,
    connect_picows,
    serve_websocket,
)
from realtime_dispatch.transports._websocket import HandshakeError


def run(test: Callable[[], Awaitable[Any]]) -> Any:
    async def bounded() -> Any:
        with anyio.fail_after(20):
            return await test()

    return anyio.run(bounded, backend="asyncio")


async def echo(transport: WebSocketTransport) -> None:
    try:
        while True:
            await transport.send(await transport.receive())
    except TransportClosed:
        pass


async def wait_for_close(transport: WebSocketTransport) -> None:
    with pytest.raises(TransportClosed):
        await transport.receive()


def test_text_frames_both_ways_in_order_and_clean_close() -> None:
    async def main() -> None:
        async with serve_websocket(echo) as port:
            client = await connect_picows(f"ws://127.0.0.1:{port}/v1/realtime?model=m")
            assert isinstance(client, PicowsTransport)
            for n in range(100):
                await client.send(b'{"n":%d}' % n)
            received = [await client.receive() for _ in range(100)]
            assert received == [b'{"n":%d}' % n for n in range(100)]
            await client.aclose()
            assert client.closed is not None
            assert client.closed.code == 1000
            for _ in range(3):
                with pytest.raises(TransportClosed):
                    await client.receive()
            with pytest.raises(TransportClosed):
                await client.send(b"{}")
            await client.aclose()  # idempotent
            await client.aclose()

    run(main)


def test_receive_returns_buffered_messages_without_awaiting() -> None:
    async def burst(transport: WebSocketTransport) -> None:
        for n in range(10):
            await transport.send(b'{"n":%d}' % n)
        await wait_for_close(transport)

    async def main() -> None:
        async with serve_websocket(burst) as port:
            client = await connect_picows(f"ws://127.0.0.1:{port}/")
            assert await client.receive() == b'{"n":0}'
            with anyio.fail_after(5):
                while len(client._messages) < 9:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            # a buffered message comes back on the first step of the coroutine
            coroutine = client.receive()
            with pytest.raises(StopIteration) as done:
                coroutine.send(None)
            assert done.value.value == b'{"n":1}'
            await client.aclose()

    run(main)


def test_handshake_carries_headers_path_and_user_agent() -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    async def handler(transport: WebSocketTransport) -> None:
        assert transport.request is not None
        headers = transport.request.headers
        names = ("Authorization", "User-Agent", "X-Extra")
        seen.append((transport.request.path, {name: headers[name] for name in names}))

    async def main() -> None:
        async with serve_websocket(handler) as port:
            client = await connect_picows(
                f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime",
                {"Authorization": "Bearer sk-test"},
                WebSocketOptions(extra_headers={"X-Extra": "1"}),
            )
            with pytest.raises(TransportClosed) as caught:
                await client.receive()
            assert caught.value.code == 1000  # the handler returned: the server closed normally
            await client.aclose()

    run(main)
    path, headers = seen[0]
    assert path == "/v1/realtime?model=gpt-realtime"
    assert headers == {"Authorization": "Bearer sk-test", "User-Agent": "realtime-dispatch", "X-Extra": "1"}


def test_refused_handshake_raises_handshake_error_with_status_and_body() -> None:
    def refuse(request: object) -> Response:
        body = b'{"error":{"message":"Incorrect API key provided","code":"invalid_api_key"}}'
        return Response(401, "Unauthorized", Headers([("Content-Length", str(len(body)))]), body)

    async def main() -> HandshakeError:
        async with serve_websocket(echo, accept=refuse) as port:
            with pytest.raises(HandshakeError) as caught:
                await connect_picows(f"ws://127.0.0.1:{port}/v1/realtime")
        return caught.value

    error = run(main)
    assert error.status == 401
    assert "invalid_api_key" in error.body


def test_large_message_within_max_size_and_too_large_closes_1009() -> None:
    big = b'{"type":"conversation.item.retrieved","audio":"' + b"A" * (3 * 1024 * 1024) + b'"}'

    async def sender(transport: WebSocketTransport) -> None:
        await transport.send(big)
        await wait_for_close(transport)

    async def main() -> None:
        async with serve_websocket(sender) as port:
            client = await connect_picows(f"ws://127.0.0.1:{port}/")
            assert await client.receive() == big  # 3 MiB: within the 16 MiB default
            await client.aclose()

        async with serve_websocket(sender) as port:
            small = await connect_picows(f"ws://127.0.0.1:{port}/", options=WebSocketOptions(max_size=1024 * 1024))
            for _ in range(2):
                with pytest.raises(TransportClosed) as caught:
                    await small.receive()
                assert caught.value.code == 1009  # message too big
            await small.aclose()

    run(main)


def fragmented(*parts: bytes) -> Callable[[WebSocketTransport], Awaitable[None]]:
    async def handler(transport: WebSocketTransport) -> None:
        protocol = transport._protocol
        for index, part in enumerate(parts):
            opcode = Opcode.TEXT if index == 0 else Opcode.CONT
            protocol.send_frame(Frame(opcode, part, fin=index == len(parts) - 1))
        await transport._flush()
        await transport.send(b'{"after":true}')
        await wait_for_close(transport)

    return handler


def test_fragmented_message_is_reassembled() -> None:
    async def main() -> None:
        async with serve_websocket(fragmented(b'{"type":', b'"x",', b'"n":1}')) as port:
            client = await connect_picows(f"ws://127.0.0.1:{port}/")
            assert await client.receive() == b'{"type":"x","n":1}'
            assert await client.receive() == b'{"after":true}'
            await client.aclose()

    run(main)


def test_fragmented_message_larger_than_max_size_closes_1009() -> None:
    part = b"A" * 600

    async def main() -> None:
        async with serve_websocket(fragmented(part, part, part)) as port:
            client = await connect_picows(f"ws://127.0.0.1:{port}/", options=WebSocketOptions(max_size=1000))
            with pytest.raises(TransportClosed) as caught:
                await client.receive()
            assert caught.value.code == 1009
            await client.aclose()

    run(main)


def test_server_close_code_and_reason_reach_receive_every_time() -> None:
    async def going_away(transport: WebSocketTransport) -> None:
        await transport.send(b'{"last":1}')
        await transport.close(1001, "server restarting")

    async def main() -> None:
        async with serve_websocket(going_away) as port:
            client = await connect_picows(f"ws://127.0.0.1:{port}/")
            assert await client.receive() == b'{"last":1}'  # delivered before the close
            for _ in range(3):
                with pytest.raises(TransportClosed) as caught:
                    await client.receive()
                assert (caught.value.code, caught.value.reason) == (1001, "server restarting")
            with pytest.raises(TransportClosed):
                await client.send(b"{}")
            await client.aclose()
            await client.aclose()
            assert client.closed is not None
            assert client.closed.code == 1001

    run(main)


def test_dropped_connection_is_1006() -> None:
    async def drop(transport: WebSocketTransport) -> None:
        await transport._close_stream()  # no close frame

    async def main() -> None:
        async with serve_websocket(drop) as port:
            client = await connect_picows(f"ws://127.0.0.1:{port}/")
            with pytest.raises(TransportClosed) as caught:
                await client.receive()
            assert caught.value.code == 1006
            await client.aclose()

    run(main)


def test_keepalive_options_are_accepted_and_a_quiet_connection_stays_open() -> None:
    async def slow(transport: WebSocketTransport) -> None:
        with anyio.move_on_after(0.5):
            await transport.receive()  # reading answers the client's pings
        await transport.send(b'{"late":1}')
        await wait_for_close(transport)

    async def main() -> None:
        async with serve_websocket(slow) as port:
            options = WebSocketOptions(ping_interval=0.1, ping_timeout=0.1)
            client = await connect_picows(f"ws://127.0.0.1:{port}/", options=options)
            assert await client.receive() == b'{"late":1}'  # pings were answered meanwhile
            await client.aclose()

    run(main)


def test_a_peer_that_stops_answering_pings_is_dropped_with_1011() -> None:
    async def deaf(transport: WebSocketTransport) -> None:
        await anyio.sleep(1)  # nobody reads on the server: pings go unanswered
        with anyio.move_on_after(1):
            await wait_for_close(transport)

    async def main() -> None:
        async with serve_websocket(deaf) as port:
            options = WebSocketOptions(ping_interval=0.1, ping_timeout=0.1)
            client = await connect_picows(f"ws://127.0.0.1:{port}/", options=options)
            with pytest.raises(TransportClosed) as caught:
                await client.receive()
            assert caught.value.code == 1011
            await client.aclose()

    run(main)


def test_trio_is_refused_with_a_clear_error() -> None:
    async def main() -> None:
        await connect_picows("ws://127.0.0.1:9/")

    with pytest.raises(RuntimeError, match="asyncio only"):
        anyio.run(main, backend="trio")


def test_compression_is_refused() -> None:
    async def main() -> None:
        await connect_picows("ws://127.0.0.1:9/", options=WebSocketOptions(compression=True))

    with pytest.raises(ValueError, match="permessage-deflate"):
        run(main)


class Collector(RealtimeApp):
    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []

    @on("response.output_text.delta")
    def text(self, event: events.ResponseOutputTextDelta) -> None:
        self.log.append("text " + event.delta)

    @on("response.done")
    def done(self, event: events.ResponseDone) -> None:
        self.log.append("done " + (event.response.id or ""))


def test_a_realtime_app_runs_over_picows() -> None:
    frames = [
        events.ResponseOutputTextDelta.build(delta="Hel"),
        events.ResponseOutputTextDelta.build(delta="lo"),
        events.ResponseDone.build(response=events.Response(id="resp_1")),
    ]
    received_by_server: list[bytes] = []

    async def server(transport: WebSocketTransport) -> None:
        for event in frames:
            await transport.send(events.encode(event))
        await transport.close(1000)
        with anyio.move_on_after(0.1):
            received_by_server.append(await transport.receive())

    app = Collector()

    async def main() -> None:
        async with serve_websocket(server) as port:

            async def factory() -> PicowsTransport:
                return await connect_picows(f"ws://127.0.0.1:{port}/v1/realtime")

            await app.run_async(factory)

    run(main)
    assert app.log == ["text Hel", "text lo", "done resp_1"]


def test_missing_picows_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "picows", None)  # as if not installed

    async def main() -> None:
        await connect_picows("ws://127.0.0.1:9/")

    with pytest.raises(ImportError, match=r"realtime-dispatch\[fast\]"):
        run(main)


# --- the receive fast path: batches, wake-ups, backpressure -------------------------------------


def wire(*frames: Frame) -> bytes:
    """Frames as the server puts them on the wire (unmasked), joined into one write."""
    return b"".join(frame.serialize(mask=False, extensions=[]) for frame in frames)


def test_many_frames_in_one_write_arrive_in_order_with_a_fragmented_one_among_them() -> None:
    frames = [Frame(Opcode.TEXT, b'{"n":%d}' % n) for n in range(200)]
    frames[100:100] = [  # one message in three fragments, between n=99 and n=100
        Frame(Opcode.TEXT, b'{"frag', fin=False),
        Frame(Opcode.CONT, b'mented":', fin=False),
        Frame(Opcode.CONT, b"true}"),
    ]
    expected = [b'{"n":%d}' % n for n in range(200)]
    expected[100:100] = [b'{"fragmented":true}']

    async def burst(transport: WebSocketTransport) -> None:
        await transport._stream.send(wire(*frames))  # one write: the client parses it in one go
        await wait_for_close(transport)

    async def main() -> None:
        async with serve_websocket(burst) as port:
            client = await connect_picows(f"ws://127.0.0.1:{port}/")
            received = [await client.receive() for _ in range(len(expected))]
            assert received == expected
            assert not client._messages
            await client.aclose()

    run(main)


def test_a_waiting_receive_is_woken_once_per_batch_and_gets_every_message() -> None:
    go = anyio.Event()

    async def later(transport: WebSocketTransport) -> None:
        await go.wait()
        await transport._stream.send(wire(*(Frame(Opcode.TEXT, b'{"n":%d}' % n) for n in range(50))))
        await wait_for_close(transport)

    async def main() -> None:
        async with serve_websocket(later) as port:
            client = await connect_picows(f"ws://127.0.0.1:{port}/")
            wakes: list[int] = []
            wake = client._wake

            def counting_wake() -> None:
                wakes.append(len(client._messages))
                wake()

            client._wake = counting_wake  # type: ignore[method-assign]
            received: list[bytes] = []

            async def reader() -> None:
                received.append(await client.receive())  # waits: nothing has been sent yet

            async with anyio.create_task_group() as tg:
                tg.start_soon(reader)
                await anyio.sleep(0.05)
                assert client._waiter is not None
                assert not client._waiter.done()
                go.set()
            received.extend([await client.receive() for _ in range(49)])
            assert received == [b'{"n":%d}' % n for n in range(50)]
            # only the frame that found the queue empty woke the reader, not each of the 50
            assert wakes == [1]
            await client.aclose()

    run(main)


def test_receive_waiting_when_the_server_closes_or_the_client_closes() -> None:
    async def close_later(transport: WebSocketTransport) -> None:
        await anyio.sleep(0.1)
        await transport.close(1001, "bye")

    async def silent(transport: WebSocketTransport) -> None:
        await wait_for_close(transport)

    async def main() -> None:
        async with serve_websocket(close_later) as port:
            client = await connect_picows(f"ws://127.0.0.1:{port}/")
            with pytest.raises(TransportClosed) as caught:
                await client.receive()  # waiting when the close frame arrives
            assert (caught.value.code, caught.value.reason) == (1001, "bye")
            await client.aclose()

        async with serve_websocket(silent) as port:
            client = await connect_picows(f"ws://127.0.0.1:{port}/")
            outcome: list[BaseException] = []

            async def reader() -> None:
                try:
                    await client.receive()
                except TransportClosed as exc:
                    outcome.append(exc)

            async with anyio.create_task_group() as tg:
                tg.start_soon(reader)
                await anyio.sleep(0.05)
                await client.aclose()  # from another task, while receive() waits
            assert len(outcome) == 1
            assert client.closed is not None

    run(main)


def test_a_cancelled_receive_loses_nothing_and_a_second_concurrent_one_is_refused() -> None:
    go = anyio.Event()

    async def later(transport: WebSocketTransport) -> None:
        await go.wait()
        await transport.send(b'{"n":1}')
        await transport.send(b'{"n":2}')
        await wait_for_close(transport)

    async def main() -> None:
        async with serve_websocket(later) as port:
            client = await connect_picows(f"ws://127.0.0.1:{port}/")
            with anyio.move_on_after(0.05):
                await client.receive()
            assert client._waiter is None

            async with anyio.create_task_group() as tg:
                tg.start_soon(client.receive)
                await anyio.sleep(0.02)
                with pytest.raises(RuntimeError, match="already running"):
                    await client.receive()
                tg.cancel_scope.cancel()
            go.set()
            assert await client.receive() == b'{"n":1}'
            assert await client.receive() == b'{"n":2}'
            await client.aclose()

    run(main)


def test_reading_pauses_at_the_high_water_mark_and_resumes_at_the_low_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from realtime_dispatch.transports import _inline

    monkeypatch.setattr(_inline, "READ_HIGH_WATER", 64 * 1024)
    monkeypatch.setattr(_inline, "READ_LOW_WATER", 16 * 1024)
    payloads = [b'{"n":%d,"pad":"%s"}' % (n, b"x" * 1000) for n in range(2000)]  # ~2 MB

    async def flood(transport: WebSocketTransport) -> None:
        for start in range(0, len(payloads), 100):
            await transport._stream.send(wire(*(Frame(Opcode.TEXT, p) for p in payloads[start : start + 100])))
        await wait_for_close(transport)

    async def main() -> None:
        async with serve_websocket(flood) as port:
            client = await connect_picows(f"ws://127.0.0.1:{port}/")

            def paused() -> bool:
                return client._reading_paused

            with anyio.fail_after(5):
                while not paused():  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            queued = len(client._messages)
            assert queued < len(payloads)
            await anyio.sleep(0.1)
            assert len(client._messages) == queued  # paused: nothing more is read
            assert client._buffered == sum(map(len, client._messages))  # exact while paused
            received = [await client.receive() for _ in range(len(payloads))]
            assert received == payloads
            assert not paused()  # resumed at the low mark
            await client.aclose()

    run(main)
