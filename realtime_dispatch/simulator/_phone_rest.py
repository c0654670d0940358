"""The call-control REST API of a ``PhoneNetwork``, as a plain ASGI app served by hypercorn.

- ``POST /v1/realtime/calls/{call_id}/accept`` (a Realtime session, ``type: "realtime"``), ``/reject``
  (``{status_code?}``, 603 by default, 300..699), ``/refer`` (``{target_uri}``), ``/hangup``;
- ``POST /v1/live/sessions/{session_id}/accept`` (``{session: {type: "live", model, ...}}``), ``/reject``
  (``status_code`` required), ``/refer``, ``/hangup``.

200 with an empty body when done; 404 ``call_id_not_found`` for a call that is unknown or over; 409
``decision_already_made`` for a second accept or reject; 400 for a malformed body; 401 without a key when
the network requires one. The prefix before ``/realtime`` or ``/live`` is free (``/v1``, ``/openai/v1``).
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from .. import events
from ..events import live as lv
from ._live import unknown_parameter

if TYPE_CHECKING:
    from ._phone import Call, CallProtocol, PhoneNetwork

__all__ = ("CallControlApp", "serve_asgi", "serve_rest")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_PATH = re.compile(r"/(realtime/calls|live/sessions)/([^/]+)/(accept|reject|refer|hangup)/?")
_MAX_BODY = 1 << 20


class _Refusal(Exception):
    def __init__(self, status: int, message: str, code: str | None, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


def _error_body(message: str, code: str | None, param: str | None) -> bytes:
    return msgspec.json.encode(
        {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    )


class CallControlApp:
    """The ASGI app: call control for the calls a ``PhoneNetwork`` placed."""

    def __init__(self, network: PhoneNetwork) -> None:
        self.network = network

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        try:
            status = await self.handle(scope, receive)
        except _Refusal as refusal:
            body = _error_body(refusal.message, refusal.code, refusal.param)
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    async def handle(self, scope: Scope, receive: Receive) -> int:
        found = _PATH.search(scope["path"])
        if found is None or found.end() != len(scope["path"]):
            raise _Refusal(404, f"Invalid URL ({scope['method']} {scope['path']})", None)
        if scope["method"] != "POST":
            raise _Refusal(405, f"Method not allowed: {scope['method']}", None)
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        if self.network.require_key:
            scheme, _, token = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise _Refusal(401, "You didn't provide an API key.", None)
        body = await _read(receive)
        protocol: CallProtocol = "live" if found.group(1) == "live/sessions" else "realtime"
        call_id, action = found.group(2), found.group(3)
        arrived = time.monotonic()
        call = self.network.calls.get(call_id)
        try:
            status = await self.act(action, protocol, call_id, body)
        except _Refusal as refusal:
            if call is not None:
                self.network.note(call, action, arrived, refusal.status, refusal.code)
            raise
        if call is not None:
            self.network.note(call, action, arrived, status, None)
        return status

    async def act(self, action: str, protocol: CallProtocol, call_id: str, body: bytes) -> int:
        data = _json(body)
        if action == "accept" and self.network.accept_delay > 0:
            await anyio.sleep(self.network.accept_delay)
        call = self.network.find(call_id, protocol)
        if call is None:
            noun = "Session" if protocol == "live" else "Call"
            raise _Refusal(404, f"{noun} with id '{call_id}' not found.", "call_id_not_found",
                           "session_id" if protocol == "live" else "call_id")  # fmt: skip
        if action == "accept":
            self.accept(call, protocol, data)
        elif action == "reject":
            status_code = _status_code(data, required=protocol == "live")
            _decide(call)
            call.record.reject_status = status_code
            call.end("reject")
        elif action == "refer":
            target = data.get("target_uri")
            if not isinstance(target, str) or not target.strip():
                raise _Refusal(400, "Missing required parameter: 'target_uri'.", "missing_required_parameter",
                               "target_uri")  # fmt: skip
            if call.record.state != "accepted":
                raise _Refusal(400, "Only an accepted call can be referred.", "invalid_request", None)
            call.record.referred_to = target
            call.end("refer")
        else:
            call.end("hangup")
        return 200

    def accept(self, call: Call, protocol: CallProtocol, data: dict[str, Any]) -> None:
        config: Any = data
        if protocol == "live":
            config = data.get("session")
            if not isinstance(config, dict):
                raise _Refusal(400, "Missing required parameter: 'session'.", "missing_required_parameter", "session")
            if config.get("type") != "live":
                raise _Refusal(400, "Invalid value for 'session.type': expected 'live'.", "invalid_value",
                               "session.type")  # fmt: skip
            if not isinstance(config.get("model"), str) or not config["model"]:
                raise _Refusal(400, "Missing required parameter: 'session.model'.", "missing_required_parameter",
                               "session.model")  # fmt: skip
            unknown = unknown_parameter({key: value for key, value in config.items() if key != "type"})
            if unknown is not None:
                raise _Refusal(400, f"Unknown parameter: '{unknown}'.", "unknown_parameter", unknown)
            try:
                session: events.Session | lv.SessionConfig = msgspec.convert(
                    {key: value for key, value in config.items() if key != "type"}, lv.SessionConfig
                )
            except msgspec.ValidationError as exc:
                raise _Refusal(400, f"Invalid session: {exc}", "invalid_value", None) from None
        else:
            kind = data.get("type")
            if kind is None:
                raise _Refusal(400, "Missing required parameter: 'type'.", "missing_required_parameter", "type")
            if kind != "realtime":
                raise _Refusal(400, f"Invalid value: '{kind}'. Supported values are: 'realtime'.", "invalid_value",
                               "type")  # fmt: skip
            try:
                session = msgspec.convert(data, events.Session)
            except msgspec.ValidationError as exc:
                raise _Refusal(400, f"Invalid session: {exc}", "invalid_value", None) from None
        _decide(call)
        self.network.start(call, session, config)


def _decide(call: Call) -> None:
    if call.decided.is_set():
        raise _Refusal(409, "A decision has already been made for this call.", "decision_already_made", None)
    call.decided.set()


def _status_code(data: dict[str, Any], *, required: bool) -> int:
    value = data.get("status_code")
    if value is None:
        if required:
            raise _Refusal(400, "Missing required parameter: 'status_code'.", "missing_required_parameter",
                           "status_code")  # fmt: skip
        return 603
    if isinstance(value, bool) or not isinstance(value, int) or not 300 <= value <= 699:
        raise _Refusal(400, f"Invalid 'status_code': {value!r}. Expected an integer from 300 to 699.",
                       "invalid_value", "status_code")  # fmt: skip
    return value


async def _read(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            raise _Refusal(413, "Request body too large.", None)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _json(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise _Refusal(400, "We could not parse the JSON body of your request.", "invalid_json") from None
    if not isinstance(data, dict):
        raise _Refusal(400, "The body of your request must be a JSON object.", "invalid_json")
    return data


@asynccontextmanager
async def serve_rest(network: PhoneNetwork, host: str, port: int) -> AsyncIterator[str]:
    """Serve ``CallControlApp(network)`` on ``host:port`` (0: a free one) while the block runs;
    yields ``http://host:port/v1``."""
    async with serve_asgi(CallControlApp(network), host, port) as bound:
        shown = f"[{host}]" if ":" in host else host
        yield f"http://{shown}:{bound}/v1"


@asynccontextmanager
async def serve_asgi(app: Callable[..., Awaitable[None]], host: str, port: int) -> AsyncIterator[int]:
    """Serve an ASGI app with hypercorn on ``host:port`` (0: a free one) while the block runs, on asyncio
    or trio, whichever is running; yields the port. Connections queue from the start (the socket listens
    before hypercorn takes it over)."""
    import sniffio
    from hypercorn.config import Config

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    bound: int = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns the socket from here
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 1.0
    stop = anyio.Event()

    async def trigger() -> None:
        await stop.wait()

    if sniffio.current_async_library() == "trio":
        from hypercorn.trio import serve as serve_trio

        serve: Callable[..., Awaitable[None]] = serve_trio
    else:
        from hypercorn.asyncio import serve as serve_asyncio

        serve = serve_asyncio

    async def run() -> None:
        # Shielded: it stops by its trigger (set when the block ends, however it ends), so a Ctrl-C
        # that cancels everything still lets hypercorn close its connections (graceful_timeout)
        # instead of cutting its connection tasks off mid-callback.
        with anyio.CancelScope(shield=True):
            await serve(app, config, shutdown_trigger=trigger)

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(run)
        try:
            yield bound
        finally:
            stop.set()
