"""Prometheus Alertmanager's webhook becomes Vigil alerts: token auth, dedup by fingerprint,
resolution, field errors, and the rule's channels and grouping."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from alerting import services
from alerting.integrations import issue_token
from alerting.models import Alert, AlertRule, Channel, Integration, Notification

pytestmark = pytest.mark.django_db
URL = "/api/v1/integrations/alertmanager"


@pytest.fixture
def integration():
    channel = Channel.objects.create(name="ops", kind="email", config={"to": ["ops@example.com"]})
    rule = AlertRule.objects.create(name="prometheus", states=["down"], group_by=["alertname"], group_wait_seconds=0)
    rule.channels.add(channel)
    made = Integration.objects.create(name="prod alertmanager", rule=rule)
    return made, issue_token(made)


def payload(status: str = "firing", fingerprint: str = "abc123", **labels: str) -> dict:
    return {
        "version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "status": status, "receiver": "vigil",
        "groupLabels": {"alertname": "HighErrorRate"}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am:9093",
        "alerts": [{
            "status": status, "labels": {"alertname": "HighErrorRate", "severity": "critical", "service": "api", **labels},
            "annotations": {"summary": "Error rate above 5% for 5 minutes", "description": "error ratio 0.071 > 0.05"},
            "startsAt": "2026-11-25T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-25T10:20:00Z",
            "generatorURL": "http://prometheus:9090/graph", "fingerprint": fingerprint,
        }],
    }


def post(client, body, token: str | None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post(URL, data=json.dumps(body) if not isinstance(body, bytes) else body, content_type="application/json", **headers)


def test_firing_then_resolved_with_dedup_by_fingerprint(client, integration):
    _made, token = integration
    assert post(client, payload(), token).json() == {"status": "ok", "firing": 1, "resolved": 0}
    assert post(client, payload(), token).status_code == 200  # Alertmanager repeats: same alert
    alert = Alert.objects.get()
    assert (alert.status, alert.severity, alert.count) == ("firing", "critical", 2)
    assert alert.summary == "Error rate above 5% for 5 minutes" and alert.value == "error ratio 0.071 > 0.05"
    assert alert.labels["service"] == "api" and alert.labels["source"] == "alertmanager"
    now = timezone.now()
    services.tick(now=now)
    [notification] = Notification.objects.all()
    assert notification.message["title"] == "Error rate above 5% for 5 minutes"
    assert post(client, payload("resolved"), token).json()["resolved"] == 1
    assert Alert.objects.get().status == "resolved"
    services.tick(now=now + timedelta(minutes=6))
    assert [n.kind for n in Notification.objects.order_by("pk")] == ["firing", "resolved"]


def test_a_wrong_or_missing_token_is_refused(client, integration):
    assert post(client, payload(), None).status_code == 401
    assert post(client, payload(), "wrong").status_code == 401
    made, token = integration
    issue_token(made)  # rotated: the old token stops working
    assert post(client, payload(), token).status_code == 401
    assert Alert.objects.count() == 0


def test_bad_payloads_get_field_errors_not_500(client, integration):
    _made, token = integration
    assert post(client, b"not json", token).json()["fields"]["body"].startswith("The body is not JSON")
    response = post(client, {"alerts": [{"status": "firing", "labels": {}}, {"status": "odd", "labels": {"alertname": "x"}}, 7]}, token)
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert "alertname" in fields["alerts[0].labels"] and "firing" in fields["alerts[1].status"] and fields["alerts[2]"]
    assert post(client, {"nope": 1}, token).status_code == 400
    assert Alert.objects.count() == 0


def test_a_pagerduty_acknowledgement_acknowledges_the_group(client, integration):
    import hashlib
    import hmac

    from alerting.models import AlertGroup

    _made, token = integration
    post(client, payload(), token)
    group = AlertGroup.objects.get()
    pagerduty = Integration.objects.create(name="pd", kind="pagerduty", signing_secret="whsec-123")
    body = json.dumps({"event": {"id": "01ABC", "event_type": "incident.acknowledged", "resource_type": "incident",
                                 "occurred_at": "2026-11-25T10:05:00Z",
                                 "data": {"id": "Q1", "type": "incident", "status": "acknowledged",
                                          "incident_key": f"vigil-group-{group.pk}"}}}).encode()
    url = f"/api/v1/integrations/pagerduty/{pagerduty.pk}"
    assert client.post(url, data=body, content_type="application/json", HTTP_X_PAGERDUTY_SIGNATURE="v1=forged").status_code == 401
    signature = hmac.new(b"whsec-123", body, hashlib.sha256).hexdigest()
    response = client.post(url, data=body, content_type="application/json", HTTP_X_PAGERDUTY_SIGNATURE=f"v1=old, v1={signature}")
    assert response.json() == {"status": "ok", "acknowledged": 1}
    assert Alert.objects.get().status == "acknowledged"


def test_the_alerts_own_severity_annotations_and_source_reach_the_channel(client, integration):
    """A critical Alertmanager alert under a warning rule is sent on as critical, with its
    labels, annotations (summary, description, runbook_url) and generatorURL."""
    from alerting.tasks import deliver_notifications
    from tests.servers import HTTPServer, respond

    hook = HTTPServer({"/hook": lambda handler: respond(handler, 200, b"ok")})
    try:
        made, token = integration
        made.rule.severity = "warning"
        made.rule.save()
        made.rule.channels.set([Channel.objects.create(name="hook", kind="webhook", config={"url": f"{hook.url}/hook"})])
        body = payload()
        body["alerts"][0]["annotations"]["runbook_url"] = "https://runbooks.example.com/high-error-rate"
        assert post(client, body, token).status_code == 200
        services.tick(now=timezone.now())
        deliver_notifications()
        sent = json.loads(hook.requests[0][3])
        assert sent["severity"] == "critical" and sent["fields"]["Severity"] == "critical"
        assert sent["fields"]["Description"] == "error ratio 0.071 > 0.05"
        assert {"text": "Source", "url": "http://prometheus:9090/graph"} in sent["links"]
        assert {"text": "Runbook", "url": "https://runbooks.example.com/high-error-rate"} in sent["links"]
        [line] = sent["alerts"]
        assert line["severity"] == "critical" and line["labels"]["service"] == "api"
        assert line["annotations"] == {"summary": "Error rate above 5% for 5 minutes", "description": "error ratio 0.071 > 0.05",
                                       "runbook_url": "https://runbooks.example.com/high-error-rate"}
    finally:
        hook.close()


@pytest.mark.parametrize(("label", "expected"), [("critical", "critical"), ("page", "critical"), ("error", "critical"),
                                                  ("WARN", "warning"), ("none", "info"), ("sev-unknown", "warning")])
def test_severity_labels_map_to_vigil_severities_and_unknown_ones_take_the_rules(client, integration, label, expected):
    made, token = integration
    made.rule.severity = "warning"
    made.rule.save()
    post(client, payload(severity=label), token)
    assert Alert.objects.get().severity == expected
