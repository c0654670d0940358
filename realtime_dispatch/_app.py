"""RealtimeApp: decorated methods, lifespan hooks, and the task group that runs a session."""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import anyio

from ._connection import Connection, OutboundMiddleware
from ._dispatch import Dispatcher, InboundMiddleware
from ._handlers import analyse, qualified_name
from ._router import Api, Router, _Spec, api_hint, resolve_keys
from .events import ServerEvent, Session, SessionUpdate
from .transports import Transport

if TYPE_CHECKING:
    from ._keys import OnFunction, OnMethod

__all__ = ("RealtimeApp", "TransportFactory", "on", "on_error")

logger = logging.getLogger("realtime_dispatch.app")

_F = TypeVar("_F", bound=Callable[..., Any])

TransportFactory = Callable[[], Awaitable[Transport]]

_ROUTES = "__realtime_routes__"
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


class RealtimeApp:
    """Subclass, decorate methods with ``@on(...)``, then ``run()``.

    Class attributes configure it: ``api`` (``"ga"`` or ``"beta"``), ``session`` (a
    ``Session`` sent as ``session.update`` on every connect), ``slow_handler_threshold``
    (seconds an inline handler may hold the receive loop before a warning),
    ``max_background_tasks`` (background handlers in flight before the loop waits) and
    ``shutdown_grace`` (seconds background handlers get to finish at shutdown).
    """

    api: ClassVar[Api] = "ga"
    session: Session | None = None
    slow_handler_threshold: float = 0.05
    max_background_tasks: int = 256
    shutdown_grace: float = 5.0

    _handler_names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Collect and check the decorated methods now, so mistakes fail at import time."""
        super().__init_subclass__(**kwargs)
        names: dict[str, None] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                if getattr(value, _ROUTES, None) is None and getattr(value, _ERRORS, None) is None:
                    names.pop(attr, None)  # overridden without a decorator: no longer a handler
                else:
                    names[attr] = None
        localns = {cls.__name__: cls}
        for attr in names:
            fn = getattr(cls, attr)
            specs = getattr(fn, _ROUTES, None)
            if specs is not None:
                plan = analyse(fn, skip_self=True, localns=localns)
                for spec in specs:
                    for key in resolve_keys(spec.keys, plan, qualified_name(fn)):
                        hint = api_hint(key, cls.api)
                        if hint:
                            raise ValueError(f"handler {qualified_name(fn)}: {hint}")
            if getattr(fn, _ERRORS, None) is not None:
                analyse(fn, skip_self=True, allow_exception=True, localns=localns)
        cls._handler_names = tuple(names)

    def __init__(self, *, name: str | None = None) -> None:
        self.router = Router(name or type(self).__name__)
        self.router._api = self.api
        self._inbound: list[InboundMiddleware] = []
        self._outbound: list[OutboundMiddleware] = []
        self._connection: Connection | None = None
        self._finished: anyio.Event | None = None
        self._running = False
        localns = {type(self).__name__: type(self)}
        for attr in self._handler_names:
            fn = getattr(type(self), attr)
            method = getattr(self, attr)
            for spec in getattr(fn, _ROUTES, ()):
                plan = analyse(method, skip_self=False, localns=localns)
                self.router._add(method, spec.keys, plan, **spec.options)
            errors = getattr(fn, _ERRORS, None)
            if errors is not None:
                plan = analyse(method, skip_self=False, allow_exception=True, localns=localns)
                self.router._add_error(method, errors, plan)

    # --- registration on the instance ------------------------------------------------------------

    @property
    def on(self) -> OnFunction:
        """``app.on(...)``: register a plain function on this app's root router."""
        return self.router.on

    def include_router(self, router: Router) -> Router:
        return self.router.include_router(router)

    def add_middleware(self, middleware: Callable[..., Awaitable[None]], *, outbound: bool = False) -> None:
        """Add an ``async (event, call_next)`` middleware.

        Inbound middleware sees every decoded server event before routing; outbound
        middleware sees every client event before it is encoded and sent. The first added
        is the outermost. Composed once when the app starts.
        """
        if self._running:
            raise RuntimeError("middleware cannot be added while the app is running")
        (self._outbound if outbound else self._inbound).append(middleware)

    # --- lifespan hooks: override in a subclass ------------------------------------------------

    async def on_startup(self) -> None:
        """Before the first connection."""

    async def on_connect(self, connection: Connection) -> None:
        """After each connection opens (again after a reconnect), once ``session`` is sent."""

    async def on_disconnect(self, connection: Connection) -> None:
        """After each connection closes."""

    async def on_shutdown(self) -> None:
        """After the last connection, also when the app fails."""

    # --- running ----------------------------------------------------------------------------------

    @property
    def connection(self) -> Connection:
        """The live connection while the app runs."""
        if self._connection is None:
            raise RuntimeError("the app is not running")
        return self._connection

    @asynccontextmanager
    async def connect(self, transport: Transport | TransportFactory) -> AsyncIterator[Connection]:
        """Run the app in the background for the ``async with`` block; yields the connection.

        For embedding in a program that has its own work to do. Leaving the block closes
        the connection and stops the app.
        """
        if self._running:
            raise RuntimeError("this app is already running")
        self._running = True
        self.router._frozen = True
        try:
            await self.on_startup()
            try:
                async with anyio.create_task_group() as task_group:
                    opened = await _open(transport)
                    connection = Connection(opened, middleware=self._outbound)
                    dispatcher = Dispatcher(
                        self.router,
                        self,
                        connection,
                        task_group,
                        middleware=self._inbound,
                        slow_handler_threshold=self.slow_handler_threshold,
                        max_background_tasks=self.max_background_tasks,
                    )
                    connection._dispatcher = dispatcher
                    self._connection = connection
                    finished = self._finished = anyio.Event()
                    task_group.start_soon(self._serve, dispatcher, connection, opened, finished)
                    try:
                        yield connection
                    finally:
                        with anyio.CancelScope(shield=True):
                            await connection.close()
                            await finished.wait()
                            if not await dispatcher.wait_idle(self.shutdown_grace):
                                logger.warning(
                                    "background handlers still running after %gs: cancelled", self.shutdown_grace
                                )
                        task_group.cancel_scope.cancel()
            finally:
                with anyio.CancelScope(shield=True):
                    await self.on_shutdown()
        finally:
            self._connection = None
            self._finished = None
            self._running = False
            self.router._frozen = False

    async def _serve(
        self, dispatcher: Dispatcher, connection: Connection, transport: Transport, finished: anyio.Event
    ) -> None:
        try:
            if self.session is not None:
                await connection.send(SessionUpdate(session=self.session))
            await self.on_connect(connection)
            closed = await dispatcher.receive_loop(transport)
            logger.info("connection closed (%d%s)", closed.code, f": {closed.reason}" if closed.reason else "")
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await self.on_disconnect(connection)
                finally:
                    await connection.close()
                    finished.set()

    async def run_async(self, transport: Transport | TransportFactory) -> None:
        """Run until the connection closes (or the surrounding scope is cancelled)."""
        async with self.connect(transport):
            assert self._finished is not None
            await self._finished.wait()

    def run(
        self, transport: Transport | TransportFactory, *, backend: str = "asyncio", handle_signals: bool = True
    ) -> None:
        """Blocking entry point: run the event loop (``"asyncio"`` or ``"trio"``) until the
        connection closes. SIGINT and SIGTERM close the connection cleanly."""

        async def main() -> None:
            async with anyio.create_task_group() as task_group:
                if handle_signals:
                    task_group.start_soon(_stop_on_signal, task_group.cancel_scope)
                await self.run_async(transport)
                task_group.cancel_scope.cancel()

        anyio.run(main, backend=backend)


async def _open(transport: Transport | TransportFactory) -> Transport:
    if isinstance(transport, Transport):
        return transport
    return await transport()


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    try:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for received in signals:
                logger.info("received %s: closing", signal.Signals(received).name)
                scope.cancel()
                return
    except NotImplementedError:  # no signal support on this platform/loop
        return
