"""The live connection handlers talk to: send client events, wait for server events."""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar, cast, overload

from ._handlers import Inject
from ._lifecycle import Lifecycle, NotConnected, Outcome, SessionState
from ._middleware import Middleware, compose
from ._outbox import Outbox, SendTimeout
from ._protocol import Api, protocol
from ._redact import shown_frame
from ._replies import ServerError, names_event, reply_matcher
from ._router import matcher
from ._sequencer import ResponseSequencer, SequencerPolicy
from ._trace import describe, trace_logger
from ._waiters import Waiter, Waiters
from .events import (
    ClientEvent,
    ConversationItem,
    ConversationItemAdded,
    ConversationItemCreate,
    ConversationItemCreated,
    ConversationItemDelete,
    ConversationItemDeleted,
    ConversationItemRetrieve,
    ConversationItemRetrieved,
    ConversationItemTruncate,
    ConversationItemTruncated,
    DecodeError,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCleared,
    InputAudioBufferCommit,
    InputAudioBufferCommitted,
    OutputAudioBufferClear,
    OutputAudioBufferCleared,
    ResponseCancel,
    ResponseCreate,
    ResponseCreated,
    ResponseDone,
    ResponseParams,
    ServerEvent,
    Session,
    SessionUpdate,
    SessionUpdated,
    TranscriptionSessionUpdate,
    TranscriptionSessionUpdated,
)
from .transports import Transport, TransportClosed

if TYPE_CHECKING:
    from ._keys import ExpectEvent, WaitFor

__all__ = (
    "BaseConnection",
    "Connection",
    "Expected",
    "NotConnected",
    "OutboundMiddleware",
    "SendTimeout",
    "SessionParts",
)

logger = logging.getLogger("realtime_dispatch.connection")

OutboundMiddleware = Middleware[ClientEvent]


_E = TypeVar("_E", bound=ServerEvent)


@dataclass(frozen=True, slots=True)
class SessionParts:
    """What an app's connection is built on (internal): the lifecycle that owns its state, the
    outbox its sends go through, and, in an app, the response sequencer and the waiters."""

    lifecycle: Lifecycle
    outbox: Outbox
    sequencer: ResponseSequencer | None
    waiters: Waiters | None
    # Run by close() first (a protocol's goodbye); True: it finishes the close in the background.
    farewell: list[Callable[[], Awaitable[bool]]] = field(default_factory=list)


class Expected(Generic[_E]):
    """An event being watched for (``Connection.expect``); typed by the class it was given."""

    def __init__(self, waiters: Waiters, waiter: Waiter) -> None:
        self._waiters = waiters
        self._waiter = waiter

    @property
    def event(self) -> _E | None:
        """The matching event once it has arrived, else None."""
        return cast("_E | None", self._waiter.event)

    async def wait(self, timeout: float | None = None) -> _E:
        """The matching event (at once if it already arrived); ``TimeoutError`` after ``timeout`` s."""
        return cast("_E", await self._waiters.wait(self._waiter, timeout))

    def cancel(self) -> None:
        """Stop watching."""
        self._waiters.discard(self._waiter)


class BaseConnection:
    """What every protocol's connection does: send client events, wait for server events,
    report where the session stands, close. ``Connection`` (Realtime), ``LiveConnection`` and
    ``TranslationConnection`` add a typed sender per client event of their protocol.

    Inside an app, handlers receive the app's connection by annotating a parameter with its
    class. Used on its own (``async with Connection(transport) as conn``), ``async for event in
    conn`` yields typed events: the low-level style, for code that wants its own loop.
    """

    __realtime_injected_as__ = Inject.CONNECTION  # a handler parameter annotated Connection receives it
    api: ClassVar[Api] = "ga"  # the protocol this connection speaks (what it decodes when iterated)

    def __init__(
        self,
        transport: Transport | None = None,
        *,
        middleware: list[OutboundMiddleware] | None = None,
        max_pending: int = 0,
        response_policy: SequencerPolicy = "wait",
        send_timeout: float | None = None,
        parts: SessionParts | None = None,
    ) -> None:
        session = parts
        if session is None:  # used on its own: one transport, no reconnect, no app
            lifecycle = Lifecycle(None, can_reconnect=False)
            outbox = Outbox(lifecycle, max_pending=max_pending, send_timeout=send_timeout)
            if transport is not None:
                outbox.opening(transport)
                lifecycle.opened(0.0)
                outbox.attach_now(transport)
            session = SessionParts(lifecycle, outbox, None, None)
        self._lifecycle = session.lifecycle
        self._farewell = session.farewell
        self._outbox = session.outbox
        self._sequencer = session.sequencer  # only in an app: a bare connection sends creates as they come
        self._waiters = session.waiters
        self._iterating = False
        # Cheap unique ids: a random per-connection stem plus a counter.
        self._id_stem = "evt_" + secrets.token_hex(5) + "_"
        self._ids = itertools.count(1)
        self._send_chain = compose(middleware or [], self._outbox.send)

    def __repr__(self) -> str:
        return f"<Connection {self._lifecycle.state.value}>"

    @property
    def connected(self) -> bool:
        """A transport is open (events may still wait for the session to be sent)."""
        return self._outbox.transport is not None

    @property
    def closing(self) -> bool:
        """``close()`` was called (or the session ended): the connection will not be reopened."""
        return self._lifecycle.closing

    @property
    def state(self) -> SessionState:
        """Where the session stands: connecting, open, reconnecting, closing or closed."""
        return self._lifecycle.state

    @property
    def outcome(self) -> Outcome | None:
        """Why the session ended, once it has (``Outcome``); None until then."""
        return self._lifecycle.outcome

    @property
    def pending_sends(self) -> int:
        """Events waiting for a reconnect to be sent."""
        return self._outbox.waiting

    @property
    def dropped_sends(self) -> int:
        """Events that waited for a reconnect and failed with ``NotConnected``."""
        return self._outbox.dropped_sends

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
        if type(event) is ResponseCreate and self._sequencer is not None:
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
        waiters = self._waiters
        if waiters is None:
            raise RuntimeError("request() needs a running app")
        is_reply = reply_matcher(event, protocol(self.api).acks)
        if event.event_id is None:
            event.event_id = f"{self._id_stem}{next(self._ids)}"
        event_id = event.event_id

        def match(reply: ServerEvent) -> bool:
            if reply.type == "error":
                return names_event(reply, event_id)
            return is_reply(reply)

        waiter = waiters.expect(match)
        try:
            await self.send(event)
            reply = await waiters.wait(waiter, timeout)
        finally:
            waiters.discard(waiter)
        if reply.type == "error":
            raise ServerError(reply.error)  # type: ignore[attr-defined]  # every protocol's error has one
        return reply

    async def send_raw(self, data: bytes | str) -> None:
        """Send a frame as is, bypassing encoding and middleware."""
        await self._outbox.send_raw(data.encode() if isinstance(data, str) else data)

    # --- receiving ----------------------------------------------------------------------------

    async def _wait_for(
        self,
        key: str | type[ServerEvent],
        predicate: Callable[[Any], object] | None = None,
        *,
        timeout: float | None = None,
    ) -> ServerEvent:
        """Wait for the next event matching ``key`` (and ``predicate``), without polling.

        ``key``: an event name, a wildcard (``"response.*"``) or an event class; the result is
        typed by it (``wait_for("response.done")`` is a ``ResponseDone``). For handlers running
        in the background (an inline handler holds the receive loop, so the event could never
        arrive: that raises ``RuntimeError``). Raises ``TimeoutError`` after ``timeout`` seconds.
        """
        if self._waiters is None:
            raise RuntimeError("wait_for() needs a running app; with a bare Connection, iterate over it")
        return await self._waiters.wait(self._waiters.expect(matcher(key, predicate)), timeout)

    def _expect(self, key: str | type[ServerEvent], predicate: Callable[[Any], object] | None = None) -> Expected[Any]:
        """Start watching for the next event matching ``key`` (and ``predicate``) now, before
        sending what causes it, so a fast answer cannot slip by; ``await expected.wait()`` later::

            done = conn.expect("response.done")
            await conn.create_response()
            event = await done.wait(timeout=30)

        The ``Expected`` is typed by ``key``, like ``wait_for``. Registering is allowed anywhere;
        waiting, like ``wait_for``, not from an inline handler.
        """
        if self._waiters is None:
            raise RuntimeError("expect() needs a running app; with a bare Connection, iterate over it")
        return Expected(self._waiters, self._waiters.expect(matcher(key, predicate), check=False))

    # Typed by generated overloads (realtime_dispatch/_keys.py): one per event name and wildcard,
    # and one for an event class. No overload takes a plain str, so a misspelt name is a type
    # error; a name known only at run time goes through its class, events.SERVER_EVENTS[name].
    if TYPE_CHECKING:
        wait_for: WaitFor
        expect: ExpectEvent
    else:
        wait_for = _wait_for
        expect = _expect
        wait_for.__name__, wait_for.__qualname__ = "wait_for", "Connection.wait_for"
        expect.__name__, expect.__qualname__ = "expect", "Connection.expect"

    def __aiter__(self) -> AsyncIterator[ServerEvent]:
        if self._waiters is not None:
            raise RuntimeError("this connection is driven by an app: route events with @on(...) instead")
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ServerEvent]:
        if self._iterating:
            raise RuntimeError("this connection is already being iterated")
        self._iterating = True
        try:
            transport = self._outbox.transport
            if transport is None:
                raise NotConnected("not connected")
            decode_frame = protocol(self.api).decode
            while True:
                try:
                    frame = await transport.receive()
                except TransportClosed:
                    return
                try:
                    yield decode_frame(frame)
                except DecodeError as exc:
                    logger.warning("dropped a frame that does not decode: %s (frame: %s)", exc, shown_frame(exc.raw))
        finally:
            self._iterating = False

    # --- lifecycle ---------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the connection for good: an app's receive loop ends (a handler already running
        finishes; nothing buffered is dispatched after this), no reconnect follows, and sends
        and waits still pending fail with ``NotConnected``.

        GPT-Live and Translation sessions are first asked to end (``session.close``, once a session
        still starting has started): events keep being dispatched until the server's
        ``session.closed`` (the rest of the output; it is ``outcome.final``), 15 s at most in all.
        Called from an inline handler, which holds the loop that would receive it, the request is
        sent and the rest happens in the background. A sideband only detaches."""
        if self._farewell and self._lifecycle.state in (SessionState.CONNECTING, SessionState.OPEN):
            for farewell in self._farewell:
                if await farewell():
                    return
        self._lifecycle.close()
        await self._outbox.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class Connection(BaseConnection):
    """One Realtime API session as seen from your code (GA or beta): ``BaseConnection`` plus a
    typed sender per Realtime client event.

    Inside an app, handlers receive it by annotating a parameter ``Connection``. Used on
    its own (``async with Connection(transport) as conn``), ``async for event in conn``
    yields typed events: the low-level style, for code that wants its own loop.
    """

    # The reply each client event gets (see ``_replies.reply_matcher``; tests/test_typing.py
    # checks the two agree). An ``error`` about the event is raised as ``ServerError``.
    @overload
    async def request(
        self, event: SessionUpdate, *, timeout: float | None = ...
    ) -> SessionUpdated | TranscriptionSessionUpdated: ...
    @overload
    async def request(
        self, event: TranscriptionSessionUpdate, *, timeout: float | None = ...
    ) -> TranscriptionSessionUpdated: ...
    @overload
    async def request(
        self, event: InputAudioBufferCommit, *, timeout: float | None = ...
    ) -> InputAudioBufferCommitted: ...
    @overload
    async def request(
        self, event: InputAudioBufferClear, *, timeout: float | None = ...
    ) -> InputAudioBufferCleared: ...
    @overload
    async def request(
        self, event: OutputAudioBufferClear, *, timeout: float | None = ...
    ) -> OutputAudioBufferCleared: ...
    @overload
    async def request(
        self, event: ConversationItemCreate, *, timeout: float | None = ...
    ) -> ConversationItemCreated | ConversationItemAdded: ...
    @overload
    async def request(
        self, event: ConversationItemRetrieve, *, timeout: float | None = ...
    ) -> ConversationItemRetrieved: ...
    @overload
    async def request(
        self, event: ConversationItemTruncate, *, timeout: float | None = ...
    ) -> ConversationItemTruncated: ...
    @overload
    async def request(
        self, event: ConversationItemDelete, *, timeout: float | None = ...
    ) -> ConversationItemDeleted: ...
    @overload
    async def request(self, event: ResponseCreate, *, timeout: float | None = ...) -> ResponseCreated: ...
    @overload
    async def request(self, event: ResponseCancel, *, timeout: float | None = ...) -> ResponseDone: ...
    @overload
    async def request(self, event: ClientEvent, *, timeout: float | None = ...) -> ServerEvent: ...
    async def request(self, event: ClientEvent, *, timeout: float | None = 30.0) -> ServerEvent:
        return await super().request(event, timeout=timeout)

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
