"""The commander's console over HTTP: declare, post (htmx and plain forms), conflicts, roles."""

from __future__ import annotations

import pytest
from django.utils import timezone

from incidents import services
from incidents.models import Component, Incident, Maintenance

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> Component:
    return Component.objects.create(name="API")


def declare(client, api, **overrides):
    data = {"title": "Checkout errors", "impact": "major", "status": "investigating", "message": "We see **errors**.",
            "is_public": "on", "notify": "on", f"component_{api.pk}": "partial_outage"}
    data.update(overrides)
    return client.post("/incidents/declare/", data)


def test_a_responder_declares_an_incident_in_one_form(client, responder, api):
    client.force_login(responder)
    response = declare(client, api)
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/incidents/{incident.pk}/"
    api.refresh_from_db()
    assert api.status == "partial_outage"
    page = client.get(response["Location"]).content.decode()
    assert "SEV-2" in page and "Checkout errors" in page and "<strong>errors</strong>" in page


def test_declare_errors_name_the_field(client, responder, api):
    client.force_login(responder)
    response = declare(client, api, title="", impact="catastrophic")
    assert response.status_code == 400
    page = response.content.decode()
    assert "Title: This field is required." in page
    assert "Impact: Select a valid choice." in page
    assert Incident.objects.count() == 0


def test_posting_an_update_with_htmx_returns_the_new_timeline(client, responder, api):
    incident = services.incident_open(title="x", impact="minor", message="first", by=responder, now=timezone.now())
    client.force_login(responder)
    response = client.post(f"/incidents/{incident.pk}/updates/",
                           {"status": "identified", "message": "found the bad deploy", "version": incident.version, f"component_{api.pk}": "degraded_performance"},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="incident-live"' in html and "found the bad deploy" in html and "<html" not in html
    assert html.index("found the bad deploy") < html.index("<p>first</p>")  # newest first
    incident.refresh_from_db()
    assert incident.status == "identified"


def test_posting_without_javascript_redirects_back(client, responder):
    incident = services.incident_open(title="x", impact="minor", message="first", by=responder, now=timezone.now())
    client.force_login(responder)
    response = client.post(f"/incidents/{incident.pk}/updates/", {"status": "monitoring", "message": "fix deployed", "version": incident.version})
    assert response.status_code == 302
    assert "fix deployed" in client.get(response["Location"]).content.decode()


def test_a_stale_post_is_refused_and_keeps_the_text(client, responder, admin_user):
    incident = services.incident_open(title="x", impact="minor", message="first", by=responder, now=timezone.now())
    stale = incident.version
    services.incident_post_update(incident_id=incident.pk, expected_version=stale, status="identified", message="someone else",
                                  by=admin_user, now=timezone.now())
    client.force_login(responder)
    response = client.post(f"/incidents/{incident.pk}/updates/", {"status": "monitoring", "message": "my careful words", "version": stale})
    assert response.status_code == 409
    page = response.content.decode()
    assert "Someone else updated this incident by ada-admin" in page
    assert "my careful words" in page
    assert incident.updates.count() == 2


def test_a_template_fills_the_message(client, responder, api):
    incident = services.incident_open(title="x", impact="minor", message="first", components={api.pk: "major_outage"}, by=responder, now=timezone.now())
    client.force_login(responder)
    fragment = client.get(f"/incidents/{incident.pk}/template/?template_status=identified").content.decode()
    assert "identified the cause of the problems with API" in fragment
    page = client.post(f"/incidents/{incident.pk}/updates/", {"status": "monitoring", "message": "", "version": incident.version, "use_template": "1"}).content.decode()
    assert "A fix has been applied for API" in page
    assert incident.updates.count() == 1


def test_a_viewer_reads_but_cannot_post(client, viewer, responder):
    incident = services.incident_open(title="x", impact="minor", message="first", by=responder, now=timezone.now())
    client.force_login(viewer)
    page = client.get(f"/incidents/{incident.pk}/")
    assert page.status_code == 200 and b"Post an update" not in page.content
    assert client.post(f"/incidents/{incident.pk}/updates/", {"status": "resolved", "message": "no", "version": incident.version}).status_code == 403
    assert client.get("/incidents/declare/").status_code == 403
    assert incident.updates.count() == 1


def test_editing_an_update_shows_its_history(client, responder):
    incident = services.incident_open(title="x", impact="minor", message="typo here", by=responder, now=timezone.now())
    update = incident.updates.get()
    client.force_login(responder)
    response = client.post(f"/incidents/updates/{update.pk}/edit/", {"message": "typo fixed", "version": incident.version})
    assert response.status_code == 302
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "typo fixed" in page and "Earlier text (1)" in page and "typo here" in page


def test_scheduling_maintenance_reads_times_in_the_chosen_zone(client, responder, api):
    client.force_login(responder)
    response = client.post("/maintenance/new/", {
        "title": "DB upgrade", "message": "", "components": [api.pk], "starts_at": "2030-01-05T02:00", "ends_at": "2030-01-05T03:30",
        "time_zone": "Europe/Berlin", "recurrence": "", "auto_transition": "on", "suppress_alerts": "on", "exclude_from_slo": "on", "is_public": "on",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    maintenance = Maintenance.objects.get()
    assert maintenance.starts_at.isoformat() == "2030-01-05T01:00:00+00:00"  # 02:00 in Berlin (CET) is 01:00 UTC
    assert list(maintenance.components.all()) == [api]
    bad = client.post("/maintenance/new/", {"title": "x", "starts_at": "2030-01-05T02:00", "ends_at": "2030-01-05T01:00", "time_zone": "Nowhere/City"})
    assert bad.status_code == 400
    assert b"The end must be after the start." in bad.content or b"not a known time zone" in bad.content


def test_the_public_incident_page_shows_public_incidents_only(client, responder):
    public = services.incident_open(title="Public one", impact="minor", message="visible", by=responder, now=timezone.now())
    internal = services.incident_open(title="Secret one", impact="minor", message="hidden", is_public=False, by=responder, now=timezone.now())
    assert b"visible" in client.get(f"/status/incidents/{public.pk}/").content
    assert client.get(f"/status/incidents/{internal.pk}/").status_code == 404
