"""One thread that watches every running receive loop for handlers that hold it.

Handlers only mark what is running (two attribute stores); the thread samples the marks.
Seeing the same call twice, a threshold apart, means it has held the loop that long, and
that is reported while it is still running, even when it blocks the event loop outright.
One thread serves every session in the process, however many there are.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from time import monotonic
from typing import Any, Protocol

__all__ = ("Watched", "watch")


class Watched(Protocol):
    """What the watchdog reads: the running call (None when idle), its threshold, a reporter."""

    busy: Any
    busy_event: Any
    slow_threshold: float

    def report_slow(self, busy: Any, event: Any, held: float) -> None: ...


class _State:
    __slots__ = ("busy", "event", "reported", "since")

    def __init__(self) -> None:
        self.busy: Any = None
        self.event: Any = None
        self.since = 0.0
        self.reported = False


_lock = threading.Lock()
_watched: dict[Watched, _State] = {}
_wake = threading.Event()
_thread: threading.Thread | None = None


def watch(target: Watched) -> Callable[[], None]:
    """Start watching ``target``; returns the function that stops it."""
    global _thread
    with _lock:
        _watched[target] = _State()
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="realtime-dispatch-watchdog", daemon=True)
            _thread.start()
    _wake.set()

    def stop() -> None:
        with _lock:
            _watched.pop(target, None)

    return stop


def _run() -> None:
    global _thread
    while True:
        with _lock:
            if not _watched:
                _thread = None
                return
            targets = list(_watched.items())
        tick = min(target.slow_threshold for target, _ in targets) / 4
        for target, state in targets:
            _sample(target, state)
        _wake.wait(tick)
        _wake.clear()


def _sample(target: Watched, state: _State) -> None:
    busy, event = target.busy, target.busy_event
    if busy is None:
        state.busy = None
        return
    if busy is not state.busy or event is not state.event:
        state.busy, state.event, state.since, state.reported = busy, event, monotonic(), False
        return
    held = monotonic() - state.since
    if held >= target.slow_threshold and not state.reported:
        state.reported = True
        target.report_slow(busy, event, held)
