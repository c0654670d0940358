"""Running a consumer's step in a transport's protocol callback, as the consumer's own task.

The asyncio transports (``AsyncioWebSocketTransport``, ``PicowsTransport``) offer
``consume_inline(step)``: while the receive loop waits, they call its step right in their
data callback instead of waking the loop's task. To the step's code it must look as if the
task ran it, so the transport makes the task asyncio's current task around the calls, as
asyncio's own eager tasks do with the same two private (but long-standing) functions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = ("AVAILABLE", "enter", "leave")

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
