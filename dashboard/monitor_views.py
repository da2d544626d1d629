"""A monitor's page: uptime and latency charts (monitors.availability: rollups plus the live tail) (each with its table), status
codes, regions, state changes, TLS expiry, heartbeat history, and "check now" in place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from alerting import services as alerting_services
from core.roles import RESPONDER, VIEWER, has_role, role_required
from core.services import audit_record
from incidents.selectors import deploys_between
from lib import charts
from monitors import selectors, services
from monitors.models import CheckResult, Monitor, StateChange

# How long "check now" waits in place before it says where to look.
CHECK_WAIT = timedelta(seconds=45)


def _charts(monitor: Monitor, now: datetime) -> dict[str, object]:
    end = now + timedelta(microseconds=1)  # a result at `now` itself counts, as in the windows
    hours = selectors.series(monitor, period="hour", start=now - timedelta(hours=23), end=end, now=now)
    days = selectors.series(monitor, period="day", start=now - timedelta(days=89), end=end, now=now)
    hour_labels = [f"{point.start:%H:%M}" for point in hours]
    day_labels = [f"{point.start:%b %d}" for point in days]
    deploys = _deploy_markers(monitor, days[0].start if days else now - timedelta(days=90), now)
    latency_lines = selectors.latency_threshold_lines(monitor)
    return {
        **_value_charts(monitor, now, end, hour_labels, day_labels),
        "hours": hours, "days": days, "deploys": [deploy for deploy, _label in deploys][:20],
        "latency_24h": mark_safe(charts.line_chart(
            [("p50", [p.p50_ms for p in hours]), ("p95", [p.p95_ms for p in hours]), ("p99", [p.p99_ms for p in hours])],
            hour_labels, unit=" ms", chart_id="latency-24h", title=f"{monitor.name}: latency p50, p95 and p99 per hour over 24 hours",
            markers=_positions(deploys, hours, timedelta(hours=1)), thresholds=latency_lines)),
        "uptime_24h": mark_safe(charts.uptime_bars([p.uptime for p in hours], [f"{p.start:%b %d %H:%M} UTC" for p in hours],
                                                   chart_id="uptime-24h", title=f"{monitor.name}: uptime per hour over 24 hours",
                                                   markers=_positions(deploys, hours, timedelta(hours=1)))),
        "latency_90d": mark_safe(charts.line_chart(
            [("p50", [p.p50_ms for p in days]), ("p95", [p.p95_ms for p in days]), ("p99", [p.p99_ms for p in days])],
            day_labels, unit=" ms", chart_id="latency-90d", title=f"{monitor.name}: latency p50, p95 and p99 per day over 90 days",
            markers=_positions(deploys, days, timedelta(days=1)), thresholds=latency_lines)),
        "uptime_90d": mark_safe(charts.uptime_bars([p.uptime for p in days], day_labels, chart_id="uptime-90d",
                                                   title=f"{monitor.name}: uptime per day over 90 days",
                                                   markers=_positions(deploys, days, timedelta(days=1)))),
    }


def _value_charts(monitor: Monitor, now: datetime, end: datetime, hour_labels: list[str], day_labels: list[str]) -> dict[str, object]:
    """The measured value's charts (mean and max per bucket) with the warning and critical lines;
    nothing for a monitor that has measured no value in 90 days and has no thresholds."""
    lines = selectors.threshold_lines(monitor)
    hours = selectors.value_series(monitor, period="hour", start=now - timedelta(hours=23), end=end, now=now)
    days = selectors.value_series(monitor, period="day", start=now - timedelta(days=89), end=end, now=now)
    if not lines and not any(point.count for point in days):
        return {}
    display = selectors.value_display(monitor)
    label, unit = str(display["label"]), str(display["unit"])

    def chart(points: list[selectors.ValuePoint], labels: list[str], chart_id: str, span: str) -> str:
        return mark_safe(charts.line_chart(
            [("mean", [p.mean for p in points]), ("max", [p.high for p in points])], labels, unit=unit, chart_id=chart_id,
            title=f"{monitor.name}: {label}, mean and maximum per {span}, with its warning and critical lines", thresholds=lines))

    return {"value_label": label, "value_unit": unit, "value_lines": lines, "value_hours": hours, "value_days": days,
            "value_24h": chart(hours, hour_labels, "value-24h", "hour over 24 hours"),
            "value_90d": chart(days, day_labels, "value-90d", "day over 90 days")}


def _deploy_markers(monitor: Monitor, start: datetime, now: datetime) -> list[tuple[object, str]]:
    """Deploys of the monitor's component (and those naming none) since `start`, each with its marker's label."""
    rows = deploys_between(start, now, component_ids=[monitor.component_id] if monitor.component_id else [])
    return [(deploy, f"{deploy.version} deployed {deploy.at:%b %d %H:%M} UTC ({deploy.target})") for deploy in rows[:200]]


def _positions(deploys: list[tuple[object, str]], points: list, bucket: timedelta) -> list[tuple[float, str]]:
    """Where each deploy falls on a chart of `points` (one per bucket): a fractional bucket index."""
    if not points:
        return []
    first = points[0].start
    return [((deploy.at - first) / bucket, label) for deploy, label in deploys]  # type: ignore[attr-defined]


def _heartbeat(monitor: Monitor, now: datetime) -> dict[str, object]:
    """When the next ping is expected and when the heartbeat is late."""
    if monitor.kind != Monitor.Kind.HEARTBEAT:
        return {}
    return {"next_expected_ping": monitor.next_expected_ping(now), "heartbeat_deadline": monitor.heartbeat_deadline(now)}


@role_required(VIEWER)
def monitor_detail(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = get_object_or_404(Monitor.objects.select_related("component").prefetch_related("regions", "tags"), pk=pk)
    if request.htmx:
        # A live refresh (core.live topic "monitor-<id>") asks for the state alone.
        response = render(request, "dashboard/monitor_detail.html#state", {"monitor": monitor, "flapping_now": monitor.flapping_at(timezone.now())})
        response["Vary"] = "HX-Request"
        return response
    now = timezone.now()
    context: dict[str, object] = {
        "monitor": monitor, "now": now, "flapping_now": monitor.flapping_at(now), "can_write": has_role(request.user, RESPONDER),
        "windows": selectors.uptime_windows(monitor, now=now),
        "codes": selectors.status_codes(monitor, now=now) if monitor.kind in ("http", "health_json") else [],
        "regions": selectors.per_region(monitor, now=now),
        "changes": StateChange.objects.filter(monitor=monitor).order_by("-at", "-id")[:20],
        "results": CheckResult.objects.filter(monitor_id=monitor.pk).select_related("region").order_by("-at")[:20],
        "tls_days": (monitor.tls_expires_at - now).total_seconds() / 86400 if monitor.tls_expires_at else None,
        **_heartbeat(monitor, now),
        **_charts(monitor, now),
        "runbooks": [rule for rule in alerting_services.rules_for(monitor) if rule.runbook_url or rule.runbook_text],
    }
    response = render(request, "dashboard/monitor_detail.html", context)
    response["Vary"] = "HX-Request"
    return response


def _check_state(monitor: Monitor, after: datetime, now: datetime) -> str:
    if monitor.last_checked_at and monitor.last_checked_at >= after:
        return "done"
    return "waiting" if now - after < CHECK_WAIT else "late"


@role_required(RESPONDER)
@require_POST
def monitor_check_now(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = get_object_or_404(Monitor, pk=pk)
    now = timezone.now()
    if monitor.paused or monitor.kind == Monitor.Kind.HEARTBEAT:
        problem = "This monitor is paused; resume it first." if monitor.paused else "A heartbeat monitor is checked by its pings."
        if request.htmx:
            return render(request, "dashboard/monitor_detail.html#check-result", {"monitor": monitor, "problem": problem})
        messages.error(request, problem)
        return redirect("monitor-detail", pk=pk)
    services.monitor_check_now(monitor_ids=[monitor.pk], now=now)
    audit_record(actor=request.user, action="check_now", target=monitor, request=request, source="console")
    if request.htmx:
        return render(request, "dashboard/monitor_detail.html#check-result", {"monitor": monitor, "after": now, "state": "waiting"})
    messages.success(request, "Queued: the result shows here within seconds (reload).")
    return redirect("monitor-detail", pk=pk)


@role_required(VIEWER)
def monitor_check_result(request: HttpRequest, pk: int) -> HttpResponse:
    """The "check now" panel: waiting (and asking again in a second) until the result is in."""
    monitor = get_object_or_404(Monitor, pk=pk)
    try:
        after = datetime.fromtimestamp(float(request.GET.get("after", "")), tz=UTC)
    except (ValueError, OverflowError, OSError):
        after = timezone.now()
    state = _check_state(monitor, after, timezone.now())
    response = render(request, "dashboard/monitor_detail.html#check-result", {"monitor": monitor, "after": after, "state": state})
    response["Vary"] = "HX-Request"
    return response
