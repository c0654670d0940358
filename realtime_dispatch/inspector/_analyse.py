"""A recorded session reduced to what a report shows: lanes of spans and marks, turns, a summary.

Sans-I/O: ``load`` reads a recording (a path, or its lines), ``analyse`` reduces it in one pass
over the frames (plus a cheap pass that only reads each frame's ``type`` to tell the protocol);
no sockets, no clock.

The latencies are ``app.metrics``' own, computed from the recording's timestamps by the same rules
as ``Metrics.observe`` (see ``Turn``): ``voice_latency`` runs from ``input_audio_buffer.speech_stopped``
to the first audio delta after it (a ``speech_started`` in between cancels it); ``response_latency``
from a ``response.create`` the app sent (not an out-of-band one) to the first output delta of the
response it created (the oldest create not answered yet is paired with the next ``response.created``
that answers the conversation). On a call sideband, where no audio deltas come, the first audio is
``output_audio_buffer.started`` (``app.metrics`` records no voice latency there; the report says so).
A recording without timestamps (bare server frames) is laid out by frame order and measures nothing.

Audio deltas are aggregated into spans (one representative frame each); every event's JSON has its
audio elided (``"<N bytes of audio>"``) and its secrets scrubbed by the library's one rule
(``redact``), and the events kept are bounded, so an hour-long session makes a report of a few MB.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple, cast

import msgspec

from .. import events as realtime_events
from .._redact import redact, redact_text
from ._view import LANES, Event, Mark, SessionView, Span, SpanKind, Summary, Turn

__all__ = ("DEFAULT_PRICES", "PRICES_NOTE", "Recorded", "analyse", "load")

Direction = Literal["in", "out", "connect", "close"]
Protocol = Literal["ga", "beta", "live", "translation"]

PRICES_NOTE = (
    "Estimated cost: OpenAI's public price list as of August 2025 (gpt-realtime's launch), in USD per 1M tokens; "
    "not checked since. GPT-Live's per-minute price is unknown to this table: give it with prices= "
    "({'<model>': {'voice_minute': ...}})."
)
"""Where ``DEFAULT_PRICES`` come from: say it next to any cost shown."""

DEFAULT_PRICES: Mapping[str, Mapping[str, float]] = {
    # USD per 1M tokens: text_in, text_out, audio_in, audio_out, cached_in; or voice_minute (USD per minute).
    "gpt-realtime": {"text_in": 4.0, "text_out": 16.0, "audio_in": 32.0, "audio_out": 64.0, "cached_in": 0.4},
    "gpt-realtime-mini": {"text_in": 0.6, "text_out": 2.4, "audio_in": 10.0, "audio_out": 20.0, "cached_in": 0.3},
    "gpt-4o-realtime-preview": {
        "text_in": 5.0,
        "text_out": 20.0,
        "audio_in": 40.0,
        "audio_out": 80.0,
        "cached_in": 2.5,
    },
    "gpt-4o-mini-realtime-preview": {
        "text_in": 0.6,
        "text_out": 2.4,
        "audio_in": 10.0,
        "audio_out": 20.0,
        "cached_in": 0.3,
    },
}
"""An estimate, overridable (``analyse(prices=...)``): see ``PRICES_NOTE`` for its date and source. A model
matches its own name or its name with a date suffix (``gpt-realtime-2025-08-28``); any other model has no
price and no cost."""

_ANY_MODEL = "*"  # a flat price mapping: the prices of whatever model the session used

UNTIMED_STEP = 0.1
"""Seconds between frames of a recording without timestamps (the frame's index times this)."""

MAX_EVENT_CHARS = 2000  # one event's JSON, cut beyond this
EVENT_BUDGET = 1_500_000  # characters of event JSON in one report; frames beyond are counted, not shown...
_IMPORTANT_BUDGET = 500_000  # ...but errors, connections, tool calls and truncations have this much more
_IMPORTANT = frozenset(
    {
        "error",
        "undecodable",
        "connect",
        "close",
        "conversation.item.truncate",
        "conversation.item.truncated",
        "response.function_call_arguments.done",
        "transport.failed",
    }
)
MAX_EVENTS = 20_000
MAX_LABEL = 200
SPAN_EVENTS = 3  # event indexes kept per span
_SAMPLE_EVERY = 1.0  # seconds: a frequent frame type not tied to a span is shown at most this often
_WINDOW = 1000  # samples the percentiles are taken over: Latency's default window
_LIVE_GAP_MS = 600  # GPT-Live/Translation transcripts and audio: a new utterance after this much quiet
_LIVE_AUDIO_GAP = 0.5  # seconds between audio deltas that end an assistant audio span (GPT-Live/Translation)

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
)  # as _metrics' (the same definition)
_AUDIO_DELTA = frozenset({"response.output_audio.delta", "response.audio.delta"})
_AUDIO_DONE = frozenset({"response.output_audio.done", "response.audio.done"})
_TEXT_DELTA = frozenset(
    {
        "response.output_text.delta",
        "response.text.delta",
        "response.output_audio_transcript.delta",
        "response.audio_transcript.delta",
    }
)
_TEXT_DONE = frozenset(
    {
        "response.output_text.done",
        "response.text.done",
        "response.output_audio_transcript.done",
        "response.audio_transcript.done",
    }
)
_FREQUENT = frozenset(
    {
        "input_audio_buffer.append",
        "session.input_audio.append",
        "session.input_audio_buffer.append",
        "conversation.item.input_audio_transcription.delta",
        "response.function_call_arguments.delta",
        "rate_limits.updated",
        "session.input_transcript.delta",
        "session.output_transcript.delta",
    }
)
_ITEM_ECHOES = frozenset({"conversation.item.added", "conversation.item.created", "conversation.item.done"})
_LIVE_TYPES = frozenset(
    {
        "session.started",
        "response.event",
        "session.usage.updated",
        "session.delegation.created",
        "decision.event",
        "session.instructions.appended",
        "session.thinking.appended",
        "session.commentary.appended",
        "session.start",
    }
)
_BETA_TYPES = frozenset(
    {
        "response.audio.delta",
        "response.text.delta",
        "response.audio_transcript.delta",
        "response.audio.done",
        "response.text.done",
        "response.audio_transcript.done",
    }
)
_GA_TYPES = frozenset(
    {"response.output_audio.delta", "response.output_text.delta", "response.output_audio_transcript.delta"}
)


class Recorded(NamedTuple):
    """One line of a recording. ``t``: seconds (None in a file without timestamps); ``frame``: the decoded
    frame (None when the line or frame was not JSON: ``raw`` holds it then)."""

    t: float | None
    direction: Direction
    connection: int
    frame: dict[str, Any] | None
    raw: bytes | None = None


# --- loading --------------------------------------------------------------------------------------


def load(source: str | os.PathLike[str] | Iterable[str | bytes | Mapping[str, Any]]) -> list[Recorded]:
    """A recording's lines: a ``Recorder`` JSONL file (``{"dir", "connection", "t", "frame"}`` per line), a file
    of bare server frames (one JSON object per line, no timestamps), or their lines (strings, bytes or decoded
    dicts). A line that is not JSON is kept with its ``raw`` bytes (the report marks it); blank lines are
    skipped. Connections are numbered as ``testing.replay`` numbers them."""
    lines: Iterable[str | bytes | Mapping[str, Any]] = (
        Path(source).read_bytes().splitlines() if isinstance(source, (str, os.PathLike)) else source
    )
    decode = msgspec.json.decode
    out: list[Recorded] = []
    append = out.append
    current = 0
    for line in lines:
        if isinstance(line, (str, bytes)):
            if not line.strip():
                continue
            try:
                record: Any = decode(line)
            except msgspec.DecodeError:
                raw = line.encode("utf-8", "replace") if isinstance(line, str) else bytes(line)
                append(Recorded(None, "in", max(current, 1), None, raw))
                continue
        else:
            record = line
        if not isinstance(record, Mapping):
            append(Recorded(None, "in", max(current, 1), None, msgspec.json.encode(record)))
            continue
        direction = record.get("dir")
        if direction in ("in", "out", "connect", "close") and "frame" in record:
            number = record.get("connection")
            if isinstance(number, int) and not isinstance(number, bool):
                current = number
            elif direction == "connect":
                current += 1
            stamp = record.get("t")
            t = float(stamp) if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) else None
            frame = record["frame"]
            if isinstance(frame, dict):
                append(Recorded(t, cast(Direction, direction), max(current, 1), frame, None))
            else:
                append(Recorded(t, cast(Direction, direction), max(current, 1), None, msgspec.json.encode(frame)))
        else:  # a bare server frame
            append(Recorded(None, "in", max(current, 1), dict(record), None))
    return out


# --- helpers --------------------------------------------------------------------------------------


def _audio_bytes(text: str) -> int:
    pad = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
    return max(0, len(text) * 3 // 4 - pad)


def _elide(value: Any, audio_delta: bool = False) -> Any:
    """``value`` with base64 audio replaced by its size (``delta`` of audio deltas, any ``audio`` string)."""
    if isinstance(value, dict):
        kind = value.get("type")
        is_audio = isinstance(kind, str) and kind.endswith("audio.delta")
        shown: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(item, str) and (key == "audio" or (key == "delta" and is_audio)):
                shown[key] = f"<{_audio_bytes(item)} bytes of audio>"
            elif isinstance(item, (dict, list)):
                shown[key] = _elide(item)
            else:
                shown[key] = item
        return shown
    if isinstance(value, list):
        return [_elide(item) for item in value]
    return value


def _shown(frame: dict[str, Any] | None, raw: bytes | None) -> str:
    if frame is None:
        text = redact_text((raw or b"").decode("utf-8", "replace"))
    else:
        try:
            text = msgspec.json.encode(redact(_elide(frame))).decode()
        except (TypeError, ValueError, OverflowError):  # not JSON-able (a dict given by hand): say what it was
            text = redact_text(repr(frame))
    if len(text) > MAX_EVENT_CHARS:
        text = text[: MAX_EVENT_CHARS - 1] + "…"
    return text


def _cut(text: str, limit: int = MAX_LABEL) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _percentile(samples: list[float], p: float) -> float | None:
    """``Latency.percentile``'s method, over its window (the last ``_WINDOW`` samples)."""
    recent = samples[-_WINDOW:]
    if not recent:
        return None
    ordered = sorted(recent)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def _outcome(output: Any) -> str:
    """A tool output's outcome: ``"error"`` for ``{"error": ...}`` (as JSON text or an object), else ``"ok"``."""
    value = output
    if isinstance(output, str):
        stripped = output.lstrip()
        if not stripped.startswith("{"):
            return "ok"
        try:
            value = msgspec.json.decode(stripped)
        except msgspec.DecodeError:
            return "ok"
    return "error" if isinstance(value, dict) and "error" in value else "ok"


def _prices_for(model: str | None, table: Mapping[str, Mapping[str, float]]) -> dict[str, float] | None:
    if _ANY_MODEL in table:
        return dict(table[_ANY_MODEL])
    if model is None:
        return None
    if model in table:
        return dict(table[model])
    for name, prices in table.items():  # a dated snapshot: gpt-realtime-2025-08-28
        rest = model[len(name) :]
        if model.startswith(name) and len(rest) == 11 and rest[0] == "-" and rest[1:5].isdigit():
            return dict(prices)
    return None


def _cost(usage: Mapping[str, float], prices: Mapping[str, float]) -> float | None:
    if "voice_minute" in prices and "session_seconds" in usage:
        return usage["session_seconds"] / 60 * prices["voice_minute"]
    if not any(key in prices for key in ("text_in", "text_out", "audio_in", "audio_out")):
        return None
    text_in = usage.get("input_text_tokens", 0.0)
    audio_in = usage.get("input_audio_tokens", 0.0)
    cached = usage.get("input_cached_tokens", 0.0)
    if not text_in and not audio_in:  # no details: all input counted as text
        text_in = usage.get("input_tokens", 0.0)
    cached_text = min(cached, text_in)
    cached_audio = min(cached - cached_text, audio_in)
    dollars = (
        (text_in - cached_text) * prices.get("text_in", 0.0)
        + (audio_in - cached_audio) * prices.get("audio_in", 0.0)
        + (cached_text + cached_audio) * prices.get("cached_in", 0.0)
        + usage.get("output_text_tokens", 0.0) * prices.get("text_out", 0.0)
        + usage.get("output_audio_tokens", 0.0) * prices.get("audio_out", 0.0)
    )
    if not usage.get("output_text_tokens") and not usage.get("output_audio_tokens"):
        dollars += usage.get("output_tokens", 0.0) * prices.get("text_out", 0.0)
    return dollars / 1_000_000


def detect(recorded: Sequence[Recorded]) -> Protocol:
    """The protocol a recording speaks, from its connect URLs and its frames' types and session shapes."""
    for record in recorded:
        frame = record.frame
        if frame is None:
            continue
        if record.direction == "connect":
            url = _str(frame.get("url")) or ""
            headers = frame.get("headers")
            if "/live/" in url or url.endswith("/live"):
                return "live"
            if "/translations" in url:
                return "translation"
            if isinstance(headers, dict) and any(str(k).lower() == "openai-beta" for k in headers):
                return "beta"
            continue
        kind = frame.get("type")
        if not isinstance(kind, str):
            continue
        if kind in _LIVE_TYPES:
            return "live"
        if (kind.startswith("session.") and kind.endswith("transcript.delta")) or kind == "session.output_audio.delta":
            if "elapsed_ms" in frame:
                return "translation"
            if "start_ms" in frame:
                return "live"
        if kind in _BETA_TYPES:
            return "beta"
        if kind in _GA_TYPES or kind == "conversation.item.added":
            return "ga"
        if kind in ("session.created", "session.updated"):
            session = frame.get("session")
            if isinstance(session, dict):
                shape = session.get("type")
                if shape == "translation":
                    return "translation"
                if shape == "realtime":
                    return "ga"
                if "modalities" in session:
                    return "beta"
    return "ga"


# --- the analysis ---------------------------------------------------------------------------------


class _Open:
    """A span being built."""

    __slots__ = ("count", "cut_at", "end", "events", "kind", "label", "lane", "outcome", "start", "text")

    def __init__(self, lane: str, kind: SpanKind, start: float, label: str = "") -> None:
        self.lane = lane
        self.kind: SpanKind = kind
        self.start = start
        self.end: float | None = None
        self.label = label
        self.cut_at: float | None = None
        self.outcome: str | None = None
        self.events: list[int] = []
        self.count = 0
        self.text: list[str] = []

    def span(self) -> Span:
        label = self.label
        if self.kind == "audio" and self.count and label.startswith("audio"):
            label = f"audio, {self.count} deltas" + label[len("audio") :]
        return Span(
            lane=self.lane,
            start=self.start,
            end=self.end,
            label=_cut(label),
            kind=self.kind,
            cut_at=self.cut_at,
            outcome=self.outcome,
            events=tuple(self.events),
        )


class _Turn:
    __slots__ = (
        "first_audio",
        "index",
        "interrupted",
        "interrupted_at_ms",
        "response_created",
        "response_id",
        "response_latency",
        "start",
        "status",
        "tool_time",
        "tools",
        "user_speech_end",
        "voice_latency",
    )

    def __init__(self, index: int, start: float, response_created: float | None, response_id: str | None) -> None:
        self.index = index
        self.start = start
        self.response_created = response_created
        self.response_id = response_id
        self.user_speech_end: float | None = None
        self.first_audio: float | None = None
        self.voice_latency: float | None = None
        self.response_latency: float | None = None
        self.tool_time = 0.0
        self.tools: list[str] = []
        self.interrupted = False
        self.interrupted_at_ms: int | None = None
        self.status: str | None = None

    def turn(self) -> Turn:
        return Turn(
            index=self.index,
            start=self.start,
            user_speech_end=self.user_speech_end,
            first_audio=self.first_audio,
            voice_latency=self.voice_latency,
            response_created=self.response_created,
            response_latency=self.response_latency,
            tool_time=self.tool_time,
            tools=tuple(self.tools),
            interrupted=self.interrupted,
            interrupted_at_ms=self.interrupted_at_ms,
            response_id=self.response_id,
            status=self.status,
        )


class _Analysis:
    def __init__(self, recorded: Sequence[Recorded], source: str, prices: Mapping[str, Mapping[str, float]]) -> None:
        self.recorded = recorded
        self.source = source
        self.price_table = prices
        self.protocol: Protocol = detect(recorded)
        self.realtime = self.protocol in ("ga", "beta")
        self.timed = any(record.t is not None for record in recorded)
        self.codec = self._codec()
        self.spans: list[_Open] = []
        self.marks: list[Mark] = []
        self.events: list[Event] = []
        self.event_chars = 0
        self.dropped = 0
        self.notes: list[str] = []
        self.sampled: dict[str, float] = {}  # frequent type -> when one was last shown
        self.t = 0.0
        self.model: str | None = None
        # Realtime spans
        self.speech: _Open | None = None
        self.audio: dict[tuple[str | None, str | None], _Open] = {}  # (response_id, item_id) -> open audio span
        self.audio_by_item: dict[str, _Open] = {}
        self.buffer_audio: dict[str | None, _Open] = {}  # sideband: response_id -> output_audio_buffer span
        self.texts: dict[tuple[str | None, str | None, bool], _Open] = {}
        self.transcripts: dict[str, _Open] = {}  # user transcription by item id
        self.tools: dict[str, _Open] = {}  # call_id -> tool span (open)
        self.tool_response: dict[str, str | None] = {}  # call_id -> response id
        self.item_response: dict[str, str] = {}  # assistant item id -> response id
        self.truncated: set[str] = set()
        self.connections: dict[int, _Open] = {}
        self.connection_spans = 0  # spans before this index belong to connections that ended
        self.closed: set[int] = set()
        self.connection = 0
        # turns
        self.turns: list[_Turn] = []
        self.turn_of: dict[str, _Turn] = {}
        self.user_start: float | None = None
        self.user_end: float | None = None
        self.active: set[str] = set()  # responses created, not done
        # app.metrics' latencies (the same rules as Metrics.observe)
        self.create_sent: dict[Any, float] = {}
        self.awaiting: dict[str, float] = {}
        self.speech_stopped: float | None = None
        self.voice_samples: list[float] = []
        self.response_samples: list[float] = []
        self.usage: dict[str, float] = {}
        self.sideband = False
        self.observed = True  # the frame being read decoded with the app's codec (its metrics saw it)
        # GPT-Live / Translation
        self.live_base: float = 0.0
        self.seconds_before = 0.0
        self.utterance: tuple[_Open, _Open | None] | None = None  # (speech span, transcript span)
        self.utterance_end_ms = -(10**9)
        self.reply_text: _Open | None = None
        self.stream_audio: _Open | None = None
        self.last_audio = 0.0
        self.translation_in_ms = -(10**9)
        self.translation_out_ms = -(10**9)
        self.live_turn: _Turn | None = None  # GPT-Live: the turn of the user's last utterance

    def _codec(self) -> Any:
        if self.protocol == "live":
            from ..events import live

            return live.SIDEBAND.decode  # the widest catalogue: the primary's 28 types and the sideband's two
        if self.protocol == "translation":
            from ..events import translation

            return translation.decode
        return realtime_events.decode

    # --- events ---------------------------------------------------------------------------------

    def event(self, index: int, record: Recorded, kind: str) -> int | None:
        budget = EVENT_BUDGET + _IMPORTANT_BUDGET if kind in _IMPORTANT else EVENT_BUDGET
        if len(self.events) >= MAX_EVENTS or self.event_chars >= budget:
            self.dropped += 1
            return None
        shown = _shown(record.frame, record.raw)
        self.event_chars += len(shown)
        self.events.append(Event(t=self.t, direction=record.direction, type=kind, json=shown))
        return len(self.events) - 1

    def sample(self, index: int, record: Recorded, kind: str) -> int | None:
        """A frequent frame: shown at most once per ``_SAMPLE_EVERY`` seconds of its type."""
        last = self.sampled.get(kind)
        if last is not None and self.t - last < _SAMPLE_EVERY:
            self.dropped += 1
            return None
        self.sampled[kind] = self.t
        return self.event(index, record, kind)

    def open(self, lane: str, kind: SpanKind, label: str = "", event: int | None = None) -> _Open:
        span = _Open(lane, kind, self.t, label)
        if event is not None:
            span.events.append(event)
        self.spans.append(span)
        return span

    @staticmethod
    def attach(span: _Open, event: int | None) -> None:
        if event is not None and len(span.events) < SPAN_EVENTS:
            span.events.append(event)

    def mark(self, lane: str, label: str, kind: SpanKind, event: int | None) -> None:
        self.marks.append(Mark(lane=lane, at=self.t, label=_cut(label), kind=kind, event=event))

    # --- the pass -------------------------------------------------------------------------------

    def run(self) -> SessionView:
        recorded = self.recorded
        timed = self.timed
        origin = next((record.t for record in recorded if record.t is not None), 0.0)
        self.sideband = self.realtime and self._is_sideband()
        last_t = 0.0
        frames = 0
        for index, record in enumerate(recorded):
            if timed:
                if record.t is not None:
                    last_t = record.t - origin
                self.t = last_t
            else:
                self.t = index * UNTIMED_STEP
            direction = record.direction
            if direction == "connect":
                self.on_connect(index, record)
                continue
            if direction == "close":
                self.on_close(index, record)
                continue
            frames += 1
            if record.connection != self.connection and record.connection not in self.connections:
                self.connection = record.connection  # a recording without connect lines
            frame = record.frame
            kind = frame.get("type") if frame is not None else None
            if frame is None or not isinstance(kind, str) or "undecodable" in frame:
                event = self.event(index, record, "undecodable")
                self.mark("errors", "a frame that did not decode", "error", event)
                continue
            if direction == "out":
                self.on_sent(index, record, frame, kind)
            elif self.realtime:
                self.on_realtime(index, record, frame, kind)
            elif self.protocol == "live":
                self.on_live(index, record, frame, kind)
            else:
                self.on_translation(index, record, frame, kind)
        return self.finish(frames)

    def _is_sideband(self) -> bool:
        started = False
        for record in self.recorded:
            frame = record.frame
            if frame is None or record.direction != "in":
                continue
            kind = frame.get("type")
            if kind in _AUDIO_DELTA:
                return False
            if kind == "output_audio_buffer.started":
                started = True
        return started

    def decodes(self, index: int, record: Recorded, frame: dict[str, Any], kind: str) -> int | None:
        """The frame's event index (None: not listed). A frame the protocol's codec rejects is marked on the
        errors lane and still drawn, but ``observed`` is False: the app never saw it, so its metrics did not."""
        event = self.sample(index, record, kind) if kind in _FREQUENT else self.event(index, record, kind)
        self.observed = True
        try:
            self.codec(msgspec.json.encode(frame))
        except realtime_events.DecodeError as exc:
            self.mark("errors", f"{kind} did not decode: {redact_text(str(exc))}", "error", event)
            self.observed = False
        except (TypeError, ValueError, OverflowError):
            self.mark("errors", f"{kind} is not JSON", "error", event)
            self.observed = False
        return event

    # --- connection lines -----------------------------------------------------------------------

    def session_ended(self) -> None:
        self.create_sent.clear()
        self.awaiting.clear()
        self.speech_stopped = None

    def end_connection(self, number: int) -> None:
        """The connection is gone: so is everything still open on it (a tool call without its output was
        cancelled: the library never answers it on the next connection)."""
        span = self.connections.get(number)
        if span is not None and span.end is None:
            span.end = self.t
        for span in self.spans[self.connection_spans :]:
            if span.end is None and span.kind != "connection":
                span.end = self.t
                if span.kind == "tool":
                    span.outcome = "cancelled"
        self.connection_spans = len(self.spans)
        for table in (self.audio, self.buffer_audio, self.texts, self.transcripts, self.tools):
            table.clear()
        self.speech = self.stream_audio = self.reply_text = None
        self.utterance = None
        self.live_turn = None
        self.active.clear()

    def on_connect(self, index: int, record: Recorded) -> None:
        event = self.event(index, record, "connect")
        frame = record.frame or {}
        url = _str(frame.get("url"))
        previous = self.connection
        self.session_ended()
        if previous:
            self.end_connection(previous)
            if previous in self.closed:
                label = f"reconnect: connection {record.connection}"
            else:
                label = f"recycle: connection {previous} closed by the app, {record.connection} opened"
            self.mark("connection", label, "connection", event)
        self.connection = record.connection
        if url:
            from urllib.parse import urlsplit

            parts = urlsplit(redact_text(url))
            label = f"connection {record.connection}: {parts.netloc}{parts.path}"
            if self.model is None and parts.query:
                from urllib.parse import parse_qs

                model = parse_qs(parts.query).get("model")
                self.model = model[0] if model else None
        else:
            label = f"connection {record.connection}"
        self.connections[record.connection] = self.open("connection", "connection", label, event)

    def on_close(self, index: int, record: Recorded) -> None:
        event = self.event(index, record, "close")
        frame = record.frame or {}
        code = frame.get("code")
        reason = _str(frame.get("reason")) or ""
        self.mark("connection", f"closed {code} {redact_text(reason)}".strip(), "connection", event)
        self.closed.add(record.connection)
        self.end_connection(record.connection)
        span = self.connections.get(record.connection)
        if span is not None:
            span.outcome = str(code)
        self.session_ended()

    # --- what the app sent ----------------------------------------------------------------------

    def on_sent(self, index: int, record: Recorded, frame: dict[str, Any], kind: str) -> None:
        event = self.sample(index, record, kind) if kind in _FREQUENT else self.event(index, record, kind)
        if kind == "response.create":
            response = frame.get("response")
            if not (isinstance(response, dict) and response.get("conversation") == "none"):
                self.create_sent[frame.get("event_id")] = self.t
                while len(self.create_sent) > 16:
                    del self.create_sent[next(iter(self.create_sent))]
        elif kind in ("conversation.item.create", "response.item.create"):
            item = frame.get("item")
            if isinstance(item, dict) and item.get("type") == "function_call_output":
                self.tool_output(_str(item.get("call_id")), item.get("output"), event)
        elif kind == "conversation.item.truncate":
            self.truncate(_str(frame.get("item_id")), frame.get("audio_end_ms"), event)
        elif kind == "session.input_audio_buffer.append" and self.protocol == "translation":
            audio = frame.get("audio")
            if isinstance(audio, str):
                self.usage["input_audio_seconds"] = self.usage.get("input_audio_seconds", 0.0) + (
                    _audio_bytes(audio) / 48000
                )

    def tool_output(self, call_id: str | None, output: Any, event: int | None) -> None:
        if call_id is None:
            return
        span = self.tools.pop(call_id, None)
        if span is None:
            return
        span.end = self.t
        span.outcome = _outcome(output)
        self.attach(span, event)
        turn = self.turn_of.get(self.tool_response.get(call_id) or "")
        if turn is not None and self.timed:
            turn.tool_time += span.end - span.start

    def tool_call(self, call_id: str | None, name: str | None, response_id: str | None, event: int | None) -> None:
        if call_id is None or call_id in self.tools or call_id in self.tool_response:
            return
        self.tools[call_id] = self.open("tools", "tool", name or "tool", event)
        if self.live_turn is not None and self.protocol == "live":
            response_id = f"live turn {self.live_turn.index}"
        self.tool_response[call_id] = response_id
        turn = self.turn_of.get(response_id or "")
        if turn is not None:
            turn.tools.append(name or "tool")

    def truncate(self, item_id: str | None, audio_end_ms: Any, event: int | None) -> None:
        if item_id is None or item_id in self.truncated:
            return
        self.truncated.add(item_id)
        span = self.audio_by_item.get(item_id)
        end = _num(audio_end_ms)
        ms = int(end) if end is not None else None
        if span is not None:
            span.cut_at = self.t
            span.label += f", cut at {ms} ms" if ms is not None else ", cut"
            self.attach(span, event)
        self.mark("assistant audio", f"truncated at {ms} ms" if ms is not None else "truncated", "audio", event)
        turn = self.turn_of.get(self.item_response.get(item_id, ""))
        if turn is not None:
            turn.interrupted = True
            turn.interrupted_at_ms = ms

    # --- Realtime -------------------------------------------------------------------------------

    def on_realtime(self, index: int, record: Recorded, frame: dict[str, Any], kind: str) -> None:
        t = self.t
        if kind in _AUDIO_DELTA:  # the hot path: no JSON work unless it opens a span
            response_id = _str(frame.get("response_id"))
            item_id = _str(frame.get("item_id"))
            if not isinstance(frame.get("delta"), str):
                self.decodes(index, record, frame, kind)  # marks it: the app's codec rejects it too
                return
            key = (response_id, item_id)
            span = self.audio.get(key)
            if span is None:
                span = self.open("assistant audio", "audio", "audio", self.event(index, record, kind))
                self.audio[key] = span
                if item_id is not None:
                    self.audio_by_item[item_id] = span
                    if response_id is not None:
                        self.item_response[item_id] = response_id
                turn = self.turn_of.get(response_id or "")
                if turn is not None and turn.first_audio is None and not self.sideband:
                    turn.first_audio = t
            else:
                self.dropped += 1
            span.count += 1
            self.first_output(kind, response_id)
            return
        if kind in _TEXT_DELTA:
            response_id = _str(frame.get("response_id"))
            delta = frame.get("delta")
            if not isinstance(delta, str):
                self.decodes(index, record, frame, kind)
                return
            transcript = "transcript" in kind
            text_key = (response_id, _str(frame.get("item_id")), transcript)
            span = self.texts.get(text_key)
            if span is None:
                event = self.event(index, record, kind)
                span = self.open("assistant text", "text", "", event)
                self.texts[text_key] = span
            else:
                self.dropped += 1
            if sum(map(len, span.text)) < MAX_LABEL:
                span.text.append(delta)
            span.count += 1
            self.first_output(kind, response_id)
            return
        event = self.decodes(index, record, frame, kind)
        observed = self.observed
        if kind == "response.function_call_arguments.delta":
            if observed:
                self.first_output(kind, _str(frame.get("response_id")))
        elif kind == "input_audio_buffer.speech_started":
            if observed:
                self.speech_stopped = None
            if self.speech is not None and self.speech.end is None:
                self.speech.end = t
            start_ms = frame.get("audio_start_ms")
            self.speech = self.open("user speech", "speech", f"speech from {start_ms} ms", event)
            self.user_start, self.user_end = t, None
            if self.active or any(span.end is None for span in self.audio.values()):
                self.mark("user speech", "barge-in", "speech", event)
        elif kind == "input_audio_buffer.speech_stopped":
            if observed:
                self.speech_stopped = t
            if self.speech is None or self.speech.end is not None:
                self.speech = self.open("user speech", "speech", "speech", event)
                self.user_start = t
            self.speech.end = t
            self.speech.label += f" to {frame.get('audio_end_ms')} ms (silence included)"
            self.attach(self.speech, event)
            self.user_end = t
        elif kind == "response.created":
            self.response_created(frame, event)
        elif kind == "response.done":
            self.response_done(frame, event)
        elif kind in _AUDIO_DONE:
            span = self.audio.pop((_str(frame.get("response_id")), _str(frame.get("item_id"))), None)
            if span is not None:
                span.end = t
                self.attach(span, event)
        elif kind in _TEXT_DONE:
            transcript = "transcript" in kind
            done_key = (_str(frame.get("response_id")), _str(frame.get("item_id")), transcript)
            span = self.texts.pop(done_key, None)
            full = _str(frame.get("transcript") if transcript else frame.get("text"))
            if span is None:
                span = self.open("assistant text", "text", "", event)
            span.end = t
            span.label = full if full is not None else "".join(span.text)
            if transcript:
                span.label = "said: " + span.label
            self.attach(span, event)
        elif kind == "output_audio_buffer.started":
            self.buffer_started(_str(frame.get("response_id")), event)
        elif kind in ("output_audio_buffer.stopped", "output_audio_buffer.cleared"):
            response_id = _str(frame.get("response_id"))
            span = self.buffer_audio.pop(response_id, None)
            if span is None and kind == "output_audio_buffer.cleared" and self.buffer_audio:
                span = self.buffer_audio.pop(next(iter(self.buffer_audio)))
            if span is not None:
                span.end = t
                if kind == "output_audio_buffer.cleared":
                    span.cut_at = t
                    span.label += ", cleared"
                self.attach(span, event)
        elif kind == "response.function_call_arguments.done":
            self.tool_call(_str(frame.get("call_id")), _str(frame.get("name")), _str(frame.get("response_id")), event)
        elif kind == "response.output_item.added" or kind == "response.output_item.done":
            item = frame.get("item")
            response_id = _str(frame.get("response_id"))
            if isinstance(item, dict):
                item_id = _str(item.get("id"))
                if item_id is not None and response_id is not None:
                    self.item_response[item_id] = response_id
                if kind == "response.output_item.done" and item.get("type") == "function_call":
                    self.tool_call(_str(item.get("call_id")), _str(item.get("name")), response_id, event)
        elif kind in _ITEM_ECHOES:
            item = frame.get("item")
            if isinstance(item, dict) and item.get("type") == "function_call_output":
                self.tool_output(_str(item.get("call_id")), item.get("output"), event)  # bare files: the echo
        elif kind == "conversation.item.truncated":
            self.truncate(_str(frame.get("item_id")), frame.get("audio_end_ms"), event)
        elif kind == "conversation.item.input_audio_transcription.delta":
            item_id = _str(frame.get("item_id")) or ""
            span = self.transcripts.get(item_id)
            if span is None:
                span = self.transcripts[item_id] = self.open("user transcript", "transcript", "", event)
            delta = _str(frame.get("delta")) or ""
            if sum(map(len, span.text)) < MAX_LABEL:
                span.text.append(delta)
        elif kind in ("conversation.item.input_audio_transcription.completed",
                      "conversation.item.input_audio_transcription.failed"):  # fmt: skip
            item_id = _str(frame.get("item_id")) or ""
            span = self.transcripts.pop(item_id, None)
            if span is None:
                span = self.open("user transcript", "transcript", "", event)
            else:
                self.attach(span, event)
            span.end = t
            if kind.endswith("failed"):
                span.outcome = "error"
                span.label = "transcription failed"
            else:
                span.label = _str(frame.get("transcript")) or "".join(span.text)
        elif kind in ("session.created", "session.updated"):
            session = frame.get("session")
            if isinstance(session, dict) and isinstance(session.get("model"), str):
                self.model = session["model"]
            if kind == "session.created":
                self.mark("connection", "session created", "connection", event)
        elif kind == "error":
            error = frame.get("error")
            if isinstance(error, dict):
                if observed:
                    self.create_sent.pop(error.get("event_id"), None)
                label = f"{error.get('code') or error.get('type') or 'error'}: {error.get('message') or ''}"
            else:
                label = "error"
            self.mark("errors", redact_text(label), "error", event)

    def first_output(self, kind: str, response_id: str | None) -> None:
        """``Metrics.observe`` on a first-output type: the two latencies."""
        if not self.timed:
            return
        t = self.t
        if self.awaiting and response_id in self.awaiting:
            latency = t - self.awaiting.pop(response_id)
            self.response_samples.append(latency)
            turn = self.turn_of.get(response_id)
            if turn is not None and turn.response_latency is None:
                turn.response_latency = latency
        if self.speech_stopped is not None and kind in _AUDIO_DELTA:
            self.voice(response_id)

    def voice(self, response_id: str | None) -> None:
        assert self.speech_stopped is not None
        latency = self.t - self.speech_stopped
        self.voice_samples.append(latency)
        turn = self.turn_of.get(response_id or "")
        if turn is not None and turn.voice_latency is None:
            turn.voice_latency = latency
            turn.user_speech_end = self.speech_stopped
        self.speech_stopped = None

    def buffer_started(self, response_id: str | None, event: int | None) -> None:
        if not self.sideband:
            return  # deltas carry the audio: the buffer events only echo what the client plays
        span = self.open("assistant audio", "audio", "audio (output buffer)", event)
        self.buffer_audio[response_id] = span
        turn = self.turn_of.get(response_id or "")
        if turn is not None and turn.first_audio is None:
            turn.first_audio = self.t
        if self.timed and self.speech_stopped is not None:
            self.voice(response_id)

    def response_created(self, frame: dict[str, Any], event: int | None) -> None:
        response = frame.get("response")
        if not isinstance(response, dict):
            return
        response_id = _str(response.get("id"))
        conversation = response.get("conversation_id", "")  # absent: an older server; null: out of band
        # Metrics pair a create with a response whose conversation_id is set (absent counts as unset there)...
        if self.observed and self.create_sent and response_id and response.get("conversation_id") is not None:
            self.awaiting[response_id] = self.create_sent.pop(next(iter(self.create_sent)))
            while len(self.awaiting) > 16:
                del self.awaiting[next(iter(self.awaiting))]
        if response_id is not None:
            self.active.add(response_id)
        if conversation is None:  # ...while a turn is any response not explicitly out of band
            self.mark("assistant text", "out-of-band response", "text", event)
            return
        start = self.user_start if self.user_start is not None else self.t
        turn = _Turn(len(self.turns) + 1, start, self.t, response_id)
        turn.user_speech_end = self.user_end
        self.user_start = self.user_end = None
        self.turns.append(turn)
        if response_id is not None:
            self.turn_of[response_id] = turn

    def response_done(self, frame: dict[str, Any], event: int | None) -> None:
        response = frame.get("response")
        if not isinstance(response, dict):
            return
        response_id = _str(response.get("id"))
        if response_id is not None:
            if self.observed:
                self.awaiting.pop(response_id, None)
            self.active.discard(response_id)
        status = _str(response.get("status"))
        turn = self.turn_of.get(response_id or "")
        if turn is not None:
            turn.status = status
            if status == "cancelled":
                turn.interrupted = True
        for key in [key for key in self.audio if key[0] == response_id]:  # no audio.done: ends with the response
            span = self.audio.pop(key)
            span.end = self.t
            if status == "cancelled" and span.cut_at is None:
                span.cut_at = self.t
        usage = response.get("usage")
        if isinstance(usage, dict) and self.observed:
            self.add_usage(usage)
        if status in ("failed", "incomplete"):
            details = response.get("status_details")
            reason = details.get("reason") if isinstance(details, dict) else None
            self.mark("errors", f"response {status}" + (f": {reason}" if reason else ""), "error", event)

    def add_usage(self, usage: dict[str, Any]) -> None:
        """``Metrics._add_usage``'s keys: token totals, and details as ``input_text_tokens``..."""
        totals = self.usage
        for field in ("input_tokens", "output_tokens", "total_tokens"):
            totals[field] = totals.get(field, 0.0) + (_num(usage.get(field)) or 0.0)
        for side in ("input_token_details", "output_token_details"):
            details = usage.get(side)
            if isinstance(details, dict):
                prefix = side.split("_", 1)[0]
                for field in ("text_tokens", "audio_tokens", "cached_tokens"):
                    value = _num(details.get(field))
                    if value:
                        totals[f"{prefix}_{field}"] = totals.get(f"{prefix}_{field}", 0.0) + value

    # --- GPT-Live -------------------------------------------------------------------------------

    def live_time(self, ms: int) -> float:
        return self.live_base + ms / 1000

    def on_live(self, index: int, record: Recorded, frame: dict[str, Any], kind: str) -> None:
        t = self.t
        if kind == "session.output_audio.delta":
            if not isinstance(frame.get("delta"), str):
                self.decodes(index, record, frame, kind)
                return
            self.stream_delta(index, record, kind, frame)
            return
        event = self.decodes(index, record, frame, kind)
        if kind in ("session.input_transcript.delta", "session.output_transcript.delta"):
            start_ms, end_ms = frame.get("start_ms"), frame.get("end_ms")
            delta = _str(frame.get("delta")) or ""
            if not isinstance(start_ms, int) or not isinstance(end_ms, int):
                return
            if kind == "session.input_transcript.delta":
                utterance = self.utterance
                if utterance is None or start_ms > self.utterance_end_ms + _LIVE_GAP_MS:
                    said = _Open("user speech", "speech", self.live_time(start_ms), "speech")
                    heard = self.open("user transcript", "transcript", "", event)
                    self.spans.append(said)
                    if event is not None:
                        said.events.append(event)
                    utterance = self.utterance = (said, heard)
                    self.live_turn = _Turn(len(self.turns) + 1, said.start, None, None)
                    self.turns.append(self.live_turn)
                    self.turn_of[f"live turn {self.live_turn.index}"] = self.live_turn
                    self.reply_text = None  # the user spoke: what the assistant says next is a new span
                speech, words = utterance
                speech.end = self.live_time(end_ms)
                self.utterance_end_ms = max(self.utterance_end_ms, end_ms)
                if words is not None:
                    words.end = t
                    if sum(map(len, words.text)) < MAX_LABEL:
                        words.text.append(delta)
                    words.label = "".join(words.text)
                if self.live_turn is not None:
                    self.live_turn.user_speech_end = speech.end
            else:
                span = self.reply_text
                quiet = span is not None and span.end is not None and t - span.end > 2.0
                if span is None or quiet:
                    span = self.reply_text = self.open("assistant text", "text", "", event)
                span.end = t
                if sum(map(len, span.text)) < MAX_LABEL:
                    span.text.append(delta)
                span.label = "said: " + "".join(span.text)
        elif kind == "session.started":
            self.live_base = t
            session = frame.get("session")
            if isinstance(session, dict):
                model = session.get("model")
                if isinstance(model, str):
                    self.model = model
                config = session.get("config")
                if self.model is None and isinstance(config, dict) and isinstance(config.get("model"), str):
                    self.model = config["model"]
            self.mark("connection", "session started", "connection", event)
        elif kind in ("session.usage.updated", "session.closed"):
            usage = frame.get("usage")
            seconds = _num(usage.get("seconds")) if isinstance(usage, dict) else None
            if seconds is not None:
                self.usage["session_seconds"] = self.seconds_before + seconds
                if kind == "session.closed":
                    self.seconds_before += seconds
            if kind == "session.closed":
                self.mark("connection", f"session closed: {frame.get('reason')}", "connection", event)
        elif kind == "response.event":
            nested = frame.get("event")
            if isinstance(nested, dict) and nested.get("type") == "response.output_item.done":
                item = nested.get("item")
                if isinstance(item, dict) and item.get("type") == "function_call":
                    response_id = _str(nested.get("response_id"))
                    self.tool_call(_str(item.get("call_id")), _str(item.get("name")), response_id, event)
        elif kind in ("error", "transport.failed"):
            error = frame.get("error")
            label = f"{error.get('code') or kind}: {error.get('message') or ''}" if isinstance(error, dict) else kind
            self.mark("errors", redact_text(label), "error", event)
        elif kind == "transport.dtmf.received":
            self.mark("user speech", f"DTMF {frame.get('event')}", "speech", event)
        elif kind in ("session.paused", "session.resumed"):
            self.mark("connection", kind.split(".", 1)[1], "connection", event)

    def stream_delta(self, index: int, record: Recorded, kind: str, frame: dict[str, Any]) -> None:
        """GPT-Live and Translation audio: runs of deltas, a new span after ``_LIVE_AUDIO_GAP`` of quiet."""
        span = self.stream_audio
        t = self.t
        gap = _LIVE_AUDIO_GAP if self.timed else UNTIMED_STEP * 1.5
        if span is None or t - self.last_audio > gap:
            span = self.stream_audio = self.open("assistant audio", "audio", "audio", self.event(index, record, kind))
            if self.live_turn is not None and self.live_turn.first_audio is None:
                self.live_turn.first_audio = t
        else:
            self.dropped += 1
        span.end = t
        span.count += 1
        self.last_audio = t
        if self.protocol == "translation":
            delta = frame.get("delta")
            rate = _num(frame.get("sample_rate")) or 24000.0
            channels = _num(frame.get("channels")) or 1.0
            if isinstance(delta, str):
                seconds = _audio_bytes(delta) / (2 * rate * channels)
                self.usage["output_audio_seconds"] = self.usage.get("output_audio_seconds", 0.0) + seconds

    # --- Translation ----------------------------------------------------------------------------

    def on_translation(self, index: int, record: Recorded, frame: dict[str, Any], kind: str) -> None:
        if kind == "session.output_audio.delta":
            if not isinstance(frame.get("delta"), str):
                self.decodes(index, record, frame, kind)
                return
            self.stream_delta(index, record, kind, frame)
            return
        event = self.decodes(index, record, frame, kind)
        if kind in ("session.input_transcript.delta", "session.output_transcript.delta"):
            delta = _str(frame.get("delta")) or ""
            elapsed = frame.get("elapsed_ms")
            ms = elapsed if isinstance(elapsed, int) else None
            user = kind == "session.input_transcript.delta"
            last = self.translation_in_ms if user else self.translation_out_ms
            current = self.utterance[1] if user and self.utterance else self.reply_text
            if current is None or (ms is not None and ms > last + _LIVE_GAP_MS):
                lane, span_kind = ("user transcript", "transcript") if user else ("assistant text", "text")
                current = self.open(lane, cast(SpanKind, span_kind), "", event)
                if user:
                    self.utterance = (current, current)
                else:
                    self.reply_text = current
            if ms is not None:
                if user:
                    self.translation_in_ms = ms
                else:
                    self.translation_out_ms = ms
            current.end = self.t
            if sum(map(len, current.text)) < MAX_LABEL:
                current.text.append(delta)
            current.label = ("" if user else "translated: ") + "".join(current.text)
        elif kind in ("session.created", "session.updated"):
            session = frame.get("session")
            if isinstance(session, dict) and isinstance(session.get("model"), str):
                self.model = session["model"]
            if kind == "session.created":
                self.mark("connection", "session created", "connection", event)
        elif kind == "session.closed":
            self.mark("connection", "session closed", "connection", event)
        elif kind == "error":
            error = frame.get("error")
            label = f"{error.get('code') or 'error'}: {error.get('message') or ''}" if isinstance(error, dict) else kind
            self.mark("errors", redact_text(label), "error", event)

    # --- the end --------------------------------------------------------------------------------

    def finish(self, frames: int) -> SessionView:
        duration = self.t if self.recorded else 0.0
        for span in self.spans:  # text still streaming when the recording ended: show what came
            if span.kind == "text" and not span.label and span.text:
                span.label = "".join(span.text)
        if not self.timed:
            self.notes.append(
                "The recording has no timestamps (bare server frames): times are frame order "
                f"({UNTIMED_STEP} s a frame) and no latency is measured."
            )
            for turn in self.turns:
                turn.tool_time = 0.0
        if self.sideband:
            self.notes.append(
                "A call sideband: no audio deltas come, so first audio is output_audio_buffer.started; "
                "app.metrics records no voice latency on a sideband."
            )
        if self.protocol == "live":
            self.notes.append(
                "GPT-Live: app.metrics measures no latencies; user speech is placed by the transcripts' "
                "start_ms/end_ms on the session's timeline (from session.started)."
            )
        if self.protocol == "translation":
            self.notes.append("Realtime Translation: no turns; usage is the audio sent and received, in seconds.")
        if self.dropped:
            self.notes.append(
                f"{self.dropped} frames are summarised, not listed (audio and text deltas into their spans, "
                "frequent frames sampled, the rest past the report's size budget)."
            )
        if any(span.kind == "tool" and span.end is None for span in self.spans):
            self.notes.append("A tool call had no output when the recording ended.")
        prices = _prices_for(self.model, self.price_table)
        cost = _cost(self.usage, prices) if prices is not None and self.usage else None
        if prices is not None and self.usage:
            self.notes.append(PRICES_NOTE)
        summary = Summary(
            duration=duration,
            frames=frames,
            turns=len(self.turns),
            voice_latency_p50=_percentile(self.voice_samples, 50),
            voice_latency_p95=_percentile(self.voice_samples, 95),
            response_latency_p50=_percentile(self.response_samples, 50),
            response_latency_p95=_percentile(self.response_samples, 95),
            usage=dict(self.usage),
            cost=cost,
            model=self.model,
            prices=prices or {},
            voice_latencies=tuple(self.voice_samples),
            response_latencies=tuple(self.response_samples),
        )
        spans = sorted((span.span() for span in self.spans), key=lambda span: span.start)
        return SessionView(
            source=self.source,
            protocol=self.protocol,
            lanes=LANES,
            spans=spans,
            marks=sorted(self.marks, key=lambda mark: mark.at),
            turns=[turn.turn() for turn in self.turns],
            events=self.events,
            summary=summary,
            timed=self.timed,
            notes=self.notes,
        )


def analyse(
    recorded: Sequence[Recorded],
    *,
    source: str = "",
    prices: Mapping[str, Mapping[str, float]] | Mapping[str, float] | None = None,
) -> SessionView:
    """A recording (``load``'s lines) reduced to a ``SessionView``: lanes of spans and marks, turns, a summary
    with ``app.metrics``' latencies and usage, and the frames as bounded, scrubbed events. ``prices`` replaces
    ``DEFAULT_PRICES`` (per model: USD per 1M tokens by kind, or ``voice_minute``); a flat mapping of those
    kinds to prices is the price of whatever model the session used. Never raises on a broken frame: it
    becomes a mark on the errors lane."""
    table: Mapping[str, Mapping[str, float]]
    if prices is None:
        table = DEFAULT_PRICES
    elif all(isinstance(value, Mapping) for value in prices.values()):
        table = cast("Mapping[str, Mapping[str, float]]", prices)
    else:
        table = {_ANY_MODEL: {str(k): float(v) for k, v in prices.items() if isinstance(v, (int, float))}}
    return _Analysis(recorded, source, table).run()
