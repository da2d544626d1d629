"""The monthly report in a real browser, as printed: nothing wider than the page, the
navigation hidden, one service per printed page; and a PDF comes out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from incidents.models import Component
from monitors.models import Monitor
from slo.models import SLO
from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_report_prints_without_overflow(live_app, browser, viewer):
    for index in range(3):
        component = Component.objects.create(name=f"Service with a rather long name number {index}")
        monitor = Monitor.objects.create(name=f"check-{index}", kind="tcp", target="127.0.0.1:1", component=component)
        slo = SLO.objects.create(name=f"Availability of the service with a rather long name number {index}", component=component,
                                 objective=99.95, window="calendar_month")
        slo.monitors.set([monitor])
    page = browser.new_context(viewport={"width": 794, "height": 1123}).new_page()  # A4 at 96 dpi
    login(page, live_app, "vera-viewer")
    month = datetime.now(UTC).strftime("%Y-%m")
    page.goto(f"{live_app}/reports/slo/{month}/")
    page.emulate_media(media="print")
    assert page.locator(".topbar").is_hidden() and page.locator(".report-nav").is_hidden()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the printed report is {overflow}px wider than the page"
    breaks = page.locator(".report-service").evaluate_all("els => els.map(e => getComputedStyle(e).breakBefore)")
    assert breaks == ["page", "page", "page"]
    pdf = page.pdf(format="A4")
    assert pdf[:4] == b"%PDF" and len(pdf) > 1000
