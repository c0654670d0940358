"""Transports move frames; everything above them works on any of them.

A transport is an object with three async methods (see ``Transport``). The in-memory
pair is for tests of the layers above; the WebSocket transport talks to the real service.
"""

from ._base import Transport, TransportClosed
from ._memory import MemoryServer, MemoryTransport, memory_pair
from ._picows import PicowsTransport, connect_picows
from ._websocket import HandshakeError, WebSocketOptions, WebSocketTransport, connect_websocket, serve_websocket

__all__ = (
    "HandshakeError",
    "MemoryServer",
    "MemoryTransport",
    "PicowsTransport",
    "Transport",
    "TransportClosed",
    "WebSocketOptions",
    "WebSocketTransport",
    "connect_picows",
    "connect_websocket",
    "memory_pair",
    "serve_websocket",
)
