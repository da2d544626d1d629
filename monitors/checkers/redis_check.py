"""Redis: connect and PING within the timeout and, with settings.metric, judge one INFO figure.

target: redis://[:password@]host:6379/0. settings: password, and optionally

  metric   used_memory_ratio   used_memory / maxmemory (or settings.memory_limit_bytes when the
                               server has no maxmemory); default limits 80% warning, 95% critical
                               (the guides' memory alert)
           connected_clients   INFO clients connected_clients
           evicted_keys        INFO stats evicted_keys (since the server started)
           evicted_keys_rate   evicted keys per second since this monitor's previous check
                               (kept per region in the cache for three intervals; the first check, and the
                               first after a restart of Redis, only record a baseline)
  warn_above / down_above / warn_below / down_below, scale, unit, label
           as monitors.checkers.thresholds; connected_clients and the evictions need at least one.
  memory_limit_bytes  the memory Redis may use when its maxmemory is 0 (unlimited)
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import redis
from django.core.cache import cache

from core.secrets import resolve
from monitors.checkers import thresholds
from monitors.checkers.base import CheckSession, Deadline, Result, down, ok

if TYPE_CHECKING:
    from monitors.models import Monitor

# metric -> (label, display scale, unit, default limits or None when the monitor must set its own)
METRICS: dict[str, tuple[str, float, str, dict[str, float] | None]] = {
    "used_memory_ratio": ("used memory", 100, "%", {"warn_above": 0.8, "down_above": 0.95}),
    "connected_clients": ("connected clients", 1, "", None),
    "evicted_keys": ("evicted keys", 1, "", None),
    "evicted_keys_rate": ("evictions", 1, "/s", None),
}


def validate(target: str, settings: dict[str, Any]) -> dict[str, str]:
    parsed = urlparse(target)
    if parsed.scheme not in ("redis", "rediss", "unix"):
        return {"target": f"{target.split('@')[-1]!r} is not a redis://host:port/db URL"}
    metric = settings.get("metric")
    if metric is not None and metric not in METRICS:
        return {"settings": f"metric {metric!r} is unknown; use one of {', '.join(METRICS)}"}
    limit = settings.get("memory_limit_bytes")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float)) or not limit > 0 or not math.isfinite(limit)):
        return {"settings": f"memory_limit_bytes must be a number of bytes above 0, got {limit!r}"}
    has_limits = any(settings.get(name) is not None for name in thresholds.LIMITS)
    if metric is None and has_limits:
        return {"settings": f"thresholds need a metric to judge: set metric to one of {', '.join(METRICS)}"}
    if metric is not None and METRICS[metric][3] is None and not has_limits:
        return {"settings": f"metric {metric} has no default limit: set warn_above and/or down_above, e.g. down_above: 100"}
    problem = thresholds.validate(settings, required=False)
    if problem:
        return {"settings": problem}
    return {}


def effective_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The monitor's settings with the metric's label, display and default limits (its own limits win as a set)."""
    if settings.get("metric") not in METRICS:
        return dict(settings)
    label, scale, unit, limits = METRICS[str(settings["metric"])]
    merged: dict[str, Any] = {"label": label, "scale": scale, "unit": unit}
    if limits and not any(settings.get(name) is not None for name in thresholds.LIMITS):
        merged.update(limits)
    merged.update({key: value for key, value in settings.items() if value is not None})
    return merged


def check(monitor: Monitor, session: CheckSession, now: datetime) -> Result:
    settings = monitor.settings or {}
    deadline = Deadline(monitor.timeout_seconds)
    kwargs: dict[str, Any] = {"socket_timeout": monitor.timeout_seconds, "socket_connect_timeout": monitor.timeout_seconds}
    if settings.get("password"):
        kwargs["password"] = resolve(settings["password"], what=f"monitor {monitor.name!r}: settings.password")
    host = urlparse(monitor.target).hostname or monitor.target
    metric = settings.get("metric")
    client = redis.Redis.from_url(monitor.target, **kwargs)
    try:
        client.ping()
        info: dict[str, Any] = client.info() if metric else {}
    except redis.AuthenticationError:
        return down(f"redis {host}: authentication failed", latency_ms=deadline.elapsed_ms())
    except (redis.RedisError, OSError) as exc:
        return down(f"redis {host}: {str(exc) or type(exc).__name__}", latency_ms=deadline.elapsed_ms())
    finally:
        client.close()
    if not metric:
        return ok(f"redis {host} answered PING", latency_ms=deadline.elapsed_ms())
    latency_ms = deadline.elapsed_ms()
    if metric == "used_memory_ratio":
        used, maxmemory = float(info.get("used_memory", 0)), float(info.get("maxmemory", 0) or 0)
        limit = maxmemory or float(settings.get("memory_limit_bytes") or 0)
        if not limit:
            return down(f"redis {host}: maxmemory is 0 (unlimited), so used memory has no ratio; set maxmemory on the "
                        "server or settings.memory_limit_bytes", latency_ms=latency_ms)
        return thresholds.judged(used / limit, effective_settings(settings), latency_ms=latency_ms,
                                 details={"used_memory": used, "memory_limit": limit,
                                          "limit_from": "maxmemory" if maxmemory else "memory_limit_bytes"})
    if metric == "connected_clients":
        return thresholds.judged(float(info.get("connected_clients", 0)), effective_settings(settings), latency_ms=latency_ms)
    evicted = float(info.get("evicted_keys", 0))
    if metric == "evicted_keys":
        return thresholds.judged(evicted, effective_settings(settings), latency_ms=latency_ms)
    return _eviction_rate(monitor, session, info, evicted, now, latency_ms)


def _eviction_rate(monitor: Monitor, session: CheckSession, info: dict[str, Any], evicted: float, now: datetime, latency_ms: int) -> Result:
    # The counter restarts with the server: run_id tells one server life from the next. Each region
    # keeps its own previous sample (two regions alternating would otherwise halve the interval).
    key = f"redis-evictions:{monitor.pk}:{session.region or '-'}"
    sample = {"run_id": info.get("run_id"), "evicted": evicted, "at": now.timestamp()}
    previous = cache.get(key)
    cache.set(key, sample, timeout=max(60, int(monitor.interval_seconds * 3)))
    settings = effective_settings(monitor.settings or {})
    if not previous or previous.get("run_id") != sample["run_id"] or sample["at"] <= previous["at"] or evicted < previous["evicted"]:
        return ok("evictions: collecting a baseline (first check, or Redis restarted)", latency_ms=latency_ms)
    rate = (evicted - previous["evicted"]) / (sample["at"] - previous["at"])
    return thresholds.judged(rate, settings, latency_ms=latency_ms, details={"evicted_keys": evicted})
