"""Statuspage-compatible (Atlassian Statuspage public API v2) JSON documents.

Field names, enum values and nesting follow the public v2 API so existing widgets,
bots and clients read Vigil's pages unchanged. Ids are strings; timestamps are
ISO-8601 with the page's UTC offset. Built from PageData, never from a request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from incidents.models import STATUS_RANK, Component, ComponentGroup, ComponentStatus, Incident, IncidentUpdate, Maintenance
from lib.status_headline import headline


@dataclass
class PageData:
    """Everything a page shows, read once per build (public rows only)."""

    page: Any  # StatusPage
    url: str
    now: datetime
    groups: list[ComponentGroup]
    components: list[Component]  # in page order
    incidents: list[Incident]  # public, relevant to the page, newest first, updates prefetched
    maintenances: list[Maintenance]  # public, relevant, by start
    incident_url: dict[int, str] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.page.time_zone)

    @property
    def updated_at(self) -> datetime:
        stamps = [self.page.updated_at] + [c.status_changed_at or c.created_at for c in self.components]
        stamps += [i.updated_at for i in self.incidents[:1]]
        return max(s for s in stamps if s)


def stamp(value: datetime | None, tz: ZoneInfo) -> str | None:
    return value.astimezone(tz).isoformat(timespec="milliseconds") if value else None


def overall_status(data: PageData) -> dict[str, str]:
    """Statuspage's top-level status (lib/status_headline.py has the table)."""
    result = headline([c.status for c in data.components], [i.impact for i in data.incidents if i.is_open])
    return {"indicator": result.indicator, "description": result.description}


def page_json(data: PageData) -> dict[str, Any]:
    return {
        "id": data.page.slug,
        "name": data.page.title,
        "url": data.url,
        "time_zone": data.page.time_zone,
        "updated_at": stamp(data.updated_at, data.tz),
    }


def group_id(group: ComponentGroup) -> str:
    return f"group-{group.pk}"


def component_json(component: Component, data: PageData, position: int) -> dict[str, Any]:
    visible_group = component.group if component.group and component.group.is_public else None
    return {
        "id": str(component.pk),
        "name": component.name,
        "status": component.status,
        "created_at": stamp(component.created_at, data.tz),
        "updated_at": stamp(component.status_changed_at or component.created_at, data.tz),
        "position": position,
        "description": component.description or None,
        "showcase": True,
        "start_date": component.created_at.astimezone(data.tz).date().isoformat(),
        "group_id": group_id(visible_group) if visible_group else None,
        "page_id": data.page.slug,
        "group": False,
        "only_show_if_degraded": False,
    }


def components_json(data: PageData) -> list[dict[str, Any]]:
    """Components and their groups, each group listing its members' ids (as Statuspage does)."""
    rows: list[dict[str, Any]] = []
    members: dict[int, list[Component]] = {}
    for component in data.components:
        if component.group and component.group.is_public:
            members.setdefault(component.group.pk, []).append(component)
    position = 0
    for group in data.groups:
        if group.pk not in members:
            continue
        position += 1
        statuses = [c.status for c in members[group.pk]]
        rows.append({
            "id": group_id(group),
            "name": group.name,
            "status": max(statuses, key=STATUS_RANK.__getitem__),
            "created_at": stamp(min(c.created_at for c in members[group.pk]), data.tz),
            "updated_at": stamp(max(c.status_changed_at or c.created_at for c in members[group.pk]), data.tz),
            "position": position,
            "description": group.description or None,
            "showcase": False,
            "start_date": None,
            "group_id": None,
            "page_id": data.page.slug,
            "group": True,
            "only_show_if_degraded": False,
            "components": [str(c.pk) for c in members[group.pk]],
        })
    for component in data.components:
        position += 1
        rows.append(component_json(component, data, position))
    return rows


def _affected(update: IncidentUpdate, previous: dict[int, str], visible: set[int]) -> list[dict[str, str]] | None:
    affected = []
    for item in update.affected_components or []:
        component_id = item.get("component")
        if component_id not in visible:
            continue  # a private component, or one this page does not show
        affected.append({
            "code": str(component_id),
            "name": item.get("name", ""),
            "old_status": previous.get(component_id, ComponentStatus.OPERATIONAL),
            "new_status": item.get("status", ComponentStatus.OPERATIONAL),
        })
        previous[component_id] = item.get("status", ComponentStatus.OPERATIONAL)
    return affected or None


def incident_json(incident: Incident, data: PageData) -> dict[str, Any]:
    visible = {c.pk: c for c in data.components}
    previous: dict[int, str] = {}
    updates = []
    for update in sorted(incident.updates.all(), key=lambda u: (u.created_at, u.pk)):
        updates.append({
            "id": str(update.pk),
            "status": update.status,
            "body": update.message,
            "incident_id": str(incident.pk),
            "created_at": stamp(update.created_at, data.tz),
            "updated_at": stamp(update.edited_at or update.created_at, data.tz),
            "display_at": stamp(update.created_at, data.tz),
            "affected_components": _affected(update, previous, set(visible)),
            "deliver_notifications": update.notify_subscribers,
            "custom_tweet": None,
            "tweet_id": None,
        })
    updates.reverse()  # newest first, as Statuspage lists them
    affected_components = [visible[cid] for cid in getattr(incident, "component_ids", []) if cid in visible]
    positions = {c.pk: index for index, c in enumerate(data.components, start=1)}
    return {
        "id": str(incident.pk),
        "name": incident.title,
        "status": incident.status if incident.status != Incident.Status.POSTMORTEM else "postmortem",
        "created_at": stamp(incident.created_at, data.tz),
        "updated_at": stamp(incident.updated_at, data.tz),
        "monitoring_at": stamp(incident.monitoring_at, data.tz),
        "resolved_at": stamp(incident.resolved_at, data.tz),
        "impact": incident.impact,
        "shortlink": data.incident_url.get(incident.pk, data.url),
        "started_at": stamp(incident.started_at, data.tz),
        "page_id": data.page.slug,
        "incident_updates": updates,
        "components": [component_json(c, data, positions[c.pk]) for c in affected_components],
    }


def maintenance_id(maintenance: Maintenance) -> str:
    return f"maintenance-{maintenance.pk}"


def maintenance_json(maintenance: Maintenance, data: PageData) -> dict[str, Any]:
    visible = {c.pk: c for c in data.components}
    positions = {c.pk: index for index, c in enumerate(data.components, start=1)}
    shown = [visible[c.pk] for c in maintenance.components.all() if c.pk in visible]
    codes = [{"code": str(c.pk), "name": c.name, "old_status": "operational", "new_status": "under_maintenance"} for c in shown]
    # Maintenance has no written timeline: each step it has taken is an update.
    steps = [("scheduled", maintenance.created_at, maintenance.message or f"{maintenance.title} is scheduled.")]
    if maintenance.started_at:
        steps.append(("in_progress", maintenance.started_at, "Scheduled maintenance is in progress."))
    if maintenance.status == Maintenance.Status.VERIFYING:
        steps.append(("verifying", maintenance.started_at or maintenance.starts_at, "Maintenance work is done; we are verifying."))
    if maintenance.completed_at:
        steps.append(("completed", maintenance.completed_at, "The scheduled maintenance has been completed."))
    # Steps happen in this order: a step is never shown before the one it follows (rows
    # written before one clock read per action, or edited by hand, may say otherwise), so
    # the updates are newest-first by their own timestamps, always.
    for index in range(1, len(steps)):
        status, at, body = steps[index]
        steps[index] = (status, max(at, steps[index - 1][1]), body)
    updates = [{
        "id": f"{maintenance_id(maintenance)}-{status}",
        "status": status,
        "body": body,
        "incident_id": maintenance_id(maintenance),
        "created_at": stamp(at, data.tz),
        "updated_at": stamp(at, data.tz),
        "display_at": stamp(at, data.tz),
        "affected_components": codes or None,
        "deliver_notifications": True,
        "custom_tweet": None,
        "tweet_id": None,
    } for status, at, body in reversed(steps)]
    updated = max(at for _status, at, _body in steps)
    return {
        "id": maintenance_id(maintenance),
        "name": maintenance.title,
        "status": maintenance.status,
        "created_at": stamp(maintenance.created_at, data.tz),
        "updated_at": stamp(updated, data.tz),
        "monitoring_at": None,
        "resolved_at": stamp(maintenance.completed_at, data.tz),
        "impact": "maintenance",
        "shortlink": data.url,
        "started_at": stamp(maintenance.started_at or maintenance.starts_at, data.tz),
        "page_id": data.page.slug,
        "incident_updates": updates,
        "components": [component_json(c, data, positions[c.pk]) for c in shown],
        "scheduled_for": stamp(maintenance.starts_at, data.tz),
        "scheduled_until": stamp(maintenance.ends_at, data.tz),
    }


def documents(data: PageData) -> dict[str, dict[str, Any]]:
    """The eight v2 documents, by their path under api/v2/."""
    page = page_json(data)
    status = overall_status(data)
    components = components_json(data)
    incidents = [incident_json(i, data) for i in data.incidents[:50]]
    unresolved_json = [incident_json(i, data) for i in data.incidents if i.is_open]
    maintenances = [maintenance_json(m, data) for m in data.maintenances]
    upcoming = [m for m in maintenances if m["status"] == "scheduled"]
    active = [m for m in maintenances if m["status"] in ("in_progress", "verifying")]
    return {
        "summary.json": {"page": page, "components": components, "incidents": unresolved_json,
                         "scheduled_maintenances": active + upcoming, "status": status},
        "status.json": {"page": page, "status": status},
        "components.json": {"page": page, "components": components},
        "incidents.json": {"page": page, "incidents": incidents},
        "incidents/unresolved.json": {"page": page, "incidents": unresolved_json},
        "scheduled-maintenances.json": {"page": page, "scheduled_maintenances": maintenances[-50:][::-1]},
        "scheduled-maintenances/upcoming.json": {"page": page, "scheduled_maintenances": upcoming},
        "scheduled-maintenances/active.json": {"page": page, "scheduled_maintenances": active},
    }
