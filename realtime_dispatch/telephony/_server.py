"""``TelephonyServer``: an ASGI application that answers OpenAI's SIP calls with a ``RealtimeApp``.

Per webhook POST, in this order: read the body (at most ``max_body`` bytes, else 413); verify its
signature before anything else (a ``WebhookError`` answers its 400/401 and nothing else happens);
act on each ``webhook-id`` once (a repeat answers 200); parse it (other event types answer 200 and
are ignored; while draining a call answers 503, so the service delivers it again, perhaps to another
worker); answer 200 at once and handle the call in a task of the server's task group.

Per call: over ``max_calls`` reject it with ``busy_status``; else make a fresh app instance, ask
its ``answer_call`` (if it has one), then reject, refer, or accept with its ``accept_session()``;
then run the app on the call's sideband WebSocket until the session ends (the caller hangs up and
the service closes the sideband, or the app closes). A call that outlives its app is hung up.

The task group lives in the ASGI lifespan (hypercorn, uvicorn...), or in ``async with server:``
when it is mounted in a framework that does not forward lifespan events to mounted apps.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.abc

from .._app import RealtimeApp
from .._endpoints import ConfigError, Endpoint
from .._metrics import Latency
from .._reconnect import ConnectionFailed
from ..transports import Transport
from ._call import Accept, Call, Refer, Reject, in_call
from ._control import CallControlError, CallGone, CallTaken
from ._webhooks import (
    DeliveryLog,
    IncomingCall,
    OtherWebhook,
    WebhookError,
    WebhookVerifier,
    headers_from_asgi,
    parse_webhook,
)

if TYPE_CHECKING:
    from ._control import CallControl

__all__ = ("APP_VARIABLE", "MAX_BODY", "OPTIONS_VARIABLE", "TelephonyMetrics", "TelephonyServer", "from_environment")

logger = logging.getLogger("realtime_dispatch.telephony")

MAX_BODY = 1 << 20
"""Bytes of a webhook body beyond which a delivery is refused (413) unread."""
_HANGUP_GRACE = 10.0  # seconds calls get to end after drain() hung them up, before they are cancelled
_CLEANUP = 10.0  # seconds for the hangup of a call whose app ended (shielded from cancellation)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AppFactory = Callable[[], RealtimeApp[Any]]


class TelephonyMetrics:
    """What a ``TelephonyServer`` did, for an operator: counters since start, and two latencies.

    - ``active``: calls in progress now (being decided, or running);
    - ``accepted``, ``rejected`` (by the app's ``answer_call``), ``referred`` (by ``answer_call``, or
      from a handler with ``current_call().refer()``), ``busy``
      (rejected over ``max_calls``), ``ended`` (accepted calls whose app has finished);
    - ``duplicates``: deliveries already seen (same ``webhook-id``, or a call already in progress);
      ``invalid``: deliveries refused (bad or missing signature, stale, malformed); ``ignored``: other
      event types, and calls announced for the other API (a Realtime server ignores GPT-Live's);
      ``deferred``: calls answered 503 (draining, not started, or busy with ``busy_status=None``);
    - ``gone``: the caller left before the decision reached the service (404); ``taken``: another
      worker decided first (409 ``decision_already_made``); ``failed``: call control failed otherwise
      (or ``answer_call``/``accept_session`` raised); ``errors``: apps that ended with an exception
      (their sideband failed, or their own code raised);
    - ``accept_latency``: the webhook received -> the accept returned; ``sideband_latency``: the
      webhook received -> the sideband WebSocket open (``Latency``: count, mean, percentiles, max).
    """

    def __init__(self) -> None:
        self.active = 0
        self.accepted = 0
        self.rejected = 0
        self.referred = 0
        self.busy = 0
        self.ended = 0
        self.duplicates = 0
        self.invalid = 0
        self.ignored = 0
        self.deferred = 0
        self.gone = 0
        self.taken = 0
        self.failed = 0
        self.errors = 0
        self.accept_latency = Latency()
        self.sideband_latency = Latency()

    _COUNTERS = (
        "active",
        "accepted",
        "rejected",
        "referred",
        "busy",
        "ended",
        "duplicates",
        "invalid",
        "ignored",
        "deferred",
        "gone",
        "taken",
        "failed",
        "errors",
    )

    def snapshot(self) -> dict[str, Any]:
        """Everything as plain values (JSON-serialisable); latencies in seconds."""
        found: dict[str, Any] = {name: getattr(self, name) for name in self._COUNTERS}
        found["accept_latency"] = self.accept_latency.snapshot()
        found["sideband_latency"] = self.sideband_latency.snapshot()
        return found


@dataclass(frozen=True, repr=False)  # repr=False: keep Endpoint's, which hides the credentials
class _Sideband(Endpoint):
    """The call's sideband endpoint; tells ``opened`` each time a connection to it opens."""

    opened: Callable[[], None] | None = field(default=None, compare=False)

    async def __call__(self) -> Transport:
        transport = await super().__call__()
        if self.opened is not None:
            self.opened()
        return transport


@dataclass(eq=False)
class _Active:
    """A call this server is handling."""

    incoming: IncomingCall
    received: float  # anyio.current_time() when its webhook arrived
    call: Call | None = None
    accepted: bool = False
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)


class TelephonyServer:
    """Answers SIP calls with a fresh ``RealtimeApp`` per call: an ASGI 3 application (HTTP and
    lifespan), to run alone (``realtime-dispatch serve``, hypercorn) or mount in Starlette/FastAPI.

    - ``app``: what makes the app of one call, called once per call: a ``RealtimeApp`` subclass, or
      a function returning a new instance (called once more here, to learn its ``api``). The ``api``
      (``"ga"``: Realtime, ``"live"``: GPT-Live) picks which webhooks it answers
      (``realtime.call.incoming``; ``live.transport.incoming`` and ``live.call.incoming``) and the
      endpoints it calls; the other API's announcement of the same call is ignored. An app may
      decide per call with ``answer_call`` (see ``AnswersCalls``).
    - ``secrets``: the webhook signing secret(s), several while rotating; default
      ``OPENAI_WEBHOOK_SECRET``. ``tolerance``: seconds a delivery's timestamp may be off.
    - ``control``: the ``CallControl`` (REST) to use; default one from ``OPENAI_API_KEY`` and
      ``OPENAI_BASE_URL``, closed with the server.
    - ``max_calls``: calls in progress at once; more are rejected with the SIP ``busy_status``
      (486 Busy Here), or, with ``busy_status=None``, their webhook is answered 503 so the service
      delivers it again (to another worker behind a load balancer).
    - ``drain_timeout``: seconds calls in progress get to end at shutdown before they are hung up.
    - ``webhook_path`` (POST) and ``health_path`` (GET: 200 ``{"status": "ok", "active_calls": n,
      "max_calls": m}``, 503 ``"draining"`` or ``"stopped"``); any other path is 404.

    ``metrics`` (``TelephonyMetrics``) counts what happened. Mounted in a framework that does not
    pass lifespan events to mounted apps, run the server in its own lifespan: ``async with server:``.
    """

    def __init__(
        self,
        app: AppFactory,
        *,
        secrets: str | Sequence[str] | None = None,
        control: CallControl | None = None,
        max_calls: int = 100,
        busy_status: int | None = 486,
        drain_timeout: float = 30.0,
        webhook_path: str = "/webhook",
        health_path: str = "/health",
        tolerance: float = 300.0,
        max_body: int = MAX_BODY,
    ) -> None:
        if isinstance(app, RealtimeApp):
            raise TypeError(
                f"give TelephonyServer the app's class (or a function making one), not an instance: "
                f"each call gets a fresh {type(app).__name__}"
            )
        if not callable(app):
            raise TypeError(f"app must be a RealtimeApp subclass or a function making one, not {app!r}")
        if isinstance(max_calls, bool) or not isinstance(max_calls, int) or max_calls < 1:
            raise ValueError(f"max_calls must be an int >= 1, not {max_calls!r}")
        if busy_status is not None and (
            isinstance(busy_status, bool) or not isinstance(busy_status, int) or not 300 <= busy_status <= 699
        ):
            raise ValueError(f"busy_status is a SIP status from 300 to 699 (or None), not {busy_status!r}")
        if not (drain_timeout >= 0 and math.isfinite(drain_timeout)):
            raise ValueError(f"drain_timeout must be a number of seconds >= 0, not {drain_timeout!r}")
        for name, path in (("webhook_path", webhook_path), ("health_path", health_path)):
            if not path.startswith("/"):
                raise ValueError(f"{name} must start with '/', not {path!r}")
        if webhook_path == health_path:
            raise ValueError("webhook_path and health_path must differ")
        if max_body < 1:
            raise ValueError(f"max_body must be >= 1, not {max_body!r}")
        self.api: Literal["ga", "live"] = _api_of(app)
        # OPENAI_WEBHOOK_SECRET may hold several secrets (rotation), separated by spaces or commas: a
        # whsec_ secret is base64, which has neither.
        from_env = os.environ.get("OPENAI_WEBHOOK_SECRET", "").replace(",", " ").split()
        given = secrets if secrets is not None else from_env
        if not given:
            raise ConfigError("no webhook secret: pass secrets= or set OPENAI_WEBHOOK_SECRET")
        try:
            self._verifier = WebhookVerifier(given, tolerance=tolerance)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad webhook secret: {exc}") from None
        if control is None:
            from ._control import CallControl

            control = CallControl()
            self._owns_control = True
        else:
            self._owns_control = False
        self.control = control
        self._factory = app
        self.max_calls = max_calls
        self.busy_status = busy_status
        self.drain_timeout = float(drain_timeout)
        self.webhook_path = webhook_path
        self.health_path = health_path
        self.max_body = max_body
        self.metrics = TelephonyMetrics()
        self._deliveries = DeliveryLog()
        self._calls: dict[str, _Active] = {}
        self._task_group: anyio.abc.TaskGroup | None = None
        self._draining = False
        self._drained: anyio.Event | None = None  # set when a drain has finished
        self._idle: anyio.Event | None = None  # set when the last call ends (while someone waits for it)
        self._running = False
        self._context: AbstractAsyncContextManager[TelephonyServer] | None = None  # ``async with server``

    def __repr__(self) -> str:
        state = "draining" if self._draining else "running" if self._task_group is not None else "stopped"
        return f"<TelephonyServer {self.api} {state}: {len(self._calls)}/{self.max_calls} calls>"

    @property
    def draining(self) -> bool:
        """``drain()`` has begun: new calls are turned away (503)."""
        return self._draining

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    # --- running -------------------------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[TelephonyServer]:
        """Handle calls while the block runs; on leaving it, ``drain()`` (then close the REST client
        the server made). The ASGI lifespan does this for you."""
        if self._running:
            raise RuntimeError("this TelephonyServer is already running")
        self._running = True
        self._draining = False
        self._drained = None
        try:
            async with anyio.create_task_group() as task_group:
                self._task_group = task_group
                try:
                    yield self
                finally:
                    with anyio.CancelScope(shield=True):
                        await self.drain()
                    self._task_group = None
                    task_group.cancel_scope.cancel()
        finally:
            self._task_group = None
            self._running = False
            if self._owns_control:
                with anyio.CancelScope(shield=True):
                    await self.control.aclose()

    async def __aenter__(self) -> TelephonyServer:
        context = self.running()
        server = await context.__aenter__()
        self._context = context
        return server

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        context, self._context = self._context, None
        if context is None:
            raise RuntimeError("__aexit__ without __aenter__")
        return await context.__aexit__(*exc_info)

    async def drain(self) -> None:
        """Stop taking calls (webhooks get 503 and health says "draining"), give the calls in
        progress ``drain_timeout`` seconds to end, then hang up the rest and give them a few seconds
        more; what still runs after that is cancelled when the server stops."""
        if self._drained is not None:  # another drain is under way, or done
            await self._drained.wait()
            return
        self._drained = anyio.Event()
        self._draining = True
        try:
            if self._calls:
                logger.info("draining: %d call(s) in progress, %g s to end", len(self._calls), self.drain_timeout)
            with anyio.move_on_after(self.drain_timeout):
                await self._wait_idle()
            if not self._calls:
                return
            leftover = list(self._calls.values())
            logger.warning(
                "drain: hanging up %d call(s) still in progress after %g s", len(leftover), self.drain_timeout
            )
            async with anyio.create_task_group() as task_group:
                for active in leftover:
                    if active.accepted and active.call is not None:
                        task_group.start_soon(_hang_up, active.call)
                    else:
                        active.scope.cancel()  # still being decided: stop deciding
            with anyio.move_on_after(_HANGUP_GRACE):
                await self._wait_idle()
            for active in list(self._calls.values()):
                logger.warning("call %s: still running after its hangup: cancelled", active.incoming.id)
                active.scope.cancel()
        finally:
            self._drained.set()

    async def _wait_idle(self) -> None:
        while self._calls:
            self._idle = self._idle or anyio.Event()
            await self._idle.wait()

    # --- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        path = _route_path(scope)
        method = scope.get("method", "GET")
        if path == self.webhook_path:
            if method != "POST":
                await _respond(send, 405, {"error": "method not allowed"}, allow="POST")
                return
            await self._webhook(scope, receive, send)
        elif path == self.health_path:
            if method not in ("GET", "HEAD"):
                await _respond(send, 405, {"error": "method not allowed"}, allow="GET, HEAD")
                return
            await self._health(send, head=method == "HEAD")
        else:
            await _respond(send, 404, {"error": "not found"})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        if message.get("type") != "lifespan.startup":
            return
        started = False
        try:
            async with self.running():
                await send({"type": "lifespan.startup.complete"})
                started = True
                while (await receive()).get("type") != "lifespan.shutdown":
                    pass
        except Exception as exc:
            logger.exception("telephony server failed")
            kind = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
            await send({"type": kind, "message": f"{type(exc).__name__}: {exc}"})
            return
        await send({"type": "lifespan.shutdown.complete"})

    async def _health(self, send: Send, *, head: bool) -> None:
        status = "draining" if self._draining else "ok" if self._task_group is not None else "stopped"
        payload = {"status": status, "active_calls": len(self._calls), "max_calls": self.max_calls}
        await _respond(send, 200 if status == "ok" else 503, payload, head=head)

    async def _webhook(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = anyio.current_time()
        body = await _read_body(scope, receive, self.max_body)
        if body is None:  # the client left
            return
        if isinstance(body, tuple):
            self.metrics.invalid += 1
            status, reason = body
            logger.warning("webhook refused (%d): %s", status, reason)
            await _respond(send, status, {"error": reason})
            return
        try:
            webhook_id = self._verifier.verify(body, headers_from_asgi(scope.get("headers", ())), now=time.time())
        except WebhookError as exc:
            self.metrics.invalid += 1
            logger.warning("webhook refused (%d): %s", exc.status, exc.reason)
            await _respond(send, exc.status, {"error": exc.reason})
            return
        if not self._deliveries.first_time(webhook_id, time.monotonic()):
            self.metrics.duplicates += 1
            logger.info("webhook %s: delivered again; already acted on", webhook_id)
            await _respond(send, 200, {"status": "duplicate"})
            return
        try:
            event = parse_webhook(body)
        except WebhookError as exc:
            self._deliveries.forget(webhook_id)
            self.metrics.invalid += 1
            logger.warning("webhook %s refused (%d): %s", webhook_id, exc.status, exc.reason)
            await _respond(send, exc.status, {"error": exc.reason})
            return
        if isinstance(event, OtherWebhook) or event.api != self.api:
            self.metrics.ignored += 1
            logger.debug("webhook %s (%s) ignored", webhook_id, event.type)
            await _respond(send, 200, {"status": "ignored"})
            return
        if event.id in self._calls:  # the same call again, under another webhook id
            self.metrics.duplicates += 1
            logger.info("call %s: announced again (webhook %s); already in progress", event.id, webhook_id)
            await _respond(send, 200, {"status": "duplicate"})
            return
        task_group = self._task_group
        over = len(self._calls) >= self.max_calls
        if task_group is None or self._draining or (over and self.busy_status is None):
            self._deliveries.forget(webhook_id)  # so that its redelivery is acted on, here or elsewhere
            self.metrics.deferred += 1
            why = "draining" if self._draining else "not started" if task_group is None else "busy"
            if task_group is None and not self._draining:
                logger.warning(
                    "call %s: the server is not running (no ASGI lifespan: run it in `async with server:`)", event.id
                )
            else:
                logger.info("call %s: %s, answered 503 for a redelivery", event.id, why)
            await _respond(send, 503, {"error": why}, retry_after="1")
            return
        if over:
            task_group.start_soon(self._reject_busy, event)
        else:
            active = _Active(event, received)
            self._calls[event.id] = active
            self.metrics.active = len(self._calls)
            task_group.start_soon(self._run_call, active, name=f"call {event.id}")
        await _respond(send, 200, {"status": "accepted"})

    # --- calls ---------------------------------------------------------------------------------

    async def _reject_busy(self, incoming: IncomingCall) -> None:
        status = self.busy_status or 486
        self.metrics.busy += 1
        logger.info("call %s: %d calls in progress (max_calls): rejected with %d", incoming.id, self.max_calls, status)
        try:
            await self.control.reject(incoming.id, status, api=incoming.api)
        except (CallGone, CallTaken) as exc:
            logger.info("call %s: busy rejection not needed: %s", incoming.id, exc)
        except CallControlError as exc:
            logger.error("call %s: busy rejection failed: %s", incoming.id, exc)
        except Exception:
            logger.exception("call %s: busy rejection failed", incoming.id)

    async def _run_call(self, active: _Active) -> None:
        try:
            with active.scope:
                await self._answer(active)
        except Exception:  # never the server's end: a bug here is logged, with the call's id
            logger.exception("call %s: failed", active.incoming.id)
            self.metrics.errors += 1
        finally:
            self._calls.pop(active.incoming.id, None)
            self.metrics.active = len(self._calls)
            if not self._calls and self._idle is not None:
                self._idle.set()
                self._idle = None

    async def _answer(self, active: _Active) -> None:
        incoming = active.incoming
        call_id = incoming.id
        control = self.control
        try:
            instance = self._factory()
            if not isinstance(instance, RealtimeApp):
                raise TypeError(f"the app factory returned {type(instance).__name__}, not a RealtimeApp")
            if instance.api != self.api:
                raise ConfigError(f"the app factory made a {instance.api!r} app; this server takes {self.api!r} calls")
        except Exception:
            logger.exception("call %s: making its app failed", call_id)
            self.metrics.failed += 1
            await _decline(control, incoming)
            return
        call = Call(incoming, control, api=incoming.api)
        active.call = call
        with in_call(call):
            try:
                decision = await _decide(instance, call)
                if isinstance(decision, Reject):
                    await control.reject(call_id, decision.status_code, api=call.api)
                    self.metrics.rejected += 1
                    logger.info("call %s: rejected with %d", call_id, decision.status_code)
                    return
                if isinstance(decision, Refer):
                    await control.refer(call_id, decision.target_uri, api=call.api)
                    call.referred_to = decision.target_uri
                    self.metrics.referred += 1
                    logger.info("call %s: referred", call_id)
                    return
                session = decision.session if decision.session is not None else instance.accept_session()
                await control.accept(call_id, session, api=call.api)
            except CallGone as exc:
                self.metrics.gone += 1
                logger.info("call %s: caller left before it was answered (%s)", call_id, exc)
                return
            except CallTaken as exc:
                self.metrics.taken += 1
                if exc.maybe_ours:
                    logger.warning(
                        "call %s: decided already, perhaps by an earlier attempt of ours that got no answer: %s",
                        call_id,
                        exc,
                    )
                else:
                    logger.info("call %s: another worker answered it first", call_id)
                return
            except CallControlError as exc:
                self.metrics.failed += 1
                logger.error("call %s: call control failed: %s", call_id, exc)
                return
            except Exception:
                self.metrics.failed += 1
                logger.exception("call %s: deciding how to answer failed", call_id)
                await _decline(control, incoming)
                return
            accepted_at = anyio.current_time()
            self.metrics.accept_latency.record(accepted_at - active.received)
            self.metrics.accepted += 1
            active.accepted = True
            logger.info("call %s: accepted", call_id)
            await self._run_app(instance, call, active)

    async def _run_app(self, instance: RealtimeApp[Any], call: Call, active: _Active) -> None:
        control = self.control
        opened = False

        def sideband_opened() -> None:
            nonlocal opened
            if not opened:
                opened = True
                self.metrics.sideband_latency.record(anyio.current_time() - active.received)

        endpoint = _Sideband(
            control.sideband_url(call.id, api=call.api),
            control.sideband_headers(),
            api=instance.api,
            opened=sideband_opened,
        )
        try:
            await instance.run_async(endpoint)
            logger.info("call %s: ended", call.id)
        except ConnectionFailed as exc:
            self.metrics.errors += 1
            logger.warning("call %s: the sideband ended abnormally: %s", call.id, exc)
        except Exception:
            self.metrics.errors += 1
            logger.exception("call %s: the app failed", call.id)
        finally:
            self.metrics.ended += 1
            if call.referred_to:  # transferred from a handler (current_call().refer())
                self.metrics.referred += 1
            if not (call.hung_up or call.referred_to):  # a call never outlives its app
                with anyio.move_on_after(_CLEANUP, shield=True):
                    await _hang_up(call, quiet=True)


async def _decide(instance: RealtimeApp[Any], call: Call) -> Accept | Reject | Refer:
    answer = getattr(instance, "answer_call", None)
    if answer is None:
        return Accept()
    decision = await answer(call)
    if not isinstance(decision, (Accept, Reject, Refer)):
        raise TypeError(f"answer_call returned {decision!r}: give Accept(), Reject(...) or Refer(...)")
    return decision


async def _decline(control: CallControl, incoming: IncomingCall) -> None:
    """Reject a call we cannot answer (500), so that the caller is not left ringing."""
    with anyio.move_on_after(_CLEANUP):
        try:
            await control.reject(incoming.id, 500, api=incoming.api)
        except (CallGone, CallTaken, CallControlError) as exc:
            logger.info("call %s: could not be declined: %s", incoming.id, exc)


async def _hang_up(call: Call, *, quiet: bool = False) -> None:
    try:
        await call.hangup()
    except (CallTaken, CallControlError) as exc:
        (logger.info if quiet else logger.warning)("call %s: hangup failed: %s", call.id, exc)
    except Exception:
        logger.exception("call %s: hangup failed", call.id)


def _api_of(app: AppFactory) -> Literal["ga", "live"]:
    """The protocol the factory's apps speak (a subclass says; a function is asked for one app)."""
    api = app.api if isinstance(app, type) and issubclass(app, RealtimeApp) else None
    if api is None:
        probe = app()
        if not isinstance(probe, RealtimeApp):
            raise TypeError(f"the app factory returned {type(probe).__name__}, not a RealtimeApp")
        api = probe.api
    if api not in ("ga", "live"):
        raise ConfigError(f"an app with api = {api!r} takes no phone calls: use 'ga' (Realtime) or 'live' (GPT-Live)")
    return api


def _route_path(scope: Scope) -> str:
    """The request's path below where the app is mounted."""
    path = str(scope.get("path", "/"))
    root = str(scope.get("root_path", ""))
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes | tuple[int, str] | None:
    """The whole body; (status, reason) for one refused unread or past ``limit`` bytes; None if the
    client went away."""
    too_large = (413, f"body larger than {limit} bytes")
    for name, value in scope.get("headers", ()):
        if bytes(name).lower() == b"content-length":
            try:
                if int(value) > limit:
                    return too_large
            except ValueError:
                return (400, "bad content-length header")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(
    send: Send,
    status: int,
    payload: dict[str, Any],
    *,
    head: bool = False,
    allow: str | None = None,
    retry_after: str | None = None,
) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if allow is not None:
        headers.append((b"allow", allow.encode()))
    if retry_after is not None:
        headers.append((b"retry-after", retry_after.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


# --- deployment: a server described by the environment -------------------------------------------

APP_VARIABLE = "REALTIME_DISPATCH_SERVE_APP"
"""``MODULE:APP``: the app ``realtime_dispatch.telephony.asgi`` serves (set by ``realtime-dispatch serve``)."""
OPTIONS_VARIABLE = "REALTIME_DISPATCH_SERVE_OPTIONS"
"""``TelephonyServer`` keyword options as a JSON object (``{"max_calls": 50}``), optional."""


def from_environment() -> TelephonyServer:
    """The ``TelephonyServer`` that ``REALTIME_DISPATCH_SERVE_APP`` (``MODULE:APP``, looked up from
    the current directory as ``python -m`` would) and ``REALTIME_DISPATCH_SERVE_OPTIONS`` describe;
    the secret, key and URLs come from ``OPENAI_WEBHOOK_SECRET``, ``OPENAI_API_KEY``,
    ``OPENAI_BASE_URL`` and ``OPENAI_WEBSOCKET_BASE_URL``."""
    spec = os.environ.get(APP_VARIABLE, "")
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise ConfigError(f"set {APP_VARIABLE}=MODULE:APP (the app that answers the calls), not {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    target: Any = importlib.import_module(module_name)
    for part in name.split("."):
        target = getattr(target, part)
    options = json.loads(os.environ.get(OPTIONS_VARIABLE) or "{}")
    if not isinstance(options, dict):
        raise ConfigError(f"{OPTIONS_VARIABLE} must be a JSON object of TelephonyServer options")
    return TelephonyServer(target, **options)
