"""The ops dashboard: overview, monitor page (charts with table fallback, check now), the
operations view from /metrics, and the checklist."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerting.models import Alert, AlertRule, Channel, Notification, OnCallMember, OnCallSchedule
from core.models import AuditLog
from dashboard.ops_views import histogram_quantile
from incidents import services as incident_services
from incidents.models import Component, Maintenance
from monitors import rollups, services
from monitors.checkers.base import Result
from monitors.models import Monitor, StateChange
from monitors.tasks import check_batch
from slo.models import SLO, SLOSnapshot
from tests.servers import HTTPServer, respond

pytestmark = pytest.mark.django_db


def record(monitor: Monitor, outcomes: list[tuple[str, int | None, int | None]], start, step=timedelta(minutes=1)) -> None:
    """Results through the real write path, one per slot."""
    for index, (outcome, latency, code) in enumerate(outcomes):
        at = start + index * step
        services.record_results(region_name="default", now=at, checked=[
            services.Checked(monitor.pk, at, Result(outcome, latency_ms=latency, status_code=code, message=f"{outcome} {index}"))])


@pytest.fixture
def firing(responder):
    now = timezone.now()
    rule = AlertRule.objects.create(name="down", states=["down"])
    monitor = Monitor.objects.create(name="checkout", kind="tcp", target="127.0.0.1:1", state="down", state_since=now - timedelta(minutes=7),
                                     state_reason="3 failures", last_message="connection refused")
    return Alert.objects.create(rule=rule, dedup_key="k", group_key="all", status="firing", severity="critical", summary="checkout is down",
                                monitor=monitor, first_seen=now, last_seen=now, fired_at=now)


def test_the_overview_puts_down_first_and_shows_incidents_alerts_on_call_maintenance_and_budgets(client, viewer, responder, firing):
    now = timezone.now()
    Monitor.objects.create(name="slow-api", kind="tcp", target="127.0.0.1:2", state="degraded", state_since=now - timedelta(hours=2))
    Monitor.objects.create(name="fine", kind="tcp", target="127.0.0.1:3", state="up")
    api = Component.objects.create(name="API")
    incident_services.incident_open(title="Checkout errors", impact="major", message="Looking", by=responder, now=now)
    Maintenance.objects.create(title="DB upgrade", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=1)).components.add(api)
    schedule = OnCallSchedule.objects.create(name="Primary", rotation_start=(now - timedelta(days=3)).date())
    OnCallMember.objects.create(schedule=schedule, user=responder)
    slo = SLO.objects.create(name="Checkout availability", objective=99.9)
    SLOSnapshot.objects.create(slo=slo, at=now, good=90, valid=100, sli=0.9, budget_minutes=43.2, spent_minutes=43.2, remaining_ratio=0.0,
                               burn_1h=20, burn_6h=10, burn_3d=2, status="exhausted")

    client.force_login(viewer)
    page = client.get("/dashboard/").content.decode()
    assert page.index("checkout") < page.index("slow-api")  # down before degraded
    assert "connection refused" in page and "Checkout errors" in page and "SEV-2" in page
    assert "Primary: <strong>rory-responder</strong>" in page
    assert "DB upgrade" in page and "next" in page
    assert "Checkout availability" in page and "exhausted" in page
    assert 'data-live-url="/ws/live/"' in page and 'hx-trigger="vigil:live from:body"' in page
    assert "Acknowledge" not in page  # a viewer cannot acknowledge
    client.force_login(responder)
    assert "Acknowledge checkout is down" in client.get("/dashboard/").content.decode()


def test_the_panels_fragment_is_only_the_live_part(client, viewer, firing):
    client.force_login(viewer)
    fragment = client.get("/dashboard/panels/", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="dashboard-panels"') and "<html" not in fragment and "checkout is down" in fragment


def test_a_responder_acknowledges_from_the_dashboard(client, responder, viewer, firing):
    client.force_login(viewer)
    assert client.post(f"/dashboard/alerts/{firing.pk}/acknowledge/").status_code == 403
    client.force_login(responder)
    fragment = client.post(f"/dashboard/alerts/{firing.pk}/acknowledge/", HTTP_HX_REQUEST="true").content.decode()
    firing.refresh_from_db()
    assert firing.status == "acknowledged" and firing.acknowledged_by == responder
    assert "Acknowledged by rory-responder" in fragment
    assert AuditLog.objects.filter(action="alert.acknowledge", actor=responder).exists()
    # Without JavaScript: a plain form post, then the page again.
    assert client.post(f"/dashboard/alerts/{firing.pk}/acknowledge/").status_code == 302


def test_the_monitor_page_charts_rollups_and_has_table_fallbacks(client, viewer):
    monitor = Monitor.objects.create(name="web", kind="http", target="https://web.example/")
    now = timezone.now()
    start = rollups.hour_start(now) - timedelta(hours=3)
    record(monitor, [("ok", 120, 200)] * 50 + [("down", None, 503)] * 5 + [("ok", 300, 200)] * 5, start)
    for hour in range(4):
        rollups.rollup_hour(start + timedelta(hours=hour))
    client.force_login(viewer)
    page = client.get(f"/monitors/{monitor.pk}/").content.decode()
    assert page.count('<svg class="chart') == 4 and "latency p50, p95 and p99 per hour" in page
    assert "Show the last 24 hours as a table" in page and "Show the last 90 days as a table" in page
    for window in ("1h", "24h", "7d", "30d", "90d"):
        assert f'<th scope="row">{window}</th>' in page
    assert "<th scope=\"row\">503</th><td>5</td>" in page and "<th scope=\"row\">200</th><td>55</td>" in page
    assert "default" in page  # per-region table
    assert "Recent checks" in page and "down 50" in page


def test_tls_expiry_and_heartbeat_history_show_on_their_monitors(client, viewer):
    now = timezone.now()
    cert = Monitor.objects.create(name="cert", kind="tls", target="example.com:443", tls_expires_at=now + timedelta(days=5, hours=1))
    job = Monitor.objects.create(name="backup", kind="heartbeat", heartbeat_period_seconds=86400, last_ping_at=now - timedelta(hours=2))
    services.record_pings(pings=[services.Ping(job.pk, "success", 0, "", now - timedelta(hours=2))], now=now)
    client.force_login(viewer)
    assert "5 days</strong> from now" in client.get(f"/monitors/{cert.pk}/").content.decode()
    page = client.get(f"/monitors/{job.pk}/").content.decode()
    assert "Ping history" in page and "Expected every 86,400 s" in page and f"/ping/{job.ping_token}" in page


def test_check_now_shows_the_result_in_place(client, responder, viewer):
    server = HTTPServer({"/health": lambda handler: respond(handler, 200, b"ok")})
    try:
        monitor = Monitor.objects.create(name="api", kind="http", target=f"{server.url}/health", timeout_seconds=2,
                                         next_due_at=timezone.now() + timedelta(hours=1))
        client.force_login(viewer)
        assert client.post(f"/monitors/{monitor.pk}/check-now/").status_code == 403
        client.force_login(responder)
        waiting = client.post(f"/monitors/{monitor.pk}/check-now/", HTTP_HX_REQUEST="true").content.decode()
        assert "Checking api now" in waiting and "check-result/?after=" in waiting and 'hx-trigger="load delay:1s"' in waiting
        after = waiting.split("?after=")[1].split('"')[0]
        monitor.refresh_from_db()
        assert monitor.next_due_at <= timezone.now()
        still = client.get(f"/monitors/{monitor.pk}/check-result/?after={after}", HTTP_HX_REQUEST="true").content.decode()
        assert "Checking api now" in still
        check_batch([[monitor.pk, monitor.next_due_at.isoformat()]], "default")  # what the worker does
        done = client.get(f"/monitors/{monitor.pk}/check-result/?after={after}", HTTP_HX_REQUEST="true").content.decode()
        assert "outcome-ok" in done and "HTTP 200" in done and "hx-trigger" not in done
    finally:
        server.close()


def test_check_now_refuses_paused_and_heartbeat_monitors(client, responder):
    job = Monitor.objects.create(name="backup", kind="heartbeat")
    client.force_login(responder)
    assert "checked by its pings" in client.post(f"/monitors/{job.pk}/check-now/", HTTP_HX_REQUEST="true").content.decode()


def test_histogram_quantile_matches_prometheus_interpolation():
    buckets = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (float("inf"), 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.7, buckets) == pytest.approx(0.1 + 0.4 * (20 / 40))
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.5 + 0.5 * 0.5)
    assert histogram_quantile(0.5, [(0.1, 0.0), (float("inf"), 0.0)]) is None


def test_the_operations_view_reads_the_portals_own_metrics(client, viewer):
    client.force_login(viewer)
    for _ in range(3):
        client.get("/health")
    page = client.get("/ops/").content.decode()
    assert "Requests" in page and "<code>health</code>" in page
    assert "Beat lag" in page and "Workers alive" in page and "Checks per minute" in page
    assert "Connections" in page or "SQLite" in page


def test_the_checklist_lists_what_needs_attention(client, viewer):
    now = timezone.now()
    Monitor.objects.create(name="cert", kind="tls", target="example.com:443", tls_expires_at=now + timedelta(days=9), state="up")
    Monitor.objects.create(name="flappy", kind="tcp", target="h:1", is_flapping=True, state="down", state_reason="flapping")
    never = Monitor.objects.create(name="typo", kind="tcp", target="h:2", state="down")
    Monitor.objects.filter(pk=never.pk).update(created_at=now - timedelta(days=2))
    AlertRule.objects.create(name="No runbook", states=["down"])
    channel = Channel.objects.create(name="broken-hook", kind="webhook", config={"url": "https://hooks.example/x"})
    Notification.objects.create(channel=channel, kind="firing", message={}, status="failed", next_attempt_at=now, created_at=now)
    StateChange.objects.create(monitor=Monitor.objects.get(name="cert"), at=now, old_state="unknown", new_state="up")
    client.force_login(viewer)
    page = client.get("/checklist/").content.decode()
    for expected in ("Certificates expiring within 30 days", ">cert</a>", "in 9 days", ">flappy</a>", ">typo</a>", ">No runbook</a>",
                     ">broken-hook</a>", "1 failed notifications"):
        assert expected in page, expected
    assert "Daily" in page and "Weekly" in page and "Monthly" in page
