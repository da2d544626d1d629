"""Hourly and daily rollups of check results, and retention of raw rows.

Hourly rollups are recomputed from raw rows for the hours that can still change
(the current and previous hour, plus any hour missed while beat was stopped);
the aggregation runs in the database, grouped by monitor, outcome and latency
bucket. Daily rollups are merged from hourly ones once a UTC day is complete.
Every figure is read through monitors.availability: rollups where they are final, raw
rows for the tail they have not reached (monitors.availability.tail_start).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Count, F, IntegerField, Max, Min, Q, QuerySet, Sum, Value, When, Window
from django.db.models.functions import FirstValue, TruncHour

from core.bulk import insert_rows
from incidents.models import Maintenance
from lib import latency_histogram
from monitors.models import CheckResult, Monitor, Rollup

log = logging.getLogger("vigil.rollups")
VALUE_FIELDS = ["value_count", "value_sum", "value_min", "value_max", "value_last"]
ROLLUP_FIELDS = ["total", "ok", "degraded", "latency_sum_ms", "latency_count", "histogram", "excluded_total", "excluded_up",
                 *VALUE_FIELDS]
CATCH_UP_HOURS = 48
PRUNE_BATCH = 10_000


def hour_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _bucket_expression() -> Case:
    whens = [When(latency_ms__isnull=True, then=Value(-1))]
    whens += [When(latency_ms__lt=bound, then=Value(index)) for index, bound in enumerate(latency_histogram.BOUNDS_MS)]
    return Case(*whens, default=Value(len(latency_histogram.BOUNDS_MS)), output_field=IntegerField())


def _excluded_expression(start: datetime, end: datetime) -> Case | Value:
    """1 for a result inside a maintenance window excluded from SLOs (for its monitor's component)."""
    whens = []
    windows = Maintenance.objects.filter(exclude_from_slo=True, starts_at__lt=end, ends_at__gt=start).prefetch_related("components")
    for window in windows:
        component_ids = [c.pk for c in window.components.all()]
        monitor_ids = list(Monitor.objects.filter(component_id__in=component_ids).values_list("pk", flat=True))
        if monitor_ids:
            whens.append(When(Q(monitor_id__in=monitor_ids, at__gte=window.starts_at, at__lt=window.ends_at), then=Value(1)))
    if not whens:
        return Value(0, output_field=IntegerField())
    return Case(*whens, default=Value(0), output_field=IntegerField())


def aggregate_raw(start: datetime, end: datetime, *, monitor_ids: list[int] | None = None) -> dict[int, Rollup]:
    """Rollup values per monitor for raw rows in [start, end) (within one UTC hour), computed by the database."""
    return {monitor_id: rollup for (monitor_id, _hour), rollup in aggregate_raw_hours(start, end, monitor_ids=monitor_ids).items()}


def aggregate_raw_hours(start: datetime, end: datetime, *, monitor_ids: list[int] | None = None) -> dict[tuple[int, datetime], Rollup]:
    """Rollup values per monitor and UTC hour for raw rows in [start, end), in one query
    (a reader of a raw tail of many hours asks once, not once an hour)."""
    results = CheckResult.objects.filter(at__gte=start, at__lt=end)
    if monitor_ids is not None:
        results = results.filter(monitor_id__in=monitor_ids)
    rows = (
        results
        .annotate(hour=TruncHour("at", tzinfo=UTC), bucket=_bucket_expression(), excluded=_excluded_expression(start, end))
        .values("monitor_id", "hour", "outcome", "bucket", "excluded")
        .annotate(n=Count("*"), latency=Sum("latency_ms"), values=Count("value"), value_sum=Sum("value"), value_min=Min("value"),
                  value_max=Max("value"))
        .order_by()
    )
    rollups: dict[tuple[int, datetime], Rollup] = {}
    for row in rows:
        key = (row["monitor_id"], row["hour"])
        rollup = rollups.get(key)
        if rollup is None:
            rollup = rollups[key] = Rollup(
                monitor_id=row["monitor_id"], total=0, ok=0, degraded=0, latency_sum_ms=0, latency_count=0,
                histogram=latency_histogram.empty(), excluded_total=0, excluded_up=0,
            )
        count = row["n"]
        rollup.total += count
        if row["outcome"] == CheckResult.Outcome.OK:
            rollup.ok += count
        elif row["outcome"] == CheckResult.Outcome.DEGRADED:
            rollup.degraded += count
        if row["bucket"] >= 0:
            rollup.histogram[row["bucket"]] += count
            rollup.latency_count += count
            rollup.latency_sum_ms += row["latency"] or 0
        if row["excluded"]:
            rollup.excluded_total += count
            if row["outcome"] in (CheckResult.Outcome.OK, CheckResult.Outcome.DEGRADED):
                rollup.excluded_up += count
        if row["values"]:
            merge_values(rollup, count=row["values"], total=row["value_sum"], low=row["value_min"], high=row["value_max"], last=None)
    if any(rollup.value_count for rollup in rollups.values()):
        for key, last in _last_values(results).items():
            rollups[key].value_last = last
    return rollups


def _last_values(results: QuerySet[CheckResult]) -> dict[tuple[int, datetime], float]:
    """Each monitor's value of its last result with one among `results`, per UTC hour (ties
    between regions: the highest), in one pass (a window function, not a subquery per row)."""
    last_value = Window(FirstValue("value"), partition_by=[F("monitor_id"), F("hour")], order_by=[F("at").desc(), F("value").desc()])
    rows = (results.filter(value__isnull=False).annotate(hour=TruncHour("at", tzinfo=UTC)).annotate(last=last_value)
            .values_list("monitor_id", "hour", "last").order_by().distinct())
    return {(monitor_id, hour): float(last) for monitor_id, hour, last in rows}


def merge_values(rollup: Rollup, *, count: int, total: float | None, low: float | None, high: float | None,
                 last: float | None) -> None:
    """Fold a later piece's value figures into a rollup (its last value, when known, wins)."""
    rollup.value_count += count
    rollup.value_sum = (rollup.value_sum or 0.0) + (total or 0.0)
    rollup.value_min = low if rollup.value_min is None else min(rollup.value_min, low) if low is not None else rollup.value_min
    rollup.value_max = high if rollup.value_max is None else max(rollup.value_max, high) if high is not None else rollup.value_max
    if last is not None:
        rollup.value_last = last


def rollup_hour(start: datetime) -> int:
    start = hour_start(start)
    rollups = aggregate_raw(start, start + timedelta(hours=1))
    for rollup in rollups.values():
        rollup.period, rollup.start = Rollup.Period.HOUR, start
    _save(rollups.values())
    return len(rollups)


def rollup_day(start: datetime) -> int:
    start = day_start(start)
    merged: dict[int, Rollup] = {}
    # In time order, so each day's last value is the one of its last hour with a value.
    hours = Rollup.objects.filter(period=Rollup.Period.HOUR, start__gte=start, start__lt=start + timedelta(days=1)).order_by("monitor_id", "start")
    for hour in hours.iterator(chunk_size=2000):
        day = merged.get(hour.monitor_id)
        if day is None:
            day = merged[hour.monitor_id] = Rollup(
                monitor_id=hour.monitor_id, period=Rollup.Period.DAY, start=start, total=0, ok=0, degraded=0,
                latency_sum_ms=0, latency_count=0, histogram=latency_histogram.empty(), excluded_total=0, excluded_up=0,
            )
        day.total += hour.total
        day.ok += hour.ok
        day.degraded += hour.degraded
        day.latency_sum_ms += hour.latency_sum_ms
        day.latency_count += hour.latency_count
        day.excluded_total += hour.excluded_total
        day.excluded_up += hour.excluded_up
        day.histogram = latency_histogram.merge(day.histogram, hour.histogram)
        if hour.value_count:
            merge_values(day, count=hour.value_count, total=hour.value_sum, low=hour.value_min, high=hour.value_max, last=hour.value_last)
    _save(merged.values())
    return len(merged)


def _save(rollups: Iterable[Rollup]) -> None:
    """Insert or update these rollups, 5,000 rows a statement from column arrays; a stored rollup
    that would not change is not written again (the previous hour, recomputed every minute, mostly).

    bulk_create's model instances and a Django call per value cost the worker 3.5 s of CPU a minute
    at 50,000 monitors, while it was also the worker running checks (bench: simulated scale)."""
    rows = [(r.monitor_id, r.period, r.start, *(getattr(r, name) for name in ROLLUP_FIELDS)) for r in rollups]
    with transaction.atomic():
        for start in range(0, len(rows), 5000):
            insert_rows(Rollup, ["monitor", "period", "start", *ROLLUP_FIELDS], rows[start:start + 5000],
                        unique_fields=["monitor", "period", "start"], update_fields=ROLLUP_FIELDS)


def refresh_recent(*, now: datetime) -> int:
    """Recompute the hours that may still change, and complete days not yet rolled up."""
    current = hour_start(now)
    latest = Rollup.objects.filter(period=Rollup.Period.HOUR).order_by("-start").values_list("start", flat=True).first()
    first = current - timedelta(hours=1)
    # Never rolled up (a new install, or results written before the first run): the whole
    # catch-up span, so that what monitors.availability reads from raw rows meanwhile
    # (tail_start) is exactly what the rollups end up holding.
    latest = latest if latest is not None else current - timedelta(hours=CATCH_UP_HOURS)
    first = max(min(first, hour_start(latest)), current - timedelta(hours=CATCH_UP_HOURS))
    count = 0
    hour = first
    while hour <= current:
        count += rollup_hour(hour)
        hour += timedelta(hours=1)
    # A day is final an hour after it ends (no result for it can arrive later).
    for days_back in (1, 2, 3):
        day = day_start(now) - timedelta(days=days_back)
        if now >= day + timedelta(days=1, hours=1) and not Rollup.objects.filter(period=Rollup.Period.DAY, start=day).exists():
            if Rollup.objects.filter(period=Rollup.Period.HOUR, start__gte=day, start__lt=day + timedelta(days=1)).exists():
                count += rollup_day(day)
    return count


def prune_raw(*, now: datetime, retention_days: int | None = None, time_budget: float = 20.0) -> int:
    """Delete raw rows older than the retention in batches, each its own short transaction."""
    days = retention_days if retention_days is not None else settings.VIGIL_RAW_RETENTION_DAYS
    cutoff = now - timedelta(days=days)
    table = CheckResult._meta.db_table
    if connection.vendor == "postgresql":
        sql = f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE at < %s LIMIT {PRUNE_BATCH}))"
    else:
        sql = f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE at < %s LIMIT {PRUNE_BATCH})"
    deleted = 0
    started = time.monotonic()
    while time.monotonic() - started < time_budget:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [cutoff])
            batch = cursor.rowcount
        deleted += batch
        if batch < PRUNE_BATCH:
            break
    if deleted:
        log.info("pruned %d raw results older than %s", deleted, cutoff.isoformat())
    return deleted


def hourly_by_monitor(monitor_ids: list[int], start: datetime, end: datetime) -> dict[int, list[Rollup]]:
    grouped: dict[int, list[Rollup]] = defaultdict(list)
    for rollup in Rollup.objects.filter(monitor_id__in=monitor_ids, period=Rollup.Period.HOUR, start__gte=start, start__lt=end).order_by("start"):
        grouped[rollup.monitor_id].append(rollup)
    return grouped
