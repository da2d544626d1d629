"""vigil_component_status in /metrics: one series per component and status, 1 for the status shown.

Registered from the app's ready() (core.metrics cannot import incidents)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily

from core import metrics
from incidents.models import Component, ComponentStatus


def component_gauges() -> Iterator[GaugeMetricFamily]:
    gauge = GaugeMetricFamily("vigil_component_status", "1 for the status a component shows (as on its status page), 0 for the others",
                              labels=["component", "status"])
    for name, shown in Component.objects.values_list("name", "status"):
        for status in ComponentStatus.values:
            gauge.add_metric([name, status], 1.0 if shown == status else 0.0)
    yield gauge


def register() -> None:
    metrics.register_gauges(component_gauges)
