"""The public status page in a real browser: renders, bars have tooltips, a component
change shows up live without a reload, and axe-core finds no serious accessibility issue."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from incidents import services as incident_services
from incidents.models import Component, ComponentGroup
from statuspage.models import StatusPage
from statuspage.tasks import rebuild_all
from tests.processes import start_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page_with_history(responder):
    StatusPage.objects.get_or_create(slug="public", defaults={"title": "Acme status", "is_default": True})
    core = ComponentGroup.objects.create(name="Core")
    api = Component.objects.create(name="API", group=core, description="Public REST API")
    Component.objects.create(name="Website")
    Component.objects.all().update(created_at=timezone.now() - timedelta(days=30))
    api.refresh_from_db()
    old = incident_services.incident_open(title="API errors", impact="major", message="Errors", components={api.pk: "major_outage"},
                                          by=responder, now=timezone.now() - timedelta(days=5, hours=3))
    incident_services.incident_post_update(incident_id=old.pk, expected_version=None, status="resolved", message="Fixed",
                                           by=responder, now=timezone.now() - timedelta(days=5))
    rebuild_all()
    return api


def test_the_page_renders_with_tooltips_and_passes_axe(live_app, browser, page_with_history):
    from axe_playwright_python.sync_playwright import Axe

    page = browser.new_context().new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{live_app}/status/")
    expect(page.get_by_role("heading", level=1)).to_have_text("All Systems Operational")
    # "Last updated" is a fixed instant in the bytes; the browser shows it in the reader's zone.
    stamp = page.locator("footer time[data-local-time]")
    expect(stamp).to_have_attribute("title", stamp.get_attribute("datetime") or "missing")
    bars = page.locator(f"#component-{page_with_history.pk} .uptime-bars .bar")
    expect(bars).to_have_count(90)
    # The day of the incident: hover shows date, uptime and the incident's title.
    day = (timezone.now() - timedelta(days=5)).date()
    bar = bars.nth(89 - 5)
    tip = bar.locator(".tip")
    # The live refresh may swap the bars in just then: read the box once it is attached again.
    box = None
    for _attempt in range(50):
        box = tip.bounding_box()
        if box is not None:
            break
        page.wait_for_timeout(100)
    assert box is not None and box["width"] <= 1  # hidden until hovered (but in the accessibility tree)
    bar.hover()
    assert tip.bounding_box()["width"] > 50
    expect(tip).to_contain_text(day.strftime("%b ") + str(day.day))
    expect(tip).to_contain_text("API errors")
    expect(tip).to_contain_text("% uptime")
    # Days before the component existed say so.
    expect(bars.first.locator(".tip")).to_contain_text("No data")
    # Groups collapse and expand with the keyboard (native <details>).
    page.locator("summary").first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("details.component-group")).not_to_have_attribute("open", "")
    page.keyboard.press("Enter")
    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == [], results.generate_report()
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_a_component_change_shows_up_live_without_reload(live_app, browser, page_with_history, responder, tmp_path):
    worker = start_worker(tmp_path, queues="vigil")
    try:
        page = browser.new_context().new_page()
        page.goto(f"{live_app}/status/")
        expect(page.locator("#status-live")).to_have_attribute("data-live", "connected", timeout=10000)
        page.evaluate("window.notReloaded = true")
        incident_services.incident_open(title="Website unreachable", impact="critical", message="We are investigating.",
                                        components={Component.objects.get(name="Website").pk: "major_outage"}, by=responder,
                                        now=timezone.now())
        expect(page.get_by_role("heading", level=1)).to_have_text("Major System Outage", timeout=20000)
        expect(page.locator(".status-incident")).to_contain_text("Website unreachable")
        website = Component.objects.get(name="Website")
        expect(page.locator(f"#component-{website.pk} .component-status")).to_have_text("Major outage")
        assert page.evaluate("window.notReloaded") is True
    finally:
        worker.stop()


def test_the_page_works_without_javascript(live_app, browser, page_with_history):
    page = browser.new_context(java_script_enabled=False).new_page()
    page.goto(f"{live_app}/status/")
    expect(page.get_by_role("heading", level=1)).to_have_text("All Systems Operational")
    expect(page.locator("footer time[data-local-time]")).to_have_text(re.compile(r"^\w{3} \d{1,2}, \d{4} \d{2}:\d{2} \w+$"))
    page.get_by_role("link", name="History").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Incident history")
    page.get_by_role("link", name="API errors").click()
    expect(page.locator(".public-timeline .update-status").first).to_have_text("Resolved")
