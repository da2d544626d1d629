"""Cron-schedule heartbeats (as healthchecks.io has them): late one grace period after each
scheduled run without a ping, across daylight-saving changes as cronsim computes them; "new"
until the first ping; the ping URL in the API and in exported config. Time is pinned."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from alerting import services as alerting
from alerting.models import Alert, AlertRule, Channel
from api.tokens import token_issue
from configfile import sync
from core import events
from incidents.models import Component
from lib.cron_schedule import next_run, schedule_problem
from monitors import pings, services
from monitors.checkers import heartbeat
from monitors.checkers.base import CheckSession
from monitors.models import Monitor, StateChange
from monitors.tasks import check_batch

pytestmark = pytest.mark.django_db
BERLIN = "Europe/Berlin"


def cron_job(name: str = "nightly-backup", schedule: str = "0 3 * * *", grace: int = 600, **fields) -> Monitor:
    monitor = Monitor(name=name, kind="heartbeat", heartbeat_schedule=schedule, heartbeat_time_zone=BERLIN, heartbeat_grace_seconds=grace,
                      retries=0, recovery_confirmations=1, **fields)
    return services.monitor_upsert(monitor=monitor, now=timezone.now())


def ping(client, job: Monitor, at: datetime, suffix: str = "") -> None:
    """A real ping request at a pinned time, applied as the drain task applies it."""
    with time_machine.travel(at, tick=False):
        assert client.get(f"/ping/{job.ping_token}{suffix}").status_code == 200
        pings.drain(now=at, consumer="test")


def dispatch(at: datetime) -> list[int]:
    """One dispatcher tick and the worker's check of what it claimed; the monitors it claimed."""
    with time_machine.travel(at, tick=False):
        with transaction.atomic():
            claimed = services.claim_due(now=at)
        if claimed:
            check_batch([[monitor_id, slot.isoformat()] for monitor_id, slot, _regions in claimed], "default", now=at)
    return [monitor_id for monitor_id, _slot, _regions in claimed]


def test_a_cron_heartbeat_pinged_once_then_silent_goes_down_one_grace_after_the_next_run_alerts_and_recovers(client):
    channel = Channel.objects.create(name="ops-mail", kind="email", config={"to": ["ops@example.com"]})
    rule = AlertRule.objects.create(name="jobs down", states=["down"], group_wait_seconds=0, resolve_after_seconds=60)
    rule.channels.add(channel)
    with time_machine.travel("2026-11-09 12:00Z", tick=False):
        job = cron_job()
    # 03:00 in Berlin is 02:00 UTC in November; the job pings when it has run.
    ping(client, job, datetime(2026, 11, 10, 2, 4, tzinfo=UTC))
    job.refresh_from_db()
    assert job.state == "up"
    deadline = datetime(2026, 11, 11, 2, 10, tzinfo=UTC)  # the next run (11 Nov 03:00 CET) + 10 min grace
    assert job.next_due_at == deadline
    assert job.next_expected_ping(deadline) == datetime(2026, 11, 11, 2, 0, tzinfo=UTC)

    # Not a second earlier: the dispatcher does not claim it and the check would say in time.
    assert dispatch(deadline - timedelta(seconds=1)) == []
    assert heartbeat.check(job, CheckSession(), deadline - timedelta(seconds=1)).outcome == "ok"
    assert dispatch(deadline) == [job.pk]
    job.refresh_from_db()
    assert job.state == "down" and job.state_since == deadline
    assert "late: last ping 1d6m ago, expected on schedule 0 3 * * * (Europe/Berlin) + 10m grace" in job.last_message

    events.drain(now=deadline)
    alert = Alert.objects.get(monitor=job)
    assert alert.status == "firing" and alert.rule == rule and alert.summary == "nightly-backup is down"
    alerting.tick(now=deadline + timedelta(seconds=1))
    assert list(channel.notifications.values_list("kind", flat=True)) == ["firing"]

    # The job runs late and pings: up again, the alert resolves after its clear time.
    recovered = deadline + timedelta(minutes=5)
    ping(client, job, recovered)
    job.refresh_from_db()
    assert job.state == "up"
    assert job.next_due_at == datetime(2026, 11, 12, 2, 10, tzinfo=UTC)
    events.drain(now=recovered)
    alerting.tick(now=recovered + timedelta(seconds=61))
    alert.refresh_from_db()
    assert alert.status == "resolved"
    alerting.tick(now=recovered + timedelta(seconds=62))
    assert list(channel.notifications.order_by("pk").values_list("kind", flat=True)) == ["firing", "resolved"]
    assert [c.new_state for c in StateChange.objects.filter(monitor=job).order_by("at", "id")] == ["up", "down", "up"]


def test_a_heartbeat_is_new_until_its_first_ping_never_down_and_never_alerting(client, viewer):
    component = Component.objects.create(name="Backups")
    AlertRule.objects.create(name="anything down", states=["down", "degraded"])
    with time_machine.travel("2026-11-09 12:00Z", tick=False):
        job = cron_job(component=component)
        period_job = services.monitor_upsert(monitor=Monitor(name="hourly", kind="heartbeat", heartbeat_period_seconds=3600, retries=0),
                                             now=timezone.now())
    for monitor in (job, period_job):
        monitor.refresh_from_db()
        assert monitor.state == "unknown" and monitor.is_new and monitor.display_state == "new"
        assert monitor.next_due_at is None and monitor.state_reason == "new: waiting for the first ping"
    # Days later, still never pinged: nothing claims them, no state change, no alert, the component is operational.
    for day in range(1, 4):
        assert dispatch(datetime(2026, 11, 9 + day, 12, tzinfo=UTC)) == []
    events.drain(now=datetime(2026, 11, 12, 12, tzinfo=UTC))
    assert not StateChange.objects.exists() and not Alert.objects.exists()
    component.refresh_from_db()
    assert component.status == "operational"

    client.force_login(viewer)
    page = client.get(f"/monitors/{job.pk}/").content.decode()
    assert '<span class="badge state-new">New</span>' in page
    assert "New: it waits for its first ping and is never late until then." in page
    with time_machine.travel("2026-11-12 12:00Z", tick=False):
        page = client.get(f"/monitors/{job.pk}/").content.decode()
    assert "Next expected ping: <time" in page and "2026-11-13 02:00:00 UTC" in page and "2026-11-13 03:00 CET in Europe/Berlin" in page
    assert "Next expected ping: 3,600 s after the first ping." in client.get(f"/monitors/{period_job.pk}/").content.decode()

    ping(client, period_job, datetime(2026, 11, 12, 12, tzinfo=UTC))
    period_job.refresh_from_db()
    assert period_job.state == "up" and not period_job.is_new
    page = client.get(f"/monitors/{period_job.pk}/").content.decode()
    assert "Next expected ping: <time" in page and "2026-11-12 13:00:00 UTC" in page and "Late after" in page


def test_a_heartbeat_stored_with_a_deadline_before_it_was_ever_pinged_is_not_claimed():
    """Rows scheduled from their creation time before heartbeats knew "new" lose that deadline at the first claim."""
    with time_machine.travel("2026-11-09 12:00Z", tick=False):
        job = cron_job()
    Monitor.objects.filter(pk=job.pk).update(next_due_at=datetime(2026, 11, 9, 13, tzinfo=UTC))
    assert dispatch(datetime(2026, 11, 10, tzinfo=UTC)) == []
    job.refresh_from_db()
    assert job.next_due_at is None and job.state == "unknown"


def test_spring_forward_the_0230_run_that_does_not_exist_is_expected_at_0300(client):
    """Europe/Berlin, 28 March 2027: clocks go from 02:00 to 03:00. cronsim (and so healthchecks) runs
    a 02:30 job at 03:00 CEST, the first minute that exists, as Debian cron does."""
    with time_machine.travel("2027-03-26 12:00Z", tick=False):
        job = cron_job(schedule="30 2 * * *", grace=300)
    ping(client, job, datetime(2027, 3, 27, 1, 31, tzinfo=UTC))  # 02:31 CET
    job.refresh_from_db()
    run = datetime(2027, 3, 28, 1, 0, tzinfo=UTC)  # 03:00 CEST
    assert next_run("30 2 * * *", BERLIN, job.last_ping_at) == run
    assert job.next_due_at == run + timedelta(minutes=5)
    assert dispatch(run + timedelta(minutes=5) - timedelta(seconds=1)) == []
    assert dispatch(run + timedelta(minutes=5)) == [job.pk]
    job.refresh_from_db()
    assert job.state == "down"
    # The day after, 02:30 exists again (00:30 UTC in summer time).
    ping(client, job, run + timedelta(minutes=7))
    job.refresh_from_db()
    assert job.state == "up" and job.next_due_at == datetime(2027, 3, 29, 0, 35, tzinfo=UTC)


def test_fall_back_the_0230_run_that_happens_twice_is_expected_once(client):
    """Europe/Berlin, 25 October 2026: clocks go from 03:00 back to 02:00, so 02:30 comes twice.
    The job runs once, at the first 02:30 (summer time); the second 02:30 expects nothing."""
    with time_machine.travel("2026-10-23 12:00Z", tick=False):
        job = cron_job(schedule="30 2 * * *", grace=300)
    ping(client, job, datetime(2026, 10, 24, 0, 31, tzinfo=UTC))  # 02:31 CEST
    job.refresh_from_db()
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert job.next_due_at == first + timedelta(minutes=5)
    ping(client, job, first + timedelta(minutes=2))
    job.refresh_from_db()
    tomorrow = datetime(2026, 10, 26, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert job.next_due_at == tomorrow + timedelta(minutes=5)
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # the second 02:30 (CET)
    assert dispatch(second + timedelta(minutes=6)) == []
    job.refresh_from_db()
    assert job.state == "up"


def test_a_schedule_that_is_not_cron_is_refused_naming_the_field_everywhere(client, admin_user, tmp_path):
    assert schedule_problem("61 * * * *") == "'61 * * * *' is not a valid cron expression (minute 61 out of range): minute takes 0-59"
    # The model (and so the admin form).
    with pytest.raises(Exception) as error:
        cron_job(schedule="61 * * * *")
    assert "heartbeat schedule: '61 * * * *' is not a valid cron expression (minute 61 out of range)" in str(error.value)
    assert "heartbeat_schedule" in error.value.message_dict  # type: ignore[attr-defined]
    # The API.
    _token, clear = token_issue(user=admin_user, name="ci", scope="write")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {clear}"}
    body = {"name": "job", "kind": "heartbeat", "heartbeat_schedule": "61 * * * *"}
    response = client.post("/api/v1/monitors", body, content_type="application/json", **auth)
    assert response.status_code == 422
    assert "heartbeat schedule: '61 * * * *' is not a valid cron expression (minute 61 out of range)" in response.content.decode()
    assert "heartbeat_schedule" in response.content.decode()
    body = {"name": "job", "kind": "heartbeat", "heartbeat_schedule": "0 3 * * *", "heartbeat_time_zone": "Mars/Olympus"}
    response = client.post("/api/v1/monitors", body, content_type="application/json", **auth)
    assert response.status_code == 422 and "'Mars/Olympus' is not a time zone" in response.content.decode()
    body = {"name": "job", "kind": "heartbeat", "heartbeat_schedule": "0 3 * * *", "heartbeat_period_seconds": 3600}
    response = client.post("/api/v1/monitors", body, content_type="application/json", **auth)
    assert response.status_code == 422 and "a period or a schedule, not both" in response.content.decode()
    # The config file.
    for text, expected in [
        ("monitors:\n  - name: x\n    kind: heartbeat\n    heartbeat: {schedule: '61 * * * *'}\n",
         "vigil.yaml:4: monitors[0] (x).heartbeat.schedule: heartbeat schedule: '61 * * * *' is not a valid cron expression "
         "(minute 61 out of range): minute takes 0-59"),
        ("monitors:\n  - name: x\n    kind: heartbeat\n    heartbeat: {schedule: '0 3 * * *', period: 1h}\n",
         "monitors[0] (x).heartbeat: a heartbeat has a period or a schedule, not both"),
    ]:
        path = tmp_path / "vigil.yaml"
        path.write_text(text)
        err = io.StringIO()
        with pytest.raises(CommandError):
            call_command("import_config", str(path), stdout=io.StringIO(), stderr=err)
        assert expected in err.getvalue(), err.getvalue()
    assert not Monitor.objects.exists()


def test_the_api_creates_a_cron_heartbeat_and_says_where_to_ping(client, admin_user, settings):
    settings.VIGIL_BASE_URL = "https://vigil.example.com"
    _token, clear = token_issue(user=admin_user, name="ci", scope="write")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {clear}"}
    body = {"name": "nightly-backup", "kind": "heartbeat", "heartbeat_schedule": "0 3 * * *", "heartbeat_time_zone": BERLIN,
            "heartbeat_grace_seconds": 600}
    created = client.post("/api/v1/monitors", body, content_type="application/json", **auth).json()
    token = Monitor.objects.get(name="nightly-backup").ping_token
    assert created["ping_url"] == f"https://vigil.example.com/ping/{token}"
    assert created["heartbeat_schedule"] == "0 3 * * *" and created["heartbeat_time_zone"] == BERLIN
    assert created["is_new"] is True and created["state"] == "unknown" and created["next_due_at"] is None
    other = client.post("/api/v1/monitors", {"name": "site", "kind": "http", "target": "https://example.com/"},
                        content_type="application/json", **auth).json()
    assert other["ping_url"] is None and other["is_new"] is False
    # Back to a period: the schedule is emptied in the same request.
    changed = client.patch(f"/api/v1/monitors/{created['id']}", {"heartbeat_schedule": "", "heartbeat_period_seconds": 7200},
                           content_type="application/json", **auth).json()
    assert changed["heartbeat_schedule"] == "" and changed["heartbeat_period_seconds"] == 7200
    schema = client.get("/api/v1/openapi.json").json()["components"]["schemas"]["MonitorOut"]["properties"]["ping_url"]
    assert {"type": "null"} in schema["anyOf"] and {"type": "string"} in schema["anyOf"]


def test_export_writes_the_schedule_and_the_ping_url_and_round_trips(tmp_path, settings):
    settings.VIGIL_BASE_URL = "https://vigil.example.com"
    text = ("monitors:\n"
            "  - {name: nightly-backup, kind: heartbeat, heartbeat: {schedule: '0 3 * * *', time_zone: Europe/Berlin, grace: 10m}}\n"
            "  - {name: every-5, kind: heartbeat, heartbeat: {schedule: '*/5 * * * *', time_zone: UTC, grace: 1m}}\n"
            "  - {name: hourly, kind: heartbeat, heartbeat: {period: 1h}}\n"
            "  - {name: site, kind: http, url: 'https://example.com/'}\n")
    path = tmp_path / "vigil.yaml"
    path.write_text(text)
    call_command("import_config", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    job = Monitor.objects.get(name="nightly-backup")
    assert (job.heartbeat_schedule, job.heartbeat_time_zone, job.heartbeat_grace_seconds) == ("0 3 * * *", BERLIN, 600)
    first = sync.dump(sync.export())
    assert f"# ping URL: https://vigil.example.com/ping/{job.ping_token} (append /start, /fail or /<exit code>)\n- name: nightly-backup" in first
    assert "schedule: 0 3 * * *" in first and "time_zone: Europe/Berlin" in first and "grace: 10m" in first
    assert "period" not in first.split("- name: hourly")[0]  # a schedule is written without the period
    assert first.count("# ping URL:") == 3
    # Into an empty database and out again: the same text, the same ping URLs.
    tokens = dict(Monitor.objects.filter(kind="heartbeat").values_list("name", "ping_token"))
    for monitor in Monitor.objects.all():
        services.monitor_delete(monitor=monitor)
    path.write_text(first)
    call_command("import_config", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert sync.dump(sync.export()) == first
    assert dict(Monitor.objects.filter(kind="heartbeat").values_list("name", "ping_token")) == tokens
    out = io.StringIO()
    call_command("import_config", str(path), stdout=out, stderr=io.StringIO())
    assert "0 to create, 0 to update, 0 to delete" in out.getvalue()
    # A file written by hand without ping_token keeps the stored token and plans nothing.
    path.write_text(text)
    out = io.StringIO()
    call_command("import_config", str(path), stdout=out, stderr=io.StringIO())
    assert "0 to create, 0 to update, 0 to delete" in out.getvalue()


def test_the_admin_sets_a_schedule_and_refuses_a_wrong_one_on_its_field(client, admin_user):
    client.force_login(admin_user)
    form = {"name": "nightly-backup", "kind": "heartbeat", "target": "", "settings": "{}", "interval_seconds": 60, "timeout_seconds": 10,
            "retries": 0, "retry_interval_seconds": 20, "recovery_confirmations": 1, "quorum": 0, "heartbeat_period_seconds": 3600,
            "heartbeat_grace_seconds": 600, "heartbeat_schedule": "61 * * * *", "heartbeat_time_zone": BERLIN,
            "state_changes-TOTAL_FORMS": 0, "state_changes-INITIAL_FORMS": 0}
    response = client.post("/admin/monitors/monitor/add/", form)
    assert response.status_code == 200
    assert "heartbeat schedule: &#x27;61 * * * *&#x27; is not a valid cron expression (minute 61 out of range)" in response.content.decode()
    assert not Monitor.objects.exists()
    response = client.post("/admin/monitors/monitor/add/", {**form, "heartbeat_schedule": "0 3 * * *"})
    assert response.status_code == 302, response.content.decode()[:2000]
    job = Monitor.objects.get()
    assert (job.heartbeat_schedule, job.heartbeat_time_zone, job.is_new, job.next_due_at) == ("0 3 * * *", BERLIN, True, None)
    page = client.get(f"/admin/monitors/monitor/{job.pk}/change/").content.decode()
    assert f"/ping/{job.ping_token}" in page


def test_a_file_cannot_reuse_or_change_a_ping_token(tmp_path):
    with time_machine.travel("2026-11-09 12:00Z", tick=False):
        job = cron_job()
    token = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    for text, expected in [
        (f"monitors:\n  - {{name: copy, kind: heartbeat, heartbeat: {{period: 1h, ping_token: {job.ping_token}}}}}\n",
         "monitors[0] (copy).heartbeat.ping_token: Monitor with this Ping token already exists."),
        (f"monitors:\n  - {{name: nightly-backup, kind: heartbeat, heartbeat: {{schedule: '0 3 * * *', ping_token: {token}}}}}\n",
         f"monitors[0] (nightly-backup).heartbeat.ping_token: monitor 'nightly-backup' pings /ping/{job.ping_token}; a file does not "
         "change the token of an existing monitor"),
    ]:
        path = tmp_path / "vigil.yaml"
        path.write_text(text)
        err = io.StringIO()
        with pytest.raises(CommandError):
            call_command("import_config", str(path), stdout=io.StringIO(), stderr=err)
        assert expected in err.getvalue(), err.getvalue()
    assert list(Monitor.objects.values_list("name", "ping_token")) == [("nightly-backup", job.ping_token)]
