"""Auto-incidents follow components' derived status (a core.events consumer, registered in apps.py)."""

from __future__ import annotations

from datetime import datetime

from core import events
from core.models import Event
from incidents import services
from incidents.models import Component


def register() -> None:
    """Called from IncidentsConfig.ready."""
    events.register("auto-incidents", topics=[services.COMPONENT_STATUS], handle=on_component_status)


def on_component_status(event: Event, now: datetime) -> None:
    if not event.payload.get("derived_changed"):
        return
    component = Component.objects.filter(pk=event.payload["component"]).first()
    if component is not None:
        services.auto_incident_evaluate(component=component, reason=event.payload.get("reason") or component.derived_status, now=now)
