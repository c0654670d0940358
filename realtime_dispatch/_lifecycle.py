"""The session lifecycle: one owner for where a running app's connection stands.

A plain object in the Sans-I/O sense: no sockets, no sleeps, no clock of its own. The
session runner (``_session``) does the I/O and tells the lifecycle what happened
(``opened``, ``lost``, ``attempt_failed``, ``close``, ``crashed``); each transition returns what
to do next (``Retry`` after a delay, or ``End`` with the outcome) and tells the parts that
hold per-session state, the listeners, that a session started or ended. Its table of
transitions is tested without a network (tests/test_lifecycle.py).

States::

    connecting --opened--> open --lost--> reconnecting --opened--> open ...
         |                  |                  |
         +------------------+------------------+--close / lost for good--> closing --> closed(outcome)
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

from ._reconnect import RECOVERABLE_CLOSE_CODES, ConnectionFailed, Reconnect
from ._redact import redact_text

__all__ = (
    "End",
    "EndReason",
    "Lifecycle",
    "NotConnected",
    "Outcome",
    "Retry",
    "SessionListener",
    "SessionState",
)


class NotConnected(RuntimeError):
    """There is no open transport to send on (and no reconnect to wait for), or the session
    ended for good while this call waited for it."""


class SessionState(enum.Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    CLOSING = "closing"
    CLOSED = "closed"


class EndReason(enum.Enum):
    """Why an app's session ended for good."""

    CLOSED_BY_USER = "closed by the client"
    CLOSED_BY_SERVER = "closed by the server"
    FATAL_ERROR = "refused by the server"
    GAVE_UP = "gave up reconnecting"
    CRASHED = "crashed"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the session ended: ``normal`` ends return from ``run()``; the others raise ``error``."""

    reason: EndReason
    detail: str = ""
    code: int | None = None
    final: Any = None
    """The server's last word on the session, when the protocol has one (GPT-Live's and
    Translation's ``session.closed``: its ``reason``, and GPT-Live's final ``usage``)."""

    @property
    def normal(self) -> bool:
        """Closed by the client, or by the server with 1000 and no fatal error before it."""
        return self.reason is EndReason.CLOSED_BY_USER or (
            self.reason is EndReason.CLOSED_BY_SERVER and self.code == 1000
        )

    def __str__(self) -> str:
        return self.detail or self.reason.value

    def error(self) -> ConnectionFailed | None:
        """What the app's caller gets for this end (None for a normal one)."""
        return None if self.normal else ConnectionFailed(str(self))


@dataclass(frozen=True, slots=True)
class Retry:
    """Open a new connection after ``delay`` seconds (attempt number ``attempt``)."""

    delay: float
    attempt: int


@dataclass(frozen=True, slots=True)
class End:
    """The session is over for good."""

    outcome: Outcome


Decision = Retry | End


class SessionListener:
    """A part that holds per-session state. It hears when a connection's session starts,
    when ``close()`` is asked for, and when the session ends: ``outcome`` is None when the
    connection was lost and a reconnect follows, the final ``Outcome`` when it ends for good.
    Listeners settle themselves there (fail what waits, forget what the next server session
    will not know); they must not block or raise."""

    def session_started(self) -> None:
        """A connection is open and its session is being set up."""

    def session_closing(self) -> None:
        """``close()`` was called: the session ends; nothing more is dispatched."""

    def session_ended(self, outcome: Outcome | None) -> None:
        """The connection is gone; ``outcome`` is set when no reconnect follows."""


_RECENT = 8  # failures remembered for the final error message


class Lifecycle:
    """The states of one app run, and the decisions between them.

    ``now`` arguments are the runner's clock (any monotonic seconds): a connection lost less
    than ``policy.stable_after`` seconds after it opened counts as a failed attempt, so a
    server that accepts and drops at once meets growing backoff and, after
    ``policy.max_attempts`` failures in a row, the end.
    """

    def __init__(self, policy: Reconnect | None, *, can_reconnect: bool) -> None:
        self.policy = policy
        self.can_reconnect = can_reconnect
        self.state = SessionState.CONNECTING
        self.outcome: Outcome | None = None
        self.failures = 0  # failed attempts in a row (connects that failed, connections that died young)
        self.recent: deque[str] = deque(maxlen=_RECENT)  # what those failures were
        self.sessions = 0  # sessions opened so far
        self._opened_at: float | None = None
        self._fatal: str | None = None  # a server error that makes reconnecting pointless
        self._final: Any = None  # the server ended the session (session.closed): the loss that follows is the end
        self._final_normal = True
        self._cut = False  # we cut the connection ourselves (send timeout, recycle): reopen it
        self._recycle = False  # ... on purpose, with the old session fine: reopen at once
        self._retrying = False  # the next connection is a reconnect attempt (not the first, not a recycle)
        self._attempt = False  # the open connection came from a reconnect attempt
        self._listeners: list[SessionListener] = []

    def __repr__(self) -> str:
        return f"<Lifecycle {self.state.value} failures={self.failures}>"

    # --- listeners ---------------------------------------------------------------------------

    def listen(self, listener: SessionListener) -> None:
        """Tell ``listener`` about sessions from now on (in the order listeners were added)."""
        self._listeners.append(listener)

    # --- what the runner reports ------------------------------------------------------------

    @property
    def closing(self) -> bool:
        """``close()`` was asked for, or the session ended: nothing is to be reopened."""
        return self.state in (SessionState.CLOSING, SessionState.CLOSED)

    def opened(self, now: float) -> None:
        """A connection is open (its session is about to be sent)."""
        if self.closing:
            return
        self.state = SessionState.OPEN
        self._opened_at = now
        self._attempt, self._retrying = self._retrying, False
        self.sessions += 1
        for listener in self._listeners:
            listener.session_started()

    def close(self) -> bool:
        """The client asks to end the session; True the first time."""
        if self.closing:
            return False
        self.state = SessionState.CLOSING
        for listener in self._listeners:
            listener.session_closing()
        return True

    def fatal_error(self, detail: str) -> None:
        """The server sent an error after which reconnecting cannot help (bad key, no quota)."""
        self._fatal = detail

    def ended_by_server(self, final: Any, *, normal: bool) -> None:
        """The server ended the session with ``final`` (``session.closed``): nothing follows it, so the
        connection's end is the session's, never a reason to reconnect. ``normal``: a requested close,
        the time limit, the remote party hanging up; not a safety stop or a lost upstream."""
        self._final = final
        self._final_normal = normal

    def cut(self, *, recycle: bool = False) -> None:
        """We closed the transport ourselves: the loss that follows is to be reopened whatever its
        close code says. ``recycle``: on purpose, at a quiet moment; not a failure."""
        self._cut = True
        self._recycle = self._recycle or recycle

    def lost(self, code: int, reason: str, now: float) -> Decision:
        """The open connection ended with close ``code``: reconnect, or end."""
        cut, recycle = self._cut, self._recycle
        self._cut = self._recycle = False
        lived = now - self._opened_at if self._opened_at is not None else 0.0
        self._opened_at = None
        described = f"{code}{': ' + redact_text(reason) if reason else ''}"
        if self.closing:
            return self._end(Outcome(EndReason.CLOSED_BY_USER, code=code))
        if self._final is not None:
            why = getattr(self._final, "reason", None)
            detail = f"the server ended the session ({why})" if why else "the server ended the session"
            normal = self._final_normal
            return self._end(Outcome(EndReason.CLOSED_BY_SERVER, detail, 1000 if normal else None))
        if self._fatal is not None:
            return self._end(Outcome(EndReason.FATAL_ERROR, f"the server refused the session: {self._fatal}", code))
        if not (cut or code in RECOVERABLE_CLOSE_CODES):
            detail = f"the server closed the connection ({described})"
            return self._end(Outcome(EndReason.CLOSED_BY_SERVER, detail, code))
        if not self.can_reconnect:
            if cut:  # we cut it (a send timed out) and nothing can reopen it: not the server's normal close
                return self._end(Outcome(EndReason.GAVE_UP, f"connection cut ({described}); it cannot be reopened"))
            return self._end(Outcome(EndReason.CLOSED_BY_SERVER, f"connection lost ({described})", code))
        if recycle:  # on purpose, the old session fine: reopen at once, whatever the policy
            return self._retry(0.0, attempt=False)
        if self.policy is None:
            return self._end(Outcome(EndReason.GAVE_UP, f"connection lost ({described}); reconnect is off", code))
        self.recent.append(f"connection lost after {lived:.1f} s ({described})")
        if self._attempt and lived < self.policy.stable_after:
            self.failures += 1  # a reconnect whose connection died young: as good as a failed attempt
        else:
            self.failures = 0  # the first connection, or one that lived: the count starts over
        return self._next_attempt(code)

    def attempt_failed(self, error: BaseException, *, fatal: bool = False) -> Decision:
        """Opening a connection failed (``fatal``: refused for good, 401/403/404...)."""
        if self.closing:
            return self._end(Outcome(EndReason.CLOSED_BY_USER))
        if fatal:
            return self._end(Outcome(EndReason.FATAL_ERROR, f"reconnect refused: {redact_text(str(error))}"))
        self.failures += 1
        self.recent.append(f"connect failed: {redact_text(str(error))}")
        return self._next_attempt(None)

    def crashed(self, error: BaseException) -> Outcome:
        """The runner itself failed: the session ends with that error."""
        return self._end(Outcome(EndReason.CRASHED, f"{type(error).__name__}: {redact_text(str(error))}")).outcome

    def finish(self) -> Outcome:
        """The runner stopped (the app's scope was cancelled, or the user closed it): the end."""
        if self.outcome is not None:
            return self.outcome
        return self._end(Outcome(EndReason.CLOSED_BY_USER)).outcome

    # --- decisions ----------------------------------------------------------------------------

    def _next_attempt(self, code: int | None) -> Decision:
        assert self.policy is not None
        limit = self.policy.max_attempts
        if limit is not None and self.failures >= limit:
            last = self.recent[-1] if self.recent else "no attempt"
            detail = f"could not reconnect: {self.failures} failed attempts in a row (last: {last})"
            return self._end(Outcome(EndReason.GAVE_UP, detail, code))
        return self._retry(self.policy.delay(self.failures))

    def _retry(self, delay: float, *, attempt: bool = True) -> Retry:
        was_open = self.state is SessionState.OPEN
        self.state = SessionState.RECONNECTING
        self._retrying = attempt
        if was_open:
            for listener in self._listeners:
                listener.session_ended(None)
        return Retry(delay, self.failures + 1)

    def _end(self, outcome: Outcome) -> End:
        if self.state is SessionState.CLOSED:
            assert self.outcome is not None
            return End(self.outcome)
        if self._final is not None:
            outcome = replace(outcome, final=self._final)
        self.state = SessionState.CLOSED
        self.outcome = outcome
        for listener in self._listeners:
            listener.session_ended(outcome)
        return End(outcome)
