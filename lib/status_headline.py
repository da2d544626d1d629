"""A status page's headline and indicator, by Atlassian Statuspage's documented rules.

Statuspage words the top-level status from how many components share the worst
status ("some" or "all"), and pairs each wording with an indicator:

| worst component status | some components          | all components           |
|------------------------|--------------------------|--------------------------|
| major_outage           | Partial System Outage    | Major System Outage      |
|                        | (major)                  | (critical)               |
| partial_outage         | Minor Service Outage     | Partial System Outage    |
|                        | (minor)                  | (major)                  |
| degraded_performance   | Partially Degraded Service | Degraded System Service |
|                        | (minor)                  | (minor)                  |
| under_maintenance      | Service Under Maintenance (maintenance), some or all |
| operational / none     | All Systems Operational (none)                       |

A page with one component is "all". An open incident whose impact outranks the
components' indicator sets it instead (minor, major, critical read as the "some"
wording of that rank), so an incident declared before any component changes still
shows. docs/status-pages.md carries the same table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

INDICATOR_RANK = {"none": 0, "maintenance": 1, "minor": 2, "major": 3, "critical": 4}

# worst status -> ((wording, indicator) when some components have it, (...) when all do)
_BY_WORST_STATUS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "major_outage": (("Partial System Outage", "major"), ("Major System Outage", "critical")),
    "partial_outage": (("Minor Service Outage", "minor"), ("Partial System Outage", "major")),
    "degraded_performance": (("Partially Degraded Service", "minor"), ("Degraded System Service", "minor")),
    "under_maintenance": (("Service Under Maintenance", "maintenance"), ("Service Under Maintenance", "maintenance")),
}
_SEVERITY_ORDER = ["major_outage", "partial_outage", "degraded_performance", "under_maintenance"]
_INCIDENT_WORDING = {
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
}
OPERATIONAL = ("All Systems Operational", "none")


@dataclass(frozen=True)
class Headline:
    description: str
    indicator: str  # none, minor, major, critical, or maintenance


def headline(component_statuses: Iterable[str], open_incident_impacts: Iterable[str] = ()) -> Headline:
    """The top-level wording and indicator for a page's components and open incidents' impacts."""
    statuses = list(component_statuses)
    description, indicator = OPERATIONAL
    for status in _SEVERITY_ORDER:
        count = statuses.count(status)
        if count:
            some, every = _BY_WORST_STATUS[status]
            description, indicator = every if count == len(statuses) else some
            break
    worst_impact = max(open_incident_impacts, key=lambda impact: INDICATOR_RANK.get(impact, 0), default="none")
    if INDICATOR_RANK.get(worst_impact, 0) > INDICATOR_RANK[indicator]:
        description, indicator = _INCIDENT_WORDING[worst_impact], worst_impact
    return Headline(description=description, indicator=indicator)
