"""Grafana alerting's webhook contact point and Sentry's alert webhooks become Vigil alerts:
payload fixtures written from their public documentation raise, update and resolve alerts with
their severity, labels and links, routed through the integration's rule; a wrong secret is a 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from django.utils import timezone

from alerting import services
from alerting.integrations import issue_token
from alerting.models import Alert, AlertRule, Channel, Integration, Notification

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures"
GRAFANA = "/api/v1/integrations/grafana"
SENTRY_SECRET = "b5f1c0ffee4d1e2a9d7f6b3c8a0e1d2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def rule():
    made = AlertRule.objects.create(name="observability", states=["down"], severity="info", group_by=["alertname"], group_wait_seconds=0)
    made.channels.add(Channel.objects.create(name="ops", kind="email", config={"to": ["ops@example.com"]}))
    return made


@pytest.fixture
def grafana(rule):
    made = Integration.objects.create(name="grafana prod", kind="grafana", rule=rule)
    return made, issue_token(made)


@pytest.fixture
def sentry(rule):
    return Integration.objects.create(name="sentry", kind="sentry", rule=rule, signing_secret=SENTRY_SECRET)


def post_grafana(client, body: bytes, authorization: str | None):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    return client.post(GRAFANA, data=body, content_type="application/json", **headers)


def post_sentry(client, integration: Integration, body: bytes, resource: str, secret: str = SENTRY_SECRET):
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(f"/api/v1/integrations/sentry/{integration.pk}", data=body, content_type="application/json",
                       HTTP_SENTRY_HOOK_RESOURCE=resource, HTTP_SENTRY_HOOK_SIGNATURE=signature,
                       HTTP_SENTRY_HOOK_TIMESTAMP="1764583200")


def test_grafana_alerts_fire_repeat_and_resolve_with_their_severity_and_links(client, grafana, rule):
    _made, token = grafana
    assert post_grafana(client, fixture("grafana_firing.json"), f"Bearer {token}").json() == {"status": "ok", "firing": 2, "resolved": 0}
    memory = Alert.objects.get(labels__alertname="High memory usage")
    cpu = Alert.objects.get(labels__alertname="High CPU usage")
    assert (memory.status, memory.severity, memory.rule) == ("firing", "critical", rule)
    assert cpu.severity == "warning"  # the rule says info: the alert's own severity label wins
    assert memory.summary == "This alert was triggered for zone us-1" and memory.value == "The system has high memory usage"
    assert cpu.value.startswith("[ var='B' labels={zone=eu-1}")  # no description: what Grafana's query saw
    assert memory.labels["zone"] == "us-1" and memory.labels["source"] == "grafana" and memory.labels["team"] == "blue"
    assert memory.links == [["Grafana rule", "https://play.grafana.org/alerting/1afz29v7z/edit"],
                            ["Dashboard", "https://play.grafana.org/d/mem01"], ["Panel", "https://play.grafana.org/d/mem01?viewPanel=4"],
                            ["Runbook", "https://myrunbook.com/runbook/1234"]]  # its runbook_url annotation
    assert cpu.links == [["Grafana rule", "https://play.grafana.org/alerting/d1rdpdv7k/edit"], ["Runbook", "https://myrunbook.com/runbook/1234"]]

    # Grafana repeats the notification: the same alerts, updated, severity kept.
    post_grafana(client, fixture("grafana_firing.json"), f"Bearer {token}")
    memory.refresh_from_db()
    assert (Alert.objects.count(), memory.count, memory.severity) == (2, 2, "critical")

    # Through the rule: its channel hears of it, the links as buttons.
    services.tick(now=timezone.now())
    message = Notification.objects.get(group__group_key="alertname=High memory usage").message
    assert message["title"] == "This alert was triggered for zone us-1"
    assert ["Dashboard", "https://play.grafana.org/d/mem01"] in message["links"]

    assert post_grafana(client, fixture("grafana_resolved.json"), f"Bearer {token}").json()["resolved"] == 1
    memory.refresh_from_db()
    assert (memory.status, memory.severity) == ("resolved", "critical")
    assert memory.cleared_at.isoformat() == "2021-10-12T08:11:03.157076+00:00"
    assert Alert.objects.get(pk=cpu.pk).status == "firing"


def test_grafana_may_send_the_token_as_basic_auth_password(client, grafana):
    _made, token = grafana
    basic = "Basic " + base64.b64encode(f"grafana:{token}".encode()).decode()
    assert post_grafana(client, fixture("grafana_firing.json"), basic).status_code == 200
    assert Alert.objects.count() == 2


def test_grafana_with_a_wrong_or_missing_token_is_refused(client, grafana):
    _made, _token = grafana
    for authorization in (None, "Bearer not-the-token", "Basic " + base64.b64encode(b"grafana:wrong").decode(), "Basic %%%"):
        response = post_grafana(client, fixture("grafana_firing.json"), authorization)
        assert response.status_code == 401
        assert "Authorization: Bearer <token>" in response.json()["error"]
    # An Alertmanager integration's token is not a Grafana integration's.
    other = Integration.objects.create(name="am", kind="alertmanager", rule=AlertRule.objects.get())
    assert post_grafana(client, fixture("grafana_firing.json"), f"Bearer {issue_token(other)}").status_code == 401
    assert not Alert.objects.exists()


def test_a_bad_grafana_payload_is_a_400_naming_the_field(client, grafana):
    _made, token = grafana
    body = json.loads(fixture("grafana_firing.json"))
    body["alerts"][1]["status"] = "pending"
    response = post_grafana(client, json.dumps(body).encode(), f"Bearer {token}")
    assert response.status_code == 400
    assert response.json()["fields"] == {"alerts[1].status": "status is 'firing' or 'resolved'."}
    response = post_grafana(client, b"<html>", f"Bearer {token}")
    assert response.status_code == 400 and "Grafana's webhook contact point" in response.json()["fields"]["body"]


def test_a_sentry_metric_alert_warns_escalates_and_resolves(client, sentry, rule):
    assert post_sentry(client, sentry, fixture("sentry_metric_alert_warning.json"), "metric_alert").json()["firing"] == 1
    alert = Alert.objects.get()
    assert (alert.status, alert.severity, alert.rule) == ("firing", "warning", rule)
    assert alert.summary == "Warning: Checkout error rate"
    assert alert.value == "620 events in the last 10 minutes Filter: level:error"
    assert alert.labels["alertname"] == "Checkout error rate" and alert.labels["projects"] == "checkout-web"
    assert alert.links == [["Sentry alert", "https://sentry.io/organizations/acme/alerts/rules/details/7/?alert=4211"]]

    post_sentry(client, sentry, fixture("sentry_metric_alert_critical.json"), "metric_alert")
    alert.refresh_from_db()
    assert (Alert.objects.count(), alert.count, alert.severity, alert.summary) == (1, 2, "critical", "Critical: Checkout error rate")

    assert post_sentry(client, sentry, fixture("sentry_metric_alert_resolved.json"), "metric_alert").json()["resolved"] == 1
    alert.refresh_from_db()
    assert (alert.status, alert.severity) == ("resolved", "critical")
    assert alert.cleared_at.isoformat() == "2026-12-01T10:40:00+00:00"


def test_a_sentry_issue_alert_raises_at_the_events_level_and_resolves_with_the_issue(client, sentry):
    assert post_sentry(client, sentry, fixture("sentry_issue_alert.json"), "event_alert").status_code == 200
    assert post_sentry(client, sentry, fixture("sentry_issue_alert.json"), "event_alert").status_code == 200
    alert = Alert.objects.get()
    assert (alert.status, alert.severity, alert.count) == ("firing", "warning", 2)
    assert alert.summary == "ReferenceError: heck is not defined" and alert.value == "?(<anonymous>)"
    assert alert.labels["alertname"] == "Send a notification for new checkout errors"
    assert (alert.labels["environment"], alert.labels["issue"], alert.labels["source"]) == ("production", "1117540176", "sentry")
    assert alert.links == [["Sentry issue", "https://sentry.io/organizations/acme/issues/1117540176/"]]

    services.tick(now=timezone.now())
    assert ["Sentry issue", "https://sentry.io/organizations/acme/issues/1117540176/"] in Notification.objects.get().message["links"]

    assert post_sentry(client, sentry, fixture("sentry_issue_resolved.json"), "issue").json()["resolved"] == 1
    alert.refresh_from_db()
    assert (alert.status, alert.severity) == ("resolved", "warning")


def test_sentry_with_a_wrong_signature_is_refused(client, sentry):
    response = post_sentry(client, sentry, fixture("sentry_metric_alert_critical.json"), "metric_alert", secret="not-the-client-secret")
    assert response.status_code == 401
    assert "Sentry-Hook-Signature does not match" in response.json()["error"]
    unsigned = client.post(f"/api/v1/integrations/sentry/{sentry.pk}", data=fixture("sentry_issue_alert.json"),
                           content_type="application/json", HTTP_SENTRY_HOOK_RESOURCE="event_alert")
    assert unsigned.status_code == 401
    assert post_sentry(client, sentry, fixture("sentry_issue_alert.json"), "event_alert").status_code == 200
    assert client.post("/api/v1/integrations/sentry/999", data=b"{}", content_type="application/json").status_code == 401
    assert Alert.objects.count() == 1


def test_a_bad_sentry_payload_is_a_400_naming_the_field_and_other_resources_are_ignored(client, sentry):
    body = json.loads(fixture("sentry_metric_alert_critical.json"))
    del body["data"]["metric_alert"]
    response = post_sentry(client, sentry, json.dumps(body).encode(), "metric_alert")
    assert response.status_code == 400 and list(response.json()["fields"]) == ["data.metric_alert"]
    body = json.loads(fixture("sentry_metric_alert_critical.json"))
    body["action"] = "exploded"
    assert list(post_sentry(client, sentry, json.dumps(body).encode(), "metric_alert").json()["fields"]) == ["action"]
    assert post_sentry(client, sentry, b"not json", "event_alert").status_code == 400
    installed = json.dumps({"action": "created", "data": {"installation": {"uuid": "x"}}}).encode()
    assert post_sentry(client, sentry, installed, "installation").json() == {"status": "ignored", "resource": "installation"}
    assert not Alert.objects.exists()


def test_a_sentry_integration_needs_its_client_secret_and_a_rule(rule):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        Integration(name="s", kind="sentry", rule=rule).full_clean()
    assert "Client Secret" in str(error.value.message_dict["signing_secret"])
    with pytest.raises(ValidationError) as error:
        Integration(name="g", kind="grafana").full_clean()
    assert "Grafana alerting (webhook contact point) integration needs the rule" in str(error.value.message_dict["rule"])
