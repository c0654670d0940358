"""Transports move frames; everything above them works on any of them.

A transport is an object with three async methods (see ``Transport``). The in-memory
pair is for tests of the layers above; the WebSocket transports talk to the real service
(``connect_websocket`` picks ``AsyncioWebSocketTransport`` under asyncio and
``WebSocketTransport`` under trio; ``connect_picows`` is the optional fast one).
"""

from ._base import Transport, TransportClosed
from ._connect import connect_websocket
from ._memory import MemoryServer, MemoryTransport, memory_pair
from ._picows import PicowsTransport, connect_picows
from ._websocket import HandshakeError, WebSocketOptions, WebSocketTransport, serve_websocket
from ._websocket_asyncio import AsyncioWebSocketTransport

__all__ = (
    "AsyncioWebSocketTransport",
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

for _name in __all__:  # tracebacks and reprs name the exceptions by the path users import them from
    _exported = globals()[_name]
    if isinstance(_exported, type) and issubclass(_exported, BaseException):
        _exported.__module__ = __name__
del _name, _exported
