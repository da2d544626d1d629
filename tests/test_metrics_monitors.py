"""/metrics carries per-monitor, per-component and per-SLO series (bounded labels), in the
classic text format or OpenMetrics when asked, and promtool finds nothing to complain about."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.openmetrics.parser import text_fd_to_metric_families
from prometheus_client.parser import text_string_to_metric_families

from incidents.models import Component
from monitors import services
from monitors.checkers.base import Result
from monitors.models import Monitor, Region
from slo import services as slo_services
from slo.models import SLO

pytestmark = pytest.mark.django_db
TARGET = "https://api.example.com/health"


@pytest.fixture
def fleet():
    now = timezone.now().replace(microsecond=0)
    eu, us = Region.objects.create(name="eu"), Region.objects.create(name="us")
    component = Component.objects.create(name="API")
    api = services.monitor_upsert(changes={"name": "api", "kind": "http", "target": TARGET, "regions": [eu, us], "component": component,
                                           "retries": 0}, now=now)
    services.monitor_upsert(changes={"name": "db", "kind": "tcp", "target": "127.0.0.1:5432", "regions": [eu]}, now=now)
    services.monitor_upsert(changes={"name": "old", "kind": "tcp", "target": "127.0.0.1:5433", "paused": True}, now=now)
    services.record_results(region_name="eu", checked=[services.Checked(api.pk, now - timedelta(seconds=30), Result("ok", latency_ms=120))],
                            now=now)
    services.record_results(region_name="us", checked=[services.Checked(api.pk, now - timedelta(seconds=30), Result("down", latency_ms=4000,
                                                                                                                     message="refused"))],
                            now=now)
    Monitor.objects.filter(pk=api.pk).update(tls_expires_at=now + timedelta(days=30))
    slo = SLO.objects.create(name="API availability", objective=99.5, window="rolling_7d")
    slo.monitors.add(api)
    slo_services.refresh(slo, now=now)
    return now


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples if sample.name == name}


def test_each_enabled_monitor_and_region_has_an_up_series_with_its_last_check(client, fleet):
    text = client.get("/metrics").content.decode()
    up = samples(text, "vigil_monitor_up")
    assert up[(("kind", "http"), ("monitor", "api"), ("region", "eu"))] == 1.0
    assert up[(("kind", "http"), ("monitor", "api"), ("region", "us"))] == 0.0
    db = up[(("kind", "tcp"), ("monitor", "db"), ("region", "eu"))]
    assert db != db  # NaN: not checked yet
    assert len(up) == 3  # the paused monitor has none
    assert samples(text, "vigil_monitor_check_duration_seconds")[(("monitor", "api"), ("region", "us"))] == 4.0
    last = samples(text, "vigil_monitor_last_check_timestamp_seconds")
    assert last[(("monitor", "api"), ("region", "eu"))] == (fleet - timedelta(seconds=30)).timestamp()
    assert samples(text, "vigil_monitor_tls_not_after_timestamp_seconds") == {(("monitor", "api"),): (fleet + timedelta(days=30)).timestamp()}
    states = samples(text, "vigil_monitor_state")
    assert states[(("monitor", "old"), ("state", "paused"))] == 1.0 and states[(("monitor", "old"), ("state", "up"))] == 0.0
    assert sum(value for labels, value in states.items() if ("monitor", "api") in labels) == 1.0
    components = samples(text, "vigil_component_status")
    assert len(components) == 5 and sum(components.values()) == 1.0
    assert list(samples(text, "vigil_slo_error_budget_remaining_ratio")) == [(("slo", "API availability"),)]


def test_openmetrics_is_served_when_the_scraper_asks_for_it(client, fleet):
    response = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
    assert response["Content-Type"].startswith("application/openmetrics-text")
    families = {family.name: family for family in text_fd_to_metric_families(io.StringIO(response.content.decode()))}
    assert families["vigil_monitor_up"].type == "gauge" and len(families["vigil_monitor_up"].samples) == 3
    assert client.get("/metrics")["Content-Type"].startswith("text/plain")


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is missing: `make test` installs Debian's prometheus as root "
                                                              "(apt-get install prometheus)")
def test_promtool_finds_nothing_to_complain_about(client, fleet):
    # promtool reads the classic text format (the OpenMetrics answer is parsed above, and scraped by a
    # real Prometheus in test_prometheus_alertmanager.py).
    body = client.get("/metrics").content
    checked = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert checked.returncode == 0 and not checked.stdout.strip() and not checked.stderr.strip(), (checked.stdout, checked.stderr)
