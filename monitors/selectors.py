"""Reads of one monitor's history for the dashboard and the API: from rollups, raw rows only for the last hour."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Max, Q

from incidents.selectors import component_ids_under_maintenance
from lib import latency_histogram
from monitors.models import CheckResult, Monitor, Region, Rollup
from monitors.rollups import aggregate_raw, day_start, hour_start

WINDOWS = (("1h", timedelta(hours=1)), ("24h", timedelta(hours=24)), ("7d", timedelta(days=7)), ("30d", timedelta(days=30)),
           ("90d", timedelta(days=90)))


@dataclass(frozen=True)
class Point:
    start: datetime
    total: int
    up: int
    degraded: int
    down: int
    uptime: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Window:
    window: str
    checks: int
    uptime: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _point(start: datetime, rollups: list[Rollup]) -> Point:
    total = sum(r.total for r in rollups)
    ok = sum(r.ok for r in rollups)
    degraded = sum(r.degraded for r in rollups)
    histogram = latency_histogram.merge(*[r.histogram for r in rollups if r.histogram]) if rollups else latency_histogram.empty()
    return Point(
        start=start, total=total, up=ok, degraded=degraded, down=total - ok - degraded,
        uptime=round(100.0 * (ok + degraded) / total, 4) if total else None,
        p50_ms=latency_histogram.percentile(histogram, 0.5), p95_ms=latency_histogram.percentile(histogram, 0.95),
        p99_ms=latency_histogram.percentile(histogram, 0.99),
    )


def series(monitor: Monitor, *, period: str, start: datetime, end: datetime) -> list[Point]:
    """One point per hour or day in [start, end), empty buckets included (as no data)."""
    step = timedelta(hours=1) if period == Rollup.Period.HOUR else timedelta(days=1)
    first = hour_start(start) if period == Rollup.Period.HOUR else day_start(start)
    found: dict[datetime, list[Rollup]] = {}
    if period == Rollup.Period.HOUR:
        for rollup in Rollup.objects.filter(monitor=monitor, period="hour", start__gte=first, start__lt=end):
            found.setdefault(rollup.start, []).append(rollup)
    else:
        days = {r.start: r for r in Rollup.objects.filter(monitor=monitor, period="day", start__gte=first, start__lt=end)}
        for day, rollup in days.items():
            found[day] = [rollup]
        # Days not rolled up yet (today, yesterday in its first hour) come from their hours.
        for rollup in Rollup.objects.filter(monitor=monitor, period="hour", start__gte=first, start__lt=end):
            day = day_start(rollup.start)
            if day not in days:
                found.setdefault(day, []).append(rollup)
    points = []
    moment = first
    while moment < end:
        points.append(_point(moment, found.get(moment, [])))
        moment += step
    return points


def rollups_between(monitor: Monitor, start: datetime, end: datetime) -> list[Rollup]:
    """Day rollups for whole days in the range, hour rollups for the rest."""
    days = list(Rollup.objects.filter(monitor=monitor, period="day", start__gte=start, start__lt=end - timedelta(days=1) + timedelta(seconds=1)))
    covered = {r.start for r in days}
    hours = [
        r for r in Rollup.objects.filter(monitor=monitor, period="hour", start__gte=hour_start(start), start__lt=end)
        if day_start(r.start) not in covered
    ]
    return days + hours


def uptime_windows(monitor: Monitor, *, now: datetime) -> list[Window]:
    windows = []
    for name, span in WINDOWS:
        if span <= timedelta(hours=1):
            # The last hour exactly, from this monitor's raw rows (primary key: monitor, at).
            rollups = list(aggregate_raw(now - span, now + timedelta(seconds=1), monitor_ids=[monitor.pk]).values())
        else:
            rollups = rollups_between(monitor, now - span, now)
        point = _point(now - span, rollups)
        windows.append(Window(window=name, checks=point.total, uptime=point.uptime, p50_ms=point.p50_ms, p95_ms=point.p95_ms,
                              p99_ms=point.p99_ms))
    return windows


def status_codes(monitor: Monitor, *, now: datetime, hours: int = 24) -> list[tuple[str, int]]:
    """How often each HTTP status (or 'no response') came back in the last hours."""
    rows = (CheckResult.objects.filter(monitor_id=monitor.pk, at__gte=now - timedelta(hours=hours))
            .values("status_code").annotate(n=Count("*")).order_by("-n"))
    return [(str(row["status_code"]) if row["status_code"] is not None else "no response", row["n"]) for row in rows]


@dataclass(frozen=True)
class RegionRow:
    region: str
    verdict: str
    checks: int
    up: int
    average_ms: float | None
    last_at: datetime | None
    last_message: str


def per_region(monitor: Monitor, *, now: datetime) -> list[RegionRow]:
    """Each region's verdict and its last hour of results."""
    states = {s.region_id: s for s in monitor.region_states.all()}
    stats = {
        row["region_id"]: row
        for row in CheckResult.objects.filter(monitor_id=monitor.pk, at__gte=now - timedelta(hours=1))
        .values("region_id").annotate(n=Count("*"), up=Count("at", filter=~Q(outcome=CheckResult.Outcome.DOWN)),
                                      average=Avg("latency_ms"), last=Max("at")).order_by()
    }
    rows = []
    for region in Region.objects.filter(Q(monitors=monitor) | Q(pk__in=list(stats))).distinct():
        state = states.get(region.pk)
        stat: Any = stats.get(region.pk, {})
        rows.append(RegionRow(region=str(region), verdict=state.verdict if state else "unknown", checks=stat.get("n", 0),
                              up=stat.get("up", 0), average_ms=round(stat["average"], 1) if stat.get("average") is not None else None,
                              last_at=stat.get("last"), last_message=state.last_message if state else ""))
    return rows


def monitor_ids_under_maintenance(monitor_ids: Iterable[int] | None = None, *, suppressing_alerts: bool = False) -> set[int]:
    """Monitors whose component is in an active maintenance window."""
    components = component_ids_under_maintenance(suppressing_alerts=suppressing_alerts)
    if not components:
        return set()
    rows = Monitor.objects.filter(component_id__in=components)
    if monitor_ids is not None:
        rows = rows.filter(pk__in=list(monitor_ids))
    return set(rows.values_list("pk", flat=True))
