"""The real clients: Debian's prometheus, prometheus-alertmanager and promtool against a live
Vigil (daphne). Alertmanager's critical alert reaches a Vigil channel with its severity and
annotations and is resolved; Prometheus scrapes Vigil (promtool-clean) and sees one
vigil_monitor_up series per enabled monitor and region; a metric monitor with a query
Prometheus refuses is refused at save with Prometheus' own words.

`make test` installs the packages with apt-get when it runs as root; elsewhere these tests
skip saying so (and fail in CI, which must run them)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import yaml
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from alerting import services as alerting_services
from alerting.integrations import receiver_snippet
from alerting.models import Alert, Integration
from alerting.tasks import deliver_notifications
from monitors import services
from monitors.checkers import metric
from monitors.checkers.base import CheckSession
from monitors.models import Region
from tests.conftest import IN_CI
from tests.processes import Process, free_port, wait_for_http, wait_until
from tests.servers import HTTPServer, respond

pytestmark = pytest.mark.django_db(transaction=True)
DOCS = Path(__file__).resolve().parent.parent / "docs"
TOKEN_VARIABLE = "VIGIL_TEST_ALERTMANAGER_TOKEN"
TOKEN = "alertmanager-token-from-the-environment-42"


def binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    package = "prometheus-alertmanager" if "alertmanager" in names[0] else "prometheus"
    message = (f"{names[0]} is missing: `make test` installs Debian's {package} when it runs as root "
               f"(apt-get install {package}); these tests need the real binary")
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def vigil(monkeypatch, request, settings):
    """A live Vigil (daphne) whose environment holds the integration's token, as production's would."""
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    url = request.getfixturevalue("live_app")
    settings.VIGIL_BASE_URL = url
    return url


@pytest.fixture
def receiver():
    """The Vigil channel's far end: a local webhook receiver."""
    server = HTTPServer({"/hook": lambda handler: respond(handler, 200, b"ok")})
    yield server
    server.close()


def import_config(tmp_path: Path, text: str) -> None:
    path = tmp_path / "vigil.yaml"
    path.write_text(text)
    call_command("import_config", str(path), stdout=io.StringIO(), stderr=io.StringIO())


def test_alertmanager_sends_a_critical_alert_with_annotations_and_its_resolve(vigil, receiver, tmp_path):
    alertmanager_bin = binary("prometheus-alertmanager", "alertmanager")
    import_config(tmp_path, f"""
channels:
  - {{name: hook, kind: webhook, url: '{receiver.url}/hook'}}
alert_rules:
  - {{name: prometheus, states: [down], severity: warning, channels: [hook], group_by: [alertname], group_wait: 0s, group_interval: 1s,
     resolve_after: 0s}}
integrations:
  - {{name: prod alertmanager, kind: alertmanager, rule: prometheus, token: env:{TOKEN_VARIABLE}}}
""")
    integration = Integration.objects.get()
    # The staff page's snippet, as a person would paste it, with the token the environment holds.
    config = yaml.safe_load(receiver_snippet(integration, token=TOKEN))
    config["route"] = {"receiver": "vigil", "group_by": ["alertname"], "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"}
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    alertmanager = Process("alertmanager", [alertmanager_bin, f"--config.file={tmp_path / 'alertmanager.yml'}",
                                            f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{port}",
                                            "--cluster.listen-address=", "--log.level=debug"], {"PATH": "/usr/bin:/bin"}, tmp_path)
    try:
        api = f"http://127.0.0.1:{port}/api/v2"
        wait_for_http(f"{api}/status", alertmanager, status=200)
        alert = {"labels": {"alertname": "HighErrorRate", "severity": "critical", "service": "checkout"},
                 "annotations": {"summary": "Checkout error rate above 5%", "description": "error ratio 0.071 > 0.05 for 5 minutes",
                                 "runbook_url": "https://runbooks.example.com/high-error-rate"},
                 "generatorURL": "http://prometheus.example.com/graph?g0.expr=errors", "startsAt": datetime.now(UTC).isoformat()}
        assert requests.post(f"{api}/alerts", json=[alert], timeout=5).status_code == 200
        wait_until(lambda: Alert.objects.filter(status="firing").exists(), 20,
                   f"Vigil got no alert from Alertmanager:\n{alertmanager.output()[-3000:]}")
        alerting_services.tick(now=timezone.now())
        deliver_notifications()
        sent = json.loads(receiver.requests[0][3])
        assert sent["status"] == "firing" and sent["severity"] == "critical"  # the alert's own, not the rule's warning
        assert sent["title"] == "Checkout error rate above 5%"
        assert sent["fields"]["Description"] == "error ratio 0.071 > 0.05 for 5 minutes"
        assert {"text": "Source", "url": "http://prometheus.example.com/graph?g0.expr=errors"} in sent["links"]
        assert {"text": "Runbook", "url": "https://runbooks.example.com/high-error-rate"} in sent["links"]
        [line] = sent["alerts"]
        assert line["annotations"]["runbook_url"] == "https://runbooks.example.com/high-error-rate"
        assert line["labels"]["service"] == "checkout" and line["severity"] == "critical"

        # Alertmanager resolves it (endsAt in the past); Vigil resolves the alert and tells the channel.
        alert["endsAt"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        assert requests.post(f"{api}/alerts", json=[alert], timeout=5).status_code == 200
        wait_until(lambda: Alert.objects.filter(status="resolved").exists(), 20,
                   f"Alertmanager's resolve did not reach Vigil:\n{alertmanager.output()[-3000:]}")

        def told_resolved() -> bool:  # what beat and the worker do every second
            alerting_services.tick(now=timezone.now())
            deliver_notifications()
            return json.loads(receiver.requests[-1][3])["status"] == "resolved"

        wait_until(told_resolved, 10, "the channel was not told of the resolve")
        resolved = json.loads(receiver.requests[-1][3])
        assert resolved["status"] == "resolved" and resolved["kind"] == "resolved" and resolved["severity"] == "critical"
    finally:
        alertmanager.stop()

    # The webhook takes only the token the environment holds.
    body = json.dumps({"alerts": [{"status": "firing", "labels": {"alertname": "x"}}]})
    for header in (f"Bearer {TOKEN}x", "Bearer wrong-token-of-some-length", None):
        refused = requests.post(f"{vigil}/api/v1/integrations/alertmanager", data=body, timeout=5,
                                headers={"Content-Type": "application/json", **({"Authorization": header} if header else {})})
        assert refused.status_code == 401


def test_prometheus_scrapes_vigil_and_sees_every_enabled_monitor_and_region(vigil, tmp_path):
    prometheus_bin, promtool = binary("prometheus"), binary("promtool")
    now = timezone.now()
    eu, us = Region.objects.create(name="eu"), Region.objects.create(name="us")
    services.monitor_upsert(changes={"name": "api", "kind": "http", "target": "https://api.example.com/", "regions": [eu, us]}, now=now)
    services.monitor_upsert(changes={"name": "db", "kind": "tcp", "target": "127.0.0.1:5432", "regions": [eu]}, now=now)
    services.monitor_upsert(changes={"name": "old", "kind": "tcp", "target": "127.0.0.1:5433", "paused": True}, now=now)

    text = requests.get(f"{vigil}/metrics", timeout=10).content
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=30)
    assert checked.returncode == 0 and not checked.stdout.strip() and not checked.stderr.strip(), (checked.stdout, checked.stderr)

    port = free_port()
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "vigil", "metrics_path": "/metrics", "static_configs": [{"targets": [vigil.removeprefix("http://")]}]}],
    }))
    prometheus = Process("prometheus", [prometheus_bin, f"--config.file={tmp_path / 'prometheus.yml'}",
                                        f"--storage.tsdb.path={tmp_path / 'prom-data'}", f"--web.listen-address=127.0.0.1:{port}"],
                         {"PATH": "/usr/bin:/bin"}, tmp_path)
    try:
        api = f"http://127.0.0.1:{port}/api/v1"
        wait_for_http(f"http://127.0.0.1:{port}/-/ready", prometheus, status=200)

        def scraped() -> bool:
            targets = requests.get(f"{api}/targets", timeout=2).json()["data"]["activeTargets"]
            return bool(targets) and targets[0]["health"] == "up"

        wait_until(scraped, 30, f"Prometheus did not scrape Vigil:\n{requests.get(f'{api}/targets', timeout=2).text}")
        [target] = requests.get(f"{api}/targets", timeout=2).json()["data"]["activeTargets"]
        assert target["lastError"] == ""
        answer = requests.get(f"{api}/query", params={"query": "vigil_monitor_up"}, timeout=5).json()
        series = sorted((s["metric"]["monitor"], s["metric"]["kind"], s["metric"]["region"]) for s in answer["data"]["result"])
        assert series == [("api", "http", "eu"), ("api", "http", "us"), ("db", "tcp", "eu")]

        # Every query of the Grafana dashboard in docs/examples runs on what Vigil serves.
        dashboard = json.loads((DOCS / "examples" / "grafana-dashboard.json").read_text())
        for panel in dashboard["panels"]:
            for query in panel["targets"]:
                expr = query["expr"].replace("$monitor", ".*").replace("$region", ".*")
                result = requests.get(f"{api}/query", params={"query": expr}, timeout=5).json()
                assert result["status"] == "success", (panel["title"], result)

        # A metric monitor's query is checked against this Prometheus when it is saved.
        with pytest.raises(ValidationError) as refused:
            services.monitor_upsert(changes={"name": "errors", "kind": "metric", "target": f"http://127.0.0.1:{port}", "settings": {
                "source": "prometheus_api", "promql": "sum(rate(vigil_http_requests_total[5m])", "down_above": 1}}, now=now)
        message = refused.value.message_dict["settings"][0]
        assert message.startswith("monitor 'errors': promql: Prometheus refused the query: bad_data: ") and "parse error" in message
        saved = services.monitor_upsert(changes={"name": "errors", "kind": "metric", "target": f"http://127.0.0.1:{port}", "settings": {
            "source": "prometheus_api", "promql": "sum(vigil_monitor_up)", "down_below": 1}}, now=now)
        assert saved.pk

        # When checked: Prometheus' words, and no data as the monitor chose.
        saved.settings = {**saved.settings, "promql": "rate(vigil_monitor_up)"}  # not parseable: rate needs a range
        result = metric.check(saved, CheckSession(), now)
        assert result.outcome == "down" and result.message.startswith("Prometheus refused the query: bad_data: ")
        saved.settings = {**saved.settings, "promql": "sum(vigil_no_such_series)", "no_data": "unknown"}
        result = metric.check(saved, CheckSession(), now)
        assert result.outcome == "ok" and result.details["no_data"] == "unknown"
        assert result.message == "value: no data (the query matched no series); no_data: unknown"
    finally:
        prometheus.stop()


def test_the_example_prometheus_config_and_rules_pass_promtool():
    promtool = binary("promtool")
    examples = DOCS / "examples"
    config = subprocess.run([promtool, "check", "config", "--syntax-only", "prometheus.yml"], cwd=examples, capture_output=True, timeout=30)
    assert config.returncode == 0, config.stdout + config.stderr
    rules = subprocess.run([promtool, "check", "rules", "vigil-rules.yml"], cwd=examples, capture_output=True, timeout=30)
    assert rules.returncode == 0 and b"SUCCESS: 5 rules found" in rules.stdout, rules.stdout + rules.stderr
