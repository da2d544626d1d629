"""The console's checklist and war room: ticks are recorded once with who and when; bad input
is a message naming the field; viewers read but cannot tick."""

from __future__ import annotations

import pytest

from incidents import services as incident_services
from incidents.models import IncidentStep

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(responder):
    from django.utils import timezone

    return incident_services.incident_open(title="Checkout failing", impact="major", message="Looking.", by=responder, now=timezone.now())


def test_a_tick_is_recorded_once_with_who_and_when(client, responder, incident):
    client.force_login(responder)
    client.post(f"/incidents/{incident.pk}/steps/", {"step": ["logs_reviewed", "health_checked"]})
    first = IncidentStep.objects.get(step="logs_reviewed")
    client.post(f"/incidents/{incident.pk}/steps/", {"step": ["logs_reviewed"]})
    assert IncidentStep.objects.count() == 2 and IncidentStep.objects.get(step="logs_reviewed").done_at == first.done_at
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "rory-responder ticked <strong>Error logs reviewed</strong>" in page


def test_bad_input_names_the_field(client, responder, incident):
    client.force_login(responder)
    page = client.post(f"/incidents/{incident.pk}/steps/", {"step": ["coffee"]}, follow=True).content.decode()
    assert "step: &#x27;coffee&#x27; is not a checklist step" in page and not IncidentStep.objects.exists()
    page = client.post(f"/incidents/{incident.pk}/war-room/", {"war_room_url": "not a link"}, follow=True).content.decode()
    assert "War room link: war_room_url: Enter a valid URL." in page
    incident.refresh_from_db()
    assert incident.war_room_url == ""
    response = client.post(f"/incidents/{incident.pk}/commander/", {"commander": "999"})
    assert response.status_code == 400 and "commander: choose one of the responders listed." in response.content.decode()


def test_a_viewer_reads_the_checklist_but_cannot_tick(client, viewer, incident):
    client.force_login(viewer)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Commander&#x27;s checklist" in page or "Commander's checklist" in page
    assert "Record ticked steps" not in page and "Pick the commander" not in page
    assert client.post(f"/incidents/{incident.pk}/steps/", {"step": ["logs_reviewed"]}).status_code == 403
    assert client.get(f"/incidents/{incident.pk}/commander/").status_code == 403
