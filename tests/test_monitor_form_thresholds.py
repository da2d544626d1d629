"""The monitor form shows the threshold fields for the kinds that judge a number (and the `for`
fields for HTTP too); they are saved as the same settings keys config files and the API write."""

from __future__ import annotations

import pytest

from monitors.models import Monitor

pytestmark = pytest.mark.django_db

BASE = {"name": "worker cycle", "kind": "heartbeat", "heartbeat_period_seconds": 3600, "heartbeat_grace_seconds": 600,
        "settings": '{"label": "cycle"}'}


def test_a_heartbeats_run_time_limits_are_saved_as_settings_and_shown_again(client, responder):
    client.force_login(responder)
    response = client.post("/monitors/new/", {**BASE, "warn_above": "300", "down_above": "900", "warn_for_seconds": "0"})
    assert response.status_code == 302, response.content.decode()[:2000]
    monitor = Monitor.objects.get(name="worker cycle")
    assert monitor.settings == {"label": "cycle", "warn_above": 300, "down_above": 900, "warn_for_seconds": 0}
    page = client.get(f"/monitors/{monitor.pk}/edit/").content.decode()
    assert 'name="warn_above" value="300"' in page and 'name="down_above" value="900"' in page
    assert "&quot;warn_above&quot;" not in page  # shown in its field, not twice in the JSON


def test_a_blank_field_removes_its_limit(client, responder):
    client.force_login(responder)
    client.post("/monitors/new/", {**BASE, "warn_above": "300"})
    monitor = Monitor.objects.get(name="worker cycle")
    response = client.post(f"/monitors/{monitor.pk}/edit/", {**BASE, "warn_above": ""})
    assert response.status_code == 302
    monitor.refresh_from_db()
    assert monitor.settings == {"label": "cycle"}


def test_bad_limits_are_shown_with_the_field_never_a_500(client, responder):
    client.force_login(responder)
    response = client.post("/monitors/new/", {**BASE, "warn_above": "900", "down_above": "300"})
    assert response.status_code == 400
    assert "warn_above (900) must be below down_above (300)" in response.content.decode()
    response = client.post("/monitors/new/", {**BASE, "down_for_seconds": "90000"})
    assert response.status_code == 400 and "down_for_seconds must be a number of seconds from 0 to below 86400" in response.content.decode()


@pytest.mark.parametrize(("kind", "limits", "waits"), [("http", False, True), ("metric", True, True), ("tcp", False, False)])
def test_the_fields_follow_the_kind(client, responder, kind, limits, waits):
    client.force_login(responder)
    page = client.get("/monitors/new/", {"kind": kind}, headers={"HX-Request": "true"}).content.decode()
    assert ('name="warn_above"' in page) is limits
    assert ('name="warn_for_seconds"' in page) is waits
