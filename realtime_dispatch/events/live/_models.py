"""Objects nested inside GPT-Live events: session configs, delegation, decisions, usage, errors.

Names follow the official SDK (``openai.types.live``) where it has one; where the SDK reuses
a name in several modules (``Audio``, ``DelegationResponses``...) the variant gets a suffix.

Optional and null:

* Optional fields default to ``None`` and are omitted when encoding, so a decoded frame
  encodes back to itself; for these a ``null`` and an absent key mean the same thing.
* In the *update* configs (``session.update``, the fork override, the Responses and
  Decisions update configs) "left out" means "keep" while ``null`` may mean "clear" (or is
  rejected, like ``delegation: null`` on a Responses session): those fields default to
  ``msgspec.UNSET`` so an untouched field is not sent and an explicit ``None`` is sent as
  ``null``.

Unions whose tag may be missing are single structs with an optional ``type``/``role``
(``InitialItem``, ``DecisionItem``); the tagged ones are msgspec tagged unions. Tools
other than ``function``/``web_search`` (the only ones the docs say are supported) pass
through as plain dicts with every key they carry. No struct forbids unknown fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias

import msgspec
from msgspec import UNSET, UnsetType

from .._models import Model

__all__ = (
    "AudioFormat",
    "AudioOutput",
    "ClientConfig",
    "ClientDelegation",
    "ContextWindow",
    "CustomVoice",
    "DataChannelConfig",
    "Decision",
    "DecisionAnswer",
    "DecisionAnswerChoice",
    "DecisionAnswerPredicate",
    "DecisionAnswerRefusal",
    "DecisionAnswerScore",
    "DecisionChoiceOption",
    "DecisionChoiceProbability",
    "DecisionCompleted",
    "DecisionContentPart",
    "DecisionInputImage",
    "DecisionInputJSON",
    "DecisionInputText",
    "DecisionItem",
    "DecisionOutputText",
    "DecisionQuestion",
    "DecisionQuestionChoice",
    "DecisionQuestionPredicate",
    "DecisionQuestionScore",
    "DecisionRefusal",
    "DecisionScoreLevel",
    "DecisionScoreProbability",
    "DecisionTrigger",
    "DecisionTriggerDecisions",
    "DecisionUsage",
    "DecisionUsageInputTokensDetails",
    "DecisionUsageOutputTokensDetails",
    "Delegation",
    "DelegationConfig",
    "DelegationDecisions",
    "DelegationDecisionsUpdate",
    "DelegationResponses",
    "DelegationResponsesUpdate",
    "DelegationUpdateConfig",
    "DecisionsDelegationConfig",
    "DecisionsDelegationUpdateConfig",
    "Error",
    "ForkDelegation",
    "ForkSessionConfig",
    "FunctionTool",
    "InitialItem",
    "InitialItemContent",
    "Reasoning",
    "ResponsesDelegationConfig",
    "ResponsesDelegationUpdateConfig",
    "ServerEventSelector",
    "SessionAudio",
    "SessionConfig",
    "SessionResource",
    "SessionUpdateConfig",
    "SessionUsage",
    "TextConfig",
    "Tool",
    "ToolChoice",
    "TransportError",
    "Voice",
    "WebSearchTool",
)


# --- audio -------------------------------------------------------------------------------


class AudioFormat(Model):
    """``audio/pcm`` (``rate`` 16000 or 24000, PCM16LE mono), ``audio/pcmu`` or ``audio/pcma`` (8000).

    Primary WebSocket only, fixed at startup; WebRTC and SIP negotiate their own.
    """

    type: str
    rate: int


class CustomVoice(Model):
    """A custom voice, ``{"id": "..."}``."""

    id: str


Voice: TypeAlias = str | CustomVoice
"""A built-in voice name (any string: the list grows) or a custom voice. Default ``marin``."""


class AudioOutput(Model):
    """``audio.output``: the voice, fixed at startup."""

    voice: Voice | None = None


class SessionAudio(Model):
    """``audio`` of a session: ``format`` (primary WebSocket and fork only) and ``output.voice``."""

    format: AudioFormat | None = None
    output: AudioOutput | None = None


# --- WebRTC frontend permissions ----------------------------------------------------------


class ServerEventSelector(Model):
    """A server event a WebRTC frontend may receive; ``response_event`` only for ``response.event``."""

    type: str
    response_event: str | None = None


class DataChannelConfig(Model):
    """What the frontend may send and receive on ``oai-events``: ``"all"`` or a list (``[]`` is none)."""

    allowed_client_events: Literal["all"] | list[str] | None = None
    allowed_server_events: Literal["all"] | list[ServerEventSelector] | None = None


class ClientConfig(Model):
    """``session.client``: permissions for a WebRTC frontend; set at startup only."""

    data_channel: DataChannelConfig


# --- initial conversation ------------------------------------------------------------------


class InitialItemContent(Model):
    """One text part of an initial message: ``input_text`` (developer, user), ``text`` or ``output_text``
    (assistant); ``type`` may be absent."""

    text: str
    type: str | None = None


class InitialItem(Model):
    """A text-only startup history message, discriminated by ``role`` (developer, user, assistant)."""

    role: str
    content: list[InitialItemContent]
    id: str | None = None
    status: str | None = None  # "incomplete" | "completed"
    type: str | None = None  # "message" or absent


# --- Decisions ------------------------------------------------------------------------------


class DecisionInputText(Model, tag_field="type", tag="input_text"):
    """A text part of decision instructions or messages."""

    type: ClassVar[Literal["input_text"]] = "input_text"
    text: str


class DecisionInputImage(Model, tag_field="type", tag="input_image"):
    """An image part: ``detail`` is ``low``, ``high``, ``auto`` or ``original``."""

    type: ClassVar[Literal["input_image"]] = "input_image"
    image_url: str
    detail: str | None = None


class DecisionInputJSON(Model, tag_field="type", tag="input_json"):
    """A JSON part: an object or a list of objects, kept as parsed JSON."""

    type: ClassVar[Literal["input_json"]] = "input_json"
    data: dict[str, Any] | list[dict[str, Any]]


class DecisionOutputText(Model, tag_field="type", tag="output_text"):
    """An assistant text part of a decision message."""

    type: ClassVar[Literal["output_text"]] = "output_text"
    text: str


class DecisionRefusal(Model, tag_field="type", tag="refusal"):
    """An assistant refusal part of a decision message."""

    type: ClassVar[Literal["refusal"]] = "refusal"
    refusal: str


DecisionContentPart: TypeAlias = (
    DecisionInputText | DecisionInputImage | DecisionInputJSON | DecisionOutputText | DecisionRefusal
)
"""A part of decision instructions, message content or tool output, tagged by ``type``."""


class DecisionChoiceOption(Model):
    """One option of a choice question; ``"true"`` and ``true`` are different values."""

    value: str | bool
    description: str | None = None


class DecisionScoreLevel(Model):
    """One level of a score question."""

    label: str
    description: str | None = None


class DecisionQuestionChoice(Model, tag_field="type", tag="choice"):
    """Pick one of ``choices``."""

    type: ClassVar[Literal["choice"]] = "choice"
    choices: list[DecisionChoiceOption]
    instructions: str | list[DecisionContentPart]
    name: str | None = None


class DecisionQuestionPredicate(Model, tag_field="type", tag="predicate"):
    """A yes/no question answered with a probability."""

    type: ClassVar[Literal["predicate"]] = "predicate"
    instructions: str | list[DecisionContentPart]
    name: str | None = None


class DecisionQuestionScore(Model, tag_field="type", tag="score"):
    """Rate on ``levels``."""

    type: ClassVar[Literal["score"]] = "score"
    instructions: str | list[DecisionContentPart]
    levels: list[DecisionScoreLevel]
    name: str | None = None


DecisionQuestion: TypeAlias = DecisionQuestionChoice | DecisionQuestionPredicate | DecisionQuestionScore
"""A Decisions question, tagged by ``type``: choice, predicate or score."""


class DecisionTriggerDecisions(Model):
    """The questions a trigger asks."""

    questions: list[DecisionQuestion]


class DecisionTrigger(Model, tag_field="type", tag="decisions"):
    """Evaluate ``decisions`` on every transcript delta of ``event_type``
    (``session.input_transcript.delta`` or ``session.output_transcript.delta``)."""

    type: ClassVar[Literal["decisions"]] = "decisions"
    event_type: str
    decisions: DecisionTriggerDecisions


class DecisionItem(Model):
    """A Decision input item: a message (``role`` set, ``type`` ``"message"`` or absent), or a
    ``function_call``, ``function_call_output``, ``custom_tool_call`` or ``custom_tool_call_output``.

    One struct for all: message items may leave out their ``type`` tag. Stored items (in
    ``decision.item.created``) always carry ``id``.
    """

    type: str | None = None
    id: str | None = None
    role: str | None = None  # "user" | "developer" | "system" | "assistant"
    content: str | list[DecisionContentPart] | None = None
    phase: str | None = None  # assistant: "commentary" | "final_answer"
    call_id: str | None = None
    name: str | None = None
    namespace: str | None = None
    arguments: str | None = None  # function_call: JSON text
    input: str | None = None  # custom_tool_call
    output: str | list[DecisionContentPart] | None = None
    status: str | None = None  # "in_progress" | "completed" | "incomplete"


class DecisionChoiceProbability(Model):
    """The probability of one choice value."""

    probability: float
    value: str | bool


class DecisionScoreProbability(Model):
    """The probability of one score level."""

    label: str
    probability: float
    value: int


class DecisionAnswerPredicate(Model, tag_field="type", tag="predicate"):
    """A predicate's answer."""

    type: ClassVar[Literal["predicate"]] = "predicate"
    probability: float
    name: str | None = None


class DecisionAnswerChoice(Model, tag_field="type", tag="choice"):
    """A choice question's answer."""

    type: ClassVar[Literal["choice"]] = "choice"
    choice: str | bool
    confidence: float
    probabilities: list[DecisionChoiceProbability]
    name: str | None = None


class DecisionAnswerScore(Model, tag_field="type", tag="score"):
    """A score question's answer."""

    type: ClassVar[Literal["score"]] = "score"
    score: float
    confidence: float
    probabilities: list[DecisionScoreProbability]
    name: str | None = None


class DecisionAnswerRefusal(Model, tag_field="type", tag="refusal"):
    """The model declined to answer."""

    type: ClassVar[Literal["refusal"]] = "refusal"
    name: str | None = None


DecisionAnswer: TypeAlias = DecisionAnswerPredicate | DecisionAnswerChoice | DecisionAnswerScore | DecisionAnswerRefusal
"""One answer of a decision, tagged by ``type``."""


class DecisionUsageInputTokensDetails(Model):
    """Input token breakdown of a decision."""

    cache_write_tokens: int
    cached_tokens: int


class DecisionUsageOutputTokensDetails(Model):
    """Output token breakdown of a decision."""

    reasoning_tokens: int


class DecisionUsage(Model):
    """Token usage of one decision."""

    input_tokens: int
    input_tokens_details: DecisionUsageInputTokensDetails
    output_tokens: int
    output_tokens_details: DecisionUsageOutputTokensDetails
    total_tokens: int


class Decision(Model):
    """The answers of one Decisions evaluation."""

    answers: list[DecisionAnswer]
    model: str
    usage: DecisionUsage


class DecisionCompleted(Model, tag_field="type", tag="decision.completed"):
    """``decision.event``'s ``event``: ``{"type": "decision.completed", "decision": ...}``."""

    type: ClassVar[Literal["decision.completed"]] = "decision.completed"
    decision: Decision


class DecisionsDelegationConfig(Model):
    """Decisions delegation: the Decisions ``model`` and the ``questions`` asked per delegation."""

    model: str
    questions: list[DecisionQuestion]


class DecisionsDelegationUpdateConfig(Model):
    """A ``session.update`` of Decisions delegation; fields left out keep their values."""

    model: str | UnsetType | None = UNSET
    questions: list[DecisionQuestion] | UnsetType | None = UNSET


# --- Responses delegation ------------------------------------------------------------------


class FunctionTool(Model, tag_field="type", tag="function"):
    """A Responses function tool; ``parameters`` is its JSON Schema."""

    type: ClassVar[Literal["function"]] = "function"
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class WebSearchTool(Model, tag_field="type", tag="web_search"):
    """The hosted web search tool, run server-side."""

    type: ClassVar[Literal["web_search"]] = "web_search"


if TYPE_CHECKING:
    Tool: TypeAlias = FunctionTool | WebSearchTool | dict[str, Any]
else:
    # Decoded as plain JSON: a msgspec union cannot hold both structs and dicts, and the
    # server's tool objects (shell, mcp and the type-only stubs) must pass through untouched.
    Tool = Any
"""A Responses tool: a ``FunctionTool``/``WebSearchTool`` you build, or, when decoded, the JSON
object as a dict (``ResponsesDelegationConfig.function_tools()`` gives typed function tools)."""


class ToolChoice(Model):
    """The object form of ``tool_choice``: ``{type: "function"|"custom", name}``, ``{type: "mcp", name,
    server_label}``, ``{type: <hosted tool>}`` or ``{type: "allowed_tools", tools, mode?}``."""

    type: str
    name: str | None = None
    server_label: str | None = None
    tools: list[ToolChoice] | None = None
    mode: str | None = None  # allowed_tools: "none" | "auto" | "required"


class Reasoning(Model):
    """Backend reasoning: ``effort`` (none..xhigh) and ``summary`` (concise, detailed, auto)."""

    effort: str | None = None
    summary: str | None = None


class TextConfig(Model):
    """Backend text options: ``verbosity`` (low, medium, high)."""

    verbosity: str | None = None


def _function_tools(tools: list[Any] | UnsetType | None) -> list[FunctionTool]:
    if not isinstance(tools, list):
        return []
    found = []
    for tool in tools:
        if isinstance(tool, FunctionTool):
            found.append(tool)
        elif isinstance(tool, dict) and tool.get("type") == "function":
            found.append(msgspec.convert(tool, FunctionTool))
    return found


class ResponsesDelegationConfig(Model):
    """Responses delegation: the backend ``model``, its prompt, tools and options."""

    model: str
    instructions: str | None = None
    max_output_tokens: int | None = None
    parallel_tool_calls: bool | None = None
    reasoning: Reasoning | None = None
    service_tier: str | None = None  # auto, default, flex, priority (fast mode), ...
    text: TextConfig | None = None
    tool_choice: str | ToolChoice | None = None  # "auto" | "none" | "required" or an object
    tools: list[Tool] | None = None

    def function_tools(self) -> list[FunctionTool]:
        """The function tools among ``tools``, typed (decoded tools are dicts)."""
        return _function_tools(self.tools)


class ResponsesDelegationUpdateConfig(Model):
    """A Responses delegation update (``session.update``, fork): fields left out keep their values."""

    model: str | UnsetType | None = UNSET
    instructions: str | UnsetType | None = UNSET
    max_output_tokens: int | UnsetType | None = UNSET
    parallel_tool_calls: bool | UnsetType | None = UNSET
    reasoning: Reasoning | UnsetType | None = UNSET
    service_tier: str | UnsetType | None = UNSET
    text: TextConfig | UnsetType | None = UNSET
    tool_choice: str | ToolChoice | UnsetType | None = UNSET
    tools: list[Tool] | UnsetType | None = UNSET

    def function_tools(self) -> list[FunctionTool]:
        """The function tools among ``tools``, typed (decoded tools are dicts)."""
        return _function_tools(self.tools)


class ClientDelegation(Model, tag_field="type", tag="client"):
    """Client delegation (the default): ``session.delegation.created`` goes to your application."""

    type: ClassVar[Literal["client"]] = "client"
    acknowledgement_delay_ms: int | None = None


class DelegationResponses(Model, tag_field="type", tag="responses"):
    """Responses delegation: the server runs a Responses backend with your tools."""

    type: ClassVar[Literal["responses"]] = "responses"
    responses: ResponsesDelegationConfig
    acknowledgement_delay_ms: int | None = None


class DelegationDecisions(Model, tag_field="type", tag="decisions"):
    """Decisions delegation: each delegation is answered by a Decisions evaluation."""

    type: ClassVar[Literal["decisions"]] = "decisions"
    decisions: DecisionsDelegationConfig
    acknowledgement_delay_ms: int | None = None


DelegationConfig: TypeAlias = ClientDelegation | DelegationResponses | DelegationDecisions
"""The delegation mode of a session, tagged by ``type``; fixed at startup."""


class DelegationResponsesUpdate(Model, tag_field="type", tag="responses"):
    """``session.update`` of a Responses session's delegation settings."""

    type: ClassVar[Literal["responses"]] = "responses"
    acknowledgement_delay_ms: int | UnsetType | None = UNSET
    responses: ResponsesDelegationUpdateConfig | UnsetType | None = UNSET


class DelegationDecisionsUpdate(Model, tag_field="type", tag="decisions"):
    """``session.update`` of a Decisions session's delegation settings."""

    type: ClassVar[Literal["decisions"]] = "decisions"
    acknowledgement_delay_ms: int | UnsetType | None = UNSET
    decisions: DecisionsDelegationUpdateConfig | UnsetType | None = UNSET


DelegationUpdateConfig: TypeAlias = ClientDelegation | DelegationResponsesUpdate | DelegationDecisionsUpdate
"""A delegation update; its ``type`` must be the session's current mode."""


class ForkDelegation(Model, tag_field="type", tag="responses"):
    """A fork's Responses delegation override (only if the source used Responses delegation)."""

    type: ClassVar[Literal["responses"]] = "responses"
    acknowledgement_delay_ms: int | UnsetType | None = UNSET
    responses: ResponsesDelegationUpdateConfig | UnsetType | None = UNSET


# --- sessions -------------------------------------------------------------------------------


class SessionConfig(Model):
    """``session.start``'s ``session`` on the primary WebSocket. Only ``delegation`` and
    ``triggers`` can change later; never put Realtime-only keys here (the server rejects them)."""

    model: str  # "gpt-live-1"
    audio: SessionAudio | None = None
    client: ClientConfig | None = None
    delegation: DelegationConfig | None = None  # None: client delegation
    input: list[InitialItem] | None = None
    instructions: str | None = None
    safety_identifier: str | None = None
    store: bool | None = None
    triggers: list[DecisionTrigger] | None = None


class SessionResource(Model):
    """The session as the server reports it in ``session.started``/``updated``/``closed``."""

    id: str
    expires_at: int
    model: str
    status: str  # "active", even in session.closed
    audio: SessionAudio | None = None
    client: ClientConfig | None = None
    delegation: DelegationConfig | None = None
    input: list[InitialItem] | None = None
    instructions: str | None = None
    safety_identifier: str | None = None
    store: bool | None = None
    triggers: list[DecisionTrigger] | None = None


class SessionUpdateConfig(Model):
    """``session.update``'s ``session``: delegation settings and triggers only.

    Left out (``UNSET``) keeps the current value; ``triggers=[]`` turns triggers off.
    """

    delegation: DelegationUpdateConfig | UnsetType | None = UNSET
    triggers: list[DecisionTrigger] | UnsetType | None = UNSET


class ForkSessionConfig(Model):
    """The fork WebSocket's ``session.start.session``; ``{}`` inherits everything. No ``model``."""

    audio: SessionAudio | None = None  # format only: the voice is inherited
    client: ClientConfig | None = None
    delegation: ForkDelegation | None = None
    store: bool | None = None


# --- usage, delegation, errors --------------------------------------------------------------


class SessionUsage(Model):
    """Cumulative session duration; never add values together."""

    seconds: float
    active_seconds: int | None = None
    paused_seconds: int | None = None


class ContextWindow(Model):
    """How full the 128k context window is (it can drop after compaction)."""

    usage_ratio: float


class Delegation(Model, tag_field="type", tag="delegation"):
    """A delegation's metadata (no task text): ``target`` client, responses or decisions."""

    type: ClassVar[Literal["delegation"]] = "delegation"
    id: str
    target: str
    response_id: str | None = None  # responses only


class Error(Model):
    """An ``error`` event's details; ``code`` may be ``null``."""

    code: str | None
    message: str
    type: str
    client_event_id: str | None = None
    param: str | None = None


class TransportError(Model, tag_field="type", tag="call_error"):
    """Why an outbound SIP provider leg failed."""

    type: ClassVar[Literal["call_error"]] = "call_error"
    code: str
    message: str
    param: str | None = None
