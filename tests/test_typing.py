"""Static typing: mypy ties a handler's event parameter to the key it is registered for.

Two mypy runs in all (one file that must pass, one whose every marked line must fail), and
a check that the generated overloads in ``realtime_dispatch/_keys.py`` are up to date.
"""

import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GOOD = """
from collections.abc import Callable, Coroutine
from typing import Any, assert_type

from realtime_dispatch import Connection, RealtimeApp, Router, events, on

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


async def waiting(conn: Connection) -> None:
    done = await conn.wait_for(events.ResponseDone, lambda e: e.response.status == "completed")
    assert_type(done, events.ResponseDone)
    assert_type(await conn.wait_for("response.done"), events.ServerEvent)
    expected = conn.expect(events.ResponseCreated)
    assert_type(await expected.wait(1), events.ResponseCreated)
    assert_type(expected.event, events.ResponseCreated | None)
"""

BAD = """
from realtime_dispatch import Connection, RealtimeApp, Router, events, on

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

    bad = tmp_path / "bad_handlers.py"
    source = textwrap.dedent(BAD).lstrip()
    bad.write_text(source)
    expected = {number for number, line in enumerate(source.splitlines(), 1) if "# E:" in line}
    assert len(expected) == 5
    failed = mypy(bad, tmp_path / "cache-bad")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert error_lines(failed.stdout, str(bad)) == expected, failed.stdout
    codes = r"\[(arg-type|call-overload|attr-defined)\]"
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
