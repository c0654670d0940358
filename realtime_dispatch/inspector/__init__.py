"""See a recorded session: a timeline of who spoke when, the tools, the interruptions, with its voice latencies.

``inspect("session.jsonl")`` writes ``session.html``, one self-contained page (``realtime-dispatch inspect``
does the same from the command line); ``render(view)`` is the page of a ``SessionView``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._analyse import DEFAULT_PRICES, PRICES_NOTE, Recorded, analyse, load
from ._render import render
from ._view import LANES, Event, Mark, SessionView, Span, Summary, Turn

__all__ = (
    "DEFAULT_PRICES",
    "LANES",
    "Event",
    "Mark",
    "Recorded",
    "SessionView",
    "Span",
    "Summary",
    "Turn",
    "analyse",
    "inspect",
    "load",
    "render",
)

Prices = Mapping[str, float] | Mapping[str, Mapping[str, float]]


def inspect(
    recording: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    prices: str | os.PathLike[str] | Prices | None = None,
) -> Path:
    """Write the report of ``recording`` (a JSONL file) to ``output`` (default: next to it, ending in ``.html``)
    and return its path. ``prices``: instead of the built-in table (``_analyse.DEFAULT_PRICES``), for the
    estimated cost: per model (``{"gpt-realtime": {"text_in": 4.0, ...}}``) or one model's (``{"text_in": 4.0,
    ...}``), in USD per 1M tokens (``voice_minute``: per minute); a mapping, or a JSON file of one. Raises
    ``OSError`` when a file cannot be read or written, ``ValueError`` when the prices are not a table of prices."""
    source = Path(recording)
    target = Path(output) if output is not None else source.with_suffix(".html")
    table: Prices | None
    if prices is None:
        table, note = None, PRICES_NOTE
    elif isinstance(prices, Mapping):
        table, note = prices, "Estimated cost: the prices given (prices=...)."
    else:
        table, note = _load_prices(Path(prices)), f"Estimated cost: the prices of {Path(prices).name}."
    view = analyse(load(source), source=source.name, prices=table)
    view.notes = [text for text in view.notes if text != PRICES_NOTE]  # said next to the cost instead
    target.write_text(render(view, prices_note=note), encoding="utf-8", errors="replace")
    return target


def _is_price(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _load_prices(path: Path) -> Prices:
    """A JSON file of prices, per model or one model's; ValueError when it is not one."""
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"the prices {str(path)!r} are not JSON: {exc}") from None
    flat = isinstance(table, dict) and all(_is_price(value) for value in table.values())
    nested = isinstance(table, dict) and all(
        isinstance(prices, dict) and all(_is_price(value) for value in prices.values()) for prices in table.values()
    )
    if not table or not (flat or nested):
        raise ValueError(
            f"the prices {str(path)!r} are not a table of prices:"
            ' {"MODEL": {"text_in": 4.0, ...}} or {"text_in": 4.0, ...}'
        )
    return {str(key): value for key, value in table.items()}
