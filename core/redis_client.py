"""A shared Redis client for Vigil's own keys (heartbeats, locks, beat ticks)."""

from __future__ import annotations

import functools

import redis
from django.conf import settings


@functools.lru_cache(maxsize=8)
def _client(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30)


def get_redis(url: str | None = None) -> redis.Redis:
    """Client for REDIS_URL (or url), with the short timeouts a health check needs."""
    return _client(url or settings.REDIS_URL, settings.VIGIL_REDIS_TIMEOUT)


def broker_redis_url() -> str:
    """The broker URL in the form redis-py understands."""
    return settings.CELERY_BROKER_URL.replace("redis+socket://", "unix://", 1)


WORKER_KEY_PREFIX = "vigil:worker:"
BEAT_TICK_KEY = "vigil:beat:last_tick"
BEAT_LOCK_KEY = "vigil:beat:lock"


# Policies under which Redis deletes keys when it is full: queued checks, pending
# notifications and locks would vanish without an error.
EVICTING_POLICIES = {"allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"}


def eviction_problem(url: str | None = None) -> str | None:
    """A sentence saying what to change when the broker Redis may evict keys, else None.

    Managed Redis services often forbid CONFIG GET: then nothing can be said here."""
    client = get_redis(url or broker_redis_url())
    try:
        config = client.config_get("maxmemory*")
    except redis.ResponseError:
        return None
    policy = str(config.get("maxmemory-policy", "noeviction"))
    limit = int(config.get("maxmemory", 0) or 0)
    if limit and policy in EVICTING_POLICIES:
        return (f"the broker Redis evicts keys when full (maxmemory {limit} bytes, maxmemory-policy {policy}): queued checks "
                "and notifications could vanish; set maxmemory-policy noeviction (redis.conf, or CONFIG SET maxmemory-policy "
                "noeviction)")
    return None
