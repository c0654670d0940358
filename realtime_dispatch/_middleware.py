"""``call_next`` middleware chains, composed once when an app starts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

__all__ = ("Middleware", "compose")

E = TypeVar("E")

Middleware = Callable[[E, Callable[[E], Awaitable[None]]], Awaitable[None]]
"""``async def middleware(event, call_next) -> None``: call ``await call_next(event)`` to go on."""


def compose(
    layers: Sequence[Middleware[E]], terminal: Callable[[E], Awaitable[None]]
) -> Callable[[E], Awaitable[None]]:
    """One callable running ``layers`` (the first outermost) around ``terminal``."""
    chain = terminal
    for layer in reversed(layers):
        chain = _link(layer, chain)
    return chain


def _link(layer: Middleware[E], call_next: Callable[[E], Awaitable[None]]) -> Callable[[E], Awaitable[None]]:
    async def step(event: E) -> None:
        await layer(event, call_next)

    return step
