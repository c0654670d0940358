"""Prints the conversation: the user's messages as the server stored them, the answers as they stream."""

from __future__ import annotations

from realtime_dispatch import Router, events

router = Router("transcript")


@router.on("conversation.item.done", when=lambda e: e.item.type == "message" and e.item.role == "user")
def user_said(event: events.ConversationItemDone) -> None:
    text = " ".join(part.text or "" for part in event.item.content or [])
    print(f"user:      {text}", flush=True)


@router.on("response.output_item.added", when=lambda e: e.item.type == "message")
def answer_starts() -> None:
    print("assistant: ", end="", flush=True)


@router.on("response.output_text.delta")
def stream(event: events.ResponseOutputTextDelta) -> None:
    print(event.delta, end="", flush=True)


@router.on("response.output_text.done")
def answer_ends() -> None:
    print(flush=True)
