"""SLO figures from rollups (whole days, whole hours) plus the current hour's raw rows.

Never reads raw rows beyond the current hour, except the 5- and 30-minute spans of the
short burn-rate windows (which are inside the last hour by definition)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Sum

from alerting.services import alert_clear, alert_raise
from lib import latency_histogram
from lib import slo as maths
from monitors.models import Rollup
from monitors.rollups import aggregate_raw, day_start, hour_start
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


def _counts(slo: SLO, rows: Iterable[dict]) -> maths.Counts:
    good = valid = 0
    threshold_bucket = latency_histogram.BOUNDS_MS.index(slo.latency_threshold_ms) if slo.kind == SLO.Kind.LATENCY else None
    for row in rows:
        if threshold_bucket is None:
            up = row["ok"] + row["degraded"]
            total = row["total"]
            if slo.exclude_maintenance:
                up -= row["excluded_up"]
                total -= row["excluded_total"]
            good, valid = good + up, valid + total
        else:
            good += sum(row["histogram"][: threshold_bucket + 1])
            valid += row["latency_count"]
    return maths.Counts(good, valid)


FIELDS = ["total", "ok", "degraded", "excluded_total", "excluded_up", "latency_count", "histogram"]


def counts_between(slo: SLO, start: datetime, end: datetime, *, monitor_ids: list[int] | None = None) -> maths.Counts:
    """Good and valid checks of the SLO's monitors in [start, end): day rollups for whole UTC
    days, hour rollups for whole hours, raw rows for what is left of the current hour."""
    ids = monitor_ids if monitor_ids is not None else list(slo.monitors.values_list("pk", flat=True))
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if not ids or end <= start:
        return maths.Counts()
    rows: list[dict] = []
    wanted = set(ids)
    first_hour = hour_start(start) if hour_start(start) == start else hour_start(start) + timedelta(hours=1)
    if first_hour > start:
        # A span that starts inside an hour (the short burn windows): that part from raw rows.
        rows += [_as_row(r) for monitor_id, r in aggregate_raw(start, min(first_hour, end)).items() if monitor_id in wanted]
        start = first_hour
        if start >= end:
            return _counts(slo, rows)
    first_full_day = day_start(start) if day_start(start) == start else day_start(start) + timedelta(days=1)
    last_full_day = day_start(end)
    hour_end = hour_start(end)
    rollups = Rollup.objects.filter(monitor_id__in=ids)
    if first_full_day < last_full_day:
        rows += _rows(slo, rollups.filter(period=Rollup.Period.DAY, start__gte=first_full_day, start__lt=last_full_day))
        hour_spans = [(start, first_full_day), (last_full_day, hour_end)]
    else:
        hour_spans = [(start, hour_end)]
    for span_start, span_end in hour_spans:
        if span_end > span_start:
            rows += _rows(slo, rollups.filter(period=Rollup.Period.HOUR, start__gte=hour_start(span_start), start__lt=span_end))
    if end > hour_end:
        raw_start = max(hour_end, start)
        rows += [_as_row(r) for monitor_id, r in aggregate_raw(raw_start, end).items() if monitor_id in wanted]
    return _counts(slo, rows)


def _rows(slo: SLO, queryset) -> list[dict]:  # type: ignore[no-untyped-def]
    if slo.kind == SLO.Kind.AVAILABILITY:
        # Summed in the database: a month of 1,000 monitors is one row, not 30,000.
        totals = queryset.aggregate(total=Sum("total"), ok=Sum("ok"), degraded=Sum("degraded"),
                                    excluded_total=Sum("excluded_total"), excluded_up=Sum("excluded_up"))
        return [{key: value or 0 for key, value in totals.items()}]
    return list(queryset.values(*FIELDS))


def _as_row(rollup: Rollup) -> dict:
    return {field: getattr(rollup, field) for field in FIELDS}


def evaluate(slo: SLO, *, now: datetime) -> dict:
    start, end, until = window_of(slo, now)
    ids = list(slo.monitors.values_list("pk", flat=True))
    counts = counts_between(slo, start, until, monitor_ids=ids)
    window_minutes = maths.minutes_between(start, end) if slo.window == SLO.Window.CALENDAR_MONTH else \
        SLO.ROLLING_DAYS[SLO.Window(slo.window)] * 24 * 60
    elapsed = maths.minutes_between(start, until)
    result = maths.budget(counts, objective=slo.objective, window_minutes=window_minutes, elapsed_minutes=elapsed)
    spans = {minutes: counts_between(slo, now - timedelta(minutes=minutes), now, monitor_ids=ids) for minutes in BURN_SPANS}
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
