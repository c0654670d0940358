from __future__ import annotations

import pytest


# anyio's pytest plugin runs tests marked ``anyio`` on the backends this fixture names: both, here.
@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
