"""Bad input, generated: every console form, the public subscribe form and the ping
endpoint answer wrong types, huge values, unicode, script tags and SQL-ish strings with a
4xx or the form again with field errors, never a 500. (The API: tests/test_api_schema.py;
the config importer: tests/test_config_as_code.py.)"""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents import services as incident_services
from incidents.models import Component
from monitors.models import Monitor
from statuspage.models import StatusPage

pytestmark = pytest.mark.django_db

NASTY = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["<script>alert(1)</script>", "'; DROP TABLE monitors_monitor; --", "1 OR 1=1", "\u202e\u0000evil", "💥" * 50,
                     "9" * 400, "-1", "NaN", "2026-13-45T25:61", "", " ", "null", "[]", "{}", "a" * 20_000]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def fields(names: list[str]) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries({}, optional={name: NASTY for name in names})


@pytest.fixture
def incident(responder):
    Component.objects.get_or_create(name="API")
    return incident_services.incident_open(title="t", impact="minor", message="m", by=responder, now=timezone.now())


@FUZZ
@given(data=fields(["title", "impact", "status", "message", "is_public", "notify", "component_1", "component_2"]))
def test_declaring_an_incident_never_500s(client, responder, incident, data):
    client.force_login(responder)
    assert client.post("/incidents/declare/", data).status_code in (200, 302, 400, 403, 409, 422)


@FUZZ
@given(data=fields(["status", "message", "notify", "version", "component_1"]))
def test_posting_an_update_never_500s(client, responder, incident, data):
    client.force_login(responder)
    assert client.post(f"/incidents/{incident.pk}/updates/", data).status_code in (200, 302, 400, 403, 409, 422)


@FUZZ
@given(data=fields(["title", "message", "components", "starts_at", "ends_at", "time_zone", "recurrence", "auto_transition",
                    "suppress_alerts", "exclude_from_slo", "is_public"]))
def test_scheduling_maintenance_never_500s(client, responder, data):
    client.force_login(responder)
    assert client.post("/maintenance/new/", data).status_code in (200, 302, 400, 403, 422)


@FUZZ
@given(data=fields(["kind", "email", "webhook_url", "components"]))
def test_subscribing_never_500s(client, data):
    StatusPage.objects.get_or_create(slug="public", defaults={"title": "Status", "is_default": True})
    assert client.post("/status/subscribe/", data).status_code in (200, 302, 400, 403, 404, 429)


@FUZZ
@given(data=fields(["username", "password"]))
def test_signing_in_never_500s(client, data):
    assert client.post("/accounts/login/", data).status_code in (200, 302, 403, 429)


@FUZZ
@given(body=st.binary(max_size=20_000), suffix=st.sampled_from(["", "/start", "/fail", "/0", "/1", "/255", "/256", "/99999999999999999999",
                                                                "/-1", "/abc", "/%00", "/..%2f"]),
       method=st.sampled_from(["get", "post", "put", "head"]))
def test_the_ping_endpoint_takes_any_body_and_path(client, body, suffix, method):
    monitor, _ = Monitor.objects.get_or_create(name="job", defaults={"kind": "heartbeat"})
    for token in (monitor.ping_token, uuid.uuid4()):
        call = getattr(client, method)
        response = call(f"/ping/{token}{suffix}", data=body, content_type="application/octet-stream") if method in ("post", "put") \
            else call(f"/ping/{token}{suffix}")
        assert response.status_code in (200, 400, 404, 405, 429), (suffix, response.status_code)
