"""Every availability figure Vigil shows is computed here, and nowhere else.

For any monitors and any window [start, end), the figures (checks up, degraded and down,
checks inside excluded maintenance, latency percentiles) are read from:

- day rollups, for whole UTC days that have been rolled up (a day is rolled up an hour
  after it ends, and then never changes);
- hour rollups, for whole hours that are final;
- raw results, for the rest: the tail the rollups have not reached or may still change
  (the current and previous hour, and every hour since the rollup job last ran, at most
  CATCH_UP_HOURS back), and the parts of hours at a window's edges.

So "today" and "this hour" are live, and a figure equals a count of the raw results in
the window (tests/test_availability_truth.py checks that against a brute-force count).

A component's day has one rule (`component_days`, written out in docs/status-pages.md);
the public bars, their tooltips, the badges, the public uptime JSON and the 90-day
percentage all read it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Q, Sum

from lib import latency_histogram
from monitors.models import Rollup
from monitors.rollups import CATCH_UP_HOURS, aggregate_raw, day_start, hour_start

COUNT_FIELDS = ("total", "ok", "degraded", "excluded_total", "excluded_up", "latency_count", "latency_sum_ms")
# Statuspage's rule, adopted: a minute of partial outage counts as 0.3 of a minute down.
PARTIAL_OUTAGE_WEIGHT = 0.3
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Figures:
    """Checks of one or more monitors over some window."""

    total: int = 0
    ok: int = 0
    degraded: int = 0
    excluded_total: int = 0  # checks inside a maintenance window excluded from SLOs
    excluded_up: int = 0
    latency_count: int = 0
    latency_sum_ms: int = 0
    histogram: tuple[int, ...] = ()

    @classmethod
    def of(cls, row: Rollup | Mapping[str, object]) -> Figures:
        get = row.get if isinstance(row, Mapping) else (lambda name: getattr(row, name, None))  # type: ignore[union-attr]
        histogram = get("histogram")
        return cls(**{name: int(get(name) or 0) for name in COUNT_FIELDS},  # type: ignore[arg-type]
                   histogram=tuple(histogram) if histogram else ())

    def __add__(self, other: Figures) -> Figures:
        if self.histogram and other.histogram:
            histogram = tuple(latency_histogram.merge(list(self.histogram), list(other.histogram)))
        else:
            histogram = self.histogram or other.histogram
        return Figures(*(getattr(self, name) + getattr(other, name) for name in COUNT_FIELDS), histogram=histogram)

    @property
    def up(self) -> int:
        """Checks that answered (ok or degraded): degraded counts as up everywhere."""
        return self.ok + self.degraded

    @property
    def down(self) -> int:
        return self.total - self.up

    @property
    def uptime(self) -> float | None:
        """Percent of checks up; None without checks."""
        return 100.0 * self.up / self.total if self.total else None

    @property
    def counted(self) -> int:
        """Checks that count for a component's day and for SLOs that exclude maintenance."""
        return self.total - self.excluded_total

    @property
    def counted_up(self) -> int:
        return self.up - self.excluded_up

    def percentile(self, quantile: float) -> float | None:
        return latency_histogram.percentile(list(self.histogram), quantile) if self.histogram else None

    @property
    def p50_ms(self) -> float | None:
        return self.percentile(0.5)

    @property
    def p95_ms(self) -> float | None:
        return self.percentile(0.95)

    @property
    def p99_ms(self) -> float | None:
        return self.percentile(0.99)

    def time_split(self, seconds: float) -> tuple[float, float, float]:
        """(up, degraded, down) seconds of a span of this many seconds: each check stands for
        an equal share of it (the rule a component's measured downtime uses too)."""
        if not self.total or seconds <= 0:
            return 0.0, 0.0, 0.0
        share = seconds / self.total
        return self.ok * share, self.degraded * share, self.down * share

    def good_below(self, bound_ms: int) -> int:
        """Checks answered faster than one of the histogram's bounds (latency SLOs)."""
        if not self.histogram:
            return 0
        return sum(self.histogram[: latency_histogram.BOUNDS_MS.index(bound_ms) + 1])


def total(figures: Iterable[Figures]) -> Figures:
    result = Figures()
    for item in figures:
        result = result + item
    return result


# --- Reading ----------------------------------------------------------------------------------


def tail_start(now: datetime) -> datetime:
    """Where final rollups end and raw results take over: the previous hour (which a late
    result may still change), or the last hour the rollup job reached if it is behind."""
    current = hour_start(now)
    floor = current - timedelta(hours=CATCH_UP_HOURS)
    latest = Rollup.objects.filter(period=Rollup.Period.HOUR).order_by("-start").values_list("start", flat=True).first()
    tail = floor if latest is None else max(floor, min(current - HOUR, hour_start(latest)))
    # A day rollup is written once its hours are final: everything before its end is.
    last_day = Rollup.objects.filter(period=Rollup.Period.DAY).order_by("-start").values_list("start", flat=True).first()
    if last_day is not None:
        tail = max(tail, min(current - HOUR, day_start(last_day) + DAY))
    return tail


def _ceil_hour(moment: datetime) -> datetime:
    start = hour_start(moment)
    return start if start == moment else start + HOUR


def _rolled_days(first: datetime, end: datetime) -> set[datetime]:
    """UTC days in [first, end) that have day rollups (the job writes all of a day's at once)."""
    found = Rollup.objects.filter(period=Rollup.Period.DAY, start__gte=first, start__lte=end - DAY)
    return {day_start(start) for start in found.values_list("start", flat=True).distinct()}


def _hour_spans(start: datetime, end: datetime, rolled: set[datetime]) -> list[tuple[datetime, datetime]]:
    """[start, end) less the rolled-up days, as few contiguous spans as possible."""
    spans: list[tuple[datetime, datetime]] = []
    cursor = start
    while cursor < end:
        day = day_start(cursor)
        if day in rolled and day >= start and day + DAY <= end:
            cursor = day + DAY
            continue
        stop = min(end, day + DAY)
        if spans and spans[-1][1] == cursor:
            spans[-1] = (spans[-1][0], stop)
        else:
            spans.append((cursor, stop))
        cursor = stop
    return spans


def _rollup_rows(ids: list[int], query: Q, *, by_start: bool, latency: bool) -> list[tuple[int, datetime | None, Figures]]:
    rows = Rollup.objects.filter(query, monitor_id__in=ids)
    if latency:
        return [(r["monitor_id"], r["start"], Figures.of(r)) for r in rows.values("monitor_id", "start", *COUNT_FIELDS, "histogram")]
    keys = ["monitor_id", "start"] if by_start else ["monitor_id"]
    # Summed in the database: a month of 1,000 monitors is 1,000 rows, not 30,000.
    summed = rows.values(*keys).annotate(**{f"sum_{name}": Sum(name) for name in COUNT_FIELDS}).order_by()
    return [(r["monitor_id"], r.get("start"), Figures(**{name: r[f"sum_{name}"] or 0 for name in COUNT_FIELDS})) for r in summed]


@dataclass(frozen=True)
class Plan:
    """Where a window's figures are read: day rollups, hour rollups over spans, raw rows over spans
    (each raw span is read one UTC hour at a time)."""

    days: list[datetime]
    hour_spans: list[tuple[datetime, datetime]]
    raw_spans: list[tuple[datetime, datetime]]

    def hour_query(self) -> Q:
        query = Q()
        for span_start, span_end in self.hour_spans:
            query |= Q(start__gte=span_start, start__lt=span_end)
        return Q(period=Rollup.Period.HOUR) & query

    def raw_hours(self) -> list[tuple[datetime, datetime]]:
        hours = []
        for span_start, span_end in self.raw_spans:
            cursor = span_start
            while cursor < span_end:
                stop = min(span_end, hour_start(cursor) + HOUR)
                hours.append((cursor, stop))
                cursor = stop
        return hours


def _plan(start: datetime, end: datetime, *, now: datetime, days: bool) -> Plan:
    """[start, end) covered exactly once: final rollups up to tail_start, raw rows for the rest."""
    first_hour = _ceil_hour(start)
    rolled_end = max(first_hour, min(hour_start(end), tail_start(now)))
    raw_spans = [(start, min(first_hour, end))] if first_hour > start else []
    rolled: set[datetime] = set()
    spans: list[tuple[datetime, datetime]] = []
    if first_hour < rolled_end:
        rolled = _rolled_days(first_hour, rolled_end) if days else set()
        spans = _hour_spans(first_hour, rolled_end, rolled)
    if end > max(rolled_end, start):
        raw_spans.append((max(rolled_end, start), end))
    return Plan(sorted(rolled), spans, raw_spans)


def _pieces(ids: Sequence[int], start: datetime, end: datetime, *, now: datetime, by_start: bool, latency: bool,
            days: bool = True) -> list[tuple[int, datetime | None, Figures]]:
    """(monitor, piece start, figures) covering [start, end) exactly once; each piece lies
    within one UTC hour, or is one UTC day's rollup (only when `days`)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    ids = list(ids)
    if not ids or end <= start:
        return []
    plan = _plan(start, end, now=now, days=days)
    pieces: list[tuple[int, datetime | None, Figures]] = []
    if plan.days:
        pieces += _rollup_rows(ids, Q(period=Rollup.Period.DAY, start__in=plan.days), by_start=by_start, latency=latency)
    if plan.hour_spans:
        pieces += _rollup_rows(ids, plan.hour_query(), by_start=by_start, latency=latency)
    for cursor, stop in plan.raw_hours():
        for monitor_id, rollup in aggregate_raw(cursor, stop, monitor_ids=ids).items():
            pieces.append((monitor_id, cursor, Figures.of(rollup)))
    return pieces


def figures_by_monitor(ids: Sequence[int], start: datetime, end: datetime, *, now: datetime,
                       latency: bool = False) -> dict[int, Figures]:
    """Each monitor's figures over [start, end) (monitors without checks are left out)."""
    found: dict[int, Figures] = {}
    for monitor_id, _start, piece in _pieces(ids, start, end, now=now, by_start=False, latency=latency):
        found[monitor_id] = found.get(monitor_id, Figures()) + piece
    return found


def figures(ids: Sequence[int], start: datetime, end: datetime, *, now: datetime, latency: bool = False) -> Figures:
    """The monitors' figures over [start, end), together."""
    return total(figures_by_monitor(ids, start, end, now=now, latency=latency).values())


def series_by_monitor(ids: Sequence[int], start: datetime, end: datetime, *, now: datetime, period: str,
                      latency: bool = False) -> dict[int, dict[datetime, Figures]]:
    """Figures per monitor per UTC hour or day (period "hour" or "day") in [start, end);
    buckets without checks are absent."""
    floor = hour_start if period == Rollup.Period.HOUR else day_start
    found: dict[int, dict[datetime, Figures]] = defaultdict(dict)
    for monitor_id, piece_start, piece in _pieces(ids, floor(start), end, now=now, by_start=True, latency=latency,
                                                  days=period == Rollup.Period.DAY):
        bucket = floor(piece_start)  # type: ignore[arg-type]
        found[monitor_id][bucket] = found[monitor_id].get(bucket, Figures()) + piece
    return found


def series(ids: Sequence[int], start: datetime, end: datetime, *, now: datetime, period: str,
           latency: bool = False) -> list[tuple[datetime, Figures]]:
    """One (bucket start, figures) per UTC hour or day in [start, end), empty buckets included."""
    step = HOUR if period == Rollup.Period.HOUR else DAY
    moment = hour_start(start) if period == Rollup.Period.HOUR else day_start(start)
    merged: dict[datetime, Figures] = {}
    for buckets in series_by_monitor(ids, start, end, now=now, period=period, latency=latency).values():
        for bucket, piece in buckets.items():
            merged[bucket] = merged.get(bucket, Figures()) + piece
    points = []
    while moment < end:
        points.append((moment, merged.get(moment, Figures())))
        moment += step
    return points


# --- Measured values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Values:
    """The values a monitor's checks measured over some span (CheckResult.value, Rollup.value_*)."""

    count: int = 0
    total: float = 0.0
    low: float | None = None
    high: float | None = None
    last: float | None = None

    @classmethod
    def of(cls, row: Rollup) -> Values:
        return cls(row.value_count, row.value_sum or 0.0, row.value_min, row.value_max, row.value_last)

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def then(self, later: Values) -> Values:
        """This span followed by a later one (whose last value, when it has one, is the last)."""
        if not later.count:
            return self
        if not self.count:
            return later
        return Values(self.count + later.count, self.total + later.total, min(self.low, later.low),  # type: ignore[type-var]
                      max(self.high, later.high), later.last if later.last is not None else self.last)  # type: ignore[type-var]


def value_series(monitor_id: int, start: datetime, end: datetime, *, now: datetime, period: str) -> list[tuple[datetime, Values]]:
    """One monitor's values per UTC hour or day (period "hour" or "day") in [start, end), empty
    buckets included: final rollups, and raw results for the tail, as every other figure."""
    floor = hour_start if period == Rollup.Period.HOUR else day_start
    step = HOUR if period == Rollup.Period.HOUR else DAY
    start, end = floor(start), end.astimezone(UTC)
    pieces: list[tuple[datetime, Values]] = []
    if end > start:
        plan = _plan(start, end, now=now, days=period == Rollup.Period.DAY)
        fields = ("start", "value_count", "value_sum", "value_min", "value_max", "value_last")
        rows = Rollup.objects.filter(monitor_id=monitor_id, value_count__gt=0)
        if plan.days:
            pieces += [(r.start, Values.of(r)) for r in rows.filter(period=Rollup.Period.DAY, start__in=plan.days).only(*fields)]
        if plan.hour_spans:
            pieces += [(r.start, Values.of(r)) for r in rows.filter(plan.hour_query()).only(*fields)]
        for cursor, stop in plan.raw_hours():
            raw = aggregate_raw(cursor, stop, monitor_ids=[monitor_id]).get(monitor_id)
            if raw is not None and raw.value_count:
                pieces.append((cursor, Values.of(raw)))
    merged: dict[datetime, Values] = {}
    for piece_start, piece in sorted(pieces, key=lambda p: p[0]):
        bucket = floor(piece_start)
        merged[bucket] = merged.get(bucket, Values()).then(piece)
    points = []
    moment = start
    while moment < end:
        points.append((moment, merged.get(moment, Values())))
        moment += step
    return points


WINDOWS = (("1h", timedelta(hours=1)), ("24h", timedelta(hours=24)), ("7d", timedelta(days=7)),
           ("30d", timedelta(days=30)), ("90d", timedelta(days=90)))


def windows(monitor_id: int, *, now: datetime, since: datetime | None = None) -> list[tuple[str, Figures, float]]:
    """The monitor page's and the ops API's windows: (name, figures, seconds the window
    covers) for the last hour, day, ..., up to now (a result at `now` itself included);
    `since` (the monitor's creation) shortens the time a window covers."""
    end = now + timedelta(microseconds=1)
    found = []
    for name, span in WINDOWS:
        covered = (now - max(now - span, since or now - span)).total_seconds()
        found.append((name, figures([monitor_id], now - span, end, now=now, latency=True), max(0.0, covered)))
    return found


# --- A component's day ------------------------------------------------------------------------


@dataclass
class ComponentDay:
    """One UTC day of one component under the day rule (docs/status-pages.md)."""

    day: date
    seconds: float = 0.0  # the part of the day that counts: since the component exists, until now
    checks: Figures = field(default_factory=Figures)
    measured_down_seconds: float = 0.0
    major_outage_seconds: float = 0.0
    partial_outage_seconds: float = 0.0
    incident_ids: list[int] = field(default_factory=list)
    has_data: bool = False

    @property
    def downtime_seconds(self) -> float:
        return self.major_outage_seconds + PARTIAL_OUTAGE_WEIGHT * self.partial_outage_seconds

    @property
    def uptime(self) -> float | None:
        if not self.has_data or self.seconds <= 0:
            return None
        return 100.0 * max(0.0, 1.0 - self.downtime_seconds / self.seconds)


def range_uptime(days: Iterable[ComponentDay]) -> float | None:
    """Uptime over several days: downtime over the time that counts, days without data left
    out (so the 90-day figure weighs a half day as half a day)."""
    known = [d for d in days if d.has_data and d.seconds > 0]
    seconds = sum(d.seconds for d in known)
    if not seconds:
        return None
    return 100.0 * max(0.0, 1.0 - sum(d.downtime_seconds for d in known) / seconds)


Segment = tuple[str, datetime, datetime]  # (component status declared, from, to)


def _union(spans: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(s for s in spans if s[1] > s[0]):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _seconds(spans: list[tuple[datetime, datetime]], lo: datetime, hi: datetime) -> float:
    return sum(max(0.0, (min(b, hi) - max(a, lo)).total_seconds()) for a, b in spans)


def _minus(spans: list[tuple[datetime, datetime]], cut: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    result = []
    for lo, hi in spans:
        pieces = [(lo, hi)]
        for c_lo, c_hi in cut:
            pieces = [p for a, b in pieces for p in ((a, min(b, c_lo)), (max(a, c_hi), b)) if p[1] > p[0]]
        result += pieces
    return result


def component_days(components: Sequence[tuple[int, datetime]], monitors: Mapping[int, Sequence[int]],
                   segments: Mapping[int, Sequence[tuple[str, datetime, datetime, int]]], *, first: date, last: date,
                   now: datetime) -> dict[int, list[ComponentDay]]:
    """Each component's days from `first` to `last` (UTC dates, both included).

    components: (id, created_at); monitors: component id -> its monitors' ids; segments:
    component id -> (declared status, from, to, incident id) of its public incidents."""
    start = datetime.combine(first, time.min, tzinfo=UTC)
    end = min(datetime.combine(last, time.min, tzinfo=UTC) + DAY, now + timedelta(microseconds=1))
    all_ids = sorted({m for ids in monitors.values() for m in ids})
    per_monitor = series_by_monitor(all_ids, start, end, now=now, period=Rollup.Period.DAY) if all_ids else {}
    result: dict[int, list[ComponentDay]] = {}
    for component_id, created_at in components:
        own = segments.get(component_id, ())
        major = _union((lo, hi) for status, lo, hi, _i in own if status == "major_outage")
        partial = _minus(_union((lo, hi) for status, lo, hi, _i in own if status == "partial_outage"), major)
        ids = monitors.get(component_id, ())
        days = []
        day = first
        while day <= last:
            day_lo = datetime.combine(day, time.min, tzinfo=UTC)
            lo, hi = max(day_lo, created_at), min(day_lo + DAY, now)
            entry = ComponentDay(day=day)
            if hi > lo:
                entry.seconds = (hi - lo).total_seconds()
                entry.checks = total(per_monitor.get(m, {}).get(day_lo, Figures()) for m in ids)
                counted = entry.checks.counted
                if counted:
                    entry.measured_down_seconds = entry.seconds * (counted - entry.checks.counted_up) / counted
                declared_major = _seconds(major, lo, hi)
                declared_partial = _seconds(partial, lo, hi)
                entry.major_outage_seconds = max(entry.measured_down_seconds, declared_major)
                entry.partial_outage_seconds = min(declared_partial, entry.seconds - entry.major_outage_seconds)
                entry.incident_ids = sorted({i for _s, s_lo, s_hi, i in own if s_lo < hi and s_hi >= lo})
                # Without monitors the incidents are the only source; with monitors a day
                # without a counted check (and nothing declared) is "no data".
                entry.has_data = not ids or counted > 0 or declared_major > 0 or declared_partial > 0
            days.append(entry)
            day += timedelta(days=1)
        result[component_id] = days
    return result
