"""Running a consumer's step in a transport's protocol callback, as the consumer's own task.

The asyncio transports (``AsyncioWebSocketTransport``, ``PicowsTransport``) offer
``consume_inline(step)``: while the receive loop waits, they call its step right in their
data callback instead of waking the loop's task. To the step's code it must look as if the
task ran it, so the transport makes the task asyncio's current task around the calls, as
asyncio's own eager tasks do with the same two private (but long-standing) functions.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from ._base import TransportClosed

__all__ = ("AVAILABLE", "READ_HIGH_WATER", "READ_LOW_WATER", "REPLY_HIGH_WATER", "InboundQueue", "enter", "leave")

_enter_task: Callable[[asyncio.AbstractEventLoop, asyncio.Task[Any]], None] | None = getattr(
    asyncio.tasks, "_enter_task", None
)
_leave_task: Callable[[asyncio.AbstractEventLoop, asyncio.Task[Any]], None] | None = getattr(
    asyncio.tasks, "_leave_task", None
)

AVAILABLE = _enter_task is not None and _leave_task is not None  # else: no inline steps, frames are queued


def enter(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> bool:
    """Make ``task`` the current task; False if another one is (never in a protocol callback)."""
    assert _enter_task is not None
    try:
        _enter_task(loop, task)
    except RuntimeError:
        return False
    return True


def leave(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
    assert _leave_task is not None
    _leave_task(loop, task)


# Stop reading from the socket while this many payload bytes wait for ``receive``; resume below the low mark.
READ_HIGH_WATER = 16 * 1024 * 1024
READ_LOW_WATER = 4 * 1024 * 1024
# Stop reading from the socket while the replies that reading makes the protocol write (pongs to the
# peer's pings) have pushed our outgoing buffer past this many bytes; resume once it drains (asyncio's
# resume_writing). Else a peer that pings without reading grows that buffer without bound.
REPLY_HIGH_WATER = 1024 * 1024


class InboundQueue:
    """The receive side the asyncio transports share: complete messages queued by a protocol
    callback, a ``receive()`` that waits for them, and the inline step (``consume_inline``).

    A transport calls ``_init_inbound`` from its ``__init__``, and says when the connection is
    over (``_ended``) and how its reading is paused and resumed (``_pause_reading``,
    ``_resume_reading``). Its callback queues a message with ``_queue`` (or inlines the same
    steps on a hot path) unless ``_armed`` is set, in which case it may run that step instead,
    after ``_enter``.
    """

    _closed: TransportClosed | None

    def _init_inbound(self) -> None:
        # Messages, and in place of a message whatever an inline step left to finish.
        self._messages: deque[Any] = deque()
        # Payload bytes queued: an upper bound (kept cheaply by the callback), exact while reading is paused.
        self._buffered = 0
        self._reading_paused = False
        self._reply_hold = False  # reading also paused until our outgoing buffer drains (_replies_written)
        self._waiter: asyncio.Future[None] | None = None  # a receive() waiting for a message
        self._inline: Callable[[Any], object] | None = None
        # _inline while a receive() waits on an empty queue and has not been woken (cancelled counts
        # as waiting: a step run then is as if its message had come just before the cancel).
        self._armed: Callable[[Any], object] | None = None
        self._task: asyncio.Task[Any] | None = None  # the consumer's, that _inline runs as
        self._loop: asyncio.AbstractEventLoop | None = None

    def _ended(self) -> TransportClosed | None:
        """How the connection ended, if it has (then nothing more will be queued)."""
        raise NotImplementedError

    def _pause_reading(self) -> None:
        raise NotImplementedError

    def _resume_reading(self) -> None:
        raise NotImplementedError

    # --- the consumer's side ----------------------------------------------------------------------

    def consume_inline(self, step: Callable[[Any], object] | None) -> None:
        """While ``receive`` waits on an empty queue, hand each complete message to ``step``
        in the transport's data callback instead of waking the waiting task (a pass through
        the event loop per message). Called from the task that calls ``receive``; ``step``
        runs as that task (``asyncio.current_task()`` is that task while it runs, as in an
        eager task's first step), so what it calls cannot tell the difference.

        The message may be a ``memoryview`` valid only during the call. ``step`` returns None
        when it has handled the message; anything else is queued in its place, for
        ``receive`` to return as is. ``consume_inline(None)`` stops it.
        """
        if step is not None and not AVAILABLE:
            return  # an asyncio without the hooks: messages go through the queue as before
        self._inline = step
        self._task = asyncio.current_task() if step is not None else None
        if step is not None:
            self._loop = asyncio.get_running_loop()
        if self._waiter is not None and not self._waiter.done():
            self._armed = step  # called while receive() waits (from a step, to stop): takes effect now

    def receive_nowait(self) -> bytes | None:
        """A buffered message, or None: lets the receive loop skip a coroutine per frame."""
        messages = self._messages
        if not messages:
            return None
        data: bytes = messages.popleft()
        if self._reading_paused:
            self._consumed(data)
        return data

    async def receive(self) -> bytes:
        messages = self._messages
        if messages:  # the common case: a message is buffered, return it without a pass through the loop
            data: bytes = messages.popleft()
            if self._reading_paused:
                self._consumed(data)
            return data
        return await self._receive_slow()

    async def _receive_slow(self) -> bytes:
        """Wait until the callback queues a message (or the connection ends), then return it."""
        messages = self._messages
        while not messages:
            if self._closed is not None:
                raise self._closed
            ended = self._ended()
            if ended is not None:
                self._closed = ended
                raise ended
            if self._waiter is not None:
                raise RuntimeError("receive() is already running in another task")
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            self._armed = self._inline  # from now until woken, a message may be handled inline
            try:
                await waiter
            finally:
                self._waiter = None
                self._armed = None
        data: bytes = messages.popleft()
        if self._reading_paused:
            self._consumed(data)
        return data

    # --- the callback's side ----------------------------------------------------------------------

    def _enter(self) -> asyncio.Task[Any] | None:
        """Become the consumer's task for the rest of this read (``leave`` it after); None if
        another task runs (never in a protocol callback: then the queue it is)."""
        task, loop = self._task, self._loop
        return task if task is not None and loop is not None and enter(loop, task) else None

    def _queue(self, item: Any, size: int) -> None:
        """Queue a message (``size`` payload bytes) or what an inline step left to finish."""
        messages = self._messages
        if messages:
            messages.append(item)
            self._buffered += size
        else:  # every byte counted so far was consumed; a waiting receive() waits on an empty queue only
            messages.append(item)
            self._buffered = size
            self._wake()
        if self._buffered > READ_HIGH_WATER:
            self._high_water()

    def _wake(self) -> None:
        self._armed = None
        waiter = self._waiter
        if waiter is not None and not waiter.done():  # done: cancelled, its task not yet resumed
            waiter.set_result(None)

    def _high_water(self) -> None:
        """The running total passed the high mark: count exactly, pause reading if the backlog is real."""
        if self._reading_paused:  # the total is exact while paused
            return
        self._buffered = buffered = sum(map(_size, self._messages))
        # Above half the high mark (not the high mark itself) so that a backlog hovering just
        # below it cannot make every message recount the queue.
        if buffered > READ_HIGH_WATER // 2 and self._ended() is None:
            self._reading_paused = True
            if not self._reply_hold:  # else already paused
                self._pause_reading()

    def _consumed(self, item: object) -> None:
        """``receive`` took ``item`` while reading is paused: resume at the low mark."""
        self._buffered -= _size(item)
        if self._buffered <= READ_LOW_WATER:
            self._reading_paused = False
            if self._ended() is None and not self._reply_hold:  # else resumed when the writes drain
                self._resume_reading()

    # --- write backpressure on what reading makes us write ------------------------------------------

    def _replies_written(self, buffered: int) -> None:
        """Reading made the protocol write replies (pongs, a close reply) while the socket is not
        writable (after ``pause_writing``), and ``buffered`` bytes now wait to go out: above
        ``REPLY_HIGH_WATER``, stop reading until they drain (``_writes_drained``)."""
        if buffered > REPLY_HIGH_WATER and not self._reply_hold and self._ended() is None:
            self._reply_hold = True
            if not self._reading_paused:  # else already paused
                self._pause_reading()

    def _writes_drained(self) -> None:
        """The outgoing buffer drained (``resume_writing``): read again, unless the queue is full."""
        if self._reply_hold:
            self._reply_hold = False
            if not self._reading_paused and self._ended() is None:
                self._resume_reading()


def _size(item: object) -> int:
    """A queued message's payload size; what an inline step left in the queue counts 0."""
    return len(item) if isinstance(item, bytes) else 0
