"""What a report shows: a recorded session reduced to lanes of spans and marks, turns and a summary.

Plain data, computed in Python (``_analyse``) and rendered to HTML (``_render``); the browser test
checks that what the page shows equals these numbers. Times are seconds from the session's first
frame (``t`` in a ``Recorder`` file; the frame's index times a nominal step when a file has none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ("LANES", "Event", "Mark", "SessionView", "Span", "Summary", "Turn")

LANES: tuple[str, ...] = (
    "user speech",  # VAD speech_started -> speech_stopped (GPT-Live: input transcript start_ms/end_ms)
    "user transcript",  # input transcription deltas/completed: the words, when they came
    "assistant audio",  # first audio delta (sideband: output_audio_buffer.started) -> done; truncation marked
    "assistant text",  # output text / audio transcript deltas -> done
    "tools",  # function call: arguments done -> its output sent (name, outcome)
    "errors",  # error events, frames that did not decode
    "connection",  # connects, reconnects, recycles, closes
)
"""The timeline's lanes, top to bottom."""

SpanKind = Literal["speech", "transcript", "audio", "text", "tool", "error", "connection"]


@dataclass(frozen=True, slots=True)
class Event:
    """One recorded frame, for hovering: its time, direction and JSON (audio elided, secrets scrubbed)."""

    t: float
    direction: Literal["in", "out", "connect", "close"]
    type: str
    json: str  # compact, pretty enough to read in a tooltip; at most a few KB


@dataclass(frozen=True, slots=True)
class Span:
    """Something that lasted: on ``lane``, from ``start`` to ``end`` (``end`` None: still open when the recording
    ended). ``cut_at``: where an interruption cut it (assistant audio truncated at this time). ``events``: indexes
    into ``SessionView.events`` of the frames behind it (the first few: hovering shows them)."""

    lane: str
    start: float
    end: float | None
    label: str
    kind: SpanKind
    cut_at: float | None = None
    outcome: str | None = None  # a tool's: "ok", "error", "cancelled"; a response's status
    events: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Mark:
    """Something that happened at one time: an error, a reconnect, a DTMF key, a barge-in."""

    lane: str
    at: float
    label: str
    kind: SpanKind
    event: int | None = None  # index into SessionView.events


@dataclass(frozen=True, slots=True)
class Turn:
    """One exchange: the user's speech (if any) and the response that answered it.

    ``voice_latency``: end of user speech (``input_audio_buffer.speech_stopped``) -> the first assistant audio after
    it (the first ``response.output_audio.delta``; on a sideband, where no audio deltas come,
    ``output_audio_buffer.started``): what ``app.metrics.voice_latency`` measures. ``response_latency``: a
    ``response.create`` the client sent -> the first output delta of the response it created (text, audio,
    transcript or tool arguments): ``app.metrics.response_latency``. ``tool_time``: seconds the turn's tool calls
    ran (arguments done -> output sent), summed. ``interrupted_at_ms``: where the assistant's audio was cut
    (``conversation.item.truncate``'s ``audio_end_ms``), when it was."""

    index: int
    start: float
    user_speech_end: float | None
    first_audio: float | None
    voice_latency: float | None
    response_created: float | None
    response_latency: float | None
    tool_time: float
    tools: tuple[str, ...]
    interrupted: bool
    interrupted_at_ms: int | None
    response_id: str | None
    status: str | None


@dataclass(frozen=True, slots=True)
class Summary:
    """Over the session: latency percentiles (None without samples), usage, an estimated cost."""

    duration: float
    frames: int
    turns: int
    voice_latency_p50: float | None
    voice_latency_p95: float | None
    response_latency_p50: float | None
    response_latency_p95: float | None
    usage: dict[str, float]  # token totals from response.done (Realtime), session_seconds (GPT-Live)
    cost: float | None  # USD, from ``usage`` and the price table; None when the model's price is unknown
    model: str | None
    prices: dict[str, float]  # the per-unit prices used (documented, overridable)
    # Every latency sample, in order (app.metrics' ``Latency`` keeps them as its window): the p50/p95 above are
    # taken over the last 1,000, as ``Latency.percentile`` does.
    voice_latencies: tuple[float, ...] = ()
    response_latencies: tuple[float, ...] = ()


@dataclass(slots=True)
class SessionView:
    """A whole recording, ready to render."""

    source: str  # the file's name
    protocol: Literal["ga", "beta", "live", "translation"]
    lanes: tuple[str, ...]
    spans: list[Span] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    summary: Summary | None = None
    timed: bool = True  # False: the file had no timestamps (times are frame order, latencies are not measured)
    notes: list[str] = field(default_factory=list)  # what the report could not tell, said on the page

    def to_json(self) -> dict[str, Any]:
        """Plain data for the page's script (and the browser test's comparisons)."""
        from dataclasses import asdict

        return {
            "source": self.source,
            "protocol": self.protocol,
            "lanes": list(self.lanes),
            "spans": [asdict(span) for span in self.spans],
            "marks": [asdict(mark) for mark in self.marks],
            "turns": [asdict(turn) for turn in self.turns],
            "events": [asdict(event) for event in self.events],
            "summary": asdict(self.summary) if self.summary is not None else None,
            "timed": self.timed,
            "notes": list(self.notes),
        }
