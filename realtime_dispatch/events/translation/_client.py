"""Every client event of Realtime Translation."""

from __future__ import annotations

from typing import ClassVar, Literal

from .._base import ClientEvent
from .._models import pcm_from_base64, pcm_to_base64
from ._models import SessionUpdateRequest

__all__ = ("InputAudioBufferAppendEvent", "SessionCloseEvent", "SessionUpdateEvent")


class SessionUpdateEvent(ClientEvent, tag="session.update"):
    """Change the output language, transcription or noise reduction. Ack: ``session.updated``."""

    type: ClassVar[Literal["session.update"]] = "session.update"
    session: SessionUpdateRequest


class InputAudioBufferAppendEvent(ClientEvent, tag="session.input_audio_buffer.append"):
    """Append base64 PCM16 mono 24 kHz audio, the only input format a WebSocket session takes.

    The engine works in 200 ms frames (shorter chunks are buffered, longer ones split). Keep
    sending, silence included: a gap is heard as contiguous audio, not as a pause.
    """

    type: ClassVar[Literal["session.input_audio_buffer.append"]] = "session.input_audio_buffer.append"
    audio: str

    @classmethod
    def from_pcm(
        cls, pcm: bytes | bytearray | memoryview, *, event_id: str | None = None
    ) -> InputAudioBufferAppendEvent:
        """Build the event from raw PCM16 24 kHz mono bytes."""
        return cls(audio=pcm_to_base64(pcm), event_id=event_id)

    @property
    def pcm(self) -> bytes:
        """The audio as raw bytes."""
        return pcm_from_base64(self.audio)


class SessionCloseEvent(ClientEvent, tag="session.close"):
    """Close gracefully: the server flushes the input, sends the rest of the output, then
    ``session.closed``. Stop appending after it and keep reading until then."""

    type: ClassVar[Literal["session.close"]] = "session.close"
