"""The Realtime Translation connection: what a translation app's handlers send with.

A translation session streams input audio (24 kHz PCM16 mono, silence included: a gap is heard
as contiguous audio, not as a pause) and gets translated audio and transcripts back. There are
no turns, responses or tools; one session translates into one language. ``session.close`` makes
the server flush the pending input and end with ``session.closed``: ``close()`` does that.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ._connection import BaseConnection
from ._endpoints import ConfigError
from ._protocol import Api
from ._tools import ToolSpec
from .events import ClientEvent, translation

__all__ = ("ACKS", "TranslationConnection", "start_event")

ACKS = {"session.update": "session.updated", "session.close": "session.closed"}
"""The acknowledgement of each Translation client event that has one (``request`` waits for it)."""


def start_event(session: Any, tools: list[ToolSpec]) -> ClientEvent | None:
    """The ``session.update`` a translation app sends on each connection: its ``session`` (a
    ``SessionUpdateRequest``: the output language, transcription, noise reduction), if any."""
    if tools:
        raise ConfigError("a Realtime Translation session has no tools: declare no @tool on a TranslationApp")
    if session is None:
        return None
    if not isinstance(session, translation.SessionUpdateRequest):
        raise ConfigError(
            f"a Realtime Translation app's session is an events.translation.SessionUpdateRequest, "
            f"not {type(session).__name__}"
        )
    return translation.SessionUpdateEvent(session=session)


class TranslationConnection(BaseConnection):
    """A Realtime Translation session (``/v1/realtime/translations``): ``BaseConnection`` plus a
    typed sender per client event. Handlers receive it by annotating a parameter with this class."""

    api: ClassVar[Api] = "translation"

    async def update_session(self, session: translation.SessionUpdateRequest) -> str:
        """``session.update``: the output language, input transcription, noise reduction."""
        return await self.send(translation.SessionUpdateEvent(session=session))

    async def append_audio(self, pcm: bytes | bytearray | memoryview) -> str:
        """``session.input_audio_buffer.append`` from raw 24 kHz PCM16 mono audio. Keep sending,
        silence included, for as long as the session runs (see ``audio.stream_audio``)."""
        return await self.send(translation.InputAudioBufferAppendEvent.from_pcm(pcm))

    async def close_session(self) -> str:
        """``session.close`` without waiting: the server flushes the input, sends the rest of the
        output, then ``session.closed``. ``close()`` sends it and waits for that."""
        return await self.send(translation.SessionCloseEvent())
