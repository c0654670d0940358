"""The conversation so far, kept (bounded) to re-seed a new session after a reconnect.

A reconnect opens a new server session with an empty conversation. With
``reseed_history`` on, the app replays the finished items as ``conversation.item.create``
right after the session: text as text, and audio by its transcript (the server never sends
audio back in item events, and a new session could not use it anyway).
"""

from __future__ import annotations

from collections import OrderedDict

from .events import (
    ContentPart,
    ConversationItem,
    ConversationItemCreate,
    ConversationItemCreated,
    ConversationItemDeleted,
    ConversationItemDone,
    ServerEvent,
)

__all__ = ("History",)

_AS_TEXT = {"input_audio": "input_text", "output_audio": "output_text", "audio": "text"}


class History:
    def __init__(self, max_items: int, *, api: str) -> None:
        self.max_items = max_items
        self.items: OrderedDict[str, ConversationItem] = OrderedDict()
        # GA finalizes items with conversation.item.done; beta only has .created.
        self.source = ConversationItemDone if api == "ga" else ConversationItemCreated

    def observe(self, event: ServerEvent) -> None:
        if isinstance(event, self.source):
            item = _replayable(event.item)
            if item is not None and item.id:
                self.items[item.id] = item
                self.items.move_to_end(item.id)
                while len(self.items) > self.max_items:
                    self.items.popitem(last=False)
        elif isinstance(event, ConversationItemDeleted):
            self.items.pop(event.item_id, None)

    def take_replay(self) -> list[ConversationItemCreate]:
        """The creates that rebuild the conversation; the history restarts from them."""
        creates = [ConversationItemCreate(item=item) for item in self.items.values()]
        self.items.clear()  # their .done events on the new session fill it again
        return creates


def _replayable(item: ConversationItem) -> ConversationItem | None:
    if item.type == "message":
        parts = []
        for part in item.content or []:
            text = part.text if part.text is not None else part.transcript
            if text:
                kind = _AS_TEXT.get(part.type or "", part.type)
                parts.append(ContentPart(type=kind, text=text))
        if not parts:
            return None
        return ConversationItem(type="message", id=item.id, role=item.role, content=parts)
    if item.type in ("function_call", "function_call_output"):
        return ConversationItem(
            type=item.type,
            id=item.id,
            call_id=item.call_id,
            name=item.name,
            arguments=item.arguments,
            output=item.output,
        )
    return None  # MCP items belong to the server's tool state: not ours to recreate
