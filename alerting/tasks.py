from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from alerting import services


@shared_task(name="alerting.tick")
def tick() -> dict[str, int]:
    return services.tick(now=timezone.now())


@shared_task(name="alerting.deliver_notifications", acks_late=True)
def deliver_notifications() -> int:
    sent = 0
    for notification_id in services.claim_due(now=timezone.now()):
        services.deliver(notification_id=notification_id, now=timezone.now())
        sent += 1
    return sent


@shared_task(name="alerting.incident_targets")
def incident_targets() -> int:
    return services.incident_targets_check(now=timezone.now())
