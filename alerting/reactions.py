"""Alerts follow monitor state changes, and incidents page through the severity policy
(core.events consumers, registered in apps.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from alerting import services
from alerting.models import AlertRule
from core import events
from core.models import Event
from incidents.services import INCIDENT_CHANGED, STAKEHOLDER_UPDATE
from monitors.models import Monitor
from monitors.services import MONITOR_STATE


def register() -> None:
    """Called from AlertingConfig.ready."""
    events.register("alerting", topics=[MONITOR_STATE], handle=on_monitor_state, prepare=prepare_monitor_states)
    events.register("incident-paging", topics=[INCIDENT_CHANGED], handle=on_incident_changed)
    events.register("stakeholder-updates", topics=[STAKEHOLDER_UPDATE], handle=on_stakeholder_update)


def on_monitor_state(event: Event, now: datetime) -> None:
    read = events.prepared()
    monitor_id = event.payload["monitor"]
    if isinstance(read, ChunkRead) and monitor_id in read.monitors:
        monitor = read.monitors[monitor_id]
    else:
        monitor = Monitor.objects.filter(pk=monitor_id).first()
    if monitor is None:
        return  # deleted since: nothing to alert about
    services.on_state_change(monitor=monitor, new_state=event.payload["new"], reason=event.payload.get("reason", ""), now=event.at,
                             rules=read.rules if isinstance(read, ChunkRead) else None)


def on_incident_changed(event: Event, now: datetime) -> None:
    services.incident_page(incident_id=event.payload["incident"], now=now)


def on_stakeholder_update(event: Event, now: datetime) -> None:
    services.stakeholder_notify(update_id=event.payload["stakeholder_update"], now=now)


@dataclass
class ChunkRead:
    """What the alerting consumer reads once for a chunk of state changes (core.events handles up to
    50 in one transaction): the enabled rules and the chunk's monitors with their tags. Four rule
    queries and two monitor queries per state change saved in a storm."""

    rules: list[AlertRule]
    monitors: dict[int, Monitor | None]  # None: deleted since


def prepare_monitor_states(chunk: Sequence[Event]) -> ChunkRead:
    ids = {event.payload["monitor"] for event in chunk}
    found = Monitor.objects.filter(pk__in=ids).prefetch_related("tags").in_bulk()
    return ChunkRead(rules=services.enabled_rules(), monitors={pk: found.get(pk) for pk in ids})
