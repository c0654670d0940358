"""Every server event of the Realtime API: the 46 GA types and the 7 beta-only ones.

Field names and types follow the protocol catalogue (``docs/events.md`` lists them).
Where GA and beta share a wire name with different payloads, the nested struct accepts
both shapes. Undeclared fields the server adds are ignored, never rejected.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from ._base import ServerEvent
from ._models import (
    ContentPart,
    Conversation,
    ConversationItem,
    ErrorDetail,
    Language,
    LogProb,
    RateLimit,
    Response,
    Session,
    TranscriptionError,
    TranscriptionUsage,
    pcm_from_base64,
)

__all__ = (
    "ConversationCreated",
    "ConversationItemAdded",
    "ConversationItemCreated",
    "ConversationItemDeleted",
    "ConversationItemDone",
    "ConversationItemRetrieved",
    "ConversationItemTruncated",
    "ErrorEvent",
    "InputAudioBufferCleared",
    "InputAudioBufferCommitted",
    "InputAudioBufferDtmfEventReceived",
    "InputAudioBufferSpeechStarted",
    "InputAudioBufferSpeechStopped",
    "InputAudioBufferTimeoutTriggered",
    "InputAudioTranscriptionCompleted",
    "InputAudioTranscriptionDelta",
    "InputAudioTranscriptionFailed",
    "InputAudioTranscriptionSegment",
    "McpListToolsCompleted",
    "McpListToolsFailed",
    "McpListToolsInProgress",
    "OutputAudioBufferCleared",
    "OutputAudioBufferStarted",
    "OutputAudioBufferStopped",
    "RateLimitsUpdated",
    "ResponseAudioDelta",
    "ResponseAudioDone",
    "ResponseAudioTranscriptDelta",
    "ResponseAudioTranscriptDone",
    "ResponseContentPartAdded",
    "ResponseContentPartDone",
    "ResponseCreated",
    "ResponseDone",
    "ResponseFunctionCallArgumentsDelta",
    "ResponseFunctionCallArgumentsDone",
    "ResponseMcpCallArgumentsDelta",
    "ResponseMcpCallArgumentsDone",
    "ResponseMcpCallCompleted",
    "ResponseMcpCallFailed",
    "ResponseMcpCallInProgress",
    "ResponseOutputAudioDelta",
    "ResponseOutputAudioDone",
    "ResponseOutputAudioTranscriptDelta",
    "ResponseOutputAudioTranscriptDone",
    "ResponseOutputItemAdded",
    "ResponseOutputItemDone",
    "ResponseOutputTextDelta",
    "ResponseOutputTextDone",
    "ResponseTextDelta",
    "ResponseTextDone",
    "SessionCreated",
    "SessionUpdated",
    "TranscriptionSessionUpdated",
)


class _WithId(ServerEvent):
    event_id: str


class _ContentStream(_WithId):
    """Fields shared by the text, audio and transcript streaming events."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int


class _AudioDelta(_ContentStream):
    delta: str  # base64 PCM; kept as text so handlers that ignore audio pay nothing

    @property
    def pcm(self) -> bytes:
        """The audio chunk as raw bytes (base64-decoded by msgspec, in C, on each access)."""
        return pcm_from_base64(self.delta)


# --- session and conversation ------------------------------------------------------------


class SessionCreated(_WithId, tag="session.created"):
    type: ClassVar[Literal["session.created"]] = "session.created"
    session: Session


class SessionUpdated(_WithId, tag="session.updated"):
    type: ClassVar[Literal["session.updated"]] = "session.updated"
    session: Session


class TranscriptionSessionUpdated(_WithId, tag="transcription_session.updated"):
    """Beta only; GA sends ``session.updated`` with a ``transcription`` session."""

    type: ClassVar[Literal["transcription_session.updated"]] = "transcription_session.updated"
    session: Session


class ConversationCreated(_WithId, tag="conversation.created"):
    type: ClassVar[Literal["conversation.created"]] = "conversation.created"
    conversation: Conversation


class ConversationItemCreated(_WithId, tag="conversation.item.created"):
    type: ClassVar[Literal["conversation.item.created"]] = "conversation.item.created"
    item: ConversationItem
    previous_item_id: str | None = None


class ConversationItemAdded(_WithId, tag="conversation.item.added"):
    type: ClassVar[Literal["conversation.item.added"]] = "conversation.item.added"
    item: ConversationItem
    previous_item_id: str | None = None


class ConversationItemDone(_WithId, tag="conversation.item.done"):
    type: ClassVar[Literal["conversation.item.done"]] = "conversation.item.done"
    item: ConversationItem
    previous_item_id: str | None = None


class ConversationItemRetrieved(_WithId, tag="conversation.item.retrieved"):
    """Carries the item's full content, audio included."""

    type: ClassVar[Literal["conversation.item.retrieved"]] = "conversation.item.retrieved"
    item: ConversationItem


class ConversationItemTruncated(_WithId, tag="conversation.item.truncated"):
    type: ClassVar[Literal["conversation.item.truncated"]] = "conversation.item.truncated"
    item_id: str
    content_index: int
    audio_end_ms: int


class ConversationItemDeleted(_WithId, tag="conversation.item.deleted"):
    type: ClassVar[Literal["conversation.item.deleted"]] = "conversation.item.deleted"
    item_id: str


# --- input audio transcription -----------------------------------------------------------


class InputAudioTranscriptionDelta(_WithId, tag="conversation.item.input_audio_transcription.delta"):
    type: ClassVar[Literal["conversation.item.input_audio_transcription.delta"]] = (
        "conversation.item.input_audio_transcription.delta"
    )
    item_id: str
    content_index: int | None = None
    delta: str | None = None
    logprobs: list[LogProb] | None = None
    obfuscation: str | None = None


class InputAudioTranscriptionCompleted(_WithId, tag="conversation.item.input_audio_transcription.completed"):
    type: ClassVar[Literal["conversation.item.input_audio_transcription.completed"]] = (
        "conversation.item.input_audio_transcription.completed"
    )
    item_id: str
    content_index: int
    transcript: str
    # Required by the GA catalogue; beta frames and some providers omit it.
    usage: TranscriptionUsage | None = None
    languages: list[Language] | None = None
    logprobs: list[LogProb] | None = None


class InputAudioTranscriptionFailed(_WithId, tag="conversation.item.input_audio_transcription.failed"):
    type: ClassVar[Literal["conversation.item.input_audio_transcription.failed"]] = (
        "conversation.item.input_audio_transcription.failed"
    )
    item_id: str
    content_index: int
    error: TranscriptionError


class InputAudioTranscriptionSegment(_WithId, tag="conversation.item.input_audio_transcription.segment"):
    """A diarized segment (``gpt-4o-transcribe-diarize``); ``start``/``end`` in seconds."""

    type: ClassVar[Literal["conversation.item.input_audio_transcription.segment"]] = (
        "conversation.item.input_audio_transcription.segment"
    )
    item_id: str
    content_index: int
    id: str
    text: str
    speaker: str
    start: float
    end: float


# --- input audio buffer --------------------------------------------------------------------


class InputAudioBufferCommitted(_WithId, tag="input_audio_buffer.committed"):
    type: ClassVar[Literal["input_audio_buffer.committed"]] = "input_audio_buffer.committed"
    item_id: str
    previous_item_id: str | None = None


class InputAudioBufferCleared(_WithId, tag="input_audio_buffer.cleared"):
    type: ClassVar[Literal["input_audio_buffer.cleared"]] = "input_audio_buffer.cleared"


class InputAudioBufferSpeechStarted(_WithId, tag="input_audio_buffer.speech_started"):
    type: ClassVar[Literal["input_audio_buffer.speech_started"]] = "input_audio_buffer.speech_started"
    item_id: str
    audio_start_ms: int


class InputAudioBufferSpeechStopped(_WithId, tag="input_audio_buffer.speech_stopped"):
    type: ClassVar[Literal["input_audio_buffer.speech_stopped"]] = "input_audio_buffer.speech_stopped"
    item_id: str
    audio_end_ms: int


class InputAudioBufferTimeoutTriggered(_WithId, tag="input_audio_buffer.timeout_triggered"):
    type: ClassVar[Literal["input_audio_buffer.timeout_triggered"]] = "input_audio_buffer.timeout_triggered"
    item_id: str
    audio_start_ms: int
    audio_end_ms: int


class InputAudioBufferDtmfEventReceived(ServerEvent, tag="input_audio_buffer.dtmf_event_received"):
    """A keypad press on a SIP call. The only server event without ``event_id``."""

    type: ClassVar[Literal["input_audio_buffer.dtmf_event_received"]] = "input_audio_buffer.dtmf_event_received"
    event: str
    received_at: int


# --- output audio buffer (WebRTC / SIP) ------------------------------------------------------


class OutputAudioBufferStarted(_WithId, tag="output_audio_buffer.started"):
    type: ClassVar[Literal["output_audio_buffer.started"]] = "output_audio_buffer.started"
    response_id: str


class OutputAudioBufferStopped(_WithId, tag="output_audio_buffer.stopped"):
    type: ClassVar[Literal["output_audio_buffer.stopped"]] = "output_audio_buffer.stopped"
    response_id: str


class OutputAudioBufferCleared(_WithId, tag="output_audio_buffer.cleared"):
    type: ClassVar[Literal["output_audio_buffer.cleared"]] = "output_audio_buffer.cleared"
    response_id: str


# --- responses ---------------------------------------------------------------------------------


class ResponseCreated(_WithId, tag="response.created"):
    type: ClassVar[Literal["response.created"]] = "response.created"
    response: Response


class ResponseDone(_WithId, tag="response.done"):
    """Always sent, whatever the final status; output items carry no raw audio."""

    type: ClassVar[Literal["response.done"]] = "response.done"
    response: Response


class ResponseOutputItemAdded(_WithId, tag="response.output_item.added"):
    type: ClassVar[Literal["response.output_item.added"]] = "response.output_item.added"
    response_id: str
    output_index: int
    item: ConversationItem


class ResponseOutputItemDone(_WithId, tag="response.output_item.done"):
    type: ClassVar[Literal["response.output_item.done"]] = "response.output_item.done"
    response_id: str
    output_index: int
    item: ConversationItem


class ResponseContentPartAdded(_WithId, tag="response.content_part.added"):
    type: ClassVar[Literal["response.content_part.added"]] = "response.content_part.added"
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    part: ContentPart


class ResponseContentPartDone(_WithId, tag="response.content_part.done"):
    type: ClassVar[Literal["response.content_part.done"]] = "response.content_part.done"
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    part: ContentPart


class ResponseOutputTextDelta(_ContentStream, tag="response.output_text.delta"):
    type: ClassVar[Literal["response.output_text.delta"]] = "response.output_text.delta"
    delta: str
    obfuscation: str | None = None


class ResponseOutputTextDone(_ContentStream, tag="response.output_text.done"):
    type: ClassVar[Literal["response.output_text.done"]] = "response.output_text.done"
    text: str


class ResponseOutputAudioDelta(_AudioDelta, tag="response.output_audio.delta"):
    type: ClassVar[Literal["response.output_audio.delta"]] = "response.output_audio.delta"


class ResponseOutputAudioDone(_ContentStream, tag="response.output_audio.done"):
    type: ClassVar[Literal["response.output_audio.done"]] = "response.output_audio.done"


class ResponseOutputAudioTranscriptDelta(_ContentStream, tag="response.output_audio_transcript.delta"):
    type: ClassVar[Literal["response.output_audio_transcript.delta"]] = "response.output_audio_transcript.delta"
    delta: str
    obfuscation: str | None = None


class ResponseOutputAudioTranscriptDone(_ContentStream, tag="response.output_audio_transcript.done"):
    type: ClassVar[Literal["response.output_audio_transcript.done"]] = "response.output_audio_transcript.done"
    transcript: str


class ResponseTextDelta(_ContentStream, tag="response.text.delta"):
    """Beta name of ``response.output_text.delta``."""

    type: ClassVar[Literal["response.text.delta"]] = "response.text.delta"
    delta: str
    obfuscation: str | None = None


class ResponseTextDone(_ContentStream, tag="response.text.done"):
    """Beta name of ``response.output_text.done``."""

    type: ClassVar[Literal["response.text.done"]] = "response.text.done"
    text: str


class ResponseAudioDelta(_AudioDelta, tag="response.audio.delta"):
    """Beta name of ``response.output_audio.delta``."""

    type: ClassVar[Literal["response.audio.delta"]] = "response.audio.delta"


class ResponseAudioDone(_ContentStream, tag="response.audio.done"):
    """Beta name of ``response.output_audio.done``."""

    type: ClassVar[Literal["response.audio.done"]] = "response.audio.done"


class ResponseAudioTranscriptDelta(_ContentStream, tag="response.audio_transcript.delta"):
    """Beta name of ``response.output_audio_transcript.delta``."""

    type: ClassVar[Literal["response.audio_transcript.delta"]] = "response.audio_transcript.delta"
    delta: str
    obfuscation: str | None = None


class ResponseAudioTranscriptDone(_ContentStream, tag="response.audio_transcript.done"):
    """Beta name of ``response.output_audio_transcript.done``."""

    type: ClassVar[Literal["response.audio_transcript.done"]] = "response.audio_transcript.done"
    transcript: str


# --- function calling and MCP ------------------------------------------------------------------


class ResponseFunctionCallArgumentsDelta(_WithId, tag="response.function_call_arguments.delta"):
    type: ClassVar[Literal["response.function_call_arguments.delta"]] = "response.function_call_arguments.delta"
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    delta: str
    obfuscation: str | None = None


class ResponseFunctionCallArgumentsDone(_WithId, tag="response.function_call_arguments.done"):
    type: ClassVar[Literal["response.function_call_arguments.done"]] = "response.function_call_arguments.done"
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    arguments: str
    name: str | None = None  # GA always sends it; beta never does


class McpListToolsInProgress(_WithId, tag="mcp_list_tools.in_progress"):
    type: ClassVar[Literal["mcp_list_tools.in_progress"]] = "mcp_list_tools.in_progress"
    item_id: str


class McpListToolsCompleted(_WithId, tag="mcp_list_tools.completed"):
    type: ClassVar[Literal["mcp_list_tools.completed"]] = "mcp_list_tools.completed"
    item_id: str


class McpListToolsFailed(_WithId, tag="mcp_list_tools.failed"):
    type: ClassVar[Literal["mcp_list_tools.failed"]] = "mcp_list_tools.failed"
    item_id: str


class ResponseMcpCallArgumentsDelta(_WithId, tag="response.mcp_call_arguments.delta"):
    type: ClassVar[Literal["response.mcp_call_arguments.delta"]] = "response.mcp_call_arguments.delta"
    response_id: str
    item_id: str
    output_index: int
    delta: str
    obfuscation: str | None = None


class ResponseMcpCallArgumentsDone(_WithId, tag="response.mcp_call_arguments.done"):
    type: ClassVar[Literal["response.mcp_call_arguments.done"]] = "response.mcp_call_arguments.done"
    response_id: str
    item_id: str
    output_index: int
    arguments: str


class ResponseMcpCallInProgress(_WithId, tag="response.mcp_call.in_progress"):
    type: ClassVar[Literal["response.mcp_call.in_progress"]] = "response.mcp_call.in_progress"
    item_id: str
    output_index: int


class ResponseMcpCallCompleted(_WithId, tag="response.mcp_call.completed"):
    type: ClassVar[Literal["response.mcp_call.completed"]] = "response.mcp_call.completed"
    item_id: str
    output_index: int


class ResponseMcpCallFailed(_WithId, tag="response.mcp_call.failed"):
    type: ClassVar[Literal["response.mcp_call.failed"]] = "response.mcp_call.failed"
    item_id: str
    output_index: int


# --- rate limits and errors --------------------------------------------------------------------


class RateLimitsUpdated(_WithId, tag="rate_limits.updated"):
    type: ClassVar[Literal["rate_limits.updated"]] = "rate_limits.updated"
    rate_limits: list[RateLimit]


class ErrorEvent(_WithId, tag="error"):
    """The server rejected something. Most errors leave the session open."""

    type: ClassVar[Literal["error"]] = "error"
    error: ErrorDetail
