"""An in-memory transport pair on anyio memory streams, for tests of the layers above."""

from __future__ import annotations

import contextlib

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..events import ClientEvent, ServerEvent, decode_client, encode
from ._base import TransportClosed

__all__ = ("MemoryServer", "MemoryTransport", "memory_pair")

_Frame = bytes | TransportClosed


class _End:
    """One direction of the pair: frames, then optionally a close marker."""

    def __init__(
        self,
        send: MemoryObjectSendStream[_Frame],
        receive: MemoryObjectReceiveStream[_Frame],
        wake: MemoryObjectSendStream[_Frame],
    ) -> None:
        self._send = send
        self._receive = receive
        self._wake = wake  # our own receive queue's sender: closing wakes a reader blocked on it
        self._closed: TransportClosed | None = None

    async def _put(self, data: bytes | TransportClosed) -> None:
        if self._closed is not None:
            raise self._closed
        try:
            await self._send.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            # Not remembered as how the connection closed: the peer's close marker may still be
            # waiting to be received, and its code is the one a reader must see (as on a socket).
            raise TransportClosed(1006, "peer gone") from None

    async def _get(self) -> bytes:
        if self._closed is not None:
            raise self._closed
        try:
            # receive_nowait first: anyio's receive() always yields to the loop once.
            item = self._receive.receive_nowait()
        except anyio.WouldBlock:
            try:
                item = await self._receive.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                item = TransportClosed(1006, "peer gone")
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            item = TransportClosed(1006, "peer gone")
        if isinstance(item, TransportClosed):
            self._closed = item
            raise item
        return item

    async def _close(self, code: int, reason: str) -> None:
        if self._closed is None:
            marker = TransportClosed(code, reason)
            with contextlib.suppress(anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._send.send_nowait(marker)
            self._closed = marker
            with contextlib.suppress(anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._wake.send_nowait(marker)
        self._send.close()
        self._wake.close()
        self._receive.close()


class MemoryTransport(_End):
    """The client side of an in-memory connection (implements ``Transport``)."""

    async def send(self, data: bytes) -> None:
        await self._put(data)

    async def receive(self) -> bytes:
        return await self._get()

    async def aclose(self) -> None:
        await self._close(1000, "")


class MemoryServer(_End):
    """The server side of an in-memory connection: push frames, read what the client sent."""

    async def send_event(self, event: ServerEvent) -> None:
        await self._put(encode(event))

    async def send_raw(self, data: bytes | str) -> None:
        await self._put(data.encode() if isinstance(data, str) else data)

    async def receive_raw(self) -> bytes:
        return await self._get()

    async def receive_event(self) -> ClientEvent:
        return decode_client(await self._get())

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection as the server would, with a WebSocket close code."""
        await self._close(code, reason)


def memory_pair(max_buffer: float = 10_000) -> tuple[MemoryTransport, MemoryServer]:
    """A connected (client, server) pair. ``max_buffer`` bounds frames in flight each way."""
    to_client_send, to_client_receive = anyio.create_memory_object_stream[_Frame](max_buffer)
    to_server_send, to_server_receive = anyio.create_memory_object_stream[_Frame](max_buffer)
    client = MemoryTransport(to_server_send, to_client_receive, to_client_send.clone())
    server = MemoryServer(to_client_send, to_server_receive, to_server_send.clone())
    return client, server
