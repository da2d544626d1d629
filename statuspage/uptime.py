"""Daily uptime of components for the 90-day bars, from day rollups (never raw rows).

A component with monitors takes its day's uptime from their rollups (ok + degraded over
all checks); a day without checks, or a component without monitors, falls back to its
public incidents: a major outage counts fully as downtime, a partial outage as 30%
(as Statuspage counts them). Days before the component existed are "no data".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Sum

from incidents.models import Component, ComponentStatus, Incident
from monitors.models import Rollup

OUTAGE_WEIGHT = {ComponentStatus.MAJOR_OUTAGE: 1.0, ComponentStatus.PARTIAL_OUTAGE: 0.3}


@dataclass
class Day:
    day: date
    uptime: float | None  # percent, None = no data
    incidents: list[Incident] = field(default_factory=list)

    @property
    def level(self) -> str:
        """The bar's colour class."""
        if self.uptime is None:
            return "none"
        if self.uptime >= 99.95 and not any(i.impact in ("major", "critical") for i in self.incidents):
            return "ok"
        if self.uptime >= 99.0:
            return "minor"
        if self.uptime >= 95.0:
            return "partial"
        return "major"


@dataclass
class UptimeBar:
    days: list[Day]

    @property
    def percent(self) -> float | None:
        known = [d.uptime for d in self.days if d.uptime is not None]
        return sum(known) / len(known) if known else None


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def daily_uptime(components: list[Component], incidents: list[Incident], *, now: datetime, days: int = 90) -> dict[int, UptimeBar]:

    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    ids = [c.pk for c in components]
    checks: dict[tuple[int, date], tuple[int, int]] = {}
    rows = (
        Rollup.objects.filter(period=Rollup.Period.DAY, start__gte=day_start(first), monitor__component_id__in=ids)
        .values("monitor__component_id", "start")
        .annotate(total=Sum("total"), ok=Sum("ok"), degraded=Sum("degraded"))
    )
    for row in rows:
        key = (row["monitor__component_id"], row["start"].astimezone(UTC).date())
        checks[key] = (row["total"], row["ok"] + row["degraded"])

    # Outage minutes and incidents per (component, day), from public incidents' impacts.
    outage: dict[tuple[int, date], float] = {}
    by_day: dict[tuple[int, date], list[Incident]] = {}
    for incident in incidents:
        for component_id, status, start, end in getattr(incident, "segments", []):
            if end < day_start(first):
                continue
            day = max(start.astimezone(UTC).date(), first)
            while day <= min(end.astimezone(UTC).date(), today):
                key = (component_id, day)
                by_day.setdefault(key, []).append(incident)
                lo, hi = max(start, day_start(day)), min(end, day_start(day + timedelta(days=1)))
                weight = OUTAGE_WEIGHT.get(ComponentStatus(status), 0.0)
                if hi > lo and weight:
                    outage[key] = outage.get(key, 0.0) + weight * (hi - lo).total_seconds()
                day += timedelta(days=1)

    bars: dict[int, UptimeBar] = {}
    for component in components:
        born = component.created_at.astimezone(UTC).date()
        bar = []
        for offset in range(days):
            day = first + timedelta(days=offset)
            key = (component.pk, day)
            if day < born:
                bar.append(Day(day, None))
                continue
            if key in checks and checks[key][0]:
                total, good = checks[key]
                uptime = 100.0 * good / total
            else:
                start = max(day_start(day), component.created_at)
                length = (min(now, day_start(day + timedelta(days=1))) - start).total_seconds()
                uptime = 100.0 * max(0.0, 1 - outage.get(key, 0.0) / length) if length > 0 else 100.0
            bar.append(Day(day, uptime, sorted(set(by_day.get(key, [])), key=lambda i: i.started_at)))
        bars[component.pk] = UptimeBar(bar)
    return bars
