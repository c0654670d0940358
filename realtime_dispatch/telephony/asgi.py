"""An importable ASGI application for process managers: ``realtime_dispatch.telephony.asgi:app``.

``realtime-dispatch serve --workers N`` has hypercorn import it in each worker process; any ASGI
server can too::

    REALTIME_DISPATCH_SERVE_APP=myapp:PhoneAgent hypercorn --workers 4 realtime_dispatch.telephony.asgi:app

``REALTIME_DISPATCH_SERVE_APP`` names the app (``MODULE:APP``: a ``RealtimeApp`` subclass, or a
function making one); ``REALTIME_DISPATCH_SERVE_OPTIONS`` may hold ``TelephonyServer`` options as
a JSON object. The secret, key and URLs come from ``OPENAI_WEBHOOK_SECRET``, ``OPENAI_API_KEY``,
``OPENAI_BASE_URL`` and ``OPENAI_WEBSOCKET_BASE_URL``. See ``telephony.from_environment``.
"""

from __future__ import annotations

from ._server import TelephonyServer, from_environment

__all__ = ("app",)

app: TelephonyServer = from_environment()
