"""One writer for monitors: the admin, the API and config import all go through monitors.services,
so pausing a down monitor records the same state changes and frees its component the same way,
and a value out of bounds gets the same message on every path."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from api.tokens import token_issue
from core import events
from core.models import AuditLog
from incidents.models import Component
from monitors import services
from monitors.checkers.base import Result
from monitors.models import CheckResult, Monitor, StateChange

pytestmark = pytest.mark.django_db

TARGET = "https://api.example.com/health"
OUT_OF_BOUNDS = "interval must be between 5s and 1d (got 2s)"


@pytest.fixture
def down_monitor() -> Monitor:
    """A monitor the engine has found down: its component is in major outage."""
    component = Component.objects.create(name="API")
    now = timezone.now()
    monitor = services.monitor_upsert(changes={"name": "api", "kind": "http", "target": TARGET, "retries": 0, "component": component},
                                      now=now)
    services.record_results(region_name=settings.VIGIL_DEFAULT_REGION, checked=[services.Checked(monitor.pk, now, Result("down", message="refused"))], now=now)
    events.drain(now=now)
    monitor.refresh_from_db()
    assert monitor.state == "down" and Component.objects.get().status == "major_outage"
    return monitor


def admin_form(monitor: Monitor, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": monitor.name, "kind": monitor.kind, "target": monitor.target, "settings": json.dumps(monitor.settings),
        "component": monitor.component_id, "regions": [region.pk for region in monitor.regions.all()],
        "interval_seconds": monitor.interval_seconds, "timeout_seconds": monitor.timeout_seconds, "retries": monitor.retries,
        "retry_interval_seconds": monitor.retry_interval_seconds, "recovery_confirmations": monitor.recovery_confirmations,
        "quorum": monitor.quorum, "heartbeat_period_seconds": monitor.heartbeat_period_seconds,
        "heartbeat_grace_seconds": monitor.heartbeat_grace_seconds, "state_changes-TOTAL_FORMS": 0, "state_changes-INITIAL_FORMS": 0,
    }
    if monitor.paused:
        data["paused"] = "on"
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not False}  # an unticked box is not sent


def config_file(tmp_path, monitor_line: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "vigil.yaml"
    path.write_text(f"monitors:\n  - {monitor_line}\n")
    return path


def set_paused_through(path: str, monitor: Monitor, paused: bool, *, client, admin_user, tmp_path) -> None:  # type: ignore[no-untyped-def]
    if path == "admin":
        client.force_login(admin_user)
        response = client.post(f"/admin/monitors/monitor/{monitor.pk}/change/", admin_form(monitor, paused="on" if paused else False))
        assert response.status_code == 302, response.content.decode()[:3000]
    elif path == "api":
        _token, clear = token_issue(user=admin_user, name="test", scope="write")
        response = client.patch(f"/api/v1/monitors/{monitor.pk}", data={"paused": paused}, content_type="application/json",
                                HTTP_AUTHORIZATION=f"Bearer {clear}")
        assert response.status_code == 200, response.content
    else:
        line = f"{{name: api, kind: http, url: '{TARGET}', retries: 0, component: API, paused: {str(paused).lower()}}}"
        call_command("import_config", str(config_file(tmp_path, line)), stdout=io.StringIO())
    monitor.refresh_from_db()


PATHS = ["admin", "api", "config"]


@pytest.mark.parametrize("path", PATHS)
def test_pausing_a_down_monitor_frees_its_component_the_same_way_on_every_path(path, down_monitor, client, admin_user, tmp_path):
    set_paused_through(path, down_monitor, True, client=client, admin_user=admin_user, tmp_path=tmp_path)
    events.drain(now=timezone.now())

    assert down_monitor.paused and down_monitor.state == "paused" and down_monitor.next_due_at is None
    changes = list(StateChange.objects.filter(monitor=down_monitor).order_by("at", "pk").values_list("old_state", "new_state", "reason"))
    assert changes[1:] == [("down", "paused", "paused")]
    assert Component.objects.get().status == "operational"  # a paused monitor does not vote


@pytest.mark.parametrize("path", PATHS)
def test_resuming_goes_back_to_unknown_on_every_path(path, down_monitor, client, admin_user, tmp_path):
    services.monitor_set_paused(monitor_ids=[down_monitor.pk], paused=True, now=timezone.now())
    down_monitor.refresh_from_db()
    set_paused_through(path, down_monitor, False, client=client, admin_user=admin_user, tmp_path=tmp_path)
    events.drain(now=timezone.now())

    assert not down_monitor.paused and down_monitor.state == "unknown" and down_monitor.next_due_at is not None
    changes = list(StateChange.objects.filter(monitor=down_monitor).order_by("at", "pk").values_list("old_state", "new_state", "reason"))
    assert changes[1:] == [("down", "paused", "paused"), ("paused", "unknown", "resumed")]
    assert Component.objects.get().status == "operational"  # unknown until its checks say otherwise


def test_an_interval_out_of_bounds_gets_the_same_message_on_every_path(down_monitor, client, admin_user, tmp_path):
    client.force_login(admin_user)
    page = client.post(f"/admin/monitors/monitor/{down_monitor.pk}/change/", admin_form(down_monitor, interval_seconds=2)).content.decode()
    assert OUT_OF_BOUNDS in page

    _token, clear = token_issue(user=admin_user, name="test", scope="write")
    response = client.patch(f"/api/v1/monitors/{down_monitor.pk}", data={"interval_seconds": 2}, content_type="application/json",
                            HTTP_AUTHORIZATION=f"Bearer {clear}")
    assert response.status_code == 422 and response.json()["fields"] == {"interval_seconds": [OUT_OF_BOUNDS]}

    errors = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_config", str(config_file(tmp_path, f"{{name: api, kind: http, url: '{TARGET}', interval: 2s}}")),
                     stdout=io.StringIO(), stderr=errors)
    assert f"monitors[0] (api).interval: {OUT_OF_BOUNDS}" in errors.getvalue()

    down_monitor.refresh_from_db()
    assert down_monitor.interval_seconds == 60


def test_the_json_schema_and_the_api_schema_carry_the_same_bounds(client):
    from configfile.schema import json_schema

    config = json_schema()["$defs"]["MonitorConfig"]["properties"]
    api = client.get("/api/v1/openapi.json").json()["components"]["schemas"]["MonitorIn"]["properties"]
    assert config["interval"]["anyOf"][0]["minimum"] == api["interval_seconds"]["minimum"] == 5
    assert config["interval"]["anyOf"][0]["maximum"] == api["interval_seconds"]["maximum"] == 86400
    assert config["retries"]["maximum"] == api["retries"]["maximum"] == 20


def test_a_resumed_copy_and_a_deletion_go_through_the_writer_in_the_admin(down_monitor, client, admin_user):
    client.force_login(admin_user)
    client.post("/admin/monitors/monitor/", {"action": "duplicate", "_selected_action": [down_monitor.pk]})
    copy = Monitor.objects.get(name="api (copy)")
    assert copy.paused and copy.state == "paused" and copy.next_due_at is None and copy.component_id == down_monitor.component_id
    assert not StateChange.objects.filter(monitor=copy).exists()  # born paused: nothing changed

    response = client.post(f"/admin/monitors/monitor/{down_monitor.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Monitor.objects.filter(pk=down_monitor.pk).exists()
    assert not CheckResult.objects.filter(monitor_id=down_monitor.pk).exists()  # raw results go with it (no cascade there)
    assert AuditLog.objects.filter(action="delete", object_type="monitors.monitor", source="admin").count() == 1


def test_a_writer_holding_an_older_copy_never_overwrites_the_state_the_engine_wrote(down_monitor):
    stale = Monitor.objects.get(pk=down_monitor.pk)
    later = timezone.now() + timedelta(seconds=5)
    ok = [services.Checked(down_monitor.pk, later + timedelta(seconds=i), Result("ok", message="fine")) for i in range(2)]
    services.record_results(region_name=settings.VIGIL_DEFAULT_REGION, checked=ok, now=later)
    services.monitor_upsert(monitor=stale, changes={"interval_seconds": 120}, now=later)
    down_monitor.refresh_from_db()
    assert down_monitor.interval_seconds == 120 and down_monitor.state == "up"


def test_a_monitor_stored_before_the_limits_is_named_by_export_not_a_crash(down_monitor):
    Monitor.objects.filter(pk=down_monitor.pk).update(interval_seconds=2 * 86400)  # allowed by the admin before the limits were shared
    errors = io.StringIO()
    with pytest.raises(CommandError, match="outside today's limits"):
        call_command("export_config", stdout=io.StringIO(), stderr=errors)
    assert "monitors: api: interval: interval must be between 5s and 1d (got 2d); change it in the admin first" in errors.getvalue()


def test_a_10s_monitor_without_a_retry_interval_is_accepted_on_every_path(client, admin_user, tmp_path):
    """The default retry interval (20s) follows a shorter interval instead of refusing itself."""
    client.force_login(admin_user)
    form = {"name": "admin-10s", "kind": "http", "target": TARGET, "settings": "{}", "interval_seconds": 10, "timeout_seconds": 5,
            "retries": 2, "recovery_confirmations": 2, "quorum": 0, "heartbeat_period_seconds": 3600, "heartbeat_grace_seconds": 300,
            "state_changes-TOTAL_FORMS": 0, "state_changes-INITIAL_FORMS": 0}
    response = client.post("/admin/monitors/monitor/add/", form)
    assert response.status_code == 302, response.content.decode()[:3000]

    _token, clear = token_issue(user=admin_user, name="test", scope="write")
    response = client.post("/api/v1/monitors", data={"name": "api-10s", "kind": "http", "target": TARGET, "interval_seconds": 10,
                                                     "timeout_seconds": 5}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {clear}")
    assert response.status_code == 201, response.content
    assert response.json()["retry_interval_seconds"] == 10

    call_command("import_config", str(config_file(tmp_path, f"{{name: config-10s, kind: http, url: '{TARGET}', interval: 10s, timeout: 5s}}")),
                 stdout=io.StringIO())
    assert dict(Monitor.objects.values_list("name", "retry_interval_seconds")) == {"admin-10s": 10, "api-10s": 10, "config-10s": 10}
    # The file says no retry interval and the database holds the default: nothing to change, and export leaves it out.
    out = io.StringIO()
    call_command("import_config", str(config_file(tmp_path, f"{{name: config-10s, kind: http, url: '{TARGET}', interval: 10s, timeout: 5s}}")),
                 "--dry-run", stdout=out)
    assert "0 to update" in out.getvalue() and "1 unchanged" in out.getvalue()


def test_the_default_retry_interval_follows_a_changed_interval_and_a_chosen_one_is_kept(admin_user):
    now = timezone.now()
    monitor = services.monitor_upsert(changes={"name": "a", "kind": "http", "target": TARGET}, now=now)
    assert monitor.retry_interval_seconds == 20
    monitor = services.monitor_upsert(monitor=monitor, changes={"interval_seconds": 10, "timeout_seconds": 5}, now=now)
    assert monitor.retry_interval_seconds == 10
    monitor = services.monitor_upsert(monitor=monitor, changes={"interval_seconds": 300}, now=now)
    assert monitor.retry_interval_seconds == 20
    monitor = services.monitor_upsert(monitor=monitor, changes={"retry_interval_seconds": 45}, now=now)
    monitor = services.monitor_upsert(monitor=monitor, changes={"interval_seconds": 120}, now=now)
    assert monitor.retry_interval_seconds == 45


def test_a_refused_retry_interval_names_the_setting_to_change(client, admin_user):
    _token, clear = token_issue(user=admin_user, name="test", scope="write")
    response = client.post("/api/v1/monitors", data={"name": "x", "kind": "http", "target": TARGET, "interval_seconds": 10,
                                                     "timeout_seconds": 5, "retry_interval_seconds": 20},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {clear}")
    assert response.status_code == 422
    [message] = response.json()["fields"]["retry_interval_seconds"]
    assert "set the retry interval to 10s or less, leave it out" in message
    response = client.post("/api/v1/monitors", data={"name": "y", "kind": "http", "target": TARGET, "interval_seconds": 10},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {clear}")
    assert response.status_code == 422
    assert "lower the timeout below 10s or lengthen the interval" in response.json()["fields"]["timeout_seconds"][0]


def test_a_metric_monitor_whose_no_data_is_unknown_becomes_unknown_not_down(tmp_path):
    """The engine side of no_data: unknown: the region gives no verdict and no result row is counted."""
    from tests.servers import HTTPServer, respond

    answer = {"result": [{"metric": {}, "value": [1.7e9, "1"]}]}
    server = HTTPServer({"/api/v1/query": lambda handler: respond(handler, 200, json.dumps(
        {"status": "success", "data": {"resultType": "vector", **answer}}).encode())})
    try:
        now = timezone.now()
        monitor = services.monitor_upsert(changes={"name": "queue", "kind": "metric", "target": server.url, "retries": 0, "settings": {
            "source": "prometheus_api", "promql": "sum(queue_depth)", "down_above": 100, "no_data": "unknown"}}, now=now)
        from monitors.checkers import metric
        from monitors.checkers.base import CheckSession

        first = metric.check(monitor, CheckSession(), now)
        services.record_results(region_name=settings.VIGIL_DEFAULT_REGION, checked=[services.Checked(monitor.pk, now, first)], now=now)
        monitor.refresh_from_db()
        assert monitor.state == "up"
        answer["result"] = []
        later = now + timedelta(minutes=1)
        second = metric.check(monitor, CheckSession(), later)
        services.record_results(region_name=settings.VIGIL_DEFAULT_REGION, checked=[services.Checked(monitor.pk, later, second)], now=later)
        monitor.refresh_from_db()
        assert monitor.state == "unknown" and "no data (the query matched no series); no_data: unknown" in monitor.state_reason
        assert CheckResult.objects.filter(monitor_id=monitor.pk).count() == 1  # the no-data check is not counted as up
    finally:
        server.close()


def test_in_the_admin_a_default_retry_interval_follows_a_shorter_interval(client, admin_user):
    monitor = services.monitor_upsert(changes={"name": "a", "kind": "http", "target": TARGET}, now=timezone.now())
    client.force_login(admin_user)
    response = client.post(f"/admin/monitors/monitor/{monitor.pk}/change/", admin_form(monitor, interval_seconds=10, timeout_seconds=5, component=""))
    assert response.status_code == 302, response.content.decode()[:3000]
    monitor.refresh_from_db()
    assert (monitor.interval_seconds, monitor.retry_interval_seconds) == (10, 10)
