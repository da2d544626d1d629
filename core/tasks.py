"""Celery tasks that run the event consumers. Thin: each calls core.events."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import close_old_connections
from django.utils import timezone

from core import events
from core.metrics import engine_phase
from core.redis_client import get_redis

log = logging.getLogger("vigil.events")

# Set while a run of the consumer is queued and has not started: more wake-ups add nothing,
# since that run will read every event committed before it starts.
QUEUED_KEY = "vigil:consumer-queued:{}"


def queue_consumer_run(name: str) -> None:
    try:
        if not get_redis().set(QUEUED_KEY.format(name), "1", nx=True, ex=30):
            return
        run_consumer.delay(name)
    except Exception as exc:  # noqa: BLE001 - broker or Redis down: beat's periodic run catches up
        log.warning("consumer %s not queued (%s); the periodic run handles its events", name, exc)


@shared_task(name="core.run_consumer", acks_late=True)
def run_consumer(name: str) -> int:
    close_old_connections()
    try:
        get_redis().delete(QUEUED_KEY.format(name))
    except Exception:  # noqa: BLE001 - the run itself does not need Redis
        pass
    with engine_phase("reactions"):
        return events.run(name, now=timezone.now())


@shared_task(name="core.run_consumers")
def run_consumers() -> int:
    """The safety net behind the after-commit wake-ups (broker down, a worker killed mid-run)."""
    with engine_phase("reactions"):
        return sum(events.run(item.name, now=timezone.now(), seconds=5.0) for item in events.consumers())


@shared_task(name="core.prune_events")
def prune_events() -> int:
    return events.prune(now=timezone.now())
