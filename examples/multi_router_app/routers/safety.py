"""A router with a nested router: ``moderation`` fails on purpose, ``safety`` handles the failure."""

from __future__ import annotations

from realtime_dispatch import Router, events

BLOCKED = ("password",)


class Flagged(Exception):
    """An answer contains a blocked word."""


router = Router("safety")
moderation = Router("moderation")
router.include_router(moderation)  # routers nest: error handlers are looked up from the inside out


@moderation.on("response.output_text.done")
def check_answer(event: events.ResponseOutputTextDone) -> None:
    for word in BLOCKED:
        if word in event.text.lower():
            raise Flagged(f"{word!r} in response {event.response_id}")  # a handler failure


@router.on_error(Flagged)
def flagged(exc: Flagged, event: events.ServerEvent) -> None:
    # moderation has no error handler of its own, so its parent's is used; the loop goes on.
    print(f"  [safety: flagged {exc} at {event.type}; caught by {flagged.__name__}]", flush=True)
