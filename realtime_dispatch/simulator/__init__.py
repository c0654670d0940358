"""A local Realtime server speaking the GA protocol, for tests, demos and offline work.

>>> from realtime_dispatch.simulator import Simulator, EchoResponder
>>> sim = Simulator(responder=EchoResponder())

``async with sim.serve(host="127.0.0.1", port=0) as base_url:`` serves WebSocket clients on
``f"{base_url}/realtime?model=..."`` (``base_url`` is ``ws://host:port/v1``) on asyncio or trio.
What the model says comes from a ``Responder``; ``EchoResponder`` echoes the user and calls
the tools the user names, ``ScriptedResponder`` plays canned turns from a list or a JSON file.
Appended audio goes through a deterministic server VAD (on by default,
as on the live service), committed audio is transcribed when the session asks for it (a
responder's optional ``transcribe`` supplies the text), ``OpenAI-Beta: realtime=v1`` switches
to the beta protocol and a ``call_id`` query parameter to a call sideband with
``output_audio_buffer.*`` events. Clients that offer the ``realtime`` subprotocol get it selected
(the key may ride in ``openai-insecure-api-key.<key>``); ``serve(tls=make_tls()[0])`` serves
``wss://`` with a certificate made at start.

The same port serves GPT-Live (``/v1/live/sessions``, sidebands at ``/v1/live/sessions/{id}/attach``) and
Realtime Translation (``/v1/realtime/translations?model=...``), picked by the request path; the responder's
``transcribe`` and ``respond`` carry over to both. ``PhoneNetwork`` plays OpenAI's side of SIP calls (signed
webhooks, call control over HTTP, a scripted caller; needs ``realtime-dispatch[telephony]``). See
``docs/simulator.md``.
"""

from ._phone import CallerStep, CallRecord, Decision, PhoneEndpoints, PhoneNetwork, WebhookAttempt, load_caller_script
from ._responders import EchoResponder, Reply, Responder, Transcriber
from ._scripted import ScriptedResponder
from ._server import Simulator
from ._tls import TLSUnavailable, load_tls, make_tls

__all__ = (
    "CallRecord",
    "CallerStep",
    "Decision",
    "EchoResponder",
    "PhoneEndpoints",
    "PhoneNetwork",
    "Reply",
    "Responder",
    "ScriptedResponder",
    "Simulator",
    "TLSUnavailable",
    "Transcriber",
    "WebhookAttempt",
    "load_caller_script",
    "load_tls",
    "make_tls",
)
