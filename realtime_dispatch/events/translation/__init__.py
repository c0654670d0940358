"""Typed Realtime Translation events (``/v1/realtime/translations``) and their codec.

The same contract as ``realtime_dispatch.events`` for Realtime: ``decode`` returns an
``UnknownEvent`` for an unmodelled server ``type`` and raises ``DecodeError`` for a broken
frame; ``decode_client`` raises ``DecodeError`` for an unknown client ``type``.

>>> from realtime_dispatch.events import translation
>>> ev = translation.decode(b'{"type":"session.output_transcript.delta","event_id":"e","delta":"Hola"}')
>>> ev.type, ev.delta
('session.output_transcript.delta', 'Hola')
>>> translation.encode(translation.SessionCloseEvent())
b'{"type":"session.close"}'
"""

from __future__ import annotations

from collections.abc import Mapping

from .._base import ClientEvent, DecodeError, ServerEvent, UnknownEvent
from .._codec import Codec, registry
from . import _client, _server
from ._client import InputAudioBufferAppendEvent, SessionCloseEvent, SessionUpdateEvent
from ._models import (
    AudioInput,
    AudioOutput,
    ClientSecret,
    ClientSecretRequest,
    ExpiresAfter,
    NoiseReduction,
    Session,
    SessionAudio,
    SessionCreateRequest,
    SessionUpdateRequest,
    Transcription,
)
from ._server import (
    ErrorDetail,
    ErrorEvent,
    InputTranscriptDeltaEvent,
    OutputAudioDeltaEvent,
    OutputTranscriptDeltaEvent,
    SessionClosedEvent,
    SessionCreatedEvent,
    SessionUpdatedEvent,
)

__all__ = (
    "CLIENT_EVENTS",
    "SERVER_EVENTS",
    "AudioInput",
    "AudioOutput",
    "ClientEvent",
    "ClientSecret",
    "ClientSecretRequest",
    "DecodeError",
    "ErrorDetail",
    "ErrorEvent",
    "ExpiresAfter",
    "InputAudioBufferAppendEvent",
    "InputTranscriptDeltaEvent",
    "NoiseReduction",
    "OutputAudioDeltaEvent",
    "OutputTranscriptDeltaEvent",
    "ServerEvent",
    "Session",
    "SessionAudio",
    "SessionCloseEvent",
    "SessionClosedEvent",
    "SessionCreateRequest",
    "SessionCreatedEvent",
    "SessionUpdateEvent",
    "SessionUpdateRequest",
    "SessionUpdatedEvent",
    "Transcription",
    "UnknownEvent",
    "codec",
    "decode",
    "decode_client",
    "encode",
)

SERVER_EVENTS: Mapping[str, type[ServerEvent]] = registry(_server, ServerEvent)
"""Every Realtime Translation server wire type to its struct class. Read-only."""

CLIENT_EVENTS: Mapping[str, type[ClientEvent]] = registry(_client, ClientEvent)
"""Every Realtime Translation client wire type to its struct class. Read-only."""

codec = Codec("Realtime Translation", SERVER_EVENTS, CLIENT_EVENTS)
"""The codec over both catalogues; ``codec.server_decoder`` is the receive loop's fast path."""

decode = codec.decode
decode_client = codec.decode_client
encode = codec.encode
