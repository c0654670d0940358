"""Inbound middleware: ``async (event, call_next)``, wrapping the routing of every server event."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable

from realtime_dispatch import events

CallNext = Callable[[events.ServerEvent], Awaitable[None]]


class Timings:
    """How long routing each event type took, handlers included."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)

    async def middleware(self, event: events.ServerEvent, call_next: CallNext) -> None:
        start = time.perf_counter()
        try:
            await call_next(event)  # the next middleware, then the routers
        finally:
            self.count[event.type] += 1
            self.seconds[event.type] += time.perf_counter() - start

    def summary(self) -> str:
        total = sum(self.count.values())
        slowest = max(self.seconds, key=self.seconds.__getitem__, default="-")
        return (
            f"{total} events in, routed in {sum(self.seconds.values()) * 1000:.1f} ms; "
            f"most time on {slowest} ({self.count[slowest]}x)"
        )


timings = Timings()


async def drop_rate_limits(event: events.ServerEvent, call_next: CallNext) -> None:
    """Not calling ``call_next`` drops the event: no router sees ``rate_limits.updated``."""
    if event.type != "rate_limits.updated":
        await call_next(event)
