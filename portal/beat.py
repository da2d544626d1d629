"""Celery beat scheduler with a single-beat lock and a tick heartbeat.

Two beats started by mistake must not both dispatch: each tick the scheduler
takes or renews a short Redis lock; a beat that does not hold it stands by and
takes over when the holder stops renewing. Each tick also records its time, which
/health reports as beat lag.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from celery.beat import PersistentScheduler

from core.redis_client import BEAT_LOCK_KEY, BEAT_TICK_KEY, get_redis

log = logging.getLogger("vigil.beat")
LOCK_SECONDS = 10
# The dispatcher ticks at least this often; a due slot waits at most this long.
TICK_SECONDS = 0.5
CLAIM_LIMIT_FULL = 2000  # monitors.services.CLAIM_LIMIT

# Renew only when we still hold the lock: compare-and-set in one round trip.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('expire', KEYS[1], ARGV[2])
end
return 0
"""


# Monitors scheduled too far ahead are looked for this often, and at once after a step back.
RESCHEDULE_SECONDS = 60


def clock_stepped_back(last_wall: float | None, last_steady: float | None, wall: float, steady: float, *, tolerance: float = 2.0) -> bool:
    """The wall clock moved back against the monotonic clock since the last tick (NTP step, manual change)."""
    if last_wall is None or last_steady is None:
        return False
    return (wall - last_wall) < (steady - last_steady) - tolerance


class VigilScheduler(PersistentScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        import django

        django.setup()
        self.identity = f"{socket.gethostname()}:{os.getpid()}"
        self.holds_lock = False
        self.last_wall: float | None = None
        self.last_steady: float | None = None
        self.last_reschedule = float("-inf")
        super().__init__(*args, **kwargs)

    def dispatch(self) -> None:
        """The dispatcher tick: claim due monitors and enqueue their checks."""
        from django.db import close_old_connections, connection
        from django.utils import timezone

        # Celery loads this scheduler before Django's apps are ready; models load here, at the first tick.
        from monitors.services import dispatch_due

        close_old_connections()
        try:
            self.repair_schedule(time.time(), time.monotonic())
            while dispatch_due(now=timezone.now()) >= CLAIM_LIMIT_FULL:
                pass  # a full claim means more are due: keep going within this tick
        except Exception as exc:  # noqa: BLE001 - database or broker down: retry next tick
            log.warning("dispatcher tick failed: %s", exc)
            connection.close()

    def repair_schedule(self, wall: float, steady: float) -> bool:
        """After a step back of the clock (and once a minute anyway), bring slots left far ahead back to now."""
        from django.utils import timezone

        from monitors.services import reschedule_far_slots  # after Django's apps are ready, as above

        stepped_back = clock_stepped_back(self.last_wall, self.last_steady, wall, steady)
        self.last_wall, self.last_steady = wall, steady
        if not stepped_back and steady - self.last_reschedule < RESCHEDULE_SECONDS:
            return False
        reschedule_far_slots(now=timezone.now())
        self.last_reschedule = steady
        return True

    def _take_lock(self) -> bool:
        client = get_redis()
        if client.set(BEAT_LOCK_KEY, self.identity, nx=True, ex=LOCK_SECONDS):
            return True
        return bool(client.eval(_RENEW, 1, BEAT_LOCK_KEY, self.identity, LOCK_SECONDS))

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            holds = self._take_lock()
        except Exception as exc:  # noqa: BLE001 - Redis down: nothing can be dispatched anyway
            log.warning("beat cannot reach Redis (%s); retrying", exc)
            return 1.0
        if holds != self.holds_lock:
            log.warning("beat %s %s the single-beat lock", self.identity, "took" if holds else "lost")
            self.holds_lock = holds
        if not holds:
            return 1.0
        try:
            get_redis().set(BEAT_TICK_KEY, repr(time.time()), ex=3600)
        except Exception:  # noqa: BLE001
            pass
        started = time.monotonic()
        self.dispatch()
        spent = time.monotonic() - started
        return max(0.0, min(super().tick(*args, **kwargs), TICK_SECONDS - spent))

    def close(self) -> None:
        try:
            if self.holds_lock and get_redis().get(BEAT_LOCK_KEY) == self.identity.encode():
                get_redis().delete(BEAT_LOCK_KEY)
        except Exception:  # noqa: BLE001
            pass
        super().close()
