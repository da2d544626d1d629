"""After maintenances and incidents created through the ops API and the console, starting
"now" among them, every Statuspage v2 document stays internally consistent: one clock read
per action (created_at == started_at for a window that starts as it is created), updates
newest-first, and component statuses matching the unresolved incidents and active
maintenance (issue 17, point 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from api.tokens import token_issue
from incidents.models import Component, Maintenance
from statuspage.tasks import rebuild_all

pytestmark = pytest.mark.django_db
DOCUMENTS = ["summary.json", "status.json", "components.json", "incidents.json", "incidents/unresolved.json",
             "scheduled-maintenances.json", "scheduled-maintenances/upcoming.json", "scheduled-maintenances/active.json"]
SEVERITY = ["operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"]


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def assert_consistent(client) -> None:
    docs = {name: client.get(f"/api/v2/{name}").json() for name in DOCUMENTS}
    for name, doc in docs.items():
        for key in ("incidents", "scheduled_maintenances"):
            for item in doc.get(key, []):
                times = [parse(u["created_at"]) for u in item["incident_updates"]]
                assert times == sorted(times, reverse=True), (name, item["id"], times)
                assert all(u["display_at"] == u["created_at"] for u in item["incident_updates"])
                if item.get("started_at") and times:
                    assert parse(item["created_at"]) <= times[-1] or item["id"].startswith("maintenance-"), (name, item["id"])
    components = {c["id"]: c["status"] for c in docs["components.json"]["components"] if not c.get("group")}
    assert {c["id"]: c["status"] for c in docs["summary.json"]["components"] if not c.get("group")} == components
    expected = dict.fromkeys(components, "operational")
    for maintenance in docs["scheduled-maintenances/active.json"]["scheduled_maintenances"]:
        for component in maintenance["components"]:
            expected[component["id"]] = "under_maintenance"
    declared: dict[str, str] = {}
    for incident in docs["incidents/unresolved.json"]["incidents"]:
        latest = incident["incident_updates"][0]
        for item in latest["affected_components"] or []:
            if SEVERITY.index(item["new_status"]) > SEVERITY.index(declared.get(item["code"], "operational")):
                declared[item["code"]] = item["new_status"]
    expected.update(declared)
    assert components == expected
    assert [i["id"] for i in docs["summary.json"]["incidents"]] == [i["id"] for i in docs["incidents/unresolved.json"]["incidents"]]


def test_documents_stay_consistent_through_api_and_console_writes(client, responder):
    api = Component.objects.create(name="API")
    web = Component.objects.create(name="Web")
    db = Component.objects.create(name="Database")
    _token, clear = token_issue(user=responder, name="test", scope="write")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {clear}"}
    rebuild_all()
    assert_consistent(client)

    now = timezone.now()
    started = client.post("/api/v1/maintenance", content_type="application/json", **auth, data={
        "title": "DB failover", "component_ids": [db.pk], "starts_at": now.isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat()})
    assert started.status_code == 201, started.content
    window = Maintenance.objects.get(pk=started.json()["id"])
    assert window.status == "in_progress" and window.started_at == window.created_at
    rebuild_all()
    assert_consistent(client)

    client.force_login(responder)
    minute = timezone.localtime(timezone.now(), UTC).strftime("%Y-%m-%dT%H:%M")
    console = client.post("/maintenance/new/", {"title": "Web deploy", "components": [web.pk], "starts_at": minute,
                                                "ends_at": (timezone.now() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
                                                "time_zone": "UTC", "auto_transition": "on", "suppress_alerts": "on",
                                                "exclude_from_slo": "on", "is_public": "on"})
    assert console.status_code in (200, 302), console.content[:500]
    console_window = Maintenance.objects.get(title="Web deploy")
    assert console_window.status == "in_progress" and console_window.started_at == console_window.created_at
    later = client.post("/api/v1/maintenance", content_type="application/json", **auth, data={
        "title": "Later", "component_ids": [api.pk], "starts_at": (now + timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=1, hours=1)).isoformat()})
    assert later.status_code == 201
    rebuild_all()
    assert_consistent(client)

    opened = client.post("/api/v1/incidents", content_type="application/json", **auth, data={
        "title": "API errors", "impact": "major", "message": "Looking", "components": [{"component_id": api.pk, "status": "partial_outage"}]})
    assert opened.status_code == 201, opened.content
    declared = client.post("/incidents/declare/", {"title": "Web slow", "impact": "minor", "status": "investigating",
                                                   "message": "Slow pages", f"component_{web.pk}": "degraded_performance",
                                                   "is_public": "on", "notify": "on"})
    assert declared.status_code in (200, 302)
    rebuild_all()
    assert_consistent(client)

    incident_id = opened.json()["id"]
    for status, component_status in (("identified", "major_outage"), ("monitoring", "operational"), ("resolved", "operational")):
        posted = client.post(f"/api/v1/incidents/{incident_id}/updates", content_type="application/json", **auth, data={
            "status": status, "message": status, "components": [{"component_id": api.pk, "status": component_status}]})
        assert posted.status_code == 201, posted.content
        rebuild_all()
        assert_consistent(client)
    ended = client.patch(f"/api/v1/maintenance/{window.pk}", content_type="application/json", **auth, data={"status": "completed"})
    assert ended.status_code == 200, ended.content
    rebuild_all()
    assert_consistent(client)
