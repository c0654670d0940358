"""The session lifecycle's transition table (realtime_dispatch/_lifecycle.py).

The lifecycle is Sans-I/O: these tests drive it by hand (``opened``, ``lost``, ``close``...) with
made-up clock readings and check the states, the decisions (``Retry``/``End``), the outcomes
and what the listeners hear. No sockets, no sleeps, no event loop; ``jitter=0`` makes every
delay exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest

from realtime_dispatch import ConnectionFailed, EndReason, Outcome, Reconnect, SessionListener, SessionState
from realtime_dispatch._lifecycle import End, Lifecycle, Retry
from realtime_dispatch.transports import HandshakeError

# Backoff 1, 2, 4, ... (capped at 100), three failures in a row end it, a connection is
# stable after 10 s.
POLICY = Reconnect(max_attempts=3, initial_delay=1, max_delay=100, jitter=0, stable_after=10)

RECOVERABLE = (1001, 1005, 1006, 1011, 1012, 1013, 1015)
NOT_RECOVERABLE = (1008, 1009, 4000)


# --- steps: one call on the lifecycle each, named for the test ids ---------------------------


@dataclass(frozen=True)
class Step:
    label: str
    call: Callable[[Lifecycle], object]

    def __repr__(self) -> str:
        return self.label


def opened(at: float = 0.0) -> Step:
    return Step(f"opened@{at:g}", lambda lc: lc.opened(at))


def lost(code: int, at: float = 1.0, reason: str = "") -> Step:
    return Step(f"lost({code})@{at:g}", lambda lc: lc.lost(code, reason, at))


def fatal(detail: str) -> Step:
    return Step("fatal_error", lambda lc: lc.fatal_error(detail))


OPEN = opened()
CLOSE = Step("close", lambda lc: lc.close())
CUT = Step("cut", lambda lc: lc.cut())
RECYCLE = Step("cut(recycle)", lambda lc: lc.cut(recycle=True))
FAIL = Step("attempt_failed", lambda lc: lc.attempt_failed(OSError("connection refused")))
REFUSED = Step(
    "attempt_failed(fatal)",
    lambda lc: lc.attempt_failed(
        HandshakeError("server rejected WebSocket connection: HTTP 401", status=401), fatal=True
    ),
)
CRASH = Step("crashed", lambda lc: lc.crashed(RuntimeError("boom")))
FINISH = Step("finish", lambda lc: lc.finish())


def play(
    steps: Sequence[Step], *, policy: Reconnect | None = POLICY, can_reconnect: bool = True
) -> tuple[Lifecycle, object]:
    """A fresh lifecycle after ``steps``, and what the last step returned."""
    lc = Lifecycle(policy, can_reconnect=can_reconnect)
    result: object = None
    for step in steps:
        result = step.call(lc)
    return lc, result


@dataclass(frozen=True)
class Ends:
    """The expected ``End``: its reason, whether it is normal, and words its message holds."""

    reason: EndReason
    normal: bool
    words: tuple[str, ...] = ()
    code: int | str | None = "any"


def check_end(decision: object, expected: Ends) -> Outcome:
    assert isinstance(decision, End), decision
    outcome = decision.outcome
    assert outcome.reason is expected.reason, outcome
    assert outcome.normal is expected.normal, outcome
    if expected.code != "any":
        assert outcome.code == expected.code, outcome
    for word in expected.words:
        assert word in str(outcome), (word, str(outcome))
    error = outcome.error()
    if expected.normal:
        assert error is None
    else:
        assert isinstance(error, ConnectionFailed)
        assert str(error) == str(outcome)
        for word in expected.words:
            assert word in str(error)
    return outcome


# --- states --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "state"),
    [
        pytest.param([], SessionState.CONNECTING, id="new"),
        pytest.param([OPEN], SessionState.OPEN, id="connecting-opened"),
        pytest.param([OPEN, lost(1006)], SessionState.RECONNECTING, id="open-lost-recoverable"),
        pytest.param([OPEN, lost(1006), opened(2)], SessionState.OPEN, id="reconnecting-opened"),
        pytest.param([OPEN, lost(1006), FAIL], SessionState.RECONNECTING, id="reconnecting-attempt-failed"),
        pytest.param([OPEN, lost(1000)], SessionState.CLOSED, id="open-lost-1000"),
        pytest.param([CLOSE], SessionState.CLOSING, id="connecting-close"),
        pytest.param([OPEN, CLOSE], SessionState.CLOSING, id="open-close"),
        pytest.param([OPEN, lost(1006), CLOSE], SessionState.CLOSING, id="reconnecting-close"),
        pytest.param([CLOSE, OPEN], SessionState.CLOSING, id="closing-opened-is-ignored"),
        pytest.param([OPEN, lost(1006), CLOSE, opened(2)], SessionState.CLOSING, id="closing-reopened-is-ignored"),
        pytest.param([OPEN, CLOSE, lost(1000)], SessionState.CLOSED, id="closing-lost"),
        pytest.param([OPEN, lost(1000), opened(2)], SessionState.CLOSED, id="closed-opened-is-ignored"),
        pytest.param([OPEN, lost(1000), CLOSE], SessionState.CLOSED, id="closed-close"),
        pytest.param([OPEN, CRASH], SessionState.CLOSED, id="open-crashed"),
        pytest.param([FINISH], SessionState.CLOSED, id="connecting-finish"),
        pytest.param([OPEN, lost(1006), FINISH], SessionState.CLOSED, id="reconnecting-finish"),
    ],
)
def test_state_after(steps: list[Step], state: SessionState) -> None:
    lc, _ = play(steps)
    assert lc.state is state
    assert lc.closing is (state in (SessionState.CLOSING, SessionState.CLOSED))
    assert (lc.outcome is not None) is (state is SessionState.CLOSED)


# --- decisions -----------------------------------------------------------------------------

USER = Ends(EndReason.CLOSED_BY_USER, normal=True)

DECISIONS = [
    # the server closes
    pytest.param([OPEN, lost(1000)], Ends(EndReason.CLOSED_BY_SERVER, True, ("1000",), 1000), id="1000-normal"),
    pytest.param(
        [OPEN, lost(1000, reason="bye")],
        Ends(EndReason.CLOSED_BY_SERVER, True, ("the server closed the connection (1000: bye)",), 1000),
        id="1000-with-reason",
    ),
    *(
        pytest.param(
            [OPEN, lost(code, reason="policy")],
            Ends(EndReason.CLOSED_BY_SERVER, False, (str(code), "policy"), code),
            id=f"{code}-not-recoverable",
        )
        for code in NOT_RECOVERABLE
    ),
    *(pytest.param([OPEN, lost(code)], Retry(1, 1), id=f"{code}-reconnects") for code in RECOVERABLE),
    # close() from every state, then the connection ends (however it ends)
    pytest.param([CLOSE, lost(1000)], USER, id="close-from-connecting"),
    pytest.param([OPEN, CLOSE, lost(1000)], USER, id="close-from-open"),
    pytest.param([OPEN, CLOSE, lost(1006)], USER, id="close-from-open-abrupt-loss"),
    pytest.param([OPEN, CLOSE, lost(1008)], USER, id="close-from-open-server-code"),
    pytest.param([OPEN, lost(1006), CLOSE, lost(1000)], USER, id="close-from-reconnecting"),
    pytest.param([OPEN, lost(1006), opened(2), CLOSE, lost(1006, at=3)], USER, id="close-after-a-reconnect"),
    pytest.param([OPEN, CLOSE, CUT, lost(1000)], USER, id="close-wins-over-cut"),
    # a fatal server error: nothing is retried, whatever the close code
    pytest.param(
        [OPEN, fatal("invalid_api_key: bad key"), lost(1006)],
        Ends(EndReason.FATAL_ERROR, False, ("the server refused the session: invalid_api_key: bad key",), 1006),
        id="fatal-then-recoverable",
    ),
    pytest.param(
        [OPEN, fatal("insufficient_quota: no quota"), lost(1000)],
        Ends(EndReason.FATAL_ERROR, False, ("insufficient_quota: no quota",), 1000),
        id="fatal-then-1000",
    ),
    pytest.param(
        [OPEN, fatal("invalid_api_key: bad key"), CUT, lost(1000)],
        Ends(EndReason.FATAL_ERROR, False, ("invalid_api_key",)),
        id="fatal-then-cut",
    ),
    # we cut the connection ourselves: reopened whatever the close code says
    pytest.param([OPEN, CUT, lost(1000)], Retry(1, 1), id="cut-1000-reconnects"),
    pytest.param([OPEN, CUT, lost(1008)], Retry(1, 1), id="cut-1008-reconnects"),
    pytest.param([OPEN, RECYCLE, lost(1000)], Retry(0.0, 1), id="recycle-at-once"),
    pytest.param([OPEN, RECYCLE, CUT, lost(1000)], Retry(0.0, 1), id="recycle-then-cut-still-recycles"),
    pytest.param(
        [OPEN, CUT, lost(1000), opened(2), lost(1000, at=3)],
        Ends(EndReason.CLOSED_BY_SERVER, True, ("1000",), 1000),
        id="cut-is-forgotten-after-the-loss",
    ),
    pytest.param(
        [OPEN, RECYCLE, lost(1000), opened(2), lost(1000, at=3)],
        Ends(EndReason.CLOSED_BY_SERVER, True, ("1000",), 1000),
        id="recycle-is-forgotten-after-the-loss",
    ),
    # attempts to reconnect
    pytest.param([OPEN, lost(1006), FAIL], Retry(2, 2), id="attempt-failed-retries"),
    pytest.param(
        [OPEN, lost(1006), REFUSED],
        Ends(EndReason.FATAL_ERROR, False, ("reconnect refused", "401"), None),
        id="attempt-refused",
    ),
    pytest.param([OPEN, lost(1006), CLOSE, FAIL], USER, id="attempt-failed-while-closing"),
    pytest.param([OPEN, lost(1006), CLOSE, REFUSED], USER, id="attempt-refused-while-closing"),
    # after the end, nothing changes
    pytest.param(
        [OPEN, lost(1008), lost(1006, at=2)],
        Ends(EndReason.CLOSED_BY_SERVER, False, ("1008",), 1008),
        id="lost-after-end-keeps-outcome",
    ),
    pytest.param(
        [OPEN, lost(1008), FAIL], Ends(EndReason.CLOSED_BY_SERVER, False, ("1008",), 1008), id="failed-after-end"
    ),
]


@pytest.mark.parametrize(("steps", "expected"), DECISIONS)
def test_decision(steps: list[Step], expected: Retry | Ends) -> None:
    lc, decision = play(steps)
    if isinstance(expected, Retry):
        assert decision == expected
        assert lc.state is SessionState.RECONNECTING
        assert lc.outcome is None
    else:
        outcome = check_end(decision, expected)
        assert lc.state is SessionState.CLOSED
        assert lc.outcome == outcome


@pytest.mark.parametrize("code", RECOVERABLE)
def test_a_recoverable_loss_without_a_factory_ends_abnormally(code: int) -> None:
    _, decision = play([OPEN, lost(code)], can_reconnect=False)
    check_end(decision, Ends(EndReason.CLOSED_BY_SERVER, False, ("connection lost", str(code)), code))


@pytest.mark.parametrize("code", [*RECOVERABLE, 1000])
def test_a_loss_with_reconnect_off_gives_up(code: int) -> None:
    steps = [OPEN, lost(code)] if code != 1000 else [OPEN, CUT, lost(code)]
    _, decision = play(steps, policy=None)
    check_end(decision, Ends(EndReason.GAVE_UP, False, ("reconnect is off", str(code)), code))


def test_a_non_recoverable_code_ends_even_without_a_factory_or_policy() -> None:
    for policy, can_reconnect in [(None, False), (None, True), (POLICY, False)]:
        _, decision = play([OPEN, lost(1008)], policy=policy, can_reconnect=can_reconnect)
        check_end(decision, Ends(EndReason.CLOSED_BY_SERVER, False, ("1008",), 1008))
        _, decision = play([OPEN, lost(1000)], policy=policy, can_reconnect=can_reconnect)
        check_end(decision, Ends(EndReason.CLOSED_BY_SERVER, True, ("1000",), 1000))


def test_a_cut_connection_that_cannot_be_reopened_does_not_end_normally() -> None:
    """We closed it ourselves (a send timed out): closing our own transport reports 1000, but
    the session did not end normally, and the server did not close it."""
    _, decision = play([OPEN, CUT, lost(1000)], can_reconnect=False)
    assert isinstance(decision, End)
    assert not decision.outcome.normal, decision.outcome
    assert isinstance(decision.outcome.error(), ConnectionFailed)
    assert "1000" in str(decision.outcome.error())


def test_a_recycle_is_reopened_even_with_reconnect_off() -> None:
    """A recycle is on purpose, at once, not a failure: it does not need the backoff policy."""
    _, decision = play([OPEN, RECYCLE, lost(1000)], policy=None)
    assert decision == Retry(0.0, 1)


def test_close_reasons_in_outcomes_are_redacted() -> None:
    secret = "sk-proj-abcdefghijklmnop"
    for code in (1008, 1006):
        _, decision = play([OPEN, lost(code, reason=f"bad key {secret}")], can_reconnect=False)
        assert isinstance(decision, End)
        assert secret not in str(decision.outcome)
        assert "<redacted>" in str(decision.outcome)


# --- close, crashed, finish --------------------------------------------------------------------


@pytest.mark.parametrize(
    "before",
    [
        pytest.param([], id="connecting"),
        pytest.param([OPEN], id="open"),
        pytest.param([OPEN, lost(1006)], id="reconnecting"),
    ],
)
def test_close_is_true_once(before: list[Step]) -> None:
    lc, _ = play(before)
    assert lc.close() is True
    assert lc.state is SessionState.CLOSING
    assert lc.close() is False
    assert lc.state is SessionState.CLOSING
    assert lc.outcome is None
    check_end(End(lc.finish()), USER)


@pytest.mark.parametrize(
    "end",
    [
        pytest.param([OPEN, lost(1008)], id="closed-by-server"),
        pytest.param([OPEN, CRASH], id="crashed"),
        pytest.param([OPEN, lost(1006), REFUSED], id="refused"),
        pytest.param([OPEN, CLOSE, lost(1000)], id="closed-by-user"),
    ],
)
def test_close_after_the_end_changes_nothing(end: list[Step]) -> None:
    lc, _ = play(end)
    outcome = lc.outcome
    listener = Recording()
    lc.listen(listener)
    assert lc.close() is False
    assert lc.state is SessionState.CLOSED
    assert lc.outcome is outcome
    assert lc.finish() is outcome
    assert listener.log == []


def test_crashed_ends_with_the_error() -> None:
    lc, outcome = play([OPEN, CRASH])
    assert isinstance(outcome, Outcome)
    assert outcome.reason is EndReason.CRASHED
    assert str(outcome) == "RuntimeError: boom"
    assert not outcome.normal
    assert isinstance(outcome.error(), ConnectionFailed)
    assert lc.outcome == outcome
    assert lc.state is SessionState.CLOSED


@pytest.mark.parametrize(
    "before",
    [
        pytest.param([], id="connecting"),
        pytest.param([OPEN, lost(1006)], id="reconnecting"),
        pytest.param([OPEN, CLOSE], id="closing"),
    ],
)
def test_crashed_from_any_state(before: list[Step]) -> None:
    lc, outcome = play([*before, CRASH])
    assert isinstance(outcome, Outcome)
    assert outcome.reason is EndReason.CRASHED
    assert lc.outcome == outcome


def test_crashed_after_the_end_returns_the_sessions_outcome() -> None:
    """The session had already ended: the outcome returned is the one it ended with."""
    lc, _ = play([OPEN, lost(1008)])
    ended = lc.outcome
    outcome = lc.crashed(RuntimeError("late"))
    assert lc.outcome is ended
    assert outcome == ended


@pytest.mark.parametrize(
    "before",
    [
        pytest.param([], id="nothing"),
        pytest.param([OPEN], id="open"),
        pytest.param([OPEN, lost(1006)], id="reconnecting"),
        pytest.param([OPEN, CLOSE], id="after-close"),
    ],
)
def test_finish_without_an_end_is_closed_by_user(before: list[Step]) -> None:
    lc, _ = play(before)
    outcome = lc.finish()
    check_end(End(outcome), USER)
    assert lc.outcome is outcome
    assert lc.state is SessionState.CLOSED
    assert lc.finish() is outcome


@pytest.mark.parametrize(
    ("end", "reason"),
    [
        pytest.param([OPEN, lost(1000)], EndReason.CLOSED_BY_SERVER, id="closed-by-server"),
        pytest.param([OPEN, lost(1008)], EndReason.CLOSED_BY_SERVER, id="closed-by-server-abnormal"),
        pytest.param([OPEN, fatal("x"), lost(1006)], EndReason.FATAL_ERROR, id="fatal"),
        pytest.param([OPEN, lost(1006), FAIL, FAIL, FAIL], EndReason.GAVE_UP, id="gave-up"),
        pytest.param([OPEN, CRASH], EndReason.CRASHED, id="crashed"),
        pytest.param([OPEN, CLOSE, lost(1000)], EndReason.CLOSED_BY_USER, id="closed-by-user"),
    ],
)
def test_finish_after_an_end_keeps_that_outcome(end: list[Step], reason: EndReason) -> None:
    lc, _ = play(end)
    outcome = lc.outcome
    assert outcome is not None
    assert outcome.reason is reason
    assert lc.finish() is outcome
    assert lc.outcome is outcome


# --- flapping (guarantee 4) --------------------------------------------------------------------


class Clock:
    """Drives a lifecycle through connections of given lifetimes on a made-up clock."""

    def __init__(self, policy: Reconnect | None = POLICY) -> None:
        self.lc = Lifecycle(policy, can_reconnect=True)
        self.now = 100.0

    def connection(self, lived: float, code: int = 1006) -> Retry | End:
        self.lc.opened(self.now)
        self.now += lived
        decision = self.lc.lost(code, "", self.now)
        self.now += 1
        return decision

    def failed(self, error: str = "connection refused") -> Retry | End:
        self.now += 1
        return self.lc.attempt_failed(OSError(error))


def test_the_first_connection_dying_young_is_not_a_failure() -> None:
    run = Clock()
    assert run.connection(lived=1) == Retry(1, 1)
    assert run.lc.failures == 0


def test_reconnects_that_die_young_back_off_then_give_up() -> None:
    run = Clock()
    assert run.connection(lived=1) == Retry(1, 1)
    assert run.connection(lived=1) == Retry(2, 2)
    assert run.lc.failures == 1
    assert run.connection(lived=9.9) == Retry(4, 3)
    assert run.lc.failures == 2
    decision = run.connection(lived=2.5, code=1011)
    outcome = check_end(
        decision,
        Ends(
            EndReason.GAVE_UP, False, ("could not reconnect", "3 failed attempts", "connection lost after 2.5 s (1011)")
        ),
    )
    assert outcome.code == 1011
    assert run.lc.state is SessionState.CLOSED


def test_a_reconnect_that_lived_resets_the_count() -> None:
    run = Clock()
    assert run.connection(lived=1) == Retry(1, 1)
    assert run.connection(lived=1) == Retry(2, 2)
    assert run.connection(lived=1) == Retry(4, 3)
    assert run.connection(lived=10) == Retry(1, 1)  # stable_after exactly: it lived
    assert run.lc.failures == 0
    assert run.connection(lived=1) == Retry(2, 2)
    assert run.connection(lived=1) == Retry(4, 3)
    assert isinstance(run.connection(lived=1), End)


def test_failed_connects_and_young_deaths_add_up() -> None:
    run = Clock()
    assert run.connection(lived=1) == Retry(1, 1)
    assert run.failed() == Retry(2, 2)
    assert run.connection(lived=1) == Retry(4, 3)
    check_end(
        run.failed("no route to host"),
        Ends(
            EndReason.GAVE_UP, False, ("could not reconnect", "3 failed attempts", "connect failed: no route to host")
        ),
    )


def test_a_failed_connect_after_a_stable_connection_starts_from_one() -> None:
    run = Clock()
    assert run.connection(lived=60) == Retry(1, 1)
    assert run.failed() == Retry(2, 2)
    assert run.failed() == Retry(4, 3)
    assert run.connection(lived=60) == Retry(1, 1)


def test_a_recycle_is_not_a_failure() -> None:
    run = Clock()
    assert run.connection(lived=1) == Retry(1, 1)
    assert run.connection(lived=1) == Retry(2, 2)
    run.lc.opened(run.now)
    run.lc.cut(recycle=True)
    assert run.lc.lost(1000, "", run.now + 1) == Retry(0.0, 2)
    assert run.lc.failures == 1
    assert list(run.lc.recent) == ["connection lost after 1.0 s (1006)"] * 2


def test_a_cut_counts_like_any_loss() -> None:
    run = Clock()
    assert run.connection(lived=1) == Retry(1, 1)
    run.lc.opened(run.now)
    run.lc.cut()
    assert run.lc.lost(1000, "", run.now + 1) == Retry(2, 2)
    assert run.lc.failures == 1


def test_delays_are_capped_at_max_delay() -> None:
    run = Clock(Reconnect(max_attempts=None, initial_delay=1, max_delay=5, jitter=0, stable_after=10))
    run.connection(lived=1)
    delays = [decision.delay for decision in (run.failed() for _ in range(5)) if isinstance(decision, Retry)]
    assert delays == [2, 4, 5, 5, 5]


def test_no_max_attempts_never_gives_up() -> None:
    run = Clock(Reconnect(max_attempts=None, initial_delay=1, max_delay=100, jitter=0, stable_after=10))
    assert run.connection(lived=1) == Retry(1, 1)
    for round_ in range(1, 51):
        decision = run.connection(lived=1) if round_ % 2 else run.failed()
        assert isinstance(decision, Retry), (round_, decision)
        assert decision.attempt == round_ + 1
        assert decision.delay == min(2**round_, 100)
    assert run.lc.failures == 50
    assert run.lc.state is SessionState.RECONNECTING
    assert len(run.lc.recent) == 8  # what the message would quote is bounded


# --- listeners ---------------------------------------------------------------------------------


class Recording(SessionListener):
    def __init__(self, name: str = "", log: list[tuple[str, ...] | tuple[str, Outcome | None]] | None = None) -> None:
        self.name = name
        self.log: list[tuple[str, ...] | tuple[str, Outcome | None]] = [] if log is None else log

    def session_started(self) -> None:
        self.log.append((f"{self.name}started",))

    def session_closing(self) -> None:
        self.log.append((f"{self.name}closing",))

    def session_ended(self, outcome: Outcome | None) -> None:
        self.log.append((f"{self.name}ended", outcome))


def test_listeners_hear_each_session() -> None:
    lc = Lifecycle(POLICY, can_reconnect=True)
    listener = Recording()
    lc.listen(listener)
    lc.opened(0)
    assert isinstance(lc.lost(1006, "", 100), Retry)
    lc.opened(101)
    assert isinstance(lc.lost(1012, "", 200), Retry)
    lc.opened(201)
    lc.cut(recycle=True)
    assert isinstance(lc.lost(1000, "", 202), Retry)
    lc.opened(203)
    assert lc.close()
    assert not lc.close()
    decision = lc.lost(1000, "", 204)
    assert isinstance(decision, End)
    lc.finish()
    lc.close()
    assert listener.log == [
        ("started",),
        ("ended", None),
        ("started",),
        ("ended", None),
        ("started",),
        ("ended", None),
        ("started",),
        ("closing",),
        ("ended", decision.outcome),
    ]


# The final session_ended comes once, whatever path ends the session.
ENDINGS = [
    pytest.param([OPEN, lost(1000)], EndReason.CLOSED_BY_SERVER, 0, id="closed-by-server"),
    pytest.param([OPEN, lost(1008)], EndReason.CLOSED_BY_SERVER, 0, id="closed-by-server-abnormal"),
    pytest.param([OPEN, CLOSE, lost(1000)], EndReason.CLOSED_BY_USER, 0, id="close-then-lost"),
    pytest.param([OPEN, CLOSE, FINISH], EndReason.CLOSED_BY_USER, 0, id="close-then-finish"),
    pytest.param([CLOSE, FINISH], EndReason.CLOSED_BY_USER, 0, id="close-before-opened"),
    pytest.param([FINISH], EndReason.CLOSED_BY_USER, 0, id="finish-before-opened"),
    pytest.param([OPEN, FINISH], EndReason.CLOSED_BY_USER, 0, id="finish-while-open"),
    pytest.param([OPEN, lost(1006), FINISH], EndReason.CLOSED_BY_USER, 1, id="finish-while-reconnecting"),
    pytest.param([OPEN, lost(1006), CLOSE, FINISH], EndReason.CLOSED_BY_USER, 1, id="close-while-reconnecting"),
    pytest.param([OPEN, lost(1006), CLOSE, FAIL, FINISH], EndReason.CLOSED_BY_USER, 1, id="close-then-attempt-fails"),
    pytest.param([OPEN, CRASH, FINISH], EndReason.CRASHED, 0, id="crashed-while-open"),
    pytest.param([OPEN, lost(1006), CRASH, FINISH], EndReason.CRASHED, 1, id="crashed-while-reconnecting"),
    pytest.param([OPEN, lost(1006), FAIL, FAIL, FAIL, FINISH], EndReason.GAVE_UP, 1, id="gave-up-while-reconnecting"),
    pytest.param(
        [OPEN, lost(1006), opened(2), lost(1006, at=3), opened(4), lost(1006, at=5), opened(6), lost(1006, at=7)],
        EndReason.GAVE_UP,
        3,
        id="gave-up-on-a-young-death",
    ),
    pytest.param([OPEN, lost(1006), REFUSED, FINISH], EndReason.FATAL_ERROR, 1, id="refused-while-reconnecting"),
    pytest.param([OPEN, fatal("x"), lost(1006), FINISH], EndReason.FATAL_ERROR, 0, id="fatal-error"),
    pytest.param(
        [OPEN, lost(1008), CRASH, FAIL, lost(1006, at=2), CLOSE, FINISH],
        EndReason.CLOSED_BY_SERVER,
        0,
        id="everything-after-the-end",
    ),
]


@pytest.mark.parametrize(("steps", "reason", "reconnects"), ENDINGS)
def test_exactly_one_final_session_ended(steps: list[Step], reason: EndReason, reconnects: int) -> None:
    lc = Lifecycle(POLICY, can_reconnect=True)
    listener = Recording()
    lc.listen(listener)
    for step in steps:
        step.call(lc)
    ended = [entry[1] for entry in listener.log if entry[0] == "ended"]
    final = [outcome for outcome in ended if outcome is not None]
    assert len(final) == 1, listener.log
    assert final[0] is lc.outcome
    assert final[0].reason is reason
    assert listener.log[-1] == ("ended", lc.outcome)  # nothing after the end
    assert ended.count(None) == reconnects
    assert listener.log.count(("started",)) == lc.sessions
    assert listener.log.count(("closing",)) <= 1


def test_session_closing_comes_once_and_only_from_close() -> None:
    lc = Lifecycle(POLICY, can_reconnect=True)
    listener = Recording()
    lc.listen(listener)
    lc.opened(0)
    lc.fatal_error("x")
    lc.cut()
    assert lc.close()
    assert not lc.close()
    lc.finish()
    assert not lc.close()
    assert [entry[0] for entry in listener.log] == ["started", "closing", "ended"]


def test_listeners_are_called_in_the_order_they_were_added() -> None:
    log: list[tuple[str, ...] | tuple[str, Outcome | None]] = []
    lc = Lifecycle(POLICY, can_reconnect=True)
    for name in ("a.", "b.", "c."):
        lc.listen(Recording(name, log))
    lc.opened(0)
    lc.lost(1006, "", 1)
    lc.opened(2)
    lc.close()
    lc.finish()
    outcome = lc.outcome
    assert [entry[0] for entry in log] == [
        *("a.started", "b.started", "c.started"),
        *("a.ended", "b.ended", "c.ended"),
        *("a.started", "b.started", "c.started"),
        *("a.closing", "b.closing", "c.closing"),
        *("a.ended", "b.ended", "c.ended"),
    ]
    assert [entry[1] for entry in log if entry[0].endswith("ended")] == [None] * 3 + [outcome] * 3


def test_a_listener_added_later_hears_only_what_follows() -> None:
    lc = Lifecycle(POLICY, can_reconnect=True)
    lc.opened(0)
    listener = Recording()
    lc.listen(listener)
    lc.lost(1006, "", 1)
    lc.opened(2)
    assert listener.log == [("ended", None), ("started",)]


def test_the_base_listener_ignores_everything() -> None:
    lc = Lifecycle(POLICY, can_reconnect=True)
    lc.listen(SessionListener())
    lc.opened(0)
    lc.lost(1006, "", 1)
    lc.close()
    assert lc.finish().reason is EndReason.CLOSED_BY_USER


def test_sessions_are_counted() -> None:
    run = Clock()
    run.connection(lived=60)
    run.failed()
    run.connection(lived=60)
    assert run.lc.sessions == 2
    run.lc.close()
    run.lc.opened(run.now)  # ignored: closing
    assert run.lc.sessions == 2


# --- Outcome -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "normal"),
    [
        pytest.param(Outcome(EndReason.CLOSED_BY_USER), True, id="user"),
        pytest.param(Outcome(EndReason.CLOSED_BY_USER, code=1006), True, id="user-1006"),
        pytest.param(Outcome(EndReason.CLOSED_BY_SERVER, "x", 1000), True, id="server-1000"),
        pytest.param(Outcome(EndReason.CLOSED_BY_SERVER, "x", 1001), False, id="server-1001"),
        pytest.param(Outcome(EndReason.CLOSED_BY_SERVER, "x", 1008), False, id="server-1008"),
        pytest.param(Outcome(EndReason.CLOSED_BY_SERVER, "x"), False, id="server-no-code"),
        pytest.param(Outcome(EndReason.FATAL_ERROR, "x", 1000), False, id="fatal-1000"),
        pytest.param(Outcome(EndReason.GAVE_UP, "x", 1000), False, id="gave-up-1000"),
        pytest.param(Outcome(EndReason.CRASHED, "x"), False, id="crashed"),
    ],
)
def test_outcome_normal(outcome: Outcome, normal: bool) -> None:
    assert outcome.normal is normal
    error = outcome.error()
    if normal:
        assert error is None
    else:
        assert isinstance(error, ConnectionFailed)
        assert str(error) == str(outcome)


@pytest.mark.parametrize("reason", list(EndReason))
def test_outcome_str_is_the_detail_or_the_reason(reason: EndReason) -> None:
    assert str(Outcome(reason, "the detail", 1000)) == "the detail"
    assert str(Outcome(reason)) == reason.value


# --- the server ends the session (GPT-Live and Translation: session.closed) ----------------------


@dataclass(frozen=True)
class Closed:
    reason: str


@pytest.mark.parametrize("code", [1000, 1006, 1011])
@pytest.mark.parametrize(("reason", "normal"), [("expired", True), ("close_requested", True), ("content", False)])
def test_after_the_servers_last_word_a_loss_ends_the_session_whatever_its_code(
    code: int, reason: str, normal: bool
) -> None:
    lifecycle = Lifecycle(POLICY, can_reconnect=True)
    lifecycle.opened(0.0)
    final = Closed(reason)
    lifecycle.ended_by_server(final, normal=normal)
    decision = lifecycle.lost(code, "", 50.0)
    assert isinstance(decision, End)  # never a reconnect: the session is over on the server
    outcome = decision.outcome
    assert outcome.reason is EndReason.CLOSED_BY_SERVER
    assert outcome.normal is normal
    assert outcome.final is final
    assert reason in str(outcome)
    assert (outcome.error() is None) is normal


def test_a_close_after_the_servers_last_word_keeps_it_as_the_final_word() -> None:
    lifecycle = Lifecycle(POLICY, can_reconnect=True)
    lifecycle.opened(0.0)
    final = Closed("close_requested")
    lifecycle.ended_by_server(final, normal=True)
    lifecycle.close()
    decision = lifecycle.lost(1000, "", 1.0)
    assert isinstance(decision, End)
    assert decision.outcome.reason is EndReason.CLOSED_BY_USER
    assert decision.outcome.final is final
