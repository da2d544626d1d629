"""The severity policy: declaring an incident pages through alerting (console, API and
auto-incident alike), escalates until someone acknowledges, and a missed response target
is itself an alert. SEV-4 pages nobody."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from alerting import services as alerting_services
from alerting.models import Alert, Channel, EscalationPolicy, EscalationStep, Notification
from alerting.tasks import deliver_notifications
from api.tokens import token_issue
from core import events
from incidents import services as incident_services
from incidents.models import AutoIncidentRule, Component, Incident, SeverityPolicy
from tests.servers import HTTPServer, respond

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


@pytest.fixture
def policy() -> dict[str, Channel]:
    """SEV-1 tells leadership at once and pages the on-call channel first, the manager 5 minutes later."""
    leadership = Channel.objects.create(name="leadership", kind="email", config={"to": ["cto@example.com"]})
    oncall = Channel.objects.create(name="oncall", kind="email", config={"to": ["oncall@example.com"]})
    manager = Channel.objects.create(name="manager", kind="email", config={"to": ["manager@example.com"]})
    escalation = EscalationPolicy.objects.create(name="sev1")
    EscalationStep.objects.create(policy=escalation, position=0, wait_minutes=5).channels.set([oncall])
    EscalationStep.objects.create(policy=escalation, position=1, wait_minutes=5).channels.set([manager])
    alerting_services.severity_paging_save(impact="critical", channels=[leadership], escalation_policy=escalation)
    alerting_services.severity_paging_save(impact="none", channels=[], escalation_policy=None)
    return {"leadership": leadership, "oncall": oncall, "manager": manager}


def settle(at: datetime) -> None:
    """What beat does: run the event consumers, then alerting's tick."""
    with time_machine.travel(at, tick=False):
        events.drain(now=at)
        alerting_services.tick(now=at)


def paged() -> dict[str, int]:
    counts: dict[str, int] = {}
    for notification in Notification.objects.select_related("channel"):
        counts[notification.channel.name] = counts.get(notification.channel.name, 0) + 1
    return counts


def declare_in_console(client, user, impact: str = "critical") -> Incident:
    client.force_login(user)
    with time_machine.travel(NOW, tick=False):
        response = client.post("/incidents/declare/", {"title": "Checkout down", "impact": impact, "status": "investigating",
                                                       "message": "We are investigating.", "is_public": "on"})
    assert response.status_code == 302
    return Incident.objects.get()


def declare_through_the_api(client, user) -> Incident:
    _token, clear = token_issue(user=user, name="ci", scope="write")
    with time_machine.travel(NOW, tick=False):
        response = client.post("/api/v1/incidents", data=json.dumps({"title": "Checkout down", "impact": "critical", "message": "Investigating"}),
                               content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {clear}")
    assert response.status_code == 201, response.content
    return Incident.objects.get()


def declare_by_auto_incident() -> Incident:
    component = Component.objects.create(name="Checkout")
    AutoIncidentRule.objects.create(component=component, impact="critical")
    with time_machine.travel(NOW, tick=False):
        incident_services.component_refresh(component_ids=[component.pk], derived={component.pk: "major_outage"}, now=NOW)
        events.drain(now=NOW)
    return Incident.objects.get()


@pytest.mark.parametrize("how", ["console", "api", "auto-incident"])
def test_a_sev1_pages_the_policy_channels_once_and_escalates_when_nobody_acknowledges(client, responder, policy, how):
    incident = {"console": lambda: declare_in_console(client, responder), "api": lambda: declare_through_the_api(client, responder),
                "auto-incident": declare_by_auto_incident}[how]()
    settle(NOW)
    settle(NOW + timedelta(seconds=30))  # the same events read again, the tick again: nothing more
    assert paged() == {"leadership": 1, "oncall": 1}
    [alert] = Alert.objects.filter(dedup_key__startswith=f"incident:{incident.pk}:declared")
    assert alert.status == "firing" and alert.summary == "SEV-1 declared: " + incident.title and alert.labels["incident"] == str(incident.pk)
    settle(NOW + timedelta(minutes=5, seconds=1))
    assert paged() == {"leadership": 1, "oncall": 1, "manager": 1}


def test_acknowledging_on_the_console_stops_the_escalation_and_meets_the_target(client, responder, policy):
    incident = declare_in_console(client, responder)
    settle(NOW)
    with time_machine.travel(NOW + timedelta(minutes=2), tick=False):
        assert client.post(f"/incidents/{incident.pk}/acknowledge/").status_code == 302
    settle(NOW + timedelta(minutes=2))
    settle(NOW + timedelta(minutes=10))
    assert paged() == {"leadership": 1, "oncall": 1}
    assert Alert.objects.get(dedup_key__contains=":declared").status == "acknowledged"
    incident.refresh_from_db()
    assert incident.acknowledged_by == responder and incident.acknowledged_at == NOW + timedelta(minutes=2)
    with time_machine.travel(NOW + timedelta(minutes=3), tick=False):
        page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert 'data-target="ack"' in page and "met at 14:02 UTC" in page
    assert "First update posted</strong> by <time" in page and "12 min left" in page


def test_acknowledging_the_page_acknowledges_the_incident(client, responder, policy):
    incident = declare_in_console(client, responder)
    settle(NOW)
    alerting_services.acknowledge(alerts=Alert.objects.filter(dedup_key__contains=":declared"), by=responder, now=NOW + timedelta(minutes=1))
    incident.refresh_from_db()
    assert incident.acknowledged_at == NOW + timedelta(minutes=1)


def test_a_sev4_pages_nobody(client, responder, policy):
    declare_in_console(client, responder, impact="none")
    settle(NOW)
    settle(NOW + timedelta(hours=2))
    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        alerting_services.incident_targets_check(now=NOW + timedelta(hours=2))
    settle(NOW + timedelta(hours=2, seconds=1))
    assert paged() == {} and not Alert.objects.exists()


def test_a_missed_first_update_raises_an_alert_that_resolves_once_posted(client, responder, policy):
    incident = declare_in_console(client, responder)
    settle(NOW)
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        client.post(f"/incidents/{incident.pk}/acknowledge/")
    assert alerting_services.incident_targets_check(now=NOW + timedelta(minutes=14)) == 0
    assert alerting_services.incident_targets_check(now=NOW + timedelta(minutes=16)) == 1
    breach = Alert.objects.get(dedup_key=f"incident:{incident.pk}:breach:first_update")
    assert breach.status == "firing" and breach.summary == "SEV-1 Checkout down: first update target of 15 min missed"
    settle(NOW + timedelta(minutes=16))
    assert paged()["leadership"] == 2  # the breach is news to the incident's group
    with time_machine.travel(NOW + timedelta(minutes=17), tick=False):
        dashboard = client.get("/dashboard/").content.decode()
        incident.refresh_from_db()
        client.post(f"/incidents/{incident.pk}/updates/", {"status": "identified", "message": "Bad deploy", "version": incident.version})
    assert "First update posted by 14:15: breached" in dashboard
    assert alerting_services.incident_targets_check(now=NOW + timedelta(minutes=18)) == 0
    breach.refresh_from_db()
    assert breach.status == "resolved"


def test_the_policy_row_overrides_the_guides_defaults(client, responder, policy):
    SeverityPolicy.objects.create(severity="critical", ack_within_seconds=60, first_update_within_seconds=None)
    incident = declare_in_console(client, responder)
    settle(NOW)
    assert alerting_services.incident_targets_check(now=NOW + timedelta(minutes=2)) == 1
    assert Alert.objects.filter(dedup_key=f"incident:{incident.pk}:breach:ack").exists()
    assert not Alert.objects.filter(dedup_key=f"incident:{incident.pk}:breach:first_update").exists()


def test_resolving_the_incident_resolves_its_page(client, responder, policy):
    incident = declare_in_console(client, responder)
    settle(NOW)
    incident_services.incident_post_update(incident_id=incident.pk, expected_version=None, status="resolved", message="Fixed",
                                           by=responder, now=NOW + timedelta(minutes=3))
    settle(NOW + timedelta(minutes=3))
    assert not Alert.objects.filter(status__in=Alert.OPEN).exists()


def test_a_page_reaches_a_real_webhook(client, responder):
    server = HTTPServer({"/hook": lambda handler: respond(handler, 200, b"ok")})
    try:
        hook = Channel.objects.create(name="hook", kind="webhook", config={"url": f"{server.url}/hook"})
        alerting_services.severity_paging_save(impact="critical", channels=[hook], escalation_policy=None)
        incident = declare_in_console(client, responder)
        settle(NOW)
        with time_machine.travel(NOW + timedelta(seconds=1), tick=False):
            deliver_notifications()
        [request] = server.requests
    finally:
        server.close()
    body = json.loads(request[3])
    assert body["alerts"][0]["summary"] == f"SEV-1 declared: {incident.title}"


def test_config_as_code_sets_the_policy_and_exports_only_what_differs_from_the_guides(tmp_path):
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    from alerting.models import SeverityPaging
    from incidents.selectors import severity_policy

    path = tmp_path / "vigil.yaml"
    path.write_text("channels:\n  - {name: pager, kind: email, to: [oncall@example.com]}\n"
                    "escalation_policies:\n  - {name: Primary, steps: [{channels: [pager], wait: 5m}]}\n"
                    "severity_policy:\n  sev1: {channels: [pager], escalation_policy: Primary, ack_within: 2m}\n"
                    "  sev3: {ack_within: null}\n")
    call_command("import_config", str(path), stdout=io.StringIO())
    assert severity_policy("critical").ack_within_seconds == 120 and severity_policy("critical").first_update_within_seconds == 900
    assert severity_policy("minor").ack_within_seconds is None and severity_policy("major").ack_within_seconds == 900
    rule = SeverityPaging.objects.get(severity="critical").rule
    assert [c.name for c in rule.channels.all()] == ["pager"] and rule.escalation_policy.name == "Primary"
    out = io.StringIO()
    call_command("export_config", stdout=out)
    exported = out.getvalue().split("severity_policy:\n", 1)[1]
    assert exported.startswith("  sev1:\n    channels:\n    - pager\n    escalation_policy: Primary\n    ack_within: 2m\n")
    assert "sev2" not in exported and "  sev3:\n    ack_within: null\n" in exported
    assert "Incidents declared" not in out.getvalue()  # the policy's own rules are not written as alert rules

    path.write_text("severity_policy:\n  sev2: {channels: [nobody], first_update_within: soon}\n")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_config", str(path), stdout=io.StringIO(), stderr=err)
    assert "severity_policy.sev2.first_update_within: 'soon' is not a duration" in err.getvalue()
    path.write_text("severity_policy:\n  sev2: {channels: [nobody]}\n")
    with pytest.raises(CommandError):
        call_command("import_config", str(path), stdout=io.StringIO(), stderr=err)
    assert "severity_policy.sev2.channels: no channel named 'nobody'" in err.getvalue()


def test_a_postmortem_due_date_from_the_policy_with_reminders_until_it_is_published(client, responder, policy):
    from incidents.models import Postmortem

    incident = declare_in_console(client, responder)
    resolved_at = NOW + timedelta(hours=1)
    incident_services.incident_post_update(incident_id=incident.pk, expected_version=None, status="resolved", message="Fixed",
                                           by=responder, now=resolved_at)
    settle(resolved_at)
    with time_machine.travel(resolved_at + timedelta(minutes=1), tick=False):
        page = client.get(f"/incidents/{incident.pk}/postmortem/").content.decode()
    assert "Due <time" in page and "2026-11-22 15:00 UTC" in page  # 48 hours after resolution
    assert alerting_services.postmortem_reminders(now=resolved_at + timedelta(hours=23)) == 0
    assert alerting_services.postmortem_reminders(now=resolved_at + timedelta(hours=25)) == 1
    reminder = Alert.objects.get(dedup_key=f"postmortem:{incident.pk}")
    assert reminder.summary == "Postmortem for SEV-1 Checkout down: due 2026-11-22 15:00 UTC" and reminder.severity == "warning"
    settle(resolved_at + timedelta(hours=25))
    reminders = [n for n in Notification.objects.filter(channel__name="leadership") if "Postmortem" in json.dumps(n.message)]
    assert len(reminders) == 1
    alerting_services.postmortem_reminders(now=resolved_at + timedelta(hours=49))
    reminder.refresh_from_db()
    assert reminder.summary.endswith("overdue since 2026-11-22 15:00 UTC")
    postmortem = incident_services.postmortem_start(incident_id=incident.pk, by=responder, now=resolved_at + timedelta(hours=50))
    Postmortem.objects.filter(pk=postmortem.pk).update(summary="Checkout was down.", root_cause="A bad deploy.")
    incident_services.postmortem_publish(postmortem_id=postmortem.pk, by=responder, now=resolved_at + timedelta(hours=50))
    assert Postmortem.objects.get().status == "published"
    assert alerting_services.postmortem_reminders(now=resolved_at + timedelta(hours=51)) == 0
    reminder.refresh_from_db()
    assert reminder.status == "resolved"


def test_the_dashboard_alert_list_and_the_monitor_page_show_runbooks(client, viewer):
    from alerting.models import AlertRule
    from monitors.models import Monitor

    monitor = Monitor.objects.create(name="checkout-api", kind="tcp", target="127.0.0.1:1", state="down")
    rule = AlertRule.objects.create(name="Checkout down", states=["down"], runbook_url="https://wiki.example.com/runbooks/checkout",
                                    runbook_text="Roll back first.")
    alerting_services.alert_raise(rule=rule, key="k", labels={}, summary="checkout-api is down", now=NOW)
    client.force_login(viewer)
    dashboard = client.get("/dashboard/").content.decode()
    assert 'class="runbook" href="https://wiki.example.com/runbooks/checkout"' in dashboard and "Roll back first." in dashboard
    page = client.get(f"/monitors/{monitor.pk}/").content.decode()
    assert 'id="monitor-runbooks"' in page and "https://wiki.example.com/runbooks/checkout" in page and "Roll back first." in page


def test_a_stakeholder_update_goes_to_the_severitys_channels_once_and_never_to_public_pages(client, responder, policy):
    from statuspage.models import StatusPage

    StatusPage.objects.get_or_create(slug="public", defaults={"title": "Status", "is_default": True})
    incident = declare_in_console(client, responder)
    settle(NOW)
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        response = client.post(f"/incidents/{incident.pk}/stakeholders/", {"stakeholder_message": "Revenue impact ~2%; CTO informed."})
    assert response.status_code == 302
    settle(NOW + timedelta(minutes=5))
    settle(NOW + timedelta(minutes=6))
    [sent] = Notification.objects.filter(kind="stakeholder")
    assert sent.channel.name == "leadership" and sent.message["text"] == "Revenue impact ~2%; CTO informed."
    assert sent.message["title"] == "SEV-1 Checkout down: stakeholder update"
    console = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "rory-responder told stakeholders" in console and "ticked <strong>Stakeholders updated</strong>" in console
    public = client.get(f"/status/incidents/{incident.pk}/").content.decode()
    assert "We are investigating." in public and "Revenue impact" not in public
    empty = client.post(f"/incidents/{incident.pk}/stakeholders/", {"stakeholder_message": "  "}, follow=True).content.decode()
    assert "Stakeholder update: message: write what stakeholders should know" in empty


def test_a_sev1_page_does_not_inhibit_the_warnings_of_its_components_monitors(responder, policy):
    from alerting.models import AlertRule

    checkout = Component.objects.create(name="Checkout")
    incident = incident_services.incident_open(title="Checkout down", impact="critical", message="Looking.", by=responder, now=NOW,
                                               components={checkout.pk: "major_outage"})
    settle(NOW)
    page = Alert.objects.get(dedup_key__contains=":declared")
    assert page.labels["components"] == "Checkout" and "component" not in page.labels and page.labels["incident"] == str(incident.pk)
    warning_rule = AlertRule.objects.create(name="slow", states=["degraded"], severity="warning", group_wait_seconds=0)
    warning_rule.channels.add(policy["oncall"])
    alerting_services.alert_raise(rule=warning_rule, key="warn", labels={"component": "Checkout"}, summary="checkout is slow",
                                  severity="warning", now=NOW + timedelta(seconds=1))
    alerting_services.tick(now=NOW + timedelta(seconds=2))
    assert Notification.objects.filter(group__rule=warning_rule).count() == 1


def test_acknowledging_through_the_api_stops_the_escalation(client, responder, policy):
    incident = declare_through_the_api(client, responder)
    settle(NOW)
    _token, clear = token_issue(user=responder, name="pager", scope="write")
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        answer = client.post(f"/api/v1/incidents/{incident.pk}/acknowledge", HTTP_AUTHORIZATION=f"Bearer {clear}")
    assert answer.status_code == 200 and answer.json()["acknowledged_at"].startswith("2026-11-20T14:01")
    settle(NOW + timedelta(minutes=1))
    settle(NOW + timedelta(minutes=10))
    assert paged() == {"leadership": 1, "oncall": 1}
