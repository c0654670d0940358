"""Tools live on a router too: ``@router.tool``. Including the router adds them to the session."""

from __future__ import annotations

from realtime_dispatch import Router, ToolCall

router = Router("tools")


@router.tool
def get_time(call: ToolCall) -> str:
    """The current time, as HH:MM."""
    # A ToolCall parameter is injected (not part of the schema): the call's name, id and raw arguments.
    print(f"  [tool {call.name}({call.arguments}) -> 12:34]", flush=True)
    return "12:34"  # fixed, so the example's output is reproducible
