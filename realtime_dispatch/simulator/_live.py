"""GPT-Live (``/v1/live/sessions``) in the simulator: the primary WebSocket and sidebands.

A session starts with the client's ``session.start``. Input audio goes through the energy VAD of
the Realtime simulator (threshold 0.5, 300 ms padding, an utterance ends after 500 ms of
silence); each utterance is transcribed (``session.input_transcript.delta``) and answered by the
simulator's ``Responder`` as if it were a Realtime conversation. The answer is spoken (the tone
of the Realtime simulator, with ``session.output_transcript.delta``), or, when the responder calls
a tool, delegated: to the client (``session.delegation.created`` ``target:"client"``), to
Responses (the nested ``response.event`` stream of a function call, continued by the client's
``response.item.create`` and ``response.create``), or to Decisions.

The session timeline (``start_ms``/``end_ms``/``offset_ms``) is audio time: input audio counts
from the first append, and speech starts when it is queued or when the previous speech ends.
Every sideband attached to a session sees every server event of the session (output audio as PCM16
24 kHz with timestamps), plus the input audio as ``session.input_audio.append`` reflections; an
``error`` goes only to the connection whose command caused it.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.abc
import msgspec
from msgspec import UNSET

from .. import events
from ..events import DecodeError, new_id, pcm_to_base64
from ..events import live as lv
from ..transports import TransportClosed, WebSocketTransport
from ._audio import describe_audio
from ._responders import Reply
from ._routes import rejection
from ._speech import CHUNK_MS, MS_PER_CHAR, PCM24, AudioFormat, Segmenter, Utterance, from_pcm24, split_words, tone
from ._speech import to_pcm24 as decode_audio

if TYPE_CHECKING:
    from ._server import Simulator

__all__ = ("LiveSession", "LiveSessions", "serve_live", "serve_sideband")

logger = logging.getLogger("realtime_dispatch.simulator")

DEFAULT_INSTRUCTIONS = "You are a helpful voice assistant running in a local GPT-Live simulator."
DEFAULT_VOICE = "marin"
DELEGATE_TOOL = "delegate"  # the tool a responder sees under client (and decisions) delegation
CONTEXT_TOKENS = 128_000
MAX_FIXTURE_MS = 30_000
REQUIRES_RESPONSES = "{} requires Responses delegation."
_UPDATABLE = frozenset({"delegation", "triggers"})
_CONFIG_KEYS = frozenset(info.name for info in msgspec.structs.fields(lv.SessionConfig))
_NESTED_KEYS = {"audio": frozenset({"format", "output"}), "audio.output": frozenset({"voice"})}
_PRIMARY_ONLY = frozenset({"session.start", "session.input_audio.append"})


def unknown_parameter(session: object) -> str | None:
    """The first key of a ``session.start`` config the service does not know, as ``session.<path>``."""
    if not isinstance(session, dict):
        return None
    for key in session:
        if key not in _CONFIG_KEYS:
            return f"session.{key}"
    for path, allowed in _NESTED_KEYS.items():
        value: object = session
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, dict):
            for key in value:
                if key not in allowed:
                    return f"session.{path}.{key}"
    return None


def audio_format(config: lv.SessionConfig) -> AudioFormat:
    fmt = config.audio.format if config.audio is not None else None
    if fmt is None:
        return PCM24
    return AudioFormat(fmt.type, fmt.rate)


def _check_format(fmt: AudioFormat) -> str | None:
    if fmt.type == "audio/pcm" and fmt.rate in (16000, 24000):
        return None
    if fmt.type in ("audio/pcmu", "audio/pcma") and fmt.rate == 8000:
        return None
    return f"Unsupported audio format {fmt.type} at {fmt.rate} Hz: audio/pcm takes 16000 or 24000, G.711 8000."


# --- the nested Responses stream -------------------------------------------------------------


@dataclass
class Call:
    """A function call of a Responses delegation, and its output once one arrives."""

    call_id: str
    name: str
    arguments: str
    output: str | None = None


@dataclass
class Delegation:
    """One delegation: its target, the Responses calls it waits on, the input since its last response."""

    id: str
    target: str
    calls: dict[str, Call] = field(default_factory=dict)
    fresh: bool = False  # response.item.create added input that no response has seen yet
    responses: int = 0


class _Nested:
    """The Responses events of one delegated response, as ``response.event`` frames."""

    def __init__(self, session: LiveSession, delegation: Delegation) -> None:
        self.session = session
        self.delegation = delegation
        self.id = new_id("resp")
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        config = session.responses_config()
        self.snapshot: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": int(time.time()),
            "status": "in_progress",
            "model": config.model if config is not None else "gpt-5.6-terra",
            # stripped, as the service sends lifecycle snapshots: no input, instructions, tools or output
            "instructions": None,
            "output": [],
            "tools": [],
            "tool_choice": "auto",
            "parallel_tool_calls": bool(config.parallel_tool_calls) if config is not None else True,
            "error": None,
            "incomplete_details": None,
            "metadata": {},
            "usage": None,
        }

    async def emit(self, kind: str, **fields: Any) -> None:
        nested = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        event = lv.ResponseEvent.build(event=msgspec.Raw(msgspec.json.encode(nested)), delegation_id=self.delegation.id)
        await self.session.broadcast(event)
        await self.session.pause()

    async def created(self) -> None:
        await self.emit("response.created", response=self.snapshot)
        await self.emit("response.in_progress", response=self.snapshot)

    async def function_call(self, name: str, arguments: str) -> Call:
        call = Call(call_id=new_id("call"), name=name, arguments=arguments)
        item_id, index = new_id("fc"), len(self.output)
        item = {"type": "function_call", "id": item_id, "call_id": call.call_id, "name": name, "arguments": "",
                "status": "in_progress"}  # fmt: skip
        self.output.append(item)
        await self.emit("response.output_item.added", output_index=index, item=item)
        for piece in split_words(arguments):
            await self.emit("response.function_call_arguments.delta", item_id=item_id, output_index=index, delta=piece)
        await self.emit("response.function_call_arguments.done", item_id=item_id, output_index=index, name=name,
                        arguments=arguments)  # fmt: skip
        done = {**item, "arguments": arguments, "status": "completed"}
        self.output[index] = done
        await self.emit("response.output_item.done", output_index=index, item=done)
        return call

    async def message(self, text: str) -> None:
        item_id, index = new_id("msg"), len(self.output)
        item: dict[str, Any] = {"type": "message", "id": item_id, "role": "assistant", "status": "in_progress",
                                "content": []}  # fmt: skip
        self.output.append(item)
        ids = {"item_id": item_id, "output_index": index, "content_index": 0}
        await self.emit("response.output_item.added", output_index=index, item=item)
        await self.emit("response.content_part.added", **ids,
                        part={"type": "output_text", "text": "", "annotations": []})  # fmt: skip
        for word in split_words(text):
            await self.emit("response.output_text.delta", **ids, delta=word, logprobs=[])
        await self.emit("response.output_text.done", **ids, text=text, logprobs=[])
        part = {"type": "output_text", "text": text, "annotations": []}
        await self.emit("response.content_part.done", **ids, part=part)
        done = {**item, "status": "completed", "content": [part]}
        self.output[index] = done
        await self.emit("response.output_item.done", output_index=index, item=done)

    async def completed(self, input_tokens: int) -> None:
        output_tokens = sum(len(split_words(item.get("arguments") or "")) + 1 for item in self.output)
        for item in self.output:
            for part in item.get("content") or ():
                output_tokens += len(split_words(part.get("text") or ""))
        usage = {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        }
        # stripped again: output [] even at completion (collect calls from output_item.done)
        final = {**self.snapshot, "status": "completed", "completed_at": int(time.time()), "usage": usage}
        await self.emit("response.completed", response=final)


# --- sessions ---------------------------------------------------------------------------------


class PeerSocket(Protocol):
    """What a session needs of a peer's socket: a WebSocket, or a phone call's line (``_phone``)."""

    async def send(self, data: bytes) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class Peer:
    """One socket on a session: the primary WebSocket (or a phone call's caller), or a sideband."""

    def __init__(self, transport: PeerSocket, *, sideband: bool) -> None:
        self.transport = transport
        self.sideband = sideband
        self.gone = False

    async def send(self, data: bytes) -> None:
        if self.gone:
            return
        try:
            await self.transport.send(data)
        except TransportClosed:  # its receive loop finds out, too
            self.gone = True


@dataclass
class _Speech:
    """Something the model says: ``text`` (the tone, with its transcript) or ``pcm`` (a fixture)."""

    text: str = ""
    pcm: bytes | None = None
    at_ms: int = 0  # the session time it was queued at: it starts then, or when earlier speech ends
    client_event_id: str | None = None  # a fixture's play command
    record: bool = True  # an assistant turn: kept in the context, followed by session.usage.updated


class LiveSession:
    """One GPT-Live session: its config, its timeline, its peers and delegations."""

    def __init__(
        self,
        simulator: Simulator,
        primary: Peer,
        config: lv.SessionConfig,
        fmt: AudioFormat,
        *,
        session_id: str | None = None,
    ) -> None:
        self.simulator = simulator
        self.primary = primary
        self.sidebands: list[Peer] = []
        self.config = config
        self.fmt = fmt
        self.id = session_id or new_id("live")  # a phone call's session keeps its webhook's session_id
        self.heard: deque[str] = deque()  # a phone call's caller: the words of its next utterances (hear())
        self.attached = anyio.Event()  # a first sideband attached, at attached_at (time.monotonic())
        self.attached_at: float | None = None
        self.expires_at = int(time.time()) + 3600
        self.resource = self.resolve(config)
        self.segmenter = Segmenter()
        self.context: list[events.ConversationItem] = []
        self.delegations: dict[str, Delegation] = {}
        self.decision_items: dict[str, lv.DecisionItem] = {}
        self.muted = False
        self.fixture_active = False
        self.spoken_until = 0  # ms on the timeline where the model's speech queue ends
        self.closed = False
        self.lock = anyio.Lock()  # one event at a time to every peer, in the same order
        send, receive = anyio.create_memory_object_stream[_Speech](math.inf)
        self.speech_in, self.speech_out = send, receive
        self.queued = 0
        self.drained = anyio.Event()
        self.drained.set()

    # --- config ---------------------------------------------------------------------------------

    def resolve(self, config: lv.SessionConfig) -> lv.SessionResource:
        """The session as the server reports it: the config with the server's defaults."""
        audio = config.audio or lv.SessionAudio()
        output = audio.output or lv.AudioOutput()
        audio = lv.SessionAudio(
            format=audio.format or lv.AudioFormat(type=self.fmt.type, rate=self.fmt.rate),
            output=lv.AudioOutput(voice=output.voice if output.voice is not None else DEFAULT_VOICE),
        )
        return lv.SessionResource(
            id=self.id,
            expires_at=self.expires_at,
            model=config.model,
            status="active",
            audio=audio,
            client=config.client,
            delegation=config.delegation if config.delegation is not None else lv.ClientDelegation(),
            input=config.input,
            instructions=config.instructions if (config.instructions or "").strip() else DEFAULT_INSTRUCTIONS,
            safety_identifier=config.safety_identifier,
            store=bool(config.store),
            triggers=config.triggers if config.triggers is not None else [],
        )

    @property
    def mode(self) -> str:
        """``client``, ``responses`` or ``decisions``."""
        delegation = self.resource.delegation
        return delegation.type if delegation is not None else "client"

    def responses_config(self) -> lv.ResponsesDelegationConfig | None:
        delegation = self.resource.delegation
        return delegation.responses if isinstance(delegation, lv.DelegationResponses) else None

    def responder_session(self) -> events.Session:
        """The session the responder sees: the Live instructions and the tools it may delegate to."""
        tools: list[events.Tool] = []
        tool_choice: str = "auto"
        config = self.responses_config()
        if config is not None:
            for tool in config.tools or []:
                found = _function_tool(tool)
                if found is not None:
                    tools.append(found)
            if isinstance(config.tool_choice, str):
                tool_choice = config.tool_choice
        else:  # the model may hand the turn over to the application (or to Decisions)
            tools.append(events.Tool(type="function", name=DELEGATE_TOOL, description="Delegate the user's task.",
                                     parameters={"type": "object", "properties": {}}))  # fmt: skip
        return events.Session(type="realtime", model=self.config.model, instructions=self.resource.instructions,
                              output_modalities=["audio"], tools=tools, tool_choice=tool_choice)  # fmt: skip

    # --- plumbing ---------------------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        """The session time: the input audio received so far."""
        return self.segmenter.ms

    async def pause(self) -> None:
        await anyio.sleep(self.simulator.delta_delay)

    async def broadcast(self, event: lv.ServerEvent, sideband: lv.ServerEvent | None = None) -> None:
        """``event`` to every peer (``sideband``, when given, to the sidebands instead)."""
        data = lv.encode(event)
        copy = data if sideband is None else lv.encode(sideband)
        async with self.lock:
            await self.primary.send(data)
            for peer in list(self.sidebands):
                await peer.send(copy)

    async def to_sidebands(self, event: lv.ServerEvent) -> None:
        data = lv.encode(event)
        async with self.lock:
            for peer in list(self.sidebands):
                await peer.send(data)

    async def error(
        self, peer: Peer, message: str, *, code: str, param: str | None = None, event_id: str | None = None
    ) -> None:
        """An ``error`` to the one peer whose command failed."""
        detail = lv.Error(type="invalid_request_error", code=code, message=message, param=param,
                          client_event_id=event_id)  # fmt: skip
        event = lv.ErrorEvent.build(error=detail, client_event_id=event_id)
        async with self.lock:
            await peer.send(lv.encode(event))

    # --- commands -------------------------------------------------------------------------------

    async def command(self, peer: Peer, data: bytes) -> None:
        """One client frame from ``peer``."""
        kind = _frame_type(data)
        if peer.sideband and kind in _PRIMARY_ONLY:
            event_id = _frame_event_id(data)
            await self.error(peer, f"'{kind}' is not allowed on a sideband connection.", code="invalid_value",
                             param="type", event_id=event_id)  # fmt: skip
            return
        decode = lv.decode_sideband_client if peer.sideband else lv.decode_client
        try:
            event = decode(data)
        except DecodeError as exc:
            names = lv.SIDEBAND_CLIENT_EVENTS if peer.sideband else lv.CLIENT_EVENTS
            refused = rejection(data, exc, names)
            await self.error(peer, refused.message, code=refused.code, param=refused.param, event_id=refused.event_id)
            return
        if self.closed:
            await self.error(peer, "The session is closing.", code="session_closed", event_id=event.event_id)
            return
        handler = self.handlers().get(type(event))
        if handler is None:
            await self.error(peer, f"'{event.type}' is not simulated.", code="invalid_value", param="type",
                             event_id=event.event_id)  # fmt: skip
            return
        await handler(peer, event, data)

    def handlers(self) -> dict[type[Any], Callable[[Peer, Any, bytes], Any]]:
        return {
            lv.SessionStartEvent: self.start_again,
            lv.SessionUpdateEvent: self.update,
            lv.InputAudioAppendEvent: self.append,
            lv.InputAudioMuteEvent: self.mute,
            lv.InputAudioUnmuteEvent: self.unmute,
            lv.OutputAudioFixturePlayEvent: self.fixture,
            lv.InstructionsAppendEvent: self.instructions,
            lv.ThinkingAppendEvent: self.thinking,
            lv.CommentaryAppendEvent: self.commentary,
            lv.DecisionCreateEvent: self.decision_create,
            lv.DecisionItemCreateEvent: self.decision_item_create,
            lv.DecisionItemDeleteEvent: self.decision_item_delete,
            lv.ResponseItemCreateEvent: self.response_item_create,
            lv.ResponseCreateEvent: self.response_create,
            lv.SessionCloseEvent: self.close_requested,
        }

    async def start_again(self, peer: Peer, event: lv.SessionStartEvent, data: bytes) -> None:
        await self.error(peer, "The session has already started.", code="session_already_started",
                         event_id=event.event_id)  # fmt: skip

    async def update(self, peer: Peer, event: lv.SessionUpdateEvent, data: bytes) -> None:
        raw = msgspec.json.decode(data).get("session")
        for key in raw if isinstance(raw, dict) else ():
            if key not in _UPDATABLE:
                await self.error(peer, f"Cannot update '{key}' after the session has started: only 'delegation' "
                                 "and 'triggers' can change.", code="immutable_field_update", param=f"session.{key}",
                                 event_id=event.event_id)  # fmt: skip
                return
        resource = self.resource
        delegation = event.session.delegation
        if delegation is None and self.mode == "client":
            delegation = UNSET  # null is client delegation: nothing changes
        if delegation is not UNSET:
            current = resource.delegation
            if delegation is None or delegation.type != self.mode:
                wanted = "null" if delegation is None else f"'{delegation.type}'"
                await self.error(peer, f"The delegation mode is '{self.mode}' and cannot change to {wanted}.",
                                 code="immutable_field_update", param="session.delegation.type",
                                 event_id=event.event_id)  # fmt: skip
                return
            resource = msgspec.structs.replace(resource, delegation=_merged_delegation(current, delegation))
        if event.session.triggers is not UNSET:
            resource = msgspec.structs.replace(resource, triggers=event.session.triggers or [])
        self.resource = resource
        await self.broadcast(lv.SessionUpdatedEvent.build(session=self.resource, client_event_id=event.event_id))

    async def append(self, peer: Peer, event: lv.InputAudioAppendEvent, data: bytes) -> None:
        try:
            pcm = decode_audio(events.pcm_from_base64(event.audio), self.fmt)
        except ValueError as exc:
            await self.error(peer, f"Invalid 'audio': {exc}.", code="invalid_audio", param="audio",
                             event_id=event.event_id)  # fmt: skip
            return
        if self.sidebands:
            await self.to_sidebands(lv.SessionInputAudioAppend(audio=pcm_to_base64(pcm)))
        heard = bytes(len(pcm)) if self.muted or self.fixture_active else pcm  # the clock runs on regardless
        for utterance in self.segmenter.feed(heard):
            await self.user_turn(utterance)

    async def hear(self, pcm: bytes, transcript: str) -> None:
        """A phone call's caller speaks (PCM16 24 kHz): reflected to the sidebands, segmented by the VAD, and
        the utterance it ends is heard as ``transcript``. The answer is queued when this returns."""
        self.heard.append(transcript)
        step = CHUNK_MS * 48
        for offset in range(0, len(pcm), step):
            chunk = pcm[offset : offset + step]
            if self.sidebands:
                await self.to_sidebands(lv.SessionInputAudioAppend(audio=pcm_to_base64(chunk)))
            for utterance in self.segmenter.feed(chunk):
                await self.user_turn(utterance)

    async def dtmf(self, key: str) -> None:
        """A phone call's caller pressed a key: ``transport.dtmf.received`` to the sidebands."""
        await self.to_sidebands(lv.TransportDtmfReceived.build(event=key))

    async def mute(self, peer: Peer, event: lv.InputAudioMuteEvent, data: bytes) -> None:
        self.muted = True
        await self.broadcast(lv.InputAudioMutedEvent.build(client_event_id=event.event_id))

    async def unmute(self, peer: Peer, event: lv.InputAudioUnmuteEvent, data: bytes) -> None:
        self.muted = False
        await self.broadcast(lv.InputAudioUnmutedEvent.build(client_event_id=event.event_id))

    async def fixture(self, peer: Peer, event: lv.OutputAudioFixturePlayEvent, data: bytes) -> None:
        try:
            pcm = decode_audio(events.pcm_from_base64(event.audio), PCM24)
        except ValueError as exc:
            await self.error(peer, f"Invalid 'audio': {exc}.", code="invalid_audio", param="audio",
                             event_id=event.event_id)  # fmt: skip
            return
        if len(pcm) // 48 > MAX_FIXTURE_MS:
            await self.error(peer, "A fixture is at most 30 seconds of audio.", code="invalid_audio", param="audio",
                             event_id=event.event_id)  # fmt: skip
            return
        if self.fixture_active:
            await self.error(peer, "A fixture is already playing.", code="fixture_active", event_id=event.event_id)
            return
        self.fixture_active = True
        await self.broadcast(lv.OutputAudioFixturePlayingEvent.build(client_event_id=event.event_id))
        await self.say(_Speech(pcm=pcm, at_ms=self.now_ms, client_event_id=event.event_id, record=False))

    async def check_append(
        self, peer: Peer, event: lv.InstructionsAppendEvent | lv.ThinkingAppendEvent | lv.CommentaryAppendEvent
    ) -> bool:
        """Whether an append may go in: no fixture playing, and a ``delegation_id`` of a client delegation."""
        if self.fixture_active:
            await self.error(peer, "Appends are rejected while an audio fixture plays.", code="fixture_active",
                             event_id=event.event_id)  # fmt: skip
            return False
        if event.delegation_id is None:
            return True
        if self.mode != "client":
            await self.error(peer, f"'delegation_id' must be null under {self.mode} delegation.",
                             code="invalid_value", param="delegation_id", event_id=event.event_id)  # fmt: skip
            return False
        if event.delegation_id not in self.delegations:
            await self.error(peer, f"Unknown delegation '{event.delegation_id}'.", code="invalid_value",
                             param="delegation_id", event_id=event.event_id)  # fmt: skip
            return False
        return True

    async def instructions(self, peer: Peer, event: lv.InstructionsAppendEvent, data: bytes) -> None:
        if not await self.check_append(peer, event):
            return
        self.context.append(events.ConversationItem.message("system", event.content))
        await self.broadcast(lv.InstructionsAppendedEvent.build(start_ms=self.now_ms, end_ms=self.now_ms,
                                                               client_event_id=event.event_id))  # fmt: skip
        await self.say(_Speech(text=event.content, at_ms=self.now_ms))  # the model follows them: it speaks

    async def thinking(self, peer: Peer, event: lv.ThinkingAppendEvent, data: bytes) -> None:
        if not await self.check_append(peer, event):
            return
        self.context.append(events.ConversationItem.message("system", event.content))
        await self.broadcast(lv.ThinkingAppendedEvent.build(start_ms=self.now_ms, end_ms=self.now_ms,
                                                           client_event_id=event.event_id))  # fmt: skip

    async def commentary(self, peer: Peer, event: lv.CommentaryAppendEvent, data: bytes) -> None:
        if not await self.check_append(peer, event):
            return
        await self.broadcast(lv.CommentaryAppendedEvent.build(start_ms=self.now_ms, end_ms=self.now_ms,
                                                             client_event_id=event.event_id))  # fmt: skip
        await self.say(_Speech(text=event.content, at_ms=self.now_ms))

    async def decision_create(self, peer: Peer, event: lv.DecisionCreateEvent, data: bytes) -> None:
        await self.broadcast(self.decision(None))

    def decision(self, delegation_id: str | None) -> lv.DecisionEvent:
        """A trivial decision: no answers (the simulator evaluates nothing)."""
        delegation = self.resource.delegation
        model = delegation.decisions.model if isinstance(delegation, lv.DelegationDecisions) else "gpt-6-luna"
        usage = lv.DecisionUsage(
            input_tokens=0,
            input_tokens_details=lv.DecisionUsageInputTokensDetails(cache_write_tokens=0, cached_tokens=0),
            output_tokens=0,
            output_tokens_details=lv.DecisionUsageOutputTokensDetails(reasoning_tokens=0),
            total_tokens=0,
        )
        completed = lv.DecisionCompleted(decision=lv.Decision(answers=[], model=model, usage=usage))
        return lv.DecisionEvent.build(event=completed, delegation_id=delegation_id)

    async def decision_item_create(self, peer: Peer, event: lv.DecisionItemCreateEvent, data: bytes) -> None:
        item = event.item
        if item.id is None:
            item = msgspec.structs.replace(item, id=new_id("item"))
        if item.type is None and item.role is not None:
            item = msgspec.structs.replace(item, type="message")
        self.decision_items[item.id or ""] = item
        await self.broadcast(lv.DecisionItemCreatedEvent.build(item=item, client_event_id=event.event_id))

    async def decision_item_delete(self, peer: Peer, event: lv.DecisionItemDeleteEvent, data: bytes) -> None:
        if self.decision_items.pop(event.item_id, None) is None:
            await self.error(peer, f"Decision item '{event.item_id}' not found.", code="item_not_found",
                             param="item_id", event_id=event.event_id)  # fmt: skip
            return
        await self.broadcast(lv.DecisionItemDeletedEvent.build(item_id=event.item_id, client_event_id=event.event_id))

    async def response_item_create(self, peer: Peer, event: lv.ResponseItemCreateEvent, data: bytes) -> None:
        if self.mode != "responses":
            await self.error(peer, REQUIRES_RESPONSES.format("response.item.create"), code="invalid_request",
                             event_id=event.event_id)  # fmt: skip
            return
        item = event.item
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "function_call_output":
            call_id = item.get("call_id")
            found = self.find_call(call_id if isinstance(call_id, str) else "")
            if found is None:
                await self.error(peer, f"No function call with call_id '{call_id}' is waiting for its output.",
                                 code="invalid_value", param="item.call_id", event_id=event.event_id)  # fmt: skip
                return
            delegation, call = found
            if call.output is not None:
                # A sideband and the primary may both answer: the first output counts, later ones are refused.
                await self.error(peer, f"The function call '{call_id}' already has an output; only the first one "
                                 "is used.", code="duplicate_function_call_output", param="item.call_id",
                                 event_id=event.event_id)  # fmt: skip
                return
            output = item.get("output")
            call.output = output if isinstance(output, str) else msgspec.json.encode(output).decode()
            self.context.append(events.ConversationItem(type="function_call_output", call_id=call.call_id,
                                                        output=call.output))  # fmt: skip
            delegation.fresh = True
        elif kind == "message":
            content = item.get("content")
            text = content if isinstance(content, str) else " ".join(
                part.get("text", "") for part in content or [] if isinstance(part, dict))  # fmt: skip
            role = str(item.get("role")) if item.get("role") in ("user", "system", "assistant") else "user"
            self.context.append(events.ConversationItem.message(role, text))
            delegation = self.latest_delegation()
            delegation.fresh = True
        # Other Responses input items are accepted and kept out of the simulated context.

    def find_call(self, call_id: str) -> tuple[Delegation, Call] | None:
        for delegation in self.delegations.values():
            call = delegation.calls.get(call_id)
            if call is not None:
                return delegation, call
        return None

    def latest_delegation(self) -> Delegation:
        """The last Responses delegation (typed user text continues it), or a new one."""
        for delegation in reversed(self.delegations.values()):
            if delegation.target == "responses":
                return delegation
        delegation = Delegation(id=new_id("item"), target="responses")
        self.delegations[delegation.id] = delegation
        return delegation

    async def response_create(self, peer: Peer, event: lv.ResponseCreateEvent, data: bytes) -> None:
        if self.mode != "responses":
            await self.error(peer, REQUIRES_RESPONSES.format("response.create"), code="invalid_request",
                             event_id=event.event_id)  # fmt: skip
            return
        for delegation in self.delegations.values():
            waiting = [call.call_id for call in delegation.calls.values() if call.output is None]
            if waiting:
                message = f"Send a function_call_output for every pending call first: {', '.join(waiting)}."
                await self.error(peer, message, code="missing_function_call_output", event_id=event.event_id)
                return
        fresh = [delegation for delegation in self.delegations.values() if delegation.fresh]
        if not fresh:
            await self.error(peer, "Nothing to continue: no input since the last response.", code="invalid_request",
                             event_id=event.event_id)  # fmt: skip
            return
        for delegation in fresh:
            delegation.fresh = False
            await self.delegated_response(delegation)

    async def close_requested(self, peer: Peer, event: lv.SessionCloseEvent, data: bytes) -> None:
        await self.close("close_requested", client_event_id=event.event_id)

    # --- the model ------------------------------------------------------------------------------

    async def user_turn(self, utterance: Utterance) -> None:
        """An utterance ended: its transcript, then the model's answer (spoken or delegated)."""
        try:
            words_of_caller = self.heard.popleft() if self.heard else None
            transcript = (
                words_of_caller if words_of_caller is not None else await self.simulator.transcribe(utterance.pcm)
            )
        except Exception as exc:  # the responder's: reported, the session goes on
            transcript = describe_audio(utterance.pcm)
            logger.info("transcribe() failed (%s); using %r", exc, transcript)
        words = split_words(transcript) or [""]
        span = max(1, utterance.end_ms - utterance.start_ms)
        for index, word in enumerate(words):
            start = utterance.start_ms + span * index // len(words)
            end = utterance.start_ms + span * (index + 1) // len(words)
            await self.broadcast(lv.InputTranscriptDeltaEvent.build(delta=word, start_ms=start, end_ms=end))
        heard = events.ContentPart(type="input_audio", transcript=transcript)
        self.context.append(events.ConversationItem(type="message", role="user", content=[heard]))
        reply = await self.respond()
        if not reply.tool_calls:
            await self.say(_Speech(text=reply.text, at_ms=utterance.detected_ms))
            return
        if reply.text:
            await self.say(_Speech(text=reply.text, at_ms=utterance.detected_ms))
        delegation = Delegation(id=new_id("item"), target=self.mode)
        self.delegations[delegation.id] = delegation
        if self.mode == "responses":
            await self.delegated_response(delegation, reply, offset_ms=utterance.detected_ms)
        elif self.mode == "decisions":
            await self.broadcast(self.delegation_created(delegation, utterance.detected_ms))
            await self.broadcast(self.decision(delegation.id))
        else:
            await self.broadcast(self.delegation_created(delegation, utterance.detected_ms))

    def delegation_created(
        self, delegation: Delegation, offset_ms: int | None, response_id: str | None = None
    ) -> lv.DelegationCreatedEvent:
        return lv.DelegationCreatedEvent.build(
            offset_ms=self.now_ms if offset_ms is None else offset_ms,
            delegation=lv.Delegation(id=delegation.id, target=delegation.target, response_id=response_id),
        )

    async def respond(self) -> Reply:
        reply = await self.simulator.responder.respond(list(self.context), self.responder_session())
        if not isinstance(reply, Reply):
            raise TypeError(f"respond() returned {type(reply).__name__}, not Reply")
        return reply

    async def delegated_response(
        self, delegation: Delegation, reply: Reply | None = None, offset_ms: int | None = None
    ) -> None:
        """One Responses response of ``delegation``: function calls (then it waits for their outputs and
        a ``response.create``), or text, which the Live model then speaks."""
        nested = _Nested(self, delegation)
        if delegation.responses == 0:
            await self.broadcast(self.delegation_created(delegation, offset_ms, nested.id))
        delegation.responses += 1
        await nested.created()
        if reply is None:
            reply = await self.respond()
        for name, arguments in reply.tool_calls:
            call = await nested.function_call(name, arguments)
            delegation.calls[call.call_id] = call
            self.context.append(events.ConversationItem(type="function_call", call_id=call.call_id, name=name,
                                                        arguments=arguments))  # fmt: skip
        if reply.text or not reply.tool_calls:
            await nested.message(reply.text)
        await nested.completed(self.context_tokens())
        if reply.text and not reply.tool_calls:
            await self.say(_Speech(text=reply.text, at_ms=self.now_ms))  # delegated text is spoken

    def context_tokens(self) -> int:
        chars = len(self.resource.instructions or "")
        for item in self.context:
            chars += len(item.arguments or "") + len(item.output or "")
            for part in item.content or []:
                chars += len(part.text or "") + len(part.transcript or "")
        return 4 + math.ceil(chars / 4)

    # --- speech ---------------------------------------------------------------------------------

    async def say(self, speech: _Speech) -> None:
        """Queue speech for the speaker task (it plays in order, while commands go on)."""
        if self.closed or (not speech.text and speech.pcm is None):
            return
        self.queued += 1
        self.drained = anyio.Event()
        await self.speech_in.send(speech)

    async def speaker(self) -> None:
        async with self.speech_out:
            async for speech in self.speech_out:
                try:
                    await self.speak(speech)
                finally:
                    self.queued -= 1
                    if not self.queued:
                        self.drained.set()

    async def speak(self, speech: _Speech) -> None:
        start = max(speech.at_ms, self.spoken_until)
        if speech.pcm is not None:
            chunk_bytes = CHUNK_MS * 48
            for offset in range(0, len(speech.pcm), chunk_bytes):
                chunk = speech.pcm[offset : offset + chunk_bytes]
                await self.audio_chunk(chunk, start + offset // 48, start + (offset + len(chunk)) // 48)
            self.spoken_until = start + len(speech.pcm) // 48
            self.fixture_active = False
            await self.broadcast(lv.OutputAudioFixturePlayedEvent.build(client_event_id=speech.client_event_id))
            return
        words = split_words(speech.text)
        chunks = max(1, math.ceil(len(speech.text) * MS_PER_CHAR / CHUNK_MS))
        buckets: list[list[str]] = [[] for _ in range(chunks)]
        for index, word in enumerate(words):
            buckets[index * chunks // len(words)].append(word)
        pcm = tone(PCM24)
        for number, bucket in enumerate(buckets):
            begin, end = start + number * CHUNK_MS, start + (number + 1) * CHUNK_MS
            for word in bucket:  # the transcript leads the audio, as on the service
                await self.broadcast(lv.OutputTranscriptDeltaEvent.build(delta=word, start_ms=begin, end_ms=end))
            await self.audio_chunk(pcm, begin, end)
        self.spoken_until = start + chunks * CHUNK_MS
        if speech.record:
            self.context.append(events.ConversationItem(
                type="message", role="assistant",
                content=[events.ContentPart(type="output_audio", transcript=speech.text)]))  # fmt: skip
            await self.broadcast(self.usage_updated())

    async def audio_chunk(self, pcm: bytes, start_ms: int, end_ms: int) -> None:
        """One chunk of output audio: the session's format to the primary, PCM16 24 kHz with times to sidebands."""
        primary = lv.OutputAudioDeltaEvent(delta=pcm_to_base64(from_pcm24(pcm, self.fmt)))
        sideband = lv.OutputAudioDeltaEvent(delta=pcm_to_base64(pcm), start_ms=start_ms, end_ms=end_ms)
        await self.broadcast(primary, sideband)
        await self.pause()

    def usage(self) -> lv.SessionUsage:
        return lv.SessionUsage(seconds=max(self.now_ms, self.spoken_until) / 1000)

    def usage_updated(self) -> lv.SessionUsageUpdatedEvent:
        seconds = max(self.now_ms, self.spoken_until) / 1000
        tokens = self.context_tokens() + math.ceil(seconds * 10)
        ratio = round(min(1.0, tokens / CONTEXT_TOKENS), 6)
        return lv.SessionUsageUpdatedEvent.build(usage=self.usage(), context_window=lv.ContextWindow(usage_ratio=ratio))

    # --- the end --------------------------------------------------------------------------------

    async def close(self, reason: str, client_event_id: str | None = None) -> None:
        """Flush the speech queue, then ``session.closed`` to every peer, and close their sockets (1000)."""
        if self.closed:
            return
        self.closed = True
        self.speech_in.close()
        await self.drained.wait()
        closed = lv.SessionClosedEvent.build(reason=reason, session=self.resource, usage=self.usage(),
                                             client_event_id=client_event_id)  # fmt: skip
        await self.broadcast(closed)
        for peer in [self.primary, *self.sidebands]:
            with anyio.CancelScope(shield=True):
                await peer.transport.close(1000)

    async def lost(self) -> None:
        """The primary left without ``session.close``: the sidebands hear ``connection_lost``."""
        if self.closed:
            return
        self.closed = True
        self.primary.gone = True
        self.speech_in.close()
        closed = lv.SessionClosedEvent.build(reason="connection_lost", session=self.resource, usage=self.usage())
        with anyio.CancelScope(shield=True):
            await self.to_sidebands(closed)
            for peer in self.sidebands:
                await peer.transport.close(1000)


def _function_tool(tool: object) -> events.Tool | None:
    """A Responses function tool (a struct or a plain object) as the responder's ``events.Tool``; None for others."""
    if isinstance(tool, msgspec.Struct):
        tool = msgspec.to_builtins(tool)
    if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("name"), str):
        return None
    parameters = tool.get("parameters")
    description = tool.get("description")
    return events.Tool(
        type="function",
        name=tool["name"],
        description=description if isinstance(description, str) else None,
        parameters=parameters if isinstance(parameters, dict) else {"type": "object", "properties": {}},
    )


def _merged_delegation(current: lv.DelegationConfig | None, update: Any) -> lv.DelegationConfig | None:
    """``current`` with the settings ``update`` (a delegation update of the same type) names."""
    if current is None:
        return current
    changes: dict[str, Any] = {}
    delay = getattr(update, "acknowledgement_delay_ms", UNSET)
    if delay is not UNSET:
        changes["acknowledgement_delay_ms"] = delay
    for name in ("responses", "decisions"):
        inner_update = getattr(update, name, UNSET)
        inner = getattr(current, name, None)
        if inner_update is UNSET or inner_update is None or inner is None:
            continue
        fields = {info.name: getattr(inner_update, info.name) for info in msgspec.structs.fields(inner_update)}
        changes[name] = msgspec.structs.replace(inner, **{k: v for k, v in fields.items() if v is not UNSET})
    return msgspec.structs.replace(current, **changes)


def _frame_type(data: bytes) -> str | None:
    try:
        raw = msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    kind = raw.get("type") if isinstance(raw, dict) else None
    return kind if isinstance(kind, str) else None


def _frame_event_id(data: bytes) -> str | None:
    try:
        raw = msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    event_id = raw.get("event_id") if isinstance(raw, dict) else None
    return event_id if isinstance(event_id, str) else None


# --- registry and connections -----------------------------------------------------------------


class LiveSessions:
    """The GPT-Live sessions a simulator runs, by id (sidebands attach to them)."""

    def __init__(self) -> None:
        self.running: dict[str, LiveSession] = {}

    def find(self, session_id: str) -> LiveSession | None:
        return self.running.get(session_id)

    def __len__(self) -> int:
        return len(self.running)


async def _startup_error(transport: WebSocketTransport, message: str, *, code: str, param: str | None,
                         event_id: str | None) -> None:  # fmt: skip
    """A failed startup: ``error`` (no ``session.started``), then the socket closes (1008)."""
    detail = lv.Error(type="invalid_request_error", code=code, message=message, param=param, client_event_id=event_id)
    try:
        await transport.send(lv.encode(lv.ErrorEvent.build(error=detail, client_event_id=event_id)))
        await transport.close(1008, "session.start failed")
    except TransportClosed:
        pass


async def _start(transport: WebSocketTransport) -> tuple[lv.SessionConfig, AudioFormat, str | None] | None:
    """Read and check the first frame; None when startup failed (the error is sent, the socket closed)."""
    data = await transport.receive()
    kind, event_id = _frame_type(data), _frame_event_id(data)
    if kind != "session.start":
        shown = f"'{kind}'" if kind is not None else "a frame without a type"
        await _startup_error(transport, f"The first event on a Live WebSocket must be 'session.start', not {shown}.",
                             code="invalid_value", param="type", event_id=event_id)  # fmt: skip
        return None
    unknown = unknown_parameter(msgspec.json.decode(data).get("session"))
    if unknown is not None:
        await _startup_error(transport, f"Unknown parameter: '{unknown}'.", code="unknown_parameter", param=unknown,
                             event_id=event_id)  # fmt: skip
        return None
    try:
        event = lv.decode_client(data)
    except DecodeError as exc:
        refused = rejection(data, exc, lv.CLIENT_EVENTS)
        await _startup_error(transport, refused.message, code=refused.code, param=refused.param, event_id=event_id)
        return None
    assert isinstance(event, lv.SessionStartEvent)
    config = event.session
    fmt = audio_format(config)
    problem = _check_format(fmt)
    if problem is not None:
        await _startup_error(transport, problem, code="invalid_value", param="session.audio.format",
                             event_id=event_id)  # fmt: skip
        return None
    return config, fmt, event.event_id


async def serve_live(simulator: Simulator, transport: WebSocketTransport) -> None:
    """Run one primary GPT-Live WebSocket: ``session.start`` first, then the session until it closes."""
    try:
        started = await _start(transport)
    except TransportClosed:
        return
    if started is None:
        return
    config, fmt, event_id = started
    primary = Peer(transport, sideband=False)
    session = LiveSession(simulator, primary, config, fmt)
    sessions = simulator.live
    sessions.running[session.id] = session
    logger.info("GPT-Live session %s started: model %s, %s delegation, %s at %d Hz", session.id, config.model,
                session.mode, fmt.type, fmt.rate)  # fmt: skip
    try:
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(session.speaker)
            try:
                await session.broadcast(
                    lv.SessionStartedEvent.build(session=session.resource, client_event_id=event_id)
                )
                while not session.closed:
                    await session.command(primary, await transport.receive())
            except TransportClosed:
                pass
            finally:
                await session.lost()
                task_group.cancel_scope.cancel()
    finally:
        sessions.running.pop(session.id, None)
        logger.info("GPT-Live session %s ended after %.1f s of audio", session.id, session.usage().seconds)


async def serve_call(simulator: Simulator, session: LiveSession, ended: anyio.Event, reason: Callable[[], str]) -> None:
    """Run a phone call's GPT-Live session (``_phone``; its primary is the caller) from ``session.started``
    until ``ended`` is set; then it closes as a session does (``session.closed`` with ``reason()``, sockets 1000)."""
    sessions = simulator.live
    sessions.running[session.id] = session
    try:
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(session.speaker)
            await session.broadcast(lv.SessionStartedEvent.build(session=session.resource))
            await ended.wait()
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await session.close(reason())
            task_group.cancel_scope.cancel()
    finally:
        sessions.running.pop(session.id, None)


async def serve_sideband(simulator: Simulator, transport: WebSocketTransport, session_id: str) -> None:
    """Run one sideband (``/live/sessions/{id}/attach``) until it or its session closes."""
    session = simulator.live.find(session_id)
    if session is None or session.closed:  # ended between the handshake and now
        await _startup_error(transport, f"Live session '{session_id}' not found.", code="session_not_found",
                             param="session_id", event_id=None)  # fmt: skip
        return
    peer = Peer(transport, sideband=True)
    session.sidebands.append(peer)
    if session.attached_at is None:
        session.attached_at = time.monotonic()
        session.attached.set()
    logger.info("sideband attached to GPT-Live session %s", session_id)
    try:
        while not session.closed:
            await session.command(peer, await transport.receive())
    except TransportClosed:
        pass
    finally:
        peer.gone = True
        if peer in session.sidebands:
            session.sidebands.remove(peer)
