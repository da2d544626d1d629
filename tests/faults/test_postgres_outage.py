"""Fault 3: PostgreSQL unreachable for 60 s (a proxy between Vigil and the server, cut by
the test). The status page is served from its last-good copy, /health says unhealthy,
nothing is half-written, everything resumes, and no monitored service is reported down."""

from __future__ import annotations

import pytest
import requests
from django.db import connection
from django.utils import timezone

from alerting.models import Alert
from monitors.models import CheckResult, Monitor, MonitorRegionState, StateChange
from tests.faults.helpers import Proxy, outage_seconds, poll, start_web
from tests.processes import start_beat, start_worker, stop_all, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def proxied_database():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL); CI sets it")
    settings = connection.settings_dict
    proxy = Proxy(int(settings["PORT"] or 5432))
    yield proxy, f"postgres://{settings['USER'] or 'postgres'}@127.0.0.1:{proxy.port}/{settings['NAME']}"
    proxy.close()


def test_postgres_gone_for_a_minute(watched, proxied_database, tmp_path):
    proxy, url_through_proxy = proxied_database
    env = {"DATABASE_URL": url_through_proxy}
    worker = start_worker(tmp_path, **env)
    beat = start_beat(tmp_path, **env)
    web, url = start_web(tmp_path, **env)
    try:
        wait_until(lambda: Monitor.objects.filter(state="up").count() == len(watched), 40,
                   f"monitors did not come up:\n{worker.output()[-2000:]}")
        assert requests.get(f"{url}/health", timeout=5).json()["checks"]["database"]["status"] == "healthy"

        proxy.cut()
        cut_at = timezone.now()
        health = requests.get(f"{url}/health", timeout=15)
        assert health.status_code == 503 and health.json()["checks"]["database"]["status"] == "unhealthy"
        codes = poll(f"{url}/status/", outage_seconds())
        assert set(codes) == {200}, codes
        assert requests.get(f"{url}/api/v2/summary.json", timeout=5).status_code == 200
        proxy.restore()
        restored_at = timezone.now()

        def resumed() -> bool:
            return all(CheckResult.objects.filter(monitor_id=m.pk, at__gt=restored_at).exists() for m in watched)

        wait_until(resumed, 60, f"checks did not resume:\nworker:\n{worker.output()[-3000:]}\nbeat:\n{beat.output()[-2000:]}")
        wait_until(lambda: requests.get(f"{url}/health", timeout=5).json()["checks"]["database"]["status"] == "healthy", 20,
                   "/health did not recover")
    finally:
        stop_all(web, beat, worker)

    assert not StateChange.objects.exclude(new_state="up").exists()
    assert not Alert.objects.exists()
    assert not CheckResult.objects.exclude(outcome=CheckResult.Outcome.OK).exists()
    # Nothing half-written: each monitor's state moved with its results, in the same transactions.
    for state in MonitorRegionState.objects.all():
        latest = CheckResult.objects.filter(monitor_id=state.monitor_id).order_by("-at").values_list("at", flat=True).first()
        assert state.last_slot == latest, (state.monitor_id, state.last_slot, latest)
    assert cut_at < restored_at
