"""Alerts follow monitor state changes (a core.events consumer, registered in apps.py)."""

from __future__ import annotations

from datetime import datetime

from alerting import services
from core.models import Event
from monitors.models import Monitor


def on_monitor_state(event: Event, now: datetime) -> None:
    monitor = Monitor.objects.filter(pk=event.payload["monitor"]).first()
    if monitor is None:
        return  # deleted since: nothing to alert about
    services.on_state_change(monitor=monitor, new_state=event.payload["new"], reason=event.payload.get("reason", ""), now=event.at)
