"""Celery tasks of the engine. Thin: parse, call a service. Idempotent: a retry is harmless."""

from __future__ import annotations

import asyncio
import atexit
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from celery import shared_task
from celery.signals import worker_process_shutdown
from django.db import close_old_connections
from django.utils import timezone

from core.metrics import count_engine_seconds
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


# A batch's results are written as they come: at least WRITE_AT_ONCE finished checks, or all that are
# left, or what has finished once the first of them has waited STRAGGLER_SECONDS for slower ones. The
# checks still in flight go on meanwhile (HTTP on the loop, other kinds in the pool), so a batch's
# writing overlaps its own I/O and one slow target no longer holds back the others' results until
# its timeout.
WRITE_AT_ONCE = 50
STRAGGLER_SECONDS = 1.0


def check_batch(items: list[list[object]], region: str, now: datetime | None = None) -> int:
    """Run a batch of (monitor id, slot) checks concurrently and record them as they finish.

    HTTP checks run together on the session's event loop (one thread, every request in flight at
    once); the other kinds in the thread pool. Each write is one transaction (record_results); a
    redelivered batch skips the slots already applied."""
    slots = {int(monitor_id): datetime.fromisoformat(str(slot)) for monitor_id, slot in items}  # type: ignore[call-overload]
    batch_cpu, batch_wall = time.process_time(), time.monotonic()
    write_cpu = write_wall = 0.0
    monitors = Monitor.objects.in_bulk(list(slots))
    pool, session = _executor(region)
    started = now or timezone.now()
    finished: queue.SimpleQueue[tuple[int, Result]] = queue.SimpleQueue()
    on_loop = [monitor for monitor in monitors.values() if monitor.kind in ASYNC_KINDS]
    gathered = asyncio.run_coroutine_threadsafe(_run_on_loop(on_loop, session, started, finished), session.loop) if on_loop else None
    for monitor in monitors.values():
        if monitor.kind not in ASYNC_KINDS:
            pool.submit(_run_in_pool, monitor, session, started, finished)
    # Every checker bounds itself; this is the backstop for one that does not.
    longest = max((m.timeout_seconds for m in monitors.values()), default=1.0) + 5
    deadline = time.monotonic() + longest
    pending = set(monitors)
    while pending:
        ready = _collect(finished, pending, deadline)
        if not ready:  # past the deadline: what is still running is down
            if gathered is not None:
                gathered.cancel()
            ready = {pk: down(f"check did not finish within {longest:g}s") for pk in pending}
        pending -= ready.keys()
        checked = [services.Checked(pk, slots[pk], result) for pk, result in ready.items()]
        cpu, wall = time.thread_time(), time.monotonic()
        services.record_results(region_name=region, checked=checked, now=timezone.now(), monitors=monitors)
        write_cpu, write_wall = write_cpu + time.thread_time() - cpu, write_wall + time.monotonic() - wall
    # Where the batch's time went: writing is this thread's CPU while it wrote; I/O is the rest of the
    # process's CPU (the loop and pool threads, running on while a write goes on) and of the wall time.
    count_engine_seconds("result_write", cpu=write_cpu, wall=write_wall)
    count_engine_seconds("io", cpu=time.process_time() - batch_cpu - write_cpu, wall=time.monotonic() - batch_wall - write_wall)
    return len(monitors)


def _collect(finished: queue.SimpleQueue[tuple[int, Result]], pending: set[int], deadline: float) -> dict[int, Result]:
    """Wait for the next results to write (see WRITE_AT_ONCE); empty once the deadline has passed."""
    ready: dict[int, Result] = {}
    first_at: float | None = None
    while len(ready) < min(WRITE_AT_ONCE, len(pending)):
        wait_until = deadline if first_at is None else min(deadline, first_at + STRAGGLER_SECONDS)
        try:
            pk, result = finished.get(timeout=max(0.0, wait_until - time.monotonic()))
        except queue.Empty:
            break
        if pk in pending:
            ready[pk] = result
            first_at = first_at or time.monotonic()
    while True:  # and whatever else has finished meanwhile
        try:
            pk, result = finished.get_nowait()
        except queue.Empty:
            return ready
        if pk in pending:
            ready[pk] = result


def _run_in_pool(monitor: Monitor, session: CheckSession, now: datetime, finished: queue.SimpleQueue[tuple[int, Result]]) -> None:
    finished.put((monitor.pk, run_check(monitor, session, now)))


async def _run_on_loop(monitors: list[Monitor], session: CheckSession, now: datetime,
                       finished: queue.SimpleQueue[tuple[int, Result]]) -> None:
    async def one(monitor: Monitor) -> None:
        finished.put((monitor.pk, await run_check_async(monitor, session, now)))

    await asyncio.gather(*(one(monitor) for monitor in monitors))


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
