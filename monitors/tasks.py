"""Celery tasks of the engine. Thin: parse, call a service. Idempotent: a retry is harmless."""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FuturesTimeout
from datetime import datetime

from celery import shared_task
from celery.signals import worker_process_shutdown
from django.db import close_old_connections
from django.utils import timezone

from core.metrics import engine_phase
from monitors import rollups, services
from monitors.checkers import ASYNC_KINDS, run_check, run_check_async
from monitors.checkers.base import CheckSession, Result, down
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


@worker_process_shutdown.connect
def close_sessions(**_: object) -> None:
    """Close every region's clients (the aiohttp session on its loop, keep-alive connections)
    when the worker process or the interpreter ends, instead of leaving aiohttp to complain."""
    with _pool_lock:
        sessions = list(_sessions.values())
        _sessions.clear()
    for session in sessions:
        try:
            session.close()
        except Exception:  # a loop already gone at exit: nothing left to close
            log.debug("closing a check session failed", exc_info=True)


atexit.register(close_sessions)


def check_batch(items: list[list[object]], region: str, now: datetime | None = None) -> int:
    """Run a batch of (monitor id, slot) checks concurrently, then record them in one transaction.

    HTTP checks run together on the session's event loop (one thread, every request in flight at
    once); the other kinds in the thread pool."""
    slots = {int(monitor_id): datetime.fromisoformat(str(slot)) for monitor_id, slot in items}  # type: ignore[call-overload]
    with engine_phase("io"):
        monitors = Monitor.objects.in_bulk(list(slots))
        pool, session = _executor(region)
        started = now or timezone.now()
        on_loop = [monitor for monitor in monitors.values() if monitor.kind in ASYNC_KINDS]
        futures = {pool.submit(run_check, monitor, session, started): monitor for monitor in monitors.values() if monitor.kind not in ASYNC_KINDS}
        # Every checker bounds itself; this is the backstop for one that does not.
        longest = max((m.timeout_seconds for m in monitors.values()), default=1.0)
        results: dict[int, Result] = {}
        if on_loop:
            gathered = asyncio.run_coroutine_threadsafe(_run_on_loop(on_loop, session, started), session.loop)
            try:
                results.update(gathered.result(timeout=longest + 5))
            except FuturesTimeout:
                gathered.cancel()
        done, _not_done = wait(futures, timeout=longest + 5)
        for future, monitor in futures.items():
            if future in done:
                results[monitor.pk] = future.result()
        checked = [services.Checked(monitor.pk, slots[monitor.pk], results.get(monitor.pk) or down(f"check did not finish within {longest + 5:g}s"))
                   for monitor in monitors.values()]
    with engine_phase("result_write"):
        services.record_results(region_name=region, checked=checked, now=timezone.now(), monitors=monitors)
    return len(checked)


async def _run_on_loop(monitors: list[Monitor], session: CheckSession, now: datetime) -> dict[int, Result]:
    results = await asyncio.gather(*(run_check_async(monitor, session, now) for monitor in monitors))
    return {monitor.pk: result for monitor, result in zip(monitors, results, strict=True)}


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
