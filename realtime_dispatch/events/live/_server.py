"""Every GPT-Live server event: the 28 types the primary, sideband and fork connections share,
and the sideband's ``session.paused``/``session.resumed`` (WebRTC sessions).

Most carry ``event_id`` and, when they answer a command, ``client_event_id``. The audio
events (``session.output_audio.delta``, the sideband's reflected ``session.input_audio.append``)
carry no ids. The reflected audio and every ``transport.*`` event reach sideband observers only.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import msgspec

from .._base import ServerEvent
from .._models import pcm_from_base64
from ._models import (
    ContextWindow,
    DecisionCompleted,
    DecisionItem,
    Delegation,
    Error,
    SessionResource,
    SessionUsage,
    TransportError,
)

__all__ = (
    "CommentaryAppendedEvent",
    "DecisionEvent",
    "DecisionItemCreatedEvent",
    "DecisionItemDeletedEvent",
    "DelegationCreatedEvent",
    "ErrorEvent",
    "FunctionCall",
    "InfoEvent",
    "InputAudioMutedEvent",
    "InputAudioUnmutedEvent",
    "InputTranscriptDeltaEvent",
    "InstructionsAppendedEvent",
    "OutputAudioDeltaEvent",
    "OutputAudioFixturePlayedEvent",
    "OutputAudioFixturePlayingEvent",
    "OutputTranscriptDeltaEvent",
    "ResponseEvent",
    "SessionClosedEvent",
    "SessionInputAudioAppend",
    "SessionPaused",
    "SessionResumed",
    "SessionStartedEvent",
    "SessionUpdatedEvent",
    "SessionUsageUpdatedEvent",
    "ThinkingAppendedEvent",
    "TransportAnswered",
    "TransportDtmfReceived",
    "TransportDtmfSendLegacy",
    "TransportDtmfSent",
    "TransportFailed",
    "TransportRinging",
)


class _WithId(ServerEvent):
    event_id: str


class _Reply(_WithId, kw_only=True):
    """An event that may answer a command: ``client_event_id`` echoes its ``event_id``."""

    client_event_id: str | None = None


class _Appended(_Reply):
    start_ms: int
    end_ms: int  # may equal start_ms


class _TranscriptDelta(_Reply):
    delta: str  # append exactly as received
    start_ms: int
    end_ms: int  # exclusive


# --- session -------------------------------------------------------------------------------


class SessionStartedEvent(_Reply, tag="session.started"):
    """The session is running (a fork's carries the new session id); nothing may be sent before it."""

    type: ClassVar[Literal["session.started"]] = "session.started"
    session: SessionResource


class SessionUpdatedEvent(_Reply, tag="session.updated"):
    """Acknowledges ``session.update`` with the full resolved config."""

    type: ClassVar[Literal["session.updated"]] = "session.updated"
    session: SessionResource


class SessionClosedEvent(_Reply, tag="session.closed"):
    """Terminal: why the session ended, its final snapshot and final usage."""

    type: ClassVar[Literal["session.closed"]] = "session.closed"
    reason: str  # close_requested | expired | content | remote_hangup | connection_lost
    session: SessionResource
    usage: SessionUsage


class SessionPaused(_Reply, tag="session.paused"):
    """Sideband (and a permitted data channel) of a WebRTC session only: the idle timeout paused
    inference; the connection, sideband and session id persist."""

    type: ClassVar[Literal["session.paused"]] = "session.paused"


class SessionResumed(_Reply, tag="session.resumed"):
    """Sideband (and a permitted data channel) of a WebRTC session only: speech woke inference and
    it is ready for audio (on the first wake and each later one)."""

    type: ClassVar[Literal["session.resumed"]] = "session.resumed"


class SessionUsageUpdatedEvent(_Reply, tag="session.usage.updated"):
    """Cumulative voice usage; ``context_window`` is absent when the limit is unknown."""

    type: ClassVar[Literal["session.usage.updated"]] = "session.usage.updated"
    usage: SessionUsage
    context_window: ContextWindow | None = None


# --- audio -----------------------------------------------------------------------------------


class InputAudioMutedEvent(_Reply, tag="session.input_audio.muted"):
    """Acknowledges ``session.input_audio.mute``."""

    type: ClassVar[Literal["session.input_audio.muted"]] = "session.input_audio.muted"


class InputAudioUnmutedEvent(_Reply, tag="session.input_audio.unmuted"):
    """Acknowledges ``session.input_audio.unmute``."""

    type: ClassVar[Literal["session.input_audio.unmuted"]] = "session.input_audio.unmuted"


class OutputAudioFixturePlayingEvent(_Reply, tag="session.output_audio.fixture.playing"):
    """The audio fixture was accepted and is playing (model speech interrupted, input muted)."""

    type: ClassVar[Literal["session.output_audio.fixture.playing"]] = "session.output_audio.fixture.playing"


class OutputAudioFixturePlayedEvent(_Reply, tag="session.output_audio.fixture.played"):
    """The fixture finished and the mixer drained; not sent if playback was cancelled or failed."""

    type: ClassVar[Literal["session.output_audio.fixture.played"]] = "session.output_audio.fixture.played"


class OutputAudioDeltaEvent(ServerEvent, tag="session.output_audio.delta"):
    """A chunk of assistant audio, in order; no ids. Sideband copies are PCM16 24 kHz with
    ``start_ms`` (inclusive) and ``end_ms`` (exclusive); gaps mean dropped frames."""

    type: ClassVar[Literal["session.output_audio.delta"]] = "session.output_audio.delta"
    delta: str  # base64; kept as text so handlers that ignore audio pay nothing
    start_ms: int | None = None
    end_ms: int | None = None

    @property
    def pcm(self) -> bytes:
        """The audio chunk as raw bytes (decoded on each access)."""
        return pcm_from_base64(self.delta)


class SessionInputAudioAppend(ServerEvent, tag="session.input_audio.append"):
    """Sideband only: the caller's audio reflected, base64 PCM16LE 24 kHz; no ids, no timestamps."""

    type: ClassVar[Literal["session.input_audio.append"]] = "session.input_audio.append"
    audio: str

    @property
    def pcm(self) -> bytes:
        """The audio as raw bytes (decoded on each access)."""
        return pcm_from_base64(self.audio)


# --- transcripts and context -------------------------------------------------------------------


class InputTranscriptDeltaEvent(_TranscriptDelta, tag="session.input_transcript.delta"):
    """A fragment of the user's speech; fragments of both parties interleave."""

    type: ClassVar[Literal["session.input_transcript.delta"]] = "session.input_transcript.delta"


class OutputTranscriptDeltaEvent(_TranscriptDelta, tag="session.output_transcript.delta"):
    """A fragment of the assistant's speech."""

    type: ClassVar[Literal["session.output_transcript.delta"]] = "session.output_transcript.delta"


class InstructionsAppendedEvent(_Appended, tag="session.instructions.appended"):
    """The timeline reached the estimated end of appended instructions."""

    type: ClassVar[Literal["session.instructions.appended"]] = "session.instructions.appended"


class ThinkingAppendedEvent(_Appended, tag="session.thinking.appended"):
    """The timeline reached the estimated end of appended silent context."""

    type: ClassVar[Literal["session.thinking.appended"]] = "session.thinking.appended"


class CommentaryAppendedEvent(_Appended, tag="session.commentary.appended"):
    """The timeline reached the estimated end of appended speakable commentary."""

    type: ClassVar[Literal["session.commentary.appended"]] = "session.commentary.appended"


# --- delegation ------------------------------------------------------------------------------


class DelegationCreatedEvent(_Reply, tag="session.delegation.created"):
    """The model delegated a task (metadata only: derive the task from transcripts); ``offset_ms``
    places it on the session timeline."""

    type: ClassVar[Literal["session.delegation.created"]] = "session.delegation.created"
    offset_ms: int
    delegation: Delegation


class DecisionEvent(_WithId, tag="decision.event"):
    """A completed Decisions evaluation, for a delegation (``delegation_id``) or a trigger
    (``trigger_id``, ``source_event_id``, ``source_event_type``). No ``client_event_id``."""

    type: ClassVar[Literal["decision.event"]] = "decision.event"
    event: DecisionCompleted
    delegation_id: str | None = None
    trigger_id: str | None = None
    source_event_id: str | None = None
    source_event_type: str | None = None


class DecisionItemCreatedEvent(_Reply, tag="decision.item.created"):
    """Acknowledges ``decision.item.create`` with the stored item (``id`` set)."""

    type: ClassVar[Literal["decision.item.created"]] = "decision.item.created"
    item: DecisionItem


class DecisionItemDeletedEvent(_Reply, tag="decision.item.deleted"):
    """Acknowledges ``decision.item.delete``."""

    type: ClassVar[Literal["decision.item.deleted"]] = "decision.item.deleted"
    item_id: str


class FunctionCall(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """A function call the Responses backend made: answer it with ``response.item.create``
    (a ``function_call_output`` with this ``call_id``), then ``response.create``."""

    call_id: str
    name: str
    arguments: str  # JSON text
    id: str | None = None


class _NestedItem(msgspec.Struct, gc=False):
    type: str | None = None
    id: str | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None


class _NestedResponse(msgspec.Struct, gc=False):
    id: str | None = None


class _Nested(msgspec.Struct, gc=False):
    """The few fields of a nested Responses event that ``ResponseEvent`` exposes."""

    type: str | None = None
    delta: Any = None
    item: _NestedItem | None = None
    response_id: str | None = None
    response: _NestedResponse | None = None


_nested_decoder = msgspec.json.Decoder(_Nested)
_EMPTY = _Nested()
# One-slot cache: handlers ask several properties of the same event in a row. Holding the
# Raw object keeps identity checks sound; a tuple swap is atomic, so threads are fine.
_last: tuple[msgspec.Raw, _Nested] = (msgspec.Raw(b"{}"), _EMPTY)


def _nested(raw: msgspec.Raw) -> _Nested:
    global _last
    cached_raw, cached = _last
    if cached_raw is raw:
        return cached
    try:
        nested = _nested_decoder.decode(raw)
    except msgspec.DecodeError:  # not an object, or fields of unexpected types
        nested = _EMPTY
    _last = (raw, nested)
    return nested


class ResponseEvent(_Reply, tag="response.event"):
    """A nested Responses streaming event of Responses delegation (``response.created``,
    ``response.output_text.delta``, ``response.output_item.done``, ``response.completed``...).

    ``event`` is the nested event's JSON, kept raw: it encodes back byte for byte and costs
    nothing until read. ``event_type``, ``function_call``, ``text_delta`` and ``response_id``
    decode the few fields they need on access (a small partial decoder; the last event's
    result is cached), and ``nested()`` gives the whole event as a dict.
    """

    type: ClassVar[Literal["response.event"]] = "response.event"
    event: msgspec.Raw
    delegation_id: str | None = None

    @classmethod
    def from_nested(
        cls, nested: dict[str, Any], *, delegation_id: str | None = None, event_id: str | None = None
    ) -> ResponseEvent:
        """Wrap a nested Responses event (a JSON-able dict); ``event_id`` is generated when absent."""
        fields: dict[str, Any] = {"event": msgspec.Raw(msgspec.json.encode(nested)), "delegation_id": delegation_id}
        if event_id is not None:
            fields["event_id"] = event_id
        return cls.build(**fields)

    def nested(self) -> dict[str, Any]:
        """The nested event decoded to a dict (a fresh one each call)."""
        value = msgspec.json.decode(self.event)
        return value if isinstance(value, dict) else {}

    @property
    def event_type(self) -> str | None:
        """The nested event's ``type``, e.g. ``"response.output_item.done"``."""
        return _nested(self.event).type

    @property
    def function_call(self) -> FunctionCall | None:
        """The call when the nested event is a ``response.output_item.done`` whose item is a
        ``function_call``; else None."""
        nested = _nested(self.event)
        item = nested.item
        if nested.type != "response.output_item.done" or item is None or item.type != "function_call":
            return None
        if item.call_id is None or item.name is None or item.arguments is None:
            return None
        return FunctionCall(call_id=item.call_id, name=item.name, arguments=item.arguments, id=item.id)

    @property
    def text_delta(self) -> str | None:
        """The ``delta`` of a nested ``response.output_text.delta``; else None."""
        nested = _nested(self.event)
        if nested.type == "response.output_text.delta" and isinstance(nested.delta, str):
            return nested.delta
        return None

    @property
    def response_id(self) -> str | None:
        """The nested event's ``response_id``, or its ``response.id`` (lifecycle events); else None."""
        nested = _nested(self.event)
        if nested.response_id is not None:
            return nested.response_id
        return nested.response.id if nested.response is not None else None


# --- notices ---------------------------------------------------------------------------------


class ErrorEvent(_Reply, tag="error"):
    """A command failed (the session goes on) or startup failed (no ``session.started`` follows)."""

    type: ClassVar[Literal["error"]] = "error"
    error: Error


class InfoEvent(_Reply, tag="info"):
    """A notice, e.g. ``code`` ``data_channel_permissions``."""

    type: ClassVar[Literal["info"]] = "info"
    code: str
    message: str


# --- SIP transport (sideband only) -------------------------------------------------------------


class TransportDtmfReceived(_WithId, tag="transport.dtmf.received"):
    """The caller pressed a key (``event``: 0-9, A-D, * or #)."""

    type: ClassVar[Literal["transport.dtmf.received"]] = "transport.dtmf.received"
    event: str


class TransportDtmfSent(_Reply, tag="transport.dtmf.sent"):
    """Acknowledges ``transport.dtmf.send``."""

    type: ClassVar[Literal["transport.dtmf.sent"]] = "transport.dtmf.sent"
    event: str


class TransportDtmfSendLegacy(_Reply, tag="transport.dtmf.send"):
    """Legacy server notification of a sent key; current servers send ``transport.dtmf.sent``."""

    type: ClassVar[Literal["transport.dtmf.send"]] = "transport.dtmf.send"
    event: str


class TransportRinging(_WithId, tag="transport.ringing"):
    """The outbound SIP provider leg is ringing."""

    type: ClassVar[Literal["transport.ringing"]] = "transport.ringing"
    session_id: str


class TransportAnswered(_WithId, tag="transport.answered"):
    """The outbound SIP provider leg was answered."""

    type: ClassVar[Literal["transport.answered"]] = "transport.answered"
    session_id: str


class TransportFailed(_WithId, tag="transport.failed"):
    """The outbound SIP provider leg failed."""

    type: ClassVar[Literal["transport.failed"]] = "transport.failed"
    session_id: str
    error: TransportError
