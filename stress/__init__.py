"""Long-running stress scripts: soak, many sessions, slow consumer (see ``stress/README.md``).

Like ``benchmarks/``, these print figures and never fail on them; ``tests/test_stress_smoke.py``
runs tiny versions of each in the test suite so they do not rot. This module holds the few
helpers they share.
"""

from __future__ import annotations

import functools
import logging
import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ("LogCounter", "corpus", "counting_logs", "open_fds", "peak_rss_mib", "raise_fd_limit", "rss_mib")

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@functools.cache
def corpus() -> list[bytes]:
    """``benchmarks.corpus.build_corpus()``, built once per process (it takes ~0.3 s)."""
    from benchmarks.corpus import build_corpus

    return build_corpus()


def rss_mib() -> float:
    """Resident set size of this process now, in MiB (``/proc/self/statm``; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE / 2**20
    except OSError:  # not Linux: the best we have is the peak
        return peak_rss_mib()


def peak_rss_mib() -> float:
    """Peak resident set size of this process, in MiB (``getrusage``; KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def open_fds() -> int:
    """File descriptors open in this process (-1 where /proc is not there)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (never past the hard limit); return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


class LogCounter(logging.Handler):
    """Counts log records by logger, level and message template (``record.msg``), without formatting them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counts: dict[tuple[str, str, str], int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        key = (record.name, record.levelname, str(record.msg))
        self.counts[key] = self.counts.get(key, 0) + 1

    def count(self, level: str = "WARNING", contains: str = "", logger: str = "realtime_dispatch") -> int:
        """Records at ``level`` from ``logger`` (or its children) whose template contains ``contains``."""
        return sum(
            n
            for (name, levelname, template), n in self.counts.items()
            if levelname == level and name.startswith(logger) and contains in template
        )

    def summary(self) -> list[str]:
        return [f"{n:>8,} x {level} {name}: {template[:90]}" for (name, level, template), n in self.counts.items()]


@contextmanager
def counting_logs(level: int) -> Iterator[LogCounter]:
    """Count the library's log records at ``level`` and above instead of printing them; restored after."""
    logger = logging.getLogger("realtime_dispatch")
    saved = (logger.level, logger.propagate)
    counter = LogCounter()
    logger.addHandler(counter)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
