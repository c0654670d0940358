"""The phone agent ``bench_telephony.py`` answers calls with: a ``RealtimeApp`` with two handlers and a tool,
nothing heavy. ``benchmarks.telephony_app:App`` is what a worker serves (``realtime-dispatch serve`` takes it
as is)."""

from __future__ import annotations

from realtime_dispatch import RealtimeApp, events, on, tool
from realtime_dispatch.telephony import current_call


class App(RealtimeApp):
    """A shop's phone line: it notes what the caller said and pressed, and looks orders up."""

    reconnect = None  # a call's sideband is not reconnected: when the service closes it, the call is over
    session = events.Session(
        type="realtime",
        instructions="You answer the phone for a shop. Look orders up when asked.",
        audio=events.SessionAudio(
            input=events.AudioInput(transcription=events.AudioTranscription(model="gpt-4o-transcribe"))
        ),
    )

    def __init__(self) -> None:
        super().__init__()
        self.heard: list[str] = []
        self.keys: list[str] = []

    @on("conversation.item.input_audio_transcription.completed")
    async def transcript(self, event: events.InputAudioTranscriptionCompleted) -> None:
        self.heard.append(event.transcript)

    @on("input_audio_buffer.dtmf_event_received")
    async def key(self, event: events.InputAudioBufferDtmfEventReceived) -> None:
        self.keys.append(event.event)

    @tool
    async def lookup_order(self, order: str) -> str:
        """Look an order up by its number."""
        return f"order {order} for {current_call().id} has shipped"
