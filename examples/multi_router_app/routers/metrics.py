"""Counts the events that reach the routers (after the middleware), by type."""

from __future__ import annotations

from collections import Counter

from realtime_dispatch import Router, events

router = Router("metrics")
seen: Counter[str] = Counter()


@router.on("*")  # every event, unknown types included (as UnknownEvent)
def count(event: events.ServerEvent) -> None:
    seen[event.type] += 1
