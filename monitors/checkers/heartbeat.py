"""Heartbeat (push): the job pings /ping/<token>; late after period + grace.

This kind makes no network call. The dispatcher claims a heartbeat monitor when
its deadline passes and this check turns that into a down result; pings record
their own results through monitors.services.record_ping.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from lib.durations import format_duration
from monitors.checkers.base import CheckSession, Result, down, ok

if TYPE_CHECKING:
    from monitors.models import Monitor


def validate(target: str, settings: dict[str, Any]) -> dict[str, str]:
    return {}


def check(monitor: Monitor, session: CheckSession, now: datetime) -> Result:
    deadline = monitor.heartbeat_deadline(now)
    if now < deadline:
        return ok("pinged in time")
    if monitor.last_ping_at is None:
        return down(f"no ping yet (expected every {format_duration(monitor.heartbeat_period_seconds)})")
    late = (now - monitor.last_ping_at).total_seconds()
    return down(
        f"late: last ping {format_duration(late)} ago, expected every {format_duration(monitor.heartbeat_period_seconds)}"
        f" + {format_duration(monitor.heartbeat_grace_seconds)} grace"
    )
