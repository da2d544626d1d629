"""SLO figures: good and valid checks come from monitors.availability (rollups plus the
live raw tail), so an SLI equals the uptime every other page shows for the same window."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction

from alerting.services import alert_clear, alert_raise
from lib import slo as maths
from monitors import availability
from monitors.rollups import hour_start
from slo.models import SLO, SLOSnapshot

log = logging.getLogger("vigil.slo")
BURN_SPANS = (5, 30, 60, 6 * 60, 3 * 24 * 60)


def window_of(slo: SLO, now: datetime) -> tuple[datetime, datetime, datetime]:
    """(start, end, until): the window, and how far into it `now` reaches (rolling windows
    start at a whole hour so that they read rollups only)."""
    if slo.window == SLO.Window.CALENDAR_MONTH:
        start, end = maths.calendar_month(now, ZoneInfo(slo.time_zone))
        return start, end, min(now, end)
    start = hour_start(now - timedelta(days=SLO.ROLLING_DAYS[SLO.Window(slo.window)]))
    return start, now, now


def counts_between(slo: SLO, start: datetime, end: datetime, *, now: datetime, monitor_ids: list[int] | None = None) -> maths.Counts:
    """Good and valid checks of the SLO's monitors in [start, end), from monitors.availability
    (the same figures as every other page, the current hour live)."""
    ids = monitor_ids if monitor_ids is not None else list(slo.monitors.values_list("pk", flat=True))
    if not ids or end <= start:
        return maths.Counts()
    return counts_of(slo, availability.figures(ids, start, end, now=now, latency=slo.kind == SLO.Kind.LATENCY))


def counts_of(slo: SLO, figures: availability.Figures) -> maths.Counts:
    """The SLO's good and valid checks among its monitors' figures (read with latency for a
    latency SLO): the one rule, for a reader of many SLOs at once (the monthly report) too."""
    if slo.kind == SLO.Kind.LATENCY:
        return maths.Counts(figures.good_below(slo.latency_threshold_ms or 0), figures.latency_count)
    if slo.exclude_maintenance:
        return maths.Counts(figures.counted_up, figures.counted)
    return maths.Counts(figures.up, figures.total)


def evaluate(slo: SLO, *, now: datetime) -> dict:
    start, end, until = window_of(slo, now)
    ids = list(slo.monitors.values_list("pk", flat=True))
    # A result at `now` itself counts (as on the monitor page and the public bars).
    until_included = until + timedelta(microseconds=1) if until == now else until
    counts = counts_between(slo, start, until_included, now=now, monitor_ids=ids)
    window_minutes = maths.minutes_between(start, end) if slo.window == SLO.Window.CALENDAR_MONTH else \
        SLO.ROLLING_DAYS[SLO.Window(slo.window)] * 24 * 60
    elapsed = maths.minutes_between(start, until)
    result = maths.budget(counts, objective=slo.objective, window_minutes=window_minutes, elapsed_minutes=elapsed)
    spans = {minutes: counts_between(slo, now - timedelta(minutes=minutes), now + timedelta(microseconds=1), now=now,
                                     monitor_ids=ids) for minutes in BURN_SPANS}
    burns = {minutes: maths.burn_rate(c, objective=slo.objective) for minutes, c in spans.items()}
    exhaustion = maths.minutes_to_exhaustion(result, burns[60])
    left = max(0.0, window_minutes - elapsed) if slo.window == SLO.Window.CALENDAR_MONTH else window_minutes
    status = maths.status(result, exhaustion_minutes=exhaustion, minutes_left_in_window=left)
    firing = maths.firing_burn_rules(spans, objective=slo.objective, min_events=slo.min_events, min_bad=slo.min_bad_events)
    return {"counts": counts, "budget": result, "burns": burns, "exhaustion": exhaustion, "status": status, "firing": firing,
            "window": (start, end)}


@transaction.atomic
def refresh(slo: SLO, *, now: datetime) -> SLOSnapshot:
    figures = evaluate(slo, now=now)
    at = now.replace(second=0, microsecond=0)
    result: maths.Budget = figures["budget"]
    snapshot, _ = SLOSnapshot.objects.update_or_create(slo=slo, at=at, defaults={
        "good": figures["counts"].good, "valid": figures["counts"].valid, "sli": result.sli,
        "budget_minutes": result.total_minutes, "spent_minutes": result.spent_minutes, "remaining_ratio": result.remaining_ratio,
        "burn_1h": figures["burns"][60], "burn_6h": figures["burns"][360], "burn_3d": figures["burns"][4320],
        "exhaustion_minutes": figures["exhaustion"], "status": figures["status"],
    })
    _burn_alerts(slo, figures["firing"], now)
    return snapshot


def _burn_alerts(slo: SLO, firing: list[maths.BurnRule], now: datetime) -> None:
    """Burn-rate alerts go through the alerting rule's grouping, channels and escalation."""
    rule = slo.alert_rule
    if rule is None:
        return
    names = {r.name for r in firing}
    for burn in maths.DEFAULT_BURN_RULES:
        key = f"slo:{slo.pk}:{burn.long_minutes}:{burn.short_minutes}"
        if burn.name in names:
            labels = {"rule": rule.name, "slo": slo.name, "component": slo.component.name if slo.component else "",
                      "severity": burn.severity, "kind": "slo_burn"}
            alert_raise(rule=rule, key=key, labels=labels, summary=f"{slo.name}: error budget {burn.name}",
                        value=f"objective {slo.objective:g}%", severity=burn.severity, now=now)
        else:
            alert_clear(key=key, now=now)


def refresh_all(*, now: datetime) -> int:
    done = 0
    for slo in SLO.objects.select_related("alert_rule", "component"):
        try:
            refresh(slo, now=now)
            done += 1
        except Exception:
            log.exception("SLO %s could not be refreshed", slo.name)
    return done
