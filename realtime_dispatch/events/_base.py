"""Base classes of server and client events, ``UnknownEvent`` and ``DecodeError``."""

from __future__ import annotations

import secrets
from functools import cache
from typing import Any, ClassVar, Self

import msgspec

__all__ = ("ClientEvent", "DecodeError", "ServerEvent", "UnknownEvent", "new_id")

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str) -> str:
    """A fresh id in the server's style, e.g. ``new_id("event")`` -> ``event_3fZ...``."""
    # One draw of random bytes, not a secrets.choice() call per character (a simulator makes an id per
    # event). Ids are unique, not secret: the slight bias of byte % 62 does not matter.
    return prefix + "_" + "".join([_ALPHABET[byte % 62] for byte in secrets.token_bytes(21)])


# Prefixes the server uses for the ids a built event needs.
_ID_PREFIX = {
    "event_id": "event",
    "response_id": "resp",
    "item_id": "item",
    "call_id": "call",
    "previous_item_id": "item",
}


class ServerEvent(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True, gc=False):
    """Base of every event the server sends. ``type`` is the wire type string.

    Handlers share one instance per event: treat it as read-only. Events carry no
    back-references (``gc=False`` relies on that).
    """

    type: ClassVar[str]

    @classmethod
    def build(cls, **fields: Any) -> Self:
        """Construct the event with its ids and indices filled in where not given.

        ``event_id``, ``response_id``, ``item_id`` and ``call_id`` get fresh ids;
        ``output_index`` and ``content_index`` get 0. Everything else must be passed.
        For tests, simulators and replays; decoding never invents a missing field.
        """
        for name in _defaultable(cls):
            if name not in fields:
                fields[name] = 0 if name.endswith("_index") else new_id(_ID_PREFIX[name])
        return cls(**fields)


@cache
def _defaultable(cls: type[msgspec.Struct]) -> tuple[str, ...]:
    names = []
    for field in msgspec.structs.fields(cls):
        required = field.required
        if required and (field.name in _ID_PREFIX or field.name in ("output_index", "content_index")):
            names.append(field.name)
    return tuple(names)


class UnknownEvent(ServerEvent, tag=False):
    """A well-formed frame whose ``type`` this library does not model.

    Returned, never raised: the server adds event types over time and a client must keep
    running. ``raw`` holds the exact bytes received; ``msgspec.json.decode(event.raw)``
    gives a dict when you need the fields.
    """

    type: str  # type: ignore[misc]  # an instance field here, a ClassVar on modelled events
    raw: bytes


class ClientEvent(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True, gc=False):
    """Base of every event the client sends. Unset optional fields are not encoded.

    ``event_id`` is optional; the server echoes it in ``error.event_id`` when the event
    fails. Senders assign one automatically.
    """

    type: ClassVar[str]
    event_id: str | None = None


class DecodeError(ValueError):
    """A frame that cannot be decoded: invalid JSON or UTF-8, not an object, no string
    ``type``, or a known type whose fields do not fit.

    ``raw`` is the frame as received and ``event_type`` its ``type`` when one was found.
    """

    def __init__(self, message: str, *, raw: bytes | str, event_type: str | None = None) -> None:
        super().__init__(message)
        self.raw = raw
        self.event_type = event_type
