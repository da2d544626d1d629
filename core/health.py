"""Vigil's own health: database, cache, broker, workers and beat.

Each check runs in its own thread with a deadline, so /health answers within
VIGIL_HEALTH_TIMEOUT (plus a little) even when a dependency hangs. A check that
misses the deadline is reported as such, never waited for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from core.redis_client import BEAT_TICK_KEY, WORKER_KEY_PREFIX, broker_redis_url, get_redis

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"
_RANK = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}

# A dependency that fails makes Vigil at most this unhealthy: without a database or
# a broker no check runs; without cache, workers or beat the rest still serves.
SEVERITY_WHEN_FAILING = {
    "database": UNHEALTHY,
    "broker": UNHEALTHY,
    "cache": DEGRADED,
    "workers": DEGRADED,
    "beat": DEGRADED,
}
BEAT_STALE_SECONDS = 30
PROCESS_STARTED = time.monotonic()


def _timed(probe: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    result = probe()
    result.setdefault("status", HEALTHY)
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200]


def check_database() -> dict[str, Any]:
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"status": HEALTHY, "vendor": connection.vendor}
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return {"status": UNHEALTHY, "error": _error(exc)}
    finally:
        connection.close()


def check_cache() -> dict[str, Any]:
    from django.core.cache import cache

    try:
        key = "vigil:health:probe"
        cache.set(key, "1", 10)
        if cache.get(key) != "1":
            return {"status": DEGRADED, "error": "cache did not return the value just written"}
        return {"status": HEALTHY}
    except Exception as exc:  # noqa: BLE001
        return {"status": DEGRADED, "error": _error(exc)}


def check_broker() -> dict[str, Any]:
    from core.redis_client import eviction_problem

    try:
        get_redis(broker_redis_url()).ping()
        problem = eviction_problem()
    except Exception as exc:  # noqa: BLE001
        return {"status": UNHEALTHY, "error": _error(exc)}
    if problem:
        return {"status": DEGRADED, "error": problem}
    return {"status": HEALTHY}


def check_workers() -> dict[str, Any]:
    try:
        names = [key.decode().removeprefix(WORKER_KEY_PREFIX) for key in get_redis().scan_iter(f"{WORKER_KEY_PREFIX}*", count=100)]
    except Exception as exc:  # noqa: BLE001
        return {"status": DEGRADED, "error": _error(exc)}
    if not names:
        return {"status": DEGRADED, "count": 0, "error": "no worker has reported in the last 30 s; start one (make run, or celery -A portal worker)"}
    return {"status": HEALTHY, "count": len(names), "names": sorted(names)}


def check_beat() -> dict[str, Any]:
    try:
        value = get_redis().get(BEAT_TICK_KEY)
    except Exception as exc:  # noqa: BLE001
        return {"status": DEGRADED, "last_tick_age_seconds": None, "error": _error(exc)}
    if value is None:
        return {"status": DEGRADED, "last_tick_age_seconds": None, "error": "beat has not ticked yet; start it (make run, or celery -A portal beat)"}
    age = round(max(0.0, time.time() - float(value)), 1)
    if age > BEAT_STALE_SECONDS:
        return {"status": DEGRADED, "last_tick_age_seconds": age, "error": f"beat last ticked {age:.0f}s ago"}
    return {"status": HEALTHY, "last_tick_age_seconds": age}


CHECKS: dict[str, Callable[[], dict[str, Any]]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "workers": check_workers,
    "beat": check_beat,
}
# What /health runs; apps above core add their own checks with register_check.
ALL_CHECKS = list(CHECKS)


def register_check(name: str, probe: Callable[[], dict[str, Any]], *, worst: str = DEGRADED) -> None:
    """Add a check to /health from an app's ready(): core cannot import the apps above it.
    `worst` is how unhealthy Vigil is at most when it fails (DEGRADED: the rest still serves)."""
    CHECKS[name] = probe
    SEVERITY_WHEN_FAILING[name] = worst
    if name not in ALL_CHECKS:
        ALL_CHECKS.append(name)


def run_checks(names: list[str], timeout: float | None = None) -> dict[str, Any]:
    """Run the named checks side by side; return the /health document."""
    deadline = timeout if timeout is not None else settings.VIGIL_HEALTH_TIMEOUT
    results: dict[str, dict[str, Any]] = {}

    def runner(name: str) -> None:
        results[name] = _timed(CHECKS[name])

    threads = {name: threading.Thread(target=runner, args=(name,), daemon=True, name=f"health-{name}") for name in names}
    for thread in threads.values():
        thread.start()
    ends_at = time.monotonic() + deadline
    for thread in threads.values():
        thread.join(max(0.0, ends_at - time.monotonic()))

    checks: dict[str, Any] = {}
    overall = HEALTHY
    for name in names:
        result = results.get(name)
        if result is None:
            result = {"status": SEVERITY_WHEN_FAILING[name], "error": f"no answer within {deadline:.1f}s", "latency_ms": deadline * 1000}
        checks[name] = result
        worst = HEALTHY if result["status"] == HEALTHY else SEVERITY_WHEN_FAILING[name]
        overall = worst if _RANK[worst] > _RANK[overall] else overall
    return {
        "status": overall,
        "version": settings.VIGIL_VERSION,
        "uptime_seconds": round(time.monotonic() - PROCESS_STARTED, 1),
        "checks": checks,
    }


def migrations_pending() -> bool:
    connection = connections["default"]
    executor = MigrationExecutor(connection)
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))
