"""Alerts follow monitor state changes (a core.events consumer, registered in apps.py)."""

from __future__ import annotations

from datetime import datetime

from alerting import services
from core import events
from core.models import Event
from monitors.models import Monitor
from monitors.services import MONITOR_STATE


def register() -> None:
    """Called from AlertingConfig.ready."""
    events.register("alerting", topics=[MONITOR_STATE], handle=on_monitor_state)


def on_monitor_state(event: Event, now: datetime) -> None:
    monitor = Monitor.objects.filter(pk=event.payload["monitor"]).first()
    if monitor is None:
        return  # deleted since: nothing to alert about
    services.on_state_change(monitor=monitor, new_state=event.payload["new"], reason=event.payload.get("reason", ""), now=event.at)
