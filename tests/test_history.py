"""Re-seeding the conversation after a reconnect."""

from __future__ import annotations

import anyio
import pytest
from test_reconnect import Recorder, endpoint, receive_type  # the scripted WebSocket server

from realtime_dispatch import Connection, RealtimeApp, Reconnect, events
from realtime_dispatch._history import History
from realtime_dispatch.transports import MemoryServer, WebSocketTransport, memory_pair, serve_websocket

pytestmark = pytest.mark.anyio


def done(item: events.ConversationItem) -> events.ConversationItemDone:
    return events.ConversationItemDone.build(item=item)


def message(item_id: str, role: str, part: events.ContentPart) -> events.ConversationItem:
    return events.ConversationItem(type="message", id=item_id, role=role, status="completed", content=[part])


async def run_with_a_drop(app: RealtimeApp, first_frames: list[events.ServerEvent]) -> list[events.ClientEvent]:
    """Serve ``first_frames`` on a first connection, drop it (1011), and return what the app
    sends on the second connection until it goes quiet."""
    servers: list[MemoryServer] = []
    second = anyio.Event()

    async def factory():  # type: ignore[no-untyped-def]
        client, server = memory_pair()
        servers.append(server)
        if len(servers) == 2:
            second.set()
        return client

    received: list[events.ClientEvent] = []
    try:
        async with app.connect(factory):
            if app.session is not None:  # sent: closing now cannot break the session's send (a 1006)
                assert (await servers[0].receive_event()).type == "session.update"
            for frame in first_frames:
                await servers[0].send_event(frame)
            await servers[0].close(1011, "server error")  # queued behind the frames: all are handled first
            with anyio.fail_after(5):
                await second.wait()
            while True:
                with anyio.move_on_after(0.2) as scope:
                    received.append(await servers[1].receive_event())
                if scope.cancelled_caught:
                    break
    finally:
        for server in servers:
            await server.close()
    return received


class Reseeding(RealtimeApp):
    session = events.Session(type="realtime", instructions="remember")
    reseed_history = True
    reconnect = Reconnect(initial_delay=0.01, max_delay=0.02)


async def test_finished_items_are_recreated_after_the_session() -> None:
    frames: list[events.ServerEvent] = [
        done(message("item_u1", "user", events.ContentPart(type="input_audio", transcript="my name is Ada"))),
        done(message("item_a1", "assistant", events.ContentPart(type="output_audio", transcript="Hello Ada"))),
        done(message("item_gone", "user", events.ContentPart(type="input_text", text="delete me"))),
        done(
            events.ConversationItem(
                type="function_call", id="item_f1", call_id="call_1", name="lookup", arguments='{"q":"x"}'
            )
        ),
        done(events.ConversationItem(type="function_call_output", id="item_o1", call_id="call_1", output="42")),
        events.ConversationItemDeleted.build(item_id="item_gone"),
        done(message("item_silent", "user", events.ContentPart(type="input_audio"))),  # no transcript: skipped
    ]
    sent = await run_with_a_drop(Reseeding(), frames)
    assert [e.type for e in sent] == ["session.update"] + ["conversation.item.create"] * 4
    items = [e.item for e in sent[1:] if isinstance(e, events.ConversationItemCreate)]
    assert [i.id for i in items] == ["item_u1", "item_a1", "item_f1", "item_o1"]
    assert items[0].content == [events.ContentPart(type="input_text", text="my name is Ada")]
    assert items[1].content == [events.ContentPart(type="output_text", text="Hello Ada")]
    assert (items[2].name, items[2].arguments, items[3].output) == ("lookup", '{"q":"x"}', "42")


async def test_history_is_bounded_and_off_by_default() -> None:
    class Small(Reseeding):
        max_history_items = 2

    frames: list[events.ServerEvent] = [
        done(message(f"item_{n}", "user", events.ContentPart(type="input_text", text=str(n)))) for n in range(5)
    ]
    sent = await run_with_a_drop(Small(), frames)
    assert [e.item.id for e in sent if isinstance(e, events.ConversationItemCreate)] == ["item_3", "item_4"]

    class Plain(RealtimeApp):
        reconnect = Reconnect(initial_delay=0.01, max_delay=0.02)

        async def on_connect(self, connection: Connection) -> None:
            pass

    assert await run_with_a_drop(Plain(), frames) == []


async def test_recycle_replaces_the_connection_at_a_turn_boundary() -> None:
    servers: list[MemoryServer] = []
    second = anyio.Event()

    async def factory():  # type: ignore[no-untyped-def]
        client, server = memory_pair()
        servers.append(server)
        if len(servers) == 2:
            second.set()
        return client

    class Recycling(Reseeding):
        recycle_after = 0.0  # due at once: the next turn boundary recycles

    def response(event_type: type[events.ResponseCreated] | type[events.ResponseDone], rid: str):  # type: ignore[no-untyped-def]
        return event_type.build(response=events.Response(id=rid, conversation_id="conv_1"))

    app = Recycling()
    try:
        async with app.connect(factory):
            assert (await servers[0].receive_event()).type == "session.update"
            await servers[0].send_event(
                done(message("item_1", "user", events.ContentPart(type="input_text", text="keep me")))
            )
            await servers[0].send_event(response(events.ResponseCreated, "resp_a"))
            await servers[0].send_event(response(events.ResponseDone, "resp_other"))  # not the active one
            await anyio.sleep(0.1)
            assert len(servers) == 1  # mid-turn: no recycle
            await servers[0].send_event(response(events.ResponseDone, "resp_a"))
            with anyio.fail_after(5):
                await second.wait()
            replayed = [await servers[1].receive_event() for _ in range(2)]
    finally:
        for server in servers:
            await server.close()
    assert [e.type for e in replayed] == ["session.update", "conversation.item.create"]


# --- guarantee 6: the history survives a second drop ------------------------------------------------


def text(item_id: str, role: str = "user") -> events.ConversationItem:
    kind = "output_text" if role == "assistant" else "input_text"
    return message(item_id, role, events.ContentPart(type=kind, text=item_id))


def call(item_id: str, call_id: str) -> events.ConversationItem:
    return events.ConversationItem(type="function_call", id=item_id, call_id=call_id, name="lookup", arguments="{}")


def output(item_id: str, call_id: str) -> events.ConversationItem:
    return events.ConversationItem(type="function_call_output", id=item_id, call_id=call_id, output="42")


def history_of(*items: events.ConversationItem, max_items: int = 50) -> History:
    history = History(max_items, api="ga")
    for item in items:
        history.observe(done(item))
    return history


def replayed(history: History) -> list[str | None]:
    return [create.item.id for create in history.take_replay()]


def test_replayed_items_stay_until_confirmed_and_are_replayed_again() -> None:
    history = history_of(text("a"), text("b", "assistant"), text("c"))
    assert replayed(history) == ["a", "b", "c"]
    history.observe(done(text("a")))  # the new session confirmed only the first: then it was lost too
    assert list(history.items) == ["a", "b", "c"]
    assert history.unconfirmed == {"b", "c"}
    assert replayed(history) == ["a", "b", "c"]  # all of it again, in its order
    assert history.unconfirmed == {"a", "b", "c"}


def test_items_confirmed_again_keep_their_order_and_new_ones_follow() -> None:
    history = history_of(text("a"), text("b", "assistant"), text("c"))
    history.take_replay()
    for item_id in ("c", "a"):  # confirmations out of order do not reorder the conversation
        history.observe(done(text(item_id)))
    history.observe(done(text("d")))  # a new item of the new session, before "b" was confirmed
    assert replayed(history) == ["a", "b", "c", "d"]
    assert history.unconfirmed == {"a", "b", "c", "d"}


def test_deletions_still_remove_replayed_items() -> None:
    history = history_of(text("a"), text("b"), text("c"))
    history.take_replay()
    history.observe(events.ConversationItemDeleted.build(item_id="b"))  # not confirmed yet, deleted all the same
    history.observe(done(text("a")))
    history.observe(events.ConversationItemDeleted.build(item_id="a"))  # confirmed, then deleted
    assert replayed(history) == ["c"]


def test_beta_confirms_with_item_created() -> None:
    history = History(50, api="beta")
    for item in (text("a"), text("b")):
        history.observe(events.ConversationItemCreated.build(item=item))
    assert replayed(history) == ["a", "b"]
    history.observe(events.ConversationItemCreated.build(item=text("b")))
    assert list(history.items) == ["a", "b"]
    assert history.unconfirmed == {"a"}


def test_a_call_is_replayed_only_with_its_output() -> None:
    history = history_of(
        text("u1"),
        call("f1", "call_1"),  # the tool was running when the connection dropped: never answered
        call("f2", "call_2"),
        output("o2", "call_2"),
        output("o3", "call_3"),  # its call was deleted
        output("o4", "call_4"),  # answered before its call: not a pair the server could accept
        call("f4", "call_4"),
        text("u2"),
    )
    assert replayed(history) == ["u1", "f2", "o2", "u2"]
    assert replayed(history) == ["u1", "f2", "o2", "u2"]  # the orphans are gone for good


def test_the_bound_evicts_a_call_together_with_its_output() -> None:
    history = history_of(call("f1", "call_1"), output("o1", "call_1"), text("a"), text("b"), max_items=4)
    history.observe(done(text("c")))  # over the bound: the pair goes, not just the call
    assert list(history.items) == ["a", "b", "c"]
    assert replayed(history) == ["a", "b", "c"]

    history = history_of(text("a"), call("f1", "call_1"), output("o1", "call_1"), max_items=3)
    history.observe(done(text("b")))  # "a" goes; the pair behind it stays whole
    assert list(history.items) == ["f1", "o1", "b"]
    history.observe(done(text("c")))  # then the pair goes together
    assert list(history.items) == ["b", "c"]


def test_the_bound_holds_across_replays() -> None:
    history = history_of(*(text(str(n)) for n in range(3)), max_items=3)
    assert replayed(history) == ["0", "1", "2"]
    history.observe(done(text("3")))  # a new item while the replay is unconfirmed: the oldest still goes
    assert replayed(history) == ["1", "2", "3"]
    assert len(history.items) == 3


# app level: real reconnects over a WebSocket on 127.0.0.1


async def test_the_conversation_survives_a_drop_during_the_replay() -> None:
    """Connection 1 builds a conversation and drops; connection 2 drops right after the
    replayed creates, before confirming any; connection 3 must get the whole conversation
    again; it confirms it and adds an item, drops, and connection 4 gets all of it in order."""
    conversation = [
        text("item_u1"),
        text("item_a1", "assistant"),
        call("item_f1", "call_1"),
        output("item_o1", "call_1"),
        text("item_a2", "assistant"),
    ]
    creates: list[list[str | None]] = []

    async def until_marker(transport: WebSocketTransport, log: list[str]) -> list[str | None]:
        ids: list[str | None] = []
        while True:
            event = await receive_type(transport, log)
            if isinstance(event, events.InputAudioBufferClear):  # sent by on_connect: the replay is all in
                creates.append(ids)
                return ids
            if isinstance(event, events.ConversationItemCreate):
                ids.append(event.item.id)

    async def send(transport: WebSocketTransport, *frames: events.ServerEvent) -> None:
        for frame in frames:
            await transport.send(events.encode(frame))

    async def first(transport: WebSocketTransport, log: list[str]) -> None:
        await until_marker(transport, log)
        await send(transport, *(done(item) for item in conversation))
        await transport.close(1011, "server error")  # behind the frames: the app handles them first

    async def drop_during_the_replay(transport: WebSocketTransport, log: list[str]) -> None:
        await until_marker(transport, log)
        await transport.close(1011, "server error")  # nothing confirmed

    async def confirm_then_drop(transport: WebSocketTransport, log: list[str]) -> None:
        await until_marker(transport, log)
        by_id = {item.id: item for item in conversation}
        await send(transport, *(done(by_id[item_id]) for item_id in creates[-1] if item_id in by_id))
        await send(transport, done(text("item_u2")))
        await transport.close(1012, "restart")

    async def last(transport: WebSocketTransport, log: list[str]) -> None:
        await until_marker(transport, log)
        await transport.close(1000)

    class Marking(Reseeding):
        async def on_connect(self, connection: Connection) -> None:
            await connection.send(events.InputAudioBufferClear(event_id="marker"))

    server = Recorder(first, drop_during_the_replay, confirm_then_drop, last)
    async with serve_websocket(server) as port:
        with anyio.fail_after(10):
            await Marking().run_async(endpoint(port))
    everything = [item.id for item in conversation]
    assert creates == [[], everything, everything, [*everything, "item_u2"]]
    assert all(log[0] == "session.update" for log in server.received)


async def test_an_unanswered_call_is_not_replayed() -> None:
    frames: list[events.ServerEvent] = [
        done(text("item_u1")),
        done(call("item_f1", "call_1")),  # the connection drops while the tool runs
    ]
    sent = await run_with_a_drop(Reseeding(), frames)
    assert [e.item.id for e in sent if isinstance(e, events.ConversationItemCreate)] == ["item_u1"]
