"""Every client event: the 11 GA types and beta ``transcription_session.update``."""

from __future__ import annotations

from typing import ClassVar, Literal

from ._base import ClientEvent
from ._models import ConversationItem, ResponseParams, Session, pcm_from_base64, pcm_to_base64

__all__ = (
    "ConversationItemCreate",
    "ConversationItemDelete",
    "ConversationItemRetrieve",
    "ConversationItemTruncate",
    "InputAudioBufferAppend",
    "InputAudioBufferClear",
    "InputAudioBufferCommit",
    "OutputAudioBufferClear",
    "ResponseCancel",
    "ResponseCreate",
    "SessionUpdate",
    "TranscriptionSessionUpdate",
)


class SessionUpdate(ClientEvent, tag="session.update"):
    """Change the fields present in ``session``; GA requires ``session.type``."""

    type: ClassVar[Literal["session.update"]] = "session.update"
    session: Session


class TranscriptionSessionUpdate(ClientEvent, tag="transcription_session.update"):
    """Beta only; GA uses ``session.update`` with ``session.type = "transcription"``."""

    type: ClassVar[Literal["transcription_session.update"]] = "transcription_session.update"
    session: Session


class InputAudioBufferAppend(ClientEvent, tag="input_audio_buffer.append"):
    """Append base64 audio (session input format) to the input buffer. No reply."""

    type: ClassVar[Literal["input_audio_buffer.append"]] = "input_audio_buffer.append"
    audio: str

    @classmethod
    def from_pcm(cls, pcm: bytes | bytearray | memoryview, *, event_id: str | None = None) -> InputAudioBufferAppend:
        """Build the event from raw audio bytes (PCM16 24 kHz mono unless configured)."""
        return cls(audio=pcm_to_base64(pcm), event_id=event_id)

    @property
    def pcm(self) -> bytes:
        """The audio as raw bytes."""
        return pcm_from_base64(self.audio)


class InputAudioBufferCommit(ClientEvent, tag="input_audio_buffer.commit"):
    type: ClassVar[Literal["input_audio_buffer.commit"]] = "input_audio_buffer.commit"


class InputAudioBufferClear(ClientEvent, tag="input_audio_buffer.clear"):
    type: ClassVar[Literal["input_audio_buffer.clear"]] = "input_audio_buffer.clear"


class OutputAudioBufferClear(ClientEvent, tag="output_audio_buffer.clear"):
    """WebRTC/SIP only: stop the audio the server is playing out."""

    type: ClassVar[Literal["output_audio_buffer.clear"]] = "output_audio_buffer.clear"


class ConversationItemCreate(ClientEvent, tag="conversation.item.create"):
    """Add an item; ``previous_item_id="root"`` inserts at the start, absent appends."""

    type: ClassVar[Literal["conversation.item.create"]] = "conversation.item.create"
    item: ConversationItem
    previous_item_id: str | None = None


class ConversationItemRetrieve(ClientEvent, tag="conversation.item.retrieve"):
    type: ClassVar[Literal["conversation.item.retrieve"]] = "conversation.item.retrieve"
    item_id: str


class ConversationItemTruncate(ClientEvent, tag="conversation.item.truncate"):
    """Cut an assistant item's audio at ``audio_end_ms`` (inclusive)."""

    type: ClassVar[Literal["conversation.item.truncate"]] = "conversation.item.truncate"
    item_id: str
    content_index: int
    audio_end_ms: int


class ConversationItemDelete(ClientEvent, tag="conversation.item.delete"):
    type: ClassVar[Literal["conversation.item.delete"]] = "conversation.item.delete"
    item_id: str


class ResponseCreate(ClientEvent, tag="response.create"):
    type: ClassVar[Literal["response.create"]] = "response.create"
    response: ResponseParams | None = None


class ResponseCancel(ClientEvent, tag="response.cancel"):
    """Cancel ``response_id``, or the in-progress response of the default conversation."""

    type: ClassVar[Literal["response.cancel"]] = "response.cancel"
    response_id: str | None = None
