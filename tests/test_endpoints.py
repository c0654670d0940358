"""Endpoint URLs, headers and credentials, and that the key never shows."""

from __future__ import annotations

import logging

import pytest

from realtime_dispatch import ConfigError, azure, openai
from realtime_dispatch.transports import HandshakeError, WebSocketTransport, serve_websocket

KEY = "sk-proj-TESTKEY0123456789abcdef"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_WEBSOCKET_BASE_URL",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_KEY",
        "OPENAI_API_VERSION",
    ):
        monkeypatch.delenv(name, raising=False)


def test_openai_ga_url_and_headers() -> None:
    endpoint = openai("gpt-realtime", api_key=KEY)
    assert endpoint.url == "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    assert endpoint.headers == {"Authorization": f"Bearer {KEY}"}
    assert endpoint.api == "ga"


def test_openai_beta_adds_the_beta_header() -> None:
    endpoint = openai("gpt-4o-realtime-preview", api_key=KEY, beta=True)
    assert endpoint.headers["OpenAI-Beta"] == "realtime=v1"
    assert endpoint.api == "beta"
    with pytest.raises(ConfigError, match="needs a model"):
        openai(api_key=KEY, beta=True, call_id="rtc_1")


def test_call_id_attaches_without_a_model() -> None:
    endpoint = openai(call_id="rtc_abc123", api_key=KEY)
    assert endpoint.url == "wss://api.openai.com/v1/realtime?call_id=rtc_abc123"


def test_key_from_environment_and_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        openai("gpt-realtime")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert openai("gpt-realtime").headers["Authorization"] == f"Bearer {KEY}"


def test_base_url_http_becomes_ws_and_local_servers_need_no_key() -> None:
    endpoint = openai("gpt-realtime", base_url="http://127.0.0.1:8765/v1")
    assert endpoint.url == "ws://127.0.0.1:8765/v1/realtime?model=gpt-realtime"
    assert "Authorization" not in endpoint.headers
    with pytest.raises(ConfigError):
        openai("gpt-realtime", base_url="https://proxy.example.com/v1")


def test_extra_query_and_headers() -> None:
    endpoint = openai("m", api_key=KEY, query={"foo": "bar"}, headers={"X-Trace": "1"})
    assert endpoint.url.endswith("?model=m&foo=bar")
    assert endpoint.headers["X-Trace"] == "1"
    assert endpoint.with_query(model="other").url.endswith("?model=other&foo=bar")
    assert endpoint.with_options(max_size=1).options.max_size == 1


def test_azure_classic_and_v1_styles() -> None:
    classic = azure("my-deploy", endpoint="https://res.openai.azure.com", api_key="azkey", api_version="2025-04-01")
    assert classic.url == "wss://res.openai.azure.com/openai/realtime?api-version=2025-04-01&deployment=my-deploy"
    assert classic.headers == {"api-key": "azkey"}
    v1 = azure("my-deploy", endpoint="https://res.openai.azure.com", token="entra-token")
    assert v1.url == "wss://res.openai.azure.com/openai/v1/realtime?model=my-deploy"
    assert v1.headers == {"Authorization": "Bearer entra-token"}


def test_azure_needs_endpoint_and_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="AZURE_OPENAI_ENDPOINT"):
        azure("d", api_key="k")
    with pytest.raises(ConfigError, match="credentials"):
        azure("d", endpoint="https://res.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://env.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "envkey")
    assert azure("d").headers == {"api-key": "envkey"}


def test_the_key_never_appears_in_repr_or_str() -> None:
    endpoint = openai("gpt-realtime", api_key=KEY)
    assert KEY not in repr(endpoint)
    assert KEY not in str(endpoint)
    assert "<redacted>" in repr(endpoint)
    assert "azkey" not in repr(azure("d", endpoint="https://r.openai.azure.com", api_key="azkey"))


@pytest.mark.anyio
async def test_refused_connection_error_does_not_leak_the_key(caplog: pytest.LogCaptureFixture) -> None:
    from websockets.datastructures import Headers
    from websockets.http11 import Request, Response

    def refuse(request: Request) -> Response:
        # A hostile or careless server echoing the credential back in its error body.
        body = f"bad key {request.headers['Authorization']}".encode()
        return Response(401, "Unauthorized", Headers([("Content-Length", str(len(body)))]), body)

    async def never(transport: WebSocketTransport) -> None:
        raise AssertionError("must not be reached")

    caplog.set_level(logging.DEBUG)
    async with serve_websocket(never, accept=refuse) as port:
        endpoint = openai("gpt-realtime", api_key=KEY, base_url=f"ws://127.0.0.1:{port}/v1")
        with pytest.raises(HandshakeError) as caught:
            await endpoint()
    assert caught.value.status == 401
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value.args)
    assert KEY not in caplog.text


@pytest.mark.anyio
async def test_token_provider_is_awaited_for_each_connection() -> None:
    tokens = iter(["t1", "t2"])
    seen: list[str] = []

    async def provider() -> str:
        return next(tokens)

    async def record(transport: WebSocketTransport) -> None:
        assert transport.request is not None
        seen.append(transport.request.headers["Authorization"])

    async with serve_websocket(record) as port:
        endpoint = azure("d", endpoint=f"http://127.0.0.1:{port}", token_provider=provider)
        for _ in range(2):
            transport = await endpoint()
            await transport.aclose()
    assert seen == ["Bearer t1", "Bearer t2"]


@pytest.mark.anyio
async def test_an_app_refuses_an_endpoint_of_the_other_api() -> None:
    from realtime_dispatch import RealtimeApp

    with pytest.raises(ConfigError, match="beta"):
        async with RealtimeApp().connect(openai("gpt-4o-realtime-preview", api_key=KEY, beta=True)):
            pass


@pytest.mark.anyio
async def test_each_endpoint_kind_sends_its_url_and_headers_to_a_real_server() -> None:
    seen: list[tuple[str, dict[str, str]]] = []
    names = ("Authorization", "api-key", "OpenAI-Beta", "X-Extra", "User-Agent")

    async def record(transport: WebSocketTransport) -> None:
        assert transport.request is not None
        headers = transport.request.headers
        seen.append((transport.request.path, {n: headers[n] for n in names if n in headers}))

    async def provider() -> str:
        return "entra-token"

    async with serve_websocket(record) as port:
        base = f"ws://127.0.0.1:{port}"
        endpoints = [
            openai("gpt-realtime", api_key=KEY, base_url=f"{base}/v1", headers={"X-Extra": "1"}),
            openai("gpt-4o-realtime-preview", api_key=KEY, base_url=f"{base}/v1", beta=True),
            openai(call_id="rtc_123", api_key=KEY, base_url=f"{base}/v1"),
            azure("dep", endpoint=f"http://127.0.0.1:{port}", api_key="azkey", api_version="2025-04-01-preview"),
            azure("dep", endpoint=f"http://127.0.0.1:{port}", token_provider=provider),
        ]
        for endpoint in endpoints:
            transport = await endpoint()
            await transport.aclose()
    agent = {"User-Agent": "realtime-dispatch"}
    assert seen == [
        ("/v1/realtime?model=gpt-realtime", {"Authorization": f"Bearer {KEY}", "X-Extra": "1", **agent}),
        (
            "/v1/realtime?model=gpt-4o-realtime-preview",
            {"Authorization": f"Bearer {KEY}", "OpenAI-Beta": "realtime=v1", **agent},
        ),
        ("/v1/realtime?call_id=rtc_123", {"Authorization": f"Bearer {KEY}", **agent}),
        ("/openai/realtime?api-version=2025-04-01-preview&deployment=dep", {"api-key": "azkey", **agent}),
        ("/openai/v1/realtime?model=dep", {"Authorization": "Bearer entra-token", **agent}),
    ]
