"""Cron schedules of heartbeat jobs, evaluated the way healthchecks.io does (through cronsim,
its own library), so a schedule across a daylight-saving change behaves as it does there:

- in the spring gap a run at a time that does not exist (02:30 in Europe/Berlin on the last
  Sunday of March) happens at the first minute that does (03:00), as Debian cron runs it;
- in the autumn overlap a run at a time that happens twice (02:30 on the last Sunday of
  October) happens once, at its first occurrence (02:30 summer time).

Expressions have five fields (minute hour day-of-month month day-of-week); names (MON, JAN),
ranges, steps, lists, L, LW and # work as in healthchecks.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
# What each field takes (cronsim's ranges; 7 is Sunday too).
RANGES = {"minute": (0, 59), "hour": (0, 23), "day-of-month": (1, 31), "month": (1, 12), "day-of-week": (0, 7)}
# Far enough in the future for any real schedule, fixed so that checking an expression needs no clock.
_PROBE = datetime(2026, 1, 1, tzinfo=UTC)


def schedule_problem(expression: str) -> str | None:
    """Why this is not a cron expression a heartbeat can use, or None when it is:
    "'61 * * * *' is not a valid cron expression (minute 61 out of range): minute takes 0-59"."""
    parts = expression.split()
    if len(parts) != len(FIELDS):
        detail = f"expected 5 fields, got {len(parts)}): write {' '.join(FIELDS)}, e.g. 0 3 * * *"
    else:
        try:
            next(CronSim(expression, _PROBE))
            return None
        except CronSimError as exc:
            detail = _explain(parts, str(exc))
        except StopIteration:
            detail = "it never runs)"
    return f"{expression!r} is not a valid cron expression ({detail}"


def _explain(parts: list[str], error: str) -> str:
    """cronsim says "Bad minute"; say which value and what the field takes (the closing parenthesis included)."""
    field = next((name for name in FIELDS if error.lower() == f"bad {name}"), None)
    if field is None:
        return f"{error[:1].lower()}{error[1:]})"
    token = parts[FIELDS.index(field)]
    low, high = RANGES[field]
    for number in re.findall(r"\d+", token.split("/")[0].split("#")[0]):
        if not low <= int(number) <= high:
            return f"{field} {number} out of range): {field} takes {low}-{high}"
    names = {"month": " (or JAN-DEC)", "day-of-week": " (or SUN-SAT)"}.get(field, "")
    return f"bad {field} {token!r}): {field} takes {low}-{high}{names}, lists (1,5), ranges (1-5) and steps (*/5)"


def time_zone_problem(name: str) -> str | None:
    """Why this is not a time zone, or None when it is one (an IANA name such as Europe/Berlin)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{name!r} is not a time zone; write an IANA name such as UTC or Europe/Berlin"
    return None


def next_run(expression: str, time_zone: str, after: datetime) -> datetime | None:
    """The first scheduled run strictly after `after` (whole seconds), in UTC; None if it never runs again."""
    local = after.astimezone(ZoneInfo(time_zone))
    try:
        return next(CronSim(expression, local)).astimezone(UTC)
    except StopIteration:
        return None
