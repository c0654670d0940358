"""The Sans-I/O core of telephony: verify, deduplicate and parse OpenAI's webhook deliveries.

Nothing here does I/O or reads a clock: the HTTP server passes the raw body, the request headers
and ``now`` (Unix seconds); this module answers with a webhook id, a parsed payload or a
``WebhookError`` carrying the HTTP status to answer.

Signatures follow Standard Webhooks as the official SDK checks them: the headers ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature`` (space-separated ``v1,<base64>`` entries), an
HMAC-SHA256 over ``f"{id}.{timestamp}.{body}"`` with the secret's key (``whsec_<base64>`` decoded,
any other string as its UTF-8 bytes), and a replay window of ``tolerance`` seconds either way.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
import secrets as _random
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import msgspec

__all__ = (
    "DeliveryLog",
    "IncomingCall",
    "OtherWebhook",
    "SipHeader",
    "WebhookError",
    "WebhookVerifier",
    "headers_from_asgi",
    "new_secret",
    "parse_webhook",
    "sign",
)

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"

MAX_SIGNATURES = 16
"""Entries in one ``webhook-signature`` header beyond which a delivery is refused (400) unchecked."""
MAX_SIGNATURE_HEADER = 4096
"""Characters in a ``webhook-signature`` header beyond which a delivery is refused (400) unchecked."""
MAX_ID_LENGTH = 256

_ID = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: what the signed content can carry unambiguously
_TIMESTAMP = re.compile(r"-?[0-9]{1,20}")
_SECRET_PREFIX = "whsec_"


class WebhookError(Exception):
    """A delivery that must not be acted on.

    ``status``: the HTTP status to answer (400 for a malformed delivery: missing or garbled
    headers, a body that is not the JSON event; 401 for a signature that does not match any
    secret, or a timestamp outside the window). ``reason``: one short line, no secrets.
    """

    status: int
    reason: str

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def __reduce__(self) -> tuple[type[WebhookError], tuple[int, str]]:
        return (type(self), (self.status, self.reason))


def _key(secret: str) -> bytes:
    """The HMAC key of a webhook secret; ValueError (naming no part of it) if it has none."""
    if not isinstance(secret, str):
        raise TypeError(f"a webhook secret is a str, not {type(secret).__name__}")
    if secret.startswith(_SECRET_PREFIX):
        encoded = secret[len(_SECRET_PREFIX) :].strip()
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a webhook secret starting with 'whsec_' must continue in base64") from None
    else:
        key = secret.encode()
    if not key:
        raise ValueError("a webhook secret must not be empty")
    return key


def _mac(key: bytes, webhook_id: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(key, f"{webhook_id}.{timestamp}.".encode(), hashlib.sha256)
    mac.update(body)
    return base64.b64encode(mac.digest()).decode("ascii")


def sign(body: bytes, secret: str, *, webhook_id: str, timestamp: int) -> dict[str, str]:
    """The three headers a sender (the simulator, tests) puts on a delivery of ``body``."""
    stamp = str(int(timestamp))
    return {
        ID_HEADER: webhook_id,
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: "v1," + _mac(_key(secret), webhook_id, stamp, body),
    }


def new_secret() -> str:
    """A fresh secret in OpenAI's format: ``"whsec_"`` and the base64 of 32 random bytes."""
    return _SECRET_PREFIX + base64.b64encode(_random.token_bytes(32)).decode("ascii")


def headers_from_asgi(scope_headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """An ASGI scope's ``headers`` (``(name, value)`` byte pairs) as a dict with lower-case names.

    Bytes are decoded as Latin-1 (HTTP's octets, one character each). A name given more than once
    has its values joined as HTTP combines them (``", "``), except ``webhook-signature`` whose
    entries are joined with a space, the separator of its own format.
    """
    found: dict[str, str] = {}
    for raw_name, raw_value in scope_headers:
        name = bytes(raw_name).decode("latin-1").lower()
        value = bytes(raw_value).decode("latin-1")
        if name in found:
            found[name] += (" " if name == SIGNATURE_HEADER else ", ") + value
        else:
            found[name] = value
    return found


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        for key, candidate in headers.items():
            if isinstance(key, str) and key.lower() == name:
                value = candidate
                break
        else:
            raise WebhookError(400, f"missing {name} header")
    if not isinstance(value, str):
        raise WebhookError(400, f"{name} header is not text")
    if not value:
        raise WebhookError(400, f"empty {name} header")
    return value


class WebhookVerifier:
    """Checks that a delivery comes from OpenAI: signed with one of ``secrets``, and recent.

    Give several secrets while rotating (a delivery signed with any of them passes). A secret
    ``"whsec_<base64>"`` keys the HMAC with the decoded bytes, any other string with its UTF-8
    bytes. ``tolerance``: seconds a delivery's timestamp may lie before or after ``now``.
    The cost of a check is one HMAC of the body per secret, whatever the headers hold.
    """

    def __init__(self, secrets: str | Sequence[str], *, tolerance: float = 300.0) -> None:
        given = [secrets] if isinstance(secrets, str) else list(secrets)
        if not given:
            raise ValueError("WebhookVerifier needs at least one secret")
        if not (math.isfinite(tolerance) and tolerance >= 0):
            raise ValueError(f"tolerance must be a finite number of seconds >= 0, not {tolerance!r}")
        self._keys = tuple(_key(secret) for secret in given)
        self._tolerance = float(tolerance)

    @property
    def tolerance(self) -> float:
        return self._tolerance

    def __repr__(self) -> str:
        return f"WebhookVerifier(<{len(self._keys)} secret(s)>, tolerance={self._tolerance!r})"

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: float) -> str:
        """The delivery's ``webhook-id`` if it is genuine and recent, else ``WebhookError``.

        ``body``: the request body exactly as received. ``headers``: any mapping of header names
        (looked up case-insensitively; ``headers_from_asgi`` makes one from an ASGI scope).
        ``now``: the current Unix time in seconds (truncated to the second, as the SDK does).
        Checks, in order: the three headers are present and well formed (else 400); the
        timestamp lies within ``tolerance`` of ``now``, bounds included (else 401); some ``v1``
        entry of the signature header matches some secret (else 401).
        """
        webhook_id = _header(headers, ID_HEADER)
        timestamp = _header(headers, TIMESTAMP_HEADER)
        signature = _header(headers, SIGNATURE_HEADER)
        if len(webhook_id) > MAX_ID_LENGTH or not _ID.fullmatch(webhook_id):
            raise WebhookError(400, f"{ID_HEADER} header is not a printable ASCII id of at most {MAX_ID_LENGTH}")
        if not _TIMESTAMP.fullmatch(timestamp):
            raise WebhookError(400, f"{TIMESTAMP_HEADER} header is not an integer")
        if len(signature) > MAX_SIGNATURE_HEADER:
            raise WebhookError(400, f"{SIGNATURE_HEADER} header longer than {MAX_SIGNATURE_HEADER} characters")
        if not signature.isascii():
            raise WebhookError(400, f"{SIGNATURE_HEADER} header is not ASCII")
        entries = signature.split(maxsplit=MAX_SIGNATURES)
        if len(entries) > MAX_SIGNATURES:
            raise WebhookError(400, f"{SIGNATURE_HEADER} header has more than {MAX_SIGNATURES} entries")
        if not entries:
            raise WebhookError(400, f"empty {SIGNATURE_HEADER} header")

        current = math.floor(now)
        sent = int(timestamp)
        if current - sent > self._tolerance:
            raise WebhookError(401, "webhook timestamp too old")
        if sent - current > self._tolerance:
            raise WebhookError(401, "webhook timestamp too new")

        candidates = [entry[3:] for entry in entries if entry.startswith("v1,")]
        if not candidates:
            raise WebhookError(401, f"{SIGNATURE_HEADER} header has no v1 entry")
        matched = False
        for key in self._keys:
            expected = _mac(key, webhook_id, timestamp, body)
            for candidate in candidates:  # no early exit: the time taken says nothing of which matched
                matched |= hmac.compare_digest(expected, candidate)
        if not matched:
            raise WebhookError(401, "webhook signature does not match")
        return webhook_id


class DeliveryLog:
    """Webhook ids seen recently, to act on each delivery once (the service delivers at least once).

    Ids are kept ``ttl`` seconds from their first sighting (OpenAI retries for up to 72 hours),
    and at most ``max_ids`` of them: beyond that the oldest are forgotten first.
    """

    def __init__(self, *, max_ids: int = 100_000, ttl: float = 72 * 3600) -> None:
        if max_ids < 1:
            raise ValueError(f"max_ids must be >= 1, not {max_ids!r}")
        if not (ttl > 0):
            raise ValueError(f"ttl must be > 0 seconds, not {ttl!r}")
        self._max_ids = max_ids
        self._ttl = float(ttl)
        self._seen: OrderedDict[str, float] = OrderedDict()  # id -> first seen, oldest first

    def first_time(self, webhook_id: str, now: float) -> bool:
        """Whether ``webhook_id`` is new (not seen within ``ttl`` of ``now``); records it if so."""
        seen = self._seen
        while seen:
            oldest, at = next(iter(seen.items()))
            if now - at < self._ttl:
                break
            del seen[oldest]
        first = seen.get(webhook_id)
        if first is not None:
            if now - first < self._ttl:
                return False
            del seen[webhook_id]  # expired but behind a younger entry (the clock went back)
        seen[webhook_id] = now
        while len(seen) > self._max_ids:
            seen.popitem(last=False)
        return True

    def forget(self, webhook_id: str) -> None:
        """Forget ``webhook_id``, so that its redelivery is acted on (after a failure to act on it)."""
        self._seen.pop(webhook_id, None)

    def __contains__(self, webhook_id: object) -> bool:
        return webhook_id in self._seen

    def __len__(self) -> int:
        return len(self._seen)


class SipHeader(msgspec.Struct, frozen=True):
    """A header of the SIP INVITE, as the caller's side sent it: untrusted."""

    name: str
    value: str


class IncomingCall(msgspec.Struct, frozen=True):
    """An incoming SIP call waiting to be accepted or rejected.

    ``id`` is what the call-control endpoints of ``api`` take: ``data.call_id`` of
    ``realtime.call.incoming`` (``api="ga"``, ``/v1/realtime/calls/{id}/...``), ``data.session_id`` of
    ``live.transport.incoming`` or the legacy ``live.call.incoming`` (``api="live"``,
    ``/v1/live/sessions/{id}/...``). The same call can arrive as both; the first accept decides.
    ``sip_headers`` and ``sip_media_security`` are metadata from the caller's side: untrusted.
    """

    event_id: str
    type: str
    created_at: int
    id: str
    api: Literal["ga", "live"]
    sip_headers: list[SipHeader]
    sip_media_security: str | None = None

    def header(self, name: str) -> str | None:
        """The first value of SIP header ``name`` (compared case-insensitively), or None. Untrusted."""
        wanted = name.lower()
        for header in self.sip_headers:
            if header.name.lower() == wanted:
                return header.value
        return None

    @property
    def caller(self) -> str | None:
        """The URI of the ``From`` header (``sip:+1415...@host``, ``tel:+1415...``), or None.

        A convenience for logs and routing hints, **not an identity**: the caller's side writes
        it and nothing here verifies it. Display name and header parameters are left out.
        """
        value = self.header("From")
        if value is None:
            value = self.header("f")  # SIP's compact form of From
        if value is None:
            return None
        opening = value.find("<")
        if opening >= 0:
            closing = value.find(">", opening + 1)
            uri = value[opening + 1 : closing] if closing >= 0 else value[opening + 1 :]
        else:
            uri = value.split(";", 1)[0]
        return uri.strip() or None


class OtherWebhook(msgspec.Struct, frozen=True):
    """A delivery of any other type (``live.transport.connected``, future types...): its raw body."""

    type: str
    event_id: str
    raw: bytes


class _Envelope(msgspec.Struct):
    type: str
    id: str
    created_at: int | None = None
    data: msgspec.Raw = msgspec.Raw()  # empty when absent (``Raw | None`` would take only null)


class _RealtimeCallData(msgspec.Struct):
    call_id: str
    sip_headers: list[SipHeader]
    sip_media_security: str | None = None


class _LiveSipData(msgspec.Struct):
    session_id: str
    sip_headers: list[SipHeader]
    type: str | None = None
    sip_media_security: str | None = None


_envelope_decoder = msgspec.json.Decoder(_Envelope)
_realtime_call_decoder = msgspec.json.Decoder(_RealtimeCallData)
_live_sip_decoder = msgspec.json.Decoder(_LiveSipData)

_LIVE_INCOMING = frozenset({"live.transport.incoming", "live.call.incoming"})


def _malformed(error: msgspec.MsgspecError) -> WebhookError:
    line = str(error).splitlines()[0] if str(error) else type(error).__name__
    return WebhookError(400, f"webhook body is not the event: {line[:200]}")


def parse_webhook(body: bytes) -> IncomingCall | OtherWebhook:
    """The payload of a (verified) delivery: an ``IncomingCall`` for the SIP call types, else ``OtherWebhook``.

    Unknown fields are ignored. ``WebhookError(400)`` for a body that is not a JSON object with a
    string ``type`` and ``id``, or an incoming call missing what the SDK's types require.
    """
    try:
        envelope = _envelope_decoder.decode(body)
        if envelope.type == "realtime.call.incoming":
            if envelope.created_at is None or not envelope.data:
                raise WebhookError(400, "webhook body is not the event: missing created_at or data")
            call = _realtime_call_decoder.decode(envelope.data)
            return IncomingCall(
                event_id=envelope.id,
                type=envelope.type,
                created_at=envelope.created_at,
                id=call.call_id,
                api="ga",
                sip_headers=call.sip_headers,
                sip_media_security=call.sip_media_security,
            )
        if envelope.type in _LIVE_INCOMING:
            if envelope.created_at is None or not envelope.data:
                raise WebhookError(400, "webhook body is not the event: missing created_at or data")
            session = _live_sip_decoder.decode(envelope.data)
            if session.type not in (None, "sip"):  # a transport other than SIP: not a call to answer here
                return OtherWebhook(type=envelope.type, event_id=envelope.id, raw=bytes(body))
            return IncomingCall(
                event_id=envelope.id,
                type=envelope.type,
                created_at=envelope.created_at,
                id=session.session_id,
                api="live",
                sip_headers=session.sip_headers,
                sip_media_security=session.sip_media_security,
            )
    except msgspec.MsgspecError as error:
        raise _malformed(error) from None
    return OtherWebhook(type=envelope.type, event_id=envelope.id, raw=bytes(body))
