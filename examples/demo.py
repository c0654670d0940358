"""The demo, ``realtime-dispatch demo``: a scripted conversation against the built-in simulator.

Its app lives in the package, in ``realtime_dispatch/demo.py`` (``DemoApp``: streamed text answers, an ``@tool``,
a spoken turn committed by server VAD, transcribed and answered with audio), so that an installed
``realtime-dispatch`` can run it too; read it there. This file runs it from a checkout:

    .venv/bin/python examples/demo.py [--trio] [--url wss://api.openai.com/v1 --model gpt-realtime]
"""

from __future__ import annotations

from realtime_dispatch.demo import DemoApp, main

__all__ = ("DemoApp", "main")

if __name__ == "__main__":
    raise SystemExit(main())
