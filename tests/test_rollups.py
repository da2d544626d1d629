"""Rollups equal raw rows exactly; percentiles from them fall in the right bucket;
old raw rows are pruned in batches."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib import latency_histogram
from monitors import rollups
from monitors.models import CheckResult, Monitor, Region, Rollup

HOUR = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)

result_strategy = st.tuples(
    st.integers(0, 3599),  # second within the hour
    st.sampled_from([0, 1, 2]),  # outcome
    st.one_of(st.none(), st.integers(0, 70000)),  # latency
)


def exact_percentile(latencies: list[int], quantile: float) -> int:
    ordered = sorted(latencies)
    return ordered[math.ceil(quantile * len(ordered)) - 1]


@given(st.lists(st.floats(0, 100000, allow_nan=False), min_size=1, max_size=300), st.sampled_from([0.5, 0.95, 0.99]))
def test_the_percentile_bucket_holds_the_exact_percentile(latencies, quantile):
    histogram = latency_histogram.from_latencies(latencies)
    lower, upper = latency_histogram.bucket_range(latency_histogram.percentile_bucket(histogram, quantile))
    exact = sorted(latencies)[math.ceil(quantile * len(latencies)) - 1]
    assert lower <= exact < upper


@pytest.mark.django_db
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from([0, 1]), result_strategy), max_size=200, unique_by=lambda r: (r[0], r[1][0])))
def test_hourly_and_daily_rollups_equal_the_raw_rows(rows):
    Rollup.objects.all().delete()
    CheckResult.objects.all().delete()
    region = Region.objects.get(name="default")
    monitors = [Monitor.objects.get_or_create(name=f"m{i}", defaults={"kind": "tcp", "target": "127.0.0.1:1"})[0] for i in range(2)]
    CheckResult.objects.bulk_create([
        CheckResult(monitor=monitors[index], at=HOUR + timedelta(seconds=second), region=region, outcome=outcome, latency_ms=latency)
        for index, (second, outcome, latency) in rows
    ])
    # A row of the next hour must not leak into this one.
    CheckResult.objects.create(monitor=monitors[0], at=HOUR + timedelta(hours=1), region=region, outcome=0, latency_ms=5)
    rollups.rollup_hour(HOUR)
    rollups.rollup_day(HOUR)
    for index, monitor in enumerate(monitors):
        mine = [r for i, r in rows if i == index]
        for period in ("hour", "day"):
            rollup = Rollup.objects.filter(monitor=monitor, period=period).first()
            if not mine:
                assert rollup is None
                continue
            assert rollup.total == len(mine)
            assert rollup.ok == sum(1 for _, o, _ in mine if o == 0)
            assert rollup.degraded == sum(1 for _, o, _ in mine if o == 1)
            latencies = [lat for _, _, lat in mine if lat is not None]
            assert rollup.latency_count == len(latencies)
            assert rollup.latency_sum_ms == sum(latencies)
            assert sum(rollup.histogram) == len(latencies)
            for quantile in (0.5, 0.95, 0.99):
                if latencies:
                    lower, upper = latency_histogram.bucket_range(latency_histogram.percentile_bucket(rollup.histogram, quantile))
                    assert lower <= exact_percentile(latencies, quantile) < upper


@pytest.mark.django_db
def test_refresh_recomputes_recent_hours_and_completes_yesterday():
    region = Region.objects.get(name="default")
    monitor = Monitor.objects.create(name="api", kind="tcp", target="127.0.0.1:1")
    yesterday = datetime(2026, 11, 2, 23, 30, tzinfo=UTC)
    CheckResult.objects.create(monitor=monitor, at=yesterday, region=region, outcome=0, latency_ms=12)
    rollups.refresh_recent(now=yesterday + timedelta(minutes=5))
    assert Rollup.objects.get(period="hour").total == 1
    # A late result for the same hour is counted on the next refresh.
    CheckResult.objects.create(monitor=monitor, at=yesterday + timedelta(minutes=20), region=region, outcome=2, latency_ms=None)
    rollups.refresh_recent(now=yesterday + timedelta(minutes=35))
    hour = Rollup.objects.get(period="hour")
    assert (hour.total, hour.ok) == (2, 1)
    rollups.refresh_recent(now=yesterday + timedelta(hours=2))
    day = Rollup.objects.get(period="day")
    assert (day.total, day.ok, day.start) == (2, 1, datetime(2026, 11, 2, tzinfo=UTC))


@pytest.mark.django_db
def test_a_rollup_that_would_not_change_is_not_written_again():
    """The previous hour is recomputed every minute; its rollups are rewritten only when a late result changes them."""
    from django.db import connection

    region = Region.objects.get(name="default")
    monitor = Monitor.objects.create(name="api", kind="tcp", target="127.0.0.1:1")
    CheckResult.objects.create(monitor=monitor, at=HOUR + timedelta(minutes=5), region=region, outcome=0, latency_ms=12)

    def version() -> object:
        if connection.vendor != "postgresql":
            return Rollup.objects.values_list("total", flat=True).get()
        with connection.cursor() as cursor:
            cursor.execute("SELECT xmin::text FROM monitors_rollup")
            return cursor.fetchone()[0]

    rollups.refresh_recent(now=HOUR + timedelta(minutes=70))
    first = version()
    rollups.refresh_recent(now=HOUR + timedelta(minutes=71))
    assert version() == first
    CheckResult.objects.create(monitor=monitor, at=HOUR + timedelta(minutes=6), region=region, outcome=2, latency_ms=None)
    rollups.refresh_recent(now=HOUR + timedelta(minutes=72))
    assert version() != first
    assert (Rollup.objects.get(period="hour").total, Rollup.objects.get(period="hour").ok) == (2, 1)


@pytest.mark.django_db
def test_raw_rows_older_than_retention_are_pruned_in_batches(monkeypatch):
    monkeypatch.setattr(rollups, "PRUNE_BATCH", 7)
    region = Region.objects.get(name="default")
    monitor = Monitor.objects.create(name="api", kind="tcp", target="127.0.0.1:1")
    now = datetime(2026, 11, 20, tzinfo=UTC)
    old = [CheckResult(monitor=monitor, at=now - timedelta(days=31, minutes=i), region=region, outcome=0) for i in range(30)]
    new = [CheckResult(monitor=monitor, at=now - timedelta(days=29, minutes=i), region=region, outcome=0) for i in range(5)]
    CheckResult.objects.bulk_create(old + new)
    assert rollups.prune_raw(now=now, retention_days=30) == 30
    assert CheckResult.objects.count() == 5


@pytest.mark.django_db
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(st.integers(0, 3599), st.sampled_from([0, 1, 2])), max_size=150, unique_by=lambda r: r[0]),
       window=st.tuples(st.integers(0, 3599), st.integers(1, 3600)), excluded=st.booleans())
def test_results_inside_an_slo_excluded_maintenance_are_counted_apart(rows, window, excluded):
    from incidents.models import Component, Maintenance

    Rollup.objects.all().delete()
    CheckResult.objects.all().delete()
    Maintenance.objects.all().delete()
    region = Region.objects.get(name="default")
    api, _ = Component.objects.get_or_create(name="API")
    inside, _ = Monitor.objects.get_or_create(name="api-check", defaults={"kind": "tcp", "target": "127.0.0.1:1", "component": api})
    elsewhere, _ = Monitor.objects.get_or_create(name="other", defaults={"kind": "tcp", "target": "127.0.0.1:1"})
    start, length = window
    maintenance = Maintenance.objects.create(title="w", starts_at=HOUR + timedelta(seconds=start),
                                             ends_at=HOUR + timedelta(seconds=start + length), exclude_from_slo=excluded)
    maintenance.components.set([api])
    CheckResult.objects.bulk_create([CheckResult(monitor=m, at=HOUR + timedelta(seconds=second), region=region, outcome=outcome)
                                     for second, outcome in rows for m in (inside, elsewhere)])
    rollups.rollup_hour(HOUR)
    rollups.rollup_day(HOUR)
    in_window = [(s, o) for s, o in rows if start <= s < start + length] if excluded else []
    for period in ("hour", "day"):
        mine = Rollup.objects.filter(monitor=inside, period=period).first()
        other = Rollup.objects.filter(monitor=elsewhere, period=period).first()
        if not rows:
            assert mine is None and other is None
            continue
        assert (mine.excluded_total, mine.excluded_up) == (len(in_window), sum(1 for _s, o in in_window if o in (0, 1)))
        assert (other.excluded_total, other.excluded_up) == (0, 0)  # its component is not in maintenance
        assert mine.total == len(rows)  # exclusion is counted apart, never hidden
