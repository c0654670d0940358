"""A Realtime app split into routers, the way a larger project is laid out.

- ``routers/transcript.py``: prints both sides of the conversation;
- ``routers/tools.py``: the ``@router.tool`` functions the model may call;
- ``routers/safety.py``: a ``safety`` router with a nested ``moderation`` router whose handler
  fails on purpose (a flagged word); the ``@safety.on_error(Flagged)`` handler one level up
  catches it, and the session goes on;
- ``routers/metrics.py``: a ``"*"`` handler counting the events that reach the routers;
- ``middleware.py``: inbound middleware, timing every event's routing (outermost) and dropping
  ``rate_limits.updated`` before any router sees it;
- ``app.py``: the ``RealtimeApp`` that includes all of it and plays a short scripted user.

Run it from the repository's root, offline against the built-in simulator:

    python -m examples.multi_router_app [--trio]

or against the real service (OPENAI_API_KEY from the environment):

    python -m examples.multi_router_app --url wss://api.openai.com/v1 [--model gpt-realtime]

The app is a module-level instance, so the ``realtime-dispatch`` command runs it too:
``realtime-dispatch run examples.multi_router_app.app:app --url ws://127.0.0.1:8765/v1``.
"""
