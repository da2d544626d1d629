"""Windows without Prometheus (issue 18, point 2), against a real local target serving Prometheus
text whose counters the test advances minute by minute while time is pinned: the guide's error
rate over increase(...[5m]) warns at 1%, is critical at 5% and resolves; p95 over 5 minutes from
histogram buckets matches the exact percentile within one bucket; two regions keep their own
window; the spike rule with offset fires; the window survives a worker restart, stays bounded,
and an expression outside the subset is refused when the monitor is saved."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from core.redis_client import get_redis
from lib import metric_expression as mx
from monitors import services, tasks
from monitors.checkers import metric, sample_history
from monitors.checkers.base import CheckSession
from monitors.models import CheckResult, Monitor, Region
from monitors.tasks import check_batch
from tests.servers import HTTPServer, respond

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ERROR_RATE = 'sum(increase(http_requests_total{status=~"5.."}[5m])) / sum(increase(http_requests_total[5m]))'
P95 = "histogram_quantile(0.95, sum by (le) (increase(http_request_duration_seconds_bucket[5m])))"
SPIKE = 'sum(increase(http_requests_total{status=~"5.."}[5m])) / sum(increase(http_requests_total{status=~"5.."}[5m] offset 5m))'
BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Target:
    """An app's /metrics: request counters by status and a latency histogram, advanced by the test."""

    def __init__(self) -> None:
        self.requests = {"200": 0, "500": 0, "503": 0}
        self.latencies: list[float] = []
        self.server = HTTPServer({"/metrics": self.metrics})
        self.url = f"{self.server.url}/metrics"

    def serve(self, *, ok: int = 0, errors: int = 0, latencies: list[float] | None = None) -> None:
        """One minute of traffic: `ok` 200s, `errors` split between 500 and 503, these latencies."""
        self.requests["200"] += ok
        self.requests["500"] += errors - errors // 2
        self.requests["503"] += errors // 2
        self.latencies.extend(latencies or [])

    def metrics(self, handler) -> None:
        lines = ["# TYPE http_requests_total counter"]
        lines += [f'http_requests_total{{status="{status}"}} {count}' for status, count in self.requests.items()]
        lines.append("# TYPE http_request_duration_seconds histogram")
        for bound in BOUNDS:
            lines.append(f'http_request_duration_seconds_bucket{{le="{bound}"}} {sum(1 for x in self.latencies if x <= bound)}')
        lines.append(f'http_request_duration_seconds_bucket{{le="+Inf"}} {len(self.latencies)}')
        lines.append(f"http_request_duration_seconds_count {len(self.latencies)}")
        lines.append(f"http_request_duration_seconds_sum {sum(self.latencies)}")
        respond(handler, 200, ("\n".join(lines) + "\n").encode(), {"Content-Type": "text/plain; version=0.0.4"})


@pytest.fixture
def target():
    instance = Target()
    yield instance
    instance.server.close()


def make_monitor(target: Target, regions: tuple[str, ...] = ("default",), **settings) -> Monitor:
    rows = [Region.objects.get_or_create(name=name)[0] for name in regions]
    return services.monitor_upsert(changes={"name": "api-metrics", "kind": "metric", "target": target.url, "interval_seconds": 60,
                                            "timeout_seconds": 5, "retries": 0, "recovery_confirmations": 1, "settings": settings,
                                            "regions": rows}, now=START)


def tick(monitor: Monitor, at: datetime, region: str = "default") -> CheckResult:
    """What a worker of this region does at this minute, with the clock pinned there."""
    with time_machine.travel(at, tick=False):
        check_batch([[monitor.pk, at.isoformat()]], region, now=at)
    return CheckResult.objects.filter(monitor=monitor, region__name=region).latest("at")


def state(monitor: Monitor) -> str:
    monitor.refresh_from_db()
    return str(monitor.state)


def test_error_rate_over_five_minutes_warns_at_1_percent_is_critical_at_5_and_resolves(target):
    monitor = make_monitor(target, expression=ERROR_RATE, warn_above=0.01, down_above=0.05, scale=100, unit="%", label="error rate")
    # errors per minute out of 1000 requests: quiet, a slow rise past 1 %, an outage past 5 %, then fixed
    errors = [2] * 6 + [20] * 6 + [150] * 4 + [0] * 7
    minute_errors: list[int] = []
    seen = []
    for minute, count in enumerate([0, *errors]):
        at = START + timedelta(minutes=minute)
        if minute:
            target.serve(ok=1000 - count, errors=count)
            minute_errors.append(count)
        result = tick(monitor, at)
        if minute < 5:
            assert result.message == f"collecting {minute} of 5 minutes of history for the expression's window"
            assert state(monitor) == "up"
            continue
        # brute force: the last five minutes' errors over their requests (scrapes on the minute: the window is exact)
        rate = sum(minute_errors[-5:]) / 5000
        expected = "down" if rate > 0.05 else "degraded" if rate > 0.01 else "up"
        assert state(monitor) == expected, (minute, rate, result.message)
        assert result.message.startswith(f"error rate {rate * 100:.4g}%"), (minute, result.message)
        seen.append(expected)
    assert seen[0] == "up" and "degraded" in seen and "down" in seen and seen[-1] == "up"
    assert seen.index("degraded") < seen.index("down")  # it warned before it paged


def test_p95_over_five_minutes_matches_the_exact_percentile_within_a_bucket(target):
    rng = random.Random(95)
    monitor = Monitor(pk=4242, name="latency", kind="metric", target=target.url, timeout_seconds=5, interval_seconds=60,
                      settings={"expression": P95, "warn_above": 1.0, "down_above": 4.0, "unit": "s"})
    session = CheckSession(region="default")
    per_minute: list[list[float]] = []
    compared = 0
    for minute in range(16):
        if minute:
            slow = minute <= 7  # slow first, then fixed: a p95 since the target started would stay high long after
            batch = [rng.lognormvariate(math.log(1.8 if slow else 0.08), 0.6) for _ in range(rng.randint(150, 300))]
            per_minute.append(batch)
            target.serve(ok=len(batch), latencies=batch)
        result = metric.check(monitor, session, START + timedelta(minutes=minute))
        if minute < 5:
            assert result.outcome == "ok" and result.message.startswith("collecting")
            continue
        window = sorted(x for batch in per_minute[-5:] for x in batch)
        exact = window[math.ceil(0.95 * len(window)) - 1]
        value = result.details["value"]
        width = _bucket_width(exact)
        assert abs(value - exact) <= width, (minute, value, exact)
        assert result.outcome == ("down" if value > 4 else "degraded" if value > 1 else "ok")
        compared += 1
    since_start = mx.evaluate(mx.parse("histogram_quantile(0.95, http_request_duration_seconds_bucket)"),
                              mx.parse_exposition(_scrape(target)))
    assert compared == 11
    assert exact < 0.5 and result.outcome == "ok"  # the last five minutes are fast again
    assert since_start > 1.0  # what the older form still answers: p95 since the target started, slow minutes included


def _bucket_width(value: float) -> float:
    lower = 0.0
    for bound in (*BOUNDS, math.inf):
        if value <= bound:
            return bound - lower
        lower = bound
    return math.inf


def _scrape(target: Target) -> str:
    import requests

    return requests.get(target.url, timeout=5).text


def test_two_regions_each_keep_their_own_window(target):
    monitor = make_monitor(target, regions=("eu", "us"), expression="sum(increase(http_requests_total[5m]))",
                           down_above=1_000_000, label="requests")
    older = make_monitor_named(target, "api-per-scrape", regions=("eu", "us"), expression="sum(increase(http_requests_total))",
                               down_above=1_000_000, label="requests")
    for minute in range(9):
        eu = START + timedelta(minutes=minute)
        for region, at in (("eu", eu), ("us", eu + timedelta(seconds=30))):
            if at > START:
                target.serve(ok=300)  # 300 in each half minute: 600 a minute
            result = tick(monitor, at, region)
            per_scrape = tick(older, at, region)
            if minute >= 5:
                # five minutes of this region's own scrapes: 5 x 600, however the other region's scrapes interleave
                assert result.message == "requests 3000", (region, minute, result.message)
            if minute >= 1:
                assert per_scrape.message == "requests 600", (region, minute, per_scrape.message)  # not 300: its own previous scrape
    keys = sorted(key.decode() for key in get_redis().scan_iter(match=f"{sample_history.KEY_PREFIX}{monitor.pk}:*"))
    assert [key.split(":")[3] for key in keys] == ["eu", "us"]


def make_monitor_named(target: Target, name: str, regions: tuple[str, ...], **settings) -> Monitor:
    rows = [Region.objects.get_or_create(name=region)[0] for region in regions]
    return services.monitor_upsert(changes={"name": name, "kind": "metric", "target": target.url, "interval_seconds": 60,
                                            "timeout_seconds": 5, "retries": 0, "recovery_confirmations": 1, "settings": settings,
                                            "regions": rows}, now=START)


def test_the_spike_rule_with_offset_fires(target):
    monitor = make_monitor(target, expression=SPIKE, down_above=1.5, label="errors vs 5 minutes before")
    errors = [10] * 12 + [25] * 4
    for minute, count in enumerate([0, *errors]):
        at = START + timedelta(minutes=minute)
        if minute:
            target.serve(ok=990, errors=count)
        result = tick(monitor, at)
        if minute < 10:
            assert result.message == f"collecting {minute} of 10 minutes of history for the expression's window"
            assert state(monitor) == "up"
        elif minute <= 12:
            assert result.message == "errors vs 5 minutes before 1", minute  # 50 errors, like the 5 minutes before
            assert state(monitor) == "up"
    # minute 16: the last 5 minutes hold 10 + 4 x 25 = 110 errors against 50 before: 2.2 > 1.5
    assert result.message == "errors vs 5 minutes before 2.2 > 1.5"
    assert state(monitor) == "down"


def test_the_window_survives_a_worker_restart_and_stays_bounded(target):
    monitor = make_monitor(target, expression="sum(rate(http_requests_total[5m]))", down_above=1000, label="requests/s", unit="/s")
    for minute in range(30):
        target.serve(ok=120)
        result = tick(monitor, START + timedelta(minutes=minute))
        if minute == 17:
            tasks._sessions.clear()  # what a restarted worker process starts with: no sessions, no memory
    assert result.message == "requests/s 2/s"  # 120 a minute, read from the window the earlier process kept
    key = next(get_redis().scan_iter(match=f"{sample_history.KEY_PREFIX}{monitor.pk}:default:*"))
    assert get_redis().zcard(key) == 8  # 5 minutes of scrapes (6), and two intervals of slack
    assert 0 < get_redis().pttl(key) <= (5 + 2 + 1) * 60_000


def test_a_changed_expression_starts_a_new_window(target):
    monitor = make_monitor(target, expression="sum(increase(http_requests_total[2m]))", down_above=1e9, label="requests")
    for minute in range(3):
        target.serve(ok=60)
        result = tick(monitor, START + timedelta(minutes=minute))
    assert result.message == "requests 120"
    services.monitor_upsert(monitor=monitor, changes={"settings": {**monitor.settings, "expression": 'sum(increase(http_requests_total{status="200"}[2m]))'}},
                            now=START + timedelta(minutes=3))
    target.serve(ok=60)
    result = tick(Monitor.objects.get(pk=monitor.pk), START + timedelta(minutes=3))
    assert result.message == "collecting 0 of 2 minutes of history for the expression's window"


def test_an_expression_outside_the_subset_is_refused_when_saved(target):
    with pytest.raises(ValidationError) as refused:
        make_monitor(target, expression='irate(http_requests_total{status=~"5.."}[5m]) > 0.05', down_above=0.05)
    message = refused.value.message_dict["settings"][0]
    assert message.startswith("expression: the function 'irate' is not supported; Vigil evaluates rate, increase")
    with pytest.raises(ValidationError) as refused:
        make_monitor(target, expression='rate(http_requests_total{status=~"5.."}[5m]) > 0.05', down_above=0.05)
    assert "comparisons (>) are the thresholds' job in Vigil" in refused.value.message_dict["settings"][0]
    assert not Monitor.objects.exists()


def test_a_trial_run_keeps_no_history(target):
    """The monitor form's trial run checks without a region: it says it is collecting and stores nothing."""
    monitor = Monitor(pk=77, name="trial", kind="metric", target=target.url, timeout_seconds=5, interval_seconds=60,
                      settings={"expression": ERROR_RATE, "down_above": 0.05})
    result = metric.check(monitor, CheckSession(), START)
    assert (result.outcome, result.message) == (
        "ok", "the scrape works; the expression needs 5 minutes of scrapes, which only the checks from a region keep (a trial run keeps none)")
    assert list(get_redis().scan_iter(match=f"{sample_history.KEY_PREFIX}*")) == []


def test_an_unreachable_redis_gives_no_verdict_not_a_false_down(target, free_port, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port}/0"  # nothing listens there
    monitor = Monitor(pk=78, name="m", kind="metric", target=target.url, timeout_seconds=5, interval_seconds=60,
                      settings={"expression": ERROR_RATE, "down_above": 0.05})
    result = metric.check(monitor, CheckSession(region="default"), START)
    assert (result.outcome, result.details) == ("ok", {"no_data": "unknown"})
    assert result.message == "the metric window could not be read from Redis (ConnectionError); no verdict"


def test_a_window_too_large_to_keep_is_refused_by_the_check_with_the_fix():
    many = "\n".join(f'jobs_total{{queue="q{index}"}} {index}' for index in range(200))
    server = HTTPServer({"/metrics": lambda h: respond(h, 200, (many + "\n").encode())})
    try:
        monitor = Monitor(pk=79, name="m", kind="metric", target=f"{server.url}/metrics", timeout_seconds=4, interval_seconds=5,
                          settings={"expression": "sum(rate(jobs_total[6h]))", "down_above": 1})
        result = metric.check(monitor, CheckSession(region="default"), START)
    finally:
        server.close()
    assert result.outcome == "down"
    assert result.message.startswith("the expression's selectors match 200 series over 4323 scrapes, more than the 500000 samples")
    assert result.message.endswith("narrow the selectors with label matchers, shorten the range or lengthen the interval")
    assert list(get_redis().scan_iter(match=f"{sample_history.KEY_PREFIX}*")) == []


def test_scrapes_a_little_late_still_cover_the_window(target):
    """Workers start a batch a few hundred milliseconds late or early: after five intervals the window counts as covered."""
    monitor = make_monitor(target, expression="sum(increase(http_requests_total[5m]))", down_above=1e9, label="requests")
    for minute in range(6):
        target.serve(ok=100)
        result = tick(monitor, START + timedelta(minutes=minute, milliseconds=400 if minute == 0 else 0))
    # 4 min 59.6 s of history: Prometheus' extrapolation reaches the window's start (500 x 300 / 299.6)
    assert result.message == f"requests {500 * 300 / 299.6:.4g}"
