"""Reads of one monitor's history for the dashboard and the API; every figure comes from monitors.availability."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Max, Q

from incidents.selectors import component_ids_under_maintenance
from monitors import availability, checkers
from monitors.models import CheckResult, Monitor, Region


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
    degraded_seconds: float = 0.0
    down_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rounded(uptime: float | None) -> float | None:
    return round(uptime, 4) if uptime is not None else None


def _point(start: datetime, figures: availability.Figures) -> Point:
    return Point(start=start, total=figures.total, up=figures.ok, degraded=figures.degraded, down=figures.down,
                 uptime=_rounded(figures.uptime), p50_ms=figures.p50_ms, p95_ms=figures.p95_ms, p99_ms=figures.p99_ms)


def series(monitor: Monitor, *, period: str, start: datetime, end: datetime, now: datetime) -> list[Point]:
    """One point per UTC hour or day in [start, end), empty buckets included (as no data);
    the current hour and day are live (monitors.availability)."""
    return [_point(at, figures) for at, figures in
            availability.series([monitor.pk], start, end, now=now, period=period, latency=True)]


@dataclass(frozen=True)
class ValuePoint:
    """A bucket of the monitor's measured values, shown scaled (settings.scale) as the checks judged them."""

    start: datetime
    count: int
    low: float | None
    mean: float | None
    high: float | None
    last: float | None


# The display of each kind's value when its settings name none (heartbeats measure run time).
VALUE_DISPLAY: dict[str, dict[str, Any]] = {Monitor.Kind.HEARTBEAT: {"label": "run time", "unit": "s"}}
THRESHOLD_LINES = (("down_above", "down", "critical above"), ("warn_above", "warn", "warning above"),
                   ("warn_below", "warn", "warning below"), ("down_below", "down", "critical below"))


def judged_settings(monitor: Monitor) -> dict[str, Any]:
    """The settings the monitor's value is judged with: its own, plus what its kind fills in
    (a postgres preset's or a redis metric's label, scale, unit and default limits)."""
    return checkers.judged_settings(monitor.kind, monitor.settings or {})


def value_display(monitor: Monitor) -> dict[str, Any]:
    """label, unit and scale of the monitor's value (settings over the kind's default)."""
    settings = judged_settings(monitor)
    display = {"label": "value", "unit": "", "scale": 1.0, **VALUE_DISPLAY.get(monitor.kind, {})}
    for name in ("label", "unit", "scale"):
        if settings.get(name) is not None:
            display[name] = settings[name]
    return display


def value_series(monitor: Monitor, *, period: str, start: datetime, end: datetime, now: datetime) -> list[ValuePoint]:
    """The monitor's values per UTC hour or day, scaled for display (monitors.availability.value_series)."""
    scale = float(value_display(monitor)["scale"])

    def shown(number: float | None) -> float | None:
        return None if number is None else number * scale

    return [ValuePoint(at, v.count, shown(v.low), shown(v.mean), shown(v.high), shown(v.last))
            for at, v in availability.value_series(monitor.pk, start, end, now=now, period=period)]


def threshold_lines(monitor: Monitor) -> list[tuple[float, str, str]]:
    """(limit scaled for display, label, "warn" or "down") of each threshold the monitor judges its value by."""
    settings = judged_settings(monitor)
    display = value_display(monitor)
    lines = []
    for name, level, words in THRESHOLD_LINES:
        limit = settings.get(name)
        if isinstance(limit, (int, float)) and not isinstance(limit, bool):
            lines.append((limit * float(display["scale"]), f"{words} {limit * float(display['scale']):g}{display['unit']}", level))
    return lines


def latency_threshold_lines(monitor: Monitor) -> list[tuple[float, str, str]]:
    """The latency limits of an HTTP or health JSON monitor, as lines on its latency charts."""
    settings = monitor.settings or {}
    lines = []
    for name, level, words in (("latency_down_ms", "down", "critical above"), ("latency_warn_ms", "warn", "warning above")):
        limit = settings.get(name)
        if isinstance(limit, int) and not isinstance(limit, bool):
            lines.append((float(limit), f"{words} {limit} ms", level))
    return lines


def uptime_windows(monitor: Monitor, *, now: datetime) -> list[Window]:
    windows = []
    for name, f, seconds in availability.windows(monitor.pk, now=now, since=monitor.created_at):
        _up, degraded, down = f.time_split(seconds)
        windows.append(Window(window=name, checks=f.total, uptime=_rounded(f.uptime), p50_ms=f.p50_ms, p95_ms=f.p95_ms,
                              p99_ms=f.p99_ms, degraded_seconds=round(degraded, 1), down_seconds=round(down, 1)))
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
