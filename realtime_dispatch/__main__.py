"""``python -m realtime_dispatch``: the same as the ``realtime-dispatch`` command."""

from ._cli import main

raise SystemExit(main())
