"""Event consumers handle a chunk of events per transaction, each event in its own savepoint:
a failing handler rolls back alone and is parked, the rest of the chunk commits with the cursor;
what a consumer's prepare read for the chunk reaches its handlers, and a failing prepare costs
nothing but the saving. Live pushes of one transaction go out as one message per group (topics
asked for in a savepoint that later rolled back may ride along: a page refetches once more)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from core import events
from core.live import OPS_GROUP, publish_after_commit
from core.models import AuditLog, Event, EventCursor, EventFailure

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)
PROBE = "chunk-probe"


@pytest.fixture
def probe() -> Iterator[dict[str, object]]:
    """A consumer of 'probe.tick' that writes one AuditLog row per event it handles and fails on the
    event whose payload says so (after writing its row: the savepoint must take the row back)."""
    seen: dict[str, object] = {"prepared": [], "prepare_fails": False}

    def prepare(chunk):  # type: ignore[no-untyped-def]
        if seen["prepare_fails"]:
            raise RuntimeError("prepare broke")
        return {event.pk for event in chunk}

    def handle(event: Event, now: datetime) -> None:
        AuditLog.objects.create(action="probe", object_type="event", object_id=str(event.pk))
        ready = events.prepared()
        seen["prepared"].append(ready is not None and event.pk in ready)  # type: ignore[union-attr]
        if event.payload.get("fail"):
            raise ValueError("this event is poison")

    events.register(PROBE, topics=["probe.tick"], handle=handle, prepare=prepare, max_attempts=1)
    try:
        yield seen
    finally:
        events._consumers.pop(PROBE, None)


def record(count: int, *, fail_at: int | None = None) -> list[int]:
    with transaction.atomic():
        events.record_many([Event(topic="probe.tick", key=f"probe:{index}", at=T0, payload={"fail": index == fail_at})
                            for index in range(count)])
    return list(Event.objects.filter(topic="probe.tick").order_by("pk").values_list("pk", flat=True))


def handled_ids() -> list[str]:
    return sorted(AuditLog.objects.filter(action="probe").values_list("object_id", flat=True), key=int)


def test_a_failing_event_rolls_back_alone_and_the_rest_of_its_chunk_commits_with_the_cursor(probe):
    ids = record(120, fail_at=30)
    assert events.run(PROBE, now=T0) == 119
    assert handled_ids() == [str(pk) for pk in ids if pk != ids[30]]  # the poison event's row was rolled back
    failure = EventFailure.objects.get(consumer=PROBE)
    assert (failure.event_id, failure.state) == (ids[30], "quarantined")
    assert EventCursor.objects.get(consumer=PROBE).position == ids[-1]
    assert events.run(PROBE, now=T0) == 0  # nothing is handled twice


def test_handlers_get_what_prepare_read_for_their_chunk(probe):
    record(120)
    events.run(PROBE, now=T0)
    assert probe["prepared"] == [True] * 120


def test_a_failing_prepare_leaves_the_handlers_to_read_for_themselves(probe):
    probe["prepare_fails"] = True
    ids = record(60)
    assert events.run(PROBE, now=T0) == 60
    assert probe["prepared"] == [False] * 60
    assert handled_ids() == [str(pk) for pk in ids]
    assert events.prepared() is None  # nothing leaks out of the chunk


def test_a_runner_that_finds_the_cursor_moved_stops_without_handling_anything(probe):
    ids = record(10)
    position, page = events._next_page(events.consumer(PROBE))
    EventCursor.objects.filter(consumer=PROBE).update(position=ids[4])  # another runner got there first
    assert events._consume_chunk(events.consumer(PROBE), position, page, set(), T0) is None
    assert handled_ids() == []


def _listen(group: str) -> str:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)
    return channel


@pytest.fixture
def quick_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def test_live_pushes_of_one_transaction_are_one_message_per_group(quick_layer, django_capture_on_commit_callbacks):
    ops, status = _listen(OPS_GROUP), _listen("status-page")
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        publish_after_commit(OPS_GROUP, topics=["monitors", "monitor-1"])
        with transaction.atomic():  # a consumer's handler runs in a savepoint
            publish_after_commit(OPS_GROUP, topics=["monitor-2"])
        publish_after_commit("status-page", topics=["status"])
    assert len(callbacks) == 1
    layer = get_channel_layer()
    assert async_to_sync(layer.receive)(ops)["topics"] == ["monitor-1", "monitor-2", "monitors"]
    assert async_to_sync(layer.receive)(status)["topics"] == ["status"]


def test_a_push_first_asked_for_in_a_rolled_back_savepoint_is_not_sent_but_later_ones_are(quick_layer, django_capture_on_commit_callbacks):
    ops = _listen(OPS_GROUP)
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        try:
            with transaction.atomic():
                publish_after_commit(OPS_GROUP, topics=["never-sent"])
                raise ValueError("the handler failed")
        except ValueError:
            pass
        publish_after_commit(OPS_GROUP, topics=["monitor-2"])
    assert len(callbacks) == 1
    assert async_to_sync(get_channel_layer().receive)(ops)["topics"] == ["monitor-2"]
