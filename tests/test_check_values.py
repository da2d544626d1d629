"""Values are data: the number a check measured is stored with its result, rolled up per hour and
day (count, sum, min, max, last) and read back through monitors.availability like every figure."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from monitors import availability, rollups, services
from monitors.checkers import run_check, thresholds
from monitors.checkers.base import CheckSession, Result
from monitors.models import CheckResult, Monitor, Region, Rollup
from monitors.services import Checked
from tests.servers import HTTPServer, respond

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)


@pytest.fixture
def pool_target():
    """A service whose health document carries its connection pool use (the guides' "16 of 20")."""
    state = {"in_use": 16}
    server = HTTPServer({"/health": lambda h: respond(h, 200, json.dumps(
        {"status": "healthy", "pool": {"in_use": state["in_use"], "size": 20}}).encode(), {"Content-Type": "application/json"})})
    yield server, state
    server.close()


def monitor(kind: str, target: str = "", **settings) -> Monitor:
    return services.monitor_upsert(changes={"name": f"{kind}-value", "kind": kind, "target": target, "settings": settings,
                                            "interval_seconds": 60, "timeout_seconds": 5, "retries": 0}, now=NOW)


def record(item: Monitor, result: Result, at: datetime) -> None:
    services.record_results(region_name="default", checked=[Checked(item.pk, at, result)], now=at)


def test_a_health_documents_number_is_stored_with_its_result(pool_target):
    server, state = pool_target
    item = monitor("health_json", f"{server.url}/health", value_path="$.pool.in_use", warn_above=15, down_above=19)
    record(item, run_check(item, CheckSession(), NOW), NOW)
    state["in_use"] = 12
    record(item, run_check(item, CheckSession(), NOW + timedelta(minutes=1)), NOW + timedelta(minutes=1))
    stored = list(CheckResult.objects.filter(monitor_id=item.pk).order_by("at").values_list("value", "outcome", "message"))
    assert stored == [(16.0, CheckResult.Outcome.DEGRADED, "pool.in_use 16 > 15"), (12.0, CheckResult.Outcome.OK, "pool.in_use 12")]


def test_any_checker_that_returns_judged_has_its_value_stored_and_a_plain_check_none():
    item = monitor("postgres", "postgres://127.0.0.1:5432/postgres", query="select 1")
    record(item, thresholds.judged(0.0123, {"warn_above": 0.01}, latency_ms=3), NOW)
    record(item, Result("ok", latency_ms=4, message="connected"), NOW + timedelta(minutes=1))
    values = list(CheckResult.objects.filter(monitor_id=item.pk).order_by("at").values_list("value", flat=True))
    # A 4-byte real on PostgreSQL: seven significant digits, enough for a chart and its thresholds.
    assert values[0] == pytest.approx(0.0123, rel=1e-6) and values[1] is None


def test_a_failed_check_without_a_number_stores_no_value(free_port):
    item = monitor("health_json", f"http://127.0.0.1:{free_port}/health", value_path="$.pool.in_use", warn_above=15)
    record(item, run_check(item, CheckSession(), NOW), NOW)
    row = CheckResult.objects.get(monitor_id=item.pk)
    assert row.outcome == CheckResult.Outcome.DOWN and row.value is None


def brute_force(rows: list[tuple[datetime, float | None]], start: datetime, end: datetime) -> tuple | None:
    values = [(at, value) for at, value in sorted(rows) if start <= at < end and value is not None]
    if not values:
        return None
    numbers = [value for _at, value in values]
    return len(numbers), pytest.approx(sum(numbers)), min(numbers), max(numbers), values[-1][1]


def test_rollups_and_the_live_tail_give_the_same_values_as_the_raw_rows():
    item = monitor("postgres", "postgres://127.0.0.1:5432/postgres", query="select 1")
    region = Region.objects.get(name="default")
    generator = random.Random(18)
    rows: list[tuple[datetime, float | None]] = []
    moment = NOW - timedelta(days=3, hours=5)
    while moment <= NOW:
        # Whole numbers and halves are exact in a 4-byte real, so sums compare exactly.
        value = None if generator.random() < 0.2 else generator.randint(0, 400) / 2
        rows.append((moment, value))
        moment += timedelta(minutes=generator.randint(3, 17))
    CheckResult.objects.bulk_create([CheckResult(monitor_id=item.pk, at=at, region_id=region.pk, outcome=0, value=value)
                                     for at, value in rows])
    # What the rollup job has done by now: every hour, and the days that are complete.
    hour_start = rollups.hour_start(rows[0][0])
    while hour_start < rollups.hour_start(NOW):
        rollups.rollup_hour(hour_start)
        hour_start += timedelta(hours=1)
    for days_back in (1, 2, 3):
        rollups.rollup_day(rollups.day_start(NOW) - timedelta(days=days_back))
    assert Rollup.objects.filter(monitor=item, period=Rollup.Period.DAY, value_count__gt=0).exists()
    hour = Rollup.objects.filter(monitor=item, period=Rollup.Period.HOUR, value_count__gt=0).order_by("start").first()
    assert (hour.value_count, hour.value_sum, hour.value_min, hour.value_max, hour.value_last) == brute_force(
        rows, hour.start, hour.start + timedelta(hours=1))

    end = NOW + timedelta(microseconds=1)
    for period, step, start in ((Rollup.Period.DAY, timedelta(days=1), NOW - timedelta(days=4)),
                                (Rollup.Period.HOUR, timedelta(hours=1), NOW - timedelta(hours=30))):
        points = availability.value_series(item.pk, start, end, now=NOW, period=period)
        assert points, period
        for bucket, values in points:
            expected = brute_force(rows, bucket, min(bucket + step, end))
            got = (values.count, values.total, values.low, values.high, values.last) if values.count else None
            assert got == expected, (period, bucket)


def test_an_http_monitors_number_is_its_latency_charted_with_its_latency_limits(client, viewer):
    item = monitor("http", "http://127.0.0.1:9/", latency_warn_ms=300, latency_down_ms=1000)
    record(item, Result("ok", latency_ms=120, status_code=200, message="HTTP 200"), NOW)
    client.force_login(viewer)
    page = client.get(f"/monitors/{item.pk}/").content.decode()
    latency_chart = page[page.index('aria-labelledby="latency-24h-title"'):]
    latency_chart = latency_chart[:latency_chart.index("</svg>")]
    assert "<title>warning above 300 ms</title>" in latency_chart and "<title>critical above 1000 ms</title>" in latency_chart
    assert 'id="value-charts"' not in page  # no value column for HTTP: its number is latency_ms
    assert CheckResult.objects.get(monitor_id=item.pk).value is None
