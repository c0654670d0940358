"""Which server event answers which client event, for ``Connection.request``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import events as ev

__all__ = ("ServerError", "names_event", "reply_matcher")


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
    acks = _LIVE_ACKS if ".live" in type(event).__module__ else _TRANSLATION_ACKS
    if ".live" in type(event).__module__ or ".translation" in type(event).__module__:
        ack = acks.get(event.type)
        if ack is not None:
            # GPT-Live echoes the command's event_id as the ack's client_event_id, when it has one.
            return lambda reply: reply.type == ack and getattr(reply, "client_event_id", None) in (None, event.event_id)
    raise ValueError(f"the server sends no answer to {event.type!r}: use send()")


# The acknowledgement of each GPT-Live and Translation client event that has one.
_LIVE_ACKS = {
    "session.start": "session.started",
    "session.update": "session.updated",
    "session.input_audio.mute": "session.input_audio.muted",
    "session.input_audio.unmute": "session.input_audio.unmuted",
    "session.output_audio.fixture.play": "session.output_audio.fixture.playing",
    "session.instructions.append": "session.instructions.appended",
    "session.thinking.append": "session.thinking.appended",
    "session.commentary.append": "session.commentary.appended",
    "decision.create": "decision.event",
    "decision.item.create": "decision.item.created",
    "decision.item.delete": "decision.item.deleted",
    "session.close": "session.closed",
    "transport.dtmf.send": "transport.dtmf.sent",
}
_TRANSLATION_ACKS = {"session.update": "session.updated", "session.close": "session.closed"}
