"""The session runner: the I/O around the lifecycle.

It opens connections one after the other, sends each one's session (and what features add
to it, such as the history replay), runs the lifespan hooks and the receive loop, and asks
the lifecycle (``_lifecycle``) what to do when a connection ends: reconnect after a delay,
or end with an outcome. Everything that holds per-session state hears about it from the
lifecycle, not from here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from ._connection import BaseConnection
from ._dispatch import Dispatcher
from ._lifecycle import End, Lifecycle, Outcome, Retry, SessionListener
from ._metrics import Metrics
from ._outbox import Outbox
from ._protocol import Protocol
from ._protocol import protocol as get_protocol
from ._reconnect import FATAL_ERROR_CODES, Reconnect
from ._redact import redact_text
from ._sequencer import ResponseSequencer
from ._waiters import Waiters
from .events import ClientEvent, DecodeError, ServerEvent
from .transports import Transport, TransportClosed

if TYPE_CHECKING:
    from ._app import RealtimeApp

__all__ = ("Feature", "SessionRunner", "SessionSetup")

logger = logging.getLogger("realtime_dispatch.app")

START_TIMEOUT = 15.0
"""Seconds the server may take to answer a session start (GPT-Live's ``session.started``) before the
connection counts as lost (and is reopened per the app's ``reconnect``)."""


@dataclass(eq=False)
class SessionSetup:
    """What a feature sees when an app starts, and where it registers itself."""

    app: RealtimeApp[Any]
    connection: BaseConnection
    dispatcher: Dispatcher
    lifecycle: Lifecycle
    outbox: Outbox
    sequencer: ResponseSequencer
    waiters: Waiters
    metrics: Metrics | None
    sideband: bool  # a call's sideband connection (call_id=..., Live's /attach): the server plays the audio
    can_reconnect: bool  # a transport factory: lost connections are reopened
    protocol: Protocol = field(default_factory=lambda: get_protocol("ga"))
    first_events: list[Callable[[], list[ClientEvent]]] = field(default_factory=list)
    farewell: list[Callable[[], Awaitable[bool]]] = field(default_factory=list)
    busy_checks: list[Callable[[], bool]] = field(default_factory=list)

    def observe(self, names: str | tuple[str, ...], observe: Callable[[ServerEvent], object]) -> None:
        """Run ``observe`` on every event of these types, before the user's handlers."""
        for name in (names,) if isinstance(names, str) else names:
            self.dispatcher.add_observer(name, observe)

    def listen(self, listener: SessionListener) -> None:
        """Hear when each session starts and ends (see ``SessionListener``)."""
        self.lifecycle.listen(listener)

    def send_first(self, events: Callable[[], list[ClientEvent]]) -> None:
        """Send what ``events()`` returns right after the session, on every connection."""
        self.first_events.append(events)

    def before_close(self, farewell: Callable[[], Awaitable[bool]]) -> None:
        """Await ``farewell()`` when ``close()`` is called on an open session, before the connection
        closes (a protocol's goodbye). It returns True when it finishes the close itself, later."""
        self.farewell.append(farewell)

    def busy_while(self, busy: Callable[[], bool]) -> None:
        """A turn is not over while ``busy()`` says so (read before recycling a connection)."""
        self.busy_checks.append(busy)

    def quiet(self) -> bool:
        """No response in progress or asked for, and no feature busy: a turn boundary."""
        return not self.sequencer.busy and not any(busy() for busy in self.busy_checks)


Feature = Callable[[SessionSetup], None]
"""Installs one capability on a starting app (see ``RealtimeApp.features``)."""


class SessionRunner(SessionListener):
    """Runs one app's connections until the lifecycle says the session is over."""

    def __init__(
        self,
        setup: SessionSetup,
        *,
        factory: Callable[[], Awaitable[Transport]] | None,
        wrap: Callable[[Transport], Transport],
        shutdown_grace: float,
    ) -> None:
        self.setup = setup
        self._app = setup.app
        self._lifecycle = setup.lifecycle
        self._factory = factory
        self._wrap = wrap
        self._grace = shutdown_grace
        self._close_requested = anyio.Event()
        self._connecting: anyio.CancelScope | None = None  # a reconnect attempt in progress: close() cuts it
        self.finished = anyio.Event()
        self.cause: BaseException | None = None  # the error behind an abnormal end, if any
        setup.lifecycle.listen(self)
        setup.observe("error", self._on_error)

    @property
    def outcome(self) -> Outcome | None:
        return self._lifecycle.outcome

    # --- the lifecycle ------------------------------------------------------------------------

    def session_closing(self) -> None:
        self._close_requested.set()
        if self._connecting is not None:
            self._connecting.cancel()

    def _on_error(self, event: ServerEvent) -> None:
        error = getattr(event, "error", None)
        code = getattr(error, "code", None)
        if code in FATAL_ERROR_CODES:  # the close that follows must not be retried
            self._lifecycle.fatal_error(f"{code}: {redact_text(str(getattr(error, 'message', '')))}")

    # --- running ------------------------------------------------------------------------------

    async def run(self, transport: Transport) -> None:
        """Serve connections one after the other until one ends for good."""
        lifecycle = self._lifecycle
        self.setup.waiters.enter_loop()  # on_connect and on_disconnect run in this task too
        try:
            while True:
                closed = await self._serve_one(transport)
                decision = lifecycle.lost(closed.code, closed.reason, anyio.current_time())
                if isinstance(decision, End):
                    if not decision.outcome.normal:
                        logger.warning("session ended: %s", decision.outcome)
                    return
                logger.warning("connection lost (%d%s): reconnecting", closed.code, _reason(closed.reason))
                reopened = await self._reopen(decision)
                if reopened is None:
                    return
                transport = reopened
        except Exception as exc:  # a lifespan hook failed, say: the app ends with that exception
            self.cause = exc
            lifecycle.crashed(exc)
            raise
        finally:
            lifecycle.finish()  # cancelled, or closed: everything still waiting settles now
            self.finished.set()

    async def _serve_one(self, transport: Transport) -> TransportClosed:
        setup = self.setup
        connected = False
        setup.outbox.opening(transport)  # close() works, and sends wait for the session
        self._lifecycle.opened(anyio.current_time())
        try:
            first: list[ClientEvent] = []
            for events in setup.first_events:
                first += events()
            setup.sequencer.reset(setup.outbox.waiting_ids())
            early: list[bytes] = []  # what the server sent up to its answer to the session start
            ready = setup.protocol.ready if first and not setup.sideband else None

            async def handshake() -> None:
                assert ready is not None
                early.extend(await self._await_ready(transport, ready))

            await setup.outbox.attach(transport, first, setup.connection.send, handshake if ready else None)
            if self._lifecycle.closing:
                return TransportClosed(1000, "closed by the client")
            connected = True
            await self._app.on_connect(setup.connection)
            closed = await setup.dispatcher.receive_loop(transport, early)
            logger.info("connection closed (%d%s)", closed.code, _reason(closed.reason))
            return closed
        except TransportClosed as closed:  # lost while sending the session or in on_connect
            return closed
        finally:
            try:
                if connected:
                    with anyio.move_on_after(self._grace, shield=True) as hook:
                        await self._app.on_disconnect(setup.connection)
                    if hook.cancelled_caught:
                        logger.warning("on_disconnect still running after %gs: cancelled", self._grace)
            finally:
                with anyio.CancelScope(shield=True), suppress(Exception):
                    await transport.aclose()

    async def _await_ready(self, transport: Transport, ready: str) -> list[bytes]:
        """Read the server's frames up to ``ready`` (the session is usable) and return them, for the
        receive loop to dispatch first. An ``error`` before it means the server refused the session:
        the app ends with it (no reconnect: the same start would be refused again)."""
        decode = self.setup.protocol.decode
        frames: list[bytes] = []
        with anyio.move_on_after(START_TIMEOUT) as waited:
            while True:
                frame = bytes(await transport.receive())  # may be a buffer valid until the next read
                frames.append(frame)
                try:
                    event = decode(frame)
                except DecodeError:
                    continue  # reported when the receive loop dispatches it
                if event.type == ready:
                    return frames
                if event.type == "error":
                    error = getattr(event, "error", None)
                    detail = f"{getattr(error, 'code', None) or getattr(error, 'type', 'error')}: "
                    detail += redact_text(str(getattr(error, "message", "")))
                    logger.warning("the server refused the session start: %s", detail)
                    self._lifecycle.fatal_error(detail)
                    raise TransportClosed(1000, f"session start refused ({detail})")
        assert waited.cancelled_caught
        raise TransportClosed(1006, f"no {ready} within {START_TIMEOUT:g} s of the session start")

    async def _reopen(self, decision: Retry) -> Transport | None:
        """A new transport, or None when the session ended meanwhile (closed, or gave up)."""
        assert self._factory is not None
        lifecycle = self._lifecycle
        while True:
            with anyio.move_on_after(decision.delay):
                await self._close_requested.wait()
            if lifecycle.closing:
                return None
            transport: Transport | None = None
            try:
                with anyio.CancelScope() as self._connecting:  # close() cancels it: no wait for open_timeout
                    transport = await self._factory()
            except Exception as exc:
                self.cause = exc
                next_step = lifecycle.attempt_failed(exc, fatal=Reconnect.is_fatal(exc))
                if isinstance(next_step, End):
                    return None
                logger.warning("reconnect attempt %d failed: %s", decision.attempt, redact_text(str(exc)))
                decision = next_step
                continue
            finally:
                self._connecting = None
            if transport is None or _closing(lifecycle):  # close() came while we connected
                if transport is not None:
                    with anyio.CancelScope(shield=True), suppress(Exception):
                        await transport.aclose()
                return None
            self.cause = None
            logger.info("reconnected after %d attempt(s)", decision.attempt)
            return self._wrap(transport)


def _closing(lifecycle: Lifecycle) -> bool:
    return lifecycle.closing


def _reason(reason: str) -> str:
    return f": {redact_text(reason)}" if reason else ""
