"""Which server event answers which client event, for ``Connection.request``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from . import events as ev

__all__ = ("ServerError", "names_event", "reply_matcher")

_NO_ACKS: Mapping[str, str] = MappingProxyType({})


class ServerError(Exception):
    """The server answered a request with an ``error`` event. ``error`` holds its details
    (``code``, ``message``, ``type``: an ``ErrorDetail``, or another protocol's error object)."""

    def __init__(self, error: Any) -> None:
        super().__init__(f"{error.code or error.type}: {error.message}")
        self.error = error

    @property
    def code(self) -> str | None:
        code: str | None = self.error.code
        return code


def names_event(error: ev.ServerEvent, event_id: str) -> bool:
    """Whether an ``error`` event is about the client event ``event_id``: Realtime names it in
    ``error.event_id``, GPT-Live in ``client_event_id`` (on the event or in ``error``)."""
    detail = getattr(error, "error", None)
    return event_id in (
        getattr(detail, "event_id", None),
        getattr(detail, "client_event_id", None),
        getattr(error, "client_event_id", None),
    )


def reply_matcher(event: ev.ClientEvent, acks: Mapping[str, str] = _NO_ACKS) -> Callable[[ev.ServerEvent], bool]:
    """A predicate recognising the server's answer to ``event``: the Realtime API's below; another protocol's
    from ``acks`` (its description's: client event type -> the type of the event acknowledging it)."""
    match event:
        case ev.SessionUpdate():
            return lambda reply: isinstance(reply, (ev.SessionUpdated, ev.TranscriptionSessionUpdated))
        case ev.TranscriptionSessionUpdate():
            return lambda reply: isinstance(reply, ev.TranscriptionSessionUpdated)
        case ev.InputAudioBufferCommit():
            return lambda reply: isinstance(reply, ev.InputAudioBufferCommitted)
        case ev.InputAudioBufferClear():
            return lambda reply: isinstance(reply, ev.InputAudioBufferCleared)
        case ev.OutputAudioBufferClear():
            return lambda reply: isinstance(reply, ev.OutputAudioBufferCleared)
        case ev.ConversationItemCreate(item=item):
            wanted = item.id
            return lambda reply: (
                isinstance(reply, (ev.ConversationItemCreated, ev.ConversationItemAdded))
                and (wanted is None or reply.item.id == wanted)
            )
        case ev.ConversationItemRetrieve(item_id=item_id):
            return lambda reply: isinstance(reply, ev.ConversationItemRetrieved) and reply.item.id == item_id
        case ev.ConversationItemTruncate(item_id=item_id):
            return lambda reply: isinstance(reply, ev.ConversationItemTruncated) and reply.item_id == item_id
        case ev.ConversationItemDelete(item_id=item_id):
            return lambda reply: isinstance(reply, ev.ConversationItemDeleted) and reply.item_id == item_id
        case ev.ResponseCreate():
            return lambda reply: isinstance(reply, ev.ResponseCreated)
        case ev.ResponseCancel(response_id=response_id):
            return lambda reply: (
                isinstance(reply, ev.ResponseDone)
                and reply.response.status == "cancelled"
                and (response_id is None or reply.response.id == response_id)
            )
    ack = acks.get(event.type)
    if ack is not None:
        # GPT-Live echoes the command's event_id as the ack's client_event_id, when it has one.
        return lambda reply: reply.type == ack and getattr(reply, "client_event_id", None) in (None, event.event_id)
    raise ValueError(f"the server sends no answer to {event.type!r}: use send()")
