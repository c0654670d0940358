"""Our clients offer subprotocols and accept the server's choice (the live service selects ``realtime``)."""

from __future__ import annotations

import pytest

from realtime_dispatch.transports import (
    Transport,
    TransportClosed,
    WebSocketOptions,
    connect_picows,
    connect_websocket,
    serve_websocket,
)
from realtime_dispatch.transports._websocket import WebSocketTransport, connect_websocket_anyio

pytestmark = pytest.mark.anyio


async def echo(transport: WebSocketTransport) -> None:
    try:
        while True:
            await transport.send(await transport.receive())
    except TransportClosed:
        pass


async def round_trip(client: Transport) -> bytes:
    try:
        await client.send(b'{"type":"x"}')
        return await client.receive()
    finally:
        await client.aclose()


CLIENTS = pytest.mark.parametrize(
    ("anyio_backend", "connect"),
    [
        ("asyncio", connect_websocket),
        ("trio", connect_websocket),
        ("asyncio", connect_websocket_anyio),
        ("asyncio", connect_picows),
    ],
    ids=["asyncio-connect_websocket", "trio-connect_websocket", "asyncio-anyio_streams", "asyncio-picows"],
)


@CLIENTS
async def test_a_client_offering_realtime_accepts_the_servers_choice(connect) -> None:
    async with serve_websocket(echo, subprotocols=("realtime",)) as port:
        options = WebSocketOptions(subprotocols=("realtime", "openai-insecure-api-key.sk-test-123"))
        client = await connect(f"ws://127.0.0.1:{port}/", options=options)
        assert await round_trip(client) == b'{"type":"x"}'


@CLIENTS
async def test_an_offer_made_as_a_header_counts_as_an_offer(connect) -> None:
    async with serve_websocket(echo, subprotocols=("realtime",)) as port:
        headers = {"Sec-WebSocket-Protocol": "realtime, openai-insecure-api-key.sk-test-123"}
        client = await connect(f"ws://127.0.0.1:{port}/", headers)
        assert await round_trip(client) == b'{"type":"x"}'


@CLIENTS
async def test_a_client_offering_nothing_still_connects(connect) -> None:
    async with serve_websocket(echo, subprotocols=("realtime",)) as port:
        client = await connect(f"ws://127.0.0.1:{port}/")
        assert await round_trip(client) == b'{"type":"x"}'
