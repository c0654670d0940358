"""The simulator plays OpenAI's side of phone calls: signed webhooks, call control, the caller.

A minimal webhook receiver (an ASGI app under hypercorn) verifies deliveries with
``realtime_dispatch.telephony``, accepts with ``CallControl`` and opens the sideband with a raw
WebSocket, all on 127.0.0.1. Every wait is bounded.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import pytest

from realtime_dispatch.simulator._phone import PhoneEndpoints, PhoneNetwork
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
from realtime_dispatch.transports import TransportClosed, connect_websocket

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
        await self.control.accept(call.id, self.session, api=call.api)
        if call.api == "ga":
            await self.watch(call.id)

    async def watch(self, call_id: str) -> None:
        assert self.control is not None
        seen = self.sidebands[call_id] = Sideband(call_id)
        transport = await connect_websocket(self.control.sideband_url(call_id), {"Authorization": "Bearer x"})
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
    secret = new_secret()
    receiver = receiver if receiver is not None else Receiver(secret)
    receiver.verifier = WebhookVerifier(secret)
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
