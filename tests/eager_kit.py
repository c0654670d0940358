"""Helpers for the tests of inline (eager) steps on the asyncio transports.

Both ``PicowsTransport`` and ``AsyncioWebSocketTransport`` run the dispatcher's step in their
data callback while the receive loop waits (``consume_inline``). ``OVER`` names them, so that a
test can run on either. Everything here is asyncio only: tests call ``run`` (one ``anyio.run``
on asyncio) instead of being ``async def`` tests, which the conftest would also run on trio.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import anyio
import pytest
from websockets.frames import Frame, Opcode

from realtime_dispatch import Connection, RealtimeApp, events, on
from realtime_dispatch.transports import (
    AsyncioWebSocketTransport,
    PicowsTransport,
    WebSocketTransport,
    connect_picows,
    connect_websocket,
    memory_pair,
    serve_websocket,
)

Server = Callable[[WebSocketTransport], Awaitable[None]]


@dataclass(frozen=True)
class Over:
    """A transport with inline steps: its class, how to connect, and the name of its callback."""

    cls: type[Any]
    connect: Callable[[str], Awaitable[Any]]
    callback: str


OVER = {
    "picows": Over(PicowsTransport, connect_picows, "on_ws_frame"),
    "websockets": Over(AsyncioWebSocketTransport, connect_websocket, "data_received"),
}


def run(test: Callable[[], Awaitable[Any]], backend: str = "asyncio") -> Any:
    async def bounded() -> Any:
        with anyio.fail_after(20):
            return await test()

    return anyio.run(bounded, backend=backend)


# --- building and sending frames ---------------------------------------------------------------


def delta(n: int | str) -> bytes:
    return events.encode(events.ResponseOutputTextDelta.build(delta=str(n)))


def done(response_id: str = "resp_1") -> bytes:
    return events.encode(events.ResponseDone.build(response=events.Response(id=response_id)))


def wire(*payloads: bytes | Frame) -> bytes:
    """TEXT frames (or the frames given) as the server puts them on the wire, in one write."""
    frames = [p if isinstance(p, Frame) else Frame(Opcode.TEXT, p) for p in payloads]
    return b"".join(frame.serialize(mask=False, extensions=[]) for frame in frames)


def burst(ready: anyio.Event, *writes: bytes, pause: float = 0.0) -> Server:
    """Once the app is in its receive loop (``ready``), write each chunk as is, then close."""

    async def handler(transport: WebSocketTransport) -> None:
        await ready.wait()
        await anyio.sleep(0.02)  # the receive loop is waiting on an empty queue by now
        for chunk in writes:
            await transport._stream.send(chunk)
            if pause:
                await anyio.sleep(pause)
        await transport.close(1000)

    return handler


# --- running an app ----------------------------------------------------------------------------


async def run_over(app: RealtimeApp, server: Server, over: str = "picows") -> None:
    """Run ``app`` over the transport ``over`` names until the server closes; what ``run_async``
    raised is raised as is (not wrapped in an exception group by the server's task group)."""
    transport = OVER[over]
    raised: list[BaseException] = []
    used: list[object] = []
    async with serve_websocket(server) as port:

        async def factory() -> Any:
            client = await transport.connect(f"ws://127.0.0.1:{port}/v1/realtime")
            used.append(client)
            return client

        try:
            await app.run_async(factory)
        except BaseException as exc:  # re-raised below, outside the server's task group
            raised.append(exc)
    if raised:
        raise raised[0]
    assert used
    assert all(isinstance(client, transport.cls) for client in used)


async def run_over_memory(app: RealtimeApp, frames: list[bytes]) -> None:
    client, server = memory_pair()
    for frame in frames:
        await server.send_raw(frame)
    await server.close()
    try:
        await app.run_async(client)
    finally:
        await client.aclose()


def spy_steps(monkeypatch: pytest.MonkeyPatch, over: str = "picows") -> list[bytes]:
    """Record every frame the transport hands to the dispatcher's eager step (a copy of it)."""
    cls = OVER[over].cls
    original = cls.consume_inline
    stepped: list[bytes] = []

    def consume_inline(self: Any, step: Callable[[bytes | memoryview], object] | None) -> None:
        if step is None:
            original(self, None)
            return
        inner = step

        def counted(frame: bytes | memoryview) -> object:
            stepped.append(bytes(frame))
            return inner(frame)

        original(self, counted)

    monkeypatch.setattr(cls, "consume_inline", consume_inline)
    return stepped


def in_callback(over: str = "picows") -> bool:
    """Whether the caller runs (somewhere below) the transport's data callback, not a task's own step."""
    name = OVER[over].callback
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == name:
            return True
        frame = frame.f_back
    return False


def asyncio_task_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    bad = ("Cannot enter into task", "Cannot leave task", "Task was destroyed", "another task")
    return [r.getMessage() for r in caplog.records if any(b in r.getMessage() for b in bad)] + [
        str(r.exc_info[1]) for r in caplog.records if r.exc_info and any(b in str(r.exc_info[1]) for b in bad)
    ]


class EagerApp(RealtimeApp):
    """Records the task that runs on_connect (and then the receive loop); ``ready`` once connected."""

    def __init__(self) -> None:
        super().__init__()
        self.ready = anyio.Event()
        self.loop_task: asyncio.Task[Any] | None = None
        self.log: list[Any] = []

    async def on_connect(self, connection: Connection) -> None:
        self.loop_task = asyncio.current_task()
        self.ready.set()


HANDLER: contextvars.ContextVar[str] = contextvars.ContextVar("HANDLER", default="unset")


class ContextApp(EagerApp):
    """A handler that sets a context variable, awaits, then reads and resets it (as a tracing span
    or a logging context does); the next event reads what the previous one left. Each "before"
    entry ends with whether the handler started in a transport's data callback."""

    @on("response.output_text.delta")
    async def text(self, event: events.ResponseOutputTextDelta) -> None:
        eager = in_callback("picows") or in_callback("websockets")
        self.log.append(("before", event.delta, HANDLER.get(), eager))
        token = HANDLER.set("set by " + event.delta)
        await anyio.sleep(0.005)
        self.log.append(("after await", event.delta, HANDLER.get()))
        try:
            HANDLER.reset(token)
        except ValueError as exc:  # "<Token> was created in a different Context"
            self.log.append(("reset failed", event.delta, str(exc)))
        HANDLER.set("left by " + event.delta)
