"""``connect_websocket``: the WebSocket client that suits the running event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from ._websocket import WebSocketOptions, WebSocketTransport, connect_websocket_anyio
from ._websocket_asyncio import AsyncioWebSocketTransport, connect_websocket_asyncio

__all__ = ("connect_websocket",)


async def connect_websocket(
    url: str, headers: Mapping[str, str] | None = None, options: WebSocketOptions | None = None
) -> WebSocketTransport | AsyncioWebSocketTransport:
    """Open a WebSocket to ``url`` (``ws://`` or ``wss://``) and complete the handshake.

    Under asyncio the connection is an ``AsyncioWebSocketTransport`` (frames parsed in
    asyncio's data callback), under trio a ``WebSocketTransport`` (over anyio streams); both
    take the same options and behave the same.

    Raises ``HandshakeError`` when the server refuses, ``TimeoutError`` after
    ``open_timeout``, and ``OSError`` when the host cannot be reached.
    """
    if _on_asyncio():
        return await connect_websocket_asyncio(url, headers, options)
    return await connect_websocket_anyio(url, headers, options)


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()  # no asyncio loop runs under trio
    except RuntimeError:
        return False
    return True
