"""vigil_slo_error_budget_remaining_ratio in /metrics, from each SLO's latest snapshot.

Registered from the app's ready() (core.metrics cannot import slo)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import OuterRef, Subquery
from prometheus_client.core import GaugeMetricFamily

from core import metrics
from slo.models import SLO, SLOSnapshot


def slo_gauges() -> Iterator[GaugeMetricFamily]:
    gauge = GaugeMetricFamily("vigil_slo_error_budget_remaining_ratio", "Share of the SLO's error budget left in its window "
                              "(1: untouched, 0: spent, below 0: overspent), as of its latest snapshot", labels=["slo"])
    latest = SLOSnapshot.objects.filter(slo=OuterRef("pk")).order_by("-at").values("remaining_ratio")[:1]
    for name, remaining in SLO.objects.annotate(remaining=Subquery(latest)).values_list("name", "remaining"):
        if remaining is not None:
            gauge.add_metric([name], remaining)
    yield gauge


def register() -> None:
    metrics.register_gauges(slo_gauges)
