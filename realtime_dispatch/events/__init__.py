"""Typed Realtime API events and the codec between them and WebSocket frames.

>>> from realtime_dispatch import events
>>> ev = events.decode(b'{"type":"response.output_text.delta","event_id":"e","response_id":"r",'
...                    b'"item_id":"i","output_index":0,"content_index":0,"delta":"Hi"}')
>>> ev.type, ev.delta
('response.output_text.delta', 'Hi')
"""

from ._base import ClientEvent, DecodeError, ServerEvent, UnknownEvent, new_id
from ._client import *  # noqa: F403
from ._client import __all__ as _client_all
from ._codec import CLIENT_EVENTS, SERVER_EVENTS, decode, decode_client, encode
from ._models import *  # noqa: F403
from ._models import __all__ as _models_all
from ._server import *  # noqa: F403
from ._server import __all__ as _server_all

__all__ = (
    "CLIENT_EVENTS",
    "SERVER_EVENTS",
    "ClientEvent",
    "DecodeError",
    "ServerEvent",
    "UnknownEvent",
    "decode",
    "decode_client",
    "encode",
    "new_id",
    *_client_all,
    *_models_all,
    *_server_all,
)
