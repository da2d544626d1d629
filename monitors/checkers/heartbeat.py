"""Heartbeat (push): the job pings /ping/<token>; late when no ping comes within the grace after
the next expected one (a period after the last ping, or the cron schedule's next run after it).

This kind makes no network call. The dispatcher claims a heartbeat monitor when
its deadline passes and this check turns that into a down result; pings record
their own results through monitors.services.record_ping. A heartbeat never pinged is
new: it has no deadline, so the dispatcher never claims it.

A job that pings /start before it finishes reports how long it ran: that run time (seconds)
is the check's value, judged by the thresholds of monitors.checkers.thresholds (warn_above /
down_above ..., label "run time" and unit "s" unless set), so "the worker's cycle took over
5 minutes" is {"warn_above": 300}. See `run_result`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from lib.durations import format_duration
from monitors.checkers import thresholds
from monitors.checkers.base import CheckSession, Result, down, ok

if TYPE_CHECKING:
    from monitors.models import Monitor


RUN_TIME_DISPLAY = {"label": "run time", "unit": "s"}


def validate(target: str, settings: dict[str, Any]) -> dict[str, str]:
    problem = thresholds.validate(settings, required=False)
    return {"settings": problem} if problem else {}


def run_result(run_seconds: float, settings: dict[str, Any]) -> Result:
    """A successful ping's result from the job's run time: judged against the thresholds."""
    result = thresholds.judged(run_seconds, {**RUN_TIME_DISPLAY, **settings}, latency_ms=int(run_seconds * 1000))
    if result.outcome == "ok":
        result.message = f"ping (ran {run_seconds:.1f}s)"
    return result


def expectation(monitor: Monitor) -> str:
    """How often pings are expected, in words: "every 1h" or "at 0 3 * * * (Europe/Berlin)"."""
    if monitor.heartbeat_schedule:
        return f"on schedule {monitor.heartbeat_schedule} ({monitor.heartbeat_time_zone})"
    return f"every {format_duration(monitor.heartbeat_period_seconds)}"


def check(monitor: Monitor, session: CheckSession, now: datetime) -> Result:
    deadline = monitor.heartbeat_deadline(now)
    if monitor.last_ping_at is None:
        return down(f"no ping yet (expected {expectation(monitor)})")
    if deadline is None or now < deadline:
        return ok("pinged in time")
    late = (now - monitor.last_ping_at).total_seconds()
    return down(
        f"late: last ping {format_duration(late)} ago, expected {expectation(monitor)}"
        f" + {format_duration(monitor.heartbeat_grace_seconds)} grace"
    )
