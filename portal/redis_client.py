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
