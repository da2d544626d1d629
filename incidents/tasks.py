from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from incidents import services


@shared_task(name="incidents.maintenance_tick")
def maintenance_tick() -> int:
    return services.maintenance_tick(now=timezone.now())
