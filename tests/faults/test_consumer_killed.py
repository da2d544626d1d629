"""Fault: a process killed with SIGKILL in the middle of an event consumer's run.

Each event is handled in one transaction with the consumer's cursor, so whatever the
moment of the kill, the next run starts exactly after the last committed event: nothing
lost, nothing handled twice. The probe consumer inserts one row per event it handles
(AuditLog rows named after the event id), so a loss is a missing id and a repeat a
second row for one id. The real consumers (alerting) then resume the same way."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from alerting.models import Alert, AlertRule
from core import events
from core.models import AuditLog, Event, EventCursor, EventFailure
from monitors import services as monitor_services
from monitors.checkers.base import Result
from monitors.models import Monitor
from tests.processes import ROOT, Process, process_env, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
COUNT = 1500

# A consumer as an app would register it, in a process of its own; its handler is slow
# enough (a few ms, like a reaction that calls a receiver) that the kill lands mid-run.
PROBE = textwrap.dedent("""
    import time, django
    django.setup()
    from django.utils import timezone
    from core import events
    from core.models import AuditLog

    def handle(event, now):
        AuditLog.objects.create(action="probe", object_type="event", object_id=str(event.pk))
        time.sleep(0.003)

    events.register("probe", topics=["probe.tick"], handle=handle)
    print("probe running", flush=True)
    events.run("probe", now=timezone.now(), seconds=120)
    print("probe done", flush=True)
""")


def _probe(tmp_path, name: str) -> Process:
    return Process(name, [sys.executable, "-c", PROBE], process_env(), tmp_path)


def _position() -> int:
    return EventCursor.objects.filter(consumer="probe").values_list("position", flat=True).first() or 0


def test_a_consumer_killed_mid_run_loses_and_repeats_nothing(tmp_path):
    now = timezone.now()
    with transaction.atomic():
        events.record_many([Event(topic="probe.tick", key=f"probe:{index % 7}", at=now) for index in range(COUNT)])
    recorded = list(Event.objects.filter(topic="probe.tick").order_by("pk").values_list("pk", flat=True))
    first_id, last_id = recorded[0], recorded[-1]

    first = _probe(tmp_path, "probe-1")
    try:
        wait_until(lambda: _position() > first_id + 100, 60, f"the probe never got going:\n{first.output()[-2000:]}")
        os.killpg(first.popen.pid, signal.SIGKILL)
        first.popen.wait(10)
    finally:
        first.stop()
    killed_at = _position()
    assert first_id < killed_at < last_id, "the kill must land in the middle of the run"

    second = _probe(tmp_path, "probe-2")
    try:
        wait_until(lambda: "probe done" in second.output(), 90, f"the second run did not finish:\n{second.output()[-2000:]}")
    finally:
        second.stop()

    handled = list(AuditLog.objects.filter(action="probe").values_list("object_id", flat=True))
    expected = {str(pk) for pk in Event.objects.filter(topic="probe.tick").values_list("pk", flat=True)}
    assert len(handled) == COUNT, f"{len(handled) - len(set(handled))} repeated, {len(expected - set(handled))} lost"
    assert set(handled) == expected
    assert _position() == last_id
    assert not EventFailure.objects.exists()


def test_real_consumers_resume_after_a_kill_with_every_alert_once(tmp_path):
    rule = AlertRule.objects.create(name="down", states=["down"])
    monitors = [Monitor(name=f"svc-{index:03}", kind="tcp", target="127.0.0.1:1", retries=0, recovery_confirmations=1) for index in range(300)]
    Monitor.objects.bulk_create(monitors)
    ids = list(Monitor.objects.values_list("pk", flat=True))
    now = timezone.now()
    for start in range(0, len(ids), 50):
        monitor_services.record_results(region_name="default", now=now, checked=[
            monitor_services.Checked(pk, now, Result("down", message="connection refused")) for pk in ids[start:start + 50]])

    runner = Process("events-run", [sys.executable, str(ROOT / "manage.py"), "events", "run"], process_env(), tmp_path)
    try:
        wait_until(lambda: (EventCursor.objects.filter(consumer="alerting").values_list("position", flat=True).first() or 0) > 0, 60,
                   f"the consumers never started:\n{runner.output()[-2000:]}")
        os.killpg(runner.popen.pid, signal.SIGKILL)
        runner.popen.wait(10)
    finally:
        runner.stop()

    events.drain(now=now + timedelta(seconds=1))
    assert Alert.objects.filter(rule=rule).count() == len(ids)
    assert sorted(Alert.objects.values_list("monitor_id", flat=True)) == sorted(ids)
    assert all(row.pending == 0 for row in events.status())
    assert not EventFailure.objects.exists()
