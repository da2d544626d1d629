"""One truth: every surface reports the same availability figures for the same window, equal
to a brute-force count of the raw results, whenever the rollups last ran (issue 17).

Hypothesis writes check histories (ok, degraded, down, gaps, an SLO-excluded maintenance
window) around a UTC day and month boundary and a DST change (Europe/Berlin, and
Asia/Kolkata whose months start on a half hour), runs the rollup job at arbitrary moments
as the history is written, and then compares, at `now`: monitors.availability, the staff
monitor page's windows and charts (the ops API reads the same selectors), /metrics, the SLO page's
SLI, the monthly report (month to date), and the public bars, their tooltips' figures,
the 90-day percentage and the uptime JSON."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents.models import Component, Maintenance
from monitors import availability, rollups, selectors
from monitors.models import CheckResult, Monitor, Region, Rollup
from slo import reports, services
from slo.models import SLO
from statuspage.uptime import daily_uptime, uptime_days_document, uptime_for_range

pytestmark = pytest.mark.django_db

# (history start, SLO time zone): a DST change (Berlin, 2026-10-25 01:00 UTC) and the
# month's end in Berlin (2026-10-31 23:00 UTC) and in Kolkata (2026-10-31 18:30 UTC).
ANCHORS = [
    (datetime(2026, 10, 24, 18, 0, tzinfo=UTC), "Europe/Berlin"),
    (datetime(2026, 10, 31, 6, 0, tzinfo=UTC), "Europe/Berlin"),
    (datetime(2026, 10, 31, 3, 0, tzinfo=UTC), "Asia/Kolkata"),
]
STEP = timedelta(minutes=5)


@dataclass
class Check:
    at: datetime
    outcome: int
    latency: int | None


def brute(checks: list[Check], start: datetime, end: datetime, excluded: tuple[datetime, datetime] | None = None) -> dict[str, int]:
    inside = [c for c in checks if start <= c.at < end]
    out = [c for c in inside if excluded and excluded[0] <= c.at < excluded[1]]
    return {"total": len(inside), "up": sum(c.outcome != 2 for c in inside), "down": sum(c.outcome == 2 for c in inside),
            "counted": len(inside) - len(out), "counted_up": sum(c.outcome != 2 for c in inside) - sum(c.outcome != 2 for c in out)}


histories = st.fixed_dictionaries({
    "anchor": st.sampled_from(ANCHORS),
    # One entry per 5-minute slot: None is a gap (no check), else the outcome.
    "slots": st.lists(st.one_of(st.none(), st.sampled_from([0, 0, 0, 1, 2])), min_size=12, max_size=30 * 12),
    "rollup_every": st.one_of(st.none(), st.integers(min_value=1, max_value=200)),
    "rollup_offset": st.integers(min_value=0, max_value=300),
    "maintenance": st.one_of(st.none(), st.tuples(st.integers(0, 300), st.integers(1, 120))),
    "now_after": st.integers(min_value=0, max_value=180),  # minutes after the last slot
    "window": st.tuples(st.integers(0, 2000), st.integers(1, 2000)),  # an arbitrary window, in minutes
})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=histories)
def test_every_surface_equals_a_brute_force_count(client, history):
    CheckResult.objects.all().delete()
    Rollup.objects.all().delete()
    Maintenance.objects.all().delete()
    SLO.objects.all().delete()
    Monitor.objects.all().delete()
    Component.objects.all().delete()

    first, zone = history["anchor"]
    component = Component.objects.create(name="API")
    Component.objects.filter(pk=component.pk).update(created_at=first - timedelta(days=3))
    component.refresh_from_db()
    monitor = Monitor.objects.create(name="api", kind="tcp", target="127.0.0.1:1", component=component)
    Monitor.objects.filter(pk=monitor.pk).update(created_at=first - timedelta(hours=history["anchor"][0].hour % 7))
    monitor.refresh_from_db()
    region = Region.objects.get(name="default")
    excluded = None
    if history["maintenance"]:
        offset, length = history["maintenance"]
        excluded = (first + timedelta(minutes=offset), first + timedelta(minutes=offset + length))
        window = Maintenance.objects.create(title="upgrade", starts_at=excluded[0], ends_at=excluded[1], exclude_from_slo=True)
        window.components.set([component])

    checks: list[Check] = []
    for index, outcome in enumerate(history["slots"]):
        at = first + index * STEP
        if outcome is not None:
            checks.append(Check(at, outcome, None if outcome == 2 else 40 + index % 300))
        # The rollup job runs at arbitrary moments while the history is being written.
        every = history["rollup_every"]
        if every and (index + history["rollup_offset"]) % every == 0:
            CheckResult.objects.bulk_create(
                [CheckResult(monitor=monitor, at=c.at, region=region, outcome=c.outcome, latency_ms=c.latency) for c in checks],
                ignore_conflicts=True)
            rollups.refresh_recent(now=at + timedelta(seconds=30))
    CheckResult.objects.bulk_create(
        [CheckResult(monitor=monitor, at=c.at, region=region, outcome=c.outcome, latency_ms=c.latency) for c in checks],
        ignore_conflicts=True)
    last = first + len(history["slots"]) * STEP
    now = last + timedelta(minutes=history["now_after"])

    # The module against the raw results, for an arbitrary window and the whole history.
    window_start = first + timedelta(minutes=history["window"][0] - 120)
    window_end = window_start + timedelta(minutes=history["window"][1])
    for lo, hi in [(window_start, min(window_end, now)), (first - timedelta(hours=2), now + timedelta(seconds=1))]:
        figures = availability.figures([monitor.pk], lo, hi, now=now)
        truth = brute(checks, lo, hi, excluded)
        assert (figures.total, figures.up, figures.down) == (truth["total"], truth["up"], truth["down"]), (lo, hi)
        assert (figures.counted, figures.counted_up) == (truth["counted"], truth["counted_up"])

    # Staff monitor page and ops API: the windows, and the charts' buckets.
    for window in selectors.uptime_windows(monitor, now=now):
        span = dict(availability.WINDOWS)[window.window]
        truth = brute(checks, now - span, now + timedelta(microseconds=1))
        assert window.checks == truth["total"], window.window
        assert window.uptime == (round(100 * truth["up"] / truth["total"], 4) if truth["total"] else None)
        covered = (now - max(now - span, monitor.created_at)).total_seconds()
        assert window.down_seconds == (round(covered * truth["down"] / truth["total"], 1) if truth["total"] else 0.0)
    # /metrics: the same 24 hours as the monitor page.
    with time_machine.travel(now, tick=False):
        scraped = client.get("/metrics").content.decode()
    truth = brute(checks, now - timedelta(hours=24), now + timedelta(microseconds=1))
    found = re.search(r'vigil_monitor_uptime_percent\{monitor="api",window="24h"\} ([0-9.e+-]+)', scraped)
    assert (found is None) if not truth["total"] else float(found.group(1)) == pytest.approx(100 * truth["up"] / truth["total"])
    assert f'vigil_monitor_checks{{monitor="api",outcome="down",window="24h"}} {float(truth["down"])}' in scraped
    for period, step in (("hour", timedelta(hours=1)), ("day", timedelta(days=1))):
        for point in selectors.series(monitor, period=period, start=now - timedelta(days=4), end=now + timedelta(microseconds=1), now=now):
            truth = brute(checks, point.start, point.start + step)
            assert (point.total, point.down) == (truth["total"], truth["down"]), (period, point.start)

    # SLO page (calendar month in a non-UTC zone) and the monthly report, month to date.
    slo = SLO.objects.create(name="API", objective=99.0, window="calendar_month", time_zone=zone, component=component)
    slo.monitors.set([monitor])
    figures = services.evaluate(slo, now=now)
    month_start, _end = figures["window"]
    truth = brute(checks, month_start, now + timedelta(microseconds=1), excluded)
    assert (figures["counts"].good, figures["counts"].valid) == (truth["counted_up"], truth["counted"])
    local = now.astimezone(month_start.tzinfo)
    report = reports.service_report(slo, local.year, local.month, now=now)
    assert report.month_to_date and (report.good, report.valid) == (truth["counted_up"], truth["counted"])
    assert report.spent_minutes == pytest.approx(figures["budget"].spent_minutes)
    assert report.budget_minutes == pytest.approx(figures["budget"].total_minutes)

    # Public bars, tooltips, the 90-day percentage and the uptime JSON.
    bar = daily_uptime([component], [], now=now)[component.pk]
    for day in bar.days:
        lo = datetime.combine(day.day, datetime.min.time(), tzinfo=UTC)
        truth = brute(checks, max(lo, component.created_at), min(lo + timedelta(days=1), now + timedelta(microseconds=1)), excluded)
        if not truth["counted"]:
            assert day.uptime is None, day.day
            continue
        assert day.figures is not None
        assert (day.figures.checks.counted, day.figures.checks.counted_up) == (truth["counted"], truth["counted_up"])
        assert day.uptime == pytest.approx(100 * truth["counted_up"] / truth["counted"])
        seconds = (min(lo + timedelta(days=1), now) - max(lo, component.created_at)).total_seconds()
        assert day.major_outage_minutes * 60 == pytest.approx(seconds * (truth["counted"] - truth["counted_up"]) / truth["counted"])
    document = json.loads(json.dumps(uptime_days_document(component, bar)))
    answer = uptime_for_range(document, bar.days[0].day, bar.days[-1].day)
    assert answer["uptime_percentage"] == (None if bar.percent is None else round(bar.percent, 4))
    assert answer["major_outage"] == round(sum(d.major_outage_minutes * 60 for d in bar.days))
