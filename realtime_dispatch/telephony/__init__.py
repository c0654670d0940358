"""Telephony: answer SIP calls that OpenAI's webhooks announce.

``WebhookVerifier`` checks a delivery's signature and age, ``DeliveryLog`` acts on each once,
``parse_webhook`` turns the body into an ``IncomingCall`` (or ``OtherWebhook``). All Sans-I/O.
``CallControl`` accepts, rejects, refers and hangs up calls over REST (the ``telephony`` extra: httpx).
``TelephonyServer`` (an ASGI app) answers each call with a fresh ``RealtimeApp`` on its sideband;
handlers find their ``Call`` with ``current_call()``; ``answer_call`` may ``Accept``, ``Reject`` or ``Refer``.
"""

from ._call import Accept, AnswersCalls, Call, Refer, Reject, current_call
from ._control import CallControl, CallControlError, CallControlStats, CallGone, CallTaken, is_local_url
from ._server import TelephonyMetrics, TelephonyServer
from ._webhooks import (
    DeliveryLog,
    IncomingCall,
    OtherWebhook,
    SipHeader,
    WebhookError,
    WebhookVerifier,
    headers_from_asgi,
    new_secret,
    parse_webhook,
    sign,
)

__all__ = (
    "CallControl",
    "CallControlError",
    "CallControlStats",
    "CallGone",
    "CallTaken",
    "is_local_url",
    "Accept",
    "AnswersCalls",
    "Call",
    "Refer",
    "Reject",
    "TelephonyMetrics",
    "TelephonyServer",
    "current_call",
    "DeliveryLog",
    "IncomingCall",
    "OtherWebhook",
    "SipHeader",
    "WebhookError",
    "WebhookVerifier",
    "headers_from_asgi",
    "new_secret",
    "parse_webhook",
    "sign",
)

for _name in __all__:  # tracebacks and reprs name the exceptions by the path users import them from
    _exported = globals()[_name]
    if isinstance(_exported, type) and issubclass(_exported, BaseException):
        _exported.__module__ = __name__
del _name, _exported
