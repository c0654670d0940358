"""Call control for SIP calls: accept, reject, transfer (REFER) or hang up a call over REST,
for the Realtime API (``/realtime/calls/{call_id}/...``, ``api="ga"``) and GPT-Live
(``/live/sessions/{session_id}/...``, ``api="live"``), and the sideband WebSocket URL to attach to
an accepted call.

``httpx`` (the ``telephony`` extra) is imported when a ``CallControl`` is made, never when this
module is: ``import realtime_dispatch.telephony`` works without it.

Outcomes: ``None`` on a 2xx; ``CallGone`` on a 404 (the caller hung up, or the call expired);
``CallTaken`` on a 409 or an error coded ``decision_already_made`` (another worker, or the other
runtime, decided first); ``CallControlError`` for any other 4xx (not retried) and for 5xx, 429,
timeouts and connection errors once the retries are spent. No message carries the API key.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import anyio

from .._endpoints import ConfigError
from .._redact import REDACTED, redact_text

if TYPE_CHECKING:
    import httpx

__all__ = (
    "CallControl",
    "CallControlError",
    "CallControlStats",
    "CallGone",
    "CallTaken",
    "is_local_url",
)

logger = logging.getLogger("realtime_dispatch.telephony")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
Api = Literal["ga", "live"]

# A Retry-After longer than this is not waited for: the exponential backoff applies instead (a
# ringing caller will not wait a minute for us).
_MAX_RETRY_AFTER = 10.0
# The longest single wait between two attempts.
_MAX_BACKOFF = 8.0
# Characters left as they are in a path segment: RFC 3986 ``pchar`` (as the official SDK quotes ids).
_PATH_SAFE = "!$&'()*+,;=:@"
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class _CallFailure(Exception):
    """What the three call-control exceptions share: the HTTP status (None when no response came),
    the service's error code (``call_id_not_found``, ``decision_already_made``...) and the call id."""

    status: int | None = None
    code: str | None = None
    call_id: str | None = None

    def __init__(
        self, message: str, *, status: int | None = None, code: str | None = None, call_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.call_id = call_id


class CallGone(_CallFailure):
    """404 (``call_id_not_found``): the caller hung up or the call expired. Not an error for a
    server (webhooks are retried after a hang-up too): log it at INFO and move on."""


class CallTaken(_CallFailure):
    """409, or an error coded ``decision_already_made``: another worker (or the other runtime,
    Realtime or GPT-Live) accepted or rejected the call first.

    ``maybe_ours`` is True when an earlier attempt of this same request may have reached the
    service (it timed out, lost its connection after sending, or got a 5xx) before the retry that
    was refused: the decision that won may then be our own. Attach the sideband to find out.
    """

    maybe_ours: bool = False


class CallControlError(_CallFailure):
    """Any other 4xx (not retried), or a 5xx, 429, timeout or connection error after the retries.
    ``status`` is None for a transport failure (no response)."""


@dataclass
class CallControlStats:
    """Counters for metrics. ``requests``: HTTP attempts sent (retries included); ``retries``:
    attempts that were a retry; ``failures``: failed attempts by HTTP status (``"404"``,
    ``"503"``...) or ``"timeout"`` / ``"connection"`` when no response came."""

    requests: int = 0
    retries: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    def _count_failure(self, key: str) -> None:
        self.failures[key] = self.failures.get(key, 0) + 1


def is_local_url(url: str) -> bool:
    """True for a server on this machine (127.0.0.1, localhost, ::1): tests and the simulator,
    which need no API key."""
    return (urlsplit(url).hostname or "") in _LOCAL_HOSTS


def _websocket_base(base_url: str) -> str:
    parts = urlsplit(base_url)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ConfigError(f"not an HTTP or WebSocket URL: {redact_text(base_url)!r}")
    return urlunsplit(parts._replace(scheme=scheme))


def _join(base: str, path: str, params: Mapping[str, str] | None = None) -> str:
    """``path`` appended to ``base``'s path, ``base``'s query kept (an Azure ``api-version``)."""
    parts = urlsplit(base)
    query = parts.query
    if params:
        query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + path, query=query))


def _segment(call_id: str) -> str:
    if not isinstance(call_id, str) or not call_id or call_id in (".", ".."):
        raise ValueError(f"not a call id: {call_id!r}")
    return quote(call_id, safe=_PATH_SAFE)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("realtime-dispatch")
    except Exception:
        return "unknown"


class CallControl:
    """The call-control REST client: ``accept``, ``reject``, ``refer``, ``hangup``, for the
    Realtime API (``api="ga"``, ``call_id`` from ``realtime.call.incoming``) or GPT-Live
    (``api="live"``, ``session_id`` from ``live.transport.incoming``), and the sideband URL.

    - ``api_key``: ``OPENAI_API_KEY`` when None; a local ``base_url`` needs none.
    - ``base_url``: ``OPENAI_BASE_URL`` or ``https://api.openai.com/v1``.
    - ``websocket_base_url``: ``OPENAI_WEBSOCKET_BASE_URL``, else ``base_url`` with ``https`` made
      ``wss`` (``http``: ``ws``), as the official SDK does.
    - ``client``: an ``httpx.AsyncClient`` to share (not closed by ``aclose``); one is made otherwise.
    - Retries: 5xx, 429, timeouts and connection errors are tried again up to ``retries`` more
      times, after ``backoff`` seconds doubling each time (with jitter, at most 8 s; a 429's or
      503's ``Retry-After`` of up to 10 s is honoured instead), every attempt limited to
      ``timeout`` seconds and the whole call to ``deadline`` seconds. Other 4xx are not retried.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        websocket_base_url: str | None = None,
        client: httpx.AsyncClient | None = None,
        retries: int = 3,
        timeout: float = 10.0,
        backoff: float = 0.25,
        deadline: float = 30.0,
    ) -> None:
        try:
            import httpx
        except ImportError:
            raise ImportError(
                "CallControl needs httpx: pip install 'realtime-dispatch[telephony]'", name="httpx"
            ) from None
        if retries < 0:
            raise ValueError(f"retries must be 0 or more, not {retries!r}")
        if not (timeout > 0 and math.isfinite(timeout)):
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if not (backoff >= 0 and math.isfinite(backoff)):
            raise ValueError(f"backoff must be 0 or more seconds, not {backoff!r}")
        if not deadline > 0:
            raise ValueError(f"deadline must be a positive number of seconds, not {deadline!r}")
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        if urlsplit(self.base_url).scheme not in ("http", "https"):
            raise ConfigError(f"not an HTTP URL: {redact_text(self.base_url)!r}")
        ws_base = websocket_base_url or os.environ.get("OPENAI_WEBSOCKET_BASE_URL") or self.base_url
        self.websocket_base_url = _websocket_base(ws_base).rstrip("/")
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        if not key and not is_local_url(self.base_url):
            raise ConfigError("no OpenAI API key: pass api_key= or set OPENAI_API_KEY")
        self._key = key or None
        self.retries = retries
        self.timeout = float(timeout)
        self.backoff = float(backoff)
        self.deadline = float(deadline)
        self.stats = CallControlStats()
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=self.timeout)
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "*/*",
            "User-Agent": f"realtime-dispatch/{_version()}",
        }
        if self._key:
            self._headers["Authorization"] = f"Bearer {self._key}"

    def __repr__(self) -> str:
        return f"CallControl(base_url={redact_text(self.base_url)!r})"

    # -- the four operations --------------------------------------------------------------------

    async def accept(self, call_id: str, session: Mapping[str, Any], *, api: Api = "ga") -> None:
        """Answer the call with this session configuration. ``ga``: the session fields are the
        body (``type: "realtime"`` added if absent); ``live``: ``{"session": {..., "type": "live"}}``."""
        if not isinstance(session, Mapping):
            raise TypeError(f"session must be a mapping, not {type(session).__name__}")
        if api == "live":
            body: dict[str, Any] = {"session": {**session, "type": "live"}}
        else:
            body = {"type": "realtime", **session} if "type" not in session else dict(session)
        await self._post("accept", call_id, body, api)

    async def reject(self, call_id: str, status_code: int = 603, *, api: Api = "ga") -> None:
        """Decline the call with a SIP status (300..699; 603 Decline by default, 486 Busy Here...)."""
        if isinstance(status_code, bool) or not isinstance(status_code, int) or not 300 <= status_code <= 699:
            raise ValueError(f"a SIP rejection status is from 300 to 699, not {status_code!r}")
        await self._post("reject", call_id, {"status_code": status_code}, api)

    async def refer(self, call_id: str, target_uri: str, *, api: Api = "ga") -> None:
        """Transfer the call (SIP REFER) to ``tel:+14155550123`` or ``sip:agent@example.com``."""
        if not isinstance(target_uri, str) or not target_uri.strip():
            raise ValueError(f"refer needs a target URI (tel: or sip:), not {target_uri!r}")
        await self._post("refer", call_id, {"target_uri": target_uri}, api)

    async def hangup(self, call_id: str, *, api: Api = "ga") -> None:
        """End the call."""
        await self._post("hangup", call_id, None, api)

    # -- the sideband ----------------------------------------------------------------------------

    def sideband_url(self, call_id: str, *, api: Api = "ga") -> str:
        """The WebSocket that attaches to an accepted call: ``{ws}/realtime?call_id=...`` (ga) or
        ``{ws}/live/sessions/{session_id}/attach`` (live)."""
        _check_api(api)
        if api == "live":
            return _join(self.websocket_base_url, f"/live/sessions/{_segment(call_id)}/attach")
        _segment(call_id)
        return _join(self.websocket_base_url, "/realtime", {"call_id": call_id})

    def sideband_headers(self) -> dict[str, str]:
        """``{"Authorization": "Bearer ..."}`` for the sideband (``{}`` without a key)."""
        return {"Authorization": f"Bearer {self._key}"} if self._key else {}

    async def aclose(self) -> None:
        """Close the HTTP client this object made (one given to it stays open)."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> CallControl:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- requests --------------------------------------------------------------------------------

    def url(self, action: str, call_id: str, *, api: Api = "ga") -> str:
        """The REST URL of ``action`` (accept, reject, refer, hangup) for this call."""
        _check_api(api)
        prefix = "/live/sessions/" if api == "live" else "/realtime/calls/"
        return _join(self.base_url, f"{prefix}{_segment(call_id)}/{action}")

    async def _post(self, action: str, call_id: str, body: dict[str, Any] | None, api: Api) -> None:
        import httpx

        url = self.url(action, call_id, api=api)
        content = b"" if body is None else json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        what = f"{action} {call_id!r}"
        clock = anyio.current_time
        deadline = clock() + self.deadline
        maybe_sent = False  # an earlier attempt may have reached the service
        attempt = 0
        while True:
            if attempt:
                self.stats.retries += 1
            self.stats.requests += 1
            budget = min(self.timeout, max(deadline - clock(), 0.001))
            response: httpx.Response | None = None
            failure: CallControlError
            sent = True
            try:
                with anyio.fail_after(budget):
                    response = await self._client.post(
                        url, content=content, headers=self._headers, timeout=httpx.Timeout(budget)
                    )
            except (TimeoutError, httpx.TimeoutException) as exc:
                sent = not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
                self.stats._count_failure("timeout")
                failure = CallControlError(f"{what}: no answer within {budget:.3g} s", call_id=call_id)
            except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                sent = not isinstance(exc, httpx.ConnectError)
                self.stats._count_failure("connection")
                failure = CallControlError(f"{what}: {self._describe(exc)}", call_id=call_id)
            except httpx.HTTPError as exc:  # a bad URL, a proxy refusing...: not worth a retry
                self.stats._count_failure("connection")
                raise CallControlError(f"{what}: {self._describe(exc)}", call_id=call_id) from None
            if response is not None:
                status = response.status_code
                if 200 <= status < 300:
                    return
                self.stats._count_failure(str(status))
                code, message = self._error_of(response)
                text = f"{what}: HTTP {status}" + (f" ({code})" if code else "") + (f": {message}" if message else "")
                if status == 404:
                    raise CallGone(text, status=status, code=code, call_id=call_id)
                if status == 409 or code == "decision_already_made":
                    taken = CallTaken(text, status=status, code=code, call_id=call_id)
                    taken.maybe_ours = maybe_sent
                    raise taken
                failure = CallControlError(text, status=status, code=code, call_id=call_id)
                if not (status == 429 or status >= 500):
                    raise failure
                sent = status != 429
            maybe_sent = maybe_sent or sent
            if attempt >= self.retries:
                raise failure
            delay = self._delay(attempt, response)
            if clock() + delay >= deadline:
                raise failure
            logger.warning("%s; retrying in %.2f s (attempt %d of %d)", failure, delay, attempt + 2, self.retries + 1)
            await anyio.sleep(delay)
            attempt += 1

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            waited = _retry_after(response.headers)
            if waited is not None and 0 <= waited <= _MAX_RETRY_AFTER:
                return waited
        return min(self.backoff * 2.0**attempt, _MAX_BACKOFF) * (1 - 0.25 * random.random())

    def _error_of(self, response: httpx.Response) -> tuple[str | None, str]:
        """The service's error code and message, from ``{"error": {"code", "message"}}`` or the text."""
        code: str | None = None
        message = ""
        try:
            data = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            data = None
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            code = _text(error.get("code")) or None
            message = _text(error.get("message"))
        elif isinstance(error, str):
            message = error
        elif data is None:
            message = response.content[:300].decode("utf-8", "replace").strip()
        return code, self._scrub(message)

    def _describe(self, exc: BaseException) -> str:
        return self._scrub(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)

    def _scrub(self, text: str) -> str:
        if self._key:
            text = text.replace(self._key, REDACTED)
        return redact_text(text)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _check_api(api: str) -> None:
    if api not in ("ga", "live"):
        raise ValueError(f"api is 'ga' or 'live', not {api!r}")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return float(ms) / 1000
    except ValueError:
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return float(when.timestamp() - time.time())
