"""Reading ``app.conversation`` or ``app.metrics`` while its feature is off warns, once per app."""

from __future__ import annotations

import warnings

import pytest
from conftest import serving, settle

from realtime_dispatch import Conversation, Metrics, RealtimeApp, events

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("attribute", "switch"), [("conversation", "track_conversation"), ("metrics", "collect_metrics")]
)
def test_reading_while_off_warns_once_per_app_at_the_callers_line(attribute: str, switch: str) -> None:
    class Off(RealtimeApp):
        pass

    app = Off()
    with pytest.warns(RuntimeWarning, match=rf"Off\.{attribute} .*{switch} is off.*{switch} = True on Off") as caught:
        getattr(app, attribute)
    assert len(caught) == 1
    assert caught[0].filename == __file__  # points at the code that read it, not the library
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = getattr(app, attribute)  # once per app: no second warning
        assert getattr(app, attribute) is first
    with pytest.warns(RuntimeWarning, match=switch):
        getattr(Off(), attribute)  # another app warns again


def test_reading_while_on_does_not_warn() -> None:
    class On(RealtimeApp):
        track_conversation = True
        collect_metrics = True

    app = On()
    assert isinstance(app.conversation, Conversation)
    assert isinstance(app.metrics, Metrics)


def test_an_instance_switch_counts_too() -> None:
    app = RealtimeApp()
    app.track_conversation = True
    app.collect_metrics = True
    assert len(app.conversation) == 0
    assert app.metrics.snapshot()["events"] == {}


async def test_an_app_running_with_both_off_does_not_warn() -> None:
    app = RealtimeApp()  # the suite turns warnings into errors: a read inside the library would fail here
    async with serving(app) as server:
        await server.send_event(events.ConversationItemDeleted.build(item_id="x"))
        await settle(app, server)


async def test_an_app_running_with_both_on_fills_them_without_warning() -> None:
    class On(RealtimeApp):
        track_conversation = True
        collect_metrics = True

    app = On()
    async with serving(app) as server:
        await server.send_event(events.ConversationItemDeleted.build(item_id="x"))
        await settle(app, server)
    assert app.metrics.events["conversation.item.deleted"] == 1
