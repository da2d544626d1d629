"""End to end with the real processes (celery beat and a worker): a monitor goes down for a
while today; the public bar for today, its tooltip, the uptime JSON, the staff monitor
page, the ops API's uptime and the SLO page all agree (issue 17)."""

from __future__ import annotations

import re
import time
from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from api.tokens import token_issue
from incidents.models import Component
from monitors import services
from monitors.models import CheckResult, Monitor
from slo.models import SLO
from statuspage import snapshot
from statuspage.models import StatusSnapshot
from statuspage.tasks import rebuild_all_task
from tests.processes import start_beat, start_worker, stop_all, wait_until
from tests.servers import HTTPServer, respond

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class Switchable(HTTPServer):
    """A local HTTP service that answers 200 or 503, as the test says."""

    def __init__(self) -> None:
        self.healthy = True
        super().__init__({"/": lambda handler: respond(handler, 200, b"ok") if self.healthy else respond(handler, 503, b"no")})
        self.url += "/"


@pytest.fixture
def service():
    server = Switchable()
    yield server
    server.close()


def public(client, path: str):
    snapshot._memory.clear()
    return client.get(path)


def test_an_outage_today_reads_the_same_everywhere(service, tmp_path, client, admin_user):
    now = timezone.now()
    if now.astimezone(UTC).hour == 23 and now.minute >= 50:
        pytest.skip("the outage would straddle midnight UTC: today's bar and the last hour would hold different checks")
    component = Component.objects.create(name="Checkout")
    monitor = Monitor(name="checkout", kind="http", target=service.url, interval_seconds=5, timeout_seconds=3, retries=0,
                      retry_interval_seconds=5, recovery_confirmations=1, component=component)
    services.monitor_upsert(monitor=monitor, now=now)
    Monitor.objects.update(next_due_at=now)
    slo = SLO.objects.create(name="Checkout availability", objective=99.9, window="rolling_7d", component=component)
    slo.monitors.set([monitor])
    worker = start_worker(tmp_path, concurrency=2)
    beat = start_beat(tmp_path)
    try:
        wait_until(lambda: CheckResult.objects.filter(monitor_id=monitor.pk, outcome=0).count() >= 3, 60,
                   f"no checks:\n{worker.output()[-2000:]}")
        service.healthy = False
        wait_until(lambda: CheckResult.objects.filter(monitor_id=monitor.pk, outcome=2).count() >= 6, 60, "the outage was not seen")

        today = timezone.now().astimezone(UTC).date()
        uptime_url = f"/api/v2/components/{component.pk}/uptime.json?start={today}&end={today}"

        def bar_shows_the_outage() -> bool:
            response = public(client, uptime_url)
            return response.status_code == 200 and response.json()["major_outage"] > 0

        # Live: the processes rebuild the page while the outage is under way (within a minute).
        wait_until(bar_shows_the_outage, 70, "today's bar stayed green during the outage")
        service.healthy = True
        wait_until(lambda: Monitor.objects.get(pk=monitor.pk).state == "up", 60, "the monitor did not recover")
        time.sleep(2)
        beat.stop()  # no more checks: every surface now reads the same, finished history
        stopped = timezone.now()
        time.sleep(1)
        rebuild_all_task.delay()  # the worker rebuilds the page once more, after the last check
        wait_until(lambda: StatusSnapshot.objects.filter(page__slug="public", built_at__gt=stopped).exists(), 30,
                   f"the worker did not rebuild the page:\n{worker.output()[-2000:]}")
    finally:
        stop_all(beat, worker)

    rows = list(CheckResult.objects.filter(monitor_id=monitor.pk))
    down = sum(r.outcome == 2 for r in rows)
    truth = 100 * (len(rows) - down) / len(rows)
    assert down >= 6 and truth < 100

    body = public(client, uptime_url).json()
    assert body["uptime_percentage"] == pytest.approx(truth, abs=1e-4)
    html = public(client, "/status/").content.decode()
    tip = re.search(rf"{today:%b} {today.day}, {today.year}</b> ([0-9.]+)% uptime<br>Major outage (\d+) min", html)
    assert tip is not None and float(tip.group(1)) == pytest.approx(truth, abs=0.005)
    assert int(tip.group(2)) == round(body["major_outage"] / 60)

    client.force_login(admin_user)
    staff = client.get(f"/monitors/{monitor.pk}/").content.decode()
    _token, clear = token_issue(user=admin_user, name="t", scope="read")
    windows = {w["window"]: w for w in client.get(f"/api/v1/monitors/{monitor.pk}/uptime",
                                                  HTTP_AUTHORIZATION=f"Bearer {clear}").json()["windows"]}
    assert windows["1h"]["checks"] == windows["24h"]["checks"] == len(rows)
    assert windows["1h"]["uptime"] == windows["24h"]["uptime"] == pytest.approx(truth, abs=1e-4)
    assert f"{truth:.2f}%" in staff or f"{truth:.3f}%" in staff or f"{round(truth, 4)}" in staff
    slo_page = client.get(f"/slos/{slo.pk}/").content.decode()
    assert f"{truth:.3f}%" in slo_page
    assert (timezone.now() - stopped) < timedelta(minutes=5)
