"""The live connection handlers talk to: send client events, wait for server events."""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .events import ClientEvent, DecodeError, ServerEvent, decode, encode
from .transports import Transport, TransportClosed

if TYPE_CHECKING:
    from ._dispatch import Dispatcher

__all__ = ("Connection", "NotConnected", "OutboundMiddleware")

logger = logging.getLogger("realtime_dispatch.connection")

OutboundMiddleware = Callable[[ClientEvent, Callable[[ClientEvent], Awaitable[None]]], Awaitable[None]]


class NotConnected(RuntimeError):
    """There is no open transport to send on."""


class Connection:
    """One Realtime session as seen from your code.

    Inside an app, handlers receive it by annotating a parameter ``Connection``. Used on
    its own (``async with Connection(transport) as conn``), ``async for event in conn``
    yields typed events: the low-level style, for code that wants its own loop.
    """

    def __init__(
        self, transport: Transport | None = None, *, middleware: list[OutboundMiddleware] | None = None
    ) -> None:
        self._transport = transport
        self._dispatcher: Dispatcher | None = None
        self._iterating = False
        # Cheap unique ids: a random per-connection stem plus a counter.
        self._id_stem = "evt_" + secrets.token_hex(5) + "_"
        self._ids = itertools.count(1)
        send: Callable[[ClientEvent], Awaitable[None]] = self._send_now
        for layer in reversed(middleware or []):
            send = _wrap(layer, send)
        self._send_chain = send

    def __repr__(self) -> str:
        state = "open" if self._transport is not None else "closed"
        return f"<Connection {state}>"

    @property
    def connected(self) -> bool:
        return self._transport is not None

    # --- sending ----------------------------------------------------------------------------

    async def send(self, event: ClientEvent) -> str:
        """Send a client event through the outbound middleware; returns its ``event_id``.

        An event without ``event_id`` gets one here, so a server ``error`` about it can be
        traced back (``error.event_id``).
        """
        if event.event_id is None:
            event.event_id = f"{self._id_stem}{next(self._ids)}"
        await self._send_chain(event)
        return event.event_id

    async def send_raw(self, data: bytes | str) -> None:
        """Send a frame as is, bypassing encoding and middleware."""
        await self._transport_or_raise().send(data.encode() if isinstance(data, str) else data)

    async def _send_now(self, event: ClientEvent) -> None:
        await self._transport_or_raise().send(encode(event))

    def _transport_or_raise(self) -> Transport:
        if self._transport is None:
            raise NotConnected("not connected")
        return self._transport

    # --- receiving ----------------------------------------------------------------------------

    async def wait_for(
        self,
        key: str | type[ServerEvent],
        predicate: Callable[[Any], object] | None = None,
        *,
        timeout: float | None = None,
    ) -> ServerEvent:
        """Wait for the next event matching ``key`` (and ``predicate``), without polling.

        For handlers running in the background (an inline handler holds the receive loop,
        so the event could never arrive: that raises ``RuntimeError``). Raises
        ``TimeoutError`` after ``timeout`` seconds.
        """
        if self._dispatcher is None:
            raise RuntimeError("wait_for() needs a running app; with a bare Connection, iterate over it")
        return await self._dispatcher.wait_for(key, predicate, timeout)

    def __aiter__(self) -> AsyncIterator[ServerEvent]:
        if self._dispatcher is not None:
            raise RuntimeError("this connection is driven by an app: route events with @on(...) instead")
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ServerEvent]:
        if self._iterating:
            raise RuntimeError("this connection is already being iterated")
        self._iterating = True
        try:
            transport = self._transport_or_raise()
            while True:
                try:
                    frame = await transport.receive()
                except TransportClosed:
                    return
                try:
                    yield decode(frame)
                except DecodeError as exc:
                    logger.warning("dropped a frame that does not decode: %s (frame: %.200r)", exc, exc.raw)
        finally:
            self._iterating = False

    # --- lifecycle ---------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the transport; an app's receive loop then ends."""
        transport, self._transport = self._transport, None
        if transport is not None:
            await transport.aclose()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _wrap(
    layer: OutboundMiddleware, call_next: Callable[[ClientEvent], Awaitable[None]]
) -> Callable[[ClientEvent], Awaitable[None]]:
    async def step(event: ClientEvent) -> None:
        await layer(event, call_next)

    return step
