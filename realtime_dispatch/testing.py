"""Test helpers: a scripted Realtime server, fault injection, and record/replay.

>>> from realtime_dispatch import events
>>> from realtime_dispatch.testing import ScriptedServer
>>> server = ScriptedServer()
>>> server.on_connect(events.SessionCreated.build(session=events.Session(type="realtime")))
>>> _ = server.expect("response.create").reply(events.ResponseDone.build(response=events.Response(id="r")))

``async with server.run(app) as conn: await server.wait_done()`` runs ``app`` against the
script (in memory, or over a loopback WebSocket with ``sockets=True``) and fails with a
``ScriptError`` naming what was expected when the app sends something else.

``faulty(target, drop_after=3)`` wraps any transport or transport factory to drop, close,
delay or inject frames; ``Recorder(target, path)`` records a session, reconnects included, as
JSONL (secrets scrubbed) and ``replay(path)`` plays its server frames back to an app, one
recorded connection per connection the app opens.

Deterministic time: everything here sleeps with ``anyio.sleep`` and timestamps with
``anyio.current_time()``, so ``virtual_time(backend)`` (trio's ``MockClock`` with autojump, or
an asyncio ``VirtualTimeLoop``) makes ``delay=`` faults and reconnect backoff take no real time
and recordings' ``t`` values reproducible, on both backends.
"""

from __future__ import annotations

import asyncio
import os
import selectors
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, TypeVar

import anyio
import anyio.lowlevel
import msgspec

from . import events
from ._endpoints import Endpoint
from ._protocol import Api, protocol
from ._redact import redact
from .transports import MemoryServer, Transport, TransportClosed, memory_pair, serve_websocket

if TYPE_CHECKING:
    from ._app import RealtimeApp, TransportFactory
    from ._connection import BaseConnection
    from ._keys import ExpectSent

__all__ = (
    "Expectation",
    "FaultPlan",
    "FaultyTransport",
    "RecordedConnection",
    "Recorder",
    "RecordingTransport",
    "Replay",
    "ReplayTransport",
    "ScriptError",
    "ScriptedServer",
    "VirtualTime",
    "VirtualTimeLoop",
    "faulty",
    "replay",
    "virtual_time",
)

_C = TypeVar("_C", bound=events.ClientEvent)
_Conn = TypeVar("_Conn", bound="BaseConnection")

Frame = bytes | str | events.ServerEvent
"""A server frame to send: raw bytes, a JSON string, or an event (encoded)."""


def _frame_bytes(frame: Frame) -> bytes:
    if isinstance(frame, bytes):
        return frame
    if isinstance(frame, str):
        return frame.encode()
    return events.encode(frame)


# --- scripted server ------------------------------------------------------------------------------


class ScriptError(AssertionError):
    """The app did not follow the script: an unexpected client event, or expectations left unmet."""


class _ServerSide(Protocol):
    async def send(self, data: bytes) -> None: ...
    async def receive(self) -> bytes: ...
    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class Expectation:
    """One client event the script waits for, and what the server does when it arrives."""

    def __init__(self, event_type: str, predicate: Callable[[Any], object] | None = None) -> None:
        self.type = event_type
        self.predicate = predicate
        self.replies: list[bytes] = []
        self.close: tuple[int, str] | None = None

    def reply(self, *frames: Frame) -> Expectation:
        """Send these server frames, in order, once the event arrives."""
        self.replies.extend(_frame_bytes(frame) for frame in frames)
        return self

    def then_close(self, code: int = 1000, reason: str = "") -> Expectation:
        """After the replies, close the connection with this WebSocket close code."""
        self.close = (code, reason)
        return self

    def matches(self, event: events.ClientEvent) -> bool:
        return event.type == self.type and (self.predicate is None or bool(self.predicate(event)))

    def __repr__(self) -> str:
        where = "" if self.predicate is None else f" matching {getattr(self.predicate, '__name__', 'predicate')}"
        return f"{self.type!r}{where}"


class ScriptedServer:
    """A wire-level server that follows a script of expectations, in order. It speaks the Realtime
    API, or the protocol ``api`` names (``"live"``, ``"translation"``): the client events it reads
    (GPT-Live: of a ``connection`` of that kind, ``"primary"``, ``"sideband"`` or ``"fork"``).

    Every connection first gets the ``on_connect`` frames; then each client event must match
    the next expectation (its type, and its predicate if given), which sends its replies and
    optionally closes the connection. The script carries on across reconnects. Anything else
    the app sends is a ``ScriptError``: the connection is closed with 1008 and the error is
    raised by ``wait_done`` and when ``run`` exits. ``sent`` lists every decoded client event
    (typed ``ClientEvent``); ``sent_of(cls)`` those of one class, typed as that class.
    """

    def __init__(self, *, api: Api = "ga", connection: Literal["primary", "sideband", "fork"] = "primary") -> None:
        # The client events of this protocol, on this kind of connection (GPT-Live's differ: a sideband
        # sends no session.start but may send transport.dtmf.send; a fork's session.start is its own).
        self._decode_client = protocol(api).decode_client
        if connection != "primary":
            if api != "live":
                raise ValueError(f"only GPT-Live has {connection} connections")
            from .events import live

            self._decode_client = live.decode_sideband_client if connection == "sideband" else live.decode_fork_client
        self._greeting: list[bytes] = []
        self._expectations: list[Expectation] = []
        self._next = 0
        self.sent: list[events.ClientEvent] = []
        self.errors: list[ScriptError] = []
        self.connections = 0
        self._changed: anyio.Event | None = None

    def on_connect(self, *frames: Frame) -> ScriptedServer:
        """Frames sent at the start of every connection (typically ``session.created``)."""
        self._greeting.extend(_frame_bytes(frame) for frame in frames)
        return self

    def _expect(self, event_type: str, predicate: Callable[[Any], object] | None = None) -> Expectation:
        """Append an expectation: the next client event is of ``event_type`` (and ``predicate(event)``).

        Type checkers see one overload per client event name: ``predicate`` takes that event's
        class, and a misspelt name is a type error."""
        expectation = Expectation(event_type, predicate)
        self._expectations.append(expectation)
        return expectation

    if TYPE_CHECKING:
        expect: ExpectSent  # generated overloads (realtime_dispatch/_keys.py)
    else:
        expect = _expect
        expect.__name__, expect.__qualname__ = "expect", "ScriptedServer.expect"

    def sent_of(self, cls: type[_C]) -> list[_C]:
        """The client events of class ``cls`` the app sent, in order, typed as ``cls``:
        ``server.sent_of(events.ConversationItemCreate)[0].item``."""
        return [event for event in self.sent if isinstance(event, cls)]

    @property
    def remaining(self) -> list[Expectation]:
        """The expectations not met yet."""
        return self._expectations[self._next :]

    @property
    def done(self) -> bool:
        return not self.remaining

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def _fail(self, message: str) -> ScriptError:
        error = ScriptError(message)
        self.errors.append(error)
        self._notify()
        return error

    async def serve(self, transport: _ServerSide) -> None:
        """Serve one connection (anything with ``send``, ``receive`` and ``close(code, reason)``)."""
        self.connections += 1
        try:
            for frame in self._greeting:
                await transport.send(frame)
            while True:
                data = await transport.receive()
                try:
                    event = self._decode_client(data)
                except events.DecodeError as exc:
                    self._fail(f"the app sent an undecodable frame ({exc}): {data[:200]!r}")
                    await transport.close(1008, "script error")
                    return
                self.sent.append(event)
                if self.done:
                    self._fail(f"unexpected {event.type!r} after the script was done: {_show(event)}")
                    await transport.close(1008, "script error")
                    return
                expectation = self._expectations[self._next]
                if not expectation.matches(event):
                    self._fail(f"expected {expectation!r} (expectation #{self._next + 1}), got {_show(event)}")
                    await transport.close(1008, "script error")
                    return
                for reply in expectation.replies:
                    await transport.send(reply)
                self._next += 1
                self._notify()
                if expectation.close is not None:
                    await transport.close(*expectation.close)
                    return
        except TransportClosed:
            return
        finally:
            with anyio.CancelScope(shield=True):
                await transport.close(1000, "")

    async def wait_done(self, timeout: float = 5.0) -> None:
        """Wait until every expectation is met; raise ``ScriptError`` on a mismatch or after ``timeout``."""
        await self.wait_until(len(self._expectations), timeout)

    async def wait_until(self, met: int, timeout: float = 5.0) -> None:
        """Wait until the first ``met`` expectations are met (the rest, such as the goodbye a
        GPT-Live app sends when it closes, come later); raise ``ScriptError`` on a mismatch, or
        after ``timeout``."""
        with anyio.move_on_after(timeout):
            while not self.errors and self._next < met:
                self._changed = self._changed or anyio.Event()
                await self._changed.wait()
        if self.errors:
            raise self.errors[0]
        if self._next < met:
            waiting = ", ".join(repr(e) for e in self._expectations[self._next : met])
            raise ScriptError(f"{met - self._next} expectation(s) not met after waiting {timeout:g}s: {waiting}")

    def check(self, when: str = "at exit") -> None:
        """Raise the first ``ScriptError``, or one listing the unmet expectations."""
        if self.errors:
            raise self.errors[0]
        if not self.done:
            remaining = ", ".join(repr(e) for e in self.remaining)
            raise ScriptError(f"{len(self.remaining)} expectation(s) not met {when}: {remaining}")

    @asynccontextmanager
    async def run(self, app: RealtimeApp[_Conn], *, sockets: bool = False) -> AsyncIterator[_Conn]:
        """Run ``app`` against the script for the block; yields its connection (``Connection``, or
        its protocol's: ``LiveConnection``, ``TranslationConnection``).

        In memory by default; ``sockets=True`` serves a loopback WebSocket and connects the app
        to its ``ws://`` URL. Either way the app gets a factory, so it reconnects as it would in
        production. On leaving (without an exception) the script must be complete.
        """
        try:
            if sockets:
                async with serve_websocket(self.serve) as port:
                    url = f"ws://127.0.0.1:{port}/v1/realtime"
                    async with app.connect(url) as conn:
                        yield conn
            else:
                async with anyio.create_task_group() as task_group:

                    async def factory() -> Transport:
                        client, server = memory_pair()
                        task_group.start_soon(self.serve, _MemoryServerSide(server))
                        return client

                    try:
                        async with app.connect(factory) as conn:
                            yield conn
                    finally:
                        task_group.cancel_scope.cancel()
        except BaseExceptionGroup as group:  # task groups wrap the block's error: raise it plainly
            raise _single(group) from None
        self.check()


class _MemoryServerSide:
    """``MemoryServer`` under the ``send``/``receive``/``close`` names ``serve`` uses."""

    def __init__(self, server: MemoryServer) -> None:
        self.server = server

    async def send(self, data: bytes) -> None:
        await self.server.send_raw(data)

    async def receive(self) -> bytes:
        return await self.server.receive_raw()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.server.close(code, reason)


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception inside nested single-member groups, else the group itself."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def _show(event: events.ClientEvent) -> str:
    text = events.encode(event).decode("utf-8", "replace")
    return text if len(text) <= 300 else text[:300] + "..."


# --- fault injection --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultPlan:
    """Faults for one connection. Counts are frames received from the server so far.

    - ``drop_after=N``: after N frames, the reader gets ``TransportClosed(1006)`` and the
      inner transport is closed (a lost connection: the app reconnects if it can).
    - ``close_after=(N, code, reason)``: after N frames, a clean close with this code.
    - ``inject={N: frame}``: deliver ``frame`` when N frames have been received (before frame
      N, counting from 0). Injected frames do not count.
    - ``delay``: seconds to wait before each frame from the server.
    """

    drop_after: int | None = None
    close_after: tuple[int, int] | tuple[int, int, str] | None = None
    inject: Mapping[int, Frame] = field(default_factory=dict)
    delay: float = 0.0


class FaultyTransport:
    """A ``Transport`` that passes frames through ``inner`` while applying a ``FaultPlan``."""

    def __init__(self, inner: Transport, plan: FaultPlan) -> None:
        self.inner = inner
        self.plan = plan
        self.received = 0
        self._inject = {n: _frame_bytes(frame) for n, frame in plan.inject.items()}
        self._closed: TransportClosed | None = None

    async def send(self, data: bytes) -> None:
        if self._closed is not None:
            raise self._closed
        await self.inner.send(data)

    async def receive(self) -> bytes:
        if self._closed is not None:
            raise self._closed
        plan = self.plan
        injected = self._inject.pop(self.received, None)
        if injected is not None:
            return injected
        if plan.drop_after is not None and self.received >= plan.drop_after:
            await self._end(TransportClosed(1006, "dropped by faulty()"))
        if plan.close_after is not None and self.received >= plan.close_after[0]:
            reason = plan.close_after[2] if len(plan.close_after) == 3 else ""
            await self._end(TransportClosed(plan.close_after[1], reason))
        if plan.delay:
            await anyio.sleep(plan.delay)
        data = await self.inner.receive()
        self.received += 1
        return data

    async def _end(self, closed: TransportClosed) -> None:
        self._closed = closed
        with anyio.CancelScope(shield=True):
            await self.inner.aclose()
        raise closed

    async def aclose(self) -> None:
        self._closed = self._closed or TransportClosed(1000, "closed by the client")
        await self.inner.aclose()


def faulty(
    target: Transport | TransportFactory | str,
    *,
    drop_after: int | None = None,
    close_after: tuple[int, int] | tuple[int, int, str] | None = None,
    inject: Mapping[int, Frame] | None = None,
    delay: float = 0.0,
    plans: Sequence[FaultPlan] | None = None,
) -> Transport | TransportFactory:
    """Wrap a transport, a transport factory or a ``ws://`` URL with injected faults.

    The keyword faults make one ``FaultPlan`` applied to every connection. With ``plans``,
    connection i (the factory's i-th call) gets ``plans[i]``, and connections past the end of
    the list get no faults. A ``Transport`` target gets the first plan and is returned wrapped.
    """
    if plans is None:
        single = FaultPlan(drop_after, close_after, dict(inject or {}), delay)
    elif drop_after is not None or close_after is not None or inject or delay:
        raise TypeError("give either plans= or the single-plan keywords, not both")
    if isinstance(target, Transport):
        return FaultyTransport(target, single if plans is None else (plans[0] if plans else FaultPlan()))
    opened = 0
    factory = _as_factory(target)

    async def open_faulty() -> Transport:
        nonlocal opened
        plan = single if plans is None else (plans[opened] if opened < len(plans) else FaultPlan())
        opened += 1
        return FaultyTransport(await factory(), plan)

    return open_faulty


def _as_factory(target: TransportFactory | str) -> TransportFactory:
    if isinstance(target, str):
        return Endpoint(target)
    if callable(target):
        return target
    raise TypeError(f"cannot wrap {target!r}: give a Transport, a transport factory or a URL")


# --- record and replay ----------------------------------------------------------------------------


def _scrub(value: Any, truncate_audio: int | None) -> Any:
    """A frame as recorded: base64 audio cut to ``truncate_audio`` characters, then secrets
    redacted by the library's one rule (``_redact.redact``)."""
    return redact(value if truncate_audio is None else _truncate_audio(value, truncate_audio))


def _truncate_audio(value: Any, keep: int, key: str = "", audio_delta: bool = False) -> Any:
    if isinstance(value, dict):
        is_audio_delta = str(value.get("type", "")).endswith("audio.delta")
        return {k: _truncate_audio(v, keep, k, is_audio_delta) for k, v in value.items()}
    if isinstance(value, list):
        return [_truncate_audio(v, keep, key) for v in value]
    if isinstance(value, str) and (key == "audio" or (key == "delta" and audio_delta)):
        return value[:keep]
    return value


class RecordingTransport:
    """A ``Transport`` that hands every frame, both ways, to a ``Recorder``.

    ``connection`` is this transport's number in the recording (1 for the first connection).
    """

    def __init__(self, inner: Transport, recorder: Recorder, connection: int = 1) -> None:
        self.inner = inner
        self.recorder = recorder
        self.connection = connection
        self._closed = False

    async def send(self, data: bytes) -> None:
        self.recorder._record("out", data, self.connection)
        await self.inner.send(data)

    async def receive(self) -> bytes:
        try:
            data = await self.inner.receive()
        except TransportClosed as closed:
            if not self._closed:  # a reader may ask again after the close: one line is enough
                self._closed = True
                self.recorder._write("close", {"code": closed.code, "reason": closed.reason}, self.connection)
            raise
        self.recorder._record("in", data, self.connection)
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()


class Recorder:
    """Record a session as JSONL: ``{"dir": "in"|"out", "connection": n, "t": seconds, "frame": {...}}``
    per frame.

    ``target`` is a transport factory, an ``Endpoint``, a ``ws://`` URL or a ``Transport`` (which
    can be opened once). The recorder is itself a transport factory: connect the app to it, and
    every reconnect is recorded too. ``into`` is a file path (truncated now, appended per frame)
    or a list that gets the lines; ``lines`` always holds them too, and ``connections`` counts the
    connections opened. Each connection starts with a ``{"dir": "connect"}`` line (with the URL
    and scrubbed headers of an ``Endpoint``), every line carries its connection's number
    (``"connection"``: 1, 2, ... in the order they were opened) and a connection closed by the
    server or lost adds a ``{"dir": "close"}`` line with the code.
    Secrets are scrubbed, by the rule traces and logs use too: keys (``sk-...``, ``ek_...``) and
    ``Bearer`` tokens, in any string, the values of credential-named fields and headers
    (``client_secret``, ``Authorization``, ``api-key``, ``X-My-Token``...) and every value under
    a ``headers`` field become ``"<redacted>"``; credential query parameters of URLs too.
    ``truncate_audio=N`` keeps the first N characters of base64 audio (``delta`` of audio deltas,
    any ``audio`` field): a replayed delta then no longer decodes to the original audio.
    """

    def __init__(
        self,
        target: Transport | TransportFactory | str,
        into: str | os.PathLike[str] | list[str] | None = None,
        *,
        truncate_audio: int | None = None,
    ) -> None:
        self._transport: Transport | None = target if isinstance(target, Transport) else None
        self._factory = None if isinstance(target, Transport) else _as_factory(target)
        self.truncate_audio = truncate_audio
        self.lines: list[str] = []
        self._list = into if isinstance(into, list) else None
        self.path = None if into is None or isinstance(into, list) else Path(into)
        if self.path is not None:
            self.path.write_text("")
        self._start: float | None = None
        self.connections = 0

    async def __call__(self) -> Transport:
        if self._factory is not None:
            inner = await self._factory()
        elif self._transport is not None:
            inner, self._transport = self._transport, None
        else:
            raise RuntimeError("Recorder: a Transport target can be opened only once; give a factory to reconnect")
        meta: dict[str, Any] = {}
        if isinstance(self._factory, Endpoint):
            meta = {"url": self._factory.url, "headers": dict(self._factory.headers)}
        self.connections += 1
        self._write("connect", meta, self.connections)
        return RecordingTransport(inner, self, self.connections)

    def _record(self, direction: str, data: bytes, connection: int) -> None:
        try:
            frame = msgspec.json.decode(data)
        except msgspec.DecodeError:
            frame = {"undecodable": data.decode("utf-8", "replace")}
        self._write(direction, frame, connection)

    def _write(self, direction: str, frame: Any, connection: int) -> None:
        now = anyio.current_time()
        if self._start is None:
            self._start = now
        record = {
            "dir": direction,
            "connection": connection,
            "t": round(now - self._start, 6),
            "frame": _scrub(frame, self.truncate_audio),
        }
        line = msgspec.json.encode(record).decode()
        self.lines.append(line)
        if self._list is not None:
            self._list.append(line)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as file:
                file.write(line + "\n")


class ReplayTransport:
    """A ``Transport`` that delivers recorded server frames, then closes with ``code``."""

    def __init__(self, frames: Sequence[bytes], code: int = 1000, reason: str = "") -> None:
        self._frames = list(frames)
        self._index = 0
        self._end = TransportClosed(code, reason)
        self._closed: TransportClosed | None = None
        self.sent: list[bytes] = []

    async def send(self, data: bytes) -> None:
        if self._closed is not None:
            raise self._closed
        self.sent.append(data)

    async def receive(self) -> bytes:
        # A pass through the event loop per frame, as frames arriving over a socket would give: tools and
        # background handlers run between recorded frames instead of only after the last one.
        await anyio.lowlevel.checkpoint()
        if self._closed is not None:
            raise self._closed
        if self._index >= len(self._frames):
            self._closed = self._end
            raise self._end
        self._index += 1
        return self._frames[self._index - 1]

    async def aclose(self) -> None:
        self._closed = self._closed or TransportClosed(1000, "closed by the client")


@dataclass
class RecordedConnection:
    """One connection of a recording: the server's frames (``frames``, what the app received),
    the app's frames (``sent``, as recorded: scrubbed) and how it ended (``code``, ``reason``;
    ``closed`` is False when the recording has no close line for it)."""

    frames: list[bytes] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)
    code: int = 1000
    reason: str = ""
    closed: bool = False


def replay(source: str | os.PathLike[str] | Iterable[str | Mapping[str, Any]]) -> Replay:
    """A transport factory that plays a recording back, one recorded connection per call.

    ``source`` is a JSONL file path or its lines (strings or decoded dicts). Connections are
    told apart by the lines' ``"connection"`` numbers, or, in recordings made before those
    existed, by their ``{"dir": "connect"}`` lines; lines with neither are one connection. The
    i-th call of the factory returns a ``ReplayTransport`` delivering connection i's ``"in"``
    frames, then closing with its recorded close code: an app with a reconnect policy
    reconnects after a recorded 1006 or 1011 just as it did live, and so replays the whole
    session. The last connection always ends with 1000, as there is nothing to reconnect to,
    and a non-last connection without a close line ends with 1006 (it was lost: the app
    reconnected). A call past the last connection raises ``RuntimeError``.
    """
    if isinstance(source, (str, os.PathLike)):
        lines: Iterable[str | Mapping[str, Any]] = Path(source).read_text(encoding="utf-8").splitlines()
    else:
        lines = source
    connections: dict[int, RecordedConnection] = {}
    current = 0
    for line in lines:
        if isinstance(line, str):
            if not line.strip():
                continue
            record = msgspec.json.decode(line)
        else:
            record = line
        direction = record.get("dir")
        number = record.get("connection")
        if isinstance(number, int):
            current = number
        elif direction == "connect":
            current += 1
        recorded = connections.setdefault(max(current, 1), RecordedConnection())
        if direction == "in":
            recorded.frames.append(msgspec.json.encode(record["frame"]))
        elif direction == "out":
            recorded.sent.append(msgspec.json.encode(record["frame"]))
        elif direction == "close":
            close = record.get("frame") or {}
            recorded.code, recorded.reason = int(close.get("code", 1006)), str(close.get("reason", ""))
            recorded.closed = True
    ordered = [connections[n] for n in sorted(connections)]
    for recorded in ordered[:-1]:
        if not recorded.closed:
            recorded.code, recorded.reason = 1006, "lost (no close line in the recording)"
    return Replay(ordered)


class Replay:
    """The transport factory ``replay`` returns.

    ``connections`` lists the recorded connections, ``frames`` all their server frames in order,
    ``transports`` the transports handed out so far (their ``sent`` holds what the app sent).
    ``Replay(frames)`` with a plain list of frames is one connection.
    """

    def __init__(self, connections: Sequence[RecordedConnection] | Sequence[bytes]) -> None:
        recorded = [c for c in connections if isinstance(c, RecordedConnection)]
        frames = [c for c in connections if isinstance(c, bytes)]
        self.connections: list[RecordedConnection] = recorded if recorded else [RecordedConnection(frames=frames)]
        self.frames = [frame for recorded in self.connections for frame in recorded.frames]
        self.transports: list[ReplayTransport] = []

    async def __call__(self) -> Transport:
        index = len(self.transports)
        if index >= len(self.connections):
            raise RuntimeError(f"replay: the recording has {len(self.connections)} connection(s) and all were replayed")
        recorded = self.connections[index]
        last = index == len(self.connections) - 1
        code, reason = (1000, "") if last else (recorded.code, recorded.reason)
        transport = ReplayTransport(recorded.frames, code, reason)
        self.transports.append(transport)
        return transport


# --- deterministic time -----------------------------------------------------------------------------


class _JumpingSelector(selectors.BaseSelector):
    """A selector that, instead of sleeping until the next timer, moves its loop's clock there.

    asyncio asks the selector to wait ``timeout`` seconds for I/O when every task is blocked and
    the next timer is that far away: that is the one place where skipping ahead is safe.
    """

    def __init__(self, inner: selectors.BaseSelector, loop: VirtualTimeLoop) -> None:
        self.inner = inner
        self.loop = loop

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self.inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self.inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self.inner.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        threshold = self.loop.autojump_threshold
        if threshold is None or (timeout is not None and timeout <= 0):
            return self.inner.select(timeout)
        ready = self.inner.select(threshold if timeout is None else min(threshold, timeout))
        if ready or timeout is None:
            # No timer to jump to: only I/O (or another thread) can wake the loop, so wait for real.
            return ready or self.inner.select(None)
        self.loop.jump(timeout)
        return []

    def close(self) -> None:
        self.inner.close()

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self.inner.get_map()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop on a virtual clock, like ``trio.testing.MockClock`` for trio.

    ``time()`` (so ``anyio.current_time()``, ``anyio.sleep``, ``move_on_after``, ``fail_after``
    and every ``call_later``) starts at 0 and stands still while code runs. With
    ``autojump_threshold`` seconds (default 0) set, whenever every task has been waiting that long
    in real time with a timer pending, the clock jumps to the next timer: a 30 s sleep takes no
    real time. ``None`` turns autojump off; ``jump(seconds)`` moves the clock by hand.
    """

    def __init__(self, autojump_threshold: float | None = 0.0) -> None:
        self.autojump_threshold = autojump_threshold
        self._virtual_now = 0.0
        super().__init__(_JumpingSelector(selectors.DefaultSelector(), self))

    def time(self) -> float:
        return self._virtual_now

    def jump(self, seconds: float) -> None:
        """Move the clock ``seconds`` ahead (timers due by then fire at the next loop iteration)."""
        if seconds < 0:
            raise ValueError("time cannot go backwards")
        self._virtual_now += seconds


class VirtualTime(NamedTuple):
    """A backend name and its anyio options, as ``virtual_time`` returns them. Being a
    ``(name, options)`` tuple, it is what anyio's ``anyio_backend`` fixture may return."""

    backend: str
    options: dict[str, Any]


def virtual_time(backend: str = "asyncio", *, autojump_threshold: float = 0.0) -> VirtualTime:
    """anyio backend options that run ``backend`` on a virtual clock that jumps ahead when idle.

    On trio: a fresh ``trio.testing.MockClock(autojump_threshold=...)``. On asyncio: a
    ``VirtualTimeLoop``. Either way sleeps, timeouts, reconnect backoff and ``delay=`` faults
    take no real time, and ``anyio.current_time()`` (the recordings' ``t``) is reproducible.

    In a test suite, return it from the ``anyio_backend`` fixture::

        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request):
            return virtual_time(request.param)

    or run with ``anyio.run(main, backend=vt.backend, backend_options=vt.options)``. The clock
    jumps when every task waits, not knowing about threads or other processes: use in-memory
    transports (``ScriptedServer.run``, ``memory_pair``) or servers in the same event loop, and a
    ``autojump_threshold`` of some real milliseconds if something outside the loop must answer.
    """
    if backend == "trio":
        from trio.testing import MockClock

        return VirtualTime("trio", {"clock": MockClock(autojump_threshold=autojump_threshold)})
    if backend == "asyncio":
        return VirtualTime("asyncio", {"loop_factory": partial(VirtualTimeLoop, autojump_threshold)})
    raise ValueError(f"unknown backend {backend!r}: give 'asyncio' or 'trio'")
