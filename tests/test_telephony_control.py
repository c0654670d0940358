"""The call-control REST client against a fake call-control API served by hypercorn on 127.0.0.1
(asyncio and trio), with the official SDK as the oracle for URLs and bodies."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import httpx2
import openai
import pytest

from realtime_dispatch._endpoints import ConfigError
from realtime_dispatch.simulator._phone_rest import serve_asgi
from realtime_dispatch.telephony._control import CallControl, CallControlError, CallGone, CallTaken

KEY = "sk-test-secret-0123456789"


@dataclass
class Seen:
    method: str
    path: str  # raw, as sent (quoted)
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    delay: float = 0.0


def error(status: int, message: str, code: str | None = None, **headers: str) -> Reply:
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": code, "param": None}})
    extra = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return Reply(status, body.encode(), [(b"content-type", b"application/json"), *extra])


class FakeAPI:
    """An ASGI app: records every request, answers from ``replies`` in order, then 200 (empty)."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.seen: list[Seen] = []

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
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.seen.append(
            Seen(scope["method"], scope["raw_path"].decode(), scope["query_string"].decode(), headers, body)
        )
        reply = self.replies.pop(0) if self.replies else Reply()
        if reply.delay:
            await anyio.sleep(reply.delay)
        await send({"type": "http.response.start", "status": reply.status, "headers": reply.headers})
        await send({"type": "http.response.body", "body": reply.body})


@asynccontextmanager
async def serving(app: FakeAPI) -> AsyncIterator[str]:
    """Serve ``app`` under hypercorn (asyncio or trio, as the test runs) on 127.0.0.1 (the simulator's
    ``serve_asgi``: the socket listens before hypercorn takes it, so there is no start-up race); yields the base URL."""
    async with serve_asgi(app, "127.0.0.1", 0) as port:
        yield f"http://127.0.0.1:{port}/v1"


@asynccontextmanager
async def control(*replies: Reply, **options: Any) -> AsyncIterator[tuple[CallControl, FakeAPI]]:
    api = FakeAPI(*replies)
    async with serving(api) as base:
        options.setdefault("backoff", 0.01)
        calls = CallControl(api_key=KEY, base_url=base, **options)
        try:
            yield calls, api
        finally:
            await calls.aclose()


# -- requests: URL, method, headers, body ----------------------------------------------------------


@pytest.mark.anyio
async def test_accept_ga_posts_the_session_fields_with_type_realtime() -> None:
    async with control() as (calls, api):
        await calls.accept("rtc_123", {"model": "gpt-realtime", "instructions": "Be brief."})
    [seen] = api.seen
    assert (seen.method, seen.path, seen.query) == ("POST", "/v1/realtime/calls/rtc_123/accept", "")
    assert seen.json() == {"type": "realtime", "model": "gpt-realtime", "instructions": "Be brief."}
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["accept"] == "*/*"
    assert seen.headers["user-agent"].startswith("realtime-dispatch/")


@pytest.mark.anyio
async def test_accept_live_wraps_the_session_with_type_live() -> None:
    async with control() as (calls, api):
        await calls.accept("live_abc", {"model": "gpt-live-1", "type": "realtime"}, api="live")
    [seen] = api.seen
    assert seen.path == "/v1/live/sessions/live_abc/accept"
    assert seen.json() == {"session": {"model": "gpt-live-1", "type": "live"}}
    assert seen.headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.anyio
async def test_reject_refer_hangup() -> None:
    async with control() as (calls, api):
        await calls.reject("rtc_1")
        await calls.reject("rtc_1", 486)
        await calls.reject("live_1", 603, api="live")
        await calls.refer("rtc_1", "tel:+14155550123")
        await calls.refer("live_1", "sip:agent@example.com", api="live")
        await calls.hangup("rtc_1")
        await calls.hangup("live_1", api="live")
    assert [(s.method, s.path, s.body) for s in api.seen] == [
        ("POST", "/v1/realtime/calls/rtc_1/reject", b'{"status_code":603}'),
        ("POST", "/v1/realtime/calls/rtc_1/reject", b'{"status_code":486}'),
        ("POST", "/v1/live/sessions/live_1/reject", b'{"status_code":603}'),
        ("POST", "/v1/realtime/calls/rtc_1/refer", b'{"target_uri":"tel:+14155550123"}'),
        ("POST", "/v1/live/sessions/live_1/refer", b'{"target_uri":"sip:agent@example.com"}'),
        ("POST", "/v1/realtime/calls/rtc_1/hangup", b""),
        ("POST", "/v1/live/sessions/live_1/hangup", b""),
    ]
    assert all(s.headers["accept"] == "*/*" and s.headers["authorization"] == f"Bearer {KEY}" for s in api.seen)


@pytest.mark.anyio
async def test_bad_arguments_fail_before_any_request() -> None:
    async with control() as (calls, api):
        for status in (299, 700, 0, True, "603", 603.0):
            with pytest.raises(ValueError, match="300 to 699"):
                await calls.reject("rtc_1", status)  # type: ignore[arg-type]
        for target in ("", "   ", None):
            with pytest.raises(ValueError, match="target URI"):
                await calls.refer("rtc_1", target)  # type: ignore[arg-type]
        for call_id in ("", ".", ".."):
            with pytest.raises(ValueError, match="not a call id"):
                await calls.hangup(call_id)
        with pytest.raises(ValueError, match="'ga' or 'live'"):
            await calls.hangup("rtc_1", api="beta")  # type: ignore[arg-type]
    assert api.seen == []


@pytest.mark.anyio
async def test_ids_are_quoted_into_the_path() -> None:
    async with control() as (calls, api):
        await calls.hangup("rtc/../x y?#")
    assert api.seen[0].path == "/v1/realtime/calls/rtc%2F..%2Fx%20y%3F%23/hangup"


# -- the official SDK as the oracle -----------------------------------------------------------------

SESSION = {"model": "gpt-realtime", "instructions": "Hi", "audio": {"output": {"voice": "marin"}}}
LIVE_SESSION = {"model": "gpt-live-1", "instructions": "Hi"}


async def sdk_request(operation: str, api: str, call_id: str) -> httpx2.Request:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200)

    client = openai.AsyncOpenAI(
        api_key=KEY,
        base_url="http://127.0.0.1:1/v1",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
    )
    resource: Any = client.live.sessions if api == "live" else client.realtime.calls
    if operation == "accept":
        if api == "live":
            await resource.accept(call_id, session={**LIVE_SESSION, "type": "live"})
        else:
            await resource.accept(call_id, type="realtime", **SESSION)
    elif operation == "reject":
        await resource.reject(call_id, status_code=486)
    elif operation == "refer":
        await resource.refer(call_id, target_uri="sip:agent@example.com")
    else:
        await resource.hangup(call_id)
    await client.close()
    return seen[0]


async def our_request(calls: CallControl, operation: str, api: Any, call_id: str) -> None:
    if operation == "accept":
        await calls.accept(call_id, LIVE_SESSION if api == "live" else SESSION, api=api)
    elif operation == "reject":
        await calls.reject(call_id, 486, api=api)
    elif operation == "refer":
        await calls.refer(call_id, "sip:agent@example.com", api=api)
    else:
        await calls.hangup(call_id, api=api)


@pytest.mark.anyio
@pytest.mark.parametrize("operation", ["accept", "reject", "refer", "hangup"])
@pytest.mark.parametrize("api", ["ga", "live"])
async def test_requests_match_the_official_sdk(operation: str, api: str) -> None:
    call_id = "rtc_a/b c:d@e"
    expected = await sdk_request(operation, api, call_id)
    async with control() as (calls, fake):
        await our_request(calls, operation, api, call_id)
    [seen] = fake.seen
    assert seen.method == expected.method
    assert seen.path == expected.url.raw_path.decode()
    assert (seen.json() if seen.body else None) == (json.loads(expected.content) if expected.content else None)
    for name in ("authorization", "content-type", "accept"):
        assert seen.headers[name] == expected.headers[name]


# -- retries ----------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_a_transient_status_is_retried(status: int) -> None:
    async with control(error(status, "try again"), error(status, "try again")) as (calls, api):
        await calls.accept("rtc_1", SESSION)
    assert len(api.seen) == 3
    assert api.seen[0].body == api.seen[2].body
    assert (calls.stats.requests, calls.stats.retries, calls.stats.failures) == (3, 2, {str(status): 2})


@pytest.mark.anyio
async def test_a_short_retry_after_is_honoured() -> None:
    async with control(error(429, "slow down", retry_after="0.3"), backoff=0.0) as (calls, api):
        start = anyio.current_time()
        await calls.hangup("rtc_1")
        elapsed = anyio.current_time() - start
    assert len(api.seen) == 2
    assert elapsed >= 0.29


@pytest.mark.anyio
async def test_spent_retries_raise_with_the_status_and_message() -> None:
    replies = [error(503, "The service is overloaded.", "overloaded")] * 4
    async with control(*replies, retries=3) as (calls, api):
        with pytest.raises(CallControlError) as caught:
            await calls.accept("rtc_1", SESSION)
    assert len(api.seen) == 4
    assert caught.value.status == 503
    assert caught.value.code == "overloaded"
    assert caught.value.call_id == "rtc_1"
    assert "HTTP 503" in str(caught.value)
    assert "The service is overloaded." in str(caught.value)
    assert calls.stats.failures == {"503": 4}


@pytest.mark.anyio
async def test_the_total_time_is_bounded() -> None:
    replies = [error(503, "down")] * 100
    async with control(*replies, retries=50, backoff=0.1, deadline=0.5) as (calls, api):
        start = anyio.current_time()
        with pytest.raises(CallControlError):
            await calls.hangup("rtc_1")
        elapsed = anyio.current_time() - start
    assert elapsed < 2.0  # deadline 0.5 s: without it, 50 retries would take minutes
    assert 2 <= len(api.seen) < 10


@pytest.mark.anyio
async def test_a_timeout_is_retried() -> None:
    async with control(Reply(delay=5.0), timeout=0.3) as (calls, api):
        await calls.refer("rtc_1", "tel:+14155550123")
    assert len(api.seen) == 2
    assert calls.stats.failures == {"timeout": 1}


@pytest.mark.anyio
async def test_timeouts_spent_raise_without_a_status() -> None:
    async with control(Reply(delay=5.0), Reply(delay=5.0), timeout=0.2, retries=1) as (calls, api):
        with pytest.raises(CallControlError, match="no answer") as caught:
            await calls.hangup("rtc_1")
    assert caught.value.status is None
    assert len(api.seen) == 2


@pytest.mark.anyio
async def test_a_refused_connection_is_retried_then_raised() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    calls = CallControl(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1", retries=2, backoff=0.01)
    with pytest.raises(CallControlError) as caught:
        await calls.hangup("rtc_1")
    await calls.aclose()
    assert caught.value.status is None
    assert calls.stats.requests == 3
    assert calls.stats.failures == {"connection": 3}


# -- outcomes that are not retried -----------------------------------------------------------------


@pytest.mark.anyio
async def test_404_is_call_gone_and_not_retried() -> None:
    async with control(error(404, "Call not found", "call_id_not_found")) as (calls, api):
        with pytest.raises(CallGone) as caught:
            await calls.accept("rtc_1", SESSION)
    assert len(api.seen) == 1
    assert (caught.value.status, caught.value.code) == (404, "call_id_not_found")
    assert "Call not found" in str(caught.value)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "reply",
    [
        error(409, "Conflict"),
        error(400, "A decision was already made for this call.", "decision_already_made"),
        error(409, "Already decided", "decision_already_made"),
    ],
    ids=["409", "400-decision_already_made", "409-decision_already_made"],
)
async def test_another_decision_is_call_taken(reply: Reply) -> None:
    async with control(reply) as (calls, api):
        with pytest.raises(CallTaken) as caught:
            await calls.accept("live_1", LIVE_SESSION, api="live")
    assert len(api.seen) == 1
    assert caught.value.status == reply.status
    assert caught.value.maybe_ours is False


@pytest.mark.anyio
async def test_call_taken_after_an_ambiguous_attempt_may_be_ours() -> None:
    async with control(error(502, "Bad gateway"), error(409, "Taken", "decision_already_made")) as (calls, api):
        with pytest.raises(CallTaken) as caught:
            await calls.accept("rtc_1", SESSION)
    assert len(api.seen) == 2
    assert caught.value.maybe_ours is True


@pytest.mark.anyio
async def test_other_4xx_are_not_retried() -> None:
    async with control(error(400, "Unknown parameter: 'session.voice'.", "unknown_parameter")) as (calls, api):
        with pytest.raises(CallControlError) as caught:
            await calls.accept("rtc_1", SESSION)
    assert len(api.seen) == 1
    assert caught.value.status == 400
    assert "Unknown parameter" in str(caught.value)


@pytest.mark.anyio
async def test_a_non_json_error_body_is_shown() -> None:
    async with control(Reply(400, b"bad things")) as (calls, _):
        with pytest.raises(CallControlError, match="HTTP 400: bad things"):
            await calls.hangup("rtc_1")


@pytest.mark.anyio
async def test_the_key_is_never_in_an_exception() -> None:
    echoes = [
        error(401, f"Incorrect API key provided: {KEY}.", "invalid_api_key"),
        Reply(403, f"Authorization: Bearer {KEY}".encode()),
        error(404, f"no call for key {KEY}"),
    ]
    async with control(*echoes) as (calls, _):
        for _ in echoes:
            with pytest.raises((CallControlError, CallGone)) as caught:
                await calls.hangup("rtc_1")
            shown = str(caught.value) + repr(caught.value) + repr(caught.value.args)
            assert KEY not in shown
            assert KEY[6:] not in shown
    assert KEY not in repr(calls)


# -- configuration and sideband ---------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_WEBSOCKET_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_sideband_urls_from_the_default_base(clean_env: pytest.MonkeyPatch) -> None:
    calls = CallControl(api_key=KEY)
    assert calls.sideband_url("rtc_1") == "wss://api.openai.com/v1/realtime?call_id=rtc_1"
    assert calls.sideband_url("live_1", api="live") == "wss://api.openai.com/v1/live/sessions/live_1/attach"
    assert calls.sideband_headers() == {"Authorization": f"Bearer {KEY}"}
    assert calls.url("accept", "rtc_1") == "https://api.openai.com/v1/realtime/calls/rtc_1/accept"


def test_sideband_urls_follow_the_base_url(clean_env: pytest.MonkeyPatch) -> None:
    local = CallControl(base_url="http://127.0.0.1:8000/v1/")
    assert local.sideband_url("rtc_1") == "ws://127.0.0.1:8000/v1/realtime?call_id=rtc_1"
    assert local.sideband_url("a/b", api="live") == "ws://127.0.0.1:8000/v1/live/sessions/a%2Fb/attach"
    assert local.sideband_headers() == {}  # a local server needs no key
    custom = CallControl(api_key=KEY, base_url="https://proxy.example/v1", websocket_base_url="wss://ws.example/rt")
    assert custom.sideband_url("rtc_1") == "wss://ws.example/rt/realtime?call_id=rtc_1"
    azure = CallControl(api_key=KEY, base_url="https://x.openai.azure.com/openai/v1?api-version=preview")
    assert (
        azure.sideband_url("rtc_1") == "wss://x.openai.azure.com/openai/v1/realtime?api-version=preview&call_id=rtc_1"
    )
    assert (
        azure.url("hangup", "rtc_1")
        == "https://x.openai.azure.com/openai/v1/realtime/calls/rtc_1/hangup?api-version=preview"
    )


def test_environment_variables(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OPENAI_API_KEY", KEY)
    clean_env.setenv("OPENAI_BASE_URL", "https://gateway.example/v1")
    calls = CallControl()
    assert calls.url("refer", "rtc_1") == "https://gateway.example/v1/realtime/calls/rtc_1/refer"
    assert calls.sideband_url("rtc_1") == "wss://gateway.example/v1/realtime?call_id=rtc_1"
    assert calls.sideband_headers() == {"Authorization": f"Bearer {KEY}"}
    clean_env.setenv("OPENAI_WEBSOCKET_BASE_URL", "ws://127.0.0.1:9000/v1")
    assert CallControl().sideband_url("live_1", api="live") == "ws://127.0.0.1:9000/v1/live/sessions/live_1/attach"


def test_a_missing_key_is_a_config_error(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        CallControl()
    with pytest.raises(ValueError, match="HTTP URL"):
        CallControl(api_key=KEY, base_url="ftp://example.com")
    with pytest.raises(ValueError, match="retries"):
        CallControl(api_key=KEY, retries=-1)


@pytest.mark.anyio
async def test_aclose_closes_only_its_own_client() -> None:
    given = httpx.AsyncClient()
    calls = CallControl(api_key=KEY, client=given)
    await calls.aclose()
    assert not given.is_closed
    await given.aclose()
    own = CallControl(api_key=KEY)
    async with own:
        pass
    with pytest.raises(RuntimeError):  # httpx refuses a request on a closed client
        await own.hangup("rtc_1")


@pytest.mark.anyio
async def test_a_given_client_is_used() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        calls = CallControl(api_key=KEY, client=client)
        await calls.hangup("rtc_1")
    assert str(seen[0].url) == "https://api.openai.com/v1/realtime/calls/rtc_1/hangup"


def test_importing_the_library_does_not_import_httpx() -> None:
    code = "import sys, realtime_dispatch; print('httpx' in sys.modules, 'hypercorn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False False"


def test_without_httpx_the_module_imports_and_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['httpx'] = None\n"
        "import realtime_dispatch.telephony._control as control\n"
        "try:\n"
        "    control.CallControl(api_key='sk-x')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "CallControl needs httpx: pip install 'realtime-dispatch[telephony]'"
