"""Rebuild pages when what they show changes; record what subscribers must hear about."""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from incidents.models import Component, Incident, Maintenance
from incidents.services import components_changed, incident_changed, maintenance_changed

log = logging.getLogger("vigil.statuspage")


def _rebuild(**_: Any) -> None:
    from statuspage.tasks import request_rebuild

    request_rebuild()


def _on_incident(sender: Any, incident: Incident, update: Any = None, **_: Any) -> None:
    from statuspage import services

    if update is not None:
        try:
            recorded = services.record_update_event(update)
        except Exception as exc:  # noqa: BLE001 - the event sweep records it later
            log.warning("subscriber event for update %s not recorded yet: %s", update.pk, exc)
        else:
            if recorded:
                _fan_out_soon()
    _rebuild()


def _fan_out_soon() -> None:
    from statuspage.tasks import subscriber_events

    try:
        subscriber_events.delay()
    except Exception as exc:  # noqa: BLE001 - the beat runs it every 30 s anyway
        log.warning("subscriber fan-out not queued (%s); the periodic run sends it", exc)


def _on_maintenance(sender: Any, maintenance: Maintenance, **_: Any) -> None:
    from statuspage import services

    try:
        recorded = services.record_maintenance_event(maintenance, now=timezone.now())
    except Exception as exc:  # noqa: BLE001 - the event sweep records it later
        log.warning("subscriber event for maintenance %s not recorded yet: %s", maintenance.pk, exc)
    else:
        if recorded:
            _fan_out_soon()
    _rebuild()


incident_changed.connect(_on_incident, sender=Incident, dispatch_uid="statuspage-incident")
maintenance_changed.connect(_on_maintenance, sender=Maintenance, dispatch_uid="statuspage-maintenance")
components_changed.connect(_rebuild, sender=Component, dispatch_uid="statuspage-components")
