"""A Router is a blueprint: declared once, included by any number of apps, each binding it when it starts."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import serving, settle

from realtime_dispatch import RealtimeApp, Router, events, on_error

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent

# Declared once, at import time, as users do.
shared = Router("shared")
seen: list[tuple[str, str]] = []


@shared.on("conversation.item.deleted")
def record(event: events.ConversationItemDeleted, app: RealtimeApp) -> None:
    seen.append((app.router.name, event.item_id))
    if event.item_id == "boom":
        raise ValueError(f"boom in {app.router.name}")


class Catching(RealtimeApp):
    def __init__(self, name: str) -> None:
        super().__init__(name=name)
        self.caught: list[str] = []

    @on_error(ValueError)
    def failed(self, exc: ValueError) -> None:
        self.caught.append(str(exc))


def deleted(item_id: str) -> events.ConversationItemDeleted:
    return events.ConversationItemDeleted.build(item_id=item_id)


@pytest.fixture(autouse=True)
def _clear_seen() -> None:
    seen.clear()


async def test_one_router_in_two_apps_one_after_the_other() -> None:
    first, second = Catching("first"), Catching("second")
    assert first.include_router(shared) is shared
    assert second.include_router(shared) is shared
    assert shared.parents[-2:] == [first.router, second.router]
    for app in (first, second):
        async with serving(app) as server:
            await server.send_event(deleted("a"))
            await server.send_event(deleted("boom"))
            await settle(app, server)
    assert seen == [("first", "a"), ("first", "boom"), ("second", "a"), ("second", "boom")]
    assert first.caught == ["boom in first"]  # each app's root handles its own run's errors
    assert second.caught == ["boom in second"]


async def test_one_router_in_two_apps_at_the_same_time() -> None:
    first, second = Catching("first"), Catching("second")
    first.include_router(shared)
    second.include_router(shared)
    async with serving(first) as one, serving(second) as two:
        await one.send_event(deleted("boom"))
        await two.send_event(deleted("b"))
        await two.send_event(deleted("boom"))
        await one.send_event(deleted("a"))
        await settle(first, one)
        await settle(second, two)
    assert [item for name, item in seen if name == "first"] == ["boom", "a"]
    assert [item for name, item in seen if name == "second"] == ["b", "boom"]
    assert first.caught == ["boom in first"]
    assert second.caught == ["boom in second"]


async def test_errors_of_a_nested_shared_router_go_up_each_apps_own_path() -> None:
    inner = Router("inner")

    @inner.on("conversation.item.deleted")
    def fail(event: events.ConversationItemDeleted) -> None:
        raise KeyError(event.item_id)

    outer_one, outer_two = Router("outer_one"), Router("outer_two")
    caught: list[str] = []
    outer_one.on_error(KeyError)(lambda exc: caught.append(f"outer_one {exc}"))
    outer_two.on_error(KeyError)(lambda exc: caught.append(f"outer_two {exc}"))
    outer_one.include_router(inner)
    outer_two.include_router(inner)
    one, two, direct = RealtimeApp(name="one"), RealtimeApp(name="two"), RealtimeApp(name="direct")
    one.include_router(outer_one)
    two.include_router(outer_two)
    direct.include_router(inner)
    direct.router.on_error(KeyError)(lambda exc: caught.append(f"direct {exc}"))
    assert list(one.router.walk()) == [one.router, outer_one, inner]
    assert list(two.router.walk()) == [two.router, outer_two, inner]
    async with serving(one) as s1, serving(two) as s2, serving(direct) as s3:
        for app, server, item in ((one, s1, "x"), (two, s2, "y"), (direct, s3, "z")):
            await server.send_event(deleted(item))
            await settle(app, server)
    assert caught == ["outer_one 'x'", "outer_two 'y'", "direct 'z'"]


def test_cycles_are_still_refused() -> None:
    a, b, c, other = Router("a"), Router("b"), Router("c"), Router("other")
    a.include_router(b)
    b.include_router(c)
    other.include_router(c)  # c is shared: fine
    with pytest.raises(RuntimeError, match="cycle"):
        a.include_router(a)
    with pytest.raises(RuntimeError, match="cycle"):
        c.include_router(a)  # indirectly
    with pytest.raises(RuntimeError, match="cycle"):
        c.include_router(other)  # through the other parent
    assert c.routers == []
    assert a.parents == []
    assert other.parents == []


def test_a_router_appears_once_in_one_tree() -> None:
    leaf, left, right = Router("leaf"), Router("left"), Router("right")
    left.include_router(leaf)
    right.include_router(leaf)
    app = RealtimeApp()
    app.include_router(left)
    with pytest.raises(RuntimeError, match="already included"):
        app.include_router(right)  # leaf would run twice per event
    with pytest.raises(RuntimeError, match="already included"):
        app.include_router(leaf)
    assert app.router.routers == [left]
    assert leaf.parents == [left, right]
    # Every other tree may still take it.
    RealtimeApp().include_router(right)


def test_api_names_are_checked_against_every_including_app() -> None:
    class Beta(RealtimeApp):
        api = "beta"

    router = Router("both")
    ga, beta = RealtimeApp(), Beta()
    ga.include_router(router)
    beta.include_router(router)
    with pytest.raises(ValueError, match="beta event name"):
        router.on("response.text.delta")(lambda: None)  # the GA app would never get it
    with pytest.raises(ValueError, match="GA-only"):
        router.on("response.output_text.delta")(lambda: None)  # the beta app would never get it
    router.on("response.done")(lambda: None)  # both send it
    assert len(router.handlers) == 1

    ga_only = Router("ga_only")
    ga_only.on("response.output_text.delta")(lambda: None)
    RealtimeApp().include_router(ga_only)
    with pytest.raises(ValueError, match="GA-only"):
        Beta().include_router(ga_only)


def test_tool_names_are_checked_per_app() -> None:
    tools = Router("tools")

    @tools.tool
    def lookup(query: str) -> str:
        """Look it up."""
        return query

    first, second = RealtimeApp(), RealtimeApp()
    first.include_router(tools)
    second.include_router(tools)

    def another(query: str) -> str:
        return query

    clash = Router("clash")
    clash.add_tool(another, name="lookup", description="Another.")
    with pytest.raises(ValueError, match="lookup"):
        second.include_router(clash)
    with pytest.raises(ValueError, match="lookup"):
        tools.add_tool(another, name="lookup", description="Another.")
    with pytest.raises(ValueError, match="lookup"):
        second.router.add_tool(another, name="lookup", description="Another.")
    assert [spec.name for spec in first.router.walk_tools()] == ["lookup"]


async def test_a_shared_router_is_frozen_while_any_including_app_runs() -> None:
    router = Router("frozen")
    router.on("conversation.item.deleted")(lambda: None)
    first, second = RealtimeApp(name="first"), RealtimeApp(name="second")
    first.include_router(router)
    async with serving(first):
        with pytest.raises(RuntimeError, match="running"):
            router.on("response.done")(lambda: None)
        with pytest.raises(RuntimeError, match="running"):
            router.include_router(Router("late"))
        second.include_router(router)  # the other app is not running: it may take it
        second.on("response.done")(lambda: None)
        async with serving(second):
            pass
        with pytest.raises(RuntimeError, match="running"):  # the second stopped, the first still runs
            router.on_error(ValueError)(lambda: None)
    router.on("response.done")(lambda: None)  # nobody runs it: open again
    assert len(router.handlers) == 2


def test_parent_is_the_first_including_router() -> None:
    router = Router("r")
    assert router.parents == []
    one, two = RealtimeApp(), RealtimeApp()
    one.include_router(router)
    two.include_router(router)
    assert router.parent is one.router
    assert router.parents == [one.router, two.router]


def test_a_shared_router_does_not_keep_the_apps_that_included_it_alive() -> None:
    router = Router("kept")
    app = Catching("gone")
    app.include_router(router)
    assert router.parents == [app.router]
    del app
    gc.collect()
    assert router.parents == []
    assert router.parent is None


_BUILD_TWICE = textwrap.dedent(
    """
    import sys

    import anyio

    from realtime_dispatch import openai
    from realtime_dispatch.simulator import Simulator
    from examples.multi_router_app import app as example
    from examples.multi_router_app.routers import metrics, safety, tools, transcript


    def build():
        app = example.SupportApp()
        app.include_routers(transcript.router, tools.router, safety.router, metrics.router)
        return app


    async def main(together):
        async with Simulator().serve(host="127.0.0.1", port=0) as base_url:
            apps = (example.app, build())
            if together:
                async with anyio.create_task_group() as group:
                    for app in apps:
                        group.start_soon(app.run_async, openai("gpt-realtime", base_url=base_url))
            else:
                for app in apps:
                    await app.run_async(openai("gpt-realtime", base_url=base_url))


    anyio.run(main, sys.argv[1] == "together")
    """
)


@pytest.mark.parametrize("mode", ["one after the other", "together"])
def test_multi_router_app_built_twice(mode: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _BUILD_TWICE, mode.split()[0]],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    # Streamed answers of apps running together interleave: count what each prints in one piece.
    out = result.stdout
    assert out.count("[tool get_time({}) -> 12:34]") == 2, out
    assert out.count("caught by flagged]") == 2, out  # each app's safety router caught its own failure
    assert out.count("metrics: ") == 2, out
    assert result.stderr == ""  # the deliberate failures were handled, not logged
