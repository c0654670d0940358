"""Objects nested inside Realtime events: sessions, items, responses, usage, errors.

One struct serves both protocol versions wherever GA and beta share a wire name: the
beta fields sit beside the GA ones, all optional, so a frame of either shape decodes.
Open enums (models, voices, statuses) are plain ``str``: the server adds values.

Optional fields default to ``None`` and are omitted when encoding, so a decoded frame
encodes back to itself (a ``null`` and an absent field count as the same). The few
fields where an explicit ``null`` means "turn this off" in ``session.update``
(turn detection, noise reduction, transcription, tracing) default to ``UNSET``
instead, so ``None`` is sent as ``null`` and an untouched field is not sent at all.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

__all__ = (
    "AudioFormat",
    "AudioInput",
    "AudioOutput",
    "AudioTranscription",
    "CachedTokenDetails",
    "ClientSecret",
    "ContentPart",
    "Conversation",
    "ConversationItem",
    "ErrorDetail",
    "ExpiresAfter",
    "InputTokenDetails",
    "Language",
    "LogProb",
    "McpApprovalFilter",
    "McpError",
    "McpToolFilter",
    "McpToolInfo",
    "Model",
    "NoiseReduction",
    "OutputTokenDetails",
    "Prompt",
    "RateLimit",
    "Reasoning",
    "Response",
    "ResponseAudio",
    "ResponseAudioOutput",
    "ResponseParams",
    "ResponseStatus",
    "RetentionRatioTruncation",
    "Session",
    "SessionAudio",
    "StatusError",
    "TokenLimits",
    "Tool",
    "ToolChoice",
    "ToolChoiceFunction",
    "ToolChoiceMcp",
    "TracingConfig",
    "TranscriptionDurationUsage",
    "TranscriptionError",
    "TranscriptionTokenDetails",
    "TranscriptionTokenUsage",
    "TranscriptionUsage",
    "TurnDetection",
    "Usage",
    "VoiceId",
    "pcm_from_base64",
    "pcm_to_base64",
)


# msgspec's base64 codec is C and, for audio-sized payloads, 2-3x faster than binascii.
_base64_decoder = msgspec.json.Decoder(bytes)
_base64_encoder = msgspec.json.Encoder()


def pcm_from_base64(data: str) -> bytes:
    """Decode a base64 audio payload to raw bytes. Raises ValueError if it is not base64."""
    try:
        return _base64_decoder.decode(b'"' + data.encode("ascii") + b'"')
    except (msgspec.ValidationError, UnicodeEncodeError):
        raise ValueError("invalid base64 audio payload") from None


def pcm_to_base64(pcm: bytes | bytearray | memoryview) -> str:
    """Encode raw audio bytes as the base64 text the protocol carries."""
    return _base64_encoder.encode(bytes(pcm) if isinstance(pcm, memoryview) else pcm)[1:-1].decode("ascii")


class Model(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """Base of every nested protocol object.

    ``gc=False`` is safe: decoded JSON is a tree and cannot form reference cycles.
    """


# --- audio configuration -------------------------------------------------------------


class AudioFormat(Model):
    """GA audio format: ``audio/pcm`` (24 kHz PCM16), ``audio/pcmu`` or ``audio/pcma``."""

    type: str | None = None
    rate: int | None = None


class NoiseReduction(Model):
    type: str | None = None  # "near_field" | "far_field"
    strength: float | None = None  # 1 when first enabled; left out of an update, it keeps its value


class AudioTranscription(Model):
    model: str | None = None
    language: str | None = None
    languages: list[str] | None = None
    prompt: str | None = None
    keywords: list[str] | None = None
    delay: str | None = None


class TurnDetection(Model):
    """``server_vad`` or ``semantic_vad`` (GA), or the beta object whose ``type`` is optional."""

    type: str | None = None
    threshold: float | None = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None
    idle_timeout_ms: int | None = None
    create_response: bool | None = None
    interrupt_response: bool | None = None
    eagerness: str | None = None


class VoiceId(Model):
    """A custom voice, ``{"id": "voice_..."}``."""

    id: str


class AudioInput(Model):
    format: AudioFormat | None = None
    noise_reduction: NoiseReduction | UnsetType | None = UNSET
    transcription: AudioTranscription | UnsetType | None = UNSET
    turn_detection: TurnDetection | UnsetType | None = UNSET


class AudioOutput(Model):
    format: AudioFormat | None = None
    voice: str | VoiceId | None = None
    speed: float | None = None


class SessionAudio(Model):
    input: AudioInput | None = None
    output: AudioOutput | None = None


# --- tools -----------------------------------------------------------------------------


class McpToolFilter(Model):
    tool_names: list[str] | None = None
    read_only: bool | None = None


class McpApprovalFilter(Model):
    always: McpToolFilter | None = None
    never: McpToolFilter | None = None


class Tool(Model):
    """A function tool (``type`` ``"function"`` or absent) or an MCP tool (``type`` ``"mcp"``)."""

    type: str | None = None
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    server_label: str | None = None
    server_url: str | None = None
    connector_id: str | None = None
    tunnel_id: str | None = None
    authorization: str | None = None
    headers: dict[str, str] | None = None
    allowed_tools: list[str] | McpToolFilter | None = None
    require_approval: str | McpApprovalFilter | None = None
    server_description: str | None = None
    defer_loading: bool | None = None
    allowed_callers: list[str] | None = None


class ToolChoiceFunction(Model, tag_field="type", tag="function"):
    name: str


class ToolChoiceMcp(Model, tag_field="type", tag="mcp"):
    server_label: str
    name: str | None = None


ToolChoice = str | ToolChoiceFunction | ToolChoiceMcp
"""``"none"`` / ``"auto"`` / ``"required"``, or a specific function or MCP tool."""


# --- session ---------------------------------------------------------------------------


class TracingConfig(Model):
    workflow_name: str | None = None
    group_id: str | None = None
    metadata: dict[str, Any] | None = None


class TokenLimits(Model):
    post_instructions: int | None = None


class RetentionRatioTruncation(Model, tag_field="type", tag="retention_ratio"):
    retention_ratio: float
    token_limits: TokenLimits | None = None


class Prompt(Model):
    id: str
    version: str | None = None
    variables: dict[str, Any] | None = None


class Reasoning(Model):
    effort: str | None = None


class ExpiresAfter(Model):
    anchor: str | None = None
    seconds: int | None = None


class ClientSecret(Model):
    """Beta ``client_secret``: the minted value, or its expiry settings in an update."""

    value: str | None = None
    expires_at: int | ExpiresAfter | None = None
    expires_after: ExpiresAfter | None = None

    def __repr__(self) -> str:
        # The value is a credential: never let it reach a log through a repr.
        shown = "<redacted>" if self.value else None
        return f"ClientSecret(value={shown!r}, expires_at={self.expires_at!r})"


class Session(Model):
    """A realtime or transcription session, GA (``type`` set) or beta (flat, no ``type``).

    ``id``, ``object`` and ``expires_at`` are only sent by the server.
    """

    type: str | None = None  # "realtime" | "transcription"; required by GA session.update
    id: str | None = None
    object: str | None = None
    expires_at: int | None = None
    model: str | None = None
    instructions: str | None = None
    output_modalities: list[str] | None = None
    audio: SessionAudio | None = None
    include: list[str] | None = None
    max_output_tokens: int | Literal["inf"] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    tracing: Literal["auto"] | TracingConfig | UnsetType | None = UNSET
    truncation: str | RetentionRatioTruncation | None = None
    prompt: Prompt | None = None
    reasoning: Reasoning | None = None
    parallel_tool_calls: bool | None = None
    # beta-only fields
    modalities: list[str] | None = None
    voice: str | VoiceId | None = None
    speed: float | None = None
    temperature: float | None = None
    max_response_output_tokens: int | Literal["inf"] | None = None
    input_audio_format: str | None = None
    output_audio_format: str | None = None
    input_audio_transcription: AudioTranscription | UnsetType | None = UNSET
    input_audio_noise_reduction: NoiseReduction | UnsetType | None = UNSET
    turn_detection: TurnDetection | UnsetType | None = UNSET
    client_secret: ClientSecret | None = None


# --- conversation items ----------------------------------------------------------------


class ContentPart(Model):
    """One content part of an item, or the ``part`` of ``response.content_part.*``.

    ``type`` is ``input_text``/``input_audio``/``input_image`` (user), ``output_text``/
    ``output_audio`` (GA assistant), ``text``/``audio`` (beta, and GA content-part events)
    or ``item_reference`` (beta).
    """

    type: str | None = None
    text: str | None = None
    audio: str | None = None
    transcript: str | None = None
    image_url: str | None = None
    detail: str | None = None
    id: str | None = None

    @property
    def pcm(self) -> bytes:
        """The ``audio`` payload as raw bytes (empty when the part has none)."""
        return pcm_from_base64(self.audio) if self.audio else b""


class McpToolInfo(Model):
    name: str
    input_schema: dict[str, Any]
    description: str | None = None
    annotations: dict[str, Any] | None = None


class McpError(Model):
    type: str  # "protocol_error" | "tool_execution_error" | "http_error"
    message: str | None = None
    code: int | None = None


class ConversationItem(Model):
    """Any conversation item: ``message`` (system/user/assistant), ``function_call``,
    ``function_call_output`` or one of the ``mcp_*`` items.

    One struct rather than a union: three variants share ``type: "message"``, beta items
    may omit ``type``, and the server adds item kinds over time.
    """

    type: str | None = None
    id: str | None = None
    object: str | None = None
    status: str | None = None
    role: str | None = None
    content: list[ContentPart] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None
    server_label: str | None = None
    approval_request_id: str | None = None
    approve: bool | None = None
    reason: str | None = None
    tools: list[McpToolInfo] | None = None
    error: McpError | None = None

    @classmethod
    def message(cls, role: str, text: str, *, id: str | None = None) -> ConversationItem:
        """A text message; the content type follows the role (``output_text`` for the assistant)."""
        part_type = "output_text" if role == "assistant" else "input_text"
        return cls(type="message", role=role, id=id, content=[ContentPart(type=part_type, text=text)])

    @classmethod
    def function_call_output(cls, call_id: str, output: str, *, id: str | None = None) -> ConversationItem:
        """The result of a function call, to send back with ``conversation.item.create``."""
        return cls(type="function_call_output", call_id=call_id, output=output, id=id)


class Conversation(Model):
    id: str | None = None
    object: str | None = None


# --- responses -------------------------------------------------------------------------


class StatusError(Model):
    type: str | None = None
    code: str | None = None
    message: str | None = None


class ResponseStatus(Model):
    type: str | None = None
    reason: str | None = None
    error: StatusError | None = None


class CachedTokenDetails(Model):
    text_tokens: int | None = None
    audio_tokens: int | None = None
    image_tokens: int | None = None


class InputTokenDetails(Model):
    text_tokens: int | None = None
    audio_tokens: int | None = None
    image_tokens: int | None = None
    cached_tokens: int | None = None
    cached_tokens_details: CachedTokenDetails | None = None


class OutputTokenDetails(Model):
    text_tokens: int | None = None
    audio_tokens: int | None = None
    reasoning_tokens: int | None = None  # not in the SDK types; sent by reasoning models


class Usage(Model):
    total_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    input_token_details: InputTokenDetails | None = None
    output_token_details: OutputTokenDetails | None = None


class ResponseAudioOutput(Model):
    format: AudioFormat | None = None
    voice: str | VoiceId | None = None


class ResponseAudio(Model):
    output: ResponseAudioOutput | None = None


class Response(Model):
    """The response object of ``response.created`` / ``response.done`` (GA or beta)."""

    id: str | None = None
    object: str | None = None
    status: str | None = None
    status_details: ResponseStatus | None = None
    output: list[ConversationItem] | None = None
    conversation_id: str | None = None
    output_modalities: list[str] | None = None
    max_output_tokens: int | Literal["inf"] | None = None
    audio: ResponseAudio | None = None
    metadata: dict[str, str] | None = None
    usage: Usage | None = None
    # beta-only fields
    modalities: list[str] | None = None
    voice: str | None = None
    output_audio_format: str | None = None
    temperature: float | None = None


class ResponseParams(Model):
    """The ``response`` of a ``response.create`` client event; every field optional."""

    conversation: str | None = None
    input: list[ConversationItem] | None = None
    instructions: str | None = None
    max_output_tokens: int | Literal["inf"] | None = None
    metadata: dict[str, str] | None = None
    output_modalities: list[str] | None = None
    parallel_tool_calls: bool | None = None
    prompt: Prompt | None = None
    reasoning: Reasoning | None = None
    tool_choice: ToolChoice | None = None
    tools: list[Tool] | None = None
    audio: ResponseAudio | None = None
    # beta-only fields
    modalities: list[str] | None = None
    voice: str | None = None
    output_audio_format: str | None = None
    temperature: float | None = None
    max_response_output_tokens: int | Literal["inf"] | None = None


# --- errors, limits, transcription -------------------------------------------------------


class ErrorDetail(Model):
    """The ``error`` of an ``error`` event. ``event_id`` names the client event that failed."""

    type: str
    message: str
    code: str | None = None
    param: str | None = None
    event_id: str | None = None


class TranscriptionError(Model):
    type: str | None = None
    code: str | None = None
    message: str | None = None
    param: str | None = None


class RateLimit(Model):
    name: str | None = None
    limit: int | None = None
    remaining: int | None = None
    reset_seconds: float | None = None


class LogProb(Model):
    token: str
    logprob: float
    bytes: list[int]


class Language(Model):
    code: str


class TranscriptionTokenDetails(Model):
    text_tokens: int | None = None
    audio_tokens: int | None = None


class TranscriptionTokenUsage(Model, tag_field="type", tag="tokens"):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_token_details: TranscriptionTokenDetails | None = None


class TranscriptionDurationUsage(Model, tag_field="type", tag="duration"):
    seconds: float


TranscriptionUsage = TranscriptionTokenUsage | TranscriptionDurationUsage
