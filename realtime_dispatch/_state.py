"""The conversation as the server has reported it, rebuilt from server events.

``Conversation.observe`` is called once per event by the dispatcher (or by hand). It keeps
items in the server's order, accumulates streamed text, transcripts, function arguments and
audio byte counts, records responses and sums usage. Everything is bounded: at most
``max_items`` items and as many responses, and kept audio within ``max_audio_bytes``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from .events import (
    ContentPart,
    ConversationItem,
    ConversationItemDeleted,
    ConversationItemDone,
    ConversationItemRetrieved,
    ConversationItemTruncated,
    InputAudioBufferCommitted,
    InputAudioTranscriptionCompleted,
    InputAudioTranscriptionDelta,
    InputAudioTranscriptionFailed,
    McpError,
    McpToolInfo,
    ResponseAudioDelta,
    ResponseAudioTranscriptDelta,
    ResponseAudioTranscriptDone,
    ResponseContentPartAdded,
    ResponseContentPartDone,
    ResponseCreated,
    ResponseDone,
    ResponseFunctionCallArgumentsDelta,
    ResponseFunctionCallArgumentsDone,
    ResponseMcpCallArgumentsDelta,
    ResponseMcpCallArgumentsDone,
    ResponseOutputAudioDelta,
    ResponseOutputAudioTranscriptDelta,
    ResponseOutputAudioTranscriptDone,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ResponseOutputTextDelta,
    ResponseOutputTextDone,
    ResponseStatus,
    ResponseTextDelta,
    ResponseTextDone,
    ServerEvent,
    TranscriptionError,
    Usage,
    pcm_from_base64,
)
from .events import Response as _ResponseModel

__all__ = ("Conversation", "Item", "Part", "Response", "UsageTotals")

logger = logging.getLogger("realtime_dispatch.state")

# Content and output indices come from the server and are tiny in practice; the cap keeps a
# corrupt index from allocating thousands of empty parts.
_MAX_INDEX = 64
# Deltas are joined once this many are pending, so a long stream holds a few strings, not
# thousands of small ones, while each delta still costs one list append.
_JOIN_EVERY = 64


def _append(chunks: list[str], delta: str) -> None:
    chunks.append(delta)
    if len(chunks) >= _JOIN_EVERY:
        chunks[:] = ["".join(chunks)]


def _joined(chunks: list[str] | None) -> str | None:
    if chunks is None:
        return None
    if len(chunks) == 1:
        return chunks[0]
    text = "".join(chunks)
    chunks[:] = [text]  # later reads are free until the next delta
    return text


def _decoded_size(b64: str) -> int:
    """Bytes that ``b64`` decodes to, without decoding it (server audio has no whitespace).

    Every 4 characters carry 3 bytes, so the unpadded length gives the size with or without
    padding; ``rstrip`` returns the same string, uncopied, when there is none.
    """
    return len(b64.rstrip("=")) * 3 // 4


class Part:
    """One content part of an item.

    ``text`` and ``transcript`` are what the server streamed, replaced by the final value
    from a ``.done`` event or item snapshot. ``audio_bytes`` counts decoded audio received;
    ``audio`` holds it only with ``keep_audio`` (and loses its oldest bytes to the budget,
    counted in ``audio_dropped``).
    """

    __slots__ = (
        "_audio",
        "_text",
        "_transcript",
        "audio_bytes",
        "audio_dropped",
        "audio_kept",
        "transcript_before_truncation",
        "transcription_error",
        "truncated_at_ms",
        "type",
    )

    def __init__(self, type: str | None = None) -> None:
        self.type = type
        self._text: list[str] | None = None
        self._transcript: list[str] | None = None
        self._audio: deque[bytes] | None = None
        self.audio_bytes = 0
        self.audio_kept = 0
        self.audio_dropped = 0
        self.truncated_at_ms: int | None = None
        self.transcript_before_truncation: str | None = None
        self.transcription_error: TranscriptionError | None = None

    @property
    def text(self) -> str | None:
        return _joined(self._text)

    @property
    def transcript(self) -> str | None:
        return _joined(self._transcript)

    @property
    def audio(self) -> bytes | None:
        """The kept audio (``keep_audio`` only), oldest bytes possibly dropped to the budget."""
        return None if self._audio is None else b"".join(self._audio)

    def __repr__(self) -> str:
        return (
            f"Part(type={self.type!r}, text={self.text!r}, transcript={self.transcript!r}, "
            f"audio_bytes={self.audio_bytes})"
        )


class Item:
    """One conversation item: a message, a function call or its output, or an MCP item.

    ``previous_item_id`` is the predecessor the server reported when it placed the item;
    ``response_id`` is set for items a response produced.
    """

    __slots__ = (
        "_arguments",
        "_outside",
        "_placed",
        "approval_request_id",
        "approve",
        "call_id",
        "error",
        "id",
        "name",
        "output",
        "parts",
        "previous_item_id",
        "reason",
        "response_id",
        "role",
        "server_label",
        "status",
        "tools",
        "type",
    )

    def __init__(self, id: str, type: str | None = None, role: str | None = None) -> None:
        self.id = id
        self.type = type
        self.role = role
        self.status: str | None = None
        self.previous_item_id: str | None = None
        self.response_id: str | None = None
        self.parts: list[Part] = []
        self.name: str | None = None
        self.call_id: str | None = None
        self._arguments: list[str] | None = None
        self.output: str | None = None
        self.server_label: str | None = None
        self.approval_request_id: str | None = None
        self.approve: bool | None = None
        self.reason: str | None = None
        self.tools: list[McpToolInfo] | None = None
        self.error: McpError | None = None
        # False until an event told us where the item sits; until then it waits at the end.
        self._placed = False
        # Produced by an out-of-band response: reachable with get(), not part of the conversation.
        self._outside = False

    @property
    def arguments(self) -> str | None:
        """Function or MCP call arguments: the streamed JSON, replaced by the final string."""
        return _joined(self._arguments)

    @property
    def text(self) -> str:
        """Each part's text, or its transcript when it has no text, joined by newlines."""
        texts = []
        for part in self.parts:
            value = part.text
            if value is None:
                value = part.transcript
            if value:
                texts.append(value)
        return "\n".join(texts)

    def __repr__(self) -> str:
        return (
            f"Item(id={self.id!r}, type={self.type!r}, role={self.role!r}, status={self.status!r}, "
            f"parts={self.parts!r})"
        )


class Response:
    """One response: ``output_item_ids`` in output order, ``usage`` from ``response.done``."""

    __slots__ = (
        "_counted",
        "_out_of_band",
        "conversation_id",
        "id",
        "metadata",
        "output_item_ids",
        "status",
        "status_details",
        "usage",
    )

    def __init__(self, id: str) -> None:
        self.id = id
        self.status: str | None = None
        self.status_details: ResponseStatus | None = None
        self.usage: Usage | None = None
        self.output_item_ids: list[str] = []
        self.conversation_id: str | None = None
        self.metadata: dict[str, str] | None = None
        self._counted = False
        self._out_of_band = False  # conversation "none": its items stay out of the conversation

    def __repr__(self) -> str:
        return f"Response(id={self.id!r}, status={self.status!r}, output_item_ids={self.output_item_ids!r})"


@dataclass(slots=True)
class UsageTotals:
    """Token usage summed over every ``response.done`` seen (each response counted once).

    The splits stay 0 when the server sends no details.
    """

    responses: int = 0
    total_tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    input_text_tokens: int = 0
    input_audio_tokens: int = 0
    input_image_tokens: int = 0
    input_cached_tokens: int = 0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0

    def add(self, usage: Usage) -> None:
        self.responses += 1
        self.total_tokens += usage.total_tokens or 0
        self.input_tokens += usage.input_tokens or 0
        self.output_tokens += usage.output_tokens or 0
        inp = usage.input_token_details
        if inp is not None:
            self.input_text_tokens += inp.text_tokens or 0
            self.input_audio_tokens += inp.audio_tokens or 0
            self.input_image_tokens += inp.image_tokens or 0
            self.input_cached_tokens += inp.cached_tokens or 0
        out = usage.output_token_details
        if out is not None:
            self.output_text_tokens += out.text_tokens or 0
            self.output_audio_tokens += out.audio_tokens or 0


_Handler = Callable[["Conversation", Any], None]


class Conversation:
    """The conversation as the server has reported it: items in server order, accumulated
    text/transcripts/arguments, responses and usage.

    Feed it every server event with ``observe`` (types outside ``EVENT_TYPES`` are ignored).
    It never raises on odd or out-of-order input: what it cannot place it logs at DEBUG on
    ``realtime_dispatch.state`` and skips. See ``docs/state.md``.
    """

    EVENT_TYPES: ClassVar[tuple[str, ...]]

    def __init__(
        self, *, max_items: int = 200, keep_audio: bool = False, max_audio_bytes: int = 10 * 1024 * 1024
    ) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        if max_audio_bytes < 0:
            raise ValueError("max_audio_bytes must not be negative")
        self.max_items = max_items
        self.keep_audio = keep_audio
        self.max_audio_bytes = max_audio_bytes
        self.usage = UsageTotals()
        self.audio_bytes_dropped = 0
        self._items: dict[str, Item] = {}  # arrival order: the first key is the next to evict
        self._order: list[str] = []  # conversation order
        self._responses: dict[str, Response] = {}
        # Ids evicted or deleted lately, so a late event cannot bring their item back.
        self._gone: dict[str, None] = {}
        # Parts holding kept audio, in order of their first chunk: the budget drops from the front.
        self._audio_parts: dict[Part, None] = {}
        self._audio_total = 0
        # The live service names the conversation of every in-band response (conversation_id) and
        # leaves it null on out-of-band ones. Until a server has shown it does (older beta servers
        # and scripted ones may never), a response without one is taken as in-band.
        self._names_conversations = False

    # --- reading -------------------------------------------------------------------------

    @property
    def items(self) -> list[Item]:
        """The items in conversation order (a new list on each call)."""
        items = self._items
        return [items[item_id] for item_id in self._order]

    def __len__(self) -> int:
        return len(self._order)

    def get(self, item_id: str) -> Item | None:
        return self._items.get(item_id)

    def last(self, role: str | None = None) -> Item | None:
        """The last item in conversation order, or the last with this ``role``."""
        items = self._items
        for item_id in reversed(self._order):
            item = items[item_id]
            if role is None or item.role == role:
                return item
        return None

    @property
    def responses(self) -> list[Response]:
        """The most recent responses (at most ``max_items``), oldest first."""
        return list(self._responses.values())

    def get_response(self, response_id: str) -> Response | None:
        return self._responses.get(response_id)

    @property
    def last_response(self) -> Response | None:
        """The response created most recently."""
        return next(reversed(self._responses.values()), None)

    @property
    def audio_bytes_kept(self) -> int:
        return self._audio_total

    def clear(self) -> None:
        """Forget every item and response, e.g. for a new session; usage totals are kept."""
        self._items.clear()
        self._order.clear()
        self._responses.clear()
        self._gone.clear()
        self._audio_parts.clear()
        self._audio_total = 0

    # --- observing -----------------------------------------------------------------------

    def observe(self, event: ServerEvent) -> None:
        handler = _ROUTES.get(event.type)
        if handler is None:
            return
        try:
            handler(self, event)
        except Exception:
            # A bug here must not take the receive loop down with it; louder than the DEBUG
            # notes on odd input because it is ours to fix.
            logger.warning("conversation state: %s event not applied", event.type, exc_info=True)

    # --- items ---------------------------------------------------------------------------

    def _new_item(self, item_id: str, type: str | None, role: str | None, *, outside: bool = False) -> Item:
        item = Item(item_id, type, role)
        self._items[item_id] = item
        if outside:
            item._outside = True
        else:
            self._order.append(item_id)
        if len(self._items) > self.max_items:
            self._evict()
        return item

    def _evict(self) -> None:
        while len(self._items) > self.max_items:
            oldest = next(iter(self._items))
            logger.debug("conversation state: evicting item %s", oldest)
            self._remove(oldest)

    def _remove(self, item_id: str) -> None:
        item = self._items.pop(item_id)
        if not item._outside:
            self._order.remove(item_id)
        for part in item.parts:
            self._release_audio(part)
        self._gone[item_id] = None
        if len(self._gone) > self.max_items:
            del self._gone[next(iter(self._gone))]

    def _known_or_new(
        self, item_id: str | None, type: str | None, role: str | None, *, revive: bool = False, outside: bool = False
    ) -> Item | None:
        """The item, created (unplaced) when the server mentions it first; None when the event
        names no item, or an evicted or deleted one. ``revive``: the event announces a new item,
        which may reuse the id of a deleted one (clients choose ids too). ``outside``: a new item
        is an out-of-band response's, kept out of the conversation."""
        if not item_id:
            logger.debug("conversation state: event without an item id")
            return None
        item = self._items.get(item_id)
        if item is None:
            if item_id in self._gone:
                if not revive:
                    logger.debug("conversation state: event for evicted or deleted item %s", item_id)
                    return None
                del self._gone[item_id]
            item = self._new_item(item_id, type, role, outside=outside)
        return item

    def _joins(self, item: Item) -> None:
        """A conversation event names an item we held outside it: it is part of the conversation after all."""
        item._outside = False
        self._order.append(item.id)

    def _place(self, item: Item, previous_item_id: str | None) -> None:
        """Put ``item`` after ``previous_item_id`` (None or "root": first), once.

        The first report wins: GA's ``conversation.item.done`` says ``previous_item_id: null``
        for items that ``.added`` placed after another, and the server never moves items.
        """
        item._placed = True
        item.previous_item_id = previous_item_id
        order = self._order
        if previous_item_id is None or previous_item_id == "root":
            if order[0] != item.id:
                order.remove(item.id)
                order.insert(0, item.id)
        elif (
            previous_item_id == item.id or previous_item_id not in self._items or self._items[previous_item_id]._outside
        ):
            # The predecessor was evicted (or never seen): the item is the newest we know of.
            logger.debug("conversation state: %s follows unknown item %s", item.id, previous_item_id)
            if order[-1] != item.id:
                order.remove(item.id)
                order.append(item.id)
        elif not (order[-1] == item.id and len(order) > 1 and order[-2] == previous_item_id):
            # Placed as it arrived (the common case) unless something else arrived in between.
            order.remove(item.id)
            order.insert(order.index(previous_item_id) + 1, item.id)

    def _part(self, item: Item, index: int | None, type: str | None) -> Part | None:
        parts = item.parts
        index = index or 0
        if 0 <= index < len(parts):
            return parts[index]
        if not 0 <= index < _MAX_INDEX:
            logger.debug("conversation state: content index %s of item %s out of range", index, item.id)
            return None
        while len(parts) <= index:
            parts.append(Part(type))
        return parts[index]

    def _merge(self, item: Item, snapshot: ConversationItem) -> None:
        """Take what an item snapshot reports, without erasing what was streamed: snapshots
        sent early have empty content and arguments."""
        if snapshot.type is not None:
            item.type = snapshot.type
        if snapshot.role is not None:
            item.role = snapshot.role
        if snapshot.status is not None:
            item.status = snapshot.status
        if snapshot.name is not None:
            item.name = snapshot.name
        if snapshot.call_id is not None:
            item.call_id = snapshot.call_id
        if snapshot.arguments or (snapshot.arguments is not None and item._arguments is None):
            item._arguments = [snapshot.arguments]
        if snapshot.output is not None:
            item.output = snapshot.output
        if snapshot.type is not None and snapshot.type.startswith("mcp"):
            item.server_label = snapshot.server_label or item.server_label
            item.approval_request_id = snapshot.approval_request_id or item.approval_request_id
            item.approve = snapshot.approve if snapshot.approve is not None else item.approve
            item.reason = snapshot.reason or item.reason
            item.tools = snapshot.tools or item.tools
            item.error = snapshot.error or item.error
        if snapshot.content:
            for index, content in enumerate(snapshot.content[:_MAX_INDEX]):
                part = self._part(item, index, content.type)
                if part is not None:
                    self._merge_part(part, content)

    def _merge_part(self, part: Part, content: ContentPart) -> None:
        if content.type is not None:
            part.type = content.type
        if content.text or (content.text is not None and part._text is None):
            part._text = [content.text]
        # A truncated part's transcript is gone on the server; a snapshot must not restore it.
        if part.truncated_at_ms is None and (
            content.transcript or (content.transcript is not None and part._transcript is None)
        ):
            part._transcript = [content.transcript]
        if content.audio:
            # Only conversation.item.retrieved carries audio: the part's whole audio.
            self._release_audio(part)
            part.audio_bytes = _decoded_size(content.audio)
            self._keep(part, content.audio)

    def _on_item_reported(self, event: Any) -> None:
        """conversation.item.added / .created / .done: the item exists, at this position."""
        snapshot: ConversationItem = event.item
        announces = type(event) is not ConversationItemDone
        item = self._known_or_new(snapshot.id, snapshot.type, snapshot.role, revive=announces)
        if item is None:
            return
        if item._outside:
            self._joins(item)
        self._merge(item, snapshot)
        previous = event.previous_item_id
        # A null predecessor on .done means "not given" (see _place); a string still places.
        if not item._placed and (previous is not None or announces):
            self._place(item, previous)

    def _on_item_retrieved(self, event: ConversationItemRetrieved) -> None:
        item = self._items.get(event.item.id or "")
        if item is None:
            logger.debug("conversation state: retrieved unknown item %s", event.item.id)
            return
        self._merge(item, event.item)

    def _on_item_deleted(self, event: ConversationItemDeleted) -> None:
        if event.item_id in self._items:
            self._remove(event.item_id)
        else:
            logger.debug("conversation state: deleted unknown item %s", event.item_id)

    def _on_item_truncated(self, event: ConversationItemTruncated) -> None:
        item = self._items.get(event.item_id)
        part = None if item is None else self._part(item, event.content_index, None)
        if part is None:
            logger.debug("conversation state: truncated unknown item %s", event.item_id)
            return
        part.truncated_at_ms = event.audio_end_ms
        # The server deletes the transcript so the model does not "remember" unheard words.
        if part._transcript is not None:
            part.transcript_before_truncation = _joined(part._transcript)
            part._transcript = None

    def _on_committed(self, event: InputAudioBufferCommitted) -> None:
        # Committed names the user item and its position before any item event does, so
        # transcription events that overtake .added still have an item to land in.
        item = self._known_or_new(event.item_id, "message", "user", revive=True)
        if item is None:
            return
        if item._outside:
            self._joins(item)
        if not item.parts:
            item.parts.append(Part("input_audio"))
        if not item._placed:
            self._place(item, event.previous_item_id)

    # --- input audio transcription --------------------------------------------------------

    def _transcription_part(self, item_id: str, content_index: int | None) -> Part | None:
        # Never creates the item: a transcription can finish long after its item was evicted.
        item = self._items.get(item_id)
        if item is None:
            logger.debug("conversation state: transcription for unknown item %s", item_id)
            return None
        return self._part(item, content_index, "input_audio")

    def _on_transcription_delta(self, event: InputAudioTranscriptionDelta) -> None:
        item = self._items.get(event.item_id)
        index = event.content_index or 0
        if item is not None and 0 <= index < len(item.parts):
            part: Part | None = item.parts[index]
        else:
            part = self._transcription_part(event.item_id, event.content_index)
        if part is not None and event.delta:
            if part._transcript is None:
                part._transcript = [event.delta]
            else:
                _append(part._transcript, event.delta)

    def _on_transcription_completed(self, event: InputAudioTranscriptionCompleted) -> None:
        part = self._transcription_part(event.item_id, event.content_index)
        if part is not None:
            part._transcript = [event.transcript]
            part.transcription_error = None

    def _on_transcription_failed(self, event: InputAudioTranscriptionFailed) -> None:
        part = self._transcription_part(event.item_id, event.content_index)
        if part is not None:
            part.transcription_error = event.error

    # --- responses -----------------------------------------------------------------------

    def _response(self, response_id: str | None) -> Response | None:
        if not response_id:
            return None
        response = self._responses.get(response_id)
        if response is None:
            response = self._responses[response_id] = Response(response_id)
            if len(self._responses) > self.max_items:
                forgotten = self._responses.pop(next(iter(self._responses)))
                if forgotten._out_of_band:  # its items were only reachable through it
                    for item_id in forgotten.output_item_ids:
                        item = self._items.get(item_id)
                        if item is not None and item._outside:
                            self._remove(item_id)
        return response

    def _outside(self, response_id: str | None) -> bool:
        """Whether ``response_id`` is an out-of-band response's: its new items stay out of the conversation."""
        response = self._responses.get(response_id) if response_id else None
        return response is not None and response._out_of_band

    def _update_response(self, model: _ResponseModel) -> Response | None:
        response = self._response(model.id)
        if response is None:
            logger.debug("conversation state: response without an id")
            return None
        if model.status is not None:
            response.status = model.status
        if model.status_details is not None:
            response.status_details = model.status_details
        if model.conversation_id is not None:
            response.conversation_id = model.conversation_id
        if model.metadata is not None:
            response.metadata = model.metadata
        return response

    def _on_response_created(self, event: ResponseCreated) -> None:
        response = self._update_response(event.response)
        if event.response.conversation_id is not None:
            self._names_conversations = True
        elif response is not None and self._names_conversations:
            response._out_of_band = True  # conversation "none": not part of the conversation

    def _on_response_done(self, event: ResponseDone) -> None:
        model = event.response
        response = self._update_response(model)
        if response is None:
            return
        if model.usage is not None:
            response.usage = model.usage
            if not response._counted:  # a repeated response.done must not count twice
                response._counted = True
                self.usage.add(model.usage)
        if model.output is not None:
            ids = [out.id for out in model.output[:_MAX_INDEX] if out.id]
            if ids:
                response.output_item_ids = ids
            for out in model.output[:_MAX_INDEX]:
                item = self._items.get(out.id or "")
                if item is not None:
                    item.response_id = response.id
                    self._merge(item, out)

    def _on_output_item(self, event: ResponseOutputItemAdded | ResponseOutputItemDone) -> None:
        snapshot = event.item
        revive = type(event) is ResponseOutputItemAdded
        outside = self._outside(event.response_id)
        item = self._known_or_new(snapshot.id, snapshot.type, snapshot.role, revive=revive, outside=outside)
        if item is None:
            return
        item.response_id = event.response_id
        self._merge(item, snapshot)
        response = self._response(event.response_id)
        ids = None if response is None else response.output_item_ids
        if ids is not None and item.id not in ids and len(ids) < _MAX_INDEX:
            ids.append(item.id)

    def _stream_part(self, item_id: str, response_id: str, content_index: int, type: str | None) -> Part | None:
        """The part a response streams into, created if the item or part events were missed."""
        item = self._known_or_new(item_id, "message", "assistant", outside=self._outside(response_id))
        if item is None:
            return None
        if item.response_id is None:
            item.response_id = response_id
        return self._part(item, content_index, type)

    def _on_content_part(self, event: ResponseContentPartAdded | ResponseContentPartDone) -> None:
        part = self._stream_part(event.item_id, event.response_id, event.content_index, event.part.type)
        if part is None:
            return
        if part.type is None:
            part.type = event.part.type
        content = event.part
        if content.text or (content.text is not None and part._text is None):
            part._text = [content.text]
        if part.truncated_at_ms is None and (
            content.transcript or (content.transcript is not None and part._transcript is None)
        ):
            part._transcript = [content.transcript]

    def _on_text_delta(self, event: ResponseOutputTextDelta | ResponseTextDelta) -> None:
        item = self._items.get(event.item_id)
        parts = None if item is None else item.parts
        if parts is not None and 0 <= event.content_index < len(parts):
            part: Part | None = parts[event.content_index]
        else:
            part = self._stream_part(event.item_id, event.response_id, event.content_index, "text")
        if part is not None:
            chunks = part._text
            if chunks is None:
                part._text = [event.delta]
            else:
                chunks.append(event.delta)  # _append, inlined: a hot path
                if len(chunks) >= _JOIN_EVERY:
                    chunks[:] = ["".join(chunks)]

    def _on_text_done(self, event: ResponseOutputTextDone | ResponseTextDone) -> None:
        part = self._stream_part(event.item_id, event.response_id, event.content_index, "text")
        if part is not None:
            part._text = [event.text]

    def _on_transcript_delta(self, event: ResponseOutputAudioTranscriptDelta | ResponseAudioTranscriptDelta) -> None:
        item = self._items.get(event.item_id)
        parts = None if item is None else item.parts
        if parts is not None and 0 <= event.content_index < len(parts):
            part: Part | None = parts[event.content_index]
        else:
            part = self._stream_part(event.item_id, event.response_id, event.content_index, "audio")
        if part is not None:
            chunks = part._transcript
            if chunks is None:
                part._transcript = [event.delta]
            else:
                chunks.append(event.delta)  # _append, inlined: a hot path
                if len(chunks) >= _JOIN_EVERY:
                    chunks[:] = ["".join(chunks)]

    def _on_transcript_done(self, event: ResponseOutputAudioTranscriptDone | ResponseAudioTranscriptDone) -> None:
        part = self._stream_part(event.item_id, event.response_id, event.content_index, "audio")
        if part is not None and part.truncated_at_ms is None:
            part._transcript = [event.transcript]

    def _on_audio_delta(self, event: ResponseOutputAudioDelta | ResponseAudioDelta) -> None:
        item = self._items.get(event.item_id)
        parts = None if item is None else item.parts
        if parts is not None and 0 <= event.content_index < len(parts):
            part: Part | None = parts[event.content_index]
        else:
            part = self._stream_part(event.item_id, event.response_id, event.content_index, "audio")
        if part is not None:
            part.audio_bytes += len(event.delta.rstrip("=")) * 3 // 4  # _decoded_size, inlined: the hottest path
            if self.keep_audio:
                self._keep(part, event.delta)

    # --- function and MCP call arguments ---------------------------------------------------

    def _call_item(self, item_id: str, response_id: str, type: str) -> Item | None:
        item = self._known_or_new(item_id, type, None, outside=self._outside(response_id))
        if item is not None and item.response_id is None:
            item.response_id = response_id
        return item

    def _on_arguments_delta(self, event: ResponseFunctionCallArgumentsDelta | ResponseMcpCallArgumentsDelta) -> None:
        item = self._items.get(event.item_id)
        if item is None:
            kind = "function_call" if type(event) is ResponseFunctionCallArgumentsDelta else "mcp_call"
            item = self._call_item(event.item_id, event.response_id, kind)
            if item is None:
                return
        if item._arguments is None:
            item._arguments = [event.delta]
        else:
            _append(item._arguments, event.delta)

    def _on_arguments_done(self, event: ResponseFunctionCallArgumentsDone | ResponseMcpCallArgumentsDone) -> None:
        if type(event) is ResponseFunctionCallArgumentsDone:
            item = self._call_item(event.item_id, event.response_id, "function_call")
            if item is not None:
                item.call_id = event.call_id or item.call_id
                item.name = event.name or item.name
        else:
            item = self._call_item(event.item_id, event.response_id, "mcp_call")
        if item is not None:
            item._arguments = [event.arguments]

    # --- kept audio ----------------------------------------------------------------------

    def _keep(self, part: Part, b64: str) -> None:
        if not self.keep_audio:
            return
        try:
            pcm = pcm_from_base64(b64)
        except ValueError:
            logger.debug("conversation state: audio that is not base64 not kept")
            return
        if part._audio is None:
            part._audio = deque()
        part._audio.append(pcm)
        part.audio_kept += len(pcm)
        self._audio_parts[part] = None
        self._audio_total += len(pcm)
        while self._audio_total > self.max_audio_bytes:
            oldest = next(iter(self._audio_parts))
            chunks = oldest._audio
            assert chunks  # a part in _audio_parts always holds a chunk
            dropped = len(chunks.popleft())
            oldest.audio_kept -= dropped
            oldest.audio_dropped += dropped
            self._audio_total -= dropped
            self.audio_bytes_dropped += dropped
            if not chunks:
                del self._audio_parts[oldest]

    def _release_audio(self, part: Part) -> None:
        """Forget a part's kept audio (item gone, or audio replaced); not counted as dropped."""
        if part._audio is not None:
            self._audio_total -= part.audio_kept
            self._audio_parts.pop(part, None)
            part._audio = None
            part.audio_kept = 0


_ROUTES: dict[str, _Handler] = {
    "conversation.item.added": Conversation._on_item_reported,
    "conversation.item.created": Conversation._on_item_reported,
    "conversation.item.done": Conversation._on_item_reported,
    "conversation.item.retrieved": Conversation._on_item_retrieved,
    "conversation.item.deleted": Conversation._on_item_deleted,
    "conversation.item.truncated": Conversation._on_item_truncated,
    "conversation.item.input_audio_transcription.delta": Conversation._on_transcription_delta,
    "conversation.item.input_audio_transcription.completed": Conversation._on_transcription_completed,
    "conversation.item.input_audio_transcription.failed": Conversation._on_transcription_failed,
    "input_audio_buffer.committed": Conversation._on_committed,
    "response.created": Conversation._on_response_created,
    "response.done": Conversation._on_response_done,
    "response.output_item.added": Conversation._on_output_item,
    "response.output_item.done": Conversation._on_output_item,
    "response.content_part.added": Conversation._on_content_part,
    "response.content_part.done": Conversation._on_content_part,
    "response.output_text.delta": Conversation._on_text_delta,
    "response.output_text.done": Conversation._on_text_done,
    "response.text.delta": Conversation._on_text_delta,
    "response.text.done": Conversation._on_text_done,
    "response.output_audio.delta": Conversation._on_audio_delta,
    "response.audio.delta": Conversation._on_audio_delta,
    "response.output_audio_transcript.delta": Conversation._on_transcript_delta,
    "response.output_audio_transcript.done": Conversation._on_transcript_done,
    "response.audio_transcript.delta": Conversation._on_transcript_delta,
    "response.audio_transcript.done": Conversation._on_transcript_done,
    "response.function_call_arguments.delta": Conversation._on_arguments_delta,
    "response.function_call_arguments.done": Conversation._on_arguments_done,
    "response.mcp_call_arguments.delta": Conversation._on_arguments_delta,
    "response.mcp_call_arguments.done": Conversation._on_arguments_done,
}
Conversation.EVENT_TYPES = tuple(_ROUTES)
