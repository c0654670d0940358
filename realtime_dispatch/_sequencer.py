"""At most one response at a time in the default conversation.

The server refuses a second ``response.create`` while a response is active
(``conversation_already_has_active_response``). The sequencer holds such a create back
until the active response is done, or refuses it at once, by policy. Out-of-band
responses (``conversation: "none"``) run in parallel and are not held.

A create the server never answers (an ``error`` without ``event_id``, or silence) holds the
slot for ``start_timeout`` seconds at most; a session that ends for good fails every create
still waiting with ``NotConnected``.
"""

from __future__ import annotations

import logging
from typing import Literal

import anyio

from ._lifecycle import NotConnected, Outcome, SessionListener
from .events import ErrorEvent, ResponseCreate, ResponseCreated, ResponseDone, ServerEvent

logger = logging.getLogger("realtime_dispatch.connection")

DEFAULT_START_TIMEOUT = 10.0

__all__ = ("ResponseInProgress", "ResponseSequencer", "SequencerPolicy")


SequencerPolicy = Literal["wait", "reject", "off"]


class ResponseInProgress(RuntimeError):
    """``response.create`` refused because a response is active (policy ``"reject"``)."""


class ResponseSequencer(SessionListener):
    def __init__(self, policy: SequencerPolicy = "wait", *, start_timeout: float = DEFAULT_START_TIMEOUT) -> None:
        self.policy = policy
        self.start_timeout = start_timeout  # seconds a create may go unanswered before its slot is freed
        self.active: str | None = None  # the response in progress in the default conversation
        self._requested: str | None = None  # event_id of our create, until the server answers it
        self._requested_at = 0.0
        self._free: anyio.Event | None = None
        self._ended: Outcome | None = None
        # The live service names the conversation of every in-band response (conversation_id), and
        # leaves it null on out-of-band ones. Until a server shows it does that, a created without
        # one while our create waits is taken as ours (scripted servers often leave it out).
        self._names_conversations = False

    @property
    def busy(self) -> bool:
        return self.active is not None or self._requested is not None

    async def before_create(self, event: ResponseCreate) -> None:
        """Called before a ``response.create`` goes out: wait for (or refuse) a busy slot."""
        if self.policy == "off" or (event.response is not None and event.response.conversation == "none"):
            return
        while True:
            if self._ended is not None:
                raise NotConnected(f"the session ended ({self._ended}) before this response could be created")
            if not self.busy:
                break
            if self.policy == "reject":
                raise ResponseInProgress(f"response {self.active or '(requested)'} is still in progress")
            if self._free is None:
                self._free = anyio.Event()
            free = self._free
            if self.active is None:  # ours (or another task's) create, not answered yet: not forever
                left = self._requested_at + self.start_timeout - anyio.current_time()
                if left <= 0:
                    logger.warning(
                        "response.create %s got no answer in %g s: taking the slot back", self._requested,
                        self.start_timeout,
                    )
                    self._requested = None
                    self._release()
                    continue
                with anyio.move_on_after(left):
                    await free.wait()
            else:
                await free.wait()
        self._requested = event.event_id
        self._requested_at = anyio.current_time()

    def observe(self, event: ServerEvent) -> None:
        """Fed ``response.created``, ``response.done`` and ``error`` by the receive loop."""
        if isinstance(event, ResponseCreated):
            if event.response.conversation_id is not None:
                self._names_conversations = True
            elif event.response.id and (self._requested is None or self._names_conversations):
                return  # out-of-band, not ours to track
            self._requested = None
            self.active = event.response.id or "unknown"
        elif isinstance(event, ResponseDone):
            if self.active is not None and event.response.id in (self.active, None):
                self.active = None
                self._release()
            elif self.active is None and self._requested and event.response.conversation_id is not None:
                # Done without a created we saw (a server, or a test script, that skipped it): ours all the same.
                self._requested = None
                self._release()
        elif isinstance(event, ErrorEvent) and self._requested and event.error.event_id == self._requested:
            self._requested = None  # refused: the slot is free again
            self._release()

    def observe_failed_send(self, event_id: str) -> None:
        """Our create never left: free the slot it took."""
        if self._requested == event_id:
            self._requested = None
            self._release()

    def reset(self, waiting: set[str | None]) -> None:
        """A new connection: nothing is in progress on it, except creates ``waiting`` to go out."""
        self.active = None
        if self._requested not in waiting:
            self._requested = None
        self._release()

    def session_ended(self, outcome: Outcome | None) -> None:
        if outcome is not None:  # for good: creates still waiting fail (a reconnect resets instead)
            self._ended = outcome
            self.active = self._requested = None
            if self._free is not None:
                self._free.set()
                self._free = None

    def _release(self) -> None:
        if not self.busy and self._free is not None:
            self._free.set()
            self._free = None
