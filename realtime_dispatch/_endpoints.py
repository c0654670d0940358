"""Where to connect and how to authenticate: OpenAI (Realtime GA or beta, GPT-Live, Translation), Azure, any URL.

An ``Endpoint`` is a transport factory: ``app.run(openai("gpt-realtime"))``. It holds the
credentials, and never shows them: not in its repr, not in an exception, not in a log.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from ._redact import is_credential_name, redact, redact_text
from .transports import Transport, WebSocketOptions, connect_websocket

__all__ = ("ConfigError", "Endpoint", "azure", "live", "openai", "translation")

OPENAI_BASE_URL = "wss://api.openai.com/v1"
_SECRET_HEADERS = frozenset({"authorization", "api-key", "openai-api-key", "x-api-key"})


class ConfigError(ValueError):
    """The connection cannot be configured (a missing key, model or endpoint). Raised
    before any network access."""


@dataclass(frozen=True)
class Endpoint:
    """A Realtime WebSocket endpoint: the URL, the headers (credentials included) and
    the connection options. Await it (``await endpoint()``) to connect.

    ``token_provider``, when set, is awaited before each connection for a fresh bearer
    token (Entra ID tokens, ephemeral keys).
    """

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    options: WebSocketOptions = field(default_factory=WebSocketOptions)
    token_provider: Callable[[], Awaitable[str]] | None = None
    api: str = "ga"

    def __repr__(self) -> str:
        shown = redact(dict(self.headers))
        return f"Endpoint(url={redact_text(self.url)!r}, headers={shown!r}, api={self.api!r})"

    __str__ = __repr__

    async def __call__(self) -> Transport:
        headers = dict(self.headers)
        if self.token_provider is not None:
            headers["Authorization"] = f"Bearer {await self.token_provider()}"
        try:
            return await connect_websocket(self.url, headers, self.options)
        except Exception as exc:
            _scrub(exc, headers)
            raise

    def with_options(self, **changes: Any) -> Endpoint:
        """A copy with some ``WebSocketOptions`` changed."""
        return replace(self, options=replace(self.options, **changes))

    def with_query(self, **params: str) -> Endpoint:
        """A copy with query parameters added or replaced."""
        return replace(self, url=_with_query(self.url, params))


def openai(
    model: str | None = None,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    call_id: str | None = None,
    beta: bool = False,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    options: WebSocketOptions | None = None,
) -> Endpoint:
    """The OpenAI Realtime endpoint: ``wss://api.openai.com/v1/realtime?model=...``.

    - ``api_key`` defaults to ``OPENAI_API_KEY``; an ephemeral client secret (``ek_...``)
      works the same way.
    - ``base_url`` (or ``OPENAI_WEBSOCKET_BASE_URL``) points at another server speaking the
      protocol: a proxy, an OpenAI-compatible server, the built-in simulator
      (``ws://127.0.0.1:PORT/v1``). ``http(s)`` is turned into ``ws(s)``.
    - ``call_id`` attaches to an existing SIP or WebRTC call (sideband control); the
      model is then optional.
    - ``beta=True`` speaks the beta protocol (``OpenAI-Beta: realtime=v1``; model required).
    """
    key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
    base = base_url or os.environ.get("OPENAI_WEBSOCKET_BASE_URL") or OPENAI_BASE_URL
    if not key and _needs_key(base):
        raise ConfigError("no OpenAI API key: pass api_key= or set OPENAI_API_KEY")
    if beta and not model:
        raise ConfigError("the beta Realtime API needs a model")
    if not model and not call_id:
        raise ConfigError("give a model (for example 'gpt-realtime') or a call_id to attach to")
    params: dict[str, str] = {}
    if model:
        params["model"] = model
    params.update(query or {})
    if call_id:
        params["call_id"] = call_id
    url = _with_query(_ws_scheme(base).rstrip("/") + "/realtime", params)
    all_headers: dict[str, str] = {}
    if key:
        all_headers["Authorization"] = f"Bearer {key}"
    if beta:
        all_headers["OpenAI-Beta"] = "realtime=v1"
    all_headers.update(headers or {})
    return Endpoint(url, all_headers, options or WebSocketOptions(), api="beta" if beta else "ga")


def azure(
    deployment: str,
    *,
    endpoint: str | None = None,
    api_key: str | None = None,
    api_version: str | None = None,
    token: str | None = None,
    token_provider: Callable[[], Awaitable[str]] | None = None,
    beta: bool = False,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    options: WebSocketOptions | None = None,
) -> Endpoint:
    """An Azure OpenAI Realtime deployment.

    With ``api_version`` (or ``OPENAI_API_VERSION``): the classic
    ``wss://RESOURCE.openai.azure.com/openai/realtime?api-version=...&deployment=...``.
    Without: the v1 style ``.../openai/v1/realtime?model=DEPLOYMENT``.
    ``endpoint`` defaults to ``AZURE_OPENAI_ENDPOINT``. Auth: ``api_key`` (or
    ``AZURE_OPENAI_API_KEY``) as the ``api-key`` header, or an Entra ID bearer ``token``
    / ``token_provider`` (awaited before each connection).
    """
    resource = endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT")
    if not resource:
        raise ConfigError("no Azure endpoint: pass endpoint= or set AZURE_OPENAI_ENDPOINT")
    if not deployment:
        raise ConfigError("Azure Realtime needs a deployment name")
    key = api_key if api_key is not None else os.environ.get("AZURE_OPENAI_API_KEY")
    if not (key or token or token_provider):
        raise ConfigError("no Azure credentials: pass api_key=, token= or token_provider= (or AZURE_OPENAI_API_KEY)")
    version = api_version or os.environ.get("OPENAI_API_VERSION")
    base = _ws_scheme(resource).rstrip("/")
    if version:
        path = base if base.endswith("/openai") else base + "/openai"
        url = _with_query(path + "/realtime", {"api-version": version, "deployment": deployment, **(query or {})})
    else:
        path = base if base.endswith("/openai/v1") else base + "/openai/v1"
        url = _with_query(path + "/realtime", {"model": deployment, **(query or {})})
    all_headers: dict[str, str] = {}
    if key:
        all_headers["api-key"] = key
    elif token:
        all_headers["Authorization"] = f"Bearer {token}"
    if beta:
        all_headers["OpenAI-Beta"] = "realtime=v1"
    all_headers.update(headers or {})
    return Endpoint(
        url,
        all_headers,
        options or WebSocketOptions(),
        token_provider=None if key else token_provider,
        api="beta" if beta else "ga",
    )


def live(
    session_id: str | None = None,
    *,
    attach: bool = False,
    fork: bool = False,
    graceful_close: bool | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    azure_endpoint: str | None = None,
    headers: Mapping[str, str] | None = None,
    options: WebSocketOptions | None = None,
) -> Endpoint:
    """A GPT-Live WebSocket: ``wss://api.openai.com/v1/live/sessions`` (a new session; the model goes
    in the app's ``session``, never in the URL), ``attach=True`` with ``session_id``: a sideband to a
    running WebRTC or SIP session (``/live/sessions/{id}/attach``, ``graceful_close`` as its query),
    ``fork=True``: a new session forked from a stored one (``/live/sessions/{id}/fork``).

    ``api_key`` defaults to ``OPENAI_API_KEY``; ``base_url`` (or ``OPENAI_WEBSOCKET_BASE_URL``) to
    OpenAI's, e.g. the simulator's ``ws://127.0.0.1:PORT/v1``. ``azure_endpoint`` (a resource URL)
    uses Azure Foundry's ``/openai/v1/live/...`` with the key as ``api-key``. No subprotocol and no
    ``OpenAI-Beta`` header (GPT-Live has neither).
    """
    if attach and fork:
        raise ConfigError("a GPT-Live connection attaches to a session or forks it, not both")
    if (attach or fork) and not session_id:
        raise ConfigError("attach and fork need the session_id of the session to attach to or fork")
    if session_id and not (attach or fork):
        raise ConfigError("a new GPT-Live session has no id yet: pass attach=True or fork=True with session_id")
    if graceful_close is not None and not attach:
        raise ConfigError("graceful_close is a sideband's (attach=True) option")
    if azure_endpoint:
        key = api_key if api_key is not None else os.environ.get("AZURE_OPENAI_API_KEY")
        base = _ws_scheme(azure_endpoint).rstrip("/")
        base = base if base.endswith("/openai/v1") else base + "/openai/v1"
        auth = {"api-key": key} if key else {}
    else:
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        base = _ws_scheme(base_url or os.environ.get("OPENAI_WEBSOCKET_BASE_URL") or OPENAI_BASE_URL).rstrip("/")
        auth = {"Authorization": f"Bearer {key}"} if key else {}
    if not key and _needs_key(base):
        raise ConfigError(
            "no API key: pass api_key= or set " + ("AZURE_OPENAI_API_KEY" if azure_endpoint else "OPENAI_API_KEY")
        )
    url = base + "/live/sessions"
    if session_id:
        url += f"/{quote(session_id, safe='')}/" + ("attach" if attach else "fork")
    if graceful_close is not None:
        url = _with_query(url, {"graceful_close": "true" if graceful_close else "false"})
    return Endpoint(url, {**auth, **(headers or {})}, options or WebSocketOptions(), api="live")


def translation(
    model: str = "gpt-realtime-translate",
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    headers: Mapping[str, str] | None = None,
    options: WebSocketOptions | None = None,
) -> Endpoint:
    """A Realtime Translation WebSocket: ``wss://api.openai.com/v1/realtime/translations?model=...``
    (``model`` is required there; one session translates into one language). ``api_key`` and
    ``base_url`` as for ``openai()``."""
    if not model:
        raise ConfigError("Realtime Translation needs a model (e.g. 'gpt-realtime-translate')")
    key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
    base = _ws_scheme(base_url or os.environ.get("OPENAI_WEBSOCKET_BASE_URL") or OPENAI_BASE_URL).rstrip("/")
    if not key and _needs_key(base):
        raise ConfigError("no OpenAI API key: pass api_key= or set OPENAI_API_KEY")
    url = _with_query(base + "/realtime/translations", {"model": model})
    auth = {"Authorization": f"Bearer {key}"} if key else {}
    return Endpoint(url, {**auth, **(headers or {})}, options or WebSocketOptions(), api="translation")


def _ws_scheme(url: str) -> str:
    parts = urlsplit(url)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ConfigError(f"not a WebSocket or HTTP URL: {url!r}")
    return urlunsplit(parts._replace(scheme=scheme))


def _with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


def _needs_key(base: str) -> bool:
    """Local servers (the simulator, tests) need no key; anything else does."""
    host = urlsplit(_ws_scheme(base)).hostname or ""
    return host not in ("127.0.0.1", "localhost", "::1")


def _scrub(exc: BaseException, headers: Mapping[str, str]) -> None:
    """Remove credentials from an exception's message, in place."""
    secrets = [v for k, v in headers.items() if (k.lower() in _SECRET_HEADERS or is_credential_name(k)) and v]
    secrets += [v.split(" ", 1)[1] for v in secrets if " " in v]
    if not secrets:
        return
    args = []
    for arg in exc.args:
        if isinstance(arg, str):
            for secret in secrets:
                arg = arg.replace(secret, "<redacted>")
        args.append(arg)
    exc.args = tuple(args)
    for name, value in list(vars(exc).items()):  # HandshakeError.body, and any other text kept on it
        if isinstance(value, str):
            for secret in secrets:
                value = value.replace(secret, "<redacted>")
            setattr(exc, name, redact_text(value))
