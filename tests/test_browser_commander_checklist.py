"""In a real browser: the commander picks a commander (the person on call first), opens a war
room, ticks the checklist (the steps appear on the timeline with who and when), updates the
stakeholders internally, and reads the affected monitors' runbooks and what changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from alerting.models import AlertRule, OnCallMember, OnCallSchedule
from incidents import services as incident_services
from incidents.models import Component, IncidentStep
from monitors.models import Monitor
from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_commander_picks_a_commander_opens_a_war_room_and_ticks_the_checklist(live_app, browser, responder, admin_user):
    now = timezone.now()
    schedule = OnCallSchedule.objects.create(name="Primary", rotation_start=(now - timedelta(days=3)).date())
    OnCallMember.objects.create(schedule=schedule, user=admin_user)
    checkout = Component.objects.create(name="Checkout")
    monitor = Monitor.objects.create(name="checkout-api", kind="tcp", target="127.0.0.1:1", component=checkout, state="down")
    rule = AlertRule.objects.create(name="Checkout down", states=["down"], runbook_url="https://wiki.example.com/runbooks/checkout",
                                    runbook_text="Roll back the last deploy first.")
    rule.monitors.add(monitor)
    incident_services.deploy_record(version="v2.3.1", component=checkout, deployed_by="ci #812", by=None, now=now - timedelta(minutes=20))
    incident = incident_services.incident_open(title="Checkout failing", impact="critical", message="Investigating.",
                                               components={checkout.pk: "major_outage"}, by=responder, now=now)

    page = browser.new_context().new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    login(page, live_app, "rory-responder")
    page.goto(f"{live_app}/incidents/{incident.pk}/")
    expect(page.locator("#what-changed")).to_contain_text("v2.3.1 of Checkout by ci #812")
    expect(page.locator("#affected-monitors")).to_contain_text("Runbook (Checkout down): https://wiki.example.com/runbooks/checkout")
    expect(page.locator("#affected-monitors")).to_contain_text("Roll back the last deploy first.")

    page.get_by_role("link", name="Pick the commander (on call first)").click()
    radios = page.locator("input[name=commander]")
    expect(radios.first).to_have_attribute("value", str(admin_user.pk))  # on call: listed first
    expect(page.locator(f"label[for=commander-{admin_user.pk}]")).to_contain_text("on call: Primary")
    page.get_by_label("ada-admin").check()
    page.get_by_role("button", name="Make commander").click()
    expect(page.locator("#commander-checklist")).to_contain_text("Commander: ada-admin")

    page.get_by_label("War room link").fill("https://chat.example.com/incident-checkout")
    page.get_by_role("button", name="Save link").click()
    expect(page.locator("#war-room-link")).to_have_attribute("href", "https://chat.example.com/incident-checkout")

    page.get_by_label("Recent deployments checked").check()
    page.get_by_label("Root cause identified").check()
    page.get_by_role("button", name="Record ticked steps").click()
    log = page.locator("#timeline .steps-log")
    expect(log).to_contain_text("rory-responder ticked Recent deployments checked")
    expect(log).to_contain_text("rory-responder ticked Root cause identified")
    expect(log).to_contain_text("rory-responder ticked Incident commander assigned")
    expect(page.get_by_label("Recent deployments checked")).to_be_disabled()
    expect(page.get_by_label("Recent deployments checked")).to_be_checked()
    page.get_by_label("Stakeholder update (internal)").fill("Checkout down for 10% of users; rollback under way.")
    page.get_by_role("button", name="Send to stakeholders").click()
    expect(log).to_contain_text("rory-responder told stakeholders: Checkout down for 10% of users; rollback under way.")
    expect(page.get_by_label("Stakeholders updated")).to_be_checked()
    assert sorted(IncidentStep.objects.filter(incident=incident).values_list("step", flat=True)) == [
        "commander_assigned", "deploys_checked", "root_cause", "stakeholders_updated"]
    assert not [e for e in errors if "Content Security Policy" in e], errors

    # Nothing of the checklist reaches the public page.
    from statuspage.models import StatusPage

    StatusPage.objects.get_or_create(slug="public", defaults={"title": "Status", "is_default": True})
    public = browser.new_context().new_page()
    public.goto(f"{live_app}/status/incidents/{incident.pk}/")
    expect(public.locator(".public-timeline")).to_contain_text("Investigating.")
    assert "ticked" not in public.content() and "chat.example.com" not in public.content() and "rollback under way" not in public.content()


def test_public_and_internal_updates_start_from_the_edited_templates(live_app, browser, responder):
    checkout = Component.objects.create(name="Checkout")
    incident = incident_services.incident_open(title="Checkout failing", impact="critical", message="Investigating.",
                                               components={checkout.pk: "major_outage"}, by=responder, now=timezone.now())
    page = browser.new_context().new_page()
    login(page, live_app, "rory-responder")
    page.goto(f"{live_app}/incidents/")
    page.get_by_role("link", name="Communication templates").click()
    page.get_by_label("Public · Identified").fill("Found the fault in {components}; a fix is on its way.")
    page.get_by_role("button", name="Save the public identified template").click()
    expect(page.locator(".messages")).to_contain_text("Saved the public identified template.")
    page.get_by_label("Internal · Investigating").fill("{severity} {title}: all hands, commander {commander}.")
    page.get_by_role("button", name="Save the internal investigating template").click()

    page.goto(f"{live_app}/incidents/{incident.pk}/")
    expect(page.get_by_label("Stakeholder update (internal)")).to_have_value("SEV-1 Checkout failing: all hands, commander rory-responder.")
    page.get_by_role("button", name="Send to stakeholders").click()
    expect(page.locator("#timeline .steps-log")).to_contain_text("told stakeholders: SEV-1 Checkout failing: all hands")

    page.get_by_label("Template").select_option("identified")
    expect(page.get_by_label("Message")).to_have_value("Found the fault in Checkout; a fix is on its way.")
    page.get_by_label("Status", exact=True).select_option("identified")
    page.get_by_role("button", name="Post update").click()
    expect(page.locator("#timeline li").first).to_contain_text("Found the fault in Checkout; a fix is on its way.")
