"""Routers: where handlers, error handlers and sub-routers are registered.

Registration checks everything it can (names, annotations, parameters) so that
dispatch has nothing left to check.
"""

from __future__ import annotations

import difflib
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ._handlers import Plan, analyse, is_async_callable, qualified_name
from ._protocol import APIS, Api, all_server_events, is_server_event, is_server_event_class, protocol, routing_hint
from ._tools import ToolSpec, tool_spec
from .events import ServerEvent, UnknownEvent

if TYPE_CHECKING:
    from ._keys import OnFunction

__all__ = (
    "BETA_TO_GA",
    "GA_ONLY",
    "Api",
    "ErrorHandler",
    "Handler",
    "Router",
    "check_annotation",
    "delivered_classes",
    "normalise_key",
)

_F = TypeVar("_F", bound=Callable[..., Any])

BETA_TO_GA = {
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "transcription_session.updated": "session.updated",
}
GA_ONLY = frozenset(
    {
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.input_audio_transcription.segment",
        "input_audio_buffer.timeout_triggered",
        "input_audio_buffer.dtmf_event_received",
        "mcp_list_tools.in_progress",
        "mcp_list_tools.completed",
        "mcp_list_tools.failed",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.mcp_call.failed",
        *(ga for beta, ga in BETA_TO_GA.items() if beta != "transcription_session.updated"),
    }
)
_GA_TO_BETA = {ga: beta for beta, ga in BETA_TO_GA.items() if beta != "transcription_session.updated"}

UNKNOWN_KEY = "<unknown>"  # the key of handlers registered on the UnknownEvent class


@dataclass(eq=False, slots=True)
class Handler:
    """One registered handler. Built at registration; read on every matching event."""

    fn: Callable[..., Any]
    keys: tuple[str, ...]
    plan: Plan
    is_async: bool
    name: str
    router: Router
    when: Callable[[Any], object] | None = None
    once: bool = False
    background: bool = False
    concurrency: int | None = None
    timeout: float | None = None


@dataclass(eq=False, slots=True)
class ErrorHandler:
    fn: Callable[..., Any]
    exc_types: tuple[type[BaseException], ...]
    plan: Plan
    is_async: bool
    name: str


@dataclass(slots=True)
class _Spec:
    """What ``on(...)`` records on a method until its app class collects it."""

    keys: tuple[str | type[ServerEvent], ...]
    options: dict[str, Any] = field(default_factory=dict)


def normalise_key(key: str | type[ServerEvent]) -> str:
    """Check one routing key and return its canonical string form. Any protocol's event names
    are accepted here; whether one can fire on an app's protocol is ``api_hint``'s to say."""
    if isinstance(key, type):
        if key is UnknownEvent:
            return UNKNOWN_KEY
        if issubclass(key, ServerEvent) and is_server_event_class(key):
            return str(key.__struct_config__.tag)
        raise TypeError(f"{key!r} is not a server event class")
    if not isinstance(key, str):
        raise TypeError(f"a routing key is an event name, an event class or a wildcard, not {key!r}")
    if key == "*" or (not key.endswith(".*") and is_server_event(key)):
        return key
    if key.endswith(".*") and "*" not in key[:-2]:
        prefix = key[:-1]
        realtime = protocol("ga").server_events
        if not any(name.startswith(prefix) for name in realtime) and not any(
            name.startswith(prefix) for name in all_server_events()
        ):
            raise ValueError(f"wildcard {key!r} matches no known event type")
        return key
    if "*" in key:
        raise ValueError(f"{key!r}: a wildcard is '*' or a prefix ending in '.*', such as 'response.*'")
    close = difflib.get_close_matches(key, list(all_server_events()), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown event type {key!r}{hint}")


def matches(key: str, event_type: str) -> bool:
    if key == "*" or key == event_type:
        return True
    return key.endswith(".*") and event_type.startswith(key[:-1])


def delivered_classes(key: str, api: str = "ga") -> Iterator[type[ServerEvent]]:
    """Every class an event routed by ``key`` can be on an ``api`` session."""
    if key == UNKNOWN_KEY:
        yield UnknownEvent
        return
    names = protocol(api).server_events
    if key in names:
        yield names[key]
        return
    yield from (cls for name, cls in names.items() if matches(key, name))
    yield UnknownEvent


def api_hint(key: str, api: Api) -> str | None:
    """Why ``key`` can never fire on an ``api`` session, or None."""
    if api == "ga" and key in BETA_TO_GA:
        return f"{key!r} is a beta event name; the GA API sends {BETA_TO_GA[key]!r}"
    if api == "beta" and key in GA_ONLY:
        beta = _GA_TO_BETA.get(key)
        return f"{key!r} is GA-only" + (f"; the beta API sends {beta!r}" if beta else "")
    return routing_hint(key, api)


def _annotation_misfit(key: str, accepted: tuple[type[Any], ...], api: str | None) -> type[ServerEvent] | None:
    """A class ``key`` delivers that the annotation does not accept: on ``api``, or, for a router
    no app has claimed yet, on every protocol that sends ``key`` (None when one of them fits)."""
    misfit: type[ServerEvent] | None = None
    for candidate in [api] if api is not None else ["ga", "live", "translation"]:
        if api is None and routing_hint(key, candidate) is not None:
            continue  # that protocol never sends it (looked at only when the Realtime API's did not fit)
        wrong = next((cls for cls in delivered_classes(key, candidate) if not issubclass(cls, accepted)), None)
        if wrong is None:
            return None
        misfit = misfit or wrong
    return misfit


class Router:
    """A group of handlers. Include routers in one another, and the root in an app.

    All handlers whose key matches an event run, in this order: a router's own handlers
    in registration order, then its sub-routers' in inclusion order, depth first.

    A router is a blueprint: it may be included in any number of routers and apps (each
    app binds it when it starts), but at most once in one app's tree, and never below
    itself.
    """

    if TYPE_CHECKING:
        on: OnFunction

    def __init__(self, name: str | None = None, *, api: Api | None = None) -> None:
        if api is not None and api not in APIS:
            raise ValueError(f"unknown api {api!r}: one of {', '.join(map(repr, APIS))}")
        self.name = name or f"router-{id(self):x}"
        self.handlers: list[Handler] = []
        self.error_handlers: list[ErrorHandler] = []
        self.routers: list[Router] = []
        self.tools: list[ToolSpec] = []
        # Every router this one is included in, in inclusion order; weakly, so that a module-level
        # router does not keep alive every app that ever included it.
        self._parents: weakref.WeakKeyDictionary[Router, None] = weakref.WeakKeyDictionary()
        self._frozen = False
        self._api = api  # names of the other API fail at registration, here and in every sub-router

    @property
    def parents(self) -> list[Router]:
        """Every router this one is included in (and that is still alive), in inclusion order."""
        return list(self._parents)

    @property
    def parent(self) -> Router | None:
        """The first router this one was included in (None: none). A shared router has several:
        see ``parents``."""
        return next(iter(self._parents), None)

    def __repr__(self) -> str:
        return f"<Router {self.name!r}: {len(self.handlers)} handlers, {len(self.routers)} sub-routers>"

    # --- registration -------------------------------------------------------------------

    if not TYPE_CHECKING:

        def on(self, *keys: str | type[ServerEvent], **options: Any) -> Callable[[_F], _F]:
            """Decorate a function to handle events.

            Keys: an event name (``"response.output_text.delta"``), an event class, a
            prefix wildcard (``"response.*"``) or ``"*"``; several at once; none to take
            them from the handler's event annotation. Options: ``when=`` (a predicate
            on the event), ``once=True``, ``background=True`` (with ``concurrency=`` and
            ``timeout=``). Returns the function unchanged.
            """

            def decorator(fn: _F) -> _F:
                self.add_handler(fn, *keys, **options)
                return fn

            return decorator

    def add_handler(
        self,
        fn: Callable[..., Any],
        *keys: str | type[ServerEvent],
        when: Callable[[Any], object] | None = None,
        once: bool = False,
        background: bool = False,
        concurrency: int | None = None,
        timeout: float | None = None,
        plan: Plan | None = None,
    ) -> Handler:
        """Register ``fn``; the non-decorator form of ``on``. ``plan``: what to pass to its
        parameters, when the caller has worked it out already."""
        plan = plan or analyse(fn, skip_self=False)
        return self._add(
            fn,
            keys,
            plan,
            when=when,
            once=once,
            background=background,
            concurrency=concurrency,
            timeout=timeout,
        )

    def _add(
        self, fn: Callable[..., Any], keys: tuple[str | type[ServerEvent], ...], plan: Plan, **options: Any
    ) -> Handler:
        self._check_open()
        name = qualified_name(fn)
        apis = self._apis()
        normalised = resolve_keys(keys, plan, name, next(iter(apis)) if len(apis) == 1 else None)
        for api in apis:
            for key in normalised:
                hint = api_hint(key, api)
                if hint:
                    raise ValueError(f"handler {name}: {hint}")
        check_options(name, options)
        handler = Handler(
            fn=fn, keys=normalised, plan=plan, is_async=is_async_callable(fn), name=name, router=self, **options
        )
        self.handlers.append(handler)
        return handler

    def on_error(self, *exc_types: type[BaseException]) -> Callable[[_F], _F]:
        """Decorate a function to handle exceptions of these classes (default: Exception)
        raised by this router's handlers and its sub-routers'. The nearest router wins;
        within one router, the most specific exception class (then the first registered).
        Errors that belong to no handler (frames that do not decode, middleware failures) go
        to the root's handlers first, then to any router's, in dispatch order.
        """

        def decorator(fn: _F) -> _F:
            self.add_error_handler(fn, *exc_types)
            return fn

        return decorator

    def add_error_handler(
        self, fn: Callable[..., Any], *exc_types: type[BaseException], plan: Plan | None = None
    ) -> ErrorHandler:
        return self._add_error(fn, exc_types, plan or analyse(fn, skip_self=False, allow_exception=True))

    def _add_error(
        self, fn: Callable[..., Any], exc_types: tuple[type[BaseException], ...], plan: Plan
    ) -> ErrorHandler:
        self._check_open()
        for exc_type in exc_types:
            if not (isinstance(exc_type, type) and issubclass(exc_type, BaseException)):
                raise TypeError(f"error handler {qualified_name(fn)}: {exc_type!r} is not an exception class")
        handler = ErrorHandler(fn, exc_types or (Exception,), plan, is_async_callable(fn), qualified_name(fn))
        self.error_handlers.append(handler)
        return handler

    @overload
    def tool(self, fn: _F, /) -> _F: ...
    @overload
    def tool(
        self, /, *, name: str | None = None, description: str | None = None, timeout: float | None = None
    ) -> Callable[[_F], _F]: ...
    def tool(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Declare a function as a tool the model may call: ``@router.tool`` or
        ``@router.tool(name=..., description=..., timeout=...)``. See ``realtime_dispatch.tool``
        for how the schema, the arguments and the injected parameters are worked out."""

        def decorator(fn: _F) -> _F:
            self.add_tool(fn, name=name, description=description, timeout=timeout)
            return fn

        return decorator(fn) if fn is not None else decorator

    def add_tool(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        _spec: ToolSpec | None = None,
    ) -> ToolSpec:
        """Register ``fn`` as a tool; the non-decorator form of ``tool``."""
        self._check_open()
        if timeout is not None and timeout <= 0:
            raise ValueError("tool timeout must be positive")
        spec = _spec or tool_spec(fn, name=name, description=description, timeout=timeout)
        spec.router = self
        for root in self._roots():
            taken = {t.name: t for t in root.walk_tools()}
            if spec.name in taken:
                first = qualified_name(taken[spec.name].fn)
                raise ValueError(f"two tools are named {spec.name!r}: {first} and {qualified_name(fn)}")
        self.tools.append(spec)
        return spec

    def include_router(self, router: Router) -> Router:
        """Add ``router`` below this one. A router may be included in several routers and apps
        (a blueprint), but at most once in one tree; cycles are refused."""
        self._check_open()
        if not isinstance(router, Router):
            raise TypeError(f"include_router() takes a Router, not {router!r}")
        if router in self._ancestors():
            raise RuntimeError(f"including {router!r} in {self!r} would make a cycle")
        below = list(router.walk())
        for root in self._roots():
            present = set(root.walk())
            for node in below:
                if node in present:
                    raise RuntimeError(f"{node!r} is already included in {root!r} (a router appears once in a tree)")
        for api in self._apis():
            for handler in router.walk_handlers():
                for key in handler.keys:
                    hint = api_hint(key, api)
                    if hint:
                        raise ValueError(f"handler {handler.name}: {hint}")
                check_annotation(handler.name, handler.keys, handler.plan, api)
        for root in self._roots():
            taken = {t.name for t in root.walk_tools()}
            for spec in router.walk_tools():
                if spec.name in taken:
                    raise ValueError(f"{router!r} declares a tool named {spec.name!r}, which is already declared")
        router._parents[self] = None
        self.routers.append(router)
        return router

    def include_routers(self, *routers: Router) -> None:
        for router in routers:
            self.include_router(router)

    # --- traversal ------------------------------------------------------------------------

    def walk(self) -> Iterator[Router]:
        """This router, then its sub-routers depth first: the dispatch order."""
        yield self
        for child in self.routers:
            yield from child.walk()

    def walk_handlers(self) -> Iterator[Handler]:
        for router in self.walk():
            yield from router.handlers

    def walk_tools(self) -> Iterator[ToolSpec]:
        for router in self.walk():
            yield from router.tools

    def lineage(self) -> dict[Router, tuple[Router, ...]]:
        """For this router and each one below it: the routers from it up to this one (itself
        first). What an app computes when it starts: where an error goes up to, in its tree."""
        chains: dict[Router, tuple[Router, ...]] = {}

        def visit(router: Router, above: tuple[Router, ...]) -> None:
            chain = (router, *above)
            chains[router] = chain
            for child in router.routers:
                visit(child, chain)

        visit(self, ())
        return chains

    def _ancestors(self) -> list[Router]:
        """This router and every router it is included in, directly or not (each once)."""
        found: dict[Router, None] = {}
        stack = [self]
        while stack:
            node = stack.pop()
            if node not in found:
                found[node] = None
                stack.extend(node._parents)
        return list(found)

    def _roots(self) -> list[Router]:
        """The tops of every tree this router is in (an app's root router, or a blueprint's)."""
        return [node for node in self._ancestors() if not node._parents]

    def _apis(self) -> set[Api]:
        return {node._api for node in self._ancestors() if node._api is not None}

    def freeze(self, frozen: bool = True) -> None:
        """While an app runs on this (root) router, adding handlers or routers to it, or to any
        router below it (shared ones included), fails."""
        self._frozen = frozen

    def _check_open(self) -> None:
        if any(node._frozen for node in self._ancestors()):
            raise RuntimeError("handlers and routers cannot be added while the app is running")


_OPTIONS = frozenset({"when", "once", "background", "concurrency", "timeout"})


def check_options(name: str, options: dict[str, Any]) -> None:
    """Reject handler options that cannot work, at registration."""
    unknown = set(options) - _OPTIONS
    if unknown:
        raise TypeError(f"handler {name}: unknown option(s) {', '.join(sorted(unknown))}")
    concurrency = options.get("concurrency")
    timeout = options.get("timeout")
    if not options.get("background") and (concurrency is not None or timeout is not None):
        raise ValueError(f"handler {name}: concurrency= and timeout= apply to background=True handlers")
    if concurrency is not None and concurrency < 1:
        raise ValueError(f"handler {name}: concurrency must be at least 1")
    if timeout is not None and timeout <= 0:
        raise ValueError(f"handler {name}: timeout must be positive")
    when = options.get("when")
    if when is not None and not callable(when):
        raise TypeError(f"handler {name}: when= takes a predicate, not {when!r}")


def check_exception_types(name: str, exc_types: tuple[Any, ...]) -> None:
    for exc_type in exc_types:
        if not (isinstance(exc_type, type) and issubclass(exc_type, BaseException)):
            raise TypeError(f"error handler {name}: {exc_type!r} is not an exception class")


def resolve_keys(
    keys: Iterable[str | type[ServerEvent]], plan: Plan, name: str, api: str | None = None
) -> tuple[str, ...]:
    """Canonical keys for a handler, taken from its annotation when none are given,
    and checked against that annotation (on ``api`` when the app's protocol is known)."""
    keys = tuple(keys)
    if not keys:
        if plan.event_annotation is None:
            raise TypeError(f"handler {name}: give an event name, or annotate the event parameter to route by its type")
        keys = plan.event_annotation
    normalised = tuple(dict.fromkeys(normalise_key(key) for key in keys))
    check_annotation(name, normalised, plan, api)
    return normalised


def check_annotation(name: str, keys: tuple[str, ...], plan: Plan, api: str | None) -> None:
    """Raise when the handler's event annotation cannot take what its keys deliver."""
    if plan.event_annotation is None:
        return
    accepted = plan.event_annotation
    for key in keys:
        misfit = _annotation_misfit(key, accepted, api)
        if misfit is not None:
            wanted = " | ".join(c.__name__ for c in accepted)
            raise TypeError(
                f"handler {name} is annotated to take {wanted}, but {key!r} also delivers {misfit.__name__}"
            )


def matcher(key: str | type[ServerEvent], predicate: Callable[[Any], object] | None) -> Callable[[ServerEvent], object]:
    """A match function for a routing key (checked now) and an optional predicate."""
    key = normalise_key(key)

    def match(event: ServerEvent) -> object:
        if key == UNKNOWN_KEY:
            if not isinstance(event, UnknownEvent):
                return False
        elif not matches(key, event.type):
            return False
        return predicate is None or predicate(event)

    return match
