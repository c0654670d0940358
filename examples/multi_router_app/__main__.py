"""``python -m examples.multi_router_app [--url URL] [--model MODEL] [--trio]``"""

from __future__ import annotations

import argparse

import anyio

from realtime_dispatch import openai
from realtime_dispatch.simulator import Simulator

from .app import app


async def run(url: str | None, model: str) -> None:
    if url is not None:
        await app.run_async(openai(model, base_url=url))
        return
    async with Simulator().serve(host="127.0.0.1", port=0) as base_url:  # EchoResponder: "You said: ..."
        await app.run_async(openai(model, base_url=base_url))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.multi_router_app")
    parser.add_argument("--url", help="a real endpoint's base URL, e.g. wss://api.openai.com/v1 (default: simulator)")
    parser.add_argument("--model", default="gpt-realtime")
    parser.add_argument("--trio", action="store_true", help="run on trio instead of asyncio")
    args = parser.parse_args()
    anyio.run(run, args.url, args.model, backend="trio" if args.trio else "asyncio")


if __name__ == "__main__":
    main()
