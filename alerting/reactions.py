"""Alerts follow monitor state changes, and incidents page through the severity policy
(core.events consumers, registered in apps.py)."""

from __future__ import annotations

from datetime import datetime

from alerting import services
from core import events
from core.models import Event
from incidents.services import INCIDENT_CHANGED, STAKEHOLDER_UPDATE
from monitors.models import Monitor
from monitors.services import MONITOR_STATE


def register() -> None:
    """Called from AlertingConfig.ready."""
    events.register("alerting", topics=[MONITOR_STATE], handle=on_monitor_state)
    events.register("incident-paging", topics=[INCIDENT_CHANGED], handle=on_incident_changed)
    events.register("stakeholder-updates", topics=[STAKEHOLDER_UPDATE], handle=on_stakeholder_update)


def on_monitor_state(event: Event, now: datetime) -> None:
    monitor = Monitor.objects.filter(pk=event.payload["monitor"]).first()
    if monitor is None:
        return  # deleted since: nothing to alert about
    services.on_state_change(monitor=monitor, new_state=event.payload["new"], reason=event.payload.get("reason", ""), now=event.at)


def on_incident_changed(event: Event, now: datetime) -> None:
    services.incident_page(incident_id=event.payload["incident"], now=now)


def on_stakeholder_update(event: Event, now: datetime) -> None:
    services.stakeholder_notify(update_id=event.payload["stakeholder_update"], now=now)
