"""Issue 22 in a real browser: what a visitor and a staff member see (headline wording,
postmortems, times, small fixes, phones, dark mode)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from incidents.models import Component
from statuspage.models import StatusPage
from statuspage.tasks import rebuild_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def five_components(db):
    StatusPage.objects.get_or_create(slug="public", defaults={"title": "Acme status", "is_default": True})
    names = ["API", "Website", "Email", "Search", "Billing"]
    components = [Component.objects.create(name=name) for name in names]
    Component.objects.all().update(created_at=timezone.now() - timedelta(days=30))
    return components


def test_the_headline_follows_statuspage_wording(live_app, browser, five_components):
    cases = [
        ({"API": "degraded_performance"}, "Partially Degraded Service", "indicator-minor"),
        ({"API": "major_outage"}, "Partial System Outage", "indicator-major"),
        ({name.name: "major_outage" for name in five_components}, "Major System Outage", "indicator-critical"),
        ({"API": "under_maintenance"}, "Service Under Maintenance", "indicator-maintenance"),
    ]
    for statuses, heading, indicator in cases:
        Component.objects.update(status="operational")
        for name, status in statuses.items():
            Component.objects.filter(name=name).update(status=status)
        rebuild_all()
        time.sleep(1.1)  # the server keeps a built document in memory for a second
        page = browser.new_context().new_page()  # and the browser may cache the page (max-age)
        page.goto(f"{live_app}/status/")
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expect(page.locator("section.banner")).to_have_class(f"banner {indicator}")
