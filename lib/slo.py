"""Service level objectives: SLI, error budget, burn rates, time to exhaustion. Pure.

Counts come from rollups (good checks and valid checks per hour or day); maintenance
windows that are excluded are removed from `valid` before they reach this module.

- SLI = good / valid (1.0 with nothing valid: no evidence of failure).
- The error budget of a window is (1 - objective) of it: 99.95% over 30 days is
  21.6 minutes, 99.9% is 43.2 minutes.
- Spent budget, in minutes, is the bad fraction times the minutes elapsed in the window;
  for a rolling window the whole window has elapsed, for a calendar month only part.
- Burn rate over a span = bad fraction in the span / (1 - objective): 1 spends the
  budget exactly by the end of the window, 14.4 spends a 30-day budget in ~2 days.
- Multiwindow burn-rate alerts (Google SRE workbook, ch. 5): a rule fires when both its
  long and its short window burn faster than its factor, and the long window saw at least
  `min_events` valid checks and `min_bad` failed ones (one failed probe in an hour of
  1-minute checks is 1/60, a burn of 16.7 at 99.9%: the guard keeps that from paging).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Counts:
    good: int = 0
    valid: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.good + other.good, self.valid + other.valid)

    @property
    def bad(self) -> int:
        return self.valid - self.good


def total(counts: Iterable[Counts]) -> Counts:
    result = Counts()
    for item in counts:
        result = result + item
    return result


def sli(counts: Counts) -> float:
    return counts.good / counts.valid if counts.valid else 1.0


def allowed_error(objective: float) -> float:
    """objective is a percentage, e.g. 99.9."""
    if not 0 < objective < 100:
        raise ValueError(f"objective must be between 0 and 100 (exclusive), not {objective}")
    return (100.0 - objective) / 100.0


def budget_minutes(objective: float, window_minutes: float) -> float:
    return allowed_error(objective) * window_minutes


@dataclass(frozen=True)
class Budget:
    sli: float
    objective: float
    window_minutes: float
    elapsed_minutes: float
    total_minutes: float
    spent_minutes: float

    @property
    def remaining_minutes(self) -> float:
        return self.total_minutes - self.spent_minutes

    @property
    def spent_ratio(self) -> float:
        return self.spent_minutes / self.total_minutes

    @property
    def remaining_ratio(self) -> float:
        return 1.0 - self.spent_ratio


def budget(counts: Counts, *, objective: float, window_minutes: float, elapsed_minutes: float | None = None) -> Budget:
    elapsed = window_minutes if elapsed_minutes is None else min(elapsed_minutes, window_minutes)
    bad_fraction = 1.0 - sli(counts)
    return Budget(sli=sli(counts), objective=objective, window_minutes=window_minutes, elapsed_minutes=elapsed,
                  total_minutes=budget_minutes(objective, window_minutes), spent_minutes=bad_fraction * elapsed)


def burn_rate(counts: Counts, *, objective: float) -> float:
    return (1.0 - sli(counts)) / allowed_error(objective)


def minutes_to_exhaustion(result: Budget, burn: float) -> float | None:
    """At this burn rate, how long until the budget is gone (0: already gone; None: never)."""
    if result.remaining_minutes <= 0:
        return 0.0
    if burn <= 0:
        return None
    # Budget minutes are spent at `burn` x the allowed error rate per minute of real time.
    return result.remaining_minutes / (burn * allowed_error(result.objective))


def status(result: Budget, *, exhaustion_minutes: float | None, minutes_left_in_window: float) -> str:
    if result.remaining_minutes <= 0:
        return "exhausted"
    if result.remaining_ratio < 0.25 or (exhaustion_minutes is not None and exhaustion_minutes < minutes_left_in_window):
        return "at risk"
    return "healthy"


@dataclass(frozen=True)
class BurnRule:
    long_minutes: int
    short_minutes: int
    factor: float
    severity: str  # "critical" pages, "warning" files a ticket

    @property
    def name(self) -> str:
        return f"burn > {self.factor:g}x over {_span(self.long_minutes)} and {_span(self.short_minutes)}"


def _span(minutes: int) -> str:
    if minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


DEFAULT_BURN_RULES = (
    BurnRule(60, 5, 14.4, "critical"),
    BurnRule(6 * 60, 30, 6.0, "critical"),
    BurnRule(3 * 24 * 60, 6 * 60, 1.0, "warning"),
)


def firing_burn_rules(spans: Mapping[int, Counts], *, objective: float, rules: Iterable[BurnRule] = DEFAULT_BURN_RULES,
                      min_events: int = 30, min_bad: int = 3) -> list[BurnRule]:
    """The rules whose long and short windows both burn faster than their factor.

    `spans` maps window length in minutes to the counts seen over that trailing span."""
    firing = []
    for rule in rules:
        long, short = spans.get(rule.long_minutes, Counts()), spans.get(rule.short_minutes, Counts())
        if long.valid < min_events or long.bad < min_bad:
            continue
        if burn_rate(long, objective=objective) > rule.factor and burn_rate(short, objective=objective) > rule.factor:
            firing.append(rule)
    return firing


# --- Windows ----------------------------------------------------------------------------------


def rolling_window(now: datetime, days: int) -> tuple[datetime, datetime]:
    return now - timedelta(days=days), now


def calendar_month(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The calendar month containing `now` in `tz`, as aware datetimes (DST-correct length)."""
    local = now.astimezone(tz)
    start = datetime(local.year, local.month, 1, tzinfo=tz)
    days = calendar.monthrange(local.year, local.month)[1]
    end_local = start.replace(day=days) + timedelta(days=1)
    end = datetime(end_local.year, end_local.month, end_local.day, tzinfo=tz)
    return start, end


def month_of(year: int, month: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=tz)
    following = (year + month // 12, month % 12 + 1)
    return start, datetime(following[0], following[1], 1, tzinfo=tz)


def minutes_between(start: datetime, end: datetime) -> float:
    """Real minutes (UTC), not wall-clock: a DST month is 1 hour shorter or longer."""
    from datetime import UTC

    return (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() / 60.0
