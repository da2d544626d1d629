from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from incidents import services


@shared_task(name="incidents.maintenance_tick")
def maintenance_tick() -> int:
    return services.maintenance_tick(now=timezone.now())


@shared_task(name="incidents.refresh_components")
def refresh_components() -> int:
    """A safety net: derived statuses also follow every state change as it happens."""
    return len(services.component_refresh(now=timezone.now()))
