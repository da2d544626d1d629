"""Checklist periods: the day, ISO week (from Monday) or month a date falls in."""

from __future__ import annotations

from datetime import date, timedelta


def period_start(cadence: str, day: date) -> date:
    if cadence == "daily":
        return day
    if cadence == "weekly":
        return day - timedelta(days=day.weekday())
    if cadence == "monthly":
        return day.replace(day=1)
    raise ValueError(f"cadence must be daily, weekly or monthly, not {cadence!r}")


def previous_period_start(cadence: str, day: date) -> date:
    """The start of the period before the one `day` falls in."""
    return period_start(cadence, period_start(cadence, day) - timedelta(days=1))
