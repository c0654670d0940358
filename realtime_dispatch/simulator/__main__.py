"""``python -m realtime_dispatch.simulator [OPTIONS]``: the same as ``realtime-dispatch simulate [OPTIONS]``
(``--host``, ``--port``, ``--tls``, ``--responder``, ``--script``...; ``--help`` lists them)."""

from __future__ import annotations

import sys

from .._cli import main as cli_main


def main() -> None:
    sys.exit(cli_main(["simulate", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
