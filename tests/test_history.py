"""Re-seeding the conversation after a reconnect."""

from __future__ import annotations

import anyio
import pytest

from realtime_dispatch import Connection, RealtimeApp, Reconnect, events
from realtime_dispatch.transports import MemoryServer, memory_pair

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
