"""WebSocket over anyio: websockets' Sans-I/O protocol driven by anyio byte streams.

Runs on asyncio and trio. It is the server side (``serve_websocket``: the simulator, the
tests) and the client under trio; under asyncio ``connect_websocket`` returns the faster
``AsyncioWebSocketTransport`` instead (``_websocket_asyncio``). The connection runs no task
of its own: frames are read by whoever calls ``receive`` (the app's receive loop),
keepalive pings are sent only while that reader waits on a silent peer, and sends take a
lock only when contended. Neither keepalive nor ``close`` waits behind a send blocked on a
dead peer's full socket: they leave their frame for that send to write, time out, and hang up.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.streams.tls import TLSStream
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import Protocol, State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from .._redact import redact_text
from . import _inline
from ._base import TransportClosed

__all__ = (
    "HandshakeError",
    "WebSocketOptions",
    "WebSocketTransport",
    "serve_websocket",
)

logger = logging.getLogger("realtime_dispatch.transport")

_ACCEPT_BATCH = 256  # connections taken from the backlog before others get a turn
_ACCEPT_RETRY = 0.1  # seconds to wait after accept() itself failed (out of file descriptors)

_MiB = 1024 * 1024
_SECRET_HEADERS = frozenset({"authorization", "api-key", "openai-api-key", "x-api-key", "cookie", "set-cookie"})


class _RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """websockets logs every handshake header at DEBUG: keep credentials out of the logs."""

    def log(self, level: int, msg: object, *args: object, **kwargs: object) -> None:
        if len(args) == 2 and isinstance(args[0], str) and args[0].lower() in _SECRET_HEADERS:
            args = (args[0], "<redacted>")
        elif len(args) == 2 and isinstance(args[0], str) and args[0].lower() == "sec-websocket-protocol":
            args = (args[0], redact_text(str(args[1])))  # browsers' openai-insecure-api-key.<key>
        elif args and isinstance(args[0], Frame) and args[0].opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            # Frames carry prompts, audio and client secrets: log their size only (the trace logger
            # shows the events, secrets left out).
            args = (f"{args[0].opcode.name} [{len(args[0].data)} bytes]", *args[1:])
        super().log(level, msg, *args, **kwargs)  # type: ignore[arg-type]


_protocol_logger = _RedactingLogger(logging.getLogger("realtime_dispatch.websocket"))


@dataclass(frozen=True, slots=True)
class WebSocketOptions:
    """Connection settings, with the defaults a Realtime client wants.

    - ``max_size``: largest incoming message. 16 MiB, because ``conversation.item.retrieved``
      carries whole audio items (websockets' and the openai SDK's 1 MiB is a known failure).
    - ``compression``: off. Base64 audio barely compresses and deflate costs CPU per frame.
    - ``ssl_context``: TLS verification is on by default; pass a context to pin a CA.
    - ``subprotocols``: offered in ``Sec-WebSocket-Protocol`` (e.g. ``("realtime",)``, as
      browser clients do); the server's choice must be one of them. A ``Sec-WebSocket-Protocol``
      header in ``extra_headers`` or the connect headers counts as the same offer.
    - Proxies: not used. The connection goes straight to the host in the URL
      (``HTTPS_PROXY`` and friends are ignored).
    """

    open_timeout: float = 10.0
    ping_interval: float | None = 20.0
    ping_timeout: float = 20.0
    close_timeout: float = 10.0
    max_size: int | None = 16 * _MiB
    compression: bool = False
    ssl_context: ssl.SSLContext | None = None
    user_agent: str = "realtime-dispatch"
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    subprotocols: tuple[str, ...] = ()


class HandshakeError(ConnectionError):
    """The server refused the WebSocket upgrade. ``status`` is the HTTP status (0 when
    the connection failed before one arrived) and ``body`` the start of its body.

    A refusal can quote the credentials it got (a 401 echoing the key): the message and the
    body are scrubbed here, by the library's one rule (``_redact.redact_text``), whoever builds
    the error."""

    def __init__(self, message: str, *, status: int = 0, body: str = "") -> None:
        scrubbed = redact_text(body)
        if body and scrubbed != body:  # the body scrubbed as a whole (header lines start its lines)
            message = message.replace(body, scrubbed)
        super().__init__(redact_text(message))
        self.status = status
        self.body = scrubbed


class WebSocketTransport:
    """A ``Transport`` over one WebSocket connection (client or server side)."""

    def __init__(self, protocol: Protocol, stream: anyio.abc.ByteStream, options: WebSocketOptions) -> None:
        self._protocol = protocol
        self._stream = stream
        self._options = options
        self._messages: deque[bytes] = deque()
        self._fragments: list[bytes] = []
        self._send_lock = anyio.Lock(fast_acquire=True)
        self._write_cut = False  # a write was cancelled (by a timeout on a full socket, say): maybe midway
        self._reading = False
        self._reader_done: anyio.Event | None = None  # set when a reader returns, for close()
        self._pong_waiting: bytes | None = None
        self._closed: TransportClosed | None = None
        self._stream_closed = False
        self._closing: anyio.Event | None = None
        self.response: Response | None = None  # the handshake response, on the client side
        self.request: Request | None = None  # the handshake request, on the server side

    @property
    def remote_address(self) -> object:
        """The peer's address as the socket reports it (``(host, port, ...)`` for TCP), or None."""
        return self._stream.extra(anyio.abc.SocketAttribute.remote_address, None)

    @property
    def closed(self) -> TransportClosed | None:
        """How the connection ended, once it has."""
        return self._closed

    # --- Transport --------------------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        if self._closed is not None:
            raise self._closed
        if self._protocol.state is not State.OPEN:
            raise self._close_marker()
        self._protocol.send_text(data)
        try:
            await self._flush()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            await self._close_stream()
            self._closed = self._closed or TransportClosed(1006, "connection lost")
            raise self._closed from None
        if self._stream_closed:
            # Keepalive or close() hung up while this send waited on the socket (anyio's stream on
            # asyncio then returns as if it had written): the message may not have gone out.
            raise self._closed or self._close_marker()

    def receive_nowait(self) -> bytes | None:
        """A buffered message, or None: lets the receive loop skip a coroutine per frame."""
        messages = self._messages
        return messages.popleft() if messages else None

    async def receive(self) -> bytes:
        messages = self._messages
        while not messages:
            if self._closed is not None:
                raise self._closed
            if self._closing is not None and not self._reading:
                # close() is draining the socket itself (nobody was reading): wait for it, then
                # deliver what it read or how the connection ended.
                await self._closing.wait()
                continue
            if self._reading:
                raise RuntimeError("receive() is already running in another task")
            self._reading = True
            try:
                await self._read_once()
            finally:
                self._reading = False
                if self._reader_done is not None:
                    self._reader_done.set()
        return messages.popleft()

    async def aclose(self) -> None:
        await self.close()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake and wait for it (``close_timeout`` at most)."""
        if self._stream_closed:
            return
        if self._closing is not None:  # another task is closing: wait for it
            await self._closing.wait()
            return
        self._closing = anyio.Event()
        try:
            await self._close_handshake(code, reason)
        finally:
            await self._close_stream()  # even when cancelled mid-handshake: never leak the socket
            if self._closed is None:
                self._closed = self._close_marker()
            self._closing.set()

    async def _close_handshake(self, code: int, reason: str) -> None:
        if self._protocol.state is State.CONNECTING:  # no WebSocket yet: nothing to close but the socket
            await self._close_stream()
            return
        # All of it within close_timeout, and never behind the send lock: a send blocked on the full
        # socket of a dead peer holds it for good (hanging up at the end ends that send too).
        with anyio.move_on_after(self._options.close_timeout):
            if self._protocol.state is State.OPEN:
                self._protocol.send_close(code, reason)
                if not self._send_lock.locked():  # else the send in progress writes it after its own frames
                    with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                        await self._flush()
            if not self._reading:
                # Nobody is reading: drain until the peer answers the close, or give up. What this
                # reads waits for a receive() that may never come: past READ_HIGH_WATER bytes (a peer
                # that floods rather than answers), stop reading and hang up.
                drained = 0
                while self._closed is None and not self._stream_closed and drained <= _inline.READ_HIGH_WATER:
                    drained += await self._read_once()
            else:
                # The reader will see the close reply; give it the close timeout to do so.
                self._reader_done = anyio.Event()
                await self._reader_done.wait()
        await self._close_stream()
        if self._closed is None:
            self._closed = self._close_marker()

    # --- internals -----------------------------------------------------------------------------

    async def _read_once(self) -> int:
        """Read from the socket once (pinging a silent peer) and turn the bytes into messages;
        how many bytes it read."""
        if self._protocol.close_expected():
            # A close frame went out (ours, or our answer to the peer's): the peer should hang up
            # now. Give it close_timeout, then hang up ourselves.
            with anyio.move_on_after(self._options.close_timeout) as scope:
                data = await self._receive_raw()
            if scope.cancelled_caught:
                await self._close_stream()
                if self._closed is None:
                    self._closed = self._close_marker()
                return 0
            await self._feed(data)
            return len(data) if data else 0
        interval = self._options.ping_interval
        if interval is None:
            data = await self._receive_raw()
            await self._feed(data)
            return len(data) if data else 0
        with anyio.move_on_after(interval) as scope:
            data = await self._receive_raw()
        if not scope.cancelled_caught:
            await self._feed(data)
            return len(data) if data else 0
        # Silent for a whole interval: check the peer is still there. Never behind the send lock:
        # a send blocked on the full socket of a dead peer would hold the ping back for good. The
        # send in progress writes the ping after its own frames instead, and the timeout runs.
        payload = os.urandom(4)
        self._pong_waiting = payload
        self._protocol.send_ping(payload)
        read = 0
        with anyio.move_on_after(self._options.ping_timeout):
            if not self._send_lock.locked():
                try:
                    await self._flush()
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    await self._close_stream()
                    self._closed = self._closed or TransportClosed(1006, "connection lost")
                    return 0
            while self._pong_waiting is not None and not self._messages and self._closed is None:
                data = await self._receive_raw()
                read += len(data) if data else 0
                await self._feed(data)
            return read
        await self._keepalive_failed()
        return read

    async def _keepalive_failed(self) -> None:
        """No pong within ping_timeout (or our writes stuck for as long): close with 1011."""
        logger.warning("no pong within %gs: closing the connection", self._options.ping_timeout)
        self._closed = TransportClosed(1011, "keepalive ping timeout")
        self._protocol.fail(1011, "keepalive ping timeout")
        if not self._send_lock.locked() and not self._write_cut and not self._stream_closed:
            # Tell the peer why, unless a write is stuck on the socket, or was and timed out.
            with (
                anyio.move_on_after(self._options.close_timeout),
                suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError),
            ):
                await self._flush()
        await self._close_stream()  # also ends a send blocked on the socket

    async def _receive_raw(self) -> bytes | None:
        """The next bytes from the socket, or None at end of stream."""
        try:
            return await self._stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            return None

    async def _feed(self, data: bytes | None) -> None:
        protocol = self._protocol
        if data is None:
            protocol.receive_eof()
        else:
            protocol.receive_data(data)
        # Pongs and close replies the protocol queued (we can still deliver what arrived if the
        # connection is lost meanwhile).
        lost = bool(protocol.writes) and not await self._write_replies()
        self._collect(protocol.events_received())
        if lost or data is None or protocol.state is State.CLOSED:
            await self._close_stream()
            if self._closed is None:
                self._closed = self._close_marker()

    def _collect(self, events: list[Request | Response | Frame]) -> None:
        for event in events:
            if not isinstance(event, Frame):
                continue
            opcode = event.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                if event.fin:
                    self._messages.append(bytes(event.data))  # no copy when already bytes
                else:
                    self._fragments = [bytes(event.data)]
            elif opcode is Opcode.CONT:
                self._fragments.append(bytes(event.data))
                if event.fin:
                    self._messages.append(b"".join(self._fragments))
                    self._fragments = []
            elif opcode is Opcode.PONG and event.data == self._pong_waiting:
                self._pong_waiting = None

    async def _write_replies(self) -> bool:
        """Write the replies that reading made the protocol queue; False if the connection is lost.

        Reading waits for them to be written (behind a send in progress, too): that is the
        backpressure on what reading makes us write, the pongs to a ping flood among them. With
        keepalive on, not for longer than a ping and its timeout: a peer that reads none of our
        writes for so long is no more alive than a silent one."""
        interval = self._options.ping_interval
        try:
            if interval is None:
                await self._flush()
                return True
            with anyio.move_on_after(interval + self._options.ping_timeout) as scope:
                await self._flush()
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        if scope.cancelled_caught:
            await self._keepalive_failed()
        return True

    async def _flush(self) -> None:
        """Write what the protocol queued, and what others queue meanwhile: a keepalive ping, a
        pong or a close frame left to the send in progress."""
        protocol = self._protocol
        async with self._send_lock:
            while protocol.writes:
                for chunk in protocol.data_to_send():
                    if chunk:
                        try:
                            await self._stream.send(chunk)
                        except anyio.get_cancelled_exc_class():
                            self._write_cut = True
                            raise
                    elif isinstance(self._stream, TLSStream):
                        await self._close_stream()  # TLS cannot half-close: end of our side is the end
                        return
                    else:
                        # End of our side. A socket the peer already shut can fail here (EBADF/ENOTCONN
                        # on trio): either way the stream is done.
                        try:
                            await self._stream.send_eof()
                        except (NotImplementedError, OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                            await self._close_stream()
                            return

    async def _close_stream(self) -> None:
        if not self._stream_closed:
            self._stream_closed = True
            with anyio.CancelScope(shield=True):
                await self._stream.aclose()

    def _close_marker(self) -> TransportClosed:
        return close_marker(self._protocol)


def close_marker(protocol: Protocol) -> TransportClosed:
    """How a connection ended, from its protocol: the peer's close frame, else ours once the
    closing handshake is over, else 1006."""
    if protocol.close_rcvd is not None:
        return TransportClosed(protocol.close_rcvd.code, protocol.close_rcvd.reason)
    if protocol.close_sent is not None and protocol.state is State.CLOSED:
        return TransportClosed(protocol.close_sent.code, protocol.close_sent.reason)
    return TransportClosed(1006, "connection lost")


def client_protocol(url: str, options: WebSocketOptions) -> ClientProtocol:
    uri = parse_uri(url)
    extensions = [ClientPerMessageDeflateFactory()] if options.compression else None
    subprotocols = [Subprotocol(name) for name in options.subprotocols] or None
    return ClientProtocol(
        uri, extensions=extensions, subprotocols=subprotocols, max_size=options.max_size, logger=_protocol_logger
    )


def send_handshake(protocol: ClientProtocol, options: WebSocketOptions, headers: Mapping[str, str] | None) -> None:
    """Queue the upgrade request, with our User-Agent and the caller's headers."""
    request = protocol.connect()
    request.headers["User-Agent"] = options.user_agent
    for name, value in {**options.extra_headers, **(headers or {})}.items():
        if name.lower() == "sec-websocket-protocol":  # an offer given as a header: the answer must match it
            offered = [Subprotocol(item.strip()) for item in value.split(",") if item.strip()]
            protocol.available_subprotocols = [*(protocol.available_subprotocols or []), *offered]
            value = ", ".join(protocol.available_subprotocols)
        if name in request.headers:  # websockets' headers append: a caller's value replaces ours (User-Agent)
            del request.headers[name]
        request.headers[name] = value
    protocol.send_request(request)


def refusal(protocol: ClientProtocol, response: Response) -> HandshakeError | None:
    """The error for a handshake response that does not open the connection, or None."""
    if protocol.handshake_exc is None and response.status_code == 101:
        return None
    body = response.body.decode("utf-8", "replace")[:500] if response.body else ""
    return HandshakeError(
        f"WebSocket upgrade refused: HTTP {response.status_code} {response.reason_phrase}"
        + (f": {body}" if body else ""),
        status=response.status_code,
        body=body,
    )


# --- client -------------------------------------------------------------------------------------


async def connect_websocket_anyio(
    url: str, headers: Mapping[str, str] | None = None, options: WebSocketOptions | None = None
) -> WebSocketTransport:
    """``connect_websocket`` over anyio streams: what it uses under trio."""
    options = options or WebSocketOptions()
    protocol = client_protocol(url, options)
    uri = protocol.uri
    with anyio.fail_after(options.open_timeout):
        if uri.secure:
            context = options.ssl_context or ssl.create_default_context()
            stream: anyio.abc.ByteStream = await anyio.connect_tcp(
                uri.host, uri.port, tls=True, ssl_context=context, tls_hostname=uri.host, tls_standard_compatible=False
            )
        else:
            stream = await anyio.connect_tcp(uri.host, uri.port)
        transport = WebSocketTransport(protocol, stream, options)
        try:
            send_handshake(protocol, options, headers)
            await transport._flush()
            response = await _handshake_message(transport)
            if not isinstance(response, Response):
                raise HandshakeError("the server sent a request instead of a handshake response")
        except BaseException:
            await transport._close_stream()
            raise
    error = refusal(protocol, response)
    if error is not None:
        await transport._close_stream()
        raise error
    transport.response = response
    return transport


async def _handshake_message(transport: WebSocketTransport) -> Request | Response:
    """Read until the handshake request or response arrives."""
    protocol = transport._protocol
    while True:
        data = await transport._receive_raw()
        if data is None:
            protocol.receive_eof()
        else:
            protocol.receive_data(data)
        await transport._flush()
        events = protocol.events_received()
        for index, event in enumerate(events):
            if isinstance(event, (Request, Response)):
                # Frames can ride in the same read as the handshake: keep them.
                transport._collect(events[index + 1 :])
                return event
        if data is None:
            raise closed_in_handshake(protocol)


def closed_in_handshake(protocol: Protocol) -> HandshakeError:
    """Why the connection ended before the handshake completed: what websockets made of the
    answer when it could not parse it (an HTTP/1.0 error page, say: its status is kept), or that
    the peer closed."""
    exc = getattr(protocol, "handshake_exc", None)
    if exc is None:
        return HandshakeError("connection closed during the WebSocket handshake")
    detail = str(exc.__cause__ or exc)
    found = re.search(r"HTTP/\d(?:\.\d)? (\d{3})", detail)
    return HandshakeError(
        f"WebSocket upgrade refused: {detail}" if found else f"WebSocket handshake failed: {detail}",
        status=int(found.group(1)) if found else 0,
    )


# --- server (for the simulator and tests) ---------------------------------------------------------


@asynccontextmanager
async def serve_websocket(
    handler: Callable[[WebSocketTransport], Awaitable[None]],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    options: WebSocketOptions | None = None,
    accept: Callable[[Request], Response | None] | None = None,
    tls: ssl.SSLContext | None = None,
    subprotocols: Sequence[str] = (),
) -> AsyncIterator[int]:
    """Serve WebSocket connections on ``host:port`` while the block runs; yields the port.

    ``handler`` gets each open connection and owns it until it returns. ``accept`` may
    look at the handshake request and return a refusal ``Response`` (or None to accept).
    ``tls`` (a server-side SSL context) serves ``wss://``. ``subprotocols``: the first of these
    the client offers is selected in the 101 answer (browser-standard clients fail without
    it); a client that offers none of them is still accepted, without a subprotocol.
    """
    options = options or WebSocketOptions(ping_interval=None)
    supported = [Subprotocol(name) for name in subprotocols]

    def select_subprotocol(_: ServerProtocol, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        return next((name for name in supported if name in offered), None)

    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    bound_port = int(listener.extra(anyio.abc.SocketAttribute.local_port))

    async def serve_one(raw: anyio.abc.SocketStream) -> None:
        stream: anyio.abc.ByteStream = raw
        if tls is not None:
            try:
                with anyio.fail_after(options.open_timeout):
                    stream = await TLSStream.wrap(raw, server_side=True, ssl_context=tls, standard_compatible=False)
            except BaseException as exc:  # a client that does not trust us, speaks no TLS, or shutdown
                with anyio.CancelScope(shield=True):
                    await raw.aclose()
                if not isinstance(exc, Exception):
                    raise
                logger.info("TLS handshake failed: %s", exc)
                return
        extensions = [ServerPerMessageDeflateFactory()] if options.compression else None
        protocol = ServerProtocol(
            extensions=extensions,
            subprotocols=supported or None,
            select_subprotocol=select_subprotocol,
            max_size=options.max_size,
            logger=_protocol_logger,
        )
        transport = WebSocketTransport(protocol, stream, options)
        try:
            with anyio.fail_after(options.open_timeout):
                request = await _handshake_message(transport)
            if not isinstance(request, Request):
                return
            refusal = accept(request) if accept else None
            response = refusal or protocol.accept(request)
            protocol.send_response(response)
            await transport._flush()
            if refusal is not None or protocol.state is not State.OPEN:
                await transport._close_stream()
                return
            transport.request = request
            await handler(transport)
        except (TimeoutError, HandshakeError) as exc:  # a client that never finished (or botched) the upgrade
            logger.info("WebSocket handshake with a client failed: %r", exc)
        except Exception:
            logger.exception("WebSocket server connection failed")
        finally:
            await transport.close()

    async def serve_socket(client: socket.socket) -> None:
        try:
            client.setblocking(False)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            stream = await anyio.abc.SocketStream.from_socket(client)
        except BaseException:
            client.close()
            raise
        await serve_one(stream)

    async def accept_all(raw: socket.socket, task_group: anyio.abc.TaskGroup) -> None:
        # Every connection waiting in the backlog at once (as asyncio's own servers do), not one per pass of the
        # event loop (anyio's listener.serve): a server busy with many sessions still takes new ones quickly.
        while True:
            await anyio.wait_readable(raw)
            for _ in range(_ACCEPT_BATCH):
                try:
                    client, _address = raw.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:  # out of file descriptors, say: tell, and let the backlog wait
                    logger.warning("accepting a connection failed: %s", exc)
                    await anyio.sleep(_ACCEPT_RETRY)
                    break
                task_group.start_soon(serve_socket, client)
            await anyio.lowlevel.checkpoint()

    async with listener, anyio.create_task_group() as task_group:
        try:
            raw: socket.socket | None = listener.extra(anyio.abc.SocketAttribute.raw_socket)
        except anyio.TypedAttributeLookupError:  # several sockets (a host name with IPv4 and IPv6 addresses)
            raw = None
        if raw is None:
            task_group.start_soon(listener.serve, serve_one)
        else:
            task_group.start_soon(accept_all, raw, task_group)
        try:
            yield bound_port
        finally:
            task_group.cancel_scope.cancel()
