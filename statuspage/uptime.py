"""The 90-day bars, their tooltips, the badges' percentage and the public uptime JSON.

Every figure comes from monitors.availability.component_days (the one day rule, written
out in docs/status-pages.md); this module only shapes it for the page and for the
Statuspage-style uptime document, so a bar, its tooltip and the JSON cannot disagree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from incidents.models import Component, Incident
from monitors import availability
from monitors.models import Monitor

BAR_DAYS = 90
# What the tooltip's footnote says: the rule in one sentence (docs/status-pages.md has it whole).
DAY_RULE = ("Each day counts major outage time fully and partial outage time at 30%. Major outage is the longer of "
            "the time our checks failed and the time an incident declared a major outage; checks during maintenance "
            "marked as excluded do not count; a day without checks or declared impact shows no data.")


@dataclass
class Day:
    day: date
    uptime: float | None  # percent, None = no data
    incidents: list[Incident] = field(default_factory=list)
    figures: availability.ComponentDay | None = None

    @property
    def level(self) -> str:
        """The bar's colour class."""
        if self.uptime is None:
            return "none"
        if self.uptime >= 99.95 and not any(i.impact in ("major", "critical") for i in self.incidents):
            return "ok"
        if self.uptime >= 99.0:
            return "minor"
        if self.uptime >= 95.0:
            return "partial"
        return "major"

    @property
    def major_outage_minutes(self) -> float:
        return self.figures.major_outage_seconds / 60 if self.figures else 0.0

    @property
    def partial_outage_minutes(self) -> float:
        return self.figures.partial_outage_seconds / 60 if self.figures else 0.0


@dataclass
class UptimeBar:
    days: list[Day]

    @property
    def percent(self) -> float | None:
        return availability.range_uptime(d.figures for d in self.days if d.figures is not None)


def daily_uptime(components: list[Component], incidents: list[Incident], *, now: datetime, days: int = BAR_DAYS) -> dict[int, UptimeBar]:
    """Each component's last `days` UTC days, today (live) included. `incidents` carry their
    outage `segments` (statuspage.snapshot.outage_segments)."""
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    ids = [c.pk for c in components]
    monitors: dict[int, list[int]] = defaultdict(list)
    for monitor_id, component_id in Monitor.objects.filter(component_id__in=ids).values_list("pk", "component_id"):
        monitors[component_id].append(monitor_id)
    segments: dict[int, list[tuple[str, datetime, datetime, int]]] = defaultdict(list)
    by_id = {i.pk: i for i in incidents}
    for incident in incidents:
        for component_id, status, start, end in getattr(incident, "segments", []):
            segments[component_id].append((status, start, end, incident.pk))
    figures = availability.component_days([(c.pk, c.created_at) for c in components], monitors, segments,
                                          first=first, last=today, now=now)
    bars: dict[int, UptimeBar] = {}
    for component in components:
        bars[component.pk] = UptimeBar([
            Day(entry.day, entry.uptime, sorted((by_id[i] for i in entry.incident_ids), key=lambda i: i.started_at), entry)
            for entry in figures[component.pk]
        ])
    return bars


def uptime_days_document(component: Component, bar: UptimeBar) -> dict[str, Any]:
    """What the uptime JSON is answered from: the bar's days as numbers (stored with the
    snapshot; statuspage.views.component_uptime sums the asked range)."""
    return {
        "id": str(component.pk), "name": component.name,
        "days": [{
            "day": d.day.isoformat(), "seconds": d.figures.seconds if d.figures else 0.0,
            "has_data": bool(d.figures and d.figures.has_data),
            "major_outage": d.figures.major_outage_seconds if d.figures else 0.0,
            "partial_outage": d.figures.partial_outage_seconds if d.figures else 0.0,
            "events": [{"id": str(i.pk), "name": i.title} for i in d.incidents],
        } for d in bar.days],
    }


def uptime_for_range(document: dict[str, Any], start: date, end: date) -> dict[str, Any]:
    """Statuspage's component uptime resource for [start, end] (both days included)."""
    days = [d for d in document["days"] if start.isoformat() <= d["day"] <= end.isoformat()]
    entries = [availability.ComponentDay(day=date.fromisoformat(d["day"]), seconds=d["seconds"], has_data=d["has_data"],
                                         major_outage_seconds=d["major_outage"], partial_outage_seconds=d["partial_outage"])
               for d in days]
    uptime = availability.range_uptime(entries)
    warnings = []
    if not any(d["has_data"] for d in days):
        warnings.append("No data in this range: the component has no checks and no declared impact on these days.")
    events: dict[str, dict[str, str]] = {}
    for d in days:
        for event in d["events"]:
            events.setdefault(event["id"], event)
    return {
        "id": document["id"], "name": document["name"], "range_start": start.isoformat(), "range_end": end.isoformat(),
        "uptime_percentage": None if uptime is None else round(uptime, 4),
        "major_outage": round(sum(d["major_outage"] for d in days)),
        "partial_outage": round(sum(d["partial_outage"] for d in days)),
        "related_events": list(events.values()), "warnings": warnings,
    }
