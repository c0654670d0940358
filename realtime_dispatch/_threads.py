"""The worker threads of sync handlers and tools, bounded until they really return.

A sync ``background=True`` handler or sync ``@tool`` runs in a worker thread. When its
timeout ends the wait, the thread is abandoned, not stopped (Python cannot stop a thread):
it runs on until its function returns. anyio stops counting it then: on asyncio,
``to_thread.run_sync(abandon_on_cancel=True)`` gives its limiter token back as soon as the
waiting task is cancelled, so a handler that hangs and times out on every event leaves one
more thread each time. (trio keeps the token until the thread returns, but in its default
limiter, so 40 stuck threads would then hold up every other ``to_thread`` call of the run:
file I/O, name lookups for a reconnect.)

:class:`BoundedThreads` counts a thread from before it starts until its function returns,
and the worker thread itself gives the slot back, so an abandoned thread keeps its slot.
When all slots are held, a call waits for one: within its caller's deadline (the handler's
or the tool's timeout), so a tool still answers with its timeout error. One warning is
logged per episode of waiting. The threads run outside anyio's default thread limiter.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections import deque
from collections.abc import Callable
from typing import TypeVar, TypeVarTuple, Unpack

import anyio
import anyio.lowlevel
import anyio.to_thread

__all__ = ["DEFAULT_MAX_THREADS", "BoundedThreads", "default_threads"]

logger = logging.getLogger("realtime_dispatch.threads")

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# anyio's (and trio's) own default: the number of worker threads a run may have busy at once,
# which sync handlers and tools got before this bound existed, so no app that works today waits.
DEFAULT_MAX_THREADS = 40

# The threads' own anyio limiter, one per event loop: the count is ours (across event loops);
# this only keeps them out of the default limiter that the rest of the run shares.
_unlimited: anyio.lowlevel.RunVar[anyio.CapacityLimiter] = anyio.lowlevel.RunVar("realtime_dispatch threads")


class _NotStarted(RuntimeError):
    """The caller gave up before the thread began: the function is not run (nobody waits for it)."""


class _Waiter:
    __slots__ = ("event", "granted", "wake")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.wake = _waker(self.event)
        self.granted = False  # a releasing thread has handed its slot to this waiter


class BoundedThreads:
    """At most ``limit`` worker threads, each counted until its function returns.

    ``await pool.run(fn, *args)`` is ``anyio.to_thread.run_sync(fn, *args,
    abandon_on_cancel=True)``, but waits for a free slot first, and the slot stays taken by
    an abandoned thread until ``fn`` returns. Safe to share between event loops and threads.
    """

    def __init__(self, limit: int = DEFAULT_MAX_THREADS) -> None:
        if limit < 1:
            raise ValueError(f"a thread limit must be at least 1, not {limit}")
        self.limit = limit
        self._lock = threading.Lock()
        self._busy = 0
        self._waiters: deque[_Waiter] = deque()
        self._warned = False

    @property
    def busy(self) -> int:
        """Slots taken: threads running (abandoned ones too), or handed to a call about to start one."""
        return self._busy

    @property
    def waiting(self) -> int:
        """Calls waiting for a slot."""
        return len(self._waiters)

    async def run(self, fn: Callable[[Unpack[Ts]], T], *args: *Ts) -> T:
        """``fn(*args)`` in a worker thread, once a slot is free; cancelling abandons the thread."""
        try:
            limiter = _unlimited.get()
        except LookupError:
            limiter = anyio.CapacityLimiter(math.inf)
            _unlimited.set(limiter)
        await self._acquire()
        started = False
        given_up = False

        def call() -> T:
            nonlocal started
            with self._lock:
                if given_up:  # the slot is already back (only if the caller went before the thread began)
                    raise _NotStarted
                started = True
            try:
                return fn(*args)
            finally:
                self._release()  # here, in the worker thread: when fn really returns

        try:
            return await anyio.to_thread.run_sync(call, abandon_on_cancel=True, limiter=limiter)
        except BaseException:
            with self._lock:
                given_up = True
                release = not started
            if release:  # cancelled before the thread began: it never will (or sees given_up)
                self._release()
            raise

    async def _acquire(self) -> None:
        with self._lock:
            if self._busy < self.limit and not self._waiters:
                self._busy += 1
                return
        waiter = _Waiter()
        with self._lock:
            if self._busy < self.limit and not self._waiters:
                self._busy += 1
                return
            self._waiters.append(waiter)
            warn = not self._warned
            self._warned = True
        if warn:
            logger.warning(
                "all %d worker threads for sync handlers and tools are taken (by calls that timed out"
                " but have not returned, or by slow ones): new sync calls wait for a thread",
                self.limit,
            )
        try:
            await waiter.event.wait()
        except BaseException:
            with self._lock:
                granted = waiter.granted
                if not granted:
                    self._waiters.remove(waiter)
            if granted:  # handed a slot just as it was cancelled: pass it on
                self._release()
            raise

    def _release(self) -> None:
        """Give a slot back, or hand it to the longest waiting call; from any thread."""
        while True:
            with self._lock:
                if not self._waiters:
                    self._busy -= 1
                    if self._busy <= self.limit // 2:
                        self._warned = False  # the episode is over: warn again next time
                    return
                waiter = self._waiters.popleft()
                waiter.granted = True
            if waiter.wake():
                return
            # its event loop has ended (so has the call): the slot goes to the next one


def _waker(event: anyio.Event) -> Callable[[], bool]:
    """Sets ``event`` from any thread without blocking; False if its event loop has ended.

    (``anyio.from_thread.run_sync`` blocks until the loop has run the call, which would hang
    a release made on another event loop's thread, or on this loop's own.)
    """
    if _async_library() == "trio":
        import trio

        token = trio.lowlevel.current_trio_token()

        def wake_trio() -> bool:
            try:
                token.run_sync_soon(event.set)
            except trio.RunFinishedError:
                return False
            return True

        return wake_trio
    loop = asyncio.get_running_loop()

    def wake_asyncio() -> bool:
        try:
            loop.call_soon_threadsafe(event.set)
        except RuntimeError:  # the loop is closed
            return False
        return True

    return wake_asyncio


def _async_library() -> str:
    try:
        import sniffio
    except ImportError:  # pragma: no cover - trio depends on sniffio: without it, this is asyncio
        return "asyncio"
    return sniffio.current_async_library()


# The process-wide default: threads are a process resource, whichever app or event loop starts them.
default_threads = BoundedThreads()
