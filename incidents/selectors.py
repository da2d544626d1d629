"""Reads about incidents, components and maintenance that more than one app needs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet

from incidents.models import SEVERITY_DEFAULTS, Component, ComponentImpact, Deploy, Incident, Maintenance, OpsChecklist, SeverityPolicy
from lib import periods


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


def severity_policy(impact: str) -> SeverityPolicy:
    """The severity's targets: its row, else the guides' defaults (unsaved)."""
    return SeverityPolicy.objects.filter(severity=impact).first() or SeverityPolicy(severity=impact, **SEVERITY_DEFAULTS[impact])


@dataclass(frozen=True)
class Target:
    """One response target of an open incident: due at `due_at`, met at `met_at` (or not yet)."""

    name: str  # "ack", "first_update"
    label: str
    due_at: datetime
    met_at: datetime | None

    def breached(self, now: datetime) -> bool:
        return (self.met_at or now) > self.due_at

    def state(self, now: datetime) -> str:
        if self.met_at is not None:
            return "met" if self.met_at <= self.due_at else "met late"
        return "breached" if now > self.due_at else "running"

    def seconds_left(self, now: datetime) -> int:
        return int((self.due_at - now).total_seconds())


def first_update_at(incident: Incident) -> datetime | None:
    """When the first update after the declaration was posted (the declaring message is not one)."""
    later = incident.updates.order_by("created_at", "id").values_list("created_at", flat=True)[1:2]
    return later[0] if later else None


def incident_clock(incident: Incident, *, policy: SeverityPolicy | None = None) -> list[Target]:
    """The incident's response targets from its severity's policy, each with when it was met."""
    policy = policy or severity_policy(incident.impact)
    targets = []
    if policy.ack_within_seconds is not None:
        targets.append(Target("ack", "Answered (acknowledged)", incident.started_at + timedelta(seconds=policy.ack_within_seconds),
                              incident.acknowledged_at))
    if policy.first_update_within_seconds is not None:
        targets.append(Target("first_update", "First update posted", incident.started_at + timedelta(seconds=policy.first_update_within_seconds),
                              first_update_at(incident)))
    return targets


def postmortem_due_at(incident: Incident, *, policy: SeverityPolicy | None = None) -> datetime | None:
    policy = policy or severity_policy(incident.impact)
    if policy.postmortem_within_seconds is None or incident.resolved_at is None:
        return None
    return incident.resolved_at + timedelta(seconds=policy.postmortem_within_seconds)


def deploys_between(start: datetime, end: datetime, *, component_ids: Iterable[int] | None = None) -> QuerySet[Deploy]:
    """Deploys in [start, end], newest first; with component_ids, those of the components and those naming no component
    (a free-text service may be any of them)."""
    rows = Deploy.objects.filter(at__gte=start, at__lte=end).select_related("component")
    if component_ids is not None:
        rows = rows.filter(Q(component_id__in=list(component_ids)) | Q(component__isnull=True))
    return rows.order_by("-at", "-id")


# How far before an incident's start its console looks for what changed.
WHAT_CHANGED_BEFORE = timedelta(hours=1)


def what_changed(incident: Incident, now: datetime) -> list[Deploy]:
    """The deploys of the incident's components from an hour before it started until it ended."""
    component_ids = list(incident.impacts.values_list("component_id", flat=True))
    return list(deploys_between(incident.started_at - WHAT_CHANGED_BEFORE, incident.resolved_at or now, component_ids=component_ids)[:20])


@dataclass
class ChecklistState:
    checklist: OpsChecklist
    period_start: object  # date
    signed: object  # OpsChecklistSignOff | None, this period
    overdue: bool  # signed off before, but neither the previous period nor this one


def checklist_states(now: datetime) -> list[ChecklistState]:
    states = []
    for checklist in OpsChecklist.objects.prefetch_related("items", "sign_offs"):
        start = periods.period_start(checklist.cadence, now.date())
        previous = periods.previous_period_start(checklist.cadence, now.date())
        by_period = {s.period_start: s for s in checklist.sign_offs.all()}
        # Overdue once a team has started signing a list off: a list never signed off is not yet in use.
        overdue = bool(by_period) and previous not in by_period and start not in by_period
        states.append(ChecklistState(checklist, start, by_period.get(start), overdue))
    return states
