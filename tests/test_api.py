"""The ops API at /api/v1/: tokens and scopes, roles, CRUD, pagination, JSON errors, audit."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from alerting.models import Alert, AlertGroup, AlertRule, Channel
from api.models import ApiToken
from api.tokens import token_issue, token_revoke
from core.models import AuditLog
from incidents.models import Component, Incident
from monitors.models import Monitor

pytestmark = pytest.mark.django_db


def bearer(user, scope: str = "write", **extra) -> dict[str, str]:
    _token, clear = token_issue(user=user, name=f"test {scope}", scope=scope, **extra)
    return {"HTTP_AUTHORIZATION": f"Bearer {clear}"}


def call(client, method: str, path: str, auth: dict[str, str], body=None):
    kwargs = {"content_type": "application/json", "data": body} if body is not None else {}
    return getattr(client, method)(f"/api/v1{path}", **kwargs, **auth)


# --- Tokens --------------------------------------------------------------------------------------


def test_a_token_is_stored_only_as_its_hash(admin_user):
    token, clear = token_issue(user=admin_user, name="ci", scope="read")
    row = ApiToken.objects.get(pk=token.pk)
    assert clear.startswith(f"vigil_{row.prefix}_") and len(clear) > 40
    assert clear not in str(ApiToken.objects.filter(pk=token.pk).values().first())
    assert AuditLog.objects.filter(action="issue_token", object_id=str(token.pk)).exists()


def test_requests_without_a_valid_token_get_a_json_401(client, admin_user):
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer vigil_nope_nope"}, {"HTTP_AUTHORIZATION": "Basic abc"}):
        response = client.get("/api/v1/monitors", **headers)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert "Authorization: Bearer" in response.json()["detail"]


def test_a_revoked_or_expired_token_stops_working(client, admin_user):
    auth = bearer(admin_user, "read")
    assert client.get("/api/v1/monitors", **auth).status_code == 200
    token_revoke(token=ApiToken.objects.get(), by=admin_user, now=timezone.now())
    assert client.get("/api/v1/monitors", **auth).status_code == 401
    expired = bearer(admin_user, "read", expires_at=timezone.now() - timedelta(minutes=1))
    assert client.get("/api/v1/monitors", **expired).status_code == 401
    admin_user.is_active = False
    admin_user.save()
    assert client.get("/api/v1/monitors", **bearer(admin_user, "read")).status_code == 401


def test_a_read_token_can_read_but_never_write(client, admin_user):
    auth = bearer(admin_user, "read")
    assert call(client, "get", "/components", auth).status_code == 200
    response = call(client, "post", "/components", auth, {"name": "API"})
    assert response.status_code == 403
    assert "read-only" in response.json()["detail"]
    assert not Component.objects.exists()


def test_the_users_role_bounds_a_write_token(client, viewer, responder, admin_user):
    assert call(client, "post", "/components", bearer(viewer), {"name": "API"}).status_code == 403
    assert call(client, "post", "/components", bearer(responder), {"name": "API"}).status_code == 403
    opened = call(client, "post", "/incidents", bearer(responder), {"title": "Slow API", "message": "Looking", "impact": "major"})
    assert opened.status_code == 201, opened.content
    assert call(client, "post", "/components", bearer(admin_user), {"name": "API"}).status_code == 201


def test_the_openapi_document_is_public_and_lists_every_resource(client):
    document = client.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    for path in ("/api/v1/monitors", "/api/v1/components", "/api/v1/component-groups", "/api/v1/incidents",
                 "/api/v1/incidents/{incident_id}/updates", "/api/v1/maintenance", "/api/v1/status-pages", "/api/v1/channels",
                 "/api/v1/alert-rules", "/api/v1/silences", "/api/v1/slos", "/api/v1/alerts/{alert_id}/acknowledge",
                 "/api/v1/alerts/{alert_id}/resolve", "/api/v1/monitors/{monitor_id}/check", "/api/v1/monitors/{monitor_id}/uptime"):
        assert path in document["paths"], path
    assert document["components"]["securitySchemes"]


# --- Monitors ----------------------------------------------------------------------------------------


def test_monitor_crud_with_audit_rows(client, admin_user):
    auth = bearer(admin_user)
    api = Component.objects.create(name="API")
    created = call(client, "post", "/monitors", auth, {
        "name": "api-health", "kind": "http", "target": "https://api.example.com/health", "component_id": api.pk,
        "settings": {"expect_status": [200], "headers": {"X-Token": "s3cret"}}, "tags": ["Core"]})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["component_id"] == api.pk and body["tags"] == ["core"] and body["regions"]
    assert body["settings"]["headers"]["X-Token"] == "********"  # secrets are write-only

    monitor_id = body["id"]
    changed = call(client, "patch", f"/monitors/{monitor_id}", auth, {"interval_seconds": 120, "settings": body["settings"]})
    assert changed.status_code == 200 and changed.json()["interval_seconds"] == 120
    assert Monitor.objects.get(pk=monitor_id).settings["headers"]["X-Token"] == "s3cret"  # the mask sent back kept it

    assert call(client, "get", f"/monitors/{monitor_id}", auth).json()["name"] == "api-health"
    assert call(client, "delete", f"/monitors/{monitor_id}", auth).status_code == 204
    assert call(client, "get", f"/monitors/{monitor_id}", auth).status_code == 404
    actions = list(AuditLog.objects.filter(object_type="monitors.monitor", source="api").order_by("pk").values_list("action", flat=True))
    assert actions == ["create", "update", "delete"]
    assert "s3cret" not in str(list(AuditLog.objects.values_list("changes", flat=True)))


def test_lists_paginate_and_filter(client, admin_user):
    auth = bearer(admin_user, "read")
    for index in range(7):
        Monitor.objects.create(name=f"m{index}", kind="tcp", target=f"127.0.0.1:{1000 + index}", state="down" if index < 2 else "up")
    first = call(client, "get", "/monitors?limit=3", auth).json()
    second = call(client, "get", "/monitors?limit=3&offset=3", auth).json()
    assert first["count"] == 7 and len(first["items"]) == 3 and first["limit"] == 3
    assert {m["name"] for m in first["items"]}.isdisjoint({m["name"] for m in second["items"]})
    assert call(client, "get", "/monitors?state=down", auth).json()["count"] == 2
    assert call(client, "get", "/monitors?search=m6", auth).json()["count"] == 1
    assert call(client, "get", "/monitors?limit=501", auth).status_code == 422


def test_invalid_input_is_json_with_field_messages(client, admin_user):
    auth = bearer(admin_user)
    wrong = call(client, "post", "/monitors", auth, {"name": "", "kind": "telnet", "interval_seconds": "often", "component_id": 10**12})
    assert wrong.status_code == 422
    fields = wrong.json()["fields"]
    assert {"name", "kind", "interval_seconds", "component_id"} <= set(fields), fields
    missing = call(client, "post", "/monitors", auth, {"name": "x", "kind": "http", "component_id": 999999})
    assert missing.status_code == 422 and "component_id" in missing.json()["fields"]
    broken = client.post("/api/v1/monitors", data="{not json", content_type="application/json", **auth)
    assert broken.status_code in (400, 422) and broken.json()["detail"]
    nul = call(client, "post", "/components", auth, {"name": "a\x00b"})
    assert nul.status_code == 422 and "name" in nul.json()["fields"]
    Component.objects.create(name="API")
    duplicate = call(client, "post", "/components", auth, {"name": "API"})
    assert duplicate.status_code in (409, 422) and duplicate.json()["detail"]
    null = call(client, "patch", f"/components/{Component.objects.get().pk}", auth, {"name": None})
    assert null.status_code == 422 and "name" in null.json()["fields"]


def test_check_now_results_and_uptime(client, admin_user):
    auth = bearer(admin_user)
    monitor = Monitor.objects.create(name="db", kind="tcp", target="127.0.0.1:5432", next_due_at=timezone.now() + timedelta(hours=1))
    queued = call(client, "post", f"/monitors/{monitor.pk}/check", auth)
    assert queued.status_code == 202
    monitor.refresh_from_db()
    assert monitor.next_due_at <= timezone.now()
    uptime = call(client, "get", f"/monitors/{monitor.pk}/uptime", auth).json()
    assert [w["window"] for w in uptime["windows"]] == ["1h", "24h", "7d", "30d", "90d"]
    results = call(client, "get", f"/monitors/{monitor.pk}/results?period=day&hours=72", auth).json()
    assert results["period"] == "day" and isinstance(results["points"], list)
    assert call(client, "get", f"/monitors/{monitor.pk}/results?period=week", auth).status_code == 422


def test_results_carry_the_measured_values_per_bucket(client, admin_user):
    from monitors import services as monitor_services
    from monitors.checkers import thresholds

    auth = bearer(admin_user, scope="read")
    monitor = Monitor.objects.create(name="pool", kind="postgres", target="postgres://127.0.0.1:5432/postgres",
                                     settings={"query": "select 0.5", "label": "pool use", "unit": "%", "scale": 100, "warn_above": 0.8})
    now = (timezone.now() - timedelta(hours=1)).replace(minute=30, second=0, microsecond=0)  # four checks in the last full hour
    for minutes, measured in ((-3, 0.5), (-2, 0.9), (-1, 0.7)):
        at = now + timedelta(minutes=minutes)
        monitor_services.record_results(region_name="default", now=at, checked=[
            monitor_services.Checked(monitor.pk, at, thresholds.judged(measured, {"warn_above": 0.8}, latency_ms=2))])
    monitor_services.record_results(region_name="default", now=now, checked=[
        monitor_services.Checked(monitor.pk, now, thresholds.judged(0.6, {"warn_above": 0.8}, latency_ms=2))])
    results = call(client, "get", f"/monitors/{monitor.pk}/results?hours=3", auth).json()
    assert (results["value_label"], results["value_unit"]) == ("pool use", "%")
    measured = [point for point in results["points"] if point["value"]]
    assert len(measured) == 1 and measured[0]["total"] == 4
    value = measured[0]["value"]
    assert value["count"] == 4 and value["last"] == pytest.approx(60) and value["high"] == pytest.approx(90)
    assert value["low"] == pytest.approx(50) and value["mean"] == pytest.approx(67.5)
    assert all(point["value"] is None for point in results["points"] if not point["total"])


# --- Incidents, alerting, pages, SLOs ---------------------------------------------------------------------


def test_incident_timeline_through_the_api(client, responder):
    auth = bearer(responder)
    api = Component.objects.create(name="API")
    opened = call(client, "post", "/incidents", auth, {
        "title": "Errors on checkout", "impact": "critical", "message": "Investigating",
        "components": [{"component_id": api.pk, "status": "major_outage"}]}).json()
    assert opened["severity"] == "SEV-1" and opened["components"] == [{"component_id": api.pk, "status": "major_outage"}]
    version = opened["version"]
    update = call(client, "post", f"/incidents/{opened['id']}/updates", auth,
                  {"status": "identified", "message": "Bad deploy", "expected_version": version})
    assert update.status_code == 201
    stale = call(client, "post", f"/incidents/{opened['id']}/updates", auth,
                 {"status": "resolved", "message": "Fixed", "expected_version": version})
    assert stale.status_code == 409 and "Someone else" in stale.json()["detail"]
    call(client, "post", f"/incidents/{opened['id']}/updates", auth, {"status": "resolved", "message": "Rolled back"})
    incident = call(client, "get", f"/incidents/{opened['id']}", auth).json()
    assert incident["status"] == "resolved" and [u["status"] for u in incident["updates"]] == ["resolved", "identified", "investigating"]
    assert call(client, "get", "/incidents?status=open", auth).json()["count"] == 0
    assert AuditLog.objects.filter(object_type="incidents.incident", source="api", action="post_update").count() == 2


def test_channel_secrets_are_write_only(client, admin_user):
    auth = bearer(admin_user)
    created = call(client, "post", "/channels", auth, {"name": "ops", "kind": "slack", "config": {"url": "https://hooks.example/T0/B0/xyz"}})
    assert created.status_code == 201 and created.json()["config"]["url"] == "********"
    channel_id = created.json()["id"]
    call(client, "patch", f"/channels/{channel_id}", auth, {"config": created.json()["config"], "enabled": False})
    assert Channel.objects.get().config["url"] == "https://hooks.example/T0/B0/xyz"
    from_env = call(client, "post", "/channels", auth, {"name": "pager", "kind": "slack", "config": {"url": "env:SLACK_URL"}})
    assert from_env.json()["config"]["url"] == "env:SLACK_URL"
    bad = call(client, "post", "/channels", auth, {"name": "bad", "kind": "pagerduty", "config": {}})
    assert bad.status_code == 422 and "config" in bad.json()["fields"]
    assert call(client, "post", f"/channels/{channel_id}/test", auth).status_code == 202


def test_alerts_are_acknowledged_and_resolved(client, responder):
    auth = bearer(responder)
    now = timezone.now()
    rule = AlertRule.objects.create(name="down", states=["down"])
    monitor = Monitor.objects.create(name="web", kind="tcp", target="127.0.0.1:1")
    alert = Alert.objects.create(rule=rule, dedup_key="k", group_key="all", status="firing", severity="critical", summary="web is down",
                                 monitor=monitor, first_seen=now, last_seen=now, fired_at=now)
    acked = call(client, "post", f"/alerts/{alert.pk}/acknowledge", auth)
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == responder.username
    again = call(client, "post", f"/alerts/{alert.pk}/acknowledge", auth)
    assert again.status_code == 422 and "status" in again.json()["fields"]
    resolved = call(client, "post", f"/alerts/{alert.pk}/resolve", auth)
    assert resolved.json()["status"] == "resolved" and resolved.json()["resolved_at"]
    assert AlertGroup.objects.get(rule=rule).next_flush_at is not None  # the channels hear "resolved"
    assert call(client, "get", "/alerts?status=open", auth).json()["count"] == 0
    assert call(client, "post", f"/alerts/{alert.pk}/resolve", bearer(responder, "read")).status_code == 403


def test_rules_silences_pages_and_slos(client, admin_user):
    auth = bearer(admin_user)
    api = Component.objects.create(name="API")
    monitor = Monitor.objects.create(name="api", kind="tcp", target="127.0.0.1:1", component=api)
    channel = Channel.objects.create(name="ops", kind="email", config={"to": ["ops@example.com"]})
    rule = call(client, "post", "/alert-rules", auth, {"name": "API down", "states": ["down"], "monitor_ids": [monitor.pk],
                                                      "channel_ids": [channel.pk], "group_by": ["component"]})
    assert rule.status_code == 201 and rule.json()["channel_ids"] == [channel.pk]
    assert call(client, "post", "/alert-rules", auth, {"name": "x", "states": ["sideways"]}).status_code == 422

    now = timezone.now()
    silence = call(client, "post", "/silences", auth, {"matchers": [{"name": "component", "value": "API"}], "comment": "deploy",
                                                       "starts_at": now.isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat()})
    assert silence.status_code == 201 and silence.json()["active"] and silence.json()["created_by"] == admin_user.username
    backwards = call(client, "post", "/silences", auth, {"matchers": [{"name": "a", "value": "b"}], "comment": "x",
                                                         "starts_at": now.isoformat(), "ends_at": (now - timedelta(hours=1)).isoformat()})
    assert backwards.status_code == 422 and "ends_at" in backwards.json()["fields"]

    page = call(client, "post", "/status-pages", auth, {"slug": "team", "title": "Team Status", "component_ids": [api.pk]})
    assert page.status_code == 201, page.content
    assert page.json()["component_ids"] == [api.pk]
    assert "access_token_hash" not in page.json()

    slo = call(client, "post", "/slos", auth, {"name": "API availability", "objective": 99.9, "monitor_ids": [monitor.pk],
                                               "owner": admin_user.username})
    assert slo.status_code == 201, slo.content
    assert slo.json()["latest"] is None and slo.json()["window"] == "rolling_30d"
    from slo import services as slo_services
    from slo.models import SLO

    slo_services.refresh(SLO.objects.get(), now=timezone.now())
    latest = call(client, "get", f"/slos/{slo.json()['id']}", auth).json()["latest"]
    assert latest["budget_minutes"] == pytest.approx(43.2) and latest["status"]
    assert call(client, "post", "/slos", auth, {"name": "x", "objective": 100, "monitor_ids": [monitor.pk]}).status_code == 422
    maintenance = call(client, "post", "/maintenance", auth, {"title": "DB upgrade", "component_ids": [api.pk],
                                                             "starts_at": (now + timedelta(days=1)).isoformat(),
                                                             "ends_at": (now + timedelta(days=1, hours=1)).isoformat()})
    assert maintenance.status_code == 201 and maintenance.json()["status"] == "scheduled"
    assert not Incident.objects.exists()


def test_every_operation_needs_a_token_and_a_viewer_changes_nothing(client, viewer):
    document = client.get("/api/v1/openapi.json").json()
    auth = bearer(viewer)
    walked = 0
    for path, operations in document["paths"].items():
        concrete = re.sub(r"\{[a-z_]+\}", "1", path)
        for method, operation in operations.items():
            assert client.generic(method.upper(), concrete).status_code == 401, (method, path)
            if method in ("post", "patch", "delete") and "requestBody" not in operation:
                # No body to validate first: the role check answers (403), before any lookup (404).
                assert client.generic(method.upper(), concrete, **auth).status_code == 403, (method, path)
            walked += 1
    assert walked >= 45


def test_the_slo_list_reads_latest_figures_in_a_fixed_number_of_queries(client, admin_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from slo.models import SLO, SLOSnapshot

    auth = bearer(admin_user, "read")
    monitor = Monitor.objects.create(name="m", kind="tcp", target="127.0.0.1:1")
    now = timezone.now()

    def add(count: int) -> None:
        for index in range(count):
            slo = SLO.objects.create(name=f"slo-{SLO.objects.count()}-{index}", objective=99.9)
            slo.monitors.add(monitor)
            for minutes, sli in ((2, 0.5), (1, 0.99)):  # the newer one must be the one shown
                SLOSnapshot.objects.create(slo=slo, at=now - timedelta(minutes=minutes), good=99, valid=100, sli=sli, budget_minutes=43.2,
                                           spent_minutes=1, remaining_ratio=0.9, burn_1h=1, burn_6h=1, burn_3d=1, status="healthy")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            body = call(client, "get", "/slos", auth).json()
        assert "items" in body, body
        assert all(item["latest"]["sli"] == 0.99 for item in body["items"])
        return len(captured)

    add(2)
    queries()  # the first request also caches the page routes and stamps the token's last use
    few = queries()
    add(6)
    assert queries() == few


def test_every_list_answers_a_plain_get(client, admin_user):
    auth = bearer(admin_user, "read")
    document = client.get("/api/v1/openapi.json").json()
    lists = [path for path, operations in document["paths"].items() if "get" in operations and "{" not in path]
    assert len(lists) >= 10
    for path in lists:
        response = client.get(path, **auth)
        assert response.status_code == 200 and "items" in response.json(), (path, response.content[:200])


def test_input_the_document_calls_invalid_is_refused_with_the_field_named(client, admin_user):
    auth = bearer(admin_user)
    component = Component.objects.create(name="API")
    # A JSON array is not an object of fields to change (it used to pass as an empty change: 200).
    array = call(client, "patch", f"/components/{component.pk}", auth, [None, None])
    assert array.status_code == 422 and "JSON object" in str(array.json()["fields"])
    # The document says boolean and integer: 0 and false are not guessed into them.
    flag = call(client, "post", "/components", auth, {"name": "Web", "is_public": 0})
    assert flag.status_code == 422 and "is_public" in flag.json()["fields"]
    position = call(client, "post", "/components", auth, {"name": "Web", "position": False})
    assert position.status_code == 422 and "position" in position.json()["fields"]
    # A date and time is ISO 8601 text, not seconds since 1970.
    number = call(client, "post", "/silences", auth, {"matchers": [{"name": "monitor", "value": "api"}], "starts_at": 0,
                                                      "ends_at": "2030-01-01T00:00:00Z", "comment": "deploy"})
    assert number.status_code == 422 and "starts_at" in number.json()["fields"]
    assert client.get("/api/v1/incidents?since=0.5", **auth).status_code == 422
    # Any offset ISO 8601 allows is read (PostgreSQL itself refuses offsets past 15:59: stored as UTC).
    far = client.get("/api/v1/incidents", {"since": "2030-07-22T04:09:19-20:47"}, **auth)
    assert far.status_code == 200 and far.json()["items"] == []
    overflow = client.get("/api/v1/incidents", {"since": "9999-12-31T23:00:00-20:00"}, **auth)
    assert overflow.status_code == 422 and "since" in overflow.json()["fields"]
    # A misspelt filter is named, not ignored (which answered every row).
    misspelt = client.get("/api/v1/monitors?stat=down", **auth)
    assert misspelt.status_code == 422 and "stat" in misspelt.json()["fields"]
    assert "state" in misspelt.json()["fields"]["stat"][0]
    assert Component.objects.count() == 1


def test_a_taken_name_is_a_conflict_and_null_is_refused_where_the_document_says_so(client, admin_user):
    auth = bearer(admin_user)
    AlertRule.objects.create(name="down", states=["down"])
    taken = call(client, "post", "/alert-rules", auth, {"name": "down", "states": ["down"]})
    assert taken.status_code == 409 and "name" in taken.json()["fields"]
    component = Component.objects.create(name="API")
    null = call(client, "patch", f"/components/{component.pk}", auth, {"is_public": None})
    assert null.status_code == 422 and null.json()["fields"]["is_public"] == ["may not be null; leave the field out to keep its value."]
