"""What the simulated model says (``Reply``, ``Responder``, ``EchoResponder``) and hears (``Transcriber``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from .. import events
from ._arguments import arguments_for
from ._audio import describe_audio

__all__ = ("EchoResponder", "Reply", "Responder", "Transcriber", "user_text")


@dataclass(frozen=True)
class Reply:
    """What the model says in one response: some text, some function calls, or both.

    ``tool_calls`` holds ``(name, arguments_json)`` pairs. The text comes first, as a message
    item, then one ``function_call`` item per call.
    """

    text: str = ""
    tool_calls: list[tuple[str, str]] = field(default_factory=list)


class Responder(Protocol):
    """Decides the reply to a ``response.create``, given the conversation so far."""

    async def respond(self, conversation: list[events.ConversationItem], session: events.Session) -> Reply: ...


class Transcriber(Protocol):
    """Optional on a responder: the transcript of committed user audio (PCM16 24 kHz mono).

    Used when the session sets ``audio.input.transcription``. A responder without it gets
    ``"(2.4 s of audio)"``-style transcripts; an exception becomes a ``...transcription.failed``
    event carrying its message.
    """

    async def transcribe(self, pcm: bytes) -> str: ...


def user_text(item: events.ConversationItem) -> str:
    """The text of a user message: its ``input_text`` parts, else its audio transcripts."""
    parts = item.content or []
    texts = [part.text for part in parts if part.type == "input_text" and part.text]
    if not texts:
        texts = [part.transcript for part in parts if part.type == "input_audio" and part.transcript]
    if not texts:
        audio = sum(len(part.pcm) for part in parts if part.type == "input_audio")
        if audio:
            return f"({audio // 48} ms of audio)"
    return " ".join(texts)


class EchoResponder:
    """Deterministic: echoes the last user message, and calls a tool when the message names one.

    - ``You said: <last user text>``;
    - if the session has function tools and the last user text contains a tool's name, it
      calls that tool once, with arguments made up to fit its schema (``arguments_for``);
    - after a ``function_call_output`` item, ``Tool <name> returned: <output>``;
    - it transcribes audio as its duration, ``(2.4 s of audio)``.
    """

    async def transcribe(self, pcm: bytes) -> str:
        return describe_audio(pcm)

    async def respond(self, conversation: list[events.ConversationItem], session: events.Session) -> Reply:
        last = next((item for item in reversed(conversation) if _is_input(item)), None)
        if last is None:
            return Reply(text="You said nothing.")
        if last.type == "function_call_output":
            name = next(
                (item.name for item in conversation if item.type == "function_call" and item.call_id == last.call_id),
                None,
            )
            return Reply(text=f"Tool {name or 'unknown'} returned: {last.output or ''}")
        text = user_text(last)
        if session.tool_choice != "none":
            for tool in session.tools or []:
                if tool.type in (None, "function") and tool.name and tool.name in text:
                    arguments = arguments_for(tool.parameters or {})
                    return Reply(tool_calls=[(tool.name, msgspec.json.encode(arguments).decode())])
        return Reply(text=f"You said: {text}")


def _is_input(item: events.ConversationItem) -> bool:
    return item.type == "function_call_output" or (item.type == "message" and item.role == "user")
