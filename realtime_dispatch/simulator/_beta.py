"""The beta protocol (``OpenAI-Beta: realtime=v1``) as a translation of the GA one.

The simulator works in GA terms throughout; a beta connection translates at its edges:
client sessions and response parameters come in flat and are lifted to GA, and server
events go out under their beta names with beta-shaped sessions, responses and items. The
shapes follow the beta recordings in ``tests/data/recorded``.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET

from .. import events

__all__ = ("params_from_beta", "session_from_beta", "to_beta")

_FORMATS = {"pcm16": "audio/pcm", "g711_ulaw": "audio/pcmu", "g711_alaw": "audio/pcma"}
_FORMAT_NAMES = {ga: beta for beta, ga in _FORMATS.items()}
_CONTENT_TYPES = {"output_text": "text", "output_audio": "audio"}
_RENAMED: dict[type[events.ServerEvent], type[events.ServerEvent]] = {
    events.ResponseOutputTextDelta: events.ResponseTextDelta,
    events.ResponseOutputTextDone: events.ResponseTextDone,
    events.ResponseOutputAudioDelta: events.ResponseAudioDelta,
    events.ResponseOutputAudioDone: events.ResponseAudioDone,
    events.ResponseOutputAudioTranscriptDelta: events.ResponseAudioTranscriptDelta,
    events.ResponseOutputAudioTranscriptDone: events.ResponseAudioTranscriptDone,
}
TEMPERATURE = 0.8  # beta sessions and responses report one; GA dropped it


def _fields(event: msgspec.Struct) -> dict[str, Any]:
    return {name: getattr(event, name) for name in event.__struct_fields__}


def _format_name(audio_format: events.AudioFormat | None) -> str:
    return _FORMAT_NAMES.get(audio_format.type or "audio/pcm", "pcm16") if audio_format else "pcm16"


def _format(name: str | None) -> events.AudioFormat | None:
    if name is None:
        return None
    if name == "pcm16":
        return events.AudioFormat(type="audio/pcm", rate=24000)
    return events.AudioFormat(type=_FORMATS.get(name, name))


def _modalities(output_modalities: list[str] | None) -> list[str]:
    # GA ["audio"] means audio with its transcript, which beta spells ["audio", "text"].
    return ["text"] if output_modalities == ["text"] else ["audio", "text"]


def item(value: events.ConversationItem) -> events.ConversationItem:
    """A GA item in the flat beta shape: ``object`` set, assistant parts typed ``text``/``audio``."""
    content = value.content
    if content is not None:
        content = [msgspec.structs.replace(part, type=_CONTENT_TYPES.get(part.type or "", part.type))
                   for part in content]  # fmt: skip
    return msgspec.structs.replace(value, object="realtime.item", content=content)


def response(value: events.Response) -> events.Response:
    output = value.audio.output if value.audio and value.audio.output else events.ResponseAudioOutput()
    return msgspec.structs.replace(
        value,
        output_modalities=None,
        audio=None,
        modalities=_modalities(value.output_modalities),
        voice=output.voice if isinstance(output.voice, str) else None,
        output_audio_format=_format_name(output.format),
        temperature=TEMPERATURE,
        output=[item(entry) for entry in value.output] if value.output is not None else None,
    )


def session(value: events.Session) -> events.Session:
    """A GA session as a beta ``session.created``/``session.updated`` shows it."""
    audio = value.audio or events.SessionAudio()
    audio_input = audio.input or events.AudioInput()
    audio_output = audio.output or events.AudioOutput()
    return events.Session(
        object=value.object,
        id=value.id,
        model=value.model,
        modalities=_modalities(value.output_modalities),
        instructions=value.instructions,
        voice=audio_output.voice,
        input_audio_format=_format_name(audio_input.format),
        output_audio_format=_format_name(audio_output.format),
        input_audio_transcription=audio_input.transcription or None,
        input_audio_noise_reduction=audio_input.noise_reduction or None,
        turn_detection=audio_input.turn_detection or None,
        tools=value.tools,
        tool_choice=value.tool_choice,
        temperature=TEMPERATURE,
        max_response_output_tokens=value.max_output_tokens,
        speed=audio_output.speed,
        tracing=value.tracing if value.tracing is not UNSET else None,
        truncation=value.truncation,
        expires_at=value.expires_at,
    )


def to_beta(event: events.ServerEvent) -> events.ServerEvent | None:
    """``event`` as a beta server sends it; None where beta has no such event."""
    renamed = _RENAMED.get(type(event))
    if renamed is not None:
        return renamed(**_fields(event))
    if isinstance(event, events.ConversationItemAdded):
        return events.ConversationItemCreated(
            event_id=event.event_id, item=item(event.item), previous_item_id=event.previous_item_id
        )
    if isinstance(event, events.ConversationItemDone):
        return None  # beta announces an item once, when it is created
    if isinstance(event, (events.ConversationItemRetrieved, events.ResponseOutputItemAdded,
                          events.ResponseOutputItemDone)):  # fmt: skip
        return msgspec.structs.replace(event, item=item(event.item))
    if isinstance(event, (events.ResponseCreated, events.ResponseDone)):
        return msgspec.structs.replace(event, response=response(event.response))
    if isinstance(event, (events.SessionCreated, events.SessionUpdated)):
        return msgspec.structs.replace(event, session=session(event.session))
    return event


def session_from_beta(update: events.Session) -> events.Session:
    """A beta ``session.update`` payload as the GA update it means (GA fields pass through)."""
    audio = update.audio or events.SessionAudio()
    audio_input = audio.input or events.AudioInput()
    audio_output = audio.output or events.AudioOutput()
    audio_input = msgspec.structs.replace(
        audio_input,
        format=_format(update.input_audio_format) or audio_input.format,
        transcription=update.input_audio_transcription
        if update.input_audio_transcription is not UNSET
        else audio_input.transcription,
        noise_reduction=update.input_audio_noise_reduction
        if update.input_audio_noise_reduction is not UNSET
        else audio_input.noise_reduction,
        turn_detection=update.turn_detection if update.turn_detection is not UNSET else audio_input.turn_detection,
    )
    audio_output = msgspec.structs.replace(
        audio_output,
        format=_format(update.output_audio_format) or audio_output.format,
        voice=update.voice or audio_output.voice,
        speed=update.speed or audio_output.speed,
    )
    modalities = update.output_modalities
    if update.modalities is not None:
        modalities = ["audio"] if "audio" in update.modalities else ["text"]
    return msgspec.structs.replace(
        update,
        type="realtime",
        output_modalities=modalities,
        max_output_tokens=update.max_response_output_tokens or update.max_output_tokens,
        audio=events.SessionAudio(input=audio_input, output=audio_output),
    )


def params_from_beta(params: events.ResponseParams) -> events.ResponseParams:
    """Beta ``response.create`` parameters as GA ones."""
    modalities = params.output_modalities
    if params.modalities is not None:
        modalities = ["audio"] if "audio" in params.modalities else ["text"]
    audio = params.audio
    if params.voice is not None or params.output_audio_format is not None:
        audio = events.ResponseAudio(
            output=events.ResponseAudioOutput(format=_format(params.output_audio_format), voice=params.voice)
        )
    return msgspec.structs.replace(
        params,
        output_modalities=modalities,
        max_output_tokens=params.max_response_output_tokens or params.max_output_tokens,
        audio=audio,
    )
