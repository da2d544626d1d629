"""Fault 10: the clock steps forward or back an hour while monitors are scheduled: no
burst (each monitor checked once for the missed hour, not sixty times) and no gap longer
than one interval."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from monitors import services
from monitors.models import Monitor
from portal.beat import clock_stepped_back

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


def claims_between(start: datetime, end: datetime, step: timedelta = timedelta(seconds=1)) -> list[tuple[int, datetime]]:
    """Run the dispatcher's claim every `step` (what beat does every half second)."""
    claimed = []
    moment = start
    while moment < end:
        claimed += [(monitor_id, moment) for monitor_id, _slot, _regions in services.claim_due(now=moment)]
        moment += step
    return claimed


@pytest.fixture
def monitors() -> list[Monitor]:
    made = []
    for index in range(30):
        monitor = Monitor(name=f"m{index}", kind="tcp", target=f"127.0.0.1:{2000 + index}", interval_seconds=60)
        services.monitor_upsert(monitor=monitor, now=START)
        made.append(monitor)
    return made


def test_a_step_forward_checks_each_monitor_once_not_once_per_missed_slot(monitors):
    before = claims_between(START, START + timedelta(minutes=2))
    assert set(Counter(monitor_id for monitor_id, _ in before).values()) <= {2, 3}  # every minute on its grid
    jumped = START + timedelta(hours=1, minutes=2)
    after = claims_between(jumped, jumped + timedelta(seconds=5))
    assert Counter(monitor_id for monitor_id, _ in after) == {m.pk: 1 for m in monitors}  # one catch-up check, no burst
    later = claims_between(jumped + timedelta(seconds=5), jumped + timedelta(minutes=3))
    per_monitor = Counter(monitor_id for monitor_id, _ in later)
    assert set(per_monitor.values()) <= {2, 3}  # back on the one-minute grid


def test_a_step_back_leaves_no_gap_longer_than_one_interval(monitors):
    claims_between(START, START + timedelta(minutes=2))
    back = START + timedelta(minutes=2) - timedelta(hours=1)
    # Without the repair nothing would be due for an hour: every slot is an hour ahead.
    assert claims_between(back, back + timedelta(seconds=5)) == []
    assert services.reschedule_far_slots(now=back) == len(monitors)
    after = claims_between(back, back + timedelta(minutes=2))
    first = {}
    for monitor_id, moment in after:
        first.setdefault(monitor_id, moment)
    assert set(first) == {m.pk for m in monitors}
    assert max(first.values()) - back <= timedelta(seconds=1)
    assert set(Counter(monitor_id for monitor_id, _ in after).values()) <= {2, 3}
    assert services.reschedule_far_slots(now=back + timedelta(minutes=2)) == 0  # nothing left to repair


def test_the_dispatcher_notices_a_step_back_from_its_two_clocks():
    assert not clock_stepped_back(None, None, 1000.0, 50.0)
    assert not clock_stepped_back(1000.0, 50.0, 1000.5, 50.5)  # normal tick
    assert not clock_stepped_back(1000.0, 50.0, 1000.0, 50.5)  # a little drift
    assert clock_stepped_back(1000.0, 50.0, 1000.5 - 3600, 50.5)  # an hour back
    assert not clock_stepped_back(1000.0, 50.0, 1000.5 + 3600, 50.5)  # forward: handled by the grid


def test_the_beat_scheduler_repairs_after_a_step_back(monitors):
    """The scheduler's own tick hook, fed a wall clock that went back an hour."""
    from portal.beat import VigilScheduler

    scheduler = VigilScheduler.__new__(VigilScheduler)  # its tick hook needs no celery app
    scheduler.last_wall, scheduler.last_steady, scheduler.last_reschedule = None, None, 100.0
    Monitor.objects.update(next_due_at=START + timedelta(hours=1))  # slots taken before the clock went back
    with time_machine.travel(START, tick=False):
        assert not scheduler.repair_schedule(10_000.0, 100.0)  # first tick: nothing to compare with
        assert not scheduler.repair_schedule(10_000.5, 100.5)  # normal tick, within the minute
        assert scheduler.repair_schedule(10_001.0 - 3600, 101.0)  # the wall clock went back an hour
    assert Monitor.objects.filter(next_due_at__gt=START + timedelta(minutes=2)).count() == 0
    with time_machine.travel(START, tick=False):
        assert scheduler.repair_schedule(10_001.5 - 3600, 101.0 + 61)  # and once a minute anyway
