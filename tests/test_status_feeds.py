"""RSS/Atom history feeds, the maintenance calendar and badges parse with real parsers."""

from __future__ import annotations

from datetime import timedelta
from xml.etree import ElementTree

import feedparser
import pytest
from django.utils import timezone
from icalendar import Calendar

from incidents import services as incident_services
from incidents.models import Component, Maintenance
from statuspage.tasks import rebuild_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(responder):
    now = timezone.now()
    api = Component.objects.create(name="API")
    incident = incident_services.incident_open(title="Checkout <errors>", impact="major", message="We see **errors**",
                                               components={api.pk: "partial_outage"}, by=responder, now=now - timedelta(hours=3))
    incident_services.incident_post_update(incident_id=incident.pk, expected_version=None, status="resolved",
                                           message="All good", by=responder, now=now - timedelta(hours=1))
    window = Maintenance(title="Database upgrade", message="Expect brief read-only periods", time_zone="Europe/Berlin",
                         starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=2))
    incident_services.maintenance_save(maintenance=window, components=[api], by=responder, now=now)
    rebuild_all()
    return {"api": api, "incident": incident, "window": window}


@pytest.mark.parametrize("path,version", [("/status/history.rss", "rss20"), ("/status/history.atom", "atom10")])
def test_the_history_feeds_parse(client, history, path, version):
    response = client.get(path)
    assert response.status_code == 200
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == version
    entry = feed.entries[0]
    assert entry.title == "Checkout <errors>"
    assert entry.link.endswith(f"/status/incidents/{history['incident'].pk}/")
    assert "All good" in entry.summary and "<strong>errors</strong>" in entry.summary


def test_the_maintenance_calendar_is_rfc5545(client, history):
    response = client.get("/status/calendar.ics")
    assert response["Content-Type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    event = events[0]
    assert str(event["SUMMARY"]) == "Database upgrade"
    assert event.decoded("DTSTART") == history["window"].starts_at.replace(microsecond=0) or \
        abs((event.decoded("DTSTART") - history["window"].starts_at).total_seconds()) < 1
    assert "Affects: API" in str(event["DESCRIPTION"])
    assert str(event["UID"]).startswith(f"maintenance-{history['window'].pk}@")


def test_the_badge_is_an_accessible_svg(client, history):
    response = client.get(f"/status/badges/{history['api'].pk}.svg")
    assert response["Content-Type"] == "image/svg+xml"
    svg = ElementTree.fromstring(response.content)
    assert svg.get("role") == "img" and svg.get("aria-label").startswith("API: operational")
    assert client.get("/status/badges/999999.svg").status_code == 404


def test_the_history_page_groups_incidents_by_month(client, history):
    html = client.get("/status/history/").content.decode()
    month = timezone.now().strftime("%B %Y")
    assert month in html and "Checkout &lt;errors&gt;" in html
    assert client.get("/status/history/?page=x").status_code == 400
    assert client.get("/status/history/?page=99").status_code == 404
