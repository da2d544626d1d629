"""Incidents react to monitor state changes: component status and auto-incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from incidents import services
from incidents.models import Component


def on_monitor_state_changed(sender: Any, change: Any, now: datetime, **_: Any) -> None:
    component_id = change.monitor.component_id
    if component_id is None:
        return
    services.component_refresh(component_ids=[component_id], now=now)
    component = Component.objects.get(pk=component_id)
    services.auto_incident_evaluate(component=component, reason=change.reason or change.new_state, now=now)
