"""The monthly SLO report: per SLO, objective vs achieved, budget, downtime, incidents
(count, SEV, MTTA, MTTR, postmortems), top failing monitors, and the month before.

The same figures feed the HTML page (printable), the CSV and JSON downloads, the
`slo_report` command and the email on the 1st. The current month is reported to date (and
says so); every count comes from monitors.availability, as on the SLO page."""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction

from incidents.models import Incident
from lib import slo as maths
from monitors import availability
from monitors.models import Monitor
from slo.models import SLO, ReportMailing, ReportSubscription
from slo.services import counts_of

log = logging.getLogger("vigil.slo")
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class BadMonth(ValueError):
    pass


def parse_month(text: str) -> tuple[int, int]:
    match = MONTH.match(text or "")
    if not match:
        raise BadMonth(f"{text!r} is not a month; write it as YYYY-MM, e.g. 2026-10")
    return int(match.group(1)), int(match.group(2))


def previous(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


@dataclass
class ServiceReport:
    slo: str
    service: str
    objective: float
    achieved: float | None  # percent; None: no checks
    met: bool | None
    budget_minutes: float
    spent_minutes: float
    budget_spent_percent: float
    downtime_minutes: float
    good: int
    valid: int
    previous_achieved: float | None
    incidents: int
    by_severity: dict[str, int] = field(default_factory=dict)
    mtta_minutes: float | None = None
    mttr_minutes: float | None = None
    postmortems: list[str] = field(default_factory=list)
    top_failing: list[tuple[str, int]] = field(default_factory=list)
    # The current month is reported so far: its figures run to `until` (the moment the
    # report was made) and equal the SLO page's at that moment.
    month_to_date: bool = False
    until: datetime | None = None


def _so_far(start: datetime, end: datetime, now: datetime) -> datetime:
    """Where a month's figures stop: its end, or `now` (included) for the month under way."""
    return now + timedelta(microseconds=1) if start <= now < end else end


class _Reader:
    """The figures of a report's SLOs, read together: one read per window for all the monitors
    of the SLOs that share it (the SLOs of one time zone share their months), each monitor's
    figures then summed per SLO. A read costs the same few queries for 1 or 1,000 monitors, so a
    report of many SLOs does not pay them once per SLO and month (figures are sums of each
    monitor's, so they equal a read per SLO)."""

    def __init__(self, slos: list[SLO], *, now: datetime) -> None:
        self.now = now
        self.members: dict[int, list[int]] = {slo.pk: [] for slo in slos}
        for slo_id, monitor_id in SLO.monitors.through.objects.filter(slo__in=slos).values_list("slo_id", "monitor_id"):
            self.members[slo_id].append(monitor_id)
        self.zones: dict[str, list[SLO]] = {}
        for slo in slos:
            self.zones.setdefault(slo.time_zone, []).append(slo)
        self.names = dict(Monitor.objects.filter(pk__in={m for ids in self.members.values() for m in ids}).values_list("pk", "name"))
        self._figures: dict[tuple[str, datetime, datetime, bool], dict[int, availability.Figures]] = {}
        self._incidents: dict[tuple[datetime, datetime], list[tuple[Any, set[Any]]]] = {}

    def by_monitor(self, slo: SLO, start: datetime, end: datetime, *, latency: bool) -> dict[int, availability.Figures]:
        """The SLO's monitors' figures over [start, end) (monitors without checks left out)."""
        key = (slo.time_zone, start, end, latency)
        if key not in self._figures:
            same = [s for s in self.zones[slo.time_zone] if not latency or s.kind == SLO.Kind.LATENCY]
            ids = sorted({m for s in same for m in self.members[s.pk]})
            self._figures[key] = availability.figures_by_monitor(ids, start, end, now=self.now, latency=latency) if ids else {}
        found = self._figures[key]
        return {pk: found[pk] for pk in self.members[slo.pk] if pk in found}

    def achieved(self, slo: SLO, start: datetime, end: datetime) -> tuple[maths.Counts, float | None]:
        per_monitor = self.by_monitor(slo, start, _so_far(start, end, self.now), latency=slo.kind == SLO.Kind.LATENCY)
        counts = counts_of(slo, availability.total(per_monitor.values()))
        return counts, (100.0 * maths.sli(counts) if counts.valid else None)

    def incidents(self, component_id: int, start: datetime, end: datetime) -> list[Any]:
        if (start, end) not in self._incidents:
            self._incidents[start, end] = _incidents_in(start, end)
        return [incident for incident, touched in self._incidents[start, end] if component_id in touched]


def service_report(slo: SLO, year: int, month: int, *, now: datetime) -> ServiceReport:
    return _service_report(_Reader([slo], now=now), slo, year, month)


def _service_report(reader: _Reader, slo: SLO, year: int, month: int) -> ServiceReport:
    now = reader.now
    tz = ZoneInfo(slo.time_zone)
    start, end = maths.month_of(year, month, tz)
    to_date = start <= now < end
    counts, achieved = reader.achieved(slo, start, end)
    # The budget is the whole month's, spent over the part that has passed: as on the SLO page.
    result = maths.budget(counts, objective=slo.objective, window_minutes=maths.minutes_between(start, end),
                          elapsed_minutes=maths.minutes_between(start, min(now, end)))
    before = maths.month_of(*previous(year, month), tz)
    _prev_counts, previous_achieved = reader.achieved(slo, *before)
    incidents = reader.incidents(slo.component_id, start, end) if slo.component_id else []
    ack = [(i.identified_at - i.started_at).total_seconds() / 60 for i in incidents if i.identified_at]
    repair = [(i.resolved_at - i.started_at).total_seconds() / 60 for i in incidents if i.resolved_at]
    by_severity: dict[str, int] = {}
    for incident in incidents:
        by_severity[incident.severity] = by_severity.get(incident.severity, 0) + 1
    postmortems = [f"/incidents/{i.pk}/postmortem/" for i in incidents if hasattr(i, "postmortem")]
    # The same read as the SLI's (an availability SLO's figures are these monitors' summed).
    failures = reader.by_monitor(slo, start, _so_far(start, end, now), latency=False)
    top = sorted(((reader.names[pk], f.down) for pk, f in failures.items() if f.down > 0), key=lambda r: (-r[1], r[0]))
    return ServiceReport(
        slo=slo.name, service=slo.component.name if slo.component else slo.name, objective=slo.objective,
        achieved=achieved, met=None if achieved is None else achieved >= slo.objective,
        budget_minutes=result.total_minutes, spent_minutes=result.spent_minutes,
        budget_spent_percent=100.0 * result.spent_ratio, downtime_minutes=result.spent_minutes,
        good=counts.good, valid=counts.valid, previous_achieved=previous_achieved, incidents=len(incidents),
        by_severity=by_severity, mtta_minutes=sum(ack) / len(ack) if ack else None,
        mttr_minutes=sum(repair) / len(repair) if repair else None, postmortems=postmortems,
        top_failing=top[:5], month_to_date=to_date, until=min(now, end),
    )


def _incidents_in(start: datetime, end: datetime) -> list[tuple[Any, set[Any]]]:
    """Incidents started in [start, end), each with the components it touched (its impacts, and
    those its updates record)."""
    found = []
    incidents = (Incident.objects.filter(started_at__gte=start, started_at__lt=end).select_related("postmortem")
                 .prefetch_related("updates", "impacts"))
    for incident in incidents:
        touched = {i.component_id for i in incident.impacts.all()}
        for update in incident.updates.all():
            touched |= {item.get("component") for item in update.affected_components or []}
        found.append((incident, touched))
    return found


def _incidents_touching(component_id: int, start: datetime, end: datetime) -> list[Any]:
    """Incidents started in the month that touched the component (its updates record it)."""
    return [incident for incident, touched in _incidents_in(start, end) if component_id in touched]


def service_reports(slos: Iterable[SLO], year: int, month: int, *, now: datetime) -> Iterator[ServiceReport]:
    """The SLOs' reports one by one as they are made, read together (_Reader)."""
    slos = list(slos)
    reader = _Reader(slos, now=now)
    for slo in slos:
        yield _service_report(reader, slo, year, month)


def month_report(year: int, month: int, *, now: datetime) -> list[ServiceReport]:
    return list(service_reports(SLO.objects.select_related("component").order_by("name"), year, month, now=now))


CSV_FIELDS = ["slo", "service", "objective", "achieved", "met", "budget_minutes", "spent_minutes", "budget_spent_percent",
              "downtime_minutes", "good", "valid", "previous_achieved", "incidents", "mtta_minutes", "mttr_minutes", "month_to_date", "until"]


def _csv_value(value: Any) -> Any:
    """Figures as a person writes them: at most 4 decimals, no float noise (99.9, not 99.90000000000001)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return value


def as_csv(reports: list[ServiceReport]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for report in reports:
        writer.writerow({k: _csv_value(v) for k, v in asdict(report).items()})
    return out.getvalue()


def as_json(year: int, month: int, reports: list[ServiceReport]) -> dict[str, Any]:
    services = [{**asdict(r), "until": r.until.isoformat() if r.until else None} for r in reports]
    return {"month": f"{year:04d}-{month:02d}", "services": services}


def mail_last_month(*, now: datetime) -> int:
    """On the 1st (and until it has worked), mail last month's report once."""
    from django.core.mail import EmailMultiAlternatives
    from django.template.loader import render_to_string

    if now.day > 3:
        return 0  # a report that could not go out by the 3rd waits for a person
    year, month = previous(now.year, now.month)
    label = f"{year:04d}-{month:02d}"
    try:
        with transaction.atomic():
            mailing, created = ReportMailing.objects.select_for_update().get_or_create(month=label)
            if mailing.sent_at is not None:
                return 0
            reports = month_report(year, month, now=now)
            recipients = [s.user.email for s in ReportSubscription.objects.filter(active=True).select_related("user") if s.user.email]
            if recipients:
                context = {"reports": reports, "month": label, "start": datetime(year, month, 1), "for_mail": True}
                message = EmailMultiAlternatives(subject=f"SLO report {label}", body=render_to_string("slo/report.txt", context),
                                                 to=recipients)
                message.attach_alternative(render_to_string("slo/report_mail.html", context), "text/html")
                message.attach(f"slo-report-{label}.csv", as_csv(reports), "text/csv")
                message.send()
            mailing.sent_at, mailing.recipients = now, len(recipients)
            mailing.save(update_fields=["sent_at", "recipients"])
            log.info("SLO report %s mailed to %d manager(s)%s", label, len(recipients), "" if created else " (retried)")
            return len(recipients)
    except IntegrityError:
        return 0

