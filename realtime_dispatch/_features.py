"""The app's optional capabilities, each installing itself on a starting session.

A feature is a function that takes the ``SessionSetup`` and registers what it needs: event
observers, a ``SessionListener`` for the session's start and end, events to send after the
session, a "busy" check for turn boundaries. ``RealtimeApp.features`` lists them; each reads
its configuration from the app's class attributes and does nothing when it is off. Adding a
capability is adding a function here (or to a subclass's ``features``), not editing
``RealtimeApp.connect()``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Coroutine
from contextlib import suppress
from typing import Any, cast

import anyio

from ._connection import Connection
from ._history import History
from ._lifecycle import Outcome, SessionListener
from ._session import SessionSetup
from ._state import Conversation
from ._tools import ToolRunner
from .events import ClientEvent, ServerEvent

__all__ = (
    "DEFAULT_FEATURES",
    "barge_in",
    "conversation",
    "history",
    "live",
    "metrics",
    "recycle",
    "session_end",
    "session_start",
    "tools",
)

logger = logging.getLogger("realtime_dispatch.app")

_OUTPUT_BUFFER = ("output_audio_buffer.started", "output_audio_buffer.stopped", "output_audio_buffer.cleared")


class _Hooks(SessionListener):
    """A listener from plain functions."""

    def __init__(
        self,
        started: Callable[[], None] | None = None,
        ended: Callable[[Outcome | None], None] | None = None,
    ) -> None:
        self._started = started
        self._ended = ended

    def session_started(self) -> None:
        if self._started is not None:
            self._started()

    def session_ended(self, outcome: Outcome | None) -> None:
        if self._ended is not None:
            self._ended(outcome)


def metrics(setup: SessionSetup) -> None:
    """``collect_metrics``: counters, gauges and latencies in ``app.metrics``."""
    counted = setup.metrics
    if counted is None:
        return
    outbox, dispatcher = setup.outbox, setup.dispatcher
    counted.gauge("pending_sends", lambda: outbox.waiting)
    counted.gauge("dropped_sends", lambda: outbox.dropped_sends)
    counted.gauge("background_tasks", lambda: dispatcher.in_flight)
    counted.gauge("background_waits", lambda: dispatcher.background_waits)
    lifecycle = setup.lifecycle

    def started() -> None:
        counted.connects += 1
        counted.reconnects += lifecycle.sessions > 1  # the lifecycle counts sessions, this one included

    setup.listen(_Hooks(started, lambda outcome: counted.session_ended()))


def barge_in(setup: SessionSetup) -> None:
    """``barge_in`` and ``app.playback``: what was played, and cutting it when the user speaks."""
    app = setup.app
    playback = app.playback
    setup.listen(_Hooks(ended=lambda outcome: playback.reset()))
    if not setup.protocol.realtime:
        return  # GPT-Live: see _live.barge_in
    if setup.sideband:
        setup.observe(_OUTPUT_BUFFER, playback.on_output_buffer)
    if not app.barge_in:
        return
    setup.observe(("session.created", "session.updated"), playback.on_session)
    setup.observe(("response.output_audio.delta", "response.audio.delta"), playback.on_audio_delta)
    setup.observe(("response.output_audio.done", "response.audio.done"), playback.on_audio_done)

    async def on_speech_started(event: ServerEvent) -> None:
        await app.interrupt(server_interrupts=playback.server_interrupts)

    on_speech_started.__name__ = "barge_in"
    setup.observe("input_audio_buffer.speech_started", on_speech_started)


def conversation(setup: SessionSetup) -> None:
    """``track_conversation``: ``app.conversation`` follows the server's conversation."""
    app = setup.app
    if not app.track_conversation or not setup.protocol.realtime:
        return  # GPT-Live's context is append-only and never shown: nothing to track
    tracked = app.conversation
    setup.observe(Conversation.EVENT_TYPES, tracked.observe)
    lifecycle = setup.lifecycle

    def started() -> None:
        if lifecycle.sessions > 1:
            tracked.clear()  # a new server session: with reseed_history its items come back as events

    setup.listen(_Hooks(started))


def tools(setup: SessionSetup) -> None:
    """``@tool``s: run the model's calls, send their outputs and the follow-up response."""
    app = setup.app
    declared = {spec.name: spec for spec in app.router.walk_tools()}
    if not declared or not setup.protocol.realtime:
        return  # GPT-Live runs them through Responses delegation: _live.delegated_tools
    runner = ToolRunner(
        declared,
        setup.dispatcher,
        cast("Connection", setup.connection),  # a Realtime app's
        app,
        outbox=setup.outbox,
        sequencer=setup.sequencer,
        timeout=app.tool_timeout,
        interruption=app.tool_interruption,
    )
    setup.observe("response.created", runner.on_response_created)
    setup.observe("response.output_item.done", runner.on_output_item_done)
    setup.observe("response.done", runner.on_response_done)
    setup.listen(runner)
    setup.busy_while(lambda: runner.busy)


def history(setup: SessionSetup) -> None:
    """``reseed_history``: replay the conversation's items on a new connection."""
    app = setup.app
    if not app.reseed_history or not setup.protocol.realtime:
        return
    kept = History(app.max_history_items, api=app.api)
    setup.observe(("conversation.item.done", "conversation.item.created", "conversation.item.deleted"), kept.observe)

    def replay() -> list[ClientEvent]:
        return list(kept.take_replay())

    setup.send_first(replay)


class _Recycler(SessionListener):
    """``recycle_after``: replace the connection at the first quiet turn boundary past the deadline."""

    def __init__(self, setup: SessionSetup, after: float, drop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._setup = setup
        self._after = after
        self._drop = drop
        self._due = math.inf

    def session_started(self) -> None:
        self._due = anyio.current_time() + self._after

    def session_ended(self, outcome: Outcome | None) -> None:
        self._due = math.inf

    def on_response_done(self, event: ServerEvent) -> None:
        setup = self._setup
        if anyio.current_time() < self._due or setup.lifecycle.closing or not setup.quiet():
            return  # not yet, or mid-turn: a tool runs, or its follow-up response is still to come
        self._due = math.inf
        logger.info("recycling the connection at a turn boundary (recycle_after=%gs)", self._after)
        setup.lifecycle.cut(recycle=True)  # closed by us on purpose, to be reopened at once
        setup.dispatcher.spawn(self._drop)


def recycle(setup: SessionSetup) -> None:
    after = setup.app.recycle_after
    if after is None or not setup.can_reconnect or not setup.protocol.realtime:
        return
    recycler = _Recycler(setup, after, setup.outbox.drop_transport)
    setup.listen(recycler)
    # After the tools' observer: a tool-calling turn is busy until its follow-up response is done.
    setup.observe("response.done", recycler.on_response_done)


GOODBYE_TIMEOUT = 15.0
"""Seconds ``close()`` waits for ``session.closed`` after ``session.close`` (a stored GPT-Live
session takes longer to finalise; the official SDK's examples wait as long)."""


def session_end(setup: SessionSetup) -> None:
    """GPT-Live and Translation: ``session.closed`` ends the session; ``close()`` asks for it first."""
    protocol = setup.protocol
    closed, request = protocol.closed, protocol.close_request
    if closed is None or request is None:
        return
    lifecycle = setup.lifecycle

    def on_closed(event: ServerEvent) -> None:
        reason = getattr(event, "reason", None)
        lifecycle.ended_by_server(event, normal=reason not in _ABNORMAL_CLOSE_REASONS)
        if reason in _ABNORMAL_CLOSE_REASONS:
            logger.warning("the server ended the session: %s", reason)

    on_closed.__name__ = "session_closed"
    setup.observe(closed, on_closed)
    if setup.sideband:
        return  # closing a sideband detaches from the call; session.close would end it for everyone
    waiters, connection = setup.waiters, setup.connection
    asked = False

    async def farewell() -> bool:
        nonlocal asked
        if asked:
            return False
        asked = True
        waiter = waiters.expect(lambda event: event.type == closed, check=False)
        if waiters.in_loop():  # an inline handler: the loop it holds is what receives the answer

            async def finish() -> None:
                with anyio.move_on_after(GOODBYE_TIMEOUT), suppress(Exception):
                    await connection.send(request())
                    await waiters.wait(waiter, None)
                waiters.discard(waiter)
                await connection.close()

            setup.dispatcher.spawn(finish)
            return True
        # One budget for both: a session still starting sends the request once it has started
        # (it waits with the other sends), and a server that never answers cannot hold close() longer.
        with anyio.move_on_after(GOODBYE_TIMEOUT) as budget:
            try:
                await connection.send(request())
                await waiters.wait(waiter, None)
            except Exception as exc:  # the session ended meanwhile: nothing to wait for
                logger.debug("%s: %r", request.type, exc)
        waiters.discard(waiter)
        if budget.cancelled_caught:
            logger.warning("no %s within %g s of close(): closing anyway", closed, GOODBYE_TIMEOUT)
        return False

    setup.before_close(farewell)

    def started() -> None:
        nonlocal asked
        asked = False

    setup.listen(_Hooks(started))


# session.closed reasons that end the app with ConnectionFailed: a safety stop, a lost upstream.
_ABNORMAL_CLOSE_REASONS = frozenset({"content", "connection_lost"})

def session_start(setup: SessionSetup) -> None:
    """What a protocol sends first on every connection that starts a session (GPT-Live's
    ``session.start``, Translation's ``session.update``); a sideband attaches to a running session
    and sends none. The Realtime API's session is the app's own (``RealtimeApp._session_to_send``)."""
    start = setup.protocol.start
    if start is None or setup.sideband:
        return
    app = setup.app
    tools = list(app.router.walk_tools())

    def first() -> list[ClientEvent]:
        event = start(app.session, tools)
        return [] if event is None else [event]

    setup.send_first(first)


def live(setup: SessionSetup) -> None:
    """GPT-Live's own: ``@tool``s through Responses delegation, usage, barge-in (``_live``)."""
    if setup.protocol.name != "live":
        return
    from ._live import install  # loaded with the protocol: a Realtime app never imports it

    install(setup)


DEFAULT_FEATURES = (metrics, barge_in, conversation, tools, history, recycle, session_start, session_end, live)
