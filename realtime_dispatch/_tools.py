"""Function tools: declared from typed Python functions, run off the receive loop.

A tool's JSON schema is generated from its signature by msgspec, and the model's
arguments are decoded into the same types, so the schema and the validation cannot
disagree. A call runs as a task when its ``response.output_item.done`` arrives (GA and
beta alike; beta's ``function_call_arguments.done`` carries no name), so audio and every
other event keep flowing while it works. Each result goes back as a
``function_call_output`` item as soon as it is ready; once the response is done and all
of its calls have answered, one ``response.create`` asks the model to go on.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import re
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, overload

import anyio
import msgspec

from ._handlers import (
    HandlerCancelled,
    Inject,
    _resolve_hints,
    injected_as,
    is_async_callable,
    qualified_name,
    stray_cancellation,
)
from ._lifecycle import Outcome, SessionListener
from ._threads import default_threads
from .events import (
    ClientEvent,
    ConversationItem,
    ResponseCreate,
    ResponseDone,
    ResponseOutputItemDone,
    ServerEvent,
    Tool,
    new_id,
)

if TYPE_CHECKING:
    from ._connection import Connection
    from ._dispatch import Dispatcher
    from ._outbox import Outbox
    from ._router import Router
    from ._sequencer import ResponseSequencer

__all__ = (
    "ToolCall",
    "ToolError",
    "ToolRunner",
    "ToolSpec",
    "ToolTimeout",
    "call_tool",
    "tool",
    "tool_options",
    "tool_spec",
)

logger = logging.getLogger("realtime_dispatch.tools")

_F = TypeVar("_F", bound=Callable[..., Any])
_MARK = "__realtime_tool__"

ToolInterruption = Literal["cancel", "finish"]


class ToolError(Exception):
    """Raise from a tool to give the model this message as the call's error output,
    without a traceback in the logs: for failures the model can act on ("no such city")."""


class ToolTimeout(TimeoutError):
    """A tool ran past its timeout and was cancelled; the model got an error output."""

    def __init__(self, name: str, timeout: float) -> None:
        super().__init__(f"tool {name} timed out after {timeout:g} s")
        self.name = name
        self.timeout = timeout


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The call being answered; a tool receives it by annotating a parameter ``ToolCall``."""

    name: str
    call_id: str
    arguments: str
    item_id: str | None
    response_id: str | None


@dataclass(frozen=True, slots=True)
class _Options:
    name: str | None
    description: str | None
    timeout: float | None


@dataclass(eq=False, slots=True)
class ToolSpec:
    """A declared tool: its definition for the session and how to call it."""

    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Any]
    arguments: type[msgspec.Struct]
    injected: dict[str, str]  # parameter name -> "call" | "connection" | "app"
    is_async: bool
    timeout: float | None
    router: Router | None = None  # where it was declared: its error handlers see the tool's exceptions

    def definition(self) -> Tool:
        return Tool(type="function", name=self.name, description=self.description, parameters=self.parameters)

    def bind(self, instance: object, attribute: str) -> ToolSpec:
        """This spec with ``fn`` bound to an app instance (for methods)."""
        return dataclasses.replace(self, fn=getattr(instance, attribute))


@overload
def tool(fn: _F, /) -> _F: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None, timeout: float | None = None
) -> Callable[[_F], _F]: ...
def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
) -> Any:
    """Mark a method of a RealtimeApp subclass as a tool the model may call.

    ``@tool`` or ``@tool(name=..., description=..., timeout=...)``. The name defaults to
    the function's, the description to its docstring's first paragraph; an ``Args:``
    section describes the parameters. Parameters annotated ``ToolCall``, ``Connection``
    or the app are injected; every other parameter is an argument the model supplies,
    and must be annotated. Returns the function unchanged.
    """
    if timeout is not None and timeout <= 0:
        raise ValueError("tool timeout must be positive")
    options = _Options(name, description, timeout)

    def decorator(fn: _F) -> _F:
        setattr(fn, _MARK, options)
        return fn

    return decorator(fn) if fn is not None else decorator


def tool_options(fn: Callable[..., Any]) -> _Options | None:
    return getattr(fn, _MARK, None)


def tool_spec(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    skip_self: bool = False,
    localns: dict[str, Any] | None = None,
) -> ToolSpec:
    """Analyse ``fn`` once: the JSON schema of its arguments and what to inject."""
    label = qualified_name(fn)
    tool_name = name or fn.__name__
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", tool_name):
        raise ValueError(f"tool {label}: name {tool_name!r} must be 1-64 letters, digits, '_' or '-'")
    summary, param_docs = _parse_docstring(inspect.getdoc(fn) or "")
    hints = _resolve_hints(fn, localns)
    parameters = list(inspect.signature(fn).parameters.values())
    if skip_self and parameters:
        parameters = parameters[1:]
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    injected: dict[str, str] = {}
    for parameter in parameters:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD, parameter.POSITIONAL_ONLY):
            raise TypeError(f"tool {label}: parameter {parameter.name!r} must be a plain or keyword parameter")
        annotation = hints.get(parameter.name, parameter.annotation)
        if annotation is inspect.Parameter.empty:
            raise TypeError(f"tool {label}: annotate parameter {parameter.name!r}; its type is the argument's schema")
        if annotation is ToolCall:
            injected[parameter.name] = "call"
            continue
        kind = injected_as(annotation)
        if kind is Inject.CONNECTION:
            injected[parameter.name] = "connection"
            continue
        if kind is Inject.APP:
            injected[parameter.name] = "app"
            continue
        doc = param_docs.get(parameter.name)
        if doc and typing.get_origin(annotation) is not Annotated:
            annotation = Annotated[annotation, msgspec.Meta(description=doc)]
        if parameter.default is parameter.empty:
            fields.append((parameter.name, annotation))
        else:
            fields.append((parameter.name, annotation, parameter.default))
    try:
        arguments = msgspec.defstruct(tool_name, fields, forbid_unknown_fields=True)
        _, components = msgspec.json.schema_components((arguments,), ref_template="#/$defs/{name}")
    except (TypeError, ValueError) as exc:
        raise TypeError(f"tool {label}: its parameters have no JSON schema: {exc}") from None
    schema = dict(components.pop(tool_name))
    schema.pop("title", None)
    if components:
        schema["$defs"] = components
    return ToolSpec(
        name=tool_name,
        description=description if description is not None else summary,
        parameters=schema,
        fn=fn,
        arguments=arguments,
        injected=injected,
        is_async=is_async_callable(fn),
        timeout=timeout,
    )


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The first paragraph, and the parameter descriptions of a Google-style ``Args:`` section."""
    paragraphs = doc.split("\n\n")
    summary = " ".join(paragraphs[0].split()) if paragraphs and not _is_args(paragraphs[0]) else ""
    params: dict[str, str] = {}
    in_args = False
    current: str | None = None
    for line in doc.splitlines():
        stripped = line.strip()
        if _is_args(stripped):
            in_args = True
            continue
        if not in_args:
            continue
        if not stripped:
            current = None
            continue
        if not line.startswith((" ", "\t")):  # the next section
            break
        match = re.match(r"(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)", stripped)
        if match and (current is None or (line.startswith(" " * 4) and not line.startswith(" " * 8))):
            current = match.group(1)
            params[current] = match.group(2)
        elif current is not None:
            params[current] = f"{params[current]} {stripped}".strip()
    return summary, params


def _is_args(text: str) -> bool:
    return text.strip() in ("Args:", "Arguments:", "Parameters:")


def encode_output(result: object) -> str:
    """A tool's return value as the output string: a string as is, anything else as JSON."""
    if isinstance(result, str):
        return result
    return msgspec.json.encode(result).decode()


def _error_output(message: str) -> str:
    return msgspec.json.encode({"error": message}).decode()


@dataclass(eq=False, slots=True)
class _Batch:
    """The calls one response made."""

    pending: dict[str, anyio.CancelScope] = field(default_factory=dict)  # call_id -> its task's scope
    answered: int = 0
    done: bool = False
    follow_up: bool = True
    stale: bool = False  # made on a connection that is gone: its server session cannot take the outputs


_MAX_BATCHES = 64  # responses with calls and no response.done yet: a server that never sends it cannot grow this
_MAX_ANSWERED = 256  # call ids remembered after their output, to run a call reported twice once


class ToolRunner(SessionListener):
    """Runs the calls of one app session and sends their outputs and the follow-up response."""

    def __init__(
        self,
        tools: dict[str, ToolSpec],
        dispatcher: Dispatcher,
        connection: Connection,
        app: object,
        *,
        outbox: Outbox,
        sequencer: ResponseSequencer,
        timeout: float | None,
        interruption: ToolInterruption,
    ) -> None:
        self.tools = tools
        self._dispatcher = dispatcher
        self._connection = connection
        self._outbox = outbox
        self._sequencer = sequencer
        self._app = app
        self._timeout = timeout
        self._interruption = interruption
        self._batches: dict[str, _Batch] = {}
        self._running: dict[str, _Batch] = {}  # call id -> the batch running it, whatever response reports it again
        self._answered: dict[str, None] = {}  # recent call ids with an output sent (or queued to be)
        self._follow_ups: set[str | None] = set()  # event ids of follow-up creates not sent yet
        self._out_of_band: set[str] = set()  # responses outside the conversation

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def busy(self) -> bool:
        """Calls running, outputs to send, or a follow-up response still to go out: mid-turn."""
        return bool(self._running or self._batches or self._follow_ups)

    def session_ended(self, outcome: Outcome | None) -> None:
        self.session_lost()

    def on_output_item_done(self, event: ServerEvent) -> None:
        assert isinstance(event, ResponseOutputItemDone)
        item = event.item
        if item.type != "function_call" or item.status not in (None, "completed") or not item.call_id:
            return  # an interrupted call has partial arguments: nothing to run
        if event.response_id in self._out_of_band:
            return
        spec = self.tools.get(item.name or "")
        call = ToolCall(item.name or "", item.call_id, item.arguments or "", item.id, event.response_id)
        if call.call_id in self._running or call.call_id in self._answered:
            return  # the same call reported twice (under this response or another): one run, one output
        batch = self._batches.get(event.response_id)
        if batch is None:
            batch = self._batches[event.response_id] = _Batch()
            while len(self._batches) > _MAX_BATCHES:  # responses whose done never came
                oldest = next(iter(self._batches))
                logger.warning("tools: response %s never finished; forgetting its calls' follow-up", oldest)
                self._batches.pop(oldest).follow_up = False
        scope = anyio.CancelScope()
        batch.pending[call.call_id] = scope
        self._running[call.call_id] = batch
        self._dispatcher.start_task(self._run, spec, call, event, batch, scope, name=f"tool {call.name}")

    def on_response_done(self, event: ServerEvent) -> None:
        assert isinstance(event, ResponseDone)
        batch = self._batches.get(event.response.id or "")
        if batch is None:
            return
        batch.done = True
        if event.response.status != "completed":
            batch.follow_up = False  # the user took the turn (or the response failed): do not talk over them
            if self._interruption == "cancel":
                for scope in batch.pending.values():
                    scope.cancel()
        if not batch.pending:
            self._finish(event.response.id or "", batch)

    def session_lost(self) -> None:
        """The server session is gone: its calls cannot be answered on the next one. Cancel them, and
        take back their outputs and follow-ups still waiting to be sent."""
        if self.running:
            logger.warning("connection lost: %d tool call(s) of its session cancelled", self.running)
        stale_calls: set[str] = set()
        for batch in {id(b): b for b in [*self._batches.values(), *self._running.values()]}.values():
            batch.stale = True
            stale_calls.update(batch.pending)
            for scope in batch.pending.values():
                scope.cancel()
        self._batches.clear()
        self._running.clear()
        stale_calls.update(self._answered)
        self._answered.clear()
        follow_ups = self._follow_ups

        def mine(event: ClientEvent) -> bool:
            item = getattr(event, "item", None)
            return event.event_id in follow_ups or (
                item is not None and item.type == "function_call_output" and item.call_id in stale_calls
            )

        self._outbox.withdraw(mine, "the session that made this call is gone")
        self._follow_ups = set()
        self._out_of_band.clear()

    def on_response_created(self, event: ServerEvent) -> None:
        response = event.response  # type: ignore[attr-defined]
        # The sequencer (observed first) counts a response we asked for as ours even without a conversation_id.
        if response.conversation_id is None and response.id and self._sequencer.active != response.id:
            self._out_of_band.add(response.id)  # its calls are the caller's business, not a turn to answer
            while len(self._out_of_band) > 64:
                self._out_of_band.pop()

    async def _run(
        self, spec: ToolSpec | None, call: ToolCall, event: ServerEvent, batch: _Batch, scope: anyio.CancelScope
    ) -> None:
        output: str | None = None
        try:
            with scope:
                output = await self._output(spec, call, event)
            if batch.stale:
                return
            if scope.cancelled_caught:
                output = _error_output("cancelled: the user interrupted the response")
            self._answered[call.call_id] = None
            while len(self._answered) > _MAX_ANSWERED:
                del self._answered[next(iter(self._answered))]
            try:
                await self._connection.create_item(ConversationItem.function_call_output(call.call_id, output or ""))
            except Exception:
                if _stale(batch):  # the session was lost while it waited: taken back, not an error
                    return
                raise
            batch.answered += 1
        finally:
            batch.pending.pop(call.call_id, None)
            if self._running.get(call.call_id) is batch:
                del self._running[call.call_id]
            if batch.done and not batch.pending and not batch.stale and call.response_id is not None:
                self._finish(call.response_id, batch)

    async def _output(self, spec: ToolSpec | None, call: ToolCall, event: ServerEvent) -> str:
        return await call_tool(
            spec,
            call,
            event,
            known=self.tools,
            connection=self._connection,
            app=self._app,
            timeout=self._timeout,
            report=self._report,
        )

    async def _report(self, exc: Exception, spec: ToolSpec, event: ServerEvent) -> None:
        """To the error handlers of the router that declared the tool, or the log."""
        await self._dispatcher.report_from(exc, event, spec.router or self._dispatcher.root, f"tool {spec.name}")

    def _finish(self, response_id: str, batch: _Batch) -> None:
        self._batches.pop(response_id, None)
        if batch.follow_up and batch.answered:
            follow_up = ResponseCreate(event_id=new_id("evt_tools"))
            self._follow_ups.add(follow_up.event_id)
            self._dispatcher.start_task(self._send_follow_up, follow_up, name="tool follow-up response")

    async def _send_follow_up(self, follow_up: ResponseCreate) -> None:
        try:
            await self._connection.send(follow_up)
        finally:
            self._follow_ups.discard(follow_up.event_id)


async def call_tool(
    spec: ToolSpec | None,
    call: ToolCall,
    event: ServerEvent,
    *,
    known: Mapping[str, ToolSpec],
    connection: object,
    app: object,
    timeout: float | None,
    report: Callable[[Exception, ToolSpec, ServerEvent], Awaitable[None]],
) -> str:
    """Run one call of a declared tool (``spec``; None: the model named an unknown one) and return
    the output string for the model: the result, or an error it can read. Invalid arguments, a
    ``ToolError``, an exception, a stray cancellation and ``timeout`` (unless the tool has its own)
    all become error outputs; the last three are also ``report``ed (to the error handlers)."""
    if spec is None:
        names = ", ".join(sorted(known)) or "none"
        logger.warning("the model called an unknown tool %r (declared: %s)", call.name, names)
        return _error_output(f"unknown tool {call.name!r}; the tools are: {names}")
    try:
        arguments = msgspec.json.decode(call.arguments or "{}", type=spec.arguments)
    except msgspec.DecodeError as exc:  # ValidationError included: the model's mistake, not a bug
        logger.warning("tool %s: invalid arguments %.200r: %s", spec.name, call.arguments, exc)
        return _error_output(f"invalid arguments: {exc}")
    kwargs = {name: getattr(arguments, name) for name in spec.arguments.__struct_fields__}
    for parameter, kind in spec.injected.items():
        kwargs[parameter] = call if kind == "call" else connection if kind == "connection" else app
    timeout = spec.timeout if spec.timeout is not None else timeout  # the tool's own wins
    try:
        with anyio.move_on_after(timeout):
            if spec.is_async:
                result = await spec.fn(**kwargs)
            else:
                result = await default_threads.run(lambda: spec.fn(**kwargs))  # a slot is awaited in the timeout
            return encode_output(result)
    except ToolError as exc:
        return _error_output(str(exc))
    except Exception as exc:
        await report(exc, spec, event)
        return _error_output(f"{type(exc).__name__}: {exc}")
    except BaseException as exc:
        if not stray_cancellation(exc):
            raise  # the app's (or the interruption's) cancellation: not the tool's failure
        await report(HandlerCancelled(f"tool {spec.name}", exc), spec, event)
        return _error_output("the tool was cancelled")
    assert timeout is not None  # only our deadline ends the block without a return
    await report(ToolTimeout(spec.name, timeout), spec, event)
    return _error_output(f"the tool timed out after {timeout:g} s")


def _stale(batch: _Batch) -> bool:
    return batch.stale  # read again after an await (a narrowed attribute to the type checker)
