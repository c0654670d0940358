"""Features install themselves on a starting session: the extension point of ``RealtimeApp``."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from realtime_dispatch import (
    Outcome,
    RealtimeApp,
    Reconnect,
    SessionListener,
    SessionSetup,
    SessionState,
    events,
)
from realtime_dispatch.transports import Transport, memory_pair

pytestmark = pytest.mark.anyio

FAST = Reconnect(initial_delay=0.001, max_delay=0.002, jitter=0, stable_after=0)


class Recording(SessionListener):
    def __init__(self) -> None:
        self.log: list[str] = []

    def session_started(self) -> None:
        self.log.append("started")

    def session_closing(self) -> None:
        self.log.append("closing")

    def session_ended(self, outcome: Outcome | None) -> None:
        self.log.append(f"ended {outcome.reason.name if outcome else 'for a reconnect'}")


async def test_a_feature_hears_every_session_and_the_one_end() -> None:
    heard = Recording()
    installed: list[SessionSetup] = []

    def record_sessions(setup: SessionSetup) -> None:
        installed.append(setup)
        setup.listen(heard)

    class App(RealtimeApp):
        reconnect = FAST
        features = (*RealtimeApp.features, record_sessions)

    servers: list[Any] = []

    async def factory() -> Transport:
        client, server = memory_pair()
        servers.append(server)
        return client

    app = App()
    try:
        await _run_first_test(app, factory, servers, heard)
    finally:
        for server in servers:
            await server.close()
    assert len(installed) == 1  # installed once per run, not once per connection
    assert heard.log == ["started", "ended for a reconnect", "started", "closing", "ended CLOSED_BY_USER"]


async def _run_first_test(app: RealtimeApp, factory: Any, servers: list[Any], heard: Recording) -> None:
    async with app.connect(factory) as conn:
        await servers[0].close(1011, "restart")
        with anyio.fail_after(5):
            while len(heard.log) < 3:  # noqa: ASYNC110 (the listener is the thing observed)
                await anyio.sleep(0.01)
        assert conn.state is SessionState.OPEN
    assert conn.state is SessionState.CLOSED
    assert conn.outcome is not None
    assert conn.outcome.normal


async def test_a_busy_feature_holds_the_recycle_until_it_is_quiet() -> None:
    state = {"busy": True}

    def holds_turns(setup: SessionSetup) -> None:
        setup.busy_while(lambda: state["busy"])

    class App(RealtimeApp):
        reconnect = FAST
        recycle_after = 0.0
        features = (*RealtimeApp.features, holds_turns)

    servers: list[Any] = []

    async def factory() -> Transport:
        client, server = memory_pair()
        servers.append(server)
        return client

    done = events.ResponseDone.build(response=events.Response(id="r1", status="completed"))
    try:
        async with App().connect(factory):
            await servers[0].send_event(done)
            await anyio.sleep(0.05)
            assert len(servers) == 1  # busy: no recycle at that boundary
            state["busy"] = False
            await servers[0].send_event(done)
            with anyio.fail_after(5):
                while len(servers) < 2:  # noqa: ASYNC110 (the factory's list is the thing observed)
                    await anyio.sleep(0.01)
    finally:
        for server in servers:
            await server.close()
