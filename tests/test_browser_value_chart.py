"""The staff monitor page charts the measured value with its warning and critical lines, in a real
browser under the strict CSP (SVG attributes only), with the table fallback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from monitors import services
from monitors.models import CheckResult, Region
from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_value_chart_draws_the_values_and_both_threshold_lines(live_app, browser, viewer):
    now = timezone.now()
    monitor = services.monitor_upsert(changes={
        "name": "api error rate", "kind": "health_json", "target": "http://127.0.0.1:9/health", "interval_seconds": 60,
        "timeout_seconds": 5, "settings": {"value_path": "$.errors.rate", "label": "error rate", "scale": 100, "unit": "%",
                                           "warn_above": 0.01, "down_above": 0.05, "warn_for_seconds": 300}}, now=now)
    region = Region.objects.get(name="default")
    rates = [0.004, 0.006, 0.012, 0.03, 0.008, 0.002]
    CheckResult.objects.bulk_create([
        CheckResult(monitor_id=monitor.pk, at=now - timedelta(hours=len(rates) - index), region_id=region.pk, outcome=0, value=rate)
        for index, rate in enumerate(rates)])
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    login(page, live_app, "vera-viewer")
    page.goto(f"{live_app}/monitors/{monitor.pk}/")

    chart = page.locator("svg[aria-labelledby='value-24h-title']")
    expect(chart).to_be_visible()
    expect(page.get_by_role("heading", name="Measured error rate")).to_be_visible()
    warning, critical = chart.locator("g.threshold-warn line"), chart.locator("g.threshold-down line")
    expect(warning).to_have_count(1)
    expect(critical).to_have_count(1)
    warn_box, crit_box, plot = warning.bounding_box(), critical.bounding_box(), chart.bounding_box()
    assert warn_box and crit_box and plot
    # Both lines span the plot, the critical line (5%) above the warning line (1%).
    assert warn_box["width"] > plot["width"] * 0.8 and crit_box["width"] > plot["width"] * 0.8
    assert crit_box["y"] < warn_box["y"]
    assert chart.locator("g.threshold-warn title").text_content() == "warning above 1%"
    assert chart.locator("g.threshold-down title").text_content() == "critical above 5%"
    # The values themselves: a line through the hours that have one (mean and max series).
    assert chart.locator("polyline").count() >= 1
    expect(page.locator("svg[aria-labelledby='value-90d-title'] g.threshold-down")).to_have_count(1)

    page.get_by_text("Show the error rate over the last 24 hours as a table").click()
    table = page.locator("#value-charts details").first.locator("table")
    expect(table).to_be_visible()
    expect(table).to_contain_text("3%")  # the 0.03 hour, scaled as the checks judged it
    assert not [p for p in problems if "Content Security Policy" in p], problems
