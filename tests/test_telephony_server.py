"""TelephonyServer over real sockets (asyncio and trio): the server under hypercorn on 127.0.0.1,
webhooks POSTed with httpx, a fake call-control REST API under hypercorn (the first decision on a
call wins, as on the service), and sidebands to a fake phone service (it closes a call's sideband
when the call is hung up, and presses keys) or to the real ``Simulator`` with ``?call_id=``."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest

from realtime_dispatch import Connection, LiveApp, RealtimeApp, TranslationApp, events, on, tool
from realtime_dispatch._endpoints import ConfigError
from realtime_dispatch.simulator import Simulator
from realtime_dispatch.simulator._phone_rest import serve_asgi as serve_simulator_asgi
from realtime_dispatch.telephony import (
    Accept,
    AnswersCalls,
    Call,
    Refer,
    Reject,
    TelephonyServer,
    current_call,
    new_secret,
    sign,
)
from realtime_dispatch.telephony._control import CallControl
from realtime_dispatch.transports import TransportClosed, WebSocketTransport, serve_websocket

SECRET = new_secret()
KEY = "sk-test-telephony-0123456789"
DEADLINE = 10.0  # seconds any wait in these tests may take before it fails


# --- the phone service: call-control REST + sideband WebSockets ------------------------------------


@dataclass
class Request:
    api: str  # "ga" or "live"
    call_id: str
    action: str
    body: Any
    authorization: str


class FakeService:
    """OpenAI's side of a SIP call. REST (ASGI): ``accept``/``reject``/``refer`` decide a call once
    (a later decision gets 409 ``decision_already_made``), ``hangup`` ends it (404 if it is not up)
    and closes its sideband with 1000, a call in ``gone`` answers 404 ``call_id_not_found``,
    ``script[(call_id, action)]`` lists statuses to answer first. Sidebands (WebSocket): Realtime
    ``/v1/realtime?call_id=`` (``session.created`` first) and GPT-Live ``/v1/live/sessions/{id}/attach``."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.script: dict[tuple[str, str], list[int]] = {}
        self.gone: set[str] = set()
        self.decided: dict[str, str] = {}
        self.ended: set[str] = set()
        self.sidebands: dict[str, WebSocketTransport] = {}
        self.hangups: dict[str, anyio.Event] = {}
        self.sideband_paths: list[str] = []

    def actions(self, call_id: str | None = None) -> list[str]:
        return [r.action for r in self.requests if call_id is None or r.call_id == call_id]

    # REST
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        found = re.fullmatch(r"/v1/(realtime/calls|live/sessions)/([^/]+)/(\w+)", scope["path"])
        if found is None:
            await _reply(send, 404, "not_found")
            return
        api = "live" if found[1] == "live/sessions" else "ga"
        call_id, action = found[2], found[3]
        self.requests.append(
            Request(api, call_id, action, json.loads(body) if body else None, headers.get("authorization", ""))
        )
        scripted = self.script.get((call_id, action))
        if scripted:
            await _reply(send, scripted.pop(0), "scripted")
            return
        if call_id in self.gone:
            await _reply(send, 404, "call_id_not_found")
            return
        if action in ("accept", "reject", "refer") and not (action == "refer" and self.decided.get(call_id)):
            if call_id in self.decided:
                await _reply(send, 409, "decision_already_made")
                return
            self.decided[call_id] = action
        elif action == "hangup":
            if self.decided.get(call_id) != "accept" or call_id in self.ended:
                await _reply(send, 404, "call_id_not_found")
                return
            self.ended.add(call_id)
            if call_id in self.hangups:
                self.hangups[call_id].set()  # closed in the background: the REST answer does not wait for it
        await _reply(send, 200)

    # sidebands
    async def sideband(self, transport: WebSocketTransport) -> None:
        assert transport.request is not None
        path = transport.request.path
        self.sideband_paths.append(path)
        parts = urlsplit(path)
        live = re.fullmatch(r"/v1/live/sessions/([^/]+)/attach", parts.path)
        call_id = live[1] if live else parse_qs(parts.query).get("call_id", [""])[0]
        self.sidebands[call_id] = transport
        hung_up = self.hangups[call_id] = anyio.Event()

        async def read() -> None:
            with contextlib.suppress(TransportClosed):
                while True:
                    await transport.receive()
            hung_up.set()

        try:
            if not live:
                await transport.send(
                    events.encode(events.SessionCreated.build(session=events.Session(type="realtime")))
                )
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(read)
                await hung_up.wait()  # the caller hung up (or the app left): the service closes the sideband
                await transport.close(1000)
                task_group.cancel_scope.cancel()
        finally:
            self.sidebands.pop(call_id, None)

    async def press(self, call_id: str, keys: str) -> None:
        for key in keys:
            event = events.InputAudioBufferDtmfEventReceived(event=key, received_at=int(time.time()))
            await self.sidebands[call_id].send(events.encode(event))

    @asynccontextmanager
    async def running(self) -> AsyncIterator[tuple[str, str]]:
        """Serve REST and sidebands; yields their base URLs (``http://.../v1``, ``ws://.../v1``)."""
        async with serve_asgi(self) as rest, serve_websocket(self.sideband) as port:
            yield rest, f"ws://127.0.0.1:{port}/v1"


async def _reply(send: Any, status: int, code: str | None = None) -> None:
    body = b"" if status < 300 else json.dumps({"error": {"message": code, "code": code}}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def serve_asgi(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` under hypercorn (the test's backend) on 127.0.0.1 with the simulator's ``serve_asgi`` (the
    socket listens before hypercorn takes it: no start-up race); yields ``http://127.0.0.1:PORT``. Leaving stops
    it (lifespan too)."""
    async with serve_simulator_asgi(app, "127.0.0.1", 0) as port:
        yield f"http://127.0.0.1:{port}"


# --- the app side --------------------------------------------------------------------------------


@dataclass
class Seen:
    """What the apps of a test did."""

    made: int = 0
    connected: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    dtmf: list[str] = field(default_factory=list)
    release: anyio.Event = field(default_factory=anyio.Event)


def phone_app(seen: Seen, *, hold: bool = False, base: type[RealtimeApp[Any]] = RealtimeApp) -> Any:
    """An app class: counts instances, notes the call it runs, then closes (``hold``: once
    ``seen.release`` is set; the call may end before that)."""

    class PhoneApp(base):  # type: ignore[valid-type, misc]
        reconnect = None
        shutdown_grace = 0.2  # ``finish`` may still wait for the release when the call ends

        def __init__(self) -> None:
            super().__init__()
            seen.made += 1

        async def on_connect(self, connection: Any) -> None:
            seen.connected.append(current_call().id)
            self.start_soon(self.finish)

        async def finish(self) -> None:
            if hold:
                await seen.release.wait()
            await self.connection.close()

        async def on_shutdown(self) -> None:
            seen.ended.append(current_call().id)

    return PhoneApp


def incoming(call_id: str, *, headers: dict[str, str] | None = None, live: bool = False) -> bytes:
    sip = [{"name": k, "value": v} for k, v in (headers or {"From": "sip:+15550001111@example.com"}).items()]
    data: dict[str, Any] = {"session_id": call_id, "type": "sip"} if live else {"call_id": call_id}
    payload = {
        "object": "event",
        "id": f"evt_{call_id}",
        "type": "live.transport.incoming" if live else "realtime.call.incoming",
        "created_at": int(time.time()),
        "data": {**data, "sip_headers": sip},
    }
    return json.dumps(payload).encode()


def signed(
    body: bytes, *, secret: str = SECRET, webhook_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    return {
        "content-type": "application/json",
        **sign(
            body,
            secret,
            webhook_id=webhook_id or f"wh_{os.urandom(6).hex()}",
            timestamp=int(time.time()) if timestamp is None else timestamp,
        ),
    }


@dataclass
class Rig:
    service: FakeService
    server: TelephonyServer
    client: httpx.AsyncClient

    async def call(self, call_id: str, **options: Any) -> httpx.Response:
        body = incoming(call_id, headers=options.pop("headers", None), live=options.pop("live", False))
        return await self.client.post("/webhook", content=body, headers=signed(body, **options))


async def until(condition: Callable[[], object], timeout: float = DEADLINE) -> None:
    with anyio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110  (polls state of several kinds; bounded by fail_after)
            await anyio.sleep(0.01)


def control_for(rest: str, ws: str) -> CallControl:
    return CallControl(api_key=KEY, base_url=f"{rest}/v1", websocket_base_url=ws, backoff=0.01, retries=3)


@asynccontextmanager
async def phone(app: Any, *, simulator: bool = False, **options: Any) -> AsyncIterator[Rig]:
    """The fake service, a TelephonyServer for ``app`` under hypercorn, and an HTTP client to it.
    ``simulator``: sidebands go to the real Simulator instead of the fake service."""
    service = FakeService()
    async with service.running() as (rest, ws), Simulator().serve() as simulated:
        control = control_for(rest, simulated if simulator else ws)
        server = TelephonyServer(app, secrets=options.pop("secrets", SECRET), control=control, **options)
        try:
            async with serve_asgi(server) as url, httpx.AsyncClient(base_url=url, timeout=DEADLINE) as client:
                yield Rig(service, server, client)
        finally:
            await control.aclose()


# --- signatures ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_forged_stale_or_unsigned_webhooks_are_refused_before_any_work() -> None:
    seen = Seen()
    old, new = new_secret(), new_secret()
    async with phone(phone_app(seen), secrets=[old, new]) as rig:
        body = incoming("rtc_forged")
        now = int(time.time())
        good = signed(body, secret=new)
        cases: list[tuple[str, bytes, dict[str, str], int]] = [
            ("bad signature", body, {**good, "webhook-signature": "v1,AAAA" + good["webhook-signature"][7:]}, 401),
            ("wrong secret", body, signed(body, secret=new_secret()), 401),
            ("stale", body, signed(body, secret=new, timestamp=now - 301), 401),
            ("future", body, signed(body, secret=new, timestamp=now + 301), 401),
            ("tampered body", body.replace(b"rtc_forged", b"rtc_tampered"), good, 401),
            ("no v1 entry", body, {**good, "webhook-signature": "v2," + good["webhook-signature"][3:]}, 401),
        ]
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            cases.append((f"missing {name}", body, {k: v for k, v in good.items() if k != name}, 400))
        for name, content, headers, status in cases:
            response = await rig.client.post("/webhook", content=content, headers=headers)
            assert response.status_code == status, name
        assert rig.service.requests == []
        assert rig.server.metrics.invalid == len(cases)
        assert seen.made == 0
        # Either secret of a rotation is good: the old one, then the new one.
        for call_id, secret in (("rtc_old", old), ("rtc_new", new)):
            body = incoming(call_id)
            response = await rig.client.post("/webhook", content=body, headers=signed(body, secret=secret))
            assert response.status_code == 200
        await until(lambda: sorted(seen.ended) == ["rtc_new", "rtc_old"])
    assert rig.service.actions("rtc_old")[0] == "accept"
    assert rig.service.actions("rtc_new")[0] == "accept"
    assert rig.server.metrics.accepted == 2


@pytest.mark.anyio
async def test_http_surface_health_unknown_paths_wrong_methods_and_oversized_bodies() -> None:
    async with phone(phone_app(Seen()), max_calls=7, max_body=1000) as rig:
        health = await rig.client.get("/health")
        assert (health.status_code, health.json()) == (200, {"status": "ok", "active_calls": 0, "max_calls": 7})
        assert (await rig.client.get("/nowhere")).status_code == 404
        wrong = await rig.client.get("/webhook")
        assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST")
        assert (await rig.client.post("/health")).status_code == 405
        big = b"{" + b" " * 2000 + b"}"
        assert (await rig.client.post("/webhook", content=big, headers=signed(big))).status_code == 413
        other = json.dumps({"object": "event", "id": "evt_x", "type": "batch.completed", "created_at": 1, "data": {}})
        response = await rig.client.post("/webhook", content=other, headers=signed(other.encode()))
        assert response.status_code == 200
        # A GPT-Live announcement of a call reaches a Realtime server too (the service sends both): ignored.
        assert (await rig.call("live_1", live=True)).status_code == 200
        signed_junk = b'{"type": "realtime.call.incoming", "id": "evt_1", "created_at": 1, "data": {}}'
        assert (await rig.client.post("/webhook", content=signed_junk, headers=signed(signed_junk))).status_code == 400
    assert rig.service.requests == []
    metrics = rig.server.metrics
    assert (metrics.invalid, metrics.ignored) == (2, 2)


@pytest.mark.anyio
async def test_mounted_under_a_prefix_without_lifespan_it_runs_in_async_with() -> None:
    seen = Seen()
    service = FakeService()

    class Mount:
        """A framework that mounts the server at /phone (as Starlette does: path kept, root_path set) and
        does not pass lifespan events on."""

        def __init__(self, inner: TelephonyServer) -> None:
            self.inner = inner

        async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                await FakeService()(scope, receive, send)  # answers startup and shutdown itself
                return
            if scope["path"].startswith("/phone/"):
                await self.inner({**scope, "root_path": "/phone"}, receive, send)
                return
            await _reply(send, 404)

    async with service.running() as (rest, ws):
        control = control_for(rest, ws)
        server = TelephonyServer(phone_app(seen), secrets=SECRET, control=control)
        async with serve_asgi(Mount(server)) as url, httpx.AsyncClient(base_url=f"{url}/phone") as client:
            body = incoming("rtc_early")
            early = await client.post("/webhook", content=body, headers=signed(body))
            assert early.status_code == 503  # not running yet: the service will deliver it again
            assert (await client.get("/health")).json()["status"] == "stopped"
            async with server:
                assert (await client.get("/health")).json()["status"] == "ok"
                body = incoming("rtc_mounted")
                assert (await client.post("/webhook", content=body, headers=signed(body))).status_code == 200
                await until(lambda: seen.ended == ["rtc_mounted"])
            assert (await client.get("/health")).status_code == 503
        await control.aclose()
    assert service.actions("rtc_mounted") == ["accept", "hangup"]
    assert service.actions("rtc_early") == []
    assert server.metrics.deferred == 1


# --- deliveries, decisions, accept ---------------------------------------------------------------


@pytest.mark.anyio
async def test_duplicate_deliveries_make_one_call() -> None:
    seen = Seen()
    async with phone(phone_app(seen, hold=True)) as rig:
        body = incoming("rtc_dup")
        headers = signed(body, webhook_id="wh_dup")
        assert (await rig.client.post("/webhook", content=body, headers=headers)).status_code == 200
        assert (await rig.client.post("/webhook", content=body, headers=headers)).status_code == 200
        statuses: list[int] = []

        async def post() -> None:
            statuses.append((await rig.client.post("/webhook", content=body, headers=headers)).status_code)

        async with anyio.create_task_group() as task_group:
            for _ in range(5):
                task_group.start_soon(post)
        assert statuses == [200] * 5
        # The same call under another webhook id, while it is in progress: a duplicate too.
        await until(lambda: seen.connected == ["rtc_dup"])
        assert (await rig.call("rtc_dup")).status_code == 200
        # Concurrent first deliveries of another call.
        body2 = incoming("rtc_dup2")
        headers2 = signed(body2, webhook_id="wh_dup2")
        async with anyio.create_task_group() as task_group:
            for _ in range(4):
                task_group.start_soon(lambda: rig.client.post("/webhook", content=body2, headers=headers2))
        await until(lambda: sorted(seen.connected) == ["rtc_dup", "rtc_dup2"])
        seen.release.set()
        await until(lambda: len(seen.ended) == 2)
    assert rig.service.actions("rtc_dup").count("accept") == 1
    assert rig.service.actions("rtc_dup2").count("accept") == 1
    assert seen.made == 2
    assert rig.server.metrics.duplicates == 1 + 5 + 1 + 3


@pytest.mark.anyio
async def test_accept_is_retried_after_a_503_then_the_sideband_opens_on_the_simulator() -> None:
    seen = Seen()

    class Agent(phone_app(seen)):  # type: ignore[misc]
        session = events.Session(type="realtime", instructions="You answer the phone.")

        @tool
        async def lookup(self, order: str) -> str:
            """Look an order up."""
            return "shipped"

    async with phone(Agent, simulator=True) as rig:
        rig.service.script[("rtc_retry", "accept")] = [503]
        assert (await rig.call("rtc_retry")).status_code == 200
        await until(lambda: seen.ended == ["rtc_retry"])
        metrics = rig.server.metrics
        await until(lambda: metrics.active == 0)
    first, second = (r for r in rig.service.requests if r.action == "accept")
    assert first.body == second.body
    assert second.body["type"] == "realtime"
    assert second.body["instructions"] == "You answer the phone."
    assert [t["name"] for t in second.body["tools"]] == ["lookup"]
    assert second.authorization == f"Bearer {KEY}"
    assert seen.connected == ["rtc_retry"]
    assert (metrics.accepted, metrics.ended, metrics.failed, metrics.errors) == (1, 1, 0, 0)
    assert metrics.accept_latency.count == metrics.sideband_latency.count == 1
    assert 0 < metrics.accept_latency.max <= metrics.sideband_latency.max < DEADLINE


@pytest.mark.anyio
async def test_a_caller_gone_before_the_accept_is_no_error(caplog: pytest.LogCaptureFixture) -> None:
    seen = Seen()
    caplog.set_level(logging.INFO, logger="realtime_dispatch")
    async with phone(phone_app(seen)) as rig:
        rig.service.gone.add("rtc_gone")
        assert (await rig.call("rtc_gone")).status_code == 200
        await until(lambda: rig.server.metrics.gone == 1 and rig.server.metrics.active == 0)
    assert rig.service.actions() == ["accept"]
    assert seen.connected == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("caller left" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)


@pytest.mark.anyio
async def test_calls_over_max_calls_are_rejected_busy() -> None:
    seen = Seen()
    async with phone(phone_app(seen, hold=True), max_calls=1) as rig:
        await rig.call("rtc_first")
        await until(lambda: seen.connected == ["rtc_first"])
        await rig.call("rtc_second")
        await until(lambda: rig.service.actions("rtc_second") == ["reject"])
        assert (await rig.client.get("/health")).json()["active_calls"] == 1
        seen.release.set()
        await until(lambda: rig.server.metrics.active == 0)
        # A free slot again: the next call is answered.
        await rig.call("rtc_third")
        await until(lambda: seen.ended == ["rtc_first", "rtc_third"])
    [reject] = [r for r in rig.service.requests if r.action == "reject"]
    assert reject.body == {"status_code": 486}
    assert seen.made == 2
    assert (rig.server.metrics.busy, rig.server.metrics.accepted) == (1, 2)


@pytest.mark.anyio
async def test_busy_status_none_defers_the_webhook_for_another_worker() -> None:
    seen = Seen()
    async with phone(phone_app(seen, hold=True), max_calls=1, busy_status=None) as rig:
        await rig.call("rtc_a")
        await until(lambda: seen.connected == ["rtc_a"])
        body = incoming("rtc_b")
        headers = signed(body)
        deferred = await rig.client.post("/webhook", content=body, headers=headers)
        assert (deferred.status_code, deferred.headers["retry-after"]) == (503, "1")
        seen.release.set()
        await until(lambda: rig.server.metrics.active == 0)
        # The redelivery (same webhook id) is acted on: the 503 did not mark it seen.
        assert (await rig.client.post("/webhook", content=body, headers=headers)).status_code == 200
        await until(lambda: seen.ended == ["rtc_a", "rtc_b"])
    assert rig.service.actions("rtc_b")[0] == "accept"
    assert (rig.server.metrics.deferred, rig.server.metrics.busy) == (1, 0)


@pytest.mark.anyio
async def test_answer_call_rejects_refers_or_accepts_with_its_own_session() -> None:
    seen = Seen()

    class Gatekeeper(phone_app(seen)):  # type: ignore[misc]
        async def answer_call(self, call: Call) -> Accept | Reject | Refer:
            assert current_call() is call
            if call.header("x-blocked") == "yes":
                return Reject(403)
            if call.caller == "sip:+15550002222@example.com":
                return Refer("tel:+14155550123")
            if call.header("X-Custom"):
                return Accept({"type": "realtime", "instructions": f"custom {call.header('x-custom')}"})
            return Accept()

    assert isinstance(Gatekeeper(), AnswersCalls)
    seen.made = 0
    async with phone(Gatekeeper) as rig:
        await rig.call("rtc_blocked", headers={"From": "sip:+15550001111@example.com", "X-Blocked": "yes"})
        await rig.call("rtc_transfer", headers={"From": '"Bob" <sip:+15550002222@example.com>;tag=1'})
        await rig.call("rtc_custom", headers={"From": "sip:x@example.com", "X-Custom": "hello"})
        await until(lambda: rig.server.metrics.rejected == 1 and rig.server.metrics.referred == 1)
        await until(lambda: seen.ended == ["rtc_custom"])
    by_call = {(r.call_id, r.action): r.body for r in rig.service.requests}
    assert by_call[("rtc_blocked", "reject")] == {"status_code": 403}
    assert by_call[("rtc_transfer", "refer")] == {"target_uri": "tel:+14155550123"}
    assert by_call[("rtc_custom", "accept")] == {"type": "realtime", "instructions": "custom hello"}
    assert rig.service.actions("rtc_blocked") == ["reject"]
    assert rig.service.actions("rtc_transfer") == ["refer"]
    assert seen.made == 3
    assert seen.connected == ["rtc_custom"]


@pytest.mark.anyio
async def test_a_per_caller_session_from_the_sip_headers() -> None:
    seen = Seen()

    class PerCaller(phone_app(seen)):  # type: ignore[misc]
        def accept_session(self) -> dict[str, Any]:
            session = super().accept_session()
            session["instructions"] = f"Greet {current_call().header('From')} in {current_call().header('X-Lang')}."
            return session

    async with phone(PerCaller) as rig:
        await rig.call("rtc_fr", headers={"From": "sip:+33100000000@example.com", "X-Lang": "French"})
        await rig.call("rtc_de", headers={"From": "sip:+49300000000@example.com", "X-Lang": "German"})
        await until(lambda: len(seen.ended) == 2)
    bodies = {r.call_id: r.body for r in rig.service.requests if r.action == "accept"}
    assert bodies["rtc_fr"] == {"type": "realtime", "instructions": "Greet sip:+33100000000@example.com in French."}
    assert bodies["rtc_de"]["instructions"] == "Greet sip:+49300000000@example.com in German."


@pytest.mark.anyio
async def test_answer_call_that_raises_declines_the_call_and_the_server_lives_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen = Seen()

    class Broken(phone_app(seen)):  # type: ignore[misc]
        async def answer_call(self, call: Call) -> Accept:
            if call.id == "rtc_bug":
                raise KeyError("no such customer")
            return Accept()

        @on("session.created")
        async def crash_once_connected(self, event: events.SessionCreated) -> None:
            if current_call().id == "rtc_crash":
                raise RuntimeError("the app's own bug")

    caplog.set_level(logging.INFO, logger="realtime_dispatch")
    async with phone(Broken) as rig:
        await rig.call("rtc_bug")
        await until(lambda: rig.server.metrics.failed == 1)
        await rig.call("rtc_fine")
        await until(lambda: seen.ended == ["rtc_fine"])
    assert rig.service.actions("rtc_bug") == ["reject"]
    assert [r.body for r in rig.service.requests if r.call_id == "rtc_bug"] == [{"status_code": 500}]
    assert any("rtc_bug" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


# --- drain ---------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_drain_turns_new_calls_away_waits_then_hangs_up() -> None:
    seen = Seen()
    async with phone(phone_app(seen, hold=True), drain_timeout=0.3) as rig:
        await rig.call("rtc_long")
        await until(lambda: seen.connected == ["rtc_long"])
        started = anyio.current_time()
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(rig.server.drain)
            await until(lambda: rig.server.draining)
            assert (await rig.call("rtc_late")).status_code == 503
            health = await rig.client.get("/health")
            assert (health.status_code, health.json()["status"]) == (503, "draining")
            assert health.json()["active_calls"] == 1
        # drain() returned: the call was given drain_timeout, then hung up (its sideband closed).
        assert anyio.current_time() - started >= 0.3
        assert seen.ended == ["rtc_long"]
        assert rig.service.actions("rtc_long") == ["accept", "hangup"]
        assert rig.service.actions("rtc_late") == []
    metrics = rig.server.metrics
    assert (metrics.accepted, metrics.ended, metrics.deferred, metrics.active) == (1, 1, 1, 0)


@pytest.mark.anyio
async def test_lifespan_shutdown_drains_a_call_in_progress() -> None:
    seen = Seen()
    async with phone(phone_app(seen, hold=True), drain_timeout=0.2) as rig:
        await rig.call("rtc_busy")
        await until(lambda: seen.connected == ["rtc_busy"])
    # Leaving serve_asgi stopped hypercorn: its lifespan shutdown drained the server.
    assert seen.ended == ["rtc_busy"]
    assert rig.service.actions("rtc_busy") == ["accept", "hangup"]
    assert rig.server.metrics.active == 0


@pytest.mark.anyio
async def test_a_call_that_ends_before_the_drain_timeout_is_not_hung_up_by_the_drain() -> None:
    seen = Seen()
    async with phone(phone_app(seen, hold=True), drain_timeout=DEADLINE) as rig:
        await rig.call("rtc_short")
        await until(lambda: seen.connected == ["rtc_short"])
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(rig.server.drain)
            await until(lambda: rig.server.draining)
            seen.release.set()  # the app closes: its call is hung up once, by the server, as any call
    assert seen.ended == ["rtc_short"]
    assert rig.service.actions("rtc_short") == ["accept", "hangup"]


# --- several workers -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_two_workers_one_call_exactly_one_app_runs_it() -> None:
    seen = Seen()
    service = FakeService()
    async with service.running() as (rest, ws):
        controls = [control_for(rest, ws), control_for(rest, ws)]
        servers = [TelephonyServer(phone_app(seen), secrets=SECRET, control=c) for c in controls]
        async with serve_asgi(servers[0]) as one, serve_asgi(servers[1]) as two, httpx.AsyncClient() as client:
            body = incoming("rtc_shared")
            headers = signed(body, webhook_id="wh_shared")  # one delivery, reaching both workers
            async with anyio.create_task_group() as task_group:
                for url in (one, two):
                    task_group.start_soon(lambda u: client.post(f"{u}/webhook", content=body, headers=headers), url)
            await until(lambda: sum(s.metrics.accepted + s.metrics.taken for s in servers) == 2)
            await until(lambda: seen.ended == ["rtc_shared"])
        for c in controls:
            await c.aclose()
    assert seen.connected == ["rtc_shared"]
    assert sorted((s.metrics.accepted, s.metrics.taken) for s in servers) == [(0, 1), (1, 0)]
    assert service.actions("rtc_shared")[:2] == ["accept", "accept"]


# --- inside a call -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_handlers_hang_up_and_transfer_through_current_call_and_get_dtmf() -> None:
    digits: list[str] = []
    background_calls: list[str] = []
    connected = anyio.Event()

    class Keypad(RealtimeApp):
        reconnect = None

        async def on_connect(self, connection: Connection) -> None:
            connected.set()

        @on("input_audio_buffer.dtmf_event_received")
        async def key(self, event: events.InputAudioBufferDtmfEventReceived) -> None:
            digits.append(event.event)
            call = current_call()
            if event.event == "0":
                await call.refer("sip:operator@example.com")
                await self.connection.close()
            elif event.event == "#":
                await call.hangup()

        @on("input_audio_buffer.dtmf_event_received", background=True)
        async def seen_in_background(self, event: events.InputAudioBufferDtmfEventReceived) -> None:
            background_calls.append(current_call().id)

    with pytest.raises(RuntimeError, match="outside a phone call"):
        current_call()
    async with phone(Keypad) as rig:
        await rig.call("rtc_keys")
        with anyio.fail_after(DEADLINE):
            await connected.wait()
        await until(lambda: "rtc_keys" in rig.service.sidebands)
        await rig.service.press("rtc_keys", "12#")
        await until(lambda: rig.server.metrics.ended == 1)
        connected = anyio.Event()
        await rig.call("rtc_operator")
        with anyio.fail_after(DEADLINE):
            await connected.wait()
        await until(lambda: "rtc_operator" in rig.service.sidebands)
        await rig.service.press("rtc_operator", "0")
        await until(lambda: rig.server.metrics.ended == 2)
    assert digits == ["1", "2", "#", "0"]
    assert sorted(set(background_calls)) == ["rtc_keys", "rtc_operator"]
    # The handler hung up once; the server did not hang up again. A transferred call is left alone.
    assert rig.service.actions("rtc_keys") == ["accept", "hangup"]
    assert rig.service.actions("rtc_operator") == ["accept", "refer"]
    assert [r.body for r in rig.service.requests if r.action == "refer"] == [{"target_uri": "sip:operator@example.com"}]
    assert rig.service.sideband_paths[0] == "/v1/realtime?call_id=rtc_keys"
    assert rig.server.metrics.referred == 1  # a transfer from a handler counts too


@pytest.mark.anyio
async def test_a_live_app_answers_live_calls_on_the_live_endpoints() -> None:
    seen = Seen()

    class Agent(phone_app(seen, base=LiveApp)):  # type: ignore[misc]
        session = events.live.SessionConfig(model="gpt-live-1", instructions="Hello from Live.")

    async with phone(Agent) as rig:
        assert rig.server.api == "live"
        assert (await rig.call("rtc_classic")).status_code == 200  # the Realtime announcement: ignored
        await rig.call("live_123", live=True)
        await until(lambda: seen.ended == ["live_123"])
    accept = next(r for r in rig.service.requests if r.action == "accept")
    assert (accept.api, accept.call_id) == ("live", "live_123")
    assert accept.body["session"]["type"] == "live"
    assert accept.body["session"]["instructions"] == "Hello from Live."
    assert rig.service.sideband_paths == ["/v1/live/sessions/live_123/attach"]
    assert rig.service.actions("rtc_classic") == []


# --- metrics -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_metrics_snapshot_matches_what_happened() -> None:
    seen = Seen()
    async with phone(phone_app(seen, hold=True), max_calls=2) as rig:
        rig.service.gone.add("rtc_gone")
        rig.service.script[("rtc_fail", "accept")] = [400]
        for call_id in ("rtc_a", "rtc_b"):
            await rig.call(call_id)
        await until(lambda: len(seen.connected) == 2)
        await rig.call("rtc_busy")  # busy
        body = incoming("rtc_a")
        await rig.client.post("/webhook", content=body, headers=signed(body))  # duplicate (call in progress)
        await rig.client.post("/webhook", content=body, headers=signed(body, secret=new_secret()))  # invalid
        await rig.call("live_x", live=True)  # ignored
        seen.release.set()
        await until(lambda: rig.server.metrics.active == 0)
        await rig.call("rtc_gone")
        await until(lambda: rig.server.metrics.gone == 1)
        await rig.call("rtc_fail")
        await until(lambda: rig.server.metrics.failed == 1)
        snapshot = rig.server.metrics.snapshot()
    assert {k: v for k, v in snapshot.items() if not k.endswith("_latency")} == {
        "active": 0,
        "accepted": 2,
        "rejected": 0,
        "referred": 0,
        "busy": 1,
        "ended": 2,
        "duplicates": 1,
        "invalid": 1,
        "ignored": 1,
        "deferred": 0,
        "gone": 1,
        "taken": 0,
        "failed": 1,
        "errors": 0,
    }
    for name in ("accept_latency", "sideband_latency"):
        latency = snapshot[name]
        assert latency["count"] == 2
        assert 0 < latency["p50"] <= latency["max"] < DEADLINE
    json.dumps(snapshot)


# --- construction --------------------------------------------------------------------------------


def test_configuration_errors_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    control = CallControl(api_key=KEY, base_url="http://127.0.0.1:9/v1")
    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_WEBHOOK_SECRET"):
        TelephonyServer(RealtimeApp, control=control)
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", SECRET)
    assert TelephonyServer(RealtimeApp, control=control).api == "ga"
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", f"{new_secret()}, {SECRET}")  # a rotation: both are valid
    assert TelephonyServer(RealtimeApp, control=control).api == "ga"
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", SECRET)
    assert TelephonyServer(lambda: LiveApp(), control=control).api == "live"
    with pytest.raises(ConfigError, match="takes no phone calls"):
        TelephonyServer(TranslationApp, control=control)
    with pytest.raises(TypeError, match="not an instance"):
        TelephonyServer(RealtimeApp(), control=control)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="busy_status"):
        TelephonyServer(RealtimeApp, control=control, busy_status=200)
    with pytest.raises(ValueError, match="max_calls"):
        TelephonyServer(RealtimeApp, control=control, max_calls=0)
    with pytest.raises(ConfigError, match="bad webhook secret"):
        TelephonyServer(RealtimeApp, control=control, secrets="whsec_not base64!")
    with pytest.raises(ValueError, match="300 to 699"):
        Reject(200)


def test_importing_the_package_loads_no_http_stack() -> None:
    code = "import sys, realtime_dispatch.telephony; print(sorted({'httpx', 'hypercorn'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"


# --- the serve command ---------------------------------------------------------------------------

AGENT = '''
import anyio
from realtime_dispatch import RealtimeApp


class Agent(RealtimeApp):
    """Holds the call until the service ends it (the caller hangs up, or the drain hangs up)."""

    reconnect = None


instance = Agent()
'''


@pytest.mark.anyio
@pytest.mark.parametrize("workers", [1, 2])
async def test_serve_answers_a_call_delivered_to_every_worker_once_and_drains_on_sigterm(
    tmp_path: Path, workers: int, anyio_backend: str
) -> None:
    (tmp_path / "agent.py").write_text(AGENT)
    service = FakeService()
    async with service.running() as (rest, ws):
        env = {
            **os.environ,
            "OPENAI_WEBHOOK_SECRET": SECRET,
            "OPENAI_API_KEY": KEY,
            "OPENAI_BASE_URL": f"{rest}/v1",
            "OPENAI_WEBSOCKET_BASE_URL": ws,
        }
        command = [sys.executable, "-m", "realtime_dispatch", "serve", "agent:Agent", "--port", "0"]
        command += ["--workers", str(workers), "--drain-timeout", "0.5"]
        command += ["--trio"] if anyio_backend == "trio" else []
        async with await anyio.open_process(command, cwd=tmp_path, env=env) as process:
            assert process.stdout is not None
            assert process.stderr is not None
            try:
                line = b""
                with anyio.fail_after(DEADLINE * 3):
                    while not line.endswith(b"\n"):
                        line += await process.stdout.receive()
                found = re.search(r"at (http://\S+)/webhook,", line.decode())
                assert found, line
                url = found[1]
                body = incoming("rtc_served")
                headers = signed(body, webhook_id="wh_served")

                async def deliver() -> None:  # a connection each: the deliveries spread over the workers
                    async with httpx.AsyncClient(timeout=DEADLINE * 3) as client:
                        assert (await client.post(f"{url}/webhook", content=body, headers=headers)).status_code == 200

                async with anyio.create_task_group() as task_group:
                    for _ in range(6):
                        task_group.start_soon(deliver)
                await until(lambda: "rtc_served" in service.sidebands)
                async with httpx.AsyncClient() as client:
                    health = (await client.get(f"{url}/health")).json()
                assert health["status"] == "ok"
                process.send_signal(signal.SIGTERM)
                with anyio.fail_after(DEADLINE * 3):
                    code = await process.wait()
            finally:
                if process.returncode is None:
                    process.kill()
            errors = b""
            with contextlib.suppress(anyio.EndOfStream, anyio.ClosedResourceError):
                while True:
                    errors += await process.stderr.receive()
    assert code == 0, errors.decode()
    assert b"Traceback" not in errors, errors.decode()
    # Every worker that got the delivery tried to accept; exactly one won and ran the app on the sideband.
    accepts = service.actions("rtc_served").count("accept")
    assert 1 <= accepts <= workers
    assert service.sideband_paths == ["/v1/realtime?call_id=rtc_served"]
    assert service.actions("rtc_served")[-1] == "hangup"  # the drain, after --drain-timeout


def test_serve_reports_what_is_missing_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from realtime_dispatch._cli import main

    (tmp_path / "agent.py").write_text(AGENT)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)

    def error_line(*argv: str) -> str:
        try:
            code = main(["serve", *argv])
        except SystemExit as exit:  # argparse's usage errors
            code = int(exit.code or 0)
        assert code == 2
        lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("realtime-dispatch serve:")]
        assert len(lines) == 1
        return lines[0]

    assert "OPENAI_WEBHOOK_SECRET" in error_line("agent:Agent")
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", SECRET)
    assert "is an instance: name its class" in error_line("agent:instance")
    assert "no module named 'missing'" in error_line("missing:Agent")
    assert "has no attribute" in error_line("agent:Nope")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "hypercorn" else real_find_spec(name, *a)
    )
    assert error_line("agent:Agent").endswith("serve needs hypercorn: pip install 'realtime-dispatch[telephony]'")


# --- against the simulator's phone network ---------------------------------------------------------


@pytest.mark.anyio
async def test_simulated_calls_end_to_end_with_duplicates_turns_tools_and_dtmf() -> None:
    from realtime_dispatch.simulator import PhoneNetwork

    heard: dict[str, list[str]] = {}
    keys: dict[str, list[str]] = {}
    looked_up: list[str] = []

    class ShopAgent(RealtimeApp):
        reconnect = None
        session = events.Session(
            type="realtime",
            instructions="You answer the phone for a shop.",
            audio=events.SessionAudio(
                input=events.AudioInput(transcription=events.AudioTranscription(model="gpt-4o-transcribe"))
            ),
        )

        @on("conversation.item.input_audio_transcription.completed")
        async def transcript(self, event: events.InputAudioTranscriptionCompleted) -> None:
            heard.setdefault(current_call().id, []).append(event.transcript)

        @on("input_audio_buffer.dtmf_event_received")
        async def key(self, event: events.InputAudioBufferDtmfEventReceived) -> None:
            keys.setdefault(current_call().id, []).append(event.event)

        @tool
        async def lookup_order(self, order: str) -> str:
            """Look an order up."""
            looked_up.append(current_call().id)
            return f"order {order} has shipped"

    script = [{"say": "Hi, I'd like to check my order."}, {"say": "Please run lookup_order for 1234."}, {"dtmf": "1"}]
    network = PhoneNetwork(caller_script=script, turn_delay=0.05, duplicate_rate=1.0, seed=7, retry_base=0.05)
    async with network.serve() as endpoints:
        control = CallControl(
            api_key=KEY, base_url=endpoints.base_url, websocket_base_url=endpoints.websocket_base_url, backoff=0.01
        )
        server = TelephonyServer(ShopAgent, secrets=SECRET, control=control)
        async with serve_asgi(server) as url:
            network.webhook_url, network.webhook_secret = f"{url}/webhook", SECRET
            records = await network.place_calls(3, rate=50)
            assert await network.wait_ended(timeout=DEADLINE * 2)
            await until(lambda: server.metrics.ended == 3)
        await control.aclose()
    calls = sorted(record.call_id for record in records)
    for record in records:
        assert record.ended_by == "caller", record
        assert next(d.action for d in record.decisions if d.status == 200) == "accept"
        assert record.sidebands == 1
        assert record.session is not None
        assert [t["name"] for t in record.session["tools"]] == ["lookup_order"]
    assert sorted(heard) == sorted(keys) == sorted(set(looked_up)) == calls
    assert all(keys[call] == ["1"] for call in calls)
    assert all(len(heard[call]) == 2 for call in calls)
    metrics = server.metrics
    assert (metrics.accepted, metrics.ended, metrics.errors, metrics.failed) == (3, 3, 0, 0)
    assert metrics.duplicates == 3  # each webhook was delivered twice, with the same id
    assert metrics.sideband_latency.count == 3


@pytest.mark.anyio
async def test_a_simulated_gpt_live_call_is_answered_by_a_live_app() -> None:
    from realtime_dispatch.simulator import PhoneNetwork

    keys: list[str] = []
    closed: list[str] = []

    class LiveAgent(LiveApp):
        reconnect = None
        session = events.live.SessionConfig(model="gpt-live-1", instructions="You answer the phone for a shop.")

        @on("transport.dtmf.received")
        async def key(self, event: events.live.TransportDtmfReceived) -> None:
            keys.append(event.event)

        @on("session.closed")
        async def closed_by(self, event: events.live.SessionClosedEvent) -> None:
            closed.append(f"{current_call().id} {event.reason}")

    script = [{"say": "Hello there."}, {"dtmf": "5"}]
    network = PhoneNetwork(caller_script=script, turn_delay=0.05)
    async with network.serve() as endpoints:
        control = CallControl(
            api_key=KEY, base_url=endpoints.base_url, websocket_base_url=endpoints.websocket_base_url, backoff=0.01
        )
        server = TelephonyServer(LiveAgent, secrets=SECRET, control=control)
        async with serve_asgi(server) as url:
            network.webhook_url, network.webhook_secret = f"{url}/webhook", SECRET
            record = network.place_call(protocol="live")
            assert await network.wait_ended([record.call_id], timeout=DEADLINE)
            await until(lambda: server.metrics.ended == 1)
        await control.aclose()
    assert record.ended_by == "caller"
    assert record.session is not None
    assert record.session["instructions"] == "You answer the phone for a shop."
    assert keys == ["5"]
    assert closed == [f"{record.call_id} remote_hangup"]
    assert (server.metrics.accepted, server.metrics.errors) == (1, 0)
