"""Handler signatures, analysed once at registration into an injection plan."""

from __future__ import annotations

import asyncio
import enum
import functools
import inspect
import math
import types
import typing
from collections.abc import Callable
from typing import Any, Union

import anyio

from .events import ServerEvent

__all__ = (
    "INJECTED_AS",
    "HandlerCancelled",
    "Inject",
    "Plan",
    "analyse",
    "event_types_of",
    "injected_as",
    "is_async_callable",
    "qualified_name",
    "stray_cancellation",
)


class Inject(enum.Enum):
    """What a handler parameter receives."""

    EVENT = "event"
    CONNECTION = "connection"
    APP = "app"
    EXCEPTION = "exception"


INJECTED_AS = "__realtime_injected_as__"
"""A class attribute naming what a parameter annotated with that class receives: ``Connection``
and ``RealtimeApp`` set it, so this module need not import them (they import it)."""


def injected_as(annotation: Any) -> Inject | None:
    """What a parameter annotated ``annotation`` receives, if it is an injectable class."""
    if isinstance(annotation, type):
        kind = getattr(annotation, INJECTED_AS, None)
        if isinstance(kind, Inject):
            return kind
    return None


class Plan(typing.NamedTuple):
    params: tuple[Inject, ...]
    event_annotation: tuple[type[ServerEvent], ...] | None  # None: unannotated or ServerEvent-wide


_NAMES = {
    "event": Inject.EVENT,
    "connection": Inject.CONNECTION,
    "conn": Inject.CONNECTION,
    "app": Inject.APP,
    "exc": Inject.EXCEPTION,
    "exception": Inject.EXCEPTION,
    "error": Inject.EXCEPTION,
}


def qualified_name(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    module = getattr(fn, "__module__", None)
    return f"{module}.{name}" if module else str(name)


def is_async_callable(fn: Callable[..., Any]) -> bool:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004


def event_types_of(annotation: Any) -> tuple[type[ServerEvent], ...] | None:
    """The event classes an annotation names, or None if it is not an event annotation."""
    if isinstance(annotation, type) and issubclass(annotation, ServerEvent):
        return (annotation,)
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        members = typing.get_args(annotation)
        found = [event_types_of(m) for m in members]
        if found and all(f is not None for f in found):
            return tuple(cls for f in found if f for cls in f)
    if origin is typing.Annotated:
        return event_types_of(typing.get_args(annotation)[0])
    return None


def analyse(
    fn: Callable[..., Any],
    *,
    skip_self: bool,
    allow_exception: bool = False,
    localns: dict[str, Any] | None = None,
) -> Plan:
    """Work out, once, what to pass to each parameter of ``fn``.

    Parameters are matched by annotation first (an event class or union of them, the
    ``Connection``, a ``RealtimeApp``, an exception class), then by name (``event``,
    ``connection``/``conn``, ``app``, ``exc``/``error``). Anything else is an error now,
    not a surprise at dispatch.
    """
    unresolved: dict[str, str] = {}
    hints = _resolve_hints(fn, localns, unresolved)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cannot read the signature of handler {qualified_name(fn)}: {exc}") from None

    params: list[Inject] = []
    event_annotation: tuple[type[ServerEvent], ...] | None = None
    parameters = list(signature.parameters.values())
    if skip_self and parameters:
        parameters = parameters[1:]
    for parameter in parameters:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.kind is parameter.KEYWORD_ONLY and parameter.default is not parameter.empty:
            continue
        if parameter.name in unresolved and parameter.default is parameter.empty:
            # Falling back to the parameter's name would hide a misspelt annotation (and skip
            # the check of the event annotation against the key): say so now.
            raise TypeError(
                f"handler {qualified_name(fn)}: the annotation of parameter {parameter.name!r}, "
                f"{parameter.annotation!r}, cannot be resolved ({unresolved[parameter.name]}); "
                "fix the name, or import it at run time (not only under TYPE_CHECKING)"
            )
        annotation = hints.get(parameter.name, parameter.annotation)
        kind = _classify(annotation, allow_exception)
        if kind is None:
            kind = _NAMES.get(parameter.name)
        if kind is Inject.EXCEPTION and not allow_exception:
            kind = None
        if kind is None:
            if parameter.default is not parameter.empty:
                continue
            raise TypeError(
                f"handler {qualified_name(fn)}: cannot tell what to pass to parameter {parameter.name!r}; "
                "annotate it with an event class, Connection or your RealtimeApp, "
                "or name it event / connection / app"
            )
        if parameter.kind is parameter.KEYWORD_ONLY:
            raise TypeError(f"handler {qualified_name(fn)}: parameter {parameter.name!r} must be positional")
        if kind is Inject.EVENT:
            classes = event_types_of(annotation)
            if classes is not None and classes != (ServerEvent,):
                event_annotation = classes
        params.append(kind)
    if params.count(Inject.EVENT) > 1:
        raise TypeError(f"handler {qualified_name(fn)} takes the event twice")
    return Plan(tuple(params), event_annotation)


def _resolve_hints(
    fn: Callable[..., Any], localns: dict[str, Any] | None, unresolved: dict[str, str] | None = None
) -> dict[str, Any]:
    """Annotations resolved one by one: one that cannot be resolved (a misspelt name, a
    TYPE_CHECKING-only import) is left out, and recorded in ``unresolved`` (parameter name to
    the error) for the caller to report; the others still resolve."""
    try:
        return typing.get_type_hints(fn, localns=localns, include_extras=True)
    except Exception:
        pass
    target = inspect.unwrap(fn)
    target = getattr(target, "__func__", target)
    globalns = getattr(target, "__globals__", {})
    hints = {}
    for name, annotation in getattr(target, "__annotations__", {}).items():
        if not isinstance(annotation, str):
            hints[name] = annotation
            continue
        try:
            hints[name] = eval(annotation, globalns, localns)  # what get_type_hints does
        except Exception as exc:
            if unresolved is not None:
                unresolved[name] = f"{type(exc).__name__}: {exc}"
    return hints


def _classify(annotation: Any, allow_exception: bool) -> Inject | None:
    if annotation is inspect.Parameter.empty or annotation is Any:
        return None
    if event_types_of(annotation) is not None:
        return Inject.EVENT
    injected = injected_as(annotation)
    if injected is not None:
        return injected
    if isinstance(annotation, type) and allow_exception and issubclass(annotation, BaseException):
        return Inject.EXCEPTION
    return None


def stray_cancellation(exc: BaseException) -> bool:
    """A cancellation that does not come from cancelling the running task (a handler awaited a
    future it had cancelled itself, say): the handler's failure, not a reason to stop the app."""
    if isinstance(exc, asyncio.CancelledError):
        try:
            task = asyncio.current_task()
        except RuntimeError:  # not asyncio (trio): there an asyncio cancellation is a plain error
            return True
        return task is None or task.cancelling() == 0
    if isinstance(exc, anyio.get_cancelled_exc_class()):  # trio: only a cancelled scope raises it
        return anyio.current_effective_deadline() != -math.inf
    return False


class HandlerCancelled(RuntimeError):
    """A handler, background handler or tool ended with a cancellation that was not the app's
    (it awaited something that was cancelled): reported to the error handlers, and the app goes
    on. ``__cause__`` is the cancellation."""

    def __init__(self, handler: str, cancellation: BaseException) -> None:
        super().__init__(f"{handler} was cancelled, but not by the app: {cancellation!r}")
        self.handler = handler
        self.__cause__ = cancellation
