"""Testing a Realtime app offline, three ways, each on asyncio and trio (see ``conftest.py``).

1. ``ScriptedServer``: you write the server's side, event by event, and it checks what the app
   sends (in memory: fast and exact; the right tool for "the app sends X when Y").
2. The simulator: a whole Realtime session on 127.0.0.1, with a ``Responder`` playing the model
   (the right tool for end-to-end flows: tools called, outputs sent, the follow-up answer).
3. ``Recorder`` / ``replay``: record a session once (against the simulator here, the live service
   in real life), then replay its server frames to the app in later tests, no network needed.

Run with ``pytest examples/testing_example`` (the anyio pytest plugin comes with anyio).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realtime_dispatch import events, openai
from realtime_dispatch.simulator import EchoResponder, Reply, Simulator
from realtime_dispatch.testing import Recorder, ScriptedServer, replay

from .app import WeatherBot

pytestmark = pytest.mark.anyio  # every test here is async: run it with anyio's plugin

SESSION = events.Session(type="realtime")


def scripted_server() -> ScriptedServer:
    """The start every connection has: ``session.created``, then the app's ``session.update``."""
    server = ScriptedServer()
    server.on_connect(events.SessionCreated.build(session=SESSION))
    declares_the_tool = lambda e: [tool.name for tool in e.session.tools or []] == ["get_weather"]  # noqa: E731
    server.expect("session.update", declares_the_tool).reply(events.SessionUpdated.build(session=SESSION))
    return server


def items_sent(server: ScriptedServer) -> list[events.ConversationItem]:
    """The items the app created; ``server.sent`` holds every client event the app sent."""
    return [event.item for event in server.sent if isinstance(event, events.ConversationItemCreate)]


def answer(
    response_id: str, *items: events.ServerEvent, output: list[events.ConversationItem] | None = None
) -> list[events.ServerEvent]:
    """A response's events: ``response.created``, ``items``, ``response.done``.

    Send ``response.created`` in your scripts: the app holds a second ``response.create``
    until the first one has been created and is done, as the real server requires.
    """
    return [
        events.ResponseCreated.build(response=events.Response(id=response_id, status="in_progress")),
        *items,
        events.ResponseDone.build(response=events.Response(id=response_id, status="completed", output=output)),
    ]


# --- 1. a scripted server ------------------------------------------------------------------------


async def test_asks_its_question_and_keeps_the_answer() -> None:
    server = scripted_server()
    server.expect("conversation.item.create", lambda e: e.item.role == "user")
    server.expect("response.create").reply(
        *answer("resp_1", events.ResponseOutputTextDone.build(response_id="resp_1", text="Sunny, 18 degrees."))
    )
    app = WeatherBot("Weather in Paris?")
    async with server.run(app) as conn:
        # Wait for the app to get the answer. Waiting starts now, before anything has been sent:
        # the app connects (and runs on_connect) once this block is running.
        await conn.wait_for("response.done", timeout=5)
    assert app.answers == ["Sunny, 18 degrees."]
    question = items_sent(server)[0]
    assert question.role == "user"
    assert question.content is not None
    assert question.content[0].text == "Weather in Paris?"


async def test_a_failing_tool_gives_the_model_its_error() -> None:
    call = events.ConversationItem(
        type="function_call", id="item_1", call_id="call_1", name="get_weather", arguments='{"city": "Atlantis"}'
    )
    server = scripted_server()
    server.expect("conversation.item.create")
    server.expect("response.create").reply(
        *answer("resp_1", events.ResponseOutputItemDone.build(response_id="resp_1", item=call), output=[call])
    )
    # The framework runs the tool, sends its output, then asks for the next response by itself.
    server.expect("conversation.item.create", lambda e: e.item.type == "function_call_output")
    server.expect("response.create").reply(
        *answer("resp_2", events.ResponseOutputTextDone.build(response_id="resp_2", text="I cannot tell."))
    )
    app = WeatherBot("Weather in Atlantis?")
    async with server.run(app) as conn:
        await conn.wait_for("response.done", lambda e: e.response.id == "resp_2", timeout=5)
    output = items_sent(server)[1]
    assert output.type == "function_call_output"
    assert output.call_id == "call_1"
    assert json.loads(output.output or "") == {"error": "no weather station in Atlantis"}
    assert app.answers == ["I cannot tell."]


# --- 2. the simulator ---------------------------------------------------------------------------


class WeatherModel:
    """Plays the model: calls get_weather for the city it is asked about, then reports the output."""

    async def respond(self, conversation: list[events.ConversationItem], session: events.Session) -> Reply:
        last = conversation[-1]
        if last.type == "function_call_output":
            return Reply(text=f"The tool says {last.output}")
        city = "Oslo" if "Oslo" in str(last.content) else "Paris"
        return Reply(tool_calls=[("get_weather", json.dumps({"city": city}))])


async def test_end_to_end_with_a_tool_call() -> None:
    app = WeatherBot("How cold is it in Oslo?")
    async with Simulator(responder=WeatherModel()).serve(host="127.0.0.1", port=0) as base_url:
        await app.run_async(openai("gpt-realtime", base_url=base_url))  # returns when the app closes
    assert app.answers == ['The tool says {"city":"Oslo","celsius":9}']


async def test_the_default_simulator_echoes() -> None:
    app = WeatherBot("Hello!")
    async with Simulator(responder=EchoResponder()).serve(host="127.0.0.1", port=0) as base_url:
        await app.run_async(openai("gpt-realtime", base_url=base_url))
    assert app.answers == ["You said: Hello!"]


# --- 3. record once, replay in tests -----------------------------------------------------------


async def test_a_recorded_session_replays_the_same(tmp_path: Path) -> None:
    recording = tmp_path / "session.jsonl"
    live = WeatherBot("Warm enough in Paris?")
    async with Simulator(responder=WeatherModel()).serve(host="127.0.0.1", port=0) as base_url:
        # A Recorder is a transport factory that writes every frame, both ways, as JSONL.
        await live.run_async(Recorder(openai("gpt-realtime", base_url=base_url), recording))

    # Later (in CI, say): no server at all. replay() delivers the recorded server frames.
    again = WeatherBot("Warm enough in Paris?")
    session = replay(recording)
    await again.run_async(session)
    assert again.answers == live.answers == ['The tool says {"city":"Paris","celsius":18}']
    # The replayed app's own events are kept (session.transports[i].sent), recorded ones in session.connections.
    # A replay does not wait for the app: check what the app sends before the server's frames run out.
    sent = [events.decode_client(frame).type for frame in session.transports[0].sent]
    recorded = [events.decode_client(frame).type for frame in session.connections[0].sent]
    assert sent[:3] == recorded[:3] == ["session.update", "conversation.item.create", "response.create"]
