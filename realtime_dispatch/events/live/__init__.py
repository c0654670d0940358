"""Typed GPT-Live events (``/v1/live/sessions``) and the codecs between them and frames.

GPT-Live has three kinds of connection, each with its own client catalogue. The primary
and fork connections receive the same 28 server event types (``SERVER_EVENTS``, decoded by
``decode``); the sideband receives those and ``session.paused``/``session.resumed`` (30,
``SIDEBAND_SERVER_EVENTS``, decoded by ``decode_sideband``, which a WebRTC data channel may
also want: it can be permitted those two).

* **primary** WebSocket (``wss://.../v1/live/sessions``, and the WebRTC data channel
  ``oai-events`` less ``session.start`` and ``session.input_audio.append``): 15 client
  types, ``CLIENT_EVENTS``, ``decode_client``. The first frame is ``session.start``.
* **sideband** (``.../sessions/{id}/attach``, observing a WebRTC or SIP session): 14 client
  types, ``SIDEBAND_CLIENT_EVENTS``, ``decode_sideband_client``: no ``session.start``, no
  ``session.input_audio.append``, plus ``transport.dtmf.send``.
* **fork** WebSocket (``.../sessions/{id}/fork``): 15 client types, ``FORK_CLIENT_EVENTS``,
  ``decode_fork_client``: ``session.start`` carries a ``ForkSessionConfig``.

Two wire types exist in both directions with different shapes, so each direction decodes
with its own union: ``session.input_audio.append`` (client ``InputAudioAppendEvent``, server
``SessionInputAudioAppend``) and ``transport.dtmf.send`` (client ``TransportDtmfSend``,
legacy server ``TransportDtmfSendLegacy``).

The contract is Realtime's: an unknown server ``type`` decodes to ``UnknownEvent``, a broken
frame or an unknown client ``type`` raises ``DecodeError``; ``encode`` leaves unset optional
fields out and always writes required ones, ``null`` included.

>>> from realtime_dispatch.events import live
>>> ev = live.decode(b'{"type":"session.output_audio.delta","delta":"AAA="}')
>>> ev.type, ev.pcm
('session.output_audio.delta', b'\\x00\\x00')
>>> live.encode(live.InstructionsAppendEvent(content="Greet the caller.", delegation_id=None))
b'{"type":"session.instructions.append","content":"Greet the caller.","delegation_id":null}'
"""

from __future__ import annotations

from collections.abc import Mapping

from .._base import ClientEvent, DecodeError, ServerEvent, UnknownEvent
from .._codec import Codec, registry
from . import _client, _server
from ._client import *  # noqa: F403
from ._client import __all__ as _client_all
from ._models import *  # noqa: F403
from ._models import __all__ as _models_all
from ._server import *  # noqa: F403
from ._server import __all__ as _server_all

__all__ = (
    "CLIENT_EVENTS",
    "FORK_CLIENT_EVENTS",
    "PRIMARY",
    "SERVER_EVENTS",
    "SIDEBAND",
    "SIDEBAND_CLIENT_EVENTS",
    "SIDEBAND_SERVER_EVENTS",
    "FORK",
    "ClientEvent",
    "DecodeError",
    "ServerEvent",
    "UnknownEvent",
    "decode",
    "decode_client",
    "decode_fork_client",
    "decode_sideband",
    "decode_sideband_client",
    "encode",
    *_client_all,
    *_models_all,
    *_server_all,
)

_COMMON = [
    _client.SessionUpdateEvent,
    _client.InputAudioMuteEvent,
    _client.InputAudioUnmuteEvent,
    _client.OutputAudioFixturePlayEvent,
    _client.InstructionsAppendEvent,
    _client.ThinkingAppendEvent,
    _client.CommentaryAppendEvent,
    _client.DecisionCreateEvent,
    _client.DecisionItemCreateEvent,
    _client.DecisionItemDeleteEvent,
    _client.ResponseItemCreateEvent,
    _client.ResponseCreateEvent,
    _client.SessionCloseEvent,
]

SIDEBAND_SERVER_EVENTS: Mapping[str, type[ServerEvent]] = registry(_server, ServerEvent)
"""The sideband's 30 server wire types to their struct classes. Read-only."""

SERVER_EVENTS: Mapping[str, type[ServerEvent]] = registry(
    [cls for cls in SIDEBAND_SERVER_EVENTS.values() if cls not in (_server.SessionPaused, _server.SessionResumed)],
    ServerEvent,
)
"""The 28 server wire types of the primary and fork connections to their struct classes. Read-only."""

CLIENT_EVENTS: Mapping[str, type[ClientEvent]] = registry(
    [_client.SessionStartEvent, _client.InputAudioAppendEvent, *_COMMON], ClientEvent
)
"""The primary connection's 15 client wire types to their struct classes. Read-only."""

SIDEBAND_CLIENT_EVENTS: Mapping[str, type[ClientEvent]] = registry([*_COMMON, _client.TransportDtmfSend], ClientEvent)
"""The sideband's 14 client wire types: no ``session.start`` or audio append, plus DTMF. Read-only."""

FORK_CLIENT_EVENTS: Mapping[str, type[ClientEvent]] = registry(
    [_client.ForkSessionStartEvent, _client.InputAudioAppendEvent, *_COMMON], ClientEvent
)
"""The fork WebSocket's 15 client wire types (``session.start`` is ``ForkSessionStartEvent``). Read-only."""

PRIMARY = Codec("GPT-Live", SERVER_EVENTS, CLIENT_EVENTS)
"""The primary WebSocket's codec (``decode``, ``decode_client``, ``encode``)."""

SIDEBAND = Codec("GPT-Live sideband", SIDEBAND_SERVER_EVENTS, SIDEBAND_CLIENT_EVENTS)
"""The sideband's codec."""

FORK = Codec("GPT-Live fork", SERVER_EVENTS, FORK_CLIENT_EVENTS)
"""The fork WebSocket's codec."""

decode = PRIMARY.decode
"""One server frame (any connection) to its typed event; ``UnknownEvent`` for an unmodelled type."""

decode_sideband = SIDEBAND.decode
"""One sideband server frame: ``decode`` plus ``session.paused``/``session.resumed``."""

decode_client = PRIMARY.decode_client
"""One primary-connection client frame; an unknown type is a ``DecodeError``."""

decode_sideband_client = SIDEBAND.decode_client
"""One sideband client frame; an unknown (or primary-only) type is a ``DecodeError``."""

decode_fork_client = FORK.decode_client
"""One fork-connection client frame; ``session.start`` decodes to ``ForkSessionStartEvent``."""

encode = PRIMARY.encode
"""Compact JSON for any Live event; ``UnknownEvent`` encodes to the bytes it came from."""
