"""Fault 2: Redis (broker, cache, channel layer) stopped for 60 s. The status page keeps
serving, checks resume by themselves afterwards, the gap is no data (not downtime), and
nobody is paged."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from alerting.models import Alert
from monitors.models import CheckResult, Monitor, StateChange
from tests.faults.helpers import OwnRedis, outage_seconds, poll, start_web
from tests.processes import start_beat, start_worker, stop_all, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_redis_down_for_a_minute_costs_no_page_no_alert_and_no_downtime(watched, tmp_path):
    redis = OwnRedis(tmp_path)
    env = {"REDIS_URL": redis.url}
    worker = start_worker(tmp_path, **env)
    beat = start_beat(tmp_path, **env)
    web, url = start_web(tmp_path, **env)
    try:
        wait_until(lambda: Monitor.objects.filter(state="up").count() == len(watched), 40,
                   f"monitors did not come up:\n{worker.output()[-2000:]}")
        assert poll(f"{url}/status/", 2) == [200, 200]

        stopped_at = timezone.now()
        redis.stop()
        codes = poll(f"{url}/status/", outage_seconds())
        redis.start()
        restarted_at = timezone.now()
        assert set(codes) == {200}, codes  # served from its last-good copy the whole time

        def resumed() -> bool:
            return all(CheckResult.objects.filter(monitor_id=m.pk, at__gt=restarted_at).exists() for m in watched)

        wait_until(resumed, 60, f"checks did not resume:\nworker:\n{worker.output()[-2000:]}\nbeat:\n{beat.output()[-2000:]}")
        time.sleep(2)
    finally:
        stop_all(web, beat, worker)
        redis.stop()

    # The outage is a gap with no results, not failed checks.
    during = CheckResult.objects.filter(at__gt=stopped_at + timezone.timedelta(seconds=10), at__lt=restarted_at)
    assert not during.exclude(outcome=CheckResult.Outcome.OK).exists()
    assert not CheckResult.objects.exclude(outcome=CheckResult.Outcome.OK).exists()
    assert not StateChange.objects.exclude(new_state="up").exists()
    assert not Alert.objects.exists()
    assert Monitor.objects.filter(state="up").count() == len(watched)
