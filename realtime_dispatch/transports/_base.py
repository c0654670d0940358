from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ("Transport", "TransportClosed")


class TransportClosed(Exception):
    """The peer closed the connection, or it was lost.

    ``code`` is the WebSocket close code (1006 when no close frame arrived) and
    ``reason`` its reason text.
    """

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(f"connection closed ({code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


@runtime_checkable
class Transport(Protocol):
    """One open connection carrying JSON text frames.

    ``receive`` must return at once when a frame is already buffered, without a pass
    through the event loop: the dispatcher relies on that to cost nothing per event.
    A transport may also offer ``receive_nowait() -> bytes | None`` (a buffered frame, or
    None): the receive loop then takes buffered frames without creating a coroutine each.
    """

    async def send(self, data: bytes) -> None:
        """Send one text frame (UTF-8 JSON)."""

    async def receive(self) -> bytes:
        """The next frame; raises ``TransportClosed`` when the connection is over."""

    async def aclose(self) -> None:
        """Close the connection. Idempotent."""
