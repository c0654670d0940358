"""The frozen dispatch table and the receive loop that feeds it.

Built once when an app starts: every known event type maps to the tuple of routes that
handle it, so routing an event is one dict lookup. Inline handlers are called straight
from the receive loop, in arrival order: no task and no event-loop pass per event.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
import time
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup

from ._handlers import HandlerCancelled, Inject, Plan, is_async_callable, stray_cancellation
from ._lifecycle import NotConnected, Outcome, SessionListener
from ._metrics import Metrics
from ._middleware import Middleware, compose
from ._protocol import Protocol
from ._protocol import protocol as get_protocol
from ._redact import redact_text, shown_frame
from ._router import UNKNOWN_KEY, ErrorHandler, Handler, Router, matcher, matches
from ._sequencer import ResponseSequencer
from ._threads import default_threads
from ._trace import trace_inbound, trace_logger
from ._waiters import Waiter, Waiters
from ._watchdog import watch
from .events import DecodeError, ServerEvent
from .transports import Transport, TransportClosed

if TYPE_CHECKING:
    from ._app import RealtimeApp
    from ._connection import BaseConnection

__all__ = ("Dispatcher", "HandlerCancelled", "HandlerTimeout", "InboundMiddleware", "Waiter", "matcher")

logger = logging.getLogger("realtime_dispatch.dispatch")

InboundMiddleware = Middleware[ServerEvent]

_UNKNOWN_CACHE_SIZE = 256  # distinct unmodelled types remembered; a hostile server cannot grow it
_OVERFLOW_LOG_EVERY = 10.0  # seconds between warnings while background handlers are saturated
_FAIRNESS_EVERY = 1024  # events between forced checkpoints: background tasks run even during a flood


@dataclass(eq=False, slots=True)
class _Route:
    """A handler bound to one running session: its call with the injections applied."""

    handler: Handler
    call: Callable[[ServerEvent], Any]
    is_async: bool
    simple: bool  # inline, unfiltered, not once: the fast path
    limiter: anyio.Semaphore | None = None


class Dispatcher(SessionListener):
    """Routes decoded events to handlers for one running app."""

    # Slots: the receive loop reads and writes some of these for every event.
    __slots__ = (
        "_app",
        "_background_slots",
        "_chains",
        "_closed",
        "_connection",
        "_decode",
        "_fast_decode",
        "_has_middleware",
        "_idle",
        "_in_flight",
        "_max_background",
        "_metrics",
        "_middleware",
        "_next_overflow_log",
        "_observers",
        "_protocol",
        "_root",
        "_routes",
        "_sequencer",
        "_spent",
        "_table",
        "_task_group",
        "_unknown",
        "_waiters",
        "background_waits",
        "busy",  # the watchdog samples these two: the handler holding the loop, and its event
        "busy_event",
        "process",
        "slow_threshold",
    )

    def __init__(
        self,
        root: Router,
        app: RealtimeApp[Any],
        connection: BaseConnection,
        task_group: TaskGroup,
        *,
        waiters: Waiters,
        sequencer: ResponseSequencer,
        middleware: list[InboundMiddleware],
        slow_handler_threshold: float,
        max_background_tasks: int,
        metrics: Metrics | None = None,
        protocol: Protocol | None = None,
    ) -> None:
        self._protocol = protocol = protocol if protocol is not None else get_protocol("ga")
        self._fast_decode = protocol.server_decoder.decode  # one reused msgspec decoder: the hot path
        self._decode = protocol.decode  # when that fails: tells an unknown type from a broken frame
        self._root = root
        self._metrics = metrics
        self._middleware = middleware
        self._waiters = waiters
        self._sequencer = sequencer
        self._closed = False  # close() was called: nothing more is dispatched
        self._app = app
        self._connection = connection
        self._task_group = task_group
        self.slow_threshold = slow_handler_threshold
        self._background_slots = anyio.Semaphore(max_background_tasks)
        self._max_background = max_background_tasks
        self._in_flight = 0
        self.background_waits = 0  # times the receive loop waited for a background slot
        self._next_overflow_log = 0.0
        self._idle = anyio.Event()
        self._idle.set()
        self._spent: set[Handler] = set()
        # Per app, bound now: a shared router has several parents, and an error goes up this app's path.
        self._chains = root.lineage()
        self._routes: dict[Handler, _Route] = {}
        for handler in root.walk_handlers():
            self._routes[handler] = self._bind(handler)
        names = protocol.server_events
        self._table: dict[str, tuple[_Route, ...]] = {name: self._collect(name, known=True) for name in names}
        self._unknown: dict[str, tuple[_Route, ...]] = {}
        self._observers: dict[str, int] = {}  # internal routes at the front of each table entry
        if metrics is not None:
            for name in names:
                self.add_observer(name, metrics.observe)
        self._add_internal_routes()
        self.process = compose(middleware, self.dispatch)
        self._has_middleware = bool(middleware)
        # What the receive loop is running now, for the watchdog thread.
        self.busy: _Route | None = None
        self.busy_event: ServerEvent | None = None

    # --- building ---------------------------------------------------------------------------

    def _add_internal_routes(self) -> None:
        """The library's own observers run first, as routes, so other event types pay nothing."""
        sequencer = self._sequencer
        log_errors = not self._table["error"]

        def on_error(event: ServerEvent) -> None:
            sequencer.observe(event)
            if log_errors:
                _log_unhandled_error(event)

        observers: list[tuple[str, Callable[[ServerEvent], None]]] = [("error", on_error)]
        if self._protocol.realtime:  # responses exist in the Realtime API's session model only
            observers[:0] = [("response.created", sequencer.observe), ("response.done", sequencer.observe)]
        for name, observe in observers:
            self.add_observer(name, observe)

    def add_observer(self, name: str, observe: Callable[[ServerEvent], object]) -> None:
        """Run ``observe`` (sync, or async and awaited inline) on every ``name`` event, before
        the user's handlers and after the observers added before it. Only before the receive
        loop starts."""
        is_async = is_async_callable(observe)
        handler = Handler(
            fn=observe,
            keys=(name,),
            plan=Plan((Inject.EVENT,), None),
            is_async=is_async,
            name=f"realtime_dispatch.{observe.__name__}",
            router=self._root,
        )
        routes = self._table[name]
        at = self._observers.get(name, 0)
        self._table[name] = (*routes[:at], _Route(handler, observe, is_async, True), *routes[at:])
        self._observers[name] = at + 1

    # --- the lifecycle ---------------------------------------------------------------------------

    def session_started(self) -> None:
        self._closed = False

    def session_closing(self) -> None:
        # close() was called: the receive loop dispatches nothing more (a running handler finishes).
        self._closed = True
        self.busy = None  # the close handshake may take a while: not the handler's slowness

    def session_ended(self, outcome: Outcome | None) -> None:
        if outcome is not None:
            self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def root(self) -> Router:
        """The app's root router (error handlers of last resort)."""
        return self._root

    @property
    def in_flight(self) -> int:
        """Background handlers and library tasks running."""
        return self._in_flight

    def spawn(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        """Run library housekeeping (closing a stuck transport) in the app's task group."""
        self._task_group.start_soon(fn, *args)

    def _bind(self, handler: Handler) -> _Route:
        call = _inject(handler.fn, handler.plan.params, self._connection, self._app)
        if self._metrics is not None:
            call = self._metrics.timed(handler.name, call, handler.is_async)
        limiter = anyio.Semaphore(handler.concurrency) if handler.concurrency else None
        simple = not (handler.background or handler.once or handler.when is not None)
        return _Route(handler, call, handler.is_async, simple, limiter)

    def _collect(self, event_type: str, *, known: bool) -> tuple[_Route, ...]:
        routes = []
        for handler in self._root.walk_handlers():
            for key in handler.keys:
                if matches(key, event_type) or (not known and key == UNKNOWN_KEY):
                    routes.append(self._routes[handler])
                    break
        return tuple(routes)

    def _routes_for_unknown(self, event_type: str) -> tuple[_Route, ...]:
        routes = self._unknown.get(event_type)
        if routes is None:
            routes = self._collect(event_type, known=False)
            if self._metrics is not None:
                observe = self._metrics.observe
                handler = Handler(observe, ("*",), Plan((Inject.EVENT,), None), False, "metrics", self._root)
                routes = (_Route(handler, observe, False, True), *routes)
            if len(self._unknown) < _UNKNOWN_CACHE_SIZE:
                self._unknown[event_type] = routes
        return routes

    # --- the receive loop ---------------------------------------------------------------------

    async def receive_loop(self, transport: Transport, first: Sequence[bytes] = ()) -> TransportClosed:
        """Decode and dispatch frames until the transport closes, or ``close()`` is called;
        return how it closed. ``first``: frames read before the loop (a session handshake's),
        dispatched ahead of the transport's."""
        self._waiters.enter_loop()
        receive = transport.receive
        # Optional on a transport: a buffered frame without a coroutine (None when nothing is buffered).
        poll: Callable[[], bytes | None] | None = getattr(transport, "receive_nowait", None)
        process = self.process
        plain = not self._has_middleware
        if trace_logger.isEnabledFor(logging.DEBUG):  # decided per connection: no per-event check
            process = compose([trace_inbound, *self._middleware], self.dispatch)
            plain = False
        consumer = self._consumer(process, plain)
        consumer.send(None)
        count = 0
        frame: Any
        # The watchdog thread reports an inline handler that holds this loop, while it does.
        unwatch = watch(self) if self.slow_threshold > 0 else None
        inline, context = self._install_eager(transport, consumer)
        # Handlers run in `context` when the eager steps need one of their own (see _install_eager).
        feed: Callable[[Any], Any] = consumer.send
        if context is not None:
            run_in: Callable[..., Any] = context.run
            feed = partial(run_in, consumer.send)
        try:
            for frame in first:
                if self._closed:
                    break
                waiting = feed(frame)
                if waiting is not _READY:
                    await _Suspended(consumer, waiting, context)
            while True:
                frame = poll() if poll is not None else None
                if frame is None:
                    try:
                        frame = await receive()
                    except TransportClosed as closed:
                        return closed
                if frame.__class__ is _Suspended:  # an eager step that has to finish in this task
                    await frame
                    continue
                if self._closed:  # close() while this frame waited: it is not for anyone any more
                    break
                # No coroutine per event: the consumer is a generator, fed frame by frame; only a
                # handler that really suspends makes it yield anything but _READY.
                waiting = feed(frame)
                if waiting is not _READY:
                    await _Suspended(consumer, waiting, context)
                count += 1
                if count % _FAIRNESS_EVERY == 0:
                    await anyio.lowlevel.checkpoint()
            return TransportClosed(1000, "closed by the client")
        finally:
            if inline is not None:
                inline(None)
            consumer.close()
            self.busy = None
            if unwatch is not None:
                unwatch()

    def _consumer(self, process: Callable[[ServerEvent], Awaitable[None]], plain: bool) -> Generator[Any, Any, None]:
        """Decode and dispatch each frame sent in, then yield ``_READY`` for the next one.

        A generator-based coroutine rather than a coroutine per event: ``yield from`` awaits an
        async handler, and whatever a suspending handler waits for passes out through
        ``send()`` to whoever drives it, the receive loop or an eager step (``_Suspended``).
        A frame may be a buffer that is only valid until the first suspension: it is decoded first.
        """
        return self._plain_consumer() if plain else self._chain_consumer(process)

    @types.coroutine
    def _plain_consumer(self) -> Generator[Any, Any, None]:
        # dispatch(), inlined: a coroutine per event would cost as much as all the routing.
        fast_decode = self._fast_decode
        decode = self._decode
        table = self._table
        waiting = self._waiters.pending
        wake = self._waiters.wake
        ready = _READY
        frame = yield ready
        while True:
            if self._closed:  # close() was called: what is still buffered goes to no one
                frame = yield ready
                continue
            try:
                event = fast_decode(frame)
            except Exception:  # rare: let the full decoder tell an unknown type from a bad frame
                try:
                    event = decode(bytes(frame))
                except DecodeError as exc:
                    yield from self.report(exc, None, None)
                    frame = yield ready
                    continue
            if waiting:
                wake(event)
            routes = table.get(event.type)
            if routes is None:
                routes = self._routes_for_unknown(event.type)
            for route in routes:
                if route.simple:
                    self.busy_event = event
                    self.busy = route
                    try:
                        if route.is_async:
                            yield from route.call(event)
                        else:
                            result = route.call(event)
                            if result is not None and hasattr(result, "__await__"):
                                yield from result.__await__()
                    except Exception as exc:
                        yield from self.report(exc, event, route.handler)
                    except BaseException as exc:
                        if not stray_cancellation(exc):
                            raise
                        yield from self.report(HandlerCancelled(route.handler.name, exc), event, route.handler)
                    self.busy = None
                else:
                    yield from self._dispatch_special(route, event)
            frame = yield ready

    @types.coroutine
    def _chain_consumer(self, process: Callable[[ServerEvent], Awaitable[None]]) -> Generator[Any, Any, None]:
        frame = yield _READY
        while True:
            if self._closed:  # close() was called: what is still buffered goes to no one
                frame = yield _READY
                continue
            try:
                event = self._fast_decode(frame)
            except Exception:
                try:
                    event = self._decode(bytes(frame))
                except DecodeError as exc:
                    yield from self.report(exc, None, None)
                    frame = yield _READY
                    continue
            try:
                yield from process(event).__await__()
            except Exception as exc:  # from middleware: handlers' own errors never get here
                yield from self.report(exc, event, None)
            except BaseException as exc:
                if not stray_cancellation(exc):
                    raise
                yield from self.report(HandlerCancelled("inbound middleware", exc), event, None)
            frame = yield _READY

    def _install_eager(
        self, transport: Transport, consumer: Generator[Any, Any, None]
    ) -> tuple[Callable[[Callable[[Any], object] | None], None] | None, contextvars.Context | None]:
        """Let a transport that offers ``consume_inline`` feed the consumer right in its
        protocol callback while the receive loop waits for input, so that the event is handled
        without the event-loop pass that waking the loop's task costs (asyncio only).

        The transport runs the step as the receive loop's task (as asyncio's eager tasks run
        a task's first step), so handlers see what they see when the task runs them. A handler
        that really suspends leaves a ``_Suspended`` in the transport's queue, which the task
        finishes before the next frame: the order of events never changes.

        Context variables: from 3.12 the step runs in the task's own context. 3.11 gives no
        way to reach a task's context, so there the consumer gets one of its own (a copy of the
        task's, taken now) and runs in it wherever it runs, loop or callback: returned, for the
        receive loop to feed the consumer in it too. A handler then keeps its context across
        its awaits, and handlers see each other's values, as they would in the task's.
        """
        inline: Callable[[Callable[[Any], object] | None], None] | None = getattr(transport, "consume_inline", None)
        if inline is None:
            return None, None
        try:
            task = asyncio.current_task()
        except RuntimeError:  # not asyncio (trio): no protocol callbacks to run in
            return None, None
        if task is None:
            return None, None
        feed = consumer.send
        own: contextvars.Context | None  # the consumer's own context, if the task's is out of reach
        if sys.version_info >= (3, 12):
            context, own = task.get_context(), None
        else:
            context = own = contextvars.copy_context()
        ready = _READY

        def step(frame: Any) -> object:
            try:
                waiting = context.run(feed, frame)
            except BaseException as exc:  # the consumer is gone: the loop's task re-raises it
                assert inline is not None
                inline(None)
                return _Suspended(None, None, None, exc)
            return None if waiting is ready else _Suspended(consumer, waiting, own)

        inline(step)
        return inline, own

    async def dispatch(self, event: ServerEvent) -> None:
        """Run every handler that matches ``event``, in order (the end of the middleware chain)."""
        if self._waiters.pending:
            self._waiters.wake(event)
        routes = self._table.get(event.type)
        if routes is None:
            routes = self._routes_for_unknown(event.type)
        for route in routes:
            if route.simple:
                self.busy_event = event
                self.busy = route
                try:
                    if route.is_async:
                        await route.call(event)
                    else:
                        result = route.call(event)
                        if result is not None and hasattr(result, "__await__"):
                            await result
                except Exception as exc:
                    await self.report(exc, event, route.handler)
                except BaseException as exc:
                    if not stray_cancellation(exc):
                        raise
                    await self.report(HandlerCancelled(route.handler.name, exc), event, route.handler)
                self.busy = None
            else:
                await self._dispatch_special(route, event)

    # --- slow handlers --------------------------------------------------------------------------

    def report_slow(self, route: _Route, event: ServerEvent | None, held: float) -> None:
        _log_slow(route.handler, event, held, self.slow_threshold)

    async def _dispatch_special(self, route: _Route, event: ServerEvent) -> None:
        handler = route.handler
        if handler.once and handler in self._spent:
            return
        if handler.when is not None:
            try:
                if not handler.when(event):
                    return
            except Exception as exc:
                await self.report(exc, event, handler)
                return
        if handler.once:
            self._spent.add(handler)
        if handler.background:
            await self._spawn(route, event)
            return
        self.busy_event = event
        self.busy = route
        try:
            await _call(route, event)
        except Exception as exc:
            await self.report(exc, event, handler)
        except BaseException as exc:
            if not stray_cancellation(exc):
                raise
            await self.report(HandlerCancelled(handler.name, exc), event, handler)
        self.busy = None

    # --- background handlers ---------------------------------------------------------------------

    async def _spawn(self, route: _Route, event: ServerEvent) -> None:
        try:
            self._background_slots.acquire_nowait()
        except anyio.WouldBlock:
            self.background_waits += 1
            now = time.monotonic()
            if now >= self._next_overflow_log:  # once per episode, not once per event of a flood
                self._next_overflow_log = now + _OVERFLOW_LOG_EVERY
                logger.warning(
                    "%d background handlers running: receive loop waits for a free slot before %s (%s); "
                    "%d waits so far",
                    self._max_background,
                    route.handler.name,
                    event.type,
                    self.background_waits,
                )
            await self._background_slots.acquire()
        self._in_flight += 1
        self._idle = anyio.Event() if self._idle.is_set() else self._idle
        self._task_group.start_soon(self._run_background, route, event, name=route.handler.name)

    def start_task(self, fn: Callable[..., Awaitable[object]], *args: Any, name: str) -> None:
        """Run library work (a tool, a follow-up request) in the app's task group: counted for
        ``wait_idle`` at shutdown, its exceptions reported rather than ending the session."""
        self._in_flight += 1
        self._idle = anyio.Event() if self._idle.is_set() else self._idle
        self._task_group.start_soon(self._run_task, fn, args, name, name=name)

    async def _run_task(self, fn: Callable[..., Awaitable[object]], args: tuple[Any, ...], name: str) -> None:
        try:
            await fn(*args)
        except Exception as exc:
            if self._closed and isinstance(exc, (NotConnected, TransportClosed)):
                logger.info("%s abandoned: the connection was closed (%r)", name, exc)
            else:
                await self.report(exc, None, None)
        except BaseException as exc:
            if not stray_cancellation(exc):
                raise
            await self.report(HandlerCancelled(name, exc), None, None)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _run_background(self, route: _Route, event: ServerEvent) -> None:
        handler = route.handler
        try:
            if route.limiter is not None:
                async with route.limiter:
                    await self._run_timed(route, event)
            else:
                await self._run_timed(route, event)
        except Exception as exc:
            await self.report(exc, event, handler)
        except BaseException as exc:
            if not stray_cancellation(exc):
                raise
            await self.report(HandlerCancelled(handler.name, exc), event, handler)
        finally:
            self._background_slots.release()
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _run_timed(self, route: _Route, event: ServerEvent) -> None:
        timeout = route.handler.timeout
        if timeout is None:
            await _call(route, event, thread=True)
            return
        with anyio.move_on_after(timeout) as scope:
            await _call(route, event, thread=True)
        if scope.cancelled_caught:  # our deadline; a TimeoutError of the handler's own passes as is
            raise HandlerTimeout(route.handler.name, timeout)

    async def wait_idle(self, grace: float) -> bool:
        """Wait up to ``grace`` seconds for background handlers to finish; True if they did."""
        with anyio.move_on_after(grace):
            await self._idle.wait()
        return self._in_flight == 0

    # --- errors ---------------------------------------------------------------------------------

    async def report(self, exc: Exception, event: ServerEvent | None, handler: Handler | None) -> None:
        """Send ``exc`` to the nearest matching error handler, or log it."""
        if handler is None:
            await self.report_from(exc, event, None, None)
        else:
            await self.report_from(exc, event, handler.router, handler.name)

    async def report_from(
        self, exc: Exception, event: ServerEvent | None, router: Router | None, source: str | None
    ) -> None:
        """``report`` for what ``source`` (a handler's or tool's name; None: the receive loop)
        raised, declared on ``router`` (None: the root, and a bad frame may go to any router's)."""
        if self._metrics is not None:
            if isinstance(exc, DecodeError):
                self._metrics.decode_errors += 1
            else:
                self._metrics.handler_errors += 1
        root = self._root
        error_handler = self._find_error_handler(exc, self._chains.get(router or root, (root,)))
        if error_handler is None and source is None:
            # A bad frame or a middleware failure belongs to no router: any router's handler for it will do.
            for node in root.walk():
                error_handler = self._find_error_handler(exc, (node,))
                if error_handler is not None:
                    break
        if error_handler is None:
            _log_unhandled_exception(exc, event, source)
            return
        call = _inject_error(error_handler, exc, event, self._connection, self._app)
        try:
            result = call()
            if error_handler.is_async or hasattr(result, "__await__"):
                await result
        except Exception:
            logger.exception(
                "error handler %s failed while handling %r from %s",
                error_handler.name,
                exc,
                source or "the receive loop",
            )
        except BaseException as failure:
            if not stray_cancellation(failure):
                raise
            # Not reported again (that could loop): logged, and the app goes on.
            logger.error(
                "error handler %s was cancelled, but not by the app, while handling %r from %s",
                error_handler.name,
                exc,
                source or "the receive loop",
                exc_info=failure,
            )

    def _find_error_handler(self, exc: Exception, chain: tuple[Router, ...]) -> ErrorHandler | None:
        """The nearest router of ``chain`` (a router, then the ones above it in this app) with a
        handler for ``exc``; within it, the most specific class wins."""
        classes = type(exc).__mro__
        if isinstance(exc, DecodeError):
            # A bad frame is not a handler bug: only handlers that ask for DecodeError get it.
            classes = classes[: classes.index(DecodeError) + 1]
        for node in chain:
            if node.error_handlers:
                for cls in classes:
                    for candidate in node.error_handlers:
                        if cls in candidate.exc_types:
                            return candidate
        return None


_READY = object()  # what the consumer yields between frames (never a handler's wait)


class _Suspended:
    """The consumer, stopped inside a handler that waits for ``yielded`` (or failed with
    ``error``): awaited by the receive loop's task, it goes on exactly where it stopped and
    returns once it is ready for the next frame."""

    __slots__ = ("consumer", "context", "error", "yielded")

    def __init__(
        self,
        consumer: Generator[Any, Any, None] | None,
        yielded: Any,
        context: contextvars.Context | None,
        error: BaseException | None = None,
    ) -> None:
        self.consumer = consumer
        self.yielded = yielded
        self.context = context  # where the consumer runs, if not in the task's own context
        self.error = error

    def __await__(self) -> Generator[Any, Any, None]:
        if self.error is not None:
            raise self.error
        consumer, waiting, context = self.consumer, self.yielded, self.context
        assert consumer is not None
        send: Callable[[Any], Any] = consumer.send
        throw: Callable[[BaseException], Any] = consumer.throw
        if context is not None:
            run: Callable[..., Any] = context.run
            send, throw = partial(run, consumer.send), partial(run, consumer.throw)
        # What `yield from` would do, for a generator that has already started: pass the wait
        # up to the task, and what the task sends (trio sends values) or throws back down.
        while waiting is not _READY:
            try:
                sent = yield waiting
            except GeneratorExit:
                consumer.close()
                raise
            except BaseException as exc:  # thrown in by the task (cancellation)
                waiting = throw(exc)
            else:
                waiting = send(sent)


class HandlerTimeout(TimeoutError):
    """A background handler ran past its ``timeout`` and was cancelled."""

    def __init__(self, handler: str, timeout: float) -> None:
        super().__init__(f"handler {handler} timed out after {timeout:g} s")
        self.handler = handler
        self.timeout = timeout


async def _call(route: _Route, event: ServerEvent, *, thread: bool = False) -> None:
    if route.is_async:
        await route.call(event)
    elif thread:
        result = await default_threads.run(route.call, event)  # bounded until the thread returns
        if result is not None and hasattr(result, "__await__"):
            await result
    else:
        result = route.call(event)
        if result is not None and hasattr(result, "__await__"):
            await result


def _inject(
    fn: Callable[..., Any], params: tuple[Inject, ...], connection: Any, app: Any
) -> Callable[[ServerEvent], Any]:
    """A one-argument callable that passes the event and the injected objects to ``fn``."""
    if params == (Inject.EVENT,):
        return fn
    fixed = {Inject.CONNECTION: connection, Inject.APP: app}
    if Inject.EVENT not in params:
        args = tuple(fixed[p] for p in params)
        return lambda event: fn(*args)
    at = params.index(Inject.EVENT)
    before = tuple(fixed[p] for p in params[:at])
    after = tuple(fixed[p] for p in params[at + 1 :])
    return lambda event: fn(*before, event, *after)


def _inject_error(
    handler: ErrorHandler, exc: Exception, event: ServerEvent | None, connection: Any, app: Any
) -> Callable[[], Any]:
    values = {Inject.EXCEPTION: exc, Inject.EVENT: event, Inject.CONNECTION: connection, Inject.APP: app}
    args = tuple(values[p] for p in handler.plan.params)
    return lambda: handler.fn(*args)


def _log_slow(handler: Handler, event: ServerEvent | None, elapsed: float, threshold: float) -> None:
    logger.warning(
        "slow handler %s has held the receive loop for %.0f ms on %s (threshold %.0f ms); "
        "use background=True for slow work",
        handler.name,
        elapsed * 1000,
        event.type if event is not None else "an event",
        threshold * 1000,
    )


def _log_unhandled_exception(exc: Exception, event: ServerEvent | None, source: str | None) -> None:
    if isinstance(exc, DecodeError):
        logger.warning("dropped a frame that does not decode: %s (frame: %s)", exc, shown_frame(exc.raw))
    elif source is None:
        logger.error("exception in the receive loop on %s", event.type if event else "a frame", exc_info=exc)
    else:
        logger.error("handler %s raised on %s", source, event.type if event else "an event", exc_info=exc)


_BENIGN_ERRORS = frozenset({"conversation_already_has_active_response", "response_cancel_not_active"})


def _log_unhandled_error(event: ServerEvent) -> None:
    detail = getattr(event, "error", None)
    # Races every client hits (cancel after done, create while active): worth a note, not an alarm.
    level = logging.INFO if getattr(detail, "code", None) in _BENIGN_ERRORS else logging.ERROR
    logger.log(
        level,
        "server error with no handler registered for 'error': %s (type=%s code=%s param=%s event_id=%s)",
        redact_text(str(getattr(detail, "message", detail))),
        getattr(detail, "type", None),
        getattr(detail, "code", None),
        getattr(detail, "param", None),
        getattr(detail, "event_id", None),
    )
