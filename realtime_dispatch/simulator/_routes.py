"""Which protocol a WebSocket request path asks for, and the HTTP refusals of the handshake.

One port serves every protocol the simulator speaks; the request path picks it:

- ``.../live/sessions``: GPT-Live, the primary WebSocket;
- ``.../live/sessions/{id}/attach``: a GPT-Live sideband to a session the simulator runs;
- ``.../live/sessions/{id}/fork``: not simulated (HTTP 404);
- ``.../realtime/translations?model=...``: Realtime Translation;
- anything else: Realtime (``/v1/realtime?model=...``, the simulator's original protocol).

The prefix before these is free (``/v1``, Azure's ``/openai/v1``, or none).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import msgspec
from websockets.datastructures import Headers
from websockets.http11 import Response

from ..events import DecodeError

__all__ = ("Rejection", "Route", "http_error", "rejection", "route")

Kind = Literal["realtime", "live", "attach", "fork", "translation"]

_LIVE_SESSION = re.compile(r"/live/sessions/([^/]+)/(attach|fork)")


@dataclass(frozen=True)
class Route:
    """What a request path asks for: the protocol, a Live session id (attach, fork), the query."""

    kind: Kind
    session_id: str | None
    query: dict[str, list[str]]

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


def route(target: str) -> Route:
    """The route of a request target (path and query)."""
    parts = urlsplit(target)
    path = parts.path.rstrip("/")
    query = parse_qs(parts.query, keep_blank_values=True)
    if path.endswith("/live/sessions"):
        return Route("live", None, query)
    found = _LIVE_SESSION.search(path)
    if found is not None and found.end() == len(path):
        kind: Kind = "attach" if found.group(2) == "attach" else "fork"
        return Route(kind, found.group(1), query)
    if path.endswith("/realtime/translations"):
        return Route("translation", None, query)
    return Route("realtime", None, query)


_REASONS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}


def http_error(status: int, message: str, *, code: str | None, param: str | None = None) -> Response:
    """A refusal of the upgrade with the service's JSON error body."""
    body = msgspec.json.encode(
        {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    )
    headers = Headers(
        [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("Connection", "close")]
    )
    return Response(status, _REASONS.get(status, "Error"), headers, body)


@dataclass(frozen=True)
class Rejection:
    """Why a client frame was refused, in the words of an ``error`` event."""

    message: str
    code: str
    param: str | None
    event_id: str | None


def rejection(data: bytes, exc: DecodeError, supported: Iterable[str]) -> Rejection:
    """The error for a client frame that did not decode (as the Realtime simulator words it)."""
    try:
        raw = msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return Rejection(f"Invalid JSON: {_reason(exc)}", "invalid_json", None, None)
    event_id = raw.get("event_id") if isinstance(raw, dict) else None
    event_id = event_id if isinstance(event_id, str) else None
    if exc.event_type is None:
        return Rejection("Invalid 'type': expected a JSON object with a string 'type'.", "invalid_value", "type",
                         event_id)  # fmt: skip
    names = list(supported)
    if exc.event_type not in names:
        listed = ", ".join(f"'{name}'" for name in names)
        return Rejection(f"Invalid value: '{exc.event_type}'. Supported values are: {listed}.", "invalid_value",
                         "type", event_id)  # fmt: skip
    return Rejection(f"Invalid '{exc.event_type}' event: {_reason(exc)}", "invalid_value", None, event_id)


def _reason(exc: DecodeError) -> str:
    text = str(exc)
    for prefix in ("invalid frame: ", f"invalid {exc.event_type!r} event: "):
        text = text.removeprefix(prefix)
    return text
