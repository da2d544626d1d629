"""Snapshot rebuilds (on change, debounced, and every minute) and subscriber delivery."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from core.redis_client import get_redis
from statuspage import services

log = logging.getLogger("vigil.statuspage")
REBUILD_PENDING_KEY = "statuspage:rebuild-pending"
# Changes that land within this window are folded into one rebuild.
REBUILD_DEBOUNCE_SECONDS = 1


def request_rebuild(slugs: list[str] | None = None) -> None:
    """Ask for a rebuild soon; a burst of changes costs one rebuild, not one each."""

    try:
        first = get_redis().set(REBUILD_PENDING_KEY, "1", nx=True, ex=REBUILD_DEBOUNCE_SECONDS + 5)
        if first:
            rebuild_status_pages.apply_async(countdown=REBUILD_DEBOUNCE_SECONDS)
    except Exception as exc:  # noqa: BLE001 - the minute rebuild catches up
        log.warning("status page rebuild not queued (%s); the periodic rebuild will catch up", exc)


@shared_task(name="statuspage.rebuild_status_pages", acks_late=True)
def rebuild_status_pages() -> int:

    try:
        get_redis().delete(REBUILD_PENDING_KEY)
    except Exception:  # noqa: BLE001
        pass
    return rebuild_all()


@shared_task(name="statuspage.rebuild_all")
def rebuild_all_task() -> int:
    return rebuild_all()


def rebuild_all() -> int:
    from statuspage.live import push_changed
    from statuspage.models import StatusPage
    from statuspage.snapshot import publish_routes, rebuild

    publish_routes()
    built = 0
    for page in StatusPage.objects.all():
        try:
            docs = rebuild(page)
        except Exception:
            log.exception("status page %s could not be rebuilt; its last good copy stays up", page.slug)
            continue
        push_changed(page.slug, docs["live.html"].etag)
        built += 1
    return built


@shared_task(name="statuspage.subscriber_events")
def subscriber_events() -> int:
    now = timezone.now()
    made = services.fan_out(now=now)
    if made:
        deliver_due.delay()
    return made


@shared_task(name="statuspage.deliver_due", acks_late=True)
def deliver_due() -> int:
    """Send what is due, at most VIGIL_SUBSCRIBER_SEND_RATE per second of the beat period (5 s)."""
    now = timezone.now()
    sent = 0
    for delivery_id in services.claim_due(now=now, limit=services.delivery_rate() * 5):
        services.deliver(delivery_id=delivery_id, now=timezone.now())
        sent += 1
    return sent
