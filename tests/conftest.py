from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from realtime_dispatch import RealtimeApp, events
from realtime_dispatch.transports import MemoryServer, memory_pair

RECORDED = Path(__file__).parent / "data" / "recorded"


@pytest.fixture(autouse=True, scope="session")
def _temporary_files_stay_with_the_test_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """What the code under test puts in the temporary directory (the demo's session report, a browser's profile)
    goes below pytest's own temporary folder, for this process and the subprocesses it starts, not into /tmp
    for good."""
    base = tmp_path_factory.mktemp("tmp")
    previous_env, previous_dir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = str(base)
    tempfile.tempdir = str(base)
    try:
        yield
    finally:
        tempfile.tempdir = previous_dir
        if previous_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = previous_env


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


@asynccontextmanager
async def serving(app: RealtimeApp) -> AsyncIterator[MemoryServer]:
    """Run ``app`` on an in-memory connection for the block; yields the server side."""
    client, server = memory_pair()
    try:
        async with app.connect(client):
            yield server
    finally:
        await server.close()
        await client.aclose()


async def settle(app: RealtimeApp, server: MemoryServer) -> None:
    """Until the app has handled everything the server sent so far (a marker event, round trip)."""
    cleared = app.connection.expect("input_audio_buffer.cleared")
    await server.send_event(events.InputAudioBufferCleared.build())
    await cleared.wait(5)
