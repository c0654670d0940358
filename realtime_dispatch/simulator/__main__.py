"""``python -m realtime_dispatch.simulator [--host H] [--port P]``: serve the echo simulator until interrupted."""

from __future__ import annotations

import argparse
import contextlib

import anyio

from ._server import Simulator


async def _serve(host: str, port: int) -> None:
    async with Simulator().serve(host=host, port=port) as base_url:
        print(f"Realtime simulator listening on {base_url}/realtime?model=gpt-realtime", flush=True)
        await anyio.sleep_forever()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m realtime_dispatch.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(_serve, args.host, args.port)


if __name__ == "__main__":
    main()
