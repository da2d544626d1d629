"""Deploy markers: CI posts them (API, manage.py deploy); the affected monitor's chart, the
console of an incident opened within the hour and the dashboard show them; a rule's watch
window fires sooner after a deploy."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from alerting import services as alerting_services
from alerting.models import Alert, AlertRule
from api.tokens import token_issue
from incidents import services as incident_services
from incidents.models import Component, Deploy
from monitors.models import Monitor
from slo.models import SLO

pytestmark = pytest.mark.django_db


def post(client, user, body: dict):
    _token, clear = token_issue(user=user, name="ci", scope="write")
    return client.post("/api/v1/deploys", data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {clear}")


@pytest.fixture
def checkout() -> tuple[Component, Monitor]:
    component = Component.objects.create(name="Checkout")
    return component, Monitor.objects.create(name="checkout-api", kind="tcp", target="127.0.0.1:1", component=component)


def test_a_deploy_posted_through_the_api_marks_the_chart_and_the_console_of_an_incident_within_the_hour(client, responder, checkout):
    component, monitor = checkout
    now = timezone.now().replace(microsecond=0)
    other = Component.objects.create(name="Search")
    created = post(client, responder, {"version": "v2.3.1", "component_id": component.pk, "by": "ci #812",
                                       "url": "https://ci.example.com/812", "at": (now - timedelta(minutes=40)).isoformat()})
    assert created.status_code == 201, created.content
    assert created.json()["component"] == "Checkout" and created.json()["version"] == "v2.3.1"
    post(client, responder, {"version": "s-9", "component_id": other.pk})
    listed = client.get(f"/api/v1/deploys?component_id={component.pk}",
                        HTTP_AUTHORIZATION=f"Bearer {token_issue(user=responder, name='r', scope='read')[1]}").json()
    assert [d["version"] for d in listed["items"]] == ["v2.3.1"]

    client.force_login(responder)
    chart = client.get(f"/monitors/{monitor.pk}/").content.decode()
    assert 'class="marker deploy-marker"><title>v2.3.1 deployed' in chart and "s-9" not in chart
    # Every chart of the page carries it: latency and uptime, 24 hours and 90 days.
    assert chart.count('<g class="marker deploy-marker"><title>v2.3.1 deployed') == 4
    slo = SLO.objects.create(name="Checkout availability", objective=99.9, window="rolling_30d", component=component)
    burn_down = client.get(f"/slos/{slo.pk}/").content.decode()
    assert '<g class="marker deploy-marker"><title>v2.3.1 deployed' in burn_down and "s-9" not in burn_down

    within = incident_services.incident_open(title="Checkout errors", impact="major", message="Looking", by=responder, now=now,
                                             components={component.pk: "partial_outage"})
    console = client.get(f"/incidents/{within.pk}/").content.decode()
    assert 'id="what-changed"' in console and "<strong>v2.3.1</strong> of Checkout by ci #812" in console and "s-9" not in console
    assert "Deploys in the last 24 hours" in client.get("/dashboard/").content.decode()

    later = incident_services.incident_open(title="Checkout errors again", impact="major", message="Looking", by=responder,
                                            now=now + timedelta(hours=2), components={component.pk: "partial_outage"})
    with time_machine.travel(now + timedelta(hours=2), tick=False):
        console = client.get(f"/incidents/{later.pk}/").content.decode()
    assert "v2.3.1" not in console and "No deploys of the affected components" in console


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"version": "v1"}, "service", "Name the service deployed"),
    ({"version": "v1", "component_id": 999999}, "component_id", "No component with id 999999"),
    ({"version": "v1", "service": "web", "url": "not a url"}, "url", "Enter a valid URL"),
    ({"version": "", "service": "web"}, "version", ""),
])
def test_bad_deploys_are_refused_naming_the_field(client, responder, body, field, words):
    response = post(client, responder, body)
    assert response.status_code == 422, response.content
    assert field in json.dumps(response.json()) and words in json.dumps(response.json())
    assert not Deploy.objects.exists()


def test_manage_py_deploy_records_a_marker_for_ci(checkout):
    out = io.StringIO()
    call_command("deploy", "v2.3.2", "--component", "Checkout", "--by", "ci", "--at", "2026-11-20T14:02:00Z", stdout=out)
    deploy = Deploy.objects.get()
    assert (deploy.version, deploy.component.name, deploy.by, deploy.at.isoformat()) == ("v2.3.2", "Checkout", "ci", "2026-11-20T14:02:00+00:00")
    assert "recorded deploy" in out.getvalue()
    with pytest.raises(CommandError, match="--component: there is no component named 'Nope' \\(known: Checkout\\)"):
        call_command("deploy", "v1", "--component", "Nope")
    with pytest.raises(CommandError, match="--service/--component: Name the service deployed"):
        call_command("deploy", "v1")


def test_the_watch_window_after_a_deploy_fires_a_rule_sooner(checkout):
    component, monitor = checkout
    rule = AlertRule.objects.create(name="checkout down", states=["down"], for_seconds=300, deploy_watch_for_seconds=60, deploy_watch_minutes=60)
    Monitor.objects.filter(pk=monitor.pk).update(state="down")
    now = timezone.now()

    def down_for_90_seconds(at) -> str:
        alerting_services.on_state_change(monitor=monitor, new_state="down", reason="refused", now=at)
        alerting_services.tick(now=at + timedelta(seconds=90))
        status = Alert.objects.get(rule=rule, status__in=Alert.OPEN).status
        alerting_services.alert_resolve(key=f"rule:{rule.pk}:monitor:{monitor.pk}", now=at + timedelta(seconds=91))
        return status

    assert down_for_90_seconds(now) == "pending"  # no deploy: the rule's 5 minutes
    incident_services.deploy_record(version="v2.4.0", component=component, by=None, now=now + timedelta(minutes=10))
    assert down_for_90_seconds(now + timedelta(minutes=20)) == "firing"  # within the hour after it: 1 minute
    assert down_for_90_seconds(now + timedelta(minutes=75)) == "pending"  # the watch is over


def test_config_as_code_sets_a_rules_watch(tmp_path):
    path = tmp_path / "vigil.yaml"
    path.write_text("alert_rules:\n  - {name: checkout down, for: 5m, deploy_watch_for: 1m, deploy_watch: 30m}\n")
    call_command("import_config", str(path), stdout=io.StringIO())
    rule = AlertRule.objects.get()
    assert (rule.for_seconds, rule.deploy_watch_for_seconds, rule.deploy_watch_minutes) == (300, 60, 30)
    out = io.StringIO()
    call_command("export_config", stdout=out)
    assert "deploy_watch_for: 1m" in out.getvalue() and "deploy_watch: 30m" in out.getvalue()
    path.write_text("alert_rules:\n  - {name: checkout down, deploy_watch: 90s}\n")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_config", str(path), stdout=io.StringIO(), stderr=err)
    assert "alert_rules[0] (checkout down).deploy_watch: the deploy watch is whole minutes" in err.getvalue()
