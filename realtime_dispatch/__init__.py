"""realtime-dispatch: typed, fast event routing for the OpenAI Realtime API."""

from . import events as events

__version__ = "0.1.0.dev0"

__all__ = ("__version__", "events")
