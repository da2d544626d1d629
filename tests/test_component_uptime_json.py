"""The public component uptime JSON (Statuspage's shape): the bars' own numbers, live for
today, public components only, clear errors for a bad range, cached like the documents."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from incidents import services as incident_services
from incidents.models import Component
from monitors import rollups
from monitors.models import CheckResult, Monitor, Region
from statuspage import services as page_services
from statuspage.models import StatusPage
from statuspage.tasks import rebuild_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def outage_today(db):
    """A component whose monitor has been down for 10 of the 60 minutes checked today."""
    now = timezone.now()
    component = Component.objects.create(name="Checkout")
    Component.objects.filter(pk=component.pk).update(created_at=now - timedelta(days=5))
    monitor = Monitor.objects.create(name="checkout", kind="tcp", target="127.0.0.1:1", component=component)
    region = Region.objects.get(name="default")
    start = max(now - timedelta(minutes=60), now.replace(hour=0, minute=0, second=0, microsecond=0))
    rows = [CheckResult(monitor=monitor, at=start + timedelta(minutes=i), region=region, outcome=2 if 20 <= i < 30 else 0,
                        latency_ms=None if 20 <= i < 30 else 50)
            for i in range(int((now - start).total_seconds() // 60))]
    CheckResult.objects.bulk_create(rows)
    rollups.refresh_recent(now=now)  # today's day rollup cannot exist yet: today comes from hours and raw rows
    return component, rows, now


def test_todays_outage_shows_in_the_bar_its_tooltip_and_the_uptime_json(client, outage_today):
    component, rows, now = outage_today
    rebuild_all()
    today = now.astimezone(UTC).date()
    answer = client.get(f"/api/v2/components/{component.pk}/uptime.json?start={today}&end={today}")
    assert answer.status_code == 200 and answer["Access-Control-Allow-Origin"] == "*"
    body = answer.json()
    assert set(body) == {"id", "name", "range_start", "range_end", "uptime_percentage", "major_outage", "partial_outage",
                         "related_events", "warnings"}
    down = sum(r.outcome == 2 for r in rows) / len(rows)
    assert body["uptime_percentage"] == pytest.approx(100 * (1 - down), abs=1e-4) and body["uptime_percentage"] < 100
    assert body["major_outage"] > 0 and body["partial_outage"] == 0 and body["id"] == str(component.pk)
    html = client.get("/status/").content.decode()
    tip = re.search(rf"{now:%b} {today.day}, {today.year}</b> ([0-9.]+)% uptime<br>Major outage (\d+) min", html)
    assert tip is not None, "today's bar shows the outage"
    assert float(tip.group(1)) == pytest.approx(body["uptime_percentage"], abs=0.005)
    assert int(tip.group(2)) == round(body["major_outage"] / 60)
    assert "partial outage time at 30%" in html  # the rule, under the bars
    # The whole range (no parameters) is the bars' 90 days, and equals the 90-day figure shown.
    whole = client.get(f"/status/api/v2/components/{component.pk}/uptime.json").json()
    assert whole["range_end"] == today.isoformat()
    assert whole["uptime_percentage"] == pytest.approx(body["uptime_percentage"])  # the other days have no checks
    summary = re.search(r"<span>([0-9.]+)% uptime</span><span>Today</span>", html)
    assert summary is not None and float(summary.group(1)) == pytest.approx(whole["uptime_percentage"], abs=0.005)


def test_a_declared_partial_outage_counts_at_30_percent(client, responder):
    now = timezone.now()
    component = Component.objects.create(name="Docs")
    Component.objects.filter(pk=component.pk).update(created_at=now - timedelta(days=2))
    component.refresh_from_db()
    incident = incident_services.incident_open(title="Slow docs", impact="minor", message="m", components={component.pk: "partial_outage"},
                                               by=responder, now=now - timedelta(minutes=30))
    incident_services.incident_post_update(incident_id=incident.pk, expected_version=None, status="resolved", message="ok",
                                           by=responder, now=now - timedelta(minutes=10))
    rebuild_all()
    today = now.astimezone(UTC).date()
    body = client.get(f"/api/v2/components/{component.pk}/uptime.json?start={today}&end={today}").json()
    assert body["partial_outage"] == 1200 and body["major_outage"] == 0
    assert body["related_events"] == [{"id": str(incident.pk), "name": "Slow docs"}]
    counted = (now - max(component.created_at, now.replace(hour=0, minute=0, second=0, microsecond=0))).total_seconds()
    assert body["uptime_percentage"] == pytest.approx(100 * (1 - 0.3 * 1200 / counted), abs=1e-3)


def test_private_and_unknown_components_are_not_found(client):
    hidden = Component.objects.create(name="Database", is_public=False)
    rebuild_all()
    for path in (f"/api/v2/components/{hidden.pk}/uptime.json", "/api/v2/components/999999/uptime.json",
                 "/api/v2/components/abc/uptime.json"):
        response = client.get(path)
        assert response.status_code == 404 and "components.json" in response.json()["error"], path


def test_a_page_serves_only_its_own_components(client):
    shown = Component.objects.create(name="API")
    other = Component.objects.create(name="Billing")
    page_services.page_save(page=StatusPage(slug="partners", title="Partners"), component_ids=[shown.pk])
    rebuild_all()
    assert client.get(f"/status/partners/api/v2/components/{shown.pk}/uptime.json").status_code == 200
    assert client.get(f"/status/partners/api/v2/components/{other.pk}/uptime.json").status_code == 404


def test_a_bad_range_names_the_parameter(client):
    component = Component.objects.create(name="API")
    rebuild_all()
    url = f"/api/v2/components/{component.pk}/uptime.json"
    today = timezone.now().astimezone(UTC).date()
    cases = [
        ("?start=2026-13-01", 400, "start"), ("?end=yesterday", 400, "end"), ("?start=20261201", 400, "start"),
        (f"?start={today - timedelta(days=200)}", 422, "start"), (f"?end={today + timedelta(days=1)}", 422, "end"),
        (f"?start={today}&end={today - timedelta(days=1)}", 422, "end"),
    ]
    for query, status, parameter in cases:
        response = client.get(url + query)
        assert response.status_code == status, query
        assert response.json()["parameter"] == parameter and response.json()["error"].startswith(f"{parameter}:"), query


def test_it_is_cached_like_the_other_documents(client):
    component = Component.objects.create(name="API")
    rebuild_all()
    url = f"/api/v2/components/{component.pk}/uptime.json"
    first = client.get(url)
    assert first["Cache-Control"].startswith("public, max-age=") and first["ETag"]
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    other_range = client.get(url + f"?start={timezone.now().astimezone(UTC).date()}")
    assert other_range["ETag"] != first["ETag"]


def test_it_is_served_on_a_page_s_own_domain_and_guarded_on_a_private_page(client, settings):
    from statuspage import snapshot

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "status.example.com"]
    component = Component.objects.create(name="API")
    page_services.page_save(page=StatusPage(slug="acme", title="Acme status", domain="status.example.com"), component_ids=[component.pk])
    page_services.page_save(page=StatusPage(slug="internal", title="Internal", visibility="private"), component_ids=[component.pk])
    snapshot.publish_routes()
    rebuild_all()
    own = client.get(f"/api/v2/components/{component.pk}/uptime.json", HTTP_HOST="status.example.com")
    assert own.status_code == 200 and own.json()["name"] == "API"
    private = client.get(f"/status/internal/api/v2/components/{component.pk}/uptime.json")
    assert private.status_code == 401 and "access token" in private.json()["error"]
