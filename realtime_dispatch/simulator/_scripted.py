"""``ScriptedResponder``: the simulated model plays canned turns from a list or a JSON file."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from .. import events
from ._audio import describe_audio
from ._responders import Reply, user_text

__all__ = ("ScriptedResponder",)

NO_TURN = "(no scripted turn matches)"


class ToolCall(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A function call the model makes: ``arguments`` is an object, or a JSON string sent as is."""

    name: str
    arguments: dict[str, Any] | str = "{}"

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return msgspec.json.encode(self.arguments).decode()


class Turn(msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True):
    """One canned turn: what the model answers (``text``, or a ``tool_call`` then ``text``)."""

    text: str | None = None
    tool_call: ToolCall | None = None
    when: str | None = None
    transcript: str | None = None


def _check(turns: list[Turn]) -> list[Turn]:
    for number, turn in enumerate(turns):
        where = f"turn {number}"
        if turn.text is None and turn.tool_call is None:
            raise ValueError(f"{where}: needs a 'text' or a 'tool_call'")
        if turn.when is not None and turn.transcript is not None:
            raise ValueError(f"{where}: a 'when' turn cannot have a 'transcript' (audio is answered in order)")
        if turn.when == "":
            raise ValueError(f"{where}: 'when' is empty")
        if turn.tool_call is not None and isinstance(turn.tool_call.arguments, str):
            try:
                msgspec.json.decode(turn.tool_call.arguments)
            except msgspec.DecodeError:
                raise ValueError(f"{where}: tool_call.arguments is not valid JSON") from None
    return turns


class ScriptedResponder:
    """Plays a script of canned turns: a ``Responder`` (and ``Transcriber``) for the simulator.

    >>> responder = ScriptedResponder([
    ...     {"text": "Hello! How can I help?"},
    ...     {"when": "weather", "tool_call": {"name": "get_weather", "arguments": {"city": "Paris"}},
    ...      "text": "It is sunny in Paris."},
    ...     {"transcript": "What time is it?", "text": "Half past twelve."},
    ... ])

    Each turn is an object with:

    - ``text``: the answer (spoken, with its transcript, when the response's modalities include audio);
    - ``tool_call``: ``{"name": ..., "arguments": {...}}`` (``arguments`` may also be a JSON string; default
      ``{}``): the response calls that function instead, and the answer to the ``function_call_output`` that
      follows is the turn's ``text``;
    - ``when``: answer any user text message that contains this, ignoring case, as often as it matches; such
      turns are looked at first, in order;
    - ``transcript``: what the user's audio answered by this turn is transcribed as (else its duration,
      ``"(2.4 s of audio)"``).

    Turns without ``when`` answer the other user messages one after the other; user audio is always answered
    by the next of them, so that its ``transcript`` matches. After the last, the script starts over (a new
    connection to a long-running ``realtime-dispatch simulate --script`` plays it again). The simulator shares
    its responder among its connections, and the script's position is the responder's: play one conversation
    at a time, or give each its own simulator. A script with only ``when`` turns answers anything else with
    ``"(no scripted turn matches)"``.
    """

    def __init__(self, turns: Iterable[Turn | Mapping[str, Any]]) -> None:
        """``turns``: ``Turn`` objects or dicts shaped like the JSON file's turns. Raises ``ValueError``."""
        try:
            converted = [turn if isinstance(turn, Turn) else msgspec.convert(turn, Turn) for turn in turns]
        except msgspec.ValidationError as exc:
            raise ValueError(f"not a script of turns: {exc}") from None
        self.turns: list[Turn] = _check(converted)
        self.ordered = [turn for turn in self.turns if turn.when is None]
        self.rules = [turn for turn in self.turns if turn.when is not None]
        self.position = 0  # the next ordered turn
        self.pending: Turn | None = None  # the turn whose tool call awaits its output

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ScriptedResponder:
        """Read a script: a JSON list of turns. ``OSError`` if it cannot be read, ``ValueError`` if it is not one."""
        data = Path(path).read_bytes()
        try:
            turns = msgspec.json.decode(data, type=list[Turn])
        except msgspec.ValidationError as exc:
            raise ValueError(f"{os.fspath(path)}: not a list of turns: {exc}") from None
        except msgspec.DecodeError as exc:
            raise ValueError(f"{os.fspath(path)}: invalid JSON: {exc}") from None
        try:
            return cls(turns)
        except ValueError as exc:
            raise ValueError(f"{os.fspath(path)}: {exc}") from None

    def _next(self, advance: bool = True) -> Turn | None:
        if not self.ordered:
            return None
        turn = self.ordered[self.position % len(self.ordered)]
        if advance:
            self.position = (self.position + 1) % len(self.ordered)
        return turn

    async def transcribe(self, pcm: bytes) -> str:
        turn = self._next(advance=False)
        if turn is None or turn.transcript is None:
            return describe_audio(pcm)
        return turn.transcript

    async def respond(self, conversation: list[events.ConversationItem], session: events.Session) -> Reply:
        last = next((item for item in reversed(conversation) if _is_input(item)), None)
        if last is not None and last.type == "function_call_output" and self.pending is not None:
            answered, self.pending = self.pending, None
            return Reply(text=answered.text or "")
        turn: Turn | None = None
        spoken = last is not None and any(part.type == "input_audio" for part in last.content or [])
        if last is not None and not spoken:
            text = (user_text(last) if last.type == "message" else last.output or "").casefold()
            turn = next((rule for rule in self.rules if rule.when and rule.when.casefold() in text), None)
        if turn is None:
            turn = self._next()
        if turn is None:
            return Reply(text=NO_TURN)
        if turn.tool_call is not None:
            self.pending = turn
            return Reply(tool_calls=[(turn.tool_call.name, turn.tool_call.arguments_json())])
        return Reply(text=turn.text or "")


def _is_input(item: events.ConversationItem) -> bool:
    return item.type == "function_call_output" or (item.type == "message" and item.role == "user")
