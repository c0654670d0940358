"""Every GPT-Live client event: the primary connection's 15, the fork's ``session.start`` and the
sideband's ``transport.dtmf.send``.

``event_id`` is optional (the server echoes it as ``client_event_id``), except on
``decision.create``, where it is required and must be unique for the session.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from .._base import ClientEvent
from .._models import pcm_from_base64, pcm_to_base64
from ._models import DecisionItem, ForkSessionConfig, SessionConfig, SessionUpdateConfig

__all__ = (
    "CommentaryAppendEvent",
    "DecisionCreateEvent",
    "DecisionItemCreateEvent",
    "DecisionItemDeleteEvent",
    "ForkSessionStartEvent",
    "InputAudioAppendEvent",
    "InputAudioMuteEvent",
    "InputAudioUnmuteEvent",
    "InstructionsAppendEvent",
    "OutputAudioFixturePlayEvent",
    "ResponseCreateEvent",
    "ResponseItemCreateEvent",
    "SessionCloseEvent",
    "SessionStartEvent",
    "SessionUpdateEvent",
    "ThinkingAppendEvent",
    "TransportDtmfSend",
)


class SessionStartEvent(ClientEvent, tag="session.start"):
    """The first frame on the primary WebSocket: the session's startup config. Never on WebRTC."""

    type: ClassVar[Literal["session.start"]] = "session.start"
    session: SessionConfig


class ForkSessionStartEvent(ClientEvent, tag="session.start"):
    """The first frame on the fork WebSocket: overrides for the fork (``{}`` inherits all)."""

    type: ClassVar[Literal["session.start"]] = "session.start"
    session: ForkSessionConfig


class SessionUpdateEvent(ClientEvent, tag="session.update"):
    """Change delegation settings or triggers; the rest of the session is immutable."""

    type: ClassVar[Literal["session.update"]] = "session.update"
    session: SessionUpdateConfig


class SessionCloseEvent(ClientEvent, tag="session.close"):
    """Stop new work and finalize; keep reading until ``session.closed``."""

    type: ClassVar[Literal["session.close"]] = "session.close"


class InputAudioAppendEvent(ClientEvent, tag="session.input_audio.append"):
    """Stream input audio (base64, the startup format, no container), silence included. No ack.
    Primary and fork WebSocket only."""

    type: ClassVar[Literal["session.input_audio.append"]] = "session.input_audio.append"
    audio: str

    @classmethod
    def from_pcm(cls, pcm: bytes | bytearray | memoryview, *, event_id: str | None = None) -> InputAudioAppendEvent:
        """Build the event from raw audio bytes (an even number of bytes for PCM)."""
        return cls(audio=pcm_to_base64(pcm), event_id=event_id)

    @property
    def pcm(self) -> bytes:
        """The audio as raw bytes."""
        return pcm_from_base64(self.audio)


class InputAudioMuteEvent(ClientEvent, tag="session.input_audio.mute"):
    """Mute the input (not the output)."""

    type: ClassVar[Literal["session.input_audio.mute"]] = "session.input_audio.mute"


class InputAudioUnmuteEvent(ClientEvent, tag="session.input_audio.unmute"):
    """Unmute the input."""

    type: ClassVar[Literal["session.input_audio.unmute"]] = "session.input_audio.unmute"


class OutputAudioFixturePlayEvent(ClientEvent, tag="session.output_audio.fixture.play"):
    """Play exact audio (base64 PCM16LE mono 24 kHz whatever the session format, at most 30 s)."""

    type: ClassVar[Literal["session.output_audio.fixture.play"]] = "session.output_audio.fixture.play"
    audio: str

    @classmethod
    def from_pcm(
        cls, pcm: bytes | bytearray | memoryview, *, event_id: str | None = None
    ) -> OutputAudioFixturePlayEvent:
        """Build the event from raw PCM16LE mono 24 kHz bytes."""
        return cls(audio=pcm_to_base64(pcm), event_id=event_id)

    @property
    def pcm(self) -> bytes:
        """The audio as raw bytes."""
        return pcm_from_base64(self.audio)


class _Append(ClientEvent):
    content: str  # plain text, at most 500 tokens
    # Required but nullable: no default, so it is always sent (``null`` for general context).
    delegation_id: str | None


class InstructionsAppendEvent(_Append, tag="session.instructions.append"):
    """Append developer instructions (may interrupt speech); ``delegation_id`` None or a client delegation."""

    type: ClassVar[Literal["session.instructions.append"]] = "session.instructions.append"


class ThinkingAppendEvent(_Append, tag="session.thinking.append"):
    """Append silent context, e.g. a client delegation's result."""

    type: ClassVar[Literal["session.thinking.append"]] = "session.thinking.append"


class CommentaryAppendEvent(_Append, tag="session.commentary.append"):
    """Append speakable context; the model paraphrases it."""

    type: ClassVar[Literal["session.commentary.append"]] = "session.commentary.append"


class DecisionCreateEvent(ClientEvent, tag="decision.create"):
    """Start a Decisions evaluation; ``event_id`` is required and must not be reused."""

    type: ClassVar[Literal["decision.create"]] = "decision.create"
    event_id: str  # required here, optional on every other client event


class DecisionItemCreateEvent(ClientEvent, tag="decision.item.create"):
    """Add a Decision input item (no evaluation starts, the voice context is unchanged)."""

    type: ClassVar[Literal["decision.item.create"]] = "decision.item.create"
    item: DecisionItem


class DecisionItemDeleteEvent(ClientEvent, tag="decision.item.delete"):
    """Delete a Decision input item."""

    type: ClassVar[Literal["decision.item.delete"]] = "decision.item.delete"
    item_id: str


class ResponseItemCreateEvent(ClientEvent, tag="response.item.create"):
    """Add a Responses input item (Responses delegation only; no success ack).

    ``item`` is any Responses input item as JSON: messages, ``function_call_output``...
    """

    type: ClassVar[Literal["response.item.create"]] = "response.item.create"
    item: dict[str, Any]

    @classmethod
    def function_call_output(cls, call_id: str, output: str, *, event_id: str | None = None) -> ResponseItemCreateEvent:
        """The result of a function call; send ``response.create`` after all pending ones."""
        return cls(item={"type": "function_call_output", "call_id": call_id, "output": output}, event_id=event_id)

    @classmethod
    def user_message(cls, text: str, *, event_id: str | None = None) -> ResponseItemCreateEvent:
        """Typed user text for the Responses backend; follow with ``response.create``."""
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        return cls(item=item, event_id=event_id)


class ResponseCreateEvent(ClientEvent, tag="response.create"):
    """Start or continue delegated Responses work (no body allowed). It does not make the model speak."""

    type: ClassVar[Literal["response.create"]] = "response.create"


class TransportDtmfSend(ClientEvent, tag="transport.dtmf.send"):
    """Sideband, SIP only: send one key (``event``: 0-9, A-D, * or #)."""

    type: ClassVar[Literal["transport.dtmf.send"]] = "transport.dtmf.send"
    event: str
