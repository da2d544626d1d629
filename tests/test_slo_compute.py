"""SLOs computed from rollups equal a reference computed here from the raw rows, with
maintenance exclusion, the current hour from raw rows, latency thresholds and calendar
months; fast burns page through the alerting rule, a blip does not."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from incidents.models import Component, Maintenance
from monitors import rollups
from monitors.models import CheckResult, Monitor, Region
from slo import services
from slo.models import SLO

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 14, 37, tzinfo=UTC)


def history(seed: int, monitors: list[Monitor], *, start: datetime, end: datetime, step_minutes: int = 5) -> list[CheckResult]:
    rng = random.Random(seed)
    region = Region.objects.get(name="default")
    rows, at = [], start
    while at < end:
        for monitor in monitors:
            outcome = rng.choices([0, 1, 2], weights=[95, 3, 2])[0]
            rows.append(CheckResult(monitor=monitor, at=at, region=region, outcome=outcome, latency_ms=rng.choice([40, 90, 250, 1200, 6000])))
        at += timedelta(minutes=step_minutes)
    CheckResult.objects.bulk_create(rows, batch_size=5000)
    return rows


def roll_up(start: datetime, end: datetime) -> None:
    hour = rollups.hour_start(start)
    while hour < end:
        rollups.rollup_hour(hour)
        hour += timedelta(hours=1)
    day = rollups.day_start(start)
    while day + timedelta(days=1) <= rollups.day_start(end):
        rollups.rollup_day(day)
        day += timedelta(days=1)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_availability_with_maintenance_excluded_equals_the_raw_reference(seed):
    api = Component.objects.create(name="API")
    monitors = [Monitor.objects.create(name=f"api-{i}", kind="tcp", target="127.0.0.1:1", component=api) for i in range(2)]
    start = NOW - timedelta(days=3, hours=5)
    rows = history(seed, monitors, start=start, end=NOW)
    window = Maintenance.objects.create(title="upgrade", starts_at=NOW - timedelta(days=1, hours=2, minutes=13),
                                        ends_at=NOW - timedelta(days=1, minutes=41), exclude_from_slo=True)
    window.components.set([api])
    roll_up(start, NOW)
    slo = SLO.objects.create(name="API availability", objective=99.5, window="rolling_7d")
    slo.monitors.set(monitors)
    figures = services.evaluate(slo, now=NOW)
    counted = [r for r in rows if not (window.starts_at <= r.at < window.ends_at)]
    good = sum(1 for r in counted if r.outcome in (0, 1))
    assert (figures["counts"].good, figures["counts"].valid) == (good, len(counted))
    assert figures["budget"].sli == pytest.approx(good / len(counted), abs=1e-9)
    allowed = 0.005
    assert figures["budget"].spent_minutes == pytest.approx((1 - good / len(counted)) * 7 * 24 * 60, abs=1e-9)
    last_hour = [r for r in counted if r.at >= NOW - timedelta(hours=1)]
    expected_burn = (1 - sum(1 for r in last_hour if r.outcome in (0, 1)) / len(last_hour)) / allowed
    assert figures["burns"][60] == pytest.approx(expected_burn, abs=1e-9)
    slo.exclude_maintenance = False
    assert services.evaluate(slo, now=NOW)["counts"].valid == len(rows)


def test_latency_slo_counts_checks_under_the_threshold():
    monitor = Monitor.objects.create(name="web", kind="http", target="http://127.0.0.1:1/")
    start = NOW - timedelta(days=2)
    rows = history(7, [monitor], start=start, end=NOW)
    roll_up(start, NOW)
    slo = SLO(name="fast", kind="latency", latency_threshold_ms=1000, objective=99.0, window="rolling_7d")
    slo.full_clean(exclude=["monitors"])
    slo.save()
    slo.monitors.set([monitor])
    counts = services.evaluate(slo, now=NOW)["counts"]
    assert (counts.good, counts.valid) == (sum(1 for r in rows if r.latency_ms < 1000), len(rows))


def test_a_latency_threshold_off_the_histogram_is_refused_with_the_nearest():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        SLO(name="x", kind="latency", latency_threshold_ms=1100, objective=99.9).full_clean(exclude=["monitors"])
    assert "the nearest is 1000 ms" in str(error.value)


def test_a_calendar_month_in_its_time_zone_counts_a_monitor_added_mid_month():
    monitor = Monitor.objects.create(name="late", kind="tcp", target="127.0.0.1:1")
    start = datetime(2026, 11, 12, 6, tzinfo=UTC)  # added on the 12th
    rows = history(11, [monitor], start=start, end=NOW, step_minutes=10)
    roll_up(start, NOW)
    slo = SLO.objects.create(name="month", objective=99.9, window="calendar_month", time_zone="America/New_York")
    slo.monitors.set([monitor])
    figures = services.evaluate(slo, now=NOW)
    assert figures["counts"].valid == len(rows)
    window_start, window_end = figures["window"]
    assert window_start.isoformat() == "2026-11-01T00:00:00-04:00" and window_end.isoformat() == "2026-12-01T00:00:00-05:00"
    assert figures["budget"].total_minutes == pytest.approx(0.001 * (30 * 24 * 60 + 60))  # November 1 is 25 hours long there


def test_a_fast_burn_pages_through_the_rule_and_a_blip_does_not():
    from alerting import services as alerting_services
    from alerting.models import Alert, AlertRule, Channel, Notification

    channel = Channel.objects.create(name="pager", kind="email", config={"to": ["pager@example.com"]})
    rule = AlertRule.objects.create(name="SLO burn", states=["down"], group_wait_seconds=0)
    rule.channels.add(channel)
    monitor = Monitor.objects.create(name="checkout", kind="tcp", target="127.0.0.1:1")
    slo = SLO.objects.create(name="Checkout availability", objective=99.9, window="rolling_30d", alert_rule=rule)
    slo.monitors.set([monitor])
    region = Region.objects.get(name="default")
    # One failed probe in an hour of 1-minute checks: no page.
    CheckResult.objects.bulk_create([CheckResult(monitor=monitor, at=NOW - timedelta(minutes=m), region=region, outcome=2 if m == 3 else 0)
                                     for m in range(1, 61)])
    with time_machine.travel(NOW, tick=False):
        services.refresh(slo, now=NOW)
    assert not Alert.objects.exists()
    # A fast burn: every check of the last 40 minutes failed.
    CheckResult.objects.filter(at__gte=NOW - timedelta(minutes=40)).update(outcome=2)
    with time_machine.travel(NOW, tick=False):
        snapshot = services.refresh(slo, now=NOW)
        alerting_services.tick(now=NOW + timedelta(seconds=1))
    alert = Alert.objects.get(labels__kind="slo_burn", severity="critical", dedup_key__endswith=":60:5")
    assert alert.summary == "Checkout availability: error budget burn > 14.4x over 1h and 5m"
    assert Notification.objects.filter(channel=channel).exists()
    assert snapshot.burn_1h > 14.4 and snapshot.status in ("at risk", "exhausted")


def test_the_slo_pages_show_figures_chart_and_table(client, viewer):
    monitor = Monitor.objects.create(name="web", kind="tcp", target="127.0.0.1:1")
    slo = SLO.objects.create(name="Web availability", objective=99.9, window="rolling_30d")
    slo.monitors.set([monitor])
    history(5, [monitor], start=NOW - timedelta(hours=5), end=NOW)
    roll_up(NOW - timedelta(hours=5), NOW)
    for minutes in (180, 120, 60, 0):
        services.refresh(slo, now=NOW - timedelta(minutes=minutes))
    client.force_login(viewer)
    with time_machine.travel(NOW, tick=False):
        listing = client.get("/slos/").content.decode()
        page = client.get(f"/slos/{slo.pk}/").content.decode()
    assert "Web availability" in listing and 'class="budget-bar"' in listing and "<polyline" in listing
    assert "Budget burn-down" in page and 'class="burn-down"' in page and "The same as a table" in page
    assert "43.2 min" in page  # 99.9% of 30 days


def test_anonymous_visitors_are_sent_to_log_in(client):
    assert client.get("/slos/")["Location"].startswith("/accounts/login/")


def test_a_slow_burn_files_a_ticket_not_a_page():
    from alerting.models import Alert, AlertRule
    from monitors.models import Rollup

    rule = AlertRule.objects.create(name="SLO tickets", states=["down"], group_wait_seconds=0)
    monitor = Monitor.objects.create(name="search", kind="tcp", target="127.0.0.1:1")
    slo = SLO.objects.create(name="Search availability", objective=99.9, window="rolling_30d", alert_rule=rule)
    slo.monitors.set([monitor])
    # Three days at 0.33% errors: a burn of 3.3x, steady (no recent spike).
    hours = [rollups.hour_start(NOW) - timedelta(hours=h) for h in range(1, 75)]
    Rollup.objects.bulk_create([Rollup(monitor=monitor, period="hour", start=h, total=600, ok=598, degraded=0, histogram=[]) for h in hours])
    services.refresh(slo, now=NOW)
    [alert] = Alert.objects.filter(labels__kind="slo_burn")
    assert alert.severity == "warning" and alert.summary.endswith("burn > 1x over 3d and 6h")


def test_the_detail_page_lists_the_outages_behind_the_budget(client, viewer):
    from monitors.models import StateChange

    api = Component.objects.create(name="API")
    monitor = Monitor.objects.create(name="api-check", kind="tcp", target="127.0.0.1:1", component=api)
    slo = SLO.objects.create(name="API", component=api, objective=99.9, window="rolling_7d")
    slo.monitors.set([monitor])
    StateChange.objects.create(monitor=monitor, at=NOW - timedelta(hours=3), old_state="up", new_state="down", reason="refused")
    client.force_login(viewer)
    with time_machine.travel(NOW, tick=False):
        page = client.get(f"/slos/{slo.pk}/").content.decode()
    assert "Outages behind it" in page and "api-check" in page and "refused" in page
