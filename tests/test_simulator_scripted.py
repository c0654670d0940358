"""``ScriptedResponder`` (canned turns) and ``realtime-dispatch simulate --script / --responder``."""

from __future__ import annotations

import json
import math
import re
import signal
import struct
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from realtime_dispatch import Connection, RealtimeApp, events, on, openai, tool
from realtime_dispatch._cli import main
from realtime_dispatch.audio import send_audio
from realtime_dispatch.simulator import Reply, Responder, ScriptedResponder, Simulator

SCRIPT: list[dict[str, Any]] = [
    {"text": "Hello from the script."},
    {
        "when": "weather",
        "tool_call": {"name": "get_weather", "arguments": {"city": "Paris"}},
        "text": "Sunny in Paris, says the tool.",
    },
    {"transcript": "What time is it?", "text": "Half past twelve."},
]

SESSION = events.Session(type="realtime")


def user(text: str) -> events.ConversationItem:
    return events.ConversationItem.message("user", text, id=f"item_{uuid.uuid4().hex[:8]}")


def spoken(transcript: str | None = None) -> events.ConversationItem:
    part = events.ContentPart(type="input_audio", transcript=transcript)
    return events.ConversationItem(type="message", role="user", content=[part])


def output(text: str) -> events.ConversationItem:
    return events.ConversationItem(type="function_call_output", call_id="call_1", output=text)


def tone(ms: int) -> bytes:
    samples = 24 * ms
    return struct.pack(f"<{samples}h", *(round(8000 * math.sin(2 * math.pi * 440 * n / 24000))
                                          for n in range(samples)))  # fmt: skip


# --- the responder on its own ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_turns_play_in_order_and_when_turns_match_by_substring() -> None:
    responder: Responder = ScriptedResponder(SCRIPT)
    assert await responder.respond([user("hi")], SESSION) == Reply(text="Hello from the script.")
    assert await responder.respond([user("How is the WEATHER?")], SESSION) == Reply(
        tool_calls=[("get_weather", '{"city":"Paris"}')]
    )
    conversation = [user("How is the WEATHER?"), output("sunny")]
    assert await responder.respond(conversation, SESSION) == Reply(text="Sunny in Paris, says the tool.")
    assert await responder.respond([user("and the weather now?")], SESSION) == Reply(
        tool_calls=[("get_weather", '{"city":"Paris"}')]
    )  # a `when` turn answers as often as it matches, without moving the ordered turns on
    assert await responder.respond([user("x"), output("rain")], SESSION) == Reply(text="Sunny in Paris, says the tool.")
    assert await responder.respond([user("next")], SESSION) == Reply(text="Half past twelve.")
    assert await responder.respond([user("again")], SESSION) == Reply(text="Hello from the script.")  # starts over


@pytest.mark.anyio
async def test_audio_is_transcribed_and_answered_by_the_next_turn_in_order() -> None:
    responder = ScriptedResponder(SCRIPT)
    assert await responder.respond([user("hi")], SESSION) == Reply(text="Hello from the script.")
    assert await responder.transcribe(tone(500)) == "What time is it?"
    assert await responder.transcribe(tone(500)) == "What time is it?"  # transcribing does not move the script
    # Audio goes to the next ordered turn even when its transcript names a `when` turn.
    assert await responder.respond([spoken("the weather?")], SESSION) == Reply(text="Half past twelve.")
    assert await responder.transcribe(bytes(48 * 2400)) == "(2.4 s of audio)"  # the next turn has no transcript


@pytest.mark.anyio
async def test_scripts_with_only_when_turns_and_string_arguments() -> None:
    responder = ScriptedResponder(
        [{"when": "book", "tool_call": {"name": "book", "arguments": '{"seats": 2}'}, "text": "Booked."}]
    )
    assert await responder.respond([user("Book it")], SESSION) == Reply(tool_calls=[("book", '{"seats": 2}')])
    assert await responder.respond([user("hello")], SESSION) == Reply(text="(no scripted turn matches)")
    assert await responder.respond([], SESSION) == Reply(text="(no scripted turn matches)")
    assert await responder.transcribe(bytes(48 * 1000)) == "(1.0 s of audio)"
    assert ScriptedResponder([{"tool_call": {"name": "f"}}]).turns[0].tool_call.arguments_json() == "{}"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("turns", "message"),
    [
        ([{"when": "x"}], "turn 0: needs a 'text' or a 'tool_call'"),
        ([{"text": "a"}, {"text": "b", "colour": "red"}], "unknown field `colour`"),
        ([{"text": 3}], "Expected `str | null`, got `int`"),
        ([{"tool_call": {"arguments": {}}}], "missing required field `name`"),
        ([{"tool_call": {"name": "f", "arguments": "{nope"}}], "turn 0: tool_call.arguments is not valid JSON"),
        ([{"when": "x", "text": "a", "transcript": "b"}], "a 'when' turn cannot have a 'transcript'"),
        ([{"when": "", "text": "a"}], "turn 0: 'when' is empty"),
    ],
)
def test_bad_turns_are_value_errors(turns: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        ScriptedResponder(turns)


def test_from_file_reads_a_json_list(tmp_path: Path) -> None:
    path = tmp_path / "turns.json"
    path.write_text(json.dumps(SCRIPT))
    assert [turn.text for turn in ScriptedResponder.from_file(path).turns] == [turn["text"] for turn in SCRIPT]
    path.write_text('{"text": "not a list"}')
    with pytest.raises(ValueError, match=re.escape("turns.json: not a list of turns: Expected `array`, got `object`")):
        ScriptedResponder.from_file(path)
    path.write_text("[{")
    with pytest.raises(ValueError, match=re.escape("turns.json: invalid JSON")):
        ScriptedResponder.from_file(path)
    path.write_text('[{"when": "x"}]')
    with pytest.raises(ValueError, match=re.escape("turns.json: turn 0: needs a 'text'")):
        ScriptedResponder.from_file(path)
    with pytest.raises(FileNotFoundError):
        ScriptedResponder.from_file(tmp_path / "missing.json")


# --- end to end: the simulator playing a script to a RealtimeApp --------------------------------------


class ScriptedUser(RealtimeApp):
    """Says hello, asks about the weather (the script calls get_weather), then speaks; records what it hears."""

    session = events.Session(
        type="realtime",
        output_modalities=["text"],
        audio=events.SessionAudio(
            input=events.AudioInput(
                transcription=events.AudioTranscription(model="gpt-4o-transcribe"),
                turn_detection=events.TurnDetection(type="server_vad", create_response=False),
            )
        ),
    )

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[str] = []
        self.transcripts: list[str] = []
        self.cities: list[str] = []
        self.audio_bytes = 0

    @tool
    async def get_weather(self, city: str) -> str:
        """The weather in a city."""
        self.cities.append(city)
        return "sunny"

    async def on_connect(self, connection: Connection) -> None:
        await connection.create_item(events.ConversationItem.message("user", "Hi"))
        await connection.create_response()

    @on("conversation.item.input_audio_transcription.completed")
    def heard(self, event: events.InputAudioTranscriptionCompleted) -> None:
        self.transcripts.append(event.transcript)

    @on("input_audio_buffer.committed")
    async def answer_aloud(self, conn: Connection) -> None:
        await conn.create_response(events.ResponseParams(output_modalities=["audio"]))

    @on("response.output_audio.delta")
    def count_audio(self, event: events.ResponseOutputAudioDelta) -> None:
        self.audio_bytes += len(event.pcm)

    @on("response.done")
    async def done(self, event: events.ResponseDone, conn: Connection) -> None:
        outputs = event.response.output or []
        if any(item.type == "function_call" for item in outputs):
            return  # the app runs the tool and asks for the answer
        for item in outputs:
            for part in item.content or []:
                self.answers.append(part.text or part.transcript or "")
        if len(self.answers) == 1:
            await conn.create_item(events.ConversationItem.message("user", "What's the weather like?"))
            await conn.create_response()
        elif len(self.answers) == 2:
            await send_audio(conn, tone(800) + bytes(48 * 400), realtime=False, commit=False)
        else:
            await conn.close()


@pytest.mark.anyio
async def test_a_script_plays_to_an_app_text_tool_call_and_audio_turns() -> None:
    app = ScriptedUser()
    async with Simulator(responder=ScriptedResponder(SCRIPT)).serve(host="127.0.0.1", port=0) as base_url:
        with anyio.fail_after(20):
            await app.run_async(openai("gpt-realtime", base_url=base_url, api_key="sk-test"))
    assert app.answers == ["Hello from the script.", "Sunny in Paris, says the tool.", "Half past twelve."]
    assert app.cities == ["Paris"]
    assert app.transcripts == ["What time is it?"]
    assert app.audio_bytes > 0  # the scripted text was spoken: the response asked for audio


# --- the CLI ------------------------------------------------------------------------------------------

RESPONDER_SOURCE = """
from realtime_dispatch.simulator import Reply


class Shouter:
    async def respond(self, conversation, session):
        return Reply(text="HELLO FROM A MODULE")


class NeedsArgs(Shouter):
    def __init__(self, volume):
        pass


class NoRespond:
    pass


thing = 42
"""


@pytest.fixture
def responder_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An importable module of responders, unique so no stale ``sys.modules`` entry interferes."""
    name = f"sim_responders_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(RESPONDER_SOURCE)
    (tmp_path / f"{name}_broken.py").write_text("import sim_dependency_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return name


class Ask(RealtimeApp):
    """Asks one question, keeps the answer, closes."""

    session = events.Session(type="realtime", output_modalities=["text"])
    answer = ""

    async def on_connect(self, connection: Connection) -> None:
        await connection.create_item(events.ConversationItem.message("user", "Hi"))
        await connection.create_response()

    @on("response.output_text.done")
    async def done(self, event: events.ResponseOutputTextDone, conn: Connection) -> None:
        self.answer = event.text
        await conn.close()


@pytest.fixture
def simulate() -> Iterator[Any]:
    """Start ``realtime-dispatch simulate --port 0 ARGS...`` in a subprocess; yields its base URL; Ctrl-C at the end."""
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str) -> str:
        command = [sys.executable, "-m", "realtime_dispatch", "simulate", "--port", "0", *args]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"(ws://\S+/v1)/realtime", line)
        assert match, line + (process.stderr.read() if process.stderr else "")
        return match.group(1)

    yield start
    for process in processes:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 130
        assert "Traceback" not in err


def ask(url: str) -> str:
    app = Ask()

    async def run() -> None:
        with anyio.fail_after(20):
            await app.run_async(openai("gpt-realtime", base_url=url, api_key="sk-test"))

    anyio.run(run)
    return app.answer


def test_simulate_script_plays_the_file(tmp_path: Path, simulate: Any) -> None:
    script = tmp_path / "turns.json"
    script.write_text(json.dumps([{"text": "First."}, {"text": "Second."}]))
    url = simulate("--script", str(script))
    assert [ask(url), ask(url), ask(url)] == ["First.", "Second.", "First."]  # one turn per connection here


def test_simulate_responder_builds_the_class(responder_module: str, simulate: Any) -> None:
    url = simulate("--responder", f"{responder_module}:Shouter")
    assert ask(url) == "HELLO FROM A MODULE"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--responder", "no_colon"], "'no_colon' is not MODULE:CLASS"),
        (["--responder", "sim_no_such_module_here:X"], "no module named 'sim_no_such_module_here'"),
        (["--responder", "{module}_broken:X"], "cannot import '{module}_broken': ModuleNotFoundError: No module named"),
        (["--responder", "{module}:Missing"], "has no attribute 'Missing'"),
        (["--responder", "{module}:thing"], "{module}:thing is a int, not a class"),
        (["--responder", "{module}:NeedsArgs"], "cannot be constructed with no arguments"),
        (["--responder", "{module}:NoRespond"], "has no respond() method: not a Responder"),
        (["--script", "{tmp}/missing.json"], "cannot read the script '{tmp}/missing.json': No such file or directory"),
        (["--script", "{tmp}/invalid.json"], "bad script: {tmp}/invalid.json: invalid JSON: "),
        (["--script", "{tmp}/wrong.json"], "bad script: {tmp}/wrong.json: turn 1: needs a 'text' or a 'tool_call'"),
    ],
)
def test_simulate_usage_errors_are_one_line_and_exit_2(
    args: list[str], message: str, responder_module: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "invalid.json").write_text("[{'text': 'single quotes'}]")
    (tmp_path / "wrong.json").write_text('[{"text": "fine"}, {"transcript": "no answer"}]')
    args = [arg.format(module=responder_module, tmp=tmp_path) for arg in args]
    assert main(["simulate", "--port", "0", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # it never started serving
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("realtime-dispatch simulate: error: ")
    assert message.format(module=responder_module, tmp=tmp_path) in lines[0]


def test_simulate_usage_error_as_a_subprocess(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "realtime_dispatch", "simulate", "--script", str(tmp_path / "missing.json")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "realtime-dispatch simulate: error: cannot read the script" in result.stderr
    both = subprocess.run(
        [sys.executable, "-m", "realtime_dispatch", "simulate", "--script", "a.json", "--responder", "m:C"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr
