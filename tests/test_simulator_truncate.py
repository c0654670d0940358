"""Truncating an assistant audio item while it still streams (barge-in), over real sockets.

Barge-in clients send ``conversation.item.truncate`` before the item's
``response.output_item.done``, some before ``response.cancel``, some after. The service
accepts it; an ``audio_end_ms`` beyond the audio generated so far is an error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from realtime_dispatch import events
from realtime_dispatch.simulator import Reply, Simulator
from realtime_dispatch.transports import WebSocketTransport, connect_websocket

pytestmark = pytest.mark.anyio

DELAY = 0.05  # seconds between 100 ms audio chunks: client events land while the answer streams


class LongResponder:
    async def respond(self, conversation: list[events.ConversationItem], session: events.Session) -> Reply:
        return Reply(text=" ".join(f"word{n}" for n in range(20)))  # 8.4 s of audio


class Client:
    def __init__(self, transport: WebSocketTransport) -> None:
        self.transport = transport

    async def receive(self) -> events.ServerEvent:
        with anyio.fail_after(10):
            return events.decode(await self.transport.receive())

    async def send(self, event: events.ClientEvent) -> None:
        await self.transport.send(events.encode(event))

    async def until(self, event_type: str) -> list[events.ServerEvent]:
        received = []
        while True:
            event = await self.receive()
            received.append(event)
            if event.type == event_type:
                return received

    async def streaming_answer(self, chunks: int) -> str:
        """Start an audio answer and wait for ``chunks`` audio deltas; returns the item id."""
        await self.send(events.ConversationItemCreate(item=events.ConversationItem.message("user", "hello")))
        await self.until("conversation.item.done")
        await self.send(events.ResponseCreate())
        added = (await self.until("response.output_item.added"))[-1]
        assert isinstance(added, events.ResponseOutputItemAdded)
        assert added.item.id is not None
        for _ in range(chunks):
            await self.until("response.output_audio.delta")
        return added.item.id


@asynccontextmanager
async def connected(delay: float = DELAY) -> AsyncIterator[Client]:
    async with Simulator(responder=LongResponder(), delta_delay=delay).serve() as base_url:
        transport = await connect_websocket(f"{base_url}/realtime?model=gpt-realtime")
        try:
            client = Client(transport)
            assert isinstance(await client.receive(), events.SessionCreated)
            yield client
        finally:
            await transport.close()


def of_type(received: list[events.ServerEvent], kind: type[events.ServerEvent]) -> list[events.ServerEvent]:
    return [event for event in received if isinstance(event, kind)]


async def test_truncate_mid_stream_then_cancel() -> None:
    async with connected() as client:
        item_id = await client.streaming_answer(chunks=3)
        await client.send(events.ConversationItemTruncate(item_id=item_id, content_index=0, audio_end_ms=200))
        received = await client.until("conversation.item.truncated")
        truncated = received[-1]
        assert isinstance(truncated, events.ConversationItemTruncated)
        assert (truncated.item_id, truncated.content_index, truncated.audio_end_ms) == (item_id, 0, 200)
        assert not of_type(received, events.ResponseOutputItemDone)  # the answer was still streaming

        await client.send(events.ResponseCancel())
        received = await client.until("response.done")
        done = received[-1]
        assert isinstance(done, events.ResponseDone)
        assert done.response.status == "cancelled"
        assert done.response.output is not None
        item = done.response.output[0]
        assert item.status == "incomplete"
        assert item.content == [events.ContentPart(type="output_audio", transcript="")]

        # The item keeps the truncated length: 200 ms is all there is now.
        await client.send(events.ConversationItemRetrieve(item_id=item_id))
        retrieved = (await client.until("conversation.item.retrieved"))[-1]
        assert isinstance(retrieved, events.ConversationItemRetrieved)
        assert retrieved.item.content == [events.ContentPart(type="output_audio", transcript="")]
        await client.send(events.ConversationItemTruncate(item_id=item_id, content_index=0, audio_end_ms=300))
        error = (await client.until("error"))[-1]
        assert isinstance(error, events.ErrorEvent)
        assert error.error.message == "Audio content of 200ms is shorter than 300ms."
        await client.send(events.ConversationItemTruncate(item_id=item_id, content_index=0, audio_end_ms=150))
        again = (await client.until("conversation.item.truncated"))[-1]
        assert isinstance(again, events.ConversationItemTruncated)


async def test_truncate_after_cancel_before_the_item_is_done() -> None:
    async with connected() as client:
        item_id = await client.streaming_answer(chunks=2)
        await client.send(events.ResponseCancel())
        await client.send(events.ConversationItemTruncate(item_id=item_id, content_index=0, audio_end_ms=100,
                                                          event_id="evt_truncate"))  # fmt: skip
        received = await client.until("response.done")
        types = [event.type for event in received]
        assert "error" not in types
        assert types.index("conversation.item.truncated") < types.index("response.output_item.done")
        done = received[-1]
        assert isinstance(done, events.ResponseDone)
        assert done.response.status == "cancelled"
        assert done.response.output is not None
        assert done.response.output[0].content == [events.ContentPart(type="output_audio", transcript="")]
        await client.send(events.ConversationItemTruncate(item_id=item_id, content_index=0, audio_end_ms=101))
        error = (await client.until("error"))[-1]
        assert isinstance(error, events.ErrorEvent)
        assert error.error.param == "audio_end_ms"


async def test_truncate_without_cancel_lets_the_answer_finish() -> None:
    async with connected(delay=0.01) as client:
        item_id = await client.streaming_answer(chunks=1)
        await client.send(events.ConversationItemTruncate(item_id=item_id, content_index=0, audio_end_ms=100))
        received = await client.until("conversation.item.truncated")
        received = await client.until("response.done")
        assert of_type(received, events.ResponseOutputAudioDelta)  # the rest streams on
        done = received[-1]
        assert isinstance(done, events.ResponseDone)
        assert done.response.status == "completed"
        assert done.response.output is not None
        assert done.response.output[0].content == [events.ContentPart(type="output_audio", transcript="")]


async def test_truncate_beyond_the_audio_generated_so_far_is_an_error() -> None:
    async with connected() as client:
        item_id = await client.streaming_answer(chunks=2)
        await client.send(events.ConversationItemTruncate(item_id=item_id, content_index=0, audio_end_ms=60_000,
                                                          event_id="evt_far"))  # fmt: skip
        error = (await client.until("error"))[-1]
        assert isinstance(error, events.ErrorEvent)
        assert error.error.type == "invalid_request_error"
        assert (error.error.code, error.error.param, error.error.event_id) == ("invalid_value", "audio_end_ms",
                                                                               "evt_far")  # fmt: skip
        assert error.error.message.startswith("Audio content of ")
        assert error.error.message.endswith("ms is shorter than 60000ms.")
        generated = int(error.error.message.removeprefix("Audio content of ").split("ms")[0])
        assert generated >= 200
        assert generated % 100 == 0
        await client.send(events.ConversationItemTruncate(item_id=item_id, content_index=1, audio_end_ms=0))
        error = (await client.until("error"))[-1]
        assert isinstance(error, events.ErrorEvent)
        assert error.error.param == "content_index"
        await client.send(events.ResponseCancel())
        done = (await client.until("response.done"))[-1]
        assert isinstance(done, events.ResponseDone)
        assert done.response.output is not None
        assert done.response.output[0].content is not None
        assert done.response.output[0].content[0].transcript  # no truncation: the transcript stays


async def test_truncating_a_user_item_is_still_refused() -> None:
    async with connected() as client:
        await client.send(events.ConversationItemCreate(item=events.ConversationItem.message("user", "hello")))
        added = (await client.until("conversation.item.added"))[-1]
        assert isinstance(added, events.ConversationItemAdded)
        assert added.item.id is not None
        await client.send(events.ConversationItemTruncate(item_id=added.item.id, content_index=0, audio_end_ms=0))
        error = (await client.until("error"))[-1]
        assert isinstance(error, events.ErrorEvent)
        assert error.error.message == "Only the audio of an assistant message can be truncated."
        assert error.error.param == "content_index"
