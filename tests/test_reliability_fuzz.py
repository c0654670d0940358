"""Fuzzing the decoders and the receive loop with mutated recorded frames (issue 8).

(a) ``events.decode`` and ``events.decode_client`` return an event or raise ``DecodeError`` for
    every mutated frame: truncations, flipped, inserted and deleted bytes, values of the wrong
    type, deep nesting, huge numbers, invalid UTF-8, lone surrogates, binary garbage, empty
    frames, and stacks of these. Seeded, so a failure reproduces; the counts are asserted.
(b) The receive loop, fed good recorded frames interleaved with mutated ones, survives; every
    frame ``decode`` rejects reaches the ``DecodeError`` error handler exactly once, and every
    frame it accepts reaches the handlers as that event, in the original order, none missing.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest
from fuzz_corpus import CORPUS, MUTATORS, SMALL, Fuzzer, outcome
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode

from realtime_dispatch import DecodeError, RealtimeApp, Router, events, on_error
from realtime_dispatch.events._codec import server_decoder
from realtime_dispatch.transports import WebSocketTransport, memory_pair, serve_websocket

PER_MUTATOR = 3000  # frames per mutator in the decoder fuzz: 16 mutators, 48,000 frames
STACKED = 6000  # frames made of 1-3 stacked mutators
LOOP_ROUNDS = 2  # the corpus (1,511 frames) this many times through the receive loop, a bad frame after each


def check_contract(data: bytes | str) -> tuple[bool, bool]:
    """Both decoders give an event or a ``DecodeError`` (anything else propagates and fails).
    Returns whether each one decoded."""
    server = outcome(events.decode, data)
    if isinstance(server, DecodeError):
        assert server.raw == data
    else:
        assert isinstance(server, events.ServerEvent)
        if isinstance(server, events.UnknownEvent):
            assert server.type not in events.SERVER_EVENTS
            assert server.raw == data
        else:
            assert type(server) is events.SERVER_EVENTS[server.type]
        events.encode(server)  # whatever decodes can be encoded again
    client = outcome(events.decode_client, data)
    if isinstance(client, DecodeError):
        assert client.raw == data
    else:
        assert type(client) is events.CLIENT_EVENTS[client.type]
        events.encode(client)
    return not isinstance(server, DecodeError), not isinstance(client, DecodeError)


# --- (a) the decoders --------------------------------------------------------------------------


@pytest.mark.parametrize("mutator", sorted(MUTATORS))
def test_decoders_return_an_event_or_raise_decode_error_for_every_mutation(mutator: str) -> None:
    fuzzer = Fuzzer(seed=f"issue-8-{mutator}", depth=1)
    decoded = rejected = 0
    for data in fuzzer.frames(PER_MUTATOR, first=mutator):
        server_ok, _ = check_contract(data)
        decoded += server_ok
        rejected += not server_ok
    assert fuzzer.made == PER_MUTATOR
    assert fuzzer.applied[mutator] == PER_MUTATOR
    assert rejected > 0  # every mutator breaks some frames, and these break every one
    if mutator in ("truncate", "empty", "invalid_utf8", "surrogate_text", "duplicate"):
        assert decoded == 0


def test_stacked_mutations_of_the_whole_corpus() -> None:
    fuzzer = Fuzzer(seed=8, mutators=MUTATORS, depth=3)
    server_decoded = 0
    for frame in CORPUS:  # every recorded frame at least once
        server_decoded += check_contract(fuzzer.mutate(frame))[0]
    for data in fuzzer.frames(STACKED):
        server_decoded += check_contract(data)[0]
    assert fuzzer.made == len(CORPUS) + STACKED
    assert set(fuzzer.applied) == set(MUTATORS)
    assert 0 < server_decoded < fuzzer.made


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frame=st.sampled_from(SMALL),
    names=st.lists(st.sampled_from(sorted(MUTATORS)), min_size=1, max_size=4),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_stack_of_mutators_keeps_the_contract(frame: bytes, names: list[str], seed: int) -> None:
    """Hypothesis picks the stack and shrinks a failure to the fewest mutators."""
    fuzzer = Fuzzer(seed)
    data: bytes | str = frame
    for name in names:
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        data = MUTATORS[name](fuzzer.rng, data)
    check_contract(data)


# --- (b) the receive loop ----------------------------------------------------------------------


class Observer(RealtimeApp):
    """Records every event and every error, and nothing else."""

    slow_handler_threshold = 0  # the deep-nesting frames take a while to reject: no watchdog noise

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[events.ServerEvent] = []
        self.bad: list[DecodeError] = []
        self.bad_events: list[Any] = []
        self.other_errors: list[BaseException] = []
        router = Router("observer")
        router.on("*")(lambda event: self.seen.append(event))
        self.include_router(router)

    @on_error(DecodeError)
    def bad_frame(self, exc: DecodeError, event: Any) -> None:
        self.bad.append(exc)
        self.bad_events.append(event)

    @on_error(Exception)
    def anything_else(self, exc: Exception) -> None:
        self.other_errors.append(exc)


async def run_frames(app: RealtimeApp, frames: list[bytes]) -> None:
    client, server = memory_pair(max_buffer=len(frames) + 1)
    for frame in frames:
        await server.send_raw(frame)
    await server.close()
    with anyio.fail_after(30):
        await app.run_async(client)


def expected(frames: list[bytes]) -> tuple[list[events.ServerEvent], list[bytes]]:
    """What the receive loop makes of the frames (docs/events.md): the tagged-union decoder's event when
    it takes the frame, else ``decode``'s outcome. The two differ only on invalid UTF-8 inside members an
    event does not declare, which the loop never reads (``decode`` scans for it)."""
    good: list[events.ServerEvent] = []
    bad: list[bytes] = []
    for frame in frames:
        try:
            good.append(server_decoder.decode(frame))
            continue
        except Exception:
            pass
        result = outcome(events.decode, frame)
        if isinstance(result, DecodeError):
            bad.append(frame)
        else:
            good.append(result)
    return good, bad


@pytest.mark.anyio
async def test_receive_loop_survives_good_frames_interleaved_with_mutated_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fuzzer = Fuzzer(seed=20260808)
    frames: list[bytes] = []
    for _ in range(LOOP_ROUNDS):
        for frame in CORPUS:
            frames.append(frame)
            bad = fuzzer.mutate(frame)
            frames.append(bad.encode("utf-8", "surrogatepass") if isinstance(bad, str) else bad)
    good, rejected = expected(frames)
    app = Observer()
    with caplog.at_level(logging.WARNING):
        await run_frames(app, frames)
    assert len(frames) == 2 * LOOP_ROUNDS * len(CORPUS)
    assert len(rejected) > len(frames) // 3  # most mutations break their frame
    assert [exc.raw for exc in app.bad] == rejected  # each bad frame reported once, in order
    assert app.bad_events == [None] * len(rejected)
    assert app.seen == good  # every frame the loop accepts reached the handler, in order
    assert app.other_errors == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []  # all went to the error handler


# Invalid UTF-8 in a member the event does not declare: ``events.decode`` rejects the frame
# (see test_events_properties.test_invalid_utf8_anywhere_in_a_frame_raises_decode_error), but the
# receive loop, which skips that scan for speed (docs/events.md), delivers the typed event: every
# value it holds was checked, and the bad bytes are never shown to anyone.
UNDECLARED_BAD_UTF8 = [
    b'{"type":"response.output_text.delta","event_id":"e1","response_id":"r","item_id":"i",'
    b'"output_index":0,"content_index":0,"delta":"a","zz":"\xff"}',
    b'{"type":"response.done","event_id":"e2","response":{"id":"r","object":"realtime.response",'
    b'"unknown_member":"\xed\xa0\x80"}}',
    b'{"type":"input_audio_buffer.cleared","event_id":"e3","extra":{"deep":["\xc0\xaf"]}}',
]


@pytest.mark.parametrize("frame", UNDECLARED_BAD_UTF8, ids=["delta", "done", "cleared"])
def test_decode_rejects_invalid_utf8_in_an_undeclared_member(frame: bytes) -> None:
    with pytest.raises(DecodeError, match="UTF-8"):
        events.decode(frame)


@pytest.mark.anyio
async def test_receive_loop_delivers_the_typed_event_when_bad_utf8_is_only_in_an_undeclared_member() -> None:
    good = events.encode(events.InputAudioBufferCleared.build(event_id="ok"))
    frames = [good, *UNDECLARED_BAD_UTF8, good]
    app = Observer()
    await run_frames(app, frames)
    assert app.bad == []
    assert [event.event_id for event in app.seen] == ["ok", "e1", "e2", "e3", "ok"]
    for event in app.seen:
        events.encode(event)  # nothing invalid made it into the event


@pytest.mark.anyio
async def test_a_websocket_text_frame_with_invalid_utf8_in_an_undeclared_member_is_delivered_typed() -> None:
    """The WebSocket transport does not check UTF-8 (websockets' Sans-I/O layer leaves it to the
    reader), so such a frame reaches the decoder over a real socket too, and the loop treats it the same."""

    async def send_bad(transport: WebSocketTransport) -> None:
        for frame in UNDECLARED_BAD_UTF8:
            transport._protocol.send_frame(Frame(Opcode.TEXT, frame))
        await transport._flush()
        await transport.close()

    app = Observer()
    async with serve_websocket(send_bad) as port:
        with anyio.fail_after(10):
            await app.run_async(f"ws://127.0.0.1:{port}/v1/realtime")
    assert app.bad == []
    assert [event.event_id for event in app.seen] == ["e1", "e2", "e3"]
