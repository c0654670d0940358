"""RealtimeApp: decorated methods, lifespan hooks, and the task group that runs a session."""

from __future__ import annotations

import logging
import signal
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast
from urllib.parse import urlsplit

import anyio
import anyio.abc
import msgspec

from ._connection import BaseConnection, Connection, OutboundMiddleware, SessionParts
from ._dispatch import Dispatcher, InboundMiddleware
from ._endpoints import ConfigError, Endpoint
from ._features import DEFAULT_FEATURES
from ._handlers import Inject, analyse, qualified_name
from ._lifecycle import Lifecycle
from ._metrics import Metrics
from ._outbox import Outbox
from ._playback import Playback
from ._protocol import APIS, Api
from ._protocol import protocol as get_protocol
from ._reconnect import Reconnect
from ._router import Router, _Spec, api_hint, check_exception_types, check_options, resolve_keys
from ._sequencer import DEFAULT_START_TIMEOUT, ResponseSequencer, SequencerPolicy
from ._session import Feature, SessionRunner, SessionSetup
from ._state import Conversation
from ._tools import ToolInterruption, ToolSpec, tool_options, tool_spec
from ._trace import FrameTap, TappedTransport
from ._waiters import Waiters
from .events import ClientEvent, ServerEvent, Session, SessionUpdate
from .transports import Transport

if TYPE_CHECKING:
    from ._keys import OnFunction, OnMethod
    from ._live import LiveConnection  # noqa: F401  (named in LiveApp's base, as a string: loaded lazily)
    from ._translation import TranslationConnection  # noqa: F401  (likewise)
    from .events import live, translation

__all__ = ("LiveApp", "RealtimeApp", "Target", "TranslationApp", "TransportFactory", "on", "on_error")

logger = logging.getLogger("realtime_dispatch.app")

_F = TypeVar("_F", bound=Callable[..., Any])

if TYPE_CHECKING:  # a default, for type checkers only: ``class MyApp(RealtimeApp)`` means Connection
    from typing_extensions import TypeVar as _TypeVarWithDefault

    C = _TypeVarWithDefault("C", bound=BaseConnection, default=Connection)
else:
    C = TypeVar("C", bound=BaseConnection)

TransportFactory = Callable[[], Awaitable[Transport]]
Target = Transport | TransportFactory | str

_ROUTES = "__realtime_routes__"
_CLOSE_ALLOWANCE = 15.0  # seconds for the close handshake (close_timeout is 10 by default) on top of the hooks' grace
_ERRORS = "__realtime_error_types__"


def _on(*keys: str | type[ServerEvent], **options: Any) -> Callable[[_F], _F]:
    def decorator(fn: _F) -> _F:
        specs = list(getattr(fn, _ROUTES, ()))
        specs.append(_Spec(keys, options))
        setattr(fn, _ROUTES, specs)
        return fn

    return decorator


if TYPE_CHECKING:
    on: OnMethod
else:
    on = _on
    on.__name__ = "on"
    on.__qualname__ = "on"
    on.__doc__ = """Mark a method of a RealtimeApp subclass as a handler (collected when the class is
defined). Same keys and options as ``Router.on``; returns the function unchanged."""


def on_error(*exc_types: type[BaseException]) -> Callable[[_F], _F]:
    """Mark a method of a RealtimeApp subclass as an error handler for these exception
    classes (default: ``Exception``)."""

    def decorator(fn: _F) -> _F:
        setattr(fn, _ERRORS, exc_types or (Exception,))
        return fn

    return decorator


class RealtimeApp(Generic[C]):
    """Subclass, decorate methods with ``@on(...)``, then ``run()``.

    Class attributes configure it: ``api`` (``"ga"`` or ``"beta"``), ``session`` (a
    ``Session`` sent as ``session.update`` on every connect), ``slow_handler_threshold``
    (seconds an inline handler may hold the receive loop before a warning),
    ``max_background_tasks`` (background handlers in flight before the loop waits) and
    ``shutdown_grace`` (seconds background handlers get to finish at shutdown),
    ``reconnect`` (a ``Reconnect`` policy, or None) and ``max_pending_sends`` (client
    events that may wait out a reconnect before ``send`` fails with ``NotConnected``) and
    ``response_policy``: a ``response.create`` while a response is active ``"wait"``s for it
    to finish (default), is refused with ``ResponseInProgress`` (``"reject"``), or goes out
    as is (``"off"``). ``send_timeout``: ``None`` (default) lets ``send`` block while the socket
    drains (backpressure); a number of seconds makes a send to a stuck connection fail with
    ``SendTimeout`` and closes that connection (then reconnects, if the target allows).
    ``reseed_history``: after a reconnect, recreate the conversation's finished items (the
    last ``max_history_items``; audio by its transcript) right after the session.
    ``recycle_after``: seconds after which a connection is replaced at the next turn boundary
    (a ``response.done`` with no response left in progress), before the server's session time
    limit ends it mid-turn; use it with ``reseed_history`` to keep the conversation.
    ``tool_timeout``: seconds a ``@tool`` may run before it is cancelled and the model gets an
    error output (a tool's own ``timeout=`` wins); ``tool_interruption``: when the response
    that called tools is interrupted, ``"cancel"`` them (default) or let them ``"finish"``;
    either way their outputs are added and no follow-up response is created.
    ``barge_in``: when the user starts speaking (``input_audio_buffer.speech_started``), call
    ``on_barge_in`` (stop your audio output there), cancel the response if the session's turn
    detection does not, and truncate the playing item to what ``playback`` says was heard.
    ``track_conversation``: keep ``conversation`` (a ``Conversation``) up to date: the items in
    server order with their text, transcripts and tool calls, responses and usage (at most
    ``max_history_items`` items; audio not kept).
    ``collect_metrics``: count events, sends, errors, reconnects, usage, handler time and the
    voice latencies into ``metrics`` (off by default: it costs a little on every event).
    ``response_start_timeout``: seconds a ``response.create`` may go unanswered (no
    ``response.created``, no error naming it) before the sequencer stops holding other creates
    back for it.
    ``features``: the capabilities installed on every session (tools, conversation tracking,
    history, barge-in, metrics, recycling); add your own ``Feature`` to extend the app.
    """

    __realtime_injected_as__ = Inject.APP  # a handler parameter annotated with the app receives it
    api: ClassVar[Api] = "ga"
    session: Session | None = None
    slow_handler_threshold: float = 0.05
    max_background_tasks: int = 256
    shutdown_grace: float = 5.0
    reconnect: Reconnect | None = Reconnect()
    max_pending_sends: int = 1000
    response_policy: SequencerPolicy = "wait"
    send_timeout: float | None = None
    reseed_history: bool = False
    recycle_after: float | None = None
    max_history_items: int = 200
    tool_timeout: float | None = 30.0
    tool_interruption: ToolInterruption = "cancel"
    barge_in: bool = False
    collect_metrics: bool = False
    track_conversation: bool = False
    response_start_timeout: float = DEFAULT_START_TIMEOUT
    features: ClassVar[tuple[Feature, ...]] = DEFAULT_FEATURES

    _handler_names: ClassVar[tuple[str, ...]] = ()
    _tool_specs: ClassVar[dict[str, ToolSpec]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Collect and check the decorated methods now, so mistakes fail at import time."""
        super().__init_subclass__(**kwargs)
        if cls.api not in APIS:
            raise ValueError(f"{cls.__name__}.api = {cls.api!r}: one of {', '.join(map(repr, APIS))}")
        names: dict[str, None] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                if (
                    getattr(value, _ROUTES, None) is None
                    and getattr(value, _ERRORS, None) is None
                    and tool_options(value) is None
                ):
                    names.pop(attr, None)  # overridden without a decorator: no longer a handler
                else:
                    names[attr] = None
        localns = {cls.__name__: cls}
        tools: dict[str, ToolSpec] = {}
        for attr in names:
            fn = getattr(cls, attr)
            specs = getattr(fn, _ROUTES, None)
            if specs is not None:
                plan = analyse(fn, skip_self=True, localns=localns)
                for spec in specs:
                    check_options(qualified_name(fn), spec.options)
                    for key in resolve_keys(spec.keys, plan, qualified_name(fn), cls.api):
                        hint = api_hint(key, cls.api)
                        if hint:
                            raise ValueError(f"handler {qualified_name(fn)}: {hint}")
            errors = getattr(fn, _ERRORS, None)
            if errors is not None:
                check_exception_types(qualified_name(fn), errors)
                analyse(fn, skip_self=True, allow_exception=True, localns=localns)
            options = tool_options(fn)
            if options is not None:
                tools[attr] = tool_spec(
                    fn,
                    name=options.name,
                    description=options.description,
                    timeout=options.timeout,
                    skip_self=True,
                    localns=localns,
                )
        seen: dict[str, str] = {}
        for attr, spec in tools.items():
            if spec.name in seen:
                raise ValueError(f"{cls.__name__}: {seen[spec.name]} and {attr} are both named tool {spec.name!r}")
            seen[spec.name] = attr
        cls._handler_names = tuple(names)
        cls._tool_specs = tools

    def __init__(self, *, name: str | None = None) -> None:
        self.router = Router(name or type(self).__name__, api=self.api)
        self._inbound: list[InboundMiddleware] = []
        self._outbound: list[OutboundMiddleware] = []
        self._taps: list[FrameTap] = []
        self._conversation = Conversation(max_items=self.max_history_items)
        self._metrics = Metrics()
        self._warned_off: set[str] = set()  # features read while off: warned once per app
        self._run: SessionRunner | None = None  # the running session (its parts: .setup), while the app runs
        self.playback = Playback()
        """Report what your audio output has played here (see ``Playback``); read by barge-in."""
        self._running = False
        localns = {type(self).__name__: type(self)}
        for attr in self._handler_names:
            fn = getattr(type(self), attr)
            method = getattr(self, attr)
            for spec in getattr(fn, _ROUTES, ()):
                plan = analyse(method, skip_self=False, localns=localns)
                self.router.add_handler(method, *spec.keys, plan=plan, **spec.options)
            errors = getattr(fn, _ERRORS, None)
            if errors is not None:
                plan = analyse(method, skip_self=False, allow_exception=True, localns=localns)
                self.router.add_error_handler(method, *errors, plan=plan)
            spec = self._tool_specs.get(attr)
            if spec is not None:
                self.router.add_tool(method, _spec=spec.bind(self, attr))

    # --- state kept by optional features ------------------------------------------------------------

    @property
    def conversation(self) -> Conversation:
        """The conversation so far, kept while ``track_conversation`` is on (see ``Conversation``).
        Read while it is off, it stays empty: the first read warns (``RuntimeWarning``)."""
        if not self.track_conversation:
            self._warn_off("conversation", "track_conversation")
        return self._conversation

    @property
    def metrics(self) -> Metrics:
        """Counters and latencies, fed while ``collect_metrics`` is on (see ``Metrics``).
        Read while it is off, they stay at zero: the first read warns (``RuntimeWarning``)."""
        if not self.collect_metrics:
            self._warn_off("metrics", "collect_metrics")
        return self._metrics

    def _warn_off(self, attribute: str, switch: str) -> None:
        if attribute in self._warned_off:
            return
        self._warned_off.add(attribute)
        warnings.warn(
            f"{type(self).__name__}.{attribute} is not kept: {switch} is off. "
            f"Set {switch} = True on {type(self).__name__} (a class attribute) to fill it",
            RuntimeWarning,
            stacklevel=3,
        )

    # --- registration on the instance ------------------------------------------------------------

    @property
    def on(self) -> OnFunction:
        """``app.on(...)``: register a plain function on this app's root router."""
        return self.router.on

    def include_router(self, router: Router) -> Router:
        return self.router.include_router(router)

    def include_routers(self, *routers: Router) -> None:
        self.router.include_routers(*routers)

    def add_middleware(self, middleware: Callable[..., Awaitable[None]], *, outbound: bool = False) -> None:
        """Add an ``async (event, call_next)`` middleware.

        Inbound middleware sees every decoded server event before routing; outbound
        middleware sees every client event before it is encoded and sent. The first added
        is the outermost. Composed once when the app starts.
        """
        if self._running:
            raise RuntimeError("middleware cannot be added while the app is running")
        (self._outbound if outbound else self._inbound).append(middleware)

    def add_frame_tap(self, tap: FrameTap) -> None:
        """Show every raw frame to ``tap(direction, frame)`` (``"in"``/``"out"``, bytes): inbound
        ones before they are decoded, bad ones included. A tap that raises is logged, not fatal.
        Frames carry audio and may carry secrets: mind where a tap writes them."""
        if self._running:
            raise RuntimeError("frame taps cannot be added while the app is running")
        self._taps.append(tap)

    # --- lifespan hooks: override in a subclass ------------------------------------------------

    async def on_startup(self) -> None:
        """Before the first connection."""

    async def on_connect(self, connection: C) -> None:
        """After each connection opens (again after a reconnect), once ``session`` and the
        client events that waited out a reconnect are sent."""

    async def on_disconnect(self, connection: C) -> None:
        """After each connection closes."""

    async def on_shutdown(self) -> None:
        """After the last connection, also when the app fails."""

    async def on_barge_in(self, connection: C) -> None:
        """The user interrupted (``barge_in``, or ``interrupt()``): stop and flush your audio
        output here. Runs in the receive loop, before the truncation is sent: keep it short."""

    # --- work off the receive loop ---------------------------------------------------------------------

    def start_soon(self, fn: Callable[..., Awaitable[object]], *args: Any, name: str | None = None) -> None:
        """Run ``fn(*args)`` as a task of the running app, off the receive loop: for work a handler
        starts but must not wait for (streaming audio, a slow lookup). Its exceptions go to the
        error handlers; at shutdown it gets ``shutdown_grace`` seconds, then is cancelled."""
        self._running_parts().setup.dispatcher.start_task(fn, *args, name=name or qualified_name(fn))

    # --- barge-in ------------------------------------------------------------------------------------

    async def interrupt(self, *, server_interrupts: bool = False) -> None:
        """Barge in now, as push-to-talk does: ``on_barge_in``, cancel the response in progress,
        truncate the playing item to what was heard (WebRTC/SIP: clear the server's output).
        ``server_interrupts``: the server's turn detection cancels the response itself.
        With ``barge_in`` on, an interruption with nothing to cut (no response requested or in
        progress, and ``playback.playing`` false: no audio arrived, or all of it was reported played,
        since the last interruption) does nothing: ``on_barge_in`` is not called."""
        setup = self._running_parts().setup
        if not setup.protocol.realtime:  # GPT-Live: nothing to cancel or truncate; stop local playback
            await self.on_barge_in(cast("C", setup.connection))
            return
        connection = cast("Connection", setup.connection)
        quiet = self.barge_in and not setup.sequencer.busy and not self.playback.playing
        cut = self.playback.cut()
        if quiet and cut is None:
            logger.debug("barge-in: nothing is playing and no response is in progress: nothing to interrupt")
            return
        await self.on_barge_in(cast("C", connection))
        if not server_interrupts:
            if setup.sequencer.active is not None:
                await connection.cancel_response()
            if setup.sideband and self.playback.server_playing:
                await connection.clear_output_audio()  # the server plays it: only it can stop it
        if cut is not None and not setup.sideband:
            logger.info("barge-in: truncating %s at %d ms", cut.item_id, cut.audio_end_ms)
            await connection.truncate_item(cut.item_id, cut.audio_end_ms, content_index=cut.content_index)

    # --- running ----------------------------------------------------------------------------------

    @property
    def connection(self) -> C:
        """The live connection while the app runs (its protocol's class: ``Connection``,
        ``LiveConnection``, ``TranslationConnection``)."""
        return cast("C", self._running_parts().setup.connection)

    def _running_parts(self) -> SessionRunner:
        if self._run is None:
            raise RuntimeError("the app is not running")
        return self._run

    @asynccontextmanager
    async def connect(self, target: Target) -> AsyncIterator[C]:
        """Run the app in the background for the ``async with`` block; yields the connection.

        ``target`` is an ``Endpoint`` (``openai(...)``, ``azure(...)``), a ``ws://`` or
        ``wss://`` URL, any async transport factory, or an open ``Transport``. With a
        factory, a lost connection is reopened per ``reconnect``. Leaving the block closes
        the connection and stops the app. An abnormal end (the server refused the session,
        closed with an error code, or reconnecting gave up) raises ``ConnectionFailed`` here.
        """
        if self._running:
            raise RuntimeError("this app is already running")
        if isinstance(target, Endpoint) and target.api != self.api:
            ours, theirs = get_protocol(self.api).title, get_protocol(target.api).title
            raise ConfigError(
                f"{type(self).__name__} speaks the {ours} (api = {self.api!r}) but the endpoint is for the "
                f"{theirs} ({target.api!r}): set api = {target.api!r} on the app, or connect to an endpoint "
                f"for {self.api!r}" + (" (openai(..., beta=True))" if "beta" in (self.api, target.api) else "")
            )
        factory = _factory(target)
        url = target.url if isinstance(target, Endpoint) else target if isinstance(target, str) else ""
        parts = urlsplit(url)
        sideband = "call_id=" in parts.query or parts.path.rstrip("/").endswith("/attach")  # Realtime; Live
        # A tool declared twice, a GPT-Live session that cannot take the tools: fails here, before connecting.
        self._session_to_send()
        start = get_protocol(self.api).start
        if start is not None and not sideband:
            start(self.session, list(self.router.walk_tools()))
        self._running = True
        self.router.freeze()
        try:
            await self.on_startup()
            runner: SessionRunner | None = None
            try:
                async with _one_error(), anyio.create_task_group() as task_group:
                    transport = await self._open(factory, target)
                    runner = self._assemble(task_group, factory, sideband)
                    setup = self._running_parts().setup
                    setup.outbox.opening(transport)  # close() works, and sends wait for the session
                    task_group.start_soon(runner.run, transport)
                    try:
                        yield cast("C", setup.connection)
                    finally:
                        # Shielded so a cancelled caller still gets a clean close, but bounded: hooks that hang
                        # must not make the app impossible to stop.
                        with anyio.move_on_after(2 * self.shutdown_grace + _CLOSE_ALLOWANCE, shield=True) as scope:
                            await setup.connection.close()
                            await runner.finished.wait()
                            if not await setup.dispatcher.wait_idle(self.shutdown_grace):
                                logger.warning(
                                    "background handlers still running after %gs: cancelled", self.shutdown_grace
                                )
                        if scope.cancelled_caught:
                            logger.warning("shutdown took too long: the rest was cancelled")
                        task_group.cancel_scope.cancel()
                # Raised here, outside the task group, so it is not wrapped in a group.
                outcome = runner.outcome if runner is not None else None
                error = outcome.error() if outcome is not None else None
                if error is not None:
                    raise error from runner.cause if runner is not None else None
            finally:
                with anyio.move_on_after(self.shutdown_grace, shield=True) as hook:
                    await self.on_shutdown()
                if hook.cancelled_caught:
                    logger.warning("on_shutdown still running after %gs: cancelled", self.shutdown_grace)
        finally:
            self._run = None
            self._running = False
            self.router.freeze(False)

    def _assemble(
        self, task_group: anyio.abc.TaskGroup, factory: TransportFactory | None, sideband: bool
    ) -> SessionRunner:
        """Build the session's parts around one lifecycle, and let the features install themselves."""
        lifecycle = Lifecycle(self.reconnect, can_reconnect=factory is not None)
        metrics = self._metrics if self.collect_metrics else None
        waiters = Waiters()
        sequencer = ResponseSequencer(self.response_policy, start_timeout=self.response_start_timeout)
        outbox = Outbox(
            lifecycle,
            max_pending=self.max_pending_sends,
            send_timeout=self.send_timeout,
            in_loop=waiters.in_loop,
        )
        protocol = get_protocol(self.api)
        parts = SessionParts(lifecycle, outbox, sequencer, waiters)
        connection = protocol.connection(
            middleware=self._outbound if metrics is None else [*self._outbound, _count_sent(metrics)],
            parts=parts,
        )
        dispatcher = Dispatcher(
            self.router,
            self,
            connection,
            task_group,
            waiters=waiters,
            sequencer=sequencer,
            middleware=self._inbound,
            slow_handler_threshold=self.slow_handler_threshold,
            max_background_tasks=self.max_background_tasks,
            metrics=metrics,
            protocol=protocol,
        )
        # Settled in this order when a session ends: the dispatcher stops, then what waits fails.
        for listener in (dispatcher, waiters, sequencer):
            lifecycle.listen(listener)
        outbox.run_in(dispatcher.spawn)
        setup = SessionSetup(
            app=self,
            connection=connection,
            dispatcher=dispatcher,
            lifecycle=lifecycle,
            outbox=outbox,
            sequencer=sequencer,
            waiters=waiters,
            metrics=metrics,
            sideband=sideband,
            can_reconnect=factory is not None,
            protocol=protocol,
            farewell=parts.farewell,  # the same list: features add to it, close() runs it
        )
        if protocol.realtime:
            session = self._session_to_send
            setup.send_first(lambda: [SessionUpdate(session=s)] if (s := session()) is not None else [])
        # Other protocols' session start: _features.session_start
        runner = SessionRunner(setup, factory=factory, wrap=self._tapped, shutdown_grace=self.shutdown_grace)
        for feature in self.features:
            feature(setup)
        self._run = runner
        return runner

    async def _open(self, factory: TransportFactory | None, target: Target) -> Transport:
        if factory is None:
            assert isinstance(target, Transport)
            return self._tapped(target)
        transport = await factory()
        logger.info("connected to %s", target)
        return self._tapped(transport)

    def _tapped(self, transport: Transport) -> Transport:
        return TappedTransport(transport, self._taps) if self._taps else transport

    def _session_to_send(self) -> Session | None:
        """``session`` with the declared tools added to its own (the Realtime API's ``session.update``)."""
        if not get_protocol(self.api).realtime:
            return None
        declared = [spec.definition() for spec in self.router.walk_tools()]
        if not declared:
            return self.session
        session = self.session or Session(type="realtime" if self.api == "ga" else None)
        own = session.tools or []
        clash = {t.name for t in own} & {t.name for t in declared}
        if clash:
            raise ConfigError(f"session.tools already declares {', '.join(sorted(map(str, clash)))}; declare it once")
        return msgspec.structs.replace(session, tools=[*own, *declared])

    def accept_session(self) -> dict[str, Any]:
        """The ``session`` of a SIP call's accept request for this app, as JSON-ready data: its
        ``session`` with its ``@tool``s (Realtime: the body of ``/realtime/calls/{id}/accept``, with
        ``type: "realtime"``; GPT-Live: the ``session`` of ``/live/sessions/{id}/accept``, with
        ``type: "live"``). Override it to answer callers differently (their SIP headers are in
        ``telephony.current_call()``). Raises ``ConfigError`` for an app whose protocol takes no calls."""
        tools = list(self.router.walk_tools())
        if self.api == "ga":
            session = self._session_to_send() or Session(type="realtime")
            body: dict[str, Any] = msgspec.to_builtins(session)
            body.setdefault("type", "realtime")
            return body
        start = get_protocol(self.api).start
        if self.api != "live" or start is None:
            raise ConfigError(f"{type(self).__name__} speaks the {get_protocol(self.api).title}, which takes no calls")
        event = start(self.session, tools)
        config: dict[str, Any] = msgspec.to_builtins(getattr(event, "session", None) or {})
        config.pop("client", None)  # a SIP session has no WebRTC frontend
        audio = config.get("audio")
        if isinstance(audio, dict):
            audio.pop("format", None)  # negotiated by SIP
            if not audio:
                config.pop("audio")
        return {**config, "type": "live"}

    async def run_async(self, target: Target) -> None:
        """Run until the connection ends for good (or the surrounding scope is cancelled)."""
        async with self.connect(target):
            await self._running_parts().finished.wait()

    def run(
        self,
        target: Target,
        *,
        backend: str = "asyncio",
        backend_options: dict[str, Any] | None = None,
        handle_signals: bool = True,
    ) -> None:
        """Blocking entry point: run the event loop until the connection ends for good.

        ``backend`` is ``"asyncio"`` or ``"trio"``; ``backend_options={"use_uvloop": True}``
        runs asyncio on uvloop. SIGINT and SIGTERM close the connection cleanly (``on_disconnect``
        and ``on_shutdown`` run), then ``run()`` raises rather than return as if all went well:
        ``KeyboardInterrupt`` for SIGINT, as ``asyncio.run`` does, and ``SystemExit(143)``
        (128 + SIGTERM) for SIGTERM, so an uncaught one exits quietly with the status a shell
        reports for a process SIGTERM stopped."""
        stopped_by: list[int] = []

        async def main() -> None:
            async with _one_error(), anyio.create_task_group() as task_group:
                if handle_signals:  # start(), not start_soon(): the handlers are in place before we connect
                    await task_group.start(_stop_on_signal, task_group.cancel_scope, stopped_by)
                await self.run_async(target)
                task_group.cancel_scope.cancel()

        anyio.run(main, backend=backend, backend_options=backend_options)
        if stopped_by == [signal.SIGINT]:
            raise KeyboardInterrupt
        if stopped_by == [signal.SIGTERM]:
            raise SystemExit(128 + signal.SIGTERM)


@asynccontextmanager
async def _one_error() -> AsyncIterator[None]:
    """anyio wraps even a single exception in an ExceptionGroup; the app's caller wants the exception
    itself (their own, raised in ``async with app.connect()``, or why the connection failed)."""
    try:
        yield
        return
    except BaseExceptionGroup as group:
        if len(group.exceptions) != 1:
            raise
        single = group.exceptions[0]
        context = single.__context__
    try:
        raise single
    finally:
        single.__context__ = context  # not the group, which holds it: a cycle for anyone walking the chain


def _factory(target: Target) -> TransportFactory | None:
    if isinstance(target, str):
        return Endpoint(target)
    if isinstance(target, Transport):
        return None
    if callable(target):
        return target
    raise TypeError(f"cannot connect to {target!r}: give an Endpoint, a URL, a transport factory or a Transport")


def _count_sent(metrics: Metrics) -> OutboundMiddleware:
    async def count_sent(event: ClientEvent, call_next: Callable[[ClientEvent], Awaitable[None]]) -> None:
        await call_next(event)
        metrics.observe_sent(event)  # after: counts what went out, not what failed

    return count_sent


async def _stop_on_signal(
    scope: anyio.CancelScope, stopped_by: list[int], *, task_status: anyio.abc.TaskStatus[None]
) -> None:
    """Cancel ``scope`` at the first SIGINT or SIGTERM, noting which in ``stopped_by``."""
    try:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for received in signals:
                logger.info("received %s: closing", signal.Signals(received).name)
                stopped_by.append(int(received))
                scope.cancel()
                return
    except NotImplementedError:  # no signal support on this platform/loop
        task_status.started()


class LiveApp(RealtimeApp["LiveConnection"]):
    """A ``RealtimeApp`` on GPT-Live (``api = "live"``): typed with ``LiveConnection``.

    ``session`` is an ``events.live.SessionConfig`` (``ForkSessionConfig`` for a fork), sent as
    ``session.start`` on each primary or fork connection; the app waits for ``session.started``.
    ``@tool``s go in its Responses delegation (``session.delegation``). ``close()`` sends
    ``session.close`` and waits for ``session.closed``: ``connection.outcome.final`` holds it.
    """

    api: ClassVar[Api] = "live"
    session: live.SessionConfig | live.ForkSessionConfig | None = None  # type: ignore[assignment]


class TranslationApp(RealtimeApp["TranslationConnection"]):
    """A ``RealtimeApp`` on Realtime Translation (``api = "translation"``): typed with
    ``TranslationConnection``. ``session`` is an ``events.translation.SessionUpdateRequest``, sent
    as ``session.update`` on each connection. ``close()`` sends ``session.close`` and waits for
    ``session.closed``, so the translation of the audio sent last is not lost."""

    api: ClassVar[Api] = "translation"
    session: translation.SessionUpdateRequest | None = None  # type: ignore[assignment]
