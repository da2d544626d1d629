"""Status pages follow incidents, maintenance and component status (a core.events consumer).

Each event records what subscribers must hear (SubscriberEvent, in the event's
transaction) and, after commit, asks for a debounced rebuild of the pages.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction

from core import events
from core.models import Event
from incidents.models import IncidentUpdate, Maintenance
from incidents.services import COMPONENT_STATUS, INCIDENT_CHANGED, MAINTENANCE_CHANGED
from statuspage import services
from statuspage.tasks import request_rebuild, subscriber_events

log = logging.getLogger("vigil.statuspage")

TOPICS = (INCIDENT_CHANGED, MAINTENANCE_CHANGED, COMPONENT_STATUS)


def register() -> None:
    """Called from StatusPageConfig.ready."""
    events.register("statuspage", topics=TOPICS, handle=on_event)


def on_event(event: Event, now: datetime) -> None:
    recorded = None
    if event.topic == INCIDENT_CHANGED and event.payload.get("update"):
        update = IncidentUpdate.objects.select_related("incident").filter(pk=event.payload["update"]).first()
        recorded = services.record_update_event(update) if update is not None else None
    elif event.topic == MAINTENANCE_CHANGED:
        maintenance = Maintenance.objects.filter(pk=event.payload["maintenance"]).first()
        if maintenance is not None:
            recorded = services.record_maintenance_event(maintenance, status=event.payload.get("status"), now=event.at)
    elif event.topic == COMPONENT_STATUS and not event.payload.get("status_changed"):
        return  # only the derived status moved: nothing a page shows
    transaction.on_commit(request_rebuild)
    if recorded is not None:
        transaction.on_commit(_fan_out_soon)


def _fan_out_soon() -> None:
    try:
        subscriber_events.delay()
    except Exception as exc:  # noqa: BLE001 - the beat runs it every 30 s anyway
        log.warning("subscriber fan-out not queued (%s); the periodic run sends it", exc)
