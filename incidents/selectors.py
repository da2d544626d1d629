"""Reads about incidents, components and maintenance that more than one app needs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from incidents.models import Component, ComponentImpact, Incident, Maintenance


def component_ids_under_maintenance(*, suppressing_alerts: bool = False) -> set[int]:
    rows = Maintenance.objects.filter(status__in=Maintenance.ACTIVE_STATUSES)
    if suppressing_alerts:
        rows = rows.filter(suppress_alerts=True)
    return set(rows.values_list("components", flat=True)) - {None}


def open_incidents() -> list[Incident]:
    return list(Incident.objects.filter(status__in=Incident.OPEN_STATUSES).select_related("commander").order_by("-started_at"))


def incident_overrides(component_ids: Iterable[int]) -> dict[int, list[str]]:
    overrides: dict[int, list[str]] = {}
    rows = ComponentImpact.objects.filter(component_id__in=list(component_ids), incident__status__in=Incident.OPEN_STATUSES)
    for component_id, status in rows.values_list("component_id", "status"):
        overrides.setdefault(component_id, []).append(status)
    return overrides


def maintenance_windows(*, start: datetime, end: datetime, excluded_from_slo: bool = True) -> list[Maintenance]:
    rows = Maintenance.objects.filter(starts_at__lt=end, ends_at__gt=start).prefetch_related("components")
    if excluded_from_slo:
        rows = rows.filter(exclude_from_slo=True)
    return list(rows)


def components_with_monitor_states() -> list[Component]:
    return list(Component.objects.prefetch_related("monitors").all())
