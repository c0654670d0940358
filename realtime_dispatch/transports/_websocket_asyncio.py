"""The WebSocket client on asyncio: websockets' Sans-I/O protocol fed from asyncio's protocol callbacks.

``connect_websocket`` uses it under asyncio (under trio it uses ``WebSocketTransport``, over
anyio streams). Frames are parsed in ``data_received``, as websockets' own asyncio client
does, rather than by a task that reads: no wake-up of a reader per read, no pause and resume
of reading around every wait, and the receive loop's step can run right in the callback while
the loop waits (``consume_inline``, as on picows), so an event reaches its handler without a
pass through the event loop. Keepalive is one timer per ``ping_interval``, not one per read.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Mapping
from contextlib import suppress
from typing import Any, cast

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State

from . import _inline
from ._base import TransportClosed
from ._websocket import (
    WebSocketOptions,
    client_protocol,
    close_marker,
    closed_in_handshake,
    refusal,
    send_handshake,
)

__all__ = ("AsyncioWebSocketTransport", "connect_websocket_asyncio")

logger = logging.getLogger("realtime_dispatch.transport")


class AsyncioWebSocketTransport(_inline.InboundQueue, asyncio.Protocol):
    """A ``Transport`` over one client WebSocket connection on asyncio. Build it with
    ``connect_websocket`` (which picks it under asyncio)."""

    def __init__(self, protocol: ClientProtocol, options: WebSocketOptions, loop: asyncio.AbstractEventLoop) -> None:
        self._init_inbound()
        self._protocol = protocol
        self._options = options
        self._loop: asyncio.AbstractEventLoop = loop
        self._transport: asyncio.Transport | None = None
        self._fragments: list[bytes] = []
        self._writable: asyncio.Future[None] | None = None  # set while the socket's write buffer is full
        self._lost: asyncio.Future[None] = loop.create_future()  # the TCP connection is gone
        self._handshake: asyncio.Future[Response] | None = loop.create_future()
        self._closed: TransportClosed | None = None
        self._closing: asyncio.Future[None] | None = None
        self._last_data = loop.time()
        self._pong_waiting: bytes | None = None
        self._keepalive: asyncio.TimerHandle | None = None
        self._hang_up: asyncio.TimerHandle | None = None  # aborts a peer that does not hang up after the close
        self.response: Response | None = None  # the handshake response
        self.request: Request | None = None  # (server side only: always None here)

    @property
    def closed(self) -> TransportClosed | None:
        """How the connection ended, once it has."""
        return self._closed

    # --- Transport --------------------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        if self._closed is not None:
            raise self._closed
        if self._protocol.state is not State.OPEN or self._lost.done():
            raise self._close_marker()
        if self._writable is not None:  # the peer reads slower than we write: wait for the socket
            await asyncio.shield(self._writable)
            if self._protocol.state is not State.OPEN or self._lost.done():
                # Keepalive or close() ended the connection meanwhile: say how (1011 for keepalive).
                raise self._closed or self._close_marker()
        self._protocol.send_text(data)
        self._write_out()

    async def aclose(self) -> None:
        await self.close()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake and wait (``close_timeout`` at most) for the peer to end it."""
        if self._closing is not None:  # another task is closing: wait for it
            await asyncio.shield(self._closing)
            return
        self._closing = self._loop.create_future()
        try:
            if not self._lost.done():
                if self._protocol.state is State.OPEN:
                    self._protocol.send_close(code, reason)
                    self._write_out()
                with suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._lost), self._options.close_timeout)
        finally:
            if not self._lost.done() and self._transport is not None:  # timed out or cancelled: never leak
                self._transport.abort()
            if self._closed is None:
                self._closed = self._close_marker()
            self._stop_keepalive()
            if not self._closing.done():
                self._closing.set_result(None)

    # --- asyncio protocol callbacks ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, though not always an asyncio.Transport subclass (uvloop's are not).
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._last_data = self._loop.time()
        protocol = self._protocol
        protocol.receive_data(data)
        if self._write_out() and self._writable is not None:  # pongs and close replies, to a full socket
            self._replies_written(self._transport.get_write_buffer_size() if self._transport is not None else 0)
        self._take(protocol.events_received())

    def eof_received(self) -> bool | None:
        self._protocol.receive_eof()
        self._write_out()
        self._take(self._protocol.events_received())
        return None  # let asyncio close the socket

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._lost.done():
            self._lost.set_result(None)
        self._stop_keepalive()
        if self._hang_up is not None:
            self._hang_up.cancel()
        if self._handshake is not None and not self._handshake.done():
            self._handshake.set_exception(closed_in_handshake(self._protocol))
        self._armed = None
        for future in (self._waiter, self._writable):
            if future is not None and not future.done():
                future.set_result(None)
        self._writable = None

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)
        self._writes_drained()

    # --- internals -----------------------------------------------------------------------------

    def _take(self, events: list[Request | Response | Frame]) -> None:
        """Queue (or hand to the inline step) the messages among ``events``."""
        entered: asyncio.Task[Any] | None = None
        try:
            for event in events:
                if not isinstance(event, Frame):
                    if isinstance(event, Response) and self._handshake is not None and not self._handshake.done():
                        self._handshake.set_result(event)
                    continue
                opcode = event.opcode
                if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                    if not event.fin:
                        self._fragments = [bytes(event.data)]
                        continue
                    message = bytes(event.data)  # no copy when already bytes
                elif opcode is Opcode.CONT:
                    self._fragments.append(bytes(event.data))
                    if not event.fin:
                        continue
                    message = b"".join(self._fragments)
                    self._fragments = []
                else:
                    if opcode is Opcode.PONG and event.data == self._pong_waiting:
                        self._pong_waiting = None
                    continue
                step = self._armed  # set only while receive() waits on an empty queue
                if step is not None:
                    if entered is None:
                        entered = self._enter()
                    if entered is not None:
                        item = step(message)
                        if item is None:
                            continue
                        self._queue(item, 0)
                        continue
                self._queue(message, len(message))
        finally:
            if entered is not None:
                _inline.leave(self._loop, entered)

    def _ended(self) -> TransportClosed | None:
        return self._close_marker() if self._lost.done() else None

    def _pause_reading(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._transport is not None:
            with suppress(Exception):
                self._transport.resume_reading()

    def _write_out(self) -> bool:
        """Write what the protocol queued; whether there was anything."""
        transport = self._transport
        if transport is None:
            return False
        chunks = self._protocol.data_to_send()
        for chunk in chunks:
            if chunk:
                transport.write(chunk)
            elif transport.can_write_eof():  # end of our side
                with suppress(OSError):
                    transport.write_eof()
            else:  # TLS cannot half-close: the end of our side is the end
                transport.close()
        if self._hang_up is None and not self._lost.done() and self._protocol.close_expected():
            # A close frame went out (ours, or our answer to the peer's): the peer should hang up
            # now. Give it close_timeout, then hang up ourselves.
            self._hang_up = self._loop.call_later(self._options.close_timeout, self._abort_if_open)
        return bool(chunks)

    def _abort_if_open(self) -> None:
        if not self._lost.done() and self._transport is not None:
            self._transport.abort()

    # --- keepalive: one timer per interval ------------------------------------------------------

    def _start_keepalive(self) -> None:
        interval = self._options.ping_interval
        if interval is not None:
            self._keepalive = self._loop.call_later(interval, self._check_silence)

    def _stop_keepalive(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None

    def _check_silence(self) -> None:
        interval = self._options.ping_interval
        assert interval is not None
        if self._lost.done() or self._protocol.state is not State.OPEN:
            return
        if self._reading_paused:  # nobody reads (backpressure): a pong could not be seen either
            self._keepalive = self._loop.call_later(interval, self._check_silence)
            return
        # Reading held because the peer does not read what we write (_reply_hold) is no reason to
        # wait: such a peer is pinged, and dropped unless our writes drain and its pong comes back.
        quiet = self._loop.time() - self._last_data
        if quiet < interval:  # something arrived meanwhile: check again when it has been quiet for long enough
            self._keepalive = self._loop.call_later(interval - quiet, self._check_silence)
            return
        payload = os.urandom(4)
        self._pong_waiting = payload
        self._protocol.send_ping(payload)
        self._write_out()
        self._keepalive = self._loop.call_later(self._options.ping_timeout, self._check_pong)

    def _check_pong(self) -> None:
        if self._lost.done():
            return
        if self._pong_waiting is None:
            self._start_keepalive()
            return
        if self._reading_paused:  # the pong may be waiting in the socket behind what we have not read
            self._keepalive = self._loop.call_later(self._options.ping_timeout, self._check_pong)
            return
        logger.warning("no pong within %gs: closing the connection", self._options.ping_timeout)
        self._protocol.fail(1011, "keepalive ping timeout")
        self._write_out()
        self._closed = TransportClosed(1011, "keepalive ping timeout")
        if self._transport is not None:
            self._transport.abort()

    def _close_marker(self) -> TransportClosed:
        return close_marker(self._protocol)


async def connect_websocket_asyncio(
    url: str, headers: Mapping[str, str] | None = None, options: WebSocketOptions | None = None
) -> AsyncioWebSocketTransport:
    """``connect_websocket`` on asyncio (it calls this one): same arguments, errors and options."""
    options = options or WebSocketOptions()
    protocol = client_protocol(url, options)
    uri = protocol.uri
    loop = asyncio.get_running_loop()
    transport = AsyncioWebSocketTransport(protocol, options, loop)
    try:
        async with asyncio.timeout(options.open_timeout):
            context = (options.ssl_context or ssl.create_default_context()) if uri.secure else None
            await loop.create_connection(
                lambda: transport,
                uri.host,
                uri.port,
                ssl=context,
                server_hostname=uri.host if context is not None else None,
            )
            send_handshake(protocol, options, headers)
            transport._write_out()
            assert transport._handshake is not None
            response = await transport._handshake
    except BaseException:
        if transport._transport is not None:
            transport._transport.abort()
        raise
    transport._handshake = None
    error = refusal(protocol, response)
    if error is not None:
        if transport._transport is not None:
            transport._transport.abort()
        raise error
    transport.response = response
    transport._start_keepalive()
    return transport
