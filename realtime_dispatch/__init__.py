"""realtime-dispatch: typed, fast event routing for the OpenAI Realtime API.

>>> from realtime_dispatch import RealtimeApp, on, events
>>> class Echo(RealtimeApp):
...     @on("response.output_text.delta")
...     async def text(self, event: events.ResponseOutputTextDelta) -> None:
...         print(event.delta, end="")
"""

from typing import TYPE_CHECKING, Any

from . import events as events
from ._app import LiveApp as LiveApp
from ._app import RealtimeApp as RealtimeApp
from ._app import TranslationApp as TranslationApp
from ._app import TransportFactory as TransportFactory
from ._app import on as on
from ._app import on_error as on_error
from ._connection import BaseConnection as BaseConnection
from ._connection import Connection as Connection
from ._connection import NotConnected as NotConnected
from ._connection import SendTimeout as SendTimeout
from ._dispatch import HandlerCancelled as HandlerCancelled
from ._dispatch import HandlerTimeout as HandlerTimeout
from ._endpoints import ConfigError as ConfigError
from ._endpoints import Endpoint as Endpoint
from ._endpoints import azure as azure
from ._endpoints import live as live
from ._endpoints import openai as openai
from ._endpoints import translation as translation
from ._lifecycle import EndReason as EndReason
from ._lifecycle import Outcome as Outcome
from ._lifecycle import SessionListener as SessionListener
from ._lifecycle import SessionState as SessionState
from ._metrics import Metrics as Metrics
from ._playback import Playback as Playback
from ._reconnect import ConnectionFailed as ConnectionFailed
from ._reconnect import Reconnect as Reconnect
from ._replies import ServerError as ServerError
from ._router import Router as Router
from ._sequencer import ResponseInProgress as ResponseInProgress
from ._session import Feature as Feature
from ._session import SessionSetup as SessionSetup
from ._state import Conversation as Conversation
from ._tools import ToolCall as ToolCall
from ._tools import ToolError as ToolError
from ._tools import ToolTimeout as ToolTimeout
from ._tools import tool as tool
from .events import DecodeError as DecodeError
from .events import UnknownEvent as UnknownEvent

if TYPE_CHECKING:
    from ._live import LiveConnection as LiveConnection
    from ._translation import TranslationConnection as TranslationConnection

# Loaded on first use, with their protocol's events: a Realtime app never pays for them.
_LAZY = {"LiveConnection": "._live", "TranslationConnection": "._translation"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__version__ = "0.1.0.dev0"

__all__ = (
    "BaseConnection",
    "ConfigError",
    "Connection",
    "Conversation",
    "ConnectionFailed",
    "Endpoint",
    "DecodeError",
    "EndReason",
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
    "translation",
    "tool",
)


def _show_public_paths(names: tuple[str, ...], module: str) -> None:
    """Tracebacks and reprs name the exceptions by the path users import them from."""
    namespace = globals()
    for name in names:
        if name not in namespace:  # loaded on first use (_LAZY): not an exception anyway
            continue
        value = namespace[name]
        if isinstance(value, type) and issubclass(value, BaseException):
            value.__module__ = module


_show_public_paths(__all__, __name__)
