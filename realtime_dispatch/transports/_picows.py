"""WebSocket over picows: a Cython WebSocket client for asyncio (the ``fast`` extra).

asyncio only. picows parses frames in C inside the event loop's ``data_received`` and
hands each one to a listener callback; the listener copies the payload into a queue and
``receive`` pops from it without awaiting whenever a message is already there. Install
with ``pip install 'realtime-dispatch[fast]'``.

The per-frame path is kept short on purpose (it runs for every audio delta): one Python
call per frame for a complete TEXT frame (the listener appends the copy to the queue), and
one wake-up of a waiting ``receive`` per batch of frames, not per frame (only the frame
that finds the queue empty wakes it). Everything else (fragments, BINARY, PING, CLOSE, a frame
over ``max_size``) takes the slower general path in ``_on_frame``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import sys
from collections.abc import Mapping
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from . import _inline
from ._base import TransportClosed
from ._websocket import HandshakeError, WebSocketOptions

if TYPE_CHECKING:
    from picows import WSTransport

__all__ = ("PicowsTransport", "connect_picows")

logger = logging.getLogger("realtime_dispatch.transport")

_MISSING_PICOWS = (
    "connect_picows needs the picows package: install it with pip install 'realtime-dispatch[fast]' "
    "(or use connect_websocket, which needs nothing extra)"
)


def _require_asyncio() -> None:
    """picows is built on asyncio's event loop: refuse any other async library clearly."""
    library: str | None
    try:
        import sniffio

        library = sniffio.current_async_library()
    except ImportError:  # pragma: no cover - sniffio ships with anyio and trio
        library = None
    except Exception:  # sniffio.AsyncLibraryNotFoundError: not in an async context at all
        library = None
    if library is not None and library != "asyncio":
        raise RuntimeError(
            f"connect_picows works on asyncio only, not {library}: use connect_websocket, which runs on both"
        )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "connect_picows must be called from a running asyncio event loop (use connect_websocket under trio)"
        ) from None


class PicowsTransport(_inline.InboundQueue):
    """A ``Transport`` over one picows client connection. Build it with ``connect_picows``."""

    def __init__(self, options: WebSocketOptions) -> None:
        self._init_inbound()
        self._options = options
        self._max_size = options.max_size if options.max_size is not None else sys.maxsize
        # The task entered from the first inline step of a read until picows' last frame of it:
        # entering a task costs a dict insert and delete, once per read rather than once per frame.
        self._entered: asyncio.Task[Any] | None = None
        self._fragments: list[bytes] = []
        self._fragments_size = 0
        self._ws: WSTransport | None = None
        self._closed: TransportClosed | None = None
        self._disconnected = False
        self._writable: asyncio.Future[None] | None = None  # set while the socket's write buffer is full
        self._closing: asyncio.Future[None] | None = None
        self._reaper: asyncio.Task[None] | None = None
        # WSMsgType members, bound at connect time (picows is imported lazily)
        self._TEXT: Any = None
        self._BINARY: Any = None
        self._CONT: Any = None
        self._CLOSE: Any = None
        self._PING: Any = None

    @property
    def closed(self) -> TransportClosed | None:
        """How the connection ended, once it has."""
        return self._closed

    @property
    def ws_transport(self) -> WSTransport:
        """picows' own ``WSTransport`` (handshake request/response, the asyncio transport)."""
        assert self._ws is not None
        return self._ws

    # --- Transport --------------------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        if self._closed is not None:
            raise self._closed
        ws = self._ws
        assert ws is not None
        if self._disconnected or ws.is_close_frame_sent:
            raise self._close_marker()
        if self._writable is not None:  # the peer reads slower than we write: wait for the socket
            await asyncio.shield(self._writable)
            if self._disconnected or ws.is_close_frame_sent:
                raise self._close_marker()
        ws.send(self._TEXT, data)

    def _enter_batch(self) -> bool:
        """Become the consumer's task until picows' last frame of this read (``_leave``)."""
        self._entered = self._enter()
        return self._entered is not None

    def _leave(self) -> None:
        task, self._entered = self._entered, None
        if task is not None and self._loop is not None:
            _inline.leave(self._loop, task)

    def _ended(self) -> TransportClosed | None:
        return self._close_marker() if self._disconnected else None

    def _pause_reading(self) -> None:
        if self._ws is not None:
            with suppress(Exception):
                self._ws.underlying_transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._ws is not None:
            with suppress(Exception):
                self._ws.underlying_transport.resume_reading()

    async def aclose(self) -> None:
        await self.close()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame and wait (``close_timeout`` at most) for the peer to answer and hang up."""
        ws = self._ws
        if ws is None or self._disconnected:
            if self._closed is None:
                self._closed = self._close_marker()
            if self._reaper is not None:
                await asyncio.shield(self._reaper)
            return
        if self._closing is not None:  # another task is closing: wait for it
            await asyncio.shield(self._closing)
            return
        self._closing = asyncio.get_running_loop().create_future()
        try:
            if not ws.is_close_frame_sent:
                with suppress(Exception):
                    ws.send_close(_close_code(code), reason.encode())
            with suppress(Exception, asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(ws.wait_disconnected()), self._options.close_timeout)
        finally:
            if not self._disconnected:  # timed out or cancelled: never leak the socket
                ws.disconnect(graceful=False)
                with suppress(Exception, asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(ws.wait_disconnected()), 1.0)
            if self._closed is None:
                self._closed = self._close_marker()
            if not self._closing.done():
                self._closing.set_result(None)

    # --- listener callbacks (called by picows from the event loop) ----------------------------

    def _on_frame(self, ws: WSTransport, frame: Any) -> None:
        msg_type = frame.msg_type
        if msg_type is self._TEXT or msg_type is self._BINARY:
            if frame.payload_size > self._max_size:
                # picows starts closing with 1009 on such a frame, yet still delivers it: drop it.
                self._fail(ws, 1009, f"message exceeds {self._max_size} bytes")
                return
            if frame.fin:
                self._deliver(frame.get_payload_as_bytes())
            else:
                payload = frame.get_payload_as_bytes()
                self._fragments = [payload]
                self._fragments_size = len(payload)
        elif msg_type is self._CONT:
            payload = frame.get_payload_as_bytes()
            self._fragments_size += len(payload)
            if self._fragments_size > self._max_size or frame.payload_size > self._max_size:
                self._fragments = []
                self._fail(ws, 1009, f"message exceeds {self._max_size} bytes")
                return
            self._fragments.append(payload)
            if frame.fin:
                message = b"".join(self._fragments)
                self._fragments = []
                self._fragments_size = 0
                self._deliver(message)
        elif msg_type is self._PING:
            # Answered here rather than by picows (enable_auto_pong), which would write a pong per
            # ping however full our outgoing buffer: a peer that pings and never reads would grow it
            # without bound. Above REPLY_HIGH_WATER reading stops until the buffer drains.
            ws.send_pong(frame.get_payload_as_bytes())
            if self._writable is not None:
                self._replies_written(ws.underlying_transport.get_write_buffer_size())
        elif msg_type is self._CLOSE:
            if not ws.is_close_frame_sent:  # the peer started the closing handshake: answer it
                with suppress(Exception):
                    ws.send_close(frame.get_close_code(), frame.get_close_message())
            ws.disconnect()
        # PONG is consumed by picows' auto-ping.

    def _deliver(self, data: bytes) -> None:
        """Queue one complete message, or run the inline step on it; the listener's fast path
        inlines the same steps."""
        step = self._armed  # set only while receive() waits on an empty queue
        if step is not None and (self._entered is not None or self._enter_batch()):
            item = step(data)
            if item is not None:
                self._queue(item, 0)
            return
        self._queue(data, len(data))

    def _fail(self, ws: WSTransport, code: int, reason: str) -> None:
        if not ws.is_close_frame_sent:
            logger.warning("closing the connection: %s", reason)
            with suppress(Exception):
                ws.send_close(_close_code(code), reason.encode())
        ws.disconnect()

    def _on_disconnected(self, ws: WSTransport) -> None:
        if self._entered is not None:  # never expected: the read that entered ended with its last frame
            self._leave()
        self._disconnected = True
        # picows keeps the failure that made it disconnect (a protocol error) in a future for
        # wait_disconnected(): retrieve it, or asyncio logs "exception was never retrieved".
        self._reaper = asyncio.get_running_loop().create_task(self._reap(ws))
        self._reading_paused = False
        self._reply_hold = False
        self._armed = None
        for future in (self._waiter, self._writable):
            if future is not None and not future.done():
                future.set_result(None)
        self._writable = None

    @staticmethod
    async def _reap(ws: WSTransport) -> None:
        with suppress(Exception):
            await ws.wait_disconnected()

    def _on_pause_writing(self) -> None:
        if self._writable is None:
            self._writable = asyncio.get_running_loop().create_future()

    def _on_resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)
        self._writes_drained()

    def _close_marker(self) -> TransportClosed:
        ws = self._ws
        handshake = ws.close_handshake if ws is not None else None
        if handshake is not None:
            # Whoever closed first decides the code: the peer's close frame, or the one we sent.
            recv, sent = handshake.recv, handshake.sent
            first = recv if recv is not None and (handshake.recv_then_sent or sent is None) else sent
            if first is not None:
                if first is sent and (first.reason or "").startswith("peer has not replied to ping"):
                    # picows' auto-ping gave up (it sends 1001): report it as connect_websocket does
                    return TransportClosed(1011, "keepalive ping timeout")
                code = _code_value(first.code)
                return TransportClosed(1005 if code == 0 else code, first.reason or "")
        return TransportClosed(1006, "connection lost")


def _code_value(code: object) -> int:
    value = getattr(code, "value", code)
    return int(value) if isinstance(value, int) else 1006


def _close_code(code: int) -> Any:
    """picows takes a ``WSCloseCode``; any other valid code (3000-4999) passes as an int."""
    from picows import WSCloseCode

    try:
        return WSCloseCode(code)
    except ValueError:
        return code


# --- client -------------------------------------------------------------------------------------


async def connect_picows(
    url: str, headers: Mapping[str, str] | None = None, options: WebSocketOptions | None = None
) -> PicowsTransport:
    """Open a WebSocket to ``url`` (``ws://`` or ``wss://``) with picows. asyncio only.

    Honours ``open_timeout``, ``max_size`` (per frame, and per reassembled message: larger
    ends the connection with close code 1009), ``ping_interval``/``ping_timeout`` (picows'
    auto-ping when idle), ``close_timeout``, ``ssl_context`` (TLS verified by default),
    ``user_agent`` and ``extra_headers``. ``compression=True`` is refused: picows has no
    permessage-deflate. Redirects are not followed and proxies are not used.

    Raises ``HandshakeError`` when the server refuses, ``TimeoutError`` after
    ``open_timeout``, ``OSError`` when the host cannot be reached, ``RuntimeError`` outside
    asyncio and ``ImportError`` without picows.
    """
    _require_asyncio()
    try:
        import picows
    except ImportError as exc:
        raise ImportError(_MISSING_PICOWS) from exc

    options = options or WebSocketOptions()
    if options.compression:
        raise ValueError("picows does not support permessage-deflate: use compression=False or connect_websocket")

    transport = PicowsTransport(options)
    transport._TEXT = picows.WSMsgType.TEXT
    transport._BINARY = picows.WSMsgType.BINARY
    transport._CONT = picows.WSMsgType.CONTINUATION
    transport._CLOSE = picows.WSMsgType.CLOSE
    transport._PING = picows.WSMsgType.PING

    messages = transport._messages
    text = picows.WSMsgType.TEXT
    max_size = transport._max_size
    on_frame = transport._on_frame

    class _Listener(picows.WSListener):
        def on_ws_connected(self, ws: WSTransport) -> None:
            transport._ws = ws

        def on_ws_frame(self, ws: WSTransport, frame: picows.WSFrame) -> None:
            try:
                # The fast path, for a complete TEXT frame: _deliver() inlined (one Python call per frame).
                if frame.msg_type is text and frame.fin:
                    view = frame.get_payload_as_memoryview()  # valid during this call only
                    size = len(view)
                    if size > max_size:
                        # picows starts closing with 1009 on such a frame, yet still delivers it: drop it.
                        transport._fail(ws, 1009, f"message exceeds {max_size} bytes")
                        return
                    step = transport._armed  # set only while receive() waits on an empty queue
                    if step is not None and (transport._entered is not None or transport._enter_batch()):
                        # Run the consumer's step here, on the frame's own buffer, rather than copy
                        # the frame and wake the consumer (a pass through the event loop).
                        item = step(view)
                        if item is None:
                            return
                        messages.append(item)
                        transport._buffered = size
                        transport._wake()
                    elif messages:  # not empty: a waiting receive() was woken by the frame that found it empty
                        messages.append(bytes(view))
                        transport._buffered += size
                    else:
                        messages.append(bytes(view))
                        transport._buffered = size
                        transport._wake()
                    if transport._buffered > _inline.READ_HIGH_WATER:
                        transport._high_water()
                else:
                    on_frame(ws, frame)
            finally:
                # picows marks the last frame of each read, even when parsing the next one failed.
                if transport._entered is not None and frame.last_in_buffer:
                    transport._leave()

        def on_ws_disconnected(self, ws: WSTransport) -> None:
            transport._on_disconnected(ws)

        def pause_writing(self) -> None:
            transport._on_pause_writing()

        def resume_writing(self) -> None:
            transport._on_resume_writing()

    request_headers = {"User-Agent": options.user_agent, **options.extra_headers, **(headers or {})}
    if options.subprotocols and not any(name.lower() == "sec-websocket-protocol" for name in request_headers):
        request_headers["Sec-WebSocket-Protocol"] = ", ".join(options.subprotocols)
    ping: dict[str, Any] = {}
    if options.ping_interval is not None:
        ping = {
            "enable_auto_ping": True,
            "auto_ping_idle_timeout": options.ping_interval,
            # picows requires reply timeout <= idle timeout
            "auto_ping_reply_timeout": min(options.ping_timeout, options.ping_interval),
            "auto_ping_strategy": picows.WSAutoPingStrategy.PING_WHEN_IDLE,
        }
    ssl_context: ssl.SSLContext | None = None
    if url.lower().startswith("wss:"):
        ssl_context = options.ssl_context or ssl.create_default_context()
    try:
        async with asyncio.timeout(options.open_timeout):
            ws, _ = await picows.ws_connect(
                _Listener,
                url,
                ssl_context=ssl_context,
                websocket_handshake_timeout=options.open_timeout,
                logger_name="realtime_dispatch.picows",
                enable_auto_pong=False,  # _on_frame answers pings, within write backpressure
                max_frame_size=transport._max_size,
                extra_headers=request_headers,
                max_redirects=0,
                **ping,
            )
    except picows.WSHandshakeError as exc:
        response = exc.response
        status = int(response.status) if response is not None else 0
        raw_body = exc.raw_body if exc.raw_body is not None else (response.body if response is not None else None)
        body = raw_body.decode("utf-8", "replace")[:500] if raw_body else ""
        if status:
            phrase = getattr(response.status, "phrase", "") if response is not None else ""
            message = f"WebSocket upgrade refused: HTTP {status} {phrase}".rstrip() + (f": {body}" if body else "")
        else:
            message = f"WebSocket handshake failed: {exc}"
        raise HandshakeError(message, status=status, body=body) from exc
    except picows.WSError as exc:
        raise HandshakeError(f"WebSocket handshake failed: {exc}") from exc
    transport._ws = ws
    return transport
