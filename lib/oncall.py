"""Who is on call: weekly rotations with a local hand-off time, and overrides. Pure.

Hand-offs happen at a wall-clock time in the schedule's time zone (e.g. Monday 09:00
Europe/Berlin), so a shift is 167 or 169 hours across a DST change, never a shifted
hand-off hour."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

Member = TypeVar("Member")


@dataclass(frozen=True)
class Override(Generic[Member]):
    member: Member
    starts_at: datetime
    ends_at: datetime


def last_handoff(*, start: date, weekday: int, at: time, tz: ZoneInfo, now: datetime) -> tuple[int, datetime]:
    """(index of the shift that covers `now`, when it began). Shift 0 begins at the first
    hand-off on or after `start`; before it, shift 0 is on call too."""
    first_day = start + timedelta(days=(weekday - start.weekday()) % 7)
    local_now = now.astimezone(tz)
    weeks = (local_now.date() - first_day).days // 7
    handoff = datetime.combine(first_day + timedelta(weeks=weeks), at, tzinfo=tz)
    if handoff > local_now:
        weeks -= 1
        handoff = datetime.combine(first_day + timedelta(weeks=weeks), at, tzinfo=tz)
    return max(weeks, 0), handoff


def on_call(members: Sequence[Member], *, start: date, weekday: int, at: time, tz: ZoneInfo, now: datetime,
            overrides: Sequence[Override[Member]] = ()) -> Member | None:
    for override in overrides:
        if override.starts_at <= now < override.ends_at:
            return override.member
    if not members:
        return None
    index, _began = last_handoff(start=start, weekday=weekday, at=at, tz=tz, now=now)
    return members[index % len(members)]
