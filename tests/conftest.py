from __future__ import annotations

from pathlib import Path

import pytest

RECORDED = Path(__file__).parent / "data" / "recorded"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs on both backends; a missing trio fails instead of skipping."""
    return str(request.param)


def recorded_frames(pattern: str) -> list[tuple[str, int, bytes]]:
    """(file name, line number, frame) for every frame of the recorded files matching ``pattern``."""
    frames = []
    for path in sorted(RECORDED.glob(pattern)):
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            if line.strip():
                frames.append((path.name, number, line))
    return frames
