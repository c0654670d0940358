"""Frames to events and back.

The fast path is one reused msgspec decoder over the tagged union of every modelled
event. Only when it fails do we look closer, to tell an unknown ``type`` (returned as
``UnknownEvent``) from a broken frame (``DecodeError``). Known events pay nothing for
that.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Union

import msgspec

from . import _client, _server
from ._base import ClientEvent, DecodeError, ServerEvent, UnknownEvent

__all__ = ("CLIENT_EVENTS", "SERVER_EVENTS", "Codec", "decode", "decode_client", "encode", "registry", "server_decoder")


def registry(classes: Any, base: type[Any]) -> Mapping[str, Any]:
    """Wire type -> struct class for the tagged subclasses of ``base`` among ``classes`` (a module's
    ``__all__`` names resolved, or any iterable of classes). Read-only, sorted by type."""
    if not isinstance(classes, (list, tuple)):
        classes = [getattr(classes, name) for name in classes.__all__]
    table: dict[str, Any] = {}
    for cls in classes:
        if isinstance(cls, type) and issubclass(cls, base):
            tag = getattr(cls, "__struct_config__").tag  # noqa: B009  (msgspec's, untyped)
            if isinstance(tag, str):
                table[tag] = cls
    return MappingProxyType(dict(sorted(table.items())))


SERVER_EVENTS: Mapping[str, type[ServerEvent]] = registry(_server, ServerEvent)
"""Every server wire type (GA and beta) to its struct class. Read-only."""

CLIENT_EVENTS: Mapping[str, type[ClientEvent]] = registry(_client, ClientEvent)
"""Every client wire type (GA and beta) to its struct class. Read-only."""


class _Envelope(msgspec.Struct):
    type: str


server_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(Union[tuple(SERVER_EVENTS.values())])  # noqa: UP007
_client_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(Union[tuple(CLIENT_EVENTS.values())])  # noqa: UP007
_envelope_decoder = msgspec.json.Decoder(_Envelope)
_encoder = msgspec.json.Encoder()


def decode(data: bytes | str) -> ServerEvent:
    """Decode one server frame to its typed event.

    Returns ``UnknownEvent`` for a well-formed frame of an unmodelled ``type``; raises
    ``DecodeError`` for anything else that does not fit. No other exception escapes.
    """
    try:
        if type(data) is bytes:  # inlined _check_utf8 for the common case: a call costs more than the scan
            if not data.isascii():
                data.decode("utf-8")
        elif type(data) is not str:
            _check_utf8(data)
        event: ServerEvent = server_decoder.decode(data)
    except msgspec.ValidationError as exc:
        event_type = _unmodelled_type(data, exc, SERVER_EVENTS)
        raw = data.encode() if isinstance(data, str) else bytes(data)
        return UnknownEvent(type=event_type, raw=raw)
    except Exception as exc:  # invalid JSON/UTF-8, too deep, not a buffer: all one kind to callers
        raise _broken(data, exc) from None
    return event


def decode_client(data: bytes | str) -> ClientEvent:
    """Decode one client frame. Unlike ``decode``, an unknown ``type`` is a ``DecodeError``:
    the server rejects those too, so a relay or simulator must not pass them on quietly.
    """
    try:
        _check_utf8(data)
        event: ClientEvent = _client_decoder.decode(data)
    except msgspec.ValidationError as exc:
        event_type = _unmodelled_type(data, exc, CLIENT_EVENTS)
        raise DecodeError(f"unknown client event type {event_type!r}", raw=data, event_type=event_type) from None
    except Exception as exc:
        raise _broken(data, exc) from None
    return event


def encode(event: ServerEvent | ClientEvent) -> bytes:
    """Compact JSON for an event. Unset optional fields are left out.

    An ``UnknownEvent`` encodes to the bytes it was decoded from.
    """
    if isinstance(event, UnknownEvent):
        return event.raw
    return _encoder.encode(event)


class Codec:
    """Frames to events and back for one protocol's catalogues (GPT-Live, Realtime Translation):
    the same contract as this module's ``decode``/``decode_client``/``encode`` for Realtime.

    ``server_decoder`` is the reused msgspec decoder over the server union: the receive loop's
    fast path calls it directly and falls back to ``decode`` only when it fails.
    """

    __slots__ = ("_client_decoder", "client_events", "name", "server_decoder", "server_events")

    def __init__(
        self,
        name: str,
        server_events: Mapping[str, type[ServerEvent]],
        client_events: Mapping[str, type[ClientEvent]],
    ) -> None:
        self.name = name
        self.server_events = server_events
        self.client_events = client_events
        self.server_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(Union[tuple(server_events.values())])  # noqa: UP007
        self._client_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(Union[tuple(client_events.values())])  # noqa: UP007

    def __repr__(self) -> str:
        return f"<Codec {self.name}: {len(self.server_events)} server, {len(self.client_events)} client event types>"

    def decode(self, data: bytes | str) -> ServerEvent:
        """One server frame to its typed event; ``UnknownEvent`` for an unmodelled ``type``,
        ``DecodeError`` for anything else that does not fit."""
        try:
            if type(data) is bytes:  # inlined _check_utf8 for the common case, as in decode()
                if not data.isascii():
                    data.decode("utf-8")
            elif type(data) is not str:
                _check_utf8(data)
            event: ServerEvent = self.server_decoder.decode(data)
        except msgspec.ValidationError as exc:
            event_type = _unmodelled_type(data, exc, self.server_events)
            raw = data.encode() if isinstance(data, str) else bytes(data)
            return UnknownEvent(type=event_type, raw=raw)
        except Exception as exc:
            raise _broken(data, exc) from None
        return event

    def decode_client(self, data: bytes | str) -> ClientEvent:
        """One client frame; an unknown ``type`` is a ``DecodeError`` (the server rejects those too)."""
        try:
            _check_utf8(data)
            event: ClientEvent = self._client_decoder.decode(data)
        except msgspec.ValidationError as exc:
            event_type = _unmodelled_type(data, exc, self.client_events)
            raise DecodeError(f"unknown client event type {event_type!r}", raw=data, event_type=event_type) from None
        except Exception as exc:
            raise _broken(data, exc) from None
        return event

    @staticmethod
    def encode(event: ServerEvent | ClientEvent) -> bytes:
        """Compact JSON; unset optional fields left out, required ones (even None) kept."""
        return encode(event)


def _check_utf8(data: object) -> None:
    """Raise UnicodeDecodeError for invalid UTF-8 anywhere in the frame.

    msgspec validates every string it decodes, but not the fields it skips (undeclared
    ones, and all of an unknown event). Typical frames are ASCII, which is one fast scan.
    """
    if isinstance(data, (bytes, bytearray)):
        if not data.isascii():
            data.decode("utf-8")
    elif isinstance(data, memoryview):
        bytes(data).decode("utf-8")


def _unmodelled_type(data: bytes | str, exc: msgspec.ValidationError, known: Mapping[str, Any]) -> str:
    """The frame's ``type`` if it is one we do not model; else the ``DecodeError`` to raise."""
    try:
        event_type = _envelope_decoder.decode(data).type
    except Exception:
        raise DecodeError("invalid frame: not a JSON object with a string `type`", raw=data) from None
    if event_type in known:
        raise DecodeError(f"invalid {event_type!r} event: {exc}", raw=data, event_type=event_type) from None
    return event_type


def _broken(data: object, exc: Exception) -> DecodeError:
    if isinstance(exc, RecursionError):
        reason = "nested too deeply"
    elif isinstance(exc, UnicodeError):
        reason = f"invalid UTF-8 ({exc})"
    elif isinstance(exc, TypeError):
        reason = f"expected bytes or str, got {type(data).__name__}"
    else:
        reason = str(exc)
    raw = data if isinstance(data, (bytes, str)) else b""
    return DecodeError(f"invalid frame: {reason}", raw=raw)
