"""Phone calls: the simulator plays OpenAI's side of SIP calls.

``PhoneNetwork`` places calls by sending signed ``realtime.call.incoming`` (or GPT-Live's
``live.transport.incoming``) webhooks to your server, serves the call-control REST API (accept,
reject, refer, hangup: ``_phone_rest``) with hypercorn on its own port, and, once a call is
accepted, runs it as a Realtime session of the simulator that sidebands attach to
(``ws://.../v1/realtime?call_id=rtc_...``) while a scripted caller speaks into it. Every call keeps
a ``CallRecord`` (webhook attempts, decisions, when it was accepted, attached, ended) for tests
and latency measurements.

No SIP or RTP is spoken and no audio reaches anyone: the caller's speech is a tone with a transcript
attached, the model's speech plays out instantly (``output_audio_buffer.started``/``stopped``).

httpx and hypercorn (``realtime-dispatch[telephony]``) are imported when a network starts.
"""

from __future__ import annotations

import logging
import math
import os
import random
import struct
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.abc
import msgspec

from .. import events
from ..events import live as lv
from ..transports import TransportClosed, WebSocketTransport
from ._audio import BYTES_PER_MS, VadSettings
from ._live import LiveSession, Peer, serve_call
from ._server import RealtimeSession, Simulator, wire
from ._speech import MS_PER_CHAR, PCM24

if TYPE_CHECKING:
    import httpx

__all__ = (
    "DEFAULT_CALLER_SCRIPT",
    "USER_AGENT",
    "CallEnded",
    "CallRecord",
    "CallerStep",
    "Decision",
    "PhoneEndpoints",
    "PhoneNetwork",
    "WebhookAttempt",
    "incoming_webhook",
    "load_caller_script",
    "require_telephony",
)

logger = logging.getLogger("realtime_dispatch.simulator")
USER_AGENT = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
CallProtocol = Literal["realtime", "live"]
CallEnded = Literal["caller", "hangup", "refer", "reject", "unanswered", "shutdown"]


def require_telephony() -> None:
    """Raise ``ImportError`` naming the extra when httpx or hypercorn is missing."""
    for name in ("httpx", "hypercorn"):
        try:
            __import__(name)
        except ImportError:
            raise ImportError(
                f"phone calls need {name}: pip install 'realtime-dispatch[telephony]'", name=name
            ) from None


# --- the caller's script ------------------------------------------------------------------------------


class CallerStep(msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True):
    """One step of a caller: ``say`` a sentence, press ``dtmf`` keys, ``wait`` seconds, or ``hangup``."""

    say: str | None = None
    dtmf: str | None = None
    wait: float | None = None
    hangup: bool = False


DEFAULT_CALLER_SCRIPT: tuple[CallerStep, ...] = (
    CallerStep(say="Hi, I'd like to check my order."),
    CallerStep(say="Order 1234, please."),
    CallerStep(dtmf="1"),
)
_DTMF = frozenset("0123456789*#ABCD")


def _check_steps(steps: Sequence[CallerStep]) -> list[CallerStep]:
    for number, step in enumerate(steps):
        given = [name for name in ("say", "dtmf", "wait") if getattr(step, name) is not None] + (
            ["hangup"] if step.hangup else []
        )
        if len(given) != 1:
            raise ValueError(f"step {number}: needs exactly one of 'say', 'dtmf', 'wait', 'hangup'")
        if step.say is not None and not step.say.strip():
            raise ValueError(f"step {number}: 'say' is empty")
        if step.dtmf is not None and (not step.dtmf or not set(step.dtmf.upper()) <= _DTMF):
            raise ValueError(f"step {number}: 'dtmf' takes keys from 0-9, *, # and A-D")
        if step.wait is not None and not (step.wait >= 0 and math.isfinite(step.wait)):
            raise ValueError(f"step {number}: 'wait' is a number of seconds, 0 or more")
    return list(steps)


def _script(steps: Iterable[CallerStep | Mapping[str, Any]]) -> list[CallerStep]:
    """Steps from ``CallerStep`` objects or dicts shaped like the JSON file's. Raises ``ValueError``."""
    try:
        converted = [step if isinstance(step, CallerStep) else msgspec.convert(step, CallerStep) for step in steps]
    except msgspec.ValidationError as exc:
        raise ValueError(f"not a caller script: {exc}") from None
    return _check_steps(converted)


def load_caller_script(path: str | os.PathLike[str]) -> list[CallerStep]:
    """A caller script from a JSON file: a list of ``{"say": ...}``, ``{"dtmf": "1"}``, ``{"wait": 0.5}``,
    ``{"hangup": true}``. ``OSError`` if it cannot be read, ``ValueError`` if it is not one."""
    data = Path(path).read_bytes()
    try:
        steps = msgspec.json.decode(data, type=list[CallerStep])
        return _check_steps(steps)
    except (msgspec.DecodeError, ValueError) as exc:
        raise ValueError(f"{os.fspath(path)}: {exc}") from None


def _speech(text: str, silence_ms: int) -> bytes:
    """The caller saying ``text``: a loud tone as long as the words take, then ``silence_ms`` of silence."""
    speech_ms = max(300, len(text) * MS_PER_CHAR) // 100 * 100
    return _LOUD * (speech_ms // 100) + bytes(silence_ms * BYTES_PER_MS)


def _silence_after(vad: VadSettings | None) -> int:
    """Enough silence to end a Realtime turn (none without turn detection: the sideband commits)."""
    return vad.silence_duration_ms + 100 if vad is not None else 0


LIVE_SILENCE_MS = 600  # the GPT-Live simulator's segmenter ends an utterance after 500 ms
_CLOSE_REASONS = {"caller": "remote_hangup", "shutdown": "connection_lost"}  # GPT-Live's session.closed reason


def _loud_tone() -> bytes:
    """100 ms of a 300 Hz sine at half scale: speech at any VAD threshold up to about 3.5."""
    samples = 2400
    return struct.pack(
        f"<{samples}h", *(round(16000 * math.sin(2 * math.pi * 300 * n / 24000)) for n in range(samples))
    )


_LOUD = _loud_tone()


# --- records ------------------------------------------------------------------------------------------


@dataclass
class WebhookAttempt:
    """One delivery attempt of a call's webhook. Times are ``time.monotonic()``."""

    started_at: float
    timestamp: int  # the webhook-timestamp it was signed with
    status: int | None = None  # the HTTP status, or None when the request failed
    error: str | None = None
    finished_at: float | None = None
    duplicate: bool = False  # a second delivery of an acknowledged webhook (same webhook-id)


@dataclass
class Decision:
    """A call-control request the network answered: ``accept``, ``reject``, ``refer`` or ``hangup``."""

    action: str
    at: float  # time.monotonic() when it arrived
    status: int  # the HTTP status it got
    code: str | None = None  # the error code, when it failed


@dataclass
class CallRecord:
    """What happened to one call. Times are ``time.monotonic()`` (None: not yet, or never)."""

    call_id: str  # rtc_... (Realtime) or live_... (GPT-Live's session_id)
    protocol: CallProtocol
    webhook_id: str
    event_id: str
    placed_at: float
    attempts: list[WebhookAttempt] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    state: Literal["ringing", "accepted", "ended"] = "ringing"
    delivered_at: float | None = None  # the first 2xx answer to the webhook
    accepted_at: float | None = None  # when the accept answered 200
    session: dict[str, Any] | None = None  # the accepted session config
    sideband_opened_at: float | None = None  # the first sideband's handshake
    sidebands: int = 0
    said: list[str] = field(default_factory=list)  # what the caller said and pressed, in order
    replies: int = 0  # responses that spoke to the caller
    ended_at: float | None = None
    ended_by: CallEnded | None = None
    reject_status: int | None = None
    referred_to: str | None = None


@dataclass(frozen=True)
class PhoneEndpoints:
    """Where a running ``PhoneNetwork`` answers: ``OPENAI_BASE_URL`` and ``OPENAI_WEBSOCKET_BASE_URL``."""

    base_url: str  # http://127.0.0.1:PORT/v1, the call-control REST API
    websocket_base_url: str  # ws://127.0.0.1:PORT/v1, the simulator (sidebands)


def incoming_webhook(record: CallRecord, *, created_at: int, sip_headers: list[dict[str, str]]) -> bytes:
    """The webhook body announcing a call, as the service words it."""
    if record.protocol == "live":
        data: dict[str, Any] = {"session_id": record.call_id, "sip_headers": sip_headers, "type": "sip"}
        kind = "live.transport.incoming"
    else:
        data = {"call_id": record.call_id, "sip_headers": sip_headers}
        kind = "realtime.call.incoming"
    data["sip_media_security"] = "srtp"
    envelope = {"object": "event", "id": record.event_id, "type": kind, "created_at": created_at, "data": data}
    return msgspec.json.encode(envelope)


def _sip_headers(number: int) -> list[dict[str, str]]:
    caller = f"+1415555{number % 10000:04d}"
    tag = os.urandom(4).hex()
    return [
        {"name": "From", "value": f'"Caller {number}" <sip:{caller}@sip.example.com>;tag={tag}'},
        {"name": "To", "value": "<sip:proj_simulator@sip.api.openai.com;transport=tls>"},
        {"name": "Call-ID", "value": f"{os.urandom(8).hex()}@sip.example.com"},
    ]


# --- one call -----------------------------------------------------------------------------------------


class _Line:
    """The call's session sees its sidebands as one transport: what it sends goes to each, what they send
    comes in one stream. Nothing is kept for a sideband that attaches later (as on the service)."""

    def __init__(self) -> None:
        self.sidebands: list[WebSocketTransport] = []
        self.inbound_send, self.inbound = anyio.create_memory_object_stream[bytes](math.inf)

    async def send(self, data: bytes) -> None:
        for sideband in list(self.sidebands):
            try:
                await sideband.send(data)
            except TransportClosed:
                if sideband in self.sidebands:
                    self.sidebands.remove(sideband)

    async def receive(self) -> bytes:
        try:
            return await self.inbound.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise TransportClosed(1000, "call ended") from None

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        self.inbound_send.close()
        self.inbound.close()


class _CallerEar:
    """The primary peer of a GPT-Live call's session: the caller, who hears the audio (nothing to do here)."""

    async def send(self, data: bytes) -> None:
        return None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        return None


class Call:
    """A call in progress: its record, its decision, and once accepted its session and caller."""

    def __init__(self, record: CallRecord) -> None:
        self.record = record
        self.decided = anyio.Event()
        self.delivered = anyio.Event()  # the webhook's deliveries are over (acknowledged or given up)
        self.ended = anyio.Event()
        self.attached = anyio.Event()
        self.replied = anyio.Event()  # replaced after each reply
        self.line = _Line()
        self.session: RealtimeSession | None = None
        self.live: LiveSession | None = None

    @property
    def running(self) -> bool:
        return self.session is not None and not self.ended.is_set()

    def end(self, by: CallEnded) -> None:
        if self.record.ended_by is None:
            self.record.ended_by = by
            self.record.state = "ended"
            self.record.ended_at = time.monotonic()
        self.decided.set()
        self.ended.set()
        self.line.close()

    def response_done(self, response: events.Response) -> None:
        if any(item.type == "message" for item in response.output or ()):
            self.record.replies += 1
            self.replied.set()
            self.replied = anyio.Event()


# --- the network --------------------------------------------------------------------------------------


class PhoneNetwork:
    """OpenAI's side of SIP calls, on the simulator: places calls, answers call control, runs the calls.

    >>> network = PhoneNetwork(webhook_url="http://127.0.0.1:8000/webhook", webhook_secret="whsec_...")
    >>> async with network.serve() as endpoints:           # doctest: +SKIP
    ...     records = await network.place_calls(5, rate=50)
    ...     await network.wait_ended(timeout=10)

    - ``simulator``: the Realtime simulator the calls run on (a fresh ``Simulator()`` by default);
    - ``webhook_url``, ``webhook_secret``: where calls are announced, and the ``whsec_...`` secret they are
      signed with (Standard Webhooks, as the service signs them);
    - ``caller_script``: the caller's steps (``DEFAULT_CALLER_SCRIPT``: two sentences, then DTMF ``1``),
      after which the caller hangs up; ``turn_delay`` seconds pass after each step; the caller waits up to
      ``reply_timeout`` seconds for the model to answer what it said;
    - ``attach_timeout``: an accepted call waits this long for a first sideband, then the caller speaks
      anyway (the service does not wait);
    - ``accept_delay``: seconds an accept takes to answer (the service's slow accepts);
    - ``ring_timeout``: an undecided call ends this long after it was placed (the caller gives up);
    - webhook delivery: a non-2xx answer or a failed request is retried up to ``max_attempts`` in all, after
      ``retry_base`` seconds doubling each time, re-signed with a fresh timestamp and the same webhook-id;
      ``duplicate_rate`` (0..1) of acknowledged webhooks are delivered a second time; ``seed`` makes that
      choice repeatable; ``webhook_timeout`` limits each attempt;
    - ``require_key``: call control without ``Authorization: Bearer`` gets 401.
    """

    def __init__(
        self,
        simulator: Simulator | None = None,
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        caller_script: Iterable[CallerStep | Mapping[str, Any]] = DEFAULT_CALLER_SCRIPT,
        turn_delay: float = 0.3,
        reply_timeout: float = 5.0,
        attach_timeout: float = 2.0,
        accept_delay: float = 0.0,
        ring_timeout: float = 30.0,
        max_attempts: int = 5,
        retry_base: float = 0.5,
        webhook_timeout: float = 10.0,
        duplicate_rate: float = 0.0,
        seed: int | None = None,
        require_key: bool = False,
    ) -> None:
        if webhook_url is not None and not webhook_secret:
            raise ValueError("a webhook_url needs a webhook_secret to sign with")
        if not 0.0 <= duplicate_rate <= 1.0:
            raise ValueError(f"duplicate_rate is from 0 to 1, not {duplicate_rate!r}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts is 1 or more, not {max_attempts!r}")
        self.simulator = simulator if simulator is not None else Simulator()
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.caller_script = _script(caller_script)
        self.turn_delay = turn_delay
        self.reply_timeout = reply_timeout
        self.attach_timeout = attach_timeout
        self.accept_delay = accept_delay
        self.ring_timeout = ring_timeout
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.webhook_timeout = webhook_timeout
        self.duplicate_rate = duplicate_rate
        self.require_key = require_key
        self.random = random.Random(seed)
        self.calls: dict[str, Call] = {}
        self.endpoints: PhoneEndpoints | None = None
        self.task_group: anyio.abc.TaskGroup | None = None
        self.client: httpx.AsyncClient | None = None
        self.placed = 0

    @property
    def records(self) -> list[CallRecord]:
        """Every call placed, in order."""
        return [call.record for call in self.calls.values()]

    def record(self, call_id: str) -> CallRecord | None:
        call = self.calls.get(call_id)
        return call.record if call is not None else None

    # --- serving ----------------------------------------------------------------------------------

    @asynccontextmanager
    async def serve(
        self, host: str = "127.0.0.1", port: int = 0, *, websocket_port: int = 0
    ) -> AsyncIterator[PhoneEndpoints]:
        """Serve call control (hypercorn, on ``port``) and the simulator (on ``websocket_port``) while the
        block runs; 0 picks a free port. Calls still running when it ends are hung up (``shutdown``)."""
        require_telephony()
        import httpx

        from ._phone_rest import serve_rest

        if self.simulator.calls is not None:
            raise RuntimeError("this simulator already carries a phone network")
        self.simulator.calls = self
        try:
            async with (
                self.simulator.serve(host, websocket_port, require_key=self.require_key) as websocket_base_url,
                httpx.AsyncClient(timeout=self.webhook_timeout) as client,
                serve_rest(self, host, port) as base_url,
                anyio.create_task_group() as task_group,  # inside: cancelling the calls leaves the servers be
            ):
                self.client = client
                self.task_group = task_group
                self.endpoints = PhoneEndpoints(base_url, websocket_base_url)
                try:
                    yield self.endpoints
                finally:
                    for call in self.calls.values():
                        call.end("shutdown")
                    task_group.cancel_scope.cancel()
        finally:
            self.simulator.calls = None
            self.task_group = None
            self.client = None

    def _tasks(self) -> anyio.abc.TaskGroup:
        if self.task_group is None:
            raise RuntimeError("the phone network is not serving: use 'async with network.serve()'")
        return self.task_group

    # --- placing calls ------------------------------------------------------------------------------

    def place_call(self, *, protocol: CallProtocol = "realtime") -> CallRecord:
        """Place one call: its webhook goes out (in the background), and its record is returned."""
        tasks = self._tasks()
        if self.webhook_url is None or self.webhook_secret is None:
            raise RuntimeError("placing calls needs a webhook_url and a webhook_secret")
        self.placed += 1
        record = CallRecord(
            call_id=events.new_id("live" if protocol == "live" else "rtc"),
            protocol=protocol,
            webhook_id=events.new_id("wh"),
            event_id=events.new_id("evt"),
            placed_at=time.monotonic(),
        )
        duplicate = self.random.random() < self.duplicate_rate  # drawn in call order: repeatable with a seed
        call = Call(record)
        self.calls[record.call_id] = call
        body = incoming_webhook(record, created_at=int(time.time()), sip_headers=_sip_headers(self.placed))
        tasks.start_soon(self._deliver, call, body, duplicate)
        tasks.start_soon(self._ring, call)
        logger.info("call %s placed (%s)", record.call_id, protocol)
        return record

    async def place_calls(
        self, count: int, *, rate: float = 10.0, protocol: CallProtocol = "realtime"
    ) -> list[CallRecord]:
        """Place ``count`` calls, ``rate`` a second; returns their records once all are placed."""
        if rate <= 0:
            raise ValueError(f"rate is calls a second, more than 0, not {rate!r}")
        start = time.monotonic()
        records = []
        for number in range(count):
            await anyio.sleep(max(0.0, start + number / rate - time.monotonic()))
            records.append(self.place_call(protocol=protocol))
        return records

    async def wait_ended(self, call_ids: Iterable[str] | None = None, *, timeout: float = 30.0) -> bool:
        """Wait until these calls (all placed, by default) have ended; False if ``timeout`` passed first."""
        wanted = [self.calls[call_id] for call_id in call_ids] if call_ids is not None else list(self.calls.values())
        with anyio.move_on_after(timeout):
            for call in wanted:
                await call.ended.wait()
            return True
        return False

    async def wait_delivered(self, call_ids: Iterable[str] | None = None, *, timeout: float = 30.0) -> bool:
        """Wait until these calls' webhook deliveries (retries and duplicates included) are over."""
        wanted = [self.calls[call_id] for call_id in call_ids] if call_ids is not None else list(self.calls.values())
        with anyio.move_on_after(timeout):
            for call in wanted:
                await call.delivered.wait()
            return True
        return False

    async def _deliver(self, call: Call, body: bytes, duplicate: bool) -> None:
        """Deliver the webhook (retrying), then maybe a second time."""
        try:
            if await self._send_webhook(call, body, duplicate=False) and duplicate:
                await self._send_webhook(call, body, duplicate=True)
        finally:
            call.delivered.set()

    async def _send_webhook(self, call: Call, body: bytes, *, duplicate: bool) -> bool:
        from ..telephony import sign

        assert self.client is not None
        assert self.webhook_url is not None
        assert self.webhook_secret is not None
        record = call.record
        for attempt in range(self.max_attempts):
            if attempt:
                await anyio.sleep(self.retry_base * 2 ** (attempt - 1))
            timestamp = int(time.time())
            headers = sign(body, self.webhook_secret, webhook_id=record.webhook_id, timestamp=timestamp)
            headers["content-type"] = "application/json"
            headers["user-agent"] = USER_AGENT
            tried = WebhookAttempt(time.monotonic(), timestamp, duplicate=duplicate)
            record.attempts.append(tried)
            try:
                response = await self.client.post(self.webhook_url, content=body, headers=headers)
            except Exception as exc:  # httpx.HTTPError and OSError: retried, as the service does
                tried.error = f"{type(exc).__name__}: {exc}"
            else:
                tried.status = response.status_code
            tried.finished_at = time.monotonic()
            if tried.status is not None and 200 <= tried.status < 300:
                if record.delivered_at is None:
                    record.delivered_at = tried.finished_at
                return True
            logger.info("webhook for %s: attempt %d failed (%s)", record.call_id, attempt + 1,
                        tried.status or tried.error)  # fmt: skip
        return False

    async def _ring(self, call: Call) -> None:
        with anyio.move_on_after(self.ring_timeout):
            await call.decided.wait()
            return
        call.end("unanswered")

    # --- call control (the REST app calls these) -------------------------------------------------------

    def find(self, call_id: str, protocol: CallProtocol) -> Call | None:
        """A call that has not ended, by its id and protocol."""
        call = self.calls.get(call_id)
        if call is None or call.record.protocol != protocol or call.ended.is_set():
            return None
        return call

    def note(self, call: Call, action: str, arrived: float, status: int, code: str | None) -> None:
        """Record a call-control request and its answer."""
        call.record.decisions.append(Decision(action, arrived, status, code))

    def start(self, call: Call, session: events.Session | lv.SessionConfig, config: dict[str, Any]) -> None:
        """Accepted: the call becomes a session of the simulator, and its caller starts."""
        record = call.record
        record.state = "accepted"
        record.session = config
        record.accepted_at = time.monotonic()
        if isinstance(session, events.Session):
            call.session = self.simulator.call_session(call.line, call_id=record.call_id, session=session)
            call.session.on_response_done = call.response_done
        else:
            primary = Peer(_CallerEar(), sideband=False)
            call.live = LiveSession(self.simulator, primary, session, PCM24, session_id=record.call_id)
            self.simulator.live.running[record.call_id] = call.live  # sidebands may attach from the 200 on
        self._tasks().start_soon(self._run, call)

    async def _run(self, call: Call) -> None:
        def reason() -> str:
            return _CLOSE_REASONS.get(call.record.ended_by or "", "close_requested")

        try:
            async with anyio.create_task_group() as closing_itself:
                if call.live is not None:  # closes the session when the call ends (session.closed, 1000)
                    closing_itself.start_soon(serve_call, self.simulator, call.live, call.ended, reason)
                async with anyio.create_task_group() as task_group:
                    if call.session is not None:
                        task_group.start_soon(call.session.run)
                    task_group.start_soon(self._caller, call)
                    await call.ended.wait()
                    task_group.cancel_scope.cancel()
        finally:
            await call.line.aclose()
            with anyio.move_on_after(2, shield=True):
                async with anyio.create_task_group() as closing:
                    for sideband in list(call.line.sidebands):
                        closing.start_soon(_close, sideband)
            if call.live is not None:  # GPT-Live sidebands attach through the simulator's own route
                call.record.sideband_opened_at = call.live.attached_at
            logger.info("call %s ended (%s)", call.record.call_id, call.record.ended_by)

    async def _caller(self, call: Call) -> None:
        record = call.record
        live = call.live
        with anyio.move_on_after(self.attach_timeout):
            await (call.attached if live is None else live.attached).wait()
        for step in self.caller_script:
            if step.hangup:
                break
            if step.wait is not None:
                await anyio.sleep(step.wait)
                continue
            if step.dtmf is not None:
                for key in step.dtmf.upper():
                    record.said.append(f"dtmf:{key}")
                    if live is not None:
                        await live.dtmf(key)
                        continue
                    event = events.InputAudioBufferDtmfEventReceived.build(event=key, received_at=int(time.time()))
                    await call.line.send(events.encode(event))
            elif step.say is not None and call.session is not None:
                record.said.append(step.say)
                replied = call.replied
                await call.session.hear(
                    _speech(step.say, _silence_after(VadSettings.of(call.session.session))), step.say
                )
                with anyio.move_on_after(self.reply_timeout):
                    await replied.wait()
            elif step.say is not None and live is not None:
                record.said.append(step.say)
                await live.hear(_speech(step.say, LIVE_SILENCE_MS), step.say)  # the answer is queued by now
                drained = live.drained
                with anyio.move_on_after(self.reply_timeout):
                    if not drained.is_set():
                        await drained.wait()
                        record.replies += 1
            await anyio.sleep(self.turn_delay)
        call.end("caller")

    # --- sidebands (the simulator's CallSwitch) --------------------------------------------------------

    def has_call(self, call_id: str) -> bool:
        call = self.calls.get(call_id)
        return call is not None and call.record.protocol == "realtime" and call.running

    async def attach(self, call_id: str, transport: WebSocketTransport) -> None:
        call = self.calls.get(call_id)
        if call is None or not call.running or call.session is None:  # ended since the handshake
            await _close(transport)
            return
        record = call.record
        record.sidebands += 1
        if record.sideband_opened_at is None:
            record.sideband_opened_at = time.monotonic()
        try:
            await transport.send(wire(events.SessionCreated.build(session=call.session.session), {}))
            call.line.sidebands.append(transport)
            call.attached.set()
            while True:
                data = await transport.receive()
                try:
                    call.line.inbound_send.send_nowait(data)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    break
        except TransportClosed:
            pass
        finally:
            if transport in call.line.sidebands:
                call.line.sidebands.remove(transport)


async def _close(transport: WebSocketTransport) -> None:
    with suppress(TransportClosed):
        await transport.close(1000, "call ended")
