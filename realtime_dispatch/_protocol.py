"""The protocols an app can speak, as data: Realtime (GA and beta), GPT-Live, Realtime Translation.

A ``Protocol`` says what the machinery needs to know about one: its server and client event
catalogues and decoders, the event that says a session is ready when the client must wait for it
(GPT-Live: ``session.start`` first, then ``session.started``), and how a session ends on purpose
(``session.close`` answered by ``session.closed``). The router, dispatcher, lifecycle, transports,
middleware, metrics and test kit read it; nothing is copied per protocol.

The catalogues of GPT-Live and Translation load on first use: a Realtime app never pays for them.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, get_args

import msgspec

from .events import ClientEvent, ServerEvent

if TYPE_CHECKING:
    from ._connection import BaseConnection
    from ._tools import ToolSpec

__all__ = (
    "Api",
    "Protocol",
    "all_server_events",
    "is_server_event",
    "is_server_event_class",
    "protocol",
    "routing_hint",
)

Api = Literal["ga", "beta", "live", "translation"]
"""The name of a protocol: what ``RealtimeApp.api`` and ``Endpoint.api`` hold."""

APIS: tuple[str, ...] = get_args(Api)


@dataclass(frozen=True, eq=False)
class Protocol:
    """What the machinery needs to know about one protocol."""

    name: str
    title: str
    server_events: Mapping[str, type[ServerEvent]]
    client_events: Mapping[str, type[ClientEvent]]
    server_decoder: msgspec.json.Decoder[Any]  # the fast path: one reused decoder over the server union
    decode: Callable[[bytes | str], ServerEvent]  # the full contract: UnknownEvent, or DecodeError
    decode_client: Callable[[bytes | str], ClientEvent]  # a client frame (a server or a test kit reads them)
    realtime: bool  # the Realtime API's session model: turns, responses, conversation items
    connection_class: str = "realtime_dispatch._connection:Connection"  # an app's connection (its senders)
    # What an app sends first on each connection that starts a session (not a sideband), from its
    # ``session`` and ``@tool``s; None: nothing. Raises ConfigError for a session it cannot start.
    # (The Realtime API's session.update, with its own replay features, is built by the app.)
    start: Callable[[Any, list[ToolSpec]], ClientEvent | None] | None = None
    ready: str | None = None  # sent by the server when a started session may be used (the client waits)
    closed: str | None = None  # the server's last event of a session: nothing follows it
    close_request: type[ClientEvent] | None = None  # asks the server to end the session (answered by ``closed``)
    acks: Mapping[str, str] = field(default_factory=dict)  # client type -> its acknowledgement's (``request``)

    def __repr__(self) -> str:
        return f"<Protocol {self.name}: {self.title}>"

    @property
    def connection(self) -> type[BaseConnection]:
        """The class of an app's connection on this protocol (loaded on first use)."""
        module, _, name = self.connection_class.partition(":")
        cls: type[BaseConnection] = getattr(importlib.import_module(module), name)
        return cls


def _realtime(name: str) -> Protocol:
    from . import events
    from .events._codec import server_decoder

    return Protocol(
        name=name,
        title="Realtime API" + (" (beta)" if name == "beta" else ""),
        server_events=events.SERVER_EVENTS,
        client_events=events.CLIENT_EVENTS,
        server_decoder=server_decoder,
        decode=events.decode,
        decode_client=events.decode_client,
        realtime=True,
    )


def _other(name: str, title: str, module: str, *, ready: str | None, app_module: str, connection: str) -> Protocol:
    loaded: Any = importlib.import_module(module)
    codec = loaded.decode.__self__  # the module's Codec (events._codec), whose bound methods it exports
    # Loaded here, not imported: a Realtime app never loads the other protocols' code.
    support: Any = importlib.import_module(app_module)
    return Protocol(
        connection_class=f"{app_module}:{connection}",
        start=support.start_event,
        name=name,
        title=title,
        server_events=loaded.SERVER_EVENTS,
        client_events=loaded.CLIENT_EVENTS,
        server_decoder=codec.server_decoder,
        decode=loaded.decode,
        decode_client=loaded.decode_client,
        realtime=False,
        ready=ready,
        closed="session.closed",
        close_request=loaded.CLIENT_EVENTS["session.close"],
        acks=support.ACKS,
    )


@cache
def protocol(name: str) -> Protocol:
    """The protocol called ``name`` (``"ga"``, ``"beta"``, ``"live"``, ``"translation"``)."""
    if name in ("ga", "beta"):
        return _realtime(name)
    if name == "live":
        return _other(
            "live",
            "GPT-Live",
            "realtime_dispatch.events.live",
            ready="session.started",
            app_module="realtime_dispatch._live",
            connection="LiveConnection",
        )
    if name == "translation":
        return _other(
            "translation",
            "Realtime Translation",
            "realtime_dispatch.events.translation",
            ready=None,
            app_module="realtime_dispatch._translation",
            connection="TranslationConnection",
        )
    raise ValueError(f"unknown api {name!r}: one of {', '.join(map(repr, APIS))}")


def is_server_event(key: str) -> bool:
    """Whether any protocol sends an event called ``key`` (the Realtime API's are checked first:
    a Realtime app never loads the others')."""
    return key in protocol("ga").server_events or key in all_server_events()


def is_server_event_class(cls: type[ServerEvent]) -> bool:
    """Whether ``cls`` is the class some protocol decodes its events to."""
    tag = str(cls.__struct_config__.tag)
    if protocol("ga").server_events.get(tag) is cls:
        return True
    return cls in all_server_events().get(tag, ())


@cache
def all_server_events() -> Mapping[str, tuple[type[ServerEvent], ...]]:
    """Every server event name any protocol sends, to the classes it is decoded to (a name such as
    ``session.updated`` or ``error`` exists in several protocols, with a class in each)."""
    table: dict[str, dict[type[ServerEvent], None]] = {}
    for name in ("ga", "live", "translation"):
        for key, cls in protocol(name).server_events.items():
            table.setdefault(key, {})[cls] = None
    return {key: tuple(classes) for key, classes in sorted(table.items())}


# Realtime names with a GPT-Live counterpart (../docs/live.md has the whole migration table).
_REALTIME_TO_LIVE = {
    "response.output_audio.delta": "session.output_audio.delta",
    "response.output_audio_transcript.delta": "session.output_transcript.delta",
    "conversation.item.input_audio_transcription.delta": "session.input_transcript.delta",
    "conversation.item.input_audio_transcription.completed": "session.input_transcript.delta",
    "session.created": "session.started",
    "response.output_item.done": "response.event (nested response.output_item.done)",
    "response.function_call_arguments.done": "response.event (nested response.output_item.done)",
    "response.done": "response.event (nested response.completed)",
    "input_audio_buffer.dtmf_event_received": "transport.dtmf.received",
}


def routing_hint(key: str, api: str) -> str | None:
    """Why ``key`` (a checked routing key) can never fire on an ``api`` session, or None."""
    if key == "*" or key.startswith("<"):
        return None
    names = protocol(api).server_events
    if key.endswith(".*"):
        prefix = key[:-1]
        if any(name.startswith(prefix) for name in names):
            return None
        return f"{key!r} matches no event of the {protocol(api).title}"
    if key in names:
        return None
    title = protocol(api).title
    if api == "live" and key in _REALTIME_TO_LIVE:
        return f"{key!r} is a Realtime API event; a GPT-Live session sends {_REALTIME_TO_LIVE[key]}"
    close = difflib.get_close_matches(key, list(names), n=2, cutoff=0.6)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    return f"{key!r} is not an event of the {title}{hint}"
