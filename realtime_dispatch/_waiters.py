"""Events being waited for (``wait_for``, ``expect``, ``request``): registered by the
connection, woken by the receive loop, failed when the session ends for good."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from ._lifecycle import NotConnected, Outcome, SessionListener
from .events import ServerEvent

__all__ = ("Waiter", "Waiters")

logger = logging.getLogger("realtime_dispatch.dispatch")


@dataclass(eq=False, slots=True)
class Waiter:
    """An expected event: registered before the request that causes it is sent."""

    match: Callable[[ServerEvent], object]
    done: anyio.Event
    event: ServerEvent | None = None
    error: BaseException | None = None


class Waiters(SessionListener):
    def __init__(self) -> None:
        self.pending: list[Waiter] = []  # read by the receive loop on every event: empty is the fast case
        self._loop_task: int | None = None  # waiting from this task would deadlock
        self._ended: Outcome | None = None

    # --- the receive loop's task ------------------------------------------------------------------

    def enter_loop(self) -> None:
        """The current task runs the receive loop (and the lifespan hooks around it)."""
        self._loop_task = anyio.get_current_task().id

    def in_loop(self) -> bool:
        return self._loop_task is not None and anyio.get_current_task().id == self._loop_task

    def check_not_loop(self) -> None:
        if self.in_loop():
            raise RuntimeError(
                "waiting for an event from an inline handler (or on_connect) would block the receive loop that "
                "delivers it; register the handler with background=True, or start a task for it"
            )

    # --- waiting ----------------------------------------------------------------------------------

    def expect(self, match: Callable[[ServerEvent], object], *, check: bool = True) -> Waiter:
        """Start watching for an event now; ``wait`` for it later (after sending a request)."""
        if check:
            self.check_not_loop()
        waiter = Waiter(match, anyio.Event())
        if self._ended is not None:
            waiter.error = _ended_error(self._ended)
            waiter.done.set()
        else:
            self.pending.append(waiter)
        return waiter

    async def wait(self, waiter: Waiter, timeout: float | None) -> ServerEvent:
        """The waiter's event: at once if it already arrived (even with ``timeout=0``)."""
        try:
            if not waiter.done.is_set():
                self.check_not_loop()
                with anyio.fail_after(timeout):
                    await waiter.done.wait()
        finally:
            self.discard(waiter)
        if waiter.error is not None:
            raise waiter.error
        assert waiter.event is not None
        return waiter.event

    def discard(self, waiter: Waiter) -> None:
        if waiter in self.pending:
            self.pending.remove(waiter)

    def wake(self, event: ServerEvent) -> None:
        for waiter in list(self.pending):
            try:
                if not waiter.match(event):
                    continue
            except Exception:
                logger.exception("a wait_for predicate failed on %s", event.type)
                continue
            waiter.event = event
            waiter.done.set()
            self.pending.remove(waiter)

    # --- the lifecycle ----------------------------------------------------------------------------

    def session_ended(self, outcome: Outcome | None) -> None:
        if outcome is None:
            return  # a reconnect follows: what is awaited may still come
        self._ended = outcome
        error = _ended_error(outcome)
        waiting = list(self.pending)
        self.pending.clear()  # in place: the receive loop holds this list
        for waiter in waiting:
            waiter.error = error
            waiter.done.set()


def _ended_error(outcome: Outcome) -> NotConnected:
    return NotConnected(f"the session ended ({outcome}) while waiting for this event")
