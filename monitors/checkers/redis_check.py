"""Redis: connect and PING within the timeout. target: redis://[:password@]host:6379/0."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import redis

from core.secrets import resolve
from monitors.checkers.base import CheckSession, Deadline, Result, down, ok

if TYPE_CHECKING:
    from monitors.models import Monitor


def validate(target: str, settings: dict[str, Any]) -> dict[str, str]:
    parsed = urlparse(target)
    if parsed.scheme not in ("redis", "rediss", "unix"):
        return {"target": f"{target.split('@')[-1]!r} is not a redis://host:port/db URL"}
    return {}


def check(monitor: Monitor, session: CheckSession, now: datetime) -> Result:
    settings = monitor.settings or {}
    deadline = Deadline(monitor.timeout_seconds)
    kwargs: dict[str, Any] = {"socket_timeout": monitor.timeout_seconds, "socket_connect_timeout": monitor.timeout_seconds}
    if settings.get("password"):
        kwargs["password"] = resolve(settings["password"], what=f"monitor {monitor.name!r}: settings.password")
    host = urlparse(monitor.target).hostname or monitor.target
    client = redis.Redis.from_url(monitor.target, **kwargs)
    try:
        client.ping()
    except redis.AuthenticationError:
        return down(f"redis {host}: authentication failed", latency_ms=deadline.elapsed_ms())
    except (redis.RedisError, OSError) as exc:
        return down(f"redis {host}: {str(exc) or type(exc).__name__}", latency_ms=deadline.elapsed_ms())
    finally:
        client.close()
    return ok(f"redis {host} answered PING", latency_ms=deadline.elapsed_ms())
