"""Celery tasks of the engine. Thin: parse, call a service. Idempotent: a retry is harmless."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime

from celery import shared_task
from django.db import close_old_connections
from django.utils import timezone

from monitors import rollups, services
from monitors.checkers import run_check
from monitors.checkers.base import CheckSession, down
from monitors.models import Monitor

log = logging.getLogger("vigil.engine")

_pool: ThreadPoolExecutor | None = None
_sessions: dict[str, CheckSession] = {}
_pool_lock = threading.Lock()
POOL_SIZE = 32


def _executor(region: str) -> tuple[ThreadPoolExecutor, CheckSession]:
    """One thread pool per worker process, and one set of keep-alive clients per region it checks
    from (the session carries the region: metric windows are kept per monitor and region)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="vigil-check")
        if region not in _sessions:
            _sessions[region] = CheckSession(region=region)
        return _pool, _sessions[region]


def check_batch(items: list[list[object]], region: str, now: datetime | None = None) -> int:
    """Run a batch of (monitor id, slot) checks concurrently, then record them in one transaction."""
    slots = {int(monitor_id): datetime.fromisoformat(str(slot)) for monitor_id, slot in items}  # type: ignore[call-overload]
    monitors = Monitor.objects.in_bulk(list(slots))
    pool, session = _executor(region)
    started = now or timezone.now()
    futures = {pool.submit(run_check, monitor, session, started): monitor for monitor in monitors.values()}
    # Every checker bounds itself; this is the backstop for one that does not.
    longest = max((m.timeout_seconds for m in monitors.values()), default=1.0)
    done, _not_done = wait(futures, timeout=longest + 5)
    checked = []
    for future, monitor in futures.items():
        if future in done:
            result = future.result()
        else:
            result = down(f"check did not finish within {longest + 5:g}s")
        checked.append(services.Checked(monitor.pk, slots[monitor.pk], result))
    services.record_results(region_name=region, checked=checked, now=timezone.now())
    return len(checked)


@shared_task(name="monitors.run_check_batch", acks_late=True, reject_on_worker_lost=True)
def run_check_batch(items: list[list[object]], region: str) -> int:
    close_old_connections()
    return check_batch(items, region)


@shared_task(name="monitors.refresh_components")
def refresh_components() -> int:
    """A safety net: components also follow every monitor state change as it happens (the components consumer)."""
    return services.components_refresh(now=timezone.now())


@shared_task(name="monitors.update_rollups")
def update_rollups() -> int:
    return rollups.refresh_recent(now=timezone.now())


@shared_task(name="monitors.prune_raw_results")
def prune_raw_results() -> int:
    return rollups.prune_raw(now=timezone.now())


@shared_task(name="monitors.drain_pings", acks_late=True)
def drain_pings() -> int:
    from monitors import pings

    close_old_connections()
    return pings.drain(now=timezone.now())
