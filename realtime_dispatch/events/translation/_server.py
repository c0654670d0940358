"""Every server event of Realtime Translation. ``error`` is the Realtime ``ErrorEvent`` itself
(the protocol shares it). Undeclared fields the server adds are ignored, never rejected."""

from __future__ import annotations

from typing import ClassVar, Literal

from .._base import ServerEvent
from .._models import ErrorDetail, pcm_from_base64
from .._server import ErrorEvent
from ._models import Session

__all__ = (
    "ErrorDetail",
    "ErrorEvent",
    "InputTranscriptDeltaEvent",
    "OutputAudioDeltaEvent",
    "OutputTranscriptDeltaEvent",
    "SessionClosedEvent",
    "SessionCreatedEvent",
    "SessionUpdatedEvent",
)


class _WithId(ServerEvent):
    event_id: str


class SessionCreatedEvent(_WithId, tag="session.created"):
    """The first event on every connection, with the session's defaults."""

    type: ClassVar[Literal["session.created"]] = "session.created"
    session: Session


class SessionUpdatedEvent(_WithId, tag="session.updated"):
    """The reply to a successful ``session.update``."""

    type: ClassVar[Literal["session.updated"]] = "session.updated"
    session: Session


class SessionClosedEvent(_WithId, tag="session.closed"):
    """The last event, after ``session.close`` has flushed the pending input and output."""

    type: ClassVar[Literal["session.closed"]] = "session.closed"


class InputTranscriptDeltaEvent(_WithId, tag="session.input_transcript.delta"):
    """Source-language transcript text (only when ``audio.input.transcription`` is set).

    Deltas are append-only: join them without adding spaces. ``elapsed_ms`` advances in 200 ms
    steps and several deltas may share it; it aligns streams, it does not identify a delta.
    """

    type: ClassVar[Literal["session.input_transcript.delta"]] = "session.input_transcript.delta"
    delta: str
    elapsed_ms: int | None = None


class OutputTranscriptDeltaEvent(_WithId, tag="session.output_transcript.delta"):
    """Translated transcript text; the same rules as ``InputTranscriptDeltaEvent``."""

    type: ClassVar[Literal["session.output_transcript.delta"]] = "session.output_transcript.delta"
    delta: str
    elapsed_ms: int | None = None


class OutputAudioDeltaEvent(_WithId, tag="session.output_audio.delta"):
    """A chunk of translated audio (base64 PCM16); its length varies."""

    type: ClassVar[Literal["session.output_audio.delta"]] = "session.output_audio.delta"
    delta: str  # base64 PCM; kept as text so handlers that ignore audio pay nothing
    channels: int | None = None
    elapsed_ms: int | None = None
    format: str | None = None  # "pcm16"
    sample_rate: int | None = None

    @property
    def pcm(self) -> bytes:
        """The audio chunk as raw bytes."""
        return pcm_from_base64(self.delta)
