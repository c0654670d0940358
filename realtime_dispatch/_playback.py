"""Barge-in: what the listener actually heard, so an interruption truncates the model's
memory of its own answer to it.

The server generates audio faster than real time, so when the user starts speaking, much
of the answer may have been received but never played. Unless the item is truncated at
the played position, the model believes it said everything. ``Playback`` counts the audio
received per item (from the base64 length, without decoding it) and the audio the app
reports as played, and works out the ``conversation.item.truncate`` to send.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from .events import ServerEvent, Session, TurnDetection

__all__ = ("Cut", "Playback")


_MAX_ITEMS = 64  # audio items remembered: a barge-in only ever concerns the last few
_BYTES_PER_MS = {
    "audio/pcm": 48.0,
    "pcm16": 48.0,
    "audio/pcmu": 8.0,
    "audio/pcma": 8.0,
    "g711_ulaw": 8.0,
    "g711_alaw": 8.0,
}


@dataclass(frozen=True, slots=True)
class Cut:
    """A truncation: ``conversation.item.truncate`` of ``item_id`` at ``audio_end_ms``."""

    item_id: str
    content_index: int
    audio_end_ms: int


@dataclass(slots=True)
class _Item:
    content_index: int = 0
    received: int = 0  # bytes of audio received
    played_ms: float = 0.0
    complete: bool = False  # all of its audio has arrived
    stopped: bool = False  # the output was flushed at an interruption; more audio or a played report reopens it


class Playback:
    """The assistant's audio, received and played, per item.

    Report playback from your audio output with ``played(item_id, ms=...)`` or
    ``played(item_id, nbytes=...)`` (amounts played since the last report; thread-safe, so an
    audio callback thread may call it). With ``barge_in = True`` on the app, the library feeds
    the received side and, when the user starts speaking, truncates the playing item at the
    played position (clamped to the audio received), or leaves it alone when nothing of it was
    played or all of it was.
    """

    def __init__(self) -> None:
        self._items: OrderedDict[str, _Item] = OrderedDict()
        self._current: str | None = None  # the item the output last reported playing
        self._bytes_per_ms = 48.0
        self._lock = threading.Lock()
        self.server_interrupts = True  # the session's turn detection cancels responses itself
        self.server_playing = False  # SIP/WebRTC: the server is playing audio to the caller

    # --- reported by the app's audio output -------------------------------------------------------

    def played(self, item_id: str, *, ms: float | None = None, nbytes: int | None = None) -> None:
        """``ms`` milliseconds (or ``nbytes`` bytes) more of ``item_id``'s audio have been played."""
        if (ms is None) == (nbytes is None):
            raise TypeError("played() takes ms= or nbytes=, one of them")
        amount = ms if ms is not None else nbytes / self._bytes_per_ms  # type: ignore[operator]
        if amount < 0:
            raise ValueError("a played amount cannot be negative")
        with self._lock:
            item = self._item(item_id)
            item.played_ms += amount
            item.stopped = False
            self._current = item_id

    def played_ms(self, item_id: str) -> float:
        """How much of ``item_id`` has been reported played."""
        item = self._items.get(item_id)
        return item.played_ms if item else 0.0

    def received_ms(self, item_id: str) -> float:
        """How much audio of ``item_id`` has arrived."""
        item = self._items.get(item_id)
        return item.received / self._bytes_per_ms if item else 0.0

    @property
    def playing(self) -> bool:
        """Whether any assistant audio may still be playing, as far as the counts tell: the server
        plays it (SIP/WebRTC), or some item's audio has arrived and not all of it was reported
        played (still arriving counts), since the last interruption. False before any audio.
        Only the received side makes this meaningful: the app feeds it while ``barge_in`` is on."""
        with self._lock:
            if self.server_playing:
                return True
            return any(
                item.received
                and not item.stopped
                and (not item.complete or item.played_ms < item.received / self._bytes_per_ms)
                for item in self._items.values()
            )

    def cut(self) -> Cut | None:
        """The truncation an interruption now calls for, and forget it (a second call gives None).
        The output is flushed at an interruption: what arrived so far no longer counts as ``playing``."""
        with self._lock:
            for each in self._items.values():
                each.stopped = True
            item_id, self._current = self._current, None
            if item_id is None:
                return None
            item = self._items.get(item_id)
            if item is None or item.played_ms <= 0 or item.received == 0:
                return None  # nothing heard, or no count of what arrived (barge_in off): nothing to cut to
            received_ms = item.received / self._bytes_per_ms
            if item.complete and item.played_ms >= received_ms:
                return None  # heard to the end: nothing to take back
            return Cut(item_id, item.content_index, int(min(item.played_ms, received_ms)))

    def reset(self) -> None:
        """Forget every item: a new server session does not know them."""
        with self._lock:
            self._items.clear()
            self._current = None
            self.server_playing = False

    # --- fed by the receive loop ------------------------------------------------------------------------

    def on_audio_delta(self, event: ServerEvent) -> None:
        delta: str = event.delta  # type: ignore[attr-defined]
        size = len(delta) // 4 * 3 - delta.count("=", -2)
        item = self._items.get(event.item_id)  # type: ignore[attr-defined]
        if item is None:
            with self._lock:
                item = self._item(event.item_id)  # type: ignore[attr-defined]
            item.content_index = event.content_index  # type: ignore[attr-defined]
        item.received += size
        item.stopped = False

    def on_audio_done(self, event: ServerEvent) -> None:
        item = self._items.get(event.item_id)  # type: ignore[attr-defined]
        if item is not None:
            item.complete = True

    def on_output_buffer(self, event: ServerEvent) -> None:
        self.server_playing = event.type == "output_audio_buffer.started"

    def on_session(self, event: ServerEvent) -> None:
        session: Session = event.session  # type: ignore[attr-defined]
        audio = session.audio
        output_format = None
        turn_detection = session.turn_detection  # beta
        if audio is not None:
            if audio.output is not None and audio.output.format is not None:
                output_format = audio.output.format.type
            if audio.input is not None:
                turn_detection = audio.input.turn_detection
        output_format = output_format or session.output_audio_format
        if output_format in _BYTES_PER_MS:
            self._bytes_per_ms = _BYTES_PER_MS[output_format]
        if turn_detection is None:
            self.server_interrupts = False  # no VAD: nothing on the server interrupts anything
        elif isinstance(turn_detection, TurnDetection):  # absent (UNSET) leaves it as it was
            self.server_interrupts = turn_detection.interrupt_response is not False

    def _item(self, item_id: str) -> _Item:
        item = self._items.get(item_id)
        if item is None:
            item = self._items[item_id] = _Item()
            while len(self._items) > _MAX_ITEMS:
                self._items.popitem(last=False)
        return item
