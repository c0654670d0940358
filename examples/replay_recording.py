"""Replay a session recorded from the live Realtime API and print what was said.

Runs offline: the frames come from ``tests/data/recorded/``.

    python examples/replay_recording.py [path/to/recording.jsonl]
"""

from __future__ import annotations

import sys
from pathlib import Path

from realtime_dispatch import events

DEFAULT = (
    Path(__file__).resolve().parent.parent
    / "tests/data/recorded/ga-pydantic-ai-test_openai_ws-test_audio_in_server_vad_turn-2026-07-28.jsonl"
)


def main(path: Path) -> None:
    counts: dict[str, int] = {}
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        event = events.decode(line)
        counts[event.type] = counts.get(event.type, 0) + 1
        match event:
            case events.InputAudioTranscriptionCompleted(transcript=text):
                print(f"user:      {text}")
            case events.ResponseOutputAudioTranscriptDone(transcript=text):
                print(f"assistant: {text}")
            case events.ResponseOutputTextDone(text=text):
                print(f"assistant: {text}")
            case events.ResponseDone(response=response) if response.usage:
                print(f"(response {response.status}, {response.usage.total_tokens} tokens)")
    print(f"{sum(counts.values())} events of {len(counts)} types decoded")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
