"""Nothing private reaches a public page or API: private components, internal incidents,
monitor targets and error text, private pages, whatever the mix of rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents import services as incident_services
from incidents.models import AutoIncidentRule, Component, ComponentGroup
from monitors.models import Monitor
from statuspage import services as page_services
from statuspage import snapshot
from statuspage.models import StatusPage
from statuspage.tasks import rebuild_all

pytestmark = pytest.mark.django_db
SECRET = "s3cr3t-internal"


def public_urls(client: Client) -> list[str]:
    """Every URL a visitor can reach on the public page: the pages, the API and every document."""
    urls = ["/status/", "/status/live/", "/status/history/", "/status/subscribe/"]
    from statuspage.models import StatusSnapshot

    for name in StatusSnapshot.objects.get(page__slug="public").documents:
        if name.startswith("api/v2/"):
            urls.append("/" + name)
        elif name.endswith(".html") and name.startswith("incidents/"):
            urls.append("/status/" + name.removesuffix(".html") + "/")
        elif name.startswith("uptime/"):
            urls.append("/api/v2/components/" + name.removeprefix("uptime/").removesuffix(".json") + "/uptime.json")
        elif name.startswith("history-"):
            urls.append("/status/history/?page=" + name.removeprefix("history-").removesuffix(".html"))
        elif name not in ("index.html", "live.html", "history.html"):
            urls.append("/status/" + name)
    return urls


def assert_nothing_private(client: Client) -> None:
    for url in public_urls(client):
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert SECRET not in body, url
        assert "10.1.2.3" not in body and "connection refused" not in body.lower(), url


def make_private_world(responder, *, private_component: bool, internal_incident: bool, private_group: bool, auto_reason: bool) -> None:
    now = timezone.now()
    visible = Component.objects.create(name="Public API")
    group = ComponentGroup.objects.create(name=f"{SECRET} group", is_public=not private_group)
    hidden = Component.objects.create(name=f"{SECRET} db", description=SECRET, is_public=not private_component, group=group)
    Monitor.objects.create(name=f"{SECRET}-monitor", kind="http", target=f"http://10.1.2.3/{SECRET}", component=visible,
                           last_message=f"connection refused {SECRET}", state_reason=SECRET)
    incident_services.incident_open(title=f"{SECRET} incident" if internal_incident else "Public incident", impact="major",
                                    message=f"{SECRET} details" if internal_incident else "We are on it",
                                    components={hidden.pk: "major_outage", visible.pk: "partial_outage"} if internal_incident else {visible.pk: "partial_outage"},
                                    is_public=not internal_incident, by=responder, now=now - timedelta(hours=2))
    if auto_reason:
        AutoIncidentRule.objects.create(component=visible, impact="major")
        Component.objects.filter(pk=visible.pk).update(derived_status="major_outage")
        visible.refresh_from_db()
        incident_services.auto_incident_evaluate(component=visible, reason=f"connection refused by 10.1.2.3 {SECRET}", now=now)
    if private_component:
        return
    # A public component in a private group: the component shows, the group's name does not.
    Component.objects.filter(pk=hidden.pk).update(name="Database", description="")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(private_component=st.booleans(), internal_incident=st.booleans(), private_group=st.booleans(), auto_reason=st.booleans())
def test_no_private_row_reaches_any_public_url(client, responder, private_component, internal_incident, private_group, auto_reason):
    from incidents.models import Incident

    Incident.objects.all().delete()
    Component.objects.all().delete()
    ComponentGroup.objects.all().delete()
    Monitor.objects.all().delete()
    snapshot._memory.clear()
    if not private_group and not private_component:
        private_group = True  # the hidden name must stay hidden somewhere
    make_private_world(responder, private_component=private_component, internal_incident=internal_incident,
                       private_group=private_group, auto_reason=auto_reason)
    rebuild_all()
    snapshot._memory.clear()
    assert_nothing_private(client)


def test_an_internal_incident_page_is_not_found(client, responder):
    incident = incident_services.incident_open(title="internal", impact="minor", message="x", is_public=False, by=responder, now=timezone.now())
    rebuild_all()
    assert client.get(f"/status/incidents/{incident.pk}/").status_code == 404


def test_a_private_page_needs_a_login_or_its_token(client, viewer):
    page = page_services.page_save(page=StatusPage(slug="internal", title="Internal status", visibility="private"))
    token = page_services.page_issue_access_token(page=page)
    snapshot.publish_routes()
    rebuild_all()
    anonymous = client.get("/status/internal/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert client.get("/status/internal/api/v2/summary.json").status_code == 401
    assert client.get("/status/internal/?token=wrong").status_code == 302
    # The token trades for a cookie and leaves the address bar.
    response = client.get(f"/status/internal/?token={token}")
    assert response.status_code == 302 and response["Location"] == "/status/internal/"
    assert client.get("/status/internal/").status_code == 200
    assert client.get("/status/internal/api/v2/summary.json").status_code == 200
    assert "Access-Control-Allow-Origin" not in client.get("/status/internal/api/v2/summary.json")
    # A new token locks out every cookie made from the old one.
    page_services.page_issue_access_token(page=page)
    snapshot.publish_routes()
    assert client.get("/status/internal/").status_code == 302
    bearer = Client()
    assert bearer.get("/status/internal/api/v2/status.json", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    # Signed-in staff see it.
    staff = Client()
    staff.force_login(viewer)
    assert staff.get("/status/internal/").status_code == 200
    assert staff.get("/status/internal/")["Cache-Control"] == "private, no-cache"


def test_reserved_slugs_and_bad_fields_are_refused_with_the_fix():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        page_services.page_save(page=StatusPage(slug="history", title="x"))
    assert "reserved" in str(error.value)
    with pytest.raises(ValidationError) as error:
        page_services.page_save(page=StatusPage(slug="x", title="x", domain="https://status.example.com/", brand_colour="blue", time_zone="Mars/Base"))
    messages = error.value.message_dict
    assert "status.example.com" in messages["domain"][0]
    assert "#rrggbb" in messages["brand_colour"][0]
    assert "IANA" in messages["time_zone"][0]
