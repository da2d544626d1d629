"""The Statuspage-compatible v2 API: shapes validated against a schema written from
Atlassian Statuspage's public API docs, and the documents agree with each other."""

from __future__ import annotations

import json
from datetime import timedelta

import jsonschema
import pytest
from django.utils import timezone

from incidents import services as incident_services
from incidents.models import Component, ComponentGroup, Maintenance
from statuspage.tasks import rebuild_all

pytestmark = pytest.mark.django_db

TIMESTAMP = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"}
NULLABLE_TIMESTAMP = {"anyOf": [TIMESTAMP, {"type": "null"}]}
COMPONENT_STATUS = {"enum": ["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"]}
PAGE = {
    "type": "object",
    "required": ["id", "name", "url", "time_zone", "updated_at"],
    "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "url": {"type": "string", "format": "uri"},
                   "time_zone": {"type": "string"}, "updated_at": TIMESTAMP},
}
COMPONENT = {
    "type": "object",
    "required": ["id", "name", "status", "created_at", "updated_at", "position", "description", "showcase", "start_date",
                 "group_id", "page_id", "group", "only_show_if_degraded"],
    "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "status": COMPONENT_STATUS,
        "created_at": TIMESTAMP, "updated_at": TIMESTAMP, "position": {"type": "integer"},
        "description": {"type": ["string", "null"]}, "showcase": {"type": "boolean"},
        "start_date": {"anyOf": [{"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}, {"type": "null"}]},
        "group_id": {"type": ["string", "null"]}, "page_id": {"type": "string"}, "group": {"type": "boolean"},
        "only_show_if_degraded": {"type": "boolean"},
        "components": {"type": "array", "items": {"type": "string"}},
    },
}
AFFECTED = {"type": "object", "required": ["code", "name", "old_status", "new_status"],
            "properties": {"code": {"type": "string"}, "name": {"type": "string"}, "old_status": COMPONENT_STATUS, "new_status": COMPONENT_STATUS}}
UPDATE = {
    "type": "object",
    "required": ["id", "status", "body", "incident_id", "created_at", "updated_at", "display_at", "affected_components",
                 "deliver_notifications", "custom_tweet", "tweet_id"],
    "properties": {
        "id": {"type": "string"}, "body": {"type": "string"}, "incident_id": {"type": "string"},
        "status": {"enum": ["investigating", "identified", "monitoring", "resolved", "postmortem",
                            "scheduled", "in_progress", "verifying", "completed"]},
        "created_at": TIMESTAMP, "updated_at": TIMESTAMP, "display_at": TIMESTAMP,
        "affected_components": {"anyOf": [{"type": "array", "items": AFFECTED}, {"type": "null"}]},
        "deliver_notifications": {"type": "boolean"},
    },
}
INCIDENT = {
    "type": "object",
    "required": ["id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at", "impact", "shortlink",
                 "started_at", "page_id", "incident_updates", "components"],
    "properties": {
        "id": {"type": "string"}, "name": {"type": "string"},
        "status": {"enum": ["investigating", "identified", "monitoring", "resolved", "postmortem"]},
        "impact": {"enum": ["none", "minor", "major", "critical"]},
        "created_at": TIMESTAMP, "updated_at": TIMESTAMP, "started_at": TIMESTAMP,
        "monitoring_at": NULLABLE_TIMESTAMP, "resolved_at": NULLABLE_TIMESTAMP,
        "shortlink": {"type": "string"}, "page_id": {"type": "string"},
        "incident_updates": {"type": "array", "items": UPDATE}, "components": {"type": "array", "items": COMPONENT},
    },
}
MAINTENANCE = {
    **INCIDENT,
    "required": [*INCIDENT["required"], "scheduled_for", "scheduled_until"],
    "properties": {**INCIDENT["properties"], "status": {"enum": ["scheduled", "in_progress", "verifying", "completed"]},
                   "impact": {"enum": ["maintenance", "none", "minor", "major", "critical"]},
                   "scheduled_for": TIMESTAMP, "scheduled_until": TIMESTAMP},
}
STATUS = {"type": "object", "required": ["indicator", "description"],
          "properties": {"indicator": {"enum": ["none", "minor", "major", "critical", "maintenance"]}, "description": {"type": "string"}}}


def envelope(**fields: dict) -> dict:
    return {"type": "object", "required": ["page", *fields], "properties": {"page": PAGE, **fields}, "additionalProperties": False}


SCHEMAS = {
    "summary.json": envelope(components={"type": "array", "items": COMPONENT}, incidents={"type": "array", "items": INCIDENT},
                             scheduled_maintenances={"type": "array", "items": MAINTENANCE}, status=STATUS),
    "status.json": envelope(status=STATUS),
    "components.json": envelope(components={"type": "array", "items": COMPONENT}),
    "incidents.json": envelope(incidents={"type": "array", "items": INCIDENT}),
    "incidents/unresolved.json": envelope(incidents={"type": "array", "items": INCIDENT}),
    "scheduled-maintenances.json": envelope(scheduled_maintenances={"type": "array", "items": MAINTENANCE}),
    "scheduled-maintenances/upcoming.json": envelope(scheduled_maintenances={"type": "array", "items": MAINTENANCE}),
    "scheduled-maintenances/active.json": envelope(scheduled_maintenances={"type": "array", "items": MAINTENANCE}),
}


@pytest.fixture
def busy_page(responder):
    """A page with a group, an open and a resolved incident, and maintenance in every state."""
    now = timezone.now()
    core = ComponentGroup.objects.create(name="Core")
    api = Component.objects.create(name="API", group=core)
    web = Component.objects.create(name="Website", group=core)
    Component.objects.create(name="Email")
    open_incident = incident_services.incident_open(title="Slow API", impact="minor", message="Looking",
                                                    components={api.pk: "degraded_performance"}, by=responder, now=now - timedelta(hours=1))
    incident_services.incident_post_update(incident_id=open_incident.pk, expected_version=None, status="identified",
                                           message="Found it", components={api.pk: "partial_outage"}, by=responder, now=now)
    old = incident_services.incident_open(title="Website down", impact="critical", message="Down",
                                          components={web.pk: "major_outage"}, by=responder, now=now - timedelta(days=3))
    incident_services.incident_post_update(incident_id=old.pk, expected_version=None, status="resolved", message="Fixed",
                                           by=responder, now=now - timedelta(days=3) + timedelta(hours=2))
    for offset, status in [(-2, "completed"), (0, "in_progress"), (2, "scheduled")]:
        window = Maintenance(title=f"Window {status}", starts_at=now + timedelta(days=offset), ends_at=now + timedelta(days=offset, hours=2))
        incident_services.maintenance_save(maintenance=window, components=[web], by=responder, now=now)
        if status != "scheduled":
            incident_services.maintenance_set_status(maintenance_id=window.pk, status="in_progress", by=responder, now=now)
        if status == "completed":
            incident_services.maintenance_set_status(maintenance_id=window.pk, status="completed", by=responder, now=now)
    rebuild_all()
    return {"api": api, "web": web, "open": open_incident, "old": old}


def get(client, name: str) -> dict:
    response = client.get(f"/api/v2/{name}")
    assert response.status_code == 200, name
    assert response["Content-Type"] == "application/json"
    assert response["Access-Control-Allow-Origin"] == "*"
    return json.loads(response.content)


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_every_document_matches_the_statuspage_schema(client, busy_page, name):
    jsonschema.validate(get(client, name), SCHEMAS[name], format_checker=jsonschema.FormatChecker())


def test_the_documents_agree_with_each_other(client, busy_page):
    summary = get(client, "summary.json")
    assert get(client, "status.json")["status"] == summary["status"]
    assert get(client, "components.json")["components"] == summary["components"]
    unresolved = get(client, "incidents/unresolved.json")["incidents"]
    assert unresolved == summary["incidents"]
    assert all(i["status"] != "resolved" and i["resolved_at"] is None for i in unresolved)
    everything = get(client, "incidents.json")["incidents"]
    assert {i["id"] for i in unresolved} < {i["id"] for i in everything}
    assert [i["name"] for i in everything] == ["Slow API", "Website down"]  # newest first
    upcoming = get(client, "scheduled-maintenances/upcoming.json")["scheduled_maintenances"]
    active = get(client, "scheduled-maintenances/active.json")["scheduled_maintenances"]
    assert [m["status"] for m in upcoming] == ["scheduled"] and [m["status"] for m in active] == ["in_progress"]
    assert {m["id"] for m in summary["scheduled_maintenances"]} == {m["id"] for m in upcoming + active}
    all_windows = get(client, "scheduled-maintenances.json")["scheduled_maintenances"]
    assert {m["status"] for m in all_windows} == {"scheduled", "in_progress", "completed"}


def test_the_indicator_follows_statuspage_rules_for_components_and_open_incidents(client, busy_page):
    status = get(client, "status.json")["status"]
    # The open incident is minor and one of three components is in partial outage: Statuspage's
    # "some components partial outage" row (lib/status_headline.py).
    assert status == {"indicator": "minor", "description": "Minor Service Outage"}


def test_an_incident_lists_its_updates_newest_first_with_component_transitions(client, busy_page):
    incident = next(i for i in get(client, "incidents.json")["incidents"] if i["name"] == "Slow API")
    assert [u["status"] for u in incident["incident_updates"]] == ["identified", "investigating"]
    newest = incident["incident_updates"][0]["affected_components"]
    assert newest == [{"code": str(busy_page["api"].pk), "name": "API", "old_status": "degraded_performance", "new_status": "partial_outage"}]
    assert incident["shortlink"].endswith(f"/status/incidents/{busy_page['open'].pk}/")
    assert [c["name"] for c in incident["components"]] == ["API"]


def test_groups_list_their_components_and_components_name_their_group(client, busy_page):
    components = get(client, "components.json")["components"]
    group = next(c for c in components if c["group"])
    members = [c for c in components if c["group_id"] == group["id"]]
    assert sorted(group["components"]) == sorted(c["id"] for c in members)
    assert {c["name"] for c in members} == {"API", "Website"}
    assert group["status"] == "partial_outage"  # the worst of its members


def test_cors_preflight_is_answered(client, busy_page):
    response = client.options("/api/v2/summary.json", HTTP_ORIGIN="https://example.org", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "GET" in response["Access-Control-Allow-Methods"]


def test_timestamps_carry_the_page_time_zone_offset(client, busy_page):
    from statuspage.models import StatusPage

    page = StatusPage.objects.get(slug="public")
    page.time_zone = "America/New_York"
    page.save()
    rebuild_all()
    summary = get(client, "summary.json")
    assert summary["page"]["time_zone"] == "America/New_York"
    assert summary["page"]["updated_at"][-6:] in ("-05:00", "-04:00")


def test_a_named_page_serves_the_same_api_under_its_slug(client, busy_page):
    assert client.get("/status/public/api/v2/status.json").status_code == 200
    assert client.get("/status/nope/api/v2/status.json").status_code == 404
    assert client.get("/api/v2/nothing.json").status_code == 404


def test_docs_field_table_names_every_field_vigil_serves(client, busy_page):
    """docs/status-pages.md's "Atlassian v2 field -> Vigil" table stays true: every field of every
    document is in it, under the name a reader looks for."""
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "status-pages.md").read_text()
    table = text.split("### Atlassian v2 field -> Vigil")[1].split("\n\n")[2]
    prefixes = {"components": "components[]", "incidents": "incidents[]", "incident_updates": "incident_updates[]",
                "scheduled_maintenances": "scheduled_maintenances[]", "page": "page", "status": "status"}

    def fields(value, prefix: str):
        if isinstance(value, dict):
            for key, item in value.items():
                name = f"{prefix}.{key}" if prefix else key
                yield name
                yield from fields(item, prefixes.get(key, name))
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and prefix in ("components[]", "incidents[]", "incident_updates[]", "scheduled_maintenances[]"):
                    yield from fields(item, prefix)

    missing = set()
    for name in SCHEMAS:
        for field in fields(get(client, name), ""):
            leaf = field.rsplit(".", 1)[-1]
            if "." not in field or (leaf in ("code", "name", "old_status", "new_status") and "affected" in field):
                continue  # the documents' top-level keys and affected_components' own keys are named as a whole
            # Named whole (`incidents[].impact`) or in a row of its prefix (`incidents[].created_at`, `updated_at`).
            prefix = field.rsplit(".", 1)[0]
            rows = [row for row in table.splitlines() if f"`{prefix}." in row]
            if f"`{field}`" not in table and not any(f"`{leaf}`" in row for row in rows):
                missing.add(field)
    assert not missing, sorted(missing)
