"""In a real browser: the overview shows a monitor going down live (a real check of a local
server that starts failing), a responder acknowledges the alert from it, and the monitor
page's charts render, with their tables one click away (and without JavaScript)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from alerting.models import Alert, AlertRule
from core import events
from monitors import rollups
from monitors.models import Monitor
from monitors.tasks import check_batch
from tests.conftest import login
from tests.servers import HTTPServer, respond

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_monitor_goes_down_live_and_its_alert_is_acknowledged_from_the_dashboard(live_app, browser, responder):
    failing = {"now": False}
    server = HTTPServer({"/health": lambda handler: respond(handler, 503 if failing["now"] else 200, b"ok")})
    try:
        AlertRule.objects.create(name="Anything down", states=["down"], severity="critical")
        monitor = Monitor.objects.create(name="checkout-api", kind="http", target=f"{server.url}/health", timeout_seconds=2, retries=0,
                                         recovery_confirmations=1)
        slot = timezone.now()

        def check_like_a_worker() -> None:
            nonlocal slot
            slot += timedelta(seconds=1)
            check_batch([[monitor.pk, slot.isoformat()]], "default")
            events.drain(now=timezone.now())

        check_like_a_worker()
        assert Monitor.objects.get(pk=monitor.pk).state == "up"

        page = browser.new_context().new_page()
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        login(page, live_app, "rory-responder")
        expect(page.locator("#live-state")).to_have_text("Live", timeout=10_000)
        expect(page.locator("#attention-heading")).to_contain_text("0 down")
        expect(page.get_by_text("Every monitor is up.")).to_be_visible()

        failing["now"] = True
        check_like_a_worker()
        # No reload: the websocket says something changed and the panels come back with it.
        row = page.locator('tr[data-monitor="checkout-api"]')
        expect(row).to_contain_text("Down", timeout=10_000)
        expect(row).to_contain_text("503")
        expect(page.locator("#attention-heading")).to_contain_text("1 down")
        expect(page.locator('[data-state-count="down"]')).to_have_text("1")

        page.get_by_role("button", name="Acknowledge checkout-api is down").click()
        expect(page.locator("#dashboard-panels")).to_contain_text("Acknowledged by rory-responder")
        alert = Alert.objects.get(monitor=monitor)
        assert alert.status == "acknowledged" and alert.acknowledged_by == responder

        failing["now"] = False
        check_like_a_worker()
        expect(page.get_by_text("Every monitor is up.")).to_be_visible(timeout=10_000)
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        server.close()


def _history(monitor: Monitor) -> None:
    from monitors import services
    from monitors.checkers.base import Result

    start = rollups.hour_start(timezone.now()) - timedelta(hours=5)
    for minute in range(0, 300, 5):
        at = start + timedelta(minutes=minute)
        outcome = "down" if 120 <= minute < 140 else "ok"
        services.record_results(region_name="default", now=at, checked=[
            services.Checked(monitor.pk, at, Result(outcome, latency_ms=80 + minute % 60, status_code=503 if outcome == "down" else 200))])
    for hour in range(6):
        rollups.rollup_hour(start + timedelta(hours=hour))


def test_the_monitor_page_charts_render_and_have_a_table_fallback(live_app, browser, viewer):
    monitor = Monitor.objects.create(name="web", kind="http", target="https://web.example/")
    _history(monitor)
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    login(page, live_app, "vera-viewer")
    page.goto(f"{live_app}/monitors/{monitor.pk}/")
    chart = page.locator("svg.line-chart").first
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 100
    assert page.locator("svg.line-chart").first.locator("polyline").count() == 3  # p50, p95, p99
    assert page.locator("svg.uptime-bars").first.locator("rect").count() == 24
    assert "uptime per hour" in page.locator("svg.uptime-bars title").first.text_content()
    bars = page.locator("svg.uptime-bars").first.locator("rect title")
    assert bars.nth(18).text_content().endswith(": 100.00% up")  # five hours ago
    assert bars.nth(20).text_content().endswith(": 66.67% up")  # the hour with 20 minutes down
    assert bars.nth(23).text_content().endswith(": no data")  # this hour has no results yet

    table = page.locator("details").first.locator("table")
    expect(table).to_be_hidden()
    page.get_by_text("Show the last 24 hours as a table").click()
    expect(table).to_be_visible()
    assert table.locator("tbody tr").count() == 24
    expect(table).to_contain_text("100.00%")

    # Without JavaScript the same page shows the same charts and tables.
    plain = browser.new_context(java_script_enabled=False).new_page()
    login(plain, live_app, "vera-viewer")
    plain.goto(f"{live_app}/monitors/{monitor.pk}/")
    expect(plain.locator("svg.line-chart").first).to_be_visible()
    plain.get_by_text("Show the last 90 days as a table").click()
    expect(plain.locator("details").nth(1).locator("table")).to_be_visible()
    page.screenshot(path="/tmp/vigil-monitor-page.png", full_page=True)
