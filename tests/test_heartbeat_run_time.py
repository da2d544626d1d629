"""A heartbeat's run time (a /start ping, then success) is its value, judged by the shared thresholds:
"worker cycle time over 5 minutes" is warn_above 300 on a heartbeat."""

from __future__ import annotations

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from monitors import pings, services
from monitors.models import CheckResult, Monitor

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker() -> Monitor:
    with time_machine.travel("2026-11-05 01:00:00Z", tick=False):
        return services.monitor_upsert(changes={
            "name": "worker cycle", "kind": "heartbeat", "retries": 0, "recovery_confirmations": 1, "heartbeat_period_seconds": 3600,
            "heartbeat_grace_seconds": 600, "settings": {"warn_above": 300, "down_above": 900}}, now=timezone.now())


def run(client, worker: Monitor, start: str, finish: str, signal: str = "") -> Monitor:
    """The job pings /start, works, then pings success (or /fail), as a worker's wrapper does."""
    with time_machine.travel(start, tick=False):
        assert client.post(f"/ping/{worker.ping_token}/start").status_code == 200
    with time_machine.travel(finish, tick=False):
        assert client.post(f"/ping/{worker.ping_token}{signal}", data="", content_type="text/plain").status_code == 200
        pings.drain(now=timezone.now(), consumer="test")
    return Monitor.objects.get(pk=worker.pk)


def test_a_cycle_over_five_minutes_is_degraded_and_a_short_one_recovers(client, worker):
    fast = run(client, worker, "2026-11-05 02:00:00Z", "2026-11-05 02:02:00Z")
    assert fast.state == "up" and fast.last_message == "ping (ran 120.0s)"
    slow = run(client, worker, "2026-11-05 03:00:00Z", "2026-11-05 03:07:00Z")
    assert slow.state == "degraded" and slow.last_message == "run time 420s > 300s" and slow.last_run_seconds == 420
    again = run(client, worker, "2026-11-05 04:00:00Z", "2026-11-05 04:01:30Z")
    assert again.state == "up"
    assert list(CheckResult.objects.filter(monitor_id=worker.pk).order_by("at").values_list("value", "outcome")) == [
        (120.0, 0), (420.0, 1), (90.0, 0)]


def test_a_cycle_over_the_critical_limit_is_down(client, worker):
    stuck = run(client, worker, "2026-11-05 02:00:00Z", "2026-11-05 02:20:00Z")
    assert stuck.state == "down" and stuck.last_message == "run time 1200s > 900s"


def test_a_failed_run_is_down_whatever_its_run_time(client, worker):
    failed = run(client, worker, "2026-11-05 02:00:00Z", "2026-11-05 02:01:00Z", "/fail")
    assert failed.state == "down" and failed.last_message == "job reported failure"
    assert CheckResult.objects.get(monitor_id=worker.pk).value == 60.0


def test_a_ping_without_a_start_has_no_run_time_and_no_value(client, worker):
    with time_machine.travel("2026-11-05 02:00:00Z", tick=False):
        client.post(f"/ping/{worker.ping_token}")
        pings.drain(now=timezone.now(), consumer="test")
    assert CheckResult.objects.get(monitor_id=worker.pk).value is None
    assert Monitor.objects.get(pk=worker.pk).state == "up"


def test_run_time_thresholds_are_checked(worker):
    with pytest.raises(ValidationError) as raised:
        services.monitor_upsert(monitor=worker, changes={"settings": {"warn_above": "5m"}}, now=timezone.now())
    assert "warn_above must be a number, got '5m'" in " ".join(raised.value.messages)
