"""The ``realtime-dispatch`` command's entry point, outside the package on purpose.

Importing ``realtime_dispatch`` takes a moment (msgspec structs for every event, the routing
tables); a Ctrl-C in that moment must end the command quietly, with 130, like one a moment later.
A function inside the package could not catch it: its import is what is being interrupted.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from realtime_dispatch._cli import main as cli_main
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(cli_main())
