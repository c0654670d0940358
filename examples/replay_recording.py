"""Replay a session recorded from the live Realtime API through a RealtimeApp.

Offline and key-free: a WebSocket server on 127.0.0.1 plays back the frames in
``tests/data/recorded/`` and the app below reacts to them exactly as it would to the
real service (same routing, same typed events).

    python examples/replay_recording.py [path/to/a/ga-recording.jsonl] [--trio]
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from realtime_dispatch import RealtimeApp, UnknownEvent, events, on
from realtime_dispatch.transports import TransportClosed, WebSocketTransport, serve_websocket

RECORDINGS = Path(__file__).resolve().parent.parent / "tests" / "data" / "recorded"
DEFAULT = RECORDINGS / "ga-pydantic-ai-test_openai_ws-test_audio_in_server_vad_turn-2026-07-28.jsonl"


class Transcript(RealtimeApp):
    """Prints both sides of the conversation and counts what arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()
        self.audio_bytes = 0

    @on("*")
    def count(self, event: events.ServerEvent) -> None:
        self.counts[event.type] += 1
        if isinstance(event, UnknownEvent):
            print(f"(an event type this version does not model: {event.type})")

    @on("conversation.item.input_audio_transcription.completed")
    def user_said(self, event: events.InputAudioTranscriptionCompleted) -> None:
        print(f"user:      {event.transcript}")

    @on("response.output_audio_transcript.done")
    def assistant_said(self, event: events.ResponseOutputAudioTranscriptDone) -> None:
        print(f"assistant: {event.transcript}")

    @on("response.output_text.done")
    def assistant_wrote(self, event: events.ResponseOutputTextDone) -> None:
        print(f"assistant: {event.text}")

    @on("response.output_audio.delta")
    def audio(self, event: events.ResponseOutputAudioDelta) -> None:
        self.audio_bytes += len(event.pcm)

    @on("response.function_call_arguments.done")
    def tool_call(self, event: events.ResponseFunctionCallArgumentsDone) -> None:
        print(f"tool call: {event.name}({' '.join(event.arguments.split())})")

    @on("response.done")
    def done(self, event: events.ResponseDone) -> None:
        usage = event.response.usage
        print(f"(response {event.response.status}, {usage.total_tokens if usage else '?'} tokens)")


async def replay(frames: list[bytes]) -> Transcript:
    async def play(transport: WebSocketTransport) -> None:
        try:
            for frame in frames:
                await transport.send(frame)
        except TransportClosed:
            return
        await transport.close(1000, "end of recording")

    app = Transcript()
    async with serve_websocket(play) as port:
        await app.run_async(f"ws://127.0.0.1:{port}/v1/realtime")
    return app


def main() -> None:
    import anyio

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    path = Path(args[0]) if args else DEFAULT
    frames = [line for line in path.read_bytes().splitlines() if line.strip()]
    app = anyio.run(replay, frames, backend="trio" if "--trio" in sys.argv else "asyncio")
    total = sum(app.counts.values())
    print(f"{total} events of {len(app.counts)} types routed; {app.audio_bytes} bytes of assistant audio")


if __name__ == "__main__":
    main()
