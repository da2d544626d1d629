"""The guides' dashboards in a real browser under the strict CSP: after the pack is installed, the
database dashboard charts the pool's use (from its preset: percent of the pool) with its 80% and
95% lines, and the operations dashboard the memory with its own; the four pages link each other."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from configfile import packs
from monitors.models import CheckResult, Monitor, Region
from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_dashboards_chart_the_packs_values_with_their_threshold_lines(live_app, browser, viewer):
    packs.install(values={"APP_URL": "http://127.0.0.1:9", "DATABASE_URL": "postgres://vigil@127.0.0.1:9/app",
                          "TLS_HOST": "127.0.0.1:9"}, by=None, dry_run=False)
    now = timezone.now()
    region = Region.objects.get(name="default")
    pool = Monitor.objects.get(name="guides: connection pool")
    memory = Monitor.objects.get(name="guides: memory")
    rows = [CheckResult(monitor_id=pool.pk, at=now - timedelta(hours=hours), region_id=region.pk, outcome=0, value=use)
            for hours, use in ((5, 0.3), (4, 0.5), (3, 0.85), (2, 0.97), (1, 0.6))]
    rows += [CheckResult(monitor_id=memory.pk, at=now - timedelta(hours=hours), region_id=region.pk, outcome=0, value=share)
             for hours, share in ((3, 0.4), (2, 0.82), (1, 0.5))]
    CheckResult.objects.bulk_create(rows)

    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    login(page, live_app, "vera-viewer")
    page.goto(f"{live_app}/dashboards/database/")
    expect(page.get_by_role("heading", name="Database", exact=True)).to_be_visible()
    chart = page.locator(f"svg[aria-labelledby='panel-{pool.pk}-chart-title']")
    expect(chart).to_be_visible()
    assert "pool use" in chart.locator("title").first.text_content()
    warning, critical = chart.locator("g.threshold-warn line"), chart.locator("g.threshold-down line")
    expect(warning).to_have_count(1)
    expect(critical).to_have_count(1)
    assert chart.locator("g.threshold-warn title").text_content() == "warning above 80%"
    assert chart.locator("g.threshold-down title").text_content() == "critical above 95%"
    warn_box, crit_box, plot = warning.bounding_box(), critical.bounding_box(), chart.bounding_box()
    assert warn_box and crit_box and plot and crit_box["y"] < warn_box["y"] and warn_box["width"] > plot["width"] * 0.8
    assert chart.locator("polyline").count() >= 1  # the values drawn
    # The health check measures no value: its panel shows uptime bars instead.
    reachable = Monitor.objects.get(name="guides: database reachable")
    expect(page.locator(f"svg[aria-labelledby='panel-{reachable.pk}-chart-title']")).to_be_visible()

    page.get_by_role("link", name="Operations").click()
    memory_chart = page.locator(f"svg[aria-labelledby='panel-{memory.pk}-chart-title']")
    expect(memory_chart).to_be_visible()
    assert memory_chart.locator("g.threshold-down title").text_content() == "critical above 95%"
    assert not [p for p in problems if "Content Security Policy" in p], problems
