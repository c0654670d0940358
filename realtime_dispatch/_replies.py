"""Which server event answers which client event, for ``Connection.request``."""

from __future__ import annotations

from collections.abc import Callable

from . import events as ev

__all__ = ("ServerError", "reply_matcher")


class ServerError(Exception):
    """The server answered a request with an ``error`` event. ``error`` holds its details."""

    def __init__(self, error: ev.ErrorDetail) -> None:
        super().__init__(f"{error.code or error.type}: {error.message}")
        self.error = error

    @property
    def code(self) -> str | None:
        return self.error.code


def reply_matcher(event: ev.ClientEvent) -> Callable[[ev.ServerEvent], bool]:
    """A predicate recognising the server's answer to ``event``."""
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
    raise ValueError(f"the server sends no answer to {event.type!r}: use send()")
