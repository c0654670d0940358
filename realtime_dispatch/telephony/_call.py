"""One phone call as an app's handlers see it, and how an app decides what to do with a call.

``current_call()`` is the ``Call`` whose app runs in the current task: the ``TelephonyServer``
sets it around a call's ``answer_call``, ``accept_session`` and the app's whole run, and the
tasks the app starts (background handlers, tools) inherit it.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from ._control import CallGone
from ._webhooks import IncomingCall

if TYPE_CHECKING:
    from ._control import CallControl

__all__ = ("Accept", "AnswersCalls", "Call", "Decision", "Refer", "Reject", "current_call")

logger = logging.getLogger("realtime_dispatch.telephony")


class Call:
    """One phone call: its ``id`` (the Realtime ``call_id``, or the GPT-Live ``session_id``), the
    ``api`` whose call-control endpoints take it, and the ``incoming`` webhook that announced it.

    ``sip_headers``, ``header()`` and ``caller`` come from the caller's side of the SIP INVITE:
    untrusted metadata (route on them, never authenticate with them). ``hangup()`` and
    ``refer()`` act on the call through the call-control REST API.
    """

    def __init__(self, incoming: IncomingCall, control: CallControl, *, api: Literal["ga", "live"]) -> None:
        self.incoming = incoming
        self.id: str = incoming.id
        self.api: Literal["ga", "live"] = api
        self._control = control
        self.hung_up = False
        """``hangup()`` ended the call (or found it already gone)."""
        self.referred_to: str | None = None
        """Where ``refer()`` transferred the call, once it has."""

    def __repr__(self) -> str:
        return f"<Call {self.id} ({self.api})>"

    @property
    def sip_headers(self) -> Mapping[str, str]:
        """The SIP INVITE's headers by name (the first value of a repeated one). Untrusted;
        ``incoming.sip_headers`` keeps them all, in order."""
        found: dict[str, str] = {}
        for header in self.incoming.sip_headers:
            found.setdefault(header.name, header.value)
        return found

    def header(self, name: str) -> str | None:
        """The first value of SIP header ``name`` (case-insensitive), or None. Untrusted."""
        return self.incoming.header(name)

    @property
    def caller(self) -> str | None:
        """The URI in the ``From`` header (``sip:+1415...@host``): a hint, not an identity."""
        return self.incoming.caller

    async def hangup(self) -> None:
        """End the call (``/hangup``). A call already gone (the caller hung up first) is no error."""
        try:
            await self._control.hangup(self.id, api=self.api)
        except CallGone:
            logger.debug("call %s: already ended when hung up", self.id)
        self.hung_up = True

    async def refer(self, target_uri: str) -> None:
        """Transfer the call with a SIP REFER to ``tel:+14155550123`` or ``sip:agent@example.com``.
        Raises ``CallGone`` if the caller has hung up, ``CallControlError`` if the service refuses."""
        await self._control.refer(self.id, target_uri, api=self.api)
        self.referred_to = target_uri


_current: contextvars.ContextVar[Call] = contextvars.ContextVar("realtime_dispatch_current_call")


def current_call() -> Call:
    """The call whose app is running in this task (and the tasks it started). ``RuntimeError``
    outside a call: in code the ``TelephonyServer`` did not start for one."""
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError("current_call() outside a phone call: only a TelephonyServer's calls have one") from None


@contextmanager
def in_call(call: Call) -> Iterator[Call]:
    """Make ``call`` the ``current_call()`` for the block (and the tasks started in it)."""
    token = _current.set(call)
    try:
        yield call
    finally:
        _current.reset(token)


@dataclass(frozen=True)
class Accept:
    """Answer the call with ``session`` (the accept request's session, as JSON-ready data), or
    with the app's own ``accept_session()`` when None."""

    session: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Reject:
    """Decline the call with a SIP status: 603 Decline by default, 486 Busy Here, 403 Forbidden..."""

    status_code: int = 603

    def __post_init__(self) -> None:
        code = self.status_code
        if isinstance(code, bool) or not isinstance(code, int) or not 300 <= code <= 699:
            raise ValueError(f"a SIP rejection status is from 300 to 699, not {code!r}")


@dataclass(frozen=True)
class Refer:
    """Transfer the call before answering it (SIP REFER): ``tel:+14155550123``, ``sip:agent@host``."""

    target_uri: str

    def __post_init__(self) -> None:
        if not isinstance(self.target_uri, str) or not self.target_uri.strip():
            raise ValueError(f"Refer needs a target URI (tel: or sip:), not {self.target_uri!r}")


Decision = Accept | Reject | Refer


@runtime_checkable
class AnswersCalls(Protocol):
    """An app that decides per call. Define on your ``RealtimeApp`` subclass::

        async def answer_call(self, call: Call) -> Accept | Reject | Refer:
            if call.header("X-Blocked") == "yes":
                return Reject(403)
            return Accept()

    It runs on the fresh app instance made for the call, before the call is accepted (keep it
    short: the caller is ringing), with ``current_call()`` set. Without it every call gets
    ``Accept()``: the app's ``accept_session()``.
    """

    async def answer_call(self, call: Call) -> Accept | Reject | Refer: ...
