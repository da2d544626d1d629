"""The monitor admin: secrets are write-only, uptime comes from rollups, actions work."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from monitors.models import Monitor, Rollup, StateChange

pytestmark = pytest.mark.django_db


@pytest.fixture
def guarded(admin_user) -> Monitor:
    return Monitor.objects.create(name="private-api", kind="http", target="https://api.internal/health",
                                  settings={"auth": {"type": "basic", "username": "ops", "password": "hunter2-secret"}, "keyword": "ok"})


def form_data(monitor: Monitor, settings: dict) -> dict:
    return {"name": monitor.name, "kind": monitor.kind, "target": monitor.target, "settings": json.dumps(settings),
            "interval_seconds": 60, "timeout_seconds": 10, "retries": 2, "retry_interval_seconds": 20, "recovery_confirmations": 2,
            "quorum": 0, "heartbeat_period_seconds": 3600, "heartbeat_grace_seconds": 300,
            "state_changes-TOTAL_FORMS": 0, "state_changes-INITIAL_FORMS": 0}


def test_secrets_are_never_shown_back_and_survive_a_save(client, admin_user, guarded):
    client.force_login(admin_user)
    page = client.get(f"/admin/monitors/monitor/{guarded.pk}/change/").content.decode()
    assert "hunter2-secret" not in page and "********" in page
    shown = {"auth": {"type": "basic", "username": "ops", "password": "********"}, "keyword": "healthy"}
    response = client.post(f"/admin/monitors/monitor/{guarded.pk}/change/", form_data(guarded, shown))
    assert response.status_code == 302, response.content.decode()[:3000]
    guarded.refresh_from_db()
    assert guarded.settings["auth"]["password"] == "hunter2-secret" and guarded.settings["keyword"] == "healthy"
    from core.models import AuditLog

    assert "hunter2-secret" not in json.dumps(list(AuditLog.objects.values_list("changes", flat=True)))


def test_a_validation_error_names_the_field(client, admin_user, guarded):
    client.force_login(admin_user)
    data = form_data(guarded, {"keyword": "ok"})
    data["timeout_seconds"] = 90
    page = client.post(f"/admin/monitors/monitor/{guarded.pk}/change/", data).content.decode()
    assert "timeout must be below interval (90s &gt;= 60s)" in page


def test_the_list_shows_uptime_from_rollups(client, admin_user, guarded):
    hour = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    Rollup.objects.create(monitor=guarded, period="hour", start=hour, total=200, ok=199, degraded=0, histogram=[])
    client.force_login(admin_user)
    page = client.get("/admin/monitors/monitor/").content.decode()
    assert "99.50%" in page


def test_pause_and_resume_actions_record_state_changes(client, admin_user, guarded):
    client.force_login(admin_user)
    client.post("/admin/monitors/monitor/", {"action": "pause", "_selected_action": [guarded.pk]})
    guarded.refresh_from_db()
    assert guarded.paused and guarded.state == "paused" and guarded.next_due_at is None
    client.post("/admin/monitors/monitor/", {"action": "resume", "_selected_action": [guarded.pk]})
    guarded.refresh_from_db()
    assert not guarded.paused and guarded.next_due_at is not None
    assert list(StateChange.objects.filter(monitor=guarded).order_by("at", "pk").values_list("new_state", flat=True)) == ["paused", "unknown"]


def test_duplicate_makes_a_paused_copy(client, admin_user, guarded):
    client.force_login(admin_user)
    client.post("/admin/monitors/monitor/", {"action": "duplicate", "_selected_action": [guarded.pk]})
    copy = Monitor.objects.get(name="private-api (copy)")
    assert copy.paused and copy.settings == guarded.settings and copy.ping_token != guarded.ping_token
