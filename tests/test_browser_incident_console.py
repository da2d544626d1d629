"""In a real browser: declare an incident, post two updates, resolve it; a second commander
sees the updates live; the public timeline shows them in order."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from incidents.models import Component, Incident
from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_declare_update_resolve_and_the_public_timeline(live_app, browser, responder, admin_user):
    from statuspage.models import StatusPage

    StatusPage.objects.get_or_create(slug="public", defaults={"title": "Status", "is_default": True})
    Component.objects.create(name="Checkout")
    first = browser.new_context().new_page()
    second = browser.new_context().new_page()
    errors: list[str] = []
    for page in (first, second):
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    login(first, live_app, "rory-responder")
    login(second, live_app, "ada-admin")

    first.goto(f"{live_app}/incidents/")
    first.get_by_role("link", name="Declare incident").click()
    first.get_by_label("Title").fill("Checkout payments failing")
    first.get_by_label("Impact").select_option("critical")
    first.get_by_label("Checkout").select_option("major_outage")
    first.get_by_label("Message").fill("Payments fail with **502** errors.")
    first.get_by_role("button", name="Declare incident").click()
    expect(first.get_by_role("heading", level=1)).to_contain_text("SEV-1 Checkout payments failing")
    incident = Incident.objects.get()
    assert Component.objects.get(name="Checkout").status == "major_outage"

    # The second commander opens the same incident and stays on the page.
    second.goto(f"{live_app}/incidents/{incident.pk}/")
    expect(second.locator("#timeline")).to_contain_text("Payments fail with 502 errors.")
    second.wait_for_timeout(500)  # let the websocket connect

    first.get_by_label("Status").select_option("identified")
    first.get_by_label("Message").fill("A bad deploy of the payment gateway.")
    first.get_by_role("button", name="Post update").click()
    expect(first.locator("#timeline li").first).to_contain_text("A bad deploy of the payment gateway.")
    # Live: the other commander's timeline shows it without a reload.
    expect(second.locator("#timeline li").first).to_contain_text("A bad deploy of the payment gateway.", timeout=10_000)

    first.get_by_label("Status").select_option("monitoring")
    first.get_by_label("Message").fill("Rolled back; watching error rates.")
    first.get_by_role("button", name="Post update").click()
    expect(first.locator("#timeline li").first).to_contain_text("Rolled back")

    # The second commander's form is now stale: posting is refused with a clear message, the text kept.
    second.get_by_label("Message").fill("My stale words")
    second.get_by_role("button", name="Post update").click()
    expect(second.locator(".form-errors")).to_contain_text("Someone else updated this incident by rory-responder")
    expect(second.get_by_label("Message")).to_have_value("My stale words")

    first.get_by_label("Status").select_option("resolved")
    first.get_by_label("Message").fill("Payments work again.")
    first.get_by_role("button", name="Post update").click()
    expect(first.locator("#timeline li").first).to_contain_text("Payments work again.")

    public = browser.new_context().new_page()
    public.goto(f"{live_app}/status/incidents/{incident.pk}/")
    statuses = public.locator(".public-timeline .update-status").all_inner_texts()
    assert statuses == ["Resolved", "Monitoring", "Identified", "Investigating"]
    bodies = public.locator(".public-timeline .update-body").all_inner_texts()
    assert bodies[0].strip() == "Payments work again." and bodies[-1].strip() == "Payments fail with 502 errors."
    assert not [e for e in errors if "Content Security Policy" in e], errors
    incident.refresh_from_db()
    assert incident.status == "resolved" and Component.objects.get(name="Checkout").status == "operational"


def test_the_console_works_without_javascript(live_app, browser, responder):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    login(page, live_app, "rory-responder")
    page.goto(f"{live_app}/incidents/declare/")
    page.get_by_label("Title").fill("Search is slow")
    page.get_by_label("Message").fill("Investigating slow search.")
    page.get_by_role("button", name="Declare incident").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Search is slow")
    page.get_by_label("Status").select_option("identified")
    page.get_by_role("button", name="Fill from the status's template").click()
    expect(page.get_by_label("Message")).to_have_value("We have identified the cause of the problems with the affected services and are working on a fix.")
    page.get_by_role("button", name="Post update").click()
    expect(page.locator("#timeline li").first).to_contain_text("We have identified the cause")
