"""A local Realtime server speaking the GA protocol over WebSocket, for tests and offline work.

Event order and shapes follow recordings of the real service. With ``turn_detection`` on (the
default, as on the live service) appended audio goes through a deterministic energy VAD that
commits turns and starts responses; with it off, audio is committed with
``input_audio_buffer.commit`` and responses start with ``response.create``. A connection with
``OpenAI-Beta: realtime=v1`` speaks the beta protocol; one with a ``call_id`` query parameter
is a sideband to a (pretend) WebRTC/SIP call. ``Simulator.handle`` hands GPT-Live and Realtime Translation
paths to ``_live`` and ``_translation`` (see ``_routes``).
"""

from __future__ import annotations

import logging
import math
import re
import secrets
import ssl
import struct
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.abc
import msgspec
from msgspec import UNSET
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from .. import events
from ..transports import Transport, TransportClosed, WebSocketTransport, serve_websocket
from . import _beta
from ._audio import BYTES_PER_MS, WINDOW_BYTES, VadSettings, describe_audio, is_speech, normalise_turn_detection
from ._live import LiveSessions, serve_live, serve_sideband
from ._responders import EchoResponder, Reply, Responder
from ._routes import http_error, route
from ._translation import serve_translation

__all__ = ("CallSwitch", "Simulator")

SAMPLE_RATE = 24000
CHUNK_MS = 100
MS_PER_CHAR = 60  # spoken duration per character of transcript
DEFAULT_MODEL = "gpt-realtime"
logger = logging.getLogger("realtime_dispatch.simulator")
DEFAULT_INSTRUCTIONS = "You are a helpful assistant running in a local Realtime simulator."

_PCM_FORMAT = events.AudioFormat(type="audio/pcm", rate=SAMPLE_RATE)
# Server-only or beta-only session fields a GA session.update cannot change.
_NOT_UPDATABLE = frozenset(
    {
        "id",
        "object",
        "expires_at",
        "modalities",
        "voice",
        "speed",
        "temperature",
        "max_response_output_tokens",
        "input_audio_format",
        "output_audio_format",
        "input_audio_transcription",
        "input_audio_noise_reduction",
        "turn_detection",
        "client_secret",
    }
)
_TOKENS = re.compile(r"\s*\S+|\s+$")


def _tone_chunk() -> bytes:
    """100 ms of a quiet 440 Hz sine, PCM16 little-endian; 44 whole periods, so chunks join seamlessly."""
    samples = SAMPLE_RATE * CHUNK_MS // 1000
    return struct.pack(
        f"<{samples}h", *(round(3000 * math.sin(2 * math.pi * 440 * n / SAMPLE_RATE)) for n in range(samples))
    )


_TONE = _tone_chunk()
_TONE_B64 = events.pcm_to_base64(_TONE)


def split_words(text: str) -> list[str]:
    """Word-sized deltas that concatenate back to ``text`` (``"Hi there!"`` -> ``["Hi", " there!"]``)."""
    return _TOKENS.findall(text)


def default_session(model: str) -> events.Session:
    """The session a fresh GA connection starts with (as ``session.created`` shows it)."""
    return events.Session(
        type="realtime",
        object="realtime.session",
        id=events.new_id("sess"),
        model=model,
        output_modalities=["audio"],
        instructions=DEFAULT_INSTRUCTIONS,
        tools=[],
        tool_choice="auto",
        max_output_tokens="inf",
        tracing=None,
        truncation="auto",
        expires_at=int(time.time()) + 1800,
        audio=events.SessionAudio(
            input=events.AudioInput(
                format=_PCM_FORMAT,
                transcription=None,
                noise_reduction=None,
                turn_detection=normalise_turn_detection(events.TurnDetection(type="server_vad")),
            ),
            output=events.AudioOutput(format=_PCM_FORMAT, voice="alloy", speed=1.0),
        ),
    )


_M = TypeVar("_M", bound=msgspec.Struct)


def merge(current: _M, update: _M, skip: frozenset[str] = frozenset()) -> _M:
    """``current`` with the fields present in ``update`` (not None/UNSET) merged in, recursively.

    Fields whose default is ``UNSET`` take an explicit ``None`` too: there, ``null`` means "off".
    """
    changes: dict[str, Any] = {}
    for info in msgspec.structs.fields(update):
        if info.name in skip:
            continue
        value = getattr(update, info.name)
        if value is UNSET or (value is None and info.default is not UNSET):
            continue
        old = getattr(current, info.name)
        if isinstance(value, events.Model) and type(old) is type(value):
            value = merge(old, value)
        changes[info.name] = value
    return msgspec.structs.replace(current, **changes)


class CallSwitch(Protocol):
    """The phone calls a simulator carries (``_phone.PhoneNetwork``): a ``?call_id=`` sideband attaches to one."""

    def has_call(self, call_id: str) -> bool:
        """Whether ``call_id`` is an accepted Realtime call in progress."""
        ...

    async def attach(self, call_id: str, transport: WebSocketTransport) -> None:
        """Serve one sideband to the call until it or the call ends."""
        ...


class Simulator:
    """A local GA Realtime server. ``serve()`` yields the base URL clients connect to.

    ``delta_delay`` (seconds) paces the streamed deltas; 0 streams as fast as the socket goes
    (still yielding between deltas, so ``response.cancel`` is honoured).
    """

    def __init__(self, responder: Responder | None = None, *, delta_delay: float = 0.0) -> None:
        self.responder: Responder = responder if responder is not None else EchoResponder()
        self.delta_delay = delta_delay
        self.live = LiveSessions()  # the GPT-Live sessions running, for sidebands to attach to
        # Phone calls (see _phone): with a switch, a ?call_id= sideband must name an accepted call.
        self.calls: CallSwitch | None = None

    @asynccontextmanager
    async def serve(
        self, host: str = "127.0.0.1", port: int = 0, *, tls: ssl.SSLContext | None = None, require_key: bool = False
    ) -> AsyncIterator[str]:
        """Serve on ``host:port`` (0 picks a free port) while the block runs; yields ``ws://host:port/v1``
        (``wss://`` with ``tls``, a server-side SSL context: see ``simulator.make_tls``).

        As the live service does, the 101 answer selects the ``realtime`` subprotocol when the client
        offers it (browser-standard clients fail without it), and the API key may come in the
        ``openai-insecure-api-key.<key>`` subprotocol as well as in ``Authorization: Bearer`` or
        ``api-key``. Any key is fine; ``require_key`` refuses (HTTP 401) a client that brings none.
        """

        def accept(request: Request) -> Response | None:
            return (_refuse_without_key(request) if require_key else None) or self.refuse(request)

        async with serve_websocket(
            self.handle, host, port, accept=accept, tls=tls, subprotocols=("realtime",)
        ) as bound:
            shown = f"[{host}]" if ":" in host else host
            yield f"{'wss' if tls is not None else 'ws'}://{shown}:{bound}/v1"

    def refuse(self, request: Request) -> Response | None:
        """The HTTP refusal of a handshake whose path or query the service would refuse, or None.

        A sideband to a Live session the simulator is not running: 404. A translation without a
        ``model``, or with an ``intent``: 400. A Live fork: 404 (not simulated).
        """
        found = route(request.path)
        call_id = found.param("call_id") if found.kind == "realtime" else None
        if call_id and self.calls is not None and not self.calls.has_call(call_id):
            return http_error(404, f"Call '{call_id}' not found.", code="call_id_not_found", param="call_id")
        if found.kind == "attach" and self.live.find(found.session_id or "") is None:
            return http_error(404, f"Live session '{found.session_id}' not found.", code="session_not_found",
                              param="session_id")  # fmt: skip
        if found.kind == "fork":
            return http_error(404, "Forking a Live session is not simulated.", code="not_found")
        if found.kind == "translation":
            if "intent" in found.query:
                return http_error(400, "Realtime Translation does not accept an intent query parameter.",
                                  code="unknown_parameter", param="intent")  # fmt: skip
            if not found.param("model"):
                return http_error(400, "Missing required parameter: 'model'.", code="missing_required_parameter",
                                  param="model")  # fmt: skip
        return None

    async def handle(self, transport: WebSocketTransport) -> None:
        """Run one client connection until it leaves: Realtime, GPT-Live (primary or sideband) or
        Realtime Translation, by the request path (see ``_routes``)."""
        found = route(transport.request.path) if transport.request is not None else None
        if found is not None and found.kind == "live":
            await serve_live(self, transport)
            return
        if found is not None and found.kind == "attach":
            await serve_sideband(self, transport, found.session_id or "")
            return
        if found is not None and found.kind == "translation":
            await serve_translation(self, transport, found.param("model") or "")
            return
        model = DEFAULT_MODEL
        call_id: str | None = None
        beta = False
        if transport.request is not None:
            query = parse_qs(urlsplit(transport.request.path).query)
            model = query.get("model", [DEFAULT_MODEL])[0] or DEFAULT_MODEL
            call_id = query.get("call_id", [""])[0] or None
            beta = "realtime=v1" in transport.request.headers.get("OpenAI-Beta", "")
        if call_id is not None and self.calls is not None:
            await self.calls.attach(call_id, transport)
            return
        peer = _peer(transport)
        if logger.isEnabledFor(logging.INFO):  # `simulate -v`: who connects, and to what session
            agents = transport.request.headers.get_all("User-Agent") if transport.request is not None else []
            agent = agents[-1] if agents else ""  # get() raises on a repeated header: a log line never should
            logger.info(
                "%s connected: model %s, %s API%s%s",
                peer,
                model,
                "beta" if beta else "GA",
                f", call {call_id}" if call_id else "",
                f", {agent}" if agent else "",
            )
        connection = RealtimeSession(self, transport, model, call_id=call_id, beta=beta)
        started = time.monotonic()
        try:
            await connection.run()
        finally:
            session = connection.session
            logger.info(
                "%s left after %.1f s: %d item(s) in the conversation; session %s, %s",
                peer,
                time.monotonic() - started,
                len(connection.items),
                session.model or model,
                _summary(session),
            )

    def call_session(self, transport: Transport, *, call_id: str, session: events.Session) -> RealtimeSession:
        """A Realtime session for a phone call (``_phone``): ``transport`` stands for its sidebands,
        ``session`` is the accepted config merged over the defaults. Run it with ``run()``."""
        connection = RealtimeSession(self, transport, session.model or DEFAULT_MODEL, call_id=call_id, beta=False)
        merged = merge(connection.session, session, _NOT_UPDATABLE)
        detection = session.audio.input.turn_detection if session.audio and session.audio.input else None
        if isinstance(detection, events.TurnDetection) and merged.audio and merged.audio.input:
            # As with session.update, a turn_detection replaces the default whole (with its own defaults).
            detection = normalise_turn_detection(
                detection if detection.type is not None else msgspec.structs.replace(detection, type="server_vad")
            )
            audio_input = msgspec.structs.replace(merged.audio.input, turn_detection=detection)
            merged = msgspec.structs.replace(merged, audio=msgspec.structs.replace(merged.audio, input=audio_input))
        connection.session = merged
        return connection

    async def transcribe(self, pcm: bytes) -> str:
        """The transcript of committed user audio: the responder's ``transcribe``, if it has one."""
        transcribe = getattr(self.responder, "transcribe", None)
        if transcribe is None:
            return describe_audio(pcm)
        transcript = await transcribe(pcm)
        if not isinstance(transcript, str):
            raise TypeError(f"transcribe() returned {type(transcript).__name__}, not str")
        return transcript


def _peer(transport: WebSocketTransport) -> str:
    """The client's address, as host:port, for the log."""
    address = getattr(transport, "remote_address", None)  # a WebSocket has one; other duck-typed sides may not
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address) if address else "a client"


def _summary(session: events.Session) -> str:
    """A few words on a session for the log: output modalities, voice, tools, turn detection."""
    modalities = session.output_modalities if session.output_modalities else None
    audio = session.audio if session.audio else None
    output = audio.output if audio is not None and audio.output else None
    detection = audio.input.turn_detection if audio is not None and audio.input else None
    parts = [
        "output " + "+".join(modalities) if modalities else "",
        f"voice {output.voice}" if output is not None and output.voice else "",
        f"{len(session.tools)} tool(s)" if session.tools else "no tools",
        f"turn detection {detection.type}" if detection else "no turn detection",
    ]
    return ", ".join(part for part in parts if part)


def _reason(exc: events.DecodeError) -> str:
    """Why a frame did not decode, without the decoder's own prefix ("invalid frame: ",
    "invalid 'session.update' event: "): the error's message already says what was invalid."""
    text = str(exc)
    for prefix in ("invalid frame: ", f"invalid {exc.event_type!r} event: "):
        text = text.removeprefix(prefix)
    return text


_KEY_SUBPROTOCOL = "openai-insecure-api-key."
_NO_KEY = (
    "You didn't provide an API key. Provide it in an Authorization header (Authorization: Bearer YOUR_KEY),"
    " or in the openai-insecure-api-key.YOUR_KEY WebSocket subprotocol."
)


def api_key(request: Request) -> str | None:
    """The API key a handshake request brings, wherever the live service takes it from:
    ``Authorization: Bearer``, ``api-key`` (Azure), or the ``openai-insecure-api-key.<key>``
    subprotocol (browsers cannot set headers). None when it brings none."""
    headers = request.headers
    scheme, _, token = headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if headers.get("api-key", "").strip():
        return headers["api-key"].strip()
    for value in headers.get_all("Sec-WebSocket-Protocol"):
        for offered in value.split(","):
            offered = offered.strip()
            if offered.startswith(_KEY_SUBPROTOCOL) and len(offered) > len(_KEY_SUBPROTOCOL):
                return offered[len(_KEY_SUBPROTOCOL) :]
    return None


def _refuse_without_key(request: Request) -> Response | None:
    if api_key(request) is not None:
        return None
    body = msgspec.json.encode(
        {"type": "error", "error": {"type": "invalid_request_error", "code": None, "message": _NO_KEY, "param": None}}
    )
    headers = Headers(
        [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("Connection", "close")]
    )
    return Response(401, "Unauthorized", headers, body)


# --- members the service sends as null -------------------------------------------------------
# The event structs omit None fields; the live service sends many of them as ``null`` and
# schema-validating clients require the keys. These events are encoded with them filled in
# (the shapes follow tests/data/recorded; tests/test_simulator_parity.py compares them).

_OBFUSCATED = frozenset(
    {
        "response.output_text.delta",
        "response.output_audio_transcript.delta",
        "response.function_call_arguments.delta",
        "conversation.item.input_audio_transcription.delta",
        "response.text.delta",
        "response.audio_transcript.delta",
    }
)
_AFTER_ITEM = frozenset(
    {"conversation.item.added", "conversation.item.done", "conversation.item.created", "input_audio_buffer.committed"}
)
_FILLED = (
    _OBFUSCATED
    | _AFTER_ITEM
    | {
        "session.created",
        "session.updated",
        "response.created",
        "response.done",
        "conversation.item.retrieved",
        "response.output_item.added",
        "response.output_item.done",
        "error",
    }
)
_PAD_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _item_nulls(item: dict[str, Any], phases: Mapping[str, str]) -> None:
    phase = phases.get(item.get("id") or "")
    if phase is not None:
        item["phase"] = phase
    for part in item.get("content") or ():
        if part.get("type") == "input_audio":
            part.setdefault("transcript", None)


def _session_nulls(session: dict[str, Any]) -> None:
    session.setdefault("include", None)
    session.setdefault("prompt", None)
    if "type" in session:
        audio_input = (session.get("audio") or {}).get("input") or {}
        detection, transcription = audio_input.get("turn_detection"), audio_input.get("transcription")
    else:  # beta
        session.setdefault("client_secret", None)
        detection, transcription = session.get("turn_detection"), session.get("input_audio_transcription")
    if isinstance(detection, dict) and detection.get("type") == "server_vad":
        detection.setdefault("idle_timeout_ms", None)
    if isinstance(transcription, dict):
        transcription.setdefault("language", None)
        transcription.setdefault("prompt", None)


def _response_nulls(response: dict[str, Any], phases: Mapping[str, str]) -> None:
    for name in ("conversation_id", "status_details", "usage", "metadata"):
        response.setdefault(name, None)
    for item in response.get("output") or ():
        _item_nulls(item, phases)


def wire(event: events.ServerEvent, phases: Mapping[str, str]) -> bytes:
    """``event`` encoded as the service sends it: with its ``null`` members (see above)."""
    kind = event.type
    if kind not in _FILLED:
        return events.encode(event)
    data: dict[str, Any] = msgspec.to_builtins(event)
    if kind in _OBFUSCATED:  # padding that hides the length of the delta, 16 characters in all
        pad = max(1, 16 - len(data.get("delta") or ""))
        data.setdefault("obfuscation", "".join(secrets.choice(_PAD_ALPHABET) for _ in range(pad)))
    if kind in _AFTER_ITEM:
        data.setdefault("previous_item_id", None)
    if isinstance(data.get("item"), dict):
        _item_nulls(data["item"], phases)
    if isinstance(data.get("session"), dict):
        _session_nulls(data["session"])
    if isinstance(data.get("response"), dict):
        _response_nulls(data["response"], phases)
    if kind == "error":
        for name in ("code", "param", "event_id"):
            data["error"].setdefault(name, None)
    return msgspec.json.encode(data)


@dataclass
class _Active:
    """The response in progress."""

    id: str
    cancelled: bool = False
    reason: str = "client_cancelled"
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)


@dataclass
class _Usage:
    input_text: int = 0
    input_audio: int = 0
    output_text: int = 0
    output_audio: int = 0


class RealtimeSession:
    """One Realtime session: a client connection, or a phone call's (``Simulator.call_session``)."""

    def __init__(
        self, simulator: Simulator, transport: Transport, model: str, *, call_id: str | None, beta: bool
    ) -> None:
        self.simulator = simulator
        self.transport = transport
        self.call_id = call_id
        self.beta = beta
        self.session = default_session(model)
        self.conversation_id = events.new_id("conv")
        self.items: list[events.ConversationItem] = []
        self.audio_ms: dict[str, int] = {}  # assistant item id -> its audio length
        self.streaming: dict[str, int] = {}  # assistant item id -> audio generated so far, while it streams
        self.cuts: dict[str, int] = {}  # streaming item id -> where a truncate cut its audio
        self.phases: dict[str, str] = {}  # assistant message id -> its phase (gpt-realtime-2 models)
        # The input buffer, placed in session audio time by byte offsets from the first append.
        self.buffer = bytearray()
        self.buffer_start = 0  # offset of buffer[0]
        self.scanned = 0  # the VAD has looked at everything before this offset
        self.speech_start: int | None = None  # offset where the current turn starts (with padding)
        self.speech_item = ""
        self.last_speech = 0  # offset where the last loud window ended
        self.active: _Active | None = None
        self.playing: str | None = None  # call sideband: the response whose audio is playing out
        self.played: str | None = None  # call sideband: the last response that played audio
        self.task_group: anyio.abc.TaskGroup | None = None
        # A phone call: what the caller said, for the turns its audio is committed as (see hear()),
        # and who wants to know when a response is done (the caller waits for the answer).
        self.heard: deque[str] = deque()
        self.on_response_done: Callable[[events.Response], None] | None = None

    # --- plumbing -----------------------------------------------------------------------------

    async def send(self, event: events.ServerEvent) -> None:
        if self.beta:
            translated = _beta.to_beta(event)
            if translated is None:
                return
            event = translated
        await self.transport.send(wire(event, self.phases))

    async def error(
        self, message: str, *, code: str | None, param: str | None = None, event_id: str | None = None
    ) -> None:
        detail = events.ErrorDetail(
            type="invalid_request_error", code=code, message=message, param=param, event_id=event_id
        )
        await self.send(events.ErrorEvent.build(error=detail))

    async def run(self) -> None:
        async with anyio.create_task_group() as task_group:
            self.task_group = task_group
            try:
                await self.send(events.SessionCreated.build(session=self.session))
                while True:
                    await self.dispatch(await self.transport.receive())
            except TransportClosed:
                pass
            finally:
                task_group.cancel_scope.cancel()

    async def dispatch(self, data: bytes) -> None:
        try:
            event = events.decode_client(data)
        except events.DecodeError as exc:
            await self.reject(data, exc)
            return
        event_id = event.event_id
        if isinstance(event, events.SessionUpdate):
            await self.session_update(event)
        elif isinstance(event, events.ConversationItemCreate):
            await self.item_create(event.item, event.previous_item_id, event_id)
        elif isinstance(event, events.ConversationItemDelete):
            if await self.find(event.item_id, event_id) is not None:
                self.items = [item for item in self.items if item.id != event.item_id]
                await self.send(events.ConversationItemDeleted.build(item_id=event.item_id))
        elif isinstance(event, events.ConversationItemRetrieve):
            item = await self.find(event.item_id, event_id)
            if item is not None:
                await self.send(events.ConversationItemRetrieved.build(item=item))
        elif isinstance(event, events.ConversationItemTruncate):
            await self.truncate(event)
        elif isinstance(event, events.InputAudioBufferAppend):
            try:
                pcm = event.pcm
            except ValueError:
                await self.error("Invalid 'audio'. Expected base64-encoded audio.", code="invalid_value",
                                 param="audio", event_id=event_id)  # fmt: skip
                return
            await self.append(pcm)
        elif isinstance(event, events.InputAudioBufferCommit):
            await self.commit(event_id)
        elif isinstance(event, events.InputAudioBufferClear):
            self.drop_buffer()
            await self.send(events.InputAudioBufferCleared.build())
        elif isinstance(event, events.ResponseCreate):
            params = event.response or events.ResponseParams()
            await self.response_create(_beta.params_from_beta(params) if self.beta else params, event_id)
        elif isinstance(event, events.ResponseCancel):
            await self.response_cancel(event.response_id, event_id)
        elif isinstance(event, events.OutputAudioBufferClear) and self.call_id is not None:
            await self.output_audio_clear(event_id)
        else:  # output_audio_buffer.clear without a call, transcription_session.update
            await self.error(f"Invalid value: '{event.type}'. Not supported on a WebSocket realtime session.",
                             code="invalid_value", param="type", event_id=event_id)  # fmt: skip

    async def reject(self, data: bytes, exc: events.DecodeError) -> None:
        try:
            raw = msgspec.json.decode(data)
        except (msgspec.DecodeError, UnicodeDecodeError):
            await self.error(f"Invalid JSON: {_reason(exc)}", code="invalid_json")
            return
        event_id = raw.get("event_id") if isinstance(raw, dict) else None
        event_id = event_id if isinstance(event_id, str) else None
        if exc.event_type is None:
            await self.error("Invalid 'type': expected a JSON object with a string 'type'.", code="invalid_value",
                             param="type", event_id=event_id)  # fmt: skip
        elif exc.event_type not in events.CLIENT_EVENTS:
            supported = ", ".join(f"'{name}'" for name in events.CLIENT_EVENTS)
            await self.error(f"Invalid value: '{exc.event_type}'. Supported values are: {supported}.",
                             code="invalid_value", param="type", event_id=event_id)  # fmt: skip
        else:
            await self.error(f"Invalid '{exc.event_type}' event: {_reason(exc)}", code="invalid_value",
                             event_id=event_id)  # fmt: skip

    async def find(self, item_id: str, event_id: str | None) -> events.ConversationItem | None:
        for item in self.items:
            if item.id == item_id:
                return item
        await self.error(f"Item with item_id not found: {item_id}", code="item_not_found", param="item_id",
                         event_id=event_id)  # fmt: skip
        return None

    # --- session and conversation ---------------------------------------------------------------

    async def session_update(self, event: events.SessionUpdate) -> None:
        update = _beta.session_from_beta(event.session) if self.beta else event.session
        if update.type is None:
            await self.error("Missing required parameter: 'session.type'.", code="missing_required_parameter",
                             param="session.type", event_id=event.event_id)  # fmt: skip
            return
        if self.session.type is not None and update.type != self.session.type:
            # Transcription-only sessions are not modelled, and the live service does not switch a session's type.
            await self.error(f"Invalid value: '{update.type}'. A {self.session.type} session cannot change its type.",
                             code="invalid_value", param="session.type", event_id=event.event_id)  # fmt: skip
            return
        audio_input = update.audio.input if update.audio else None
        detection = audio_input.turn_detection if audio_input else None
        if isinstance(detection, events.TurnDetection) and detection.type is None:
            detection = msgspec.structs.replace(detection, type="server_vad")  # beta's type is optional
        if isinstance(detection, events.TurnDetection) and detection.type not in ("server_vad", "semantic_vad"):
            await self.error(
                f"Invalid value: '{detection.type}'. Supported values are: 'server_vad' and 'semantic_vad'.",
                code="invalid_value", param="session.audio.input.turn_detection.type", event_id=event.event_id,
            )  # fmt: skip
            return
        merged = merge(self.session, update, _NOT_UPDATABLE)
        if audio_input is not None and merged.audio is not None and merged.audio.input is not None:
            # A new turn_detection or transcription replaces the old one whole, as on the live
            # service: switching server_vad -> semantic_vad must not keep server_vad's threshold.
            replaced: dict[str, Any] = {}
            if isinstance(detection, events.TurnDetection):
                replaced["turn_detection"] = normalise_turn_detection(detection)
            if isinstance(audio_input.transcription, events.AudioTranscription):
                replaced["transcription"] = audio_input.transcription
            if replaced:
                new_input = msgspec.structs.replace(merged.audio.input, **replaced)
                merged = msgspec.structs.replace(merged, audio=msgspec.structs.replace(merged.audio, input=new_input))
        was_listening = VadSettings.of(self.session) is not None
        self.session = merged
        await self.send(events.SessionUpdated.build(session=self.session))
        if was_listening and VadSettings.of(self.session) is None:
            self.speech_start = None  # a turn in progress is left in the buffer for a manual commit

    def previous_id(self, index: int) -> str | None:
        return self.items[index - 1].id if index > 0 else None

    async def item_create(
        self, item: events.ConversationItem, previous_item_id: str | None, event_id: str | None
    ) -> None:
        if item.id is not None and any(existing.id == item.id for existing in self.items):
            await self.error(f"Item with id '{item.id}' already exists.", code="item_id_already_exists",
                             param="item.id", event_id=event_id)  # fmt: skip
            return
        if previous_item_id is None:
            index = len(self.items)
        elif previous_item_id == "root":
            index = 0
        else:
            found = [n for n, existing in enumerate(self.items) if existing.id == previous_item_id]
            if not found:
                await self.error(f"Error adding item: the previous item with id '{previous_item_id}' does not exist.",
                                 code="item_not_found", param="previous_item_id", event_id=event_id)  # fmt: skip
                return
            index = found[0] + 1
        status = item.status or ("completed" if item.type in ("message", "function_call") else None)
        item = msgspec.structs.replace(item, id=item.id or events.new_id("item"), status=status)
        self.items.insert(index, item)
        previous = self.previous_id(index)
        await self.send(events.ConversationItemAdded.build(item=item, previous_item_id=previous))
        await self.send(events.ConversationItemDone.build(item=item, previous_item_id=previous))

    async def truncate(self, event: events.ConversationItemTruncate) -> None:
        item = await self.find(event.item_id, event.event_id)
        if item is None:
            return
        parts = item.content or []
        item_id = item.id or ""
        # Barge-in truncates an answer that is still streaming: its one audio part is part 0.
        streaming = item_id in self.streaming
        if item.role != "assistant" or not 0 <= event.content_index < (1 if streaming else len(parts)):
            await self.error("Only the audio of an assistant message can be truncated.", code="invalid_value",
                             param="content_index", event_id=event.event_id)  # fmt: skip
            return
        length = self.cuts.get(item_id, self.streaming[item_id]) if streaming else self.audio_ms.get(item_id, 0)
        if event.audio_end_ms > length:
            await self.error(f"Audio content of {length}ms is shorter than {event.audio_end_ms}ms.",
                             code="invalid_value", param="audio_end_ms", event_id=event.event_id)  # fmt: skip
            return
        if streaming:
            # Recorded now, applied when the item is done (see _Generation.audio_done): the
            # rest streams on unless the response is cancelled, and the item keeps the cut.
            self.cuts[item_id] = event.audio_end_ms
            await self.send(events.ConversationItemTruncated.build(
                item_id=event.item_id, content_index=event.content_index, audio_end_ms=event.audio_end_ms))  # fmt: skip
            return
        parts = list(parts)
        parts[event.content_index] = msgspec.structs.replace(parts[event.content_index], transcript="")
        self.items = [msgspec.structs.replace(it, content=parts) if it is item else it for it in self.items]
        self.audio_ms[item.id or ""] = event.audio_end_ms
        await self.send(events.ConversationItemTruncated.build(
            item_id=event.item_id, content_index=event.content_index, audio_end_ms=event.audio_end_ms))  # fmt: skip

    # --- input audio ----------------------------------------------------------------------------

    @property
    def written(self) -> int:
        """Bytes of input audio appended this session: the clock of the VAD and of ``audio_*_ms``."""
        return self.buffer_start + len(self.buffer)

    def drop_buffer(self) -> None:
        self.buffer_start = self.scanned = self.written
        self.buffer.clear()
        self.speech_start = None

    def transcription(self) -> events.AudioTranscription | None:
        audio_input = self.session.audio.input if self.session.audio else None
        config = audio_input.transcription if audio_input else None
        return config if isinstance(config, events.AudioTranscription) else None

    async def hear(self, pcm: bytes, transcript: str) -> None:
        """A phone call's caller speaks: ``pcm`` (PCM16 24 kHz, whatever the session's input format: the
        call's media is not the session's wire format) goes through the VAD, and the turn it is committed
        as carries ``transcript`` (what the model hears, and the input transcription when one is on)."""
        self.heard.append(transcript)
        await self.append(pcm, call_audio=True)

    async def append(self, pcm: bytes, *, call_audio: bool = False) -> None:
        self.buffer += pcm
        audio_input = self.session.audio.input if self.session.audio else None
        audio_format = audio_input.format if audio_input else None
        vad = VadSettings.of(self.session)
        if vad is None or (
            not call_audio and audio_format is not None and audio_format.type not in (None, "audio/pcm")
        ):
            self.scanned = self.written  # G.711 input is never analysed: see docs/simulator.md
            return
        silence = vad.silence_duration_ms * BYTES_PER_MS
        while self.scanned + WINDOW_BYTES <= self.written:
            at = self.scanned
            self.scanned += WINDOW_BYTES
            window = self.buffer[at - self.buffer_start : self.scanned - self.buffer_start]
            if is_speech(window, vad.threshold):
                self.last_speech = self.scanned
                if self.speech_start is None:
                    await self.speech_started(at, vad)
            elif self.speech_start is not None and self.scanned - self.last_speech >= silence:
                await self.speech_stopped(vad)
        if self.speech_start is None:
            # Between turns only the prefix padding can still become part of a turn.
            keep = max(self.buffer_start, self.scanned - vad.prefix_padding_ms * BYTES_PER_MS)
            del self.buffer[: keep - self.buffer_start]
            self.buffer_start = keep

    async def speech_started(self, at: int, vad: VadSettings) -> None:
        self.speech_start = max(self.buffer_start, at - vad.prefix_padding_ms * BYTES_PER_MS)
        self.speech_item = events.new_id("item")
        await self.send(events.InputAudioBufferSpeechStarted.build(
            item_id=self.speech_item, audio_start_ms=self.speech_start // BYTES_PER_MS))  # fmt: skip
        active = self.active
        if vad.interrupt_response and active is not None and not active.cancelled:
            active.reason = "turn_detected"
            active.cancelled = True
            active.scope.cancel()

    async def speech_stopped(self, vad: VadSettings) -> None:
        assert self.speech_start is not None
        end = self.scanned  # the end of the silence that closed the turn, as the live service reports
        await self.send(events.InputAudioBufferSpeechStopped.build(
            item_id=self.speech_item, audio_end_ms=end // BYTES_PER_MS))  # fmt: skip
        item = await self.commit_audio(self.speech_start, end, self.speech_item)
        transcribe = self.transcription() is not None
        if vad.create_response and self.active is None:
            # The transcription goes out from within the response, after response.created, which
            # is where the live service's usually lands.
            self.start_response(events.ResponseParams(), transcribe_item=item if transcribe else None)
        elif transcribe:
            await self.transcribe(item)

    async def commit(self, event_id: str | None) -> None:
        if len(self.buffer) < SAMPLE_RATE * 2 // 10:
            ms = len(self.buffer) / 48
            await self.error(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                f"but buffer only has {ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
                event_id=event_id,
            )
            return
        item_id = self.speech_item if self.speech_start is not None else events.new_id("item")
        item = await self.commit_audio(self.buffer_start, self.written, item_id)
        if self.transcription() is not None:
            await self.transcribe(item)

    async def commit_audio(self, start: int, end: int, item_id: str) -> events.ConversationItem:
        """Commit the buffered audio from ``start`` to ``end`` as a user message; drop what precedes ``end``."""
        pcm = bytes(self.buffer[start - self.buffer_start : end - self.buffer_start])
        del self.buffer[: end - self.buffer_start]
        self.buffer_start = end
        self.scanned = max(self.scanned, end)
        self.speech_start = None
        previous = self.items[-1].id if self.items else None
        await self.send(events.InputAudioBufferCommitted.build(item_id=item_id, previous_item_id=previous))
        heard = self.heard.popleft() if self.heard else None  # a caller's words (hear())
        stored = events.ConversationItem(
            id=item_id, type="message", status="completed", role="user",
            content=[events.ContentPart(type="input_audio", audio=events.pcm_to_base64(pcm), transcript=heard)],
        )  # fmt: skip
        self.items.append(stored)
        shown = msgspec.structs.replace(stored, content=[events.ContentPart(type="input_audio")])
        await self.send(events.ConversationItemAdded.build(item=shown, previous_item_id=previous))
        await self.send(events.ConversationItemDone.build(item=shown, previous_item_id=previous))
        return stored

    async def transcribe(self, item: events.ConversationItem, pace: bool = False) -> None:
        """The input transcription events of a committed user audio item; stores the transcript on it."""
        config = self.transcription()
        assert config is not None
        assert item.id is not None
        assert item.content
        pcm = item.content[0].pcm
        try:
            heard = item.content[0].transcript
            transcript = heard if heard is not None else await self.simulator.transcribe(pcm)
        except Exception as exc:  # the live service reports a failed transcription as an event, too
            error = events.TranscriptionError(type="transcription_error", code="transcription_failed", message=str(exc))
            await self.send(events.InputAudioTranscriptionFailed.build(item_id=item.id, content_index=0, error=error))
            return
        words = split_words(transcript)
        model = config.model or "whisper-1"
        if model != "whisper-1":  # whisper-1 is not a streaming model: it sends only .completed
            for word in words:
                await self.send(events.InputAudioTranscriptionDelta.build(item_id=item.id, content_index=0, delta=word))
                if pace:
                    await anyio.sleep(self.simulator.delta_delay)
        seconds = len(pcm) / (BYTES_PER_MS * 1000)
        usage: events.TranscriptionUsage
        if model == "whisper-1":
            usage = events.TranscriptionDurationUsage(seconds=math.ceil(seconds))
        else:
            audio_tokens = math.ceil(seconds * 10)
            usage = events.TranscriptionTokenUsage(
                input_tokens=audio_tokens, output_tokens=len(words), total_tokens=audio_tokens + len(words),
                input_token_details=events.TranscriptionTokenDetails(text_tokens=0, audio_tokens=audio_tokens),
            )  # fmt: skip
        part = msgspec.structs.replace(item.content[0], transcript=transcript)
        self.items = [
            msgspec.structs.replace(it, content=[part, *item.content[1:]]) if it.id == item.id else it
            for it in self.items
        ]
        await self.send(events.InputAudioTranscriptionCompleted.build(
            item_id=item.id, content_index=0, transcript=transcript, usage=usage))  # fmt: skip

    async def output_audio_clear(self, event_id: str | None) -> None:
        response_id = self.playing or self.played
        if response_id is None:
            await self.error("No audio has been played on this call.", code="invalid_value", event_id=event_id)
            return
        self.playing = None  # its playout ends here: no output_audio_buffer.stopped follows
        await self.send(events.OutputAudioBufferCleared.build(response_id=response_id))

    # --- responses --------------------------------------------------------------------------------

    async def response_create(self, params: events.ResponseParams, event_id: str | None) -> None:
        if self.active is not None:
            await self.error(
                f"Conversation already has an active response in progress: {self.active.id}. "
                "Wait until the response is finished before creating a new one.",
                code="conversation_already_has_active_response",
                event_id=event_id,
            )
            return
        self.start_response(params)

    def start_response(
        self, params: events.ResponseParams, transcribe_item: events.ConversationItem | None = None
    ) -> None:
        assert self.task_group is not None
        self.active = active = _Active(id=events.new_id("resp"))
        self.task_group.start_soon(self.respond, active, params, transcribe_item)

    async def response_cancel(self, response_id: str | None, event_id: str | None) -> None:
        active = self.active
        if active is None or active.cancelled or (response_id is not None and response_id != active.id):
            await self.error("Cancellation failed: no active response found.", code="response_cancel_not_active",
                             event_id=event_id)  # fmt: skip
            return
        active.reason = "client_cancelled"
        active.cancelled = True
        active.scope.cancel()  # only stops the responder; the streaming loop checks the flag

    async def respond(
        self, active: _Active, params: events.ResponseParams, transcribe_item: events.ConversationItem | None
    ) -> None:
        try:
            await _Generation(self, active, params, transcribe_item).run()
        except TransportClosed:
            pass
        finally:
            if self.active is active:
                self.active = None


class _Generation:
    """One response, from ``response.created`` to ``response.done``."""

    def __init__(
        self,
        connection: RealtimeSession,
        active: _Active,
        params: events.ResponseParams,
        transcribe_item: events.ConversationItem | None = None,
    ) -> None:
        self.connection = connection
        self.active = active
        self.params = params
        self.transcribe_item = transcribe_item
        self.usage = _Usage()
        self.out_of_band = params.conversation == "none"
        session = connection.session
        self.modalities = params.output_modalities or session.output_modalities or ["audio"]
        output = session.audio.output if session.audio and session.audio.output else events.AudioOutput()
        voice = output.voice if isinstance(output.voice, str) else "alloy"
        self.response = events.Response(
            object="realtime.response",
            id=active.id,
            status="in_progress",
            output=[],
            conversation_id=None if self.out_of_band else connection.conversation_id,
            output_modalities=self.modalities,
            max_output_tokens=params.max_output_tokens or session.max_output_tokens or "inf",
            audio=events.ResponseAudio(
                output=events.ResponseAudioOutput(format=output.format or _PCM_FORMAT, voice=voice)
            ),
            metadata=params.metadata,
        )
        self.output: list[events.ConversationItem] = []

    async def send(self, event: events.ServerEvent) -> None:
        await self.connection.send(event)

    def stopped(self) -> bool:
        """Whether the client cancelled this response (checked between deltas)."""
        return self.active.cancelled

    async def pause(self) -> None:
        delay = self.connection.simulator.delta_delay
        await anyio.sleep(delay if delay > 0 else 0)

    def effective_session(self) -> events.Session:
        params, session = self.params, self.connection.session
        changes: dict[str, Any] = {"output_modalities": self.modalities}
        for name in ("instructions", "tools", "tool_choice"):
            value = getattr(params, name)
            if value is not None:
                changes[name] = value
        return msgspec.structs.replace(session, **changes)

    async def run(self) -> None:
        await self.send(events.ResponseCreated.build(response=self.response))
        if self.transcribe_item is not None:
            await self.connection.transcribe(self.transcribe_item, pace=True)
        context = list(self.params.input) if self.params.input is not None else list(self.connection.items)
        self.count_input(context)
        reply: Reply | None = None
        with self.active.scope:
            reply = await self.connection.simulator.responder.respond(context, self.effective_session())
        if reply is not None and not self.active.cancelled:
            if reply.text or not reply.tool_calls:
                await self.message(reply.text, commentary=bool(reply.tool_calls))
            for name, arguments in reply.tool_calls:
                if self.stopped():
                    break
                await self.function_call(name, arguments)
        await self.finish()

    def count_input(self, context: list[events.ConversationItem]) -> None:
        chars = len(self.connection.session.instructions or "")
        for item in context:
            chars += len(item.arguments or "") + len(item.output or "")
            for part in item.content or []:
                chars += len(part.text or "") + len(part.transcript or "")
                self.usage.input_audio += len(part.pcm) // (48 * CHUNK_MS)  # 10 tokens a second
        self.usage.input_text = 4 + math.ceil(chars / 4)

    # --- items ---------------------------------------------------------------------------------

    async def item_added(self, item: events.ConversationItem) -> str | None:
        output_index = len(self.output)
        self.output.append(item)
        await self.send(events.ResponseOutputItemAdded.build(
            response_id=self.active.id, output_index=output_index, item=item))  # fmt: skip
        if self.out_of_band:
            return None
        items = self.connection.items
        previous = items[-1].id if items else None
        items.append(item)
        await self.send(events.ConversationItemAdded.build(item=item, previous_item_id=previous))
        return previous

    async def item_done(self, item: events.ConversationItem, previous: str | None) -> None:
        output_index = len(self.output) - 1
        self.output[output_index] = item
        if not self.out_of_band:
            items = self.connection.items
            self.connection.items = [item if existing.id == item.id else existing for existing in items]
            await self.send(events.ConversationItemDone.build(item=item, previous_item_id=previous))
        await self.send(events.ResponseOutputItemDone.build(
            response_id=self.active.id, output_index=output_index, item=item))  # fmt: skip

    async def message(self, text: str, *, commentary: bool = False) -> None:
        audio = "audio" in self.modalities
        item_id = events.new_id("item")
        if (self.connection.session.model or "").startswith("gpt-realtime-2"):
            # Newer models tag assistant messages: a preamble to tool calls, or the answer.
            self.connection.phases[item_id] = "commentary" if commentary else "final_answer"
        item = events.ConversationItem(id=item_id, type="message", status="in_progress", role="assistant", content=[])
        previous = await self.item_added(item)
        output_index = len(self.output) - 1
        ids = {"response_id": self.active.id, "item_id": item_id, "output_index": output_index, "content_index": 0}
        empty = events.ContentPart(type="audio", transcript="") if audio else events.ContentPart(type="text", text="")
        await self.send(events.ResponseContentPartAdded.build(**ids, part=empty))
        call = self.connection.call_id is not None
        if audio and call and self.connection.playing != self.active.id:
            self.connection.playing = self.connection.played = self.active.id
            await self.send(events.OutputAudioBufferStarted.build(response_id=self.active.id))
        words = split_words(text)
        said: list[str] = []
        if audio:
            chunks = max(1, math.ceil(len(text) * MS_PER_CHAR / CHUNK_MS))
            sent_chunks = 0
            self.connection.streaming[item_id] = 0
            # Word i goes just before chunk i * chunks // len(words): the transcript leads the audio.
            buckets: list[list[str]] = [[] for _ in range(chunks)]
            for index, word in enumerate(words):
                buckets[index * chunks // len(words)].append(word)
            for bucket in buckets:
                if self.stopped():
                    break
                for word in bucket:
                    said.append(word)
                    await self.send(events.ResponseOutputAudioTranscriptDelta.build(**ids, delta=word))
                # Generated before it is sent: a client may truncate on hearing it before send() returns.
                self.connection.streaming[item_id] = (sent_chunks + 1) * CHUNK_MS
                if not call:  # on a call the audio goes to the peer, not down this socket
                    await self.send(events.ResponseOutputAudioDelta.build(**ids, delta=_TONE_B64))
                sent_chunks += 1
                await self.pause()
            transcript = "".join(said)
            self.usage.output_audio += sent_chunks
            await self.send(events.ResponseOutputAudioDone.build(**ids))
            await self.send(events.ResponseOutputAudioTranscriptDone.build(**ids, transcript=transcript))
            part = events.ContentPart(type="audio", transcript=transcript)
            content = events.ContentPart(type="output_audio", transcript=transcript)
        else:
            for word in words:
                if self.stopped():
                    break
                said.append(word)
                await self.send(events.ResponseOutputTextDelta.build(**ids, delta=word))
                await self.pause()
            transcript = "".join(said)
            await self.send(events.ResponseOutputTextDone.build(**ids, text=transcript))
            part = events.ContentPart(type="text", text=transcript)
            content = events.ContentPart(type="output_text", text=transcript)
        self.usage.output_text += len(said)
        await self.send(events.ResponseContentPartDone.build(**ids, part=part))
        status = "incomplete" if self.active.cancelled else "completed"
        if audio:
            content = self.audio_done(item_id, content)  # no await between this and the item's update
        await self.item_done(msgspec.structs.replace(item, status=status, content=[content]), previous)

    def audio_done(self, item_id: str, content: events.ContentPart) -> events.ContentPart:
        """The audio item's final length, with a truncation made while it streamed applied."""
        connection = self.connection
        length = connection.streaming.pop(item_id, 0)
        cut = connection.cuts.pop(item_id, None)
        connection.audio_ms[item_id] = length if cut is None else cut
        # As after any truncation, the transcript goes: the context holds no text the user did not hear.
        return content if cut is None else msgspec.structs.replace(content, transcript="")

    async def function_call(self, name: str, arguments: str) -> None:
        item_id, call_id = events.new_id("item"), events.new_id("call")
        item = events.ConversationItem(
            id=item_id, type="function_call", status="in_progress", name=name, call_id=call_id, arguments=""
        )
        previous = await self.item_added(item)
        output_index = len(self.output) - 1
        ids = {"response_id": self.active.id, "item_id": item_id, "output_index": output_index, "call_id": call_id}
        sent: list[str] = []
        for piece in split_words(arguments):
            if self.stopped():
                break
            sent.append(piece)
            await self.send(events.ResponseFunctionCallArgumentsDelta.build(**ids, delta=piece))
            await self.pause()
        self.usage.output_text += len(sent) + 1
        final = "".join(sent)
        await self.send(events.ResponseFunctionCallArgumentsDone.build(**ids, name=name, arguments=final))
        status = "incomplete" if self.active.cancelled else "completed"
        await self.item_done(msgspec.structs.replace(item, status=status, arguments=final), previous)

    async def finish(self) -> None:
        usage = self.usage
        output_tokens = usage.output_text + usage.output_audio
        input_tokens = usage.input_text + usage.input_audio
        cancelled = self.active.cancelled
        response = msgspec.structs.replace(
            self.response,
            status="cancelled" if cancelled else "completed",
            status_details=events.ResponseStatus(type="cancelled", reason=self.active.reason) if cancelled else None,
            output=self.output,
            usage=events.Usage(
                total_tokens=input_tokens + output_tokens,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                input_token_details=events.InputTokenDetails(
                    text_tokens=usage.input_text,
                    audio_tokens=usage.input_audio,
                    image_tokens=0,
                    cached_tokens=0,
                    cached_tokens_details=events.CachedTokenDetails(text_tokens=0, audio_tokens=0, image_tokens=0),
                ),
                output_token_details=events.OutputTokenDetails(
                    text_tokens=usage.output_text, audio_tokens=usage.output_audio
                ),
            ),
        )
        # The connection may take a new response.create as soon as response.done is out.
        if self.connection.active is self.active:
            self.connection.active = None
        await self.send(events.ResponseDone.build(response=response))
        if self.connection.on_response_done is not None:
            self.connection.on_response_done(response)
        limit = 40000
        await self.send(events.RateLimitsUpdated.build(rate_limits=[
            events.RateLimit(name="requests", limit=5000, remaining=4999, reset_seconds=0.012),
            events.RateLimit(name="tokens", limit=limit, remaining=limit - output_tokens, reset_seconds=0.001),
        ]))  # fmt: skip
        if self.connection.playing == self.active.id:
            # Playout is instant here; an interruption by the user's speech clears what is left.
            self.connection.playing = None
            if cancelled and self.active.reason == "turn_detected":
                await self.send(events.OutputAudioBufferCleared.build(response_id=self.active.id))
            else:
                await self.send(events.OutputAudioBufferStopped.build(response_id=self.active.id))
