"""One way in for every alert: SLO burn rates, Alertmanager and monitors raise, clear and
resolve through alerting.services, so their alerts share groups, inhibition and the
resolved notice. A message queued before the typed AlertMessage still goes out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from alerting import services
from alerting.integrations import issue_token
from alerting.models import Alert, AlertGroup, AlertRule, Channel, Integration, Notification
from alerting.tasks import deliver_notifications
from incidents.models import Component
from monitors.models import CheckResult, Monitor, Region
from slo import services as slo_services
from slo.models import SLO
from tests.servers import HTTPServer, respond

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 14, 37, tzinfo=UTC)


@pytest.fixture
def rule() -> AlertRule:
    channel = Channel.objects.create(name="ops", kind="email", config={"to": ["ops@example.com"]})
    rule = AlertRule.objects.create(name="checkout", states=["down"], group_by=["component"], group_wait_seconds=0)
    rule.channels.add(channel)
    return rule


def burn_the_checkout_budget(rule: AlertRule) -> SLO:
    """An SLO on the Checkout component whose every check of the last 40 minutes failed: a fast burn (critical)."""
    component = Component.objects.create(name="Checkout")
    monitor = Monitor.objects.create(name="checkout", kind="tcp", target="127.0.0.1:1", component=component)
    slo = SLO.objects.create(name="Checkout availability", objective=99.9, window="rolling_30d", alert_rule=rule, component=component)
    slo.monitors.set([monitor])
    region = Region.objects.get(name="default")
    CheckResult.objects.bulk_create([CheckResult(monitor=monitor, at=NOW - timedelta(minutes=m), region=region, outcome=2 if m <= 40 else 0)
                                     for m in range(1, 61)])
    with time_machine.travel(NOW, tick=False):
        slo_services.refresh(slo, now=NOW)
    return slo


def alertmanager_fires(client, rule: AlertRule, *, severity: str) -> None:
    integration = Integration.objects.create(name="prometheus", rule=rule)
    body = {"alerts": [{"status": "firing", "fingerprint": "f1",
                        "labels": {"alertname": "PaymentsLatency", "component": "Checkout", "severity": severity},
                        "annotations": {"summary": "Payments p95 above 2 s"}}]}
    with time_machine.travel(NOW, tick=False):
        response = client.post("/api/v1/integrations/alertmanager", data=json.dumps(body), content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {issue_token(integration)}")
    assert response.status_code == 200


def test_an_slo_burn_and_an_alertmanager_alert_share_one_group_and_one_notification(client, rule):
    burn_the_checkout_budget(rule)
    alertmanager_fires(client, rule, severity="critical")
    assert {a.labels.get("kind", a.labels.get("source")) for a in Alert.objects.filter(status="firing")} >= {"slo_burn", "alertmanager"}
    assert list(AlertGroup.objects.values_list("group_key", flat=True)) == ["component=Checkout"]
    services.tick(now=NOW + timedelta(seconds=1))
    [notification] = Notification.objects.all()
    summaries = {line["summary"] for line in notification.message["alerts"]}
    assert "Payments p95 above 2 s" in summaries and any(s.startswith("Checkout availability: error budget") for s in summaries)
    assert notification.message["title"] == f"{len(summaries)} alerts for checkout"


def test_a_critical_slo_burn_inhibits_an_alertmanager_warning_on_the_same_component(client, rule):
    burn_the_checkout_budget(rule)
    alertmanager_fires(client, rule, severity="warning")
    services.tick(now=NOW + timedelta(seconds=1))
    [notification] = Notification.objects.all()
    summaries = [line["summary"] for line in notification.message["alerts"]]
    assert "Payments p95 above 2 s" not in summaries and summaries
    assert Alert.objects.get(summary="Payments p95 above 2 s").status == "firing"  # held back, not dropped


def test_alert_resolve_sends_the_resolved_notice_after_the_firing_one(rule):
    alert = services.alert_raise(rule=rule, key="test:disk", labels={"component": "Storage"}, summary="disk full", value="99%", now=NOW)
    assert (alert.status, alert.severity) == ("firing", "critical")
    services.tick(now=NOW)
    assert services.alert_resolve(key="test:disk", now=NOW + timedelta(minutes=1)).status == "resolved"
    assert services.alert_resolve(key="test:disk", now=NOW + timedelta(minutes=2)) is None  # nothing open any more
    services.tick(now=NOW + timedelta(minutes=6))
    assert [(n.kind, n.message["title"]) for n in Notification.objects.order_by("pk")] == [
        ("firing", "disk full"), ("resolved", "Resolved: disk full")]


def test_raising_again_refreshes_the_open_alert_and_clearing_resolves_after_resolve_after(rule):
    services.alert_raise(rule=rule, key="test:queue", labels={}, summary="queue backed up", value="900 jobs", now=NOW)
    again = services.alert_raise(rule=rule, key="test:queue", labels={}, summary="queue backed up", value="1,200 jobs", now=NOW + timedelta(minutes=1))
    assert (Alert.objects.count(), again.count, again.value) == (1, 2, "1,200 jobs")
    services.alert_clear(key="test:queue", now=NOW + timedelta(minutes=2))
    services.tick(now=NOW + timedelta(minutes=3))
    assert Alert.objects.get().status == "firing"  # clear for a minute: not yet resolved
    services.tick(now=NOW + timedelta(minutes=7, seconds=1))
    assert Alert.objects.get().status == "resolved"


def test_a_monitor_alert_waits_for_the_rule_duration_an_slo_alert_does_not(rule):
    rule.for_seconds = 300
    rule.save()
    monitor = Monitor.objects.create(name="api", kind="tcp", target="127.0.0.1:1")
    from_monitor = services.alert_raise(rule=rule, key="test:api", labels={}, summary="api is down", monitor=monitor, now=NOW)
    from_elsewhere = services.alert_raise(rule=rule, key="test:slo", labels={}, summary="budget burning", now=NOW)
    assert (from_monitor.status, from_elsewhere.status) == ("pending", "firing")
    services.alert_clear(key="test:api", now=NOW + timedelta(minutes=1))
    assert Alert.objects.get(dedup_key="test:api").status == "resolved"  # it never fired, so nobody hears of it
    services.tick(now=NOW + timedelta(minutes=2))
    assert [n.message["title"] for n in Notification.objects.all()] == ["budget burning"]


def test_a_notification_queued_before_the_typed_message_is_still_delivered():
    server = HTTPServer({"/hook": lambda handler: respond(handler, 200, b"ok")})
    try:
        channel = Channel.objects.create(name="hook", kind="webhook", config={"url": f"{server.url}/hook"})
        old_shape = {
            "title": "api is down", "text": "api is down (connection refused)", "severity": "critical", "resolved": False,
            "fields": [["Severity", "critical"]], "links": [["Acknowledge", "http://vigil/alerts/ack/x/"]], "runbook_text": "",
            "dedup_key": "vigil-group-1", "group": "all", "component": "", "source": "api", "class": "tcp", "at": NOW.isoformat(),
            "url": "http://vigil/", "footer": "Vigil · rule down · 1 alert",
            "alerts": [{"id": 1, "summary": "api is down", "status": "firing", "labels": {}, "value": "connection refused",
                        "first_seen": NOW.isoformat()}],
        }
        Notification.objects.create(channel=channel, kind="firing", message=old_shape, next_attempt_at=NOW, created_at=NOW)
        with time_machine.travel(NOW + timedelta(seconds=1), tick=False):
            deliver_notifications()
        body = json.loads(server.requests[0][3])
    finally:
        server.close()
    assert Notification.objects.get().status == "sent"
    assert (body["title"], body["group_key"], body["fields"], body["alerts"][0]["value"]) == (
        "api is down", "all", {"Severity": "critical"}, "connection refused")


def test_a_message_reads_back_from_its_json_as_the_same_message(rule):
    from alerting.messages import AlertMessage, build_message

    services.alert_raise(rule=rule, key="test:a", labels={"component": "API"}, summary="api is down", value="refused", now=NOW)
    services.alert_raise(rule=rule, key="test:b", labels={"component": "API"}, summary="web is down", now=NOW)
    group = AlertGroup.objects.get()
    message = build_message(rule, group, list(Alert.objects.order_by("pk")), kind="firing", now=NOW)
    assert AlertMessage.from_dict(json.loads(json.dumps(message.to_dict()))) == message
    assert message.title == "2 alerts for checkout" and ("Alerts", "2") in message.fields
    assert [line.summary for line in message.alerts] == ["api is down", "web is down"]
