"""The public API is what ``__all__`` says, and every name in it exists."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = [
    "realtime_dispatch",
    "realtime_dispatch.events",
    "realtime_dispatch.events.live",
    "realtime_dispatch.events.translation",
    "realtime_dispatch.transports",
    "realtime_dispatch.simulator",
    "realtime_dispatch.testing",
    "realtime_dispatch.audio",
    "realtime_dispatch.telephony",
    "realtime_dispatch.inspector",
]


@pytest.mark.parametrize("name", PUBLIC)
def test_all_names_exist_and_are_unique(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported, name
    assert len(set(exported)) == len(exported)
    assert [n for n in exported if not hasattr(module, n)] == []


def test_top_level_names_are_the_deliberate_surface() -> None:
    import realtime_dispatch

    assert set(realtime_dispatch.__all__) == {
        "BaseConnection",
        "ConfigError",
        "Connection",
        "Conversation",
        "ConnectionFailed",
        "DecodeError",
        "EndReason",
        "Endpoint",
        "Feature",
        "HandlerCancelled",
        "HandlerTimeout",
        "LiveApp",
        "LiveConnection",
        "Metrics",
        "NotConnected",
        "Outcome",
        "Playback",
        "RealtimeApp",
        "Reconnect",
        "ResponseInProgress",
        "Router",
        "SendTimeout",
        "ServerError",
        "SessionListener",
        "SessionSetup",
        "SessionState",
        "ToolCall",
        "ToolError",
        "ToolTimeout",
        "TranslationApp",
        "TranslationConnection",
        "TransportFactory",
        "UnknownEvent",
        "__version__",
        "azure",
        "events",
        "live",
        "on",
        "on_error",
        "openai",
        "tool",
        "translation",
    }


def test_the_library_never_imports_openai_or_pydantic() -> None:
    import subprocess
    import sys

    code = (
        "import sys, realtime_dispatch, realtime_dispatch.simulator, realtime_dispatch.testing;"
        "print(sorted(m for m in ('openai', 'pydantic') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
