"""The live connection handlers talk to: send client events, wait for server events."""

from __future__ import annotations

import itertools
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

import anyio

from ._dispatch import matcher
from ._middleware import Middleware, compose
from ._replies import ServerError, reply_matcher
from ._sequencer import ResponseSequencer, SequencerPolicy
from ._trace import describe, trace_logger
from .events import (
    ClientEvent,
    ConversationItem,
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    DecodeError,
    ErrorEvent,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    OutputAudioBufferClear,
    ResponseCancel,
    ResponseCreate,
    ResponseParams,
    ServerEvent,
    Session,
    SessionUpdate,
    decode,
    encode,
)
from .transports import Transport, TransportClosed

if TYPE_CHECKING:
    from ._dispatch import Dispatcher, Waiter

__all__ = ("Connection", "Expected", "NotConnected", "OutboundMiddleware", "SendTimeout")

logger = logging.getLogger("realtime_dispatch.connection")

OutboundMiddleware = Middleware[ClientEvent]

# Closing a connection a send timed out on: how long the close may take in the app's task group
# (the caller does not wait for it), and in the caller's task when there is no app.
_STUCK_CLOSE_GRACE = 0.5
_STUCK_CLOSE_INLINE = 0.05


class SendTimeout(TimeoutError):
    """A send did not complete within ``send_timeout``: the connection was closed (and is
    reopened if the app reconnects); the event was not delivered, or not completely."""


class NotConnected(RuntimeError):
    """There is no open transport to send on (and no reconnect to wait for)."""


class _Pending:
    """A send waiting for the connection to come back."""

    __slots__ = ("detached", "done", "error", "event")

    def __init__(self, event: ClientEvent) -> None:
        self.event = event
        self.done = anyio.Event()
        self.error: BaseException | None = None
        self.detached = False  # nobody waits for it: a failure must be logged


_E = TypeVar("_E", bound=ServerEvent)


class Expected(Generic[_E]):
    """An event being watched for (``Connection.expect``); typed by the class it was given."""

    def __init__(self, dispatcher: Dispatcher, waiter: Waiter) -> None:
        self._dispatcher = dispatcher
        self._waiter = waiter

    @property
    def event(self) -> _E | None:
        """The matching event once it has arrived, else None."""
        return cast("_E | None", self._waiter.event)

    async def wait(self, timeout: float | None = None) -> _E:
        """The matching event (at once if it already arrived); ``TimeoutError`` after ``timeout`` s."""
        return cast("_E", await self._dispatcher.wait(self._waiter, timeout))

    def cancel(self) -> None:
        """Stop watching."""
        self._dispatcher.discard(self._waiter)


class Connection:
    """One Realtime session as seen from your code.

    Inside an app, handlers receive it by annotating a parameter ``Connection``. Used on
    its own (``async with Connection(transport) as conn``), ``async for event in conn``
    yields typed events: the low-level style, for code that wants its own loop.
    """

    def __init__(
        self,
        transport: Transport | None = None,
        *,
        middleware: list[OutboundMiddleware] | None = None,
        max_pending: int = 0,
        response_policy: SequencerPolicy = "wait",
        send_timeout: float | None = None,
    ) -> None:
        self._transport = transport
        self._ready = transport is not None  # sends go straight out (else they wait, or fail)
        self._expecting = False  # the app is (re)opening the connection: sends may wait for it
        self._closing = False  # close() was asked for: do not reconnect
        self._close_requested: anyio.Event | None = None
        self._max_pending = max_pending  # sends that may wait for the connection; 0 = fail at once
        self._pending: deque[_Pending] = deque()
        self._priority: int | None = None  # the task sending the session replay: it goes ahead of waiting events
        self._dispatcher: Dispatcher | None = None
        self._iterating = False
        # Cheap unique ids: a random per-connection stem plus a counter.
        self._id_stem = "evt_" + secrets.token_hex(5) + "_"
        self._ids = itertools.count(1)
        self._send_chain = compose(middleware or [], self._send_now)
        self._sequencer = ResponseSequencer(response_policy)
        self._send_timeout = send_timeout
        self._broken = False  # the app must reopen the connection whatever its close code said
        self._fatal: ServerEvent | None = None  # a server error that makes reconnecting pointless
        self.dropped_sends = 0  # events that waited for a reconnect and failed with NotConnected

    def __repr__(self) -> str:
        state = "open" if self._transport is not None else "closed"
        return f"<Connection {state}>"

    @property
    def connected(self) -> bool:
        """A transport is open (events may still wait for the session to be sent)."""
        return self._transport is not None

    @property
    def closing(self) -> bool:
        """``close()`` was called: the connection ends and will not be reopened."""
        return self._closing

    # --- sending ----------------------------------------------------------------------------

    async def send(self, event: ClientEvent) -> str:
        """Send a client event through the outbound middleware; returns its ``event_id``.

        An event without ``event_id`` gets one here, so a server ``error`` about it can be
        traced back (``error.event_id``).
        """
        if event.event_id is None:
            event.event_id = f"{self._id_stem}{next(self._ids)}"
        if trace_logger.isEnabledFor(logging.DEBUG):
            trace_logger.debug("sending %s", describe(event))
        if type(event) is ResponseCreate and self._dispatcher is not None:
            await self._sequencer.before_create(event)
            try:
                await self._send_chain(event)
            except BaseException:
                self._sequencer.observe_failed_send(event.event_id)
                raise
            return event.event_id
        await self._send_chain(event)
        return event.event_id

    async def request(self, event: ClientEvent, *, timeout: float | None = 30.0) -> ServerEvent:
        """Send ``event`` and wait for the server's answer to it.

        Returns the reply (``session.updated`` for ``session.update``, ``conversation.item.created``
        or ``.added`` for an item create, ``conversation.item.truncated`` for a truncate,
        ``response.created`` for ``response.create``, ...). Raises ``ServerError`` when the server
        answers with an ``error`` naming this event's ``event_id``, and ``TimeoutError`` after
        ``timeout`` seconds. ``input_audio_buffer.append`` has no answer: use ``send``.
        For background handlers and code outside the app (an inline handler holds the receive loop).
        """
        if self._dispatcher is None:
            raise RuntimeError("request() needs a running app")
        is_reply = reply_matcher(event)
        if event.event_id is None:
            event.event_id = f"{self._id_stem}{next(self._ids)}"
        event_id = event.event_id

        def match(reply: ServerEvent) -> bool:
            if isinstance(reply, ErrorEvent):
                return reply.error.event_id == event_id
            return is_reply(reply)

        waiter = self._dispatcher.expect(match)
        try:
            await self.send(event)
            reply = await self._dispatcher.wait(waiter, timeout)
        finally:
            self._dispatcher.discard(waiter)
        if isinstance(reply, ErrorEvent):
            raise ServerError(reply.error)
        return reply

    # --- typed senders: one per client event; each returns the event_id ------------------------

    async def update_session(self, session: Session) -> str:
        """``session.update``: change the fields present in ``session``."""
        return await self.send(SessionUpdate(session=session))

    async def append_audio(self, pcm: bytes | bytearray | memoryview) -> str:
        """``input_audio_buffer.append`` from raw audio (PCM16 24 kHz mono unless configured)."""
        return await self.send(InputAudioBufferAppend.from_pcm(pcm))

    async def commit_audio(self) -> str:
        """``input_audio_buffer.commit`` (not needed with server VAD)."""
        return await self.send(InputAudioBufferCommit())

    async def clear_audio(self) -> str:
        """``input_audio_buffer.clear``."""
        return await self.send(InputAudioBufferClear())

    async def clear_output_audio(self) -> str:
        """``output_audio_buffer.clear`` (WebRTC/SIP: stop what the server is playing)."""
        return await self.send(OutputAudioBufferClear())

    async def create_item(self, item: ConversationItem, *, previous_item_id: str | None = None) -> str:
        """``conversation.item.create``; ``previous_item_id="root"`` inserts at the start."""
        return await self.send(ConversationItemCreate(item=item, previous_item_id=previous_item_id))

    async def retrieve_item(self, item_id: str) -> str:
        """``conversation.item.retrieve`` (the reply carries the item's audio)."""
        return await self.send(ConversationItemRetrieve(item_id=item_id))

    async def truncate_item(self, item_id: str, audio_end_ms: int, *, content_index: int = 0) -> str:
        """``conversation.item.truncate``: cut an assistant item's audio at ``audio_end_ms``."""
        return await self.send(
            ConversationItemTruncate(item_id=item_id, content_index=content_index, audio_end_ms=audio_end_ms)
        )

    async def delete_item(self, item_id: str) -> str:
        """``conversation.item.delete``."""
        return await self.send(ConversationItemDelete(item_id=item_id))

    async def create_response(self, response: ResponseParams | None = None) -> str:
        """``response.create``, through the response sequencer (at most one at a time)."""
        return await self.send(ResponseCreate(response=response))

    async def cancel_response(self, response_id: str | None = None) -> str:
        """``response.cancel`` (default: the response in progress)."""
        return await self.send(ResponseCancel(response_id=response_id))

    async def send_raw(self, data: bytes | str) -> None:
        """Send a frame as is, bypassing encoding and middleware."""
        await self._transport_or_raise().send(data.encode() if isinstance(data, str) else data)

    async def _send_now(self, event: ClientEvent) -> None:
        priority = self._priority is not None and self._priority == anyio.get_current_task().id
        if priority or (self._ready and not self._pending):  # else keep order behind waiting events
            transport = self._transport_or_raise()
            try:
                await self._write(transport, encode(event))
                return
            except TransportClosed:
                if priority:
                    raise
                self._ready = False  # lost: the app reconnects and sends it, or fails it
        await self._wait_ready(event)

    async def _write(self, transport: Transport, data: bytes) -> None:
        """Send, blocking while the socket drains; with ``send_timeout``, give up on a stuck one."""
        if self._send_timeout is None:
            await transport.send(data)
            return
        with anyio.move_on_after(self._send_timeout) as scope:
            await transport.send(data)
        if scope.cancelled_caught:
            # Part of a frame may be on the wire: the connection cannot be used any more. Closing
            # it lets the app reconnect; this event fails, the caller decides whether to resend.
            self._ready = False
            self._broken = True  # closed by us, but not on purpose: the app should reconnect
            dispatcher = self._dispatcher
            if dispatcher is not None:  # in an app: close in its task group, the caller hears it now
                dispatcher._task_group.start_soon(self._close_stuck, transport, _STUCK_CLOSE_GRACE)
            else:  # no task group to close in: a short close (the transports close the socket if cut short)
                await self._close_stuck(transport, _STUCK_CLOSE_INLINE)
            raise SendTimeout(f"the connection did not take a {len(data)}-byte frame in {self._send_timeout:g} s")

    @staticmethod
    async def _close_stuck(transport: Transport, grace: float) -> None:
        """Close a transport a send timed out on, ``grace`` seconds at most."""
        with anyio.move_on_after(grace, shield=True):
            try:
                await transport.aclose()
            except Exception as exc:  # it is being discarded: a failing close changes nothing
                logger.debug("closing the stuck connection failed: %r", exc)

    async def _drop_transport(self) -> None:
        """Close the current transport without closing the connection: the app reopens it."""
        transport = self._transport
        if transport is not None:
            with anyio.CancelScope(shield=True):
                await transport.aclose()

    async def _wait_ready(self, event: ClientEvent) -> None:
        if self._closing or not (self._expecting or self._transport is not None):
            raise NotConnected("not connected")
        if len(self._pending) >= self._max_pending:
            self.dropped_sends += 1
            raise NotConnected(f"not connected, and {len(self._pending)} sends already wait for the connection")
        pending = _Pending(event)
        self._pending.append(pending)
        dispatcher = self._dispatcher
        if dispatcher is not None and dispatcher._loop_task == anyio.get_current_task().id:
            # An inline handler or a lifespan hook: the reconnect that sends this event can only start
            # once we return. Leave it queued: sent after the session, or reported if it never can be.
            pending.detached = True
            return
        await pending.done.wait()
        if pending.error is not None:
            raise pending.error

    def _transport_or_raise(self) -> Transport:
        if self._transport is None:
            raise NotConnected("not connected")
        return self._transport

    # --- (re)connects, driven by the app -----------------------------------------------------

    def _opening(self, transport: Transport) -> None:
        """The transport is open but the session is not sent yet: sends wait (``close`` works)."""
        self._transport = transport
        self._ready = False
        self._expecting = True

    def _detach(self, *, reconnecting: bool) -> None:
        self._transport = None
        self._ready = False
        self._expecting = reconnecting and not self._closing
        if not self._expecting:
            self._fail_pending(NotConnected("the connection closed before this event could be sent"))

    async def _attach(self, transport: Transport, first: Sequence[ClientEvent] = ()) -> None:
        """Use a new transport: send ``first`` (the session and history replay), then what
        waited, in order."""
        self._transport = transport
        self._expecting = True
        self._sequencer.reset({pending.event.event_id for pending in self._pending})
        if first:
            self._priority = anyio.get_current_task().id  # that task only: other tasks' sends keep their place
            try:
                for event in first:
                    await self.send(event)
            except SendTimeout as exc:  # a lost connection for the app: it reconnects and sends the session again
                raise TransportClosed(1006, str(exc)) from exc
            finally:
                self._priority = None
        while self._pending:
            pending = self._pending[0]
            try:
                await self._write(transport, encode(pending.event))
            except BaseException as exc:
                # This event may be partly on the wire: it fails (its sender decides whether to resend),
                # the ones behind it keep their place for the next connection.
                error = exc if isinstance(exc, Exception) else NotConnected("the connection closed while sending this")
                self._settle(pending, error)
                if isinstance(exc, SendTimeout):  # a lost connection for the app: it reconnects
                    raise TransportClosed(1006, str(exc)) from exc
                raise
            self._settle(pending, None)
        self._ready = True
        self._expecting = False

    def _settle(self, pending: _Pending, error: BaseException | None) -> None:
        """A waiting send was written (``error`` None) or failed: take it off the queue, tell its sender."""
        if self._pending and self._pending[0] is pending:
            self._pending.popleft()
        if pending.done.is_set():  # already failed (close() while it was being written)
            return
        pending.error = error
        if error is not None and pending.detached:
            logger.warning(
                "%s sent from the receive loop while disconnected was not sent: %s", pending.event.type, error
            )
        pending.done.set()

    async def _sleep_unless_closed(self, delay: float) -> None:
        """Sleep ``delay`` seconds, or less if ``close()`` is called meanwhile."""
        if self._close_requested is None:
            self._close_requested = anyio.Event()
        with anyio.move_on_after(delay):
            await self._close_requested.wait()

    def _withdraw(self, match: Callable[[ClientEvent], bool], reason: str) -> None:
        """Take back the waiting sends ``match`` picks: their senders get ``NotConnected(reason)``."""
        for waiting in [p for p in self._pending if match(p.event)]:
            self._pending.remove(waiting)
            waiting.error = NotConnected(reason)
            waiting.done.set()

    def _fail_pending(self, error: BaseException) -> None:
        while self._pending:
            self.dropped_sends += 1
            pending = self._pending.popleft()
            pending.error = error
            if pending.detached:
                logger.warning(
                    "%s sent from the receive loop while disconnected was never sent: %s", pending.event.type, error
                )
            pending.done.set()

    # --- receiving ----------------------------------------------------------------------------

    @overload
    async def wait_for(
        self, key: type[_E], predicate: Callable[[_E], object] | None = None, *, timeout: float | None = None
    ) -> _E: ...
    @overload
    async def wait_for(
        self, key: str, predicate: Callable[[Any], object] | None = None, *, timeout: float | None = None
    ) -> ServerEvent: ...
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

    @overload
    def expect(self, key: type[_E], predicate: Callable[[_E], object] | None = None) -> Expected[_E]: ...
    @overload
    def expect(self, key: str, predicate: Callable[[Any], object] | None = None) -> Expected[ServerEvent]: ...
    def expect(self, key: str | type[ServerEvent], predicate: Callable[[Any], object] | None = None) -> Expected[Any]:
        """Start watching for the next event matching ``key`` (and ``predicate``) now, before
        sending what causes it, so a fast answer cannot slip by; ``await expected.wait()`` later::

            done = conn.expect("response.done")
            await conn.create_response()
            event = await done.wait(timeout=30)

        Registering is allowed anywhere; waiting, like ``wait_for``, not from an inline handler.
        """
        if self._dispatcher is None:
            raise RuntimeError("expect() needs a running app; with a bare Connection, iterate over it")
        return Expected(self._dispatcher, self._dispatcher.expect(matcher(key, predicate), check=False))

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
        """Close the connection for good: an app's receive loop ends, no reconnect follows,
        and sends still waiting for a reconnect fail with ``NotConnected``."""
        self._closing = True
        self._ready = False
        self._expecting = False
        if self._dispatcher is not None:
            self._dispatcher._busy = None  # the close handshake may take a while: not the handler's slowness
        if self._close_requested is not None:
            self._close_requested.set()
        self._fail_pending(NotConnected("the connection was closed"))
        transport, self._transport = self._transport, None
        if transport is not None:
            await transport.aclose()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
