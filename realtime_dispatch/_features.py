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
from typing import Any

import anyio

from ._history import History
from ._lifecycle import Outcome, SessionListener
from ._session import SessionSetup
from ._state import Conversation
from ._tools import ToolRunner
from .events import ClientEvent, ServerEvent

__all__ = ("DEFAULT_FEATURES", "barge_in", "conversation", "history", "metrics", "recycle", "tools")

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
    if not app.track_conversation:
        return
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
    if not declared:
        return
    runner = ToolRunner(
        declared,
        setup.dispatcher,
        setup.connection,
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
    if not app.reseed_history:
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
    if after is None or not setup.can_reconnect:
        return
    recycler = _Recycler(setup, after, setup.outbox.drop_transport)
    setup.listen(recycler)
    # After the tools' observer: a tool-calling turn is busy until its follow-up response is done.
    setup.observe("response.done", recycler.on_response_done)


DEFAULT_FEATURES = (metrics, barge_in, conversation, tools, history, recycle)
