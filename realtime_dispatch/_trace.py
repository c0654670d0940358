"""Seeing what goes over the wire: per-event DEBUG tracing with audio and secrets left out,
and raw frame taps.

Tracing costs nothing unless the ``realtime_dispatch.trace`` logger is enabled for DEBUG
when a connection opens; then every event received and sent is logged as one line.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

import msgspec

from ._redact import redact
from .events import ClientEvent, ServerEvent, UnknownEvent
from .transports import Transport

__all__ = ("FrameTap", "TappedTransport", "describe", "trace_logger")

trace_logger = logging.getLogger("realtime_dispatch.trace")

FrameTap = Callable[[Literal["in", "out"], bytes], None]
"""``tap(direction, frame)``: called with every raw frame, ``"in"`` before it is decoded."""

_AUDIO_FIELDS = frozenset({"audio", "delta"})  # base64 audio in audio events
_LONG = 120
_NESTED = 400


def describe(event: ServerEvent | ClientEvent) -> str:
    """One line for a log: the type and the fields, with audio payloads replaced by their size,
    secrets redacted (``_redact.redact``: credential-named fields, MCP tools' headers, keys and
    tokens quoted in text) and long strings shortened."""
    if isinstance(event, UnknownEvent):  # its raw frame is whatever the server sent: secrets too
        return f"{event.type} <{len(event.raw)} bytes>"
    audio_event = "audio" in event.type and "transcri" not in event.type  # transcripts are text
    fields = msgspec.structs.asdict(event) if isinstance(event, msgspec.Struct) else {}
    shown = ", ".join(
        f"{name}={_show(name, value, audio_event)}" for name, value in fields.items() if value is not None
    )
    return f"{event.type} {shown}" if shown else event.type


def _show(name: str, value: Any, audio_event: bool) -> str:
    if audio_event and name in _AUDIO_FIELDS and isinstance(value, str):
        return f"<{len(value) // 4 * 3} bytes of audio>"
    if isinstance(value, (msgspec.Struct, list, dict)):
        value = _without_audio(msgspec.to_builtins(value))  # sizes first: no scanning of audio for secrets
    value = redact({name: value})[name]  # the field's own name counts: ``client_secret``, ``authorization``
    if isinstance(value, str):
        return repr(value if len(value) <= _LONG else value[:_LONG] + "...")
    if isinstance(value, (list, dict)):
        text = msgspec.json.encode(_shorten(value)).decode()
        return text if len(text) <= _NESTED else text[:_NESTED] + "..."
    text = repr(value)
    return text if len(text) <= _LONG else text[:_LONG] + "..."


def _without_audio(value: Any) -> Any:
    """Nested values with base64 audio replaced by its size."""
    if isinstance(value, dict):
        return {
            key: f"<{len(item) // 4 * 3} bytes of audio>"
            if key == "audio" and isinstance(item, str)
            else _without_audio(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_without_audio(item) for item in value]
    return value


def _shorten(value: Any) -> Any:
    """Nested values with long strings cut (after redaction: a cut never leaves part of a key)."""
    if isinstance(value, dict):
        return {key: _shorten(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shorten(item) for item in value]
    if isinstance(value, str) and len(value) > _LONG:
        return value[:_LONG] + "..."
    return value


async def trace_inbound(event: ServerEvent, call_next: Callable[[ServerEvent], Awaitable[None]]) -> None:
    trace_logger.debug("received %s", describe(event))
    await call_next(event)


class TappedTransport:
    """A transport that shows every frame to the taps first."""

    def __init__(self, inner: Transport, taps: Sequence[FrameTap]) -> None:
        self._inner = inner
        self._taps = tuple(taps)

    async def send(self, data: bytes) -> None:
        for tap in self._taps:
            _call_tap(tap, "out", data)
        await self._inner.send(data)

    def receive_nowait(self) -> bytes | None:
        poll = getattr(self._inner, "receive_nowait", None)
        data = poll() if poll is not None else None
        if data is not None:
            for tap in self._taps:
                _call_tap(tap, "in", data)
        return data

    async def receive(self) -> bytes:
        data = await self._inner.receive()
        for tap in self._taps:
            _call_tap(tap, "in", data)
        return data

    async def aclose(self) -> None:
        await self._inner.aclose()


def _call_tap(tap: FrameTap, direction: Literal["in", "out"], data: bytes) -> None:
    try:
        tap(direction, data)
    except Exception:  # a broken tap must not break the connection
        logging.getLogger("realtime_dispatch.app").exception("frame tap %r failed", tap)
