"""Objects nested inside Realtime Translation events: the session, its audio settings, client secrets.

Open enums (noise reduction types, models, languages) are plain ``str``: the server adds values.
Optional fields default to ``None`` and are omitted when encoding. In ``audio.input``,
``noise_reduction`` and ``transcription`` default to ``UNSET`` instead: an explicit ``None`` is
sent as ``null``, which turns the feature off in ``session.update``, and an untouched field is
not sent at all (the server keeps its setting).
"""

from __future__ import annotations

from msgspec import UNSET, UnsetType

from .._models import Model

__all__ = (
    "AudioInput",
    "AudioOutput",
    "ClientSecret",
    "ClientSecretRequest",
    "ExpiresAfter",
    "NoiseReduction",
    "Session",
    "SessionAudio",
    "SessionCreateRequest",
    "SessionUpdateRequest",
    "Transcription",
)


class NoiseReduction(Model):
    """Input noise reduction: ``type`` ``"near_field"`` (headsets) or ``"far_field"`` (laptops, rooms)."""

    type: str
    strength: float | None = None  # 1 when first enabled; left out of an update, it keeps its value


class Transcription(Model):
    """Source-language transcription: when set, the server sends ``session.input_transcript.delta``."""

    model: str


class AudioInput(Model):
    noise_reduction: NoiseReduction | UnsetType | None = UNSET
    transcription: Transcription | UnsetType | None = UNSET


class AudioOutput(Model):
    language: str | None = None  # the target language of the translated audio and transcript


class SessionAudio(Model):
    """Input and output audio settings, in a session and in a ``session.update``."""

    input: AudioInput | None = None
    output: AudioOutput | None = None


class Session(Model):
    """A translation session as the server reports it (``session.created``, ``session.updated``)."""

    id: str
    type: str  # always "translation"
    model: str  # set at creation; ``session.update`` cannot change it
    expires_at: int
    audio: SessionAudio


class SessionUpdateRequest(Model):
    """The ``session`` of a ``session.update``: only ``audio.output.language``,
    ``audio.input.transcription`` and ``audio.input.noise_reduction`` can change."""

    audio: SessionAudio | None = None


class SessionCreateRequest(Model):
    """The ``session`` of a client secret request."""

    model: str
    audio: SessionAudio | None = None


class ExpiresAfter(Model):
    anchor: str | None = None  # "created_at"
    seconds: int | None = None  # 10..7200, 600 when left out


class ClientSecretRequest(Model):
    """The body of ``POST /v1/realtime/translations/client_secrets``."""

    session: SessionCreateRequest
    expires_after: ExpiresAfter | None = None


class ClientSecret(Model):
    """The response of ``POST /v1/realtime/translations/client_secrets``."""

    expires_at: int
    session: Session
    value: str

    def __repr__(self) -> str:
        # The value is a credential: never let it reach a log through a repr.
        return f"ClientSecret(value='<redacted>', expires_at={self.expires_at!r}, session={self.session!r})"
