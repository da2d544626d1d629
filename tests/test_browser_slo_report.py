"""The monthly report in a real browser, as printed: nothing wider than the page, the
navigation hidden, one landscape page for twenty SLOs; and it is linked from where people look."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from incidents.models import Component
from monitors.models import Monitor
from slo.models import SLO
from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_report_prints_on_one_readable_page_and_is_linked(live_app, browser, viewer):
    for index in range(20):
        component = Component.objects.create(name=f"Service with a rather long name number {index}")
        monitor = Monitor.objects.create(name=f"check-{index}", kind="tcp", target="127.0.0.1:1", component=component)
        slo = SLO.objects.create(name=f"Availability of the service with a rather long name number {index}", component=component,
                                 objective=99.95, window="calendar_month")
        slo.monitors.set([monitor])
    page = browser.new_context(viewport={"width": 1123, "height": 794}).new_page()  # A4 landscape at 96 dpi
    login(page, live_app, "vera-viewer")
    month = datetime.now(UTC).strftime("%Y-%m")
    # Linked from the dashboard, the SLO list and each SLO's page.
    page.goto(f"{live_app}/dashboard/")
    assert page.get_by_role("link", name="Monthly SLO report").get_attribute("href") == f"/reports/slo/{month}/"
    page.goto(f"{live_app}/slos/{slo.pk}/")
    assert page.get_by_role("link", name="Monthly report").get_attribute("href") == f"/reports/slo/{month}/"
    page.goto(f"{live_app}/slos/")
    page.get_by_role("link", name="Monthly SLO report").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("SLO report")
    page.wait_for_load_state("load")  # report.css too

    page.emulate_media(media="print")
    assert page.locator(".topbar").is_hidden() and page.locator(".report-nav").is_hidden()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the printed report is {overflow}px wider than the page"
    # Column headers are never broken inside a word: each header is one line.
    lines = page.locator(".report-summary th").evaluate_all(
        "els => els.map(e => { const r = document.createRange(); r.selectNodeContents(e); return r.getClientRects().length; })")
    assert lines and max(lines) == 1, lines
    pdf = page.pdf(prefer_css_page_size=True)
    assert pdf[:4] == b"%PDF"
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages == 1, f"the PDF has {pages} pages"
    assert b"MediaBox [0 0 841" in pdf.replace(b"  ", b" ") or b"/MediaBox [0 0 841" in pdf, "landscape A4"
