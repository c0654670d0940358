"""When and how fast to reconnect after a connection is lost."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from .transports import HandshakeError

__all__ = ("FATAL_ERROR_CODES", "RECOVERABLE_CLOSE_CODES", "ConnectionFailed", "Reconnect")

RECOVERABLE_CLOSE_CODES = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1015})
"""Going away, no status, abnormal closure, server error, restart, try again later, TLS."""

_FATAL_STATUSES = frozenset({400, 401, 403, 404})
FATAL_ERROR_CODES = frozenset(
    {"invalid_api_key", "insufficient_quota", "model_not_found", "invalid_model", "account_deactivated"}
)
"""Server ``error`` codes after which reconnecting cannot help: the key, the quota or the model."""


class ConnectionFailed(ConnectionError):
    """The app could not (re)connect and gave up. ``__cause__`` holds the last error."""


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Exponential backoff with jitter: ``min(initial_delay * 2**n, max_delay)`` scaled by
    a random factor in ``[1 - jitter, 1]``, where ``n`` counts the failures in a row; after
    ``max_attempts`` failures in a row (``None``: no limit) the app ends with
    ``ConnectionFailed``. A connection lost less than ``stable_after`` seconds after it opened
    counts as a failure too, so a server that accepts and drops at once is not hammered; one
    that lived longer starts the count over. Only recoverable close codes and connection
    failures retry; a refused handshake with 400/401/403/404 (bad key, unknown model) stops at once.
    """

    max_attempts: int | None = 10
    initial_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25
    stable_after: float = 10.0

    def delay(self, failures: int) -> float:
        """Seconds to wait before the next attempt, after ``failures`` failures in a row."""
        base: float = min(self.initial_delay * 2.0 ** min(failures, 62), self.max_delay)
        return base * (1 - self.jitter * random.random())

    def delays(self) -> Iterator[float]:
        """The delays of successive attempts, up to ``max_attempts`` of them."""
        attempt = 0
        while self.max_attempts is None or attempt < self.max_attempts:
            yield self.delay(attempt)
            attempt += 1

    @staticmethod
    def is_fatal(exc: BaseException) -> bool:
        if not isinstance(exc, HandshakeError):
            return False
        if exc.status in _FATAL_STATUSES:
            return True
        return exc.status == 429 and "insufficient_quota" in exc.body  # a rate limit retries; no quota does not
