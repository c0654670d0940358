"""Static typing: mypy ties a handler's event parameter to the key it is registered for, types
what ``wait_for``, ``expect`` and ``request`` return by their key, and ``ScriptedServer.expect``
predicates by the client event name; a misspelt name is an error. docs/routing.md ("What mypy
checks") lists the same cases.

Two mypy runs in all (one file that must pass, one whose every marked line must fail), a check
that the generated overloads in ``realtime_dispatch/_keys.py`` are up to date, and one that the
``request`` overloads agree with the reply table the connection uses.

The overloads cover every protocol's names: GPT-Live's and Realtime Translation's as well as the
Realtime API's. A name several protocols send with a class each (``session.updated``, ``error``,
``session.*``) takes a handler written for any one of those classes, and ``wait_for``/``expect``
give their union.
"""

import ast
import inspect
import re
import subprocess
import sys
import textwrap
import types
import typing
from pathlib import Path
from typing import Any

import pytest

from realtime_dispatch import Connection, _connection, _replies, events

ROOT = Path(__file__).resolve().parents[1]

GOOD = """
from collections.abc import Callable, Coroutine
from typing import Any, assert_type, reveal_type

from realtime_dispatch import (
    Connection,
    LiveApp,
    LiveConnection,
    RealtimeApp,
    Router,
    TranslationApp,
    TranslationConnection,
    events,
    on,
)
from realtime_dispatch.events import live, translation
from realtime_dispatch.testing import ScriptedServer

router = Router()


@router.on("response.output_text.delta")
async def event_only(event: events.ResponseOutputTextDelta) -> None:
    print(event.delta)


@router.on("response.done")
async def event_and_connection(event: events.ResponseDone, conn: Connection) -> None:
    await conn.send(events.ResponseCreate())


@router.on("response.created")
async def connection_only(conn: Connection) -> None:
    await conn.send(events.InputAudioBufferClear())


@router.on("session.created")
def nothing() -> None:
    pass


@router.on(events.ResponseDone)
def by_class(event: events.ResponseDone) -> None:
    print(event.response.id)


@router.on("response.output_text.delta")
def wider_parameter(event: events.ServerEvent) -> None:
    print(event.type)


@router.on("response.output_text.delta", when=lambda e: e.delta != "")
async def filtered(event: events.ResponseOutputTextDelta) -> None:
    print(event.delta)


@router.on("response.*")
def wildcard(event: events.ServerEvent) -> None:
    print(event.type)


assert_type(event_only, Callable[[events.ResponseOutputTextDelta], Coroutine[Any, Any, None]])
assert_type(by_class, Callable[[events.ResponseDone], None])


class App(RealtimeApp):
    @on("response.output_text.delta")
    async def method_event(self, event: events.ResponseOutputTextDelta) -> None:
        print(event.delta)

    @on("response.done")
    async def method_self_only(self) -> None:
        pass

    @on("response.created")
    async def method_conn_event(self, conn: Connection, event: events.ResponseCreated) -> None:
        await conn.send(events.ResponseCancel(response_id=event.response.id))

    @on("response.done")
    async def method_conn_only(self, conn: Connection) -> None:
        await conn.send(events.ResponseCreate())

    @on(events.ResponseDone)
    def method_by_class(self, event: events.ResponseDone) -> None:
        print(event.response.status)

    @on("response.output_text.delta", when=lambda e: e.delta != "")
    def method_when(self, event: events.ResponseOutputTextDelta) -> None:
        print(event.delta)


app = App()
app.include_router(router)


async def waiting(conn: Connection, name: str) -> None:
    done = await conn.wait_for(events.ResponseDone, lambda e: e.response.status == "completed")
    assert_type(done, events.ResponseDone)
    expected = conn.expect(events.ResponseCreated)
    assert_type(await expected.wait(1), events.ResponseCreated)
    assert_type(expected.event, events.ResponseCreated | None)
    # By name: the same types.
    assert_type(await conn.wait_for("response.done", lambda e: e.response.id == "r1"), events.ResponseDone)
    assert_type(await conn.expect("response.created").wait(1), events.ResponseCreated)
    text = await conn.wait_for("response.output_text.*", timeout=1)
    assert_type(text, events.ResponseOutputTextDelta | events.ResponseOutputTextDone | events.UnknownEvent)
    assert_type(await conn.wait_for("*"), events.ServerEvent)
    # A name known only at run time: through its class.
    assert_type(await conn.wait_for(events.SERVER_EVENTS[name]), events.ServerEvent)
    # request: the reply table.
    session = events.Session(type="realtime")
    updated = await conn.request(events.SessionUpdate(session=session))
    assert_type(updated, events.SessionUpdated | events.TranscriptionSessionUpdated)
    assert_type(await conn.request(events.ResponseCreate()), events.ResponseCreated)
    assert_type(await conn.request(events.ResponseCancel()), events.ResponseDone)
    item = events.ConversationItem.message("user", "Hi")
    created = await conn.request(events.ConversationItemCreate(item=item))
    assert_type(created, events.ConversationItemCreated | events.ConversationItemAdded)
    some: events.ClientEvent = events.InputAudioBufferCommit()
    assert_type(await conn.request(some), events.ServerEvent)


@router.on(events.ResponseDone, events.ResponseCreated)
def two_classes(event: events.ResponseDone | events.ResponseCreated) -> None:
    print(event.response.id)


@router.on(events.ResponseDone, events.ResponseCreated, events.ResponseOutputTextDelta)
def three_classes(event: events.ResponseDone | events.ResponseCreated | events.ResponseOutputTextDelta) -> None:
    print(event.type)


@router.on("response.output_text.delta", "response.output_audio_transcript.delta")
def two_names(event: events.ResponseOutputTextDelta | events.ResponseOutputAudioTranscriptDelta) -> None:
    print(event.delta)


@router.on("response.output_text.*")
def prefix_union(event: events.ResponseOutputTextDelta | events.ResponseOutputTextDone | events.UnknownEvent) -> None:
    print(event.type)


@router.on("response.output_text.*", when=lambda e: e.type != "")
def prefix_wide(event: events.ServerEvent) -> None:
    print(event.type)


@router.on()
def by_annotation(event: events.ResponseDone) -> None:
    print(event.response.id)


def dynamic(name: str) -> None:
    router.add_handler(wildcard, name)  # the untyped path, checked at registration


async def scripted() -> None:
    server = ScriptedServer()
    server.expect("conversation.item.create", lambda e: e.item.role == "user")
    server.expect("session.update", lambda e: e.session.type == "realtime").reply()
    creates = server.sent_of(events.ConversationItemCreate)
    assert_type(creates, list[events.ConversationItemCreate])
    print(creates[0].item.role)


# --- GPT-Live and Realtime Translation ---------------------------------------------------------


class Agent(LiveApp):
    @on("session.started")
    async def started(self, event: live.SessionStartedEvent, conn: LiveConnection) -> None:
        print(event.session.id)

    @on("session.started")
    async def started_conn_only(self, conn: LiveConnection) -> None:
        await conn.close()

    # A name Realtime, GPT-Live and Translation all send: the handler takes its protocol's class.
    @on("session.updated")
    async def live_updated(self, event: live.SessionUpdatedEvent) -> None:
        print(event.session)

    @on("session.updated")
    async def live_updated_conn(self, conn: LiveConnection, event: live.SessionUpdatedEvent) -> None:
        print(event.session)

    @on("error", when=lambda e: e.client_event_id is not None)  # a when written for GPT-Live's class
    async def live_error(self, event: live.ErrorEvent) -> None:
        print(event.error)

    @on("transport.dtmf.received")
    def key(self, event: live.TransportDtmfReceived) -> None:
        print(event.event)

    @on("response.*")
    def nested(self, event: live.ResponseEvent | events.UnknownEvent) -> None:
        print(event.type)

    @on("session.*")
    def any_session(self, event: events.ServerEvent) -> None:
        print(event.type)


class RealtimeUpdated(RealtimeApp):
    @on("session.updated")
    async def updated(self, event: events.SessionUpdated) -> None:
        print(event.session)

    @on("session.*")
    def sessions(self, event: events.SessionCreated | events.SessionUpdated | events.UnknownEvent) -> None:
        print(event.type)


class Translator(TranslationApp):
    @on("session.output_transcript.delta")
    async def text(self, event: translation.OutputTranscriptDeltaEvent, conn: TranslationConnection) -> None:
        print(event.delta)


@router.on("session.updated", when=lambda e: e.session is not None)
def any_updated(event: events.SessionUpdated | live.SessionUpdatedEvent | translation.SessionUpdatedEvent) -> None:
    print(event.type)


@router.on("session.output_transcript.delta")
async def said(event: live.OutputTranscriptDeltaEvent) -> None:
    print(event.delta)


async def live_waiting(conn: LiveConnection) -> None:
    delta = await conn.wait_for("session.output_transcript.delta")
    reveal_type(delta)
    assert_type(delta, live.OutputTranscriptDeltaEvent | translation.OutputTranscriptDeltaEvent)
    assert_type(await conn.wait_for("session.started"), live.SessionStartedEvent)
    closed = await conn.expect("session.closed").wait()
    assert_type(closed, live.SessionClosedEvent | translation.SessionClosedEvent)


async def live_scripted() -> None:
    server = ScriptedServer(api="live")
    server.expect("session.start").reply()
    server.expect("session.start", lambda e: e.session is not None)  # primary or fork
    server.expect("transport.dtmf.send", lambda e: e.event == "5")  # the sideband's client event
    server.expect("response.item.create", lambda e: e.item["call_id"] == "c1")
    server.expect("session.update")
    server.expect("session.close")
    ScriptedServer(api="translation").expect("session.input_audio_buffer.append")
"""

BAD = """
from realtime_dispatch import Connection, LiveApp, LiveConnection, RealtimeApp, Router, events, on
from realtime_dispatch.events import live
from realtime_dispatch.testing import ScriptedServer

router = Router()


@router.on("response.output_text.delta")  # E: name
async def bad_name(event: events.ResponseDone) -> None:
    pass


@router.on(events.ResponseDone)  # E: class
def bad_class(event: events.ResponseOutputTextDelta) -> None:
    pass


@router.on("response.done", when=lambda e: e.delta != "")  # E: when
def bad_when(event: events.ResponseDone) -> None:
    pass


class App(RealtimeApp):
    @on("response.output_text.delta")  # E: method
    async def h(self, event: events.ResponseDone) -> None:
        pass

    @on("response.created")  # E: method with connection
    async def h2(self, conn: Connection, event: events.ResponseDone) -> None:
        pass

    @on("response.*")  # E: method on a wildcard, narrow
    async def h3(self, event: events.ResponseDone) -> None:
        pass


@router.on("response.dnoe")  # E: misspelt name
def typo(event: events.ResponseDone) -> None:
    pass


@router.on("response.*")  # E: wildcard, narrow annotation
def narrow_wildcard(event: events.ResponseDone) -> None:
    pass


@router.on("*")  # E: everything, narrow annotation
def narrow_star(event: events.ResponseDone | events.ResponseCreated) -> None:
    pass


@router.on(events.ResponseCreated, events.ResponseDone)  # E: two classes, narrow annotation
def narrow_two_classes(event: events.ResponseDone) -> None:
    pass


@router.on("response.created", "response.done")  # E: two names, annotation without the first
def narrow_two_names(event: events.ResponseDone) -> None:
    pass


async def waiting(conn: Connection, name: str) -> None:
    await conn.wait_for("response.dnoe")  # E: misspelt name
    await conn.wait_for(name)  # E: a plain str
    created: events.ResponseCreated = await conn.wait_for("response.done")  # E: result type
    await conn.wait_for("response.done", lambda e: e.delta)  # E: predicate
    conn.expect("respnse.done")  # E: misspelt name
    done: events.ResponseDone = await conn.expect("response.created").wait()  # E: result type
    reply: events.ResponseDone = await conn.request(events.ResponseCreate())  # E: reply type


def scripted() -> None:
    server = ScriptedServer()
    server.expect("conversation.item.craete")  # E: misspelt client name
    server.expect("response.create", lambda e: e.item)  # E: predicate
    print(server.sent[1].item)  # E: sent is typed ClientEvent: use sent_of


class Agent(LiveApp):
    @on("session.updated")  # E: a shared name, none of its classes
    async def updated(self, event: events.ResponseDone) -> None:
        pass

    @on("session.updated")  # E: a shared name, none of its classes, with a connection
    async def updated_conn(self, conn: LiveConnection, event: events.ResponseDone) -> None:
        pass

    @on("session.started")  # E: a GPT-Live name, another class
    async def started(self, event: live.SessionUpdatedEvent) -> None:
        pass

    @on("session.startd")  # E: misspelt GPT-Live name
    async def typo(self, event: live.SessionStartedEvent) -> None:
        pass

    @on("session.updated", when=lambda e: e.nothing)  # E: when, for none of the classes
    async def when(self, event: live.SessionUpdatedEvent) -> None:
        pass

    @on("session.*")  # E: a shared wildcard, narrow annotation
    async def narrow(self, event: live.SessionStartedEvent) -> None:
        pass

    @on("session.started")  # E: not a connection
    async def not_a_connection(self, conn: int) -> None:
        pass


@router.on("session.output_transcript.delta")  # E: GPT-Live's other transcript
async def said(event: live.InputTranscriptDeltaEvent) -> None:
    pass


async def live_waiting(conn: LiveConnection) -> None:
    await conn.wait_for("session.strated")  # E: misspelt GPT-Live name
    delta: live.OutputTranscriptDeltaEvent = await conn.wait_for("session.output_transcript.delta")  # E: union


def live_scripted() -> None:
    server = ScriptedServer(api="live")
    server.expect("session.strat")  # E: misspelt GPT-Live client name
    server.expect("session.start", lambda e: e.nope)  # E: predicate
"""


def mypy(path: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", str(cache), str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


def error_lines(output: str, name: str) -> set[int]:
    return {int(m.group(1)) for m in re.finditer(rf"^{re.escape(name)}:(\d+): error:", output, re.MULTILINE)}


def test_mypy_accepts_correct_handlers_and_rejects_mistyped_ones(tmp_path: Path) -> None:
    good = tmp_path / "good_handlers.py"
    good.write_text(textwrap.dedent(GOOD).lstrip())
    passed = mypy(good, tmp_path / "cache-good")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Success: no issues found" in passed.stdout
    # A name GPT-Live and Translation both send: wait_for gives the union of their classes.
    revealed = re.findall(r"note: Revealed type is \"(.*)\"", passed.stdout)
    assert revealed == [
        "realtime_dispatch.events.live._server.OutputTranscriptDeltaEvent"
        " | realtime_dispatch.events.translation._server.OutputTranscriptDeltaEvent"
    ], passed.stdout

    bad = tmp_path / "bad_handlers.py"
    source = textwrap.dedent(BAD).lstrip()
    bad.write_text(source)
    expected = {number for number, line in enumerate(source.splitlines(), 1) if "# E:" in line}
    assert len(expected) == 33
    failed = mypy(bad, tmp_path / "cache-bad")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert error_lines(failed.stdout, str(bad)) == expected, failed.stdout
    codes = r"\[(arg-type|call-overload|attr-defined|assignment|union-attr)\]"
    for number in expected:
        pattern = rf"^{re.escape(str(bad))}:{number}: error: .*{codes}$"
        assert re.search(pattern, failed.stdout, re.MULTILINE), failed.stdout


def test_generated_overloads_are_current() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_keys.py", "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _reply_table() -> dict[str, set[str]]:
    """What ``reply_matcher`` accepts for each client event class, read from its ``match``:
    the class pattern of each ``case`` and the classes its ``isinstance(reply, ...)`` names."""
    tree = ast.parse(inspect.getsource(_replies))
    table: dict[str, set[str]] = {}
    for case in (node for node in ast.walk(tree) if isinstance(node, ast.match_case)):
        assert isinstance(case.pattern, ast.MatchClass), ast.dump(case.pattern)
        request = ast.unparse(case.pattern.cls).removeprefix("ev.")
        replies = table.setdefault(request, set())
        for call in (node for node in ast.walk(case) if isinstance(node, ast.Call)):
            if ast.unparse(call.func) == "isinstance":
                classes = call.args[1]
                members = classes.elts if isinstance(classes, ast.Tuple) else [classes]
                replies.update(ast.unparse(member).removeprefix("ev.") for member in members)
    return table


def _names(annotation: Any) -> set[str]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return {member.__name__ for member in typing.get_args(annotation)}
    return {annotation.__name__}


def test_request_overloads_agree_with_the_reply_table() -> None:
    declared: dict[str, set[str]] = {}
    namespace = vars(_connection)
    for overload in typing.get_overloads(Connection.request):
        hints = typing.get_type_hints(overload, globalns=namespace)
        declared[hints["event"].__name__] = _names(hints["return"])
    assert declared.pop("ClientEvent") == {"ServerEvent"}  # the fallback, for an event typed ClientEvent
    table = _reply_table()
    assert len(table) == 11
    assert declared == table
    # Every client event has a reply but input_audio_buffer.append (request() refuses it).
    assert set(table) | {"InputAudioBufferAppend"} == {cls.__name__ for cls in events.CLIENT_EVENTS.values()}


# --- annotations that do not resolve ---------------------------------------------------------------


def test_an_annotation_that_does_not_resolve_fails_at_registration() -> None:
    # Under `from __future__ import annotations` a misspelt class is only a string: it used to
    # leave the parameter to name-based injection, so the handler took every event its key
    # delivers and the check of the annotation against the key was skipped.
    from realtime_dispatch import Router

    def misspelt(event: Any) -> None: ...

    misspelt.__annotations__["event"] = "events.ResponseDoen"
    router = Router()
    with pytest.raises(TypeError) as caught:
        router.on("response.*")(misspelt)
    assert str(caught.value).endswith(
        "misspelt: the annotation of parameter 'event', 'events.ResponseDoen', cannot be resolved "
        "(AttributeError: module 'realtime_dispatch.events' has no attribute 'ResponseDoen'); "
        "fix the name, or import it at run time (not only under TYPE_CHECKING)"
    ), caught.value
    assert router.handlers == []


def test_an_app_method_whose_annotation_does_not_resolve_fails_when_the_class_is_defined() -> None:
    from realtime_dispatch import RealtimeApp, on

    def method(self: Any, conn: Any) -> None: ...

    method.__annotations__["conn"] = "Conection"
    with pytest.raises(TypeError, match=r"parameter 'conn', 'Conection', cannot be resolved \(NameError"):
        type("Broken", (RealtimeApp,), {"method": on("response.done")(method)})
