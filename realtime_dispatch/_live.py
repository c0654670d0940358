"""GPT-Live apps: the connection's senders, and the features that make a Live app do what a
Realtime app does (its session start, ``@tool`` through Responses delegation, usage, barge-in).

The machinery is the one every protocol shares (``_protocol``): what is here is only what GPT-Live
does differently. Its session starts with ``session.start`` and is usable at ``session.started``
(the runner waits for it); ``close()`` sends ``session.close`` and waits for ``session.closed``
(``_features.session_end``). The model never calls tools itself: a Responses model it delegates to
does, and its function calls come as nested events of ``response.event``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import msgspec

from ._connection import BaseConnection
from ._endpoints import ConfigError
from ._lifecycle import NotConnected, Outcome, SessionListener
from ._protocol import Api
from ._tools import ToolCall, ToolSpec, call_tool
from .events import ClientEvent, ServerEvent, live, new_id

if TYPE_CHECKING:
    from ._dispatch import Dispatcher
    from ._session import SessionSetup

__all__ = (
    "ACKS",
    "DelegatedTools", "LiveConnection", "barge_in", "delegated_tools", "install", "start_event", "usage")

logger = logging.getLogger("realtime_dispatch.live")

DEFAULT_MODEL = "gpt-live-1"

ACKS = {
    "session.start": "session.started",
    "session.update": "session.updated",
    "session.input_audio.mute": "session.input_audio.muted",
    "session.input_audio.unmute": "session.input_audio.unmuted",
    "session.output_audio.fixture.play": "session.output_audio.fixture.playing",
    "session.instructions.append": "session.instructions.appended",
    "session.thinking.append": "session.thinking.appended",
    "session.commentary.append": "session.commentary.appended",
    "decision.create": "decision.event",
    "decision.item.create": "decision.item.created",
    "decision.item.delete": "decision.item.deleted",
    "session.close": "session.closed",
    "transport.dtmf.send": "transport.dtmf.sent",
}
"""The acknowledgement of each GPT-Live client event that has one (``LiveConnection.request`` waits for it)."""


class LiveConnection(BaseConnection):
    """A GPT-Live session (``/v1/live/sessions``, a sideband's ``/attach``, a ``/fork``):
    ``BaseConnection`` plus a typed sender per client event. Handlers receive it by annotating a
    parameter with this class. Each sender returns the event's ``event_id``."""

    api: ClassVar[Api] = "live"

    async def update_session(self, session: live.SessionUpdateConfig) -> str:
        """``session.update``: only the delegation's settings and the triggers can change."""
        return await self.send(live.SessionUpdateEvent(session=session))

    async def append_audio(self, pcm: bytes | bytearray | memoryview) -> str:
        """``session.input_audio.append`` (primary and fork connections: the session's audio format).
        Keep streaming, silence included: the model decides when to speak."""
        return await self.send(live.InputAudioAppendEvent.from_pcm(pcm))

    async def mute_input(self) -> str:
        """``session.input_audio.mute``: the model stops hearing the user (not the output)."""
        return await self.send(live.InputAudioMuteEvent())

    async def unmute_input(self) -> str:
        """``session.input_audio.unmute``."""
        return await self.send(live.InputAudioUnmuteEvent())

    async def play_fixture(self, pcm: bytes | bytearray | memoryview) -> str:
        """``session.output_audio.fixture.play``: play exact audio (PCM16 24 kHz mono, 30 s at most)
        instead of the model's speech; input is muted while it plays."""
        return await self.send(live.OutputAudioFixturePlayEvent.from_pcm(pcm))

    async def append_instructions(self, content: str, *, delegation_id: str | None = None) -> str:
        """``session.instructions.append``: steer the model (and make it speak, e.g. a greeting)."""
        return await self.send(live.InstructionsAppendEvent(content=content, delegation_id=delegation_id))

    async def append_thinking(self, content: str, *, delegation_id: str | None = None) -> str:
        """``session.thinking.append``: silent context; with ``delegation_id``, a client
        delegation's result the model may use."""
        return await self.send(live.ThinkingAppendEvent(content=content, delegation_id=delegation_id))

    async def append_commentary(self, content: str, *, delegation_id: str | None = None) -> str:
        """``session.commentary.append``: context the model says (paraphrased); with
        ``delegation_id``, a client delegation's result to speak."""
        return await self.send(live.CommentaryAppendEvent(content=content, delegation_id=delegation_id))

    async def create_decision(self) -> str:
        """``decision.create``: evaluate the Decisions delegation's questions now."""
        return await self.send(live.DecisionCreateEvent(event_id=new_id("evt_decision")))

    async def create_decision_item(self, item: live.DecisionItem) -> str:
        """``decision.item.create``: add an input for the Decisions model (not the voice context)."""
        return await self.send(live.DecisionItemCreateEvent(item=item))

    async def delete_decision_item(self, item_id: str) -> str:
        """``decision.item.delete``."""
        return await self.send(live.DecisionItemDeleteEvent(item_id=item_id))

    async def create_response_item(self, item: dict[str, Any]) -> str:
        """``response.item.create``: a Responses input item for the delegated model (Responses
        delegation only; no acknowledgement)."""
        return await self.send(live.ResponseItemCreateEvent(item=item))

    async def send_function_output(self, call_id: str, output: str) -> str:
        """The output of a delegated function call (``response.item.create``). ``@tool``s do this
        for you; after the last output of a response, ``create_response()`` continues it."""
        return await self.create_response_item({"type": "function_call_output", "call_id": call_id, "output": output})

    async def create_response(self) -> str:
        """``response.create`` (no body): continue the delegated Responses work after outputs.
        It does not make the voice model speak: ``append_instructions`` does."""
        return await self.send(live.ResponseCreateEvent())

    async def send_dtmf(self, key: str) -> str:
        """``transport.dtmf.send`` (a SIP call's sideband): one key, ``0``-``9``, ``A``-``D``, ``*``, ``#``."""
        if len(key) != 1 or key not in "0123456789ABCD*#":
            raise ValueError(f"a DTMF key is one of 0-9, A-D, * and #, not {key!r}")
        return await self.send(live.TransportDtmfSend(event=key))

    async def close_session(self) -> str:
        """``session.close`` without waiting; ``close()`` sends it and waits for ``session.closed``."""
        return await self.send(live.SessionCloseEvent())


# --- the session start ----------------------------------------------------------------------------


def start_event(session: object, tools: list[ToolSpec]) -> ClientEvent | None:
    """The ``session.start`` an app sends: its ``session`` (a ``SessionConfig``, or a
    ``ForkSessionConfig`` on a fork) with the ``@tool``s added to the Responses delegation's tools."""
    if session is None:
        session = live.SessionConfig(model=DEFAULT_MODEL)
    if isinstance(session, live.ForkSessionConfig):
        if tools:
            raise ConfigError("a fork inherits its source session's tools: declare no @tool on a fork's app")
        return live.ForkSessionStartEvent(session=session)
    if not isinstance(session, live.SessionConfig):
        raise ConfigError(f"a GPT-Live app's session is an events.live.SessionConfig, not {type(session).__name__}")
    if not tools:
        return live.SessionStartEvent(session=session)
    delegation = session.delegation
    if not isinstance(delegation, live.DelegationResponses):
        raise ConfigError(
            "GPT-Live runs @tools through Responses delegation: set session.delegation = "
            "events.live.DelegationResponses(responses=events.live.ResponsesDelegationConfig(model=...))"
        )
    own = list(delegation.responses.tools or [])
    taken = {getattr(t, "name", None) if not isinstance(t, dict) else t.get("name") for t in own}
    clash = sorted(spec.name for spec in tools if spec.name in taken)
    if clash:
        raise ConfigError(f"session.delegation.responses.tools already declares {', '.join(clash)}; declare it once")
    declared = [live.FunctionTool(name=s.name, description=s.description, parameters=s.parameters) for s in tools]
    responses = msgspec.structs.replace(delegation.responses, tools=[*own, *declared])
    return live.SessionStartEvent(
        session=msgspec.structs.replace(session, delegation=msgspec.structs.replace(delegation, responses=responses))
    )


# --- tools, through Responses delegation ------------------------------------------------------------

_CLAIMED: OrderedDict[str, None] = OrderedDict()  # call ids run in this process, by any app
_MAX_CLAIMED = 4096
_FINISHED = {"response.completed": True, "response.failed": False, "response.incomplete": False}


def _claim(call_id: str) -> bool:
    """True for the first app in this process to see ``call_id``: the primary connection and a
    sideband of the same session both see a delegated call, and it must run once."""
    if call_id in _CLAIMED:
        return False
    _CLAIMED[call_id] = None
    while len(_CLAIMED) > _MAX_CLAIMED:
        _CLAIMED.popitem(last=False)
    return True


@dataclass(eq=False)
class _Delegation:
    """The calls of one delegated Responses run, until it finishes and they are all answered."""

    running: dict[str, anyio.CancelScope] = field(default_factory=dict)
    answered: int = 0
    finished: bool = False
    completed: bool = False


class DelegatedTools(SessionListener):
    """Runs the ``@tool`` calls a Live session's Responses model makes: each call from a nested
    ``response.output_item.done`` (never inferred from the stripped lifecycle snapshots), its output
    sent with ``response.item.create``, and one ``response.create`` once the run completed and every
    output is sent."""

    def __init__(self, tools: dict[str, ToolSpec], setup: SessionSetup, dispatcher: Dispatcher) -> None:
        self._tools = tools
        self._setup = setup
        self._dispatcher = dispatcher
        self._connection = setup.connection
        self._runs: dict[str | None, _Delegation] = {}  # by the outer delegation_id
        self._sending: set[str | None] = set()  # event ids of outputs and follow-ups not sent yet

    @property
    def busy(self) -> bool:
        return bool(self._runs)

    def on_response_event(self, event: ServerEvent) -> None:
        assert isinstance(event, live.ResponseEvent)
        kind = event.event_type
        if kind == "response.output_item.done":
            call = event.function_call
            if call is None or not _claim(call.call_id):
                return
            run = self._runs.setdefault(event.delegation_id, _Delegation())
            scope = anyio.CancelScope()
            run.running[call.call_id] = scope
            tool_call = ToolCall(call.name, call.call_id, call.arguments, call.id, event.delegation_id)
            self._dispatcher.start_task(self._run, tool_call, event, run, scope, name=f"tool {call.name}")
        elif kind in _FINISHED:
            finished = self._runs.get(event.delegation_id)
            if finished is None:
                return  # no calls: the run's text is spoken by the voice model, nothing to continue
            finished.finished, finished.completed = True, _FINISHED[kind]
            self._maybe_continue(event.delegation_id, finished)

    async def _run(self, call: ToolCall, event: ServerEvent, run: _Delegation, scope: anyio.CancelScope) -> None:
        try:
            with scope:
                output = await call_tool(
                    self._tools.get(call.name),
                    call,
                    event,
                    known=self._tools,
                    connection=self._connection,
                    app=self._setup.app,
                    timeout=self._setup.app.tool_timeout,
                    report=self._report,
                )
                item = {"type": "function_call_output", "call_id": call.call_id, "output": output}
                if await self._send(live.ResponseItemCreateEvent(item=item)):
                    run.answered += 1
        finally:
            run.running.pop(call.call_id, None)
            self._maybe_continue(call.response_id, run)

    async def _report(self, exc: Exception, spec: ToolSpec, event: ServerEvent) -> None:
        await self._dispatcher.report_from(exc, event, spec.router or self._dispatcher.root, f"tool {spec.name}")

    def _maybe_continue(self, key: str | None, run: _Delegation) -> None:
        if not run.finished or run.running or self._runs.get(key) is not run:
            return
        del self._runs[key]
        if run.completed and run.answered:
            self._dispatcher.start_task(self._continue, name="tool follow-up response")

    async def _continue(self) -> None:
        await self._send(live.ResponseCreateEvent())

    async def _send(self, event: ClientEvent) -> bool:
        """Send an output or the follow-up; False when its session ended meanwhile (taken back)."""
        event.event_id = new_id("evt_tool")
        self._sending.add(event.event_id)
        try:
            await self._connection.send(event)
            return True
        except NotConnected:  # the session that made the call is gone: nothing to answer any more
            return False
        finally:
            self._sending.discard(event.event_id)

    def session_ended(self, outcome: Outcome | None) -> None:
        """The session is gone (a GPT-Live session is not resumed by a reconnect): so are its calls.
        Running ones are cancelled, and outputs waiting for a reconnect are taken back: the next
        connection's session never made those calls."""
        for run in self._runs.values():
            for scope in run.running.values():
                scope.cancel()
        self._runs.clear()
        sending = set(self._sending)
        if sending:
            gone = "the session that made this call is gone"
            self._setup.outbox.withdraw(lambda event: event.event_id in sending, gone)


def delegated_tools(setup: SessionSetup) -> None:
    """``@tool``s on a GPT-Live app (declared in ``session.start``'s Responses delegation)."""
    if setup.protocol.name != "live":
        return
    declared = {spec.name: spec for spec in setup.app.router.walk_tools()}
    if not declared:
        return
    runner = DelegatedTools(declared, setup, setup.dispatcher)
    setup.observe("response.event", runner.on_response_event)
    setup.listen(runner)
    setup.busy_while(lambda: runner.busy)


# --- usage and barge-in ---------------------------------------------------------------------------


def usage(setup: SessionSetup) -> None:
    """``collect_metrics``: GPT-Live's cumulative voice seconds and context use into ``app.metrics``."""
    metrics = setup.metrics
    if metrics is None or setup.protocol.name != "live":
        return
    setup.observe("session.usage.updated", metrics.observe_session_usage)
    setup.observe("session.closed", metrics.observe_session_usage)


def barge_in(setup: SessionSetup) -> None:
    """``barge_in`` on GPT-Live. The model decides when it stops talking, and no event says it did;
    what the protocol does tell is when each side spoke (transcript deltas carry ``start_ms`` and
    ``end_ms`` on the session's timeline). When the user's speech starts before the assistant's last
    transcribed speech ends, the user is talking over it: ``on_barge_in`` is called (once per
    stretch of assistant speech) to stop local playback. Nothing is cancelled or truncated on the
    server: the protocol has no way to."""
    app = setup.app
    if setup.protocol.name != "live" or not app.barge_in:
        return
    speaking_until = -1  # end_ms of the assistant's last transcribed speech
    interrupted_at = -1  # the stretch already interrupted (its end_ms)

    def on_assistant(event: ServerEvent) -> None:
        nonlocal speaking_until
        speaking_until = max(speaking_until, getattr(event, "end_ms", -1))

    async def on_user(event: ServerEvent) -> None:
        nonlocal interrupted_at
        start = getattr(event, "start_ms", None)
        if start is None or start >= speaking_until or interrupted_at == speaking_until:
            return
        interrupted_at = speaking_until
        await app.on_barge_in(setup.connection)

    on_assistant.__name__ = "live_assistant_speech"
    on_user.__name__ = "barge_in"
    setup.observe("session.output_transcript.delta", on_assistant)
    setup.observe("session.input_transcript.delta", on_user)


def install(setup: SessionSetup) -> None:
    """What a GPT-Live app adds to the shared features (``_features.live`` calls it)."""
    for feature in (delegated_tools, usage, barge_in):
        feature(setup)
