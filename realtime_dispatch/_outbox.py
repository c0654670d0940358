"""The send side of an app's session: the current transport, and the sends that wait for one.

Owned by the session runner, which opens and attaches transports; ``Connection`` sends
through it; the tool runner takes back its own waiting sends when their session is gone.
It hears the lifecycle (``SessionListener``): a lost connection keeps the waiting sends for
the next one, a session that ends for good fails them with ``NotConnected``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from ._lifecycle import Lifecycle, NotConnected, Outcome, SessionListener
from .events import ClientEvent, encode
from .transports import Transport, TransportClosed

__all__ = ("Outbox", "SendTimeout")

logger = logging.getLogger("realtime_dispatch.connection")

# Closing a connection a send timed out on: how long the close may take in the app's task group
# (the caller does not wait for it), and in the caller's task when there is no app.
_STUCK_CLOSE_GRACE = 0.5
_STUCK_CLOSE_INLINE = 0.05


class SendTimeout(TimeoutError):
    """A send did not complete within ``send_timeout``: the connection was closed (and is
    reopened if the app reconnects); the event was not delivered, or not completely."""


class _Pending:
    """A send waiting for the connection to come back."""

    __slots__ = ("detached", "done", "error", "event")

    def __init__(self, event: ClientEvent) -> None:
        self.event = event
        self.done = anyio.Event()
        self.error: BaseException | None = None
        self.detached = False  # nobody waits for it: a failure must be logged


class Outbox(SessionListener):
    """Where client events go: straight out while a session is ready, else into a bounded queue
    that the next connection sends first (after its session), in order."""

    def __init__(
        self,
        lifecycle: Lifecycle,
        *,
        max_pending: int = 0,
        send_timeout: float | None = None,
        in_loop: Callable[[], bool] = lambda: False,
    ) -> None:
        self._lifecycle = lifecycle
        self._transport: Transport | None = None
        self._ready = False  # sends go straight out (else they wait, or fail)
        self._expecting = False  # a connection is being (re)opened: sends may wait for it
        self._max_pending = max_pending  # sends that may wait for the connection; 0 = fail at once
        self._pending: deque[_Pending] = deque()
        self._priority: int | None = None  # the task sending the session replay: it goes ahead of waiting events
        self._send_timeout = send_timeout
        self._in_loop = in_loop  # the receive loop's task: it must not wait for a reconnect it would run
        self._spawn: Callable[..., None] | None = None  # where to close a stuck transport, not in the sender's time
        self.dropped_sends = 0  # events that waited for a reconnect and failed with NotConnected
        lifecycle.listen(self)

    def run_in(self, spawn: Callable[..., None]) -> None:
        """Close stuck transports with ``spawn(fn, *args)`` (the app's task group)."""
        self._spawn = spawn

    @property
    def transport(self) -> Transport | None:
        return self._transport

    @property
    def ready(self) -> bool:
        """Sends go straight out: the connection is open and its session is set up."""
        return self._ready

    @property
    def waiting(self) -> int:
        """Sends waiting for the connection."""
        return len(self._pending)

    def waiting_ids(self) -> set[str | None]:
        return {pending.event.event_id for pending in self._pending}

    # --- sending ----------------------------------------------------------------------------

    async def send(self, event: ClientEvent) -> None:
        priority = self._priority is not None and self._priority == anyio.get_current_task().id
        if priority or (self._ready and not self._pending):  # else keep order behind waiting events
            transport = self._transport
            if transport is None:
                if priority:  # the session replay, and close() took the transport: this connection is over
                    raise TransportClosed(1000, "closed by the client")
                raise NotConnected("not connected")
            try:
                await self.write(transport, encode(event))
                return
            except TransportClosed:
                if priority:
                    raise
                self._ready = False  # lost: the app reconnects and sends it, or fails it
        await self._wait_ready(event)

    async def send_raw(self, data: bytes) -> None:
        if self._transport is None:
            raise NotConnected("not connected")
        await self._transport.send(data)

    async def write(self, transport: Transport, data: bytes) -> None:
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
            self._lifecycle.cut()  # closed by us, but not on purpose: the app should reconnect
            if self._spawn is not None:  # in an app: close in its task group, the caller hears it now
                self._spawn(_close_stuck, transport, _STUCK_CLOSE_GRACE)
            else:  # no task group to close in: a short close (the transports close the socket if cut short)
                await _close_stuck(transport, _STUCK_CLOSE_INLINE)
            raise SendTimeout(f"the connection did not take a {len(data)}-byte frame in {self._send_timeout:g} s")

    async def _wait_ready(self, event: ClientEvent) -> None:
        if self._lifecycle.closing or not (self._expecting or self._transport is not None):
            raise NotConnected("not connected")
        if len(self._pending) >= self._max_pending:
            self.dropped_sends += 1
            raise NotConnected(f"not connected, and {len(self._pending)} sends already wait for the connection")
        pending = _Pending(event)
        self._pending.append(pending)
        if self._in_loop():
            # An inline handler or a lifespan hook: the reconnect that sends this event can only start
            # once we return. Leave it queued: sent after the session, or reported if it never can be.
            pending.detached = True
            return
        await pending.done.wait()
        if pending.error is not None:
            raise pending.error

    def withdraw(self, match: Callable[[ClientEvent], bool], reason: str) -> None:
        """Take back the waiting sends ``match`` picks: their senders get ``NotConnected(reason)``."""
        for waiting in [p for p in self._pending if match(p.event)]:
            self._pending.remove(waiting)
            waiting.error = NotConnected(reason)
            waiting.done.set()

    # --- (re)connects, driven by the session runner ------------------------------------------

    def attach_now(self, transport: Transport) -> None:
        """Use ``transport`` as it is (a bare connection: no session to send first)."""
        self._transport = transport
        self._ready = True
        self._expecting = False

    def opening(self, transport: Transport) -> None:
        """The transport is open but the session is not sent yet: sends wait (``close`` works)."""
        self._transport = transport
        self._ready = False
        self._expecting = True

    async def attach(
        self,
        transport: Transport,
        first: Sequence[ClientEvent],
        send: Callable[[Any], Awaitable[Any]],
        then: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Use a new transport: ``send`` ``first`` (the session and history replay) ahead of
        everything, await ``then()`` (a handshake: the server's answer to the session), then
        send what waited, in order."""
        self._transport = transport
        self._expecting = True
        if first:
            self._priority = anyio.get_current_task().id  # that task only: other tasks' sends keep their place
            try:
                for event in first:
                    await send(event)
            except SendTimeout as exc:  # a lost connection for the app: it reconnects and sends the session again
                raise TransportClosed(1006, str(exc)) from exc
            finally:
                self._priority = None
        if then is not None:
            await then()
        while self._pending:
            pending = self._pending[0]
            try:
                await self.write(transport, encode(pending.event))
            except BaseException as exc:
                # This event may be partly on the wire: it fails (its sender decides whether to resend),
                # the ones behind it keep their place for the next connection.
                error = exc if isinstance(exc, Exception) else NotConnected("the connection closed while sending this")
                self._settle(pending, error)
                if isinstance(exc, SendTimeout):  # a lost connection for the app: it reconnects
                    raise TransportClosed(1006, str(exc)) from exc
                raise
            self._settle(pending, None)
        if self._lifecycle.closing:
            return
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

    async def drop_transport(self) -> None:
        """Close the current transport without ending the session: the runner reopens it."""
        transport = self._transport
        if transport is not None:
            with anyio.CancelScope(shield=True):
                await transport.aclose()

    async def close(self) -> None:
        """Close the current transport for good (the lifecycle is already closing: waiting sends
        were failed in ``session_closing``)."""
        transport, self._transport = self._transport, None
        if transport is not None:
            await transport.aclose()

    # --- the lifecycle ----------------------------------------------------------------------------

    def session_closing(self) -> None:
        self._detach(reconnecting=False, reason="the connection was closed")

    def session_ended(self, outcome: Outcome | None) -> None:
        if outcome is None:
            self._detach(reconnecting=True)
        else:
            reason = "the connection was closed" if outcome.normal else f"the session ended ({outcome})"
            self._detach(reconnecting=False, reason=reason)
            self._transport = None

    def _detach(self, *, reconnecting: bool, reason: str = "") -> None:
        self._ready = False
        if reconnecting:
            self._transport = None
            self._expecting = not self._lifecycle.closing
            return
        self._expecting = False
        self._fail_pending(NotConnected(f"{reason} before this event could be sent"))

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


async def _close_stuck(transport: Transport, grace: float) -> None:
    """Close a transport a send timed out on, ``grace`` seconds at most."""
    with anyio.move_on_after(grace, shield=True):
        try:
            await transport.aclose()
        except Exception as exc:  # it is being discarded: a failing close changes nothing
            logger.debug("closing the stuck connection failed: %r", exc)
