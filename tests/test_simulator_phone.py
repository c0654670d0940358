"""The simulator plays OpenAI's side of phone calls: signed webhooks, call control, the caller.

A minimal webhook receiver (an ASGI app under hypercorn) verifies deliveries with
``realtime_dispatch.telephony``, accepts with ``CallControl`` and opens the sideband with a raw
WebSocket, all on 127.0.0.1. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest
import sniffio

from realtime_dispatch import RealtimeApp, events, on, openai, tool
from realtime_dispatch.simulator import CallerStep, PhoneEndpoints, PhoneNetwork, Simulator, load_caller_script
from realtime_dispatch.simulator._phone_rest import serve_asgi
from realtime_dispatch.telephony import (
    DeliveryLog,
    IncomingCall,
    WebhookError,
    WebhookVerifier,
    headers_from_asgi,
    new_secret,
    parse_webhook,
)
from realtime_dispatch.telephony._control import CallControl
from realtime_dispatch.transports import HandshakeError, TransportClosed, connect_websocket

pytestmark = pytest.mark.anyio

Scope = MutableMapping[str, Any]
TOOLS = [
    {
        "type": "function",
        "name": "lookup_order",
        "description": "Look an order up",
        "parameters": {"type": "object", "properties": {"order": {"type": "string"}}},
    }
]
SESSION: dict[str, Any] = {
    "type": "realtime",
    "model": "gpt-realtime",
    "instructions": "You answer the phone for a shop.",
    "tools": TOOLS,
    "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}},
}
LIVE_SESSION: dict[str, Any] = {"model": "gpt-live-1", "instructions": "You answer the phone for a shop."}
SCRIPT = [
    {"say": "Hi, I'd like to check my order."},
    {"say": "Please run lookup_order for 1234."},
    {"dtmf": "1"},
]


@dataclass
class Sideband:
    """What one sideband saw."""

    call_id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    tool_answered: bool = False
    done: anyio.Event = field(default_factory=anyio.Event)

    def types(self) -> list[str]:
        return [event["type"] for event in self.events]


class Receiver:
    """A telephony app in miniature: verify, dedupe, answer 2xx, accept, attach the sideband."""

    def __init__(self, secret: str, *, fail_first: int = 0, accept: bool = True, session: dict[str, Any] | None = None):
        self.webhook_secret = secret
        self.verifier = WebhookVerifier(secret)
        self.log = DeliveryLog()
        self.fail_first = fail_first
        self.accept = accept
        self.session = session if session is not None else SESSION
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.calls: list[IncomingCall] = []
        self.sidebands: dict[str, Sideband] = {}
        self.task_group: anyio.abc.TaskGroup | None = None
        self.control: CallControl | None = None

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = headers_from_asgi(scope["headers"])
        self.deliveries.append((headers, body))
        status = 200
        try:
            webhook_id = self.verifier.verify(body, headers, now=time.time())
        except WebhookError as exc:
            status = exc.status
        else:
            if self.fail_first > 0:
                self.fail_first -= 1
                status = 500
            elif self.log.first_time(webhook_id, time.time()):
                call = parse_webhook(body)
                assert isinstance(call, IncomingCall)
                self.calls.append(call)
                if self.accept and self.task_group is not None:
                    self.task_group.start_soon(self.answer, call)
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    async def answer(self, call: IncomingCall) -> None:
        assert self.control is not None
        await self.control.accept(call.id, self.session if call.api == "ga" else LIVE_SESSION, api=call.api)
        await self.watch(call.id, call.api)

    async def watch(self, call_id: str, api: Any = "ga") -> None:
        assert self.control is not None
        seen = self.sidebands[call_id] = Sideband(call_id)
        url = self.control.sideband_url(call_id, api=api)
        transport = await connect_websocket(url, {"Authorization": "Bearer x"})
        try:
            with anyio.fail_after(10):
                while True:
                    event = json.loads(await transport.receive())
                    seen.events.append(event)
                    if event["type"] == "response.done":
                        for item in event["response"]["output"]:
                            if item["type"] == "function_call":
                                await self.answer_tool(transport, item)
                                seen.tool_answered = True
        except TransportClosed as exc:
            seen.close_code = exc.code
        finally:
            seen.done.set()

    async def answer_tool(self, transport: Any, item: dict[str, Any]) -> None:
        output = {"type": "function_call_output", "call_id": item["call_id"], "output": '{"status": "shipped"}'}
        await transport.send(json.dumps({"type": "conversation.item.create", "item": output}).encode())
        await transport.send(b'{"type": "response.create"}')


@asynccontextmanager
async def phone(
    receiver: Receiver | None = None, **options: Any
) -> AsyncIterator[tuple[PhoneNetwork, PhoneEndpoints, Receiver]]:
    """A receiver on hypercorn and a phone network sending it calls, with short delays for tests."""
    receiver = receiver if receiver is not None else Receiver(new_secret())
    secret = receiver.webhook_secret
    options = {"turn_delay": 0, "retry_base": 0.01, "reply_timeout": 3, "attach_timeout": 3, **options}
    async with serve_asgi(receiver, "127.0.0.1", 0) as port, anyio.create_task_group() as task_group:
        network = PhoneNetwork(webhook_url=f"http://127.0.0.1:{port}/webhook", webhook_secret=secret, **options)
        async with network.serve() as endpoints:
            control = CallControl(
                api_key="x", base_url=endpoints.base_url, websocket_base_url=endpoints.websocket_base_url
            )
            async with control:
                receiver.control = control
                receiver.task_group = task_group
                yield network, endpoints, receiver
        task_group.cancel_scope.cancel()


async def test_a_call_is_announced_accepted_and_spoken_into_until_the_caller_hangs_up() -> None:
    with anyio.fail_after(20):
        async with phone(caller_script=SCRIPT) as (network, _, receiver):
            record = network.place_call()
            assert await network.wait_ended([record.call_id], timeout=10)
            seen = receiver.sidebands[record.call_id]
            with anyio.fail_after(5):
                await seen.done.wait()
    assert seen.close_code == 1000
    types = seen.types()
    assert types[0] == "session.created"
    assert seen.events[0]["session"]["instructions"] == SESSION["instructions"]
    transcripts = [e["transcript"] for e in seen.events if e["type"].endswith("input_audio_transcription.completed")]
    assert transcripts == ["Hi, I'd like to check my order.", "Please run lookup_order for 1234."]
    for kind in ("speech_started", "speech_stopped", "committed"):
        assert f"input_audio_buffer.{kind}" in types
    assert "output_audio_buffer.started" in types
    assert "output_audio_buffer.stopped" in types
    assert "response.output_audio.delta" not in types  # the audio plays to the caller
    assert seen.tool_answered
    said = [e["transcript"] for e in seen.events if e["type"] == "response.output_audio_transcript.done"]
    assert said[0] == "You said: Hi, I'd like to check my order."
    assert said[-1] == 'Tool lookup_order returned: {"status": "shipped"}'
    dtmf = [e for e in seen.events if e["type"] == "input_audio_buffer.dtmf_event_received"]
    assert [e["event"] for e in dtmf] == ["1"]
    assert isinstance(dtmf[0]["received_at"], int)
    assert record.ended_by == "caller"
    assert record.accepted_at is not None
    assert record.sideband_opened_at is not None
    assert record.placed_at <= record.accepted_at <= record.sideband_opened_at <= (record.ended_at or 0)
    assert record.replies == 2
    assert [d.action for d in record.decisions] == ["accept"]


# --- the webhook ------------------------------------------------------------------------------------


async def test_the_webhook_is_what_the_service_sends_and_the_official_sdk_unwraps_it() -> None:
    openai = pytest.importorskip("openai")
    from openai.types.webhooks import LiveTransportIncomingWebhookEvent, RealtimeCallIncomingWebhookEvent

    receiver = Receiver(new_secret(), accept=False)
    with anyio.fail_after(10):
        async with phone(receiver) as (network, _, _):
            realtime = network.place_call()
            live = network.place_call(protocol="live")
            assert await network.wait_delivered(timeout=5)
    secret = receiver.webhook_secret
    client = openai.OpenAI(api_key="x", webhook_secret=secret)
    deliveries = sorted(receiver.deliveries, key=lambda delivery: json.loads(delivery[1])["type"])
    (live_headers, live_body), (headers, body) = deliveries  # live.transport..., realtime.call...
    event = client.webhooks.unwrap(body.decode(), headers)
    assert isinstance(event, RealtimeCallIncomingWebhookEvent)
    RealtimeCallIncomingWebhookEvent.model_validate_json(body, strict=True)
    assert event.data.call_id == realtime.call_id
    assert event.data.call_id.startswith("rtc_")
    assert event.id == realtime.event_id
    assert event.id.startswith("evt_")
    assert [header.name for header in event.data.sip_headers] == ["From", "To", "Call-ID"]
    assert event.data.sip_media_security == "srtp"
    assert json.loads(body)["object"] == "event"
    assert headers["webhook-id"] == realtime.webhook_id
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
    live_event = client.webhooks.unwrap(live_body.decode(), live_headers)
    assert isinstance(live_event, LiveTransportIncomingWebhookEvent)
    LiveTransportIncomingWebhookEvent.model_validate_json(live_body, strict=True)
    assert live_event.data.session_id == live.call_id
    assert live_event.data.session_id.startswith("live_")
    assert live_event.data.type == "sip"
    assert sorted(call.api for call in receiver.calls) == ["ga", "live"]


async def test_a_failed_delivery_is_retried_with_the_same_webhook_id_and_a_fresh_timestamp() -> None:
    receiver = Receiver(new_secret(), fail_first=2, accept=False)
    with anyio.fail_after(15):
        async with phone(receiver, retry_base=0.55) as (network, _, _):
            record = network.place_call()
            assert await network.wait_delivered(timeout=10)
    assert [attempt.status for attempt in record.attempts] == [500, 500, 200]
    ids = {headers["webhook-id"] for headers, _ in receiver.deliveries}
    assert ids == {record.webhook_id}
    stamps = [int(headers["webhook-timestamp"]) for headers, _ in receiver.deliveries]
    assert stamps == [attempt.timestamp for attempt in record.attempts]
    assert stamps[2] > stamps[0]  # re-signed: 1.65 s later
    assert len({headers["webhook-signature"] for headers, _ in receiver.deliveries}) >= 2
    assert record.delivered_at is not None
    assert len(receiver.calls) == 1


async def test_an_unreachable_receiver_is_tried_a_bounded_number_of_times() -> None:
    with anyio.fail_after(10):
        async with serve_asgi(Receiver(new_secret()), "127.0.0.1", 0) as port:
            pass  # the port is free again: nothing listens there
        network = PhoneNetwork(
            webhook_url=f"http://127.0.0.1:{port}/webhook", webhook_secret=new_secret(), retry_base=0.01,
            max_attempts=3, ring_timeout=0.2,
        )  # fmt: skip
        async with network.serve():
            record = network.place_call()
            assert await network.wait_delivered(timeout=5)
            assert await network.wait_ended(timeout=5)
    assert len(record.attempts) == 3
    assert all(attempt.status is None and attempt.error for attempt in record.attempts)
    assert record.delivered_at is None
    assert record.ended_by == "unanswered"


async def test_duplicate_deliveries_keep_the_webhook_id_and_are_repeatable_with_a_seed() -> None:
    receiver = Receiver(new_secret(), accept=False)
    with anyio.fail_after(10):
        async with phone(receiver, duplicate_rate=1.0) as (network, _, _):
            record = network.place_call()
            assert await network.wait_delivered(timeout=5)
    assert [attempt.duplicate for attempt in record.attempts] == [False, True]
    assert [headers["webhook-id"] for headers, _ in receiver.deliveries] == [record.webhook_id] * 2
    assert len(receiver.calls) == 1  # the receiver's DeliveryLog dropped the second

    def pattern(seed: int) -> list[bool]:
        network = PhoneNetwork(webhook_url="http://127.0.0.1:9/", webhook_secret="s", duplicate_rate=0.5, seed=seed)
        return [network.random.random() < 0.5 for _ in range(12)]

    assert pattern(7) == pattern(7)
    assert pattern(7) != pattern(8)


# --- call control -----------------------------------------------------------------------------------


async def _post(endpoints: PhoneEndpoints, path: str, body: Any = None, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as client:
        content = json.dumps(body).encode() if body is not None else b""
        return await client.post(endpoints.base_url + path, content=content, headers=headers)


async def test_call_control_answers_as_the_service_does() -> None:
    receiver = Receiver(new_secret(), accept=False)
    with anyio.fail_after(15):
        async with phone(receiver, attach_timeout=5) as (network, endpoints, _):
            first, second, third = (network.place_call() for _ in range(3))
            calls = "/realtime/calls/"
            unknown = await _post(endpoints, calls + "rtc_nope/accept", SESSION)
            assert unknown.status_code == 404
            assert unknown.json()["error"]["code"] == "call_id_not_found"
            assert unknown.json()["error"]["type"] == "invalid_request_error"
            untyped = await _post(endpoints, calls + first.call_id + "/accept", {"instructions": "hi"})
            assert untyped.status_code == 400
            assert untyped.json()["error"]["param"] == "type"
            assert (
                await _post(endpoints, calls + first.call_id + "/accept", {"type": "transcription"})
            ).status_code == 400
            not_json = await _post(endpoints, calls + first.call_id + "/accept")
            assert not_json.status_code == 400  # an empty body has no type
            accepted = await _post(endpoints, calls + first.call_id + "/accept", SESSION)
            assert accepted.status_code == 200
            assert accepted.content == b""
            again = await _post(endpoints, calls + first.call_id + "/accept", SESSION)
            assert again.status_code == 409
            assert again.json()["error"]["code"] == "decision_already_made"
            late_reject = await _post(endpoints, calls + first.call_id + "/reject", {})
            assert late_reject.json()["error"]["code"] == "decision_already_made"
            bad_status = await _post(endpoints, calls + second.call_id + "/reject", {"status_code": 200})
            assert bad_status.status_code == 400
            assert (await _post(endpoints, calls + second.call_id + "/reject", {})).status_code == 200
            assert second.ended_by == "reject"
            assert second.reject_status == 603
            gone = await _post(endpoints, calls + second.call_id + "/accept", SESSION)
            assert gone.status_code == 404
            assert gone.json()["error"]["code"] == "call_id_not_found"
            assert (
                await _post(endpoints, calls + third.call_id + "/refer", {"target_uri": "tel:+1"})
            ).status_code == 400
            assert (await _post(endpoints, calls + first.call_id + "/refer", {})).status_code == 400
            referred = await _post(endpoints, calls + first.call_id + "/refer", {"target_uri": "tel:+14155550123"})
            assert referred.status_code == 200
            assert first.ended_by == "refer"
            assert first.referred_to == "tel:+14155550123"
            assert (await _post(endpoints, calls + first.call_id + "/hangup")).status_code == 404
            assert (await _post(endpoints, calls + third.call_id + "/hangup")).status_code == 200
            assert third.ended_by == "hangup"
    assert [(d.action, d.status, d.code) for d in first.decisions] == [
        ("accept", 400, "missing_required_parameter"), ("accept", 400, "invalid_value"),
        ("accept", 400, "missing_required_parameter"), ("accept", 200, None), ("accept", 409, "decision_already_made"),
        ("reject", 409, "decision_already_made"), ("refer", 400, "missing_required_parameter"), ("refer", 200, None),
        ("hangup", 404, "call_id_not_found"),
    ]  # fmt: skip


async def test_gpt_live_calls_have_their_own_control_paths() -> None:
    receiver = Receiver(new_secret(), accept=False)
    with anyio.fail_after(10):
        async with phone(receiver) as (network, endpoints, _):
            call, other = network.place_call(protocol="live"), network.place_call(protocol="live")
            sessions = "/live/sessions/"
            wrong_api = await _post(endpoints, "/realtime/calls/" + call.call_id + "/accept", SESSION)
            assert wrong_api.status_code == 404
            typed = await _post(endpoints, sessions + call.call_id + "/accept", {"session": {"type": "realtime"}})
            assert typed.status_code == 400
            no_model = await _post(endpoints, sessions + call.call_id + "/accept", {"session": {"type": "live"}})
            assert no_model.json()["error"]["param"] == "session.model"
            live_session = {"session": {"type": "live", "model": "gpt-live-1", "instructions": "Be brief."}}
            assert (await _post(endpoints, sessions + call.call_id + "/accept", live_session)).status_code == 200
            assert (await _post(endpoints, sessions + call.call_id + "/accept", live_session)).status_code == 409
            assert call.session == live_session["session"]
            assert (await _post(endpoints, sessions + other.call_id + "/reject", {})).status_code == 400
            assert (
                await _post(endpoints, sessions + other.call_id + "/reject", {"status_code": 486})
            ).status_code == 200
            assert other.reject_status == 486
            assert (await _post(endpoints, sessions + call.call_id + "/hangup")).status_code == 200
            assert call.ended_by == "hangup"


async def test_call_control_can_require_a_key_and_answer_slowly() -> None:
    receiver = Receiver(new_secret(), accept=False)
    with anyio.fail_after(10):
        async with phone(receiver, require_key=True, accept_delay=0.3) as (network, endpoints, _):
            record = network.place_call()
            path = "/realtime/calls/" + record.call_id + "/accept"
            assert (await _post(endpoints, path, SESSION)).status_code == 401
            started = time.monotonic()
            assert (await _post(endpoints, path, SESSION, authorization="Bearer anything")).status_code == 200
            assert time.monotonic() - started >= 0.3


async def _close_code(transport: Any) -> int:
    while True:
        try:
            await transport.receive()
        except TransportClosed as exc:
            return exc.code


# --- the call's session -----------------------------------------------------------------------------


async def test_a_sideband_needs_an_accepted_call_and_ends_with_it() -> None:
    receiver = Receiver(new_secret(), accept=False)
    with anyio.fail_after(10):
        async with phone(receiver, attach_timeout=5) as (network, endpoints, _):
            record = network.place_call()
            url = f"{endpoints.websocket_base_url}/realtime?call_id="
            for call_id in ("rtc_unknown", record.call_id):
                with pytest.raises(HandshakeError) as refused:
                    await connect_websocket(url + call_id, {"Authorization": "Bearer x"})
                assert refused.value.status == 404
            assert (await _post(endpoints, f"/realtime/calls/{record.call_id}/accept", SESSION)).status_code == 200
            transport = await connect_websocket(url + record.call_id, {"Authorization": "Bearer x"})
            created = json.loads(await transport.receive())
            assert created["type"] == "session.created"
            assert created["session"]["tools"][0]["name"] == "lookup_order"
            assert (await _post(endpoints, f"/realtime/calls/{record.call_id}/hangup")).status_code == 200
            assert await _close_code(transport) == 1000
            assert record.ended_by == "hangup"
            with pytest.raises(HandshakeError):
                await connect_websocket(url + record.call_id, {"Authorization": "Bearer x"})
            # Without a phone network the simulator keeps its pretend sidebands.
            async with Simulator().serve() as base_url:
                pretend = await connect_websocket(f"{base_url}/realtime?call_id=rtc_anything")
                assert json.loads(await pretend.receive())["type"] == "session.created"
                await pretend.aclose()


async def test_an_unattached_call_still_plays_its_script_and_a_hangup_step_ends_it_early() -> None:
    receiver = Receiver(new_secret(), accept=False)
    script = [{"say": "Hello?"}, {"wait": 0.01}, {"hangup": True}, {"say": "never said"}]
    with anyio.fail_after(10):
        async with phone(receiver, caller_script=script, attach_timeout=0.05) as (network, endpoints, _):
            record = network.place_call()
            assert (await _post(endpoints, f"/realtime/calls/{record.call_id}/accept", SESSION)).status_code == 200
            assert await network.wait_ended(timeout=5)
    assert record.said == ["Hello?"]
    assert record.replies == 1
    assert record.sideband_opened_at is None
    assert record.ended_by == "caller"


async def test_five_calls_at_fifty_a_second() -> None:
    with anyio.fail_after(20):
        async with phone() as (network, _, receiver):
            started = time.monotonic()
            records = await network.place_calls(5, rate=50)
            assert time.monotonic() - started >= 4 / 50
            assert await network.wait_ended(timeout=15)
            with anyio.fail_after(5):
                for seen in receiver.sidebands.values():
                    await seen.done.wait()
    assert len(records) == len({record.call_id for record in records}) == 5
    assert [record.ended_by for record in records] == ["caller"] * 5
    assert sorted(receiver.sidebands) == sorted(record.call_id for record in records)
    assert all(seen.close_code == 1000 for seen in receiver.sidebands.values())
    assert all(
        record.said == ["Hi, I'd like to check my order.", "Order 1234, please.", "dtmf:1"] for record in records
    )


def test_a_caller_script_file_is_checked(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text('[{"say": "Hi"}, {"dtmf": "12#"}, {"wait": 0.5}, {"hangup": true}]')
    assert load_caller_script(good) == [
        CallerStep(say="Hi"),
        CallerStep(dtmf="12#"),
        CallerStep(wait=0.5),
        CallerStep(hangup=True),
    ]
    for text in ('[{"say": "Hi", "dtmf": "1"}]', '[{"shout": "Hi"}]', '[{"dtmf": "x"}]', '{"say": "Hi"}', "[{"):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(ValueError, match=r"bad\.json"):
            load_caller_script(bad)


# --- the CLI ----------------------------------------------------------------------------------------


async def test_simulate_places_calls_from_the_command_line_and_stops_on_sigint() -> None:
    receiver = Receiver(new_secret())
    async with serve_asgi(receiver, "127.0.0.1", 0) as port, anyio.create_task_group() as task_group:
        command = [
            sys.executable, "-m", "realtime_dispatch", "simulate", "--port", "0", "--rest-port", "0",
            "--call-webhook", f"http://127.0.0.1:{port}/webhook", "--calls", "2", "--rate", "50",
            "--turn-delay", "0",
        ]  # fmt: skip
        if sniffio.current_async_library() == "trio":
            command.append("--trio")  # the simulator's phone network on trio too
        environment = {**os.environ, "OPENAI_WEBHOOK_SECRET": receiver.webhook_secret, "PYTHONUNBUFFERED": "1"}
        process = await anyio.open_process(command, env=environment)
        try:
            assert process.stdout is not None
            lines: list[str] = []
            buffer = b""
            with anyio.fail_after(20):
                while sum(line.startswith("call ") for line in lines) < 2:
                    chunk = await process.stdout.receive()
                    buffer += chunk
                    *complete, buffer = buffer.split(b"\n")
                    lines += [line.decode() for line in complete]
                    if receiver.control is None and any("OPENAI_BASE_URL=" in line for line in lines):
                        found = re.search(r"OPENAI_BASE_URL=(\S+) OPENAI_WEBSOCKET_BASE_URL=(\S+)", "\n".join(lines))
                        assert found is not None
                        receiver.control = CallControl(
                            api_key="x", base_url=found.group(1), websocket_base_url=found.group(2)
                        )
                        receiver.task_group = task_group
            assert len(receiver.sidebands) == 2  # both were attached before their calls could end
            with anyio.fail_after(5):  # the calls have ended: their sidebands are being closed
                for seen in receiver.sidebands.values():
                    await seen.done.wait()
            process.send_signal(signal.SIGINT)
            with anyio.fail_after(10):
                assert await process.wait() == 128 + signal.SIGINT
            errors = b""
            assert process.stderr is not None
            with anyio.fail_after(5):
                async for chunk in process.stderr:
                    errors += chunk
            assert b"Traceback" not in errors, errors.decode()  # a Ctrl-C stops it cleanly
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            await process.aclose()
            if receiver.control is not None:
                await receiver.control.aclose()
        task_group.cancel_scope.cancel()
    ended = [line for line in lines if line.startswith("call ")]
    assert all(" by caller" in line and "webhook 200;" in line for line in ended), lines
    assert len(receiver.sidebands) == 2
    assert all(seen.close_code == 1000 for seen in receiver.sidebands.values())


def test_simulate_refuses_calls_without_a_secret() -> None:
    environment = {key: value for key, value in os.environ.items() if key != "OPENAI_WEBHOOK_SECRET"}
    result = subprocess.run(
        [sys.executable, "-m", "realtime_dispatch", "simulate", "--call-webhook", "http://127.0.0.1:9/"],
        capture_output=True, text=True, env=environment, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--webhook-secret" in result.stderr


async def test_a_gpt_live_call_runs_as_a_live_session_with_a_sideband() -> None:
    with anyio.fail_after(20):
        async with phone(caller_script=SCRIPT) as (network, endpoints, receiver):
            record = network.place_call(protocol="live")
            assert await network.wait_ended([record.call_id], timeout=10)
            seen = receiver.sidebands[record.call_id]
            with anyio.fail_after(5):
                await seen.done.wait()
            url = f"{endpoints.websocket_base_url}/live/sessions/{record.call_id}/attach"
            with pytest.raises(HandshakeError):  # over: nothing to attach to
                await connect_websocket(url, {"Authorization": "Bearer x"})
    assert seen.close_code == 1000
    types = seen.types()
    heard = "".join(e["delta"] for e in seen.events if e["type"] == "session.input_transcript.delta")
    assert heard == "Hi, I'd like to check my order.Please run lookup_order for 1234."
    assert "session.input_audio.append" in types  # the caller's audio, reflected
    assert "session.output_audio.delta" in types
    assert [e["event"] for e in seen.events if e["type"] == "transport.dtmf.received"] == ["1"]
    assert seen.events[-1]["type"] == "session.closed"
    assert seen.events[-1]["reason"] == "remote_hangup"
    assert record.ended_by == "caller"
    assert record.replies == 2
    assert record.sideband_opened_at is not None


def test_the_simulator_imports_without_the_telephony_extra() -> None:
    code = """
import sys
sys.modules["httpx"] = None  # as if not installed
sys.modules["hypercorn"] = None
import realtime_dispatch.simulator as simulator
from realtime_dispatch._cli import main
network = simulator.PhoneNetwork()
try:
    simulator._phone.require_telephony()
except ImportError as exc:
    print(exc)
sys.exit(main(["simulate", "--call-webhook", "http://127.0.0.1:9/", "--webhook-secret", "whsec_x"]))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result.stderr
    assert result.stdout.strip() == "phone calls need httpx: pip install 'realtime-dispatch[telephony]'"
    assert result.stderr.strip() == (
        "realtime-dispatch simulate: error: phone calls need httpx: pip install 'realtime-dispatch[telephony]'"
    )


class ShopLine(RealtimeApp):
    """The sideband as a RealtimeApp: answers the tool the caller's words call, hears the turns and the keys."""

    session = events.Session(
        type="realtime",
        instructions="You answer the phone for a shop.",
        audio=events.SessionAudio(
            input=events.AudioInput(transcription=events.AudioTranscription(model="gpt-4o-transcribe"))
        ),
    )

    def __init__(self) -> None:
        super().__init__()
        self.heard: list[str] = []
        self.keys: list[str] = []
        self.looked_up: list[str] = []
        self.answers: list[str] = []

    @tool
    async def lookup_order(self, order: str) -> dict[str, str]:
        """Look an order up."""
        self.looked_up.append(order)
        return {"status": "shipped"}

    @on("conversation.item.input_audio_transcription.completed")
    def transcript(self, event: events.InputAudioTranscriptionCompleted) -> None:
        self.heard.append(event.transcript)

    @on("input_audio_buffer.dtmf_event_received")
    def key(self, event: events.InputAudioBufferDtmfEventReceived) -> None:
        self.keys.append(event.event)

    @on("response.output_audio_transcript.done")
    def said(self, event: events.ResponseOutputAudioTranscriptDone) -> None:
        self.answers.append(event.transcript)


class AppReceiver(Receiver):
    def __init__(self, secret: str) -> None:
        super().__init__(secret)
        self.apps: dict[str, ShopLine] = {}
        self.finished = anyio.Event()  # an app's run ended (the server closed the sideband for good)

    async def answer(self, call: IncomingCall) -> None:
        assert self.control is not None
        app = self.apps[call.id] = ShopLine()
        await self.control.accept(call.id, app.accept_session())
        await app.run_async(openai(call_id=call.id, api_key="x", base_url=self.control.websocket_base_url))
        self.finished.set()


async def test_a_realtime_app_on_the_sideband_answers_the_callers_tool_call() -> None:
    receiver = AppReceiver(new_secret())
    with anyio.fail_after(20):
        async with phone(receiver, caller_script=SCRIPT) as (network, _, _):
            record = network.place_call()
            assert await network.wait_ended(timeout=10)
            with anyio.fail_after(5):
                await receiver.finished.wait()  # run_async returned: 1000 ends it for good
    app = receiver.apps[record.call_id]
    assert app.heard == ["Hi, I'd like to check my order.", "Please run lookup_order for 1234."]
    assert app.keys == ["1"]
    assert len(app.looked_up) == 1
    assert app.answers[-1] == 'Tool lookup_order returned: {"status":"shipped"}'
    assert record.session is not None
    assert record.session["tools"][0]["name"] == "lookup_order"


async def test_the_accept_body_is_the_calls_session() -> None:
    session = {
        **SESSION,
        "output_modalities": ["text"],
        "audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "high"}}},
    }
    receiver = Receiver(new_secret(), session=session)
    with anyio.fail_after(15):
        async with phone(receiver, caller_script=[{"say": "Hello there."}]) as (network, _, _):
            record = network.place_call()
            assert await network.wait_ended(timeout=10)
            seen = receiver.sidebands[record.call_id]
            with anyio.fail_after(5):
                await seen.done.wait()
    created = seen.events[0]["session"]
    assert created["output_modalities"] == ["text"]
    assert created["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"
    assert "threshold" not in created["audio"]["input"]["turn_detection"]  # replaced whole, not merged
    assert "input_audio_buffer.speech_stopped" in seen.types()
    assert "output_audio_buffer.started" not in seen.types()  # nothing spoken: text only
    assert [e["text"] for e in seen.events if e["type"] == "response.output_text.done"] == ["You said: Hello there."]
    assert record.replies == 1


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the SDK's WebSocket client runs on asyncio only
async def test_the_official_sdk_drives_call_control_and_the_sideband() -> None:
    openai = pytest.importorskip("openai")
    receiver = Receiver(new_secret(), accept=False)
    with anyio.fail_after(15):
        async with phone(receiver, attach_timeout=5) as (network, endpoints, _):
            client = openai.AsyncOpenAI(
                api_key="x", base_url=endpoints.base_url, websocket_base_url=endpoints.websocket_base_url, max_retries=0
            )
            call, live = network.place_call(), network.place_call(protocol="live")
            await client.realtime.calls.accept(call.call_id, type="realtime", instructions="Be brief.")
            with pytest.raises(openai.ConflictError):
                await client.realtime.calls.accept(call.call_id, type="realtime")
            with pytest.raises(openai.NotFoundError):
                await client.realtime.calls.accept("rtc_unknown", type="realtime")
            async with client.realtime.connect(call_id=call.call_id) as connection:
                created = await connection.recv()
                assert created.type == "session.created"
                assert created.session.instructions == "Be brief."
                await client.realtime.calls.refer(call.call_id, target_uri="sip:agent@example.com")
                with anyio.fail_after(5):
                    async for _ in connection:
                        pass  # until the server closes the sideband
            await client.live.sessions.reject(live.call_id, status_code=486)
            await client.close()
    assert call.referred_to == "sip:agent@example.com"
    assert live.reject_status == 486
