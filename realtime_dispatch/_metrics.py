"""Metrics an operator reads or exports: what arrived, what it cost, and the latencies a
voice user feels. Opt-in (``collect_metrics = True`` on the app): counting every event is
cheap but not free, and the receive loop of an app without it pays nothing.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio

from .events import ClientEvent, ResponseCreate, ServerEvent

__all__ = ("HandlerStats", "Latency", "Metrics")

_FIRST_OUTPUT = frozenset(
    {
        "response.output_audio.delta",
        "response.output_text.delta",
        "response.output_audio_transcript.delta",
        "response.audio.delta",
        "response.text.delta",
        "response.audio_transcript.delta",
        "response.function_call_arguments.delta",
    }
)
_MAX_KEYS = 256  # distinct event types or statuses counted by name; the rest under "other"
_OTHER = "other"
_FIRST_AUDIO = frozenset({"response.output_audio.delta", "response.audio.delta"})


class Latency:
    """A latency series: count, mean, max, and percentiles over the last ``window`` samples."""

    def __init__(self, window: int = 1000) -> None:
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self._recent: deque[float] = deque(maxlen=window)

    def record(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.max = max(self.max, seconds)
        self._recent.append(seconds)

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def percentile(self, p: float) -> float | None:
        """The ``p``-th percentile (0-100) of the recent samples, or None before the first."""
        if not self._recent:
            return None
        ordered = sorted(self._recent)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def snapshot(self) -> dict[str, float | int | None]:
        return {
            "count": self.count,
            "mean": self.mean,
            "p50": self.percentile(50),
            "p95": self.percentile(95),
            "p99": self.percentile(99),
            "max": self.max if self.count else None,
        }


@dataclass(slots=True)
class HandlerStats:
    """Calls of one handler, and the time they took (a background handler's whole run)."""

    calls: int = 0
    errors: int = 0
    total: float = 0.0
    max: float = 0.0


class Metrics:
    """Counters, gauges and latencies of one app, across its connections.

    Read the attributes directly, or ``snapshot()`` for a plain dict to export (Prometheus,
    StatsD, logs). Latencies are in seconds:

    - ``response_latency``: a ``response.create`` sent -> the first output delta of the
      response it created (text, audio, transcript or tool arguments);
    - ``voice_latency``: ``input_audio_buffer.speech_stopped`` -> the first audio delta after it,
      what a caller hears as the pause before the answer.
    """

    def __init__(self) -> None:
        self.events: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.handlers: dict[str, HandlerStats] = {}
        self.decode_errors = 0
        self.handler_errors = 0
        self.connects = 0
        self.reconnects = 0
        self.usage: Counter[str] = Counter()
        self.responses: Counter[str] = Counter()  # by final status
        self.response_latency = Latency()
        self.voice_latency = Latency()
        self._gauges: dict[str, Callable[[], int]] = {}
        self._create_sent: dict[str | None, float] = {}  # our creates not answered yet: event_id -> when
        self._awaiting_output: dict[str, float] = {}  # response id -> when its create went out
        self._speech_stopped: float | None = None
        self.context_usage_ratio: float | None = None
        """GPT-Live: how full the context window was at the last ``session.usage.updated``."""
        self._seconds_before = 0.0  # GPT-Live voice seconds of the sessions before this one

    # --- fed by the app -------------------------------------------------------------------------------

    def observe(self, event: ServerEvent) -> None:
        """Every received event (an observer on all types)."""
        kind = event.type
        if kind in self.events or len(self.events) < _MAX_KEYS:
            self.events[kind] += 1
        else:
            self.events[_OTHER] += 1  # a server inventing types cannot grow this without bound
        if kind in _FIRST_OUTPUT:
            response_id = getattr(event, "response_id", None)
            if self._awaiting_output and response_id in self._awaiting_output:
                self.response_latency.record(anyio.current_time() - self._awaiting_output.pop(response_id))
            if self._speech_stopped is not None and kind in _FIRST_AUDIO:
                self.voice_latency.record(anyio.current_time() - self._speech_stopped)
                self._speech_stopped = None
        elif kind == "response.created":
            response = event.response  # type: ignore[attr-defined]
            if self._create_sent and response.id and response.conversation_id is not None:
                # The sequencer lets one create out at a time: this response answers the oldest.
                self._awaiting_output[response.id] = self._create_sent.pop(next(iter(self._create_sent)))
                while len(self._awaiting_output) > 16:
                    del self._awaiting_output[next(iter(self._awaiting_output))]
        elif kind == "response.done":
            response = event.response  # type: ignore[attr-defined]
            self._awaiting_output.pop(response.id, None)  # no output at all: no latency to record
            status = response.status or "unknown"
            self.responses[status if status in self.responses or len(self.responses) < _MAX_KEYS else _OTHER] += 1
            self._add_usage(response.usage)
        elif kind == "input_audio_buffer.speech_stopped":
            self._speech_stopped = anyio.current_time()
        elif kind == "input_audio_buffer.speech_started":
            self._speech_stopped = None
        elif kind == "error":
            self._create_sent.pop(getattr(event.error, "event_id", None), None)  # type: ignore[attr-defined]

    def session_ended(self) -> None:
        """The connection is gone: requests in flight will never be answered on the next one."""
        self._create_sent.clear()
        self._awaiting_output.clear()
        self._speech_stopped = None

    def observe_sent(self, event: ClientEvent) -> None:
        self.sent[event.type] += 1
        if type(event) is ResponseCreate and not (event.response and event.response.conversation == "none"):
            self._create_sent[event.event_id] = anyio.current_time()
            while len(self._create_sent) > 16:
                del self._create_sent[next(iter(self._create_sent))]

    def timed(self, name: str, call: Callable[[Any], Any], is_async: bool) -> Callable[[Any], Any]:
        """``call``, timing each run into ``handlers[name]``."""
        stats = self.handlers.setdefault(name, HandlerStats())
        clock = time.perf_counter

        def account(started: float, failed: bool) -> None:
            elapsed = clock() - started
            stats.calls += 1
            stats.total += elapsed
            stats.max = max(stats.max, elapsed)
            stats.errors += failed

        if is_async:

            async def timed_async(event: Any) -> Any:
                started = clock()
                failed = True
                try:
                    result = await call(event)
                    failed = False
                    return result
                finally:
                    account(started, failed)

            return timed_async

        def timed_sync(event: Any) -> Any:
            started = clock()
            failed = True
            try:
                result = call(event)
                failed = False
                return result
            finally:
                account(started, failed)

        return timed_sync

    def gauge(self, name: str, read: Callable[[], int]) -> None:
        """A value read when asked (queue depths): ``snapshot()["gauges"][name]``."""
        self._gauges[name] = read

    def _add_usage(self, usage: Any) -> None:
        if usage is None:
            return
        for field in ("input_tokens", "output_tokens", "total_tokens"):
            self.usage[field] += getattr(usage, field, None) or 0
        for side in ("input_token_details", "output_token_details"):
            details = getattr(usage, side, None)
            if details is not None:
                prefix = side.split("_", 1)[0]
                for field in ("text_tokens", "audio_tokens", "cached_tokens"):
                    value = getattr(details, field, None)
                    if value:
                        self.usage[f"{prefix}_{field}"] += value

    def observe_session_usage(self, event: ServerEvent) -> None:
        """GPT-Live's ``session.usage.updated`` and ``session.closed``: the voice seconds so far, in
        ``usage["session_seconds"]`` (cumulative per session, as the server counts them: each report
        replaces the last; the sessions of a reconnected app add up), and ``context_usage_ratio``."""
        reported = getattr(event, "usage", None)
        seconds = getattr(reported, "seconds", None)
        if seconds is not None:
            self.usage["session_seconds"] = self._seconds_before + seconds
            if event.type == "session.closed":
                self._seconds_before += seconds
        window = getattr(event, "context_window", None)
        if window is not None:
            self.context_usage_ratio = window.usage_ratio

    def snapshot(self) -> dict[str, Any]:
        """Everything, as plain values (JSON-serialisable)."""
        return {
            "events": dict(self.events),
            "sent": dict(self.sent),
            "decode_errors": self.decode_errors,
            "handler_errors": self.handler_errors,
            "connects": self.connects,
            "reconnects": self.reconnects,
            "responses": dict(self.responses),
            "usage": dict(self.usage),
            "handlers": {
                name: {"calls": s.calls, "errors": s.errors, "total": s.total, "max": s.max}
                for name, s in self.handlers.items()
            },
            "gauges": {name: read() for name, read in self._gauges.items()},
            "response_latency": self.response_latency.snapshot(),
            "voice_latency": self.voice_latency.snapshot(),
            "context_usage_ratio": self.context_usage_ratio,
        }
