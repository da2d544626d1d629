"""Per-monitor series in /metrics, in blackbox_exporter's spirit: is it up, from where, how long
the last check took, when it ran, when its certificate ends; and the last 24 hours' uptime and
checks, read from monitors.availability like the monitor page and the ops API.

Read at scrape time from the monitors' rows (registered from the app's ready(): core.metrics
cannot import monitors). Labels stay bounded: the monitor's name, its kind, the region, the state.
A monitor or region not checked yet has no value to report: its `up` is NaN (a gap in Grafana,
and `vigil_monitor_up == 0` alerts ignore it)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from core import metrics
from monitors import availability
from monitors.models import CheckResult, Monitor, MonitorRegionState

CHUNK = 500  # composite keys per query when reading each region's last result


def monitor_gauges() -> Iterator[GaugeMetricFamily]:
    up = GaugeMetricFamily("vigil_monitor_up", "1 when the monitor's last check in the region succeeded (up or degraded), 0 when it "
                           "failed, NaN before its first check; enabled (unpaused) monitors only", labels=["monitor", "kind", "region"])
    state = GaugeMetricFamily("vigil_monitor_state", "1 for the monitor's current state, 0 for the others", labels=["monitor", "state"])
    duration = GaugeMetricFamily("vigil_monitor_check_duration_seconds", "How long the monitor's last check in the region took",
                                 labels=["monitor", "region"])
    last_check = GaugeMetricFamily("vigil_monitor_last_check_timestamp_seconds", "When the monitor's last check in the region ran "
                                   "(Unix time)", labels=["monitor", "region"])
    not_after = GaugeMetricFamily("vigil_monitor_tls_not_after_timestamp_seconds", "When the certificate the monitor last saw "
                                  "expires (Unix time)", labels=["monitor"])
    monitors = list(Monitor.objects.prefetch_related("regions").only(
        "pk", "name", "kind", "state", "paused", "tls_expires_at", "last_checked_at", "last_latency_ms", "last_outcome"))
    region_states = {(row.monitor_id, row.region.name): row for row in MonitorRegionState.objects.select_related("region")}
    last_results = _last_results(region_states.values())
    for monitor in monitors:
        for name in Monitor.State.values:
            state.add_metric([monitor.name, name], 1.0 if monitor.state == name else 0.0)
        if monitor.tls_expires_at is not None:
            not_after.add_metric([monitor.name], monitor.tls_expires_at.timestamp())
        if monitor.paused:
            continue
        regions = sorted(region.name for region in monitor.regions.all()) or [settings.VIGIL_DEFAULT_REGION]
        for region in regions:
            region_state = region_states.get((monitor.pk, region))
            result = last_results.get((monitor.pk, region))
            up.add_metric([monitor.name, monitor.kind, region], _up(monitor, region_state, result))
            if result is not None:
                last_check.add_metric([monitor.name, region], result.at.timestamp())
                if result.latency_ms is not None:
                    duration.add_metric([monitor.name, region], result.latency_ms / 1000)
            elif monitor.kind == Monitor.Kind.HEARTBEAT and monitor.last_checked_at is not None:
                last_check.add_metric([monitor.name, region], monitor.last_checked_at.timestamp())
    yield from (up, state, duration, last_check, not_after)


def _up(monitor: Monitor, region_state: MonitorRegionState | None, result: CheckResult | None) -> float:
    if result is not None:
        return 0.0 if result.outcome == CheckResult.Outcome.DOWN else 1.0
    if region_state is not None and region_state.verdict in ("up", "degraded", "down"):
        return 0.0 if region_state.verdict == "down" else 1.0
    if monitor.kind == Monitor.Kind.HEARTBEAT and monitor.state in ("up", "degraded", "down"):
        return 0.0 if monitor.state == "down" else 1.0  # pings have no region: the heartbeat's own state
    return math.nan


def _last_results(region_states: Iterable[MonitorRegionState]) -> dict[tuple[int, str], CheckResult]:
    """Each (monitor, region)'s last applied result, read by primary key (monitor, last_slot, region)."""
    keys = {(row.monitor_id, row.last_slot, row.region_id): (row.monitor_id, row.region.name)
            for row in region_states if row.last_slot is not None}
    found: dict[tuple[int, str], CheckResult] = {}
    wanted = list(keys)
    for start in range(0, len(wanted), CHUNK):
        for result in CheckResult.objects.filter(pk__in=wanted[start:start + CHUNK]):
            found[keys[(result.monitor_id, result.at, result.region_id)]] = result
    return found


WINDOW = "24h"


def uptime_gauges() -> Iterator[GaugeMetricFamily]:
    now = timezone.now()
    names = dict(Monitor.objects.values_list("pk", "name"))
    found = availability.figures_by_monitor(list(names), now - timedelta(hours=24), now + timedelta(microseconds=1), now=now)
    uptime = GaugeMetricFamily("vigil_monitor_uptime_percent", "Checks up (ok or degraded) in percent over the window, "
                               "as on the monitor page; absent without checks", labels=["monitor", "window"])
    checks = GaugeMetricFamily("vigil_monitor_checks", "Checks over the window, by outcome", labels=["monitor", "window", "outcome"])
    for monitor_id, name in sorted(names.items(), key=lambda item: item[1]):
        figures = found.get(monitor_id, availability.Figures())
        if figures.uptime is not None:
            uptime.add_metric([name, WINDOW], figures.uptime)
        for outcome, count in (("ok", figures.ok), ("degraded", figures.degraded), ("down", figures.down)):
            checks.add_metric([name, WINDOW, outcome], count)
    yield uptime
    yield checks


def register() -> None:
    metrics.register_gauges(monitor_gauges)
    metrics.register_gauges(uptime_gauges)
