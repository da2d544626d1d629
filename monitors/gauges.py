"""Monitors' availability in /metrics: the last 24 hours' uptime and checks of every monitor,
read from monitors.availability at scrape time, so a dashboard built on /metrics shows the
figure the monitor page and the ops API show (registered from the app's ready(): core
cannot import monitors)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from core import metrics
from monitors import availability
from monitors.models import Monitor

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
    metrics.register_gauges(uptime_gauges)
