"""Incident lifecycle, component status (derived vs overridden), auto-incidents, Markdown safety, edit history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import events
from core.models import AuditLog
from incidents import services
from incidents.models import AutoIncidentRule, Component, Incident, IncidentUpdateRevision
from monitors import services as monitor_services
from monitors.checkers.base import Result
from monitors.models import Monitor, Region

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)


@pytest.fixture
def api() -> Component:
    return Component.objects.create(name="API")


def test_lifecycle_sets_each_timestamp_once(api, responder):
    incident = services.incident_open(title="API errors", impact="major", message="Looking into it", components={api.pk: "partial_outage"},
                                      by=responder, now=T0)
    assert (incident.status, incident.started_at, incident.commander) == ("investigating", T0, responder)
    for minutes, status in ((10, "identified"), (20, "monitoring"), (30, "identified"), (40, "resolved")):
        services.incident_post_update(incident_id=incident.pk, expected_version=None, status=status, message=f"now {status}",
                                      by=responder, now=T0 + timedelta(minutes=minutes))
    incident.refresh_from_db()
    assert incident.identified_at == T0 + timedelta(minutes=10)
    assert incident.monitoring_at == T0 + timedelta(minutes=20)
    assert incident.resolved_at == T0 + timedelta(minutes=40)
    assert list(incident.updates.values_list("status", flat=True)) == ["investigating", "identified", "monitoring", "identified", "resolved"]
    assert AuditLog.objects.filter(object_type="incidents.incident", object_id=str(incident.pk)).count() == 5


def test_reopening_clears_resolved_at(api, responder):
    incident = services.incident_open(title="x", impact="minor", message="m", by=responder, now=T0)
    services.incident_post_update(incident_id=incident.pk, expected_version=None, status="resolved", message="fixed", by=responder, now=T0)
    services.incident_post_update(incident_id=incident.pk, expected_version=None, status="investigating", message="back", by=responder, now=T0)
    incident.refresh_from_db()
    assert incident.resolved_at is None and incident.is_open


def test_a_stale_edit_is_refused_with_who_and_when(api, responder, admin_user):
    incident = services.incident_open(title="x", impact="minor", message="m", by=responder, now=T0)
    version = incident.version
    services.incident_post_update(incident_id=incident.pk, expected_version=version, status="identified", message="found it",
                                  by=admin_user, now=T0 + timedelta(minutes=1))
    with pytest.raises(services.IncidentConflict, match="Someone else updated this incident by ada-admin at 08:01:00 UTC"):
        services.incident_post_update(incident_id=incident.pk, expected_version=version, status="monitoring", message="mine",
                                      by=responder, now=T0 + timedelta(minutes=2))
    assert Incident.objects.get(pk=incident.pk).updates.count() == 2


def test_component_status_is_derived_from_monitors_unless_an_incident_overrides_it(api, responder):
    eu, us = Region.objects.create(name="eu"), Region.objects.create(name="us")
    monitor = Monitor.objects.create(name="api-health", kind="tcp", target="127.0.0.1:1", component=api, retries=0, recovery_confirmations=1)
    monitor.regions.set([eu, us])

    def report(region: str, outcome: str, at: datetime) -> None:
        monitor_services.record_results(region_name=region, checked=[monitor_services.Checked(monitor.pk, at, Result(outcome))], now=at)
        events.drain(now=at)

    report("eu", "ok", T0)
    report("us", "ok", T0)
    api.refresh_from_db()
    assert api.status == "operational"
    report("eu", "down", T0 + timedelta(minutes=1))  # one region of two: partial
    api.refresh_from_db()
    assert (api.status, api.derived_status) == ("partial_outage", "partial_outage")
    report("us", "down", T0 + timedelta(minutes=1))  # all down: major
    api.refresh_from_db()
    assert api.status == "major_outage"

    incident = services.incident_open(title="API", impact="minor", message="mostly fine", components={api.pk: "degraded_performance"},
                                      by=responder, now=T0 + timedelta(minutes=2))
    api.refresh_from_db()
    assert (api.status, api.derived_status) == ("degraded_performance", "major_outage")  # a person overrides
    services.incident_post_update(incident_id=incident.pk, expected_version=None, status="resolved", message="ok",
                                  by=responder, now=T0 + timedelta(minutes=3))
    api.refresh_from_db()
    assert api.status == "major_outage"  # the override ended with the incident; the monitors speak again


def test_auto_incident_opens_once_on_confirmed_outage_and_resolves_on_recovery(api):
    AutoIncidentRule.objects.create(component=api, trigger_status="partial_outage", impact="major")
    monitor = Monitor.objects.create(name="api-health", kind="tcp", target="127.0.0.1:1", component=api, retries=2, recovery_confirmations=2)

    def check(outcome: str, step: int) -> None:
        at = T0 + timedelta(minutes=step)
        monitor_services.record_results(region_name="default", checked=[monitor_services.Checked(monitor.pk, at, Result(outcome, message="refused"))], now=at)
        events.drain(now=at)

    check("ok", 0)
    check("down", 1)
    check("down", 2)
    assert Incident.objects.count() == 0  # not confirmed yet: one blip is not an outage
    check("down", 3)
    check("down", 4)
    check("down", 5)
    incident = Incident.objects.get()
    assert incident.auto_managed and incident.status == "investigating"
    assert incident.title == "API outage"
    # A public incident says what visitors see, never the monitor's own reason (it can name
    # internal hosts or carry raw error text).
    message = incident.updates.first().message
    assert message == "We are investigating problems with API: major outage"
    assert "down in default" not in message
    check("ok", 6)
    check("ok", 7)
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert Incident.objects.count() == 1


def test_a_person_posting_takes_over_from_the_auto_rule(api, responder):
    rule = AutoIncidentRule.objects.create(component=api)
    incident = services.incident_open(title="auto", impact="major", message="m", by=None, now=T0, auto_rule=rule)
    assert incident.auto_managed
    services.incident_post_update(incident_id=incident.pk, expected_version=None, status="identified", message="on it", by=responder, now=T0)
    incident.refresh_from_db()
    api.derived_status = "operational"
    api.save()
    services.auto_incident_evaluate(component=api, reason="recovered", now=T0 + timedelta(minutes=5))
    incident.refresh_from_db()
    assert not incident.auto_managed and incident.status == "identified"


def test_markdown_cannot_inject_script(api, responder):
    evil = 'Hi <script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3)) **bold** <a href="https://ok.example" onclick="x()">ok</a>'
    incident = services.incident_open(title="x", impact="minor", message=evil, by=responder, now=T0)
    html = incident.updates.get().message_html
    assert "<script" not in html and "onerror" not in html and "javascript:" not in html and "onclick" not in html
    assert "<strong>bold</strong>" in html
    assert 'href="https://ok.example"' in html and "noopener" in html


def test_edits_keep_the_earlier_text(api, responder):
    incident = services.incident_open(title="x", impact="minor", message="first text", by=responder, now=T0)
    update = incident.updates.get()
    services.incident_edit_update(update_id=update.pk, expected_version=None, message="second text", by=responder, now=T0 + timedelta(minutes=1))
    services.incident_edit_update(update_id=update.pk, expected_version=None, message="third text", by=responder, now=T0 + timedelta(minutes=2))
    update.refresh_from_db()
    assert update.message == "third text" and update.edited_at == T0 + timedelta(minutes=2)
    assert list(IncidentUpdateRevision.objects.filter(update=update).values_list("message", flat=True)) == ["second text", "first text"]


def test_an_empty_update_is_refused_with_the_field_named(api, responder):
    incident = services.incident_open(title="x", impact="minor", message="m", by=responder, now=T0)
    with pytest.raises(ValueError, match="message: write what is happening"):
        services.incident_post_update(incident_id=incident.pk, expected_version=None, status="identified", message="  ", by=responder, now=T0)


def test_postmortem_pulls_the_timeline_and_publishes_after_resolution(api, responder):
    incident = services.incident_open(title="DB down", impact="critical", message="DB unreachable", by=responder, now=T0)
    postmortem = services.postmortem_start(incident_id=incident.pk, by=responder, now=T0)
    assert "Investigating" in postmortem.timeline and "DB unreachable" in postmortem.timeline
    with pytest.raises(ValueError, match="resolve the incident"):
        services.postmortem_publish(postmortem_id=postmortem.pk, by=responder, now=T0)
    services.incident_post_update(incident_id=incident.pk, expected_version=None, status="resolved", message="back", by=responder, now=T0)
    with pytest.raises(ValueError, match="summary: write it"):
        services.postmortem_publish(postmortem_id=postmortem.pk, by=responder, now=T0)
    postmortem.summary, postmortem.root_cause = "The primary filled its disk.", "No alert on disk usage."
    postmortem.save()
    services.postmortem_publish(postmortem_id=postmortem.pk, by=responder, now=T0)
    incident.refresh_from_db()
    assert incident.status == "postmortem"
