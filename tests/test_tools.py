"""Tools: schemas from signatures, calls run off the receive loop, outputs and the follow-up
response, errors, timeouts, interruption; in memory and against the simulator."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, ClassVar, Literal

import anyio
import msgspec
import pytest
from conftest import serving

from realtime_dispatch import (
    ConfigError,
    Connection,
    RealtimeApp,
    Router,
    ToolCall,
    ToolError,
    ToolTimeout,
    events,
    on,
    on_error,
    openai,
    tool,
)
from realtime_dispatch.transports import MemoryServer, memory_pair

pytestmark = pytest.mark.anyio


class Point(msgspec.Struct):
    x: float
    y: float


class Schemas(RealtimeApp):
    @tool
    async def get_weather(self, city: str, unit: Literal["c", "f"] = "c") -> str:
        """The current weather in a city.

        More detail that is not part of the description.

        Args:
            city: The city's name,
                in English.
            unit: Celsius or Fahrenheit.
        """
        return f"sunny in {city}"

    @tool(name="distance", description="Distance between two points.", timeout=2)
    def measure(self, a: Point, b: Point, call: ToolCall, conn: Connection, app: Schemas) -> float:
        return float(((a.x - b.x) ** 2 + (a.y - b.y) ** 2) ** 0.5)

    @tool
    async def no_arguments(self) -> None:
        pass


def definitions(app: RealtimeApp) -> dict[str, events.Tool]:
    return {spec.name: spec.definition() for spec in app.router.walk_tools()}


def test_the_schema_comes_from_the_signature_and_the_docstring() -> None:
    weather = definitions(Schemas())["get_weather"]
    assert weather.type == "function"
    assert weather.description == "The current weather in a city."
    assert weather.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "The city's name, in English."},
            "unit": {"enum": ["c", "f"], "default": "c", "description": "Celsius or Fahrenheit."},
        },
        "required": ["city"],
        "additionalProperties": False,
    }


def test_injected_parameters_are_not_in_the_schema_and_nested_types_are_defs() -> None:
    distance = definitions(Schemas())["distance"]
    assert distance.description == "Distance between two points."
    assert distance.parameters is not None
    assert distance.parameters["properties"] == {"a": {"$ref": "#/$defs/Point"}, "b": {"$ref": "#/$defs/Point"}}
    assert distance.parameters["required"] == ["a", "b"]
    assert distance.parameters["$defs"]["Point"]["required"] == ["x", "y"]


def test_a_tool_without_arguments_has_an_empty_object_schema() -> None:
    empty = definitions(Schemas())["no_arguments"]
    assert empty.parameters == {"type": "object", "properties": {}, "required": [], "additionalProperties": False}
    assert empty.description == ""


def test_registration_errors_are_clear() -> None:
    router = Router()
    with pytest.raises(TypeError, match="annotate parameter 'city'"):

        @router.tool
        def untyped(city) -> str:  # type: ignore[no-untyped-def]
            return ""

    with pytest.raises(ValueError, match="must be 1-64 letters"):
        router.add_tool(lambda: "", name="has space")
    with pytest.raises(TypeError, match="plain or keyword parameter"):

        @router.tool
        def star(*cities: str) -> str:
            return ""

    with pytest.raises(ValueError, match="timeout must be positive"):
        router.add_tool(lambda: "", name="zero", timeout=0)

    @router.tool
    def lookup() -> str:
        return ""

    with pytest.raises(ValueError, match="two tools are named 'lookup'"):
        router.add_tool(lambda: "", name="lookup")
    other = Router()
    other.add_tool(lambda: "", name="lookup")
    with pytest.raises(ValueError, match="already declared"):
        router.include_router(other)


def test_two_methods_with_one_tool_name_fail_at_class_definition() -> None:
    with pytest.raises(ValueError, match="both named tool 'same'"):

        class Twice(RealtimeApp):
            @tool(name="same")
            def one(self) -> str:
                return ""

            @tool(name="same")
            def two(self) -> str:
                return ""


# --- running calls, in memory ------------------------------------------------------------------------


def call_item(name: str, arguments: str, call_id: str, response_id: str = "resp_1") -> events.ResponseOutputItemDone:
    item = events.ConversationItem(
        type="function_call", id=f"item_{call_id}", status="completed", call_id=call_id, name=name, arguments=arguments
    )
    return events.ResponseOutputItemDone.build(response_id=response_id, output_index=0, item=item)


def response(event: type[events.ResponseCreated | events.ResponseDone], rid: str = "resp_1", status: str = "completed"):  # type: ignore[no-untyped-def]
    return event.build(response=events.Response(id=rid, status=status, conversation_id="conv_1"))


async def next_sent(server: MemoryServer) -> events.ClientEvent:
    with anyio.fail_after(5):
        return await server.receive_event()


async def expect_output(server: MemoryServer, call_id: str) -> str:
    event = await next_sent(server)
    assert isinstance(event, events.ConversationItemCreate), event
    assert event.item.type == "function_call_output"
    assert event.item.call_id == call_id
    assert event.item.output is not None
    return event.item.output


async def one_call(server: MemoryServer, name: str, arguments: str, status: str = "completed") -> None:
    await server.send_event(response(events.ResponseCreated))
    await server.send_event(call_item(name, arguments, "c1"))
    await server.send_event(response(events.ResponseDone, status=status))


class Calculator(RealtimeApp):
    def __init__(self) -> None:
        super().__init__()
        self.errors: list[BaseException] = []
        self.calls: list[ToolCall] = []

    @tool
    async def add(self, a: int, b: int, call: ToolCall) -> int:
        self.calls.append(call)
        return a + b

    @tool
    def divide(self, a: float, b: float) -> dict[str, float]:
        """Sync: runs in a worker thread."""
        return {"quotient": a / b}

    @tool
    async def lookup(self, key: str) -> str:
        raise ToolError(f"no entry for {key}")

    @tool(timeout=0.05)
    async def hang(self) -> str:
        await anyio.sleep_forever()
        return ""

    @on_error(Exception)
    def failed(self, exc: Exception) -> None:
        self.errors.append(exc)


async def test_a_call_runs_and_its_output_then_one_response_create_go_back() -> None:
    app = Calculator()
    async with serving(app) as server:
        assert isinstance(await next_sent(server), events.SessionUpdate)
        await one_call(server, "add", '{"a": 2, "b": 3}')
        assert await expect_output(server, "c1") == "5"
        assert isinstance(await next_sent(server), events.ResponseCreate)
    assert app.calls == [ToolCall("add", "c1", '{"a": 2, "b": 3}', "item_c1", "resp_1")]
    assert app.errors == []


async def test_the_session_update_carries_the_tools_after_the_sessions_own() -> None:
    class WithSession(Calculator):
        session = events.Session(
            type="realtime",
            instructions="Be brief.",
            tools=[events.Tool(type="mcp", server_label="docs", server_url="https://example.invalid/mcp")],
        )

    async with serving(WithSession()) as server:
        update = await next_sent(server)
        assert isinstance(update, events.SessionUpdate)
        assert update.session.instructions == "Be brief."
        names = [t.name or t.server_label for t in update.session.tools or []]
        assert names == ["docs", "add", "divide", "lookup", "hang"]


async def test_a_tool_declared_in_the_session_too_is_refused_before_connecting() -> None:
    class Clash(Calculator):
        session = events.Session(type="realtime", tools=[events.Tool(type="function", name="add")])

    client, server = memory_pair()
    try:
        with pytest.raises(ConfigError, match=r"session\.tools already declares add"):
            async with Clash().connect(client):
                pass
    finally:
        await client.aclose()
        await server.close()


async def test_without_a_session_one_is_made_for_the_tools() -> None:
    async with serving(Calculator()) as server:
        update = await next_sent(server)
        assert isinstance(update, events.SessionUpdate)
        assert update.session.type == "realtime"
        assert len(update.session.tools or []) == 4


async def test_a_sync_tool_runs_in_a_thread_and_its_result_is_json() -> None:
    main_thread = threading.get_ident()
    seen: list[int] = []

    class Sync(RealtimeApp):
        @tool
        def where(self) -> dict[str, bool]:
            seen.append(threading.get_ident())
            return {"ok": True}

    async with serving(Sync()) as server:
        await next_sent(server)
        await one_call(server, "where", "{}")
        assert json.loads(await expect_output(server, "c1")) == {"ok": True}
    assert seen
    assert seen[0] != main_thread


async def test_parallel_calls_all_answer_before_one_follow_up_response() -> None:
    release = anyio.Event()
    order: list[str] = []

    class Parallel(RealtimeApp):
        @tool
        async def slow(self) -> str:
            await release.wait()
            order.append("slow")
            return "slow done"

        @tool
        async def fast(self) -> str:
            order.append("fast")
            return "fast done"

    async with serving(Parallel()) as server:
        await next_sent(server)
        await server.send_event(response(events.ResponseCreated))
        await server.send_event(call_item("slow", "{}", "c1"))
        await server.send_event(call_item("fast", "{}", "c2"))
        await server.send_event(response(events.ResponseDone))
        assert await expect_output(server, "c2") == "fast done"  # each output goes as soon as it is ready
        await anyio.sleep(0.05)
        release.set()
        assert await expect_output(server, "c1") == "slow done"
        assert isinstance(await next_sent(server), events.ResponseCreate)
        await server.send_event(response(events.ResponseCreated, "resp_2"))
        await server.send_event(response(events.ResponseDone, "resp_2"))
        with anyio.move_on_after(0.1):
            extra = await server.receive_event()
            pytest.fail(f"one follow-up only, but the app also sent {extra}")
    assert order == ["fast", "slow"]


async def test_a_tool_that_raises_gives_the_model_an_error_and_the_error_handler_the_exception() -> None:
    app = Calculator()
    async with serving(app) as server:
        await next_sent(server)
        await one_call(server, "divide", '{"a": 1, "b": 0}')
        assert json.loads(await expect_output(server, "c1")) == {"error": "ZeroDivisionError: float division by zero"}
        assert isinstance(await next_sent(server), events.ResponseCreate)  # the model can apologise
    assert [type(e) for e in app.errors] == [ZeroDivisionError]


async def test_tool_error_is_the_models_message_and_not_reported(caplog: pytest.LogCaptureFixture) -> None:
    app = Calculator()
    async with serving(app) as server:
        await next_sent(server)
        await one_call(server, "lookup", '{"key": "k9"}')
        assert json.loads(await expect_output(server, "c1")) == {"error": "no entry for k9"}
    assert app.errors == []


async def test_a_tool_past_its_timeout_is_cancelled_and_reported() -> None:
    app = Calculator()
    async with serving(app) as server:
        await next_sent(server)
        await one_call(server, "hang", "{}")
        assert json.loads(await expect_output(server, "c1")) == {"error": "the tool timed out after 0.05 s"}
        assert isinstance(await next_sent(server), events.ResponseCreate)
    assert len(app.errors) == 1
    assert isinstance(app.errors[0], ToolTimeout)
    assert app.errors[0].name == "hang"


async def test_the_app_wide_tool_timeout_applies_to_tools_without_their_own() -> None:
    class Impatient(RealtimeApp):
        tool_timeout = 0.05

        @tool
        async def wait(self) -> str:
            await anyio.sleep_forever()
            return ""

    async with serving(Impatient()) as server:
        await next_sent(server)
        await one_call(server, "wait", "{}")
        assert "timed out after 0.05 s" in await expect_output(server, "c1")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ('{"a": "two", "b": 3}', "invalid arguments: Expected `int`, got `str` - at `$.a`"),
        ('{"a": 2}', "invalid arguments: Object missing required field `b`"),
        ('{"a": 2, "b": 3, "c": 4}', "invalid arguments: Object contains unknown field `c`"),
        ('{"a": 2, "b"', "invalid arguments: Input data was truncated"),
    ],
)
async def test_bad_arguments_give_the_model_the_validation_error(
    arguments: str, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = Calculator()
    with caplog.at_level(logging.WARNING, "realtime_dispatch.tools"):
        async with serving(app) as server:
            await next_sent(server)
            await one_call(server, "add", arguments)
            assert json.loads(await expect_output(server, "c1")) == {"error": message}
            assert isinstance(await next_sent(server), events.ResponseCreate)  # so the model can try again
    assert app.calls == []
    assert app.errors == []  # the model's mistake is not a bug in the app
    assert "tool add: invalid arguments" in caplog.text


async def test_an_unknown_tool_gets_an_error_listing_the_tools() -> None:
    async with serving(Calculator()) as server:
        await next_sent(server)
        await one_call(server, "subtract", "{}")
        output = json.loads(await expect_output(server, "c1"))
        assert output == {"error": "unknown tool 'subtract'; the tools are: add, divide, hang, lookup"}


async def test_an_incomplete_call_of_an_interrupted_response_is_not_run() -> None:
    app = Calculator()
    async with serving(app) as server:
        await next_sent(server)
        await server.send_event(response(events.ResponseCreated))
        partial = call_item("add", '{"a": 1', "c1")
        partial.item.status = "incomplete"
        await server.send_event(partial)
        await server.send_event(response(events.ResponseDone, status="cancelled"))
        with anyio.move_on_after(0.1):
            extra = await server.receive_event()
            pytest.fail(f"nothing to answer, but the app sent {extra}")
    assert app.calls == []


async def test_audio_keeps_flowing_while_a_slow_tool_runs() -> None:
    release = anyio.Event()
    finished = anyio.Event()
    deltas_while_running: list[int] = []

    class Voice(RealtimeApp):
        received = 0
        all_received = anyio.Event()

        @on("response.output_audio.delta")
        def play(self, event: events.ResponseOutputAudioDelta) -> None:
            self.received += 1
            if self.received == 50:
                self.all_received.set()
            if not finished.is_set():
                deltas_while_running.append(self.received)

        @tool
        async def slow_lookup(self) -> str:
            await release.wait()
            finished.set()
            return "found"

    app = Voice()
    async with serving(app) as server:
        await next_sent(server)
        await server.send_event(response(events.ResponseCreated))
        await server.send_event(call_item("slow_lookup", "{}", "c1"))
        for _ in range(50):
            await server.send_event(events.ResponseOutputAudioDelta.build(delta="AAAA"))
        with anyio.fail_after(5):
            await app.all_received.wait()
        release.set()
        assert await expect_output(server, "c1") == "found"
    assert len(deltas_while_running) == 50  # every delta was handled while the tool was still working


async def test_a_blocking_sync_tool_does_not_hold_the_receive_loop() -> None:
    release = threading.Event()

    class Blocking(RealtimeApp):
        received = 0
        all_received = anyio.Event()

        @on("response.output_text.delta")
        def text(self) -> None:
            self.received += 1
            if self.received == 10:
                self.all_received.set()

        @tool
        def blocking(self) -> str:
            release.wait(5)
            return "done"

    app = Blocking()
    async with serving(app) as server:
        await next_sent(server)
        await server.send_event(call_item("blocking", "{}", "c1"))
        for _ in range(10):
            await server.send_event(events.ResponseOutputTextDelta.build(delta="x"))
        with anyio.fail_after(5):
            await app.all_received.wait()
        release.set()
        assert await expect_output(server, "c1") == "done"


class Interruptible(RealtimeApp):
    def __init__(self) -> None:
        super().__init__()
        self.started = anyio.Event()
        self.release = anyio.Event()
        self.outcome: list[str] = []

    @tool
    async def book(self) -> str:
        self.started.set()
        try:
            await self.release.wait()
        except anyio.get_cancelled_exc_class():
            self.outcome.append("cancelled")
            raise
        self.outcome.append("finished")
        return "booked"


async def test_interruption_cancels_running_tools_and_skips_the_follow_up() -> None:
    app = Interruptible()
    async with serving(app) as server:
        await next_sent(server)
        await server.send_event(response(events.ResponseCreated))
        await server.send_event(call_item("book", "{}", "c1"))
        with anyio.fail_after(5):
            await app.started.wait()
        await server.send_event(response(events.ResponseDone, status="cancelled"))
        output = json.loads(await expect_output(server, "c1"))
        assert output == {"error": "cancelled: the user interrupted the response"}
        with anyio.move_on_after(0.1):
            extra = await server.receive_event()
            pytest.fail(f"no follow-up after an interruption, but the app sent {extra}")
    assert app.outcome == ["cancelled"]


async def test_with_the_finish_policy_interrupted_tools_complete_without_a_follow_up() -> None:
    class Patient(Interruptible):
        tool_interruption = "finish"

    app = Patient()
    async with serving(app) as server:
        await next_sent(server)
        await server.send_event(response(events.ResponseCreated))
        await server.send_event(call_item("book", "{}", "c1"))
        with anyio.fail_after(5):
            await app.started.wait()
        await server.send_event(response(events.ResponseDone, status="cancelled"))
        await anyio.sleep(0.02)
        app.release.set()
        assert await expect_output(server, "c1") == "booked"
        with anyio.move_on_after(0.1):
            extra = await server.receive_event()
            pytest.fail(f"no follow-up after an interruption, but the app sent {extra}")
    assert app.outcome == ["finished"]


async def test_the_follow_up_waits_for_a_response_already_in_progress() -> None:
    app = Interruptible()
    async with serving(app) as server:
        await next_sent(server)
        await one_call(server, "book", "{}")
        with anyio.fail_after(5):
            await app.started.wait()
        await server.send_event(response(events.ResponseCreated, "resp_2"))  # the user spoke meanwhile
        app.release.set()
        assert await expect_output(server, "c1") == "booked"
        with anyio.move_on_after(0.1):
            early = await server.receive_event()
            pytest.fail(f"the follow-up must wait for resp_2, but the app sent {early}")
        await server.send_event(response(events.ResponseDone, "resp_2"))
        assert isinstance(await next_sent(server), events.ResponseCreate)


async def test_router_tools_report_to_their_routers_error_handlers() -> None:
    router = Router("bookings")
    caught: list[BaseException] = []

    @router.tool
    async def cancel_booking(reference: str, conn: Connection, call: ToolCall) -> str:
        assert isinstance(conn, Connection)
        raise KeyError(reference)

    @router.on_error(KeyError)
    def missing(exc: KeyError) -> None:
        caught.append(exc)

    app = RealtimeApp()
    app.include_router(router)
    async with serving(app) as server:
        update = await next_sent(server)
        assert isinstance(update, events.SessionUpdate)
        assert [t.name for t in update.session.tools or []] == ["cancel_booking"]
        await one_call(server, "cancel_booking", '{"reference": "R1"}')
        assert json.loads(await expect_output(server, "c1")) == {"error": "KeyError: 'R1'"}
    assert [type(e) for e in caught] == [KeyError]


async def test_a_result_that_is_not_json_is_an_error_output() -> None:
    class Odd(RealtimeApp):
        errors: ClassVar[list[BaseException]] = []

        @tool
        async def opaque(self) -> Any:
            return object()

        @on_error()
        def failed(self, exc: Exception) -> None:
            self.errors.append(exc)

    app = Odd()
    async with serving(app) as server:
        await next_sent(server)
        await one_call(server, "opaque", "{}")
        assert json.loads(await expect_output(server, "c1"))["error"].startswith("TypeError: ")
    assert len(app.errors) == 1


# --- against the simulator, over a real socket ---------------------------------------------------------


async def test_a_tool_round_trip_against_the_simulator() -> None:
    from realtime_dispatch.simulator import Simulator

    answered = anyio.Event()

    class Clock(RealtimeApp):
        session = events.Session(type="realtime", output_modalities=["text"])
        texts: ClassVar[list[str]] = []

        @tool
        async def get_time(self, call: ToolCall) -> str:
            """The current time, as HH:MM."""
            return "12:34"

        async def on_connect(self, connection: Connection) -> None:
            await connection.create_item(events.ConversationItem.message("user", "What is the time? Use get_time."))
            await connection.create_response()

        @on("response.output_text.done")
        def text(self, event: events.ResponseOutputTextDone) -> None:
            self.texts.append(event.text)
            answered.set()

    app = Clock()
    async with (
        Simulator().serve(host="127.0.0.1", port=0) as base_url,
        app.connect(openai("gpt-realtime", base_url=base_url, api_key="sk-test")),
    ):
        with anyio.fail_after(5):
            await answered.wait()
    assert app.texts == ["Tool get_time returned: 12:34"]


async def test_calls_of_a_lost_connection_are_cancelled_and_not_answered_on_the_next() -> None:
    from realtime_dispatch import Reconnect
    from realtime_dispatch.transports import MemoryTransport

    class Agent(Interruptible):
        reconnect = Reconnect(initial_delay=0.01)

    servers: list[MemoryServer] = []
    clients: list[MemoryTransport] = []
    opened = [anyio.Event(), anyio.Event()]

    async def factory() -> MemoryTransport:
        client, server = memory_pair()
        servers.append(server)
        clients.append(client)
        opened[len(servers) - 1].set()
        return client

    app = Agent()
    try:
        async with app.connect(factory):
            await opened[0].wait()
            first = servers[0]
            await next_sent(first)
            await first.send_event(response(events.ResponseCreated))
            await first.send_event(call_item("book", "{}", "c1"))
            with anyio.fail_after(5):
                await app.started.wait()
            await first.close(1006, "lost")
            with anyio.fail_after(5):
                await opened[1].wait()
            second = servers[1]
            assert isinstance(await next_sent(second), events.SessionUpdate)
            with anyio.move_on_after(0.1):
                extra = await second.receive_event()
                pytest.fail(f"the new session does not know call c1, but the app sent {extra}")
    finally:
        for server in servers:
            await server.close()
        for client in clients:
            await client.aclose()
    assert app.outcome == ["cancelled"]


async def test_a_recorded_tool_turn_replays_with_the_tool_output() -> None:
    from realtime_dispatch.simulator import Simulator
    from realtime_dispatch.testing import Recorder, replay

    class Clock(RealtimeApp):
        session = events.Session(type="realtime", output_modalities=["text"])
        answers = 0

        @tool
        async def get_time(self) -> str:
            return "12:34"

        async def on_connect(self, connection: Connection) -> None:
            if self.answers == 0:
                await connection.create_item(events.ConversationItem.message("user", "get_time please"))
                await connection.create_response()

        @on("response.done")
        async def done(self, event: events.ResponseDone, conn: Connection) -> None:
            if not any(item.type == "function_call" for item in event.response.output or []):
                self.answers += 1
                await conn.close()

    lines: list[str] = []
    async with Simulator().serve(host="127.0.0.1", port=0) as base_url:
        with anyio.fail_after(5):
            await Clock().run_async(Recorder(openai("gpt-realtime", base_url=base_url), lines))
    recorded = [json.loads(line) for line in lines]
    assert any(line["dir"] == "out" and line["frame"].get("item", {}).get("output") == "12:34" for line in recorded)

    played = replay(recorded)
    with anyio.fail_after(5):
        await Clock().run_async(played)
    sent = [json.loads(frame) for frame in played.transports[0].sent]
    outputs = [frame["item"].get("output") for frame in sent if frame["type"] == "conversation.item.create"]
    assert "12:34" in outputs  # the tool ran between the recorded frames, as it did live


async def test_a_call_reported_twice_runs_once_with_one_follow_up() -> None:
    app = Calculator()
    async with serving(app) as server:
        await next_sent(server)
        await server.send_event(response(events.ResponseCreated))
        await server.send_event(call_item("add", '{"a": 1, "b": 1}', "c1"))
        await server.send_event(call_item("add", '{"a": 1, "b": 1}', "c1"))
        await server.send_event(response(events.ResponseDone))
        assert await expect_output(server, "c1") == "2"
        assert isinstance(await next_sent(server), events.ResponseCreate)
        with anyio.move_on_after(0.1):
            extra = await server.receive_event()
            pytest.fail(f"one run and one follow-up, but the app also sent {extra}")
    assert len(app.calls) == 1


def test_a_tool_method_under_another_attribute_name_binds() -> None:
    async def lookup(self: RealtimeApp, key: str) -> str:
        return key

    class Aliased(RealtimeApp):
        find = tool(name="find")(lookup)

    app = Aliased()
    [spec] = list(app.router.walk_tools())
    assert spec.name == "find"
    assert spec.fn == app.find
