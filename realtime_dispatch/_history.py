"""The conversation so far, kept (bounded) to re-seed a new session after a reconnect.

A reconnect opens a new server session with an empty conversation. With
``reseed_history`` on, the app replays the finished items as ``conversation.item.create``
right after the session: text as text, and audio by its transcript (the server never sends
audio back in item events, and a new session could not use it anyway).

The history outlives the replay: a connection lost during or right after it, before the
server confirmed the items, must not lose the conversation. So an item stays, in its place,
until it is deleted or evicted by the bound; replaying only marks it unconfirmed, and the
server's event for it on the new session (same id: creates carry it) confirms it again.
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
_CALL = "function_call"
_OUTPUT = "function_call_output"


class History:
    """Sans-I/O: ``observe`` the server's item events, ``take_replay`` on each new session.

    Rules:

    - an item is kept from its ``conversation.item.done`` (GA) or ``.created`` (beta) until a
      ``conversation.item.deleted`` or the bound removes it; a replay does not remove it;
    - an item seen again (the server confirming a replayed one) is updated in its place: the
      conversation keeps its order, and new items follow it;
    - at most ``max_items``; the oldest go first, and a function call goes together with its
      output (and the other way round), so the bound never splits a pair;
    - a replay pairs calls and outputs: a ``function_call`` goes out only followed by its
      ``function_call_output``, an output only after its call. Orphans (a call whose tool was
      running when the connection dropped, the other half deleted) can never be completed on a
      new session, and leave the history.
    """

    def __init__(self, max_items: int, *, api: str) -> None:
        self.max_items = max_items
        self.items: OrderedDict[str, ConversationItem] = OrderedDict()
        self._unconfirmed: set[str] = set()
        # GA finalizes items with conversation.item.done; beta only has .created.
        self.source = ConversationItemDone if api == "ga" else ConversationItemCreated

    @property
    def unconfirmed(self) -> frozenset[str]:
        """The ids replayed on the current session that its server has not confirmed yet."""
        return frozenset(self._unconfirmed)

    def observe(self, event: ServerEvent) -> None:
        if isinstance(event, self.source):
            item = _replayable(event.item)
            if item is not None and item.id:
                self.items[item.id] = item  # a known id keeps its place
                self._unconfirmed.discard(item.id)
                self._bound()
        elif isinstance(event, ConversationItemDeleted):
            self._remove(event.item_id)

    def take_replay(self) -> list[ConversationItemCreate]:
        """The creates that rebuild the conversation on a new session. The items stay, and
        unconfirmed until the server's events for them: lost again before that, the next
        session gets them again."""
        for item_id in _orphans(self.items):
            self._remove(item_id)
        self._unconfirmed = set(self.items)
        return [ConversationItemCreate(item=item) for item in self.items.values()]

    def _remove(self, item_id: str) -> None:
        self.items.pop(item_id, None)
        self._unconfirmed.discard(item_id)

    def _bound(self) -> None:
        while len(self.items) > self.max_items:
            _, oldest = self.items.popitem(last=False)
            self._unconfirmed.discard(oldest.id or "")
            if oldest.type in (_CALL, _OUTPUT) and oldest.call_id:
                other = _OUTPUT if oldest.type == _CALL else _CALL
                for item_id in [k for k, i in self.items.items() if i.type == other and i.call_id == oldest.call_id]:
                    self._remove(item_id)


def _orphans(items: OrderedDict[str, ConversationItem]) -> list[str]:
    """The ids of the calls and outputs a replay must leave out: everything but a call
    followed by its output (the first of each per call id)."""
    calls: dict[str, str] = {}  # call id -> the item id of its (first) call
    paired: dict[str, str] = {}  # call id -> the item id of the first output after its call
    for item_id, item in items.items():
        if item.type == _CALL and item.call_id and item.call_id not in calls:
            calls[item.call_id] = item_id
        elif item.type == _OUTPUT and item.call_id in calls and item.call_id not in paired:
            paired[item.call_id] = item_id
    keep = {calls[call_id] for call_id in paired} | set(paired.values())
    return [item_id for item_id, item in items.items() if item.type in (_CALL, _OUTPUT) and item_id not in keep]


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
