"""Webhook deliveries, Sans-I/O: signatures (the official SDK as the oracle), deduplication, payloads.

No sockets, no sleeps: ``now`` is passed in; where the SDK reads the clock itself, the delivery is
stamped with the current time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import pickle
import time
import typing
from typing import Any

import msgspec
import openai
import pytest
from openai.types.webhooks import (
    LiveCallIncomingWebhookEvent,
    LiveTransportConnectedWebhookEvent,
    LiveTransportIncomingWebhookEvent,
    RealtimeCallIncomingWebhookEvent,
    UnwrapWebhookEvent,
)
from pydantic import BaseModel

from realtime_dispatch.telephony import (
    DeliveryLog,
    IncomingCall,
    OtherWebhook,
    SipHeader,
    WebhookError,
    WebhookVerifier,
    headers_from_asgi,
    new_secret,
    parse_webhook,
    sign,
)

NOW = 1_790_000_000
RAW_SECRET = "a plain shared secret"
BODY = json.dumps(
    {
        "object": "event",
        "id": "evt_1",
        "type": "realtime.call.incoming",
        "created_at": NOW,
        "data": {"call_id": "rtc_1", "sip_headers": [{"name": "From", "value": "sip:+14155550123@example.com"}]},
    }
).encode()


def spec_signature(body: bytes, secret: str, webhook_id: str, timestamp: str) -> str:
    """The Standard Webhooks scheme written out independently of the code under test."""
    key = base64.b64decode(secret[len("whsec_") :]) if secret.startswith("whsec_") else secret.encode()
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sdk_verify(body: bytes, headers: dict[str, str], secret: str) -> None:
    openai.OpenAI(api_key="x", webhook_secret=secret).webhooks.verify_signature(body, headers, tolerance=300)


def rejected(verifier: WebhookVerifier, body: bytes, headers: dict[str, str], now: float = NOW) -> WebhookError:
    with pytest.raises(WebhookError) as caught:
        verifier.verify(body, headers, now=now)
    return caught.value


# -- signing and verifying ------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [new_secret(), RAW_SECRET], ids=["whsec", "raw"])
def test_sign_then_verify_round_trips(secret: str) -> None:
    headers = sign(BODY, secret, webhook_id="wh_123", timestamp=NOW)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-timestamp"] == str(NOW)
    assert headers["webhook-signature"].startswith("v1,")
    assert WebhookVerifier(secret).verify(BODY, headers, now=NOW) == "wh_123"


@pytest.mark.parametrize("secret", [new_secret(), RAW_SECRET], ids=["whsec", "raw"])
def test_the_sdk_accepts_what_sign_makes(secret: str) -> None:
    stamp = int(time.time())
    headers = sign(BODY, secret, webhook_id="wh_sdk", timestamp=stamp)
    sdk_verify(BODY, headers, secret)
    event = openai.OpenAI(api_key="x", webhook_secret=secret).webhooks.unwrap(BODY, headers)
    assert isinstance(event, RealtimeCallIncomingWebhookEvent)


@pytest.mark.parametrize("secret", [new_secret(), RAW_SECRET], ids=["whsec", "raw"])
def test_verify_accepts_what_the_sdk_accepts(secret: str) -> None:
    stamp = str(int(time.time()))
    headers = {
        "webhook-id": "wh_spec",
        "webhook-timestamp": stamp,
        "webhook-signature": spec_signature(BODY, secret, "wh_spec", stamp),
    }
    sdk_verify(BODY, headers, secret)  # the oracle accepts it first
    assert WebhookVerifier(secret).verify(BODY, headers, now=time.time()) == "wh_spec"


def test_the_sdk_and_verify_both_refuse_a_tampered_body() -> None:
    secret = new_secret()
    headers = sign(BODY, secret, webhook_id="wh_1", timestamp=int(time.time()))
    tampered = BODY.replace(b"rtc_1", b"rtc_2")
    with pytest.raises(openai.InvalidWebhookSignatureError):
        sdk_verify(tampered, headers, secret)
    assert rejected(WebhookVerifier(secret), tampered, headers, now=time.time()).status == 401


def test_new_secret_is_whsec_and_32_random_bytes() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first[6:], validate=True)) == 32
    assert first != second


def assert_clean(error: WebhookError, status: int, *words: str, secrets: tuple[str, ...] = ()) -> None:
    assert error.status == status
    assert "\n" not in error.reason
    for word in words:
        assert word in error.reason
    for secret in secrets:
        assert secret not in error.reason
        assert secret[6:] not in error.reason
        assert secret not in repr(error)


SECRET = new_secret()
OTHER = new_secret()
VERIFIER = WebhookVerifier(SECRET)


def good(body: bytes = BODY, timestamp: int = NOW, webhook_id: str = "wh_1") -> dict[str, str]:
    return sign(body, SECRET, webhook_id=webhook_id, timestamp=timestamp)


def test_a_garbled_signature_is_401() -> None:
    headers = good() | {"webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()}
    assert_clean(rejected(VERIFIER, BODY, headers), 401, "signature", secrets=(SECRET,))


def test_a_wrong_secret_is_401() -> None:
    headers = sign(BODY, OTHER, webhook_id="wh_1", timestamp=NOW)
    assert_clean(rejected(VERIFIER, BODY, headers), 401, "signature", secrets=(SECRET, OTHER))


def test_one_changed_byte_of_the_body_is_401() -> None:
    headers = good()
    for index in (0, len(BODY) // 2, len(BODY) - 1):
        tampered = bytearray(BODY)
        tampered[index] ^= 0x01
        assert_clean(rejected(VERIFIER, bytes(tampered), headers), 401, "signature")
    assert rejected(VERIFIER, BODY + b" ", headers).status == 401


def test_the_signed_id_and_timestamp_cannot_be_swapped() -> None:
    assert rejected(VERIFIER, BODY, good() | {"webhook-id": "wh_2"}).status == 401
    assert rejected(VERIFIER, BODY, good(timestamp=NOW) | {"webhook-timestamp": str(NOW + 1)}).status == 401


def test_a_stale_or_future_timestamp_is_401() -> None:
    assert_clean(rejected(VERIFIER, BODY, good(timestamp=NOW - 301)), 401, "too old")
    assert_clean(rejected(VERIFIER, BODY, good(timestamp=NOW + 301)), 401, "too new")
    assert_clean(rejected(VERIFIER, BODY, good(timestamp=0)), 401, "too old")


def test_the_window_includes_its_bounds() -> None:
    assert VERIFIER.verify(BODY, good(timestamp=NOW - 300), now=NOW) == "wh_1"
    assert VERIFIER.verify(BODY, good(timestamp=NOW + 300), now=NOW) == "wh_1"
    assert VERIFIER.verify(BODY, good(timestamp=NOW - 300), now=NOW + 0.999) == "wh_1"  # seconds, as the SDK
    narrow = WebhookVerifier(SECRET, tolerance=10)
    assert narrow.verify(BODY, good(timestamp=NOW - 10), now=NOW) == "wh_1"
    assert rejected(narrow, BODY, good(timestamp=NOW - 11)).status == 401
    assert rejected(narrow, BODY, good(timestamp=NOW + 11)).status == 401


def test_the_window_is_checked_before_the_signature() -> None:
    headers = good(timestamp=NOW - 1000) | {"webhook-signature": "v1,bogus"}
    assert "too old" in rejected(VERIFIER, BODY, headers).reason


@pytest.mark.parametrize("stamp", ["soon", "1.5", "", " 1790000000", "1e9", "\uff11\uff12\uff13", "9" * 30, "0x10"])
def test_a_timestamp_that_is_not_an_integer_is_400(stamp: str) -> None:
    error = rejected(VERIFIER, BODY, good() | {"webhook-timestamp": stamp})
    assert_clean(error, 400, "webhook-timestamp")


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_each_missing_header_is_400(missing: str) -> None:
    headers = {name: value for name, value in good().items() if name != missing}
    assert_clean(rejected(VERIFIER, BODY, headers), 400, "missing", missing)


@pytest.mark.parametrize("empty", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_each_empty_header_is_400(empty: str) -> None:
    assert_clean(rejected(VERIFIER, BODY, good() | {empty: ""}), 400, empty)


def test_a_blank_signature_header_is_400() -> None:
    assert_clean(rejected(VERIFIER, BODY, good() | {"webhook-signature": "   "}), 400, "webhook-signature")


def test_a_garbled_id_is_400() -> None:
    assert rejected(VERIFIER, BODY, good() | {"webhook-id": "wh 1"}).status == 400
    assert rejected(VERIFIER, BODY, good() | {"webhook-id": "wh_é"}).status == 400
    assert rejected(VERIFIER, BODY, good(webhook_id="w" * 257)).status == 400
    assert VERIFIER.verify(BODY, good(webhook_id="w" * 256), now=NOW) == "w" * 256


def test_only_v1_entries_count() -> None:
    signature = good()["webhook-signature"]
    other_version = "v2," + signature[3:]
    assert_clean(rejected(VERIFIER, BODY, good() | {"webhook-signature": other_version}), 401, "v1")
    bare = signature[3:]  # the SDK would also take a bare base64 entry; Standard Webhooks always versions them
    assert rejected(VERIFIER, BODY, good() | {"webhook-signature": bare}).status == 401
    mixed = f"v2,abc {signature} v1a,xyz"
    assert VERIFIER.verify(BODY, good() | {"webhook-signature": mixed}, now=NOW) == "wh_1"


def test_too_many_entries_is_400_before_any_hmac(monkeypatch: pytest.MonkeyPatch) -> None:
    headers = good()
    forged = headers | {"webhook-signature": " ".join(["v1,AAAA"] * 10_000 + [headers["webhook-signature"]])}
    short = headers | {"webhook-signature": " ".join(["v1,A"] * 17)}  # under the length limit: the count refuses
    calls: list[object] = []
    monkeypatch.setattr(hmac, "new", lambda *args, **kwargs: calls.append(args))
    assert_clean(rejected(VERIFIER, BODY, forged), 400, "webhook-signature")
    assert_clean(rejected(VERIFIER, BODY, short), 400, "more than 16 entries")
    assert calls == []


def test_sixteen_entries_pass_and_seventeen_do_not() -> None:
    signature = good()["webhook-signature"]
    sixteen = " ".join(["v1,AAAA"] * 15 + [signature])
    assert VERIFIER.verify(BODY, good() | {"webhook-signature": sixteen}, now=NOW) == "wh_1"
    seventeen = " ".join(["v1,AAAA"] * 16 + [signature])
    assert rejected(VERIFIER, BODY, good() | {"webhook-signature": seventeen}).status == 400


def test_a_huge_signature_header_is_400() -> None:
    huge = good()["webhook-signature"] + " v1," + "A" * 1_000_000
    assert_clean(rejected(VERIFIER, BODY, good() | {"webhook-signature": huge}), 400, "longer")


def test_a_non_ascii_signature_header_is_400_not_a_crash() -> None:
    assert rejected(VERIFIER, BODY, good() | {"webhook-signature": "v1,é"}).status == 400


def test_rotation_any_configured_secret_passes() -> None:
    both = WebhookVerifier([OTHER, SECRET])
    assert both.verify(BODY, good(), now=NOW) == "wh_1"
    assert both.verify(BODY, sign(BODY, OTHER, webhook_id="wh_2", timestamp=NOW), now=NOW) == "wh_2"
    assert rejected(both, BODY, sign(BODY, new_secret(), webhook_id="wh_3", timestamp=NOW)).status == 401


def test_rotation_a_delivery_signed_with_old_and_new_passes_with_the_new_only() -> None:
    old, new = new_secret(), new_secret()
    old_entry = sign(BODY, old, webhook_id="wh_1", timestamp=NOW)["webhook-signature"]
    new_entry = sign(BODY, new, webhook_id="wh_1", timestamp=NOW)["webhook-signature"]
    headers = good() | {"webhook-signature": f"{old_entry} {new_entry}"}
    assert WebhookVerifier(new).verify(BODY, headers, now=NOW) == "wh_1"
    assert WebhookVerifier(old).verify(BODY, headers, now=NOW) == "wh_1"
    headers_reversed = good() | {"webhook-signature": f"{new_entry} {old_entry}"}
    assert WebhookVerifier(new).verify(BODY, headers_reversed, now=NOW) == "wh_1"
    stamp = int(time.time())
    live = {
        "webhook-id": "wh_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": " ".join(
            sign(BODY, s, webhook_id="wh_1", timestamp=stamp)["webhook-signature"] for s in (old, new)
        ),
    }
    sdk_verify(BODY, live, new)  # the SDK agrees


def test_header_names_in_any_case() -> None:
    headers = good()
    for transform in (str.upper, str.title, lambda name: name[0].upper() + name[1:]):
        assert VERIFIER.verify(BODY, {transform(k): v for k, v in headers.items()}, now=NOW) == "wh_1"


def test_a_case_insensitive_mapping_works_as_it_is() -> None:
    class Headers(dict[str, str]):
        def get(self, key: str, default: Any = None) -> Any:
            return next((v for k, v in self.items() if k.lower() == key.lower()), default)

    assert VERIFIER.verify(BODY, Headers({"Webhook-Id": "wh_1"} | good()), now=NOW) == "wh_1"


def test_headers_from_asgi() -> None:
    headers = good()
    scope = [(name.title().encode(), value.encode()) for name, value in headers.items()]
    scope.append((b"Content-Type", b"application/json"))
    converted = headers_from_asgi(scope)
    assert converted["content-type"] == "application/json"
    assert VERIFIER.verify(BODY, converted, now=NOW) == "wh_1"


def test_headers_from_asgi_joins_repeated_fields() -> None:
    entry = good()["webhook-signature"]
    scope = [(b"webhook-signature", b"v1,AAAA"), (b"webhook-signature", entry.encode()), (b"x", b"1"), (b"X", b"2")]
    converted = headers_from_asgi(scope)
    assert converted["webhook-signature"] == f"v1,AAAA {entry}"
    assert converted["x"] == "1, 2"
    assert headers_from_asgi([(b"a", b"caf\xe9")]) == {"a": "café"}  # Latin-1, never a decode error


def test_a_repeated_timestamp_or_id_header_is_refused() -> None:
    headers = good()
    scope = [(name.encode(), value.encode()) for name, value in headers.items()] + [(b"webhook-id", b"wh_2")]
    assert rejected(VERIFIER, BODY, headers_from_asgi(scope)).status == 400
    scope = [(name.encode(), value.encode()) for name, value in headers.items()] + [(b"webhook-timestamp", b"1")]
    assert rejected(VERIFIER, BODY, headers_from_asgi(scope)).status == 400


def test_secrets_are_checked_when_the_verifier_is_made() -> None:
    with pytest.raises(ValueError, match="empty"):
        WebhookVerifier("")
    with pytest.raises(ValueError, match="empty"):
        WebhookVerifier("whsec_")
    with pytest.raises(ValueError, match="at least one"):
        WebhookVerifier([])
    with pytest.raises(ValueError, match="base64") as caught:
        WebhookVerifier("whsec_not*base64!")
    assert "not*base64" not in str(caught.value)
    with pytest.raises(ValueError, match="tolerance"):
        WebhookVerifier(SECRET, tolerance=-1)
    with pytest.raises(ValueError, match="empty"):
        sign(BODY, "", webhook_id="wh_1", timestamp=NOW)
    assert SECRET not in repr(VERIFIER)


def test_a_whsec_secret_without_padding_still_works() -> None:
    key = base64.b64encode(b"k" * 31).decode()  # 31 bytes: one '=' of padding
    assert key.endswith("=")
    headers = sign(BODY, "whsec_" + key, webhook_id="wh_1", timestamp=NOW)
    assert WebhookVerifier("whsec_" + key.rstrip("=")).verify(BODY, headers, now=NOW) == "wh_1"


def test_the_error_pickles_and_reads_as_its_reason() -> None:
    error = WebhookError(401, "webhook signature does not match")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.status, copy.reason) == (401, "webhook signature does not match")
    assert str(error) == "webhook signature does not match"
    assert WebhookError.__module__ == "realtime_dispatch.telephony"


# -- deduplication --------------------------------------------------------------------------------


def test_delivery_log_first_time_then_duplicates() -> None:
    log = DeliveryLog()
    assert log.first_time("wh_1", 0.0)
    assert not log.first_time("wh_1", 1.0)
    assert log.first_time("wh_2", 1.0)
    assert len(log) == 2
    assert "wh_1" in log


def test_delivery_log_forgets_after_ttl() -> None:
    log = DeliveryLog(ttl=100)
    assert log.first_time("wh_1", 1000.0)
    assert not log.first_time("wh_1", 1099.9)  # ttl counts from the first sighting, not the last
    assert log.first_time("wh_1", 1100.0)
    assert not log.first_time("wh_1", 1150.0)
    assert log.first_time("wh_2", 5000.0)
    assert len(log) == 1  # expired ids are dropped as time passes


def test_delivery_log_is_bounded_oldest_evicted_first() -> None:
    log = DeliveryLog(max_ids=3)
    for index in range(5):
        assert log.first_time(f"wh_{index}", float(index))
    assert len(log) == 3
    assert log.first_time("wh_0", 10.0)  # evicted, so new again
    assert not log.first_time("wh_4", 10.0)
    assert len(log) == 3


def test_delivery_log_handles_a_clock_going_back() -> None:
    log = DeliveryLog(ttl=100)
    assert log.first_time("wh_1", 1000.0)
    assert log.first_time("wh_2", 500.0)
    assert log.first_time("wh_2", 650.0)  # expired behind a younger entry
    assert not log.first_time("wh_1", 1050.0)


def test_delivery_log_forget_allows_a_retry() -> None:
    log = DeliveryLog()
    assert log.first_time("wh_1", 0.0)
    log.forget("wh_1")
    log.forget("never seen")
    assert log.first_time("wh_1", 1.0)


def test_delivery_log_arguments() -> None:
    with pytest.raises(ValueError, match="max_ids"):
        DeliveryLog(max_ids=0)
    with pytest.raises(ValueError, match="ttl"):
        DeliveryLog(ttl=0)


def test_a_full_delivery_log_stays_fast() -> None:
    log = DeliveryLog(max_ids=1000)
    for index in range(20_000):  # each eviction is O(1): this would crawl if it scanned
        log.first_time(f"wh_{index}", float(index))
    assert len(log) == 1000


# -- payloads -------------------------------------------------------------------------------------


def union_members(union: Any) -> list[type[BaseModel]]:
    assert typing.get_origin(union) is typing.Annotated
    inner = typing.get_args(union)[0]
    return list(typing.get_args(inner))


def type_literal(model: type[BaseModel]) -> str:
    (value,) = typing.get_args(model.model_fields["type"].annotation)
    return str(value)


INCOMING: dict[type[BaseModel], tuple[str, str]] = {
    RealtimeCallIncomingWebhookEvent: ("call_id", "ga"),
    LiveTransportIncomingWebhookEvent: ("session_id", "live"),
    LiveCallIncomingWebhookEvent: ("session_id", "live"),
}

HEADERS = [
    {"name": "From", "value": '"Alice" <sip:+14155550123@pstn.example.com>;tag=abc'},
    {"name": "To", "value": "<sip:proj_1@sip.api.openai.com>"},
    {"name": "Call-ID", "value": "c-1"},
    {"name": "X-Tenant", "value": "first"},
    {"name": "x-tenant", "value": "second"},
]


def sdk_event(model: type[BaseModel], *, full: bool) -> BaseModel:
    id_field, api = INCOMING[model]
    data: dict[str, Any] = {id_field: "rtc_42" if api == "ga" else "live_42", "sip_headers": HEADERS if full else []}
    if model is LiveTransportIncomingWebhookEvent:
        data["type"] = "sip"
    if full:
        data["sip_media_security"] = "srtp"
    fields: dict[str, Any] = {"id": "evt_7", "created_at": NOW, "type": type_literal(model), "data": data}
    if full:
        fields["object"] = "event"
    return model.model_validate(fields)


def test_the_incoming_call_types_are_exactly_those_with_sip_headers() -> None:
    with_sip = {m for m in union_members(UnwrapWebhookEvent) if "sip_headers" in _data_model(m).model_fields}
    assert with_sip == set(INCOMING)


def _data_model(model: type[BaseModel]) -> type[BaseModel]:
    field = model.model_fields.get("data")
    annotation = field.annotation if field is not None else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else BaseModel


@pytest.mark.parametrize("full", [True, False], ids=["all-fields", "required-only"])
@pytest.mark.parametrize("model", list(INCOMING), ids=lambda m: m.__name__)
def test_incoming_calls_parse_like_the_sdk(model: type[BaseModel], full: bool) -> None:
    event = sdk_event(model, full=full)
    body = event.model_dump_json(exclude_unset=True).encode()
    secret = new_secret()
    headers = sign(body, secret, webhook_id="wh_1", timestamp=int(time.time()))
    event_back = openai.OpenAI(api_key="x", webhook_secret=secret).webhooks.unwrap(body, headers)
    assert type(event_back) is model
    unwrapped: Any = event_back

    call = parse_webhook(body)
    assert isinstance(call, IncomingCall)
    id_field, api = INCOMING[model]
    assert call.event_id == unwrapped.id == "evt_7"
    assert call.type == unwrapped.type == type_literal(model)
    assert call.created_at == unwrapped.created_at
    assert call.id == getattr(unwrapped.data, id_field)
    assert call.api == api
    assert [(h.name, h.value) for h in call.sip_headers] == [(h.name, h.value) for h in unwrapped.data.sip_headers]
    assert call.sip_media_security == unwrapped.data.sip_media_security == ("srtp" if full else None)


def test_header_lookup_is_case_insensitive_and_takes_the_first() -> None:
    call = parse_webhook(sdk_event(RealtimeCallIncomingWebhookEvent, full=True).model_dump_json().encode())
    assert isinstance(call, IncomingCall)
    assert call.header("x-tenant") == "first"
    assert call.header("X-TENANT") == "first"
    assert call.header("call-id") == "c-1"
    assert call.header("Contact") is None
    assert call.caller == "sip:+14155550123@pstn.example.com"


@pytest.mark.parametrize(
    ("value", "caller"),
    [
        ("sip:+14155550123@example.com", "sip:+14155550123@example.com"),
        ("sip:+14155550123@example.com;tag=x", "sip:+14155550123@example.com"),
        ("<tel:+14155550123>;tag=1", "tel:+14155550123"),
        ("Bob <sip:bob@example.com", "sip:bob@example.com"),
        ("   ", None),
    ],
)
def test_caller_reads_the_from_uri(value: str, caller: str | None) -> None:
    call = IncomingCall("evt", "realtime.call.incoming", NOW, "rtc", "ga", [SipHeader("from", value)])
    assert call.caller == caller


def test_caller_reads_the_compact_from_and_is_none_without_one() -> None:
    call = IncomingCall("evt", "realtime.call.incoming", NOW, "rtc", "ga", [SipHeader("f", "<sip:a@b>")])
    assert call.caller == "sip:a@b"
    assert IncomingCall("evt", "live.call.incoming", NOW, "live_1", "live", []).caller is None


def test_unknown_fields_are_ignored() -> None:
    payload = json.loads(sdk_event(LiveTransportIncomingWebhookEvent, full=True).model_dump_json())
    payload["future"] = {"nested": [1, 2]}
    payload["data"]["future"] = True
    payload["data"]["sip_headers"][0]["future"] = "x"
    payload["data"]["sip_media_security"] = "zrtp"  # an unrecognized value is kept as-is, never an error
    call = parse_webhook(json.dumps(payload).encode())
    assert isinstance(call, IncomingCall)
    assert call.id == "live_42"
    assert call.sip_media_security == "zrtp"
    assert call.sip_headers[0] == SipHeader("From", HEADERS[0]["value"])


def test_a_live_transport_other_than_sip_is_not_an_incoming_call() -> None:
    body = json.dumps(
        {
            "id": "evt_1",
            "created_at": NOW,
            "type": "live.transport.incoming",
            "data": {"session_id": "live_1", "sip_headers": [], "type": "carrier-pigeon"},
        }
    ).encode()
    other = parse_webhook(body)
    assert isinstance(other, OtherWebhook)
    assert other.type == "live.transport.incoming"


def minimal_body(model: type[BaseModel]) -> bytes:
    kind = type_literal(model)
    return json.dumps({"id": f"evt_{kind}", "object": "event", "created_at": NOW, "type": kind, "data": {}}).encode()


OTHER_MODELS = [m for m in union_members(UnwrapWebhookEvent) if m not in INCOMING]


@pytest.mark.parametrize("model", OTHER_MODELS, ids=lambda m: m.__name__)
def test_every_other_sdk_type_is_an_other_webhook(model: type[BaseModel]) -> None:
    body = minimal_body(model)
    parsed = parse_webhook(body)
    assert parsed == OtherWebhook(type=type_literal(model), event_id=f"evt_{type_literal(model)}", raw=body)


def test_live_transport_connected_is_an_other_webhook_with_its_body() -> None:
    event = LiveTransportConnectedWebhookEvent.model_validate(
        {
            "id": "evt_c",
            "created_at": NOW,
            "object": "event",
            "type": "live.transport.connected",
            "data": {"session_id": "live_9", "type": "webrtc"},
        }
    )
    body = event.model_dump_json().encode()
    parsed = parse_webhook(body)
    assert isinstance(parsed, OtherWebhook)
    assert (parsed.type, parsed.event_id) == ("live.transport.connected", "evt_c")
    assert msgspec.json.decode(parsed.raw)["data"]["session_id"] == "live_9"


def test_an_unknown_future_type_without_data_is_an_other_webhook() -> None:
    assert parse_webhook(b'{"type":"realtime.call.ended","id":"evt_9"}') == OtherWebhook(
        "realtime.call.ended", "evt_9", b'{"type":"realtime.call.ended","id":"evt_9"}'
    )


CALL = {
    "id": "evt_1",
    "created_at": NOW,
    "type": "realtime.call.incoming",
    "data": {"call_id": "rtc_1", "sip_headers": []},
}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"{",
        b"[]",
        b'"realtime.call.incoming"',
        b"null",
        b'{"id":"evt_1"}',
        b'{"type":"realtime.call.incoming"}',
        b'{"type":7,"id":"evt_1"}',
        b'{"type":"x","id":null}',
        b'{"type":"x","id":"evt","created_at":"yesterday"}',
        b"\xff\xfe{}",
        json.dumps({k: v for k, v in CALL.items() if k != "data"}).encode(),
        json.dumps({k: v for k, v in CALL.items() if k != "created_at"}).encode(),
        json.dumps(CALL | {"data": {"sip_headers": []}}).encode(),
        json.dumps(CALL | {"data": {"call_id": 5, "sip_headers": []}}).encode(),
        json.dumps(CALL | {"data": {"call_id": "rtc_1"}}).encode(),
        json.dumps(CALL | {"data": {"call_id": "rtc_1", "sip_headers": [{"name": "From"}]}}).encode(),
        json.dumps(CALL | {"data": {"call_id": "rtc_1", "sip_headers": {}}}).encode(),
        json.dumps(CALL | {"data": "rtc_1"}).encode(),
        json.dumps(CALL | {"type": "live.call.incoming"}).encode(),  # a Live call needs session_id
    ],
)
def test_a_malformed_body_is_400(body: bytes) -> None:
    with pytest.raises(WebhookError) as caught:
        parse_webhook(body)
    assert caught.value.status == 400
    assert "\n" not in caught.value.reason
    assert len(caught.value.reason) < 300
